//! The configuration-sync transport: one TCP connection per message, on the daemon channel's
//! address (membership port + 1), with blocking std sockets on threads of their own (sync is
//! rare and small in count, and a 1 MB cluster.conf does not fit a UDP datagram).
//!
//! A sender connects, writes its frame, closes its side and reads until the receiver closes:
//! nothing comes back but, when the receiver could not authenticate the frame, the plain line
//! `RGMx authentication failed`, so that `ccs_sync` can say why a node refused. Answers travel
//! as messages of their own.
//!
//! Limits, so that a peer without the key costs little: at most [`MAX_CONNS`] connections
//! served at once, [`MAX_CONNS_PER_ADDR`] from one address, and [`MAX_STRANGER_CONNS`] in all
//! from addresses that are no node's in cluster.conf (more are closed at once, before a byte is
//! read: an attacker with many addresses cannot take the slots the nodes need), the header (at
//! most 391 bytes, authenticated before the body is read) within [`sync_wire::HEADER_TIME`],
//! each later read within the same time. A node whose connections leave from another address
//! than its cluster.conf one (a multi-homed host routing through another interface) counts as
//! a stranger: served still, from the smaller pool.
//!
//! Format 4 frames (protocol 2) are addressed: a frame for another node is dropped, a
//! `Request` carries a fresh nonce that the `Offer` answering it carries back, and an `Offer`
//! echoing a nonce this node is not waiting for is dropped. Format 3 frames are sent to and
//! taken from peers of the previous release only ([`Transport::set_peer_wire`]).

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ccs::sync::Message;

use super::sync_wire::{self, Address, Decoded, FrameCodec, FrameError, Nonce};
use crate::membership::NodeId;
use crate::node::SendFailure;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Writing a frame (a file of megabytes included).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed unread.
pub const MAX_CONNS: usize = 32;
/// Connections served at once from one address.
pub const MAX_CONNS_PER_ADDR: usize = 4;
/// Connections served at once from all the addresses no node of cluster.conf has.
pub const MAX_STRANGER_CONNS: usize = 8;
/// Request nonces kept per peer.
const ASKED_KEPT: usize = 4;

/// What the sending and the serving threads share.
#[derive(Default)]
struct Shared {
    /// The protocol each peer talks (from membership): 1 means format 3 frames.
    wires: HashMap<NodeId, u8>,
    /// Our latest requests' nonces (a few: a request may be repeated before its answer
    /// comes), by the peer asked: its `Offer` must carry one back.
    asked: HashMap<NodeId, Vec<Nonce>>,
    /// The nonce of the latest request of each peer: our next `Offer` to it carries it.
    owed: HashMap<NodeId, Nonce>,
    /// Connections being served, by source address.
    conns: HashMap<IpAddr, usize>,
    /// The nodes' addresses (cluster.conf's, as resolved at start and at each reload).
    known: HashSet<IpAddr>,
}

/// Sends and receives sync frames for one node.
#[derive(Clone)]
pub struct Transport {
    codec: Arc<FrameCodec>,
    local: NodeId,
    shared: Arc<Mutex<Shared>>,
}

impl Transport {
    pub fn new(codec: FrameCodec, local: NodeId) -> Transport {
        Transport {
            codec: Arc::new(codec),
            local,
            shared: Arc::default(),
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// The protocol version this node talks with `peer` (membership's `peer_wire`): format 3
    /// frames go to and are taken from a peer of protocol 1 only.
    pub fn set_peer_wire(&self, peer: NodeId, wire: Option<u8>) {
        let mut sh = self.shared();
        match wire {
            Some(v) => sh.wires.insert(peer, v),
            None => sh.wires.remove(&peer),
        };
    }

    /// The nodes' addresses: connections from any other address share
    /// [`MAX_STRANGER_CONNS`] slots.
    pub fn set_known(&self, addrs: impl IntoIterator<Item = IpAddr>) {
        self.shared().known = addrs.into_iter().collect();
    }

    fn format_for(&self, peer: NodeId) -> u8 {
        match self.shared().wires.get(&peer) {
            Some(v) if *v < crate::versions::V2 => sync_wire::FORMAT_3,
            _ => sync_wire::FORMAT_4,
        }
    }

    /// Sends `msg` to `to` at `addr` from a thread; `failed` hears of a failure.
    pub fn send(
        &self,
        to: NodeId,
        addr: SocketAddr,
        msg: &Message,
        query: bool,
        failed: impl FnOnce(SendFailure) + Send + 'static,
    ) {
        let format = self.format_for(to);
        let nonce = match msg {
            Message::Request { .. } => {
                let Some(n) = sync_wire::fresh_nonce() else {
                    tracing::warn!("Configuration sync: no random numbers for a request");
                    return failed(SendFailure::NoAnswer);
                };
                let mut sh = self.shared();
                let asked = sh.asked.entry(to).or_default();
                if asked.len() >= ASKED_KEPT {
                    asked.remove(0);
                }
                asked.push(n);
                n
            }
            Message::Offer { .. } => self.shared().owed.remove(&to).unwrap_or_default(),
            _ => Nonce::default(),
        };
        let address = Address {
            format,
            recipient: to,
            nonce,
        };
        let Some(frame) = self.codec.encode(self.local, msg, query, address) else {
            tracing::warn!("Configuration sync: no random numbers for a frame to node {to}");
            return failed(SendFailure::NoAnswer);
        };
        let spawned = std::thread::Builder::new()
            .name(format!("sync-to-{to}"))
            .spawn(move || {
                if let Err(why) = deliver(addr, &frame) {
                    failed(why);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("Configuration sync: cannot send to node {to}: {e}");
        }
    }

    /// Serves the sync port: each connection carries one message, handed to `deliver`
    /// (sender, message, query) once authenticated.
    pub fn listen(
        &self,
        listener: TcpListener,
        deliver: impl Fn(NodeId, Message, bool) + Send + Sync + 'static,
    ) {
        let me = self.clone();
        let deliver = Arc::new(deliver);
        let spawned = std::thread::Builder::new()
            .name("sync-listen".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(stream) = conn else { continue };
                    let Some(slot) = me.take_slot(&stream) else {
                        // Over a limit: closed before a byte is read.
                        continue;
                    };
                    let me = me.clone();
                    let deliver = deliver.clone();
                    let _ = std::thread::Builder::new()
                        .name("sync-conn".into())
                        .spawn(move || {
                            me.serve_conn(stream, &*deliver);
                            me.release_slot(slot);
                        });
                }
            });
        if let Err(e) = spawned {
            tracing::error!("Configuration sync: cannot listen: {e}");
        }
    }
}

fn deliver(addr: SocketAddr, frame: &[u8]) -> Result<(), SendFailure> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| SendFailure::Unreachable(format!("{addr}: {e}")))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    if s.write_all(frame).is_err() {
        return Err(SendFailure::NoAnswer);
    }
    let _ = s.shutdown(Shutdown::Write);
    // The receiver closes once it has the frame; a refusal of our key comes back first.
    let mut back = Vec::new();
    let _ = s.take(256).read_to_end(&mut back);
    if back.starts_with(&sync_wire::AUTH_FAILED[..4]) {
        return Err(SendFailure::AuthRefused);
    }
    Ok(())
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // The maps stay consistent whatever thread panicked holding them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transport {
    /// A serving slot for a new connection, if under every limit.
    fn take_slot(&self, s: &TcpStream) -> Option<IpAddr> {
        let ip = s.peer_addr().ok()?.ip();
        self.take_slot_for(ip)
    }

    fn take_slot_for(&self, ip: IpAddr) -> Option<IpAddr> {
        let mut sh = self.shared();
        let total: usize = sh.conns.values().sum();
        let mine = sh.conns.get(&ip).copied().unwrap_or(0);
        let strangers = || -> usize {
            sh.conns
                .iter()
                .filter(|(a, _)| !sh.known.contains(a))
                .map(|(_, n)| n)
                .sum()
        };
        if total >= MAX_CONNS
            || mine >= MAX_CONNS_PER_ADDR
            || (!sh.known.contains(&ip) && strangers() >= MAX_STRANGER_CONNS)
        {
            tracing::debug!("configuration sync: connection from {ip} over the limit, closed");
            return None;
        }
        sh.conns.insert(ip, mine + 1);
        Some(ip)
    }

    fn release_slot(&self, ip: IpAddr) {
        let mut sh = self.shared();
        if let Some(n) = sh.conns.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sh.conns.remove(&ip);
            }
        }
    }

    /// Whether a checked frame is for this node and answers what it asked; records the
    /// nonce of a request to answer.
    fn admit(&self, d: &Decoded) -> Result<(), String> {
        let mut sh = self.shared();
        if d.address.format == sync_wire::FORMAT_3 {
            if sh.wires.get(&d.sender) != Some(&crate::versions::V1) {
                return Err(format!(
                    "format 3 frame from node {}, which talks a newer protocol (a replay?)",
                    d.sender
                ));
            }
            return Ok(());
        }
        if d.address.recipient != self.local {
            return Err(format!("addressed to node {}", d.address.recipient));
        }
        match &d.msg {
            Message::Request { .. } => {
                sh.owed.insert(d.sender, d.address.nonce);
            }
            Message::Offer { .. } if d.address.nonce != Nonce::default() => {
                let asked = sh.asked.entry(d.sender).or_default();
                let Some(i) = asked.iter().position(|n| *n == d.address.nonce) else {
                    return Err("an answer to no request of ours (a replay?)".into());
                };
                asked.remove(i);
            }
            _ => {}
        }
        Ok(())
    }

    fn serve_conn(
        &self,
        mut s: TcpStream,
        deliver: &(dyn Fn(NodeId, Message, bool) + Send + Sync),
    ) {
        let peer = s
            .peer_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        // Each read must make progress within the header's time, and the header must be
        // complete within it.
        let _ = s.set_read_timeout(Some(sync_wire::HEADER_TIME));
        let _ = s.set_write_timeout(Some(IO_TIMEOUT));
        let deadline = Instant::now() + sync_wire::HEADER_TIME;
        let codec = &self.codec;
        let frame = match codec.read_frame(&mut s, Some(deadline)) {
            Ok(f) => f,
            Err(FrameError::BadMac) => return refuse_key(&mut s, &peer),
            Err(e) => {
                tracing::debug!("configuration sync connection from {peer} dropped: {e}");
                return;
            }
        };
        let decoded = match codec.decode(&frame) {
            Ok(d) => d,
            Err(FrameError::BadMac) => return refuse_key(&mut s, &peer),
            Err(e) => {
                tracing::warn!("Refused a configuration transfer from {peer}: {e}");
                return;
            }
        };
        if decoded.sender == self.local {
            return;
        }
        if let Err(why) = self.admit(&decoded) {
            tracing::warn!("Refused a configuration transfer from {peer}: {why}");
            return;
        }
        deliver(decoded.sender, decoded.msg, decoded.query);
    }
}

fn refuse_key(s: &mut TcpStream, peer: &str) {
    tracing::error!(
        "Refused a configuration transfer from {peer}: authentication failed \
         (another cluster key? Every node needs the same /etc/cluster/authkey)"
    );
    let _ = s.write_all(sync_wire::AUTH_FAILED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn transport() -> Transport {
        let codec = FrameCodec::new("c", &[7; 32]).unwrap();
        Transport::new(codec, 1)
    }

    #[test]
    fn strangers_cannot_take_the_slots_the_nodes_need() {
        let t = transport();
        let node = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        t.set_known([node, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        // Twelve addresses of no node, four connections each: eight slots in all.
        let mut taken = 0;
        for i in 0..12u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
            for _ in 0..MAX_CONNS_PER_ADDR {
                taken += usize::from(t.take_slot_for(ip).is_some());
            }
        }
        assert_eq!(taken, MAX_STRANGER_CONNS);
        // A node still gets its share; its own limit holds.
        for _ in 0..MAX_CONNS_PER_ADDR {
            assert_eq!(t.take_slot_for(node), Some(node));
        }
        assert_eq!(t.take_slot_for(node), None);
        // A stranger's slot freed is a stranger's to take again.
        let first = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0));
        t.release_slot(first);
        assert!(t
            .take_slot_for(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)))
            .is_some());
        assert!(t.take_slot_for(first).is_none());
    }
}
