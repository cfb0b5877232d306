//! The fuzz targets: one function per decoder that reads bytes from outside (issue 14), each
//! feeding any input to the decoder and checking what must hold for every input. The same
//! functions serve the coverage-guided runs (`fuzz/`, libFuzzer through cargo-fuzz), the seeded
//! mutation test (`tests/decoders_fuzz.rs`) and the replay of the kept corpus (`fuzz/corpus/`,
//! replayed by `cargo test` so CI needs no fuzzing toolchain): a property written once is checked
//! the same way everywhere.
//!
//! A panic is a finding: these functions assert, they do not return errors.

use std::sync::OnceLock;

use crate::admin::Request;
use crate::daemon::sync_wire::FrameCodec;
use crate::membership::frame::Codec;
use crate::node::wire;

/// The key every target's codecs use (the corpus was made with it).
pub const KEY: &[u8] = b"fuzzing key fuzzing key 0123456";
/// The cluster name every target's codecs use.
pub const CLUSTER: &str = "fz";

/// A target's checks of one input (they panic on a finding).
pub type Check = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("membership", membership),
    ("membership_sealed", membership_sealed),
    ("wire", daemon_message),
    ("wire_sealed", daemon_message_sealed),
    ("sync", sync_frame),
    ("admin", admin_request),
    ("ccs", cluster_conf),
    ("ipmi", ipmi),
    ("telnet", telnet),
    ("apc", apc_screen),
    ("known_hosts", known_hosts),
    ("fence_stdin", fence_stdin),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn membership_codec() -> &'static Codec {
    static C: OnceLock<Codec> = OnceLock::new();
    C.get_or_init(|| match Codec::new(CLUSTER, KEY) {
        Some(c) => c,
        None => unreachable!("a non-empty name and key make a codec"),
    })
}

fn wire_codec() -> &'static wire::Codec {
    static C: OnceLock<wire::Codec> = OnceLock::new();
    C.get_or_init(|| match wire::Codec::new(CLUSTER, KEY) {
        Some(c) => c,
        None => unreachable!("a non-empty name and key make a codec"),
    })
}

fn sync_codec() -> &'static FrameCodec {
    static C: OnceLock<FrameCodec> = OnceLock::new();
    C.get_or_init(|| match FrameCodec::new(CLUSTER, KEY) {
        Some(c) => c,
        None => unreachable!("a non-empty name and key make a codec"),
    })
}

/// A membership datagram: never a panic; one that authenticates is exactly the encoding of
/// what it decodes to (nothing unauthenticated rides along).
pub fn membership(b: &[u8]) {
    let c = membership_codec();
    if let Ok(f) = c.decode(b) {
        assert_eq!(
            c.encode(&f),
            b,
            "an accepted membership frame is not canonical"
        );
    }
}

/// A daemon message: never a panic; one that authenticates is exactly the encoding of what
/// it decodes to.
pub fn daemon_message(b: &[u8]) {
    let c = wire_codec();
    if let Ok(e) = c.decode(b) {
        assert_eq!(
            c.encode(&e),
            b,
            "an accepted daemon message is not canonical"
        );
    }
}

/// `b` with the HMAC-SHA256 the membership and daemon codecs append (same key): the
/// "sealed" targets hand the decoders inputs that pass the MAC, so that the fuzzer reaches
/// what is parsed after it (a key holder's input), which it could never forge.
fn sealed(b: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut v = b.to_vec();
    if let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(KEY) {
        mac.update(b);
        v.extend_from_slice(&mac.finalize().into_bytes());
    }
    v
}

/// A membership datagram as a key holder could send it (any bytes, correctly MAC'd): the
/// payload parsers take anything, and what they accept encodes back to the same frame.
pub fn membership_sealed(b: &[u8]) {
    let c = membership_codec();
    if let Ok(f) = c.decode(&sealed(b)) {
        assert_eq!(
            c.decode(&c.encode(&f)).ok(),
            Some(f),
            "a frame does not round-trip"
        );
    }
}

/// A daemon message as a key holder could send it: the body's parser takes anything, and
/// what it accepts encodes back to the same message.
pub fn daemon_message_sealed(b: &[u8]) {
    let c = wire_codec();
    if let Ok(e) = c.decode(&sealed(b)) {
        assert_eq!(
            c.decode(&c.encode(&e)).ok(),
            Some(e),
            "a message does not round-trip"
        );
    }
}

/// A sync stream: read a frame as the transport does (header, its MAC, then the body) and
/// decode it; never a panic, and never more read than the stream holds.
pub fn sync_frame(b: &[u8]) {
    let c = sync_codec();
    let mut r = b;
    if let Ok(frame) = c.read_frame(&mut r, None) {
        assert!(frame.len() <= b.len());
        let _ = c.decode(&frame);
    }
}

/// An admin socket request line.
pub fn admin_request(b: &[u8]) {
    let _ = serde_json::from_slice::<Request>(b);
}

/// cluster.conf text: the parser and the validator take anything.
pub fn cluster_conf(b: &[u8]) {
    if let Ok(s) = std::str::from_utf8(b) {
        let _ = ccs::check_str(s);
        if let Ok(conf) = ccs::parse_str(s) {
            let _ = ccs::validate::validate(&conf);
        }
    }
}

/// A BMC's datagrams: the session wrapper (v1.5, RMCP+ plain and signed) and every payload
/// the client decodes (IPMI message, Open Session Response, RAKP 2 and 4), plus AES-CBC
/// decryption. A signed frame that verifies is one our key signed: its re-encoding is itself.
pub fn ipmi(b: &[u8]) {
    use fence::ipmi::crypto::{aes_cbc_decrypt, IntegrityAlg};
    use fence::ipmi::packet::{self as p, Frame, IpmiResponse, OpenSessionResponse, Rakp2, Rakp4};
    let k1 = [0x5A; 20];
    for icv in [0, 12, 16] {
        if let Ok(Frame::V20(f)) = p::decode(b, icv) {
            for alg in [IntegrityAlg::HmacSha1_96, IntegrityAlg::HmacSha256_128] {
                if f.verify(alg, &k1).is_ok() && !f.auth_code.is_empty() {
                    let again = p::encode_v20(
                        f.payload_type,
                        f.session_id,
                        f.seq,
                        f.payload,
                        Some((alg, &k1)),
                    );
                    assert_eq!(again, b, "a signed IPMI frame verified but is not ours");
                }
            }
            let _ = IpmiResponse::decode(f.payload);
        }
    }
    let _ = IpmiResponse::decode(b);
    let _ = OpenSessionResponse::decode(b);
    for digest in [0, 20, 32] {
        let _ = Rakp2::decode(b, digest);
    }
    for icv in [0, 12, 16] {
        let _ = Rakp4::decode(b, icv);
    }
    let _ = aes_cbc_decrypt(&[9; 16], b);
}

/// A power switch's telnet stream: option negotiation and data never panic; data without
/// commands comes through byte for byte (0xFF doubled on the wire).
pub fn telnet(b: &[u8]) {
    use fence::telnet::{encode, Client};
    let mut c = Client::default();
    // In two pieces, as TCP may cut it.
    let cut = b.len() / 2;
    let (mut data, _) = c.decode(&b[..cut]);
    data.extend(c.decode(&b[cut..]).0);
    assert!(data.len() <= b.len());
    let (plain, reply) = Client::default().decode(&encode(b));
    assert_eq!(plain, b);
    assert!(reply.is_empty());
}

/// An APC switch's screens: the menu and command-line parsers and the prompt matcher take any
/// text (the switch is on the network, and a wrong firmware prints anything).
pub fn apc_screen(b: &[u8]) {
    use fence::apc;
    let s = String::from_utf8_lossy(b);
    let _ = apc::firmware_major(&s);
    let _ = apc::dialect_of(&s);
    let menu = apc::parse_menu_outlets(&s);
    let cli = apc::parse_cli_outlets(&s);
    let _ = apc::state_of(&menu, "1");
    let _ = apc::state_of(&cli, "web2");
    let _ = apc::find_earliest(&s, &["> ", "apc>", "User Name :", "\u{e9}"]);
}

/// known_hosts files (the SSH fence agents check a host key against them) and base64.
pub fn known_hosts(b: &[u8]) {
    use fence::known_hosts as kh;
    let blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let s = String::from_utf8_lossy(b);
    let _ = kh::check(&s, "10.0.0.5", 22, blob);
    let _ = kh::recorded_types(&s, "10.0.0.5", 22);
    let _ = kh::key_type(b);
    let _ = kh::base64_decode(&s);
    assert_eq!(kh::base64_decode(&kh::base64_encode(b)).as_deref(), Some(b));
}

/// The stdin protocol of every native agent (`name=value` lines from fenced, fence_node or
/// Pacemaker), typed as the agent would before it acts.
pub fn fence_stdin(b: &[u8]) {
    use fence::agents::{apc, ipmilan, virsh};
    let s = String::from_utf8_lossy(b);
    for spec in [&ipmilan::SPEC, &apc::SPEC, &virsh::SPEC] {
        let parsed = fence::cli::parse_stdin(spec, &s);
        let _ = fence::agent::options::Options::from_raw(parsed.raw, spec.defaults);
    }
}
