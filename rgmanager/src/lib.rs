//! `rgmanager`: the resource group manager of the cluster.
//!
//! [`resource`] builds each service's resource tree from cluster.conf and runs it through the
//! resource agents; [`policy`] decides where services run and how they recover, as a pure
//! function; the `rg_test` tool ([`rg_test`]) shows and exercises those trees the way the
//! original `rg_test` did; [`demo`] is the README's first command.

pub mod admin;
pub mod cli;
pub mod clustat;
pub mod daemon;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod manuals;
pub mod membership;
pub mod node;
pub mod policy;
pub mod quorum;
pub mod resource;
pub mod rg_test;
pub mod sd_notify;
pub mod sim;
pub mod state;
pub mod versions;
