//! What the daemon tells systemd (`Type=notify`, through [`crate::sd_notify`]): READY once
//! this node is a member of a view and holds the newest configuration its members announce,
//! a STATUS line (quorum, members, coordinator, services here) when it changes, WATCHDOG from
//! the event loop itself (a hung loop stops the pings, and systemd restarts the daemon),
//! RELOADING/READY around a SIGHUP, STOPPING at shutdown.

use std::time::Instant;

use crate::clustat::Status;
use crate::node::Node;
use crate::sd_notify::{status_line, Notifier, State};
use crate::state::ServiceState;

pub struct Notify {
    notifier: Notifier,
    ready: bool,
    last_status: Option<String>,
}

impl Notify {
    pub fn new(notifier: Notifier) -> Notify {
        Notify {
            notifier,
            ready: false,
            last_status: None,
        }
    }

    /// The watchdog's ping interval, when systemd watches.
    pub fn watchdog(&self) -> Option<std::time::Duration> {
        self.notifier.watchdog_interval()
    }

    fn send(&self, states: &[State]) {
        if let Err(e) = self.notifier.notify(states) {
            tracing::warn!("cannot notify systemd: {e}");
        }
    }

    /// After the loop's work: READY the first time the node is ready, STATUS when it changed.
    /// Only under systemd (the status snapshot is not free).
    pub fn check(&mut self, node: &Node, now: Instant) {
        if !self.notifier.enabled() {
            return;
        }
        let member = node.view().is_some_and(|v| v.contains(node.id()));
        let ready_now = member && node.caught_up();
        if !self.ready && !ready_now {
            return;
        }
        let line = describe(&node.status(now));
        let mut states = Vec::new();
        if !self.ready {
            self.ready = true;
            states.push(State::Ready);
        }
        if self.last_status.as_ref() != Some(&line) {
            states.push(State::Status(line.clone()));
            self.last_status = Some(line);
        }
        if !states.is_empty() {
            self.send(&states);
        }
    }

    pub fn ping(&self) {
        self.send(&[State::Watchdog]);
    }

    pub fn reloading(&self) {
        if self.notifier.enabled() {
            self.send(&[State::Reloading]);
        }
    }

    pub fn reloaded(&self) {
        if self.notifier.enabled() {
            self.send(&[State::Ready]);
        }
    }

    pub fn stopping(&self) {
        if self.notifier.enabled() {
            self.send(&[State::Stopping]);
        }
    }
}

/// The status line for a status snapshot.
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
