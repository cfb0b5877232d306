//! systemd's notifications from outside the daemon's event loop, until the daemon sends them
//! itself (docs/packaging.md): a thread of the `rgmanager` process asks the daemon's admin
//! socket for its status, as `clustat` does, and
//!
//! - sends `READY=1` once this node is an online member of a view (the daemon binds the admin
//!   socket only after catching up with the newest cluster.conf, so both conditions of
//!   readiness hold);
//! - sends `WATCHDOG=1` each time the event loop answers within the watchdog interval: a hung
//!   event loop stops answering, the pings stop and systemd aborts and restarts the daemon;
//! - sends `STATUS=` with quorum, members, coordinator and local services when it changes.
//!
//! The decisions are [`Bridge::on_status`], a pure function of each answer; [`spawn`] is the
//! thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::admin::{self, Request, Response};
use crate::clustat::Status;
use crate::sd_notify::{status_line, Notifier, State};
use crate::state::ServiceState;

/// How often to ask before the node is ready.
const STARTUP_POLL: Duration = Duration::from_millis(500);
/// How often to refresh the status line when there is no watchdog.
const STATUS_POLL: Duration = Duration::from_secs(5);

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
    /// `None` if it did not (not yet listening, or hung).
    pub fn on_status(&mut self, answer: Option<&Status>) -> Vec<State> {
        let Some(s) = answer else {
            // No answer: no ping. Before READY systemd's start timeout applies, after it the
            // watchdog.
            return Vec::new();
        };
        let mut out = Vec::new();
        let in_view = s.members.iter().any(|m| m.local && m.online);
        if !self.ready {
            if !in_view {
                let line = "Joining the cluster".to_string();
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
                let states = bridge.on_status(answer.as_ref());
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
        assert!(b.on_status(None).is_empty());
        assert_eq!(
            b.on_status(Some(&status(false))),
            vec![State::Status("Joining the cluster".into())]
        );
        assert!(b.on_status(Some(&status(false))).is_empty());
        let line = "Quorate, 1 of 2 members online; coordinator node1; 1 service running here";
        assert_eq!(
            b.on_status(Some(&status(true))),
            vec![State::Ready, State::Status(line.into())]
        );
        assert_eq!(b.on_status(Some(&status(true))), vec![State::Watchdog]);
        // A hung daemon: no ping.
        assert!(b.on_status(None).is_empty());
        assert_eq!(
            b.on_status(Some(&status(false))),
            vec![
                State::Watchdog,
                State::Status(
                    "Inquorate, 0 of 2 members online; no coordinator; 1 service running here"
                        .into()
                )
            ]
        );
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
                let _ = admin::serve_one(&s, |_| Response::Status {
                    status: status(true),
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
