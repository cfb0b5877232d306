//! Fencing lost members, fenced's job inside the daemon: which nodes must be fenced, by whom,
//! and the threads that do it through [`fence::node`].
//!
//! A member that leaves the view without a goodbye may still be running its services (it may
//! only have lost its network), so nothing of it moves until it is powered off. The
//! coordinator of a quorate partition fences it: `post_fail_delay`, then its methods in order,
//! every device of a method, a round after round with a pause until one method succeeds. Only
//! then does the daemon feed [`Event::NodeFenced`](crate::policy::Event::NodeFenced) to the
//! policy, which takes the services over. An administrator may confirm a node down by hand
//! (`fence_ack_manual`), which counts as fenced.
//!
//! Two parts:
//! * [`Victims`] (sans-I/O): every node's fencing state — lost, being fenced, fenced — and the
//!   decisions: whom to fence now, what a success, a rejoin or a lost coordinator role change.
//!   Every node keeps one, so that a new coordinator knows which lost nodes are not fenced yet
//!   and fences them again (the fenced facts also travel between daemons, see `Msg::Fenced`).
//! * [`Fencer`]: the worker threads (an agent run blocks for seconds and must not hold up the
//!   daemon's loop), cancelled between rounds, and the configuration they read: each round
//!   re-reads the daemon's configuration file when its `config_version` grew and it validates,
//!   so that a corrected fence password takes effect without restarting anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccs::ClusterConf;
use fence::agent::RealClock;
use fence::node::{AgentRunner, RetryPolicy};
use tokio::sync::{mpsc, oneshot};

use crate::admin::Response;
use crate::policy::NodeId;

/// The pause between two rounds over a node's methods (fenced slept 5 s).
pub const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// After this many failed rounds, fenced stopped logging every failure; a reminder every
/// [`REMIND_EVERY`] rounds says it still tries.
const QUIET_AFTER: u32 = 3;
const REMIND_EVERY: u32 = 60;

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VictimState {
    /// Left uncleanly; not fenced, nobody here fencing it.
    Lost,
    /// A worker of this daemon fences it.
    Fencing,
    /// Powered off (or confirmed down by an administrator): it runs nothing.
    Fenced,
}

/// fenced's startup fencing (sans-I/O): the coordinator of a cluster that is forming now (no
/// member has ever held a service table: a first start, or a whole-cluster restart) cannot know
/// what the configured nodes that are not members run. One may be up on the other side of a
/// broken network, still holding the services of before, or, in a two-node cluster, be quorate
/// alone and about to start them itself. So no service starts until each absent node has
/// joined or been fenced: the coordinator waits `post_join_delay` for them to join, then fences
/// the ones still absent, as fenced did when it formed a fence domain. `clean_start="1"` skips
/// it (the administrator vouches that absent nodes are down); a negative `post_join_delay`
/// waits for them to join for ever.
#[derive(Debug, Clone)]
pub struct Startup {
    /// Absent nodes that have neither joined nor been fenced yet.
    pending: std::collections::BTreeSet<NodeId>,
    /// When the ones still absent are to be fenced (None: wait for ever).
    fence_at: Option<std::time::Instant>,
    /// They were handed over to fencing.
    fencing: bool,
}

/// What the coordinator does about startup fencing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupStep {
    /// Every absent node joined or is fenced: services may start.
    Open,
    /// Keep waiting; start nothing.
    Wait,
    /// Fence these nodes (they did not join in time); start nothing yet.
    Fence(Vec<NodeId>),
}

impl Startup {
    /// The gate of a cluster forming now with `absent` configured nodes not in the view.
    pub fn new(
        absent: std::collections::BTreeSet<NodeId>,
        post_join_delay: i64,
        now: std::time::Instant,
    ) -> Startup {
        let fence_at = u64::try_from(post_join_delay)
            .ok()
            .map(|d| now + Duration::from_secs(d));
        Startup {
            pending: absent,
            fence_at,
            fencing: false,
        }
    }

    /// The nodes still holding the services back.
    pub fn pending(&self) -> Vec<NodeId> {
        self.pending.iter().copied().collect()
    }

    /// Decides at `now`, given the view's members and the fencing states.
    pub fn step(
        &mut self,
        now: std::time::Instant,
        members: &[NodeId],
        victims: &Victims,
    ) -> StartupStep {
        self.pending
            .retain(|n| !members.contains(n) && victims.state(*n) != Some(VictimState::Fenced));
        if self.pending.is_empty() {
            return StartupStep::Open;
        }
        if self.fencing {
            return StartupStep::Wait;
        }
        match self.fence_at {
            Some(t) if now >= t => {
                self.fencing = true;
                StartupStep::Fence(self.pending())
            }
            _ => StartupStep::Wait,
        }
    }
}

/// The fencing states of the nodes that left uncleanly (sans-I/O).
#[derive(Debug, Default, Clone)]
pub struct Victims {
    nodes: BTreeMap<NodeId, VictimState>,
}

impl Victims {
    pub fn state(&self, node: NodeId) -> Option<VictimState> {
        self.nodes.get(&node).copied()
    }

    /// `node` left the view without a goodbye.
    pub fn lost(&mut self, node: NodeId) {
        self.nodes.insert(node, VictimState::Lost);
    }

    /// `node` is a member again: whatever it was, it is not a victim any more. True when a
    /// worker was fencing it (to be cancelled).
    pub fn joined(&mut self, node: NodeId) -> bool {
        self.nodes.remove(&node) == Some(VictimState::Fencing)
    }

    /// `node` is fenced (a worker succeeded, another daemon says so, or an administrator
    /// acknowledged it). True when this is news: the policy must hear of it. A node that never
    /// left uncleanly here is not a victim, so nothing changes.
    pub fn fenced(&mut self, node: NodeId) -> bool {
        match self.nodes.get_mut(&node) {
            Some(s @ (VictimState::Lost | VictimState::Fencing)) => {
                *s = VictimState::Fenced;
                true
            }
            _ => false,
        }
    }

    /// A worker gave up without success (it was cancelled): the node is lost again, for
    /// whoever coordinates next.
    pub fn worker_ended(&mut self, node: NodeId) {
        if let Some(s @ VictimState::Fencing) = self.nodes.get_mut(&node) {
            *s = VictimState::Lost;
        }
    }

    /// The nodes to start fencing now: every lost node when this daemon coordinates a quorate
    /// partition, none otherwise (an inquorate partition fences nothing).
    pub fn due(&mut self, coordinating: bool) -> Vec<NodeId> {
        if !coordinating {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (n, s) in self.nodes.iter_mut() {
            if *s == VictimState::Lost {
                *s = VictimState::Fencing;
                out.push(*n);
            }
        }
        out
    }

    /// This daemon stopped coordinating: its workers stop, and the nodes they fenced are lost
    /// again (the next coordinator fences them). Returns the nodes whose workers to cancel.
    pub fn stand_down(&mut self) -> Vec<NodeId> {
        let mut out = Vec::new();
        for (n, s) in self.nodes.iter_mut() {
            if *s == VictimState::Fencing {
                *s = VictimState::Lost;
                out.push(*n);
            }
        }
        out
    }

    /// A member says `node` is lost. True when this is news here (this daemon started after
    /// the node failed): it is recorded as lost.
    pub fn heard_lost(&mut self, node: NodeId) -> bool {
        if self.nodes.contains_key(&node) {
            return false;
        }
        self.nodes.insert(node, VictimState::Lost);
        true
    }

    /// The nodes lost and not fenced yet (told to the other daemons).
    pub fn lost_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, s)| matches!(s, VictimState::Lost | VictimState::Fencing))
            .map(|(n, _)| *n)
            .collect()
    }

    /// The nodes known fenced (told to the other daemons).
    pub fn fenced_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, s)| **s == VictimState::Fenced)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// What the fencing side tells the daemon's loop.
pub enum FenceNews {
    /// A worker (of this generation) fenced this node.
    Fenced(NodeId, u64),
    /// A worker (of this generation) ended without fencing (cancelled).
    GaveUp(NodeId, u64),
    /// `fence_ack_manual NODE` on the admin socket: the answer goes to `reply`.
    Ack {
        node: String,
        reply: oneshot::Sender<Response>,
    },
}

/// The configuration the workers read: the daemon's, replaced by a newer valid version of its
/// file when one appears.
#[derive(Debug)]
pub struct ConfSource {
    path: PathBuf,
    conf: Mutex<Arc<ClusterConf>>,
    /// The last version found invalid, so that it is reported once.
    refused: Mutex<Option<u64>>,
}

impl ConfSource {
    pub fn new(path: &Path, conf: ClusterConf) -> ConfSource {
        ConfSource {
            path: path.to_path_buf(),
            conf: Mutex::new(Arc::new(conf)),
            refused: Mutex::new(None),
        }
    }

    fn cached(&self) -> Arc<ClusterConf> {
        match self.conf.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the configuration (config sync, live reload).
    pub fn set(&self, conf: ClusterConf) {
        match self.conf.lock() {
            Ok(mut c) => *c = Arc::new(conf),
            Err(p) => *p.into_inner() = Arc::new(conf),
        }
    }

    /// The configuration to fence with now: the file's when its version is newer than the one
    /// held and it loads and validates; the one held otherwise.
    pub fn current(&self) -> Arc<ClusterConf> {
        let held = self.cached();
        let have = held.config_version().unwrap_or(0);
        match ccs::load(&self.path) {
            Ok((conf, _)) => {
                let v = conf.config_version().unwrap_or(0);
                if v > have {
                    tracing::info!(
                        "fencing with configuration version {v} of {}",
                        self.path.display()
                    );
                    self.set(conf);
                    return self.cached();
                }
            }
            Err(_) => {
                let mut refused = match self.refused.lock() {
                    Ok(r) => r,
                    Err(p) => p.into_inner(),
                };
                // Only the version is worth remembering, and the error is not logged: it may
                // quote the file, passwords included. ccs_config_validate tells what is wrong.
                let v = std::fs::read_to_string(&self.path)
                    .ok()
                    .and_then(|t| version_in(&t));
                if *refused != v || v.is_none() {
                    *refused = v;
                    tracing::warn!(
                        "fencing keeps configuration version {have}: {} does not load or \
                         validate (see ccs_config_validate)",
                        self.path.display()
                    );
                }
            }
        }
        held
    }
}

/// `config_version="N"` of a file's text, without parsing the rest.
fn version_in(text: &str) -> Option<u64> {
    let i = text.find("config_version")?;
    let rest = text[i + "config_version".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    let rest = &rest[q.len_utf8()..];
    let end = rest.find(q)?;
    rest[..end].trim().parse().ok()
}

/// The workers: one thread per node being fenced.
pub struct Fencer {
    pub victims: Victims,
    source: Arc<ConfSource>,
    /// The running worker of each node: its generation and its cancel flag. A cancelled
    /// worker's late news must not be taken for its successor's.
    cancels: BTreeMap<NodeId, (u64, Arc<AtomicBool>)>,
    generation: u64,
    news: mpsc::UnboundedSender<FenceNews>,
}

impl Fencer {
    pub fn new(source: ConfSource, news: mpsc::UnboundedSender<FenceNews>) -> Fencer {
        Fencer {
            victims: Victims::default(),
            source: Arc::new(source),
            cancels: BTreeMap::new(),
            generation: 0,
            news,
        }
    }

    /// A sender for the admin socket's acknowledgements.
    pub fn news(&self) -> mpsc::UnboundedSender<FenceNews> {
        self.news.clone()
    }

    pub fn source(&self) -> &ConfSource {
        &self.source
    }

    /// Stops the worker fencing `node`, if any (between rounds: a device being run finishes).
    pub fn cancel(&mut self, node: NodeId) {
        if let Some((_, c)) = self.cancels.remove(&node) {
            c.store(true, Ordering::SeqCst);
        }
    }

    /// A worker of generation `generation` ended. True when it was the node's current worker
    /// (not one cancelled and replaced meanwhile).
    pub fn ended(&mut self, node: NodeId, generation: u64) -> bool {
        if self
            .cancels
            .get(&node)
            .is_some_and(|(g, _)| *g == generation)
        {
            self.cancels.remove(&node);
            return true;
        }
        false
    }

    /// Starts a worker fencing `node` (named `victim` in cluster.conf).
    pub fn spawn(&mut self, node: NodeId, victim: String) {
        self.cancel(node);
        let cancel = Arc::new(AtomicBool::new(false));
        self.generation += 1;
        let generation = self.generation;
        self.cancels.insert(node, (generation, cancel.clone()));
        let source = self.source.clone();
        let news = self.news.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("fence-{victim}"))
            .spawn(move || {
                let fenced = fence_until_done(&source, &victim, &cancel);
                let msg = if fenced {
                    FenceNews::Fenced(node, generation)
                } else {
                    FenceNews::GaveUp(node, generation)
                };
                let _ = news.send(msg);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start fencing node {node}: {e}");
            let _ = self.news.send(FenceNews::GaveUp(node, generation));
        }
    }
}

/// Sleeps `d` in short steps; false when cancelled meanwhile.
fn pause(d: Duration, cancel: &AtomicBool) -> bool {
    let step = Duration::from_millis(100);
    let mut left = d;
    while !left.is_zero() {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    !cancel.load(Ordering::SeqCst)
}

/// The second half of the reboots a fencing split (see `fence::node::split_reboots`): the
/// devices that powered `victim` off power it on again, from a thread of their own, so that
/// the node comes back as a `reboot` would have brought it, while its services already move.
/// A failure leaves the node off, which is safe; it is logged for the administrator. The
/// device's `power_wait`, taken out of the off, is the pause before the first on.
fn power_on_again(victim: &str, on: fence::node::PowerOn) {
    if on.calls.is_empty() {
        return;
    }
    let name = format!("power-on-{victim}");
    let victim = victim.to_string();
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        std::thread::sleep(on.pause);
        let mut runner = AgentRunner::default();
        for call in &on.calls {
            match fence::node::DeviceRunner::run(&mut runner, call) {
                Ok(()) => tracing::info!(
                    "fence {victim} dev {}.{}: powered on again (the reboot's second half)",
                    call.method,
                    call.device
                ),
                Err((result, why)) => tracing::warn!(
                    "fence {victim} dev {}.{}: power on failed ({}: {why}); the node stays off",
                    call.method,
                    call.device,
                    result.as_str()
                ),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot power the node on again: {e}; it stays off");
    }
}

/// fenced's victim loop for one node: `post_fail_delay`, then rounds over the node's methods
/// until one succeeds or the worker is cancelled. True when the node is fenced.
fn fence_until_done(source: &ConfSource, victim: &str, cancel: &AtomicBool) -> bool {
    let delay = source.current().post_fail_delay();
    if delay < 0 {
        // fenced's -1: wait for ever, i.e. only an administrator's acknowledgement helps.
        tracing::warn!(
            "post_fail_delay -1: not fencing node {victim}; waiting for fence_ack_manual {victim}"
        );
        while pause(Duration::from_secs(1), cancel) {}
        return false;
    }
    if delay > 0 {
        tracing::info!("Delaying fencing of node {victim} by post_fail_delay {delay} s");
        if !pause(Duration::from_secs(delay as u64), cancel) {
            return false;
        }
    }
    let mut round: u32 = 0;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        round += 1;
        let conf = source.current();
        let mut runner = AgentRunner::default();
        match fence::node::plan(&conf, victim) {
            Ok(plan) => {
                // Off first: the node is safe once its method's devices confirm it off, and
                // its services may move then; the reboot's power-on follows in the background.
                let (plan, ons) = fence::node::split_reboots(&plan);
                let report = fence::node::execute(
                    &plan,
                    &RetryPolicy::once(),
                    &mut runner,
                    &mut RealClock,
                    &mut |_| {},
                );
                if let fence::node::Verdict::Success { method } = report.verdict {
                    let on = ons.get(method).cloned().unwrap_or_default();
                    power_on_again(victim, on);
                    return true;
                }
            }
            Err(e) => tracing::error!("fence {victim}: {e}"),
        }
        if round == QUIET_AFTER || (round > QUIET_AFTER && round.is_multiple_of(REMIND_EVERY)) {
            tracing::error!("fencing node {victim} still retrying");
        }
        if !pause(RETRY_PAUSE, cancel) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_waits_post_join_delay_then_fences_the_absent_until_they_are_fenced() {
        let t0 = std::time::Instant::now();
        let mut v = Victims::default();
        let mut st = Startup::new([2, 3].into_iter().collect(), 6, t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(st.step(at(1), &[1], &v), StartupStep::Wait);
        // node2 joins within the delay: it is no longer waited for.
        assert_eq!(st.step(at(2), &[1, 2], &v), StartupStep::Wait);
        assert_eq!(st.pending(), vec![3]);
        // Past the delay: node3 is to be fenced, once.
        assert_eq!(st.step(at(6), &[1, 2], &v), StartupStep::Fence(vec![3]));
        v.lost(3);
        assert_eq!(st.step(at(7), &[1, 2], &v), StartupStep::Wait);
        assert_eq!(v.due(true), vec![3]);
        assert_eq!(
            st.step(at(8), &[1, 2], &v),
            StartupStep::Wait,
            "not fenced yet"
        );
        assert!(v.fenced(3));
        assert_eq!(st.step(at(9), &[1, 2], &v), StartupStep::Open);
    }

    #[test]
    fn startup_opens_when_the_absent_join_and_waits_for_ever_with_a_negative_delay() {
        let t0 = std::time::Instant::now();
        let v = Victims::default();
        let mut st = Startup::new([2].into_iter().collect(), -1, t0);
        let late = t0 + Duration::from_secs(3600);
        assert_eq!(st.step(late, &[1], &v), StartupStep::Wait);
        assert_eq!(st.step(late, &[1, 2], &v), StartupStep::Open);
        let mut st = Startup::new([2].into_iter().collect(), 0, t0);
        assert_eq!(st.step(t0, &[1], &v), StartupStep::Fence(vec![2]));
    }

    #[test]
    fn only_the_coordinator_fences_and_only_lost_nodes() {
        let mut v = Victims::default();
        v.lost(3);
        assert!(
            v.due(false).is_empty(),
            "an inquorate partition fences nothing"
        );
        assert_eq!(v.due(true), vec![3]);
        assert!(v.due(true).is_empty(), "one worker per node");
        assert_eq!(v.state(3), Some(VictimState::Fencing));
        assert!(v.fenced(3));
        assert!(!v.fenced(3), "news once");
        assert_eq!(v.fenced_nodes(), vec![3]);
        assert!(v.due(true).is_empty());
    }

    #[test]
    fn a_node_never_lost_here_is_not_fenced_by_hearsay() {
        let mut v = Victims::default();
        assert!(!v.fenced(2));
        assert!(v.fenced_nodes().is_empty());
    }

    #[test]
    fn a_new_coordinator_fences_what_the_old_one_did_not_finish() {
        let mut v = Victims::default();
        v.lost(1);
        v.lost(4);
        assert_eq!(v.due(true), vec![1, 4]);
        assert!(v.fenced(4));
        // Coordination moves elsewhere: node 1 is lost again, node 4 stays fenced.
        assert_eq!(v.stand_down(), vec![1]);
        assert_eq!(v.state(1), Some(VictimState::Lost));
        assert_eq!(v.state(4), Some(VictimState::Fenced));
        // And back: only node 1 is fenced again.
        assert_eq!(v.due(true), vec![1]);
        v.worker_ended(1);
        assert_eq!(v.state(1), Some(VictimState::Lost));
    }

    #[test]
    fn a_rejoin_clears_everything() {
        let mut v = Victims::default();
        v.lost(2);
        v.due(true);
        assert!(v.joined(2), "its worker is to be cancelled");
        assert_eq!(v.state(2), None);
        v.lost(3);
        v.fenced(3);
        assert!(!v.joined(3));
        assert!(v.fenced_nodes().is_empty());
        assert!(!v.fenced(3), "a member again: not a victim");
    }

    #[test]
    fn a_late_daemon_learns_the_lost_nodes_from_the_others() {
        let mut v = Victims::default();
        assert!(v.heard_lost(3));
        assert!(!v.heard_lost(3));
        assert_eq!(v.lost_nodes(), vec![3]);
        assert_eq!(v.due(true), vec![3]);
        assert_eq!(v.lost_nodes(), vec![3], "being fenced is still lost");
        v.fenced(3);
        assert!(v.lost_nodes().is_empty());
        assert!(!v.heard_lost(3), "hearsay does not undo a fence");
    }

    const CONF: &str = r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/>
        <clusternode name="n3" nodeid="3"/></clusternodes>
      <rm><failoverdomains>
        <failoverdomain name="d1" ordered="1"><failoverdomainnode name="n1" priority="1"/>
          <failoverdomainnode name="n2" priority="2"/></failoverdomain>
      </failoverdomains>
      <service name="a" domain="d1"/></rm></cluster>"#;

    fn running_cluster() -> crate::daemon::coord::Coordinator {
        use crate::policy::{ClusterView, Event};
        let view = ClusterView::from_conf(&ccs::parse_str(CONF).unwrap());
        let mut c = crate::daemon::coord::Coordinator::new(view);
        let mut orders = Vec::new();
        for n in [1, 2, 3] {
            orders.extend(c.handle(&Event::NodeJoined(n)));
        }
        orders.extend(c.handle(&Event::QuorumRegained));
        for o in orders {
            c.done(o.node, o.id, true);
        }
        c
    }

    #[test]
    fn a_lost_owners_service_moves_only_once_it_is_fenced() {
        use crate::daemon::wire::Op;
        use crate::policy::{Event, State};
        let mut c = running_cluster();
        let a = c.view.service("a").unwrap();
        assert_eq!((a.owner, a.state), (Some(1), State::Started));
        let lost = Event::NodeLeft {
            node: 1,
            clean: false,
        };
        assert!(c.handle(&lost).is_empty());
        assert!(
            c.handle(&Event::Evaluate).is_empty(),
            "nothing before fencing"
        );
        assert_eq!(c.view.service("a").unwrap().owner, Some(1));
        let orders = c.handle(&Event::NodeFenced(1));
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!((orders[0].node, orders[0].op), (2, Op::Start));
    }

    #[test]
    fn a_new_coordinator_takes_over_from_a_fenced_owner() {
        use crate::policy::{ClusterView, Event, State};
        let old = running_cluster();
        let view = ClusterView::from_conf(&ccs::parse_str(CONF).unwrap());
        let mut new = crate::daemon::coord::Coordinator::new(view);
        for n in [1, 2, 3] {
            new.observe(&Event::NodeJoined(n));
        }
        new.observe(&Event::QuorumRegained);
        new.adopt(&old.records());
        new.observe(&Event::NodeLeft {
            node: 1,
            clean: false,
        });
        new.observe(&Event::NodeFenced(1));
        let reports = BTreeMap::from([(2, Default::default()), (3, Default::default())]);
        let orders = new.rebuild(&reports);
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!(orders[0].node, 2);
        let a = new.view.service("a").unwrap();
        assert_eq!((a.owner, a.state), (Some(2), State::Starting));
        assert_eq!(a.last_owner, Some(1));
    }

    #[test]
    fn config_version_is_read_without_parsing() {
        assert_eq!(
            version_in(r#"<cluster name="a" config_version = '12'>"#),
            Some(12)
        );
        assert_eq!(version_in("<cluster/>"), None);
    }

    #[test]
    fn a_newer_valid_file_replaces_the_configuration_an_invalid_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.conf");
        let conf = |v: u32, pw: &str| {
            format!(
                r#"<cluster name="c" config_version="{v}"><clusternodes>
                <clusternode name="n1" nodeid="1"/></clusternodes>
                <fencedevices><fencedevice name="f" agent="fence_ipmilan" ipaddr="127.0.0.1" login="a" passwd="{pw}"/></fencedevices></cluster>"#
            )
        };
        std::fs::write(&path, conf(1, "old")).unwrap();
        let (c, _) = ccs::load(&path).unwrap();
        let src = ConfSource::new(&path, c);
        assert_eq!(src.current().config_version(), Some(1));
        std::fs::write(&path, conf(2, "new")).unwrap();
        assert_eq!(src.current().config_version(), Some(2));
        std::fs::write(&path, "<cluster name=\"c\" config_version=\"3\"><nonsense").unwrap();
        assert_eq!(src.current().config_version(), Some(2));
        // An older file does not replace a newer configuration.
        std::fs::write(&path, conf(1, "old")).unwrap();
        assert_eq!(src.current().config_version(), Some(2));
    }
}
