//! Cross-crate test support: simulators of devices the project fences (`apc_sim`).

pub mod apc_sim;
