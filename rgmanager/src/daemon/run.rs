//! The daemon's I/O: loading the configuration, the membership node, the daemon-to-daemon UDP
//! socket, the admin socket, the thread that runs resource agents, and signals.
//!
//! One tokio current-thread runtime drives everything but the agents: a start or stop can take
//! minutes and blocks, so the resource trees run on their own thread, one operation at a time,
//! and report back through a channel. The decisions live in [`super::coord`] and the policy;
//! this module only moves messages between them and the world.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::net::{UdpSocket, UnixListener};
use tokio::sync::{mpsc, oneshot};

use super::args::{self, Args};
use super::coord::{Coordinator, Order};
use super::fencing::{ConfSource, FenceNews, Fencer, Startup, StartupStep};
use super::wire::{self, Envelope, Msg, Op, ReplayFilter};
use crate::admin::{self, LockOp, Request, Response, ServiceAction};
use crate::clustat;
use crate::membership::{self, key::ClusterKey, net, Membership, NodeId, View};
use crate::policy::{self, ClusterView, Event, Holds, State};
use crate::quorum::{QuorumConfig, QuorumTracker};
use crate::resource::agent::Agents;
use crate::resource::runner::{Health, Runner};
use crate::resource::Forest;
use crate::state::{RgCode, ServiceFlags};

#[path = "sync.rs"]
mod sync;

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ccs::Error),
    #[error("node \"{0}\" is not in cluster.conf")]
    UnknownNode(String),
    #[error("cannot work out which node this is: no host name")]
    NoHostname,
    #[error(transparent)]
    Key(#[from] membership::key::KeyError),
    #[error(transparent)]
    Net(#[from] net::NetError),
    #[error(transparent)]
    Membership(#[from] membership::ConfigError),
    #[error(transparent)]
    Resources(#[from] crate::resource::tree::TreeErrors),
    #[error("node \"{0}\": membership port 65535 leaves no port for daemon messages")]
    NoWirePort(String),
    #[error("cannot bind the daemon message socket to {addr}: {source}")]
    WireBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("another rgmanager runs this node")]
    Duplicate,
    #[error("another rgmanager answers on {0}")]
    AlreadyRunning(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("configuration sync: {0}")]
    Sync(String),
    #[error("cannot listen for configuration sync on {addr}: {source}")]
    SyncBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

mod fence_hooks;

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do here.
    TERM.store(true, Ordering::SeqCst);
}

fn install_signals() {
    let handler = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// `rgmanager ARGS`: the exit status.
pub fn main(argv: &[String]) -> u8 {
    let arg0 = "rgmanager";
    let a = match args::parse(argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", args::usage(arg0));
            return 0;
        }
        Err(e) => {
            eprint!("{arg0}: {e}\n{}", args::usage(arg0));
            return 2;
        }
    };
    let level = if a.debug { "debug" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    match start(&a) {
        Ok(()) => 0,
        Err(DaemonError::Config(ccs::Error::Invalid { path, errors })) => {
            let file = path.display().to_string();
            for e in &errors {
                eprintln!("{}", e.render(&file));
            }
            tracing::error!("{file}: configuration fails to validate; not starting");
            1
        }
        Err(e) => {
            tracing::error!("{e}; not starting");
            1
        }
    }
}

/// The membership address of a node and its daemon-message address (the next port).
fn wire_addr(name: &str, a: SocketAddr) -> Result<SocketAddr, DaemonError> {
    let port = a
        .port()
        .checked_add(1)
        .ok_or_else(|| DaemonError::NoWirePort(name.to_string()))?;
    Ok(SocketAddr::new(a.ip(), port))
}

fn start(a: &Args) -> Result<(), DaemonError> {
    // Before anything else: a node that missed a push fetches the newest version first.
    sync::catch_up_at_start(&a.conf, a.node.as_deref(), &a.key);
    let (conf, warnings) = ccs::load(&a.conf)?;
    let file = a.conf.display().to_string();
    for w in &warnings {
        tracing::warn!("{}", w.render(&file));
    }
    let name = match &a.node {
        Some(n) => conf
            .node(n)
            .map(|n| n.name().to_string())
            .ok_or_else(|| DaemonError::UnknownNode(n.clone()))?,
        None => net::local_node(&conf, &net::hostname().ok_or(DaemonError::NoHostname)?)?,
    };
    let key = ClusterKey::load(&a.key)?;
    let forest = Forest::build_strict(&conf)?;
    let incarnation = membership::incarnation_now();
    let mcfg = membership::Config::from_conf(&conf, &name, incarnation)?;
    let local = mcfg.local;
    let addrs = net::node_addrs(&conf)?;
    let mut wire_addrs = BTreeMap::new();
    for n in conf.nodes() {
        if let Some(id) = n.nodeid() {
            if let Some(m) = addrs.get(&id) {
                wire_addrs.insert(id, wire_addr(n.name(), *m)?);
            }
        }
    }
    let codec = wire::Codec::new(conf.name(), key.as_bytes()).ok_or(DaemonError::Membership(
        membership::ConfigError::EmptyNameOrKey,
    ))?;
    let core = Membership::new(mcfg, key.as_bytes(), Instant::now())?;
    let sync_codec = crate::daemon::sync_wire::FrameCodec::new(conf.name(), key.as_bytes()).ok_or(
        DaemonError::Membership(membership::ConfigError::EmptyNameOrKey),
    )?;
    drop(key);

    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DaemonError::Io { path, source }
    };
    std::fs::create_dir_all(&a.state_dir).map_err(io(&a.state_dir))?;
    let pid_file = a.state_dir.join("rgmanager.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).map_err(io(&pid_file))?;
    if std::os::unix::net::UnixStream::connect(&a.socket).is_ok() {
        return Err(DaemonError::AlreadyRunning(a.socket.clone()));
    }
    let _ = std::fs::remove_file(&a.socket);
    if let Some(dir) = a.socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    install_signals();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(async {
        let listener = UnixListener::bind(&a.socket).map_err(io(&a.socket))?;
        let maddr = addrs[&local];
        let socket = net::bind(maddr).await?;
        let waddr = wire_addrs[&local];
        let wsock = UdpSocket::bind(waddr)
            .await
            .map_err(|source| DaemonError::WireBind {
                addr: waddr,
                source,
            })?;
        tracing::info!("Resource Group Manager Starting");
        tracing::info!(
            "I am node {name}, node id {local}; membership on {maddr}, daemon messages on {waddr}"
        );
        let node = net::Node::start(core, socket, addrs)?;
        let view = ClusterView::from_conf(&conf);
        let sync_listener =
            std::net::TcpListener::bind(waddr).map_err(|source| DaemonError::SyncBind {
                addr: waddr,
                source,
            })?;
        let mut d = Daemon::new(
            &conf,
            &a.conf,
            local,
            incarnation,
            codec,
            Arc::new(wsock),
            wire_addrs,
            Coordinator::new(view),
            forest,
        );
        let transport = sync::Transport::new(sync_codec, local);
        transport.listen(sync_listener, d.sync_tx.clone());
        d.sync = Some(sync::SyncState::new(
            &a.conf,
            &conf,
            transport,
            d.sync_tx.clone(),
        )?);
        if d.run(node, listener).await {
            Ok(())
        } else {
            Err(DaemonError::Duplicate)
        }
    });
    let _ = std::fs::remove_file(&a.socket);
    let _ = std::fs::remove_file(&pid_file);
    result
}

/// An order's identity: the coordinator that gave it, its incarnation, the order id.
type OrderKey = (NodeId, u64, u64);
/// What an order came to: service, operation, success.
type Outcome = (String, Op, bool);

/// A `clusvcadm` request from the admin socket, waiting for its answer.
struct AdminCall {
    action: ServiceAction,
    service: String,
    target: Option<String>,
    domain_rules: bool,
    reply: oneshot::Sender<Response>,
}

/// A `clusvcadm -l/-u/-S` from the admin socket, waiting for its answer.
struct LockCall {
    op: LockOp,
    reply: oneshot::Sender<Response>,
}

/// What the admin socket hands the daemon's loop.
enum Call {
    Service(AdminCall),
    Lock(LockCall),
}

/// Who waits for a request's answer.
enum Origin {
    Local(oneshot::Sender<Response>),
    Remote(OrderKey),
}

/// A request the coordinator answers once its service has no order in flight.
struct Waiter {
    service: String,
    action: ServiceAction,
    origin: Origin,
}

/// A start or stop for the agents' thread.
struct Job {
    /// Who ordered it (sender, incarnation, order id); `None` for our own shutdown.
    from: Option<OrderKey>,
    service: String,
    op: Op,
}

/// What the agents' thread tells the daemon.
enum AgentNews {
    /// A job finished.
    Done(JobDone),
    /// A periodic status check found a running service failed.
    Failed(String),
    /// A periodic status check found non-critical parts of a running service stopped.
    Partial(String),
}

struct JobDone {
    from: Option<OrderKey>,
    service: String,
    op: Op,
    ok: bool,
}

/// How often the agents' thread looks for due status checks (each resource is checked at the
/// interval of its agent's metadata or `<action>` override; this only bounds the lateness).
const STATUS_TICK: Duration = Duration::from_millis(500);

/// A new configuration for the agents' thread (live reload): the services to stop with the
/// old trees, then the trees to use, and the services to start again with them.
struct Reload {
    forest: Forest,
    /// Removed from the configuration and running here.
    stop: Vec<String>,
    /// Resources changed and running here: stopped with the old trees, started with the new.
    restart: Vec<String>,
}

/// The thread that runs resource trees: one operation at a time, in the order given, and the
/// periodic status checks of the services it started in between. A [`Reload`] is applied
/// before the next job (it is sent before any job that needs it).
fn spawn_agents(
    forest: Forest,
    jobs: std_mpsc::Receiver<Job>,
    reloads: std_mpsc::Receiver<Reload>,
    news: mpsc::UnboundedSender<AgentNews>,
) {
    std::thread::spawn(move || {
        let agents = Agents::builtin();
        let mut forest = forest;
        // Services started here and not stopped since, with whether they were last healthy.
        let mut started: BTreeMap<String, bool> = BTreeMap::new();
        let mut restart: Vec<String> = Vec::new();
        // A job that arrived with a reload: run after it.
        let mut pending: Option<Job> = None;
        loop {
            let mut runner = Runner::new(&forest, &agents);
            if !restart.is_empty() {
                tracing::info!("Starting changed resources.");
            }
            for service in std::mem::take(&mut restart) {
                let Some(root) = forest.find_root(&service) else {
                    continue;
                };
                tracing::info!("Starting {service}");
                let rep = runner.start(root);
                if rep.ok {
                    tracing::info!("Service {service} started");
                    started.insert(service, true);
                } else {
                    tracing::warn!("#68: Failed to start {service}; stopping what started");
                    runner.stop(root);
                    started.remove(&service);
                    let done = JobDone {
                        from: None,
                        service,
                        op: Op::Start,
                        ok: false,
                    };
                    if news.send(AgentNews::Done(done)).is_err() {
                        return;
                    }
                }
            }
            let Some((reload, job)) = agents_serve(
                &forest,
                &mut runner,
                &jobs,
                &reloads,
                &news,
                &mut started,
                pending.take(),
            ) else {
                return;
            };
            drop(runner);
            pending = job;
            forest = reload.forest;
            restart = reload.restart;
            if !restart.is_empty() {
                tracing::info!("Restarting changed resources.");
            }
        }
    });
}

/// Runs jobs and status checks until a reload comes (its stops done with the current trees;
/// returned) or the daemon is gone (`None`).
fn agents_serve(
    forest: &Forest,
    runner: &mut Runner<'_>,
    jobs: &std_mpsc::Receiver<Job>,
    reloads: &std_mpsc::Receiver<Reload>,
    news: &mpsc::UnboundedSender<AgentNews>,
    started: &mut BTreeMap<String, bool>,
    mut first: Option<Job>,
) -> Option<(Reload, Option<Job>)> {
    let reload_now = |runner: &mut Runner<'_>, started: &mut BTreeMap<String, bool>| {
        let r = reloads.try_recv().ok()?;
        if !r.stop.is_empty() || !r.restart.is_empty() {
            tracing::info!("Stopping changed resources.");
        }
        for (service, removed) in r
            .stop
            .iter()
            .map(|s| (s, true))
            .chain(r.restart.iter().map(|s| (s, false)))
        {
            let Some(root) = forest.find_root(service) else {
                continue;
            };
            tracing::info!("Stopping service {service}");
            started.remove(service);
            let rep = runner.stop(root);
            if rep.ok {
                tracing::info!("Service {service} is stopped");
            } else {
                tracing::error!("#12: {service} failed to stop cleanly");
            }
            if removed {
                let done = JobDone {
                    from: None,
                    service: service.clone(),
                    op: Op::Stop,
                    ok: rep.ok,
                };
                let _ = news.send(AgentNews::Done(done));
            }
        }
        Some(r)
    };
    loop {
        {
            let job = match first.take() {
                Some(job) => Some(job),
                None => match jobs.recv_timeout(STATUS_TICK) {
                    Ok(job) => Some(job),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {
                        for (service, healthy) in started.iter_mut() {
                            let Some(root) = forest.find_root(service) else {
                                continue;
                            };
                            let rep = runner.status(root);
                            if let Health::Partial { stopped } = &rep.health {
                                tracing::warn!(
                                    "Some non-critical resources of {service} failed and were \
                                     stopped: {}; run 'clusvcadm -c {service}' to restore them",
                                    stopped.join(", ")
                                );
                            }
                            // Repeated at each check while parts stay stopped: a lost report
                            // is not lost for long.
                            if !runner.stopped_parts(root).is_empty()
                                && news.send(AgentNews::Partial(service.clone())).is_err()
                            {
                                return None;
                            }
                            match rep.health {
                                Health::Failed | Health::RecoveryFailed { .. } => {
                                    // Reported again at each failed check until the coordinator
                                    // acts: a lost report is not lost for long.
                                    if *healthy {
                                        tracing::warn!("#13: {service} failed its status check");
                                    }
                                    *healthy = false;
                                    if news.send(AgentNews::Failed(service.clone())).is_err() {
                                        return None;
                                    }
                                }
                                _ => *healthy = true,
                            }
                        }
                        None
                    }
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
                },
            };
            if let Some(r) = reload_now(runner, started) {
                return Some((r, job));
            }
            let Some(job) = job else { continue };
            let ok = match forest.find_root(&job.service) {
                None => {
                    tracing::error!("{}: no such resource group here", job.service);
                    false
                }
                Some(root) => match job.op {
                    Op::Start => {
                        tracing::info!("Starting {}", job.service);
                        let rep = runner.start(root);
                        if rep.ok {
                            tracing::info!("Service {} started", job.service);
                            started.insert(job.service.clone(), true);
                        } else {
                            tracing::warn!(
                                "#68: Failed to start {}; stopping what started",
                                job.service
                            );
                            runner.stop(root);
                        }
                        rep.ok
                    }
                    Op::Stop => {
                        tracing::info!("Stopping service {}", job.service);
                        started.remove(&job.service);
                        let rep = runner.stop(root);
                        if rep.ok {
                            tracing::info!("Service {} is stopped", job.service);
                        } else {
                            tracing::error!("#12: {} failed to stop cleanly", job.service);
                        }
                        rep.ok
                    }
                    Op::Convalesce => {
                        tracing::info!("Repairing {}", job.service);
                        let rep = runner.convalesce(root);
                        if !rep.ok {
                            tracing::warn!("Failed to repair {}", job.service);
                        }
                        rep.ok
                    }
                },
            };
            let msg = JobDone {
                from: job.from,
                service: job.service,
                op: job.op,
                ok,
            };
            if news.send(AgentNews::Done(msg)).is_err() {
                return None;
            }
        }
    }
}

struct Daemon {
    local: NodeId,
    incarnation: u64,
    seq: u64,
    cluster_name: String,
    /// clustat's cluster id (`<cman cluster_id>` or cman's hash of the name).
    cluster_id: u16,
    /// `<rm central_processing="1">`: clustat calls the coordinator `RG-Master`.
    central_processing: bool,
    /// cluster.conf's nodes with ids, sorted by id.
    members_conf: Vec<(NodeId, String)>,
    codec: wire::Codec,
    replay: ReplayFilter,
    wsock: Arc<UdpSocket>,
    peers: BTreeMap<NodeId, SocketAddr>,
    coord: Coordinator,
    quorum: QuorumTracker,
    view: Option<View>,
    coordinating: bool,
    /// Since when this node, the new coordinator, waits for every member's report.
    takeover: Option<Instant>,
    takeover_warned: bool,
    reports: BTreeMap<NodeId, (BTreeSet<String>, Instant)>,
    /// This daemon has held a coordinator's service table (its own or one it was sent).
    established: bool,
    /// Members whose last report said they had (see `Msg::Report`).
    established_peers: BTreeSet<NodeId>,
    /// Startup fencing in progress (this daemon coordinates a cluster that is forming).
    startup: Option<Startup>,
    /// Startup fencing was decided for this coordinatorship.
    startup_checked: bool,
    /// Services running here.
    running: BTreeSet<String>,
    /// Orders seen, by (coordinator, its incarnation, id): `None` while running.
    executed: HashMap<OrderKey, Option<Outcome>>,
    jobs: std_mpsc::Sender<Job>,
    results: Option<mpsc::UnboundedReceiver<AgentNews>>,
    inbox: VecDeque<Envelope>,
    bad_mac_warned: bool,
    wire_bad_mac: u64,
    /// Service names in cluster.conf order (shutdown stops them in reverse).
    order: Vec<String>,
    admin_tx: mpsc::UnboundedSender<Call>,
    admin_rx: Option<mpsc::UnboundedReceiver<Call>>,
    /// Requests made here and sent to the coordinator, by id: the message (resent until
    /// answered) and who waits.
    forwarded: BTreeMap<u64, (Msg, oneshot::Sender<Response>)>,
    next_request: u64,
    /// On the coordinator: requests waiting for their service's orders.
    waiters: Vec<Waiter>,
    /// Set when another daemon already runs this node: exit at once.
    refused: bool,
    /// Set when an adopted configuration no longer lists this node: stop the services and
    /// leave, as at SIGTERM.
    removed: bool,
    /// On the coordinator: members' requests seen, and their answers once given.
    requests_seen: HashMap<OrderKey, Option<(RgCode, Option<NodeId>)>>,
    /// Lost nodes and the threads fencing them (`fence_hooks`).
    fencer: Fencer,
    fence_rx: Option<mpsc::UnboundedReceiver<FenceNews>>,
    /// Configuration sync (set once the store is open).
    sync: Option<sync::SyncState>,
    sync_tx: mpsc::UnboundedSender<sync::SyncInput>,
    sync_rx: Option<mpsc::UnboundedReceiver<sync::SyncInput>>,
    /// New resource trees for the agents' thread.
    reloads: std_mpsc::Sender<Reload>,
}

impl Daemon {
    #[allow(clippy::too_many_arguments)]
    fn new(
        conf: &ccs::ClusterConf,
        conf_path: &Path,
        local: NodeId,
        incarnation: u64,
        codec: wire::Codec,
        wsock: Arc<UdpSocket>,
        peers: BTreeMap<NodeId, SocketAddr>,
        coord: Coordinator,
        forest: Forest,
    ) -> Daemon {
        let mut members_conf: Vec<(NodeId, String)> = conf
            .nodes()
            .iter()
            .filter_map(|n| n.nodeid().map(|id| (id, n.name().to_string())))
            .collect();
        members_conf.sort();
        let order = coord
            .view
            .config
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let (jobs_tx, jobs_rx) = std_mpsc::channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (reloads, reloads_rx) = std_mpsc::channel();
        spawn_agents(forest, jobs_rx, reloads_rx, done_tx);
        let (sync_tx, sync_rx) = mpsc::unbounded_channel();
        let (admin_tx, admin_rx) = mpsc::unbounded_channel();
        let (fence_tx, fence_rx) = mpsc::unbounded_channel();
        Daemon {
            fencer: Fencer::new(ConfSource::new(conf_path, conf.clone()), fence_tx),
            fence_rx: Some(fence_rx),
            sync: None,
            sync_tx,
            sync_rx: Some(sync_rx),
            reloads,
            admin_tx,
            admin_rx: Some(admin_rx),
            forwarded: BTreeMap::new(),
            next_request: 1,
            waiters: Vec::new(),
            requests_seen: HashMap::new(),
            refused: false,
            removed: false,
            local,
            incarnation,
            seq: 0,
            cluster_name: conf.name().to_string(),
            cluster_id: crate::quorum::cluster_id(conf),
            central_processing: conf
                .rm_attr("central_processing")
                .is_some_and(ccs::value::atoi_flag),
            members_conf,
            codec,
            replay: ReplayFilter::default(),
            wsock,
            peers,
            coord,
            quorum: QuorumTracker::new(QuorumConfig::from_conf(conf)),
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
            executed: HashMap::new(),
            jobs: jobs_tx,
            results: Some(done_rx),
            inbox: VecDeque::new(),
            bad_mac_warned: false,
            wire_bad_mac: 0,
            order,
        }
    }

    fn name_of(&self, id: NodeId) -> String {
        self.members_conf
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            // A node a reload removed is still named in the lines about its leaving.
            .or_else(|| self.sync.as_ref()?.former_names.get(&id).cloned())
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// Runs until SIGTERM (true: a clean exit) or until another daemon is found running this
    /// node (false).
    async fn run(mut self, mut node: net::Node, listener: UnixListener) -> bool {
        let wsock = self.wsock.clone();
        let (Some(mut results), Some(mut calls), Some(mut fence_news), Some(mut sync_in)) = (
            self.results.take(),
            self.admin_rx.take(),
            self.fence_rx.take(),
            self.sync_rx.take(),
        ) else {
            return false;
        };
        let mut buf = vec![0u8; 65536];
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut last_periodic = Instant::now();
        loop {
            // The policy has no clock: restart windows and transition times read this one.
            self.coord.view.now = unix_now();
            tokio::select! {
                ev = node.events.recv() => match ev {
                    Some(e) => self.membership_event(e).await,
                    None => break,
                },
                r = wsock.recv_from(&mut buf) => {
                    if let Ok((n, _)) = r {
                        self.datagram(&buf[..n]);
                    }
                }
                news = results.recv() => match news {
                    Some(AgentNews::Done(j)) => self.job_done(j).await,
                    Some(AgentNews::Failed(service)) => {
                        if let Some(c) = self.coordinator() {
                            self.send(c, Msg::StatusFailed { service }).await;
                        }
                    }
                    Some(AgentNews::Partial(service)) => {
                        let known = self
                            .coord
                            .view
                            .service(&service)
                            .is_some_and(|st| st.partial);
                        if let (Some(c), false) = (self.coordinator(), known) {
                            self.send(c, Msg::StatusPartial { service }).await;
                        }
                    }
                    None => {}
                },
                acc = listener.accept() => if let Ok((s, _)) = acc {
                    serve(
                        s,
                        self.status(),
                        self.admin_tx.clone(),
                        self.fencer.news(),
                        self.sync_tx.clone(),
                    );
                },
                input = sync_in.recv() => if let Some(input) = input {
                    self.sync_input(input).await;
                },
                news = fence_news.recv() => if let Some(news) = news {
                    self.fence_news(news).await;
                },
                call = calls.recv() => match call {
                    Some(Call::Service(call)) => self.admin_call(call).await,
                    Some(Call::Lock(call)) => self.lock_call(call).await,
                    None => {}
                },
                _ = tick.tick() => {
                    if TERM.load(Ordering::SeqCst) {
                        break;
                    }
                    // Removed from the configuration: leave once a ccs_sync run here has its
                    // answers (pushed from this very node, say).
                    if self.removed && !self.sync.as_ref().is_some_and(|s| s.run_pending()) {
                        break;
                    }
                    self.check_auth(&node);
                    if last_periodic.elapsed() >= Duration::from_secs(1) {
                        last_periodic = Instant::now();
                        self.periodic().await;
                    }
                    self.try_takeover().await;
                }
            }
            self.drain_inbox().await;
            // A new coordinator rebuilds as soon as the last member's report is in (the tick
            // only catches what nothing else woke us for): after a failure this is the
            // takeover's critical path, and waiting for the tick cost up to 200 ms.
            if self.takeover.is_some() {
                self.try_takeover().await;
            }
            self.answer_waiters().await;
            if let Some(v) = self.sync.as_mut().and_then(|s| s.new_version.take()) {
                node.set_config_version(v);
            }
            if let Some(nodes) = self.sync.as_mut().and_then(|s| s.new_nodes.take()) {
                node.set_nodes(nodes);
            }
            if self.refused {
                node.kill();
                return false;
            }
        }
        tracing::info!("Shutting down");
        self.stop_all(&mut results).await;
        node.leave().await;
        tracing::info!("Shutdown complete, exiting");
        true
    }

    /// Stops every local service in reverse cluster.conf order before leaving.
    async fn stop_all(&mut self, results: &mut mpsc::UnboundedReceiver<AgentNews>) {
        let services: Vec<String> = self
            .order
            .iter()
            .rev()
            .filter(|s| self.running.contains(*s))
            .cloned()
            .collect();
        // Orders already given to the agents' thread finish first.
        let mut busy = self.executed.values().filter(|v| v.is_none()).count();
        for s in &services {
            let job = Job {
                from: None,
                service: s.clone(),
                op: Op::Stop,
            };
            if self.jobs.send(job).is_ok() {
                busy += 1;
            }
        }
        while busy > 0 {
            match results.recv().await {
                Some(AgentNews::Done(j)) => {
                    busy -= 1;
                    if j.op == Op::Stop && j.ok {
                        self.running.remove(&j.service);
                    }
                }
                Some(AgentNews::Failed(_) | AgentNews::Partial(_)) => {}
                None => break,
            }
        }
    }

    fn check_auth(&mut self, node: &net::Node) {
        let bad = node.status().counters.bad_mac + self.wire_bad_mac;
        if bad > 0 && !self.bad_mac_warned {
            self.bad_mac_warned = true;
            tracing::error!(
                "Dropping cluster traffic that fails authentication ({bad} datagrams): \
                 another cluster key? Every node needs the same /etc/cluster/authkey"
            );
        }
    }

    fn coordinator(&self) -> Option<NodeId> {
        self.view.as_ref().and_then(View::coordinator)
    }

    async fn send(&mut self, to: NodeId, msg: Msg) {
        self.seq += 1;
        let env = Envelope {
            sender: self.local,
            incarnation: self.incarnation,
            seq: self.seq,
            msg,
        };
        if to == self.local {
            self.inbox.push_back(env);
            return;
        }
        let Some(addr) = self.peers.get(&to).copied() else {
            return;
        };
        let bytes = self.codec.encode(&env);
        if let Err(e) = self.wsock.send_to(&bytes, addr).await {
            tracing::debug!("daemon message to node {to} at {addr}: {e}");
        }
    }

    async fn dispatch(&mut self, orders: Vec<Order>) {
        for o in orders {
            let msg = Msg::Order {
                id: o.id,
                service: o.service.clone(),
                op: o.op,
            };
            self.send(o.node, msg).await;
        }
    }

    async fn broadcast_table(&mut self) {
        let Some(v) = self.view.clone() else { return };
        let services = self.coord.records();
        let local = self.local;
        for m in v.members.iter().filter(|m| **m != local) {
            let msg = Msg::Table {
                view: v.number,
                services: services.clone(),
                locked: self.coord.view.locked,
            };
            self.send(*m, msg).await;
        }
    }

    async fn report(&mut self) {
        if let Some(c) = self.coordinator() {
            let msg = Msg::Report {
                running: self.running.iter().cloned().collect(),
                established: self.established,
            };
            self.send(c, msg).await;
        }
    }

    async fn periodic(&mut self) {
        // The fencing news first: a new coordinator waits for every member's report, and so
        // has heard of the lost nodes before it rebuilds its table.
        self.fence_periodic().await;
        self.sync_tick().await;
        self.report().await;
        match self.coordinator().filter(|_| self.quorum.is_quorate()) {
            Some(c) => {
                let again: Vec<Msg> = self.forwarded.values().map(|(m, _)| m.clone()).collect();
                for m in again {
                    self.send(c, m).await;
                }
            }
            None => {
                for (_, (_, tx)) in std::mem::take(&mut self.forwarded) {
                    let _ = tx.send(Response::Service {
                        code: RgCode::Quorum,
                        owner: None,
                    });
                }
            }
        }
        if self.coordinating && self.takeover.is_none() {
            self.broadcast_table().await;
            let resend: Vec<Order> = self.coord.outstanding().cloned().collect();
            self.dispatch(resend).await;
        }
    }

    /// A new coordinator rebuilds the table once every member has reported since it took over.
    async fn try_takeover(&mut self) {
        let Some(since) = self.takeover else { return };
        let Some(v) = self.view.clone() else { return };
        let missing: Vec<NodeId> = v
            .members
            .iter()
            .copied()
            .filter(|m| self.reports.get(m).is_none_or(|(_, t)| *t < since))
            .collect();
        if !missing.is_empty() {
            if since.elapsed() > Duration::from_secs(10) && !self.takeover_warned {
                self.takeover_warned = true;
                tracing::warn!("Waiting for the service states of nodes {missing:?}");
            }
            return;
        }
        if !self.startup_gate(&v) {
            return;
        }
        self.takeover = None;
        self.established = true;
        let reports: BTreeMap<NodeId, BTreeSet<String>> = self
            .reports
            .iter()
            .filter(|(n, _)| v.contains(**n))
            .map(|(n, (r, _))| (*n, r.clone()))
            .collect();
        let orders = self.coord.rebuild(&reports);
        self.dispatch(orders).await;
        self.broadcast_table().await;
    }

    /// Startup fencing (see [`Startup`]): decided once per coordinatorship, when every member
    /// has reported; true when services may start.
    fn startup_gate(&mut self, v: &membership::View) -> bool {
        let now = Instant::now();
        if self.startup.is_none() && !self.startup_checked {
            self.startup_checked = true;
            let forming = !self.established
                && v.members
                    .iter()
                    .all(|m| !self.established_peers.contains(m));
            let conf = self.fencer.source().current();
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
                    self.startup = Some(Startup::new(absent, delay, now));
                }
            }
        }
        let Some(st) = self.startup.as_mut() else {
            return true;
        };
        match st.step(now, &v.members, &self.fencer.victims) {
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
                    self.fencer.victims.lost(n);
                }
                self.fence_start();
                false
            }
        }
    }

    /// Node names for a log line: `node2, node3`.
    fn names(&self, nodes: &BTreeSet<NodeId>) -> String {
        nodes
            .iter()
            .map(|n| self.name_of(*n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn policy_event(&mut self, ev: Event) {
        if self.coordinating && self.takeover.is_none() {
            let orders = self.coord.handle(&ev);
            self.dispatch(orders).await;
            self.broadcast_table().await;
        } else {
            self.coord.observe(&ev);
        }
    }

    async fn membership_event(&mut self, e: membership::Event) {
        match e {
            membership::Event::Joined(n) => {
                if n != self.local {
                    tracing::info!("State change: {} UP", self.name_of(n));
                    self.sync_hello(n);
                }
                self.fence_joined(n);
                self.policy_event(Event::NodeJoined(n)).await;
            }
            membership::Event::LeftCleanly(n) => {
                tracing::info!("State change: {} DOWN", self.name_of(n));
                self.sync_peer_lost(n).await;
                self.policy_event(Event::NodeLeft {
                    node: n,
                    clean: true,
                })
                .await;
            }
            membership::Event::Failed(n) => {
                tracing::info!("State change: {} DOWN", self.name_of(n));
                self.fence_lost(n);
                self.sync_peer_lost(n).await;
                self.policy_event(Event::NodeLeft {
                    node: n,
                    clean: false,
                })
                .await;
            }
            membership::Event::ViewChanged(v) => {
                let change = self.quorum.update(&v.members);
                let quorum_lost = change == Some(crate::quorum::QuorumChange::Lost);
                self.view = Some(v.clone());
                if let Some(c) = change {
                    tracing::info!("{}", c.message());
                    let ev = match c {
                        crate::quorum::QuorumChange::Regained => Event::QuorumRegained,
                        crate::quorum::QuorumChange::Lost => Event::QuorumLost,
                    };
                    self.policy_event(ev).await;
                }
                let was = self.coordinating;
                self.coordinating = self.quorum.is_quorate() && v.coordinator() == Some(self.local);
                if was && !self.coordinating {
                    for w in std::mem::take(&mut self.waiters) {
                        self.answer(w.origin, RgCode::Quorum, None).await;
                    }
                }
                if self.coordinating != was {
                    self.startup = None;
                    self.startup_checked = false;
                }
                if self.coordinating && !was {
                    tracing::info!("Node {} is the coordinator", self.name_of(self.local));
                    self.takeover = Some(Instant::now());
                    self.takeover_warned = false;
                }
                self.fence_view(quorum_lost).await;
                self.report().await;
            }
            membership::Event::ConfigVersion { node, .. } => self.sync_hello_soon(node),
            membership::Event::DuplicateNode { incarnation, from } => {
                tracing::error!(
                    "Another rgmanager claims node {} from {from}",
                    self.name_of(self.local)
                );
                // The newer of the two gives way, without a goodbye (which would make the
                // others drop the node the older daemon runs).
                if incarnation < self.incarnation {
                    tracing::error!("This node is already running elsewhere; exiting");
                    self.refused = true;
                }
            }
        }
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
        if env.sender == self.local || self.replay.accept(&env).is_err() {
            return;
        }
        self.inbox.push_back(env);
    }

    async fn drain_inbox(&mut self) {
        while let Some(env) = self.inbox.pop_front() {
            self.message(env).await;
        }
    }

    async fn message(&mut self, env: Envelope) {
        let from = env.sender;
        match env.msg {
            Msg::Report {
                running,
                established,
            } => {
                if established {
                    self.established_peers.insert(from);
                } else {
                    self.established_peers.remove(&from);
                }
                if self.coordinating {
                    let running: BTreeSet<String> = running.into_iter().collect();
                    if self.takeover.is_none() {
                        let orders = self.coord.reconcile(from, &running);
                        if !orders.is_empty() {
                            self.dispatch(orders).await;
                            self.broadcast_table().await;
                        }
                    }
                    self.reports.insert(from, (running, Instant::now()));
                }
            }
            Msg::Order { id, service, op } => {
                if self.coordinator() != Some(from) {
                    return;
                }
                // A service of a newer configuration than ours: the coordinator resends the
                // order, and sync brings the configuration meanwhile.
                if self.coord.view.config.service_index(&service).is_none() {
                    return;
                }
                let key = (from, env.incarnation, id);
                match self.executed.get(&key) {
                    Some(Some((service, op, ok))) => {
                        let msg = Msg::Done {
                            id,
                            service: service.clone(),
                            op: *op,
                            ok: *ok,
                        };
                        self.send(from, msg).await;
                    }
                    Some(None) => {}
                    None => {
                        if op == Op::Start && !self.quorum.is_quorate() {
                            tracing::warn!("Not starting {service}: no quorum");
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
                            )
                            .await;
                            return;
                        }
                        self.executed.insert(key, None);
                        let _ = self.jobs.send(Job {
                            from: Some(key),
                            service,
                            op,
                        });
                    }
                }
            }
            Msg::Done { id, ok, .. } => {
                if self.coordinating {
                    let orders = self.coord.done(from, id, ok);
                    self.dispatch(orders).await;
                    self.broadcast_table().await;
                }
            }
            Msg::Table {
                services, locked, ..
            } => {
                if self.coordinator() == Some(from) && !self.coordinating {
                    self.established = true;
                    self.coord.adopt(&services);
                    self.coord.view.locked = locked;
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
                    self.broadcast_table().await;
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
                        self.send(from, msg).await;
                    }
                    Some(None) => {}
                    None => {
                        self.requests_seen.insert(key, None);
                        let code = self.coord_lock(locked).await;
                        self.answer(Origin::Remote(key), code, None).await;
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
                        self.send(from, msg).await;
                    }
                    Some(None) => {}
                    None => {
                        self.requests_seen.insert(key, None);
                        if self.requests_seen.len() > 4096 {
                            self.requests_seen.retain(|_, v| v.is_none());
                        }
                        self.coord_request(action, service, target, Origin::Remote(key))
                            .await;
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
                    })
                    .await;
                }
            }
            Msg::Reply { id, code, owner } => {
                if let Some((msg, tx)) = self.forwarded.remove(&id) {
                    let answer = match msg {
                        Msg::Lock { locked, .. } => lock_answer(code, locked),
                        _ => Response::Service {
                            code,
                            owner: owner.map(|o| self.name_of(o)),
                        },
                    };
                    let _ = tx.send(answer);
                }
            }
            Msg::Victims { fenced, lost } => self.victims_heard(fenced, lost).await,
        }
    }

    /// A `clusvcadm` request made on this node: decided here when this node coordinates, else
    /// sent to the coordinator.
    async fn admin_call(&mut self, call: AdminCall) {
        let service = clustat::full_service_name(&call.service);
        let target = match &call.target {
            Some(name) => match self.coord.view.config.node_by_name(name) {
                Some(id) => Some(id),
                None => {
                    let _ = call.reply.send(Response::Service {
                        code: RgCode::Node,
                        owner: None,
                    });
                    return;
                }
            },
            // A plain `clusvcadm -e S` means here; `-F` lets the domain rules choose.
            None if call.action == ServiceAction::Enable && !call.domain_rules => Some(self.local),
            None => None,
        };
        if self.coordinating && self.takeover.is_none() {
            self.coord_request(call.action, service, target, Origin::Local(call.reply))
                .await;
            return;
        }
        let Some(c) = self.coordinator().filter(|_| self.quorum.is_quorate()) else {
            let _ = call.reply.send(Response::Service {
                code: RgCode::Quorum,
                owner: None,
            });
            return;
        };
        let id = self.next_request;
        self.next_request += 1;
        let msg = Msg::Request {
            id,
            action: call.action,
            service,
            target,
        };
        self.forwarded.insert(id, (msg.clone(), call.reply));
        self.send(c, msg).await;
    }

    /// `clusvcadm -l/-u/-S` made on this node. The lock is the coordinator's, replicated in
    /// its table: a query reads the local copy; lock and unlock go to the coordinator.
    async fn lock_call(&mut self, call: LockCall) {
        let locked = match call.op {
            LockOp::Query => None,
            LockOp::Lock => Some(true),
            LockOp::Unlock => Some(false),
        };
        let Some(locked) = locked else {
            // RHCS answered a query only with quorum.
            let answer = if self.quorum.is_quorate() {
                Response::Lock {
                    locked: self.coord.view.locked,
                }
            } else {
                lock_answer(RgCode::Quorum, false)
            };
            let _ = call.reply.send(answer);
            return;
        };
        if self.coordinating && self.takeover.is_none() {
            let code = self.coord_lock(locked).await;
            let _ = call.reply.send(lock_answer(code, locked));
            return;
        }
        let Some(c) = self.coordinator().filter(|_| self.quorum.is_quorate()) else {
            let _ = call.reply.send(lock_answer(RgCode::Quorum, locked));
            return;
        };
        let id = self.next_request;
        self.next_request += 1;
        let msg = Msg::Lock { id, locked };
        self.forwarded.insert(id, (msg.clone(), call.reply));
        self.send(c, msg).await;
    }

    /// The coordinator takes or drops the lock; an unlock starts what it held back.
    async fn coord_lock(&mut self, locked: bool) -> RgCode {
        let (code, orders) = self.coord.request(policy::Request::Lock { locked });
        self.dispatch(orders).await;
        self.broadcast_table().await;
        code
    }

    /// The coordinator's side of a request: the policy decides; a request that gave orders is
    /// answered when they are done.
    async fn coord_request(
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
                    self.answer(origin, RgCode::Node, None).await;
                    return;
                }
            },
        };
        let (code, orders) = self.coord.request(req);
        self.dispatch(orders).await;
        self.broadcast_table().await;
        if code == RgCode::Success && self.coord.busy(&s) {
            self.waiters.push(Waiter {
                service: s,
                action,
                origin,
            });
        } else {
            let owner = self.coord.view.service(&s).and_then(|st| st.owner);
            self.answer(origin, code, owner).await;
        }
    }

    /// Answers the requests whose service has settled: success when it ended as asked.
    async fn answer_waiters(&mut self) {
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
                ServiceAction::Enable | ServiceAction::Relocate | ServiceAction::Restart => {
                    state == State::Started
                }
                ServiceAction::Migrate => state == State::Started,
                ServiceAction::Disable | ServiceAction::Stop => !state.holds(),
                ServiceAction::Convalesce => st.is_some_and(|s| !s.partial),
                _ => true,
            };
            let code = if ok { RgCode::Success } else { RgCode::Fail };
            self.answer(w.origin, code, owner).await;
        }
    }

    async fn answer(&mut self, origin: Origin, code: RgCode, owner: Option<NodeId>) {
        match origin {
            Origin::Local(tx) => {
                let owner = owner.map(|o| self.name_of(o));
                let _ = tx.send(Response::Service { code, owner });
            }
            Origin::Remote(key) => {
                self.requests_seen.insert(key, Some((code, owner)));
                let msg = Msg::Reply {
                    id: key.2,
                    code,
                    owner,
                };
                self.send(key.0, msg).await;
            }
        }
    }

    async fn job_done(&mut self, j: JobDone) {
        match (j.op, j.ok) {
            (Op::Convalesce, _) => {}
            (Op::Start, true) => {
                self.running.insert(j.service.clone());
            }
            (Op::Stop, true) | (Op::Start, false) => {
                self.running.remove(&j.service);
            }
            (Op::Stop, false) => {}
        }
        if let Some(key) = j.from {
            self.executed
                .insert(key, Some((j.service.clone(), j.op, j.ok)));
            // Old answers are only kept for repeated orders; a bounded memory is enough.
            if self.executed.len() > 4096 {
                self.executed.retain(|_, v| v.is_none());
            }
            let msg = Msg::Done {
                id: key.2,
                service: j.service,
                op: j.op,
                ok: j.ok,
            };
            self.send(key.0, msg).await;
        }
        self.report().await;
    }

    /// What clustat shows.
    fn status(&self) -> clustat::Status {
        let in_view = |id: NodeId| self.view.as_ref().is_some_and(|v| v.contains(id));
        let coordinator = self.coordinator().filter(|_| self.quorum.is_quorate());
        let members = self
            .members_conf
            .iter()
            .map(|(id, name)| clustat::MemberStatus {
                name: name.clone(),
                nodeid: *id,
                online: in_view(*id),
                local: *id == self.local,
                estranged: false,
                // Membership runs inside rgmanager: a member is a running rgmanager.
                rgmanager: in_view(*id),
                rg_master: self.central_processing && coordinator == Some(*id),
                qdisk: false,
                coordinator: coordinator == Some(*id),
            })
            .collect();
        let mut services: Vec<clustat::ServiceStatus> = self
            .coord
            .records()
            .into_iter()
            .map(|r| clustat::ServiceStatus {
                name: r.name,
                state: r.state,
                flags: ServiceFlags {
                    frozen: r.frozen,
                    partial: r.partial,
                },
                owner: r.owner.unwrap_or(0),
                last_owner: r.last_owner.unwrap_or(0),
                restarts: r.restarts.len() as u32,
                last_transition: r.last_transition as i64,
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        clustat::Status {
            cluster_name: self.cluster_name.clone(),
            cluster_id: u32::from(self.cluster_id),
            generation: self.view.as_ref().map_or(0, |v| v.number),
            quorate: self.quorum.is_quorate(),
            members,
            services: Some(services),
            now: unix_now() as i64,
        }
    }
}

/// The answer to a lock request: the lock's state, or why it was refused (clusvcadm then
/// prints "Lock operation failed" or "Unlock operation failed").
fn lock_answer(code: RgCode, locked: bool) -> Response {
    if code == RgCode::Success {
        Response::Lock { locked }
    } else {
        Response::Error {
            message: code.message().to_string(),
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers one admin connection on the blocking pool (the protocol is line-based and small).
/// A status is answered from the snapshot taken at accept time; a service request goes to the
/// daemon's loop and the connection waits for its answer.
fn serve(
    stream: tokio::net::UnixStream,
    status: clustat::Status,
    calls: mpsc::UnboundedSender<Call>,
    fence: mpsc::UnboundedSender<FenceNews>,
    sync_calls: mpsc::UnboundedSender<sync::SyncInput>,
) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        if std_stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = std_stream.set_read_timeout(Some(admin::TIMEOUT));
        let _ = admin::serve_one(&std_stream, |req| match req {
            Request::Status => Response::Status { status },
            Request::Service {
                action,
                service,
                target,
                domain_rules,
            } => {
                let (tx, rx) = oneshot::channel();
                let call = Call::Service(AdminCall {
                    action,
                    service,
                    target,
                    domain_rules,
                    reply: tx,
                });
                if calls.send(call).is_err() {
                    return Response::Error {
                        message: "the resource group manager is shutting down".into(),
                    };
                }
                rx.blocking_recv().unwrap_or_else(|_| Response::Error {
                    message: "the resource group manager is shutting down".into(),
                })
            }
            Request::Lock { lock } => {
                let (tx, rx) = oneshot::channel();
                if calls
                    .send(Call::Lock(LockCall {
                        op: lock,
                        reply: tx,
                    }))
                    .is_err()
                {
                    return Response::Error {
                        message: "the resource group manager is shutting down".into(),
                    };
                }
                rx.blocking_recv().unwrap_or_else(|_| Response::Error {
                    message: "the resource group manager is shutting down".into(),
                })
            }
            Request::FenceAck { node } => {
                let (tx, rx) = oneshot::channel();
                if fence.send(FenceNews::Ack { node, reply: tx }).is_err() {
                    return Response::Error {
                        message: "the resource group manager is shutting down".into(),
                    };
                }
                rx.blocking_recv().unwrap_or_else(|_| Response::Error {
                    message: "the resource group manager is shutting down".into(),
                })
            }
            Request::ConfigPush { .. } | Request::ConfigCheck => {
                let (tx, rx) = oneshot::channel();
                let call = match req {
                    Request::ConfigPush { text } => sync::AdminSync::Push(text, tx),
                    _ => sync::AdminSync::Check(tx),
                };
                if sync_calls.send(sync::SyncInput::Admin(call)).is_err() {
                    return Response::Error {
                        message: "the resource group manager is shutting down".into(),
                    };
                }
                rx.blocking_recv().unwrap_or_else(|_| Response::Error {
                    message: "the resource group manager is shutting down".into(),
                })
            }
        });
    });
}
