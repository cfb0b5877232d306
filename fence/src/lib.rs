//! Fencing for the cluster: the fence-agents option/action framework (`agent`), the CLI front
//! shared by every agent binary (`cli`), the IPMI protocol (`ipmi`), the APC switch dialog (`apc`) over
//! telnet (`telnet`) or SSH (`ssh`, host keys checked by `known_hosts`) on TCP tuned for dialogs
//! (`tcp`), the native agents
//! (`agents`), agents run as separate programs (`external`), and fencing a node from cluster.conf
//! (`node`). `apc_sim` is a simulated APC switch for demos and tests (no agent uses it).

pub mod agent;
pub mod agents;
pub mod apc;
pub mod apc_sim;
pub mod cli;
pub mod external;
pub mod ipmi;
pub mod known_hosts;
pub mod node;
pub mod node_cli;
pub mod ssh;
pub mod tcp;
pub mod telnet;
