//! The membership transport: one UDP socket per node, driven by tokio, running the sans-I/O
//! core of [`super::Membership`].
//!
//! It exists to keep every socket, clock and task out of the core: this module only moves
//! datagrams between the socket and the core, sleeps until the core's next deadline, and hands
//! the core's events and a status snapshot to the daemon. It also says where each node's
//! traffic goes: `rgm_addr`/`rgm_port` on `<clusternode>` (our extension), else the node name
//! resolved and `<cman port>` or [`DEFAULT_PORT`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Counters, Event, Membership, NodeId, View};
use crate::daemon::identity;

/// The UDP port of membership traffic when neither `rgm_port` nor `<cman port>` says: the
/// port corosync's totem used, whose job this traffic does.
pub const DEFAULT_PORT: u16 = 5405;

/// Transport problems.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("node \"{name}\" has no rgm_addr and its name does not resolve: {why}")]
    Resolve { name: String, why: String },
    #[error("node \"{0}\" has no nodeid in cluster.conf")]
    NoNodeId(String),
    #[error("cannot bind the membership socket to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("membership socket: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
}

/// The membership address of every configured node that has a node id.
pub fn node_addrs(conf: &ccs::ClusterConf) -> Result<BTreeMap<NodeId, SocketAddr>, NetError> {
    let default_port = conf.cman_port().unwrap_or(DEFAULT_PORT);
    let mut out = BTreeMap::new();
    for n in conf.nodes() {
        let id = n
            .nodeid()
            .ok_or_else(|| NetError::NoNodeId(n.name().to_string()))?;
        let port = n.rgm_port().unwrap_or(default_port);
        let addr = match n.rgm_addr() {
            Some(ip) => SocketAddr::new(ip, port),
            None => resolve(n.name(), port)?,
        };
        out.insert(id, addr);
    }
    Ok(out)
}

/// Which node of cluster.conf this machine is (`daemon::identity`), an address being this
/// machine's when it can be bound: `rgm_addr`, else the node name resolved.
pub fn local_node(conf: &ccs::ClusterConf, hostname: &str) -> Result<String, NetError> {
    let bindable = |n: &ccs::model::ClusterNode| {
        let ip = match n.rgm_addr() {
            Some(ip) => Some(ip),
            None => resolve(n.name(), 0).ok().map(|a| a.ip()),
        };
        ip.is_some_and(|ip| std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok())
    };
    Ok(identity::local_node(conf, None, hostname, bindable)?)
}

/// This machine's host name (`uname -n`).
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is what we pass.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}

/// Resolves a node name, preferring IPv4 as cman did for its node names.
fn resolve(name: &str, port: u16) -> Result<SocketAddr, NetError> {
    let err = |why: String| NetError::Resolve {
        name: name.to_string(),
        why,
    };
    let addrs: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| err("no address".into()))
}

/// Binds a membership socket (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|source| NetError::Bind { addr, source })
}

/// What the daemon can read at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub view: Option<View>,
    pub heard: Vec<NodeId>,
    pub counters: Counters,
    /// The `config_version` each peer last announced (the config sync reads it).
    pub config_versions: BTreeMap<NodeId, u64>,
}

enum Command {
    Leave(oneshot::Sender<()>),
    ConfigVersion(u64),
    Nodes(BTreeMap<NodeId, SocketAddr>),
}

/// A running membership node.
pub struct Node {
    local_addr: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
    task: JoinHandle<()>,
    /// The core's events, in order.
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl Node {
    /// Runs `core` on `socket`, sending to the nodes of `peers`. Call it inside a tokio
    /// runtime: the node is a task of it.
    pub fn start(
        core: Membership,
        socket: UdpSocket,
        peers: BTreeMap<NodeId, SocketAddr>,
    ) -> Result<Node, NetError> {
        let local_addr = socket.local_addr()?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (st_tx, st_rx) = watch::channel(Status::default());
        let task = tokio::spawn(run(core, socket, peers, cmd_rx, ev_tx, st_tx));
        Ok(Node {
            local_addr,
            commands: cmd_tx,
            status: st_rx,
            task,
            events: ev_rx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The latest view, heard nodes and counters.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Announces a new configuration version in the heartbeats.
    pub fn set_config_version(&self, version: u64) {
        let _ = self.commands.send(Command::ConfigVersion(version));
    }

    /// The configured nodes changed (a newer cluster.conf was adopted): every node and its
    /// membership address. See [`Membership::set_nodes`].
    pub fn set_nodes(&self, nodes: BTreeMap<NodeId, SocketAddr>) {
        let _ = self.commands.send(Command::Nodes(nodes));
    }

    /// Says goodbye to the cluster (`Member N shutting down` on the others) and stops.
    pub async fn leave(mut self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Leave(tx)).is_ok() {
            let _ = rx.await;
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once without a word, as a crash would: the others see a failure.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    mut core: Membership,
    socket: UdpSocket,
    mut peers: BTreeMap<NodeId, SocketAddr>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    status: watch::Sender<Status>,
) {
    let mut buf = vec![0u8; 65536];
    // Datagrams handled in a row without a timer turn.
    let mut streak = 0u32;
    loop {
        let deadline = core
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        let mut leaving = None;
        tokio::select! {
            // Datagrams first: after this process was not scheduled for a while (a loaded
            // machine), the heartbeats queued in the socket meanwhile must refresh the peers
            // before the timers look at them, or the node would expire every peer for its own
            // stall. tokio's default random choice did that half of the time (64 daemons on
            // 2 busy cores: views changed every few seconds).
            biased;
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    core.handle_datagram(Instant::now(), &buf[..n], from);
                    // A steady flood (garbage from anywhere) must not starve the timers.
                    streak += 1;
                    if streak >= 64 {
                        streak = 0;
                        let now = Instant::now();
                        if core.poll_timeout().is_some_and(|t| t <= now) {
                            core.handle_timeout(now);
                        }
                    }
                }
                // An ICMP error from an earlier send, or a signal: nothing to do with this
                // datagram, and the socket stays usable.
                Err(e) => tracing::debug!("membership socket: {e}"),
            },
            _ = tokio::time::sleep_until(deadline) => {
                streak = 0;
                core.handle_timeout(Instant::now());
            }
            cmd = commands.recv() => match cmd {
                Some(Command::ConfigVersion(v)) => core.set_config_version(v),
                Some(Command::Nodes(nodes)) => {
                    let ids: Vec<NodeId> = nodes.keys().copied().collect();
                    core.set_nodes(&ids, Instant::now());
                    // Addresses are only added or updated: a removed node still in the view
                    // keeps getting our heartbeats until it leaves (the core stops sending
                    // to it once it is forgotten).
                    peers.extend(nodes);
                }
                Some(Command::Leave(ack)) => {
                    core.leave(Instant::now());
                    leaving = Some(ack);
                }
                // Every handle is gone: stop quietly.
                None => return,
            },
        }
        while let Some(t) = core.poll_transmit() {
            let Some(to) = peers.get(&t.to) else { continue };
            if let Err(e) = socket.send_to(&t.bytes, to).await {
                tracing::debug!("membership: sending to node {} at {to}: {e}", t.to);
            }
        }
        while let Some(e) = core.poll_event() {
            let _ = events.send(e);
        }
        status.send_replace(Status {
            view: core.view().cloned(),
            heard: core.heard().to_vec(),
            counters: *core.counters(),
            config_versions: core
                .config()
                .nodes
                .iter()
                .filter_map(|id| core.peer_config_version(*id).map(|v| (*id, v)))
                .collect(),
        });
        if let Some(ack) = leaving {
            let _ = ack.send(());
            return;
        }
    }
}
