//! The README's first command: a three-node cluster on this machine, a failover to watch.
//!
//! `demo` starts three `rgmanager` daemons on loopback with the embedded sample cluster.conf
//! (free ports and a scratch directory picked at run time), a simulated APC power switch whose
//! outlets really power the nodes off and on, and a sample service; it prints `clustat`, freezes
//! the service's node, and shows the survivors fence it through the switch and take the service
//! over, in their logs and in `clustat`; the switch powers the node back on and the service
//! fails back. The cluster then keeps running until Ctrl-C (`--exit`: stop after the show).
//! No root is needed and nothing outside the scratch directory is touched.
//!
//! The `demo` binary is the only one `cargo run --bin demo` builds, so each node's daemon is this
//! same program re-executed with a hidden first argument (`__daemon`), and `clustat` is rendered
//! in-process through the admin socket.
//!
//! - [`setup`]: the pure parts (the localised sample, the service's script, log filtering).
//! - [`show`]: the processes, the switch and the narrative.
//! - [`describe`]: `demo --describe [-f FILE]`, a cluster.conf validated and shown as a model.

pub mod describe;
pub mod ports;
pub mod setup;
pub mod show;

use std::path::{Path, PathBuf};

pub use describe::describe;

/// The sample cluster shipped with the demo.
pub const SAMPLE: &str = include_str!("../../demo/cluster.conf");

/// The hidden first argument that makes the demo binary a node's daemon.
pub const DAEMON_ARG: &str = "__daemon";

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo's sample cluster.conf: {0}")]
    Sample(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the cluster key: {0}")]
    Key(#[from] crate::membership::key::KeyError),
    #[error("cannot find this program to start the nodes: {0}")]
    Exe(std::io::Error),
    #[error("timed out after {secs} s waiting until {what}")]
    Timeout { what: String, secs: u64 },
    #[error("interrupted")]
    Interrupted,
}

impl DemoError {
    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DemoError {
        let path = path.to_path_buf();
        move |source| DemoError::Io { what, path, source }
    }
}

/// The status of a usage error.
pub const USAGE_STATUS: u8 = 255;

const SECTIONS: &[(&str, &str)] = &[(
    "Exit status",
    "0 the show ran (and, without --exit, the cluster was stopped with Ctrl-C); 1 it could \
     not run; 2 --describe could not read the file; 3 the file does not validate; 255 bad \
     usage.",
)];

#[derive(clap::Parser, Debug)]
#[command(
    name = "demo",
    version = tooldoc::VERSION,
    about = "a three-node cluster on this machine, failing over before your eyes",
    long_about = "demo starts three rgmanager daemons on loopback with a sample cluster.conf, \
                  a simulated APC power switch whose outlets really power the nodes off and \
                  on, and a sample service. It prints clustat, freezes the service's node, and \
                  shows the other nodes fence it through the switch and take the service \
                  over; the node then boots again and the service fails back. The cluster \
                  keeps running until Ctrl-C. No root is needed and nothing outside a scratch \
                  directory is touched."
)]
struct Cli {
    /// Stop the cluster after the show.
    #[arg(long, conflicts_with = "describe")]
    exit: bool,
    /// Validate the sample (or FILE) and show its model; starts nothing.
    #[arg(long)]
    describe: bool,
    /// The cluster.conf --describe shows.
    #[arg(short = 'f', value_name = "FILE", requires = "describe")]
    file: Option<PathBuf>,
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page, for the name the package installs the demo under.
pub fn page(installed_name: &str) -> tooldoc::Page {
    let cmd = command().name(installed_name.to_string());
    tooldoc::Page::from_clap(&cmd, 1, SECTIONS).see_also(&["rgmanager(8)", "clustat(8)"])
}

/// The `demo` command. Returns the process exit status.
pub fn run(args: &[String]) -> u8 {
    if let [first, rest @ ..] = args {
        if first == DAEMON_ARG {
            return crate::daemon::run::main(rest);
        }
    }
    let bin = crate::cli::program_name("demo");
    let cli: Cli = match crate::cli::parse_clap(
        command(),
        &bin,
        args,
        USAGE_STATUS,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ) {
        crate::cli::Parsed::Run(c) => c,
        crate::cli::Parsed::Exit(code) => return code,
    };
    match (cli.describe, cli.file) {
        (false, _) => show::run(cli.exit),
        (true, None) => print_description("demo/cluster.conf (embedded)", SAMPLE),
        (true, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(t) => print_description(&path.display().to_string(), &t),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", path.display());
                2
            }
        },
    }
}

fn print_description(name: &str, text: &str) -> u8 {
    let (text, ok) = describe(name, text);
    print!("{text}");
    if ok {
        0
    } else {
        3
    }
}
