//! `fence_ack_manual [-n] NODE`: an administrator confirms that a lost node is down (powered
//! off, unplugged) when no fence device could fence it, so that its services may move.
//!
//! As RHCS's script did, it warns that a wrong confirmation corrupts shared data and asks for
//! the word `absolutely` on standard input; then it tells the local daemon (admin socket,
//! `--socket PATH` or `$RGMANAGER_SOCKET`), which treats the node as fenced cluster-wide. A node
//! that is a member is refused. Exit status 0 when the node is (now) taken as fenced, 1 on
//! refusal, bad usage or no daemon.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use tooldoc::Page;

use super::{parse_clap, Parsed};
use crate::admin::{self, Request, Response};

/// The status of a refusal, a failure or bad usage.
pub const FAILURE: u8 = 1;

const SECTIONS: &[(&str, &str)] = &[
    (
        "Exit status",
        "0 the node is (now) taken as fenced; 1 refused (a member, not \"absolutely\"), no \
         daemon, or bad usage.",
    ),
    (
        "Environment",
        "RGMANAGER_SOCKET: the admin socket to use instead of /var/run/cluster/rgmanager.sock.",
    ),
];

#[derive(Parser, Debug)]
#[command(
    name = "fence_ack_manual",
    version = tooldoc::VERSION,
    about = "confirm by hand that a lost node is down",
    long_about = "fence_ack_manual tells the cluster that NODE, which failed and could not be \
                  fenced by any device, is really powered off or cut off from the shared \
                  storage, so that its services may start elsewhere. It warns that a wrong \
                  confirmation corrupts shared data and asks for the word absolutely on \
                  standard input; then the local rgmanager treats the node as fenced \
                  cluster-wide. A node that is a member is refused."
)]
struct Cli {
    /// Accepted for compatibility with `fence_ack_manual -n NODE`.
    #[arg(short = 'n')]
    compat_n: bool,
    /// Talk to the daemon listening on PATH.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The lost node, as cluster.conf names it.
    #[arg(value_name = "NODE")]
    node: String,
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    Cli::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page.
pub fn page() -> Page {
    Page::from_clap(&command(), 8, SECTIONS).see_also(&["fence_node(8)", "rgmanager(8)"])
}

/// Runs the tool with `argv` (without the program name), reading the answer from `input`.
pub fn run_with(
    argv: &[String],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli: Cli = match parse_clap(command(), "fence_ack_manual", argv, FAILURE, out, err) {
        Parsed::Run(c) => c,
        Parsed::Exit(c) => return c,
    };
    let (node, socket) = (cli.node, cli.socket);
    if node.is_empty() {
        let _ = writeln!(err, "fence_ack_manual: the node name is empty");
        return FAILURE;
    }
    let _ = write!(
        out,
        "About to override fencing for {node}.\n\
         Improper use of this command can cause severe file system damage:\n\
         only go on if {node} is really powered off or cut off from the shared storage.\n\n\
         Continue [NO/absolutely]? "
    );
    let _ = out.flush();
    let mut answer = String::new();
    if input.read_line(&mut answer).is_err() || answer.trim() != "absolutely" {
        let _ = writeln!(out, "Aborted.");
        return 1;
    }
    let path = admin::socket_path(socket.as_deref());
    match admin::query(&path, &Request::FenceAck { node }, admin::TIMEOUT) {
        Ok(Response::FenceAck { node, fenced }) => {
            if !fenced {
                let _ = writeln!(out, "{node} is not waiting for fencing; nothing to do.");
            }
            let _ = writeln!(out, "Done");
            0
        }
        Ok(Response::Error { message }) => {
            let _ = writeln!(err, "fence_ack_manual: {message}");
            1
        }
        Ok(other) => {
            let _ = writeln!(err, "fence_ack_manual: unexpected answer {other:?}");
            1
        }
        Err(e) => {
            let _ = writeln!(err, "fence_ack_manual: {e}");
            1
        }
    }
}

/// `fence_ack_manual ARGS`: the exit status.
pub fn run(argv: &[String]) -> u8 {
    let stdin = std::io::stdin();
    run_with(
        argv,
        &mut stdin.lock(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str], input: &str) -> (u8, String, String) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(&argv, &mut input.as_bytes(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn usage_and_refusal_ask_nothing_of_the_daemon() {
        let (code, _, err) = run_args(&[], "");
        assert_eq!(code, 1);
        assert!(err.contains("<NODE>"), "{err}");
        let (code, out, _) = run_args(&["-h"], "");
        assert_eq!(code, 0);
        assert!(
            out.contains("Usage: fence_ack_manual [OPTIONS] <NODE>"),
            "{out}"
        );
        let (code, out, _) = run_args(&["--version"], "");
        assert_eq!(
            (code, out),
            (0, format!("fence_ack_manual {}\n", tooldoc::VERSION))
        );
        let (code, _, err) = run_args(&["a", "b"], "");
        assert_eq!(code, 1);
        assert!(err.contains("unexpected argument 'b'"), "{err}");
        let (code, out, _) = run_args(&["-n", "node1", "--socket", "/nonexistent"], "yes\n");
        assert_eq!(code, 1);
        assert!(
            out.starts_with("About to override fencing for node1.\n"),
            "{out}"
        );
        assert!(out.contains("Continue [NO/absolutely]? "), "{out}");
        assert!(out.ends_with("Aborted.\n"), "{out}");
    }

    #[test]
    fn no_daemon_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        let (code, _, err) = run_args(
            &["node1", "--socket", sock.to_str().unwrap()],
            "absolutely\n",
        );
        assert_eq!(code, 1);
        assert!(err.starts_with("fence_ack_manual: "), "{err}");
    }
}
