//! Fencing for the cluster: the fence-agents option/action framework, the CLI front shared by every
//! agent, and the native agents themselves (IPMI over LAN first).

pub mod agent;
pub mod ipmi;
