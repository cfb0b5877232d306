//! The node daemon (`rgmanager`): one per node, it wires membership, quorum, the policy and the
//! resource agents into a running cluster, and answers `clustat` on its admin socket.
//!
//! - [`identity`]: which node of cluster.conf this machine is.
//! - [`args`]: the command line.
//! - [`wire`]: the authenticated daemon-to-daemon messages (sans-I/O).
//! - [`coord`]: the coordinator's table and orders (sans-I/O).
//! - [`fencing`]: fencing lost members (sans-I/O victims, worker threads through `fence::node`).
//! - [`sync_wire`]: the configuration-sync frames over TCP (sans-I/O).
//! - [`run`](mod@run): the I/O: sockets, the local executor thread, signals, and (in its child
//!   module `sync`) configuration sync and live reload.

pub mod args;
pub mod coord;
pub mod fencing;
pub mod identity;
pub mod run;
pub mod sync_wire;
pub mod wire;

pub use run::main;
