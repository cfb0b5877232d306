//! The node daemon (`rgmanager`). So far: working out which node of cluster.conf this is.

pub mod identity;
