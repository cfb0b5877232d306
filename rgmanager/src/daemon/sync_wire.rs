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
//! Format 4 (protocol 2, docs/wire-versions.md) adds, inside the authenticated header, the
//! recipient's node id (a frame recorded on its way to one node is refused by every other),
//! a 16-byte request nonce (a `Request` carries a fresh one, the `Offer` that answers it
//! carries it back, and an answer that echoes a nonce the requester is not waiting for is
//! dropped) and a 12-byte AEAD nonce: the body (cluster.conf, which holds every fence
//! device's password) is encrypted with ChaCha20-Poly1305 under a key derived from the
//! cluster key with HKDF-SHA256, the header as associated data. The header is at most 391
//! bytes and its MAC is checked before a byte of the body is read ([`FrameCodec::read_frame`]):
//! a peer without the key costs a few hundred bytes and at most [`HEADER_TIME`].
//!
//! Replays: every message is idempotent against the receiver's state (an old offer is refused
//! as not newer, a repeated one is answered `Accepted` without a write), so a recorded frame
//! replayed later cannot move a node backwards.

use std::io::Read;

use ccs::store::{ConfHash, Hashed};
use ccs::sync::{Message, Refusal};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::membership::NodeId;

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: [u8; 4] = *b"RGMs";
/// What a receiver that cannot authenticate a frame answers (followed by a reason and `\n`).
pub const AUTH_FAILED: &[u8] = b"RGMx authentication failed\n";
/// Format 3: every message travels on its own connection (format 2 answered on the
/// connection of the message), and an announcement says whether it wants ours back.
pub const FORMAT_3: u8 = 3;
/// Format 4: recipient, request nonce and an encrypted body.
pub const FORMAT_4: u8 = 4;
const MAC_LEN: usize = 32;
/// Format 4's additions to the fixed part: recipient, request nonce, AEAD nonce.
const FIXED_4_EXTRA: usize = 4 + 16 + 12;
/// The AEAD's tag, after the ciphertext.
const TAG_LEN: usize = 16;
/// The time a connection gets to deliver an authenticated header.
pub const HEADER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
/// A request nonce: 16 random bytes, all zero in a message that answers no request.
pub type Nonce = [u8; 16];

/// A fresh request nonce from the OS's generator (`None` if it fails: nothing is sent).
pub fn fresh_nonce() -> Option<Nonce> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).ok()?;
    Some(n)
}

/// How a frame is addressed: its format, its recipient and its request nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    pub format: u8,
    pub recipient: NodeId,
    pub nonce: Nonce,
}

/// A checked frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub sender: NodeId,
    pub msg: Message,
    pub query: bool,
    /// Format 3: recipient 0, nonce zero.
    pub address: Address,
}
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
    #[error("the encrypted body does not decrypt (tampered with?)")]
    Decrypt,
    #[error("addressed to node {0}")]
    Misaddressed(NodeId),
    #[error("the header took longer than {HEADER_TIME:?}")]
    Slow,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Encodes and checks frames for one cluster name and key.
#[derive(Clone)]
pub struct FrameCodec {
    name: Vec<u8>,
    mac: HmacSha256,
    /// The body cipher of format 4, keyed from the cluster key by HKDF.
    aead: ChaCha20Poly1305,
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
        let mut body_key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, key)
            .expand(b"rgmanager sync body encryption, format 4", &mut body_key)
            .ok()?;
        let aead = ChaCha20Poly1305::new_from_slice(&body_key).ok()?;
        Some(FrameCodec { name, mac, aead })
    }

    /// A frame for `msg` from `sender`; `query`: an announcement that wants the receiver's
    /// announcement back (ignored for other messages). `None` when the OS's random generator
    /// fails (format 4 needs a fresh AEAD nonce).
    pub fn encode(
        &self,
        sender: NodeId,
        msg: &Message,
        query: bool,
        to: Address,
    ) -> Option<Vec<u8>> {
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
        let v4 = to.format != FORMAT_3;
        let mut aead_nonce = [0u8; 12];
        if v4 && !f.body.is_empty() {
            getrandom::fill(&mut aead_nonce).ok()?;
        }
        let sealed = v4 && !f.body.is_empty();
        let body_len = f.body.len() + if sealed { TAG_LEN } else { 0 };
        let mut out = Vec::with_capacity(6 + self.name.len() + FIXED + 32 + MAC_LEN + body_len);
        out.extend_from_slice(&MAGIC);
        out.push(if v4 { FORMAT_4 } else { FORMAT_3 });
        out.push(self.name.len() as u8);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&sender.to_be_bytes());
        if v4 {
            out.extend_from_slice(&to.recipient.to_be_bytes());
            out.extend_from_slice(&to.nonce);
            out.extend_from_slice(&aead_nonce);
        }
        out.push(f.kind);
        out.push(f.sub);
        out.extend_from_slice(&f.a.to_be_bytes());
        out.extend_from_slice(&f.b.to_be_bytes());
        out.extend_from_slice(&f.h1);
        out.extend_from_slice(&f.h2);
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.extend_from_slice(&body_hash.0);
        let mut mac = self.mac.clone();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        if sealed {
            // The header (MAC included) is the associated data: the body belongs to it.
            let ct = self
                .aead
                .encrypt(
                    chacha20poly1305::Nonce::from_slice(&aead_nonce),
                    Payload {
                        msg: f.body,
                        aad: &out,
                    },
                )
                .ok()?;
            out.extend_from_slice(&ct);
        } else {
            out.extend_from_slice(f.body);
        }
        Some(out)
    }

    /// The header's length for a frame's first 6 bytes, and whether this codec reads it.
    fn header_len(&self, head: &[u8]) -> Result<usize, FrameError> {
        if head.len() < 6 || head[..4] != MAGIC {
            return Err(FrameError::Garbage);
        }
        let extra = match head[4] {
            FORMAT_3 => 0,
            FORMAT_4 => FIXED_4_EXTRA,
            _ => return Err(FrameError::Format),
        };
        Ok(6 + usize::from(head[5]) + FIXED + extra)
    }

    /// Checks a header (the MAC, then the cluster name) and returns the body's length.
    fn check_header(&self, head: &[u8]) -> Result<usize, FrameError> {
        let head_len = self.header_len(head)?;
        if head.len() < head_len + MAC_LEN {
            return Err(FrameError::Garbage);
        }
        let (signed, tag) = head[..head_len + MAC_LEN].split_at(head_len);
        let mut mac = self.mac.clone();
        mac.update(signed);
        // Checked before anything else is believed (constant-time comparison).
        mac.verify_slice(tag).map_err(|_| FrameError::BadMac)?;
        let nlen = usize::from(head[5]);
        if signed[6..6 + nlen] != self.name[..] {
            return Err(FrameError::ForeignCluster);
        }
        let at = head_len - 32 - 4;
        let blen = u32::from_be_bytes([signed[at], signed[at + 1], signed[at + 2], signed[at + 3]]);
        Ok(blen as usize)
    }

    /// Reads one frame from a stream: the header first (at most 391 bytes), whose MAC is
    /// checked before the body is read, then the body. The caller sets the stream's read
    /// timeout; `header_deadline` bounds the header's total time whatever it is (a peer
    /// sending a byte a second). A peer's authentication-failure line is reported as
    /// [`FrameError::PeerAuthFailed`].
    pub fn read_frame(
        &self,
        r: &mut impl Read,
        header_deadline: Option<std::time::Instant>,
    ) -> Result<Vec<u8>, FrameError> {
        let late = || header_deadline.is_some_and(|d| std::time::Instant::now() > d);
        let mut head = [0u8; 6];
        r.read_exact(&mut head)?;
        if head[..4] == AUTH_FAILED[..4] {
            return Err(FrameError::PeerAuthFailed);
        }
        let head_len = self.header_len(&head)?;
        let mut buf = head.to_vec();
        buf.resize(head_len + MAC_LEN, 0);
        r.read_exact(&mut buf[6..])?;
        if late() {
            return Err(FrameError::Slow);
        }
        let blen = self.check_header(&buf)?;
        if blen > MAX_BODY + TAG_LEN {
            return Err(FrameError::TooBig(blen));
        }
        let start = buf.len();
        buf.resize(start + blen, 0);
        r.read_exact(&mut buf[start..])?;
        Ok(buf)
    }

    /// Checks and decodes one whole frame: the header's MAC first, then the body (decrypted
    /// in format 4) against the hash the header states.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, FrameError> {
        if bytes.len() < 6 {
            return Err(FrameError::Garbage);
        }
        let head_len = self.header_len(bytes)?;
        let blen = self.check_header(bytes)?;
        let format = bytes[4];
        let nlen = usize::from(bytes[5]);
        let (head, body) = bytes.split_at(head_len + MAC_LEN);
        if body.len() != blen {
            return Err(FrameError::Garbage);
        }
        let mut p = &head[6 + nlen..head_len];
        let sender = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        p = &p[4..];
        let mut address = Address {
            format,
            recipient: 0,
            nonce: [0; 16],
        };
        let mut aead_nonce = [0u8; 12];
        if format == FORMAT_4 {
            address.recipient = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            address.nonce.copy_from_slice(&p[4..20]);
            aead_nonce.copy_from_slice(&p[20..32]);
            p = &p[32..];
        }
        let plain;
        let body: &[u8] = if format == FORMAT_4 && !body.is_empty() {
            plain = self
                .aead
                .decrypt(
                    chacha20poly1305::Nonce::from_slice(&aead_nonce),
                    Payload {
                        msg: body,
                        aad: head,
                    },
                )
                .map_err(|_| FrameError::Decrypt)?;
            &plain
        } else {
            body
        };
        // `p`: the fields after the sender, as in format 3 (with a dummy sender before them
        // so that the offsets below are the same).
        let p = &[&[0u8; 4][..], p].concat();
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
        let (kind, sub) = (p[4], p[5]);
        let (a, b) = (u64_at(6), u64_at(14));
        let (h1, h2) = (hash_at(22), hash_at(54));
        let stated = hash_at(90);
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
        Ok(Decoded {
            sender,
            msg,
            query,
            address,
        })
    }
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

    fn to(format: u8) -> Address {
        Address {
            format,
            recipient: 7,
            nonce: [9; 16],
        }
    }

    #[test]
    fn every_message_round_trips_through_a_stream_in_both_formats() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        for format in [FORMAT_3, FORMAT_4] {
            for m in all() {
                let bytes = c.encode(42, &m, false, to(format)).unwrap();
                let read = c.read_frame(&mut &bytes[..], None).unwrap();
                assert_eq!(read, bytes);
                let d = c.decode(&read).unwrap();
                assert_eq!((d.sender, &d.msg, d.query), (42, &m, false));
                if format == FORMAT_4 {
                    assert_eq!(d.address, to(FORMAT_4));
                } else {
                    assert_eq!(d.address.recipient, 0);
                }
            }
        }
    }

    #[test]
    fn a_format_4_body_is_encrypted() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        let secret = b"<cluster><fencedevice passwd=\"hunter2-secret\"/></cluster>";
        let m = Message::Offer {
            version: 3,
            bytes: Hashed::new(&secret[..]),
        };
        let clear = c.encode(1, &m, false, to(FORMAT_3)).unwrap();
        assert!(clear.windows(14).any(|w| w == b"hunter2-secret"));
        let a = c.encode(1, &m, false, to(FORMAT_4)).unwrap();
        let b = c.encode(1, &m, false, to(FORMAT_4)).unwrap();
        assert!(
            !a.windows(7).any(|w| w == b"hunter2"),
            "the password in clear"
        );
        assert_ne!(a, b, "a fresh AEAD nonce each time");
        // The ciphertext's tag: a flipped body bit fails decryption, not just the hash.
        let mut t = a.clone();
        let last = t.len() - 20;
        t[last] ^= 1;
        assert!(matches!(c.decode(&t), Err(FrameError::Decrypt)));
        // Another key decrypts nothing (and fails at the header's MAC first).
        let other = FrameCodec::new("alpha", b"kez").unwrap();
        assert!(matches!(other.decode(&a), Err(FrameError::BadMac)));
    }

    #[test]
    fn another_key_another_cluster_or_a_flipped_bit_is_refused() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        let m = Message::Offer {
            version: 3,
            bytes: Hashed::new(&b"<cluster/>"[..]),
        };
        for format in [FORMAT_3, FORMAT_4] {
            let bytes = c.encode(1, &m, false, to(format)).unwrap();
            let other_key = FrameCodec::new("alpha", b"kez").unwrap();
            assert!(matches!(other_key.decode(&bytes), Err(FrameError::BadMac)));
            let other_name = FrameCodec::new("beta", b"key").unwrap();
            let theirs = other_name.encode(1, &m, false, to(format)).unwrap();
            assert!(other_name.decode(&theirs).is_ok());
            assert!(matches!(c.decode(&theirs), Err(FrameError::ForeignCluster)));
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 1;
                assert!(c.decode(&b).is_err(), "bit flipped at {i} accepted");
            }
            for n in 0..bytes.len() {
                assert!(c.decode(&bytes[..n]).is_err(), "truncated to {n} accepted");
            }
        }
        assert!(FrameCodec::new("", b"key").is_none());
        assert!(FrameCodec::new("a", b"").is_none());
    }

    /// A reader that fails the test if more than `limit` bytes are read from it.
    struct Counting<'a> {
        data: &'a [u8],
        read: usize,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.data.len() - self.read);
            buf[..n].copy_from_slice(&self.data[self.read..self.read + n]);
            self.read += n;
            Ok(n)
        }
    }

    #[test]
    fn the_header_is_authenticated_before_the_body_is_read() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        let big = vec![b'x'; 100_000];
        let m = Message::Offer {
            version: 3,
            bytes: Hashed::new(&big[..]),
        };
        let bytes = c.encode(1, &m, false, to(FORMAT_4)).unwrap();
        let other = FrameCodec::new("alpha", b"kez").unwrap();
        let mut r = Counting {
            data: &bytes,
            read: 0,
        };
        assert!(matches!(
            other.read_frame(&mut r, None),
            Err(FrameError::BadMac)
        ));
        assert!(
            r.read <= 6 + 5 + FIXED + FIXED_4_EXTRA + MAC_LEN,
            "read {} bytes",
            r.read
        );
        assert!(r.read < 400);
        // A forged header stating a huge body is refused at its MAC, not read.
        let mut forged = bytes.clone();
        let at = 6 + 5 + FIXED + FIXED_4_EXTRA - 32 - 4;
        forged[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut r = Counting {
            data: &forged,
            read: 0,
        };
        assert!(matches!(
            c.read_frame(&mut r, None),
            Err(FrameError::BadMac)
        ));
        assert!(r.read < 400);
        // A header past its deadline is dropped.
        let past = std::time::Instant::now() - std::time::Duration::from_secs(1);
        assert!(matches!(
            c.read_frame(&mut &bytes[..], Some(past)),
            Err(FrameError::Slow)
        ));
    }

    #[test]
    fn the_reader_reports_an_authentication_failure_and_refuses_garbage() {
        let c = FrameCodec::new("alpha", b"key").unwrap();
        assert!(matches!(
            c.read_frame(&mut &AUTH_FAILED[..], None),
            Err(FrameError::PeerAuthFailed)
        ));
        assert!(matches!(
            c.read_frame(&mut &b"GET / HTTP/1.0\r\n"[..], None),
            Err(FrameError::Garbage)
        ));
        assert!(matches!(
            c.read_frame(&mut &b"RGMs\x09\x05alpha"[..], None),
            Err(FrameError::Format)
        ));
    }
}
