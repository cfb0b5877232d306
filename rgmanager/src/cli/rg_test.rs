//! `rg_test`'s command line, declared with clap: the original's verbs (`test`, `noop`,
//! `rules`) and forms, and the agent directory it took first (accepted and ignored).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use tooldoc::Page;

use super::{parse_clap, Parsed};
use crate::resource::walk::Op;
use crate::rg_test::Command;

/// The status of a usage error (the original printed its usage and exited 1).
pub const USAGE_STATUS: u8 = 1;

const SECTIONS: &[(&str, &str)] = &[(
    "Exit status",
    "0 success; 1 a failed operation, an unreadable or invalid file, or bad usage.",
)];

#[derive(Parser, Debug)]
#[command(
    name = "rg_test",
    version = tooldoc::VERSION,
    about = "show and try the resource trees of a cluster.conf without a cluster",
    long_about = "rg_test reads a cluster.conf as rgmanager does and shows its resources, \
                  each service's resource tree and the failover domains (test FILE); runs a \
                  start, stop or status of one resource and its children on this machine \
                  with the real agents, as the daemon would (test FILE start|stop|status TYPE \
                  NAME); or prints the agent calls in order without running them (noop). \
                  rules prints the resource types with the order of their children.\n\n\
                  An agent directory given first, as the original took it, is accepted and \
                  ignored: the agents are built in."
)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Show the resources and trees of FILE, or run an operation on one resource here.
    Test {
        /// The cluster.conf to read.
        file: PathBuf,
        /// start, stop or status (with TYPE and NAME).
        #[arg(value_enum, requires_all = ["kind", "name"])]
        op: Option<OpArg>,
        /// The resource's type (service, ip, script, ...).
        #[arg(value_name = "TYPE")]
        kind: Option<String>,
        /// The resource's name (its primary attribute).
        name: Option<String>,
    },
    /// Print the agent calls an operation would make, in order, without running them.
    Noop {
        /// The cluster.conf to read.
        file: PathBuf,
        #[arg(value_enum)]
        op: OpArg,
        /// The resource's type.
        #[arg(value_name = "TYPE")]
        kind: String,
        /// The resource's name.
        name: String,
    },
    /// Print the resource types and the order of their children.
    Rules,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OpArg {
    Start,
    Stop,
    Status,
}

impl From<OpArg> for Op {
    fn from(o: OpArg) -> Op {
        match o {
            OpArg::Start => Op::Start,
            OpArg::Stop => Op::Stop,
            OpArg::Status => Op::Status,
        }
    }
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    Cli::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page.
pub fn page() -> Page {
    Page::from_clap(&command(), 8, SECTIONS).see_also(&["rgmanager(8)", "cluster.conf(5)"])
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Parsed<Command> {
    // The original's optional agent directory comes first; it is dropped here.
    let argv = match argv.first() {
        Some(first)
            if !matches!(first.as_str(), "test" | "noop" | "rules")
                && !first.starts_with('-')
                && Path::new(first).is_dir() =>
        {
            &argv[1..]
        }
        _ => argv,
    };
    let cli: Cli = match parse_clap(command(), "rg_test", argv, USAGE_STATUS, out, err) {
        Parsed::Run(c) => c,
        Parsed::Exit(c) => return Parsed::Exit(c),
    };
    Parsed::Run(match cli.verb {
        Verb::Rules => Command::Rules,
        Verb::Test {
            file,
            op: Some(op),
            kind: Some(kind),
            name: Some(name),
        } => Command::Run {
            file,
            noop: false,
            op: op.into(),
            kind,
            name,
        },
        Verb::Test { file, .. } => Command::Dump { file },
        Verb::Noop {
            file,
            op,
            kind,
            name,
        } => Command::Run {
            file,
            noop: true,
            op: op.into(),
            kind,
            name,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Option<Command> {
        let argv: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        match parse(&argv, &mut Vec::new(), &mut Vec::new()) {
            Parsed::Run(c) => Some(c),
            Parsed::Exit(code) => {
                assert_eq!(code, USAGE_STATUS, "{s}");
                None
            }
        }
    }

    #[test]
    fn command_forms() {
        assert_eq!(parsed("rules"), Some(Command::Rules));
        assert_eq!(
            parsed("test a.conf"),
            Some(Command::Dump {
                file: "a.conf".into()
            })
        );
        assert_eq!(
            parsed("/ noop a.conf stop service web"),
            Some(Command::Run {
                file: "a.conf".into(),
                noop: true,
                op: Op::Stop,
                kind: "service".into(),
                name: "web".into()
            })
        );
        assert_eq!(
            parsed("test a.conf status ip 10.0.0.1"),
            Some(Command::Run {
                file: "a.conf".into(),
                noop: false,
                op: Op::Status,
                kind: "ip".into(),
                name: "10.0.0.1".into()
            })
        );
        assert_eq!(parsed("noop a.conf"), None);
        assert_eq!(parsed("test a.conf start service"), None);
        assert_eq!(parsed("test a.conf restart service x"), None);
        assert_eq!(parsed("frob"), None);
        assert_eq!(parsed(""), None);
    }

    #[test]
    fn version() {
        let mut out = Vec::new();
        let r = parse(&["--version".to_string()], &mut out, &mut Vec::new());
        assert!(matches!(r, Parsed::Exit(0)));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("rg_test {}\n", tooldoc::VERSION)
        );
    }
}
