//! The native agents, one module per device type; each provides an [`crate::agent::AgentSpec`]
//! and a [`crate::agent::FenceDevice`].

pub mod ipmilan;
