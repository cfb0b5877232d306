//! The node's part in the coordinator's protocol: the messages between daemons, the new
//! coordinator's takeover (every member's report first, then the rebuilt table), orders, the
//! table's broadcast, and the requests the coordinator decides.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::fencing::StartupStep;
use super::wire::{self, Envelope, Msg, Op};
use super::{coord, Node, Origin, Waiter};
use crate::admin::ServiceAction;
use crate::membership::{NodeId, View};
use crate::policy::{self, Event, Holds, State};
use crate::state::RgCode;

/// A member's report of what it runs.
#[derive(Clone, Debug)]
pub(super) struct Report {
    pub held: coord::Held,
    /// The member's view when it sent the report.
    pub view: View,
    /// The newest term of the coordinator's run the member had heard of ([`Msg::Poll`]).
    pub term: u64,
}

impl Node {
    /// A checked message from another daemon (or from ourselves).
    pub(super) fn message(&mut self, env: Envelope) {
        let from = env.sender;
        tracing::trace!("message from node {from}: {:?}", env.msg);
        match env.msg {
            Msg::Report {
                running,
                established,
                view,
                members,
                leaving,
                failed,
                news,
                term,
            } => {
                if established {
                    self.established_peers.insert(from);
                } else {
                    self.established_peers.remove(&from);
                }
                // The fencing news first: a new coordinator must know every lost node before
                // it rebuilds from these reports.
                self.victims_heard(news);
                let held = coord::Held {
                    running: running.into_iter().collect(),
                    failed: failed.into_iter().collect(),
                    leaving,
                };
                tracing::debug!(
                    "report from node {from} for view {view}: {:?}",
                    held.running
                );
                if self.coordinating && self.takeover.is_none() {
                    let orders = self.coord.reconcile(from, &held);
                    if !orders.is_empty() {
                        self.dispatch(orders);
                        self.broadcast_table();
                    }
                }
                self.reports.insert(
                    from,
                    Report {
                        held,
                        view: View {
                            number: view,
                            members,
                        },
                        term,
                    },
                );
            }
            Msg::Order {
                id,
                service,
                op,
                term,
            } => {
                if term < self.heard_term(from, env.incarnation) {
                    tracing::debug!(
                        "order {id} from node {from} dropped: given under its term {term}, \
                         before the takeover that polled us"
                    );
                    return;
                }
                self.order_received(from, env.incarnation, id, service, op)
            }
            Msg::Poll { term } => self.polled(from, env.incarnation, term),
            Msg::Done {
                id,
                service,
                op,
                ok,
            } => {
                if self.coordinating {
                    let orders = self.coord.answered(from, id, &service, op, ok);
                    self.dispatch(orders);
                    self.broadcast_table();
                }
            }
            Msg::Table {
                services,
                locked,
                news,
                ..
            } => {
                if self.coordinator() == Some(from) && !self.coordinating {
                    self.established = true;
                    self.coord.adopt(&services);
                    self.coord.view.locked = locked;
                    self.victims_heard(news);
                }
            }
            Msg::StatusPartial { service } => {
                if self.coordinating
                    && self.takeover.is_none()
                    && self.coord.set_partial(from, &service)
                {
                    tracing::warn!(
                        "{service} runs partly on {}: non-critical resources stopped",
                        self.name_of(from)
                    );
                    self.broadcast_table();
                }
            }
            Msg::Lock { id, locked } => {
                if !self.coordinating || self.takeover.is_some() {
                    return;
                }
                let key = (from, env.incarnation, id);
                match self.requests_seen.get(&key) {
                    Some(Some((code, owner))) => {
                        let msg = Msg::Reply {
                            id,
                            code: *code,
                            owner: *owner,
                        };
                        self.send(from, msg);
                    }
                    Some(None) => {}
                    None => {
                        self.requests_seen.insert(key, None);
                        let code = self.coord_lock(locked);
                        self.answer(Origin::Remote(key), code, None);
                    }
                }
            }
            Msg::Request {
                id,
                action,
                service,
                target,
            } => {
                if !self.coordinating || self.takeover.is_some() {
                    return;
                }
                let key = (from, env.incarnation, id);
                match self.requests_seen.get(&key) {
                    Some(Some((code, owner))) => {
                        let msg = Msg::Reply {
                            id,
                            code: *code,
                            owner: *owner,
                        };
                        self.send(from, msg);
                    }
                    Some(None) => {}
                    None => {
                        self.requests_seen.insert(key, None);
                        if self.requests_seen.len() > 4096 {
                            self.requests_seen.retain(|_, v| v.is_none());
                        }
                        self.coord_request(action, service, target, Origin::Remote(key));
                    }
                }
            }
            Msg::StatusFailed { service } => {
                let here = self
                    .coord
                    .view
                    .service(&service)
                    .is_some_and(|st| st.owner == Some(from) && st.state == State::Started);
                if self.coordinating
                    && self.takeover.is_none()
                    && here
                    && !self.coord.busy(&service)
                {
                    self.policy_event(Event::StatusFailed {
                        service,
                        node: from,
                    });
                }
            }
            Msg::Reply { id, code, owner } => self.reply_received(id, code, owner),
            Msg::Victims(news) => self.victims_heard(news),
        }
    }

    pub(super) fn dispatch(&mut self, orders: Vec<coord::Order>) {
        for o in orders {
            tracing::debug!(
                "order {} to node {}: {:?} {}",
                o.id,
                o.node,
                o.op,
                o.service
            );
            let msg = Msg::Order {
                id: o.id,
                service: o.service.clone(),
                op: o.op,
                term: self.term,
            };
            self.ordered_terms.insert(o.node, self.term);
            self.send(o.node, msg);
        }
    }

    /// The coordinator's table to every member. Only once the takeover is done: a table from
    /// a coordinator still collecting reports would make the members "established" (and so
    /// skip startup fencing) on the strength of a table that knows nothing yet.
    pub(super) fn broadcast_table(&mut self) {
        if !self.coordinating || self.takeover.is_some() {
            return;
        }
        let Some(v) = self.view.clone() else { return };
        let services = self.coord.records();
        let news = self.fence_news();
        let local = self.local;
        for m in v.members.iter().filter(|m| **m != local) {
            let msg = Msg::Table {
                view: v.number,
                services: services.clone(),
                locked: self.coord.view.locked,
                news: news.clone(),
            };
            self.send(*m, msg);
        }
    }

    /// What this node runs, to its coordinator. Not before the initial stops are done: until
    /// then the node may still hold anything a previous run left, and a coordinator that counted
    /// its services as stopped could start them elsewhere.
    pub(super) fn report(&mut self) {
        if !self.initializing.is_empty() {
            return;
        }
        if let Some(c) = self.coordinator() {
            let msg = Msg::Report {
                running: self.held_here().into_iter().collect(),
                established: self.established,
                view: self.view.as_ref().map_or(0, |v| v.number),
                members: self.view.as_ref().map_or(Vec::new(), |v| v.members.clone()),
                leaving: self.shutdown.is_some(),
                failed: self.failed_stops.iter().cloned().collect(),
                news: self.fence_news(),
                term: self
                    .member_inc
                    .get(&c)
                    .map_or(0, |inc| self.heard_term(c, *inc)),
            };
            self.send(c, msg);
        }
    }

    /// The newest term heard from `coordinator`'s run `incarnation` (0: none).
    fn heard_term(&self, coordinator: NodeId, incarnation: u64) -> u64 {
        match self.heard_terms.get(&coordinator) {
            Some((inc, term)) if *inc == incarnation => *term,
            _ => 0,
        }
    }

    /// A new coordinator's poll: from now on its earlier terms' orders are void here, and the
    /// report it waits for goes at once.
    fn polled(&mut self, from: NodeId, incarnation: u64, term: u64) {
        if self.coordinator() != Some(from)
            || self
                .member_inc
                .get(&from)
                .is_some_and(|i| *i != incarnation)
        {
            return;
        }
        if term > self.heard_term(from, incarnation) {
            self.heard_terms.insert(from, (incarnation, term));
        }
        self.report();
    }

    /// Whether a new coordinator must wait for a report of its own term from `member`: this
    /// run ordered it under an earlier term, and such an order may still be on its way and
    /// be run after the member's report of the view (the report would not show it). Members
    /// of the previous release cannot be polled: their report of the view is taken, as
    /// before.
    fn needs_poll(&self, member: NodeId) -> bool {
        member != self.local
            && self
                .ordered_terms
                .get(&member)
                .is_some_and(|t| *t < self.term)
            && wire::format_for(self.membership.peer_wire(member)) == Some(wire::VERSION_3)
    }

    /// A new coordinator polls each member whose report it still needs for its term.
    pub(super) fn poll_stale(&mut self) {
        if self.takeover.is_none() {
            return;
        }
        let term = self.term;
        for m in self.missing_reports() {
            if self.needs_poll(m) {
                self.send(m, Msg::Poll { term });
            }
        }
    }

    /// Services the latest reports of the view's members say they hold.
    pub(super) fn running_on_members(&self) -> BTreeSet<String> {
        let Some(v) = self.view.as_ref() else {
            return BTreeSet::new();
        };
        self.reports
            .iter()
            .filter(|(n, _)| v.contains(**n))
            .flat_map(|(_, r)| r.held.running.iter().cloned())
            .collect()
    }

    /// The members whose report for the current view has not arrived (a new coordinator
    /// waits for them).
    pub(super) fn missing_reports(&self) -> Vec<NodeId> {
        let (Some(_), Some(v)) = (self.takeover, self.view.as_ref()) else {
            return Vec::new();
        };
        v.members
            .iter()
            .copied()
            .filter(|m| {
                self.reports
                    .get(m)
                    .is_none_or(|r| r.view != *v || (self.needs_poll(*m) && r.term < self.term))
            })
            .collect()
    }

    /// A new coordinator rebuilds the table once every member has reported since it took over.
    pub(super) fn try_takeover(&mut self, now: Instant) {
        if self.takeover.is_none() {
            return;
        }
        let Some(v) = self.view.clone() else { return };
        if !self.missing_reports().is_empty() {
            return;
        }
        if !self.startup_gate(now, &v) {
            return;
        }
        self.takeover = None;
        self.established = true;
        tracing::debug!(
            "every member of view {} reported: rebuilding the service table",
            v.number
        );
        let reports: BTreeMap<NodeId, coord::Held> = self
            .reports
            .iter()
            .filter(|(n, _)| v.contains(**n))
            .map(|(n, r)| (*n, r.held.clone()))
            .collect();
        let orders = self.coord.rebuild(&reports);
        self.dispatch(orders);
        self.broadcast_table();
    }

    /// Startup fencing (see [`super::fencing::Startup`]): decided once per coordinatorship,
    /// when every member has reported; true when services may start.
    fn startup_gate(&mut self, now: Instant, v: &View) -> bool {
        if self.startup.is_none() && !self.startup_checked {
            self.startup_checked = true;
            let forming = !self.established
                && v.members
                    .iter()
                    .all(|m| !self.established_peers.contains(m));
            let conf = self.conf.clone();
            let absent: BTreeSet<NodeId> = conf
                .nodes()
                .iter()
                .filter_map(|n| n.nodeid())
                .filter(|id| !v.contains(*id))
                .collect();
            if forming && !absent.is_empty() {
                let names = self.names(&absent);
                let delay = conf.post_join_delay();
                if conf.clean_start() {
                    tracing::info!(
                        "clean_start: not fencing {names}, which have not joined; starting services"
                    );
                } else {
                    if delay >= 0 {
                        tracing::info!(
                            "Waiting post_join_delay {delay} s for {names} to join; then they are \
                             fenced (startup fencing). No service starts until then"
                        );
                    } else {
                        tracing::info!(
                            "post_join_delay -1: waiting for {names} to join; no service starts \
                             until then"
                        );
                    }
                    self.startup = Some(super::fencing::Startup::new(absent, delay, now));
                }
            }
        }
        let Some(st) = self.startup.as_mut() else {
            return true;
        };
        match st.step(now, &v.members, &self.victims) {
            StartupStep::Open => {
                self.startup = None;
                tracing::info!("Startup fencing done: every node joined or is fenced");
                true
            }
            StartupStep::Wait => false,
            StartupStep::Fence(nodes) => {
                for n in nodes {
                    tracing::warn!(
                        "Startup fencing: {} did not join within post_join_delay; fencing it",
                        self.name_of(n)
                    );
                    let epoch = self.membership.peer_incarnation(n).unwrap_or(0);
                    self.victims.lost(n, epoch);
                }
                self.fence_start();
                false
            }
        }
    }

    /// The coordinator takes or drops the lock; an unlock starts what it held back.
    pub(super) fn coord_lock(&mut self, locked: bool) -> RgCode {
        let (code, orders) = self.coord.request(policy::Request::Lock { locked });
        self.dispatch(orders);
        self.broadcast_table();
        code
    }

    /// The coordinator's side of a request: the policy decides; a request that gave orders is
    /// answered when they are done.
    pub(super) fn coord_request(
        &mut self,
        action: ServiceAction,
        service: String,
        target: Option<NodeId>,
        origin: Origin,
    ) {
        let s = service.clone();
        let req = match action {
            ServiceAction::Enable => policy::Request::Enable {
                service,
                node: target,
            },
            ServiceAction::Disable => policy::Request::Disable { service },
            ServiceAction::Relocate => policy::Request::Relocate {
                service,
                node: target,
            },
            ServiceAction::Restart => policy::Request::Restart { service },
            ServiceAction::Stop => policy::Request::Stop { service },
            ServiceAction::Freeze => policy::Request::Freeze { service },
            ServiceAction::Unfreeze => policy::Request::Unfreeze { service },
            ServiceAction::Convalesce => policy::Request::Convalesce { service },
            ServiceAction::Migrate => match target {
                Some(node) => policy::Request::Migrate { service, node },
                None => {
                    self.answer(origin, RgCode::Node, None);
                    return;
                }
            },
        };
        let (code, orders) = self.coord.request(req);
        self.dispatch(orders);
        if code == RgCode::Success && action == ServiceAction::Unfreeze {
            // A service stopped while it was frozen (quorum lost, say) is the cluster's to
            // manage again: started now if it should run, not at some later event.
            let orders = self.coord.handle(&Event::Evaluate);
            self.dispatch(orders);
        }
        self.broadcast_table();
        if code == RgCode::Success && self.coord.busy(&s) {
            self.waiters.push(Waiter {
                service: s,
                action,
                origin,
            });
        } else {
            let owner = self.coord.view.service(&s).and_then(|st| st.owner);
            self.answer(origin, code, owner);
        }
    }

    /// Answers the requests whose service has settled: success when it ended as asked.
    pub(super) fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let (ready, busy): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| !self.coord.busy(&w.service));
        self.waiters = busy;
        for w in ready {
            let st = self.coord.view.service(&w.service);
            let state = st.map_or(State::Stopped, |s| s.state);
            let owner = st.and_then(|s| s.owner);
            let ok = match w.action {
                ServiceAction::Enable
                | ServiceAction::Relocate
                | ServiceAction::Restart
                | ServiceAction::Migrate => state == State::Started,
                ServiceAction::Disable | ServiceAction::Stop => !state.holds(),
                ServiceAction::Convalesce => st.is_some_and(|s| !s.partial),
                _ => true,
            };
            let code = if ok { RgCode::Success } else { RgCode::Fail };
            self.answer(w.origin, code, owner);
        }
    }

    pub(super) fn answer(&mut self, origin: Origin, code: RgCode, owner: Option<NodeId>) {
        match origin {
            Origin::Local(id) => {
                let owner = owner.map(|o| self.name_of(o));
                self.admin_reply(id, crate::admin::Response::Service { code, owner });
            }
            Origin::Remote(key) => {
                self.requests_seen.insert(key, Some((code, owner)));
                let msg = Msg::Reply {
                    id: key.2,
                    code,
                    owner,
                };
                self.send(key.0, msg);
            }
        }
    }

    /// An order for this node from `from`.
    fn order_received(&mut self, from: NodeId, incarnation: u64, id: u64, service: String, op: Op) {
        // Only the coordinator of our view, in the run that is a member (a restarted daemon's
        // earlier run may still have orders in flight).
        if self.coordinator() != Some(from)
            || (from != self.local
                && self
                    .member_inc
                    .get(&from)
                    .is_some_and(|i| *i != incarnation))
        {
            return;
        }
        // A service of a newer configuration than ours: the coordinator resends the order, and
        // sync brings the configuration meanwhile.
        if self.coord.view.config.service_index(&service).is_none() {
            return;
        }
        let key = (from, incarnation, id);
        match self.executed.get(&key) {
            Some(Some((service, op, ok))) => {
                let msg = Msg::Done {
                    id,
                    service: service.clone(),
                    op: *op,
                    ok: *ok,
                };
                self.send(from, msg);
            }
            Some(None) => {}
            None => {
                if op == Op::Start && !self.caught_up() {
                    // The coordinator repeats the order; the configuration arrives meanwhile.
                    tracing::debug!("Not starting {service} yet: the configuration is catching up");
                    return;
                }
                let refuse = if op == Op::Start && !self.quorum.is_quorate() {
                    Some("no quorum")
                } else if op == Op::Start && self.shutdown.is_some() {
                    Some("shutting down")
                } else {
                    None
                };
                if let Some(why) = refuse {
                    tracing::warn!("Not starting {service}: {why}");
                    self.executed
                        .insert(key, Some((service.clone(), op, false)));
                    self.send(
                        from,
                        Msg::Done {
                            id,
                            service,
                            op,
                            ok: false,
                        },
                    );
                    return;
                }
                self.executed.insert(key, None);
                self.run_job(service, op, Some(key));
            }
        }
    }
}
