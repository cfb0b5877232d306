//! A deterministic simulator of whole clusters: N node cores ([`crate::node::Node`], the code
//! the daemon runs) on a simulated network, clock, disk, resource agents and fence devices, all
//! driven by one seed, with the cluster's promises checked after every step.
//!
//! FoundationDB's and TigerBeetle's simulators are the model: whatever the real world can do
//! to a cluster (lose, delay, reorder or duplicate datagrams; cut the network cleanly or one
//! way; crash, hang and restart daemons; power nodes off; fail agents and fence devices; push
//! configurations; run `clusvcadm`), a seed makes happen in some order, and the same seed makes
//! it happen again in the same order, so that a failing run is replayed exactly.
//!
//! The invariants (docs/RELIABILITY.md says what each guarantees and what it does not):
//! 1. **one runner**: a service is never running (by the simulated agents' state) on two
//!    powered nodes;
//! 2. **fenced first**: a service a failed node held is not started elsewhere while that node
//!    is failed (crashed, hung, cut off, powered off unseen), until a fence device confirmed its
//!    power-off, an administrator acknowledged it, or it is a member again;
//! 3. **quorum**: nothing is started by a node that is not quorate;
//! 4. **configuration**: no node writes a version that is not newer than the one it holds, and
//!    once the faults stop every node holds the newest version;
//! 5. **liveness**: once the faults stop and the fence devices work, every service that may
//!    run is started, on exactly one node, within a bounded time.

pub mod conf;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ccs::store::Versioned;

use crate::admin::{Request, Response, ServiceAction};
use crate::membership::NodeId;
use crate::node::wire::Op;
use crate::node::{AgentCmd, FenceCmd, Input, Node, Output, SendFailure, Setup};
use crate::policy::Holds;
use crate::state::ServiceState;

use conf::SimConf;
use rng::Rng;

/// The simulated cluster key.
const KEY: &[u8] = b"the simulated cluster key, 32 b!";
/// How long the cluster runs without faults at the end before liveness is judged.
const QUIET: Duration = Duration::from_secs(32);
const _: () = assert!(CLEANUP_AFTER.as_secs() + LIVENESS_BOUND.as_secs() == QUIET.as_secs());
/// When the administrator cleans up after the faults (unfreeze, enable what was disabled or
/// failed), after the quiet period's start.
const CLEANUP_AFTER: Duration = Duration::from_secs(8);
/// How long after the cleanup every service must run.
const LIVENESS_BOUND: Duration = Duration::from_secs(24);
/// The fence workers' pause between two rounds (as `daemon::fencing::RETRY_PAUSE`).
const FENCE_RETRY: Duration = Duration::from_secs(5);
/// The agents' status checks.
const STATUS_EVERY: Duration = Duration::from_millis(1000);
/// How many trace lines a failure prints.
const TRACE_KEEP: usize = 400;

/// What a run does.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Nodes in the cluster (3 to 16 are meant).
    pub nodes: u32,
    /// Faults (and administrator actions) before the quiet period.
    pub steps: u32,
    /// Print every node's log lines as they happen (a replay).
    pub verbose: bool,
    /// An attacker on the cluster network records every datagram and, at each step, sends
    /// recorded ones again: to where they went (replays) or to other nodes (redirects). It
    /// has its own random stream, so a seed's schedule is the same with or without it.
    pub attack: bool,
}

impl Options {
    /// A random run for `seed`: 3 to 5 nodes mostly, sometimes up to 9, 4 to 20 faults.
    pub fn random(seed: u64) -> Options {
        let mut r = Rng::new(seed ^ 0x5EED_0F0F);
        let nodes = if r.chance(0.85) {
            r.range(3, 6) as u32
        } else {
            r.range(6, 10) as u32
        };
        Options {
            seed,
            nodes,
            steps: r.range(4, 21) as u32,
            verbose: false,
            attack: false,
        }
    }
}

/// A broken promise.
#[derive(Clone, Debug)]
pub struct Violation {
    pub seed: u64,
    /// Simulated time since the start.
    pub at: Duration,
    /// Which invariant.
    pub invariant: &'static str,
    pub detail: String,
    /// The last steps before it.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {}: invariant '{}' broken at t={:.3}s: {}",
            self.seed,
            self.invariant,
            self.at.as_secs_f64(),
            self.detail
        )?;
        writeln!(f, "last steps:")?;
        for l in &self.trace {
            writeln!(f, "  {l}")?;
        }
        write!(
            f,
            "replay: cargo run --release -p rgmanager --bin rgm_sim -- --seed {} --verbose",
            self.seed
        )
    }
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub faults: u64,
    pub events: u64,
    pub starts: u64,
    pub fences: u64,
    pub pushes: u64,
    pub simulated: Duration,
    /// Datagrams the attacker sent again (`Options::attack`).
    pub attacks: u64,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub options: Options,
    pub stats: Stats,
    pub violation: Option<Violation>,
}

/// Runs one schedule.
pub fn run(options: &Options) -> Outcome {
    let mut sim = Sim::new(options);
    let violation = sim.run_schedule().err();
    Outcome {
        options: options.clone(),
        stats: sim.stats.clone(),
        violation,
    }
}

/// A fault, or something an administrator does. Durations say when the fault is undone
/// (`None`: at the quiet period).
#[derive(Clone, Debug)]
pub enum Action {
    Nothing,
    /// Everything heals; the quiet period and the final checks follow.
    Quiet,
    /// The daemon is killed (SIGKILL); its resources stay up. It starts again after the
    /// duration.
    Crash(NodeId, Option<Duration>),
    /// Every process of the node stops (SIGSTOP) for the duration.
    Hang(NodeId, Duration),
    /// The node loses power (unseen by the cluster, unlike a fence); it boots after the
    /// duration.
    PowerLoss(NodeId, Option<Duration>),
    /// These nodes are cut from the others, both ways, for the duration.
    Partition(Vec<NodeId>, Duration),
    /// `to` no longer hears `from`.
    OneWay {
        from: NodeId,
        to: NodeId,
        duration: Duration,
    },
    /// Datagram loss, duplication and delay for the duration.
    Network {
        loss: f64,
        dup: f64,
        jitter_us: u64,
        duration: Duration,
    },
    /// The fence device that powers this node off fails.
    FenceDevice(NodeId, Option<Duration>),
    /// A service dies on the node (one of its services when `None`).
    ServiceDies(NodeId, Option<String>),
    /// Every agent operation on the node takes this long until the quiet period (scripts
    /// only: random schedules get slow operations by chance).
    SlowAgent(NodeId, Duration),
    /// Stops (starts) of the service fail on the node.
    StopFails(NodeId, String, Option<Duration>),
    StartFails(NodeId, String, Option<Duration>),
    /// SIGTERM; the daemon starts again after the duration.
    Shutdown(NodeId, Option<Duration>),
    /// A daemon that is not running starts.
    Restart(NodeId),
    /// `ccs_sync` of this text on the node.
    Push(NodeId, String),
    /// Any admin request on the node (`clusvcadm`, ...).
    Admin(NodeId, Request),
    /// `fence_ack_manual dead` on `by`.
    FenceAck {
        by: NodeId,
        dead: NodeId,
    },
    /// The next `count` daemon messages of this kind from `from` to `to` are lost.
    DropMessages {
        from: NodeId,
        to: NodeId,
        kind: &'static str,
        count: u32,
    },
}

/// A scripted run: a configuration, the actions at their times, and a seed for everything
/// else (delays, agents' durations).
#[derive(Clone, Debug)]
pub struct Scenario {
    pub conf: SimConf,
    pub seed: u64,
    /// Actions at simulated times; an [`Action::Quiet`] should end them.
    pub script: Vec<(Duration, Action)>,
    /// Services that must be running on some node all the time between two moments
    /// (availability: a fault that the cluster should ride out).
    pub expect_up: Vec<(String, Duration, Duration)>,
}

/// The daemons' log lines on stderr, filtered by `RGM_SIM_LOG` (default `info`), for replaying
/// one history: `rgm_sim --seed S --verbose`, or a scenario of `tests/sim.rs` with `SIM_VERBOSE`.
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RGM_SIM_LOG").unwrap_or_else(|_| "info".into()),
        ))
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a scripted scenario, with the invariants checked as in random runs.
pub fn run_scenario(scenario: &Scenario, verbose: bool) -> Outcome {
    let options = Options {
        seed: scenario.seed,
        nodes: scenario.conf.nodes.len() as u32,
        steps: 0,
        verbose,
        attack: false,
    };
    let mut sim = Sim::with_conf(&options, scenario.conf.clone());
    sim.expect_up = scenario.expect_up.clone();
    for (t, a) in &scenario.script {
        sim.at(*t, Ev::Act(a.clone()));
    }
    let violation = sim.run_schedule().err();
    Outcome {
        options,
        stats: sim.stats.clone(),
        violation,
    }
}

/// Messages the network loses on purpose (a scripted fault).
#[derive(Clone, Debug)]
struct Filter {
    from: NodeId,
    to: NodeId,
    kind: &'static str,
    count: u32,
}

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
enum Ev {
    /// A scripted action.
    Act(Action),
    /// An input for a node's daemon (a datagram, a sync message).
    Deliver {
        to: NodeId,
        input: Input,
        /// A report from a node in a failure epoch: its sender and when it was sent.
        report: Option<(NodeId, Duration)>,
    },
    /// The transport's report that a sync message to `peer` did not get through.
    SyncFail {
        node: NodeId,
        life: u64,
        peer: NodeId,
        why: SendFailure,
    },
    /// The agent operation in progress on `node` ends.
    AgentDone { node: NodeId, life: u64 },
    /// The agents' periodic status checks.
    StatusTick { node: NodeId, life: u64 },
    /// A round of a fence run by `by` against `victim`.
    FenceRound {
        by: NodeId,
        life: u64,
        run: u64,
        victim: NodeId,
    },
    /// A configuration write ends.
    Written {
        node: NodeId,
        life: u64,
        write: u64,
        config: Versioned,
    },
    /// The next scheduled fault or administrator action.
    Step,
    /// Undo a fault.
    Heal(Heal),
    /// A node powers on and its daemon starts.
    Boot { node: NodeId },
    /// A stopped or crashed daemon starts again (the node is powered).
    Restart { node: NodeId },
}

#[derive(Clone, Debug)]
enum Heal {
    Resume(NodeId),
    Reconnect(Vec<(NodeId, NodeId)>),
    Network,
    FenceDevice(NodeId),
    StopWorks(NodeId, String),
    StartWorks(NodeId, String),
    Unfreeze(String),
    /// The administrator after the faults: unfreeze every service, disable what failed.
    Cleanup,
    /// Then enable what is disabled.
    EnableAll,
}

/// The simulated agents of one node: one operation at a time, in order.
#[derive(Default)]
struct Agents {
    queue: VecDeque<AgentCmd>,
    busy: Option<(u64, String, Op)>,
    /// Services this node's configuration knows (the last `Load`).
    known: BTreeSet<String>,
    /// What the configurations before it knew, newest first: as the real agents thread
    /// (`daemon/agents.rs`), a stop of a service the current one lacks uses the newest that has it.
    retired: VecDeque<BTreeSet<String>>,
    /// Started by these agents and not stopped since, with whether the last check was good.
    started: BTreeMap<String, bool>,
}

struct SimNode {
    core: Option<Node>,
    powered: bool,
    hung: bool,
    /// Bumped at every daemon start: events of an earlier run are dropped.
    life: u64,
    disk: Versioned,
    /// Services whose resources are up on this node (the truth).
    resources: BTreeSet<String>,
    agents: Agents,
    /// Events held while the node is hung (SIGSTOP freezes every process).
    held: Vec<Ev>,
    /// Fence runs this daemon cancelled.
    cancelled: BTreeSet<u64>,
    /// Services whose stop (start) fails here.
    stop_broken: BTreeSet<String>,
    start_broken: BTreeSet<String>,
    /// Every agent operation takes this long ([`Action::SlowAgent`]).
    slow_agent: Option<Duration>,
    /// The fence device that powers this node off fails.
    device_broken: bool,
    next_admin: u64,
    /// A clean stop was asked for; the daemon restarts after it exits.
    restart_after_exit: Option<Duration>,
    /// When the daemon's timers are due (kept by [`Sim::refresh`]).
    timeout: Option<Duration>,
}

/// A node that failed as the rest of the cluster sees it, and the services it held then.
#[derive(Clone, Debug)]
struct Epoch {
    since: Duration,
    held: BTreeSet<String>,
}

/// Datagrams the attacker keeps (the latest), and sends at each step.
const ATTACK_CAPTURE: usize = 5_000;
const ATTACK_BURST: u32 = 40;

struct Sim {
    opts: Options,
    rng: Rng,
    /// The attacker's random stream and its recording (the latest datagrams, with their
    /// destinations), when `opts.attack`.
    attacker: Rng,
    captured: VecDeque<(NodeId, Input)>,
    t0: Instant,
    now: Duration,
    queue: BTreeMap<(Duration, u64), Ev>,
    seq: u64,
    nodes: BTreeMap<NodeId, SimNode>,
    /// The newest configuration pushed (the base of the next push).
    conf: SimConf,
    next_incarnation: u64,
    loss: f64,
    dup: f64,
    jitter_us: u64,
    blocked: BTreeSet<(NodeId, NodeId)>,
    epochs: BTreeMap<NodeId, Epoch>,
    filters: Vec<Filter>,
    /// (receiver, sender) → when the latest report the sender sent during a failure epoch of
    /// its own reached the receiver.
    heard_from: BTreeMap<(NodeId, NodeId), Duration>,
    expect_up: Vec<(String, Duration, Duration)>,
    /// Two texts of one version were pushed.
    conflicted: bool,
    /// Services an administrator stopped (`clusvcadm -s`), or whose starts were made to fail:
    /// the cleanup enables them if they are stopped.
    admin_stopped: BTreeSet<String>,
    /// Decodes daemon messages for the filters.
    codec: Option<crate::node::wire::Codec>,
    steps_left: u32,
    /// Steps taken at the current instant (a livelock detector).
    same_instant: u64,
    quiet_since: Option<Duration>,
    trace: VecDeque<String>,
    stats: Stats,
    /// Highest version written anywhere, and its hash.
    newest: Option<(u64, ccs::store::ConfHash)>,
    /// The nodes of that version.
    newest_nodes: Vec<NodeId>,
}

fn addr(id: NodeId) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 0, 0, id as u8), 5405))
}

type Check = Result<(), Violation>;

impl Sim {
    fn new(opts: &Options) -> Sim {
        let mut rng = Rng::new(opts.seed);
        let conf = SimConf::random(&mut rng, opts.nodes);
        let mut sim = Sim::with_conf_rng(opts, conf, rng);
        let first = Duration::from_millis(sim.rng.range(3_000, 8_000));
        sim.at(first, Ev::Step);
        sim
    }

    fn with_conf(opts: &Options, conf: SimConf) -> Sim {
        Sim::with_conf_rng(opts, conf, Rng::new(opts.seed))
    }

    fn with_conf_rng(opts: &Options, conf: SimConf, rng: Rng) -> Sim {
        let codec = crate::node::wire::Codec::new("sim", KEY);
        let mut sim = Sim {
            attacker: Rng::new(opts.seed ^ 0xA77AC4),
            captured: VecDeque::new(),
            filters: Vec::new(),
            expect_up: Vec::new(),
            heard_from: BTreeMap::new(),
            admin_stopped: BTreeSet::new(),
            conflicted: false,
            codec,
            opts: opts.clone(),
            rng,
            t0: Instant::now(),
            now: Duration::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            nodes: BTreeMap::new(),
            conf: conf.clone(),
            next_incarnation: 1_000,
            loss: 0.0,
            dup: 0.0,
            jitter_us: 500,
            blocked: BTreeSet::new(),
            epochs: BTreeMap::new(),
            steps_left: opts.steps,
            same_instant: 0,
            quiet_since: None,
            trace: VecDeque::new(),
            stats: Stats::default(),
            newest: None,
            newest_nodes: Vec::new(),
        };
        let text = conf.render();
        if opts.verbose {
            eprintln!("{text}");
        }
        let Ok(disk) = Versioned::check(text.into_bytes()) else {
            // The generator only writes valid files; a run with an invalid one checks nothing.
            return sim;
        };
        sim.newest = Some((disk.version(), disk.hash()));
        sim.newest_nodes = nodes_of(&disk);
        for &id in &conf.nodes {
            sim.nodes.insert(
                id,
                SimNode {
                    core: None,
                    powered: true,
                    hung: false,
                    life: 0,
                    disk: disk.clone(),
                    resources: BTreeSet::new(),
                    agents: Agents::default(),
                    held: Vec::new(),
                    cancelled: BTreeSet::new(),
                    stop_broken: BTreeSet::new(),
                    start_broken: BTreeSet::new(),
                    slow_agent: None,
                    device_broken: false,
                    next_admin: 1,
                    restart_after_exit: None,
                    timeout: None,
                },
            );
        }
        // Daemons start within a few hundred milliseconds of each other.
        let ids: Vec<NodeId> = sim.nodes.keys().copied().collect();
        for id in ids {
            let at = Duration::from_millis(sim.rng.range(0, 400));
            sim.at(at, Ev::Boot { node: id });
        }
        sim
    }

    fn at(&mut self, t: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.insert((t.max(self.now), self.seq), ev);
    }

    fn after(&mut self, d: Duration, ev: Ev) {
        self.at(self.now + d, ev);
    }

    fn note(&mut self, line: String) {
        if self.opts.verbose {
            eprintln!("t={:9.3} {line}", self.now.as_secs_f64());
        }
        if self.trace.len() >= TRACE_KEEP {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("t={:9.3} {line}", self.now.as_secs_f64()));
    }

    fn violation(&self, invariant: &'static str, detail: String) -> Violation {
        Violation {
            seed: self.opts.seed,
            at: self.now,
            invariant,
            detail,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    fn instant(&self) -> Instant {
        self.t0 + self.now
    }

    /// The whole schedule: faults, then quiet, then the liveness and convergence checks.
    fn run_schedule(&mut self) -> Check {
        if self.newest.is_none() {
            return Err(self.violation("setup", "the generated configuration is invalid".into()));
        }
        loop {
            let next_node = self
                .nodes
                .iter()
                .filter_map(|(id, n)| Some((n.timeout?, *id)))
                .min();
            let next_ev = self.queue.keys().next().copied();
            let t = match (next_node, next_ev) {
                (Some((tn, _)), Some((te, _))) => tn.min(te),
                (Some((tn, _)), None) => tn,
                (None, Some((te, _))) => te,
                (None, None) => break,
            };
            if let Some(q) = self.quiet_since {
                if t > q + QUIET {
                    self.now = q + QUIET;
                    break;
                }
            }
            if t > self.now {
                self.same_instant = 0;
            }
            self.now = t.max(self.now);
            self.stats.events += 1;
            self.same_instant += 1;
            if self.same_instant > 200_000 {
                return Err(self.violation(
                    "progress",
                    "200000 steps without the clock moving: a livelock".into(),
                ));
            }
            if next_ev.is_some_and(|(te, _)| te <= t) {
                let Some((_, ev)) = self.queue.pop_first() else {
                    continue;
                };
                self.event(ev)?;
            } else {
                let now = self.instant();
                let at = self.now;
                let due: Vec<NodeId> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.timeout.is_some_and(|d| d <= at))
                    .map(|(id, _)| *id)
                    .collect();
                for id in due {
                    if let Some(core) = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut()) {
                        let span = tracing::info_span!("node", id);
                        let _g = span.enter();
                        core.handle_timeout(now);
                    }
                    self.outputs(id)?;
                }
            }
            self.check_every_step()?;
        }
        self.stats.simulated = self.now;
        self.check_end()
    }

    /// Hands an input to a node's daemon (held while it is hung).
    fn input(&mut self, id: NodeId, input: Input) -> Check {
        let now = self.instant();
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.hung {
            n.held.push(Ev::Deliver {
                to: id,
                input,
                report: None,
            });
            return Ok(());
        }
        let Some(core) = n.core.as_mut() else {
            return Ok(());
        };
        let span = tracing::info_span!("node", id);
        let _g = span.enter();
        core.handle(now, input);
        drop(_g);
        self.outputs(id)
    }

    fn event(&mut self, ev: Ev) -> Check {
        // Everything aimed at a hung node waits for it: its processes are all stopped.
        let target = match &ev {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::SyncFail { node, .. }
            | Ev::AgentDone { node, .. }
            | Ev::StatusTick { node, .. }
            | Ev::Written { node, .. } => Some(*node),
            Ev::FenceRound { by, .. } => Some(*by),
            _ => None,
        };
        if let Some(t) = target {
            if let Some(n) = self.nodes.get_mut(&t) {
                if n.hung {
                    n.held.push(ev);
                    return Ok(());
                }
            }
        }
        match ev {
            Ev::Deliver { to, input, report } => {
                self.input(to, input)?;
                if let Some((from, sent)) = report {
                    self.report_delivered(to, from, sent);
                }
                Ok(())
            }
            Ev::SyncFail {
                node,
                life,
                peer,
                why,
            } => {
                if self.life(node) == Some(life) {
                    self.input(node, Input::SyncFailed { to: peer, why })?;
                }
                Ok(())
            }
            Ev::AgentDone { node, life } => self.agent_done(node, life),
            Ev::StatusTick { node, life } => self.status_tick(node, life),
            Ev::FenceRound {
                by,
                life,
                run,
                victim,
            } => self.fence_round(by, life, run, victim),
            Ev::Written {
                node,
                life,
                write,
                config,
            } => {
                // The write is on disk only if the node still has power when it completes: a
                // version whose only write a power-off interrupted never existed for the
                // cluster (its `ccs_sync` got no answer), so it is not the newest either.
                let durable = self.nodes.get(&node).is_some_and(|n| n.powered);
                if durable {
                    if self.newest.is_none_or(|(v, _)| config.version() > v) {
                        self.newest = Some((config.version(), config.hash()));
                        self.newest_nodes = nodes_of(&config);
                    }
                    self.note(format!("node{node}: version {} on disk", config.version()));
                    if let Some(n) = self.nodes.get_mut(&node) {
                        n.disk = config;
                    }
                }
                if self.life(node) == Some(life) {
                    self.input(
                        node,
                        Input::Written {
                            write,
                            result: Ok(()),
                        },
                    )?;
                }
                Ok(())
            }
            Ev::Step => self.step(),
            Ev::Act(a) => self.act(a),
            Ev::Heal(h) => self.heal(h),
            Ev::Boot { node } => self.boot(node),
            Ev::Restart { node } => self.start_daemon(node),
        }
    }

    /// The life of a node's running daemon.
    fn life(&self, id: NodeId) -> Option<u64> {
        let n = self.nodes.get(&id)?;
        n.core.as_ref().map(|_| n.life)
    }

    fn boot(&mut self, id: NodeId) -> Check {
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.powered && n.core.is_some() {
            return Ok(());
        }
        n.powered = true;
        n.hung = false;
        self.note(format!("node{id}: powered on, daemon starting"));
        self.start_daemon(id)
    }

    fn start_daemon(&mut self, id: NodeId) -> Check {
        self.next_incarnation += 1;
        let incarnation = self.next_incarnation;
        let now = self.instant();
        let unix = 1_700_000_000 + self.now.as_secs();
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if !n.powered || n.core.is_some() {
            return Ok(());
        }
        let setup = Setup {
            name: conf::node_name(id),
            incarnation,
            unix_now: unix,
            initial_stop: true,
            engine: ccs::model::Engine::Embedded,
        };
        let span = tracing::info_span!("node", id);
        let made = {
            let _g = span.enter();
            Node::new(setup, n.disk.clone(), KEY, now)
        };
        match made {
            Ok(core) => {
                n.core = Some(core);
                n.life += 1;
                n.agents = Agents::default();
                n.cancelled.clear();
                n.held.clear();
                let life = n.life;
                self.after(STATUS_EVERY, Ev::StatusTick { node: id, life });
                self.outputs(id)
            }
            // This node is not in its configuration (removed): it stays down.
            Err(e) => {
                self.note(format!("node{id}: daemon does not start: {e}"));
                Ok(())
            }
        }
    }

    /// Carries a node's outputs out.
    fn outputs(&mut self, id: NodeId) -> Check {
        loop {
            let Some(out) = self
                .nodes
                .get_mut(&id)
                .and_then(|n| n.core.as_mut())
                .and_then(Node::poll_output)
            else {
                self.refresh(id);
                return Ok(());
            };
            self.output(id, out)?;
        }
    }

    /// Recomputes when a node's daemon needs its timers run (none while it is hung or dead).
    fn refresh(&mut self, id: NodeId) {
        let t0 = self.t0;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.timeout = if n.hung {
                None
            } else {
                n.core
                    .as_ref()
                    .and_then(Node::poll_timeout)
                    .map(|t| t.saturating_duration_since(t0))
            };
        }
    }

    fn output(&mut self, id: NodeId, out: Output) -> Check {
        match out {
            Output::Membership { to, bytes } => {
                let input = Input::Membership {
                    from: addr(id),
                    bytes: bytes.to_vec(),
                };
                self.datagram(id, to, input);
            }
            Output::Message { to, bytes } => self.datagram(id, to, Input::Message { bytes }),
            Output::Sync { to, msg, query } => self.sync_send(id, to, msg, query),
            Output::Agent(cmd) => {
                if let AgentCmd::Run {
                    op: Op::Start,
                    ref service,
                    ..
                } = cmd
                {
                    let quorate = self
                        .nodes
                        .get(&id)
                        .and_then(|n| n.core.as_ref())
                        .is_some_and(Node::is_quorate);
                    if !quorate {
                        return Err(self.violation(
                            "quorum",
                            format!("node{id} starts {service} without quorum"),
                        ));
                    }
                }
                if let AgentCmd::Run { job, service, op } = &cmd {
                    if self.opts.verbose {
                        self.note(format!("node{id}: agent job {job} {op:?} {service} queued"));
                    }
                }
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.agents.queue.push_back(cmd);
                }
                self.agent_next(id);
            }
            Output::Fence(FenceCmd::Start { run, node, .. }) => {
                self.stats.fences += 1;
                let life = self.life(id).unwrap_or(0);
                let delay = self
                    .nodes
                    .get(&id)
                    .map_or(0, |n| n.disk.conf().post_fail_delay().max(0) as u64);
                let latency = Duration::from_millis(self.rng.range(5, 300));
                self.note(format!("node{id}: fencing node{node} (run {run})"));
                self.after(
                    Duration::from_secs(delay) + latency,
                    Ev::FenceRound {
                        by: id,
                        life,
                        run,
                        victim: node,
                    },
                );
            }
            Output::Fence(FenceCmd::Cancel { node }) => {
                self.note(format!("node{id}: cancels fencing node{node}"));
                // Every run of this daemon against `node` stops at its next round.
                let runs: Vec<u64> = self
                    .queue
                    .values()
                    .filter_map(|e| match e {
                        Ev::FenceRound {
                            by, run, victim, ..
                        } if *by == id && *victim == node => Some(*run),
                        _ => None,
                    })
                    .collect();
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.cancelled.extend(runs);
                }
            }
            Output::Write { write, config } => {
                let disk = self.nodes.get(&id).map(|n| n.disk.version()).unwrap_or(0);
                if config.version() <= disk {
                    return Err(self.violation(
                        "configuration",
                        format!(
                            "node{id} writes version {} over version {disk}",
                            config.version()
                        ),
                    ));
                }
                self.note(format!("node{id}: writes version {}", config.version()));
                let life = self.life(id).unwrap_or(0);
                let d = Duration::from_millis(self.rng.range(1, 20));
                self.after(
                    d,
                    Ev::Written {
                        node: id,
                        life,
                        write,
                        config,
                    },
                );
            }
            Output::Admin { id: rid, response } => {
                let text = match &response {
                    Response::Status { .. } => "status".to_string(),
                    other => format!("{other:?}"),
                };
                self.note(format!("node{id}: admin #{rid} answered {text}"));
            }
            Output::Addresses { .. } | Output::Reconfigured { .. } => {}
            Output::Exit { clean } => {
                self.note(format!("node{id}: daemon exits (clean: {clean})"));
                if clean {
                    // It stopped everything and said goodbye: whatever a fault made it look
                    // like to some, it did not fail.
                    self.epochs.remove(&id);
                }
                let restart = self.nodes.get_mut(&id).and_then(|n| {
                    n.core = None;
                    n.restart_after_exit.take()
                });
                if let Some(d) = restart {
                    self.after(d, Ev::Restart { node: id });
                }
            }
        }
        Ok(())
    }

    /// A datagram through the simulated network.
    fn datagram(&mut self, from: NodeId, to: NodeId, input: Input) {
        if self.opts.attack {
            // Recorded on the wire, before any block or loss.
            if self.captured.len() >= ATTACK_CAPTURE {
                self.captured.pop_front();
            }
            self.captured.push_back((to, input.clone()));
        }
        if self.blocked.contains(&(from, to)) {
            return;
        }
        let mut report = None;
        if let (Input::Message { bytes }, true) = (&input, self.epochs.contains_key(&from)) {
            if let Some(Ok(env)) = self.codec.as_ref().map(|c| c.decode(bytes)) {
                if env.msg.kind() == "report" {
                    report = Some((from, self.now));
                }
            }
        }
        if let (Input::Message { bytes }, false) = (&input, self.filters.is_empty()) {
            if let Some(Ok(env)) = self.codec.as_ref().map(|c| c.decode(bytes)) {
                let kind = env.msg.kind();
                if let Some(f) = self
                    .filters
                    .iter_mut()
                    .find(|f| f.from == from && f.to == to && f.kind == kind && f.count > 0)
                {
                    f.count -= 1;
                    self.note(format!("node{from} -> node{to}: '{kind}' message lost"));
                    return;
                }
            }
        }
        if self.loss > 0.0 && self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.dup > 0.0 && self.rng.chance(self.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let d = Duration::from_micros(100 + self.rng.range(0, self.jitter_us.max(1)));
            self.after(
                d,
                Ev::Deliver {
                    to,
                    input: input.clone(),
                    report,
                },
            );
        }
    }

    /// A sync message: TCP, so delivered in full or reported as failed.
    fn sync_send(&mut self, from: NodeId, to: NodeId, msg: ccs::sync::Message, query: bool) {
        let life = self.life(from).unwrap_or(0);
        let target = self.nodes.get(&to);
        let cut = self.blocked.contains(&(from, to)) || self.blocked.contains(&(to, from));
        let fail = match target {
            None => Some((Duration::from_secs(2), "no such host")),
            Some(_) if cut => Some((Duration::from_secs(2), "connection timed out")),
            Some(t) if !t.powered => Some((Duration::from_secs(2), "no route to host")),
            Some(t) if t.core.is_none() => Some((Duration::from_millis(1), "connection refused")),
            Some(_) => None,
        };
        match fail {
            Some((d, why)) => self.after(
                d,
                Ev::SyncFail {
                    node: from,
                    life,
                    peer: to,
                    why: SendFailure::Unreachable(why.into()),
                },
            ),
            None => {
                let d = Duration::from_micros(300 + self.rng.range(0, 2_000));
                self.after(
                    d,
                    Ev::Deliver {
                        to,
                        input: Input::Sync { from, msg, query },
                        report: None,
                    },
                );
            }
        }
    }

    /// Starts the node's next agent operation, if it is idle.
    fn agent_next(&mut self, id: NodeId) {
        loop {
            let Some(n) = self.nodes.get_mut(&id) else {
                return;
            };
            if n.agents.busy.is_some() {
                return;
            }
            let Some(cmd) = n.agents.queue.pop_front() else {
                return;
            };
            match cmd {
                AgentCmd::Load { forest } => {
                    let known = forest.roots.iter().map(|r| forest.name_of(*r)).collect();
                    let old = std::mem::replace(&mut n.agents.known, known);
                    n.agents.retired.push_front(old);
                    n.agents
                        .retired
                        .truncate(crate::daemon::agents::RETIRED_FORESTS);
                    n.agents.started.retain(|s, _| n.agents.known.contains(s));
                }
                AgentCmd::Run { job, service, op } => {
                    n.agents.busy = Some((job, service, op));
                    let life = n.life;
                    // Mostly quick; now and then an agent that takes its time.
                    let ms = if let Some(d) = n.slow_agent {
                        d.as_millis() as u64
                    } else if self.rng.chance(0.05) {
                        self.rng.range(500, 5_000)
                    } else {
                        self.rng.range(2, 150)
                    };
                    self.after(Duration::from_millis(ms), Ev::AgentDone { node: id, life });
                    return;
                }
            }
        }
    }

    /// The agent operation in progress ends: its effect on the resources happens whether or
    /// not the daemon that asked for it still runs; the result goes to that daemon only.
    fn agent_done(&mut self, id: NodeId, life: u64) -> Check {
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.life != life || !n.powered {
            return Ok(());
        }
        let Some((job, service, op)) = n.agents.busy.take() else {
            return Ok(());
        };
        let known = n.agents.known.contains(&service);
        let ok = match op {
            Op::Start => {
                let ok = known && !n.start_broken.contains(&service);
                if ok {
                    n.resources.insert(service.clone());
                    n.agents.started.insert(service.clone(), true);
                }
                ok
            }
            Op::Stop => {
                n.agents.started.remove(&service);
                let stoppable = known || n.agents.retired.iter().any(|k| k.contains(&service));
                if !stoppable || n.stop_broken.contains(&service) {
                    false
                } else {
                    n.resources.remove(&service);
                    true
                }
            }
            Op::Convalesce => known,
        };
        self.note(format!("node{id}: agent {op:?} {service} -> {ok}"));
        if op == Op::Start && ok {
            self.stats.starts += 1;
            self.check_fenced_first(id, &service)?;
        }
        if n_alive(self.nodes.get(&id)) {
            self.input(id, Input::AgentDone { job, ok })?;
        }
        self.agent_next(id);
        Ok(())
    }

    fn status_tick(&mut self, id: NodeId, life: u64) -> Check {
        if self.life(id) != Some(life) {
            return Ok(());
        }
        self.after(STATUS_EVERY, Ev::StatusTick { node: id, life });
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.agents.busy.is_some() {
            return Ok(());
        }
        let mut failed = Vec::new();
        for (s, healthy) in n.agents.started.iter_mut() {
            if n.resources.contains(s) {
                *healthy = true;
            } else {
                *healthy = false;
                failed.push(s.clone());
            }
        }
        for service in failed {
            self.input(id, Input::StatusFailed { service })?;
        }
        Ok(())
    }

    /// A round of a fence run: the device powers the victim off (confirmed), fails (another
    /// round after the pause), or the run was cancelled.
    fn fence_round(&mut self, by: NodeId, life: u64, run: u64, victim: NodeId) -> Check {
        if self.life(by) != Some(life) {
            return Ok(());
        }
        let cancelled = self
            .nodes
            .get_mut(&by)
            .is_some_and(|n| n.cancelled.remove(&run));
        if cancelled {
            return self.input(
                by,
                Input::FenceDone {
                    run,
                    node: victim,
                    fenced: false,
                },
            );
        }
        let broken = self.nodes.get(&victim).is_some_and(|n| n.device_broken);
        if broken {
            self.note(format!("node{by}: fence device for node{victim} fails"));
            self.after(
                FENCE_RETRY,
                Ev::FenceRound {
                    by,
                    life,
                    run,
                    victim,
                },
            );
            return Ok(());
        }
        self.note(format!(
            "node{by}: node{victim} is powered off (fence run {run})"
        ));
        self.power_off(victim);
        // The power-off is confirmed: the failure is over for the rules.
        self.epochs.remove(&victim);
        let boot = Duration::from_millis(self.rng.range(2_000, 8_000));
        self.after(boot, Ev::Boot { node: victim });
        self.input(
            by,
            Input::FenceDone {
                run,
                node: victim,
                fenced: true,
            },
        )
    }

    /// Cuts a node's power: its daemon, agents and resources are gone.
    fn power_off(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.powered = false;
            n.hung = false;
            n.core = None;
            n.resources.clear();
            n.agents = Agents::default();
            n.held.clear();
            n.restart_after_exit = None;
        }
        self.refresh(id);
    }

    /// A node starts failing as the others see it: the services it holds now must not start
    /// elsewhere until it is fenced, acknowledged or a member again.
    fn begin_epoch(&mut self, id: NodeId) {
        let held = self
            .nodes
            .get(&id)
            .map(|n| n.resources.clone())
            .unwrap_or_default();
        let since = self.now;
        self.epochs
            .entry(id)
            .and_modify(|e| e.held.extend(held.iter().cloned()))
            .or_insert(Epoch { since, held });
    }

    fn check_fenced_first(&self, starter: NodeId, service: &str) -> Check {
        // The coordinator that ordered the start: it decided on what it knew.
        let decider = self
            .nodes
            .get(&starter)
            .and_then(|n| n.core.as_ref())
            .and_then(|c| c.view().and_then(|v| v.coordinator()));
        for (a, e) in &self.epochs {
            // The decider heard from the failed node itself, after its failure began, what it
            // runs (it is back, or said so before going away again).
            let told = decider.is_some_and(|d| {
                d == *a || self.heard_from.get(&(d, *a)).is_some_and(|t| *t > e.since)
            });
            if *a != starter && e.held.contains(service) && !told {
                return Err(self.violation(
                    "fenced first",
                    format!(
                        "{service} started on node{starter} while node{a}, which held it when \
                         it failed at t={:.3}s, is neither fenced nor a member again",
                        e.since.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// After every step: one runner per service; failures that are over end their epoch.
    fn check_every_step(&mut self) -> Check {
        let mut runners: BTreeMap<&String, Vec<NodeId>> = BTreeMap::new();
        for (id, n) in &self.nodes {
            if n.powered {
                for s in &n.resources {
                    runners.entry(s).or_default().push(*id);
                }
            }
        }
        if let Some((s, ns)) = runners.iter().find(|(_, ns)| ns.len() > 1) {
            return Err(self.violation("one runner", format!("{s} runs on nodes {ns:?} at once")));
        }
        // A failed node that is a member of a quorate coordinator's view again is back.
        let back: Vec<NodeId> = self
            .epochs
            .keys()
            .copied()
            .filter(|a| self.is_back(*a))
            .collect();
        for a in back {
            self.epochs.remove(&a);
        }
        Ok(())
    }

    /// A report that `from` sent at `sent` (during its failure epoch) reached `to`.
    fn report_delivered(&mut self, to: NodeId, from: NodeId, sent: Duration) {
        let e = self.heard_from.entry((to, from)).or_insert(sent);
        *e = (*e).max(sent);
    }

    /// `a` runs, is reachable, and a quorate coordinator counts it as a member.
    fn is_back(&self, a: NodeId) -> bool {
        let Some(n) = self.nodes.get(&a) else {
            return false;
        };
        if n.hung || n.core.is_none() {
            return false;
        }
        // A quorate coordinator (taking over or done) has its report of the current view:
        // what it runs is known from its own word.
        self.nodes.values().any(|c| {
            !c.hung
                && c.core.as_ref().is_some_and(|core| {
                    core.is_quorate()
                        && core.view().and_then(|v| v.coordinator()) == Some(core.id())
                        && core.has_report(a)
                })
        })
    }

    /// The next random fault or administrator action; after the last one, everything heals.
    fn step(&mut self) -> Check {
        if self.steps_left == 0 {
            return self.begin_quiet();
        }
        self.steps_left -= 1;
        let action = self.random_action();
        self.act(action)?;
        if self.opts.attack {
            self.attack();
        }
        let next = Duration::from_millis(self.rng.range(300, 6_000));
        self.after(next, Ev::Step);
        Ok(())
    }

    /// The attacker sends up to [`ATTACK_BURST`] recorded datagrams, each again to where it
    /// went or to another node, over the next second (the daemons must drop them all).
    fn attack(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        if self.captured.is_empty() || ids.is_empty() {
            return;
        }
        for _ in 0..ATTACK_BURST {
            let i = self.attacker.range(0, self.captured.len() as u64) as usize;
            let Some((to, input)) = self.captured.get(i).cloned() else {
                continue;
            };
            let to = if self.attacker.chance(0.5) {
                to
            } else {
                *self.attacker.pick(&ids)
            };
            let d = Duration::from_millis(self.attacker.range(0, 1_000));
            self.stats.attacks += 1;
            self.after(
                d,
                Ev::Deliver {
                    to,
                    input,
                    report: None,
                },
            );
        }
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.rng.range(lo, hi))
    }

    /// A fault or an administrator's action, at random.
    fn random_action(&mut self) -> Action {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let live = self.live();
        let token = self.conf.token_ms;
        let victim = *self.rng.pick(&ids);
        match self.rng.range(0, 100) {
            0..=9 => {
                let d = self.ms(500, 15_000);
                Action::Crash(victim, Some(d))
            }
            10..=19 => {
                let d = self.ms(token / 3, token * 4);
                Action::Hang(victim, d)
            }
            20..=26 => {
                let d = self.ms(2_000, 20_000);
                Action::PowerLoss(victim, Some(d))
            }
            27..=38 => {
                let k = self.rng.range(1, (ids.len() as u64 / 2).max(1) + 1) as usize;
                let mut group: Vec<NodeId> = Vec::new();
                while group.len() < k {
                    let n = *self.rng.pick(&ids);
                    if !group.contains(&n) {
                        group.push(n);
                    }
                }
                let d = self.ms(500, 12_000);
                Action::Partition(group, d)
            }
            39..=43 => {
                let other = *self.rng.pick(&ids);
                let d = self.ms(500, 10_000);
                Action::OneWay {
                    from: other,
                    to: victim,
                    duration: d,
                }
            }
            44..=49 => {
                let loss = *self.rng.pick(&[0.05, 0.2, 0.5]);
                let dup = *self.rng.pick(&[0.0, 0.05]);
                let jitter_us = *self.rng.pick(&[500, 5_000, 50_000]);
                let d = self.ms(500, 8_000);
                Action::Network {
                    loss,
                    dup,
                    jitter_us,
                    duration: d,
                }
            }
            50..=55 => {
                let d = self.ms(1_000, 20_000);
                Action::FenceDevice(victim, Some(d))
            }
            56..=61 => Action::ServiceDies(victim, None),
            62..=66 => {
                let s = self.random_service();
                let d = self.ms(1_000, 15_000);
                Action::StopFails(victim, s, Some(d))
            }
            67..=70 => {
                let s = self.random_service();
                let d = self.ms(1_000, 15_000);
                Action::StartFails(victim, s, Some(d))
            }
            71..=76 => {
                let d = self.ms(1_000, 10_000);
                Action::Shutdown(victim, Some(d))
            }
            77..=82 => {
                let Some(&node) = (!live.is_empty()).then(|| self.rng.pick(&live)) else {
                    return Action::Nothing;
                };
                let text = match self.rng.range(0, 10) {
                    0 => {
                        let mut old = self.conf.clone();
                        old.version = old.version.saturating_sub(1).max(1);
                        old.flavour = self.rng.range(1, 1000) as u32;
                        old.render()
                    }
                    1 => {
                        // Another text of the newest version: refused where that version is,
                        // adopted where it is not yet (a conflict the administrator resolves).
                        let mut same = self.conf.clone();
                        same.flavour = self.rng.range(1, 1000) as u32;
                        self.conflicted = true;
                        same.render()
                    }
                    2 => "<cluster name=\"sim\" config_version=\"999\"><clusternodes>".into(),
                    _ => {
                        // The next random push builds on this one.
                        self.conf = self.conf.mutate(&mut self.rng);
                        self.conf.render()
                    }
                };
                Action::Push(node, text)
            }
            _ => self.random_admin(&live),
        }
    }

    fn random_admin(&mut self, live: &[NodeId]) -> Action {
        let Some(&node) = (!live.is_empty()).then(|| self.rng.pick(live)) else {
            return Action::Nothing;
        };
        // fence_ack_manual, honestly: only for a node that really is off.
        if self.rng.chance(0.15) {
            let off = self
                .nodes
                .iter()
                .find(|(_, n)| !n.powered)
                .map(|(id, _)| *id);
            if let Some(dead) = off {
                return Action::FenceAck { by: node, dead };
            }
        }
        let service = self.random_service();
        let target = if self.rng.chance(0.5) {
            Some(conf::node_name(*self.rng.pick(&self.conf.nodes)))
        } else {
            None
        };
        let action = *self.rng.pick(&[
            ServiceAction::Relocate,
            ServiceAction::Relocate,
            ServiceAction::Disable,
            ServiceAction::Enable,
            ServiceAction::Enable,
            ServiceAction::Restart,
            ServiceAction::Freeze,
            ServiceAction::Stop,
        ]);
        if action == ServiceAction::Freeze {
            let d = self.ms(1_000, 10_000);
            self.after(d, Ev::Heal(Heal::Unfreeze(service.clone())));
        }
        let domain_rules = self.rng.chance(0.3);
        Action::Admin(
            node,
            Request::Service {
                action,
                service,
                target,
                domain_rules,
            },
        )
    }

    /// Does what `action` says, and schedules its undoing.
    fn act(&mut self, action: Action) -> Check {
        if !matches!(action, Action::Nothing | Action::Quiet) {
            self.stats.faults += 1;
        }
        match action {
            Action::Nothing => {}
            Action::Quiet => return self.begin_quiet(),
            Action::Crash(victim, restart) => {
                // A daemon crash (SIGKILL): the resources stay up.
                if self.nodes.get(&victim).is_some_and(|n| n.core.is_some()) {
                    self.note(format!("FAULT node{victim}: daemon killed"));
                    self.begin_epoch(victim);
                    if let Some(n) = self.nodes.get_mut(&victim) {
                        n.core = None;
                        n.hung = false;
                        n.held.clear();
                    }
                    self.refresh(victim);
                    if let Some(d) = restart {
                        self.after(d, Ev::Restart { node: victim });
                    }
                }
            }
            Action::Hang(victim, d) => {
                // A hang (SIGSTOP of everything), shorter or longer than the token.
                if self
                    .nodes
                    .get(&victim)
                    .is_some_and(|n| n.core.is_some() && !n.hung)
                {
                    self.note(format!(
                        "FAULT node{victim}: hangs for {} ms",
                        d.as_millis()
                    ));
                    self.begin_epoch(victim);
                    if let Some(n) = self.nodes.get_mut(&victim) {
                        n.hung = true;
                    }
                    self.refresh(victim);
                    self.after(d, Ev::Heal(Heal::Resume(victim)));
                }
            }
            Action::PowerLoss(victim, boot) => {
                // Power lost (not a fence: nobody confirmed it).
                if self.nodes.get(&victim).is_some_and(|n| n.powered) {
                    self.note(format!("FAULT node{victim}: power lost"));
                    self.begin_epoch(victim);
                    self.power_off(victim);
                    if let Some(d) = boot {
                        self.after(d, Ev::Boot { node: victim });
                    }
                }
            }
            Action::Partition(group, d) => {
                let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                let mut cut = Vec::new();
                for &a in &group {
                    for &b in &ids {
                        if !group.contains(&b) {
                            cut.push((a, b));
                            cut.push((b, a));
                        }
                    }
                }
                self.note(format!("FAULT partition: {group:?} cut from the rest"));
                for &a in &group {
                    self.begin_epoch(a);
                }
                if group.len() * 2 >= ids.len() {
                    // The rest is no majority: its nodes are failed as the group sees them.
                    for &b in ids.iter().filter(|b| !group.contains(b)) {
                        self.begin_epoch(b);
                    }
                }
                self.blocked.extend(cut.iter().copied());
                self.after(d, Ev::Heal(Heal::Reconnect(cut)));
            }
            Action::OneWay { from, to, duration } => {
                if from != to {
                    self.note(format!(
                        "FAULT one-way: node{to} no longer hears node{from}"
                    ));
                    self.begin_epoch(from);
                    self.begin_epoch(to);
                    self.blocked.insert((from, to));
                    self.after(duration, Ev::Heal(Heal::Reconnect(vec![(from, to)])));
                }
            }
            Action::Network {
                loss,
                dup,
                jitter_us,
                duration,
            } => {
                self.loss = loss;
                self.dup = dup;
                self.jitter_us = jitter_us;
                self.note(format!(
                    "FAULT network: loss {loss}, duplicates {dup}, jitter {jitter_us} us"
                ));
                self.after(duration, Ev::Heal(Heal::Network));
            }
            Action::FenceDevice(victim, d) => {
                self.note(format!("FAULT the fence device of node{victim} fails"));
                if let Some(n) = self.nodes.get_mut(&victim) {
                    n.device_broken = true;
                }
                if let Some(d) = d {
                    self.after(d, Ev::Heal(Heal::FenceDevice(victim)));
                }
            }
            Action::ServiceDies(victim, service) => {
                // A service dies on its node: the status check notices.
                let s =
                    service.or_else(|| self.nodes.get(&victim)?.resources.iter().next().cloned());
                if let Some(s) = s {
                    if let Some(n) = self.nodes.get_mut(&victim) {
                        if n.resources.remove(&s) {
                            self.note(format!("FAULT {s} dies on node{victim}"));
                        }
                    }
                }
            }
            Action::StopFails(victim, s, d) => {
                self.note(format!("FAULT stops of {s} fail on node{victim}"));
                if let Some(n) = self.nodes.get_mut(&victim) {
                    n.stop_broken.insert(s.clone());
                }
                if let Some(d) = d {
                    self.after(d, Ev::Heal(Heal::StopWorks(victim, s)));
                }
            }
            Action::SlowAgent(victim, d) => {
                self.note(format!(
                    "FAULT node{victim}: every agent operation takes {d:?}"
                ));
                if let Some(n) = self.nodes.get_mut(&victim) {
                    n.slow_agent = Some(d);
                }
            }
            Action::StartFails(victim, s, d) => {
                self.note(format!("FAULT starts of {s} fail on node{victim}"));
                // Failed everywhere, a service stays stopped until an event or an
                // administrator (RHCS): the cleanup enables it.
                self.admin_stopped.insert(s.clone());
                if let Some(n) = self.nodes.get_mut(&victim) {
                    n.start_broken.insert(s.clone());
                }
                if let Some(d) = d {
                    self.after(d, Ev::Heal(Heal::StartWorks(victim, s)));
                }
            }
            Action::Shutdown(victim, restart) => {
                // A clean stop (SIGTERM), started again later.
                if self
                    .nodes
                    .get(&victim)
                    .is_some_and(|n| n.core.is_some() && !n.hung)
                {
                    self.note(format!("FAULT node{victim}: SIGTERM"));
                    if let Some(n) = self.nodes.get_mut(&victim) {
                        n.restart_after_exit = restart;
                    }
                    self.input(victim, Input::Shutdown)?;
                }
            }
            Action::Restart(node) => self.start_daemon(node)?,
            Action::Push(node, text) => {
                self.stats.pushes += 1;
                self.admin(node, Request::ConfigPush { text })?;
            }
            Action::Admin(node, request) => {
                if let Request::Service {
                    action: ServiceAction::Stop,
                    service,
                    ..
                } = &request
                {
                    // `clusvcadm -s` leaves a service stopped until the next transition; the
                    // cleanup enables it again.
                    self.admin_stopped
                        .insert(crate::clustat::full_service_name(service));
                }
                self.admin(node, request)?
            }
            Action::FenceAck { by, dead } => {
                self.note(format!("ADMIN fence_ack_manual node{dead}"));
                if self.nodes.get(&dead).is_some_and(|n| !n.powered) {
                    self.epochs.remove(&dead);
                }
                self.admin(
                    by,
                    Request::FenceAck {
                        node: conf::node_name(dead),
                    },
                )?;
            }
            Action::DropMessages {
                from,
                to,
                kind,
                count,
            } => {
                self.note(format!(
                    "FAULT the next {count} '{kind}' messages node{from} -> node{to} are lost"
                ));
                self.filters.push(Filter {
                    from,
                    to,
                    kind,
                    count,
                });
            }
        }
        Ok(())
    }

    fn random_service(&mut self) -> String {
        if self.conf.services.is_empty() {
            return "service:none".into();
        }
        let s = self.rng.pick(&self.conf.services).name.clone();
        format!("service:{s}")
    }

    fn admin(&mut self, node: NodeId, request: Request) -> Check {
        let Some(n) = self.nodes.get_mut(&node) else {
            return Ok(());
        };
        let id = n.next_admin;
        n.next_admin += 1;
        self.note(format!("ADMIN on node{node} #{id}: {request:?}"));
        self.input(node, Input::Admin { id, request })
    }

    fn heal(&mut self, h: Heal) -> Check {
        match h {
            Heal::Resume(id) => {
                let held = match self.nodes.get_mut(&id) {
                    Some(n) if n.hung => {
                        n.hung = false;
                        std::mem::take(&mut n.held)
                    }
                    _ => return Ok(()),
                };
                self.note(format!("HEAL node{id}: resumes"));
                // What queued up meanwhile comes first, in order, as from the sockets.
                for ev in held {
                    self.event(ev)?;
                }
                let now = self.instant();
                if let Some(core) = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut()) {
                    core.handle_timeout(now);
                }
                self.outputs(id)
            }
            Heal::Reconnect(cut) => {
                self.note(format!("HEAL reconnect {cut:?}"));
                for c in cut {
                    self.blocked.remove(&c);
                }
                Ok(())
            }
            Heal::Network => {
                self.note("HEAL network".into());
                self.loss = 0.0;
                self.dup = 0.0;
                self.jitter_us = 500;
                Ok(())
            }
            Heal::FenceDevice(id) => {
                self.note(format!("HEAL the fence device of node{id} works"));
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.device_broken = false;
                }
                Ok(())
            }
            Heal::StopWorks(id, s) => {
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.stop_broken.remove(&s);
                }
                Ok(())
            }
            Heal::StartWorks(id, s) => {
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.start_broken.remove(&s);
                }
                Ok(())
            }
            Heal::Cleanup => {
                let Some(&n) = self.live().first() else {
                    return Ok(());
                };
                if self.conflicted {
                    // Two texts of one version were pushed: "raise config_version on the right
                    // copy and push it".
                    let newest = self.newest.map_or(1, |(v, _)| v);
                    let mut fix = self.conf.clone();
                    fix.version = newest.max(fix.version) + 1;
                    fix.flavour = 0;
                    self.conf = fix.clone();
                    self.admin(n, Request::ConfigPush { text: fix.render() })?;
                }
                let table = self.nodes[&n]
                    .core
                    .as_ref()
                    .map(Node::table)
                    .unwrap_or_default();
                for r in table {
                    if r.frozen {
                        self.admin(n, service_request(ServiceAction::Unfreeze, &r.name))?;
                    }
                    if r.state == ServiceState::Failed {
                        self.admin(n, service_request(ServiceAction::Disable, &r.name))?;
                    }
                }
                self.after(Duration::from_secs(3), Ev::Heal(Heal::EnableAll));
                Ok(())
            }
            Heal::EnableAll => {
                let Some(&n) = self.live().first() else {
                    return Ok(());
                };
                let table = self.nodes[&n]
                    .core
                    .as_ref()
                    .map(Node::table)
                    .unwrap_or_default();
                for r in table {
                    let stopped_by_hand =
                        r.state == ServiceState::Stopped && self.admin_stopped.contains(&r.name);
                    if (r.state == ServiceState::Disabled || stopped_by_hand)
                        && !self.may_not_run(&r.name)
                    {
                        let mut req = service_request(ServiceAction::Enable, &r.name);
                        if let Request::Service { domain_rules, .. } = &mut req {
                            *domain_rules = true;
                        }
                        self.admin(n, req)?;
                    }
                }
                Ok(())
            }
            Heal::Unfreeze(s) => {
                let live: Vec<NodeId> = self.live();
                if let Some(&n) = live.first() {
                    self.admin(
                        n,
                        Request::Service {
                            action: ServiceAction::Unfreeze,
                            service: s,
                            target: None,
                            domain_rules: false,
                        },
                    )?;
                }
                Ok(())
            }
        }
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.core.is_some() && !n.hung)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The faults stop: the network heals, devices and agents work, every node runs.
    fn begin_quiet(&mut self) -> Check {
        self.note("QUIET: every fault healed".into());
        self.quiet_since = Some(self.now);
        self.blocked.clear();
        self.loss = 0.0;
        self.dup = 0.0;
        self.jitter_us = 500;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in &ids {
            if let Some(n) = self.nodes.get_mut(id) {
                n.device_broken = false;
                n.stop_broken.clear();
                n.start_broken.clear();
                n.slow_agent = None;
            }
        }
        for id in ids {
            let (hung, powered, running) = {
                let n = &self.nodes[&id];
                (n.hung, n.powered, n.core.is_some())
            };
            if hung {
                self.heal(Heal::Resume(id))?;
            }
            if !powered {
                self.after(Duration::from_millis(100), Ev::Boot { node: id });
            } else if !running {
                self.after(Duration::from_millis(100), Ev::Restart { node: id });
            }
        }
        // The administrator's cleanup, once the cluster has settled: unlock, unfreeze, and
        // enable what was disabled or failed.
        self.after(CLEANUP_AFTER, Ev::Heal(Heal::Cleanup));
        Ok(())
    }

    /// After the quiet period: every node holds the newest configuration; every service that
    /// may run does, on one node.
    fn check_end(&mut self) -> Check {
        let Some((newest, hash)) = self.newest else {
            return Ok(());
        };
        for (id, n) in &self.nodes {
            // A node the newest configuration dropped is no member: nobody syncs it.
            if !self.newest_nodes.contains(id) {
                continue;
            }
            if n.core.is_some() && (n.disk.version() != newest || n.disk.hash() != hash) {
                return Err(self.violation(
                    "configuration",
                    format!(
                        "node{id} holds version {} after the quiet period; the newest is {newest}",
                        n.disk.version()
                    ),
                ));
            }
        }
        let Some(coord) = self
            .nodes
            .values()
            .filter_map(|n| n.core.as_ref())
            .find(|c| c.is_coordinating())
        else {
            return Err(self.violation(
                "liveness",
                "no node coordinates after the quiet period".into(),
            ));
        };
        for r in coord.table() {
            if matches!(r.state, ServiceState::Disabled | ServiceState::Failed) || r.frozen {
                continue;
            }
            let runs: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.powered && n.resources.contains(&r.name))
                .map(|(id, _)| *id)
                .collect();
            let ok = r.state == ServiceState::Started && r.owner.is_some_and(|o| runs == [o]);
            if !ok && !r.state.holds() && self.may_not_run(&r.name) {
                continue;
            }
            if !ok {
                return Err(self.violation(
                    "liveness",
                    format!(
                        "{} is {:?} (owner {:?}) and runs on {runs:?} {}s after the faults stopped",
                        r.name,
                        r.state,
                        r.owner,
                        LIVENESS_BOUND.as_secs()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A service that has nowhere to run: its domain is restricted and none of its nodes is in
    /// the configuration.
    fn may_not_run(&self, name: &str) -> bool {
        let short = name.strip_prefix("service:").unwrap_or(name);
        let Some(s) = self.conf.services.iter().find(|s| s.name == short) else {
            return true;
        };
        if !s.autostart {
            return true;
        }
        let Some(d) = s
            .domain
            .as_ref()
            .and_then(|d| self.conf.domains.iter().find(|x| &x.name == d))
        else {
            return false;
        };
        d.restricted && !d.members.iter().any(|(n, _)| self.conf.nodes.contains(n))
    }
}

fn nodes_of(config: &Versioned) -> Vec<NodeId> {
    config
        .conf()
        .nodes()
        .iter()
        .filter_map(|n| n.nodeid())
        .collect()
}

fn service_request(action: ServiceAction, service: &str) -> Request {
    Request::Service {
        action,
        service: service.to_string(),
        target: None,
        domain_rules: false,
    }
}

fn n_alive(n: Option<&SimNode>) -> bool {
    n.is_some_and(|n| n.core.is_some())
}

/// [`run`], with a panic of the code under test reported as a violation of its own.
pub fn run_catching(o: &Options) -> Outcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(o))) {
        Ok(out) => out,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome {
                options: o.clone(),
                stats: Stats::default(),
                violation: Some(Violation {
                    seed: o.seed,
                    at: Duration::ZERO,
                    invariant: "no panic",
                    detail: what,
                    trace: Vec::new(),
                }),
            }
        }
    }
}

/// Runs `seeds` schedules on `threads` threads; returns the outcomes in seed order.
pub fn run_many(
    seeds: std::ops::Range<u64>,
    threads: usize,
    nodes: Option<u32>,
    steps: Option<u32>,
    attack: bool,
) -> Vec<Outcome> {
    let seeds: Vec<u64> = seeds.collect();
    let threads = threads.max(1);
    let chunks: Vec<Vec<u64>> = (0..threads)
        .map(|t| seeds.iter().copied().skip(t).step_by(threads).collect())
        .collect();
    let mut out: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|seed| {
                            let mut o = Options::random(seed);
                            if let Some(n) = nodes {
                                o.nodes = n;
                            }
                            if let Some(n) = steps {
                                o.steps = n;
                            }
                            o.attack = attack;
                            run_catching(&o)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    out.sort_by_key(|o| o.options.seed);
    out
}
