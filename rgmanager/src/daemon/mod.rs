//! The node daemon (`rgmanager`): one per node, a thin shell that runs the node core
//! ([`crate::node::Node`]) on real sockets, threads and files.
//!
//! - [`identity`]: which node of cluster.conf this machine is.
//! - [`args`]: the command line.
//! - [`run`](mod@run): the event loop: sockets, signals, and the core's outputs carried out;
//!   [`admin_socket`]: the admin socket's connections; [`notify`]: systemd's protocol;
//!   [`error`]: why it cannot start.
//! - [`agents`]: the thread that runs resource agents and their periodic status checks.
//! - [`fencing`]: the fence workers (threads through `fence::node`).
//! - [`sync_wire`]: the configuration-sync frames over TCP (sans-I/O);
//!   [`sync_transport`]: their connections.

pub mod admin_socket;
pub mod agents;
pub mod args;
pub mod error;
pub mod fencing;
pub mod identity;
pub mod notify;
pub mod run;
pub mod sync_transport;
pub mod sync_wire;

pub use run::main;
