//! OpenSSH `known_hosts` files, as pure functions: is this server key known for this host and
//! port, which key types are recorded for it (so the SSH client can ask the server for one of
//! those), and the line that records a newly accepted key. The SSH agents (`fence_virsh`) check
//! host keys here instead of trusting whatever key answers, which is what fence-agents does.
//!
//! Understood: plain host patterns (`host`, `[host]:port`, comma lists, `*`/`?` wildcards,
//! `!negation`), hashed names (`|1|salt|hash`, HMAC-SHA1), `@revoked` (a matching key is refused);
//! `@cert-authority` lines are skipped (no certificate support).

use hmac::{Hmac, Mac};

/// What the file says about a server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key is recorded for this host.
    Known,
    /// Nothing recorded for this host with this key type.
    Unknown,
    /// The host is recorded with a different key of the same type: possibly an attacker.
    Changed {
        /// 1-based line of the recorded key.
        line: usize,
    },
    /// The key is marked `@revoked`.
    Revoked {
        /// 1-based line of the revocation.
        line: usize,
    },
}

/// The name OpenSSH looks up for `host` and `port`: `host` on 22, `[host]:port` otherwise.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The key type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…) a public key blob starts with.
pub fn key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

struct Entry<'a> {
    line: usize,
    marker: Option<&'a str>,
    hosts: &'a str,
    ktype: &'a str,
    key: &'a str,
}

fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut f = l.split_whitespace();
        let mut first = f.next()?;
        let marker = if first.starts_with('@') {
            let m = first;
            first = f.next()?;
            Some(m)
        } else {
            None
        };
        Some(Entry {
            line: i + 1,
            marker,
            hosts: first,
            ktype: f.next()?,
            key: f.next()?,
        })
    })
}

/// OpenSSH's host pattern match (`*`, `?`, ASCII case ignored), in linear time: the usual
/// two-pointer match that remembers only the last `*` (a recursive match is exponential on a
/// pattern of many stars, and the file is read by a fence agent that must not hang; found by
/// fuzzing).
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut i, mut j) = (0, 0);
    // The last star seen and the name position its match now starts from.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some(b'*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == b'?' || c.eq_ignore_ascii_case(&n[j]) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                // Let the last star take one more byte and try again after it.
                Some((si, sj)) => {
                    star = Some((si, sj + 1));
                    i = si + 1;
                    j = sj + 1;
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == b'*')
}

fn hashed_matches(field: &str, name: &str) -> bool {
    let mut parts = field.strip_prefix("|1|").unwrap_or("").split('|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Some(salt), Some(hash)) = (base64_decode(salt), base64_decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

fn host_matches(hosts: &str, name: &str) -> bool {
    if hosts.starts_with("|1|") {
        return hashed_matches(hosts, name);
    }
    let mut hit = false;
    for p in hosts.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(p, name) {
            hit = true;
        }
    }
    hit
}

/// Look the server key `blob` of `host:port` up in a known_hosts file's text.
pub fn check(text: &str, host: &str, port: u16, blob: &[u8]) -> Verdict {
    let name = host_name(host, port);
    let ktype = key_type(blob).unwrap_or("");
    let key = base64_encode(blob);
    let mut verdict = Verdict::Unknown;
    for e in entries(text) {
        if !host_matches(e.hosts, &name) {
            continue;
        }
        match e.marker {
            Some("@revoked") if e.key == key => return Verdict::Revoked { line: e.line },
            Some(_) => continue,
            None if e.ktype == ktype && e.key == key => verdict = Verdict::Known,
            None if e.ktype == ktype && verdict == Verdict::Unknown => {
                verdict = Verdict::Changed { line: e.line }
            }
            None => {}
        }
    }
    verdict
}

/// The key types recorded for `host:port`, in file order, without repeats.
pub fn recorded_types(text: &str, host: &str, port: u16) -> Vec<String> {
    let name = host_name(host, port);
    let mut out: Vec<String> = vec![];
    for e in entries(text) {
        if e.marker.is_none() && host_matches(e.hosts, &name) && !out.iter().any(|t| t == e.ktype) {
            out.push(e.ktype.to_string());
        }
    }
    out
}

/// The host key algorithms to offer the server so it answers with a key type we have recorded
/// (an RSA key can be presented with three signature algorithms).
pub fn algorithms_for(types: &[String]) -> Vec<String> {
    let mut out = vec![];
    for t in types {
        if t == "ssh-rsa" {
            out.extend(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"].map(String::from));
        } else {
            out.push(t.clone());
        }
    }
    out
}

/// The line recording `blob` for `host:port` (plain name, as `ssh` with `HashKnownHosts no`).
pub fn entry_line(host: &str, port: u16, blob: &[u8]) -> String {
    format!(
        "{} {} {}\n",
        host_name(host, port),
        key_type(blob).unwrap_or("unknown"),
        base64_encode(blob)
    )
}

/// `SHA256:…` as `ssh-keygen -l` prints it, from the SHA-256 digest of the key blob.
pub fn fingerprint(sha256: &[u8]) -> String {
    format!("SHA256:{}", base64_encode(sha256).trim_end_matches('='))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; None on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for ch in s.bytes() {
        let v = B64.iter().position(|&b| b == ch)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(ktype: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (ktype.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(ktype.as_bytes());
        b.extend_from_slice(body);
        b
    }

    /// The definition, exponential on many stars: the reference for small inputs.
    fn glob_reference(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                glob_reference(&p[1..], n) || (!n.is_empty() && glob_reference(p, &n[1..]))
            }
            (Some(b'?'), Some(_)) => glob_reference(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob_reference(&p[1..], &n[1..]),
            _ => false,
        }
    }

    #[test]
    fn glob_matches_as_the_definition_and_stars_cost_nothing() {
        for (p, n, want) in [
            ("*.example.com", "node1.Example.com", true),
            ("node?", "node1", true),
            ("node?", "node12", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("**", "x", true),
            ("", "x", false),
        ] {
            assert_eq!(glob(p, n), want, "{p} {n}");
        }
        // Every pattern and name of up to 5 bytes over a small alphabet.
        let alphabet = [b'a', b'B', b'*', b'?'];
        let mut words: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=5 {
            let mut next = Vec::new();
            for w in words.iter().filter(|w| w.len() == len - 1) {
                for c in alphabet {
                    let mut x = w.clone();
                    x.push(c);
                    next.push(x);
                }
            }
            words.extend(next);
        }
        for p in &words {
            for n in words
                .iter()
                .filter(|n| !n.contains(&b'*') && !n.contains(&b'?'))
            {
                let (ps, ns) = (
                    std::str::from_utf8(p).unwrap(),
                    std::str::from_utf8(n).unwrap(),
                );
                assert_eq!(glob(ps, ns), glob_reference(p, n), "{ps:?} {ns:?}");
            }
        }
        // The fuzzer's hang: a known_hosts pattern of many stars against a host that does not
        // match (the recursive match took more than 14 s).
        let stars = format!("{}x", "*".repeat(200));
        assert!(!glob(&stars, &"a".repeat(200)));
    }

    #[test]
    fn base64_round_trip() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("a$b").is_none());
    }

    #[test]
    fn known_unknown_changed_revoked() {
        let k1 = blob("ssh-ed25519", b"one");
        let k2 = blob("ssh-ed25519", b"two");
        let rsa = blob("ssh-rsa", b"r");
        let text = format!(
            "# comment\n[127.0.0.1]:2222 ssh-ed25519 {}\nother ssh-ed25519 {}\n",
            base64_encode(&k1),
            base64_encode(&k2)
        );
        assert_eq!(check(&text, "127.0.0.1", 2222, &k1), Verdict::Known);
        assert_eq!(
            check(&text, "127.0.0.1", 2222, &k2),
            Verdict::Changed { line: 2 }
        );
        // Another port is another host; a key of another type is not a change.
        assert_eq!(check(&text, "127.0.0.1", 22, &k1), Verdict::Unknown);
        assert_eq!(check(&text, "127.0.0.1", 2222, &rsa), Verdict::Unknown);
        let revoked = format!("{text}@revoked * ssh-ed25519 {}\n", base64_encode(&k1));
        assert_eq!(
            check(&revoked, "127.0.0.1", 2222, &k1),
            Verdict::Revoked { line: 4 }
        );
        assert_eq!(
            recorded_types(&text, "127.0.0.1", 2222),
            vec!["ssh-ed25519"]
        );
        assert!(recorded_types(&text, "nowhere", 22).is_empty());
    }

    #[test]
    fn patterns_and_hashed_names() {
        let k = blob("ssh-ed25519", b"k");
        let line = |hosts: &str| format!("{hosts} ssh-ed25519 {}\n", base64_encode(&k));
        assert_eq!(
            check(&line("a,hv*.example.com"), "hv1.example.com", 22, &k),
            Verdict::Known
        );
        assert_eq!(check(&line("hv*,!hv2"), "hv2", 22, &k), Verdict::Unknown);
        // `ssh-keygen -H` form for "hv1": |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"hv1");
        let hashed = format!(
            "|1|{}|{}",
            base64_encode(&salt),
            base64_encode(&mac.finalize().into_bytes())
        );
        assert_eq!(check(&line(&hashed), "hv1", 22, &k), Verdict::Known);
        assert_eq!(check(&line(&hashed), "hv2", 22, &k), Verdict::Unknown);
        assert_eq!(check(&line("|1|garbage"), "hv1", 22, &k), Verdict::Unknown);
    }

    #[test]
    fn new_entry_is_found_again() {
        let k = blob("ecdsa-sha2-nistp256", b"xyz");
        let line = entry_line("10.0.0.1", 2200, &k);
        assert!(line.starts_with("[10.0.0.1]:2200 ecdsa-sha2-nistp256 "));
        assert_eq!(check(&line, "10.0.0.1", 2200, &k), Verdict::Known);
        assert_eq!(
            algorithms_for(&["ssh-rsa".into(), "ssh-ed25519".into()]),
            vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-ed25519"]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for t in [
            "",
            "@",
            "@revoked",
            "host",
            "host type",
            "|1|||| t k",
            "\u{0}\n\n#",
        ] {
            let _ = check(t, "h", 22, b"");
            let _ = recorded_types(t, "h", 22);
        }
        assert_eq!(key_type(b"\0\0\0\x09ssh-x"), None);
        assert_eq!(fingerprint(&[0u8; 32]).len(), 7 + 43);
    }
}
