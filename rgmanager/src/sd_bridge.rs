//! systemd's notifications from outside the daemon's event loop, until the daemon sends them
//! itself (docs/packaging.md): a thread of the `rgmanager` process asks the daemon's admin
//! socket for its status, as `clustat` does, and
//!
//! - sends `READY=1` once this node is an online member of a view and holds the newest
//!   cluster.conf any reachable node has (asked as `ccs_sync --check` asks);
//! - sends `WATCHDOG=1` each time the event loop answers within the watchdog interval: a hung
//!   event loop stops answering, the pings stop and systemd aborts and restarts the daemon;
//! - sends `STATUS=` with quorum, members, coordinator and local services when it changes.
//!
//! The decisions are [`Bridge::on_status`], a pure function of each answer; [`spawn`] is the
//! thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::admin::{self, NodeLine, Request, Response, SyncOutcome};
use crate::clustat::Status;
use crate::sd_notify::{status_line, Notifier, State};
use crate::state::ServiceState;

/// How often to ask before the node is ready.
const STARTUP_POLL: Duration = Duration::from_millis(500);
/// How often to refresh the status line when there is no watchdog.
const STATUS_POLL: Duration = Duration::from_secs(5);
/// How long a configuration check may take (the daemon asks every node).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `local` holds the newest configuration version among the nodes that answered a
/// configuration check (nodes that could not be reached do not count).
pub fn caught_up(nodes: &[NodeLine], local: &str) -> bool {
    let version = |n: &NodeLine| match n.outcome {
        SyncOutcome::Version { version, .. } => Some(version),
        _ => None,
    };
    let Some(ours) = nodes.iter().find(|n| n.node == local).and_then(version) else {
        return false;
    };
    nodes.iter().filter_map(version).all(|v| v <= ours)
}

/// What the bridge has told systemd so far.
#[derive(Debug, Default)]
pub struct Bridge {
    ready: bool,
    last_status: Option<String>,
}

/// The status line for a daemon's status answer.
pub fn describe(s: &Status) -> String {
    let online = s.members.iter().filter(|m| m.online).count();
    let configured = s.members.iter().filter(|m| !m.estranged).count();
    let coordinator = s
        .members
        .iter()
        .find(|m| m.coordinator)
        .map(|m| m.name.as_str());
    let local = s.members.iter().find(|m| m.local).map(|m| m.nodeid);
    let here = s
        .services
        .iter()
        .flatten()
        .filter(|v| Some(v.owner) == local && v.state == ServiceState::Started)
        .count();
    status_line(s.quorate, online, configured, coordinator, here)
}

impl Bridge {
    /// Whether `READY=1` has been sent.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// What to tell systemd after one status query: `Some(status)` if the daemon answered,
    /// `None` if it did not (not yet listening, or hung). `caught_up` is asked (once per
    /// answer, only while not ready and in a view) whether this node holds the newest
    /// configuration.
    pub fn on_status(
        &mut self,
        answer: Option<&Status>,
        caught_up: impl FnOnce(&Status) -> bool,
    ) -> Vec<State> {
        let Some(s) = answer else {
            // No answer: no ping. Before READY systemd's start timeout applies, after it the
            // watchdog.
            return Vec::new();
        };
        let mut out = Vec::new();
        let in_view = s.members.iter().any(|m| m.local && m.online);
        if !self.ready {
            let waiting = if !in_view {
                Some("Joining the cluster")
            } else if !caught_up(s) {
                Some("Catching up with the newest cluster.conf")
            } else {
                None
            };
            if let Some(line) = waiting {
                let line = line.to_string();
                if self.last_status.as_deref() != Some(line.as_str()) {
                    self.last_status = Some(line.clone());
                    out.push(State::Status(line));
                }
                return out;
            }
            self.ready = true;
            out.push(State::Ready);
        } else {
            out.push(State::Watchdog);
        }
        let line = describe(s);
        if self.last_status.as_deref() != Some(line.as_str()) {
            self.last_status = Some(line.clone());
            out.push(State::Status(line));
        }
        out
    }
}

/// Starts the thread that asks `socket` and notifies systemd; `None` outside systemd.
/// `reload` is set by the binary's SIGHUP handler: the daemon does not reload from disk yet,
/// so the request is logged with what to do instead.
pub fn spawn(
    notifier: Notifier,
    socket: PathBuf,
    reload: &'static AtomicBool,
) -> Option<std::thread::JoinHandle<()>> {
    if !notifier.enabled() {
        return None;
    }
    std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || {
            let mut bridge = Bridge::default();
            let watchdog = notifier.watchdog_interval();
            loop {
                if reload.swap(false, Ordering::SeqCst) {
                    tracing::warn!(
                        "SIGHUP: this rgmanager does not read cluster.conf again from disk yet; \
                         push a new version with ccs_sync"
                    );
                }
                let every = match (bridge.is_ready(), watchdog) {
                    (false, _) => STARTUP_POLL,
                    (true, Some(w)) => w,
                    (true, None) => STATUS_POLL,
                };
                // An answer slower than the ping interval is a missed ping.
                let timeout = every.min(admin::TIMEOUT);
                let answer = match admin::query(&socket, &Request::Status, timeout) {
                    Ok(Response::Status { status }) => Some(status),
                    _ => None,
                };
                let check = |s: &Status| {
                    let Some(local) = s.members.iter().find(|m| m.local) else {
                        return false;
                    };
                    match admin::query(&socket, &Request::ConfigCheck, CHECK_TIMEOUT) {
                        Ok(Response::Nodes { nodes }) => caught_up(&nodes, &local.name),
                        _ => false,
                    }
                };
                let states = bridge.on_status(answer.as_ref(), check);
                if !states.is_empty() {
                    if let Err(e) = notifier.notify(&states) {
                        tracing::warn!("cannot notify systemd: {e}");
                    }
                }
                std::thread::sleep(every);
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clustat::{MemberStatus, ServiceStatus};
    use crate::state::ServiceFlags;
    use std::os::unix::net::{UnixDatagram, UnixListener};
    use std::sync::Arc;

    fn status(local_online: bool) -> Status {
        Status {
            cluster_name: "web_ha".into(),
            cluster_id: 1,
            generation: 2,
            quorate: local_online,
            members: vec![
                MemberStatus {
                    name: "node1".into(),
                    nodeid: 1,
                    online: local_online,
                    local: true,
                    coordinator: local_online,
                    ..Default::default()
                },
                MemberStatus {
                    name: "node2".into(),
                    nodeid: 2,
                    online: false,
                    ..Default::default()
                },
            ],
            services: Some(vec![ServiceStatus {
                name: "service:web".into(),
                state: ServiceState::Started,
                flags: ServiceFlags::default(),
                owner: 1,
                last_owner: 0,
                restarts: 0,
                last_transition: 0,
            }]),
            now: 0,
        }
    }

    #[test]
    fn ready_once_in_a_view_then_pings() {
        let mut b = Bridge::default();
        let yes = |_: &Status| true;
        let no = |_: &Status| false;
        assert!(b.on_status(None, yes).is_empty());
        assert_eq!(
            b.on_status(Some(&status(false)), yes),
            vec![State::Status("Joining the cluster".into())]
        );
        assert!(b.on_status(Some(&status(false)), yes).is_empty());
        // In the view, but a member announces a newer cluster.conf.
        assert_eq!(
            b.on_status(Some(&status(true)), no),
            vec![State::Status(
                "Catching up with the newest cluster.conf".into()
            )]
        );
        assert!(!b.is_ready());
        let line = "Quorate, 1 of 2 members online; coordinator node1; 1 service running here";
        assert_eq!(
            b.on_status(Some(&status(true)), yes),
            vec![State::Ready, State::Status(line.into())]
        );
        // Once ready, the check is never asked again.
        let never = |_: &Status| -> bool { panic!("asked again") };
        assert_eq!(
            b.on_status(Some(&status(true)), never),
            vec![State::Watchdog]
        );
        // A hung daemon: no ping.
        assert!(b.on_status(None, never).is_empty());
        assert_eq!(
            b.on_status(Some(&status(false)), never),
            vec![
                State::Watchdog,
                State::Status(
                    "Inquorate, 0 of 2 members online; no coordinator; 1 service running here"
                        .into()
                )
            ]
        );
    }

    #[test]
    fn caught_up_is_holding_the_newest_reachable_version() {
        let line = |node: &str, outcome: SyncOutcome| NodeLine {
            node: node.into(),
            outcome,
        };
        let v = |version| SyncOutcome::Version {
            version,
            hash: "h".into(),
        };
        let gone = SyncOutcome::Unreachable { why: "down".into() };
        assert!(caught_up(
            &[line("node1", v(3)), line("node2", v(3))],
            "node1"
        ));
        assert!(caught_up(
            &[line("node1", v(3)), line("node2", gone.clone())],
            "node1"
        ));
        assert!(!caught_up(
            &[line("node1", v(2)), line("node2", v(3))],
            "node1"
        ));
        assert!(!caught_up(
            &[line("node1", gone), line("node2", v(1))],
            "node1"
        ));
    }

    /// A stand-in daemon on a real admin socket answering status while `alive` is set, and a
    /// listening NOTIFY_SOCKET: the bridge sends READY, then pings until the daemon stops
    /// answering.
    #[test]
    fn the_thread_notifies_a_listening_socket() {
        let dir = tempfile::tempdir().unwrap();
        let admin_path = dir.path().join("rgmanager.sock");
        let listener = UnixListener::bind(&admin_path).unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let a = alive.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                if !a.load(Ordering::SeqCst) {
                    // Hung: accept, never answer.
                    std::mem::forget(s);
                    continue;
                }
                let _ = admin::serve_one(&s, |req| match req {
                    Request::ConfigCheck => Response::Nodes {
                        nodes: vec![NodeLine {
                            node: "node1".into(),
                            outcome: SyncOutcome::Version {
                                version: 1,
                                hash: "h".into(),
                            },
                        }],
                    },
                    _ => Response::Status {
                        status: status(true),
                    },
                });
            }
        });
        let notify_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        // WatchdogSec=0.4 s: a ping every 0.2 s.
        let n = Notifier::from_values(
            Some(notify_path.to_str().unwrap()),
            Some("400000"),
            None,
            std::process::id(),
        )
        .unwrap();
        static RELOAD: AtomicBool = AtomicBool::new(false);
        spawn(n, admin_path, &RELOAD).unwrap();
        let mut buf = [0u8; 1024];
        let mut recv = || {
            let n = notify.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        assert!(recv().starts_with("READY=1\nSTATUS=Quorate, 1 of 2"));
        assert_eq!(recv(), "WATCHDOG=1");
        assert_eq!(recv(), "WATCHDOG=1");
        alive.store(false, Ordering::SeqCst);
        // At most one ping already under way, then silence.
        notify
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut late = 0;
        while notify.recv(&mut buf).is_ok() {
            late += 1;
            assert!(late <= 2, "pings go on while the daemon does not answer");
        }
    }
}
