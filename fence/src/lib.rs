//! Fencing for the cluster: the fence-agents option/action framework (`agent`), the CLI front
//! shared by every agent binary (`cli`), the IPMI protocol (`ipmi`) and the native agents
//! (`agents`), and agents run as separate programs (`external`).

pub mod agent;
pub mod agents;
pub mod cli;
pub mod external;
pub mod ipmi;
