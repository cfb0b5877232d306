//! systemd's notification protocol for `rgmanager.service` (`Type=notify`, `WatchdogSec=`):
//! `READY=1` once the daemon serves, `STATUS=` lines with the membership and quorum,
//! `WATCHDOG=1` from the event loop, `RELOADING=1` around a reload, `STOPPING=1` at shutdown.
//!
//! The protocol is one datagram per message to the Unix socket named by `$NOTIFY_SOCKET` (a
//! path, or `@name` in the abstract namespace). Outside systemd there is no such variable and
//! every call does nothing. [`Notifier::from_env`] removes the variables from the environment
//! so that the agents and scripts the daemon starts do not talk to systemd in its name; call it
//! first thing in `main`, before any thread exists.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variables systemd sets for the notification protocol.
const VARS: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// A connection to systemd's notification socket, or nothing outside systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

/// What a notification says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Startup is finished: the first membership view is in and cluster.conf is caught up.
    Ready,
    /// A reload (SIGHUP) has begun; `Ready` ends it.
    Reloading,
    /// Shutdown has begun.
    Stopping,
    /// Free text `systemctl status` shows.
    Status(String),
    /// The event loop is alive.
    Watchdog,
}

impl State {
    fn line(&self) -> String {
        match self {
            State::Ready => "READY=1".into(),
            State::Reloading => "RELOADING=1".into(),
            State::Stopping => "STOPPING=1".into(),
            // One line: a newline would start another assignment.
            State::Status(s) => format!("STATUS={}", s.replace('\n', " ")),
            State::Watchdog => "WATCHDOG=1".into(),
        }
    }
}

impl Notifier {
    /// No notifications (not under systemd, or tests).
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// From the environment systemd set, which is then cleared (module docs). The watchdog is
    /// only ours when `WATCHDOG_PID` is unset or names this process.
    pub fn from_env() -> io::Result<Notifier> {
        let get = |k: &str| std::env::var(k).ok();
        let n = Notifier::from_values(
            get("NOTIFY_SOCKET").as_deref(),
            get("WATCHDOG_USEC").as_deref(),
            get("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        for v in VARS {
            // Single-threaded at this point (the caller's contract), so this is sound.
            std::env::remove_var(v);
        }
        n
    }

    /// From the values of `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`, for process `pid`.
    pub fn from_values(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> io::Result<Notifier> {
        let target = match socket.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let addr = match s.strip_prefix('@') {
                    Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
                    None => SocketAddr::from_pathname(s)?,
                };
                Some((UnixDatagram::unbound()?, addr))
            }
        };
        let ours = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>().ok() == Some(pid));
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Ok(Notifier { target, watchdog })
    }

    /// Whether systemd listens.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send [`State::Watchdog`]: half of `WatchdogSec=`, as systemd advises;
    /// `None` when there is no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Sends the states in one datagram. Outside systemd: nothing, `Ok`.
    pub fn notify(&self, states: &[State]) -> io::Result<()> {
        let Some((sock, addr)) = &self.target else {
            return Ok(());
        };
        let text: Vec<String> = states.iter().map(State::line).collect();
        sock.send_to_addr(text.join("\n").as_bytes(), addr)?;
        Ok(())
    }
}

/// The `STATUS=` line: what `systemctl status rgmanager` shows under the unit's name, e.g.
/// `Quorate, 2 of 2 members online; coordinator node1.cluster.com; 1 service running here`.
pub fn status_line(
    quorate: bool,
    online: usize,
    configured: usize,
    coordinator: Option<&str>,
    services_here: usize,
) -> String {
    let q = if quorate { "Quorate" } else { "Inquorate" };
    let coord = match coordinator {
        Some(c) => format!("coordinator {c}"),
        None => "no coordinator".to_string(),
    };
    let s = if services_here == 1 { "" } else { "s" };
    format!(
        "{q}, {online} of {configured} members online; {coord}; {services_here} service{s} \
         running here"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notify");
        let s = UnixDatagram::bind(&p).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        (dir, s, p.to_string_lossy().into_owned())
    }

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn ready_status_watchdog_stopping_reach_the_socket() {
        let (_d, sock, path) = listen();
        let n = Notifier::from_values(Some(&path), Some("30000000"), None, 1).unwrap();
        assert!(n.enabled());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        n.notify(&[
            State::Ready,
            State::Status(status_line(true, 2, 2, Some("node1"), 1)),
        ])
        .unwrap();
        assert_eq!(
            recv(&sock),
            "READY=1\nSTATUS=Quorate, 2 of 2 members online; coordinator node1; 1 service \
             running here"
        );
        n.notify(&[State::Watchdog]).unwrap();
        assert_eq!(recv(&sock), "WATCHDOG=1");
        n.notify(&[State::Reloading]).unwrap();
        assert_eq!(recv(&sock), "RELOADING=1");
        n.notify(&[State::Status("a\nb".into()), State::Stopping])
            .unwrap();
        assert_eq!(recv(&sock), "STATUS=a b\nSTOPPING=1");
    }

    #[test]
    fn abstract_socket() {
        let name = format!("rgm-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let n = Notifier::from_values(Some(&format!("@{name}")), None, None, 1).unwrap();
        n.notify(&[State::Ready]).unwrap();
        assert_eq!(recv(&sock), "READY=1");
        assert_eq!(n.watchdog_interval(), None);
    }

    #[test]
    fn outside_systemd_nothing_happens() {
        let n = Notifier::from_values(None, Some("1000000"), None, 1).unwrap();
        assert!(!n.enabled());
        n.notify(&[State::Ready]).unwrap();
        assert!(!Notifier::disabled().enabled());
    }

    #[test]
    fn the_watchdog_of_another_process_is_not_ours() {
        let (_d, _s, path) = listen();
        let n = Notifier::from_values(Some(&path), Some("2000000"), Some("42"), 7).unwrap();
        assert_eq!(n.watchdog_interval(), None);
        let n = Notifier::from_values(Some(&path), Some("2000000"), Some("7"), 7).unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(1)));
        let n = Notifier::from_values(Some(&path), Some("junk"), None, 7).unwrap();
        assert_eq!(n.watchdog_interval(), None);
    }

    #[test]
    fn no_listener_is_an_error_the_caller_may_ignore() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gone");
        let n = Notifier::from_values(Some(p.to_str().unwrap()), None, None, 1).unwrap();
        assert!(n.notify(&[State::Ready]).is_err());
    }

    #[test]
    fn status_words() {
        assert_eq!(
            status_line(false, 1, 3, None, 0),
            "Inquorate, 1 of 3 members online; no coordinator; 0 services running here"
        );
    }
}
