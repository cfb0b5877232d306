//! The rules: RHCS's `node_should_start` scoring, `best_target_node`, `consider_start`,
//! `consider_relocate`, the recovery policies and the request checks of `rg_state.c`, with
//! the documented differences (`docs/policy.md`): one decision instead of a race, a
//! deterministic tie-break, a priority-less member of an ordered domain ranking last,
//! `restart-disable` disabling when the restart fails, and requests refused before anything
//! is stopped.

use std::cmp::Reverse;

use ccs::model::Recovery;

use super::view::{ClusterView, DomainRef, PolicyConfig};
use super::{
    Action, Event, Holds, Level, NodeId, NodeState, Request, RgCode, ServiceStatus, State,
};

/// RHCS's placement score (`FOD_ILLEGAL` … `FOD_BEST`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Score {
    Illegal,
    Good,
    Better,
    Best,
}

/// How candidate nodes compare (larger is better): score, then priority, then load, then
/// cluster.conf order.
type PlaceKey = (Score, Reverse<u32>, Reverse<u32>, Reverse<usize>);

/// Why no node can take a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoTarget {
    /// No online node its failover domain allows.
    Domain,
    /// Allowed nodes exist, but `exclusive` rules every one of them out.
    Exclusive,
}

/// Decide what to do about `event` in `view`. Pure: same inputs, same actions.
pub fn decide(view: &ClusterView, event: &Event) -> Vec<Action> {
    let mut cx = Cx::new(view, event);
    match event {
        Event::NodeJoined(n) => {
            let joined = cx.cfg.node_index(*n);
            if cx.quorate {
                cx.evaluate(joined);
            }
        }
        Event::NodeLeft { .. } | Event::NodeFenced(_) | Event::QuorumRegained | Event::Evaluate => {
            if cx.quorate {
                cx.evaluate(None);
            }
        }
        Event::QuorumLost => cx.quorum_lost(),
        Event::StatusFailed { service, node } => {
            if let Some(s) = cx.cfg.service_index(service) {
                cx.status_failed(s, *node);
            }
        }
        Event::StartFailed { service, node } => {
            if let Some(s) = cx.cfg.service_index(service) {
                cx.start_failed(s, *node);
            }
        }
        Event::StopFailed { service, node } => {
            if let Some(s) = cx.cfg.service_index(service) {
                cx.stop_failed(s, *node);
            }
        }
        Event::Started { service, .. } => {
            if let Some(s) = cx.cfg.service_index(service) {
                if cx.quorate {
                    let deps = cx.cfg.services[s].dependents.clone();
                    for d in deps {
                        cx.consider_start(d);
                    }
                }
            }
        }
        Event::Stopped { service, .. } => {
            if let Some(s) = cx.cfg.service_index(service) {
                if cx.quorate {
                    cx.down[s] = true;
                    cx.stop_dependents(s);
                }
            }
        }
        Event::Request(r) => cx.request(r),
    }
    cx.out
}

static FRESH: ServiceStatus = ServiceStatus {
    state: State::Stopped,
    owner: None,
    last_owner: None,
    frozen: false,
    restarts: Vec::new(),
    last_transition: 0,
    start_failures: Vec::new(),
    partial: false,
};

struct Cx<'a> {
    view: &'a ClusterView,
    cfg: &'a PolicyConfig,
    /// Membership with the event's fact applied.
    members: Vec<NodeState>,
    quorate: bool,
    /// Per node: services it holds (started/starting/…) plus those planned onto it.
    load: Vec<u32>,
    /// Per node: exclusive services among them.
    excl: Vec<u32>,
    /// Per domain: the best rank among its online members (`None`: no member online).
    domain_best: Vec<Option<u32>>,
    /// Services this decision already acted on (one action per service).
    touched: Vec<bool>,
    /// Services this decision takes down (their dependents may not start).
    down: Vec<bool>,
    /// `clusvcadm -l` holds: nothing starts.
    locked: bool,
    /// Per node: shutting down (online, but no place for a service).
    leaving: Vec<bool>,
    out: Vec<Action>,
}

impl<'a> Cx<'a> {
    fn new(view: &'a ClusterView, event: &Event) -> Cx<'a> {
        let cfg: &PolicyConfig = &view.config;
        let mut members = view.members.clone();
        members.resize(cfg.nodes.len(), NodeState::Down);
        let mut quorate = view.quorate;
        let set = |id: NodeId, st: NodeState, members: &mut Vec<NodeState>| {
            if let Some(i) = cfg.node_index(id) {
                members[i] = st;
            }
        };
        match event {
            Event::NodeJoined(n) => set(*n, NodeState::Online, &mut members),
            Event::NodeLeft { node, clean } => set(
                *node,
                if *clean {
                    NodeState::Down
                } else {
                    NodeState::Lost
                },
                &mut members,
            ),
            Event::NodeFenced(n) => {
                if let Some(i) = cfg.node_index(*n) {
                    if members[i] != NodeState::Online {
                        members[i] = NodeState::Fenced;
                    }
                }
            }
            Event::QuorumLost => quorate = false,
            Event::QuorumRegained => quorate = true,
            _ => {}
        }
        let n = cfg.nodes.len();
        let mut load = vec![0u32; n];
        let mut excl = vec![0u32; n];
        for (i, st) in view.services.iter().enumerate().take(cfg.services.len()) {
            if !st.state.holds() {
                continue;
            }
            if let Some(o) = st.owner.and_then(|o| cfg.node_index(o)) {
                if members[o].is_online() {
                    load[o] += 1;
                    if cfg.services[i].exclusive {
                        excl[o] += 1;
                    }
                }
            }
        }
        let leaving: Vec<bool> = cfg
            .nodes
            .iter()
            .map(|n| view.leaving.contains(&n.id))
            .collect();
        let domain_best = cfg
            .domains
            .iter()
            .map(|d| {
                d.rank
                    .iter()
                    .zip(members.iter().zip(&leaving))
                    .filter(|(_, (m, l))| m.is_online() && !**l)
                    .filter_map(|(r, _)| *r)
                    .min()
            })
            .collect();
        let s = cfg.services.len();
        Cx {
            view,
            cfg,
            members,
            quorate,
            load,
            excl,
            domain_best,
            touched: vec![false; s],
            down: vec![false; s],
            locked: view.locked,
            leaving,
            out: Vec::new(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Facts.

    fn name(&self, s: usize) -> String {
        self.cfg.services[s].name.clone()
    }

    fn node_name(&self, id: NodeId) -> String {
        self.cfg.node_name(id).into_owned()
    }

    fn node_id(&self, i: usize) -> NodeId {
        self.cfg.nodes[i].id
    }

    fn member_of(&self, id: NodeId) -> NodeState {
        self.cfg
            .node_index(id)
            .map_or(NodeState::Down, |i| self.members[i])
    }

    /// The record of service `s`; a view without one (built for an older config) reads as a
    /// fresh stopped service, as RHCS initialised missing records.
    fn status(&self, s: usize) -> &'a ServiceStatus {
        self.view.services.get(s).unwrap_or(&FRESH)
    }

    /// The owner's index when the service is held by an online node.
    fn online_owner(&self, s: usize) -> Option<usize> {
        let st = self.status(s);
        if !st.state.holds() {
            return None;
        }
        let o = self.cfg.node_index(st.owner?)?;
        self.members[o].is_online().then_some(o)
    }

    /// Held by a node that left uncleanly and is not fenced yet.
    fn owner_lost(&self, s: usize) -> bool {
        let st = self.status(s);
        st.state.holds()
            && st
                .owner
                .is_some_and(|o| self.member_of(o) == NodeState::Lost)
    }

    /// Held (per the record) by a node known to run nothing, or by nobody.
    fn owner_safely_down(&self, s: usize) -> bool {
        let st = self.status(s);
        st.state.holds() && st.owner.is_none_or(|o| self.member_of(o).is_safely_down())
    }

    /// Started on an online node and not being taken down by this decision.
    fn running(&self, s: usize) -> bool {
        self.status(s).state == State::Started && self.online_owner(s).is_some() && !self.down[s]
    }

    /// The hard dependency (if any) is running: the service may start.
    fn depend_ok(&self, s: usize) -> bool {
        self.cfg.services[s].depend.is_none_or(|d| self.running(d))
    }

    /// The hard dependency is known not to run: a running dependent must stop.
    fn depend_missing(&self, s: usize) -> bool {
        let Some(d) = self.cfg.services[s].depend else {
            return false;
        };
        let st = self.status(d);
        self.down[d]
            || matches!(
                st.state,
                State::Stopped | State::Disabled | State::Failed | State::Uninitialized
            )
            || self.owner_safely_down(d)
    }

    /// `node_should_start` for node index `i`, with RHCS's nofailback inputs.
    fn score(&self, i: usize, s: usize) -> Score {
        if !self.members[i].is_online() || self.leaving[i] {
            return Score::Illegal;
        }
        let DomainRef::Index(d) = self.cfg.services[s].domain else {
            return Score::Best;
        };
        let dom = &self.cfg.domains[d];
        let Some(best) = self.domain_best[d] else {
            return if dom.restricted {
                Score::Illegal
            } else {
                Score::Best
            };
        };
        let Some(mine) = dom.rank[i] else {
            return if dom.restricted {
                Score::Illegal
            } else {
                Score::Good
            };
        };
        let st = self.status(s);
        let started = matches!(st.state, State::Started | State::Starting);
        let owner = st.owner.and_then(|o| self.cfg.node_index(o));
        let owner_online = owner.is_some_and(|o| self.members[o].is_online());
        if !dom.ordered || mine == best {
            if dom.nofailback && started && owner_online && owner != Some(i) {
                Score::Better
            } else {
                Score::Best
            }
        } else if dom.nofailback && started && owner == Some(i) {
            Score::Best
        } else {
            Score::Better
        }
    }

    /// The member's rank in the service's domain (non-members and domain-less: last).
    fn rank(&self, i: usize, s: usize) -> u32 {
        match self.cfg.services[s].domain {
            DomainRef::Index(d) => self.cfg.domains[d].rank[i].unwrap_or(u32::MAX),
            _ => u32::MAX,
        }
    }

    /// `exclusive` allows service `s` on node index `i`.
    fn exclusive_ok(&self, i: usize, s: usize) -> bool {
        if self.cfg.services[s].exclusive {
            self.load[i] == 0
        } else {
            self.excl[i] == 0
        }
    }

    /// `best_target_node`, decided: the highest score, then the lowest priority number
    /// (a member without one last), then the node running fewest services, then cluster.conf
    /// order.
    fn best_target(&self, s: usize, exclude: &[usize]) -> Result<usize, NoTarget> {
        let mut best: Option<PlaceKey> = None;
        let mut legal = false;
        for i in 0..self.cfg.nodes.len() {
            if exclude.contains(&i) {
                continue;
            }
            let score = self.score(i, s);
            if score == Score::Illegal {
                continue;
            }
            legal = true;
            if !self.exclusive_ok(i, s) {
                continue;
            }
            let key = (
                score,
                Reverse(self.rank(i, s)),
                Reverse(self.load[i]),
                Reverse(i),
            );
            if best.is_none_or(|b| key > b) {
                best = Some(key);
            }
        }
        match best {
            Some((.., Reverse(i))) => Ok(i),
            None if legal => Err(NoTarget::Exclusive),
            None => Err(NoTarget::Domain),
        }
    }

    /// The service's restricted domain has no member online.
    fn restricted_unavailable(&self, s: usize) -> bool {
        match self.cfg.services[s].domain {
            DomainRef::Index(d) => self.cfg.domains[d].restricted && self.domain_best[d].is_none(),
            _ => false,
        }
    }

    fn threshold_exceeded(&self, s: usize) -> bool {
        let c = &self.cfg.services[s];
        if c.max_restarts == 0 {
            return false;
        }
        let now = self.view.now;
        let recent = self
            .status(s)
            .restarts
            .iter()
            .filter(|&&t| {
                c.restart_expire_time == 0 || now.saturating_sub(t) < c.restart_expire_time
            })
            .count();
        recent >= c.max_restarts as usize
    }

    // -----------------------------------------------------------------------------------
    // Output.

    fn log(&mut self, level: Level, text: String) {
        self.out.push(Action::Log { level, text });
    }

    fn plan_on(&mut self, i: usize, s: usize) {
        self.load[i] += 1;
        if self.cfg.services[s].exclusive {
            self.excl[i] += 1;
        }
        self.touched[s] = true;
    }

    fn start(&mut self, s: usize, i: usize) {
        let node = self.node_id(i);
        self.out.push(Action::Start {
            service: self.name(s),
            node,
        });
        self.plan_on(i, s);
    }

    /// Write a resting state (stopped, disabled, failed): the service is not running, so its
    /// running dependents stop first.
    fn mark(&mut self, s: usize, state: State) {
        self.down[s] = true;
        self.touched[s] = true;
        self.stop_dependents(s);
        self.out.push(Action::Mark {
            service: self.name(s),
            state,
        });
        self.touched[s] = true;
    }

    /// Stop (→ stopped) every running dependent of `s`, deepest first, because `s` is going
    /// down. Frozen dependents are left alone.
    fn stop_dependents(&mut self, s: usize) {
        // Depth first with an explicit stack (a dependency chain may be as long as the
        // service list), emitting each dependent after its own dependents.
        let cfg = self.cfg;
        let mut order = Vec::new();
        let mut stack = vec![(s, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (n, k) = *top;
            let Some(&d) = cfg.services[n].dependents.get(k) else {
                stack.pop();
                if n != s {
                    order.push(n);
                }
                continue;
            };
            top.1 += 1;
            if self.touched[d] || self.status(d).frozen || !self.running(d) {
                continue;
            }
            self.touched[d] = true;
            self.down[d] = true;
            stack.push((d, 0));
        }
        for d in order {
            let Some(o) = self.online_owner(d) else {
                continue;
            };
            let name = self.name(d);
            self.log(
                Level::Warning,
                format!("Stopping service {name}: Dependency missing"),
            );
            self.out.push(Action::Stop {
                service: name,
                node: self.node_id(o),
                to: State::Stopped,
            });
        }
    }

    /// Take `s` down with `action` (a stop, relocation or restart), its running dependents
    /// first.
    fn take_down(&mut self, s: usize, action: Action) {
        self.down[s] = true;
        self.touched[s] = true;
        self.stop_dependents(s);
        self.out.push(action);
    }

    // -----------------------------------------------------------------------------------
    // Membership and quorum.

    /// What RHCS did on every transition: stop dependents of services that are gone,
    /// failback to a joining node, start what is stopped (exclusive services first, so that
    /// they find empty nodes), take over what down nodes held.
    fn evaluate(&mut self, joined: Option<usize>) {
        let n = self.cfg.services.len();
        for s in 0..n {
            if self.cfg.services[s].depend.is_some()
                && !self.touched[s]
                && !self.status(s).frozen
                && self.running(s)
                && self.depend_missing(s)
            {
                let o = self.online_owner(s).map(|o| self.node_id(o));
                if let Some(node) = o {
                    let name = self.name(s);
                    self.log(
                        Level::Warning,
                        format!("Stopping service {name}: Dependency missing"),
                    );
                    self.take_down(
                        s,
                        Action::Stop {
                            service: name,
                            node,
                            to: State::Stopped,
                        },
                    );
                }
            }
        }
        if let Some(j) = joined {
            // A service whose dependency fails back too does not move on its own: the
            // dependency's relocation stops it first, and it starts again after.
            let wants: Vec<bool> = (0..n).map(|s| self.wants_failback(s, j)).collect();
            let mut memo = vec![0u8; n];
            for s in 0..n {
                if wants[s] && !self.ancestor_in(&wants, &mut memo, s) {
                    self.consider_failback(s, j);
                }
            }
        }
        for exclusive in [true, false] {
            for s in 0..n {
                if self.cfg.services[s].exclusive == exclusive {
                    self.consider_start(s);
                }
            }
        }
    }

    /// `consider_start`: a stopped service, or one held by a node known to be down, is
    /// started on the best node, or its record is corrected.
    fn consider_start(&mut self, s: usize) {
        if self.touched[s] || !self.quorate {
            return;
        }
        let st = self.status(s);
        let takeover = st.state.holds();
        if !(st.state == State::Stopped || (takeover && self.owner_safely_down(s))) {
            return;
        }
        if st.frozen {
            // Frozen: not recovered; but a fenced owner runs nothing, so say so.
            if takeover {
                self.mark(s, State::Stopped);
            }
            return;
        }
        if st.state == State::Stopped && st.last_transition == 0 && !self.cfg.services[s].autostart
        {
            self.mark(s, State::Disabled);
            return;
        }
        if self.locked {
            // `clusvcadm -l`: nothing starts; a takeover waits for the unlock.
            if takeover {
                let name = self.name(s);
                self.log(
                    Level::Warning,
                    format!("Not initiating failover of {name}: Resource groups locked!"),
                );
            }
            return;
        }
        if takeover {
            // It died with its node: what depended on it goes down until it is back.
            self.touched[s] = true;
            self.stop_dependents(s);
        }
        if !self.depend_ok(s) {
            if takeover {
                self.mark(s, State::Stopped);
            }
            return;
        }
        match self.best_target(s, &[]) {
            Ok(i) => {
                let name = self.name(s);
                let text = match st.owner.filter(|_| takeover) {
                    Some(o) => format!(
                        "Taking over service {name} from down member {}",
                        self.node_name(o)
                    ),
                    None => format!("Starting stopped service {name}"),
                };
                self.log(Level::Notice, text);
                self.start(s, i);
            }
            Err(_) if takeover => {
                if self.restricted_unavailable(s) {
                    let name = self.name(s);
                    self.log(
                        Level::Notice,
                        format!("Marking {name} as stopped: Restricted domain unavailable"),
                    );
                }
                self.mark(s, State::Stopped);
            }
            Err(_) => {}
        }
    }

    /// Started on another online node that scores lower than the joiner `j`.
    fn wants_failback(&self, s: usize, j: usize) -> bool {
        if self.status(s).frozen || self.status(s).state != State::Started {
            return false;
        }
        self.online_owner(s)
            .is_some_and(|o| o != j && self.score(j, s) > self.score(o, s))
    }

    /// Some service up the hard `depend` chain of `s` is in `set`. `memo` caches the answer
    /// per service (0 unknown, 1 no, 2 yes) so that long chains cost one walk; a cycle ends
    /// the walk after as many steps as there are services.
    fn ancestor_in(&self, set: &[bool], memo: &mut [u8], s: usize) -> bool {
        let mut path = Vec::new();
        let mut cur = self.cfg.services[s].depend;
        let mut found = false;
        while let Some(d) = cur {
            if set[d] || memo[d] == 2 {
                found = true;
                break;
            }
            if memo[d] == 1 || path.len() > set.len() {
                break;
            }
            path.push(d);
            cur = self.cfg.services[d].depend;
        }
        for p in path {
            memo[p] = if found { 2 } else { 1 };
        }
        found
    }

    /// `consider_relocate`: a started service moves to the joining node if that node scores
    /// strictly better than its owner (and `exclusive` allows it).
    fn consider_failback(&mut self, s: usize, j: usize) {
        if self.touched[s] || self.status(s).frozen || self.status(s).state != State::Started {
            return;
        }
        let Some(o) = self.online_owner(s) else {
            return;
        };
        // Called for services that want to fail back (`wants_failback`: the joiner scores
        // better). A relocation restarts it: only with its dependency running.
        if o == j || !self.exclusive_ok(j, s) || !self.depend_ok(s) || self.locked {
            return;
        }
        let name = self.name(s);
        let to = self.node_id(j);
        self.log(
            Level::Notice,
            format!("Relocating {name} to better node {}", self.node_name(to)),
        );
        self.take_down(
            s,
            Action::Relocate {
                service: name,
                from: self.node_id(o),
                to,
            },
        );
        self.plan_on(j, s);
    }

    /// Quorum dissolved: every member stops what it runs, frozen or not, and writes nothing.
    fn quorum_lost(&mut self) {
        self.log(Level::Alert, "#1: Quorum Dissolved".to_string());
        for s in 0..self.cfg.services.len() {
            if let Some(o) = self.online_owner(s) {
                self.out.push(Action::EmergencyStop {
                    service: self.name(s),
                    node: self.node_id(o),
                });
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Service events.

    /// The owner reports `node` for `s` and it is still the online owner in the record.
    fn owned_by(&self, s: usize, node: NodeId) -> Option<usize> {
        let o = self.online_owner(s)?;
        (self.node_id(o) == node).then_some(o)
    }

    fn status_failed(&mut self, s: usize, node: NodeId) {
        if !self.quorate || self.status(s).frozen || self.status(s).state != State::Started {
            return;
        }
        let Some(o) = self.owned_by(s, node) else {
            return;
        };
        let name = self.name(s);
        let c = &self.cfg.services[s];
        let (recovery, has_history) = (c.recovery, !self.status(s).restarts.is_empty());
        match recovery {
            Recovery::Disable => {
                if has_history {
                    self.out.push(Action::ClearRestarts {
                        service: name.clone(),
                    });
                }
                self.log(
                    Level::Notice,
                    format!("Disabling {name}: recovery policy is disable"),
                );
                self.take_down(
                    s,
                    Action::Stop {
                        service: name,
                        node,
                        to: State::Disabled,
                    },
                );
            }
            Recovery::Relocate => {
                if has_history {
                    self.out.push(Action::ClearRestarts {
                        service: name.clone(),
                    });
                }
                self.log(
                    Level::Warning,
                    format!("#71: Relocating failed service {name}"),
                );
                self.relocate_away(s, o);
            }
            Recovery::Restart | Recovery::RestartDisable => {
                if self.threshold_exceeded(s) {
                    self.out.push(Action::ClearRestarts {
                        service: name.clone(),
                    });
                    if recovery == Recovery::RestartDisable {
                        self.log(
                            Level::Notice,
                            format!("Restart threshold for {name} exceeded; disabling"),
                        );
                        self.take_down(
                            s,
                            Action::Stop {
                                service: name,
                                node,
                                to: State::Disabled,
                            },
                        );
                    } else {
                        self.log(
                            Level::Notice,
                            format!(
                                "Restart threshold for {name} exceeded; attempting to relocate"
                            ),
                        );
                        self.relocate_away(s, o);
                    }
                } else if self.score(o, s) == Score::Illegal {
                    // Running where its restricted domain no longer allows it: not restarted
                    // there.
                    self.relocate_away(s, o);
                } else {
                    self.log(Level::Notice, format!("Recovering failed service {name}"));
                    self.take_down(
                        s,
                        Action::Restart {
                            service: name,
                            node,
                            recover: true,
                        },
                    );
                }
            }
        }
    }

    /// Recovery by relocation: the best other node, or a restart in place when there is
    /// none (`#70`).
    fn relocate_away(&mut self, s: usize, o: usize) {
        let name = self.name(s);
        let node = self.node_id(o);
        match self.best_target(s, &[o]) {
            Ok(t) => {
                let to = self.node_id(t);
                self.take_down(
                    s,
                    Action::Relocate {
                        service: name,
                        from: node,
                        to,
                    },
                );
                self.plan_on(t, s);
            }
            // Nowhere else, and its own node is outside its restricted domain (the config
            // changed under it): stop it.
            Err(_) if self.score(o, s) == Score::Illegal => self.take_down(
                s,
                Action::Stop {
                    service: name,
                    node,
                    to: State::Stopped,
                },
            ),
            Err(_) => {
                self.log(
                    Level::Warning,
                    format!("#70: Failed to relocate {name}; restarting locally"),
                );
                self.take_down(
                    s,
                    Action::Restart {
                        service: name,
                        node,
                        recover: true,
                    },
                );
            }
        }
    }

    fn start_failed(&mut self, s: usize, node: NodeId) {
        let st = self.status(s);
        if !self.quorate || st.frozen {
            return;
        }
        if !matches!(
            st.state,
            State::Starting | State::Started | State::Recovering
        ) {
            return;
        }
        let Some(o) = self.owned_by(s, node) else {
            return;
        };
        let name = self.name(s);
        if st.state == State::Recovering
            && self.cfg.services[s].recovery == Recovery::RestartDisable
        {
            if !st.restarts.is_empty() {
                self.out.push(Action::ClearRestarts {
                    service: name.clone(),
                });
            }
            self.log(
                Level::Notice,
                format!("Restart of {name} failed; disabling"),
            );
            self.take_down(
                s,
                Action::Stop {
                    service: name,
                    node,
                    to: State::Disabled,
                },
            );
            return;
        }
        self.log(
            Level::Warning,
            format!("#71: Relocating failed service {name}"),
        );
        // Not back to a node where it already failed to start since it last ran: each node
        // is tried once, as RHCS's relocation loop did.
        let mut tried: Vec<usize> = st
            .start_failures
            .iter()
            .filter_map(|&n| self.cfg.node_index(n))
            .collect();
        tried.push(o);
        match self.best_target(s, &tried) {
            Ok(t) => {
                let to = self.node_id(t);
                self.take_down(
                    s,
                    Action::Relocate {
                        service: name,
                        from: node,
                        to,
                    },
                );
                self.plan_on(t, s);
            }
            // Nowhere else: left stopped, tried again at the next evaluation (RHCS).
            Err(_) => self.take_down(
                s,
                Action::Stop {
                    service: name,
                    node,
                    to: State::Stopped,
                },
            ),
        }
    }

    fn stop_failed(&mut self, s: usize, node: NodeId) {
        if !self.quorate {
            return;
        }
        // Only the node that was stopping it can say the stop failed.
        let st = self.status(s);
        let from_owner = self.owned_by(s, node).is_some();
        let from_failed_owner = st.state == State::Failed && st.last_owner == Some(node);
        if !(from_owner || from_failed_owner) {
            return;
        }
        let name = self.name(s);
        self.down[s] = true;
        if self.status(s).state == State::Failed {
            // Disabling a failed service whose stop fails again: RHCS marked it disabled
            // anyway ("some resources may still be allocated!"), and an enable could then start
            // it elsewhere while it still ran here. It stays failed until a stop works or its
            // node is fenced.
            self.log(
                Level::Crit,
                format!("#12: RG {name} failed to stop; intervention required"),
            );
            self.mark(s, State::Failed);
            return;
        }
        self.log(
            Level::Crit,
            format!("#12: RG {name} failed to stop; intervention required"),
        );
        self.mark(s, State::Failed);
        self.stop_dependents(s);
    }

    // -----------------------------------------------------------------------------------
    // Requests.

    fn reply(&mut self, code: RgCode) {
        self.out.push(Action::Reply(code));
    }

    fn request(&mut self, r: &Request) {
        if let Request::Lock { locked } = r {
            // RHCS answered lock requests only with quorum.
            if !self.quorate {
                return self.reply(RgCode::Quorum);
            }
            if *locked != self.locked {
                self.out.push(Action::Lock { locked: *locked });
                self.log(
                    Level::Notice,
                    format!(
                        "Resource groups {}",
                        if *locked { "locked" } else { "unlocked" }
                    ),
                );
            }
            if !*locked && self.locked {
                // What the lock kept from starting starts now.
                self.unlocked_evaluate();
            }
            return self.reply(RgCode::Success);
        }
        let Some(s) = self.cfg.service_index(r.service()) else {
            return self.reply(RgCode::NoService);
        };
        if !self.quorate {
            return self.reply(RgCode::Quorum);
        }
        let code = match r {
            Request::Enable { node, .. } => self.req_enable(s, *node, true),
            Request::Disable { .. } => self.req_disable(s),
            Request::Relocate { node, .. } => self.req_relocate(s, *node),
            Request::Restart { .. } => self.req_restart(s),
            Request::Stop { .. } => self.req_stop(s),
            Request::Freeze { .. } => self.req_freeze(s, true),
            Request::Unfreeze { .. } => self.req_freeze(s, false),
            Request::Migrate { node, .. } => self.req_migrate(s, *node),
            Request::Convalesce { .. } => self.req_convalesce(s),
            Request::Lock { .. } => RgCode::Invalid,
        };
        self.reply(code);
    }

    /// Checks shared by the requests that stop or move a running service.
    fn gate(&self, s: usize) -> Result<(), RgCode> {
        let st = self.status(s);
        if st.frozen {
            return Err(RgCode::Frozen);
        }
        if self.owner_lost(s) {
            return Err(RgCode::Fence);
        }
        Ok(())
    }

    /// Start a service that runs nowhere, on `node` or by domain rules. `enable`: the
    /// administrator's enable, which may also start a disabled service.
    fn req_enable(&mut self, s: usize, node: Option<NodeId>, enable: bool) -> RgCode {
        if let Err(c) = self.gate(s) {
            return c;
        }
        let st = self.status(s);
        match st.state {
            State::Failed => {
                let name = self.name(s);
                self.log(
                    Level::Err,
                    format!("#43: Service {name} has failed; can not start."),
                );
                return RgCode::Fail;
            }
            State::Disabled | State::Uninitialized if !enable => return RgCode::Fail,
            x if x.holds() && !self.owner_safely_down(s) => return RgCode::Running,
            _ => {}
        }
        if !self.depend_ok(s) {
            return RgCode::Depend;
        }
        if self.locked {
            // RHCS's svc_advise_start: no start while resource groups are locked.
            return RgCode::Again;
        }
        let target = match node {
            Some(id) => {
                let Some(i) = self
                    .cfg
                    .node_index(id)
                    .filter(|&i| self.members[i].is_online())
                else {
                    return RgCode::Node;
                };
                if self.score(i, s) == Score::Illegal {
                    return RgCode::Domain;
                }
                if !self.exclusive_ok(i, s) {
                    return RgCode::Exclusive;
                }
                i
            }
            None => match self.best_target(s, &[]) {
                Ok(i) => i,
                Err(NoTarget::Domain) => return RgCode::Domain,
                Err(NoTarget::Exclusive) => return RgCode::Exclusive,
            },
        };
        let name = self.name(s);
        let text = match st.state {
            State::Disabled | State::Uninitialized => format!("Starting disabled service {name}"),
            x if x.holds() => match st.owner {
                Some(o) => format!(
                    "Taking over service {name} from down member {}",
                    self.node_name(o)
                ),
                None => format!("Starting stopped service {name}"),
            },
            _ => format!("Starting stopped service {name}"),
        };
        self.log(Level::Notice, text);
        self.start(s, target);
        RgCode::Success
    }

    fn req_disable(&mut self, s: usize) -> RgCode {
        if let Err(c) = self.gate(s) {
            return c;
        }
        let st = self.status(s);
        let name = self.name(s);
        if let Some(o) = self.online_owner(s) {
            let node = self.node_id(o);
            self.take_down(
                s,
                Action::Stop {
                    service: name,
                    node,
                    to: State::Disabled,
                },
            );
            return RgCode::Success;
        }
        if st.state == State::Failed {
            // The node where the stop failed is lost and not fenced: whatever it left running
            // may still run. Disabling it now would let an enable start it elsewhere.
            if st
                .last_owner
                .is_some_and(|o| self.member_of(o) == NodeState::Lost)
            {
                return RgCode::Fence;
            }
            // Run the stop where the resources may have been left, if that node is up.
            if let Some(o) = st
                .last_owner
                .and_then(|o| self.cfg.node_index(o))
                .filter(|&o| self.members[o].is_online())
            {
                let node = self.node_id(o);
                self.take_down(
                    s,
                    Action::Stop {
                        service: name,
                        node,
                        to: State::Disabled,
                    },
                );
                return RgCode::Success;
            }
        }
        self.down[s] = true;
        self.stop_dependents(s);
        self.mark(s, State::Disabled);
        RgCode::Success
    }

    /// Refusals shared by relocate, restart and stop of a service in flight.
    fn in_flight(&self, s: usize) -> bool {
        let st = self.status(s);
        st.state.holds() && st.state != State::Started && self.online_owner(s).is_some()
    }

    fn req_relocate(&mut self, s: usize, node: Option<NodeId>) -> RgCode {
        if let Err(c) = self.gate(s) {
            return c;
        }
        match self.status(s).state {
            State::Disabled | State::Uninitialized => return RgCode::Invalid,
            State::Failed => return RgCode::Fail,
            _ => {}
        }
        if self.in_flight(s) || self.locked {
            // Locked: refused before anything stops (RHCS stopped it, then could not start
            // it anywhere and started it again on its owner).
            return RgCode::Again;
        }
        let Some(o) = self.online_owner(s) else {
            // Not running: relocating it starts it.
            return self.req_enable(s, node, false);
        };
        let target = match node {
            Some(id) => {
                let Some(i) = self
                    .cfg
                    .node_index(id)
                    .filter(|&i| self.members[i].is_online())
                else {
                    return RgCode::Node;
                };
                if i == o {
                    return RgCode::Running;
                }
                if self.score(i, s) == Score::Illegal {
                    return RgCode::Domain;
                }
                if !self.exclusive_ok(i, s) {
                    return RgCode::Depend;
                }
                i
            }
            None => match self.best_target(s, &[o]) {
                Ok(i) => i,
                // Nowhere else to go: it keeps running where it is.
                Err(_) => return RgCode::Relocated,
            },
        };
        let name = self.name(s);
        let to = self.node_id(target);
        self.take_down(
            s,
            Action::Relocate {
                service: name,
                from: self.node_id(o),
                to,
            },
        );
        self.plan_on(target, s);
        RgCode::Success
    }

    fn req_restart(&mut self, s: usize) -> RgCode {
        if let Err(c) = self.gate(s) {
            return c;
        }
        match self.status(s).state {
            State::Disabled | State::Uninitialized | State::Failed => return RgCode::Fail,
            _ => {}
        }
        if self.in_flight(s) || self.locked {
            return RgCode::Again;
        }
        let Some(o) = self.online_owner(s) else {
            return self.req_enable(s, None, false);
        };
        if self.score(o, s) == Score::Illegal {
            // Its node is outside its restricted domain now: restart it where it may run.
            return match self.best_target(s, &[o]) {
                Ok(t) => {
                    let (name, from, to) = (self.name(s), self.node_id(o), self.node_id(t));
                    self.take_down(
                        s,
                        Action::Relocate {
                            service: name,
                            from,
                            to,
                        },
                    );
                    self.plan_on(t, s);
                    RgCode::Success
                }
                Err(_) => RgCode::Domain,
            };
        }
        let name = self.name(s);
        let node = self.node_id(o);
        self.take_down(
            s,
            Action::Restart {
                service: name,
                node,
                recover: false,
            },
        );
        RgCode::Success
    }

    fn req_stop(&mut self, s: usize) -> RgCode {
        if let Err(c) = self.gate(s) {
            return c;
        }
        let st = self.status(s);
        if st.state == State::Failed {
            return RgCode::Fail;
        }
        if self.in_flight(s) {
            return RgCode::Again;
        }
        let name = self.name(s);
        if let Some(o) = self.online_owner(s) {
            let node = self.node_id(o);
            self.take_down(
                s,
                Action::Stop {
                    service: name,
                    node,
                    to: State::Stopped,
                },
            );
        } else if st.state.holds() {
            // Held by a node known to be down: the record only.
            self.mark(s, State::Stopped);
        }
        RgCode::Success
    }

    /// After `clusvcadm -u`: what the lock held back (stopped services, takeovers) is
    /// decided as at a transition. The lock is already off in this decision.
    fn unlocked_evaluate(&mut self) {
        self.locked = false;
        self.evaluate(None);
    }

    /// `svc_migrate`: only a `vm` migrates; the target must be online, allowed by the
    /// domain and free of exclusive conflicts; the service must be started and not frozen.
    /// Carried out as a relocation (stop, then start on the target): there is no live
    /// migration agent.
    fn req_migrate(&mut self, s: usize, node: NodeId) -> RgCode {
        let name = self.name(s);
        if !name.starts_with("vm:") {
            return RgCode::Invalid;
        }
        let Some(i) = self.cfg.node_index(node) else {
            return RgCode::Invalid;
        };
        if !self.members[i].is_online() {
            return RgCode::Node;
        }
        if self.score(i, s) == Score::Illegal || !self.exclusive_ok(i, s) {
            return RgCode::Depend;
        }
        let st = self.status(s);
        if st.owner == Some(node) && st.state.holds() {
            // Not to its current owner: nothing to do.
            return RgCode::Success;
        }
        match st.state {
            State::Started => {}
            State::Starting
            | State::Stopping
            | State::Recovering
            | State::Migrating
            | State::Recoverable => return RgCode::Again,
            _ => return RgCode::Fail,
        }
        if st.frozen {
            return RgCode::Frozen;
        }
        if self.owner_lost(s) {
            return RgCode::Fence;
        }
        if self.locked {
            return RgCode::Again;
        }
        let Some(o) = self.online_owner(s) else {
            return RgCode::Fail;
        };
        self.log(
            Level::Notice,
            format!("Migrating {name} to {}", self.node_name(node)),
        );
        self.take_down(
            s,
            Action::Relocate {
                service: name,
                from: self.node_id(o),
                to: node,
            },
        );
        self.plan_on(i, s);
        RgCode::Success
    }

    /// `svc_convalesce`: a started service that runs partly gets its stopped non-critical
    /// parts started again on its owner; one that runs whole answers "already running".
    fn req_convalesce(&mut self, s: usize) -> RgCode {
        let st = self.status(s);
        match st.state {
            State::Started => {}
            State::Starting
            | State::Stopping
            | State::Recovering
            | State::Migrating
            | State::Recoverable => return RgCode::Again,
            _ => return RgCode::Invalid,
        }
        if st.frozen {
            return RgCode::Frozen;
        }
        let Some(o) = self.online_owner(s) else {
            return RgCode::Fence;
        };
        if !st.partial {
            return RgCode::Running;
        }
        let name = self.name(s);
        self.log(Level::Info, format!("Repairing {name}"));
        self.out.push(Action::Convalesce {
            service: name,
            node: self.node_id(o),
        });
        self.touched[s] = true;
        RgCode::Success
    }

    fn req_freeze(&mut self, s: usize, frozen: bool) -> RgCode {
        let st = self.status(s);
        if !matches!(st.state, State::Stopped | State::Started | State::Disabled) {
            return RgCode::Again;
        }
        if st.frozen != frozen {
            self.out.push(Action::Freeze {
                service: self.name(s),
                frozen,
            });
            self.touched[s] = true;
        }
        RgCode::Success
    }
}
