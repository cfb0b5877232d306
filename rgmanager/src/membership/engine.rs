//! The membership engine a node runs on: the embedded one ([`Membership`]) or corosync's CPG
//! ([`CpgMembership`]). The node core talks to this one type; both emit the same [`Event`]s.

use std::net::SocketAddr;
use std::time::Instant;

use super::cpg::{CpgInput, CpgMembership};
use super::{Counters, Event, Membership, NodeId, Transmit};

pub enum Engine {
    Embedded(Box<Membership>),
    Corosync(Box<CpgMembership>),
}

impl Engine {
    pub fn counters(&self) -> &Counters {
        match self {
            Engine::Embedded(m) => m.counters(),
            Engine::Corosync(c) => c.counters(),
        }
    }

    /// The embedded engine's timers; corosync keeps its own.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Engine::Embedded(m) => m.poll_timeout(),
            Engine::Corosync(_) => None,
        }
    }

    /// The node resumed from a stall and its view is not confirmed yet (embedded engine).
    /// Under corosync the daemon does not detect its own stalls yet: corosync's membership
    /// sees the whole machine's, but a daemon stopped alone is not noticed here.
    pub fn view_unconfirmed(&self) -> bool {
        match self {
            Engine::Embedded(m) => m.view_unconfirmed(),
            Engine::Corosync(_) => false,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Engine::Embedded(m) = self {
            m.handle_timeout(now);
        }
    }

    /// A membership datagram (embedded engine only; the corosync shell has none).
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], from: SocketAddr) {
        if let Engine::Embedded(m) = self {
            m.handle_datagram(now, bytes, from);
        }
    }

    /// What corosync delivered (corosync engine only).
    pub fn handle_cpg(&mut self, input: CpgInput) {
        if let Engine::Corosync(c) = self {
            c.handle(input);
        }
    }

    /// A datagram for a peer (embedded), or a message for the whole group (corosync: `to` 0).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Engine::Embedded(m) => m.poll_transmit(),
            Engine::Corosync(c) => c.poll_transmit(),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        match self {
            Engine::Embedded(m) => m.poll_event(),
            Engine::Corosync(c) => c.poll_event(),
        }
    }

    pub fn peer_incarnation(&self, id: NodeId) -> Option<u64> {
        match self {
            Engine::Embedded(m) => m.peer_incarnation(id),
            Engine::Corosync(c) => c.peer_incarnation(id),
        }
    }

    /// The wire protocol this node talks with a peer (`crate::versions`): from its heartbeats
    /// (embedded) or its hellos (corosync).
    pub fn peer_wire(&self, id: NodeId) -> Option<u8> {
        match self {
            Engine::Embedded(m) => m.peer_wire(id),
            Engine::Corosync(c) => c.peer_wire(id),
        }
    }

    /// The protocol versions a node speaks, this one included.
    pub fn member_speaks(&self, id: NodeId) -> Option<crate::versions::Range> {
        match self {
            Engine::Embedded(m) => m.member_speaks(id),
            Engine::Corosync(c) => c.member_speaks(id),
        }
    }

    /// The cluster's wire version: the highest every member of the view speaks.
    pub fn cluster_wire(&self) -> Option<u8> {
        match self {
            Engine::Embedded(m) => m.cluster_wire(),
            Engine::Corosync(c) => c.cluster_wire(),
        }
    }

    pub fn peer_config_version(&self, id: NodeId) -> Option<u64> {
        match self {
            Engine::Embedded(m) => m.peer_config_version(id),
            Engine::Corosync(c) => c.peer_config_version(id),
        }
    }

    pub fn set_config_version(&mut self, version: u64) {
        match self {
            Engine::Embedded(m) => m.set_config_version(version),
            Engine::Corosync(c) => c.set_config_version(version),
        }
    }

    pub fn set_nodes(&mut self, nodes: &[NodeId], now: Instant) {
        match self {
            Engine::Embedded(m) => m.set_nodes(nodes, now),
            Engine::Corosync(c) => c.set_nodes(nodes),
        }
    }

    /// The goodbye. With corosync the shell leaves the group (`cpg_leave`) when the node
    /// exits cleanly: the others see CPG's `Leave`.
    pub fn leave(&mut self, now: Instant) {
        if let Engine::Embedded(m) = self {
            m.leave(now);
        }
    }

    pub fn is_corosync(&self) -> bool {
        matches!(self, Engine::Corosync(_))
    }
}
