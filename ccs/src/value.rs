//! Reading attribute values the way cluster.conf means them.
//!
//! One place for the words and numbers every part of the project reads from the file, so that the
//! validator and the typed accessors can never disagree about what a value means.

use std::net::IpAddr;

/// `1/0/yes/no/true/false/on/off` (any case) with their plain meaning.
pub fn parse_bool(word: &str) -> Option<bool> {
    // Compared without folding into a new string: this runs for every flag of every service.
    let w = trim(word);
    let is = |x: &str| w.eq_ignore_ascii_case(x);
    if is("1") || is("yes") || is("true") || is("on") {
        Some(true)
    } else if is("0") || is("no") || is("false") || is("off") {
        Some(false)
    } else {
        None
    }
}

/// `str::trim`, with a shortcut for the common value that starts and ends with a visible ASCII
/// character (the validator trims every value it reads; the general trim is Unicode-aware).
pub fn trim(s: &str) -> &str {
    let visible = |b: &u8| *b > b' ' && b.is_ascii();
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if visible(a) && visible(z) => s,
        _ => s.trim(),
    }
}

/// `s.trim().is_empty()`, without the trim for a value that starts with a visible ASCII
/// character.
pub fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if *b > b' ' && b.is_ascii() => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// What RHCS's `atoi(value) != 0` made of a flag: the leading decimal number, or 0.
pub fn atoi_flag(word: &str) -> bool {
    let t = word.trim_start();
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    t[..digits].parse::<u64>().map(|n| n != 0).unwrap_or(false)
}

/// A non-negative decimal integer.
pub fn parse_uint(word: &str) -> Option<u64> {
    let w = trim(word);
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

/// A non-negative decimal integer that fits 32 bits (what cman and rgmanager read as C ints).
pub fn parse_u32(word: &str) -> Option<u32> {
    parse_uint(word).and_then(|n| u32::try_from(n).ok())
}

/// A decimal integer, possibly negative.
pub fn parse_int(word: &str) -> Option<i64> {
    let w = trim(word);
    let digits = w.strip_prefix('-').unwrap_or(w);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

/// A time in seconds as rgmanager's `expand_time` read it: numbers each with an optional unit
/// `s`, `m`, `h`, `d` or `w`, added up (`90`, `5m`, `1h30m`). Anything else is not a time.
pub fn parse_time(word: &str) -> Option<u64> {
    let mut rest = trim(word).as_bytes();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let (mult, used) = match rest.get(digits) {
            None => (1, digits),
            Some(b's' | b'S') => (1, digits + 1),
            Some(b'm' | b'M') => (60, digits + 1),
            Some(b'h' | b'H') => (3600, digits + 1),
            Some(b'd' | b'D') => (86400, digits + 1),
            Some(b'w' | b'W') => (604800, digits + 1),
            Some(_) => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
        rest = &rest[used..];
    }
    Some(total)
}

/// An IPv4 or IPv6 address with an optional `/prefix` (0..=32 or 0..=128).
pub fn parse_ip_prefix(word: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (addr, prefix) = match word.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("\"{addr}\" is not an IPv4 or IPv6 address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match parse_uint(p) {
            Some(n) if n <= max => Some(n as u8),
            _ => return Err(format!("prefix \"/{p}\" is not a number in 0..{max}")),
        },
    };
    Ok((ip, prefix))
}

/// An IPv4 or IPv6 address without a prefix.
pub fn parse_addr(word: &str) -> Result<IpAddr, String> {
    match parse_ip_prefix(word)? {
        (ip, None) => Ok(ip),
        (_, Some(_)) => Err("an address here takes no /prefix".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_trim_agrees_with_str_trim() {
        for w in [
            "", " ", "a", " a", "a ", "\u{b}a", "a\u{a0}", "\u{2003}", "é", " x y ", "\t\n",
        ] {
            assert_eq!(trim(w), w.trim(), "{w:?}");
            assert_eq!(is_blank(w), w.trim().is_empty(), "{w:?}");
        }
    }

    #[test]
    fn booleans() {
        for w in ["1", "yes", "TRUE", "on"] {
            assert_eq!(parse_bool(w), Some(true), "{w}");
        }
        for w in ["0", "No", "false", "off"] {
            assert_eq!(parse_bool(w), Some(false), "{w}");
        }
        assert_eq!(parse_bool("2"), None);
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn atoi_reads_words_as_zero() {
        assert!(!atoi_flag("yes"));
        assert!(atoi_flag("1"));
        assert!(atoi_flag("2abc"));
        assert!(!atoi_flag("true"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("30"), Some(30));
        assert_eq!(parse_time("5m"), Some(300));
        assert_eq!(parse_time("1w"), Some(604800));
        assert_eq!(parse_time("1h30m"), Some(5400));
        assert_eq!(parse_time("1m30"), Some(90));
        assert_eq!(parse_time("m"), None);
        assert_eq!(parse_time("5 m"), None);
        assert_eq!(parse_time("x5"), None);
    }

    #[test]
    fn addresses() {
        assert!(parse_ip_prefix("10.0.0.1/24").is_ok());
        assert!(parse_ip_prefix("fd00::1/64").is_ok());
        assert!(parse_ip_prefix("10.0.0.1").is_ok());
        assert!(parse_ip_prefix("10.0.0.1/33").is_err());
        assert!(parse_ip_prefix("10.0.0.300").is_err());
        assert!(parse_ip_prefix("fd00::1/129").is_err());
        assert!(parse_addr("127.0.0.1").is_ok());
        assert!(parse_addr("::1").is_ok());
        assert!(parse_addr("10.0.0.1/24").is_err());
        assert!(parse_addr("node1").is_err());
    }
}
