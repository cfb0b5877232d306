//! Quorum: cman's vote arithmetic as pure functions, and the small tracker that decides when a
//! node says `Quorum regained` / `Quorum lost`.
//!
//! It exists apart from membership because quorum is a question about votes in cluster.conf, not
//! about heartbeats: the membership core says who is in the view, this module says whether that
//! view may act. The arithmetic follows cman's `calculate_quorum` (RHCS 3.1.8
//! `cman/daemon/commands.c`), which took it from the OpenVMS cluster manual:
//!
//! * every node has `votes` (default 1);
//! * `expected_votes` is `<cman expected_votes>`, else the sum of all configured nodes' votes;
//! * quorum = max(expected/2 + 1, total/2 + 1), where total is the votes of the current members:
//!   so members whose votes exceed `expected_votes` raise the quorum with them;
//! * quorum never decreases while the node runs (cman's `allow_decrease` was only set by an
//!   administrator's `cman_tool expected`): [`QuorumTracker`] keeps that ratchet;
//! * with `two_node="1"` and at most two members, the quorum is 1, so each of the two nodes is
//!   quorate alone (fencing decides which one survives a split);
//! * quorate when the members' votes reach the quorum.

use ccs::model::ClusterConf;

/// What quorum needs from cluster.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `(node id, votes)` of every configured node.
    pub votes: Vec<(u32, u32)>,
    /// `<cman expected_votes>` or the sum of the nodes' votes.
    pub expected_votes: u32,
    /// `<cman two_node="1">`.
    pub two_node: bool,
}

impl QuorumConfig {
    /// Reads votes, expected votes and two-node mode from a configuration. Nodes without a node
    /// id cannot be members (membership addresses nodes by id) and are left out of the votes,
    /// but still count in the default expected votes, as cman counted every configured node.
    pub fn from_conf(conf: &ClusterConf) -> Self {
        QuorumConfig {
            votes: conf
                .nodes()
                .iter()
                .filter_map(|n| n.nodeid().map(|id| (id, n.votes())))
                .collect(),
            expected_votes: conf.expected_votes(),
            two_node: conf.two_node(),
        }
    }

    /// The votes of node `id` (0 for a node that is not configured).
    pub fn votes_of(&self, id: u32) -> u32 {
        self.votes
            .iter()
            .find(|(n, _)| *n == id)
            .map_or(0, |(_, v)| *v)
    }

    /// The sum of the votes of `members` (each id counted once).
    pub fn total_votes(&self, members: &[u32]) -> u32 {
        let mut seen: Vec<u32> = members.to_vec();
        seen.sort_unstable();
        seen.dedup();
        seen.iter()
            .fold(0u32, |t, id| t.saturating_add(self.votes_of(*id)))
    }
}

/// The quorum (votes needed) for a view of `members`, without cman's never-decrease ratchet.
pub fn quorum(cfg: &QuorumConfig, members: &[u32]) -> u32 {
    let total = cfg.total_votes(members);
    let q = (cfg.expected_votes / 2 + 1).max(total / 2 + 1);
    if cfg.two_node && member_count(members) <= 2 {
        1
    } else {
        q
    }
}

fn member_count(members: &[u32]) -> usize {
    let mut m = members.to_vec();
    m.sort_unstable();
    m.dedup();
    m.len()
}

/// Whether a view of `members` is quorate (stateless: no ratchet).
pub fn is_quorate(cfg: &QuorumConfig, members: &[u32]) -> bool {
    cfg.total_votes(members) >= quorum(cfg, members)
}

/// A change of quorum, logged by the daemon in cman's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuorumChange {
    Regained,
    Lost,
}

impl QuorumChange {
    /// The log line.
    pub fn message(self) -> &'static str {
        match self {
            QuorumChange::Regained => "Quorum regained",
            QuorumChange::Lost => "Quorum lost",
        }
    }
}

/// Compares quorum before and after a view change.
pub fn quorum_change(was_quorate: bool, is_quorate: bool) -> Option<QuorumChange> {
    match (was_quorate, is_quorate) {
        (false, true) => Some(QuorumChange::Regained),
        (true, false) => Some(QuorumChange::Lost),
        _ => None,
    }
}

/// A node's quorum state across views: cman's ratchet (the quorum never goes down while the
/// node runs) and the regained/lost transitions. A node starts inquorate, as cman did.
#[derive(Clone, Debug)]
pub struct QuorumTracker {
    cfg: QuorumConfig,
    quorum: u32,
    quorate: bool,
    total: u32,
    /// With corosync: votequorum's verdict, required beside the count of the view's votes
    /// (`None`: not heard yet, which is not quorate). `None` of the outer option: the
    /// embedded engine, the count alone decides.
    engine: Option<Option<bool>>,
}

impl QuorumTracker {
    pub fn new(cfg: QuorumConfig) -> Self {
        QuorumTracker {
            cfg,
            quorum: 0,
            quorate: false,
            total: 0,
            engine: None,
        }
    }

    /// Corosync's votequorum said `quorate` (`None`: corosync runs, nothing heard yet).
    /// Returns the change, if any.
    pub fn set_engine(&mut self, quorate: Option<bool>) -> Option<QuorumChange> {
        self.engine = Some(quorate);
        let was = self.quorate;
        self.quorate = self.counted() && self.engine_allows();
        quorum_change(was, self.quorate)
    }

    fn counted(&self) -> bool {
        self.quorum > 0 && self.total >= self.quorum
    }

    fn engine_allows(&self) -> bool {
        self.engine.is_none_or(|e| e == Some(true))
    }

    /// Takes a new view; returns the change to log, if any.
    pub fn update(&mut self, members: &[u32]) -> Option<QuorumChange> {
        let q = quorum(&self.cfg, members);
        // Two-node mode deliberately drops the quorum to 1; everything else only ratchets up.
        self.quorum = if self.cfg.two_node && member_count(members) <= 2 {
            q
        } else {
            q.max(self.quorum)
        };
        self.total = self.cfg.total_votes(members);
        let was = self.quorate;
        self.quorate = self.total >= self.quorum && self.engine_allows();
        quorum_change(was, self.quorate)
    }

    /// Takes a new configuration (a reload may change votes); the ratchet restarts from it, as
    /// cman recalculated from the new expected votes on reload. Returns the change, if any.
    pub fn reconfigure(&mut self, cfg: QuorumConfig, members: &[u32]) -> Option<QuorumChange> {
        self.cfg = cfg;
        self.quorum = 0;
        self.update(members)
    }

    pub fn is_quorate(&self) -> bool {
        self.quorate
    }

    /// Votes needed.
    pub fn quorum(&self) -> u32 {
        self.quorum
    }

    /// Votes of the current members.
    pub fn total_votes(&self) -> u32 {
        self.total
    }

    pub fn config(&self) -> &QuorumConfig {
        &self.cfg
    }
}

/// The cluster id `clustat` shows (`-x`: `<cluster id=…>`): `<cman cluster_id>`, else the
/// number cman derived from the cluster name (each byte added to twice the running value, kept
/// to 16 bits), so that a cluster keeps the id it had under RHCS.
pub fn cluster_id(conf: &ClusterConf) -> u16 {
    conf.cman
        .as_ref()
        .and_then(|c| c.attrs.get("cluster_id"))
        .and_then(|v| v.trim().parse::<u16>().ok())
        .unwrap_or_else(|| name_cluster_id(conf.name()))
}

/// cman's `generate_cluster_id`: over the name's bytes (C `char`, signed), `v = 2v + byte` in
/// an `int`, then the low 16 bits.
pub fn name_cluster_id(name: &str) -> u16 {
    let v = name.bytes().fold(0i32, |v, b| {
        v.wrapping_shl(1).wrapping_add(i32::from(b as i8))
    });
    (v & 0xFFFF) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_cmans_hash_of_the_name_unless_configured() {
        assert_eq!(name_cluster_id("web_ha"), 6893);
        assert_eq!(name_cluster_id("alpha"), 3169);
        // Past 32 bits the C int wraps; the low 16 bits are what is left.
        assert_eq!(name_cluster_id("a_rather_long_cluster_name_x"), 35778);
        let conf = |cman: &str| {
            ccs::parse_str(&format!(
                "<cluster name=\"web_ha\" config_version=\"1\">{cman}</cluster>"
            ))
            .unwrap()
        };
        assert_eq!(cluster_id(&conf("")), 6893);
        assert_eq!(cluster_id(&conf("<cman cluster_id=\"42\"/>")), 42);
    }

    fn cfg(nodes: u32, expected: Option<u32>, two_node: bool) -> QuorumConfig {
        let votes: Vec<(u32, u32)> = (1..=nodes).map(|i| (i, 1)).collect();
        QuorumConfig {
            expected_votes: expected.unwrap_or(nodes),
            votes,
            two_node,
        }
    }

    #[test]
    fn majority_of_expected_votes() {
        let c = cfg(3, None, false);
        assert_eq!(quorum(&c, &[1, 2, 3]), 2);
        assert!(is_quorate(&c, &[1, 2, 3]));
        assert!(is_quorate(&c, &[1, 3]));
        assert!(!is_quorate(&c, &[2]));
        let c = cfg(5, None, false);
        assert_eq!(quorum(&c, &[1]), 3);
        assert!(is_quorate(&c, &[1, 2, 3]));
        assert!(!is_quorate(&c, &[4, 5]));
        // An even split of four is not quorate on either side.
        let c = cfg(4, None, false);
        assert!(!is_quorate(&c, &[1, 2]));
        assert!(!is_quorate(&c, &[3, 4]));
        assert!(is_quorate(&c, &[1, 2, 3]));
    }

    #[test]
    fn votes_per_node_count() {
        // The tutorial's weighted example: one node with 3 votes out of 5.
        let c = QuorumConfig {
            votes: vec![(1, 3), (2, 1), (3, 1)],
            expected_votes: 5,
            two_node: false,
        };
        assert_eq!(quorum(&c, &[1]), 3);
        assert!(is_quorate(&c, &[1]));
        assert!(!is_quorate(&c, &[2, 3]));
        // A node outside the configuration brings no votes; ids are counted once.
        assert_eq!(c.total_votes(&[2, 2, 9]), 1);
    }

    #[test]
    fn members_votes_raise_a_low_expected_votes() {
        // expected_votes="1" on a 3-node cluster: the members' own votes set the quorum.
        let c = cfg(3, Some(1), false);
        assert_eq!(quorum(&c, &[1]), 1);
        assert_eq!(quorum(&c, &[1, 2, 3]), 2);
        assert!(is_quorate(&c, &[1, 2, 3]));
    }

    #[test]
    fn two_node_mode() {
        // two_node="1" expected_votes="1": quorate with one vote.
        let c = cfg(2, Some(1), true);
        assert_eq!(quorum(&c, &[1]), 1);
        assert!(is_quorate(&c, &[1]));
        assert!(is_quorate(&c, &[2]));
        assert!(is_quorate(&c, &[1, 2]));
        // Without two_node the same pair needs both nodes.
        let c = cfg(2, None, false);
        assert!(!is_quorate(&c, &[1]));
        assert!(is_quorate(&c, &[1, 2]));
        // two_node only applies with at most two members.
        let c = cfg(3, Some(1), true);
        assert!(is_quorate(&c, &[1]));
        assert_eq!(quorum(&c, &[1, 2, 3]), 2);
    }

    #[test]
    fn from_cluster_conf() {
        let xml = r#"<cluster name="c" config_version="1">
            <cman two_node="1" expected_votes="1"/>
            <clusternodes>
              <clusternode name="a" nodeid="1"/>
              <clusternode name="b" nodeid="2" votes="2"/>
            </clusternodes></cluster>"#;
        let conf = ccs::parse_str(xml).unwrap();
        let c = QuorumConfig::from_conf(&conf);
        assert_eq!(c.votes, vec![(1, 1), (2, 2)]);
        assert_eq!(c.expected_votes, 1);
        assert!(c.two_node);
        let xml = r#"<cluster name="c" config_version="1"><clusternodes>
              <clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/>
              <clusternode name="c" nodeid="3" votes="3"/></clusternodes></cluster>"#;
        let c = QuorumConfig::from_conf(&ccs::parse_str(xml).unwrap());
        assert_eq!(c.expected_votes, 5);
        assert!(!c.two_node);
    }

    #[test]
    fn the_tutorial_two_node_cluster() {
        // seed 004 (RHCS tutorial): node1 reboots, node2 keeps quorum alone and takes over.
        let xml = r#"<?xml version="1.0"?>
<cluster config_version="6" name="web_ha">
<clusternodes>
<clusternode name="node1.cluster.com" nodeid="1"/>
<clusternode name="node2.cluster.com" nodeid="2"/>
</clusternodes>
<cman expected_votes="1" two_node="1"/>
</cluster>"#;
        let c = QuorumConfig::from_conf(&ccs::parse_str(xml).unwrap());
        let mut t = QuorumTracker::new(c);
        assert_eq!(t.update(&[1, 2]), Some(QuorumChange::Regained));
        assert_eq!(t.update(&[2]), None);
        assert!(t.is_quorate());
        assert_eq!(t.update(&[1, 2]), None);
    }

    #[test]
    fn tracker_logs_transitions_and_ratchets() {
        let mut t = QuorumTracker::new(cfg(3, Some(1), false));
        assert!(!t.is_quorate());
        assert_eq!(t.update(&[1]), Some(QuorumChange::Regained));
        assert_eq!(t.update(&[1, 2, 3]), None);
        assert_eq!(t.quorum(), 2);
        // Having seen three votes, cman keeps quorum at 2: a lone node is no longer quorate.
        assert_eq!(t.update(&[1]), Some(QuorumChange::Lost));
        assert_eq!(t.update(&[1]), None);
        assert_eq!(t.update(&[1, 3]), Some(QuorumChange::Regained));
        assert_eq!(QuorumChange::Regained.message(), "Quorum regained");
        assert_eq!(QuorumChange::Lost.message(), "Quorum lost");
        // A reload starts the ratchet again from the new configuration.
        assert_eq!(t.reconfigure(cfg(3, Some(1), false), &[1]), None);
        assert_eq!(t.quorum(), 1);
    }

    #[test]
    fn tracker_two_node_survives_the_peer() {
        let mut t = QuorumTracker::new(cfg(2, Some(1), true));
        assert_eq!(t.update(&[1, 2]), Some(QuorumChange::Regained));
        assert_eq!(t.update(&[1]), None);
        assert!(t.is_quorate());
        assert_eq!(t.total_votes(), 1);
    }

    #[test]
    fn change_helper() {
        assert_eq!(quorum_change(false, true), Some(QuorumChange::Regained));
        assert_eq!(quorum_change(true, false), Some(QuorumChange::Lost));
        assert_eq!(quorum_change(true, true), None);
        assert_eq!(quorum_change(false, false), None);
    }
}
