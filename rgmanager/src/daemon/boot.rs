//! The daemon's start: cluster.conf and the key loaded, this node found in it, the sockets
//! bound, the agents' thread, the sync listener and the status page started; then the event
//! loop ([`super::run`]) takes over. Nothing here decides anything about services.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use ccs::store::Store;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::args::Args;
use super::error::DaemonError;
use super::fencing::{ConfSource, Fencer};
use super::notify::Notify;
use super::run::{Exit, Shell};
use super::sync_transport::Transport;
use super::sync_wire::FrameCodec;
use crate::logging::{Environment, LogHandle, Settings};
use crate::membership::{self, key::ClusterKey, net, NodeId};
use crate::node::{Input, Node, Setup};
use crate::sd_notify::Notifier;
/// The log settings cluster.conf asks for. `RGMANAGER_LOG=stderr` keeps everything on standard
/// error (the tests and the demo, which run many daemons on one machine).
pub(super) fn log_settings(
    conf: &ccs::ClusterConf,
    a: &Args,
    env: Environment,
    node: &str,
) -> Settings {
    let (mut s, warnings) = Settings::from_conf(conf, a.debug, env);
    for w in warnings {
        tracing::warn!("{}: {w}", a.conf.display());
    }
    s.node = Some(node.to_string());
    if std::env::var_os("RGMANAGER_LOG").is_some_and(|v| v == "stderr") {
        s.to_syslog = false;
        s.to_logfile = false;
        s.journal = false;
    }
    s
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
pub(super) struct Book {
    pub(super) membership: BTreeMap<NodeId, SocketAddr>,
    pub(super) wire: BTreeMap<NodeId, SocketAddr>,
}

impl Book {
    pub(super) fn learn(&mut self, conf: &ccs::ClusterConf) -> Result<(), DaemonError> {
        let addrs = net::node_addrs(conf)?;
        for n in conf.nodes() {
            let Some(id) = n.nodeid() else { continue };
            let Some(m) = addrs.get(&id) else { continue };
            self.membership.insert(id, *m);
            self.wire.insert(id, wire_addr(n.name(), *m)?);
        }
        Ok(())
    }
}

/// The members' names, for the `lvm` agent (which strips a departed node's tag).
#[derive(Debug, Default)]
pub(super) struct Members(pub(super) RwLock<BTreeSet<String>>);

impl crate::resource::lvm::Members for Members {
    fn is_member(&self, node: &str) -> Option<bool> {
        self.0.read().ok().map(|m| m.contains(node))
    }
}

pub(super) fn start(
    a: &Args,
    notifier: Notifier,
    log: Option<&LogHandle>,
    env: Environment,
) -> Result<(), DaemonError> {
    let (conf, warnings) = ccs::load(&a.conf)?;
    let file = a.conf.display().to_string();
    for w in &warnings {
        tracing::warn!("{}", w.render(&file));
    }
    if let Some(w) = super::admin_socket::readable_by_others(&a.conf) {
        tracing::warn!("{w}");
    }
    let name = match &a.node {
        Some(n) => conf
            .node(n)
            .map(|n| n.name().to_string())
            .ok_or_else(|| DaemonError::UnknownNode(n.clone()))?,
        None => net::local_node(&conf, &net::hostname().ok_or(DaemonError::NoHostname)?)?,
    };
    if let Some(log) = log {
        log.reconfigure(&log_settings(&conf, a, env, &name));
    }
    let key = ClusterKey::load(&a.key)?;
    let config = Store::open(&a.conf)?.current()?;
    let setup = Setup {
        name: name.clone(),
        incarnation: membership::incarnation_now(),
        unix_now: unix_now(),
        initial_stop: !a.no_initial_stop,
        engine: a.engine.or(conf.engine()).unwrap_or_default(),
    };
    let setup_engine = setup.engine;
    let node = Node::new(setup, config, key.as_bytes(), Instant::now())?;
    let local = node.id();
    let mut book = Book::default();
    book.learn(&conf)?;
    let (Some(maddr), Some(waddr)) = (book.membership.get(&local), book.wire.get(&local)) else {
        return Err(DaemonError::UnknownNode(name));
    };
    let (maddr, waddr) = (*maddr, *waddr);
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

    let admin_gid = super::admin_socket::admin_gid(a.admin_group.as_deref())
        .map_err(DaemonError::AdminGroup)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(async {
        let listener = super::admin_socket::bind(&a.socket, admin_gid).map_err(io(&a.socket))?;
        // On corosync, corosync owns the membership (and cman's port 5405).
        let msock = match setup_engine {
            ccs::model::Engine::Embedded => Some(net::bind(maddr).await?),
            ccs::model::Engine::Corosync => None,
        };
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
        let cpg = match setup_engine {
            ccs::model::Engine::Corosync => Some(super::corosync::Link::open(local)?),
            ccs::model::Engine::Embedded => None,
        };
        tracing::info!("Resource Group Manager Starting");
        if cpg.is_some() {
            tracing::info!(
                "I am node {name}, node id {local}; membership and daemon messages through \
                 corosync, configuration sync on {waddr}"
            );
        } else {
            tracing::info!(
                "I am node {name}, node id {local}; membership on {maddr}, daemon messages on \
                 {waddr}"
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let news = {
            let tx = tx.clone();
            move |input: Input| tx.send(input).is_ok()
        };
        let members = Arc::new(Members::default());
        let agents = super::agents::spawn(news.clone(), name.clone(), members.clone())
            .map_err(DaemonError::Agents)?;
        let transport = Transport::new(sync_codec, local);
        transport.set_known(book.wire.values().map(|a| a.ip()));
        {
            let news = news.clone();
            transport.listen(sync_listener, move |from, msg, query| {
                news(Input::Sync { from, msg, query });
            });
        }
        let http_ip = maddr.ip();
        let http = super::http::Http::start(&conf, &node, http_ip);
        let shell = Shell {
            http,
            http_ip,
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
            notify: Notify::new(notifier),
            log: log.cloned(),
            args: a.clone(),
            env,
            members,
            members_view: None,
            cpg,
        };
        match shell.run(rx, listener).await {
            Exit::Clean => Ok(()),
            Exit::Duplicate => Err(DaemonError::Duplicate),
            Exit::CorosyncGone => Err(DaemonError::CorosyncGone),
        }
    });
    let _ = std::fs::remove_file(&a.socket);
    let _ = std::fs::remove_file(&pid_file);
    result
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
