//! The node daemon (`rgmanager`): one per node, it wires membership, quorum, the policy and the
//! resource agents into a running cluster, and answers `clustat` on its admin socket.
//!
//! - [`identity`]: which node of cluster.conf this machine is.
//! - [`args`]: the command line.
//! - [`wire`]: the authenticated daemon-to-daemon messages (sans-I/O).
//! - [`coord`]: the coordinator's table and orders (sans-I/O).
//! - [`fencing`]: fencing lost members (sans-I/O victims, worker threads through `fence::node`).
//! - [`run`](mod@run): the I/O: sockets, the local executor thread, signals.

pub mod args;
pub mod coord;
pub mod fencing;
pub mod identity;
pub mod run;
pub mod wire;

pub use run::main;
