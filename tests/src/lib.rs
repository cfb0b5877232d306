//! Cross-crate test support: simulators of devices the project fences (`apc_sim`), test hosts
//! made of network namespaces (`hosts`) and their BMCs (`bmc`, OpenIPMI's ipmi_sim), and the
//! fault lab built on them (`lab`, run by `tests/bench/cts`).

/// The APC switch simulator lives in the fence crate (the demo uses it too); re-exported here
/// where the tests and the `apc_sim` binary have always found it.
pub use fence::apc_sim;
pub mod bmc;
pub mod failover_bench;
pub mod hosts;
pub mod keepalived;
pub mod lab;
pub mod probe;
pub mod seed;
