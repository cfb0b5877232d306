//! IPMI v2.0 over LAN (RMCP+), as much of it as fencing needs: the packet layouts, the session
//! handshake and traffic as a sans-I/O state machine, and a small UDP driver around it.

pub mod client;
pub mod crypto;
pub mod packet;
pub mod session;
