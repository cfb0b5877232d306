//! The coordinator's bookkeeping, sans-I/O: the replicated service table (the policy's
//! [`ClusterView`]), the policy's actions turned into orders for the nodes that run services,
//! and the results of those orders turned back into table changes and policy events.
//!
//! It exists so that what the coordinator does with the policy can be tested without sockets or
//! processes: the daemon feeds it membership events and order results and sends the orders
//! it returns. Every node holds one: only the coordinator decides; the others keep the
//! membership part of their view current and take the service table from the coordinator's
//! broadcasts, so that any of them can take over.

use std::collections::{BTreeMap, BTreeSet};

use crate::policy::{self, Action, ClusterView, Event, Holds, Level, NodeId, NodeState, State};
use crate::state::RgCode;

use super::wire::{Op, Record};

/// What a member says it holds, in its report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Services running there (a failed stop's service included: its resources may be up).
    pub running: BTreeSet<String>,
    /// Services whose stop failed there.
    pub failed: BTreeSet<String>,
    /// The member is shutting down.
    pub leaving: bool,
}

/// An order to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    pub node: NodeId,
    pub service: String,
    pub op: Op,
}

/// What completes when an order succeeds.
#[derive(Clone, Debug)]
enum Then {
    /// Record the action in the table.
    Apply(Action),
    /// First half of a relocation or restart: start on this node next, then record the action.
    StartOn(NodeId, Action),
}

#[derive(Clone, Debug)]
struct Pending {
    order: Order,
    then: Then,
}

/// The table and the orders in flight.
#[derive(Debug)]
pub struct Coordinator {
    pub view: ClusterView,
    next_id: u64,
    /// By service name: one transition at a time per service.
    pending: BTreeMap<String, Pending>,
    /// The answer the policy gave to the last request (`Action::Reply`).
    reply: Option<RgCode>,
    /// Set when an action was dropped because its service was busy.
    dropped: bool,
    /// Membership events seen while orders were in flight: decided again when an order
    /// completes (a failback is only decided on the join itself).
    deferred: Vec<Event>,
    /// Services that may still run on lost nodes nobody has fenced yet, by service: each is
    /// recorded as running on one of them (the policy moves nothing of a lost node) until
    /// every one is fenced or back. See [`Coordinator::suspect_lost`].
    suspects: BTreeMap<String, BTreeSet<NodeId>>,
    /// Failed stops on a node that does not own the service, said once each.
    stop_alarms: BTreeSet<(NodeId, String)>,
    /// Set while an event is decided again ([`Coordinator::replay`]): not news of a new run.
    replaying: bool,
}

impl Coordinator {
    pub fn new(view: ClusterView) -> Coordinator {
        Coordinator {
            view,
            next_id: 1,
            pending: BTreeMap::new(),
            reply: None,
            dropped: false,
            deferred: Vec::new(),
            suspects: BTreeMap::new(),
            stop_alarms: BTreeSet::new(),
            replaying: false,
        }
    }

    /// Decides `event` again: a deferred one, or the join a rebuild reconsiders for failback.
    /// It is not news: a member that said it is shutting down still is (seed 41269: the
    /// rebuild's joins cleared that, and a coordinator shutting down placed the services only
    /// it may run on itself, refused them, and placed them again, for ever).
    fn replay(&mut self, event: &Event) -> Vec<Order> {
        self.replaying = true;
        let out = self.handle(event);
        self.replaying = false;
        out
    }

    /// Forgets the orders in flight (this node stopped coordinating): their answers, should
    /// they come, are ignored, and they are not resent.
    pub fn drop_orders(&mut self) {
        self.pending.clear();
        self.deferred.clear();
    }

    /// Orders not answered yet (resent until they are).
    pub fn outstanding(&self) -> impl Iterator<Item = &Order> {
        self.pending.values().map(|p| &p.order)
    }

    /// Whether an order for `service` is in flight (a request waits for it before answering).
    pub fn busy(&self, service: &str) -> bool {
        self.pending.contains_key(service)
    }

    /// An administrator's request: the policy's answer code and the orders it gives.
    pub fn request(&mut self, req: policy::Request) -> (RgCode, Vec<Order>) {
        self.reply = None;
        let orders = self.handle(&Event::Request(req));
        (self.reply.take().unwrap_or(RgCode::Fail), orders)
    }

    /// A membership or quorum fact seen by a node that does not coordinate: recorded only.
    pub fn observe(&mut self, event: &Event) {
        self.view.apply_event(event);
        self.suspects_after(event);
    }

    /// An event on the coordinator: recorded, decided on, and the decisions carried out.
    pub fn handle(&mut self, event: &Event) -> Vec<Order> {
        self.view.apply_event(event);
        self.suspects_after(event);
        if let Event::NodeLeft { node, clean } = event {
            self.forget_orders_to(*node, *clean);
        }
        // The policy does not move a service in transition (a failback is decided on the
        // join only): an event seen while orders are in flight is decided again after them.
        let busy = !self.pending.is_empty();
        let actions = policy::decide(&self.view, event);
        self.dropped = false;
        let orders = self.execute(actions);
        let membership = matches!(
            event,
            Event::NodeJoined(_)
                | Event::NodeLeft { .. }
                | Event::NodeFenced(_)
                | Event::QuorumRegained
                | Event::Evaluate
        );
        if (busy || self.dropped) && membership && !self.deferred.contains(event) {
            self.deferred.push(event.clone());
        }
        orders
    }

    /// Orders to a node that left are never answered. After a clean leave the node stopped its
    /// services first, so they are stopped; after a failure the service stays with the lost
    /// node (fencing decides later).
    fn forget_orders_to(&mut self, node: NodeId, clean: bool) {
        let gone: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.order.node == node)
            .map(|(s, _)| s.clone())
            .collect();
        for s in gone {
            self.pending.remove(&s);
            if let Some(st) = self.view.service_mut(&s) {
                if clean {
                    st.state = State::Stopped;
                    st.owner = None;
                    st.last_owner = Some(node);
                } else {
                    st.owner = Some(node);
                    st.state = State::Started;
                }
            }
        }
    }

    fn order(&mut self, node: NodeId, service: &str, op: Op, then: Then) -> Option<Order> {
        if self.pending.contains_key(service) {
            tracing::debug!("{service} is busy; {op:?} on node {node} deferred");
            self.dropped = true;
            return None;
        }
        let order = Order {
            id: self.next_id,
            node,
            service: service.to_string(),
            op,
        };
        self.next_id += 1;
        self.pending.insert(
            service.to_string(),
            Pending {
                order: order.clone(),
                then,
            },
        );
        Some(order)
    }

    fn set_state(&mut self, service: &str, state: State) {
        if let Some(st) = self.view.service_mut(service) {
            st.state = state;
        }
    }

    /// Carries the policy's actions out: orders for what runs on nodes, table changes for the
    /// rest.
    pub fn execute(&mut self, actions: Vec<Action>) -> Vec<Order> {
        let mut out = Vec::new();
        for a in actions {
            match &a {
                Action::Start { service, node } => {
                    let (service, node) = (service.clone(), *node);
                    if let Some(o) = self.order(node, &service, Op::Start, Then::Apply(a)) {
                        if let Some(st) = self.view.service_mut(&service) {
                            st.state = State::Starting;
                            if st.owner.is_some() && st.owner != Some(node) {
                                st.last_owner = st.owner;
                            }
                            st.owner = Some(node);
                        }
                        out.push(o);
                    }
                }
                Action::Stop { service, node, .. } => {
                    let (service, node) = (service.clone(), *node);
                    if let Some(o) = self.order(node, &service, Op::Stop, Then::Apply(a)) {
                        // A failed service stays `failed` while it is being disabled.
                        if self.view.service(&service).map(|st| st.state) != Some(State::Failed) {
                            self.set_state(&service, State::Stopping);
                        }
                        out.push(o);
                    }
                }
                Action::Relocate { service, from, to } => {
                    let (service, from, to) = (service.clone(), *from, *to);
                    if let Some(o) = self.order(from, &service, Op::Stop, Then::StartOn(to, a)) {
                        self.set_state(&service, State::Stopping);
                        out.push(o);
                    }
                }
                Action::Restart { service, node, .. } => {
                    let (service, node) = (service.clone(), *node);
                    if let Some(o) = self.order(node, &service, Op::Stop, Then::StartOn(node, a)) {
                        self.set_state(&service, State::Stopping);
                        out.push(o);
                    }
                }
                Action::EmergencyStop { service, node } => {
                    let (service, node) = (service.clone(), *node);
                    // Quorum is gone: the stop overrides an order in flight (a start decided
                    // just before must not leave the service running without quorum).
                    if self.pending.remove(&service).is_some() {
                        tracing::debug!("{service}: order in flight replaced by a stop");
                    }
                    let mark = Action::Mark {
                        service: service.clone(),
                        state: State::Stopped,
                    };
                    if let Some(o) = self.order(node, &service, Op::Stop, Then::Apply(mark)) {
                        out.push(o);
                    }
                    self.view.apply(&a);
                }
                Action::Convalesce { service, node } => {
                    let (service, node) = (service.clone(), *node);
                    if let Some(o) = self.order(node, &service, Op::Convalesce, Then::Apply(a)) {
                        out.push(o);
                    }
                }
                Action::Mark { .. }
                | Action::Freeze { .. }
                | Action::ClearRestarts { .. }
                | Action::Lock { .. } => self.view.apply(&a),
                Action::Log { level, text } => log(*level, text),
                Action::Reply(code) => self.reply = Some(*code),
            }
        }
        out
    }

    /// The result of order `id` from `node`, for `service` and `op` as the member ran it: the
    /// table changes and the policy hears of it. Unknown ids (answered twice, or from before a
    /// takeover) are ignored, and so is an answer naming another service or operation than our
    /// order of that id: it answers an order of an earlier run of this node, whose ids were
    /// the same numbers.
    pub fn answered(
        &mut self,
        node: NodeId,
        id: u64,
        service: &str,
        op: Op,
        ok: bool,
    ) -> Vec<Order> {
        let known = self.pending.values().any(|p| {
            p.order.id == id
                && p.order.node == node
                && p.order.service == service
                && p.order.op == op
        });
        if !known {
            return Vec::new();
        }
        let mut out = self.done_inner(node, id, ok);
        for e in std::mem::take(&mut self.deferred) {
            // Only what is still true is decided again.
            let current = match &e {
                Event::NodeJoined(n) => self.view.member(*n) == NodeState::Online,
                Event::NodeLeft { node, .. } | Event::NodeFenced(node) => {
                    self.view.member(*node) != NodeState::Online
                }
                Event::QuorumRegained => self.view.quorate,
                _ => true,
            };
            if current {
                out.extend(self.replay(&e));
            }
        }
        out
    }

    /// [`answered`](Self::answered) with the service and operation of our own order `id`
    /// (tests answer as the member would).
    #[cfg(test)]
    pub fn done(&mut self, node: NodeId, id: u64, ok: bool) -> Vec<Order> {
        let order = self
            .pending
            .values()
            .find(|p| p.order.id == id && p.order.node == node)
            .map(|p| (p.order.service.clone(), p.order.op));
        match order {
            Some((service, op)) => self.answered(node, id, &service, op, ok),
            None => Vec::new(),
        }
    }

    fn done_inner(&mut self, node: NodeId, id: u64, ok: bool) -> Vec<Order> {
        let Some(service) = self
            .pending
            .iter()
            .find(|(_, p)| p.order.id == id && p.order.node == node)
            .map(|(s, _)| s.clone())
        else {
            return Vec::new();
        };
        let Some(p) = self.pending.remove(&service) else {
            return Vec::new();
        };
        let service = p.order.service;
        match (p.order.op, ok, p.then) {
            (Op::Start, true, Then::Apply(a)) | (Op::Start, true, Then::StartOn(_, a)) => {
                self.view.apply(&a);
                self.handle(&Event::Started { service, node })
            }
            (Op::Start, false, _) => {
                // The policy decides with the service still starting there (it relocates it,
                // or disables it, or leaves it stopped); what it did not take over is stopped.
                let out = self.handle(&Event::StartFailed {
                    service: service.clone(),
                    node,
                });
                if !self.busy(&service) {
                    if let Some(st) = self.view.service_mut(&service) {
                        if st.state.holds() && st.owner == Some(node) {
                            st.state = State::Stopped;
                            st.owner = None;
                            st.last_owner = Some(node);
                        }
                    }
                }
                out
            }
            (Op::Stop, true, Then::Apply(a)) => {
                self.view.apply(&a);
                self.handle(&Event::Stopped { service, node })
            }
            (Op::Stop, true, Then::StartOn(to, a)) => {
                if let Some(st) = self.view.service_mut(&service) {
                    st.state = State::Stopped;
                    st.owner = None;
                    st.last_owner = Some(node);
                }
                let mut out = Vec::new();
                if let Some(o) = self.order(to, &service, Op::Start, Then::Apply(a)) {
                    if let Some(st) = self.view.service_mut(&service) {
                        st.state = State::Starting;
                        st.owner = Some(to);
                    }
                    out.push(o);
                }
                out
            }
            (Op::Stop, false, _) => {
                // The policy marks it failed (or, when a failed service was being disabled,
                // disabled with a warning); a stop it does not judge still leaves it failed.
                let out = self.handle(&Event::StopFailed {
                    service: service.clone(),
                    node,
                });
                if let Some(st) = self.view.service_mut(&service) {
                    if st.state.holds() {
                        st.state = State::Failed;
                        st.last_owner = Some(node);
                        st.owner = None;
                    }
                }
                out
            }
            (Op::Convalesce, true, Then::Apply(a))
            | (Op::Convalesce, true, Then::StartOn(_, a)) => {
                tracing::info!("Repair of {service} was successful");
                self.view.apply(&a);
                Vec::new()
            }
            (Op::Convalesce, false, _) => {
                // A non-critical part that does not start does not fail the service.
                tracing::warn!("Failed to repair {service}");
                Vec::new()
            }
        }
    }

    /// A new coordinator's table: the last table it received, corrected by what the members
    /// report running (local state is the truth); services of a lost node stay with it.
    pub fn rebuild(&mut self, reports: &BTreeMap<NodeId, Held>) -> Vec<Order> {
        self.pending.clear();
        self.deferred.clear();
        self.view.leaving = reports
            .iter()
            .filter(|(_, h)| h.leaving)
            .map(|(n, _)| *n)
            .collect();
        let names: Vec<String> = self
            .view
            .config
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        for (i, name) in names.iter().enumerate() {
            let runs: Vec<NodeId> = reports
                .iter()
                .filter(|(_, r)| r.running.contains(name))
                .map(|(n, _)| *n)
                .collect();
            // A stop failed there: failed, whatever the table said, unless a member runs it
            // (then it stays with that member, and the failure is the other node's to clean).
            if let Some((n, _)) = reports.iter().find(|(_, r)| r.failed.contains(name)) {
                let runner = runs.iter().copied().find(|r| r != n);
                if let Some(r) = runner {
                    if self.stop_alarms.insert((*n, name.clone())) {
                        tracing::error!(
                            "{name} failed to stop on node {n} while it runs on node {r}: its \
                             resources may still be up on node {n}; stop them there by hand"
                        );
                    }
                } else {
                    let st = &mut self.view.services[i];
                    st.state = State::Failed;
                    st.owner = None;
                    st.last_owner = Some(*n);
                    continue;
                }
            }
            let owner_state = self.view.services[i].owner.map(|o| self.view.member(o));
            let st = &mut self.view.services[i];
            match runs.as_slice() {
                [] => {
                    // A lost owner may still run it; a fenced one's record is kept so that
                    // the policy takes it over (and says so) below.
                    let keep = matches!(owner_state, Some(NodeState::Lost | NodeState::Fenced));
                    if !keep {
                        if st.owner.is_some() {
                            st.last_owner = st.owner;
                        }
                        st.owner = None;
                        if st.state.holds() {
                            st.state = State::Stopped;
                        }
                    }
                }
                [n, ..] => {
                    if runs.len() > 1 {
                        tracing::error!("{name} is running on several nodes: {runs:?}");
                    }
                    if st.state == State::Failed {
                        // A stop failed there: it stays failed until an administrator
                        // disables it (its resources may be up, so the node is noted).
                        st.last_owner = Some(*n);
                    } else {
                        st.owner = Some(*n);
                        st.state = State::Started;
                    }
                }
            }
        }
        let running: BTreeSet<String> = reports
            .values()
            .flat_map(|h| h.running.iter().cloned())
            .collect();
        self.suspect_lost(&running);
        let mut out = self.handle(&Event::Evaluate);
        // A failback is decided when a node joins; a node that joined under the previous
        // coordinator is considered now.
        let online: Vec<NodeId> = self
            .view
            .config
            .nodes
            .iter()
            .map(|n| n.id)
            .filter(|id| self.view.member(*id) == NodeState::Online)
            .collect();
        for n in online {
            out.extend(self.replay(&Event::NodeJoined(n)));
        }
        out
    }

    /// A lost node fenced or back is no suspect any more; a service it was recorded on moves
    /// to the next suspect, if any, so that the policy still moves nothing of it.
    fn suspects_after(&mut self, event: &Event) {
        // A node that left, or joined again, is not shutting down any more (a new run).
        if let Event::NodeJoined(n) | Event::NodeLeft { node: n, .. } = event {
            if !self.replaying {
                self.view.leaving.remove(n);
            }
        }
        let (Event::NodeFenced(n) | Event::NodeJoined(n)) = event else {
            return;
        };
        let n = *n;
        let mut clear = Vec::new();
        for (service, nodes) in self.suspects.iter_mut() {
            if !nodes.remove(&n) {
                continue;
            }
            // A suspect fenced: the service goes to the next one. A suspect back as a member
            // keeps it until its report says whether it runs it (`reconcile`).
            let next = nodes.iter().next().copied();
            let fenced = matches!(event, Event::NodeFenced(_));
            match (next, self.view.service_mut(service)) {
                (Some(next), Some(st)) if fenced && st.owner == Some(n) => {
                    st.owner = Some(next);
                    st.state = State::Started;
                }
                _ => {}
            }
            if nodes.is_empty() {
                clear.push(service.clone());
            }
        }
        for s in clear {
            self.suspects.remove(&s);
        }
    }

    /// Whether node `n` may run service index `s` at all (its domain is not restricted, or
    /// lists it).
    fn could_run(&self, s: usize, n: NodeId) -> bool {
        let cfg = &self.view.config;
        let crate::policy::view::DomainRef::Index(d) = cfg.services[s].domain else {
            return true;
        };
        let Some(dom) = cfg.domains.get(d) else {
            return true;
        };
        !dom.restricted
            || cfg
                .node_index(n)
                .and_then(|i| dom.rank.get(i).copied().flatten())
                .is_some()
    }

    /// A coordinator's table may miss what a failed coordinator did last (a start it ordered
    /// on itself, a table broadcast lost), and one started afresh knows nothing at all. So a
    /// service that no member runs, that is not disabled or failed, and that a lost node nobody
    /// fenced could run, is held by every such node: it is recorded as running on one of them,
    /// and moves only once all of them are fenced (or back and reporting). Only services the
    /// policy would start by itself are held: a disabled one starts only on an administrator's
    /// enable.
    pub fn suspect_lost(&mut self, running_somewhere: &BTreeSet<String>) {
        let lost: Vec<NodeId> = self
            .view
            .config
            .nodes
            .iter()
            .map(|n| n.id)
            .filter(|id| self.view.member(*id) == NodeState::Lost)
            .collect();
        if lost.is_empty() {
            return;
        }
        for s in 0..self.view.services.len() {
            let name = self.view.config.services[s].name.clone();
            if running_somewhere.contains(&name) || self.busy(&name) {
                continue;
            }
            let st = &self.view.services[s];
            if matches!(st.state, State::Disabled | State::Failed) {
                continue;
            }
            // The table has it on a member: that member's reports say where it runs.
            if st.state.holds()
                && st
                    .owner
                    .is_some_and(|o| self.view.member(o) == NodeState::Online)
            {
                continue;
            }
            let nodes: BTreeSet<NodeId> = lost
                .iter()
                .copied()
                .filter(|n| self.could_run(s, *n))
                .collect();
            if nodes.is_empty() {
                continue;
            }
            let owner = self.view.services[s].owner;
            let st = &mut self.view.services[s];
            if !owner.is_some_and(|o| nodes.contains(&o)) {
                if let Some(first) = nodes.iter().next() {
                    st.owner = Some(*first);
                    st.state = State::Started;
                }
            }
            self.suspects.entry(name).or_default().extend(nodes);
        }
    }

    /// A member's periodic report after the takeover, against the table: a service the table
    /// has started there and that it no longer runs has failed (the policy recovers it), unless
    /// the member is shutting down (it stops its services itself, and they move once it has
    /// left); one it runs that the table has stopped is recorded as running there; one whose
    /// stop failed there is failed. Services in transition are left alone.
    pub fn reconcile(&mut self, node: NodeId, held: &Held) -> Vec<Order> {
        let mut out = Vec::new();
        if held.leaving {
            self.view.leaving.insert(node);
        } else {
            self.view.leaving.remove(&node);
        }
        for name in &held.failed {
            let Some(st) = self.view.service(name) else {
                continue;
            };
            if st.state == State::Failed || self.busy(name) {
                continue;
            }
            // It runs on another member (this node's stop that failed was its initial stop,
            // say): it stays there; the failure is this node's to clean up.
            if st.state.holds()
                && st
                    .owner
                    .is_some_and(|o| o != node && self.view.member(o) == NodeState::Online)
            {
                if self.stop_alarms.insert((node, name.clone())) {
                    tracing::error!(
                        "{name} failed to stop on node {node} while it runs on node {:?}: its \
                         resources may still be up on node {node}; stop them there by hand",
                        st.owner
                    );
                }
                continue;
            }
            // The policy hears the failed stop from the node that holds the service.
            if let Some(st) = self.view.service_mut(name) {
                st.owner = Some(node);
                st.state = State::Started;
            }
            out.extend(self.handle(&Event::StopFailed {
                service: name.clone(),
                node,
            }));
            if let Some(st) = self.view.service_mut(name) {
                if st.state.holds() {
                    st.state = State::Failed;
                    st.owner = None;
                    st.last_owner = Some(node);
                }
            }
        }
        for i in 0..self.view.services.len() {
            let name = self.view.config.services[i].name.clone();
            if self.busy(&name) {
                continue;
            }
            let here = held.running.contains(&name);
            let suspects: Vec<NodeId> = self
                .suspects
                .get(&name)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            let st = &mut self.view.services[i];
            // Any state in which the owner may hold it, with no order of ours in flight (busy
            // services were skipped above): a Starting or Stopping left from orders an earlier
            // coordinatorship gave, or kept for a lost owner that came back unfenced, ends
            // here, since the member's report names what it runs and what it is starting.
            if st.owner == Some(node) && st.state.holds() && !here {
                if held.leaving {
                    // Stopped by its node's shutdown, cleanly: placed elsewhere now, without
                    // waiting for the node to leave (it may stay, holding a failed stop).
                    st.state = State::Stopped;
                    st.last_owner = st.owner.take();
                    out.extend(self.handle(&Event::Evaluate));
                    continue;
                }
                if let Some(next) = suspects.iter().copied().find(|n| *n != node) {
                    // It was only suspected here; another lost node may still run it.
                    st.owner = Some(next);
                    continue;
                }
                if !suspects.is_empty() {
                    // The last suspect is back and does not run it: it ran nowhere.
                    self.suspects.remove(&name);
                    st.state = State::Stopped;
                    st.last_owner = st.owner.take();
                    out.extend(self.handle(&Event::Evaluate));
                    continue;
                }
                if st.state != State::Started {
                    tracing::info!(
                        "{name} was {:?} on node {node} with no operation left there: it runs \
                         nowhere",
                        st.state
                    );
                    st.state = State::Stopped;
                    st.last_owner = st.owner.take();
                    out.extend(self.handle(&Event::Evaluate));
                    continue;
                }
                tracing::warn!("{name} is no longer running on node {node}");
                out.extend(self.handle(&Event::StatusFailed {
                    service: name,
                    node,
                }));
            } else if here && st.owner == Some(node) && st.state.holds() {
                if st.state != State::Started {
                    // The same, the other way: it runs (or is starting) there.
                    st.state = State::Started;
                    out.extend(self.handle(&Event::Evaluate));
                }
            } else if here && st.owner != Some(node) {
                if st.state == State::Failed {
                    // Its stop failed there: it stays failed, whatever is left running,
                    // until an administrator disables it.
                } else if st.state.holds() && !suspects.is_empty() {
                    // Found: it runs on this member, not on the lost nodes it was held for.
                    st.owner = Some(node);
                    st.state = State::Started;
                    self.suspects.remove(&name);
                } else if st.state.holds() {
                    tracing::error!(
                        "{name} is running on node {node} but belongs to node {:?}",
                        st.owner
                    );
                } else {
                    st.owner = Some(node);
                    st.state = State::Started;
                }
            }
        }
        out
    }

    /// The table as broadcast.
    pub fn records(&self) -> Vec<Record> {
        self.view
            .config
            .services
            .iter()
            .zip(&self.view.services)
            .map(|(c, s)| Record {
                name: c.name.clone(),
                state: s.state,
                owner: s.owner,
                last_owner: s.last_owner,
                frozen: s.frozen,
                restarts: s.restarts.clone(),
                last_transition: s.last_transition,
                partial: s.partial,
            })
            .collect()
    }

    /// A member found non-critical parts of `service` stopped: the table says it runs
    /// partly. True when that changed the table.
    pub fn set_partial(&mut self, node: NodeId, service: &str) -> bool {
        if self.busy(service) {
            return false;
        }
        match self.view.service_mut(service) {
            Some(st) if st.owner == Some(node) && st.state == State::Started && !st.partial => {
                st.partial = true;
                true
            }
            _ => false,
        }
    }

    /// Takes the coordinator's table.
    pub fn adopt(&mut self, records: &[Record]) {
        for r in records {
            if let Some(st) = self.view.service_mut(&r.name) {
                st.state = r.state;
                st.owner = r.owner;
                st.last_owner = r.last_owner;
                st.frozen = r.frozen;
                st.restarts = r.restarts.clone();
                st.last_transition = r.last_transition;
                st.partial = r.partial;
            }
        }
    }
}

fn log(level: Level, text: &str) {
    match level {
        Level::Debug => tracing::debug!("{text}"),
        Level::Info | Level::Notice => tracing::info!("{text}"),
        Level::Warning => tracing::warn!("{text}"),
        Level::Err | Level::Crit | Level::Alert => tracing::error!("{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/>
        <clusternode name="n3" nodeid="3"/></clusternodes>
      <rm><failoverdomains>
        <failoverdomain name="d1" ordered="1"><failoverdomainnode name="n1" priority="1"/>
          <failoverdomainnode name="n2" priority="2"/></failoverdomain>
        <failoverdomain name="d2" ordered="1"><failoverdomainnode name="n2" priority="1"/>
          <failoverdomainnode name="n3" priority="2"/></failoverdomain>
      </failoverdomains>
      <service name="a" domain="d1"/><service name="b" domain="d2"/></rm></cluster>"#;

    fn held(running: &[&str]) -> Held {
        Held {
            running: running.iter().map(|s| s.to_string()).collect(),
            ..Held::default()
        }
    }

    #[test]
    fn a_member_shutting_down_is_left_to_stop_its_services_and_a_failed_stop_is_failed() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        // Node 1 shuts down, its stop of a under way: a stays its, nothing is placed on node 1.
        let leaving = Held {
            running: BTreeSet::from(["service:a".to_string()]),
            leaving: true,
            ..Held::default()
        };
        assert!(c.reconcile(1, &leaving).is_empty());
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
        assert!(c.view.leaving.contains(&1));
        // Its stop of a failed: the service is failed, kept from everyone.
        let failed = Held {
            running: BTreeSet::from(["service:a".to_string()]),
            failed: BTreeSet::from(["service:a".to_string()]),
            leaving: true,
        };
        c.reconcile(1, &failed);
        let st = c.view.service("a").unwrap();
        assert_eq!((st.state, st.last_owner), (State::Failed, Some(1)));
        assert!(c.handle(&Event::Evaluate).is_empty());
        // Its clean leave later moves nothing of a failed service.
        assert!(c
            .handle(&Event::NodeLeft {
                node: 1,
                clean: true
            })
            .is_empty());
        assert_eq!(owner(&c, "a"), (None, State::Failed));
    }

    #[test]
    fn a_leaving_members_cleanly_stopped_service_moves_before_it_leaves() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
        // Node 1's shutdown stopped a cleanly (a report no longer holds it): a goes to node 2
        // at once, not when node 1 leaves the membership.
        let stopped = Held {
            leaving: true,
            ..Held::default()
        };
        let orders = c.reconcile(1, &stopped);
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!((orders[0].node, orders[0].op), (2, Op::Start));
        assert_eq!(orders[0].service, "service:a");
        // Nothing is ever placed on the leaving node, even when it is the domain's first.
        assert!(c.handle(&Event::Evaluate).iter().all(|o| o.node != 1));
    }

    fn coordinator() -> Coordinator {
        Coordinator::new(ClusterView::from_conf(&ccs::parse_str(CONF).unwrap()))
    }

    fn up(c: &mut Coordinator, nodes: &[NodeId]) -> Vec<Order> {
        let mut out = Vec::new();
        for n in nodes {
            out.extend(c.handle(&Event::NodeJoined(*n)));
        }
        out.extend(c.handle(&Event::QuorumRegained));
        out.extend(c.handle(&Event::Evaluate));
        out
    }

    fn owner(c: &Coordinator, s: &str) -> (Option<NodeId>, State) {
        let st = c.view.service(s).unwrap();
        (st.owner, st.state)
    }

    #[test]
    fn an_answer_naming_another_service_or_operation_is_not_for_our_order() {
        // Seed 155060: an earlier run of this node numbered its orders from 1 too.
        let mut c = coordinator();
        let orders = up(&mut c, &[1, 2, 3]);
        let a = orders
            .iter()
            .find(|o| o.service == "service:a")
            .expect("a start of a");
        assert!(c
            .answered(a.node, a.id, "service:b", Op::Start, true)
            .is_empty());
        assert!(c
            .answered(a.node, a.id, "service:a", Op::Stop, true)
            .is_empty());
        assert!(c.busy("service:a"));
        assert_eq!(owner(&c, "a"), (Some(1), State::Starting));
        c.answered(a.node, a.id, "service:a", Op::Start, true);
        assert!(!c.busy("service:a"));
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
    }

    #[test]
    fn starts_on_the_top_node_once_and_records_the_result() {
        let mut c = coordinator();
        let orders = up(&mut c, &[1, 2, 3]);
        let mut starts: Vec<(String, NodeId)> =
            orders.iter().map(|o| (o.service.clone(), o.node)).collect();
        starts.sort();
        assert_eq!(
            starts,
            vec![("service:a".into(), 1), ("service:b".into(), 2)]
        );
        assert!(orders.iter().all(|o| o.op == Op::Start));
        assert_eq!(owner(&c, "a"), (Some(1), State::Starting));
        // A new evaluation while the start runs orders nothing more.
        assert!(c.handle(&Event::Evaluate).is_empty());
        for o in &orders {
            c.done(o.node, o.id, true);
        }
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
        assert_eq!(owner(&c, "b"), (Some(2), State::Started));
        assert_eq!(c.outstanding().count(), 0);
        // A repeated answer changes nothing.
        assert!(c.done(orders[0].node, orders[0].id, true).is_empty());
    }

    #[test]
    fn clean_leave_moves_the_service_failure_keeps_it() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        let orders = c.handle(&Event::NodeLeft {
            node: 2,
            clean: true,
        });
        assert_eq!(orders.len(), 1);
        assert_eq!((orders[0].node, orders[0].op), (3, Op::Start));
        c.done(3, orders[0].id, true);
        let st = c.view.service("b").unwrap();
        assert_eq!(
            (st.owner, st.state, st.last_owner),
            (Some(3), State::Started, Some(2))
        );

        let orders = c.handle(&Event::NodeLeft {
            node: 1,
            clean: false,
        });
        assert!(orders.is_empty(), "{orders:?}");
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
    }

    #[test]
    fn failback_stops_first_then_starts_home() {
        let mut c = coordinator();
        for o in up(&mut c, &[2, 3]) {
            c.done(o.node, o.id, true);
        }
        assert_eq!(owner(&c, "a"), (Some(2), State::Started));
        let orders = c.handle(&Event::NodeJoined(1));
        assert_eq!(orders.len(), 1);
        assert_eq!((orders[0].node, orders[0].op), (2, Op::Stop));
        let next = c.done(2, orders[0].id, true);
        assert_eq!(next.len(), 1);
        assert_eq!((next[0].node, next[0].op), (1, Op::Start));
        c.done(1, next[0].id, true);
        let st = c.view.service("a").unwrap();
        assert_eq!(
            (st.owner, st.state, st.last_owner),
            (Some(1), State::Started, Some(2))
        );
    }

    #[test]
    fn requests_answer_with_the_policys_code_and_give_orders() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        let (code, orders) = c.request(policy::Request::Relocate {
            service: "service:a".into(),
            node: Some(3),
        });
        assert_eq!(code, RgCode::Success);
        assert_eq!((orders[0].node, orders[0].op), (1, Op::Stop));
        assert!(c.busy("service:a"));
        let next = c.done(1, orders[0].id, true);
        c.done(3, next[0].id, true);
        assert!(!c.busy("service:a"));
        assert_eq!(owner(&c, "a"), (Some(3), State::Started));
        let (code, orders) = c.request(policy::Request::Enable {
            service: "service:nosuch".into(),
            node: None,
        });
        assert_eq!((code, orders.len()), (RgCode::NoService, 0));
    }

    #[test]
    fn a_failback_decided_while_the_service_starts_happens_after() {
        let mut c = coordinator();
        let first = up(&mut c, &[1, 3]);
        let b = first
            .iter()
            .find(|o| o.service == "service:b")
            .unwrap()
            .clone();
        assert_eq!(b.node, 3);
        // node2 joins while b is still starting on node3: the failback waits for the start.
        assert!(c.handle(&Event::NodeJoined(2)).is_empty());
        let orders = c.done(3, b.id, true);
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!((orders[0].node, orders[0].op), (3, Op::Stop));
        let next = c.done(3, orders[0].id, true);
        assert_eq!((next[0].node, next[0].op), (2, Op::Start));
        c.done(2, next[0].id, true);
        assert_eq!(owner(&c, "b"), (Some(2), State::Started));
        for o in first.iter().filter(|o| o.service == "service:a") {
            c.done(o.node, o.id, true);
        }
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));
        assert_eq!(c.outstanding().count(), 0);
    }

    #[test]
    fn a_failed_stop_leaves_the_service_failed_until_disabled() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        // a's status fails; the restart's stop fails: failed, started nowhere.
        let orders = c.handle(&Event::StatusFailed {
            service: "service:a".into(),
            node: 1,
        });
        assert_eq!((orders[0].node, orders[0].op), (1, Op::Stop));
        assert!(c.done(1, orders[0].id, false).is_empty());
        let st = c.view.service("a").unwrap().clone();
        assert_eq!(
            (st.state, st.owner, st.last_owner),
            (State::Failed, None, Some(1))
        );
        // Node 1 still reports it running: it stays failed.
        let running = held(&["service:a"]);
        assert!(c.reconcile(1, &running).is_empty());
        assert_eq!(owner(&c, "a"), (None, State::Failed));
        assert!(c.handle(&Event::Evaluate).is_empty());
        // Disable: the stop runs on node 1, the service stays failed meanwhile.
        let (code, orders) = c.request(policy::Request::Disable {
            service: "service:a".into(),
        });
        assert_eq!(code, RgCode::Success);
        assert_eq!((orders[0].node, orders[0].op), (1, Op::Stop));
        assert_eq!(owner(&c, "a"), (None, State::Failed));
        c.done(1, orders[0].id, true);
        assert_eq!(owner(&c, "a"), (None, State::Disabled));
    }

    #[test]
    fn the_lock_is_replicated_and_convalesce_orders_the_owner() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        assert!(c.set_partial(1, "service:a"));
        // Only the owner's word counts, and only once.
        assert!(!c.set_partial(1, "service:b"));
        assert!(!c.set_partial(1, "service:a"));
        assert!(c.records()[0].partial);
        let (code, orders) = c.request(policy::Request::Convalesce {
            service: "service:a".into(),
        });
        assert_eq!(code, RgCode::Success);
        assert_eq!((orders[0].node, orders[0].op), (1, Op::Convalesce));
        assert!(c.busy("service:a"));
        c.done(1, orders[0].id, true);
        assert!(!c.view.service("a").unwrap().partial);
        assert_eq!(owner(&c, "a"), (Some(1), State::Started));

        let (code, orders) = c.request(policy::Request::Lock { locked: true });
        assert_eq!((code, orders.len()), (RgCode::Success, 0));
        assert!(c.view.locked);
        // Nothing starts while locked: b, stopped by hand, stays stopped.
        let (_, orders) = c.request(policy::Request::Stop {
            service: "service:b".into(),
        });
        c.done(orders[0].node, orders[0].id, true);
        assert!(c.handle(&Event::Evaluate).is_empty());
        let (code, orders) = c.request(policy::Request::Lock { locked: false });
        assert_eq!(code, RgCode::Success);
        assert_eq!(
            (orders[0].service.as_str(), orders[0].node, orders[0].op),
            ("service:b", 2, Op::Start)
        );
    }

    #[test]
    fn quorum_loss_stops_a_service_whose_start_is_in_flight() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        // node2 leaves cleanly: b starts on node3; quorum goes before the start is done.
        let start = c.handle(&Event::NodeLeft {
            node: 2,
            clean: true,
        });
        assert_eq!((start[0].node, start[0].op), (3, Op::Start));
        let stops = c.handle(&Event::QuorumLost);
        let b: Vec<_> = stops
            .iter()
            .filter(|o| o.service == "service:b")
            .map(|o| (o.node, o.op))
            .collect();
        assert_eq!(b, vec![(3, Op::Stop)]);
        // The late answer to the start changes nothing.
        c.done(3, start[0].id, true);
        assert_eq!(owner(&c, "b"), (None, State::Stopped));
    }

    #[test]
    fn reports_correct_the_table() {
        let mut c = coordinator();
        for o in up(&mut c, &[1, 2, 3]) {
            c.done(o.node, o.id, true);
        }
        let a = held(&["service:a"]);
        assert!(c.reconcile(1, &a).is_empty());
        // b vanished from node2: recovered by the policy (restart in place: stop first).
        let orders = c.reconcile(2, &held(&[]));
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!((orders[0].node, orders[0].op), (2, Op::Stop));
        // While b is in transition, reports about it change nothing.
        assert!(c.reconcile(2, &held(&[])).is_empty());
    }

    #[test]
    fn a_start_whose_order_was_dropped_ends_when_its_node_reports_nothing() {
        // Seed 31797: the coordinator ordered a start, then lost and regained its role (its
        // orders forgotten), and the owner's answer was lost; the owner's quorum loss stopped
        // the service since. Its record said Starting for ever, with no order to resend.
        let mut c = coordinator();
        let orders = up(&mut c, &[2, 3]);
        assert!(orders
            .iter()
            .any(|o| o.service == "service:b" && o.node == 2));
        c.drop_orders();
        assert_eq!(owner(&c, "b"), (Some(2), State::Starting));
        let orders = c.reconcile(2, &held(&["service:a"]));
        assert_eq!(owner(&c, "b").1, State::Starting, "placed again at once");
        assert!(
            orders
                .iter()
                .any(|o| o.service == "service:b" && o.op == Op::Start),
            "{orders:?}"
        );
        // A member that does report the service it is starting keeps it.
        let mut c = coordinator();
        up(&mut c, &[2, 3]);
        c.drop_orders();
        assert!(c
            .reconcile(2, &held(&["service:a", "service:b"]))
            .is_empty());
        assert_eq!(owner(&c, "b"), (Some(2), State::Started));
    }

    #[test]
    fn a_member_shutting_down_stays_so_through_a_rebuild() {
        // Seed 41269: the rebuild reconsiders every member's join for failback; that must not
        // forget that node 1 said it is shutting down.
        let mut c = coordinator();
        for n in [1, 2, 3] {
            c.observe(&Event::NodeJoined(n));
        }
        c.observe(&Event::QuorumRegained);
        let leaving = Held {
            leaving: true,
            ..Held::default()
        };
        let reports = BTreeMap::from([(1, leaving), (2, held(&[])), (3, held(&[]))]);
        let orders = c.rebuild(&reports);
        assert!(orders.iter().all(|o| o.node != 1), "{orders:?}");
        assert!(c.view.leaving.contains(&1));
        // Once a's start on node 2 is done, nothing fails it back to node 1.
        let start = orders
            .iter()
            .find(|o| o.service == "service:a")
            .expect("a is placed");
        let mut after = c.done(start.node, start.id, true);
        for o in orders.iter().filter(|o| o.service != "service:a") {
            after.extend(c.done(o.node, o.id, true));
        }
        assert!(after.iter().all(|o| o.node != 1), "{after:?}");
        assert!(c.view.leaving.contains(&1));
        assert_eq!(owner(&c, "a"), (Some(2), State::Started));
    }

    #[test]
    fn a_new_coordinator_fails_services_back_home() {
        // The previous coordinator (node2) placed a on node2 before node1 joined.
        let mut c = coordinator();
        for n in [1, 2, 3] {
            c.observe(&Event::NodeJoined(n));
        }
        c.observe(&Event::QuorumRegained);
        let reports = BTreeMap::from([
            (1, held(&[])),
            (2, held(&["service:a", "service:b"])),
            (3, held(&[])),
        ]);
        let orders = c.rebuild(&reports);
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!(
            (orders[0].service.as_str(), orders[0].node, orders[0].op),
            ("service:a", 2, Op::Stop)
        );
        let next = c.done(2, orders[0].id, true);
        assert_eq!((next[0].node, next[0].op), (1, Op::Start));
    }

    #[test]
    fn a_new_coordinator_believes_the_members() {
        let mut old = coordinator();
        for o in up(&mut old, &[1, 2, 3]) {
            old.done(o.node, o.id, true);
        }
        let mut new = coordinator();
        for n in [1, 2, 3] {
            new.observe(&Event::NodeJoined(n));
        }
        new.observe(&Event::QuorumRegained);
        new.adopt(&old.records());
        new.observe(&Event::NodeLeft {
            node: 1,
            clean: false,
        });
        // Node 2 says it no longer runs b; nobody reports a (its node is lost).
        let reports = BTreeMap::from([(2, held(&[])), (3, held(&[]))]);
        let orders = new.rebuild(&reports);
        assert_eq!(owner(&new, "a"), (Some(1), State::Started));
        // b runs nowhere a member can see, and the lost node 1 could run it (its domain is
        // not restricted): a coordinator that just took over cannot know whether the old one
        // started it there, so b waits for node 1's fencing too.
        assert!(orders.is_empty(), "{orders:?}");
        assert_eq!(owner(&new, "b"), (Some(1), State::Started));
        let orders = new.handle(&Event::NodeFenced(1));
        let mut placed: Vec<(&str, NodeId)> = orders
            .iter()
            .map(|o| (o.service.as_str(), o.node))
            .collect();
        placed.sort();
        assert_eq!(placed, vec![("service:a", 2), ("service:b", 2)]);
    }

    #[test]
    fn a_service_two_lost_nodes_could_run_waits_for_both() {
        let mut new = coordinator();
        for n in [1, 2, 3] {
            new.observe(&Event::NodeJoined(n));
        }
        new.observe(&Event::QuorumRegained);
        for n in [1, 2] {
            new.observe(&Event::NodeLeft {
                node: n,
                clean: false,
            });
        }
        // A coordinator started afresh: no table at all. b's domain (n2, n3, unrestricted)
        // allows both lost nodes.
        let orders = new.rebuild(&BTreeMap::from([(3, held(&[]))]));
        assert!(orders.is_empty(), "{orders:?}");
        assert!(new.handle(&Event::NodeFenced(1)).is_empty());
        assert_eq!(owner(&new, "b"), (Some(2), State::Started));
        let orders = new.handle(&Event::NodeFenced(2));
        assert!(orders
            .iter()
            .any(|o| o.service == "service:b" && o.node == 3));
    }
}
