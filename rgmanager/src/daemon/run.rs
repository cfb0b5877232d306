//! The daemon: a thin tokio shell around the node core ([`crate::node::Node`]).
//!
//! It loads the configuration and the key, binds the sockets, and then only moves bytes and
//! results: datagrams into the core, the core's outputs to sockets, to the agents' thread
//! ([`super::agents`]), to the fence workers ([`super::fencing`]), to the sync transport
//! ([`super::sync_transport`]), to threads that write the store, and to the admin socket's
//! connections ([`super::admin_socket`]); signals and systemd's protocol
//! ([`super::notify`]). It sleeps until the core's next deadline (no fixed tick), so nothing
//! waits for a tick. Every decision about services, quorum and fencing is the core's.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use ccs::store::Store;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::args::Args;
use super::boot::{log_settings, start, Book, Members};
use super::fencing::Fencer;
use super::notify::Notify;
use super::sync_transport::Transport;
use crate::admin::Response;
use crate::cli::{daemon_args, Parsed};
use crate::logging::{self, Environment, LogHandle, Settings};
use crate::node::{AgentCmd, FenceCmd, Input, Node, Output};
use crate::sd_notify::Notifier;

pub use super::error::DaemonError;

/// `rgmanager ARGS` (the demo's daemons): the exit status.
pub fn main(argv: &[String]) -> u8 {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match daemon_args::parse(argv, &mut out, &mut err) {
        Parsed::Run(a) => run(&a, Notifier::disabled()),
        Parsed::Exit(code) => code,
    }
}

/// Runs the daemon for `a` until it exits; `notifier` is systemd's socket (taken from the
/// environment by the binary before any thread exists). The exit status.
pub fn run(a: &Args, notifier: Notifier) -> u8 {
    let env = Environment::detect();
    let log = logging::init(&Settings::early(a.debug, env)).ok();
    match start(a, notifier, log.as_ref(), env) {
        Ok(()) => 0,
        Err(DaemonError::Config(ccs::Error::Invalid { path, errors })) => {
            let file = path.display().to_string();
            for e in &errors {
                eprintln!("{}", e.render(&file));
            }
            tracing::error!("{file}: configuration fails to validate; not starting");
            1
        }
        Err(DaemonError::CorosyncGone) => {
            tracing::error!("{}; exiting", DaemonError::CorosyncGone);
            EXIT_COROSYNC_GONE
        }
        Err(e) => {
            tracing::error!("{e}; not starting");
            1
        }
    }
}

/// The exit status after corosync went away under the daemon: the unit restarts the daemon on
/// it (`RestartForceExitStatus`), to join again once corosync is back.
pub const EXIT_COROSYNC_GONE: u8 = 3;

/// How the event loop ended.
pub(super) enum Exit {
    /// A clean goodbye.
    Clean,
    /// Another daemon runs this node.
    Duplicate,
    /// Corosync went away (the services here were stopped first).
    CorosyncGone,
}

pub(super) struct Shell {
    /// The status page, metrics and health checks (docs/http.md), when configured.
    pub(super) http: Option<super::http::Http>,
    /// The node's own address, the listener's default.
    pub(super) http_ip: std::net::IpAddr,
    pub(super) node: Node,
    /// The embedded engine's membership socket (none on corosync).
    pub(super) msock: Option<UdpSocket>,
    pub(super) wsock: UdpSocket,
    pub(super) book: Book,
    pub(super) agents: std_mpsc::Sender<AgentCmd>,
    pub(super) fencer: Fencer,
    pub(super) transport: Transport,
    /// The configuration file (the store).
    pub(super) store: PathBuf,
    /// The threads' results, into the core.
    pub(super) tx: mpsc::UnboundedSender<Input>,
    /// Admin connections waiting for their answer, by request id.
    pub(super) admin: HashMap<u64, oneshot::Sender<Response>>,
    pub(super) next_admin: u64,
    pub(super) notify: Notify,
    pub(super) log: Option<LogHandle>,
    pub(super) args: Args,
    pub(super) env: Environment,
    /// The members' names for the agents, and the view they were taken from.
    pub(super) members: Arc<Members>,
    pub(super) members_view: Option<u64>,
    /// The corosync engine's link (membership, quorum and daemon messages through corosync).
    pub(super) cpg: Option<super::corosync::Link>,
}

impl Shell {
    /// Runs until the node is done: true after a clean goodbye, false when another daemon
    /// already runs this node.
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Input>,
        admin: super::admin_socket::Bound,
    ) -> Exit {
        let (listener, admin_gid) = (admin.listener, admin.gid);
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install the signal handlers");
            return Exit::Clean;
        };
        let (admin_tx, mut admin_rx) = mpsc::unbounded_channel();
        // The watchdog's pings come from this loop: a hung loop stops them.
        let mut watchdog =
            tokio::time::interval(self.notify.watchdog().unwrap_or(Duration::from_secs(3600)));
        let mut mbuf = vec![0u8; 65536];
        let mut wbuf = vec![0u8; 65536];
        // Datagrams handled in a row without a timer turn.
        let mut streak = 0u32;
        loop {
            if let Some(clean) = self.carry_out().await {
                return match (clean, self.node.engine_lost()) {
                    (true, _) => Exit::Clean,
                    (false, true) => Exit::CorosyncGone,
                    (false, false) => Exit::Duplicate,
                };
            }
            self.notify.check(&self.node, Instant::now());
            if let Some(h) = &mut self.http {
                h.observe(&self.node);
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
                r = recv_from(&self.msock, &mut mbuf) => match r {
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
                got = next_cpg(&mut self.cpg) => {
                    for i in got {
                        let input = match i {
                            super::corosync::Incoming::Cpg(c) => Input::Cpg(c),
                            super::corosync::Incoming::Message(bytes) => Input::Message { bytes },
                        };
                        self.node.handle(Instant::now(), input);
                    }
                }
                input = rx.recv() => match input {
                    Some(input) => self.node.handle(Instant::now(), input),
                    None => return Exit::Clean,
                },
                req = admin_rx.recv() => if let Some((request, reply)) = req {
                    let id = self.next_admin;
                    self.next_admin += 1;
                    self.admin.insert(id, reply);
                    self.node.handle(Instant::now(), Input::Admin { id, request });
                },
                acc = listener.accept() => if let Ok((s, _)) = acc {
                    super::admin_socket::serve(s, admin_gid, admin_tx.clone());
                },
                _ = term.recv() => self.shutdown(),
                _ = int.recv() => self.shutdown(),
                _ = hup.recv() => self.reload(),
                _ = watchdog.tick(), if self.notify.watchdog().is_some() => self.notify.ping(),
                _ = tokio::time::sleep_until(deadline) => {
                    streak = 0;
                    self.node.handle_timeout(Instant::now());
                }
            }
        }
    }

    fn shutdown(&mut self) {
        self.notify.stopping();
        self.node.handle(Instant::now(), Input::Shutdown);
    }

    /// SIGHUP: cluster.conf read again from disk and handed to the core if it validates.
    fn reload(&mut self) {
        self.notify.reloading();
        tracing::info!("SIGHUP: reading {} again", self.store.display());
        match Store::open(&self.store).and_then(|s| s.current()) {
            Ok(config) => self.node.handle(Instant::now(), Input::Reload { config }),
            Err(e) => tracing::error!("{}: not reloaded: {e}", self.store.display()),
        }
        // The TLS files again (a renewed certificate); a changed cluster.conf follows when
        // the core has adopted it (`Output::Reconfigured`).
        let conf = self.node.conf().clone();
        super::http::reconfigure(&mut self.http, &conf, &self.node, self.http_ip, true);
        self.notify.reloaded();
    }

    /// Carries the core's outputs out; `Some(clean)` when the node is done.
    async fn carry_out(&mut self) -> Option<bool> {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Membership { bytes, .. } if self.cpg.is_some() => {
                    if let Some(link) = self.cpg.as_mut() {
                        link.send_engine(&bytes).await;
                    }
                }
                Output::Message { to, bytes } if self.cpg.is_some() => {
                    if let Some(link) = self.cpg.as_mut() {
                        link.send_message(to, &bytes).await;
                    }
                }
                Output::Membership { to, bytes } => {
                    if let Some(addr) = self.book.membership.get(&to) {
                        let sent = match &self.msock {
                            Some(m) => m.send_to(&bytes, addr).await.map(|_| ()),
                            None => Ok(()),
                        };
                        if let Err(e) = sent {
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
                    self.transport.set_peer_wire(to, self.node.peer_wire(to));
                    self.transport.send(to, addr, &msg, query, move |why| {
                        let _ = tx.send(Input::SyncFailed { to, why });
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
                            let _ = tx.send(Input::Written { write, result });
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
                Output::Addresses { conf } => self.learn(&conf),
                Output::Reconfigured { conf } => {
                    self.learn(&conf);
                    if let Some(link) = self.cpg.as_mut() {
                        link.reconfigure(&conf);
                    }
                    self.fencer.source().set((*conf).clone());
                    super::http::reconfigure(
                        &mut self.http,
                        &conf,
                        &self.node,
                        self.http_ip,
                        false,
                    );
                    if let Some(log) = &self.log {
                        let name = self.node.name().to_string();
                        log.reconfigure(&log_settings(&conf, &self.args, self.env, &name));
                    }
                }
                Output::Exit { clean } => {
                    if let (true, Some(link)) = (clean, self.cpg.as_mut()) {
                        link.leave();
                    }
                    return Some(clean);
                }
            }
        }
        self.members_for_agents();
        None
    }

    fn learn(&mut self, conf: &ccs::ClusterConf) {
        if let Err(e) = self.book.learn(conf) {
            tracing::error!("Node addresses keep their previous values: {e}");
        }
        self.transport
            .set_known(self.book.wire.values().map(|a| a.ip()));
    }

    /// The agents' copy of the members' names, after a view change.
    fn members_for_agents(&mut self) {
        let Some(v) = self.node.view() else { return };
        if self.members_view == Some(v.number) {
            return;
        }
        self.members_view = Some(v.number);
        // The sync transport takes format 3 frames only from members of protocol 1.
        for m in &v.members {
            self.transport.set_peer_wire(*m, self.node.peer_wire(*m));
        }
        let names: BTreeSet<String> = v
            .members
            .iter()
            .filter_map(|m| {
                self.node
                    .conf()
                    .nodes()
                    .iter()
                    .find(|n| n.nodeid() == Some(*m))
                    .map(|n| n.name().to_string())
            })
            .collect();
        if let Ok(mut m) = self.members.0.write() {
            *m = names;
        }
    }
}

/// A datagram from `sock`; never, without a socket.
async fn recv_from(
    sock: &Option<UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The next deliveries of corosync; never, without the corosync engine.
async fn next_cpg(cpg: &mut Option<super::corosync::Link>) -> Vec<super::corosync::Incoming> {
    match cpg {
        Some(link) => link.next().await,
        None => std::future::pending().await,
    }
}
