//! Membership on corosync: the CPG process group as the view, sans-I/O.
//!
//! The shell (with the `corosync` feature) joins the group `rgmanager` and feeds what corosync
//! delivers here as [`CpgInput`]s; this core turns them into the same [`Event`]s the embedded
//! engine emits, so that everything above (policy, fencing, sync, clustat) is unchanged.
//!
//! **View numbers.** The node core needs every member to install the same `(number, members)`
//! view (reports are matched to the view exactly). Corosync delivers group changes and messages
//! in one agreed order to every member (virtual synchrony), but a daemon that joins late cannot
//! know how many changes the others counted. So after each group change every member multicasts
//! a *hello* (its run's incarnation, its config_version, the number of the last view it
//! installed, and a fingerprint of the group as it saw the change); a member installs the view
//! once it holds a hello from every member, sent for this very group (the fingerprint; an older
//! hello still in flight is ignored). All members hold the same hellos, so all compute the same
//! number: the largest last number plus one. Numbers only grow on a member, and a merge of two
//! partitions gets a number above both.
//!
//! **Reasons.** A member that left with CPG's `Leave` said goodbye (its daemon called
//! `cpg_leave` after stopping its services): [`Event::LeftCleanly`]. `NodeDown` (its corosync is
//! gone from the ring) and `ProcDown` (its daemon died, its corosync lives) are failures:
//! [`Event::Failed`], then fenced. A member whose incarnation changed between two views
//! restarted: failed, then joined. A node that comes back with the *same* incarnation after a
//! failure (a partition healing: corosync 3 merges it back without restarting it) is reported
//! joined with the incarnation it failed with, which the fencing keeps fencing (its failure's
//! epoch has not ended).
//!
//! **Quorum.** Votequorum's verdict arrives on another connection, in no set order with the
//! group changes; a node that lost its peers may hear of the group change first and of the
//! lost quorum a moment later. So the node core requires both: its own count of the view's
//! votes (the same as with the embedded engine, computed in the group's agreed order) and
//! votequorum's verdict ([`Event::EngineQuorum`]). Corosync going away ([`CpgInput::Lost`])
//! is [`Event::EngineLost`]: no quorum from then on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::{Counters, Event, NodeId, Transmit, View};
use crate::versions::{self, Range};

/// The CPG group every daemon of a cluster joins.
pub const GROUP: &str = "rgmanager";

const MAGIC: [u8; 4] = *b"RGMc";
/// The hello's format. Format 1 (the first corosync engine, protocol 2 only) had the fixed
/// part alone; format 2 adds the protocol range this daemon speaks. Every later format keeps
/// the fixed part first and only adds after it, so any daemon reads any hello far enough to
/// agree on the view and to know the sender's range (a hello a member could not read would
/// hold the whole group's view for ever).
const FORMAT: u8 = 2;
const KIND_HELLO: u8 = 1;
/// A member's config_version changed between group changes.
const KIND_VERSION: u8 = 2;
/// The fixed part: magic, format, kind, incarnation, config_version, last view, fingerprint.
const FIXED_LEN: usize = 4 + 1 + 1 + 8 * 4;
const HELLO_LEN: usize = FIXED_LEN + 2;

/// Why a process is in a group change's joined or left list (CPG's reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Join,
    /// `cpg_leave`: a goodbye.
    Leave,
    /// The node's corosync left the ring (the node failed or was cut off).
    NodeDown,
    /// The node's corosync joined the ring (with its processes).
    NodeUp,
    /// The process died while its node's corosync lives.
    ProcDown,
    Other,
}

/// A process in a group change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub node: NodeId,
    pub pid: u32,
    pub reason: Reason,
}

/// What the shell feeds the core, in the order corosync delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpgInput {
    /// A group change: the members now, who left and who joined.
    ConfChg {
        members: Vec<Proc>,
        left: Vec<Proc>,
        joined: Vec<Proc>,
    },
    /// A message of this core ([`Transmit`] bytes) delivered by the group.
    Deliver {
        node: NodeId,
        pid: u32,
        bytes: Vec<u8>,
    },
    /// Votequorum's verdict.
    Quorum { quorate: bool },
    /// Corosync went away (its IPC closed).
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hello {
    incarnation: u64,
    config_version: u64,
    last_view: u64,
    fingerprint: u64,
    /// The protocol versions the sender speaks.
    speaks: Range,
}

#[derive(Clone, Copy, Debug, Default)]
struct Peer {
    incarnation: u64,
    config_version: Option<u64>,
    speaks: Option<Range>,
    /// This run was refused for sharing no version with us (logged once).
    refused: bool,
}

/// The CPG membership core.
pub struct CpgMembership {
    local: NodeId,
    incarnation: u64,
    /// The protocol versions this daemon speaks.
    wire: Range,
    config_version: u64,
    /// Configured node ids (this node included).
    nodes: BTreeSet<NodeId>,
    /// The group as of the last change: node → pid.
    group: BTreeMap<NodeId, u32>,
    fingerprint: u64,
    hellos: BTreeMap<NodeId, Hello>,
    view: Option<View>,
    /// Members that left since the last installed view: `true` for a goodbye.
    left: BTreeMap<NodeId, bool>,
    peers: BTreeMap<NodeId, Peer>,
    lost: bool,
    counters: Counters,
    events: VecDeque<Event>,
    outbox: VecDeque<Transmit>,
}

impl CpgMembership {
    pub fn new(local: NodeId, incarnation: u64, config_version: u64, nodes: &[NodeId]) -> Self {
        let mut set: BTreeSet<NodeId> = nodes.iter().copied().collect();
        set.insert(local);
        CpgMembership {
            local,
            incarnation,
            wire: Range::BUILD,
            config_version,
            nodes: set,
            group: BTreeMap::new(),
            fingerprint: 0,
            hellos: BTreeMap::new(),
            view: None,
            left: BTreeMap::new(),
            peers: BTreeMap::new(),
            lost: false,
            counters: Counters::default(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
        }
    }

    /// Speaks `wire` instead of this build's range (`RGMANAGER_WIRE`, the tests).
    pub fn with_wire(mut self, wire: Range) -> Self {
        self.wire = wire;
        self
    }

    pub fn local(&self) -> NodeId {
        self.local
    }

    /// The protocol versions a node speaks: ours, or a peer's current run's from its hello
    /// (`None`: not heard yet).
    pub fn member_speaks(&self, id: NodeId) -> Option<Range> {
        if id == self.local {
            Some(self.wire)
        } else {
            self.peers.get(&id).and_then(|p| p.speaks)
        }
    }

    /// The version this daemon talks with a peer: the highest both speak (`None`: not heard
    /// yet, or refused for sharing none).
    pub fn peer_wire(&self, id: NodeId) -> Option<u8> {
        self.peers
            .get(&id)
            .and_then(|p| p.speaks)
            .and_then(|r| self.wire.common(r))
    }

    /// The cluster's version: the highest every member of the installed view speaks.
    pub fn cluster_wire(&self) -> Option<u8> {
        let view = self.view.as_ref()?;
        view.members
            .iter()
            .filter(|m| **m != self.local)
            .map(|m| self.peer_wire(*m))
            .try_fold(self.wire.max, |acc, v| v.map(|v| acc.min(v)))
    }

    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn peer_config_version(&self, id: NodeId) -> Option<u64> {
        self.peers.get(&id).and_then(|p| p.config_version)
    }

    pub fn peer_incarnation(&self, id: NodeId) -> Option<u64> {
        self.peers.get(&id).map(|p| p.incarnation)
    }

    /// Announces a new configuration version to the group.
    pub fn set_config_version(&mut self, version: u64) {
        if version != self.config_version {
            self.config_version = version;
            if !self.group.is_empty() && !self.lost {
                self.send(KIND_VERSION, 0);
            }
        }
    }

    /// The configured nodes changed. A member the configuration no longer lists stays in the
    /// view until it leaves the group (as with the embedded engine: it goes the usual way).
    pub fn set_nodes(&mut self, nodes: &[NodeId]) {
        let mut set: BTreeSet<NodeId> = nodes.iter().copied().collect();
        set.insert(self.local);
        self.nodes = set;
    }

    /// A group member counts if the configuration lists it, or if it is in our view (removed
    /// by a reload, it stays until it leaves).
    fn counts(&self, node: NodeId) -> bool {
        self.nodes.contains(&node) || self.view.as_ref().is_some_and(|v| v.contains(node))
    }

    /// What to multicast to the group.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn handle(&mut self, input: CpgInput) {
        if self.lost {
            return;
        }
        match input {
            CpgInput::ConfChg {
                members,
                left,
                joined: _,
            } => self.confchg(members, left),
            CpgInput::Deliver { node, pid, bytes } => self.deliver(node, pid, &bytes),
            CpgInput::Quorum { quorate } => self.events.push_back(Event::EngineQuorum(quorate)),
            CpgInput::Lost => {
                self.lost = true;
                self.events.push_back(Event::EngineLost);
            }
        }
    }

    fn confchg(&mut self, members: Vec<Proc>, left: Vec<Proc>) {
        for p in &left {
            // A goodbye is a goodbye even if a failure follows before the next view.
            let clean = p.reason == Reason::Leave;
            let e = self.left.entry(p.node).or_insert(clean);
            *e = *e && clean;
        }
        self.group.clear();
        for p in &members {
            if self.counts(p.node) {
                self.group.insert(p.node, p.pid);
            } else {
                self.counters.unknown_node += 1;
                tracing::warn!(
                    "membership: node id {} is in the corosync group but not in cluster.conf; \
                     ignored",
                    p.node
                );
            }
        }
        self.fingerprint = fingerprint(&self.group);
        self.hellos.clear();
        if !self.group.contains_key(&self.local) {
            // Our own leave (or not joined yet): nothing to agree on.
            return;
        }
        let last = self.view.as_ref().map_or(0, |v| v.number);
        self.send(KIND_HELLO, last);
    }

    fn send(&mut self, kind: u8, last_view: u64) {
        let mut b = Vec::with_capacity(HELLO_LEN);
        b.extend_from_slice(&MAGIC);
        b.push(FORMAT);
        b.push(kind);
        b.extend_from_slice(&self.incarnation.to_be_bytes());
        b.extend_from_slice(&self.config_version.to_be_bytes());
        b.extend_from_slice(&last_view.to_be_bytes());
        b.extend_from_slice(&self.fingerprint.to_be_bytes());
        b.extend_from_slice(&[self.wire.min, self.wire.max]);
        self.outbox.push_back(Transmit {
            // The group: the shell multicasts.
            to: 0,
            bytes: Arc::from(b),
        });
    }

    fn deliver(&mut self, node: NodeId, pid: u32, bytes: &[u8]) {
        let Some((kind, hello)) = decode(bytes) else {
            self.counters.garbage += 1;
            return;
        };
        if self.group.get(&node) != Some(&pid) {
            // Sent by a process no longer (or not yet) in the group as we know it.
            self.counters.replayed += 1;
            return;
        }
        self.counters.accepted += 1;
        match kind {
            KIND_VERSION => {
                let p = self.peers.entry(node).or_default();
                // A refused member is not ours to fetch configurations from.
                if p.incarnation == hello.incarnation
                    && !p.refused
                    && p.config_version != Some(hello.config_version)
                {
                    p.config_version = Some(hello.config_version);
                    if node != self.local {
                        self.events.push_back(Event::ConfigVersion {
                            node,
                            version: hello.config_version,
                        });
                    }
                }
            }
            _ => {
                if hello.fingerprint != self.fingerprint {
                    return;
                }
                self.hellos.insert(node, hello);
                if self.group.keys().all(|n| self.hellos.contains_key(n)) {
                    self.install();
                }
            }
        }
    }

    fn install(&mut self) {
        let number = self.hellos.values().map(|h| h.last_view).max().unwrap_or(0) + 1;
        // A member sharing no protocol version with us is refused, as the embedded engine
        // refuses its heartbeats: it is in corosync's group but not in our view.
        let mut refused = Vec::new();
        for (n, h) in &self.hellos {
            if *n != self.local && self.wire.common(h.speaks).is_none() {
                refused.push((*n, *h));
            }
        }
        for (n, h) in &refused {
            let p = self.peers.entry(*n).or_default();
            let logged = p.refused && p.incarnation == h.incarnation;
            if !logged {
                tracing::error!(
                    "Refusing node {n} (corosync): it speaks wire version {}, this node speaks \
                     {}; no version in common (a release talks to the one before it: upgrade \
                     one release at a time)",
                    h.speaks,
                    self.wire
                );
            }
            *p = Peer {
                incarnation: h.incarnation,
                refused: true,
                speaks: Some(h.speaks),
                ..Peer::default()
            };
            self.counters.bad_version += 1;
        }
        let members: Vec<NodeId> = self
            .group
            .keys()
            .copied()
            .filter(|n| !refused.iter().any(|(r, _)| r == n))
            .collect();
        let before: Vec<NodeId> = self
            .view
            .as_ref()
            .map(|v| v.members.clone())
            .unwrap_or_default();
        let left = std::mem::take(&mut self.left);
        let gone = |n: NodeId, events: &mut VecDeque<Event>| {
            if left.get(&n) == Some(&true) {
                events.push_back(Event::LeftCleanly(n));
            } else {
                events.push_back(Event::Failed(n));
            }
        };
        for n in &before {
            if members.binary_search(n).is_err() {
                gone(*n, &mut self.events);
            }
        }
        for n in &members {
            let Some(h) = self.hellos.get(n).copied() else {
                continue;
            };
            let was_member = before.binary_search(n).is_ok();
            let known = self.peers.get(n).copied();
            // A peer new to the view joined; one still in it joined again if it left (and came
            // back) or restarted since the last view. Ourselves: joined with our first view.
            let rejoined = *n != self.local
                && (left.contains_key(n) || known.is_some_and(|p| p.incarnation != h.incarnation));
            if was_member && rejoined {
                gone(*n, &mut self.events);
            }
            if !was_member || rejoined {
                self.events.push_back(Event::Joined(*n));
            }
            if *n != self.local && known.and_then(|p| p.config_version) != Some(h.config_version) {
                self.events.push_back(Event::ConfigVersion {
                    node: *n,
                    version: h.config_version,
                });
            }
            self.record(*n, h);
        }
        let view = View { number, members };
        self.view = Some(view.clone());
        self.events.push_back(Event::ViewChanged(view));
    }

    fn record(&mut self, node: NodeId, h: Hello) {
        let p = self.peers.entry(node).or_default();
        p.incarnation = h.incarnation;
        p.config_version = Some(h.config_version);
        p.speaks = Some(h.speaks);
        p.refused = false;
    }
}

fn decode(b: &[u8]) -> Option<(u8, Hello)> {
    // Any format from 1 on: the fixed part is read, what a later format adds after the range
    // is skipped.
    if b.len() < FIXED_LEN || b[..4] != MAGIC || b[4] == 0 {
        return None;
    }
    let speaks = if b[4] == 1 {
        // The first corosync engine: protocol 2 only.
        Range::only(versions::V2)
    } else {
        let (min, max) = (*b.get(FIXED_LEN)?, *b.get(FIXED_LEN + 1)?);
        if min > max {
            return None;
        }
        Range { min, max }
    };
    let kind = b[5];
    if kind != KIND_HELLO && kind != KIND_VERSION {
        return None;
    }
    let u =
        |i: usize| -> Option<u64> { Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
    Some((
        kind,
        Hello {
            incarnation: u(6)?,
            config_version: u(14)?,
            last_view: u(22)?,
            fingerprint: u(30)?,
            speaks,
        },
    ))
}

/// FNV-1a over the group's (node, pid) pairs: equal on every member for the same change.
fn fingerprint(group: &BTreeMap<NodeId, u32>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (n, p) in group {
        for byte in n.to_be_bytes().into_iter().chain(p.to_be_bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(node: NodeId, pid: u32, reason: Reason) -> Proc {
        Proc { node, pid, reason }
    }

    /// A simulated group: every core gets each change and each multicast, in one order.
    struct Group {
        cores: BTreeMap<NodeId, (u32, CpgMembership)>,
        events: BTreeMap<NodeId, Vec<Event>>,
    }

    impl Group {
        fn new() -> Self {
            Group {
                cores: BTreeMap::new(),
                events: BTreeMap::new(),
            }
        }

        fn members(&self) -> Vec<Proc> {
            self.cores
                .iter()
                .map(|(n, (pid, _))| p(*n, *pid, Reason::Join))
                .collect()
        }

        fn change(&mut self, left: Vec<Proc>, joined: Vec<Proc>) {
            let members = self.members();
            for (_, c) in self.cores.values_mut() {
                c.handle(CpgInput::ConfChg {
                    members: members.clone(),
                    left: left.clone(),
                    joined: joined.clone(),
                });
            }
            self.flush();
        }

        fn join(&mut self, node: NodeId, pid: u32, inc: u64) {
            self.join_speaking(node, pid, inc, Range::BUILD);
        }

        fn join_speaking(&mut self, node: NodeId, pid: u32, inc: u64, wire: Range) {
            let core = CpgMembership::new(node, inc, 1, &[1, 2, 3]).with_wire(wire);
            self.cores.insert(node, (pid, core));
            self.change(vec![], vec![p(node, pid, Reason::Join)]);
        }

        fn remove(&mut self, node: NodeId, reason: Reason) {
            let (pid, _) = self.cores.remove(&node).unwrap();
            self.change(vec![p(node, pid, reason)], vec![]);
        }

        /// Delivers every multicast to every member, in one order, until none is left.
        fn flush(&mut self) {
            loop {
                let mut sent = Vec::new();
                for (n, (pid, c)) in self.cores.iter_mut() {
                    while let Some(t) = c.poll_transmit() {
                        sent.push((*n, *pid, t.bytes.to_vec()));
                    }
                }
                if sent.is_empty() {
                    break;
                }
                for (node, pid, bytes) in sent {
                    for (_, c) in self.cores.values_mut() {
                        c.handle(CpgInput::Deliver {
                            node,
                            pid,
                            bytes: bytes.clone(),
                        });
                    }
                }
            }
            for (n, (_, c)) in self.cores.iter_mut() {
                while let Some(e) = c.poll_event() {
                    self.events.entry(*n).or_default().push(e);
                }
            }
        }

        fn take(&mut self, node: NodeId) -> Vec<Event> {
            self.events.remove(&node).unwrap_or_default()
        }

        fn views(&self) -> Vec<Option<View>> {
            self.cores
                .values()
                .map(|(_, c)| c.view().cloned())
                .collect()
        }
    }

    fn view(number: u64, members: &[NodeId]) -> Event {
        Event::ViewChanged(View {
            number,
            members: members.to_vec(),
        })
    }

    #[test]
    fn members_agree_on_views_and_reasons_become_events() {
        let mut g = Group::new();
        g.join(1, 100, 11);
        assert_eq!(g.take(1), vec![Event::Joined(1), view(1, &[1])]);
        g.join(2, 200, 22);
        g.join(3, 300, 33);
        let vs = g.views();
        assert!(vs.iter().all(|v| v == &vs[0]), "{vs:?}");
        assert_eq!(vs[0].as_ref().map(|v| v.number), Some(3));
        // Node 3 joined late: it installs the same number as the others.
        let e3 = g.take(3);
        assert_eq!(e3.last(), Some(&view(3, &[1, 2, 3])), "{e3:?}");
        assert!(e3.contains(&Event::Joined(1)) && e3.contains(&Event::Joined(2)));
        g.take(1);
        g.take(2);

        // Its daemon dies while its corosync lives: a failure, fenced above.
        g.remove(3, Reason::ProcDown);
        assert_eq!(g.take(1), vec![Event::Failed(3), view(4, &[1, 2])]);
        // It comes back as a new run: joined.
        g.join(3, 301, 34);
        assert_eq!(g.take(1), vec![Event::Joined(3), view(5, &[1, 2, 3])]);
        assert_eq!(g.cores[&1].1.peer_incarnation(3), Some(34));
        // A goodbye.
        g.remove(2, Reason::Leave);
        assert_eq!(g.take(1), vec![Event::LeftCleanly(2), view(6, &[1, 3])]);
        // A node lost with its corosync.
        g.remove(3, Reason::NodeDown);
        assert_eq!(g.take(1), vec![Event::Failed(3), view(7, &[1])]);
    }

    #[test]
    fn a_stale_hello_does_not_install_a_view() {
        let mut a = CpgMembership::new(1, 11, 1, &[1, 2]);
        let one = vec![p(1, 100, Reason::Join)];
        a.handle(CpgInput::ConfChg {
            members: one.clone(),
            left: vec![],
            joined: one.clone(),
        });
        let hello = a.poll_transmit().unwrap().bytes.to_vec();
        // The group changes before our hello comes back: the hello was for the old group.
        let two = vec![p(1, 100, Reason::Join), p(2, 200, Reason::Join)];
        a.handle(CpgInput::ConfChg {
            members: two,
            left: vec![],
            joined: vec![p(2, 200, Reason::Join)],
        });
        a.handle(CpgInput::Deliver {
            node: 1,
            pid: 100,
            bytes: hello,
        });
        assert!(a.view().is_none());
        assert_eq!(a.poll_event(), None);
        // A message from a pid not in the group, and garbage, are counted and dropped.
        a.handle(CpgInput::Deliver {
            node: 2,
            pid: 999,
            bytes: a.outbox[0].bytes.to_vec(),
        });
        a.handle(CpgInput::Deliver {
            node: 2,
            pid: 200,
            bytes: b"junk".to_vec(),
        });
        assert_eq!((a.counters.replayed, a.counters.garbage), (1, 1));
    }

    #[test]
    fn a_node_merging_back_unrestarted_is_joined_with_the_run_it_failed_with() {
        let mut g = Group::new();
        g.join(1, 100, 11);
        g.join(2, 200, 22);
        g.take(1);
        // Partition: node 1 sees node 2's corosync go.
        let (pid2, core2) = g.cores.remove(&2).unwrap();
        g.change(vec![p(2, pid2, Reason::NodeDown)], vec![]);
        assert_eq!(g.take(1), vec![Event::Failed(2), view(3, &[1, 2][..1])]);
        // Healing: the same process comes back (NodeUp): joined, with its old incarnation,
        // which fencing compares with the failed run's.
        g.cores.insert(2, (pid2, core2));
        g.change(vec![], vec![p(2, pid2, Reason::NodeUp)]);
        let e = g.take(1);
        assert_eq!(e.first(), Some(&Event::Joined(2)), "{e:?}");
        assert_eq!(g.cores[&1].1.peer_incarnation(2), Some(22));
        let vs = g.views();
        assert_eq!(vs[0], vs[1]);
    }

    #[test]
    fn config_versions_are_announced_and_corosync_loss_is_final() {
        let mut g = Group::new();
        g.join(1, 100, 11);
        g.join(2, 200, 22);
        g.take(1);
        g.cores.get_mut(&2).unwrap().1.set_config_version(5);
        g.flush();
        assert_eq!(
            g.take(1),
            vec![Event::ConfigVersion {
                node: 2,
                version: 5
            }]
        );
        assert_eq!(g.cores[&1].1.peer_config_version(2), Some(5));
        let c = &mut g.cores.get_mut(&1).unwrap().1;
        c.handle(CpgInput::Quorum { quorate: true });
        c.handle(CpgInput::Lost);
        c.handle(CpgInput::Quorum { quorate: true });
        assert_eq!(c.poll_event(), Some(Event::EngineQuorum(true)));
        assert_eq!(c.poll_event(), Some(Event::EngineLost));
        assert_eq!(c.poll_event(), None);
    }

    #[test]
    fn hellos_carry_the_versions_and_the_cluster_talks_the_oldest_members() {
        let mut g = Group::new();
        g.join(1, 100, 11);
        g.join(2, 200, 22);
        // A daemon of the previous release (protocol 1 only).
        g.join_speaking(3, 300, 33, Range::only(versions::V1));
        let vs = g.views();
        assert!(vs.iter().all(|v| v == &vs[0]), "{vs:?}");
        let one = &g.cores[&1].1;
        assert_eq!(one.peer_wire(2), Some(versions::V2));
        assert_eq!(one.peer_wire(3), Some(versions::V1));
        assert_eq!(one.member_speaks(3), Some(Range::only(versions::V1)));
        assert_eq!(one.member_speaks(1), Some(Range::BUILD));
        assert_eq!(one.cluster_wire(), Some(versions::V1));
        // The old one is upgraded (a new run speaking this build's range): version 2.
        g.remove(3, Reason::Leave);
        g.join(3, 301, 34);
        assert_eq!(g.cores[&1].1.cluster_wire(), Some(versions::V2));
        assert_eq!(g.cores[&3].1.cluster_wire(), Some(versions::V2));
    }

    #[test]
    fn a_member_without_a_common_version_is_refused_from_the_view() {
        let mut g = Group::new();
        g.join_speaking(1, 100, 11, Range::only(versions::V2));
        g.join_speaking(2, 200, 22, Range::only(versions::V2));
        g.take(1);
        g.join_speaking(3, 300, 33, Range::only(versions::V1));
        // Nodes 1 and 2 keep node 3 out of their view; node 3 keeps them out of its own.
        assert_eq!(
            g.cores[&1].1.view().map(|v| v.members.clone()),
            Some(vec![1, 2])
        );
        assert_eq!(
            g.cores[&2].1.view().map(|v| v.members.clone()),
            Some(vec![1, 2])
        );
        assert_eq!(
            g.cores[&3].1.view().map(|v| v.members.clone()),
            Some(vec![3])
        );
        assert!(!g.take(1).contains(&Event::Joined(3)));
        assert_eq!(g.cores[&1].1.counters().bad_version, 1);
        assert_eq!(g.cores[&1].1.peer_wire(3), None);
        assert_eq!(g.cores[&1].1.cluster_wire(), Some(versions::V2));
        // Its configuration versions are not news for the others.
        g.cores.get_mut(&3).unwrap().1.set_config_version(9);
        g.flush();
        assert!(!g
            .take(1)
            .iter()
            .any(|e| matches!(e, Event::ConfigVersion { node: 3, .. })));
        assert_eq!(g.cores[&1].1.peer_config_version(3), None);
    }

    #[test]
    fn a_first_format_hello_is_read_as_protocol_2_and_later_formats_by_their_fixed_part() {
        let mut a = CpgMembership::new(1, 11, 1, &[1, 2]);
        a.handle(CpgInput::ConfChg {
            members: vec![p(1, 100, Reason::Join)],
            left: vec![],
            joined: vec![p(1, 100, Reason::Join)],
        });
        let ours = a.poll_transmit().unwrap().bytes.to_vec();
        assert_eq!(ours.len(), HELLO_LEN);
        assert_eq!(decode(&ours).map(|(_, h)| h.speaks), Some(Range::BUILD));
        let mut first = ours[..FIXED_LEN].to_vec();
        first[4] = 1;
        assert_eq!(
            decode(&first).map(|(_, h)| h.speaks),
            Some(Range::only(versions::V2))
        );
        // A later format: whatever it adds after the range is skipped.
        let mut later = ours.clone();
        later[4] = 9;
        later.extend_from_slice(b"more");
        assert_eq!(decode(&later).map(|(_, h)| h.speaks), Some(Range::BUILD));
        // Too short for its format, or a range upside down: garbage.
        let mut short = ours[..FIXED_LEN].to_vec();
        short[4] = 2;
        assert!(decode(&short).is_none());
        let mut upside = ours.clone();
        upside[FIXED_LEN] = 3;
        upside[FIXED_LEN + 1] = 1;
        assert!(decode(&upside).is_none());
    }
}
