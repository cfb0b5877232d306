//! The admin socket: how `clustat`, `clusvcadm` and `ccs_sync` talk to the local daemon.
//!
//! One Unix stream socket per daemon; a request is one JSON object on one line, the answer is one
//! JSON object on one line. JSON keeps the protocol readable with `socat` when debugging, and the
//! messages are small. The client side lives here too, with the timeout RHCS's tools used.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clustat::Status;
use crate::state::RgCode;

/// What an administrator asks of a service (`clusvcadm`'s requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    Enable,
    Disable,
    Relocate,
    Migrate,
    Restart,
    /// Stop until the next transition (`-s`).
    Stop,
    Freeze,
    Unfreeze,
    Convalesce,
}

/// The cluster-wide lock that keeps services from starting (`clusvcadm -l/-u/-S`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockOp {
    Lock,
    Unlock,
    Query,
}

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/cluster/rgmanager.sock";

/// Environment variable naming another socket (several daemons on one machine, tests).
pub const SOCKET_ENV: &str = "RGMANAGER_SOCKET";

/// How long a tool waits for an answer (clustat's select() timeout).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request line the daemon reads: a `ccs_sync` push of the largest configuration
/// the sync accepts (16 MiB), JSON-escaped, fits.
pub const MAX_REQUEST: usize = 40 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Members, quorum and services, as clustat shows them.
    Status,
    /// A service request, forwarded by the local daemon to the coordinator.
    Service {
        action: ServiceAction,
        /// Full name, `service:web`.
        service: String,
        /// `-m MEMBER`: where to enable, relocate or migrate to.
        target: Option<String>,
        /// `-F`: enable according to failover domain rules.
        domain_rules: bool,
    },
    Lock {
        lock: LockOp,
    },
    /// `fence_ack_manual NODE`: an administrator confirms that a lost node is down, so the
    /// daemons treat it as fenced.
    FenceAck {
        node: String,
    },
    /// `ccs_sync`: replace the configuration with `text` here (if newer) and offer it to every
    /// node it lists.
    ConfigPush {
        text: String,
    },
    /// `ccs_sync --check`: every node's configuration version.
    ConfigCheck,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    Status {
        status: Status,
    },
    /// The answer to a service request: RHCS's code and, after a start, where it runs.
    Service {
        code: RgCode,
        owner: Option<String>,
    },
    /// The lock's state after a lock request.
    Lock {
        locked: bool,
    },
    /// `fence_ack_manual`: the node is now taken as fenced (`fenced` false: it was already, or
    /// had left cleanly, so nothing changed).
    FenceAck {
        node: String,
        fenced: bool,
    },
    Error {
        message: String,
    },
    /// The answer to `ConfigPush` and `ConfigCheck`: one line per node.
    Nodes {
        nodes: Vec<NodeLine>,
    },
}

/// One node's line in `ccs_sync`'s output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLine {
    pub node: String,
    pub outcome: SyncOutcome,
}

/// What a node said to a push or a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SyncOutcome {
    /// The node holds the pushed version.
    Success,
    /// `--check`: what the node holds (the hash's first 16 hex digits).
    Version {
        version: u64,
        hash: String,
    },
    Refused {
        reason: String,
    },
    Conflict {
        detail: String,
    },
    /// No connection could be made.
    Unreachable {
        why: String,
    },
    /// Connected, but no answer came in time.
    NoAnswer,
}

impl std::fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncOutcome::Success => f.write_str("Success"),
            SyncOutcome::Version { version, hash } => write!(f, "version {version} (hash {hash})"),
            SyncOutcome::Refused { reason } => write!(f, "refused: {reason}"),
            SyncOutcome::Conflict { detail } => write!(f, "conflict: {detail}"),
            SyncOutcome::Unreachable { .. } => f.write_str("unreachable"),
            SyncOutcome::NoAnswer => f.write_str("no answer"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No daemon listens on the socket.
    #[error("{path}: {source}")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Timed out waiting for a response from Resource Group Manager")]
    Timeout,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad answer from the daemon: {0}")]
    Protocol(String),
}

/// The socket a tool should use: `explicit`, else `$RGMANAGER_SOCKET`, else the default.
pub fn socket_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os(SOCKET_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// Sends one request and reads one answer.
pub fn query(path: &Path, req: &Request, timeout: Duration) -> Result<Response, AdminError> {
    let stream = UnixStream::connect(path).map_err(|source| AdminError::NotRunning {
        path: path.to_path_buf(),
        source,
    })?;
    let io = |source| AdminError::Io {
        path: path.to_path_buf(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).map_err(|e| AdminError::Protocol(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    match BufReader::new(&stream).read_line(&mut answer) {
        Ok(0) => return Err(AdminError::Protocol("connection closed".into())),
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(AdminError::Timeout)
        }
        Err(e) => return Err(io(e)),
    }
    serde_json::from_str(&answer).map_err(|e| AdminError::Protocol(e.to_string()))
}

/// Reads one request line and writes the answer `handle` gives: the server side of one
/// connection, for whatever runtime the daemon drives it from.
pub fn serve_one(
    stream: &UnixStream,
    handle: impl FnOnce(Request) -> Response,
) -> std::io::Result<()> {
    let mut line = String::new();
    // At most MAX_REQUEST bytes are read: a client sending an endless line costs no memory.
    BufReader::new(std::io::Read::take(stream, MAX_REQUEST as u64)).read_line(&mut line)?;
    let reply = if line.len() >= MAX_REQUEST && !line.ends_with('\n') {
        Response::Error {
            message: format!("bad request: longer than {MAX_REQUEST} bytes"),
        }
    } else {
        match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req),
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
        }
    };
    let mut out = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
    out.push('\n');
    let mut w = stream;
    w.write_all(out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_line_is_refused_after_the_limit() {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'a'; 1 << 20];
            let mut w = &a;
            for _ in 0..(MAX_REQUEST >> 20) + 2 {
                if w.write_all(&chunk).is_err() {
                    break;
                }
            }
            let mut back = String::new();
            let _ = BufReader::new(&a).read_line(&mut back);
            back
        });
        serve_one(&b, |_| panic!("an over-long request was handled")).unwrap();
        drop(b);
        let back = writer.join().unwrap();
        assert!(back.contains("longer than"), "{back}");
    }
}
