//! Membership: which configured nodes are alive and together, as numbered views that every
//! member agrees on.
//!
//! RHCS had cman on corosync's totem ring for this; we embed our own, small protocol because a
//! node only needs to know the current view, who left it cleanly and who failed, not totally
//! ordered messaging. The core here is sans-I/O: a state machine per node fed with received
//! datagrams and the time, which hands back datagrams to send and events. [`net`] runs it on a
//! UDP socket; the tests run many of them on a simulated network with a fake clock.
//!
//! The algorithm (docs/membership.md has the full story):
//! * every node sends a heartbeat to every configured node each `heartbeat` interval
//!   (`token / 4`) and at once (rate-limited) when what it hears changes;
//! * a node *hears* a peer whose last authenticated frame is younger than the token timeout;
//!   two nodes are *connected* when each lists the other as heard;
//! * each node computes its *candidate* view from the connections it knows: its connected
//!   peers are split into cliques greedily in ascending id order (a node joins the first clique
//!   whose members are all connected to it) and the candidate is the clique holding this node;
//!   nodes with the same knowledge compute the same cliques;
//! * a view is installed when every node of the candidate reports the same candidate; its number
//!   is one more than the highest installed view number among the candidate's members, unless
//!   a member already installed exactly that view with that highest number (then it is adopted),
//!   so that every member ends with the same number; a node whose view already has the
//!   candidate's members moves to a higher number a member installed for them;
//! * a `leave` frame (`Member N shutting down`) removes its sender at once and marks it as left
//!   cleanly; a node that goes silent past the token timeout is failed; a restarted node (new
//!   incarnation) is first removed, as failed, then joins again;
//! * a node that runs more than half a token after the deadline it asked for was not scheduled
//!   (a loaded machine): it could not listen, so its peers' deadlines move forward by the
//!   length of its stall instead of expiring for its own pause;
//! * a node that cannot reach agreement and makes no progress towards it (another candidate,
//!   or more members reporting its candidate) for two token timeouts, or that has not agreed
//!   for [`FALLBACK_CAP_TOKENS`] token timeouts at all (asymmetric connectivity, where nodes do
//!   not share the same knowledge), installs a view of itself alone: it is then inquorate,
//!   which is the safe side.

pub mod cpg;
pub mod engine;
pub mod frame;
pub mod key;
pub mod net;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use frame::{Codec, Frame, Heartbeat, Payload, Reject};

use crate::versions::{self, Range};

/// A node id (`<clusternode nodeid>`).
pub type NodeId = u32;

/// The token timeout when cluster.conf has no `<totem token>`: corosync's own totem default.
/// cman raised it to 10000 ms for RHCS clusters; we keep failover fast by default (the failure
/// is detected within one second) and honour an explicit `<totem token>`.
pub const DEFAULT_TOKEN: Duration = Duration::from_millis(1000);

/// A node that keeps making progress towards agreement without reaching it stands alone after
/// this many token timeouts all the same (a flapping link can change candidates forever).
pub const FALLBACK_CAP_TOKENS: u32 = 8;

/// The smallest heartbeat interval, whatever the token: below it a loaded machine would see
/// its own scheduling jitter as silence.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(5);

/// How a node's membership is set up.
#[derive(Clone, Debug)]
pub struct Config {
    pub cluster_name: String,
    pub local: NodeId,
    /// Every configured node id (the local one included).
    pub nodes: Vec<NodeId>,
    /// Silence after which a peer is dropped.
    pub token: Duration,
    /// Interval of the heartbeats (token / 4 by default).
    pub heartbeat: Duration,
    /// How long a starting node listens before installing a view of itself alone, so that a
    /// node joining a running cluster does not flash a one-node view first (token by default).
    pub join_wait: Duration,
    pub config_version: u64,
    /// This run of the node: its start time in microseconds since the Unix epoch, so that a
    /// restarted node has a higher one.
    pub incarnation: u64,
    /// The wire protocol versions this node speaks (`crate::versions`).
    pub wire: Range,
}

impl Config {
    /// A configuration with the timers derived from `token`.
    pub fn new(
        cluster_name: &str,
        local: NodeId,
        nodes: &[NodeId],
        token: Duration,
        incarnation: u64,
    ) -> Self {
        let mut nodes = nodes.to_vec();
        nodes.push(local);
        nodes.sort_unstable();
        nodes.dedup();
        Config {
            cluster_name: cluster_name.to_string(),
            local,
            nodes,
            token,
            heartbeat: heartbeat_for(token),
            join_wait: token,
            config_version: 0,
            incarnation,
            wire: Range::BUILD,
        }
    }

    /// The membership of node `local_name` from cluster.conf: node ids, `<totem token>` (or
    /// [`DEFAULT_TOKEN`]), `config_version`.
    pub fn from_conf(
        conf: &ccs::ClusterConf,
        local_name: &str,
        incarnation: u64,
    ) -> Result<Self, ConfigError> {
        let node = conf
            .node(local_name)
            .ok_or_else(|| ConfigError::UnknownNode(local_name.to_string()))?;
        let local = node
            .nodeid()
            .ok_or_else(|| ConfigError::NoNodeId(local_name.to_string()))?;
        let ids: Vec<NodeId> = conf.nodes().iter().filter_map(|n| n.nodeid()).collect();
        let token = conf
            .totem_token_ms()
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_TOKEN, Duration::from_millis);
        let mut c = Config::new(conf.name(), local, &ids, token, incarnation);
        c.config_version = conf.config_version().unwrap_or(0);
        // The test switch that makes this build speak as the previous (or next) release.
        c.wire = Range::from_env()?;
        if c.wire != Range::BUILD {
            tracing::warn!(
                "{}={}: this node speaks wire version {} (a test setting)",
                versions::WIRE_ENV,
                std::env::var(versions::WIRE_ENV).unwrap_or_default(),
                c.wire
            );
        }
        Ok(c)
    }
}

/// The heartbeat interval for a token timeout: a quarter of it, so that three heartbeats in a
/// row may be lost before a node is dropped.
pub fn heartbeat_for(token: Duration) -> Duration {
    (token / 4).max(MIN_HEARTBEAT)
}

/// An incarnation for a node starting now: microseconds since the Unix epoch.
pub fn incarnation_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// Problems with the membership part of the configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("node \"{0}\" is not a <clusternode> of cluster.conf")]
    UnknownNode(String),
    #[error("node \"{0}\" has no nodeid in cluster.conf")]
    NoNodeId(String),
    #[error("the cluster name or the cluster key is empty")]
    EmptyNameOrKey,
    #[error("{0}")]
    Wire(#[from] versions::RangeError),
}

/// An installed view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// Increases with every view a node installs; equal on every member once views converge.
    pub number: u64,
    /// Member ids, ascending.
    pub members: Vec<NodeId>,
}

impl View {
    /// The coordinator of this view: its lowest node id (DESIGN.md, "The data's way through a
    /// failure"). Every member computes the same one from the same view.
    pub fn coordinator(&self) -> Option<NodeId> {
        self.members.first().copied()
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.members.binary_search(&id).is_ok()
    }
}

/// What the core tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node is in the new view that was not in the previous one (the local node too, with
    /// its first view). Emitted before the `ViewChanged` it belongs to.
    Joined(NodeId),
    /// A node left the view after announcing its shutdown: no fencing needed.
    LeftCleanly(NodeId),
    /// A node left the view without a word: silent past the token timeout, on the other side
    /// of a partition, or restarted. The failover work fences these.
    Failed(NodeId),
    /// A new view is installed.
    ViewChanged(View),
    /// A peer announces a `config_version` other than the one it announced before (reported
    /// with its first heartbeat, and again when it is heard after a silence): the configuration
    /// sync compares it with ours.
    ConfigVersion { node: NodeId, version: u64 },
    /// A second daemon claims this node, and it is the newer run: a peer that heard this run
    /// (its heartbeat named this node's incarnation) now hears run `incarnation` of our node
    /// id instead. Peers follow the newest run of a node, so this one is cut off. Only a live
    /// peer's fresh heartbeat can prove it: frames carrying our own id, which a replay of an
    /// earlier run of this node would give, are only counted. Reported once per foreign run.
    DuplicateNode { incarnation: u64, witness: NodeId },
    /// Corosync only: votequorum's verdict changed (the node also counts the view's votes).
    EngineQuorum(bool),
    /// Corosync only: corosync went away under the daemon.
    EngineLost,
}

/// A datagram to send.
#[derive(Clone, Debug)]
pub struct Transmit {
    pub to: NodeId,
    /// Shared by every destination of one heartbeat.
    pub bytes: Arc<[u8]>,
}

/// Dropped datagrams by reason, and accepted ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub garbage: u64,
    pub truncated: u64,
    pub bad_version: u64,
    pub foreign_cluster: u64,
    pub bad_mac: u64,
    pub unknown_node: u64,
    pub replayed: u64,
    /// Frames with our own node id (another process claiming this node, or a replay of an
    /// earlier run of this node: never believed).
    pub own_id: u64,
    /// The same frame in an older format: a peer that does not know yet what we speak sends
    /// each heartbeat in every format it speaks.
    pub copies: u64,
}

impl Counters {
    /// All dropped datagrams.
    pub fn rejected(&self) -> u64 {
        self.garbage
            + self.truncated
            + self.bad_version
            + self.foreign_cluster
            + self.bad_mac
            + self.unknown_node
            + self.replayed
            + self.own_id
    }

    /// What a membership counter line says (`bad_version` etc.), for logs and tests.
    pub fn dropped_by_version(&self) -> u64 {
        self.bad_version
    }
}

/// What this node knows of a peer.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Replay state: the incarnation and the highest sequence accepted from it.
    incarnation: u64,
    last_seq: u64,
    /// The format of the last frame accepted from this incarnation.
    format: u8,
    /// The protocol versions this incarnation speaks (`None`: not heard yet).
    speaks: Option<Range>,
    /// This incarnation's heartbeat named our current run: its later frames are fresh.
    fresh: bool,
    /// The refusal of this incarnation (no common version) was logged.
    refused: bool,
    last_heard: Option<Instant>,
    /// Its latest heartbeat (current incarnation), and when it arrived.
    report: Option<Heartbeat>,
    report_at: Option<Instant>,
    /// The current incarnation announced its shutdown.
    left: bool,
    /// Left out of our candidates until we install a view without it (it restarted or left
    /// while in our view, so the old run must leave the view first).
    dropped: bool,
    /// The run that is leaving our view said goodbye.
    departed_clean: bool,
    addr: Option<SocketAddr>,
}

/// The membership state machine of one node.
#[derive(Debug)]
pub struct Membership {
    cfg: Config,
    codec: Codec,
    started: Instant,
    /// The time of the latest evaluation.
    last_now: Instant,
    /// The time of the latest call of any `handle_*`: the node was running then. With the
    /// deadline it asked for, it tells how long the node was not scheduled (`note_stall`).
    awake: Instant,
    /// Set when the node resumes from a stall with a view of others: the view may be gone
    /// (its peers may have dropped this node and moved on while it was not running). Cleared
    /// once every other member has reported, since then, that it still has this view and
    /// hears this node, or when the view left is this node alone. See `view_unconfirmed`.
    resumed_at: Option<Instant>,
    seq: u64,
    peers: BTreeMap<NodeId, Peer>,
    view: Option<View>,
    heard: Vec<NodeId>,
    candidate: Vec<NodeId>,
    next_heartbeat: Instant,
    last_sent: Option<Instant>,
    /// Disagreement: since when without progress (the fallback's count), since when at all,
    /// and the progress made: the candidate and how many of its members report it.
    disagree_since: Option<Instant>,
    disagree_first: Option<Instant>,
    disagree_progress: Option<(Vec<NodeId>, usize)>,
    /// A received change waits this long for the ones right behind it, so that a burst of
    /// datagrams costs one evaluation, not one each.
    eval_at: Option<Instant>,
    leaving: bool,
    /// Nodes removed from the configuration while in our view: peers until they leave it.
    departing: std::collections::BTreeSet<NodeId>,
    duplicates_seen: Vec<u64>,
    /// Format versions of undecodable frames already logged.
    versions_logged: Vec<u8>,
    counters: Counters,
    events: VecDeque<Event>,
    outbox: VecDeque<Transmit>,
}

impl Membership {
    /// A node starting at `now`; `key` is the cluster key.
    pub fn new(cfg: Config, key: &[u8], now: Instant) -> Result<Self, ConfigError> {
        let codec = Codec::new(&cfg.cluster_name, key).ok_or(ConfigError::EmptyNameOrKey)?;
        let peers = cfg
            .nodes
            .iter()
            .filter(|id| **id != cfg.local)
            .map(|id| (*id, Peer::default()))
            .collect();
        Ok(Membership {
            heard: vec![cfg.local],
            candidate: vec![cfg.local],
            cfg,
            codec,
            started: now,
            last_now: now,
            awake: now,
            resumed_at: None,
            seq: 0,
            peers,
            view: None,
            next_heartbeat: now,
            last_sent: None,
            disagree_since: None,
            disagree_first: None,
            disagree_progress: None,
            eval_at: None,
            leaving: false,
            departing: Default::default(),
            duplicates_seen: Vec::new(),
            versions_logged: Vec::new(),
            counters: Counters::default(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn local(&self) -> NodeId {
        self.cfg.local
    }

    /// The installed view (none before the first).
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Nodes heard within the token timeout (this one included), ascending.
    pub fn heard(&self) -> &[NodeId] {
        &self.heard
    }

    /// The `config_version` a peer last announced.
    pub fn peer_config_version(&self, id: NodeId) -> Option<u64> {
        self.peers
            .get(&id)
            .and_then(|p| p.report.as_ref())
            .map(|r| r.config_version)
    }

    /// The incarnation of a peer's run last heard (0: never heard).
    pub fn peer_incarnation(&self, id: NodeId) -> Option<u64> {
        self.peers.get(&id).map(|p| p.incarnation)
    }

    /// The protocol versions a peer's current run speaks (`None`: not heard yet).
    pub fn peer_speaks(&self, id: NodeId) -> Option<Range> {
        self.peers.get(&id).and_then(|p| p.speaks)
    }

    /// The protocol versions a node speaks: this node's own range, or a peer's current run's
    /// (`None`: not heard yet).
    pub fn member_speaks(&self, id: NodeId) -> Option<Range> {
        if id == self.cfg.local {
            Some(self.cfg.wire)
        } else {
            self.peer_speaks(id)
        }
    }

    /// The version this node talks with a peer: the highest both speak. `None` when the peer
    /// was not heard yet or shares no version.
    pub fn peer_wire(&self, id: NodeId) -> Option<u8> {
        self.peer_speaks(id).and_then(|r| self.cfg.wire.common(r))
    }

    /// The cluster's version: the highest every member of the installed view speaks.
    pub fn cluster_wire(&self) -> Option<u8> {
        let view = self.view.as_ref()?;
        view.members
            .iter()
            .filter(|m| **m != self.cfg.local)
            .map(|m| self.peer_wire(*m))
            .try_fold(self.cfg.wire.max, |acc, v| v.map(|v| acc.min(v)))
    }

    /// The address a peer's last accepted frame came from.
    pub fn peer_addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.peers.get(&id).and_then(|p| p.addr)
    }

    /// Announces a new configuration version in the next heartbeats.
    pub fn set_config_version(&mut self, version: u64) {
        self.cfg.config_version = version;
    }

    /// The configured nodes changed (a newer cluster.conf was adopted): `nodes` is the new
    /// set; the local node stays whatever it says (a daemon removed from the configuration
    /// leaves instead). An added node is a peer from now on: its first heartbeat makes it
    /// heard and it joins the running view. A removed node outside our view is forgotten at
    /// once: its frames count as unknown nodes from then on. A removed node still in our view
    /// stays a peer until a view without it is installed, so that it goes the usual way, as
    /// leaving cleanly when it said goodbye (a removed daemon stops its services and leaves)
    /// or as failed when it went silent (then fenced, as any failure): the others never take
    /// its services over while it may still run them. Then it is forgotten.
    pub fn set_nodes(&mut self, nodes: &[NodeId], now: Instant) {
        let mut ids = nodes.to_vec();
        ids.push(self.cfg.local);
        ids.sort_unstable();
        ids.dedup();
        let in_view = |id: &NodeId| self.view.as_ref().is_some_and(|v| v.contains(*id));
        let gone: Vec<NodeId> = self
            .peers
            .keys()
            .copied()
            .filter(|id| ids.binary_search(id).is_err())
            .collect();
        for id in &ids {
            if *id != self.cfg.local && !self.peers.contains_key(id) {
                tracing::info!("membership: node {id} added to the configuration");
                self.peers.insert(*id, Peer::default());
            }
        }
        self.departing.retain(|id| ids.binary_search(id).is_err());
        for id in gone {
            if self.departing.contains(&id) {
                // Removed by an earlier reload, still leaving.
            } else if in_view(&id) {
                tracing::info!(
                    "membership: node {id} removed from the configuration; \
                     it stays in the view until it leaves"
                );
                self.departing.insert(id);
            } else {
                tracing::info!("membership: node {id} removed from the configuration");
                self.peers.remove(&id);
            }
        }
        self.cfg.nodes = ids;
        self.schedule_eval(now);
    }

    /// Removed nodes still in our view (see [`set_nodes`](Self::set_nodes)).
    pub fn departing(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.departing.iter().copied()
    }

    /// True once [`leave`](Self::leave) was called.
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.leaving {
            return None;
        }
        let mut t = self.next_heartbeat;
        for p in self.peers.values() {
            if let (Some(h), false) = (p.last_heard, p.left) {
                t = t.min(h + self.cfg.token);
            }
        }
        let join = self.started + self.cfg.join_wait;
        if self.view.is_none() && self.last_now < join {
            t = t.min(join);
        }
        if let Some(d) = self.disagree_since {
            t = t.min(d + self.cfg.token * 2);
        }
        if let Some(d) = self.disagree_first {
            t = t.min(d + self.cfg.token * FALLBACK_CAP_TOKENS);
        }
        if let Some(e) = self.eval_at {
            t = t.min(e);
        }
        Some(t)
    }

    /// Timers: heartbeats, token expiries, agreement.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.note_stall(now);
        let token = self.cfg.token;
        let due = self.eval_at.is_some_and(|t| t <= now)
            || self.view.is_none()
            || self.disagree_since.is_some()
            || self
                .peers
                .values()
                .any(|p| p.last_heard.is_some_and(|t| now >= t + token));
        if due {
            self.evaluate(now);
        }
        self.maybe_send(now);
        self.check_confirmed();
    }

    /// The longest lateness the node takes for scheduling jitter: beyond it, the node was not
    /// running (a loaded machine, a stopped process, a blocked runtime).
    fn stall_threshold(&self) -> Duration {
        self.cfg.token / 2
    }

    /// Called first by every `handle_*`: when the node runs more than half a token after the
    /// deadline it asked for (and after its previous call), it was not listening for that long.
    /// Its peers' silence over that time proves nothing about them (their datagrams may be
    /// queued or lost in our socket, or they were stalled with us by the same load), so every
    /// peer's deadline, and the fallback's, move forward by the length of the stall: each peer
    /// gets the time it had left when the node stopped running.
    ///
    /// Safety: a really failed peer is detected later by this node only, and by at most this
    /// node's own stall (during which it detected nothing anyway); nodes that ran on time
    /// expire it on time. A stall within the threshold changes nothing (scheduling jitter).
    fn note_stall(&mut self, now: Instant) {
        let Some(due) = self.poll_timeout() else {
            return;
        };
        let expected = due.max(self.awake);
        self.awake = self.awake.max(now);
        let late = now.saturating_duration_since(expected);
        if late <= self.stall_threshold() {
            return;
        }
        for p in self.peers.values_mut() {
            if let Some(t) = p.last_heard.as_mut() {
                // At most `due`, so at most `now` after the shift: never in the future.
                *t += late;
            }
        }
        for d in [&mut self.disagree_since, &mut self.disagree_first] {
            if let Some(d) = d.as_mut() {
                *d += late;
            }
        }
        if self.view.is_none() {
            self.started += late;
        }
        tracing::warn!(
            "membership: this node was not scheduled for {} ms; its peers get that time back",
            late.as_millis()
        );
        if let Some(v) = self.view.as_ref().filter(|v| v.members.len() > 1) {
            tracing::warn!(
                "membership: holding decisions until every member confirms view {}",
                v.number
            );
            self.resumed_at = Some(now);
        }
    }

    /// True from a stall until the view is confirmed again (`resumed_at`). The time a stall
    /// gives back to the peers keeps the view alive on this node, but not on theirs: they may
    /// have dropped it, fenced it, and moved its services while it was not running. A node
    /// must not act on such a view (take over a service on a fence result, place, order):
    /// the node core holds every decision until this is false. It becomes false within one
    /// heartbeat when the peers still have the view, or when the view changes to one they
    /// confirm (or to this node alone, which is inquorate or needs nobody's word).
    pub fn view_unconfirmed(&self) -> bool {
        self.resumed_at.is_some()
    }

    /// Clears `resumed_at` once every other member of the view reported that it has the same
    /// view and hears this run, in a heartbeat that arrived half a token (the jitter the stall
    /// detection tolerates) after the node resumed. The heartbeats that queued up while the
    /// node was not running arrive at once when it resumes, and may predate a peer's dropping
    /// it: only a later one speaks for the peer's present (the membership already takes a
    /// heartbeat's arrival for its sender's present; the backlog is the exception).
    fn check_confirmed(&mut self) {
        let Some(resumed) = self.resumed_at else {
            return;
        };
        let since = resumed + self.stall_threshold();
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let (local, inc) = (self.cfg.local, self.cfg.incarnation);
        let confirmed = view.members.iter().filter(|m| **m != local).all(|m| {
            self.peers.get(m).is_some_and(|p| {
                p.report_at.is_some_and(|t| t >= since)
                    && p.report.as_ref().is_some_and(|r| {
                        r.view == view.number && r.members == view.members && r.hears(local, inc)
                    })
            })
        });
        if confirmed {
            tracing::info!(
                "membership: every member confirmed view {} after the stall",
                view.number
            );
            self.resumed_at = None;
        }
    }

    /// Evaluates soon (see `eval_at`).
    fn schedule_eval(&mut self, now: Instant) {
        let settle = (self.cfg.heartbeat / 16).min(Duration::from_millis(5));
        let at = now + settle;
        self.eval_at = Some(self.eval_at.map_or(at, |t| t.min(at)));
    }

    /// A received datagram.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], from: SocketAddr) {
        if self.leaving {
            return;
        }
        self.note_stall(now);
        let frame = match self.codec.decode(bytes) {
            Ok(f) => f,
            Err(why) => {
                let c = &mut self.counters;
                match why {
                    Reject::Garbage => c.garbage += 1,
                    Reject::Truncated => c.truncated += 1,
                    Reject::Version => c.bad_version += 1,
                    Reject::ForeignCluster => c.foreign_cluster += 1,
                    Reject::BadMac => c.bad_mac += 1,
                }
                if why == Reject::Version {
                    self.log_unknown_format(bytes, from);
                }
                tracing::trace!(?why, %from, "membership datagram dropped");
                return;
            }
        };
        if !self.cfg.wire.speaks(frame.version) {
            // Membership frame format N belongs to protocol N: a format this node does not
            // speak is dropped as an older build (which could not read it) would.
            self.counters.bad_version += 1;
            self.log_unknown_format(bytes, from);
            return;
        }
        if frame.sender == self.cfg.local {
            // Never believed: a replay of this node's earlier run looks just the same. A real
            // second daemon is proven by the peers' heartbeats instead (`DuplicateNode`).
            self.counters.own_id += 1;
            return;
        }
        let in_view = self
            .view
            .as_ref()
            .is_some_and(|v| v.members.contains(&frame.sender));
        let ours = self.cfg.wire;
        let local = self.cfg.local;
        let local_inc = self.cfg.incarnation;
        let Some(peer) = self.peers.get_mut(&frame.sender) else {
            self.counters.unknown_node += 1;
            return;
        };
        let same_run = frame.incarnation == peer.incarnation;
        if frame.incarnation < peer.incarnation || (same_run && frame.seq < peer.last_seq) {
            self.counters.replayed += 1;
            return;
        }
        if same_run && frame.seq == peer.last_seq {
            // The same frame in another format (a peer that does not know yet what we
            // speak sends every format): the newer one is news (it says what the peer
            // speaks), the older one is not. The same format again is a replay.
            if frame.version < peer.format {
                self.counters.copies += 1;
                return;
            }
            if frame.version == peer.format {
                self.counters.replayed += 1;
                return;
            }
        }
        // What the sender speaks: a format 2 heartbeat says; a format 1 frame speaks 1 only.
        let speaks = match &frame.payload {
            Payload::Heartbeat(h) if frame.version >= frame::VERSION_2 => h.speaks,
            _ if frame.version == frame::VERSION_1 => Some(Range::only(versions::V1)),
            _ => None,
        };
        let known = if same_run { peer.speaks } else { None };
        let speaks = match (speaks, known) {
            // A run that spoke format 2 does not go back to format 1: a downgrade is refused.
            (Some(s), Some(k)) if s.max < k.max => {
                self.counters.bad_version += 1;
                return;
            }
            (Some(s), _) => Some(s),
            (None, k) => k,
        };
        if let Some(s) = speaks {
            if ours.common(s).is_none() {
                self.counters.bad_version += 1;
                if !(same_run && peer.refused) {
                    tracing::error!(
                        "Refusing node {} at {from}: it speaks wire version {s}, this node \
                         speaks {ours}; no version in common (a release talks to the one \
                         before it: upgrade one release at a time)",
                        frame.sender
                    );
                }
                if !same_run {
                    *peer = Peer {
                        incarnation: frame.incarnation,
                        ..Peer::default()
                    };
                }
                peer.refused = true;
                return;
            }
        }
        self.counters.accepted += 1;
        if frame.incarnation > peer.incarnation {
            if peer.incarnation != 0 && in_view && !peer.dropped {
                // The run we had in the view is gone: it must leave the view before the new
                // one joins, so that its services are seen as lost.
                tracing::debug!(node = frame.sender, "membership: node restarted");
                peer.dropped = true;
            }
            peer.incarnation = frame.incarnation;
            peer.left = false;
            peer.report = None;
            peer.last_heard = None;
            peer.fresh = false;
            peer.refused = false;
        }
        peer.speaks = speaks;
        peer.format = frame.version;
        if let Payload::Heartbeat(h) = &frame.payload {
            // A fresh peer (its run named ours before) now hears another run of our id: a
            // second daemon claims this node, and the peers follow the newer one.
            match h.heard_run(local) {
                Some(run) if run == local_inc => peer.fresh = true,
                Some(run)
                    if peer.fresh && run > local_inc && !self.duplicates_seen.contains(&run) =>
                {
                    self.duplicates_seen.push(run);
                    self.events.push_back(Event::DuplicateNode {
                        incarnation: run,
                        witness: frame.sender,
                    });
                }
                _ => {}
            }
        }
        peer.last_seq = frame.seq;
        peer.addr = Some(from);
        if peer.left {
            return;
        }
        match frame.payload {
            Payload::Heartbeat(h) => {
                // In a stable cluster every heartbeat repeats the previous one: only a change
                // (or a peer heard anew) can change our candidate or agreement, so only then
                // is the O(n²) evaluation run.
                let same = peer.last_heard.is_some()
                    && peer.report.as_ref().is_some_and(|r| {
                        r.view == h.view
                            && r.members == h.members
                            && r.heard == h.heard
                            && r.candidate == h.candidate
                    });
                let announced = peer.report.as_ref().map(|r| r.config_version);
                if announced != Some(h.config_version) {
                    self.events.push_back(Event::ConfigVersion {
                        node: frame.sender,
                        version: h.config_version,
                    });
                }
                peer.last_heard = Some(now);
                peer.report = Some(h);
                peer.report_at = Some(now);
                if same {
                    self.maybe_send(now);
                    self.check_confirmed();
                    return;
                }
            }
            Payload::Leave => {
                tracing::info!("Member {} shutting down", frame.sender);
                peer.left = true;
                peer.last_heard = None;
                peer.report = None;
                if in_view {
                    peer.dropped = true;
                    peer.departed_clean = true;
                }
            }
        }
        self.schedule_eval(now);
        self.maybe_send(now);
        self.check_confirmed();
    }

    /// Announces this node's shutdown to every peer and stops. The frame goes out twice: a
    /// lost goodbye would make the others fence a node that stopped cleanly.
    pub fn leave(&mut self, _now: Instant) {
        if self.leaving {
            return;
        }
        for _ in 0..2 {
            self.seq += 1;
            self.broadcast(Payload::Leave);
        }
        self.leaving = true;
    }

    /// Sends `payload` (sequence number `self.seq`) to every peer, in the format it speaks:
    /// format 2 to a peer of protocol 2, format 1 to a peer of protocol 1 only, and both (the
    /// newer first, same sequence number) to a peer not heard yet. Each format is encoded
    /// once and shared by its destinations.
    fn broadcast(&mut self, payload: Payload) {
        let ours = self.cfg.wire;
        let mut encoded: [Option<Arc<[u8]>>; 2] = [None, None];
        let frame = |version: u8| Frame {
            version,
            sender: self.cfg.local,
            incarnation: self.cfg.incarnation,
            seq: self.seq,
            payload: payload.clone(),
        };
        for (id, p) in &self.peers {
            let formats: &[u8] = match p.speaks.map(|r| ours.common(r)) {
                Some(Some(v)) if v >= versions::V2 => &[frame::VERSION_2],
                Some(Some(_)) => &[frame::VERSION_1],
                // No version in common: ours, so that its log can say what we speak.
                Some(None) if ours.max >= versions::V2 => &[frame::VERSION_2],
                Some(None) => &[frame::VERSION_1],
                None => match (ours.speaks(versions::V2), ours.speaks(versions::V1)) {
                    (true, true) => &[frame::VERSION_2, frame::VERSION_1],
                    (true, false) => &[frame::VERSION_2],
                    _ => &[frame::VERSION_1],
                },
            };
            for v in formats {
                let slot = &mut encoded[usize::from(*v == frame::VERSION_1)];
                let bytes = slot
                    .get_or_insert_with(|| self.codec.encode(&frame(*v)).into())
                    .clone();
                self.outbox.push_back(Transmit { to: *id, bytes });
            }
        }
    }

    /// The run of each node in `heard`, as its frames' headers say.
    fn heard_runs(&self) -> Vec<u64> {
        self.heard
            .iter()
            .map(|id| {
                if *id == self.cfg.local {
                    self.cfg.incarnation
                } else {
                    self.peers.get(id).map_or(0, |p| p.incarnation)
                }
            })
            .collect()
    }

    /// A frame of a format this build cannot read: logged once per format version, naming
    /// both sides (nothing in it is authenticated, so nothing else is believed).
    fn log_unknown_format(&mut self, bytes: &[u8], from: SocketAddr) {
        let Some(v) = frame::peek_version(bytes) else {
            return;
        };
        if self.versions_logged.contains(&v) {
            return;
        }
        self.versions_logged.push(v);
        tracing::error!(
            "Dropping membership frames of format {v} from {from}: this node speaks wire \
             version {} (a release talks to the one before it: upgrade one release at a time)",
            self.cfg.wire
        );
    }

    fn maybe_send(&mut self, now: Instant) {
        if now < self.next_heartbeat {
            return;
        }
        self.seq += 1;
        let (view, members) = match &self.view {
            Some(v) => (v.number, v.members.clone()),
            None => (0, Vec::new()),
        };
        let payload = Payload::Heartbeat(Heartbeat {
            config_version: self.cfg.config_version,
            view,
            members,
            heard: self.heard.clone(),
            candidate: self.candidate.clone(),
            heard_inc: self.heard_runs(),
            speaks: Some(self.cfg.wire),
        });
        self.broadcast(payload);
        self.last_sent = Some(now);
        self.next_heartbeat = now + self.cfg.heartbeat;
    }

    /// Sends a heartbeat soon because what we hear or want changed, but not more often than
    /// four times per heartbeat interval, so that a cluster starting at once does not flood.
    fn trigger_heartbeat(&mut self, now: Instant) {
        let earliest = self
            .last_sent
            .map_or(now, |t| (t + self.cfg.heartbeat / 4).max(now));
        self.next_heartbeat = self.next_heartbeat.min(earliest);
    }

    fn evaluate(&mut self, now: Instant) {
        self.eval_at = None;
        let local = self.cfg.local;
        let token = self.cfg.token;
        // Who we hear.
        self.last_now = now;
        let mut heard = vec![local];
        for (id, p) in self.peers.iter_mut() {
            match p.last_heard {
                Some(t) if !p.left && now < t + token => heard.push(*id),
                Some(_) => {
                    // Silent past the token: forget its report so that it cannot count.
                    tracing::debug!(node = id, "membership: token expired");
                    p.last_heard = None;
                    p.report = None;
                }
                None => {}
            }
        }
        heard.sort_unstable();
        // Who we are connected to (both ways), and the reports we may use. A format 2 report
        // must name this run of ours: a heartbeat recorded before this run started (replayed
        // by someone on the network) makes a dead peer heard, never connected.
        let local_inc = self.cfg.incarnation;
        // A member of our view that installed a newer view with others but without us has left
        // ours, whatever it still hears: that view's coordinator acts without us now, so
        // keeping our view until the disagreement's fallback would let this node decide on a
        // view that is gone (seed 18034 of the simulator: a fence result taken over on it).
        // A member that stood alone for a moment has not: it is back among us, and we move to
        // its number instead (`agree`).
        let (mine, ours) = self
            .view
            .as_ref()
            .map_or((0, &[][..]), |v| (v.number, &v.members[..]));
        let left_us = |id: &NodeId, r: &Heartbeat| {
            ours.contains(id) && r.view > mine && r.members.len() > 1 && !r.members.contains(&local)
        };
        let connected: Vec<NodeId> = heard
            .iter()
            .copied()
            .filter(|id| {
                *id == local
                    || self.peers.get(id).is_some_and(|p| {
                        !p.dropped
                            && p.report
                                .as_ref()
                                .is_some_and(|r| r.hears(local, local_inc) && !left_us(id, r))
                    })
            })
            .collect();
        // Such a member has not only left our candidate: our installed view is gone, and the
        // view it moved to may already have a coordinator deciding without us. Keeping ours
        // until an agreement or the fallback (two tokens) lets this node go on deciding as the
        // member of a quorate view that no longer exists (seed 102564: a coordinator of such a
        // view finished a fence and started a service that the new view's coordinator had
        // placed on the member who left). So we stand alone at once, as the fallback would
        // later, and join the others again by agreement.
        let moved_on: Vec<(NodeId, u64)> = ours
            .iter()
            .filter(|id| **id != local)
            .filter_map(|id| {
                let p = self.peers.get(id)?;
                let r = p.report.as_ref()?;
                (!p.dropped && left_us(id, r)).then_some((*id, r.view))
            })
            .collect();
        if ours.len() > 1 && !moved_on.is_empty() {
            let top = self
                .peers
                .values()
                .filter_map(|p| p.report.as_ref().map(|r| r.view))
                .fold(mine, u64::max);
            tracing::warn!(
                "membership: {} installed view {} without this node; leaving view {mine}",
                moved_on
                    .iter()
                    .map(|(id, _)| format!("node {id}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                moved_on.iter().map(|(_, v)| *v).max().unwrap_or(mine),
            );
            self.install(
                now,
                View {
                    number: top + 1,
                    members: vec![local],
                },
            );
            self.agreement_reached();
        }
        let heard_changed = heard != self.heard;
        self.heard = heard;
        let candidate = self.clique_of_local(&connected);
        let changed = heard_changed || candidate != self.candidate;
        self.candidate = candidate;
        if changed {
            self.trigger_heartbeat(now);
        }
        self.agree(now);
    }

    /// Splits `nodes` (ascending) into cliques greedily by id and returns the one with the
    /// local node. Everyone with the same knowledge gets the same cliques.
    fn clique_of_local(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        let n = nodes.len();
        let local = self.cfg.local;
        // hears[i * n + j]: node i lists node j as heard (our own hearing for the local node).
        // Both lists are ascending, so each row is one merge walk: O(n²) for the matrix.
        let mut hears = vec![false; n * n];
        for (i, a) in nodes.iter().enumerate() {
            let list: &[NodeId] = if *a == local {
                &self.heard
            } else {
                match self.peers.get(a).and_then(|p| p.report.as_ref()) {
                    Some(r) => &r.heard,
                    None => &[],
                }
            };
            let (mut j, mut k) = (0, 0);
            while j < n && k < list.len() {
                match nodes[j].cmp(&list[k]) {
                    std::cmp::Ordering::Less => j += 1,
                    std::cmp::Ordering::Greater => k += 1,
                    std::cmp::Ordering::Equal => {
                        hears[i * n + j] = true;
                        j += 1;
                        k += 1;
                    }
                }
            }
            hears[i * n + i] = true;
        }
        let connected = |i: usize, j: usize| hears[i * n + j] && hears[j * n + i];
        let mut taken = vec![false; n];
        loop {
            let mut clique: Vec<usize> = Vec::new();
            for (j, done) in taken.iter().enumerate() {
                if !done && clique.iter().all(|i| connected(*i, j)) {
                    clique.push(j);
                }
            }
            if clique.is_empty() {
                return vec![local];
            }
            if clique.iter().any(|i| nodes[*i] == local) {
                return clique.into_iter().map(|i| nodes[i]).collect();
            }
            for i in clique {
                taken[i] = true;
            }
        }
    }

    fn agree(&mut self, now: Instant) {
        let local = self.cfg.local;
        let q = self.candidate.clone();
        let mine = self.view.as_ref().map_or(0, |v| v.number);
        if self.view.as_ref().is_some_and(|v| v.members == q) {
            self.agreement_reached();
            // Same members, but a member installed a higher number (it left and came back
            // while we kept the view, e.g. it stood alone after a stall of its own): move to
            // the number it lands on, so that every member ends with the same number.
            let behind = q
                .iter()
                .filter(|id| **id != local)
                .filter_map(|id| self.peers.get(id).and_then(|p| p.report.as_ref()))
                .any(|r| r.view > mine);
            if !behind {
                return;
            }
        }
        if self.view.is_none() && q.len() == 1 && now < self.started + self.cfg.join_wait {
            return;
        }
        let reports: Option<Vec<&Heartbeat>> = q
            .iter()
            .filter(|id| **id != local)
            .map(|id| self.peers.get(id).and_then(|p| p.report.as_ref()))
            .collect();
        let agreed = reports
            .as_ref()
            .is_some_and(|rs| rs.iter().all(|r| r.candidate == q));
        if agreed {
            let rs = reports.unwrap_or_default();
            let top = rs.iter().map(|r| r.view).fold(mine, u64::max);
            // Adopt a view already installed by a member when it is exactly this one with the
            // highest number: everyone computing later lands on the same number.
            let holders_agree = rs.iter().filter(|r| r.view == top).all(|r| r.members == q)
                && (mine != top || self.view.as_ref().is_some_and(|v| v.members == q));
            let someone_has_it = rs.iter().any(|r| r.view == top && r.members == q);
            let number = if someone_has_it && holders_agree {
                top
            } else {
                top + 1
            };
            self.install(now, View { number, members: q });
            self.agreement_reached();
            return;
        }
        if self.view.as_ref().is_some_and(|v| v.members == q) {
            // Our view is our candidate: nothing to fall back from while the members settle
            // on the number.
            return;
        }
        // Progress: another candidate, or more of its members reporting it. A large cluster
        // converging after a hiccup (64 nodes on a loaded machine) makes progress for longer
        // than two tokens; a node stuck on an asymmetric link makes none.
        let agreeing = q
            .iter()
            .filter(|id| **id != local)
            .filter_map(|id| self.peers.get(id).and_then(|p| p.report.as_ref()))
            .filter(|r| r.candidate == q)
            .count();
        let progress = match &self.disagree_progress {
            Some((c, n)) => *c != q || agreeing > *n,
            None => true,
        };
        if progress {
            self.disagree_progress = Some((q.clone(), agreeing));
            self.disagree_since = Some(now);
        }
        let since = *self.disagree_since.get_or_insert(now);
        let first = *self.disagree_first.get_or_insert(now);
        let stuck = now >= since + self.cfg.token * 2;
        let endless = now >= first + self.cfg.token * FALLBACK_CAP_TOKENS;
        if stuck || endless {
            // No agreement and no progress for two token timeouts (or no agreement at all
            // for FALLBACK_CAP_TOKENS): stand alone (inquorate) rather than keep a view whose
            // members we may not hear.
            let alone = vec![local];
            if self.view.as_ref().is_none_or(|v| v.members != alone) {
                let top = self
                    .peers
                    .values()
                    .filter_map(|p| p.report.as_ref().map(|r| r.view))
                    .fold(self.view.as_ref().map_or(0, |v| v.number), u64::max);
                tracing::warn!(
                    "membership: no agreement with {:?} for {:?}; standing alone",
                    q,
                    now.saturating_duration_since(if stuck { since } else { first })
                );
                self.install(
                    now,
                    View {
                        number: top + 1,
                        members: alone,
                    },
                );
            }
            self.disagree_since = Some(now);
            self.disagree_first = Some(now);
        }
    }

    /// The candidate is installed: no disagreement to fall back from.
    fn agreement_reached(&mut self) {
        self.disagree_since = None;
        self.disagree_first = None;
        self.disagree_progress = None;
    }

    fn install(&mut self, now: Instant, view: View) {
        let old: Vec<NodeId> = self
            .view
            .as_ref()
            .map(|v| v.members.clone())
            .unwrap_or_default();
        for id in &view.members {
            if !old.contains(id) {
                self.events.push_back(Event::Joined(*id));
            }
        }
        for id in &old {
            if view.members.contains(id) {
                continue;
            }
            let clean = self.peers.get(id).is_some_and(|p| p.departed_clean);
            self.events.push_back(if clean {
                Event::LeftCleanly(*id)
            } else {
                Event::Failed(*id)
            });
        }
        for (id, p) in self.peers.iter_mut() {
            if !view.members.contains(id) {
                p.dropped = false;
                p.departed_clean = false;
            }
        }
        // Removed from the configuration and now out of the view: forgotten.
        let forget: Vec<NodeId> = self
            .departing
            .iter()
            .copied()
            .filter(|id| !view.members.contains(id))
            .collect();
        for id in forget {
            self.departing.remove(&id);
            self.peers.remove(&id);
        }
        tracing::info!(
            "membership: view {} installed: {:?}",
            view.number,
            view.members
        );
        self.events.push_back(Event::ViewChanged(view.clone()));
        self.view = Some(view);
        self.check_confirmed();
        // Tell the others soon: they adopt the number.
        self.trigger_heartbeat(now);
    }
}

#[cfg(test)]
mod sim;
