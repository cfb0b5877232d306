//! The daemon's side of configuration sync: the [`ccs::sync`] core wired to the store, to the
//! TCP transport of [`super::sync_wire`], to `ccs_sync` on the admin socket, and to the live
//! reload of the running cluster when a new version is adopted.
//!
//! It is a child module of `run` because a reload changes the daemon's own state (the
//! coordinator's table, quorum, the service order, the agents' forest): keeping that here keeps
//! `run.rs` to a few hooks.
//!
//! Transport: one TCP connection per message, on the daemon-channel address (the membership
//! port plus one), a thread per connection (std, blocking, with timeouts): sync is rare and small in
//! count, and a 1 MB file does not fit the UDP daemon channel. The receiver of a message
//! answers on the same connection when the core answers that peer (an `Announce` is always
//! answered with ours); everything else travels as its own connection.
//!
//! Announcements are exchanged when a peer joins, when the membership reports another
//! `config_version` for a peer, after each adoption, and at start-up *before* the node joins
//! the membership: a node that was down during a push fetches the newest version from a peer
//! first, so it is never given a service under the old configuration.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use ccs::store::{Store, Versioned};
use ccs::sync::{Event as SyncEvent, Message, Output, Refusal, Sync};
use tokio::sync::{mpsc, oneshot};

use super::{wire_addr, Daemon, DaemonError};
use crate::admin::{NodeLine, Response, SyncOutcome};
use crate::daemon::sync_wire::{self, FrameCodec, FrameError};
use crate::membership::{key::ClusterKey, net, NodeId};
use crate::policy::view::{DomainRef, NodeConf};
use crate::policy::{ClusterView, Event, NodeState, PolicyConfig, State};
use crate::quorum::QuorumConfig;
use crate::resource::Forest;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Reading or writing a frame, and waiting for the answer (a write of the file included).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `ccs_sync` waits for every node's answer.
const ADMIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long after a peer's heartbeats show another `config_version` we announce ours to it:
/// longer than a push takes, so that the push's own offer arrives first.
const HELLO_DELAY: Duration = Duration::from_secs(1);
/// How long a starting daemon tries to catch up before joining anyway.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(20);

/// Why a message got no answer.
#[derive(Clone, Debug)]
pub(super) enum SendFailure {
    Unreachable(String),
    AuthRefused,
    NoAnswer,
}

/// An administrator's sync request from the admin socket.
pub(super) enum AdminSync {
    Push(String, oneshot::Sender<Response>),
    Check(oneshot::Sender<Response>),
}

/// What the transport threads and the admin socket tell the daemon's loop.
pub(super) enum SyncInput {
    /// A message from a peer; an answer sent on `reply` goes back on its connection.
    Inbound {
        from: NodeId,
        msg: Message,
        reply: std_mpsc::Sender<Message>,
    },
    /// The answer to a message we sent; `admin` when an administrator's run sent it.
    Answer {
        from: NodeId,
        msg: Message,
        admin: bool,
    },
    Failed {
        to: NodeId,
        why: SendFailure,
        admin: bool,
    },
    Written(Result<(), String>),
    Admin(AdminSync),
    Deadline,
}

/// The transport: sends one message per connection on a thread.
#[derive(Clone)]
pub(super) struct Transport {
    codec: Arc<FrameCodec>,
    local: NodeId,
}

impl Transport {
    pub(super) fn new(codec: FrameCodec, local: NodeId) -> Transport {
        Transport {
            codec: Arc::new(codec),
            local,
        }
    }

    /// Sends `msg` to `to` at `addr`; `report` gets the answer (`None`: the peer closed without
    /// one) or the failure.
    fn send(
        &self,
        to: NodeId,
        addr: SocketAddr,
        msg: &Message,
        report: impl FnOnce(Result<Option<Message>, SendFailure>) + Send + 'static,
    ) {
        self.send_frame(
            to,
            addr,
            Arc::new(self.codec.encode(self.local, msg)),
            report,
        );
    }

    /// Like [`Transport::send`] with a frame already encoded (a push encodes the file and its
    /// MAC once for every node).
    fn send_frame(
        &self,
        to: NodeId,
        addr: SocketAddr,
        frame: Arc<Vec<u8>>,
        report: impl FnOnce(Result<Option<Message>, SendFailure>) + Send + 'static,
    ) {
        let codec = self.codec.clone();
        std::thread::spawn(move || report(exchange(&codec, to, addr, &frame)));
    }

    /// Serves the sync port: each connection carries one message, handed to `inputs`.
    pub(super) fn listen(&self, listener: TcpListener, inputs: mpsc::UnboundedSender<SyncInput>) {
        let codec = self.codec.clone();
        let local = self.local;
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let codec = codec.clone();
                let inputs = inputs.clone();
                std::thread::spawn(move || serve_conn(stream, &codec, local, &inputs));
            }
        });
    }
}

fn exchange(
    codec: &FrameCodec,
    to: NodeId,
    addr: SocketAddr,
    bytes: &[u8],
) -> Result<Option<Message>, SendFailure> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| SendFailure::Unreachable(format!("{addr}: {e}")))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    if s.write_all(bytes).is_err() {
        return Err(SendFailure::NoAnswer);
    }
    match sync_wire::read_frame(&mut s) {
        Ok(frame) => match codec.decode(&frame) {
            Ok((from, msg)) if from == to => Ok(Some(msg)),
            Ok((from, _)) => {
                tracing::warn!("Configuration sync: node {to} at {addr} answered as node {from}");
                Err(SendFailure::NoAnswer)
            }
            Err(e) => {
                tracing::warn!("Configuration sync: bad answer from node {to} at {addr}: {e}");
                Err(SendFailure::NoAnswer)
            }
        },
        Err(FrameError::PeerAuthFailed) => Err(SendFailure::AuthRefused),
        Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(_) => Err(SendFailure::NoAnswer),
    }
}

fn serve_conn(
    mut s: TcpStream,
    codec: &FrameCodec,
    local: NodeId,
    inputs: &mpsc::UnboundedSender<SyncInput>,
) {
    let peer = s
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let frame = match sync_wire::read_frame(&mut s) {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!("configuration sync connection from {peer} dropped: {e}");
            return;
        }
    };
    let (from, msg) = match codec.decode(&frame) {
        Ok(m) => m,
        Err(FrameError::BadMac) => {
            tracing::error!(
                "Refused a configuration transfer from {peer}: authentication failed \
                 (another cluster key? Every node needs the same /etc/cluster/authkey)"
            );
            let _ = s.write_all(sync_wire::AUTH_FAILED);
            return;
        }
        Err(e) => {
            tracing::warn!("Refused a configuration transfer from {peer}: {e}");
            return;
        }
    };
    if from == local {
        return;
    }
    let (tx, rx) = std_mpsc::channel();
    if inputs
        .send(SyncInput::Inbound {
            from,
            msg,
            reply: tx,
        })
        .is_err()
    {
        return;
    }
    if let Ok(answer) = rx.recv_timeout(IO_TIMEOUT) {
        let _ = s.write_all(&codec.encode(local, &answer));
    }
}

/// A `ccs_sync` push or check waiting for its nodes.
struct AdminRun {
    /// The pushed version; `None` for a check.
    version: Option<u64>,
    /// The pushed text's hash.
    pushed: Option<ccs::store::ConfHash>,
    /// Node id → name and line (`None` while waiting).
    lines: BTreeMap<NodeId, (String, Option<SyncOutcome>)>,
    deadline: Instant,
    reply: oneshot::Sender<Response>,
}

/// The daemon's sync state.
pub(super) struct SyncState {
    core: Sync,
    store_path: PathBuf,
    transport: Transport,
    /// Sync (TCP) address of each configured node.
    addrs: BTreeMap<NodeId, SocketAddr>,
    inputs: mpsc::UnboundedSender<SyncInput>,
    /// Connections waiting for our answer, by peer.
    replies: BTreeMap<NodeId, std_mpsc::Sender<Message>>,
    writing: bool,
    run: Option<AdminRun>,
    queued: Vec<AdminSync>,
    /// Peers to say hello to, and from when.
    hello_soon: BTreeMap<NodeId, Instant>,
    /// A version adopted since the membership heartbeats were told.
    pub(super) new_version: Option<u64>,
    /// Names of nodes removed from the configuration, for the log lines about their leaving.
    pub(super) former_names: BTreeMap<NodeId, String>,
    /// The adopted version's nodes (membership addresses), for the membership layer.
    pub(super) new_nodes: Option<BTreeMap<NodeId, SocketAddr>>,
    /// Each service's resource signature in the running configuration.
    sigs: BTreeMap<String, Vec<String>>,
}

impl SyncState {
    /// At start: the store's current file (the daemon's configuration) and the transport.
    pub(super) fn new(
        store_path: &Path,
        conf: &ccs::ClusterConf,
        transport: Transport,
        inputs: mpsc::UnboundedSender<SyncInput>,
    ) -> Result<SyncState, DaemonError> {
        let store = Store::open(store_path).map_err(|e| DaemonError::Sync(e.to_string()))?;
        let current = store
            .current()
            .map_err(|e| DaemonError::Sync(e.to_string()))?;
        Ok(SyncState {
            core: Sync::new(current),
            store_path: store_path.to_path_buf(),
            transport,
            addrs: sync_addrs(conf),
            inputs,
            replies: BTreeMap::new(),
            writing: false,
            run: None,
            queued: Vec::new(),
            hello_soon: Default::default(),
            new_version: None,
            new_nodes: None,
            former_names: BTreeMap::new(),
            sigs: signatures(&Forest::build(conf)),
        })
    }
}

/// The sync address (the daemon channel's) of every node that has one.
fn sync_addrs(conf: &ccs::ClusterConf) -> BTreeMap<NodeId, SocketAddr> {
    let mut out = BTreeMap::new();
    let Ok(addrs) = net::node_addrs(conf) else {
        return out;
    };
    for n in conf.nodes() {
        if let Some(id) = n.nodeid() {
            if let Some(a) = addrs.get(&id).and_then(|m| wire_addr(n.name(), *m).ok()) {
                out.insert(id, a);
            }
        }
    }
    out
}

/// Attributes of a service that only the policy reads: changing them re-evaluates placement
/// but does not restart the service.
const POLICY_ATTRS: &[&str] = &[
    "domain",
    "autostart",
    "exclusive",
    "recovery",
    "max_restarts",
    "restart_expire_time",
    "depend",
    "depend_mode",
];

/// What a service's resources are, for deciding whether a reload restarts it: every resource
/// of its tree (type, resolved attributes, place in the tree), the service's policy-only
/// attributes left out.
fn signatures(forest: &Forest) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for &root in &forest.roots {
        let sub = forest.subtree(root);
        let lines = sub
            .iter()
            .map(|&id| {
                let node = forest.node(id);
                let parent = node.parent.and_then(|p| sub.iter().position(|x| *x == p));
                let attrs: Vec<(String, String)> = forest
                    .resolved_attrs(id)
                    .into_iter()
                    .filter(|(k, _)| id != root || !POLICY_ATTRS.contains(&k.as_str()))
                    .collect();
                format!(
                    "{parent:?} {} {attrs:?} {:?}",
                    forest.resource_of(id).kind,
                    node.actions
                )
            })
            .collect();
        out.insert(forest.name_of(root), lines);
    }
    out
}

/// A node name for log lines and `ccs_sync`.
fn names_of(conf: &ccs::ClusterConf) -> BTreeMap<NodeId, String> {
    conf.nodes()
        .iter()
        .filter_map(|n| n.nodeid().map(|id| (id, n.name().to_string())))
        .collect()
}

fn log_event(e: &SyncEvent) {
    if e.is_alarm() {
        tracing::error!("{e}");
    } else {
        tracing::info!("{e}");
    }
}

/// Before joining the membership: asks every configured peer what it holds and fetches a
/// newer configuration if one has it, so that this node starts with the newest version. Any
/// problem is logged and start-up goes on with the file as it is.
pub(super) fn catch_up_at_start(conf_path: &Path, node: Option<&str>, key_path: &Path) {
    let Ok((conf, _)) = ccs::load(conf_path) else {
        return; // start-up reports it
    };
    let name = match node {
        Some(n) => conf.node(n).map(|n| n.name().to_string()),
        None => net::hostname().and_then(|h| net::local_node(&conf, &h).ok()),
    };
    let Some(local) = name.and_then(|n| conf.node(&n).and_then(|n| n.nodeid())) else {
        return;
    };
    let Ok(key) = ClusterKey::load(key_path) else {
        return;
    };
    let Some(codec) = FrameCodec::new(conf.name(), key.as_bytes()) else {
        return;
    };
    drop(key);
    let peers: BTreeMap<NodeId, SocketAddr> = sync_addrs(&conf)
        .into_iter()
        .filter(|(id, _)| *id != local)
        .collect();
    if let Err(e) = catch_up(conf_path, local, codec, &peers) {
        tracing::error!("Configuration catch-up failed: {e}; starting with the file as it is");
    }
}

/// The catch-up itself: an `Announce` to every peer, then the core's requests until it is
/// caught up, every peer answered (or could not be reached), or the deadline passed.
fn catch_up(
    path: &Path,
    local: NodeId,
    codec: FrameCodec,
    peers: &BTreeMap<NodeId, SocketAddr>,
) -> Result<(), ccs::store::StoreError> {
    let store = Store::open(path)?;
    let mut core = Sync::new(store.current()?);
    let transport = Transport::new(codec, local);
    type Answer = (NodeId, Result<Option<Message>, SendFailure>);
    let (tx, rx) = std_mpsc::channel::<Answer>();
    let mut waiting = 0usize;
    let send = |to: NodeId, msg: &Message, waiting: &mut usize| {
        let Some(addr) = peers.get(&to).copied() else {
            return;
        };
        let tx = tx.clone();
        *waiting += 1;
        transport.send(to, addr, msg, move |r| {
            let _ = tx.send((to, r));
        });
    };
    let hello = core.announcement();
    for &to in peers.keys() {
        send(to, &hello, &mut waiting);
    }
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    loop {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Send { to, msg } => send(to, &msg, &mut waiting),
                Output::Write { config, .. } => {
                    let r = store.replace_checked(&config).map(|_| ());
                    core.written(r.map_err(|e| e.to_string()));
                }
                Output::Event(e) => log_event(&e),
            }
        }
        if waiting == 0 && core.is_caught_up() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((from, Ok(Some(msg)))) => {
                waiting -= 1;
                core.handle(from, msg);
            }
            Ok((_, Ok(None))) => waiting -= 1,
            Ok((from, Err(_))) => {
                waiting -= 1;
                core.peer_lost(from);
            }
            Err(_) => {
                tracing::warn!(
                    "Configuration catch-up: no complete answer from every node in {}s; \
                     joining with version {}",
                    CATCH_UP_DEADLINE.as_secs(),
                    core.local().version()
                );
                return Ok(());
            }
        }
    }
}

impl Daemon {
    fn sync_mut(&mut self) -> Option<&mut SyncState> {
        self.sync.as_mut()
    }

    /// One input from the transport or the admin socket.
    pub(super) async fn sync_input(&mut self, input: SyncInput) {
        let local = self.local;
        let Some(s) = self.sync_mut() else { return };
        match input {
            SyncInput::Inbound { from, msg, reply } => {
                if from == local || !s.addrs.contains_key(&from) {
                    return;
                }
                if matches!(msg, Message::Announce { .. }) {
                    let _ = reply.send(s.core.announcement());
                } else {
                    s.replies.insert(from, reply);
                }
                s.core.handle(from, msg);
            }
            SyncInput::Answer { from, msg, admin } => {
                // The answer to a push of a text that is not ours (refused here) is only
                // reported: the core would take the pushed text's hash for ours.
                let ours = s.run.as_ref().and_then(|r| r.pushed) == Some(s.core.local().hash());
                if admin {
                    s.admin_answer(from, &msg);
                }
                match msg {
                    Message::Accepted { .. } if admin && !ours => {}
                    Message::Refused { reason } if admin && !ours => {
                        tracing::error!("Node {from} refused the pushed configuration: {reason}");
                    }
                    Message::Conflict {
                        version,
                        ours: theirs,
                        theirs: pushed,
                    } if admin && !ours => tracing::error!(
                        "Configuration conflict with node {from}: both have config_version \
                         {version}, the node has hash {theirs}, the pushed text {pushed}; not merged"
                    ),
                    msg => s.core.handle(from, msg),
                }
            }
            SyncInput::Failed { to, why, admin } => {
                if admin {
                    let line = match why {
                        SendFailure::Unreachable(why) => SyncOutcome::Unreachable { why },
                        SendFailure::AuthRefused => SyncOutcome::Refused {
                            reason: "authentication failed (another cluster key?)".into(),
                        },
                        SendFailure::NoAnswer => SyncOutcome::NoAnswer,
                    };
                    s.set_line(to, line);
                }
            }
            SyncInput::Written(r) => {
                s.writing = false;
                s.core.written(r);
            }
            SyncInput::Admin(call) => {
                if s.run.is_some() {
                    s.queued.push(call);
                } else {
                    self.sync_admin(call).await;
                }
            }
            SyncInput::Deadline => {
                let late = s.run.as_ref().is_some_and(|r| Instant::now() >= r.deadline);
                s.finish_run(late);
            }
        }
        self.sync_flush().await;
    }

    /// Carries out the core's outputs.
    async fn sync_flush(&mut self) {
        loop {
            let Some(s) = self.sync_mut() else { return };
            let Some(out) = s.core.poll_output() else {
                break;
            };
            match out {
                Output::Send { to, msg } => s.send(to, msg, false),
                Output::Write { config, .. } => {
                    s.writing = true;
                    let path = s.store_path.clone();
                    let inputs = s.inputs.clone();
                    std::thread::spawn(move || {
                        let r = Store::open(&path)
                            .and_then(|st| st.replace_checked(&config))
                            .map(|_| ())
                            .map_err(|e| e.to_string());
                        let _ = inputs.send(SyncInput::Written(r));
                    });
                }
                Output::Event(e) => {
                    log_event(&e);
                    match &e {
                        SyncEvent::PeerAccepted { peer, version }
                            if s.run.as_ref().and_then(|r| r.version) == Some(*version) =>
                        {
                            s.set_line(*peer, SyncOutcome::Success);
                        }
                        SyncEvent::PeerRefused { peer, reason }
                            if s.run.as_ref().is_some_and(|r| r.version.is_some()) =>
                        {
                            s.set_line(
                                *peer,
                                SyncOutcome::Refused {
                                    reason: reason.to_string(),
                                },
                            );
                        }
                        _ => {}
                    }
                    if let SyncEvent::Adopted { .. } = e {
                        let config = s.core.local().clone();
                        self.sync_adopted(&config).await;
                    }
                }
            }
        }
        let Some(s) = self.sync_mut() else { return };
        if !s.writing {
            // Connections whose message needed no answer: closed.
            s.replies.clear();
        }
        s.finish_run(false);
        if s.run.is_none() && !s.queued.is_empty() {
            let call = s.queued.remove(0);
            Box::pin(self.sync_admin(call)).await;
        }
    }

    /// An `Announce` to a peer (it answers with its own).
    pub(super) fn sync_hello(&mut self, to: NodeId) {
        if to == self.local {
            return;
        }
        if let Some(s) = self.sync_mut() {
            let msg = s.core.announcement();
            s.send(to, msg, false);
        }
    }

    /// A peer's heartbeats carry another `config_version`: hello in a second (at the first
    /// tick after [`HELLO_DELAY`]), not at once, so that during a push a node takes the pushed
    /// offer rather than fetching the same file a second time from the first peer that adopted
    /// it (with "the next tick", up to a second but often a few milliseconds away, a push to
    /// 16 nodes made some of them fetch the file again).
    pub(super) fn sync_hello_soon(&mut self, to: NodeId) {
        if let Some(s) = self.sync_mut() {
            s.hello_soon
                .entry(to)
                .or_insert_with(|| Instant::now() + HELLO_DELAY);
        }
    }

    /// A peer left the membership.
    pub(super) async fn sync_peer_lost(&mut self, peer: NodeId) {
        let configured = self.members_conf.iter().any(|(id, _)| *id == peer);
        if let Some(s) = self.sync_mut() {
            s.core.peer_lost(peer);
            if !configured {
                // A removed node has left: no more sync traffic with it.
                s.addrs.remove(&peer);
            }
        }
        self.sync_flush().await;
    }

    /// Each second: a lost request or answer is asked again; a `ccs_sync` past its deadline
    /// is answered with what came.
    pub(super) async fn sync_tick(&mut self) {
        if let Some(s) = self.sync_mut() {
            if !s.core.is_caught_up() {
                s.core.retry();
            }
            let hello = s.core.announcement();
            let now = Instant::now();
            let due: Vec<NodeId> = s
                .hello_soon
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(id, _)| *id)
                .collect();
            for to in due {
                s.hello_soon.remove(&to);
                s.send(to, hello.clone(), false);
            }
            s.finish_run(Instant::now() >= s.run.as_ref().map_or(Instant::now(), |r| r.deadline));
        }
        self.sync_flush().await;
    }

    async fn sync_admin(&mut self, call: AdminSync) {
        let local = self.local;
        let local_name = self.name_of(local);
        let Some(s) = self.sync_mut() else { return };
        match call {
            AdminSync::Check(reply) => {
                let cur = s.core.local().clone();
                let mut lines = BTreeMap::new();
                let names = self.members_conf.clone();
                let Some(s) = self.sync.as_mut() else { return };
                for (id, name) in names {
                    let line = (id == local).then(|| SyncOutcome::Version {
                        version: cur.version(),
                        hash: cur.hash().to_string(),
                    });
                    lines.insert(id, (name, line));
                }
                s.run = Some(AdminRun {
                    version: None,
                    pushed: None,
                    lines,
                    deadline: Instant::now() + ADMIN_DEADLINE,
                    reply,
                });
                let hello = s.core.announcement();
                let ids: Vec<NodeId> = s.addrs.keys().copied().filter(|i| *i != local).collect();
                for id in ids {
                    s.send(id, hello.clone(), true);
                }
            }
            AdminSync::Push(text, reply) => {
                let config = match Versioned::check(text.into_bytes()) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = reply.send(Response::Error {
                            message: format!("invalid: {e}"),
                        });
                        return;
                    }
                };
                // The model the check parsed.
                let conf = config.conf().clone();
                // The offers go out first, on their threads, and this node writes its own copy
                // meanwhile: the others' checks and writes do not wait for ours. Every node
                // decides on its own copy; answers are handled once this returns. The nodes
                // the push removes from the configuration get it too: they stop their
                // services and leave.
                let mut targets = sync_addrs(&conf);
                for (id, addr) in &s.addrs {
                    targets.entry(*id).or_insert(*addr);
                }
                let offer = Message::Offer {
                    version: config.version(),
                    bytes: config.hashed().clone(),
                };
                let frame = Arc::new(s.transport.codec.encode(local, &offer));
                for (id, addr) in targets {
                    if id != local {
                        s.send_frame_to(id, addr, frame.clone());
                    }
                }
                let ours = s.core.local().clone();
                let local_line = if config.version() > ours.version() {
                    match Store::open(&s.store_path).and_then(|st| st.replace_checked(&config)) {
                        Ok(_) => {
                            s.core.set_local(config.clone());
                            tracing::info!(
                                "Configuration version {} (hash {}) installed by ccs_sync, replacing version {}",
                                config.version(),
                                config.hash(),
                                ours.version()
                            );
                            SyncOutcome::Success
                        }
                        Err(e) => SyncOutcome::Refused {
                            reason: Refusal::NotStored {
                                error: e.to_string(),
                            }
                            .to_string(),
                        },
                    }
                } else if config.version() == ours.version() && config.hash() == ours.hash() {
                    SyncOutcome::Success
                } else if config.version() == ours.version() {
                    tracing::error!(
                        "Configuration conflict: ccs_sync pushes config_version {} with hash {}, \
                         this node has hash {}; not merged",
                        config.version(),
                        config.hash(),
                        ours.hash()
                    );
                    SyncOutcome::Conflict {
                        detail: format!(
                            "both have config_version {}, this node has hash {}, the pushed text {}",
                            config.version(),
                            ours.hash(),
                            config.hash()
                        ),
                    }
                } else {
                    let reason = Refusal::NotNewer {
                        offered: config.version(),
                        ours: ours.version(),
                    };
                    tracing::error!("ccs_sync refused here: {reason}");
                    SyncOutcome::Refused {
                        reason: reason.to_string(),
                    }
                };
                let adopted =
                    config.version() > ours.version() && local_line == SyncOutcome::Success;
                let names = names_of(&conf);
                let mut lines = BTreeMap::new();
                for (id, name) in &names {
                    let line = (*id == local).then(|| local_line.clone());
                    lines.insert(*id, (name.clone(), line));
                }
                lines.entry(local).or_insert((local_name, Some(local_line)));
                s.run = Some(AdminRun {
                    version: Some(config.version()),
                    pushed: Some(config.hash()),
                    lines,
                    deadline: Instant::now() + ADMIN_DEADLINE,
                    reply,
                });
                let inputs = s.inputs.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(ADMIN_DEADLINE);
                    let _ = inputs.send(SyncInput::Deadline);
                });
                if adopted {
                    self.sync_adopted(&config).await;
                }
            }
        }
    }

    /// A new version is on disk: the running cluster changes to match.
    async fn sync_adopted(&mut self, config: &Versioned) {
        // Parsed and validated when it was checked: no second parse of a large file.
        let conf: &ccs::ClusterConf = config.conf();
        if !conf.nodes().iter().any(|n| n.nodeid() == Some(self.local)) {
            // Removed by the administrator: the others keep this node in their view until it
            // says goodbye, and take its services over once it has (not fenced: it left
            // cleanly). The running configuration stays as it was for the stops.
            tracing::warn!(
                "This node is not in configuration version {}: stopping its services and \
                 leaving the cluster",
                config.version()
            );
            self.removed = true;
            return;
        }
        tracing::info!("Reconfiguring");
        // Fence changes apply to the next fencing round (a fixed password, a new method).
        self.fencer.source().set(conf.clone());
        tracing::info!("Loading Service Data");
        let forest = match Forest::build_strict(conf) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(
                    "#7: Error building resource tree: {e}; services keep running as configured before"
                );
                return;
            }
        };
        let new_sigs = signatures(&forest);
        let in_view: Vec<NodeId> = self.view.as_ref().map_or(Vec::new(), |v| v.members.clone());
        let Some(s) = self.sync_mut() else { return };
        let old_sigs = std::mem::replace(&mut s.sigs, new_sigs.clone());
        // Removed nodes still in the view stay reachable until they leave, so that one that
        // missed the push hears of it (our heartbeats' version) and fetches it from us.
        let mut addrs = sync_addrs(conf);
        for (id, a) in &s.addrs {
            if in_view.contains(id) {
                addrs.entry(*id).or_insert(*a);
            }
        }
        s.addrs = addrs;
        s.new_version = Some(config.version());
        // The membership layer follows: added nodes may join, removed ones leave.
        match net::node_addrs(conf) {
            Ok(nodes) => s.new_nodes = Some(nodes),
            Err(e) => tracing::error!(
                "Membership keeps its node list: {e}; added nodes join once the daemons restart"
            ),
        }

        // The resource trees here: removed services stop, changed ones restart.
        let removed: Vec<String> = old_sigs
            .keys()
            .filter(|k| !new_sigs.contains_key(*k))
            .cloned()
            .collect();
        let changed: Vec<String> = old_sigs
            .iter()
            .filter(|(k, v)| new_sigs.get(*k).is_some_and(|n| n != *v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in new_sigs.keys().filter(|k| !old_sigs.contains_key(*k)) {
            tracing::info!("Initializing {k}");
        }
        let stop: Vec<String> = removed
            .iter()
            .filter(|k| self.running.contains(*k))
            .cloned()
            .collect();
        let restart: Vec<String> = changed
            .iter()
            .filter(|k| self.running.contains(*k))
            .cloned()
            .collect();
        for k in &removed {
            tracing::info!("{k} was removed from the configuration");
        }
        for k in &changed {
            tracing::info!("{k}: resources changed");
        }
        let _ = self.reloads.send(super::Reload {
            forest,
            stop,
            restart,
        });

        // The table: the same services keep their state; new ones start stopped.
        let old_policy = self.coord.view.config.clone();
        let old = &self.coord.view;
        let mut policy = PolicyConfig::from_conf(conf);
        // Removed nodes that may still run services: kept, as lost (nothing is placed there,
        // and what they hold is not taken over) until they leave cleanly or are fenced.
        let departing: Vec<NodeConf> = old_policy
            .nodes
            .iter()
            .filter(|n| policy.node_index(n.id).is_none())
            .filter(|n| in_view.contains(&n.id) || old.member(n.id) == NodeState::Lost)
            .cloned()
            .collect();
        for n in &departing {
            tracing::info!(
                "{} was removed from the configuration; its services move once it has left",
                n.name
            );
        }
        policy.keep_departing(&departing);
        let config_p = Arc::new(policy);
        let mut view = ClusterView::new(config_p.clone());
        for (i, n) in config_p.nodes.iter().enumerate() {
            view.members[i] = if departing.iter().any(|d| d.id == n.id) {
                NodeState::Lost
            } else {
                old.member(n.id)
            };
        }
        for (i, svc) in config_p.services.iter().enumerate() {
            if let Some(st) = old.service(&svc.name) {
                view.services[i] = st.clone();
            }
        }
        view.quorate = old.quorate;
        view.now = old.now;
        self.coord.view = view;
        self.order = config_p.services.iter().map(|s| s.name.clone()).collect();
        let mut members_conf: Vec<(NodeId, String)> = names_of(conf).into_iter().collect();
        members_conf.sort();
        let old_members = std::mem::replace(&mut self.members_conf, members_conf);
        if let Some(s) = self.sync.as_mut() {
            for (id, name) in old_members {
                s.former_names.insert(id, name);
            }
        }
        for (id, addr) in sync_addrs(conf) {
            self.peers.insert(id, addr);
        }

        // Quorum: votes and expected votes may have changed.
        let members: Vec<NodeId> = self.view.as_ref().map_or(Vec::new(), |v| v.members.clone());
        if let Some(c) = self
            .quorum
            .reconfigure(QuorumConfig::from_conf(conf), &members)
        {
            tracing::info!("{}", c.message());
            let ev = match c {
                crate::quorum::QuorumChange::Regained => Event::QuorumRegained,
                crate::quorum::QuorumChange::Lost => Event::QuorumLost,
            };
            self.policy_event(ev).await;
        }

        // Placement: new services start per policy, domain changes may move services.
        self.policy_event(Event::Evaluate).await;
        if self.coordinating && self.takeover.is_none() {
            for req in domain_moves(&old_policy, &self.coord.view) {
                let (_, orders) = self.coord.request(req);
                self.dispatch(orders).await;
            }
        }
        // The peers learn of the new version from our heartbeats (their membership reports
        // it and they say hello): no burst of announcements here.
        self.broadcast_table().await;
    }
}

/// A service's domain as node ids and ranks, comparable across configurations:
/// (ordered, restricted, nofailback, members with their rank), `None` for any node.
type DomainKey = Option<(bool, bool, bool, Vec<(NodeId, u32)>)>;

fn domain_key(cfg: &PolicyConfig, service: &str) -> DomainKey {
    let s = &cfg.services[cfg.service_index(service)?];
    let DomainRef::Index(d) = s.domain else {
        return None;
    };
    let d = cfg.domains.get(d)?;
    let members = cfg
        .nodes
        .iter()
        .zip(&d.rank)
        .filter_map(|(n, r)| r.map(|r| (n.id, r)))
        .collect();
    Some((d.ordered, d.restricted, d.nofailback, members))
}

/// After a reload, on the coordinator: the services whose failover domain changed and that
/// run where the new domain does not want them: on a node it no longer allows (restricted),
/// or below an online node of higher priority (ordered, without `nofailback`). Each is
/// relocated through the policy, as `clusvcadm -r` would be.
fn domain_moves(old: &PolicyConfig, view: &ClusterView) -> Vec<crate::policy::Request> {
    let mut out = Vec::new();
    for (i, svc) in view.config.services.iter().enumerate() {
        let key = domain_key(&view.config, &svc.name);
        if old.service_index(&svc.name).is_none() || domain_key(old, &svc.name) == key {
            continue;
        }
        let st = &view.services[i];
        let (State::Started, Some(owner)) = (st.state, st.owner) else {
            continue;
        };
        let Some((ordered, restricted, nofailback, members)) = key else {
            continue;
        };
        let online = |id: NodeId| view.member(id) == NodeState::Online;
        let rank_of = |id: NodeId| members.iter().find(|(n, _)| *n == id).map(|(_, r)| *r);
        let best = members
            .iter()
            .filter(|(n, _)| online(*n))
            .min_by_key(|(n, r)| (if ordered { *r } else { 0 }, *n))
            .map(|(n, r)| (*n, *r));
        let here = rank_of(owner);
        let relocate_to = match (here, best) {
            (None, Some((b, _))) if restricted => Some(b),
            (Some(h), Some((b, r))) if ordered && !nofailback && r < h => Some(b),
            _ => None,
        };
        if let Some(node) = relocate_to {
            tracing::info!(
                "{}: failover domain changed; relocating to node {node}",
                svc.name
            );
            out.push(crate::policy::Request::Relocate {
                service: svc.name.clone(),
                node: Some(node),
            });
        }
    }
    out
}

impl SyncState {
    fn send(&mut self, to: NodeId, msg: Message, admin: bool) {
        // Only answers go back on a waiting connection: the peer reads what comes back as the
        // answer to what it sent.
        let answer = matches!(
            msg,
            Message::Accepted { .. }
                | Message::Refused { .. }
                | Message::Conflict { .. }
                | Message::Offer { .. }
        );
        if !admin && answer {
            if let Some(tx) = self.replies.remove(&to) {
                if tx.send(msg.clone()).is_ok() {
                    return;
                }
            }
        }
        let Some(addr) = self.addrs.get(&to).copied() else {
            return;
        };
        self.send_to(to, addr, msg, admin);
    }

    fn send_to(&mut self, to: NodeId, addr: SocketAddr, msg: Message, admin: bool) {
        let frame = Arc::new(self.transport.codec.encode(self.transport.local, &msg));
        self.send_frame_to_as(to, addr, frame, admin);
    }

    /// An administrator's push: answers and failures go to its run.
    fn send_frame_to(&mut self, to: NodeId, addr: SocketAddr, frame: Arc<Vec<u8>>) {
        self.send_frame_to_as(to, addr, frame, true);
    }

    fn send_frame_to_as(&mut self, to: NodeId, addr: SocketAddr, frame: Arc<Vec<u8>>, admin: bool) {
        let inputs = self.inputs.clone();
        self.transport.send_frame(to, addr, frame, move |r| {
            let input = match r {
                Ok(Some(msg)) => SyncInput::Answer {
                    from: to,
                    msg,
                    admin,
                },
                // Closed without an answer: the answer may still come on a connection of its
                // own (an administrator's run waits for it until its deadline).
                Ok(None) => return,
                Err(why) => SyncInput::Failed { to, why, admin },
            };
            let _ = inputs.send(input);
        });
    }

    /// An administrator's run is waiting for answers.
    pub(super) fn run_pending(&self) -> bool {
        self.run.is_some() || !self.queued.is_empty()
    }

    /// The answer to an administrator's push or check.
    fn admin_answer(&mut self, from: NodeId, msg: &Message) {
        let Some(run) = &self.run else { return };
        let line = match (run.version, msg) {
            (None, Message::Announce { version, hash }) => SyncOutcome::Version {
                version: *version,
                hash: hash.to_string(),
            },
            (Some(v), Message::Accepted { version }) if *version == v => SyncOutcome::Success,
            (Some(_), Message::Accepted { version }) => SyncOutcome::Refused {
                reason: format!("the node holds version {version}"),
            },
            (_, Message::Refused { reason }) => SyncOutcome::Refused {
                reason: reason.to_string(),
            },
            (_, Message::Conflict {
                version,
                ours,
                theirs,
            }) => SyncOutcome::Conflict {
                detail: format!(
                    "both have config_version {version}, the node has hash {ours}, the pushed text {theirs}"
                ),
            },
            _ => return,
        };
        self.set_line(from, line);
    }

    fn set_line(&mut self, node: NodeId, line: SyncOutcome) {
        if let Some(run) = &mut self.run {
            if let Some((_, l)) = run.lines.get_mut(&node) {
                if l.is_none() {
                    *l = Some(line);
                }
            }
        }
    }

    /// Answers `ccs_sync` once every node has a line, or at the deadline (`late`).
    fn finish_run(&mut self, late: bool) {
        let done = self
            .run
            .as_ref()
            .is_some_and(|r| late || r.lines.values().all(|(_, l)| l.is_some()));
        if !done {
            return;
        }
        let Some(run) = self.run.take() else { return };
        let nodes = run
            .lines
            .into_values()
            .map(|(node, l)| NodeLine {
                node,
                outcome: l.unwrap_or(SyncOutcome::NoAnswer),
            })
            .collect();
        let _ = run.reply.send(Response::Nodes { nodes });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(web_file: &str, db_domain: &str, d_top: &str, flags: &str) -> ccs::ClusterConf {
        let order = if d_top == "n1" {
            ["n1", "n2"]
        } else {
            ["n2", "n1"]
        };
        let text = format!(
            r#"<cluster name="c" config_version="1">
  <clusternodes>
    <clusternode name="n1" nodeid="1"/>
    <clusternode name="n2" nodeid="2"/>
    <clusternode name="n3" nodeid="3"/>
  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d" {flags}>
        <failoverdomainnode name="{}" priority="1"/>
        <failoverdomainnode name="{}" priority="2"/>
      </failoverdomain>
    </failoverdomains>
    <service name="web"><script name="web" file="{web_file}"/></service>
    <service name="db" domain="{db_domain}" recovery="relocate"><script name="db" file="/db"/></service>
  </rm>
</cluster>"#,
            order[0], order[1]
        );
        let r = ccs::check_str(&text);
        assert!(r.errors().next().is_none(), "{:?}", r.diagnostics);
        r.conf.unwrap()
    }

    #[test]
    fn a_signature_changes_with_the_resources_not_with_policy_attributes() {
        let a = signatures(&Forest::build(&conf("/web", "d", "n1", "ordered=\"1\"")));
        let b = signatures(&Forest::build(&conf("/web2", "d", "n1", "ordered=\"1\"")));
        let c = signatures(&Forest::build(&conf("/web", "", "n2", "")));
        assert_eq!(a.len(), 2);
        assert_ne!(a["service:web"], b["service:web"]);
        assert_eq!(a["service:db"], b["service:db"]);
        // Another domain (and domain contents) leave every tree as it was.
        assert_eq!(a, c);
    }

    fn view_with_db_on(cfg: &ccs::ClusterConf, owner: NodeId) -> ClusterView {
        let mut v = ClusterView::from_conf(cfg);
        for id in [1, 2, 3] {
            v.set_member(id, NodeState::Online);
        }
        v.quorate = true;
        let st = v.service_mut("service:db").unwrap();
        st.state = State::Started;
        st.owner = Some(owner);
        v
    }

    #[test]
    fn a_changed_domain_relocates_only_what_it_no_longer_wants_where_it_is() {
        let old = PolicyConfig::from_conf(&conf("/web", "d", "n2", "ordered=\"1\""));
        // The ordered domain now puts n1 first: db moves from n2 to n1.
        let new = conf("/web", "d", "n1", "ordered=\"1\"");
        let moves = domain_moves(&old, &view_with_db_on(&new, 2));
        assert_eq!(
            moves,
            vec![crate::policy::Request::Relocate {
                service: "service:db".into(),
                node: Some(1),
            }]
        );
        // Already on the new top node, or nofailback, or unordered: nothing moves.
        assert!(domain_moves(&old, &view_with_db_on(&new, 1)).is_empty());
        let nofailback = conf("/web", "d", "n1", "ordered=\"1\" nofailback=\"1\"");
        assert!(domain_moves(&old, &view_with_db_on(&nofailback, 2)).is_empty());
        let unordered = conf("/web", "d", "n1", "");
        assert!(domain_moves(&old, &view_with_db_on(&unordered, 2)).is_empty());
        // A restricted domain that no longer lists the owner moves it to one it lists.
        let restricted = conf("/web", "d", "n1", "ordered=\"1\" restricted=\"1\"");
        let moves = domain_moves(&old, &view_with_db_on(&restricted, 3));
        assert_eq!(moves.len(), 1, "{moves:?}");
        // The same domain as before: nothing to do, wherever the service runs.
        let same = PolicyConfig::from_conf(&new);
        assert!(domain_moves(&same, &view_with_db_on(&new, 2)).is_empty());
    }
}
