//! The policy's inputs: [`PolicyConfig`], the parts of cluster.conf that placement reads,
//! resolved once into index-addressed tables (so that a decision over 10,000 services does no
//! string lookups), and [`ClusterView`], the membership, quorum and replicated service states
//! a decision is made on.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ccs::model::Recovery;
use ccs::ClusterConf;

use super::{Action, Event, NodeId, NodeState, State};

/// A cluster node, in cluster.conf order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConf {
    pub id: NodeId,
    pub name: String,
}

/// A failover domain with its flags as the `ccs` accessors read them (`1/yes/true` on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConf {
    pub name: String,
    pub ordered: bool,
    pub restricted: bool,
    pub nofailback: bool,
    /// Per node index: `None` = not a member; `Some(rank)` = member, where rank is its
    /// priority in an ordered domain and `u32::MAX` for a member without one (it ranks last)
    /// or for every member of an unordered domain.
    pub rank: Vec<Option<u32>>,
}

/// Where a service's `domain` attribute points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainRef {
    /// No `domain` attribute: any node.
    None,
    /// A domain name that does not exist: RHCS ran the service anywhere (`#66`), so do we.
    Missing,
    Index(usize),
}

/// A top-level resource group (service or vm) with its policy attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConf {
    /// `service:NAME` (or `vm:NAME`).
    pub name: String,
    pub domain: DomainRef,
    pub autostart: bool,
    pub exclusive: bool,
    pub recovery: Recovery,
    pub max_restarts: u32,
    pub restart_expire_time: u64,
    /// Hard dependency (`depend`, with `depend_mode` hard), resolved to a service index.
    /// `soft` is honoured only with central processing in RHCS, which we do not have: a
    /// soft dependency is not enforced.
    pub depend: Option<usize>,
    /// Services whose hard dependency is this one.
    pub dependents: Vec<usize>,
}

/// The configuration digest a decision reads; build it once per config version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    pub nodes: Vec<NodeConf>,
    pub domains: Vec<DomainConf>,
    pub services: Vec<ServiceConf>,
    node_index: HashMap<NodeId, usize>,
    service_index: HashMap<String, usize>,
}

impl PolicyConfig {
    /// From a loaded cluster.conf. Nodes without a usable `nodeid` are left out (the
    /// validator reports them); domain members that are not cluster nodes are ignored.
    pub fn from_conf(conf: &ClusterConf) -> PolicyConfig {
        let mut nodes = Vec::new();
        let mut node_index = HashMap::new();
        for n in conf.nodes() {
            if let Some(id) = n.nodeid() {
                if node_index.insert(id, nodes.len()).is_none() {
                    nodes.push(NodeConf {
                        id,
                        name: n.name().to_string(),
                    });
                }
            }
        }
        let mut domains: Vec<DomainConf> = Vec::new();
        for d in conf.domains() {
            // A repeated domain name: RHCS stopped reading domains there (#31).
            if domains
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(d.name()))
            {
                break;
            }
            let mut rank = vec![None; nodes.len()];
            for (member, prio) in d.members() {
                let Some(i) = nodes
                    .iter()
                    .position(|n| n.name.eq_ignore_ascii_case(member))
                else {
                    continue;
                };
                if rank[i].is_some() {
                    // A node listed twice: RHCS ignored the rest of the list (#30).
                    break;
                }
                rank[i] = Some(if d.ordered() {
                    prio.unwrap_or(u32::MAX)
                } else {
                    u32::MAX
                });
            }
            domains.push(DomainConf {
                name: d.name().to_string(),
                ordered: d.ordered(),
                restricted: d.restricted(),
                nofailback: d.nofailback(),
                rank,
            });
        }
        let mut services = Vec::new();
        let mut service_index = HashMap::new();
        let mut depends = Vec::new();
        for g in conf.groups() {
            let name = g.full_name();
            if service_index.contains_key(&name) {
                continue;
            }
            let p = g.service_policy();
            let domain = match &p.domain {
                None => DomainRef::None,
                Some(d) => domains
                    .iter()
                    .position(|x| x.name.eq_ignore_ascii_case(d))
                    .map_or(DomainRef::Missing, DomainRef::Index),
            };
            let hard = p.depend_mode == ccs::model::DependMode::Hard;
            depends.push(if hard { p.depend.clone() } else { None });
            service_index.insert(name.clone(), services.len());
            services.push(ServiceConf {
                name,
                domain,
                autostart: p.autostart,
                exclusive: p.exclusive,
                recovery: p.recovery,
                max_restarts: p.max_restarts,
                restart_expire_time: p.restart_expire_time,
                depend: None,
                dependents: Vec::new(),
            });
        }
        for (i, dep) in depends.into_iter().enumerate() {
            let Some(dep) = dep else { continue };
            let key = if dep.contains(':') {
                dep
            } else {
                format!("service:{dep}")
            };
            // A dependency on a service that does not exist is satisfied (RHCS check_depend).
            if let Some(&d) = service_index.get(&key) {
                if d != i {
                    services[i].depend = Some(d);
                    services[d].dependents.push(i);
                }
            }
        }
        PolicyConfig {
            nodes,
            domains,
            services,
            node_index,
            service_index,
        }
    }

    /// Nodes a newer cluster.conf removed but that may still run services (still members,
    /// or lost and not fenced yet), kept after the configured nodes so that their services
    /// are not taken over behind their back. They rank in no domain.
    pub fn keep_departing(&mut self, nodes: &[NodeConf]) {
        for n in nodes {
            if self.node_index.contains_key(&n.id) {
                continue;
            }
            self.node_index.insert(n.id, self.nodes.len());
            self.nodes.push(n.clone());
            for d in &mut self.domains {
                d.rank.push(None);
            }
        }
    }

    /// A node's index in cluster.conf order.
    pub fn node_index(&self, id: NodeId) -> Option<usize> {
        self.node_index.get(&id).copied()
    }

    /// A node's id by name (case-insensitive, as RHCS compared names).
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(name))
            .map(|n| n.id)
    }

    /// The node's name, or `#ID` for an id not in cluster.conf.
    pub fn node_name(&self, id: NodeId) -> std::borrow::Cow<'_, str> {
        match self.node_index(id) {
            Some(i) => std::borrow::Cow::Borrowed(self.nodes[i].name.as_str()),
            None => std::borrow::Cow::Owned(format!("#{id}")),
        }
    }

    /// A service's index by `type:name`; a bare name means `service:name`.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        if name.contains(':') {
            self.service_index.get(name).copied()
        } else {
            self.service_index.get(&format!("service:{name}")).copied()
        }
    }
}

/// One service's replicated state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    pub state: State,
    pub owner: Option<NodeId>,
    pub last_owner: Option<NodeId>,
    pub frozen: bool,
    /// Times (seconds) of the in-place recovery restarts the threshold counts.
    pub restarts: Vec<u64>,
    /// Time of the last transition; 0 = never (a fresh service, which `autostart="0"` turns
    /// into `disabled`).
    pub last_transition: u64,
    /// Nodes where a start failed since the service last started: a failed start is not
    /// relocated back to them (cleared by a successful start).
    pub start_failures: Vec<NodeId>,
    /// Non-critical subtrees were stopped after a failed check: the service runs partly
    /// (clustat's `P` flag) until `clusvcadm -c` or a full start brings them back.
    pub partial: bool,
}

impl Default for ServiceStatus {
    fn default() -> Self {
        ServiceStatus {
            state: State::Stopped,
            owner: None,
            last_owner: None,
            frozen: false,
            restarts: Vec::new(),
            last_transition: 0,
            start_failures: Vec::new(),
            partial: false,
        }
    }
}

/// Everything a decision reads: the config digest, the members, quorum, every service's
/// state (indexed like `config.services`) and the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    pub config: Arc<PolicyConfig>,
    /// Indexed like `config.nodes`.
    pub members: Vec<NodeState>,
    pub quorate: bool,
    pub services: Vec<ServiceStatus>,
    /// Seconds (the caller's clock; the policy never reads one).
    pub now: u64,
    /// `clusvcadm -l`: no service is started, relocated or failed back until `-u` or the
    /// loss of quorum (recovery of a failed service in place still runs, as in RHCS).
    pub locked: bool,
    /// Members shutting down: they stop their services themselves and leave; nothing is placed
    /// on them meanwhile.
    pub leaving: BTreeSet<NodeId>,
}

impl ClusterView {
    /// A view at start-up: every node down, no quorum, every service stopped and fresh.
    pub fn new(config: Arc<PolicyConfig>) -> ClusterView {
        ClusterView {
            members: vec![NodeState::Down; config.nodes.len()],
            services: vec![ServiceStatus::default(); config.services.len()],
            quorate: false,
            now: 0,
            locked: false,
            leaving: BTreeSet::new(),
            config,
        }
    }

    pub fn from_conf(conf: &ClusterConf) -> ClusterView {
        ClusterView::new(Arc::new(PolicyConfig::from_conf(conf)))
    }

    /// The node's membership state; ids not in cluster.conf are `Down`.
    pub fn member(&self, id: NodeId) -> NodeState {
        self.config
            .node_index(id)
            .and_then(|i| self.members.get(i).copied())
            .unwrap_or(NodeState::Down)
    }

    pub fn set_member(&mut self, id: NodeId, state: NodeState) {
        if let Some(i) = self.config.node_index(id) {
            if let Some(m) = self.members.get_mut(i) {
                *m = state;
            }
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceStatus> {
        self.config
            .service_index(name)
            .and_then(|i| self.services.get(i))
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut ServiceStatus> {
        let i = self.config.service_index(name)?;
        self.services.get_mut(i)
    }

    /// Record an event's facts: membership, quorum, and the nodes that failed to start a
    /// service since it last started.
    pub fn apply_event(&mut self, event: &Event) {
        match event {
            Event::StartFailed { service, node } => {
                if let Some(st) = self.service_mut(service) {
                    if !st.start_failures.contains(node) {
                        st.start_failures.push(*node);
                    }
                }
            }
            Event::Started { service, .. } => {
                if let Some(st) = self.service_mut(service) {
                    st.start_failures.clear();
                }
            }
            Event::NodeJoined(n) => self.set_member(*n, NodeState::Online),
            Event::NodeLeft { node, clean } => self.set_member(
                *node,
                if *clean {
                    NodeState::Down
                } else {
                    NodeState::Lost
                },
            ),
            Event::NodeFenced(n) if self.member(*n) != NodeState::Online => {
                self.set_member(*n, NodeState::Fenced)
            }
            Event::QuorumLost => {
                // The lock lives as long as the quorum it was taken under.
                self.quorate = false;
                self.locked = false;
            }
            Event::QuorumRegained => self.quorate = true,
            _ => {}
        }
    }

    /// Record what `action` leaves behind when it succeeds (the replicated state the daemon
    /// writes on completion). Log lines and replies change nothing.
    pub fn apply(&mut self, action: &Action) {
        let now = self.now;
        if let Action::Lock { locked } = action {
            self.locked = *locked;
            return;
        }
        let Some(st) = action.service().and_then(|s| self.service_mut(s)) else {
            return;
        };
        if action.start_target().is_some() {
            st.start_failures.clear();
        }
        if matches!(
            action,
            Action::Start { .. }
                | Action::Stop { .. }
                | Action::Relocate { .. }
                | Action::Restart { .. }
                | Action::EmergencyStop { .. }
                | Action::Convalesce { .. }
        ) {
            // A full start or a stop runs every subtree again (or none).
            st.partial = false;
        }
        match action {
            Action::Start { node, .. } => {
                if st.owner.is_some() && st.owner != Some(*node) {
                    st.last_owner = st.owner;
                }
                st.state = State::Started;
                st.owner = Some(*node);
                st.last_transition = now;
            }
            Action::Stop { node, to, .. } => {
                st.state = *to;
                st.owner = None;
                st.last_owner = Some(*node);
                st.last_transition = now;
            }
            Action::Relocate { from, to, .. } => {
                st.state = State::Started;
                st.owner = Some(*to);
                st.last_owner = Some(*from);
                st.last_transition = now;
            }
            Action::Restart { node, recover, .. } => {
                st.state = State::Started;
                st.owner = Some(*node);
                st.last_transition = now;
                if *recover {
                    st.restarts.push(now);
                }
            }
            Action::EmergencyStop { node, .. } => {
                st.state = State::Stopped;
                st.owner = None;
                st.last_owner = Some(*node);
            }
            Action::Mark { state, .. } => {
                if st.owner.is_some() {
                    st.last_owner = st.owner;
                }
                st.owner = None;
                st.state = *state;
                st.last_transition = now;
            }
            Action::Freeze { frozen, .. } => st.frozen = *frozen,
            Action::ClearRestarts { .. } => st.restarts.clear(),
            Action::Convalesce { .. } | Action::Log { .. } | Action::Reply(_) => {}
            Action::Lock { .. } => {}
        }
    }
}
