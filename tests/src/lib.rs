//! Cross-crate test support: simulators of devices the project fences (`apc_sim`), test hosts
//! made of network namespaces (`hosts`) and their BMCs (`bmc`, OpenIPMI's ipmi_sim).

pub mod apc_sim;
pub mod bmc;
pub mod failover_bench;
pub mod hosts;
pub mod keepalived;
pub mod probe;
pub mod seed;
