//! The admin socket's connections: each request goes to the event loop, the connection waits
//! for its answer. The socket is made group-accessible (0660): the package's `/run/cluster` is
//! setgid `haclient`, so members of that group may run `clustat` and `clusvcadm`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::admin::{self, Request, Response};

/// Binds the admin socket, mode 0660.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

/// Answers one connection on the blocking pool (the protocol is line-based and small).
pub fn serve(
    stream: tokio::net::UnixStream,
    tx: mpsc::UnboundedSender<(Request, oneshot::Sender<Response>)>,
) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        if std_stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = std_stream.set_read_timeout(Some(admin::TIMEOUT));
        let _ = admin::serve_one(&std_stream, |req| {
            let gone = || Response::Error {
                message: "the resource group manager is shutting down".into(),
            };
            let (reply, rx) = oneshot::channel();
            if tx.send((req, reply)).is_err() {
                return gone();
            }
            rx.blocking_recv().unwrap_or_else(|_| gone())
        });
    });
}
