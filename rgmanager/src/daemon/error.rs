//! Why the daemon cannot start.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::membership::{self, net};

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
    #[error("corosync went away; the services of this node were stopped")]
    CorosyncGone,
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
    /// `--admin-group` names a group this system does not have.
    #[error("{0}")]
    AdminGroup(String),
    #[error(transparent)]
    Corosync(#[from] super::corosync::CorosyncError),
}
