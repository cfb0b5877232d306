//! A deterministic simulation of many membership cores: an in-memory network with delay, loss
//! and (one-way) partitions, and a fake clock. Every run of a test sees the same datagrams at
//! the same simulated times.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

const KEY: &[u8] = b"simulated cluster key, 32 bytes!";

fn addr(id: NodeId) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 20000 + id as u16))
}

struct Packet {
    at: Duration,
    order: u64,
    from: NodeId,
    to: NodeId,
    bytes: Arc<[u8]>,
}

/// A datagram an attacker recorded: from, to, bytes.
type Captured = (NodeId, NodeId, Arc<[u8]>);

struct Sim {
    t0: Instant,
    now: Duration,
    token: Duration,
    ids: Vec<NodeId>,
    nodes: BTreeMap<NodeId, Membership>,
    /// Every event of every node with its time.
    log: BTreeMap<NodeId, Vec<(Duration, Event)>>,
    flight: Vec<Packet>,
    order: u64,
    delay: Duration,
    /// Up to this much more delay, at random per packet (so packets may overtake each other).
    jitter: Duration,
    /// Packets lost per thousand.
    loss: u64,
    rng: u64,
    /// Directed links that drop everything.
    blocked: BTreeSet<(NodeId, NodeId)>,
    /// Incarnations handed out (each start gets a higher one).
    next_incarnation: u64,
    /// Nodes whose process is not scheduled until the given time (a loaded machine): they
    /// neither run their timers nor read their datagrams, which wait for them as in a socket.
    stalled: BTreeMap<NodeId, Duration>,
    /// Extra delay of everything a node sends (a daemon that gets the CPU late every time).
    slow: BTreeMap<NodeId, Duration>,
    /// Every datagram sent, when recording (an attacker's capture): from, to, bytes.
    tap: Option<Vec<Captured>>,
    /// A second daemon with the id of a node: it gets what is sent to that id too.
    twin: Option<(NodeId, Membership)>,
}

impl Sim {
    fn new(n: u32, token: Duration) -> Sim {
        let mut s = Sim {
            t0: Instant::now(),
            now: Duration::ZERO,
            token,
            ids: (1..=n).collect(),
            nodes: BTreeMap::new(),
            log: BTreeMap::new(),
            flight: Vec::new(),
            order: 0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0,
            rng: 0x2545_F491_4F6C_DD1D,
            blocked: BTreeSet::new(),
            next_incarnation: 1000,
            stalled: BTreeMap::new(),
            slow: BTreeMap::new(),
            tap: None,
            twin: None,
        };
        for id in 1..=n {
            s.start(id);
        }
        s
    }

    fn config(&mut self, id: NodeId, name: &str) -> Config {
        self.next_incarnation += 1;
        Config::new(name, id, &self.ids, self.token, self.next_incarnation)
    }

    fn start(&mut self, id: NodeId) {
        let cfg = self.config(id, "sim");
        self.start_with(id, cfg, KEY);
    }

    fn start_with(&mut self, id: NodeId, cfg: Config, key: &[u8]) {
        let m = Membership::new(cfg, key, self.t0 + self.now).unwrap();
        self.nodes.insert(id, m);
    }

    /// Stops a node without a word (crash, power off).
    fn kill(&mut self, id: NodeId) {
        self.nodes.remove(&id);
    }

    /// Stops a node cleanly: its goodbye goes out first.
    fn stop(&mut self, id: NodeId) {
        let now = self.t0 + self.now;
        if let Some(m) = self.nodes.get_mut(&id) {
            m.leave(now);
        }
        self.flush(id);
        self.nodes.remove(&id);
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Moves a node's datagrams onto the wire and its events into the log.
    fn flush(&mut self, id: NodeId) {
        let now = self.now;
        let mut out = Vec::new();
        let mut events = Vec::new();
        if let Some(m) = self.nodes.get_mut(&id) {
            while let Some(t) = m.poll_transmit() {
                out.push(t);
            }
            while let Some(e) = m.poll_event() {
                events.push((now, e));
            }
        }
        self.log.entry(id).or_default().extend(events);
        self.send_all(id, out);
    }

    /// Puts datagrams of `id` on the wire (through the tap, the blocks and the losses).
    fn send_all(&mut self, id: NodeId, out: Vec<Transmit>) {
        let now = self.now;
        for t in out {
            if let Some(tap) = self.tap.as_mut() {
                tap.push((id, t.to, t.bytes.clone()));
            }
            if self.blocked.contains(&(id, t.to)) {
                continue;
            }
            if self.loss > 0 && self.rand() % 1000 < self.loss {
                continue;
            }
            let extra = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(self.rand() % self.jitter.as_micros() as u64)
            };
            let slow = self.slow.get(&id).copied().unwrap_or_default();
            self.order += 1;
            self.flight.push(Packet {
                at: now + self.delay + extra + slow,
                order: self.order,
                from: id,
                to: t.to,
                bytes: t.bytes,
            });
        }
    }

    /// Stops scheduling `ids` for `d` from now: they resume as `net.rs` does, with the
    /// datagrams queued meanwhile first, then their timers.
    fn stall(&mut self, ids: &[NodeId], d: Duration) {
        for id in ids {
            self.stalled.insert(*id, self.now + d);
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let mut next = end;
            for p in &self.flight {
                let at = self.stalled.get(&p.to).map_or(p.at, |u| p.at.max(*u));
                next = next.min(at);
            }
            for (id, m) in &self.nodes {
                if let Some(until) = self.stalled.get(id) {
                    next = next.min(*until);
                } else if let Some(t) = m.poll_timeout() {
                    next = next.min(t.saturating_duration_since(self.t0));
                }
            }
            if let Some(t) = self.twin.as_ref().and_then(|(_, m)| m.poll_timeout()) {
                next = next.min(t.saturating_duration_since(self.t0));
            }
            if next >= end {
                self.now = end;
                let now = self.now;
                self.stalled.retain(|_, u| *u > now);
                return;
            }
            self.now = next.max(self.now);
            let now = self.t0 + self.now;
            let t = self.now;
            self.stalled.retain(|_, u| *u > t);
            // Deliver what is due, in sending order; a stalled node's datagrams wait.
            let stalled = &self.stalled;
            let (mut due, rest): (Vec<Packet>, Vec<Packet>) = self
                .flight
                .drain(..)
                .partition(|p| p.at <= t && !stalled.contains_key(&p.to));
            self.flight = rest;
            due.sort_by_key(|p| p.order);
            for p in due {
                if let Some(m) = self.nodes.get_mut(&p.to) {
                    m.handle_datagram(now, &p.bytes, addr(p.from));
                    self.flush(p.to);
                }
                if let Some((id, m)) = self.twin.as_mut().filter(|(id, _)| *id == p.to) {
                    m.handle_datagram(now, &p.bytes, addr(p.from));
                    let id = *id;
                    self.flush_twin(id);
                }
            }
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                if self.stalled.contains_key(&id) {
                    continue;
                }
                if let Some(m) = self.nodes.get_mut(&id) {
                    if m.poll_timeout().is_some_and(|t| t <= now) {
                        m.handle_timeout(now);
                    }
                }
                self.flush(id);
            }
            if let Some((id, m)) = self.twin.as_mut() {
                if m.poll_timeout().is_some_and(|t| t <= now) {
                    m.handle_timeout(now);
                }
                let id = *id;
                self.flush_twin(id);
            }
        }
    }

    /// The twin's datagrams onto the wire (as from its id), its events dropped.
    fn flush_twin(&mut self, id: NodeId) {
        let mut out = Vec::new();
        if let Some((_, m)) = self.twin.as_mut() {
            while let Some(t) = m.poll_transmit() {
                out.push(t);
            }
            while m.poll_event().is_some() {}
        }
        self.send_all(id, out);
    }

    fn view(&self, id: NodeId) -> Option<&View> {
        self.nodes.get(&id).and_then(|m| m.view())
    }

    /// Each of `group` has the view `group` with one number; returns it.
    fn agreed(&self, group: &[NodeId]) -> Option<u64> {
        let first = self.view(group[0])?;
        let all = group.iter().all(|id| {
            self.view(*id)
                .is_some_and(|v| v.members == group && v.number == first.number)
        });
        all.then_some(first.number)
    }

    fn assert_agreed(&self, group: &[NodeId]) -> u64 {
        match self.agreed(group) {
            Some(n) => n,
            None => {
                // Who holds which view, one line per distinct view (64-node views are long).
                let mut by_view: BTreeMap<Option<(u64, Vec<NodeId>)>, Vec<NodeId>> =
                    BTreeMap::new();
                for id in group {
                    let v = self.view(*id).map(|v| (v.number, v.members.clone()));
                    by_view.entry(v).or_default().push(*id);
                }
                panic!("{group:?} did not converge: (view, holders) {by_view:?}")
            }
        }
    }

    fn events(&self, id: NodeId) -> Vec<&Event> {
        self.log
            .get(&id)
            .map(|l| l.iter().map(|(_, e)| e).collect())
            .unwrap_or_default()
    }

    /// When `id` logged `event` first, if it did.
    fn when(&self, id: NodeId, event: &Event) -> Option<Duration> {
        self.log
            .get(&id)?
            .iter()
            .find(|(_, e)| e == event)
            .map(|(t, _)| *t)
    }

    fn views_installed(&self, id: NodeId) -> usize {
        self.events(id)
            .iter()
            .filter(|e| matches!(e, Event::ViewChanged(_)))
            .count()
    }

    fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for x in a {
            for y in b {
                self.blocked.insert((*x, *y));
                self.blocked.insert((*y, *x));
            }
        }
    }
}

const SEC: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn converges(n: u32) {
    let mut s = Sim::new(n, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=n).collect();
    let number = s.assert_agreed(&all);
    // Stable network: no further view for a long while.
    let installed = s.views_installed(1);
    // A simultaneous start settles on one view at once.
    assert!(installed <= 2, "{installed} views at start");
    s.run_for(30 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    assert_eq!(s.views_installed(1), installed);
    for id in 1..=n {
        assert_eq!(s.nodes[&id].counters().rejected(), 0, "node {id}");
        assert!(s.events(id).contains(&&Event::Joined(id)));
    }
}

#[test]
fn three_nodes_converge() {
    converges(3);
}

#[test]
fn five_nodes_converge() {
    converges(5);
}

#[test]
fn sixteen_nodes_converge() {
    converges(16);
}

#[test]
fn sixty_four_nodes_converge() {
    let mut s = Sim::new(64, DEFAULT_TOKEN);
    s.run_for(SEC);
    let all: Vec<NodeId> = (1..=64).collect();
    let number = s.assert_agreed(&all);
    s.run_for(2 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    s.kill(64);
    s.stop(63);
    s.run_for(ms(1500));
    s.assert_agreed(&all[..62]);
    assert!(s.events(1).contains(&&Event::Failed(64)));
    assert!(s.events(1).contains(&&Event::LeftCleanly(63)));
}

#[test]
fn a_staggered_start_converges() {
    // Nodes come up one after another, 300 ms apart, as after a power cut.
    let mut s = Sim::new(1, DEFAULT_TOKEN);
    s.ids = (1..=8).collect();
    s.start(1);
    for id in 2..=8 {
        s.run_for(ms(300));
        s.start(id);
    }
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=8).collect();
    let number = s.assert_agreed(&all);
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    // Each arrival is one view change at most.
    assert!(s.views_installed(1) <= 9, "{}", s.views_installed(1));
}

#[test]
fn lossy_slow_network_converges() {
    let mut s = Sim::new(5, DEFAULT_TOKEN);
    s.delay = ms(100);
    s.loss = 50;
    s.run_for(5 * SEC);
    s.assert_agreed(&[1, 2, 3, 4, 5]);
}

#[test]
fn a_jittery_lossy_network_with_a_tuned_token_stays_stable() {
    // 16 nodes, token 300 ms (heartbeats every 75 ms), 1 % loss, 1 to 31 ms of delay.
    let mut s = Sim::new(16, ms(300));
    s.loss = 10;
    s.jitter = ms(30);
    s.run_for(2 * SEC);
    let all: Vec<NodeId> = (1..=16).collect();
    let number = s.assert_agreed(&all);
    let installed: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    s.run_for(15 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    let after: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    assert_eq!(after, installed, "spurious view changes");
    // A failure is still seen within the token plus one agreement round: packets in flight at
    // the kill land up to 31 ms later, then the others' updated heartbeats (at most a quarter
    // interval apart) need up to 31 ms more, then a 5 ms settle: under 400 ms.
    let killed_at = s.now;
    s.kill(7);
    s.run_for(SEC);
    let others: Vec<NodeId> = all.iter().copied().filter(|id| *id != 7).collect();
    s.assert_agreed(&others);
    let t = s.when(1, &Event::Failed(7)).unwrap();
    assert!(t - killed_at <= ms(300) + ms(100), "{:?}", t - killed_at);
}

#[test]
fn a_lone_node_waits_for_the_join_period_then_stands_alone() {
    let mut s = Sim::new(1, DEFAULT_TOKEN);
    s.run_for(ms(900));
    assert!(s.view(1).is_none());
    s.run_for(ms(200));
    assert_eq!(s.assert_agreed(&[1]), 1);
}

#[test]
fn a_silent_node_fails_after_the_token_timeout() {
    let mut s = Sim::new(5, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let before = s.assert_agreed(&[1, 2, 3, 4, 5]);
    let killed_at = s.now;
    s.kill(3);
    s.run_for(ms(500));
    // Nothing happens before the token timeout.
    for id in [1, 2, 4, 5] {
        assert_eq!(
            s.view(id),
            Some(&View {
                number: before,
                members: vec![1, 2, 3, 4, 5]
            })
        );
    }
    s.run_for(SEC);
    let after = s.assert_agreed(&[1, 2, 4, 5]);
    assert!(after > before);
    for id in [1, 2, 4, 5] {
        let t = s.when(id, &Event::Failed(3)).expect("failed event");
        let waited = t - killed_at;
        // Its last heartbeat was at most one interval before the kill.
        assert!(
            waited >= DEFAULT_TOKEN - heartbeat_for(DEFAULT_TOKEN),
            "{waited:?}"
        );
        assert!(waited <= DEFAULT_TOKEN + ms(50), "{waited:?}");
        assert!(!s.events(id).contains(&&Event::LeftCleanly(3)));
    }
}

#[test]
fn a_clean_leave_is_seen_at_once() {
    let mut s = Sim::new(5, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let before = s.assert_agreed(&[1, 2, 3, 4, 5]);
    let stopped_at = s.now;
    s.stop(2);
    s.run_for(ms(100));
    let after = s.assert_agreed(&[1, 3, 4, 5]);
    assert!(after > before);
    for id in [1, 3, 4, 5] {
        let t = s.when(id, &Event::LeftCleanly(2)).expect("left cleanly");
        assert!(t - stopped_at < ms(100));
        assert!(!s.events(id).contains(&&Event::Failed(2)));
    }
}

#[test]
fn a_tuned_token_of_300ms_works() {
    let token = ms(300);
    let mut s = Sim::new(5, token);
    s.run_for(SEC);
    let before = s.assert_agreed(&[1, 2, 3, 4, 5]);
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&[1, 2, 3, 4, 5]), before);
    let killed_at = s.now;
    s.kill(5);
    s.run_for(ms(400));
    s.assert_agreed(&[1, 2, 3, 4]);
    let t = s.when(1, &Event::Failed(5)).unwrap();
    assert!(t - killed_at <= token + ms(20), "{:?}", t - killed_at);
}

#[test]
fn a_partition_splits_and_heals() {
    let mut s = Sim::new(5, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let whole = s.assert_agreed(&[1, 2, 3, 4, 5]);
    s.partition(&[1, 2, 3], &[4, 5]);
    s.run_for(3 * SEC);
    let left = s.assert_agreed(&[1, 2, 3]);
    let right = s.assert_agreed(&[4, 5]);
    assert!(left > whole && right > whole);
    for id in [1, 2, 3] {
        assert!(s.events(id).contains(&&Event::Failed(4)));
        assert!(s.events(id).contains(&&Event::Failed(5)));
    }
    for id in [4, 5] {
        assert!(s.events(id).contains(&&Event::Failed(1)));
    }
    // Each side has its own coordinator.
    assert_eq!(s.view(3).unwrap().coordinator(), Some(1));
    assert_eq!(s.view(5).unwrap().coordinator(), Some(4));
    assert!(s.view(5).unwrap().contains(4) && !s.view(5).unwrap().contains(1));
    s.blocked.clear();
    s.run_for(3 * SEC);
    let healed = s.assert_agreed(&[1, 2, 3, 4, 5]);
    assert!(healed > left && healed > right);
    let joined_back = s
        .events(1)
        .iter()
        .filter(|e| **e == &Event::Joined(4))
        .count();
    assert_eq!(joined_back, 2);
}

#[test]
fn an_asymmetric_link_leaves_the_deaf_node_alone() {
    // Node 2 stops hearing node 1 (1 -> 2 drops), everything else works.
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    s.blocked.insert((1, 2));
    s.run_for(5 * SEC);
    s.assert_agreed(&[1, 3]);
    s.assert_agreed(&[2]);
    let settled = (
        s.views_installed(1),
        s.views_installed(2),
        s.views_installed(3),
    );
    s.run_for(10 * SEC);
    assert_eq!(
        (
            s.views_installed(1),
            s.views_installed(2),
            s.views_installed(3)
        ),
        settled,
        "views keep changing"
    );
    s.blocked.clear();
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
}

#[test]
fn a_node_with_the_wrong_key_never_joins() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.ids = vec![1, 2, 3, 4];
    // Rebuild with 4 configured nodes, the fourth with another key.
    for id in 1..=3 {
        s.start(id);
    }
    let cfg = s.config(4, "sim");
    s.start_with(4, cfg, b"not the cluster key, not at all!");
    s.run_for(5 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    s.assert_agreed(&[4]);
    for id in 1..=3 {
        let c = s.nodes[&id].counters();
        assert!(c.bad_mac >= 10, "node {id}: {c:?}");
        assert!(!s.events(id).contains(&&Event::Joined(4)));
    }
    assert!(s.nodes[&4].counters().bad_mac >= 10);
}

#[test]
fn another_cluster_on_the_same_port_is_ignored_and_counted() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    let cfg = s.config(3, "other");
    s.start_with(3, cfg, KEY);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2]);
    assert!(s.nodes[&1].counters().foreign_cluster > 0);
    assert_eq!(s.nodes[&1].counters().bad_mac, 0);
}

#[test]
fn a_restarted_node_fails_then_rejoins() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let before = s.assert_agreed(&[1, 2, 3]);
    // Restart well within the token timeout: only the new incarnation shows it.
    s.kill(2);
    s.run_for(ms(100));
    let restarted_at = s.now;
    s.start(2);
    s.run_for(3 * SEC);
    let after = s.assert_agreed(&[1, 2, 3]);
    assert!(after > before);
    for id in [1, 3] {
        let failed = s.when(id, &Event::Failed(2)).expect("failed");
        let rejoined = s
            .log
            .get(&id)
            .unwrap()
            .iter()
            .filter(|(_, e)| *e == Event::Joined(2))
            .map(|(t, _)| *t)
            .next_back()
            .unwrap();
        assert!(rejoined > failed);
        // Seen as a restart at its first heartbeat, not waited out until the token expired
        // (which could not happen before 3 s + token - heartbeat).
        assert!(failed - restarted_at < ms(300), "{failed:?}");
    }
}

#[test]
fn a_node_that_said_goodbye_and_came_back_left_cleanly() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    s.stop(3);
    // Back before the others could even install the view without it.
    s.start(3);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    for id in [1, 2] {
        let left = s.when(id, &Event::LeftCleanly(3)).expect("left cleanly");
        assert!(!s.events(id).contains(&&Event::Failed(3)));
        let joins: Vec<Duration> = s.log[&id]
            .iter()
            .filter(|(_, e)| *e == Event::Joined(3))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(joins.len(), 2);
        assert!(joins[1] > left);
    }
}

#[test]
fn unknown_ids_replays_and_duplicates_are_counted() {
    let mut s = Sim::new(2, DEFAULT_TOKEN);
    s.run_for(2 * SEC);
    let now = s.t0 + s.now;
    let from = addr(9);
    // A frame of node 1, delivered to node 2 a second time.
    let codec = Codec::new("sim", KEY).unwrap();
    let inc = s.nodes[&1].config().incarnation;
    let old = codec.encode(&Frame {
        version: frame::VERSION_2,
        sender: 1,
        incarnation: inc,
        seq: 1,
        payload: Payload::Heartbeat(Heartbeat::default()),
    });
    let m = s.nodes.get_mut(&2).unwrap();
    m.handle_datagram(now, &old, from);
    assert_eq!(m.counters().replayed, 1);
    // An older incarnation is a replay too.
    let older = codec.encode(&Frame {
        version: frame::VERSION_2,
        sender: 1,
        incarnation: inc - 1,
        seq: 1_000_000,
        payload: Payload::Leave,
    });
    m.handle_datagram(now, &older, from);
    assert_eq!(m.counters().replayed, 2);
    // A node id cluster.conf does not have.
    let stranger = codec.encode(&Frame {
        version: frame::VERSION_2,
        sender: 77,
        incarnation: 1,
        seq: 1,
        payload: Payload::Leave,
    });
    m.handle_datagram(now, &stranger, from);
    assert_eq!(m.counters().unknown_node, 1);
    // Our own id from another run (a replay of an earlier run of this node looks the same):
    // counted, never believed.
    let twin = codec.encode(&Frame {
        version: frame::VERSION_2,
        sender: 2,
        incarnation: 5,
        seq: 1,
        payload: Payload::Heartbeat(Heartbeat::default()),
    });
    m.handle_datagram(now, &twin, from);
    m.handle_datagram(now, &twin, from);
    assert_eq!(m.counters().own_id, 2);
    let dups: Vec<Event> = std::iter::from_fn(|| m.poll_event())
        .filter(|e| matches!(e, Event::DuplicateNode { .. }))
        .collect();
    assert_eq!(dups, vec![]);
    // Garbage of every length.
    for len in 0..200 {
        m.handle_datagram(now, &vec![0xA5; len], from);
    }
    assert_eq!(m.counters().garbage + m.counters().truncated, 200);
    // None of it disturbed the view.
    s.run_for(2 * SEC);
    s.assert_agreed(&[1, 2]);
}

#[test]
fn config_versions_are_announced() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(2 * SEC);
    assert_eq!(s.nodes[&1].peer_config_version(2), Some(0));
    s.nodes.get_mut(&2).unwrap().set_config_version(42);
    s.run_for(SEC);
    assert_eq!(s.nodes[&1].peer_config_version(2), Some(42));
    assert_eq!(s.nodes[&3].peer_config_version(2), Some(42));
    let announced: Vec<&Event> = s
        .events(1)
        .into_iter()
        .filter(|e| matches!(e, Event::ConfigVersion { node: 2, .. }))
        .collect();
    assert_eq!(
        announced,
        vec![
            &Event::ConfigVersion {
                node: 2,
                version: 0
            },
            &Event::ConfigVersion {
                node: 2,
                version: 42
            }
        ]
    );
    assert_eq!(s.nodes[&1].peer_addr(2), Some(addr(2)));
}

/// The views `id` installed after `since`.
fn views_since(s: &Sim, id: NodeId, since: Duration) -> Vec<View> {
    s.log[&id]
        .iter()
        .filter(|(t, _)| *t >= since)
        .filter_map(|(_, e)| match e {
            Event::ViewChanged(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_whole_machine_not_scheduled_past_the_token_changes_no_view() {
    // A loaded machine does not run any of the 64 daemons for 1.3 s (more than the token), then
    // resumes them one after another over 0.2 s: every node wakes up late, with its peers'
    // deadlines past. None of them was listening, so none may hold the others' silence against
    // them.
    let mut s = Sim::new(64, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=64).collect();
    let number = s.assert_agreed(&all);
    let installed: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    for id in 1..=64u32 {
        s.stall(&[id], ms(1300) + ms(u64::from(id * 37 % 200)));
    }
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    let after: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    assert_eq!(after, installed, "spurious view changes");
}

#[test]
fn a_whole_machine_stall_while_a_node_dies_still_fails_it() {
    // The same stall with node 5 killed just before it: once the others run again, node 5 is
    // dropped within the token plus their own stall.
    let mut s = Sim::new(16, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=16).collect();
    s.assert_agreed(&all);
    let killed_at = s.now;
    s.kill(5);
    s.stall(&all, ms(1300));
    s.run_for(5 * SEC);
    let others: Vec<NodeId> = all.iter().copied().filter(|id| *id != 5).collect();
    s.assert_agreed(&others);
    for id in &others {
        let t = s.when(*id, &Event::Failed(5)).expect("failed");
        assert!(
            t - killed_at <= DEFAULT_TOKEN + ms(1300) + ms(50),
            "{:?}",
            t - killed_at
        );
        let views = views_since(&s, *id, killed_at);
        assert_eq!(views.len(), 1, "node {id}: {views:?}");
    }
}

#[test]
fn a_member_back_from_a_view_of_its_own_brings_the_others_to_its_number() {
    // Node 3 stood alone for a moment that nobody else noticed (a stall of its own, before
    // stall detection; or an asymmetric blip), and came back: it must install a higher number
    // (its numbers only increase), for the same members as the others' view. The others move
    // to its number, so that every member ends with the same view and number.
    let mut s = Sim::new(5, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=5).collect();
    let before = s.assert_agreed(&all);
    let now = s.t0 + s.now;
    let m = s.nodes.get_mut(&3).unwrap();
    m.install(
        now,
        View {
            number: before + 1,
            members: vec![3],
        },
    );
    // It hears everyone, as before: its next evaluation takes them back.
    m.schedule_eval(now);
    s.flush(3);
    s.run_for(2 * SEC);
    let after = s.assert_agreed(&all);
    assert!(after > before + 1, "{after}");
    for id in [1, 2, 4, 5] {
        // A new number, the same members: no one joined or failed.
        assert_eq!(views_since(&s, id, ms(3000)).len(), 1);
        assert!(!s.events(id).contains(&&Event::Failed(3)));
    }
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&all), after);
}

#[test]
fn a_slow_64_node_merge_keeps_converging_past_two_tokens() {
    // Two halves of 64 nodes rejoin over a slow network (600 ms each way, as when every daemon
    // of a loaded machine answers late): agreement takes more than two tokens, but every node
    // keeps making progress (more of the others report its candidate), so none stands alone.
    let mut s = Sim::new(64, DEFAULT_TOKEN);
    let all: Vec<NodeId> = (1..=64).collect();
    s.partition(&all[..32], &all[32..]);
    s.run_for(5 * SEC);
    s.assert_agreed(&all[..32]);
    s.assert_agreed(&all[32..]);
    s.delay = ms(600);
    let healed_at = s.now;
    s.blocked.clear();
    s.run_for(15 * SEC);
    let number = s.assert_agreed(&all);
    for id in &all {
        for v in views_since(&s, *id, healed_at) {
            assert!(v.members.len() >= 32, "node {id} fell to {:?}", v.members);
        }
    }
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
}

#[test]
fn a_machine_stall_ending_over_a_second_keeps_quorum() {
    // The whole machine stalls for 1.3 s, then gives the 64 daemons their turn over a whole
    // second (node i resumes i * 16 ms late): the first ones back expire the last ones, views
    // change, and the cluster re-forms while nodes keep coming back. Nobody stands alone.
    let mut s = Sim::new(64, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=64).collect();
    s.assert_agreed(&all);
    let stalled_at = s.now;
    for id in 1..=64u32 {
        s.stall(&[id], ms(1300) + ms(u64::from(id) * 16));
    }
    s.run_for(15 * SEC);
    let number = s.assert_agreed(&all);
    for id in &all {
        for v in views_since(&s, *id, stalled_at) {
            assert!(
                v.members.len() >= 33,
                "node {id} lost quorum: {:?}",
                v.members
            );
        }
    }
    s.run_for(10 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
}

#[test]
fn agreement_that_keeps_progressing_past_two_tokens_does_not_stand_alone() {
    // Node k's datagrams take (k - 1) * 150 ms more to arrive (daemons getting the CPU later
    // and later on a loaded machine): after node 1 dies, the others' reports of the new
    // candidate come in one by one over 2.1 s, so agreement takes more than two tokens. Each
    // arrival is progress, so nobody stands alone (and loses quorum) on the way.
    let mut s = Sim::new(16, DEFAULT_TOKEN);
    for id in 2..=16u32 {
        s.slow.insert(id, ms(u64::from(id - 1) * 150));
    }
    s.run_for(10 * SEC);
    let all: Vec<NodeId> = (1..=16).collect();
    s.assert_agreed(&all);
    let killed_at = s.now;
    s.kill(1);
    s.run_for(10 * SEC);
    let others: Vec<NodeId> = (2..=16).collect();
    s.assert_agreed(&others);
    for id in &others {
        let views = views_since(&s, *id, killed_at);
        assert_eq!(views.len(), 1, "node {id}: {views:?}");
    }
    // It did take more than two tokens: without the progress rule the fallback would fire.
    let t = s.when(2, &Event::Failed(1)).unwrap();
    assert!(t - killed_at > 2 * DEFAULT_TOKEN, "{:?}", t - killed_at);
}

/// `stalled` of 64 nodes are not scheduled for 1.3 s: the others drop them (they were silent
/// past the token), then take them back; the others never lose quorum on the way, and everyone
/// ends with the same members under the same number.
fn some_nodes_stalled(stalled: &[NodeId]) {
    let mut s = Sim::new(64, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=64).collect();
    let before = s.assert_agreed(&all);
    let stalled_at = s.now;
    s.stall(stalled, ms(1300));
    s.run_for(10 * SEC);
    let after = s.assert_agreed(&all);
    assert!(after > before);
    let running: Vec<NodeId> = all
        .iter()
        .copied()
        .filter(|id| !stalled.contains(id))
        .collect();
    for id in &running {
        for v in views_since(&s, *id, stalled_at) {
            assert!(
                v.members.len() >= running.len(),
                "node {id} fell to {:?}",
                v.members
            );
        }
        for gone in stalled {
            assert!(s.events(*id).contains(&&Event::Failed(*gone)));
        }
    }
}

#[test]
fn sixteen_of_64_nodes_stalled_past_the_token_are_dropped_and_taken_back() {
    let stalled: Vec<NodeId> = (1..=64).filter(|id| id % 4 == 2).collect();
    some_nodes_stalled(&stalled);
}

#[test]
fn the_last_16_of_64_nodes_stalled_past_the_token_are_dropped_and_taken_back() {
    let stalled: Vec<NodeId> = (49..=64).collect();
    some_nodes_stalled(&stalled);
}

#[test]
fn one_node_stalled_past_the_token_is_dropped_and_taken_back() {
    some_nodes_stalled(&[1]);
    some_nodes_stalled(&[37]);
}

#[test]
fn one_node_stalled_within_the_token_changes_nothing() {
    // 0.6 s without being scheduled: the peers' heartbeats queued meanwhile are read first.
    let mut s = Sim::new(16, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let all: Vec<NodeId> = (1..=16).collect();
    let number = s.assert_agreed(&all);
    let installed: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    s.stall(&[3], ms(600));
    s.run_for(5 * SEC);
    assert_eq!(s.assert_agreed(&all), number);
    let after: Vec<usize> = all.iter().map(|id| s.views_installed(*id)).collect();
    assert_eq!(after, installed);
}

#[test]
fn config_from_cluster_conf() {
    let xml = r#"<cluster name="alpha" config_version="7">
        <totem token="300"/>
        <clusternodes>
          <clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/>
        </clusternodes></cluster>"#;
    let conf = ccs::parse_str(xml).unwrap();
    let c = Config::from_conf(&conf, "b", 9).unwrap();
    assert_eq!((c.local, c.nodes.clone()), (2, vec![1, 2]));
    assert_eq!(c.token, ms(300));
    assert_eq!(c.heartbeat, ms(75));
    assert_eq!(c.config_version, 7);
    assert_eq!(c.cluster_name, "alpha");
    assert_eq!(
        Config::from_conf(&conf, "zz", 9).unwrap_err(),
        ConfigError::UnknownNode("zz".into())
    );
    let conf = ccs::parse_str(
        r#"<cluster name="a" config_version="1"><clusternodes>
        <clusternode name="a" nodeid="1"/></clusternodes></cluster>"#,
    )
    .unwrap();
    assert_eq!(
        Config::from_conf(&conf, "a", 9).unwrap().token,
        DEFAULT_TOKEN
    );
}

mod node_set;
#[cfg(test)]
mod security;

#[test]
fn a_node_back_from_a_short_stall_holds_until_every_member_confirms_its_view() {
    // Node 3 is not scheduled for 0.8 s (more than half a token, less than a token): the others
    // keep it. The heartbeats that queued up meanwhile are read at once when it resumes; they
    // do not confirm the view (they may predate a change), later ones do, and the view stays.
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let number = s.assert_agreed(&[1, 2, 3]);
    assert!(!s.nodes[&3].view_unconfirmed());
    s.stall(&[3], ms(800));
    s.run_for(ms(800));
    s.run_for(ms(2));
    assert!(s.nodes[&3].view_unconfirmed(), "confirmed by the backlog");
    s.run_for(DEFAULT_TOKEN);
    assert!(!s.nodes[&3].view_unconfirmed());
    assert_eq!(s.assert_agreed(&[1, 2, 3]), number);
}

#[test]
fn a_node_back_from_a_long_stall_never_confirms_the_view_it_was_dropped_from() {
    // Node 3 is not scheduled for 2.5 s: the others drop it. From its resume on, it may hold
    // its old view for a while (its peers get their time back), but never as confirmed.
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let old = s.assert_agreed(&[1, 2, 3]);
    s.stall(&[3], ms(2500));
    s.run_for(ms(2500));
    let resumed = s.now;
    let mut confirmed_at = None;
    while s.now < resumed + 5 * SEC {
        s.run_for(ms(5));
        let m = &s.nodes[&3];
        let v = m.view().map(|v| v.number);
        if !m.view_unconfirmed() {
            assert_ne!(v, Some(old), "the old view confirmed");
            confirmed_at.get_or_insert(s.now);
        }
    }
    assert!(confirmed_at.is_some(), "never confirmed");
    assert!(s.events(1).contains(&&Event::Failed(3)));
    s.assert_agreed(&[1, 2, 3]);
}

#[test]
fn a_member_that_moved_to_a_view_without_this_node_is_no_longer_in_its_view() {
    // Nodes 1 and 2 stop hearing each other; node 3 hears both. The clique rule gives 1 and 3
    // a view; node 2 hears node 3 and would keep a view with it until the disagreement's
    // fallback (two tokens). Node 3's heartbeat says it installed a newer view without node
    // 2: node 2 leaves its view at once.
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    let cut = s.now;
    s.blocked.insert((1, 2));
    s.blocked.insert((2, 1));
    s.run_for(4 * SEC);
    s.assert_agreed(&[1, 3]);
    let moved = views_since(&s, 3, cut)
        .first()
        .map(|v| v.members.clone())
        .expect("node 3 installed a view");
    assert_eq!(moved, vec![1, 3]);
    let t3 = s.log[&3]
        .iter()
        .find(|(t, e)| *t >= cut && matches!(e, Event::ViewChanged(_)))
        .map(|(t, _)| *t)
        .expect("node 3's view");
    let t2 = s.log[&2]
        .iter()
        .find(|(t, e)| *t >= cut && matches!(e, Event::ViewChanged(v) if !v.contains(3)))
        .map(|(t, _)| *t)
        .expect("node 2 left the view with node 3");
    assert!(
        t2 <= t3 + DEFAULT_TOKEN / 2,
        "node 2 kept node 3 for {:?} after node 3 moved on",
        t2.saturating_sub(t3)
    );
}

#[test]
fn a_member_moving_on_while_this_node_cannot_agree_ends_its_view_at_once() {
    // Seed 102564 of the cluster simulator. Token 300 ms. Node 2 is dead and node 1 is not
    // scheduled for 850 ms while node 2 boots again: node 2 and node 3 form a view without
    // node 1. Node 1 resumes and forms a view with node 3 before it hears node 2's new run;
    // node 2 hears both, but no longer agrees with anyone (node 1 wants all three, node 3
    // moved on), so it would keep its view with node 3 until the disagreement's fallback
    // (two tokens), deciding as a member of a quorate view that is gone. It must leave it
    // as soon as node 3's heartbeat shows the newer view.
    let token = ms(300);
    let mut s = Sim::new(3, token);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    s.kill(2);
    s.run_for(2 * SEC);
    s.assert_agreed(&[1, 3]);
    s.stall(&[1], ms(850));
    s.run_for(ms(50));
    s.start(2);
    // Node 3's datagrams to node 2 are lost around node 1's resume: node 2 learns that node 3
    // moved on only after node 1 and node 2 hear each other again.
    s.run_for(ms(780));
    s.blocked.insert((3, 2));
    s.run_for(ms(20));
    let resumed = s.now;
    s.run_for(ms(80));
    s.blocked.remove(&(3, 2));
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    // Every view node 3 installed without node 2 since then, against node 2's views.
    let left: Vec<(Duration, u64)> = s.log[&3]
        .iter()
        .filter(|(t, _)| *t >= resumed)
        .filter_map(|(t, e)| match e {
            Event::ViewChanged(v) if !v.contains(2) => Some((*t, v.number)),
            _ => None,
        })
        .collect();
    for (t3, number) in left {
        // Node 2's view when node 3 moved on, and when node 2 next changed it.
        let before = s.log[&2]
            .iter()
            .filter(|(t, _)| *t <= t3)
            .filter_map(|(_, e)| match e {
                Event::ViewChanged(v) => Some(v.clone()),
                _ => None,
            })
            .next_back();
        let Some(before) = before.filter(|v| v.contains(3) && v.number < number) else {
            continue;
        };
        let t2 = s.log[&2]
            .iter()
            .find(|(t, e)| *t > t3 && matches!(e, Event::ViewChanged(_)))
            .map(|(t, _)| *t)
            .expect("node 2 changed its view");
        assert!(
            t2 <= t3 + token / 2,
            "node 2 kept view {} with node 3 for {:?} after node 3 installed view {number} \
             without it",
            before.number,
            t2.saturating_sub(t3)
        );
    }
}
