//! The admin socket's connections: each request goes to the event loop, the connection waits
//! for its answer.
//!
//! Access (issue 14): the socket is created 0660 (under a umask that never gives it more, so
//! there is no moment with wider permissions), its group set to [`ADMIN_GROUP`] when that group
//! exists (the package's `/run/cluster` is setgid `haclient`, as Pacemaker's group). Each
//! connection's peer credentials (`SO_PEERCRED`) are checked: root, and members of the socket's
//! group (primary or supplementary), may change things; anyone else who can connect (after a
//! chmod by hand, say) may only read the status and gets a clear refusal otherwise. A request
//! is one line of at most [`admin::MAX_REQUEST`] bytes; a connection idle for
//! [`admin::TIMEOUT`] is closed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::admin::{self, Request, Response};

/// The group allowed to change things besides root (Pacemaker's).
pub const ADMIN_GROUP: &str = "haclient";

/// A bound admin socket and the group whose members may change things.
pub struct Bound {
    pub listener: UnixListener,
    /// The socket file's group.
    pub gid: u32,
}

/// The admin group's id: `named` (`--admin-group`), which must exist, else [`ADMIN_GROUP`]
/// if it exists; `None`: the socket keeps its directory's group.
pub fn admin_gid(named: Option<&str>) -> Result<Option<u32>, String> {
    match named {
        Some(g) => group_id(g)
            .map(Some)
            .ok_or_else(|| format!("admin group {g:?} does not exist")),
        None => Ok(group_id(ADMIN_GROUP)),
    }
}

/// Binds the admin socket, mode 0660, group `gid` (from [`admin_gid`]) if any.
pub fn bind(path: &Path, gid: Option<u32>) -> std::io::Result<Bound> {
    // SAFETY: umask only swaps the process's file-creation mask; called while the daemon
    // starts, before it creates files from other threads.
    let old = unsafe { libc::umask(0o117) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let l = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    } else {
        tracing::debug!("group {ADMIN_GROUP} does not exist: the admin socket keeps its group");
    }
    let gid = std::fs::metadata(path)?.gid();
    Ok(Bound { listener: l, gid })
}

/// A group's id by name (`getgrnam_r`).
fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives `grp`'s borrowed strings,
    // of which only the gid (a plain integer) is read.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
}

/// The warning for a cluster.conf that users other than its owner and group may read (it
/// holds the fence devices' passwords); `None` when it is private or cannot be read.
pub fn readable_by_others(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.mode() & 0o7777;
    (mode & 0o004 != 0).then(|| {
        format!(
            "{} is readable by every user (mode {mode:04o}) and holds the fence devices' \
             passwords: chmod 0640",
            path.display()
        )
    })
}

/// What a peer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Root or the socket's group: everything.
    Change,
    /// Anyone else: the status and the configuration versions, nothing that changes.
    Read { uid: u32 },
}

/// The access of a peer with these credentials to a socket of group `gid`; `groups`: the
/// peer's supplementary groups.
pub fn access(uid: u32, peer_gid: u32, groups: &[u32], gid: u32) -> Access {
    if uid == 0 || peer_gid == gid || groups.contains(&gid) {
        Access::Change
    } else {
        Access::Read { uid }
    }
}

/// A process's supplementary groups, from `/proc/PID/status` (empty if it is gone).
fn supplementary_groups(pid: Option<i32>) -> Vec<u32> {
    let Some(pid) = pid else { return Vec::new() };
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a request changes anything.
pub fn changes(req: &Request) -> bool {
    !matches!(req, Request::Status | Request::ConfigCheck)
}

/// Answers one connection on the blocking pool (the protocol is line-based and small).
pub fn serve(
    stream: tokio::net::UnixStream,
    gid: u32,
    tx: mpsc::UnboundedSender<(Request, oneshot::Sender<Response>)>,
) {
    let access = match stream.peer_cred() {
        Ok(c) => access(c.uid(), c.gid(), &supplementary_groups(c.pid()), gid),
        // No credentials, no changes.
        Err(_) => Access::Read { uid: u32::MAX },
    };
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        if std_stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = std_stream.set_read_timeout(Some(admin::TIMEOUT));
        let _ = std_stream.set_write_timeout(Some(admin::TIMEOUT));
        let _ = admin::serve_one(&std_stream, |req| {
            if let (Access::Read { uid }, true) = (access, changes(&req)) {
                tracing::warn!(
                    "Refused an admin request from uid {uid}: not root or {ADMIN_GROUP}"
                );
                return Response::Error {
                    message: format!(
                        "Permission denied: only root and the group {ADMIN_GROUP} may change \
                         the cluster (uid {uid})"
                    ),
                };
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_the_group_change_others_read() {
        assert_eq!(access(0, 5, &[], 100), Access::Change);
        assert_eq!(access(1000, 100, &[], 100), Access::Change);
        assert_eq!(access(1000, 5, &[7, 100], 100), Access::Change);
        assert_eq!(access(1000, 5, &[7], 100), Access::Read { uid: 1000 });
        assert!(!changes(&Request::Status));
        assert!(!changes(&Request::ConfigCheck));
        assert!(changes(&Request::ConfigPush {
            text: String::new()
        }));
        assert!(changes(&Request::FenceAck { node: "a".into() }));
    }

    #[test]
    fn a_world_readable_cluster_conf_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cluster.conf");
        std::fs::write(&f, "<cluster/>").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = readable_by_others(&f).unwrap();
        assert!(w.contains("cluster.conf") && w.contains("0644"), "{w}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(readable_by_others(&f), None);
    }

    /// A fresh directory for a test socket, the socket's path in it, and a runtime.
    fn socket_place(
        tag: &str,
    ) -> (
        std::path::PathBuf,
        std::path::PathBuf,
        tokio::runtime::Runtime,
    ) {
        let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("sock");
        let _ = std::fs::remove_file(&path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (dir, path, rt)
    }

    #[test]
    fn the_admin_group_is_the_one_named_and_must_exist() {
        assert_eq!(admin_gid(Some("root")), Ok(Some(0)));
        let e = admin_gid(Some("no-such-group-rgm")).unwrap_err();
        assert_eq!(e, "admin group \"no-such-group-rgm\" does not exist");
        // The socket takes the named group: its members (and root) may change things.
        let Ok(Some(gid)) = admin_gid(Some("daemon")) else {
            return;
        };
        let (dir, path, rt) = socket_place("rgm-admin-group");
        rt.block_on(async {
            let b = bind(&path, Some(gid)).unwrap();
            assert_eq!(b.gid, gid);
            assert_eq!(std::fs::metadata(&path).unwrap().gid(), gid);
            assert_eq!(access(1000, 1000, &[gid], b.gid), Access::Change);
            assert_eq!(access(1000, 1000, &[], b.gid), Access::Read { uid: 1000 });
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_socket_is_0660_and_a_stranger_may_only_read() {
        let (dir, path, rt) = socket_place("rgm-admin");
        rt.block_on(async {
            let b = bind(&path, admin_gid(None).unwrap()).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o660);
            // A group no test runner is in: as root, still everything; the decision for a
            // stranger is `access` above.
            let (tx, mut rx) = mpsc::unbounded_channel();
            let p = path.clone();
            let client = std::thread::spawn(move || {
                admin::query(&p, &Request::Status, std::time::Duration::from_secs(5))
            });
            let (s, _) = b.listener.accept().await.unwrap();
            serve(s, b.gid, tx);
            let (req, reply): (Request, oneshot::Sender<Response>) = rx.recv().await.unwrap();
            assert_eq!(req, Request::Status);
            let _ = reply.send(Response::Error {
                message: "test".into(),
            });
            let got = tokio::task::spawn_blocking(move || client.join().unwrap())
                .await
                .unwrap();
            assert!(got.is_ok(), "{got:?}");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
