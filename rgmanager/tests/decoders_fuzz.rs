//! Fuzzing of every decoder that reads bytes from the network or a client (issue 14): the
//! membership frames (formats 1 and 2), the daemon messages (formats 2 and 3), the sync frames
//! (formats 3 and 4, through the stream reader), the admin socket's request parser and
//! `ccs::parse_str`. Inputs are random bytes and mutations of valid encodings (bit flips,
//! truncations, insertions, deletions, splices of two inputs, length fields set to extremes),
//! from a fixed seed. The properties: no panic, no hang, and no mutated authenticated frame
//! is accepted unless it is byte-for-byte the original.
//!
//! The fence agents' decoders too: IPMI datagrams and payloads, telnet, APC screens,
//! known_hosts lines and the agents' stdin.
//!
//! `cargo test` runs 3,000 inputs per decoder; `RGM_FUZZ_ITERS=N` runs N each (the long runs
//! recorded in docs/RELIABILITY.md) and `RGM_FUZZ_SEED` another seed.

use ccs::store::Hashed;
use ccs::sync::Message;
use rgmanager::daemon::sync_wire::{self, Address, FrameCodec};
use rgmanager::membership::frame::{self, Codec, Frame, Heartbeat, Payload};
use rgmanager::node::wire::{self, Envelope, Msg};
use rgmanager::versions::Range;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn iters() -> usize {
    std::env::var("RGM_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn seed() -> u64 {
    std::env::var("RGM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EC0_4217)
}

/// One mutation of `base` (or of a splice with `other`).
fn mutate(r: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    let rounds = 1 + r.below(4);
    for _ in 0..rounds {
        match r.below(8) {
            0 if !b.is_empty() => {
                let i = r.below(b.len());
                b[i] ^= 1 << r.below(8);
            }
            1 => b.truncate(r.below(b.len() + 1)),
            2 => {
                let i = r.below(b.len() + 1);
                let n = 1 + r.below(16);
                let ins: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
                b.splice(i..i, ins);
            }
            3 if !b.is_empty() => {
                let i = r.below(b.len());
                let n = r.below(b.len() - i + 1);
                b.drain(i..i + n);
            }
            4 => {
                let cut = r.below(b.len() + 1);
                let from = r.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            5 if b.len() >= 4 => {
                // A length or count field set to an extreme.
                let i = r.below(b.len() - 3);
                let v: [u8; 4] = match r.below(3) {
                    0 => [0xFF; 4],
                    1 => [0; 4],
                    _ => [0x7F, 0xFF, 0xFF, 0xFF],
                };
                b[i..i + 4].copy_from_slice(&v);
            }
            6 if !b.is_empty() => {
                let i = r.below(b.len());
                b[i] = r.next() as u8;
            }
            _ => {
                b = (0..r.below(600)).map(|_| r.next() as u8).collect();
            }
        }
    }
    b
}

/// Runs `check` over random and mutated inputs built from `corpus`; returns the count.
fn fuzz(name: &str, corpus: &[Vec<u8>], mut check: impl FnMut(&[u8], bool)) -> usize {
    // The seeds of the coverage-guided runs (fuzz/corpus/NAME/): these same valid encodings.
    if let Some(dir) = std::env::var_os("RGM_FUZZ_SEED_DIR") {
        let dir = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, c) in corpus.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), c).unwrap();
        }
    }
    let mut r = Rng(seed() ^ name.len() as u64 ^ (name.as_bytes()[0] as u64) << 32);
    let n = iters();
    for _ in 0..n {
        let a = &corpus[r.below(corpus.len())];
        let b = &corpus[r.below(corpus.len())];
        let m = mutate(&mut r, a, b);
        let original = corpus.contains(&m);
        check(&m, original);
    }
    // Every corpus entry itself decodes.
    for c in corpus {
        check(c, true);
    }
    n
}

/// The corpus the coverage-guided runs kept (fuzz/corpus/TARGET/, docs/RELIABILITY.md), each
/// input through its target's checks again: what libFuzzer found stays tested without it.
#[test]
fn the_kept_corpus_replays() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut inputs = 0;
    for (name, check) in rgmanager::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| check(&bytes));
            assert!(run.is_ok(), "{}: the {name} target fails", path.display());
            inputs += 1;
        }
    }
    assert!(inputs >= rgmanager::fuzzing::TARGETS.len());
}

use rgmanager::fuzzing::{self as targets, CLUSTER, KEY};

#[test]
fn membership_frames() {
    let c = Codec::new(CLUSTER, KEY).unwrap();
    let mut corpus = Vec::new();
    for version in [frame::VERSION_1, frame::VERSION_2] {
        for payload in [
            Payload::Leave,
            Payload::Heartbeat(Heartbeat {
                config_version: 3,
                view: 9,
                members: vec![1, 2, 3],
                heard: vec![1, 2, 3],
                candidate: vec![1, 2],
                heard_inc: if version == frame::VERSION_2 {
                    vec![5, 6, 7]
                } else {
                    vec![]
                },
                speaks: (version == frame::VERSION_2).then_some(Range::BUILD),
            }),
        ] {
            corpus.push(c.encode(&Frame {
                version,
                sender: 2,
                incarnation: 77,
                seq: 1,
                payload,
            }));
        }
    }
    fuzz("membership", &corpus, |b, original| {
        targets::membership(b);
        let got = c.decode(b);
        assert_eq!(got.is_ok(), original, "{b:?}");
    });
}

#[test]
fn daemon_messages() {
    let c = wire::Codec::new(CLUSTER, KEY).unwrap();
    let mut corpus = Vec::new();
    for version in [wire::VERSION_2, wire::VERSION_3] {
        for msg in [
            Msg::Order {
                id: 1,
                service: "service:a".into(),
                op: wire::Op::Start,
                term: 1,
            },
            Msg::Poll { term: 2 },
            Msg::StatusFailed {
                service: "service:b".into(),
            },
            Msg::Lock {
                id: 4,
                locked: true,
            },
        ] {
            corpus.push(c.encode(&Envelope {
                version,
                sender: 1,
                incarnation: 2,
                recipient: 3,
                recipient_incarnation: 4,
                seq: 5,
                msg,
            }));
        }
    }
    fuzz("wire", &corpus, |b, original| {
        targets::daemon_message(b);
        let got = c.decode(b);
        assert_eq!(got.is_ok(), original, "{b:?}");
    });
}

#[test]
fn sync_frames_through_the_stream_reader() {
    let c = FrameCodec::new(CLUSTER, KEY).unwrap();
    let mut corpus = Vec::new();
    for format in [sync_wire::FORMAT_3, sync_wire::FORMAT_4] {
        let to = Address {
            format,
            recipient: 2,
            nonce: [3; 16],
        };
        for m in [
            Message::Request { version: 4 },
            Message::Offer {
                version: 4,
                bytes: Hashed::new(&b"<cluster name=\"fz\" config_version=\"4\"/>"[..]),
            },
            Message::Accepted { version: 4 },
        ] {
            corpus.push(c.encode(1, &m, false, to).unwrap());
        }
    }
    fuzz("sync", &corpus, |b, original| {
        targets::sync_frame(b);
        let mut r = b;
        let read = c.read_frame(&mut r, None);
        let got = read.and_then(|f| c.decode(&f));
        if !original {
            // A prefix of a valid frame followed by junk reads the frame and leaves the rest:
            // that is the original frame, accepted rightly.
            if let Ok(d) = &got {
                let again = c.encode(d.sender, &d.msg, d.query, d.address);
                assert!(again.is_some());
                assert!(corpus.iter().any(|x| b.starts_with(&x[..x.len().min(40)])));
            }
        } else {
            assert!(got.is_ok());
        }
    });
}

#[test]
fn admin_requests() {
    let corpus: Vec<Vec<u8>> = [
        r#"{"op":"status"}"#,
        r#"{"op":"service","action":"relocate","service":"service:a","target":"node2","domain_rules":false}"#,
        r#"{"op":"lock","lock":"lock"}"#,
        r#"{"op":"fence_ack","node":"node2"}"#,
        r#"{"op":"config_push","text":"<cluster/>"}"#,
        r#"{"op":"config_check"}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("admin", &corpus, |b, _| targets::admin_request(b));
}

#[test]
fn cluster_conf_parser() {
    let corpus: Vec<Vec<u8>> = [
        r#"<?xml version="1.0"?><cluster name="a" config_version="2"><clusternodes><clusternode name="n1" nodeid="1"><fence><method name="1"><device name="d" port="1"/></method></fence></clusternode></clusternodes><fencedevices><fencedevice name="d" agent="fence_apc" ipaddr="10.0.0.1" login="l" passwd="p"/></fencedevices><rm><failoverdomains/><service name="s"><ip address="10.0.0.9"/></service></rm></cluster>"#,
        r#"<cluster name="b" config_version="1"><cman two_node="1" expected_votes="1"/><totem token="3000"/></cluster>"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("ccs", &corpus, |b, _| targets::cluster_conf(b));
}

// ---- The fence agents' decoders: what a BMC, a power switch, an SSH server's key file or a
// caller's stdin hands them.

/// A BMC's datagrams: the session wrapper (v1.5, RMCP+ plain and signed) and every payload
/// the client decodes (IPMI message, Open Session Response, RAKP 2 and 4), plus AES-CBC
/// decryption. A signed frame that verifies after mutation must be the original.
#[test]
fn ipmi_packets() {
    use fence::ipmi::crypto::{aes_cbc_encrypt, IntegrityAlg};
    use fence::ipmi::packet::{self as ipmi, IpmiRequest};
    let k1 = [0x5A; 20];
    // An IPMI message with good checksums (a request encodes the same layout).
    let msg = IpmiRequest {
        netfn: 0x07,
        cmd: 0x01,
        rq_seq: 3,
        data: vec![0, 1, 2, 3],
    }
    .encode();
    let corpus: Vec<Vec<u8>> = vec![
        ipmi::encode_v15(0, 0, &msg),
        ipmi::encode_v20(0x00, 7, 1, &msg, None),
        ipmi::encode_v20(0x40, 7, 2, &msg, Some((IntegrityAlg::HmacSha1_96, &k1))),
        ipmi::encode_v20(0x40, 7, 3, &msg, Some((IntegrityAlg::HmacSha256_128, &k1))),
        ipmi::encode_v20(0x11, 7, 0, &[0; 36], None),
        ipmi::encode_v20(0x13, 7, 0, &[0; 72], None),
        ipmi::encode_v20(0x15, 7, 0, &[0; 24], None),
        aes_cbc_encrypt(&[9; 16], &[1; 16], &msg),
    ];
    fuzz("ipmi", &corpus, |b, _| targets::ipmi(b));
}

/// A power switch's telnet stream: option negotiation and data never panic; data without
/// commands comes through byte for byte (0xFF doubled on the wire).
#[test]
fn telnet_streams() {
    use fence::telnet::encode;
    let corpus: Vec<Vec<u8>> = vec![
        b"\xff\xfb\x01\xff\xfb\x03User Name : ".to_vec(),
        b"\xff\xfd\x18\xff\xfa\x18\x01\xff\xf0Password  : ".to_vec(),
        encode(b"apc>\xff\xfe data"),
    ];
    fuzz("telnet", &corpus, |b, _| targets::telnet(b));
}

/// An APC switch's screens: the menu and command-line parsers and the prompt matcher take any
/// text (the switch is on the network, and a wrong firmware prints anything).
#[test]
fn apc_screens() {
    let corpus: Vec<Vec<u8>> = [
        "American Power Conversion               Network Management Card AOS      v3.7.3\r\n\
         ------- Outlet Control/Configuration ------------------------------------------\r\n\r\n\
              1- Outlet 1                 ON\r\n     2- Outlet 2                 OFF\r\n\r\n<ESC>- Back\r\n> ",
        "apc>olStatus all\r\nE000: Success\r\n 1: Outlet 1: On\r\n 2: web2: Off\r\napc>",
        "Network Management Card AOS v6.4.0\r\nUser Name : ",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("apc", &corpus, |b, _| targets::apc_screen(b));
}

/// known_hosts files (the SSH fence agents check a host key against them) and base64.
#[test]
fn known_hosts_lines() {
    use fence::known_hosts as kh;
    let blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let line = kh::entry_line("10.0.0.5", 22, blob);
    let corpus: Vec<Vec<u8>> = vec![
        format!("{line}\n# comment\n@revoked {line}\n").into_bytes(),
        kh::entry_line("[host]:2222", 2222, blob).into_bytes(),
        b"|1|c2FsdA==|aGFzaA== ssh-rsa AAAA\n".to_vec(),
    ];
    fuzz("known_hosts", &corpus, |b, _| targets::known_hosts(b));
}

/// The stdin protocol of every native agent (`name=value` lines from fenced, fence_node or
/// Pacemaker), typed as the agent would before it acts.
#[test]
fn fence_agent_stdin() {
    let corpus: Vec<Vec<u8>> = [
        "action=off\nipaddr=10.0.0.1\nlogin=admin\npasswd=secret\nlanplus=1\ncipher=3\n",
        "option=reboot\nip=pdu\nusername=apc\npassword=apc\nplug=2\nswitch=1\nsecure\n",
        "nodename=n1\naction=status\nipaddr=host\nlogin=root\nidentity_file=/root/.ssh/id\nport=vm1\npower_timeout=20.5\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("fence_stdin", &corpus, |b, _| targets::fence_stdin(b));
}
