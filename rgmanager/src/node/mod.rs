//! The node core: everything one node of the cluster decides, as a plain state machine with no
//! clock, socket, thread or file inside (raft-rs's `RawNode` and quinn-proto's `Connection`
//! are the models).
//!
//! It holds the membership core, quorum, the coordinator's table and the policy, the fencing
//! victims and startup fencing, the local services and the orders they ran, the configuration
//! sync core with live reload, and the administrators' requests. The owner feeds it
//! [`Input`]s with the time ([`Node::handle`]) and calls [`Node::handle_timeout`] when
//! [`Node::poll_timeout`] says; it takes [`Output`]s with [`Node::poll_output`] and carries
//! them out: datagrams to send, agent operations to run, fence runs to start or cancel,
//! configuration files to write, answers for the admin socket. Log lines go out through
//! `tracing`, in the operator's words.
//!
//! Two owners exist: the daemon (`rgmanager::daemon::run`, a thin tokio shell) and the
//! simulator (`rgmanager::sim`), which runs many nodes on a seeded network and clock and checks
//! the cluster's promises after every step. Whatever the daemon does, the simulator can make
//! happen in any order: that is why every decision lives here.
//!
//! Submodules: [`coord`] (the coordinator's table and orders), [`fencing`] (victims, startup
//! fencing), [`wire`] (the daemon-to-daemon messages); the node's own parts are split by role:
//! `role` (coordinating: takeover, reports, requests), `local` (this node's services and the
//! orders it runs, shutdown), `victims` (fencing hooks), `sync` (configuration sync and live
//! reload), `admin` (the admin socket's requests), `status` (what clustat shows).

pub mod coord;
pub mod fencing;
pub mod metrics;
pub mod wire;

mod admin;
mod local;
mod role;
mod status;
mod sync;
mod victims;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccs::store::Versioned;
use ccs::ClusterConf;

use crate::membership::engine::Engine;
use crate::membership::{self, Membership, View};
use crate::policy::{ClusterView, Event};
use crate::quorum::{QuorumConfig, QuorumTracker};
use crate::resource::Forest;

use coord::Coordinator;
use fencing::{Startup, Victims};
use wire::{Envelope, Msg, Op, ReplayFilter};

pub use crate::membership::NodeId;
pub use sync::SendFailure;

/// How often a node repeats what loss may have eaten: its report, the coordinator's table and
/// orders, fencing news, requests waiting for an answer.
pub const PERIOD: Duration = Duration::from_secs(1);

/// How many periods apart a stop that failed on a node that does not hold the service as
/// `failed` is tried again.
const STOP_RETRY_TICKS: u64 = 10;

/// Why a node cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Membership(#[from] membership::ConfigError),
    #[error(transparent)]
    Resources(#[from] crate::resource::tree::TreeErrors),
}

/// Who this node is, fixed for its run.
#[derive(Clone, Debug)]
pub struct Setup {
    /// This node's name in cluster.conf.
    pub name: String,
    /// This run: start time in microseconds since the Unix epoch (a restart has a higher one).
    pub incarnation: u64,
    /// Seconds since the Unix epoch at the `now` given to [`Node::new`]: the policy's restart
    /// windows and clustat's transition times count from it.
    pub unix_now: u64,
    /// Stop every service first (`Initializing Services`), as rgmanager did at start-up: a
    /// daemon that was killed and restarted may have left services running that it no longer
    /// knows of. Off with `rgmanager -N`.
    pub initial_stop: bool,
    /// The membership engine: embedded (membership datagrams) or corosync (CPG inputs).
    pub engine: ccs::model::Engine,
}

/// What the owner feeds the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A membership datagram (heartbeat or goodbye) from `from`.
    Membership { from: SocketAddr, bytes: Vec<u8> },
    /// A daemon-channel datagram (orders, reports, the table, ...).
    Message { bytes: Vec<u8> },
    /// What corosync delivered (the corosync engine).
    Cpg(membership::cpg::CpgInput),
    /// A configuration-sync message, authenticated by the transport. `query`: the sender
    /// wants our announcement back.
    Sync {
        from: NodeId,
        msg: ccs::sync::Message,
        query: bool,
    },
    /// A sync message could not be delivered.
    SyncFailed { to: NodeId, why: SendFailure },
    /// An agent operation ([`AgentCmd::Run`]) finished.
    AgentDone { job: u64, ok: bool },
    /// A periodic status check found a running service failed.
    StatusFailed { service: String },
    /// A periodic status check found non-critical parts of a running service stopped.
    StatusPartial { service: String },
    /// A fence run ended: `fenced` when the node's power-off was confirmed.
    FenceDone {
        run: u64,
        node: NodeId,
        fenced: bool,
    },
    /// A configuration write ([`Output::Write`]) finished.
    Written {
        write: u64,
        result: Result<(), String>,
    },
    /// A request from the admin socket; the answer is an [`Output::Admin`] with the same id.
    Admin {
        id: u64,
        request: crate::admin::Request,
    },
    /// SIGTERM: stop the local services, then leave the cluster.
    Shutdown,
    /// SIGHUP: cluster.conf as read again from disk (validated). A newer version is adopted
    /// here; the other nodes then fetch it from this one.
    Reload { config: Versioned },
}

/// An operation for the thread that runs resource agents, carried out in the order given.
#[derive(Clone, Debug)]
pub enum AgentCmd {
    /// Run `op` on `service`; answer with [`Input::AgentDone`].
    Run { job: u64, service: String, op: Op },
    /// Use these resource trees from now on (a reload; the stops it needed come before it).
    Load { forest: Arc<Forest> },
}

/// An order for the fencing workers.
#[derive(Clone, Debug)]
pub enum FenceCmd {
    /// Fence `node` (named `name` in cluster.conf) until its power-off is confirmed or the run
    /// is cancelled; answer with [`Input::FenceDone`].
    Start {
        run: u64,
        node: NodeId,
        name: String,
    },
    /// Stop the run fencing `node` (between rounds: a device being run finishes).
    Cancel { node: NodeId },
}

/// What the core asks its owner to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// A membership datagram for `to` (embedded engine), or for the whole CPG group (`to`
    /// 0, corosync engine).
    Membership {
        to: NodeId,
        bytes: Arc<[u8]>,
    },
    /// A daemon-channel datagram for `to`.
    Message {
        to: NodeId,
        bytes: Vec<u8>,
    },
    /// A configuration-sync message for `to` (over the sync transport).
    Sync {
        to: NodeId,
        msg: ccs::sync::Message,
        query: bool,
    },
    Agent(AgentCmd),
    Fence(FenceCmd),
    /// Write this configuration to the store; answer with [`Input::Written`].
    Write {
        write: u64,
        config: Versioned,
    },
    /// The answer to [`Input::Admin`] `id`.
    Admin {
        id: u64,
        response: crate::admin::Response,
    },
    /// Learn the addresses of this configuration's nodes (a push reaches the nodes of the
    /// new configuration before this node adopts it). Addresses are only added or updated.
    Addresses {
        conf: Arc<ClusterConf>,
    },
    /// A new configuration was adopted: its node addresses, and the fencing workers'
    /// configuration.
    Reconfigured {
        conf: Arc<ClusterConf>,
    },
    /// The node is done: `clean` after a goodbye (SIGTERM, removed from the configuration),
    /// not clean when another daemon already runs this node.
    Exit {
        clean: bool,
    },
}

/// An order's identity: the coordinator that gave it, its incarnation, the order id.
type OrderKey = (NodeId, u64, u64);
/// What an order came to: service, operation, success.
type Outcome = (String, Op, bool);

/// Who waits for a request's answer.
#[derive(Clone, Debug)]
enum Origin {
    /// The admin socket, by request id.
    Local(u64),
    Remote(OrderKey),
}

/// A request the coordinator answers once its service has no order in flight.
#[derive(Clone, Debug)]
struct Waiter {
    service: String,
    action: crate::admin::ServiceAction,
    origin: Origin,
}

/// The node core. See the module documentation.
pub struct Node {
    local: NodeId,
    setup_name: String,
    incarnation: u64,
    /// The clock's origin: `unix0` seconds since the epoch at `t0`.
    t0: Instant,
    unix0: u64,
    seq: u64,
    conf: Arc<ClusterConf>,
    cluster_name: String,
    cluster_id: u16,
    central_processing: bool,
    /// cluster.conf's nodes with ids, sorted by id.
    members_conf: Vec<(NodeId, String)>,
    /// Service names in cluster.conf order (shutdown stops them in reverse).
    order: Vec<String>,
    membership: Engine,
    /// Corosync went away: no quorum; the daemon exits once its services are stopped.
    engine_lost: bool,
    codec: wire::Codec,
    replay: ReplayFilter,
    coord: Coordinator,
    quorum: QuorumTracker,
    view: Option<View>,
    coordinating: bool,
    /// Since when this node, the new coordinator, waits for every member's report.
    takeover: Option<Instant>,
    takeover_warned: bool,
    /// Every member's latest report, kept whether or not this node coordinates: a member
    /// that installs a new view before us reports to us before we know we coordinate.
    reports: BTreeMap<NodeId, role::Report>,
    /// This node has held a coordinator's service table (its own or one it was sent).
    established: bool,
    /// Members whose last report said they had.
    established_peers: BTreeSet<NodeId>,
    startup: Option<Startup>,
    startup_checked: bool,
    /// Services running here.
    running: BTreeSet<String>,
    /// Services whose last stop here failed: their resources may still be up. They stay
    /// `failed` with this node until an administrator's disable stops them, or the node is
    /// fenced; the node does not leave the cluster cleanly meanwhile.
    failed_stops: BTreeSet<String>,
    /// The initial stops still running, by job id.
    initializing: BTreeSet<u64>,
    /// Agent operations in flight, by job id.
    jobs: BTreeMap<u64, local::Job>,
    next_job: u64,
    /// Orders seen, by (coordinator, its incarnation, id): `None` while running.
    executed: HashMap<OrderKey, Option<Outcome>>,
    /// Messages to this node itself, handled before the current input returns.
    inbox: VecDeque<Envelope>,
    bad_mac_warned: bool,
    wire_bad_mac: u64,
    /// The cluster's wire version last logged (`crate::versions`).
    cluster_wire: Option<u8>,
    /// Requests made here and sent to the coordinator, by id: the message (resent until
    /// answered) and the admin request waiting.
    forwarded: BTreeMap<u64, (Msg, u64)>,
    next_request: u64,
    waiters: Vec<Waiter>,
    /// On the coordinator: members' requests seen, and their answers once given.
    requests_seen: HashMap<OrderKey, Option<(crate::state::RgCode, Option<NodeId>)>>,
    /// This run's coordinator term: one more at each takeover. Orders carry it.
    term: u64,
    /// On the coordinator: the term of the last order sent to each node. A new takeover asks
    /// a member ordered under an earlier term for a report of its own term ([`Msg::Poll`]).
    ordered_terms: BTreeMap<NodeId, u64>,
    /// The newest term heard from each coordinator's run (incarnation, term): orders of its
    /// earlier terms are not run any more.
    heard_terms: BTreeMap<NodeId, (u64, u64)>,
    victims: Victims,
    /// The incarnation of each member's run as it joined: a failure's epoch.
    member_inc: BTreeMap<NodeId, u64>,
    /// The run of each node that last left the view with a goodbye.
    left_clean: BTreeMap<NodeId, u64>,
    /// Fence runs started, by run id.
    fence_runs: BTreeMap<u64, victims::Run>,
    next_fence_run: u64,
    sync: sync::SyncState,
    /// SIGTERM or removal from the configuration: stopping the local services, then leaving.
    shutdown: Option<local::Shutdown>,
    /// The node said goodbye (or gave way): nothing more happens.
    done: bool,
    next_periodic: Instant,
    /// What arrived while the view was unconfirmed after a stall (`hold`): membership events,
    /// then other inputs, each in arrival order. Released events first: they are the newer
    /// word on the view the inputs are then judged against.
    held_events: VecDeque<membership::Event>,
    held_inputs: VecDeque<Input>,
    /// Daemon messages dropped while holding (logged at the release).
    dropped_while_holding: u64,
    /// Periods elapsed.
    ticks: u64,
    /// The time of the input being handled.
    now: Instant,
    out: VecDeque<Output>,
    metrics: metrics::Metrics,
}

impl Node {
    /// A node starting at `now` with the configuration the store holds (`config`, already
    /// validated) and the cluster key.
    pub fn new(
        setup: Setup,
        config: Versioned,
        key: &[u8],
        now: Instant,
    ) -> Result<Node, SetupError> {
        let conf = config.conf().clone();
        let mcfg = membership::Config::from_conf(&conf, &setup.name, setup.incarnation)?;
        let local = mcfg.local;
        let membership = match setup.engine {
            ccs::model::Engine::Embedded => {
                Engine::Embedded(Box::new(Membership::new(mcfg, key, now)?))
            }
            ccs::model::Engine::Corosync => Engine::Corosync(Box::new(
                membership::cpg::CpgMembership::new(
                    local,
                    setup.incarnation,
                    mcfg.config_version,
                    &mcfg.nodes,
                )
                .with_wire(mcfg.wire),
            )),
        };
        let codec =
            wire::Codec::new(conf.name(), key).ok_or(membership::ConfigError::EmptyNameOrKey)?;
        let forest = Arc::new(Forest::build_strict(&conf)?);
        let view = ClusterView::from_conf(&conf);
        let order = view
            .config
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let mut members_conf: Vec<(NodeId, String)> = conf
            .nodes()
            .iter()
            .filter_map(|n| n.nodeid().map(|id| (id, n.name().to_string())))
            .collect();
        members_conf.sort();
        let sync = sync::SyncState::new(config, &forest);
        let mut node = Node {
            local,
            setup_name: setup.name.clone(),
            incarnation: setup.incarnation,
            t0: now,
            unix0: setup.unix_now,
            seq: 0,
            cluster_name: conf.name().to_string(),
            cluster_id: crate::quorum::cluster_id(&conf),
            central_processing: conf
                .rm_attr("central_processing")
                .is_some_and(ccs::value::atoi_flag),
            members_conf,
            order,
            membership,
            engine_lost: false,
            codec,
            replay: ReplayFilter::default(),
            coord: Coordinator::new(view),
            quorum: {
                let mut q = QuorumTracker::new(QuorumConfig::from_conf(&conf));
                if setup.engine == ccs::model::Engine::Corosync {
                    // Not quorate until votequorum says so.
                    q.set_engine(None);
                }
                q
            },
            conf,
            view: None,
            coordinating: false,
            takeover: None,
            takeover_warned: false,
            reports: BTreeMap::new(),
            established: false,
            established_peers: BTreeSet::new(),
            startup: None,
            startup_checked: false,
            running: BTreeSet::new(),
            failed_stops: BTreeSet::new(),
            initializing: BTreeSet::new(),
            jobs: BTreeMap::new(),
            next_job: 1,
            executed: HashMap::new(),
            inbox: VecDeque::new(),
            bad_mac_warned: false,
            wire_bad_mac: 0,
            cluster_wire: None,
            forwarded: BTreeMap::new(),
            next_request: 1,
            waiters: Vec::new(),
            requests_seen: HashMap::new(),
            term: 0,
            ordered_terms: BTreeMap::new(),
            heard_terms: BTreeMap::new(),
            victims: Victims::default(),
            member_inc: BTreeMap::new(),
            left_clean: BTreeMap::new(),
            fence_runs: BTreeMap::new(),
            next_fence_run: 1,
            sync,
            shutdown: None,
            done: false,
            next_periodic: now + PERIOD,
            held_events: VecDeque::new(),
            held_inputs: VecDeque::new(),
            dropped_while_holding: 0,
            ticks: 0,
            now,
            out: VecDeque::new(),
            metrics: metrics::Metrics::new(now, setup.unix_now),
        };
        node.out.push_back(Output::Agent(AgentCmd::Load { forest }));
        if setup.initial_stop {
            node.initial_stop();
        }
        node.pump_membership(now);
        Ok(node)
    }

    /// This node's name in cluster.conf.
    pub fn name(&self) -> &str {
        &self.setup_name
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.local
    }

    /// This run's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The configuration in force.
    pub fn conf(&self) -> &Arc<ClusterConf> {
        &self.conf
    }

    /// The configuration version in force and its bytes' hash.
    pub fn config(&self) -> &Versioned {
        self.sync.core.local()
    }

    /// The installed membership view.
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    pub fn is_quorate(&self) -> bool {
        self.quorum.is_quorate()
    }

    /// This node coordinates a quorate view (and has rebuilt its table).
    pub fn is_coordinating(&self) -> bool {
        self.coordinating && self.takeover.is_none()
    }

    /// This node holds a report from `node` sent for its current view (the node is a member
    /// that told it what it runs).
    pub fn has_report(&self, node: NodeId) -> bool {
        self.reports
            .get(&node)
            .is_some_and(|r| Some(&r.view) == self.view.as_ref())
    }

    /// The service table as this node knows it.
    pub fn table(&self) -> Vec<wire::Record> {
        self.coord.records()
    }

    /// Services running here (started and not stopped since, by this node's agents).
    pub fn running(&self) -> &BTreeSet<String> {
        &self.running
    }

    /// Corosync went away under this node (corosync engine).
    pub fn engine_lost(&self) -> bool {
        self.engine_lost
    }

    /// The node has said goodbye or given way and does nothing more.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The cluster's wire version (the highest every member speaks), logged when it changes.
    fn note_cluster_wire(&mut self) {
        let w = self.membership.cluster_wire();
        if w != self.cluster_wire {
            self.cluster_wire = w;
            if let Some(w) = w {
                tracing::info!("The cluster talks wire version {w}");
            }
        }
    }

    /// The protocol version this node talks with a peer (`crate::versions`; `None`: not
    /// heard yet, or no version in common).
    pub fn peer_wire(&self, id: NodeId) -> Option<u8> {
        self.membership.peer_wire(id)
    }

    /// The membership layer's counters (dropped datagrams by reason).
    pub fn membership_counters(&self) -> membership::Counters {
        *self.membership.counters()
    }

    /// Daemon-channel datagrams dropped for failed authentication.
    pub fn message_bad_mac(&self) -> u64 {
        self.wire_bad_mac
    }

    /// The next output to carry out.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called at the latest.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        if self.holding() {
            // Only the membership runs until the view is confirmed.
            return self.membership.poll_timeout();
        }
        let mut t = self.next_periodic;
        if let Some(m) = self.membership.poll_timeout() {
            t = t.min(m);
        }
        // Startup fencing is decided once every member has reported: its deadline only
        // matters then (a timer that cannot act would only spin).
        if let Some(s) = self.startup.as_ref().and_then(Startup::deadline) {
            if self.missing_reports().is_empty() {
                t = t.min(s);
            }
        }
        if let Some(s) = self.sync.next_deadline() {
            t = t.min(s);
        }
        Some(t)
    }

    /// Timers: membership, the periodic repeats, deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        self.now = now;
        self.coord.view.now = self.unix(now);
        self.membership_timers(now);
        if self.hold_or_release(now) {
            return;
        }
        if now >= self.next_periodic {
            self.next_periodic = now + PERIOD;
            self.periodic(now);
        }
        self.sync_timers(now);
        self.settle(now);
    }

    /// One input at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.done {
            return;
        }
        self.now = now;
        self.coord.view.now = self.unix(now);
        match input {
            // The membership's own inputs are never held: they are what confirms the view.
            input @ (Input::Membership { .. } | Input::Cpg(_)) => self.input(now, input),
            input => {
                // Overdue membership timers first: they notice a stall of this node (and a
                // view gone with it) before anything is decided on what arrived meanwhile.
                self.membership_timers(now);
                if self.holding() {
                    if let Input::Message { .. } = input {
                        // Old news from before the node knew its view: an order given under
                        // a coordinatorship that has ended since would start a service the
                        // coordinator now places elsewhere. Whatever still holds is repeated
                        // (orders until done, reports, tables), so it is dropped.
                        self.dropped_while_holding += 1;
                    } else {
                        self.held_inputs.push_back(input);
                    }
                } else {
                    self.hold_or_release(now);
                    self.input(now, input);
                }
            }
        }
        if self.hold_or_release(now) {
            return;
        }
        self.settle(now);
    }

    /// Runs the membership's timers when they are due.
    fn membership_timers(&mut self, now: Instant) {
        if self.membership.poll_timeout().is_some_and(|t| t <= now) {
            self.membership.handle_timeout(now);
        }
        self.pump_membership(now);
    }

    /// The view is unconfirmed after a stall of this node: decisions wait.
    fn holding(&self) -> bool {
        self.membership.view_unconfirmed()
    }

    /// While [`holding`](Self::holding), true (the caller stops there). Once the view is
    /// confirmed, the held membership events and inputs are handled, in that order, and
    /// false is returned. Daemon messages are not held but dropped (see `handle`).
    ///
    /// Why: a node that was not running for longer than half a token still has its old view
    /// (the membership gives its peers their time back), while the peers may have dropped it,
    /// fenced someone, and placed its services elsewhere. A fence result or an agent's answer
    /// handled on that old view could start a service that already runs elsewhere (seed 17299
    /// of the simulator). Waiting costs at most the time the peers need to say that they
    /// still have the view (a heartbeat) or to leave it (the rest of a token).
    fn hold_or_release(&mut self, now: Instant) -> bool {
        if self.holding() {
            return true;
        }
        if self.held_events.is_empty()
            && self.held_inputs.is_empty()
            && self.dropped_while_holding == 0
        {
            return false;
        }
        tracing::info!(
            "View confirmed: handling {} membership events and {} inputs held meanwhile \
             ({} daemon messages dropped: their senders repeat what still holds)",
            self.held_events.len(),
            self.held_inputs.len(),
            std::mem::take(&mut self.dropped_while_holding)
        );
        while let Some(e) = self.held_events.pop_front() {
            self.membership_event(now, e);
        }
        while let Some(input) = self.held_inputs.pop_front() {
            self.input(now, input);
        }
        false
    }

    /// An input decided now: the membership's own, or another on a confirmed view.
    fn input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Membership { from, bytes } => {
                self.membership.handle_datagram(now, &bytes, from);
                self.pump_membership(now);
            }
            Input::Cpg(input) => {
                self.membership.handle_cpg(input);
                self.pump_membership(now);
            }
            Input::Message { bytes } => self.datagram(&bytes),
            Input::Sync { from, msg, query } => self.sync_message(now, from, msg, query),
            Input::SyncFailed { to, why } => self.sync_failed(now, to, why),
            Input::AgentDone { job, ok } => self.job_done(now, job, ok),
            Input::StatusFailed { service } => {
                self.count_status_failed(&service);
                if let Some(c) = self.coordinator() {
                    self.send(c, Msg::StatusFailed { service });
                }
            }
            Input::StatusPartial { service } => {
                let known = self
                    .coord
                    .view
                    .service(&service)
                    .is_some_and(|st| st.partial);
                if let (Some(c), false) = (self.coordinator(), known) {
                    self.send(c, Msg::StatusPartial { service });
                }
            }
            Input::FenceDone { run, node, fenced } => self.fence_done(run, node, fenced),
            Input::Written { write, result } => self.sync_written(now, write, result),
            Input::Admin { id, request } => self.admin(now, id, request),
            Input::Shutdown => self.begin_shutdown("Shutting down"),
            Input::Reload { config } => self.sync_reload(now, config),
        }
    }

    /// After every input: messages to ourselves, a takeover that became possible, answers that
    /// became due, the membership's outputs, the end of a shutdown.
    fn settle(&mut self, now: Instant) {
        // Bounded: each round handles what the previous one produced, and messages to
        // ourselves only come from decisions, which converge.
        for _ in 0..64 {
            let had = !self.inbox.is_empty();
            while let Some(env) = self.inbox.pop_front() {
                self.message(env);
            }
            // A new coordinator rebuilds as soon as the last member's report is in: after a
            // failure this is the takeover's critical path.
            if self.takeover.is_some() {
                self.try_takeover(now);
            }
            self.answer_waiters();
            if !had && self.inbox.is_empty() {
                break;
            }
        }
        self.sync_settle(now);
        self.pump_membership(now);
        if self.should_coordinate() != self.coordinating {
            self.update_role(now);
            self.settle_inbox(now);
        }
        self.shutdown_step(now);
        self.observe_metrics();
    }

    fn settle_inbox(&mut self, now: Instant) {
        while let Some(env) = self.inbox.pop_front() {
            self.message(env);
        }
        if self.takeover.is_some() {
            self.try_takeover(now);
        }
    }

    /// Unix seconds at `now`.
    fn unix(&self, now: Instant) -> u64 {
        self.unix0 + now.saturating_duration_since(self.t0).as_secs()
    }

    fn name_of(&self, id: NodeId) -> String {
        self.members_conf
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            // A node a reload removed is still named in the lines about its leaving.
            .or_else(|| self.sync.former_names.get(&id).cloned())
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// Node names for a log line: `node2, node3`.
    fn names(&self, nodes: &BTreeSet<NodeId>) -> String {
        nodes
            .iter()
            .map(|n| self.name_of(*n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn coordinator(&self) -> Option<NodeId> {
        self.view.as_ref().and_then(View::coordinator)
    }

    /// Moves the membership core's datagrams out and handles its events.
    fn pump_membership(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.membership.poll_transmit() {
                self.out.push_back(Output::Membership {
                    to: t.to,
                    bytes: t.bytes,
                });
            }
            let Some(e) = self.membership.poll_event() else {
                break;
            };
            if self.holding() {
                self.held_events.push_back(e);
                continue;
            }
            while let Some(held) = self.held_events.pop_front() {
                self.membership_event(now, held);
            }
            self.membership_event(now, e);
        }
        let bad = self.membership.counters().bad_mac + self.wire_bad_mac;
        if bad > 0 && !self.bad_mac_warned {
            self.bad_mac_warned = true;
            tracing::error!(
                "Dropping cluster traffic that fails authentication ({bad} datagrams): \
                 another cluster key? Every node needs the same /etc/cluster/authkey"
            );
        }
    }

    fn membership_event(&mut self, now: Instant, e: membership::Event) {
        match e {
            membership::Event::Joined(n) => {
                if n != self.local {
                    tracing::info!("State change: {} UP", self.name_of(n));
                    self.sync_hello(n);
                }
                self.fence_joined(n);
                self.policy_event(Event::NodeJoined(n));
            }
            membership::Event::LeftCleanly(n) => {
                tracing::info!("State change: {} DOWN", self.name_of(n));
                // That run said goodbye: news of its "failure" from a member that missed the
                // goodbye is no failure.
                if let Some(inc) = self.member_inc.remove(&n) {
                    self.left_clean.insert(n, inc);
                }
                self.sync_peer_lost(n);
                self.policy_event(Event::NodeLeft {
                    node: n,
                    clean: true,
                });
            }
            membership::Event::Failed(n) => {
                tracing::info!("State change: {} DOWN", self.name_of(n));
                self.fence_lost(n);
                self.sync_peer_lost(n);
                self.policy_event(Event::NodeLeft {
                    node: n,
                    clean: false,
                });
            }
            membership::Event::ViewChanged(v) => self.view_changed(now, v),
            membership::Event::ConfigVersion { node, .. } => self.sync_hello_soon(now, node),
            membership::Event::EngineQuorum(quorate) => {
                let change = self.quorum.set_engine(Some(quorate));
                self.quorum_changed(now, change);
            }
            membership::Event::EngineLost => {
                tracing::error!(
                    "corosync is gone: no quorum; stopping the services here, then exiting"
                );
                self.engine_lost = true;
                let change = self.quorum.set_engine(Some(false));
                self.quorum_changed(now, change);
            }
            membership::Event::DuplicateNode {
                incarnation,
                witness,
            } => {
                tracing::error!(
                    "Another rgmanager claims node {}: {} hears a run of it started after \
                     this one",
                    self.name_of(self.local),
                    self.name_of(witness)
                );
                // The peers follow the newest run of a node (they drop an older one's frames),
                // so this older run is cut off: it gives way, without a goodbye (which would
                // make the others drop the node the newer daemon runs).
                if incarnation > self.incarnation {
                    tracing::error!("This node is already running elsewhere; exiting");
                    self.done = true;
                    self.out.push_back(Output::Exit { clean: false });
                }
            }
        }
    }

    fn view_changed(&mut self, now: Instant, v: View) {
        let change = self.quorum.update(&v.members);
        self.view = Some(v);
        self.note_cluster_wire();
        self.quorum_changed(now, change);
        self.report();
        if self.takeover.is_some() {
            self.poll_stale();
        }
    }

    /// After a new view or a verdict of corosync's votequorum: the policy hears of a change,
    /// the role and the fencing follow.
    fn quorum_changed(&mut self, now: Instant, change: Option<crate::quorum::QuorumChange>) {
        let quorum_lost = change == Some(crate::quorum::QuorumChange::Lost);
        self.tell_quorum_change(change);
        self.update_role(now);
        self.fence_view(quorum_lost);
    }

    /// Logs a change of quorum in cman's words and tells the policy.
    fn tell_quorum_change(&mut self, change: Option<crate::quorum::QuorumChange>) {
        if let Some(c) = change {
            tracing::info!("{}", c.message());
            let ev = match c {
                crate::quorum::QuorumChange::Regained => Event::QuorumRegained,
                crate::quorum::QuorumChange::Lost => Event::QuorumLost,
            };
            self.policy_event(ev);
        }
    }

    /// Whether this node may coordinate: the lowest member of a quorate view, holding the
    /// newest configuration any member announces.
    fn should_coordinate(&self) -> bool {
        self.quorum.is_quorate() && self.coordinator() == Some(self.local) && self.caught_up()
    }

    /// Takes or gives up the coordinator's role when [`should_coordinate`] changed.
    fn update_role(&mut self, now: Instant) {
        let should = self.should_coordinate();
        if should == self.coordinating {
            return;
        }
        self.coordinating = should;
        self.startup = None;
        self.startup_checked = false;
        // Orders given under an earlier role are void: another coordinator may have decided
        // otherwise meanwhile, and a member would run a resent one.
        self.coord.drop_orders();
        if should {
            tracing::info!("Node {} is the coordinator", self.name_of(self.local));
            self.term += 1;
            self.takeover = Some(now);
            self.takeover_warned = false;
            self.poll_stale();
            self.fence_start();
        } else {
            self.takeover = None;
            // The next takeover, in this view too, waits for reports sent after it began: the
            // ones kept now predate orders this node gave meanwhile.
            self.reports.clear();
            for w in std::mem::take(&mut self.waiters) {
                self.answer(w.origin, crate::state::RgCode::Quorum, None);
            }
            self.fence_stand_down();
        }
    }

    /// This node holds the newest configuration: its sync core fetches nothing, and no member
    /// of its view announces a newer version in its heartbeats. Until then it starts nothing
    /// and does not coordinate (it would decide with an old configuration).
    pub fn caught_up(&self) -> bool {
        let ours = self.sync.core.local().version();
        self.view.is_some()
            && self.sync.core.is_caught_up()
            && self.view.as_ref().is_some_and(|v| {
                v.members.iter().all(|m| {
                    *m == self.local
                        || self
                            .membership
                            .peer_config_version(*m)
                            .is_none_or(|pv| pv <= ours)
                })
            })
    }

    /// Keeps a failed node the configuration no longer lists in the policy's view, as lost:
    /// its services must not count as safely down because a newer configuration forgot it.
    fn keep_in_policy(&mut self, node: NodeId) {
        if self.coord.view.config.node_index(node).is_some() {
            return;
        }
        let mut cfg = (*self.coord.view.config).clone();
        cfg.keep_departing(&[crate::policy::NodeConf {
            id: node,
            name: self.name_of(node),
        }]);
        self.set_policy(cfg);
        self.coord
            .view
            .set_member(node, crate::policy::NodeState::Lost);
    }

    /// Replaces the policy's configuration, keeping what the view knows of every node and
    /// service that remains.
    fn set_policy(&mut self, cfg: crate::policy::PolicyConfig) {
        let old = &self.coord.view;
        let cfg = Arc::new(cfg);
        let mut view = ClusterView::new(cfg.clone());
        for (i, n) in cfg.nodes.iter().enumerate() {
            view.members[i] = old.member(n.id);
        }
        for (i, svc) in cfg.services.iter().enumerate() {
            if let Some(st) = old.service(&svc.name) {
                view.services[i] = st.clone();
            }
        }
        view.quorate = old.quorate;
        view.now = old.now;
        view.locked = old.locked;
        view.leaving = old.leaving.clone();
        self.coord.view = view;
    }

    /// A policy event: decided on by the coordinator, recorded by everyone else.
    fn policy_event(&mut self, ev: Event) {
        if self.coordinating && self.takeover.is_none() {
            let orders = self.coord.handle(&ev);
            self.dispatch(orders);
            self.broadcast_table();
        } else {
            self.coord.observe(&ev);
        }
    }

    /// Sends a daemon message; one to ourselves is handled before the current input returns.
    fn send(&mut self, to: NodeId, msg: Msg) {
        self.seq += 1;
        // Bound to the recipient's run (format 3) or, to a peer of the previous release,
        // format 2; nothing to a peer not heard yet (the periodic repeats reach it later).
        let version = if to == self.local {
            wire::VERSION_3
        } else {
            match wire::format_for(self.membership.peer_wire(to)) {
                Some(v) => v,
                None => {
                    tracing::trace!("no wire version with node {to} yet: {} held", msg.kind());
                    return;
                }
            }
        };
        let env = Envelope {
            version,
            sender: self.local,
            incarnation: self.incarnation,
            recipient: to,
            recipient_incarnation: self.membership.peer_incarnation(to).unwrap_or(0),
            seq: self.seq,
            msg,
        };
        if to == self.local {
            self.inbox.push_back(env);
            return;
        }
        let bytes = self.codec.encode(&env);
        self.out.push_back(Output::Message { to, bytes });
    }

    fn datagram(&mut self, bytes: &[u8]) {
        let env = match self.codec.decode(bytes) {
            Ok(e) => e,
            Err(why) => {
                if why == wire::Reject::BadMac {
                    self.wire_bad_mac += 1;
                }
                tracing::trace!("daemon message dropped: {why}");
                return;
            }
        };
        if env.sender == self.local {
            return;
        }
        let addressed = wire::addressed(
            &env,
            self.local,
            self.incarnation,
            self.membership.peer_wire(env.sender),
            self.membership.peer_incarnation(env.sender),
        );
        if let Err(why) = addressed.and_then(|()| self.replay.accept(&env)) {
            tracing::trace!("daemon message from node {} dropped: {why}", env.sender);
            return;
        }
        self.message(env);
    }

    /// Each second: what loss may have eaten is said again.
    fn periodic(&mut self, now: Instant) {
        self.ticks += 1;
        if self.ticks.is_multiple_of(STOP_RETRY_TICKS) {
            self.retry_failed_stops();
        }
        // The fencing news first: a new coordinator waits for every member's report, and so
        // has heard of the lost nodes before it rebuilds its table.
        self.fence_periodic();
        self.sync_periodic(now);
        self.report();
        self.resend_forwarded();
        if self.coordinating && self.takeover.is_none() {
            self.broadcast_table();
            let resend: Vec<coord::Order> = self.coord.outstanding().cloned().collect();
            self.dispatch(resend);
        }
        if let Some(since) = self.takeover {
            self.poll_stale();
            if now.saturating_duration_since(since) > Duration::from_secs(10)
                && !self.takeover_warned
            {
                self.takeover_warned = true;
                let missing = self.missing_reports();
                tracing::warn!("Waiting for the service states of nodes {missing:?}");
            }
        }
    }
}

#[cfg(test)]
mod corosync_tests {
    use super::*;
    use crate::membership::cpg::{CpgInput, Proc, Reason};

    const CONF: &str = r#"<cluster name="c" config_version="1"><cman engine="corosync"/>
      <clusternodes><clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/>
      <clusternode name="n3" nodeid="3"/></clusternodes><rm/></cluster>"#;

    fn node() -> (Node, Instant) {
        let now = Instant::now();
        let disk = ccs::store::Versioned::check(CONF.as_bytes().to_vec()).unwrap();
        let engine = disk.conf().engine().unwrap();
        assert_eq!(engine, ccs::model::Engine::Corosync);
        let setup = Setup {
            name: "n1".into(),
            incarnation: 7,
            unix_now: 1_000_000,
            initial_stop: false,
            engine,
        };
        (
            Node::new(setup, disk, b"0123456789abcdef", now).unwrap(),
            now,
        )
    }

    /// Feeds the node a group change and the hellos every member sends for it (this node's
    /// own, taken from its outputs, and the peers', made by peer cores).
    fn group(n: &mut Node, now: Instant, members: &[NodeId], left: Vec<Proc>) {
        let procs: Vec<Proc> = members
            .iter()
            .map(|m| Proc {
                node: *m,
                pid: 100 + m,
                reason: Reason::Join,
            })
            .collect();
        let change = CpgInput::ConfChg {
            members: procs.clone(),
            left,
            joined: vec![],
        };
        n.handle(now, Input::Cpg(change.clone()));
        let mut hellos = Vec::new();
        while let Some(o) = n.poll_output() {
            if let Output::Membership { to: 0, bytes } = o {
                hellos.push((1, bytes.to_vec()));
            }
        }
        for m in members.iter().filter(|m| **m != 1) {
            let mut peer =
                crate::membership::cpg::CpgMembership::new(*m, 50 + *m as u64, 1, &[1, 2, 3]);
            peer.handle(change.clone());
            while let Some(t) = peer.poll_transmit() {
                hellos.push((*m, t.bytes.to_vec()));
            }
        }
        for (from, bytes) in hellos {
            n.handle(
                now,
                Input::Cpg(CpgInput::Deliver {
                    node: from,
                    pid: 100 + from,
                    bytes,
                }),
            );
        }
    }

    #[test]
    fn quorum_needs_votequorum_and_the_views_votes_and_ends_with_corosync() {
        let (mut n, now) = node();
        group(&mut n, now, &[1, 2, 3], vec![]);
        assert_eq!(n.view().map(|v| v.members.clone()), Some(vec![1, 2, 3]));
        // The view's votes are there, votequorum has not spoken: not quorate.
        assert!(!n.is_quorate());
        n.handle(now, Input::Cpg(CpgInput::Quorum { quorate: true }));
        assert!(n.is_quorate());
        // The lowest member of a quorate view takes the coordinator's role.
        assert!(n.coordinating);
        // Cut off from both peers: votequorum's verdict may come later than the group change;
        // the view's own count already says no.
        let gone = |m: NodeId| Proc {
            node: m,
            pid: 100 + m,
            reason: Reason::NodeDown,
        };
        group(&mut n, now, &[1], vec![gone(2), gone(3)]);
        assert!(!n.is_quorate());
        // Back together, and quorate again; then corosync dies: no quorum, and with nothing
        // running here the daemon exits (not cleanly: no goodbye).
        group(&mut n, now, &[1, 2, 3], vec![]);
        assert!(n.is_quorate());
        n.handle(now, Input::Cpg(CpgInput::Lost));
        assert!(!n.is_quorate());
        let mut exited = false;
        while let Some(o) = n.poll_output() {
            exited |= matches!(o, Output::Exit { clean: false });
        }
        assert!(exited);
        assert!(n.is_done());
    }
}
