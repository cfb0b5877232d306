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

use super::{Getopt, Opt};
use crate::admin::{self, Request, Response, SyncOutcome};

const USAGE: &str = "usage: ccs_sync [-f FILE] [--check] [--socket PATH]
    -f FILE          the configuration to push (default /etc/cluster/cluster.conf)
    --check          only report each node's config_version
    --socket PATH    talk to the daemon listening on PATH
";

/// The daemon answers when every node has, or after its own 30 s deadline.
const WAIT: Duration = Duration::from_secs(45);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub file: PathBuf,
    pub check: bool,
    pub socket: Option<PathBuf>,
}

/// `Ok(None)` for `-h`.
pub fn parse(argv: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        file: PathBuf::from("/etc/cluster/cluster.conf"),
        check: false,
        socket: None,
    };
    let mut g = Getopt::new(argv, "f:h");
    while let Some(o) = g.next() {
        match o {
            Opt::Value('f', v) => a.file = PathBuf::from(v),
            Opt::Flag('h') => return Ok(None),
            Opt::Long(l) if l == "check" => a.check = true,
            Opt::Long(l) if l == "help" => return Ok(None),
            Opt::Long(l) if l == "socket" => match g.next_word() {
                Some(p) => a.socket = Some(PathBuf::from(p)),
                None => return Err("--socket needs a path".into()),
            },
            Opt::Missing(c) => return Err(format!("-{c} needs a value")),
            Opt::Long(l) => return Err(format!("unknown option --{l}")),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(a))
}

/// Runs with the given output streams; the exit status.
pub fn run_with(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let args = match parse(argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = out.write_all(USAGE.as_bytes());
            return 0;
        }
        Err(e) => {
            let _ = write!(err, "ccs_sync: {e}\n{USAGE}");
            return 2;
        }
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

    #[test]
    fn options() {
        let a = parse(&argv(&["-f", "/tmp/c.conf", "--check", "--socket", "/s"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.file, PathBuf::from("/tmp/c.conf"));
        assert!(a.check);
        assert_eq!(a.socket, Some(PathBuf::from("/s")));
        assert_eq!(parse(&argv(&["-h"])).unwrap(), None);
        assert!(parse(&argv(&["-x"])).is_err());
        assert!(parse(&argv(&["-f"])).is_err());
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
