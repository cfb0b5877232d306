//! Helpers shared by the fence integration tests (each test file uses part of them).
#![allow(dead_code)]

pub mod ipmi_sim;
pub mod sshd;
