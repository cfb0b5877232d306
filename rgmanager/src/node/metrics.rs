//! What the node counts for `/metrics` and the status page (docs/http.md): fence runs and
//! their latency, failovers phase by phase (failure detected → fenced → started elsewhere),
//! agent operations, service transitions, and a short list of recent events in the
//! operator's words.
//!
//! Plain counters and fixed-bucket histograms, no metrics library: the core stays sans-I/O and
//! the simulator runs it as it is. The time is the `now` the owner gave the core (never a
//! clock read here). The daemon's HTTP module (`rgmanager::daemon::http`) turns a [`Report`]
//! into the Prometheus text format.
//!
//! Two kinds of hooks: one-line calls where a thing happens (a fence run starts or ends, a
//! node fails or is fenced, an agent operation starts or ends, a status check fails), and
//! [`Node::observe_metrics`] after every input, which compares the service table, the view,
//! quorum and the configuration version with what it saw last: every path that changes the
//! table is covered without a hook in each.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::wire::Op;
use super::{Node, NodeId};
use crate::policy::{Holds, PolicyConfig, State};

/// Buckets (upper bounds, seconds) of fence run latency: a BMC answers in a second, a PDU
/// over telnet in a few, `post_fail_delay` adds its own.
pub const FENCE_BUCKETS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
/// Buckets of the failover phases (token timeout, fencing, the start of a service).
pub const FAILOVER_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// Buckets of agent operations (an `ip` in milliseconds, a database in minutes).
pub const AGENT_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// How many recent events the status page shows.
pub const EVENTS_KEPT: usize = 50;

/// A histogram as Prometheus keeps one: a count per bucket (not cumulative), the sum and
/// the count of every observation (the last bucket, `+Inf`, is `count` minus the others).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Observations in each bucket: `counts[i]` were above `bounds[i-1]` and at most
    /// `bounds[i]`.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Fence runs this node started against one node. A run goes on, round after round, until
/// the node's power-off is confirmed (a success) or it is cancelled (the node came back, this
/// node stopped coordinating): that is a failure here.
#[derive(Clone, Debug, PartialEq)]
pub struct FenceStats {
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// From the run's start to the confirmation, `post_fail_delay` included.
    pub duration: Histogram,
}

impl Default for FenceStats {
    fn default() -> Self {
        FenceStats {
            attempts: 0,
            successes: 0,
            failures: 0,
            duration: Histogram::new(FENCE_BUCKETS),
        }
    }
}

/// Agent operations of one service and kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    pub operations: u64,
    pub failures: u64,
}

/// One line of the status page's recent events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// `failure`, `fencing`, `takeover`, `service`, `membership`, `quorum`, `config`.
    pub kind: &'static str,
    pub text: String,
}

/// A node that failed, until its services are started elsewhere.
#[derive(Clone, Debug)]
struct Failover {
    since: Instant,
    fenced: bool,
    /// Services it held when it failed, not started elsewhere yet.
    services: BTreeSet<String>,
}

/// What one service looked like at the last look (what clustat shows of it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    state: State,
    owner: Option<NodeId>,
    last_owner: Option<NodeId>,
    frozen: bool,
    partial: bool,
    restarts: usize,
    last_transition: u64,
}

/// The node's counters. Owned by [`Node`]; read through [`Node::metrics`].
#[derive(Clone, Debug)]
pub struct Metrics {
    t0: Instant,
    unix0: u64,
    fence: BTreeMap<NodeId, FenceStats>,
    failover_fenced: Histogram,
    failover_started: Histogram,
    ops: BTreeMap<(String, &'static str), OpStats>,
    op_duration: BTreeMap<&'static str, Histogram>,
    status_failures: BTreeMap<String, u64>,
    transitions: BTreeMap<String, u64>,
    events: VecDeque<Event>,
    /// Fence runs (victim, start) and agent jobs (start) in flight.
    runs: BTreeMap<u64, (NodeId, Instant)>,
    jobs: BTreeMap<u64, Instant>,
    failovers: BTreeMap<NodeId, Failover>,
    /// The last look at the table (indexed like `seen_policy`'s services), the view, quorum,
    /// the configuration.
    seen: Vec<Option<Seen>>,
    seen_policy: Option<Arc<PolicyConfig>>,
    seen_view: Option<(u64, Vec<NodeId>)>,
    seen_quorate: bool,
    seen_config: Option<u64>,
    revision: u64,
}

impl Metrics {
    /// Counters of a node started at `now`, `unix_now` seconds after the epoch.
    pub fn new(now: Instant, unix_now: u64) -> Metrics {
        Metrics {
            t0: now,
            unix0: unix_now,
            fence: BTreeMap::new(),
            failover_fenced: Histogram::new(FAILOVER_BUCKETS),
            failover_started: Histogram::new(FAILOVER_BUCKETS),
            ops: BTreeMap::new(),
            op_duration: BTreeMap::new(),
            status_failures: BTreeMap::new(),
            transitions: BTreeMap::new(),
            events: VecDeque::new(),
            runs: BTreeMap::new(),
            jobs: BTreeMap::new(),
            failovers: BTreeMap::new(),
            seen: Vec::new(),
            seen_policy: None,
            seen_view: None,
            seen_quorate: false,
            seen_config: None,
            revision: 0,
        }
    }

    fn unix(&self, now: Instant) -> i64 {
        (self.unix0 + now.saturating_duration_since(self.t0).as_secs()) as i64
    }

    fn event(&mut self, now: Instant, kind: &'static str, text: String) {
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        let time = self.unix(now);
        self.events.push_back(Event { time, kind, text });
        self.revision += 1;
    }
}

fn op_word(op: Op) -> &'static str {
    match op {
        Op::Start => "start",
        Op::Stop => "stop",
        Op::Convalesce => "convalesce",
    }
}

fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// Everything `/metrics` and the status page show beyond clustat's snapshot, taken at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub node: String,
    pub node_id: NodeId,
    pub cluster: String,
    /// The installed view's number (0 before the first).
    pub view_number: u64,
    /// Members of the view, by name.
    pub members: Vec<String>,
    pub configured_nodes: usize,
    /// This node is a member of a quorate view.
    pub quorate: bool,
    pub votes: u32,
    pub expected_votes: u32,
    /// Votes needed for quorum now.
    pub quorum: u32,
    pub coordinator: bool,
    pub config_version: u64,
    /// The first 16 hex digits of the configuration's SHA-256.
    pub config_hash: String,
    /// Datagrams dropped: (channel, reason, count).
    pub dropped: Vec<(&'static str, &'static str, u64)>,
    /// Fence runs by victim name.
    pub fence: Vec<(String, FenceStats)>,
    /// Fence runs going on now: victim and seconds since the run started.
    pub fencing_now: Vec<(String, f64)>,
    /// From a failure's detection to the node's fencing (power-off confirmed or acknowledged).
    pub failover_fenced: Histogram,
    /// From a failure's detection to each of the node's services started elsewhere.
    pub failover_started: Histogram,
    /// Agent operations run here: (service, `start`/`stop`/`convalesce`, counts).
    pub ops: Vec<(String, &'static str, OpStats)>,
    pub op_duration: Vec<(&'static str, Histogram)>,
    /// Periodic status checks that found a service failed here.
    pub status_failures: Vec<(String, u64)>,
    /// Changes of a service's state or owner this node saw.
    pub transitions: Vec<(String, u64)>,
    /// Services running on this node (its agents started them and have not stopped them).
    pub running_here: Vec<String>,
    /// Oldest first.
    pub events: Vec<Event>,
    /// Grows whenever anything above or clustat's snapshot changed (but the clock).
    pub revision: u64,
}

impl Node {
    /// A fence run (`run`) against `node` starts.
    pub(super) fn count_fence_start(&mut self, run: u64, node: NodeId) {
        let now = self.now;
        let name = self.name_of(node);
        let m = &mut self.metrics;
        m.runs.insert(run, (node, now));
        m.fence.entry(node).or_default().attempts += 1;
        m.event(now, "fencing", format!("fencing {name}"));
    }

    /// A fence run ended: `fenced` when the power-off was confirmed.
    pub(super) fn count_fence_end(&mut self, run: u64, node: NodeId, fenced: bool) {
        let now = self.now;
        let name = self.name_of(node);
        let m = &mut self.metrics;
        let started = m.runs.remove(&run);
        let stats = m.fence.entry(node).or_default();
        if fenced {
            stats.successes += 1;
            if let Some((_, t)) = started {
                stats.duration.observe(secs(t, now));
            }
            // The event is said by `count_node_fenced`, on every node, however it was fenced.
        } else {
            stats.failures += 1;
            m.event(
                now,
                "fencing",
                format!("fencing {name} stopped unconfirmed"),
            );
        }
    }

    /// A member left without a goodbye: the failover clock starts, with the services the table
    /// has on it.
    pub(super) fn count_node_failed(&mut self, node: NodeId) {
        let now = self.now;
        let services: BTreeSet<String> = self
            .coord
            .view
            .config
            .services
            .iter()
            .zip(&self.coord.view.services)
            .filter(|(_, s)| s.owner == Some(node) && s.state.holds())
            .map(|(c, _)| c.name.clone())
            .collect();
        let text = if services.is_empty() {
            format!("{} failed", self.name_of(node))
        } else {
            let list: Vec<&str> = services.iter().map(String::as_str).collect();
            format!("{} failed holding {}", self.name_of(node), list.join(", "))
        };
        let m = &mut self.metrics;
        m.failovers.insert(
            node,
            Failover {
                since: now,
                fenced: false,
                services,
            },
        );
        m.event(now, "failure", text);
    }

    /// `node` is known fenced (by this node's run, another's news, or `fence_ack_manual`).
    pub(super) fn count_node_fenced(&mut self, node: NodeId) {
        let now = self.now;
        let name = self.name_of(node);
        let m = &mut self.metrics;
        m.event(now, "fencing", format!("{name} fenced"));
        if let Some(f) = m.failovers.get_mut(&node) {
            if !f.fenced {
                f.fenced = true;
                let d = secs(f.since, now);
                m.failover_fenced.observe(d);
                m.revision += 1;
            }
        }
    }

    /// The agents were given job `job`.
    pub(super) fn count_job_start(&mut self, job: u64) {
        let now = self.now;
        self.metrics.jobs.insert(job, now);
    }

    /// Job `job` (`op` on `service`) ended.
    pub(super) fn count_job_done(&mut self, job: u64, service: &str, op: Op, ok: bool) {
        let now = self.now;
        let m = &mut self.metrics;
        let word = op_word(op);
        let stats = m.ops.entry((service.to_string(), word)).or_default();
        stats.operations += 1;
        if !ok {
            stats.failures += 1;
        }
        if let Some(t) = m.jobs.remove(&job) {
            m.op_duration
                .entry(word)
                .or_insert_with(|| Histogram::new(AGENT_BUCKETS))
                .observe(secs(t, now));
        }
        if !ok {
            m.event(now, "service", format!("{word} of {service} failed here"));
        }
        m.revision += 1;
    }

    /// A periodic status check found `service` failed here.
    pub(super) fn count_status_failed(&mut self, service: &str) {
        let now = self.now;
        let m = &mut self.metrics;
        *m.status_failures.entry(service.to_string()).or_default() += 1;
        m.event(
            now,
            "service",
            format!("status check of {service} failed here"),
        );
    }

    /// After every input: what changed in the table, the view, quorum and the configuration
    /// since the last look. Linear in the services, without allocation when nothing changed.
    pub(super) fn observe_metrics(&mut self) {
        let now = self.now;
        self.observe_view(now);
        self.observe_table(now);
        let version = self.sync.core.local().version();
        if self.metrics.seen_config != Some(version) {
            let first = self.metrics.seen_config.is_none();
            self.metrics.seen_config = Some(version);
            let hash = self.sync.core.local().hash();
            let text = if first {
                format!("configuration version {version} ({hash})")
            } else {
                format!("configuration version {version} adopted ({hash})")
            };
            self.metrics.event(now, "config", text);
        }
    }

    fn observe_view(&mut self, now: Instant) {
        let quorate = self.quorum.is_quorate();
        if quorate != self.metrics.seen_quorate {
            self.metrics.seen_quorate = quorate;
            let text = if quorate {
                "Quorum regained"
            } else {
                "Quorum lost"
            };
            self.metrics.event(now, "quorum", text.to_string());
        }
        let Some(v) = self.view.as_ref() else { return };
        if self
            .metrics
            .seen_view
            .as_ref()
            .is_some_and(|(n, _)| *n == v.number)
        {
            return;
        }
        let members = v.members.clone();
        let number = v.number;
        let before = self
            .metrics
            .seen_view
            .replace((number, members.clone()))
            .map(|(_, m)| m);
        let mut lines = Vec::new();
        if let Some(before) = &before {
            for n in members.iter().filter(|n| !before.contains(n)) {
                lines.push(format!("{} joined", self.name_of(*n)));
            }
            for n in before.iter().filter(|n| !members.contains(n)) {
                lines.push(format!("{} left", self.name_of(*n)));
            }
        }
        // A node back in the view was not fenced: no failover to time.
        self.metrics.failovers.retain(|n, _| !members.contains(n));
        let text = if lines.is_empty() {
            format!("view {number}: {} members", members.len())
        } else {
            format!("view {number}: {}", lines.join(", "))
        };
        self.metrics.event(now, "membership", text);
    }

    fn observe_table(&mut self, now: Instant) {
        let view = &self.coord.view;
        let m = &mut self.metrics;
        // The table is indexed like its configuration: compared index by index while the
        // configuration is the same, by name after a reload.
        if !m
            .seen_policy
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &view.config))
        {
            let mut old: BTreeMap<String, Seen> = m
                .seen_policy
                .iter()
                .flat_map(|p| p.services.iter().map(|c| c.name.clone()))
                .zip(std::mem::take(&mut m.seen))
                .filter_map(|(n, s)| s.map(|s| (n, s)))
                .collect();
            m.seen = view
                .config
                .services
                .iter()
                .map(|c| old.remove(&c.name))
                .collect();
            let names: BTreeSet<&String> = view.config.services.iter().map(|c| &c.name).collect();
            m.transitions.retain(|n, _| names.contains(n));
            m.seen_policy = Some(view.config.clone());
            m.revision += 1;
        }
        let mut changed: Vec<(String, Option<Seen>, Seen)> = Vec::new();
        for ((c, s), seen) in view
            .config
            .services
            .iter()
            .zip(&view.services)
            .zip(m.seen.iter_mut())
        {
            let cur = Seen {
                state: s.state,
                owner: s.owner,
                last_owner: s.last_owner,
                frozen: s.frozen,
                partial: s.partial,
                restarts: s.restarts.len(),
                last_transition: s.last_transition,
            };
            if seen.as_ref() != Some(&cur) {
                changed.push((c.name.clone(), seen.replace(cur.clone()), cur));
            }
        }
        if changed.is_empty() {
            return;
        }
        m.revision += 1;
        for (name, old, cur) in changed {
            let moved = old
                .as_ref()
                .is_none_or(|o| o.state != cur.state || o.owner != cur.owner);
            // The first look at a service is its state when this node started, not a change.
            if old.is_none() || !moved {
                continue;
            }
            *self.metrics.transitions.entry(name.clone()).or_default() += 1;
            let owner = cur.owner.map(|o| self.name_of(o));
            let mut text = match (&owner, cur.state) {
                (Some(o), st) if st.holds() => format!("{name} {st} on {o}"),
                _ => format!("{name} {}", cur.state),
            };
            let mut kind = "service";
            if cur.state == State::Started {
                let failed: Vec<(NodeId, Instant)> = self
                    .metrics
                    .failovers
                    .iter()
                    .filter(|(n, f)| Some(**n) != cur.owner && f.services.contains(&name))
                    .map(|(n, f)| (*n, f.since))
                    .collect();
                for (n, since) in failed {
                    let d = secs(since, now);
                    self.metrics.failover_started.observe(d);
                    kind = "takeover";
                    text = format!(
                        "{text}: taken over {d:.1} s after {} failed",
                        self.name_of(n)
                    );
                    if let Some(f) = self.metrics.failovers.get_mut(&n) {
                        f.services.remove(&name);
                    }
                }
            } else if !cur.state.holds() {
                // Stopped, disabled or failed: no takeover of it to time.
                for f in self.metrics.failovers.values_mut() {
                    if f.fenced {
                        f.services.remove(&name);
                    }
                }
            }
            self.metrics.event(now, kind, text);
        }
        self.metrics
            .failovers
            .retain(|_, f| !(f.fenced && f.services.is_empty()));
    }

    /// What `/metrics` and the status page show beyond [`Node::status`].
    pub fn metrics(&self, now: Instant) -> Report {
        let m = &self.metrics;
        let members: Vec<String> = self
            .view
            .as_ref()
            .map(|v| v.members.iter().map(|n| self.name_of(*n)).collect())
            .unwrap_or_default();
        let c = self.membership.counters();
        let config = self.sync.core.local();
        Report {
            node: self.setup_name.clone(),
            node_id: self.local,
            cluster: self.cluster_name.clone(),
            view_number: self.view.as_ref().map_or(0, |v| v.number),
            members,
            configured_nodes: self.members_conf.len(),
            quorate: self.quorum.is_quorate(),
            votes: self.quorum.total_votes(),
            expected_votes: self.quorum.config().expected_votes,
            quorum: self.quorum.quorum(),
            coordinator: self.is_coordinating(),
            config_version: config.version(),
            config_hash: config.hash().to_string(),
            dropped: vec![
                ("membership", "authentication", c.bad_mac),
                (
                    "membership",
                    "garbage",
                    c.garbage + c.truncated + c.bad_version,
                ),
                ("membership", "foreign_cluster", c.foreign_cluster),
                ("membership", "unknown_node", c.unknown_node),
                ("membership", "replayed", c.replayed),
                ("membership", "own_node_id", c.own_id),
                ("daemon", "authentication", self.wire_bad_mac),
            ],
            fence: m
                .fence
                .iter()
                .map(|(n, s)| (self.name_of(*n), s.clone()))
                .collect(),
            fencing_now: m
                .runs
                .values()
                .map(|(n, t)| (self.name_of(*n), secs(*t, now)))
                .collect(),
            failover_fenced: m.failover_fenced.clone(),
            failover_started: m.failover_started.clone(),
            ops: m
                .ops
                .iter()
                .map(|((s, op), st)| (s.clone(), *op, *st))
                .collect(),
            op_duration: m
                .op_duration
                .iter()
                .map(|(op, h)| (*op, h.clone()))
                .collect(),
            status_failures: m
                .status_failures
                .iter()
                .map(|(s, n)| (s.clone(), *n))
                .collect(),
            transitions: m.transitions.iter().map(|(s, n)| (s.clone(), *n)).collect(),
            running_here: self.running.iter().cloned().collect(),
            events: m.events.iter().cloned().collect(),
            revision: self.metrics_revision(),
        }
    }

    /// Grows whenever [`Node::metrics`] or [`Node::status`] would show something new (but the
    /// time): the daemon rebuilds its HTTP snapshot only then.
    pub fn metrics_revision(&self) -> u64 {
        // Running services change with agent results, which count; the view and quorum are
        // looked at after every input.
        self.metrics.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_hold_each_observation_once() {
        let mut h = Histogram::new(&[1.0, 5.0]);
        for s in [0.2, 1.0, 3.0, 7.5] {
            h.observe(s);
        }
        assert_eq!(h.counts, vec![2, 1]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 11.7).abs() < 1e-9);
    }

    #[test]
    fn events_keep_the_newest_and_advance_the_revision() {
        let t0 = Instant::now();
        let mut m = Metrics::new(t0, 1_000);
        for i in 0..(EVENTS_KEPT + 5) {
            m.event(
                t0 + std::time::Duration::from_secs(i as u64),
                "service",
                format!("e{i}"),
            );
        }
        assert_eq!(m.events.len(), EVENTS_KEPT);
        assert_eq!(m.events[0].text, "e5");
        assert_eq!(m.events[0].time, 1_005);
        assert_eq!(m.revision, (EVENTS_KEPT + 5) as u64);
    }
}
