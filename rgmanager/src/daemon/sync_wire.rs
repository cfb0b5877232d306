//! The configuration-sync transport's frames, sans-I/O: how a [`ccs::sync::Message`] travels
//! between daemons over TCP, authenticated with the cluster key.
//!
//! It exists because the daemon channel ([`super::wire`]) is UDP with a 60 KB body limit, and a
//! cluster.conf can be megabytes: sync messages go over TCP instead, one message (and at most one
//! answer) per connection, on the same address and port number as the daemon channel
//! (membership port + 1). A frame is:
//!
//! ```text
//! "RGMs" | format 2 | name length u8 | cluster name | sender u32 | kind u8 | sub u8
//!        | a u64 | b u64 | hash1 [32] | hash2 [32] | body length u32 | body SHA-256 [32]
//!        | HMAC-SHA256 [32] | body
//! ```
//!
//! (integers big-endian), the HMAC being over the header before it, with the cluster key: a
//! node without the key can neither push nor answer. The header carries the body's SHA-256,
//! so the MAC authenticates the body through it, and each byte of a file is hashed once on
//! each side: the sender's digest is the configuration's hash it already has, and the
//! receiver's digest of the body, checked against the header, becomes the received
//! configuration's hash (format 1 had the MAC over the whole frame, and a 1 MB file was
//! hashed twice by every receiver). The header is authenticated before the body is read.
//! A receiver that finds a bad MAC answers
//! with the plain line `RGMx authentication failed` so that the pusher can say why; that line is
//! unauthenticated and only ever printed, never believed as an acceptance.
//!
//! Replays: every message is idempotent against the receiver's state (an old offer is refused
//! as not newer, a repeated one is answered `Accepted` without a write), so a recorded frame
//! replayed later cannot move a node backwards.

use std::io::Read;

use ccs::store::{ConfHash, Hashed};
use ccs::sync::{Message, Refusal};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::membership::NodeId;

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: [u8; 4] = *b"RGMs";
/// What a receiver that cannot authenticate a frame answers (followed by a reason and `\n`).
pub const AUTH_FAILED: &[u8] = b"RGMx authentication failed\n";
/// Format 3: every message travels on its own connection (format 2 answered on the
/// connection of the message), and an announcement says whether it wants ours back.
const FORMAT: u8 = 3;
const MAC_LEN: usize = 32;
/// The largest body accepted: a cluster.conf of 16 MiB is far beyond any real one.
pub const MAX_BODY: usize = 16 << 20;
/// After the name: sender, kind, sub, a, b, hash1, hash2, body length, body hash.
const FIXED: usize = 4 + 1 + 1 + 8 + 8 + 32 + 32 + 4 + 32;

/// Why a frame was dropped.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("not a configuration-sync frame")]
    Garbage,
    #[error("unknown frame format")]
    Format,
    #[error("another cluster's frame")]
    ForeignCluster,
    #[error("authentication failed (another cluster key?)")]
    BadMac,
    #[error("the body does not match the hash its header states")]
    BodyMismatch,
    #[error("body of {0} bytes is over the limit")]
    TooBig(usize),
    #[error("the peer refused our frame: authentication failed (another cluster key?)")]
    PeerAuthFailed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Encodes and checks frames for one cluster name and key.
#[derive(Clone)]
pub struct FrameCodec {
    name: Vec<u8>,
    mac: HmacSha256,
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keyed MAC state is secret material: never printed.
        f.debug_struct("FrameCodec").finish_non_exhaustive()
    }
}

struct Fields<'a> {
    kind: u8,
    sub: u8,
    a: u64,
    b: u64,
    h1: [u8; 32],
    h2: [u8; 32],
    body: &'a [u8],
    /// The body's SHA-256 when already known (an offer's text); computed otherwise.
    body_hash: Option<ConfHash>,
}

impl FrameCodec {
    /// `None` for an empty cluster name or key.
    pub fn new(cluster: &str, key: &[u8]) -> Option<FrameCodec> {
        let mut name = cluster.as_bytes().to_vec();
        name.truncate(255);
        if name.is_empty() || key.is_empty() {
            return None;
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
        Some(FrameCodec { name, mac })
    }

    /// A frame for `msg` from `sender`; `query`: an announcement that wants the receiver's
    /// announcement back (ignored for other messages).
    pub fn encode(&self, sender: NodeId, msg: &Message, query: bool) -> Vec<u8> {
        let z = [0u8; 32];
        let f = match msg {
            Message::Announce { version, hash } => Fields {
                kind: 1,
                sub: 0,
                a: *version,
                b: u64::from(query),
                h1: hash.0,
                h2: z,
                body: &[],
                body_hash: None,
            },
            Message::Request { version } => Fields {
                kind: 2,
                sub: 0,
                a: *version,
                b: 0,
                h1: z,
                h2: z,
                body: &[],
                body_hash: None,
            },
            Message::Offer { version, bytes } => Fields {
                kind: 3,
                sub: 0,
                a: *version,
                b: 0,
                h1: z,
                h2: z,
                body: bytes.bytes(),
                body_hash: Some(bytes.hash()),
            },
            Message::Accepted { version } => Fields {
                kind: 4,
                sub: 0,
                a: *version,
                b: 0,
                h1: z,
                h2: z,
                body: &[],
                body_hash: None,
            },
            Message::Refused { reason } => {
                let (sub, a, b, body): (u8, u64, u64, &[u8]) = match reason {
                    Refusal::NotNewer { offered, ours } => (1, *offered, *ours, &[]),
                    Refusal::Invalid { error } => (2, 0, 0, error.as_bytes()),
                    Refusal::Mismatch { stated, in_file } => (3, *stated, *in_file, &[]),
                    Refusal::Unavailable { requested, ours } => (4, *requested, *ours, &[]),
                    Refusal::NotStored { error } => (5, 0, 0, error.as_bytes()),
                };
                Fields {
                    kind: 5,
                    sub,
                    a,
                    b,
                    h1: z,
                    h2: z,
                    body,
                    body_hash: None,
                }
            }
            Message::Conflict {
                version,
                ours,
                theirs,
            } => Fields {
                kind: 6,
                sub: 0,
                a: *version,
                b: 0,
                h1: ours.0,
                h2: theirs.0,
                body: &[],
                body_hash: None,
            },
        };
        let body_hash = f.body_hash.unwrap_or_else(|| ConfHash::of(f.body));
        let mut out = Vec::with_capacity(6 + self.name.len() + FIXED + MAC_LEN + f.body.len());
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT);
        out.push(self.name.len() as u8);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&sender.to_be_bytes());
        out.push(f.kind);
        out.push(f.sub);
        out.extend_from_slice(&f.a.to_be_bytes());
        out.extend_from_slice(&f.b.to_be_bytes());
        out.extend_from_slice(&f.h1);
        out.extend_from_slice(&f.h2);
        out.extend_from_slice(&(f.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body_hash.0);
        let mut mac = self.mac.clone();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out.extend_from_slice(f.body);
        out
    }

    /// Checks and decodes one whole frame: the header's MAC first, then the body against the
    /// hash the header states. Returns the sender, the message and whether it is a query.
    pub fn decode(&self, bytes: &[u8]) -> Result<(NodeId, Message, bool), FrameError> {
        if bytes.len() < 6 + FIXED + MAC_LEN || bytes[..4] != MAGIC {
            return Err(FrameError::Garbage);
        }
        if bytes[4] != FORMAT {
            return Err(FrameError::Format);
        }
        let nlen = bytes[5] as usize;
        let head_len = 6 + nlen + FIXED;
        if bytes.len() < head_len + MAC_LEN {
            return Err(FrameError::Garbage);
        }
        let (signed, rest) = bytes.split_at(head_len);
        let (tag, body) = rest.split_at(MAC_LEN);
        let mut mac = self.mac.clone();
        mac.update(signed);
        // Checked before anything else is believed (constant-time comparison).
        mac.verify_slice(tag).map_err(|_| FrameError::BadMac)?;
        let name = &signed[6..6 + nlen];
        if name != self.name.as_slice() {
            return Err(FrameError::ForeignCluster);
        }
        let p = &signed[6 + nlen..];
        let u32_at = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let hash_at = |i: usize| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&p[i..i + 32]);
            ConfHash(h)
        };
        let sender = u32_at(0);
        let (kind, sub) = (p[4], p[5]);
        let (a, b) = (u64_at(6), u64_at(14));
        let (h1, h2) = (hash_at(22), hash_at(54));
        let blen = u32_at(86) as usize;
        let stated = hash_at(90);
        if body.len() != blen {
            return Err(FrameError::Garbage);
        }
        // The body's one hashing: its digest is authenticated through the header, and is the
        // received configuration's hash from here on.
        let hashed = Hashed::new(body);
        if hashed.hash() != stated {
            return Err(FrameError::BodyMismatch);
        }
        let text = || String::from_utf8_lossy(body).into_owned();
        let msg = match kind {
            1 => Message::Announce {
                version: a,
                hash: h1,
            },
            2 => Message::Request { version: a },
            3 => Message::Offer {
                version: a,
                bytes: hashed,
            },
            4 => Message::Accepted { version: a },
            5 => Message::Refused {
                reason: match sub {
                    1 => Refusal::NotNewer {
                        offered: a,
                        ours: b,
                    },
                    2 => Refusal::Invalid { error: text() },
                    3 => Refusal::Mismatch {
                        stated: a,
                        in_file: b,
                    },
                    4 => Refusal::Unavailable {
                        requested: a,
                        ours: b,
                    },
                    5 => Refusal::NotStored { error: text() },
                    _ => return Err(FrameError::Garbage),
                },
            },
            6 => Message::Conflict {
                version: a,
                ours: h1,
                theirs: h2,
            },
            _ => return Err(FrameError::Garbage),
        };
        let query = kind == 1 && b == 1;
        Ok((sender, msg, query))
    }
}

/// Reads one whole frame from a stream (the caller sets its timeouts). A peer's
/// authentication-failure line is reported as [`FrameError::PeerAuthFailed`].
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut head = [0u8; 6];
    r.read_exact(&mut head)?;
    if head[..4] == AUTH_FAILED[..4] {
        return Err(FrameError::PeerAuthFailed);
    }
    if head[..4] != MAGIC {
        return Err(FrameError::Garbage);
    }
    let nlen = head[5] as usize;
    let mut buf = head.to_vec();
    buf.resize(6 + nlen + FIXED + MAC_LEN, 0);
    r.read_exact(&mut buf[6..])?;
    let at = 6 + nlen + FIXED - 32 - 4;
    let blen = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
    if blen > MAX_BODY {
        return Err(FrameError::TooBig(blen));
    }
    let start = buf.len();
    buf.resize(start + blen, 0);
    r.read_exact(&mut buf[start..])?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        let h = ConfHash::of(b"x");
        let g = ConfHash::of(b"y");
        vec![
            Message::Announce {
                version: 7,
                hash: h,
            },
            Message::Request { version: 9 },
            Message::Offer {
                version: 3,
                bytes: Hashed::new(&b"<cluster/>\n<!-- a comment -->"[..]),
            },
            Message::Accepted { version: 4 },
            Message::Refused {
                reason: Refusal::NotNewer {
                    offered: 11,
                    ours: 12,
                },
            },
            Message::Refused {
                reason: Refusal::Invalid {
                    error: "invalid: 1:1: bad".into(),
                },
            },
            Message::Refused {
                reason: Refusal::Mismatch {
                    stated: 1,
                    in_file: 2,
                },
            },
            Message::Refused {
                reason: Refusal::Unavailable {
                    requested: 5,
                    ours: 4,
                },
            },
            Message::Refused {
                reason: Refusal::NotStored {
                    error: "disk full".into(),
                },
            },
            Message::Conflict {
                version: 12,
                ours: h,
                theirs: g,
            },
        ]
    }

    #[test]
    fn every_message_round_trips_through_a_stream() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        for m in all() {
            let bytes = c.encode(42, &m, false);
            let read = read_frame(&mut &bytes[..]).unwrap();
            assert_eq!(read, bytes);
            assert_eq!(c.decode(&read).unwrap(), (42, m, false));
        }
    }

    #[test]
    fn another_key_another_cluster_or_a_flipped_bit_is_refused() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        let m = Message::Offer {
            version: 3,
            bytes: Hashed::new(&b"<cluster/>"[..]),
        };
        let bytes = c.encode(1, &m, false);
        let other_key = FrameCodec::new("alpha", b"kez").unwrap();
        assert!(matches!(other_key.decode(&bytes), Err(FrameError::BadMac)));
        let other_name = FrameCodec::new("beta", b"key").unwrap();
        assert!(matches!(
            other_name
                .decode(&other_name.encode(1, &m, false))
                .map(|_| ()),
            Ok(())
        ));
        assert!(matches!(
            c.decode(&other_name.encode(1, &m, false)),
            Err(FrameError::ForeignCluster)
        ));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(c.decode(&b).is_err(), "bit flipped at {i} accepted");
        }
        assert!(FrameCodec::new("", b"key").is_none());
        assert!(FrameCodec::new("a", b"").is_none());
    }

    #[test]
    fn the_reader_reports_an_authentication_failure_and_refuses_huge_bodies() {
        assert!(matches!(
            read_frame(&mut &AUTH_FAILED[..]),
            Err(FrameError::PeerAuthFailed)
        ));
        let c = FrameCodec::new("alpha", b"key").unwrap();
        let mut bytes = c.encode(1, &Message::Accepted { version: 1 }, false);
        let at = 6 + 5 + FIXED - 32 - 4;
        bytes[at..at + 4].copy_from_slice(&((MAX_BODY as u32) + 1).to_be_bytes());
        assert!(matches!(
            read_frame(&mut &bytes[..]),
            Err(FrameError::TooBig(_))
        ));
        assert!(matches!(
            read_frame(&mut &b"GET / HTTP/1.0\r\n"[..]),
            Err(FrameError::Garbage)
        ));
    }
}
