//! The daemon: a thin tokio shell around the node core ([`crate::node::Node`]).
//!
//! It loads the configuration and the key, binds the sockets, and then only moves bytes and
//! results: datagrams into the core, the core's outputs to sockets, to the agents' thread
//! ([`super::agents`]), to the fence workers ([`super::fencing`]), to the sync transport
//! ([`super::sync_transport`]), to threads that write the store, and to the admin socket's
//! connections. It sleeps until the core's next deadline (no fixed tick), so nothing waits
//! for a tick. Every decision about services, quorum and fencing is the core's.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use ccs::store::Store;
use tokio::net::{UdpSocket, UnixListener};
use tokio::sync::{mpsc, oneshot};

use super::args::{self, Args};
use super::fencing::{ConfSource, Fencer};
use super::sync_transport::Transport;
use super::sync_wire::FrameCodec;
use crate::admin::{self, Request, Response};
use crate::membership::{self, key::ClusterKey, net, NodeId};
use crate::node::{AgentCmd, FenceCmd, Input, Node, Output, Setup};

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ccs::Error),
    #[error(transparent)]
    Store(#[from] ccs::store::StoreError),
    #[error("node \"{0}\" is not in cluster.conf")]
    UnknownNode(String),
    #[error("cannot work out which node this is: no host name")]
    NoHostname,
    #[error(transparent)]
    Key(#[from] membership::key::KeyError),
    #[error(transparent)]
    Net(#[from] net::NetError),
    #[error(transparent)]
    Setup(#[from] crate::node::SetupError),
    #[error("the cluster name or the cluster key is empty")]
    EmptyNameOrKey,
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
    #[error("cannot start the resource agents' thread: {0}")]
    Agents(std::io::Error),
    #[error("cannot listen for configuration sync on {addr}: {source}")]
    SyncBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
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

/// A node's daemon-message (and sync) address: the membership port + 1.
fn wire_addr(name: &str, a: SocketAddr) -> Result<SocketAddr, DaemonError> {
    let port = a
        .port()
        .checked_add(1)
        .ok_or_else(|| DaemonError::NoWirePort(name.to_string()))?;
    Ok(SocketAddr::new(a.ip(), port))
}

/// Where each node's membership and daemon channel are. Only added to or updated: a node a
/// reload removes may still be leaving.
#[derive(Default)]
struct Book {
    membership: BTreeMap<NodeId, SocketAddr>,
    wire: BTreeMap<NodeId, SocketAddr>,
}

impl Book {
    fn learn(&mut self, conf: &ccs::ClusterConf) {
        let addrs = match net::node_addrs(conf) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("Node addresses keep their previous values: {e}");
                return;
            }
        };
        for n in conf.nodes() {
            let Some(id) = n.nodeid() else { continue };
            let Some(m) = addrs.get(&id) else { continue };
            self.membership.insert(id, *m);
            if let Ok(w) = wire_addr(n.name(), *m) {
                self.wire.insert(id, w);
            }
        }
    }
}

fn start(a: &Args) -> Result<(), DaemonError> {
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
    let config = Store::open(&a.conf)?.current()?;
    let setup = Setup {
        name: name.clone(),
        incarnation: membership::incarnation_now(),
        unix_now: unix_now(),
        initial_stop: !a.no_initial_stop,
    };
    let node = Node::new(setup, config, key.as_bytes(), Instant::now())?;
    let local = node.id();
    let mut book = Book::default();
    book.learn(&conf);
    for n in conf.nodes() {
        if n.nodeid() == Some(local) {
            // Our own addresses must exist, or we cannot bind.
            let m = net::node_addrs(&conf)?
                .get(&local)
                .copied()
                .ok_or_else(|| DaemonError::UnknownNode(name.clone()))?;
            wire_addr(n.name(), m)?;
        }
    }
    let sync_codec =
        FrameCodec::new(conf.name(), key.as_bytes()).ok_or(DaemonError::EmptyNameOrKey)?;
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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(async {
        let listener = UnixListener::bind(&a.socket).map_err(io(&a.socket))?;
        let maddr = book.membership[&local];
        let msock = net::bind(maddr).await?;
        let waddr = book.wire[&local];
        let wsock = UdpSocket::bind(waddr)
            .await
            .map_err(|source| DaemonError::WireBind {
                addr: waddr,
                source,
            })?;
        let sync_listener =
            std::net::TcpListener::bind(waddr).map_err(|source| DaemonError::SyncBind {
                addr: waddr,
                source,
            })?;
        tracing::info!("Resource Group Manager Starting");
        tracing::info!(
            "I am node {name}, node id {local}; membership on {maddr}, daemon messages on {waddr}"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let news = {
            let tx = tx.clone();
            move |input: Input| tx.send(Event::Input(input)).is_ok()
        };
        let agents = super::agents::spawn(news.clone()).map_err(DaemonError::Agents)?;
        let transport = Transport::new(sync_codec, local);
        {
            let news = news.clone();
            transport.listen(sync_listener, move |from, msg, query| {
                news(Input::Sync { from, msg, query });
            });
        }
        let shell = Shell {
            fencer: Fencer::new(ConfSource::new(&a.conf, (**node.conf()).clone()), news),
            node,
            msock,
            wsock,
            book,
            agents,
            transport,
            store: a.conf.clone(),
            tx,
            admin: HashMap::new(),
            next_admin: 1,
        };
        if shell.run(rx, listener).await {
            Ok(())
        } else {
            Err(DaemonError::Duplicate)
        }
    });
    let _ = std::fs::remove_file(&a.socket);
    let _ = std::fs::remove_file(&pid_file);
    result
}

/// What the threads and the admin connections hand the event loop.
enum Event {
    Input(Input),
    Admin(Request, oneshot::Sender<Response>),
}

struct Shell {
    node: Node,
    msock: UdpSocket,
    wsock: UdpSocket,
    book: Book,
    agents: std_mpsc::Sender<AgentCmd>,
    fencer: Fencer,
    transport: Transport,
    /// The configuration file (the store).
    store: PathBuf,
    tx: mpsc::UnboundedSender<Event>,
    /// Admin connections waiting for their answer, by request id.
    admin: HashMap<u64, oneshot::Sender<Response>>,
    next_admin: u64,
}

impl Shell {
    /// Runs until the node is done: true after a clean goodbye, false when another daemon
    /// already runs this node.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>, listener: UnixListener) -> bool {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install the signal handlers");
            return true;
        };
        let mut mbuf = vec![0u8; 65536];
        let mut wbuf = vec![0u8; 65536];
        // Datagrams handled in a row without a timer turn.
        let mut streak = 0u32;
        loop {
            if let Some(clean) = self.carry_out().await {
                return clean;
            }
            let deadline = self
                .node
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                // Datagrams first: after this process was not scheduled for a while (a loaded
                // machine), the heartbeats queued in the socket meanwhile must refresh the
                // peers before the timers look at them, or the node would expire every peer
                // for its own stall.
                biased;
                r = self.msock.recv_from(&mut mbuf) => match r {
                    Ok((n, from)) => {
                        let bytes = mbuf[..n].to_vec();
                        self.node.handle(Instant::now(), Input::Membership { from, bytes });
                        // A steady flood (garbage from anywhere) must not starve the timers.
                        streak += 1;
                        if streak >= 64 {
                            streak = 0;
                            self.node.handle_timeout(Instant::now());
                        }
                    }
                    // An ICMP error from an earlier send: the socket stays usable.
                    Err(e) => tracing::debug!("membership socket: {e}"),
                },
                r = self.wsock.recv_from(&mut wbuf) => {
                    if let Ok((n, _)) = r {
                        let bytes = wbuf[..n].to_vec();
                        self.node.handle(Instant::now(), Input::Message { bytes });
                    }
                }
                ev = rx.recv() => match ev {
                    Some(Event::Input(input)) => self.node.handle(Instant::now(), input),
                    Some(Event::Admin(request, reply)) => {
                        let id = self.next_admin;
                        self.next_admin += 1;
                        self.admin.insert(id, reply);
                        self.node.handle(Instant::now(), Input::Admin { id, request });
                    }
                    None => return true,
                },
                acc = listener.accept() => if let Ok((s, _)) = acc {
                    serve_admin(s, self.tx.clone());
                },
                _ = term.recv() => self.node.handle(Instant::now(), Input::Shutdown),
                _ = int.recv() => self.node.handle(Instant::now(), Input::Shutdown),
                _ = tokio::time::sleep_until(deadline) => {
                    streak = 0;
                    self.node.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Carries the core's outputs out; `Some(clean)` when the node is done.
    async fn carry_out(&mut self) -> Option<bool> {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Membership { to, bytes } => {
                    if let Some(addr) = self.book.membership.get(&to) {
                        if let Err(e) = self.msock.send_to(&bytes, addr).await {
                            tracing::debug!("membership: sending to node {to} at {addr}: {e}");
                        }
                    }
                }
                Output::Message { to, bytes } => {
                    if let Some(addr) = self.book.wire.get(&to) {
                        if let Err(e) = self.wsock.send_to(&bytes, addr).await {
                            tracing::debug!("daemon message to node {to} at {addr}: {e}");
                        }
                    }
                }
                Output::Sync { to, msg, query } => {
                    let Some(addr) = self.book.wire.get(&to).copied() else {
                        continue;
                    };
                    let tx = self.tx.clone();
                    self.transport.send(to, addr, &msg, query, move |why| {
                        let _ = tx.send(Event::Input(Input::SyncFailed { to, why }));
                    });
                }
                Output::Agent(cmd) => {
                    if self.agents.send(cmd).is_err() {
                        tracing::error!("the resource agents' thread is gone");
                    }
                }
                Output::Fence(FenceCmd::Start { run, node, name }) => {
                    self.fencer.spawn(run, node, name)
                }
                Output::Fence(FenceCmd::Cancel { node }) => self.fencer.cancel(node),
                Output::Write { write, config } => {
                    let path = self.store.clone();
                    let tx = self.tx.clone();
                    let spawned = std::thread::Builder::new()
                        .name("store-write".into())
                        .spawn(move || {
                            let result = Store::open(&path)
                                .and_then(|st| st.replace_checked(&config))
                                .map(|_| ())
                                .map_err(|e| e.to_string());
                            let _ = tx.send(Event::Input(Input::Written { write, result }));
                        });
                    if let Err(e) = spawned {
                        let result = Err(format!("cannot start a thread: {e}"));
                        self.node
                            .handle(Instant::now(), Input::Written { write, result });
                    }
                }
                Output::Admin { id, response } => {
                    if let Some(reply) = self.admin.remove(&id) {
                        let _ = reply.send(response);
                    }
                }
                Output::Addresses { conf } => self.book.learn(&conf),
                Output::Reconfigured { conf } => {
                    self.book.learn(&conf);
                    self.fencer.source().set((*conf).clone());
                }
                Output::Exit { clean } => return Some(clean),
            }
        }
        None
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers one admin connection on the blocking pool (the protocol is line-based and small):
/// each request goes to the event loop and the connection waits for its answer.
fn serve_admin(stream: tokio::net::UnixStream, tx: mpsc::UnboundedSender<Event>) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        if std_stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = std_stream.set_read_timeout(Some(admin::TIMEOUT));
        let _ = admin::serve_one(&std_stream, |req| {
            let gone = || Response::Error {
                message: "the resource group manager is shutting down".into(),
            };
            let (reply, rx) = oneshot::channel();
            if tx.send(Event::Admin(req, reply)).is_err() {
                return gone();
            }
            rx.blocking_recv().unwrap_or_else(|_| gone())
        });
    });
}
