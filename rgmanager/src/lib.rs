//! `rgmanager`: the resource group manager: resources, the placement policy, membership, the
//! node daemon and its tools (clustat, clusvcadm, rg_test). So far: the demo.

pub mod demo;
