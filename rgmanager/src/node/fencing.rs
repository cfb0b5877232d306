//! Fencing decisions, sans-I/O: which lost members must be fenced, by whom, and fenced's
//! startup fencing. The workers that run the agents are the daemon's
//! (`rgmanager::daemon::fencing`); the node core tells them to start and stop
//! ([`super::FenceCmd`]) and hears their results.
//!
//! A member that leaves the view without a goodbye may still be running its services (it may
//! only have lost its network), so nothing of it moves until it is powered off. The
//! coordinator of a quorate partition fences it; only then does the core feed
//! [`Event::NodeFenced`](crate::policy::Event::NodeFenced) to the policy, which takes the
//! services over. An administrator may confirm a node down by hand (`fence_ack_manual`), which
//! counts as fenced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::policy::NodeId;

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
    fence_at: Option<Instant>,
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
        now: Instant,
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

    /// When the absent nodes are to be fenced (a timer for the owner), if that is still to come.
    pub fn deadline(&self) -> Option<Instant> {
        if self.fencing {
            return None;
        }
        self.fence_at
    }

    /// The nodes still holding the services back.
    pub fn pending(&self) -> Vec<NodeId> {
        self.pending.iter().copied().collect()
    }

    /// Decides at `now`, given the view's members and the fencing states.
    pub fn step(&mut self, now: Instant, members: &[NodeId], victims: &Victims) -> StartupStep {
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

/// The fencing states of the nodes that left uncleanly (sans-I/O), each with the epoch of its
/// failure: the incarnation of the node's run that failed (0 for a node never seen). A fact
/// about one failure (it was fenced) never settles another: a node fenced, rebooted and failed
/// again is a new victim, whatever late news of the first fencing says.
#[derive(Debug, Default, Clone)]
pub struct Victims {
    nodes: BTreeMap<NodeId, (VictimState, u64)>,
}

impl Victims {
    pub fn state(&self, node: NodeId) -> Option<VictimState> {
        self.nodes.get(&node).map(|(s, _)| *s)
    }

    /// The epoch of the node's failure, while it is a victim.
    pub fn epoch(&self, node: NodeId) -> Option<u64> {
        self.nodes.get(&node).map(|(_, e)| *e)
    }

    /// `node` left the view without a goodbye: its run of incarnation `epoch` failed.
    pub fn lost(&mut self, node: NodeId, epoch: u64) {
        match self.nodes.get(&node) {
            Some((VictimState::Fenced, e)) if *e == epoch => {}
            _ => {
                self.nodes.insert(node, (VictimState::Lost, epoch));
            }
        }
    }

    /// `node` is a member again: whatever it was, it is not a victim any more. True when a
    /// run was fencing it (to be cancelled).
    pub fn joined(&mut self, node: NodeId) -> bool {
        self.nodes.remove(&node).map(|(s, _)| s) == Some(VictimState::Fencing)
    }

    /// `node` is fenced after its failure of `epoch` (a run succeeded, another daemon says so,
    /// or an administrator acknowledged it). True when this is news: the policy must hear of
    /// it. News of another failure, or of a node that never failed here, changes nothing.
    pub fn fenced(&mut self, node: NodeId, epoch: u64) -> bool {
        match self.nodes.get_mut(&node) {
            Some((s @ (VictimState::Lost | VictimState::Fencing), e)) if *e == epoch => {
                *s = VictimState::Fenced;
                true
            }
            _ => false,
        }
    }

    /// A run ended without success (it was cancelled): the node is lost again, for whoever
    /// coordinates next.
    pub fn worker_ended(&mut self, node: NodeId) {
        if let Some((s @ VictimState::Fencing, _)) = self.nodes.get_mut(&node) {
            *s = VictimState::Lost;
        }
    }

    /// The nodes to start fencing now, with their epochs: every lost node when this node
    /// coordinates a quorate partition, none otherwise (an inquorate partition fences nothing).
    pub fn due(&mut self, coordinating: bool) -> Vec<(NodeId, u64)> {
        if !coordinating {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (n, (s, e)) in self.nodes.iter_mut() {
            if *s == VictimState::Lost {
                *s = VictimState::Fencing;
                out.push((*n, *e));
            }
        }
        out
    }

    /// This node stopped coordinating: its runs stop, and the nodes they fenced are lost
    /// again (the next coordinator fences them). Returns the nodes whose runs to cancel.
    pub fn stand_down(&mut self) -> Vec<NodeId> {
        let mut out = Vec::new();
        for (n, (s, _)) in self.nodes.iter_mut() {
            if *s == VictimState::Fencing {
                *s = VictimState::Lost;
                out.push(*n);
            }
        }
        out
    }

    /// A member says `node` is lost after its failure of `epoch`. True when this is news here
    /// (this node did not see that failure): it is recorded as lost. A newer failure replaces
    /// what is known of an older one.
    pub fn heard_lost(&mut self, node: NodeId, epoch: u64) -> bool {
        match self.nodes.get(&node) {
            Some((_, e)) if *e >= epoch => false,
            _ => {
                self.nodes.insert(node, (VictimState::Lost, epoch));
                true
            }
        }
    }

    /// The nodes lost and not fenced yet, with their epochs (told to the other daemons).
    pub fn lost_nodes(&self) -> Vec<(NodeId, u64)> {
        self.nodes
            .iter()
            .filter(|(_, (s, _))| matches!(s, VictimState::Lost | VictimState::Fencing))
            .map(|(n, (_, e))| (*n, *e))
            .collect()
    }

    /// The nodes known fenced, with their epochs (told to the other daemons).
    pub fn fenced_nodes(&self) -> Vec<(NodeId, u64)> {
        self.nodes
            .iter()
            .filter(|(_, (s, _))| *s == VictimState::Fenced)
            .map(|(n, (_, e))| (*n, *e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_waits_post_join_delay_then_fences_the_absent_until_they_are_fenced() {
        let t0 = Instant::now();
        let mut v = Victims::default();
        let mut st = Startup::new([2, 3].into_iter().collect(), 6, t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(st.step(at(1), &[1], &v), StartupStep::Wait);
        // node2 joins within the delay: it is no longer waited for.
        assert_eq!(st.step(at(2), &[1, 2], &v), StartupStep::Wait);
        assert_eq!(st.pending(), vec![3]);
        // Past the delay: node3 is to be fenced, once.
        assert_eq!(st.step(at(6), &[1, 2], &v), StartupStep::Fence(vec![3]));
        v.lost(3, 0);
        assert_eq!(st.step(at(7), &[1, 2], &v), StartupStep::Wait);
        assert_eq!(v.due(true), vec![(3, 0)]);
        assert_eq!(
            st.step(at(8), &[1, 2], &v),
            StartupStep::Wait,
            "not fenced yet"
        );
        assert!(v.fenced(3, 0));
        assert_eq!(st.step(at(9), &[1, 2], &v), StartupStep::Open);
    }

    #[test]
    fn startup_opens_when_the_absent_join_and_waits_for_ever_with_a_negative_delay() {
        let t0 = Instant::now();
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
        v.lost(3, 30);
        assert!(
            v.due(false).is_empty(),
            "an inquorate partition fences nothing"
        );
        assert_eq!(v.due(true), vec![(3, 30)]);
        assert!(v.due(true).is_empty(), "one run per node");
        assert_eq!(v.state(3), Some(VictimState::Fencing));
        assert!(v.fenced(3, 30));
        assert!(!v.fenced(3, 30), "news once");
        assert_eq!(v.fenced_nodes(), vec![(3, 30)]);
        assert!(v.due(true).is_empty());
    }

    #[test]
    fn a_node_never_lost_here_is_not_fenced_by_hearsay() {
        let mut v = Victims::default();
        assert!(!v.fenced(2, 1));
        assert!(v.fenced_nodes().is_empty());
    }

    #[test]
    fn news_of_one_failure_never_settles_another() {
        let mut v = Victims::default();
        // Failure 1 of node 4 (its run 40), fenced; it reboots and rejoins.
        v.lost(4, 40);
        assert!(v.fenced(4, 40));
        v.joined(4);
        // Failure 2 (run 41): late news that it was fenced after failure 1 changes nothing.
        v.lost(4, 41);
        assert!(!v.fenced(4, 40));
        assert_eq!(v.state(4), Some(VictimState::Lost));
        assert!(!v.heard_lost(4, 40), "old news of a loss is old too");
        assert_eq!(v.epoch(4), Some(41));
        assert!(v.fenced(4, 41));
        // A member that heard only of the first failure learns the second.
        let mut w = Victims::default();
        w.lost(4, 40);
        assert!(w.fenced(4, 40));
        assert!(w.heard_lost(4, 41));
        assert_eq!(w.state(4), Some(VictimState::Lost));
    }

    #[test]
    fn a_new_coordinator_fences_what_the_old_one_did_not_finish() {
        let mut v = Victims::default();
        v.lost(1, 10);
        v.lost(4, 40);
        assert_eq!(v.due(true), vec![(1, 10), (4, 40)]);
        assert!(v.fenced(4, 40));
        // Coordination moves elsewhere: node 1 is lost again, node 4 stays fenced.
        assert_eq!(v.stand_down(), vec![1]);
        assert_eq!(v.state(1), Some(VictimState::Lost));
        assert_eq!(v.state(4), Some(VictimState::Fenced));
        // And back: only node 1 is fenced again.
        assert_eq!(v.due(true), vec![(1, 10)]);
        v.worker_ended(1);
        assert_eq!(v.state(1), Some(VictimState::Lost));
    }

    #[test]
    fn a_rejoin_clears_everything() {
        let mut v = Victims::default();
        v.lost(2, 20);
        v.due(true);
        assert!(v.joined(2), "its run is to be cancelled");
        assert_eq!(v.state(2), None);
        v.lost(3, 30);
        v.fenced(3, 30);
        assert!(!v.joined(3));
        assert!(v.fenced_nodes().is_empty());
        assert!(!v.fenced(3, 30), "a member again: not a victim");
    }

    #[test]
    fn a_late_daemon_learns_the_lost_nodes_from_the_others() {
        let mut v = Victims::default();
        assert!(v.heard_lost(3, 30));
        assert!(!v.heard_lost(3, 30));
        assert_eq!(v.lost_nodes(), vec![(3, 30)]);
        assert_eq!(v.due(true), vec![(3, 30)]);
        assert_eq!(v.lost_nodes(), vec![(3, 30)], "being fenced is still lost");
        v.fenced(3, 30);
        assert!(v.lost_nodes().is_empty());
        assert!(!v.heard_lost(3, 30), "hearsay does not undo a fence");
    }

    const CONF: &str = r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/>
        <clusternode name="n3" nodeid="3"/></clusternodes>
      <rm><failoverdomains>
        <failoverdomain name="d1" ordered="1"><failoverdomainnode name="n1" priority="1"/>
          <failoverdomainnode name="n2" priority="2"/></failoverdomain>
      </failoverdomains>
      <service name="a" domain="d1"/></rm></cluster>"#;

    fn running_cluster() -> crate::node::coord::Coordinator {
        use crate::policy::{ClusterView, Event};
        let view = ClusterView::from_conf(&ccs::parse_str(CONF).unwrap());
        let mut c = crate::node::coord::Coordinator::new(view);
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
        use crate::node::wire::Op;
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
        let mut new = crate::node::coord::Coordinator::new(view);
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
}
