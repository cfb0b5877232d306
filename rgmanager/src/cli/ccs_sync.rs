//! `ccs_sync [-f FILE] [--check] [--socket PATH]`: pushes a cluster.conf to every node through
//! the local daemon, or reports every node's version (docs/ccs_sync.md).
//!
//! The file is validated here first: an invalid file is never sent, and the validator's
//! located lines are printed as `ccs_config_validate` prints them.
//!
//! Exit status: 0 when every reachable node holds the pushed version (`--check`: every
//! reachable node holds the same version and hash as this one); 1 when a reachable node does
//! not (refused, conflict, no answer); 2 on bad usage; 3 when the file cannot be read or is
//! invalid (nothing sent); 4 when the local daemon cannot be reached.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use tooldoc::Page;

use super::{parse_clap, Parsed};
use crate::admin::{self, Request, Response, SyncOutcome};

/// The daemon answers when every node has, or after its own 30 s deadline.
const WAIT: Duration = Duration::from_secs(45);

const SECTIONS: &[(&str, &str)] = &[
    (
        "Exit status",
        "0 every reachable node holds the pushed version (--check: the same version and hash \
         as this node); 1 a reachable node does not (refused, conflict, no answer); 2 bad \
         usage; 3 the file cannot be read or is invalid (nothing sent); 4 the local rgmanager \
         cannot be reached.",
    ),
    (
        "Environment",
        "RGMANAGER_SOCKET: the admin socket to use instead of /var/run/cluster/rgmanager.sock.",
    ),
];

/// The command line.
#[derive(Clone, Debug, PartialEq, Eq, Parser)]
#[command(
    name = "ccs_sync",
    version = tooldoc::VERSION,
    about = "push cluster.conf to every node of the cluster",
    long_about = "ccs_sync validates a cluster.conf and pushes it, byte for byte, to every \
                  node through the local rgmanager, authenticated with the cluster key; each \
                  node refuses an older version or an equal version with other content, and \
                  the running cluster reconfigures without a restart. It prints one line per \
                  node. An invalid file is never sent: the validator's located lines are \
                  printed as ccs_config_validate prints them."
)]
pub struct Args {
    /// The configuration to push.
    #[arg(
        short = 'f',
        value_name = "FILE",
        default_value = "/etc/cluster/cluster.conf"
    )]
    pub file: PathBuf,
    /// Only report each node's config_version.
    #[arg(long)]
    pub check: bool,
    /// Talk to the daemon listening on PATH.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    Args::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page.
pub fn page() -> Page {
    Page::from_clap(&command(), 8, SECTIONS).see_also(&[
        "ccs_config_validate(8)",
        "rgmanager(8)",
        "cluster.conf(5)",
    ])
}

/// Runs with the given output streams; the exit status.
pub fn run_with(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let args: Args = match parse_clap(command(), "ccs_sync", argv, 2, out, err) {
        Parsed::Run(a) => a,
        Parsed::Exit(code) => return code,
    };
    let req = if args.check {
        Request::ConfigCheck
    } else {
        let file = args.file.display().to_string();
        let text = match std::fs::read(&args.file) {
            Ok(b) => match String::from_utf8(b) {
                Ok(t) => t,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let _ = writeln!(err, "{file}: not UTF-8 (byte {at}); nothing sent");
                    return 3;
                }
            },
            Err(e) => {
                let _ = writeln!(err, "{file}: {e}");
                return 3;
            }
        };
        let report = ccs::check_str(&text);
        let errors: Vec<_> = report.errors().collect();
        if !errors.is_empty() {
            for e in &errors {
                let _ = writeln!(err, "{}", e.render(&file));
            }
            let _ = writeln!(err, "{file}: configuration fails to validate; nothing sent");
            return 3;
        }
        if report
            .conf
            .as_ref()
            .and_then(|c| c.config_version())
            .is_none()
        {
            let _ = writeln!(err, "{file}: no config_version; nothing sent");
            return 3;
        }
        Request::ConfigPush { text }
    };
    let path = admin::socket_path(args.socket.as_deref());
    let nodes = match admin::query(&path, &req, WAIT) {
        Ok(Response::Nodes { nodes }) => nodes,
        Ok(Response::Error { message }) => {
            let _ = writeln!(err, "ccs_sync: {message}");
            return 1;
        }
        Ok(other) => {
            let _ = writeln!(
                err,
                "ccs_sync: unexpected answer from the daemon: {other:?}"
            );
            return 4;
        }
        Err(e) => {
            let _ = writeln!(err, "ccs_sync: cannot reach the local rgmanager: {e}");
            return 4;
        }
    };
    let local = nodes.iter().find_map(|n| match &n.outcome {
        SyncOutcome::Version { version, hash } => Some((*version, hash.clone())),
        _ => None,
    });
    let mut ok = true;
    for n in &nodes {
        let _ = writeln!(out, "{}: {}", n.node, n.outcome);
        ok &= match &n.outcome {
            SyncOutcome::Success | SyncOutcome::Unreachable { .. } => true,
            SyncOutcome::Version { version, hash } => {
                local.as_ref() == Some(&(*version, hash.clone()))
            }
            _ => false,
        };
    }
    if ok {
        0
    } else {
        1
    }
}

pub fn run(argv: &[String]) -> u8 {
    run_with(
        argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn parse(a: &[&str]) -> Result<Args, u8> {
        match parse_clap(
            command(),
            "ccs_sync",
            &argv(a),
            2,
            &mut Vec::new(),
            &mut Vec::new(),
        ) {
            Parsed::Run(a) => Ok(a),
            Parsed::Exit(c) => Err(c),
        }
    }

    #[test]
    fn options() {
        let a = parse(&["-f", "/tmp/c.conf", "--check", "--socket", "/s"]).unwrap();
        assert_eq!(a.file, PathBuf::from("/tmp/c.conf"));
        assert!(a.check);
        assert_eq!(a.socket, Some(PathBuf::from("/s")));
        assert_eq!(parse(&["-h"]), Err(0));
        assert_eq!(parse(&["-x"]), Err(2));
        assert_eq!(parse(&["-f"]), Err(2));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run_with(&argv(&["--version"]), &mut out, &mut err), 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("ccs_sync {}\n", tooldoc::VERSION)
        );
    }

    #[test]
    fn an_invalid_file_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cluster.conf");
        std::fs::write(
            &f,
            "<cluster name=\"a\" config_version=\"2\">\n<clusternodes>\n",
        )
        .unwrap();
        // No daemon listens on this socket: reaching it would exit 4, not 3.
        let sock = dir.path().join("none.sock");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(
            &argv(&[
                "-f",
                f.to_str().unwrap(),
                "--socket",
                sock.to_str().unwrap(),
            ]),
            &mut out,
            &mut err,
        );
        let err = String::from_utf8(err).unwrap();
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("nothing sent"), "{err}");
        assert!(err.contains(&format!("{}:", f.display())), "{err}");
        assert!(out.is_empty());
    }
}
