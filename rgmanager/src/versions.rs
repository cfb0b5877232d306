//! Wire protocol versions, for rolling upgrades (docs/rgmanager.md, "Versions and rolling
//! upgrades").
//!
//! Operators upgrade a cluster one node at a time, so a release must talk to the one before
//! it. Every wire format carries its version byte; a version of the *protocol* names one
//! format of each kind:
//!
//! | protocol | membership frame | daemon message | sync frame | what it adds |
//! |---|---|---|---|---|
//! | 1 | 1 | 2 | 3 | (the formats before the security work) |
//! | 2 | 2 | 3 | 4 | daemon messages bound to their recipient's run, heartbeats naming the runs they hear (replays cannot fake a peer or a duplicate), sync bodies encrypted (ChaCha20-Poly1305), sync frames bound to their recipient's run with a request nonce |
//!
//! Each daemon announces the range it speaks in its heartbeats (protocol 1 heartbeats announce
//! nothing: such a peer speaks 1 only). Two daemons talk the highest version both speak; the
//! cluster's version, shown by `clustat`, is the highest every member speaks, and moves up
//! when the last member of an older release leaves. A peer that shares no version is refused,
//! with a log line naming both ranges.
//!
//! Support window: release N speaks its own protocol and the one before (N−1).

/// The protocol before the security work.
pub const V1: u8 = 1;
/// Recipient-bound, replay-proof messages; encrypted sync.
pub const V2: u8 = 2;

/// Test-only switch (docs): `RGMANAGER_WIRE=1` makes a daemon speak protocol 1 only, as the
/// previous release did; `RGMANAGER_WIRE=2` makes it refuse protocol 1, as the next release
/// (which drops it) will. Unset: what this build speaks.
pub const WIRE_ENV: &str = "RGMANAGER_WIRE";

/// The versions a daemon speaks, `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    pub min: u8,
    pub max: u8,
}

impl Default for Range {
    fn default() -> Range {
        Range::BUILD
    }
}

/// A bad `RGMANAGER_WIRE` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{WIRE_ENV}={0:?}: expected a wire version ({V1} to {V2}) or a range such as 1-2")]
pub struct RangeError(pub String);

impl Range {
    /// What this build speaks: its own protocol and the previous release's.
    pub const BUILD: Range = Range { min: V1, max: V2 };

    /// One version only.
    pub const fn only(v: u8) -> Range {
        Range { min: v, max: v }
    }

    /// Reads `N` or `A-B` (within what this build speaks).
    pub fn parse(s: &str) -> Result<Range, RangeError> {
        let bad = || RangeError(s.to_string());
        let num = |t: &str| t.trim().parse::<u8>().map_err(|_| bad());
        let r = match s.split_once('-') {
            Some((a, b)) => Range {
                min: num(a)?,
                max: num(b)?,
            },
            None => Range::only(num(s)?),
        };
        if r.min > r.max || r.min < Range::BUILD.min || r.max > Range::BUILD.max {
            return Err(bad());
        }
        Ok(r)
    }

    /// `RGMANAGER_WIRE` if set (see [`WIRE_ENV`]), else [`Range::BUILD`].
    pub fn from_env() -> Result<Range, RangeError> {
        match std::env::var(WIRE_ENV) {
            Ok(v) if !v.is_empty() => Range::parse(&v),
            _ => Ok(Range::BUILD),
        }
    }

    pub fn speaks(self, v: u8) -> bool {
        (self.min..=self.max).contains(&v)
    }

    /// The highest version both speak, if any.
    pub fn common(self, other: Range) -> Option<u8> {
        let hi = self.max.min(other.max);
        (hi >= self.min.max(other.min)).then_some(hi)
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{} only", self.min)
        } else {
            write!(f, "{} to {}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(Range::parse("1"), Ok(Range::only(1)));
        assert_eq!(Range::parse("1-2"), Ok(Range::BUILD));
        assert!(Range::parse("3").is_err());
        assert!(Range::parse("2-1").is_err());
        assert!(Range::parse("x").is_err());
        assert_eq!(Range::BUILD.common(Range::only(1)), Some(1));
        assert_eq!(Range::BUILD.common(Range::BUILD), Some(2));
        assert_eq!(Range::only(2).common(Range::only(1)), None);
        assert_eq!(Range::only(1).to_string(), "1 only");
        assert_eq!(Range::BUILD.to_string(), "1 to 2");
    }
}
