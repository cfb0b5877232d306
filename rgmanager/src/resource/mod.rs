//! `rgmanager::resource`: the resources of each service and how they are run.
//!
//! - [`rules`]: rgmanager's view of the RHCS rules table (`ccs::resource_types`).
//! - [`tree`]: the resource list and one tree per service from cluster.conf (references,
//!   inline resources, inheritance, instance limits, collisions, special attributes).
//! - [`walk`]: the start/stop/status order over a tree and what failures do to it.
//! - [`agent`]: the resource-agent trait, the registry and the agents that need nothing but a
//!   program (`service`, `script`).
//! - [`exec`]: commands within an operation's time limit, processes, the node name: what the
//!   native agents share.
//! - [`fs`]: the `fs` agent (mount, fsck, forced unmount, checks at depth).
//! - [`ip`]: the `ip` agent (floating addresses), its decisions as pure functions.
//! - [`netif`]: rtnetlink and the ARP / neighbour-advertisement frames `ip` needs.
//! - [`lvm`]: HA LVM, a volume group or logical volume owned through a tag.
//! - [`nfs`]: the `nfsexport` and `nfsclient` agents (the export table through `exportfs`).
//! - [`ocf`]: any OCF resource agent as a resource (`<ocf type= provider= …>`), its meta-data.
//! - [`systemd`]: a systemd unit as a resource (`<systemd unit=…>`), through systemctl.
//! - [`servers`]: the `apache`, `mysql` and `postgres-8` agents (generated configurations,
//!   pid files).
//! - [`runner`]: a tree run with real agents, with per-resource results.
//! - [`dump`]: the text `rg_test` prints.

pub mod agent;
pub mod dump;
pub mod exec;
pub mod fs;
pub mod ip;
pub mod lvm;
pub mod netif;
pub mod nfs;
pub mod ocf;
pub mod rules;
pub mod runner;
pub mod servers;
pub mod systemd;
pub mod tree;
pub mod walk;

pub use tree::{Forest, NodeId, ResId, ResourceDef, TreeError, TreeNode};
pub use walk::{Op, Walk};
