//! The daemon-to-daemon channel: authenticated messages between the `rgmanager` processes of
//! one cluster (orders from the coordinator, their results, local state reports, the
//! replicated service table, administrators' requests and their answers).
//!
//! Membership carries no application messages, so the daemons have their own channel: UDP
//! datagrams on the membership port + 1 of each node (docs/rgmanager.md). A datagram is
//! `RGMd`, a format version, the cluster name, sender id, incarnation, sequence number, a JSON
//! body and an HMAC-SHA256 over all of it with the cluster key, as the membership frames are.
//!
//! Format 3 (protocol 2, `crate::versions`, docs/wire-versions.md) also names the recipient
//! and the recipient's run (its incarnation) inside the MAC: an order recorded on its way to
//! node A cannot be delivered to node B, nor to a later run of A (whose replay filter is
//! empty after its restart). The sequence number counts per run of the sender, and the
//! receiver's [`ReplayFilter`] takes each number once. Format 2 (protocol 1) has no recipient;
//! it is sent to and accepted from peers of the previous release only, during an upgrade.
//! This module is sans-I/O: encoding, checking and the replay filter, tested without sockets.
//! Losing a datagram is harmless by design: every message is either repeated periodically (the
//! table, the reports) or retransmitted until answered (orders, deduplicated by their id).

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::admin::ServiceAction;
use crate::policy::NodeId;
use crate::state::{RgCode, ServiceState};

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: [u8; 4] = *b"RGMd";
/// Format 2: reports carry the fencing news and the leaving and failed-stop facts, fencing
/// news carries failure epochs.
pub const VERSION_2: u8 = 2;
/// Format 3: the recipient and its incarnation in the authenticated header.
pub const VERSION_3: u8 = 3;
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 8 + 8 + 4;
const HEADER_LEN_3: usize = 4 + 1 + 1 + 4 + 8 + 4 + 8 + 8 + 4;
const MAC_LEN: usize = 32;
/// The largest message accepted (a table of a few thousand services fits).
pub const MAX_BODY: usize = 60_000;

/// What runs on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Start,
    Stop,
    /// Start the stopped non-critical subtrees of a running service (`clusvcadm -c`).
    Convalesce,
}

/// One service in the replicated table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub state: ServiceState,
    pub owner: Option<NodeId>,
    pub last_owner: Option<NodeId>,
    pub frozen: bool,
    pub restarts: Vec<u64>,
    pub last_transition: u64,
    /// Runs partly (non-critical subtrees stopped): clustat's `P` flag.
    #[serde(default)]
    pub partial: bool,
}

/// A message between daemons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum Msg {
    /// Member → coordinator, periodically: the services this node runs (the truth a new
    /// coordinator rebuilds the table from).
    Report {
        running: Vec<String>,
        /// The sender has held a coordinator's service table (it belongs to a cluster that
        /// was already running): a new coordinator does startup fencing only when no member has.
        #[serde(default)]
        established: bool,
        /// The sender's view when it sent this (number and members): a new coordinator
        /// rebuilds only from reports of its own view, sent when the member installed it or
        /// later, so that it knows everything each member did before obeying it.
        view: u64,
        members: Vec<NodeId>,
        /// The sender is shutting down: it stops its services itself and leaves; nothing is
        /// to be placed on it.
        leaving: bool,
        /// Services whose stop failed here: their resources may still be up.
        failed: Vec<String>,
        /// The sender's fencing news, in the report itself so that a new coordinator, which
        /// rebuilds from every member's report, cannot miss a lost node.
        news: FenceNews,
        /// The newest coordinator term of the receiver's run this member has heard of (a
        /// [`Msg::Poll`]'s): the report was sent after it, so it shows every order of that
        /// run's earlier terms the member ran, and the member runs none of them from now on.
        /// 0: none heard (and from the previous release).
        #[serde(default, skip_serializing_if = "is_zero")]
        term: u64,
    },
    /// Coordinator → member: run `op` on `service`. Repeated until the result arrives; the
    /// member runs each id once and answers repeats with the result it has. `term`: the
    /// coordinator's term when it gave the order (0 from the previous release); a member that
    /// heard of a later term of that run ignores it.
    Order {
        id: u64,
        service: String,
        op: Op,
        #[serde(default, skip_serializing_if = "is_zero")]
        term: u64,
    },
    /// Member → coordinator: the outcome of an order.
    Done {
        id: u64,
        service: String,
        op: Op,
        ok: bool,
    },
    /// Coordinator → every member: the service table, after each change and periodically.
    Table {
        view: u64,
        services: Vec<Record>,
        /// `clusvcadm -l` holds cluster-wide.
        #[serde(default)]
        locked: bool,
        /// The coordinator's fencing news, in the table itself: a member that holds the table
        /// (and so counts as "established", which skips startup fencing) also knows which
        /// owners in it are lost and not fenced yet, even when every `Victims` datagram to it
        /// was lost. Absent from the previous release's tables.
        #[serde(default, skip_serializing_if = "FenceNews::is_empty")]
        news: FenceNews,
    },
    /// Member → coordinator: an administrator's request made on that member (`clusvcadm`),
    /// its target already resolved to a node id. Repeated until answered.
    Request {
        id: u64,
        action: ServiceAction,
        service: String,
        target: Option<NodeId>,
    },
    /// Member → coordinator: a status check found this service failed here (repeated at each
    /// failed check until the coordinator acts).
    StatusFailed { service: String },
    /// Member → coordinator: a status check stopped non-critical parts of this service here
    /// (repeated at each check while they stay stopped).
    StatusPartial { service: String },
    /// Member → coordinator: `clusvcadm -l` (true) or `-u` (false) made on that member.
    /// Repeated until answered with a `Reply`.
    Lock { id: u64, locked: bool },
    /// Coordinator → member: the answer, once the work is done.
    Reply {
        id: u64,
        code: RgCode,
        owner: Option<NodeId>,
    },
    /// Any daemon → every member, each second while there are any: the nodes it knows fenced
    /// (by the coordinator's fence device or an administrator's `fence_ack_manual`), and the
    /// lost ones not fenced yet with the services the table has on them. A daemon that joined
    /// after a node failed learns from it that the node is to be fenced, and that its services
    /// may still run there, should it become coordinator.
    Victims(FenceNews),
    /// Coordinator → member, while a new coordinator waits for the reports it rebuilds from:
    /// "report now, for my term `term`". Each takeover of a run is a new term. Sent only to a
    /// member this run gave orders under an earlier term, which may still be on their way:
    /// from this message on the member ignores them, and its next report (carrying the term)
    /// shows the ones it ran. Repeated each second until that report arrives. Protocol 2 only.
    Poll { term: u64 },
}

/// What a node knows of the failed nodes: the lost ones (not fenced yet) with the services
/// they held, and the fenced ones, each with its failure epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceNews {
    pub lost: Vec<LostNode>,
    pub fenced: Vec<Fenced>,
}

/// A field of a later release left out when it has its default: a message that does not use
/// it is encoded exactly as the previous release encoded it.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FenceNews {
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.fenced.is_empty()
    }
}

/// A node fenced after its failure of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fenced {
    pub node: NodeId,
    pub epoch: u64,
}

impl Msg {
    /// The message's kind, as its `msg` tag on the wire (for logs and the simulator).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Report { .. } => "report",
            Msg::Order { .. } => "order",
            Msg::Done { .. } => "done",
            Msg::Table { .. } => "table",
            Msg::Request { .. } => "request",
            Msg::StatusFailed { .. } => "status_failed",
            Msg::StatusPartial { .. } => "status_partial",
            Msg::Lock { .. } => "lock",
            Msg::Reply { .. } => "reply",
            Msg::Victims(_) => "victims",
            Msg::Poll { .. } => "poll",
        }
    }
}

/// A member that failed and is not fenced yet, with the services it held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostNode {
    pub node: NodeId,
    /// The failure: the incarnation of the node's run that failed (0: a node never seen, such
    /// as one startup fencing fences). News about one failure never settles another.
    pub epoch: u64,
    pub services: Vec<String>,
}

/// A checked message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The format: [`VERSION_3`], or [`VERSION_2`] to a peer of the previous release.
    pub version: u8,
    pub sender: NodeId,
    pub incarnation: u64,
    /// Format 3: the node and the run the message is for (0 and 0 in format 2).
    pub recipient: NodeId,
    pub recipient_incarnation: u64,
    pub seq: u64,
    pub msg: Msg,
}

/// The format to send to a peer that talks protocol `peer_wire` with us (`None`: not heard
/// yet, or no version in common: nothing is sent; the periodic repeats reach it once it is).
pub fn format_for(peer_wire: Option<u8>) -> Option<u8> {
    match peer_wire? {
        v if v >= crate::versions::V2 => Some(VERSION_3),
        _ => Some(VERSION_2),
    }
}

/// Whether a checked message may be believed by run `incarnation` of node `local`, which
/// talks protocol `peer_wire` with the sender and knows the sender's run `peer_incarnation`
/// from its heartbeats. Format 3 must name this node and this run; format 2 (which names no
/// recipient) is taken only from a peer of the previous release, from the run membership
/// hears: a recorded format 2 message cannot be sent to a node that talks format 3 with its
/// sender.
pub fn addressed(
    env: &Envelope,
    local: NodeId,
    incarnation: u64,
    peer_wire: Option<u8>,
    peer_incarnation: Option<u64>,
) -> Result<(), Reject> {
    match env.version {
        VERSION_3 if env.recipient == local && env.recipient_incarnation == incarnation => Ok(()),
        VERSION_3 => Err(Reject::Misaddressed),
        _ if format_for(peer_wire) == Some(VERSION_2)
            && peer_incarnation == Some(env.incarnation) =>
        {
            Ok(())
        }
        _ => Err(Reject::Version),
    }
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("not a daemon message")]
    Garbage,
    #[error("unknown format version")]
    Version,
    #[error("another cluster's message")]
    ForeignCluster,
    #[error("authentication failed (another cluster key?)")]
    BadMac,
    #[error("unreadable body")]
    Body,
    #[error("replayed or out of date")]
    Replayed,
    #[error("addressed to another node or another run of this one")]
    Misaddressed,
}

/// Encodes and checks messages for one cluster name and key.
#[derive(Clone)]
pub struct Codec {
    name: Vec<u8>,
    mac: HmacSha256,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keyed MAC state is secret material: never printed.
        f.debug_struct("Codec").finish_non_exhaustive()
    }
}

impl Codec {
    /// `None` for an empty cluster name or key.
    pub fn new(cluster: &str, key: &[u8]) -> Option<Codec> {
        let mut name = cluster.as_bytes().to_vec();
        name.truncate(255);
        if name.is_empty() || key.is_empty() {
            return None;
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
        Some(Codec { name, mac })
    }

    /// The message's bytes in its format (`env.version`: format 3 unless it says 2).
    pub fn encode(&self, env: &Envelope) -> Vec<u8> {
        // Serialising our own types cannot fail; an empty body would be refused on receipt.
        let body = serde_json::to_vec(&env.msg).unwrap_or_default();
        let v3 = env.version != VERSION_2;
        let mut out = Vec::with_capacity(HEADER_LEN_3 + self.name.len() + body.len() + MAC_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(if v3 { VERSION_3 } else { VERSION_2 });
        out.push(self.name.len() as u8);
        out.extend_from_slice(&env.sender.to_be_bytes());
        out.extend_from_slice(&env.incarnation.to_be_bytes());
        if v3 {
            out.extend_from_slice(&env.recipient.to_be_bytes());
            out.extend_from_slice(&env.recipient_incarnation.to_be_bytes());
        }
        out.extend_from_slice(&env.seq.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&body);
        let mut mac = self.mac.clone();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Checks a datagram: shape, version, cluster name, MAC, then the body (nothing of the
    /// body is parsed before the MAC is checked).
    pub fn decode(&self, bytes: &[u8]) -> Result<Envelope, Reject> {
        if bytes.len() < 6 || bytes[..4] != MAGIC {
            return Err(Reject::Garbage);
        }
        let version = bytes[4];
        let header = match version {
            VERSION_2 => HEADER_LEN,
            VERSION_3 => HEADER_LEN_3,
            _ => return Err(Reject::Version),
        };
        if bytes.len() < header + MAC_LEN {
            return Err(Reject::Garbage);
        }
        let n = usize::from(bytes[5]);
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let len = u32_at(header - 4) as usize;
        if len > MAX_BODY || bytes.len() != header + n + len + MAC_LEN {
            return Err(Reject::Garbage);
        }
        if bytes[header..header + n] != self.name[..] {
            return Err(Reject::ForeignCluster);
        }
        let signed = bytes.len() - MAC_LEN;
        let mut mac = self.mac.clone();
        mac.update(&bytes[..signed]);
        mac.verify_slice(&bytes[signed..])
            .map_err(|_| Reject::BadMac)?;
        let msg = serde_json::from_slice(&bytes[header + n..signed]).map_err(|_| Reject::Body)?;
        let (recipient, recipient_incarnation, seq) = if version == VERSION_3 {
            (u32_at(18), u64_at(22), u64_at(30))
        } else {
            (0, 0, u64_at(18))
        };
        Ok(Envelope {
            version,
            sender: u32_at(6),
            incarnation: u64_at(10),
            recipient,
            recipient_incarnation,
            seq,
            msg,
        })
    }
}

/// Refuses replays: per sender, a newer incarnation replaces the old one, and within one
/// incarnation each sequence number is accepted once and only if higher than the last.
/// Drops replayed messages: a sequence number seen before from a sender's incarnation, or
/// one from an older incarnation. Messages that arrive out of order are kept as long as they
/// are within the last [`REPLAY_WINDOW`] numbers (a window as IPsec's): one overtaken
/// datagram must not be lost, since what it says (a lost node, say) may not be repeated in
/// what overtook it.
#[derive(Debug, Default)]
pub struct ReplayFilter {
    /// Per sender: incarnation, highest sequence, and which of the numbers below it were seen
    /// (bit i: highest - 1 - i).
    last: HashMap<NodeId, (u64, u64, u128)>,
}

/// How far behind the highest sequence number a message may arrive.
pub const REPLAY_WINDOW: u64 = 128;

impl ReplayFilter {
    pub fn accept(&mut self, env: &Envelope) -> Result<(), Reject> {
        let entry = self.last.get(&env.sender).copied();
        let (inc, high, seen) = match entry {
            Some((inc, _, _)) if env.incarnation < inc => return Err(Reject::Replayed),
            Some((inc, high, seen)) if env.incarnation == inc => (inc, high, seen),
            // A new sender, or a restarted one.
            _ => {
                self.last.insert(env.sender, (env.incarnation, env.seq, 0));
                return Ok(());
            }
        };
        if env.seq > high {
            let shift = env.seq - high;
            let seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                // The old highest becomes bit shift-1.
                (seen << shift) | (1u128 << (shift - 1))
            };
            self.last.insert(env.sender, (inc, env.seq, seen));
            return Ok(());
        }
        let back = high - env.seq;
        if back == 0 || back > REPLAY_WINDOW {
            return Err(Reject::Replayed);
        }
        let bit = 1u128 << (back - 1);
        if seen & bit != 0 {
            return Err(Reject::Replayed);
        }
        self.last.insert(env.sender, (inc, high, seen | bit));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(seq: u64, msg: Msg) -> Envelope {
        Envelope {
            version: VERSION_3,
            sender: 2,
            incarnation: 7,
            recipient: 1,
            recipient_incarnation: 5,
            seq,
            msg,
        }
    }

    fn table() -> Msg {
        Msg::Table {
            view: 3,
            services: vec![Record {
                name: "service:web".into(),
                state: ServiceState::Started,
                owner: Some(1),
                last_owner: None,
                frozen: false,
                restarts: vec![],
                last_transition: 12,
                partial: true,
            }],
            locked: true,
            news: FenceNews {
                lost: vec![LostNode {
                    node: 1,
                    epoch: 9,
                    services: vec!["service:web".into()],
                }],
                fenced: vec![Fenced { node: 3, epoch: 4 }],
            },
        }
    }

    /// An order and a report from the previous release have no term: they read, with term 0.
    #[test]
    fn orders_and_reports_without_a_term_read() {
        let body = r#"{"msg":"order","id":3,"service":"service:a","op":"start"}"#;
        let msg: Msg = serde_json::from_str(body).unwrap();
        assert!(matches!(msg, Msg::Order { term: 0, .. }), "{msg:?}");
        let body = r#"{"msg":"report","running":[],"view":2,"members":[1],"leaving":false,
            "failed":[],"news":{"lost":[],"fenced":[]}}"#;
        let msg: Msg = serde_json::from_str(body).unwrap();
        assert!(matches!(msg, Msg::Report { term: 0, .. }), "{msg:?}");
    }

    /// A table from the previous release has no fencing news: it reads, with none.
    #[test]
    fn a_table_without_news_reads() {
        let body = r#"{"msg":"table","view":3,"services":[],"locked":false}"#;
        let msg: Msg = serde_json::from_str(body).unwrap();
        assert_eq!(
            msg,
            Msg::Table {
                view: 3,
                services: vec![],
                locked: false,
                news: FenceNews::default(),
            }
        );
    }

    #[test]
    fn round_trip_every_message() {
        let c = Codec::new("alpha", b"0123456789abcdef").unwrap();
        for msg in [
            Msg::Report {
                running: vec!["service:a".into()],
                established: true,
                view: 4,
                members: vec![1, 3],
                leaving: true,
                failed: vec!["service:a".into()],
                news: FenceNews {
                    lost: vec![LostNode {
                        node: 3,
                        epoch: 77,
                        services: vec!["service:b".into()],
                    }],
                    fenced: vec![Fenced { node: 4, epoch: 9 }],
                },
                term: 3,
            },
            Msg::Victims(FenceNews::default()),
            Msg::Order {
                id: 9,
                service: "service:a".into(),
                op: Op::Stop,
                term: 2,
            },
            Msg::Poll { term: 5 },
            Msg::Done {
                id: 9,
                service: "service:a".into(),
                op: Op::Start,
                ok: false,
            },
            table(),
            Msg::Request {
                id: 4,
                action: ServiceAction::Relocate,
                service: "service:a".into(),
                target: Some(3),
            },
            Msg::StatusFailed {
                service: "service:a".into(),
            },
            Msg::Reply {
                id: 4,
                code: RgCode::Success,
                owner: Some(3),
            },
        ] {
            let e = env(1, msg);
            assert_eq!(c.decode(&c.encode(&e)), Ok(e.clone()));
            let old = Envelope {
                version: VERSION_2,
                recipient: 0,
                recipient_incarnation: 0,
                ..e
            };
            assert_eq!(c.decode(&c.encode(&old)), Ok(old));
        }
    }

    #[test]
    fn wrong_key_other_cluster_garbage_and_tampering_are_refused() {
        let c = Codec::new("alpha", b"0123456789abcdef").unwrap();
        let bytes = c.encode(&env(1, table()));
        let other_key = Codec::new("alpha", b"fedcba9876543210").unwrap();
        assert_eq!(other_key.decode(&bytes), Err(Reject::BadMac));
        let other_cluster = Codec::new("beta", b"0123456789abcdef").unwrap();
        assert_eq!(other_cluster.decode(&bytes), Err(Reject::ForeignCluster));
        let same_len = Codec::new("gamma", b"0123456789abcdef").unwrap();
        assert_eq!(
            same_len.decode(
                &Codec::new("delta", b"0123456789abcdef")
                    .unwrap()
                    .encode(&env(1, table()))
            ),
            Err(Reject::ForeignCluster)
        );
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(c.decode(&b).is_err(), "flipped byte {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(c.decode(&bytes[..n]).is_err(), "truncated to {n} accepted");
        }
        assert_eq!(c.decode(b"RGMh garbage"), Err(Reject::Garbage));
        assert!(Codec::new("", b"k").is_none());
        assert!(Codec::new("a", b"").is_none());
    }

    #[test]
    fn replays_and_old_incarnations_are_refused() {
        let mut f = ReplayFilter::default();
        let mut e = env(5, table());
        assert_eq!(f.accept(&e), Ok(()));
        assert_eq!(f.accept(&e), Err(Reject::Replayed));
        // Overtaken, not replayed: kept once.
        e.seq = 4;
        assert_eq!(f.accept(&e), Ok(()));
        assert_eq!(f.accept(&e), Err(Reject::Replayed));
        e.seq = 6;
        assert_eq!(f.accept(&e), Ok(()));
        e.seq = 6 + REPLAY_WINDOW + 1;
        assert_eq!(f.accept(&e), Ok(()));
        // Beyond the window behind the highest: dropped, as the window cannot tell.
        e.seq = 6;
        assert_eq!(f.accept(&e), Err(Reject::Replayed));
        e.seq = 7;
        assert_eq!(f.accept(&e), Ok(()), "the oldest number the window holds");
        assert_eq!(f.accept(&e), Err(Reject::Replayed));
        // A restarted daemon starts its sequence again under a newer incarnation.
        e.incarnation = 8;
        e.seq = 1;
        assert_eq!(f.accept(&e), Ok(()));
        e.incarnation = 7;
        e.seq = 100;
        assert_eq!(f.accept(&e), Err(Reject::Replayed));
        e.sender = 3;
        assert_eq!(f.accept(&e), Ok(()), "senders are independent");
    }

    #[test]
    fn format_3_header_bytes_are_exact() {
        let c = Codec::new("ab", b"k").unwrap();
        let b = c.encode(&env(
            0x0102,
            Msg::StatusFailed {
                service: "s".into(),
            },
        ));
        assert_eq!(&b[..4], b"RGMd");
        assert_eq!(b[4], VERSION_3);
        assert_eq!(b[5], 2);
        assert_eq!(&b[6..10], &2u32.to_be_bytes());
        assert_eq!(&b[10..18], &7u64.to_be_bytes());
        assert_eq!(&b[18..22], &1u32.to_be_bytes(), "recipient");
        assert_eq!(&b[22..30], &5u64.to_be_bytes(), "recipient's run");
        assert_eq!(&b[30..38], &0x0102u64.to_be_bytes());
        let body = br#"{"msg":"status_failed","service":"s"}"#;
        assert_eq!(&b[38..42], &(body.len() as u32).to_be_bytes());
        assert_eq!(&b[42..44], b"ab");
        assert_eq!(&b[44..44 + body.len()], body);
        assert_eq!(b.len(), 44 + body.len() + 32);
    }

    #[test]
    fn only_the_named_run_of_the_named_node_takes_a_format_3_message() {
        let e = env(1, table());
        assert_eq!(addressed(&e, 1, 5, Some(2), Some(7)), Ok(()));
        assert_eq!(
            addressed(&e, 3, 5, Some(2), Some(7)),
            Err(Reject::Misaddressed),
            "another node"
        );
        assert_eq!(
            addressed(&e, 1, 6, Some(2), Some(7)),
            Err(Reject::Misaddressed),
            "a later run of the recipient"
        );
        // Format 2 only from a peer of the previous release, from its current run.
        let old = Envelope {
            version: VERSION_2,
            ..e
        };
        assert_eq!(addressed(&old, 1, 5, Some(1), Some(7)), Ok(()));
        assert_eq!(
            addressed(&old, 1, 5, Some(1), Some(6)),
            Err(Reject::Version)
        );
        assert_eq!(
            addressed(&old, 1, 5, Some(2), Some(7)),
            Err(Reject::Version)
        );
        assert_eq!(addressed(&old, 1, 5, None, None), Err(Reject::Version));
        assert_eq!(format_for(Some(2)), Some(VERSION_3));
        assert_eq!(format_for(Some(1)), Some(VERSION_2));
        assert_eq!(format_for(None), None);
    }
}
