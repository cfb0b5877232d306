//! The node daemon (`rgmanager`): one per node, a thin shell that runs the node core
//! ([`crate::node::Node`]) on real sockets, threads and files.
//!
//! - [`identity`]: which node of cluster.conf this machine is.
//! - [`args`]: the command line.
//! - `boot`: the start (configuration, key, sockets, threads) before the event loop.
//! - [`run`](mod@run): the event loop: sockets, signals, and the core's outputs carried out;
//!   [`admin_socket`]: the admin socket's connections; [`notify`]: systemd's protocol;
//!   [`error`]: why it cannot start.
//! - [`agents`]: the thread that runs resource agents and their periodic status checks.
//! - [`fencing`]: the fence workers (threads through `fence::node`).
//! - [`corosync`]: the link to corosync (CPG, quorum) when the engine is corosync (cargo
//!   feature `corosync`; without it, choosing corosync is refused at start-up).
//! - [`http`](mod@http): the status page, `/metrics` and the health checks (docs/http.md).
//! - [`sync_wire`]: the configuration-sync frames over TCP (sans-I/O);
//!   [`sync_transport`]: their connections.

pub mod admin_socket;
pub mod agents;
pub mod args;
mod boot;
#[cfg(feature = "corosync")]
pub mod corosync;
#[cfg(not(feature = "corosync"))]
#[path = "corosync_absent.rs"]
pub mod corosync;
pub mod error;
pub mod fencing;
pub mod http;
pub mod identity;
pub mod notify;
pub mod run;
pub mod sync_transport;
pub mod sync_wire;

pub use run::main;
