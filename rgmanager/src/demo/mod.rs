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

const USAGE: &str = "usage: demo [--exit]\n\
\x20      demo --describe [-f cluster.conf]\n\
\x20 (no option)   start a three-node cluster on loopback, show a failover, keep it running\n\
\x20               until Ctrl-C\n\
\x20 --exit        stop the cluster after the show\n\
\x20 --describe    validate the sample (or FILE) and show its model; starts nothing\n";

/// The `demo` command. Returns the process exit status.
pub fn run(args: &[String]) -> u8 {
    match args {
        [first, rest @ ..] if first == DAEMON_ARG => crate::daemon::run::main(rest),
        [] => show::run(false),
        [a] if a == "--exit" => show::run(true),
        [a] if a == "--describe" => print_description("demo/cluster.conf (embedded)", SAMPLE),
        [a, f, path] if a == "--describe" && f == "-f" => {
            match std::fs::read_to_string(Path::new(path)) {
                Ok(t) => print_description(path, &t),
                Err(e) => {
                    eprintln!("{path}: cannot read: {e}");
                    2
                }
            }
        }
        [a] if a == "-h" || a == "--help" => {
            print!("{USAGE}");
            0
        }
        _ => {
            eprint!("{USAGE}");
            255
        }
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
