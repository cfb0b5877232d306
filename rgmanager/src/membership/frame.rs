//! The membership wire format: one authenticated datagram per message.
//!
//! It exists so that the bytes on the wire are defined in one place, with the checks every
//! received datagram goes through before the state machine sees it. Layout (integers
//! big-endian):
//!
//! ```text
//! offset size field
//!  0      4   magic "RGMh"
//!  4      1   format version (1)
//!  5      1   kind: 1 heartbeat, 2 leave ("Member N shutting down")
//!  6      1   n = length of the cluster name (1..=255)
//!  7      1   reserved, 0
//!  8      4   sender node id
//! 12      8   sender incarnation (its start time in microseconds since the Unix epoch)
//! 20      8   sequence number (per incarnation, starts at 1, +1 per frame)
//! 28      2   p = payload length
//! 30      n   cluster name
//! 30+n    p   payload
//! 30+n+p 32   HMAC-SHA256 with the cluster key over bytes 0 .. 30+n+p
//! ```
//!
//! Heartbeat payload, format 1: config_version u64, installed view number u64, then three id
//! lists, each a u16 count followed by u32 node ids in ascending order: the installed view's
//! members, the nodes the sender hears, the sender's candidate view. A count of 0xFFFF means
//! "the same ids as the list before" (a settled cluster sends one list, not three).
//!
//! Format 2 (protocol 2, `crate::versions`) has the same header; its heartbeat payload starts
//! with the protocol range the sender speaks (min u8, max u8), then config_version and view as
//! in format 1, the members' ids, then the heard nodes as (u32 id, u64 incarnation) pairs: the
//! run of each node the sender hears. A node counts a peer as connected only when the peer's
//! heartbeat names this node's *current* run, which no frame recorded before this run started
//! can do: a replayed heartbeat may make a dead peer heard, never connected, and never makes a
//! node believe that another daemon claims its id. The candidate list follows (0xFFFF: the
//! heard nodes' ids). A leave frame has an empty payload in both formats.
//!
//! Checks, in order, each with its own counter: length and magic (garbage or truncated), format
//! version, cluster name (another cluster on the same port is not an attack, so it is counted
//! apart and before the MAC, whose key it would not share anyway), MAC (constant-time), payload
//! shape. Sender and replay checks need the state machine and live there.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::NodeId;
use crate::versions::{self, Range};

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: [u8; 4] = *b"RGMh";
/// The format of protocol 1.
pub const VERSION_1: u8 = 1;
/// The format of protocol 2: heartbeats carry the sender's protocol range and the runs it hears.
pub const VERSION_2: u8 = 2;
pub const HEADER_LEN: usize = 30;
pub const MAC_LEN: usize = 32;
/// The most ids a list may carry (cman's limit of nodes was far lower).
pub const MAX_IDS: usize = 1024;
/// A list count meaning "the same ids as the list before".
pub const SAME_AS_PREVIOUS: u16 = 0xFFFF;

/// The kind of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Heartbeat = 1,
    Leave = 2,
}

/// What a heartbeat says about its sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    pub config_version: u64,
    /// Number of the sender's installed view (0 before its first view).
    pub view: u64,
    /// Members of the sender's installed view.
    pub members: Vec<NodeId>,
    /// Nodes the sender currently hears (itself included).
    pub heard: Vec<NodeId>,
    /// The view the sender wants to install.
    pub candidate: Vec<NodeId>,
    /// Format 2: the incarnation of each node of `heard` (same order); empty in format 1.
    pub heard_inc: Vec<u64>,
    /// Format 2: the protocol versions the sender speaks; `None` in format 1 (a sender of
    /// format 1 only speaks protocol 1).
    pub speaks: Option<Range>,
}

impl Heartbeat {
    /// The sender hears `id`; in format 2, only if it hears that node's run `incarnation`
    /// (a frame recorded before that run started cannot say so).
    pub fn hears(&self, id: NodeId, incarnation: u64) -> bool {
        match self.heard.binary_search(&id) {
            Ok(_) if self.heard_inc.is_empty() => true,
            Ok(i) => self.heard_inc.get(i) == Some(&incarnation),
            Err(_) => false,
        }
    }

    /// The run of `id` the sender hears (format 2 only).
    pub fn heard_run(&self, id: NodeId) -> Option<u64> {
        let i = self.heard.binary_search(&id).ok()?;
        self.heard_inc.get(i).copied()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Heartbeat(Heartbeat),
    Leave,
}

/// A decoded, authenticated frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The format: [`VERSION_1`] or [`VERSION_2`].
    pub version: u8,
    pub sender: NodeId,
    pub incarnation: u64,
    pub seq: u64,
    pub payload: Payload,
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not one of our frames, or its lengths do not add up.
    Garbage,
    /// Shorter than its header says.
    Truncated,
    /// A format version this build does not speak.
    Version,
    /// Another cluster's frame.
    ForeignCluster,
    /// The MAC does not match: another key, or tampering.
    BadMac,
}

/// Encodes and checks frames for one cluster name and key.
#[derive(Clone)]
pub struct Codec {
    name: Vec<u8>,
    mac: HmacSha256,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keyed MAC state is secret material: never printed.
        f.debug_struct("Codec")
            .field("cluster", &String::from_utf8_lossy(&self.name))
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec for `cluster` with `key`. Cluster names are 1..=255 bytes (cman allowed 15);
    /// a longer one is cut at 255 bytes, which every node does alike. `None` for an empty name
    /// or an empty key (HMAC itself takes keys of any length).
    pub fn new(cluster: &str, key: &[u8]) -> Option<Self> {
        let mut name = cluster.as_bytes().to_vec();
        name.truncate(255);
        if name.is_empty() || key.is_empty() {
            return None;
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
        Some(Codec { name, mac })
    }

    /// The frame's bytes in its format (`frame.version`; format 2 unless it says 1).
    pub fn encode(&self, frame: &Frame) -> Vec<u8> {
        let v2 = frame.version != VERSION_1;
        let mut payload = Vec::new();
        let kind = match &frame.payload {
            Payload::Heartbeat(h) if v2 => {
                let r = h.speaks.unwrap_or(Range::BUILD);
                payload.extend_from_slice(&[r.min, r.max]);
                payload.extend_from_slice(&h.config_version.to_be_bytes());
                payload.extend_from_slice(&h.view.to_be_bytes());
                put_ids(&mut payload, &h.members);
                let n = h.heard.len().min(MAX_IDS);
                payload.extend_from_slice(&(n as u16).to_be_bytes());
                for (i, id) in h.heard[..n].iter().enumerate() {
                    payload.extend_from_slice(&id.to_be_bytes());
                    let inc = h.heard_inc.get(i).copied().unwrap_or(0);
                    payload.extend_from_slice(&inc.to_be_bytes());
                }
                if h.candidate == h.heard {
                    payload.extend_from_slice(&SAME_AS_PREVIOUS.to_be_bytes());
                } else {
                    put_ids(&mut payload, &h.candidate);
                }
                Kind::Heartbeat
            }
            Payload::Heartbeat(h) => {
                payload.extend_from_slice(&h.config_version.to_be_bytes());
                payload.extend_from_slice(&h.view.to_be_bytes());
                let mut previous: Option<&Vec<NodeId>> = None;
                for list in [&h.members, &h.heard, &h.candidate] {
                    if previous == Some(list) {
                        // In a settled cluster the three lists are equal: say so in 2 bytes.
                        payload.extend_from_slice(&SAME_AS_PREVIOUS.to_be_bytes());
                    } else {
                        put_ids(&mut payload, list);
                    }
                    previous = Some(list);
                }
                Kind::Heartbeat
            }
            Payload::Leave => Kind::Leave,
        };
        let mut out = Vec::with_capacity(HEADER_LEN + self.name.len() + payload.len() + MAC_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(if v2 { VERSION_2 } else { VERSION_1 });
        out.push(kind as u8);
        out.push(self.name.len() as u8);
        out.push(0);
        out.extend_from_slice(&frame.sender.to_be_bytes());
        out.extend_from_slice(&frame.incarnation.to_be_bytes());
        out.extend_from_slice(&frame.seq.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&payload);
        let mut mac = self.mac.clone();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Frame, Reject> {
        if bytes.len() < 4 || bytes[..4] != MAGIC {
            return Err(Reject::Garbage);
        }
        if bytes.len() < HEADER_LEN {
            return Err(Reject::Truncated);
        }
        let version = bytes[4];
        if version != VERSION_1 && version != VERSION_2 {
            return Err(Reject::Version);
        }
        let kind = match bytes[5] {
            1 => Kind::Heartbeat,
            2 => Kind::Leave,
            _ => return Err(Reject::Garbage),
        };
        let n = usize::from(bytes[6]);
        if n == 0 || bytes[7] != 0 {
            return Err(Reject::Garbage);
        }
        let p = usize::from(u16::from_be_bytes([bytes[28], bytes[29]]));
        let body = HEADER_LEN + n + p;
        if bytes.len() < body + MAC_LEN {
            return Err(Reject::Truncated);
        }
        if bytes.len() > body + MAC_LEN {
            return Err(Reject::Garbage);
        }
        if bytes[HEADER_LEN..HEADER_LEN + n] != self.name[..] {
            return Err(Reject::ForeignCluster);
        }
        let mut mac = self.mac.clone();
        mac.update(&bytes[..body]);
        mac.verify_slice(&bytes[body..])
            .map_err(|_| Reject::BadMac)?;
        let sender = u32::from_be_bytes(arr(&bytes[8..12]));
        let incarnation = u64::from_be_bytes(arr(&bytes[12..20]));
        let seq = u64::from_be_bytes(arr(&bytes[20..28]));
        let payload = &bytes[HEADER_LEN + n..body];
        let payload = match kind {
            Kind::Leave if payload.is_empty() => Payload::Leave,
            Kind::Leave => return Err(Reject::Garbage),
            Kind::Heartbeat if version == VERSION_1 => {
                Payload::Heartbeat(decode_heartbeat(payload)?)
            }
            Kind::Heartbeat => Payload::Heartbeat(decode_heartbeat_2(payload)?),
        };
        Ok(Frame {
            version,
            sender,
            incarnation,
            seq,
            payload,
        })
    }
}

/// The version byte of what looks like a membership frame (for the refusal's log line, before
/// anything is authenticated).
pub fn peek_version(bytes: &[u8]) -> Option<u8> {
    (bytes.len() >= HEADER_LEN && bytes[..4] == MAGIC).then(|| bytes[4])
}

fn put_ids(payload: &mut Vec<u8>, list: &[NodeId]) {
    let n = list.len().min(MAX_IDS);
    payload.extend_from_slice(&(n as u16).to_be_bytes());
    for id in &list[..n] {
        payload.extend_from_slice(&id.to_be_bytes());
    }
}

fn take<'a>(p: &mut &'a [u8], n: usize) -> Result<&'a [u8], Reject> {
    if p.len() < n {
        return Err(Reject::Garbage);
    }
    let (a, b) = p.split_at(n);
    *p = b;
    Ok(a)
}

fn id_list(p: &mut &[u8], previous: Option<&Vec<NodeId>>) -> Result<Vec<NodeId>, Reject> {
    let count = u16::from_be_bytes(arr(take(p, 2)?));
    if count == SAME_AS_PREVIOUS {
        return previous.cloned().ok_or(Reject::Garbage);
    }
    let n = usize::from(count);
    if n > MAX_IDS {
        return Err(Reject::Garbage);
    }
    let raw = take(p, n * 4)?;
    let ids: Vec<NodeId> = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(arr(c)))
        .collect();
    ascending(&ids)?;
    Ok(ids)
}

/// Ascending and without duplicates, so that comparing two lists compares two sets.
fn ascending(ids: &[NodeId]) -> Result<(), Reject> {
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Reject::Garbage);
    }
    Ok(())
}

fn decode_heartbeat_2(mut p: &[u8]) -> Result<Heartbeat, Reject> {
    let r = take(&mut p, 2)?;
    let speaks = Range {
        min: r[0],
        max: r[1],
    };
    if speaks.min > speaks.max || speaks.min < versions::V1 {
        return Err(Reject::Garbage);
    }
    let config_version = u64::from_be_bytes(arr(take(&mut p, 8)?));
    let view = u64::from_be_bytes(arr(take(&mut p, 8)?));
    let members = id_list(&mut p, None)?;
    let n = usize::from(u16::from_be_bytes(arr(take(&mut p, 2)?)));
    if n > MAX_IDS {
        return Err(Reject::Garbage);
    }
    let raw = take(&mut p, n * 12)?;
    let (heard, heard_inc): (Vec<NodeId>, Vec<u64>) = raw
        .chunks_exact(12)
        .map(|c| {
            (
                u32::from_be_bytes(arr(&c[..4])),
                u64::from_be_bytes(arr(&c[4..])),
            )
        })
        .unzip();
    ascending(&heard)?;
    let candidate = id_list(&mut p, Some(&heard))?;
    if !p.is_empty() {
        return Err(Reject::Garbage);
    }
    Ok(Heartbeat {
        config_version,
        view,
        members,
        heard,
        candidate,
        heard_inc,
        speaks: Some(speaks),
    })
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

fn decode_heartbeat(mut p: &[u8]) -> Result<Heartbeat, Reject> {
    let config_version = u64::from_be_bytes(arr(take(&mut p, 8)?));
    let view = u64::from_be_bytes(arr(take(&mut p, 8)?));
    let members = id_list(&mut p, None)?;
    let heard = id_list(&mut p, Some(&members))?;
    let candidate = id_list(&mut p, Some(&heard))?;
    if !p.is_empty() {
        return Err(Reject::Garbage);
    }
    Ok(Heartbeat {
        config_version,
        view,
        members,
        heard,
        candidate,
        heard_inc: Vec::new(),
        speaks: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> Codec {
        Codec::new("alpha", b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn heartbeat() -> Frame {
        Frame {
            version: VERSION_1,
            sender: 2,
            incarnation: 0x0102030405060708,
            seq: 9,
            payload: Payload::Heartbeat(Heartbeat {
                config_version: 7,
                view: 3,
                members: vec![1, 2],
                heard: vec![1, 2, 3],
                candidate: vec![1, 2, 3],
                ..Heartbeat::default()
            }),
        }
    }

    /// Recomputes the MAC of a modified frame, so that the check after the MAC is reached.
    fn reseal(c: &Codec, mut b: Vec<u8>) -> Vec<u8> {
        let body = b.len() - MAC_LEN;
        b.truncate(body);
        let mut m = c.mac.clone();
        m.update(&b);
        b.extend_from_slice(&m.finalize().into_bytes());
        b
    }

    #[test]
    fn heartbeat_bytes_are_exact() {
        let c = codec();
        let b = c.encode(&heartbeat());
        let mut want = Vec::new();
        want.extend_from_slice(b"RGMh\x01\x01\x05\x00");
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        want.extend_from_slice(&[0, 42]);
        want.extend_from_slice(b"alpha");
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        want.extend_from_slice(&[0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        want.extend_from_slice(&[0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
        want.extend_from_slice(&[0xFF, 0xFF]);
        assert_eq!(&b[..want.len()], &want[..]);
        assert_eq!(b.len(), want.len() + MAC_LEN);
        // The MAC is HMAC-SHA256 of everything before it, with the cluster key.
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        m.update(&want);
        assert_eq!(&b[want.len()..], &m.finalize().into_bytes()[..]);
        assert_eq!(c.decode(&b), Ok(heartbeat()));
    }

    #[test]
    fn repeated_lists_are_elided() {
        let c = codec();
        let settled = |ids: Vec<NodeId>| Frame {
            payload: Payload::Heartbeat(Heartbeat {
                config_version: 1,
                view: 4,
                members: ids.clone(),
                heard: ids.clone(),
                candidate: ids,
                ..Heartbeat::default()
            }),
            ..heartbeat()
        };
        let f = settled((1..=64).collect());
        let b = c.encode(&f);
        let payload = &b[HEADER_LEN + 5..b.len() - MAC_LEN];
        assert_eq!(payload.len(), 16 + 2 + 64 * 4 + 2 + 2);
        assert_eq!(&payload[payload.len() - 4..], &[0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(c.decode(&b), Ok(f));
        // Empty lists too (a node before its first view).
        let f = settled(vec![]);
        assert_eq!(c.decode(&c.encode(&f)), Ok(f));
        // "Same as before" for the first list has nothing to refer to.
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0]);
        assert_eq!(c.decode(&sealed(&c, 1, &p)), Err(Reject::Garbage));
        // A count beyond the limit.
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&[0x04, 0x01]);
        p.extend(std::iter::repeat_n(0u8, 1025 * 4));
        p.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(c.decode(&sealed(&c, 1, &p)), Err(Reject::Garbage));
        // The same payload with valid lists is accepted: the helper itself is right.
        let mut p = vec![0u8; 16];
        p.extend_from_slice(&[0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(c.decode(&sealed(&c, 1, &p)).is_ok());
    }

    /// A frame of `kind` with any payload, correctly sealed.
    fn sealed(c: &Codec, kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = b"RGMh\x01".to_vec();
        b.extend_from_slice(&[kind, 5, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        b.extend_from_slice(b"alpha");
        b.extend_from_slice(payload);
        b.extend_from_slice(&[0; MAC_LEN]);
        reseal(c, b)
    }

    #[test]
    fn leave_bytes_are_exact() {
        let c = codec();
        let f = Frame {
            version: VERSION_1,
            sender: 65536,
            incarnation: 1,
            seq: 2,
            payload: Payload::Leave,
        };
        let b = c.encode(&f);
        assert_eq!(&b[..8], b"RGMh\x01\x02\x05\x00");
        assert_eq!(&b[8..12], &[0, 1, 0, 0]);
        assert_eq!(&b[28..30], &[0, 0]);
        assert_eq!(&b[30..35], b"alpha");
        assert_eq!(b.len(), 35 + MAC_LEN);
        assert_eq!(c.decode(&b), Ok(f));
    }

    #[test]
    fn rejections() {
        let c = codec();
        let good = c.encode(&heartbeat());
        assert_eq!(c.decode(b""), Err(Reject::Garbage));
        assert_eq!(c.decode(b"GET / HTTP/1.0\r\n\r\n"), Err(Reject::Garbage));
        assert_eq!(c.decode(&good[..20]), Err(Reject::Truncated));
        assert_eq!(c.decode(&good[..good.len() - 1]), Err(Reject::Truncated));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(c.decode(&long), Err(Reject::Garbage));
        let mut v = good.clone();
        v[4] = 3;
        assert_eq!(c.decode(&v), Err(Reject::Version));
        let mut k = good.clone();
        k[5] = 9;
        assert_eq!(c.decode(&k), Err(Reject::Garbage));
        let other = Codec::new("beta!", b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            c.decode(&other.encode(&heartbeat())),
            Err(Reject::ForeignCluster)
        );
        let wrong_key = Codec::new("alpha", b"another key, same cluster name..").unwrap();
        assert!(Codec::new("", b"k").is_none());
        assert!(Codec::new("alpha", b"").is_none());
        assert_eq!(
            c.decode(&wrong_key.encode(&heartbeat())),
            Err(Reject::BadMac)
        );
        // Any flipped bit, anywhere, is caught.
        for i in 0..good.len() {
            let mut t = good.clone();
            t[i] ^= 0x10;
            assert!(c.decode(&t).is_err(), "byte {i}");
        }
        // Well-authenticated but malformed payloads.
        let mut unsorted = good.clone();
        unsorted[HEADER_LEN + 5 + 16 + 5] = 9; // members [9, 2]
        assert_eq!(c.decode(&reseal(&c, unsorted)), Err(Reject::Garbage));
        let leave = Frame {
            payload: Payload::Leave,
            ..heartbeat()
        };
        let mut b = c.encode(&leave);
        b[5] = 1; // a heartbeat without its payload
        assert_eq!(c.decode(&reseal(&c, b)), Err(Reject::Garbage));
    }

    fn ids() -> impl proptest::strategy::Strategy<Value = Vec<NodeId>> {
        proptest::collection::btree_set(proptest::prelude::any::<u32>(), 0..80)
            .prop_map(|s| s.into_iter().collect())
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_frame_round_trips(
            sender in any::<u32>(),
            incarnation in any::<u64>(),
            seq in any::<u64>(),
            leave in any::<bool>(),
            config_version in any::<u64>(),
            view in any::<u64>(),
            members in ids(),
            heard in ids(),
            same in 0u8..4,
            candidate in ids(),
            name in "[a-zA-Z0-9_-]{1,40}",
        ) {
            // `same` makes the lists equal often, as they are in a settled cluster.
            let heard = if same & 1 == 1 { members.clone() } else { heard };
            let candidate = if same & 2 == 2 { heard.clone() } else { candidate };
            let c = Codec::new(&name, b"property test key").unwrap();
            let f = Frame {
                version: VERSION_1,
                sender,
                incarnation,
                seq,
                payload: if leave {
                    Payload::Leave
                } else {
                    Payload::Heartbeat(Heartbeat {
                        config_version, view, members, heard, candidate, ..Heartbeat::default()
                    })
                },
            };
            let b = c.encode(&f);
            prop_assert_eq!(c.decode(&b), Ok(f));
            // Any single flipped bit is refused.
            let i = (seq as usize) % b.len();
            let mut t = b.clone();
            t[i] ^= 1 << (incarnation % 8);
            prop_assert!(c.decode(&t).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A fixed xorshift stream: the same inputs on every run.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let c = codec();
        let good = c.encode(&heartbeat());
        for round in 0..20_000 {
            let len = (next() % 128) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && len >= 8 {
                // Keep a valid header start so the later checks are reached too.
                b[..8].copy_from_slice(&good[..8]);
            }
            assert!(c.decode(&b).is_err());
            // Truncations and single-byte changes of a real frame.
            let cut = (next() as usize) % good.len();
            assert!(c.decode(&good[..cut]).is_err());
        }
    }
}

#[cfg(test)]
mod format2 {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> Codec {
        Codec::new("alpha", b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn heartbeat() -> Frame {
        Frame {
            version: VERSION_2,
            sender: 2,
            incarnation: 77,
            seq: 9,
            payload: Payload::Heartbeat(Heartbeat {
                config_version: 7,
                view: 3,
                members: vec![1, 2],
                heard: vec![1, 2, 3],
                heard_inc: vec![10, 77, 30],
                candidate: vec![1, 2, 3],
                speaks: Some(Range::BUILD),
            }),
        }
    }

    #[test]
    fn heartbeat_bytes_are_exact() {
        let c = codec();
        let b = c.encode(&heartbeat());
        let mut want = b"RGMh\x02\x01\x05\x00".to_vec();
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(&77u64.to_be_bytes());
        want.extend_from_slice(&9u64.to_be_bytes());
        want.extend_from_slice(&[0, 2 + 8 + 8 + 10 + 2 + 36 + 2]);
        want.extend_from_slice(b"alpha");
        want.extend_from_slice(&[1, 2]);
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&[0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        want.extend_from_slice(&[0, 3]);
        for (id, inc) in [(1u32, 10u64), (2, 77), (3, 30)] {
            want.extend_from_slice(&id.to_be_bytes());
            want.extend_from_slice(&inc.to_be_bytes());
        }
        want.extend_from_slice(&[0xFF, 0xFF]);
        assert_eq!(&b[..want.len()], &want[..]);
        assert_eq!(b.len(), want.len() + MAC_LEN);
        assert_eq!(c.decode(&b), Ok(heartbeat()));
        assert_eq!(peek_version(&b), Some(2));
    }

    #[test]
    fn a_run_is_heard_only_by_its_incarnation() {
        let Payload::Heartbeat(h) = heartbeat().payload else {
            unreachable!()
        };
        assert!(h.hears(1, 10));
        assert!(!h.hears(1, 11), "another run of node 1");
        assert!(!h.hears(4, 10));
        assert_eq!(h.heard_run(3), Some(30));
        // Format 1 names no runs: any run of a listed node.
        let old = Heartbeat {
            heard: vec![1],
            ..Heartbeat::default()
        };
        assert!(old.hears(1, 99));
        assert_eq!(old.heard_run(1), None);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let c = codec();
        let good = c.encode(&heartbeat());
        for i in 0..good.len() {
            let mut t = good.clone();
            t[i] ^= 0x04;
            assert!(c.decode(&t).is_err(), "byte {i}");
        }
        for n in 0..good.len() {
            assert!(c.decode(&good[..n]).is_err());
        }
        // A range upside down, properly sealed.
        let mut f = heartbeat();
        if let Payload::Heartbeat(h) = &mut f.payload {
            h.speaks = Some(Range { min: 2, max: 1 });
        }
        assert_eq!(c.decode(&c.encode(&f)), Err(Reject::Garbage));
        // Heard ids out of order.
        let mut f = heartbeat();
        if let Payload::Heartbeat(h) = &mut f.payload {
            h.heard = vec![3, 1];
            h.heard_inc = vec![1, 1];
        }
        assert_eq!(c.decode(&c.encode(&f)), Err(Reject::Garbage));
    }

    fn ids() -> impl Strategy<Value = Vec<NodeId>> {
        proptest::collection::btree_set(any::<u32>(), 0..40).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn any_frame_round_trips(
            sender in any::<u32>(),
            incarnation in any::<u64>(),
            seq in any::<u64>(),
            leave in any::<bool>(),
            config_version in any::<u64>(),
            view in any::<u64>(),
            members in ids(),
            heard in ids(),
            same in any::<bool>(),
            candidate in ids(),
            min in 1u8..3,
            span in 0u8..3,
        ) {
            let heard_inc: Vec<u64> = heard.iter().map(|i| u64::from(*i) * 3 + 1).collect();
            let candidate = if same { heard.clone() } else { candidate };
            let c = codec();
            let f = Frame {
                version: VERSION_2,
                sender,
                incarnation,
                seq,
                payload: if leave {
                    Payload::Leave
                } else {
                    Payload::Heartbeat(Heartbeat {
                        config_version, view, members, heard, candidate, heard_inc,
                        speaks: Some(Range { min, max: min + span }),
                    })
                },
            };
            let b = c.encode(&f);
            prop_assert_eq!(c.decode(&b), Ok(f));
            let i = (seq as usize) % b.len();
            let mut t = b.clone();
            t[i] ^= 1 << (incarnation % 8);
            prop_assert!(c.decode(&t).is_err());
        }

        /// Whatever bytes arrive, the decoder answers without panicking (the fuzz target of
        /// this decoder: `rgmanager/tests/decoders.rs` replays a kept corpus too).
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..300), keep in any::<bool>()) {
            let c = codec();
            let mut b = bytes;
            if keep && b.len() >= 8 {
                b[..8].copy_from_slice(b"RGMh\x02\x01\x05\x00");
            }
            let _ = c.decode(&b);
        }
    }
}
