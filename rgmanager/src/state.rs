//! Service states and flags as RHCS named and numbered them.
//!
//! The numbers are part of the interface: `clustat -s` exits with them, `clustat -x` prints them,
//! scripts compare them. One table here so that every tool and the policy use the same words.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A resource group's state (`rgmanager/include/resgroup.h`, strings in `rg_strings.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Stopped,
    Starting,
    Started,
    Stopping,
    Failed,
    Uninitialized,
    Checking,
    /// RHCS's `RG_STATE_ERROR`: stopped for recovery, shown as `recoverable`.
    Recoverable,
    Recovering,
    Disabled,
    Migrating,
}

impl ServiceState {
    pub const ALL: [ServiceState; 11] = [
        ServiceState::Stopped,
        ServiceState::Starting,
        ServiceState::Started,
        ServiceState::Stopping,
        ServiceState::Failed,
        ServiceState::Uninitialized,
        ServiceState::Checking,
        ServiceState::Recoverable,
        ServiceState::Recovering,
        ServiceState::Disabled,
        ServiceState::Migrating,
    ];

    /// RHCS's number (110 = stopped … 120 = migrating).
    pub fn code(self) -> u32 {
        match self {
            ServiceState::Stopped => 110,
            ServiceState::Starting => 111,
            ServiceState::Started => 112,
            ServiceState::Stopping => 113,
            ServiceState::Failed => 114,
            ServiceState::Uninitialized => 115,
            ServiceState::Checking => 116,
            ServiceState::Recoverable => 117,
            ServiceState::Recovering => 118,
            ServiceState::Disabled => 119,
            ServiceState::Migrating => 120,
        }
    }

    pub fn from_code(code: u32) -> Option<ServiceState> {
        ServiceState::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The word clustat prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Stopped => "stopped",
            ServiceState::Starting => "starting",
            ServiceState::Started => "started",
            ServiceState::Stopping => "stopping",
            ServiceState::Failed => "failed",
            ServiceState::Uninitialized => "uninitialized",
            ServiceState::Checking => "checking",
            ServiceState::Recoverable => "recoverable",
            ServiceState::Recovering => "recovering",
            ServiceState::Disabled => "disabled",
            ServiceState::Migrating => "migrating",
        }
    }

    /// Running or on its way (`clustat -s` exits 0 for these).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ServiceState::Starting | ServiceState::Started | ServiceState::Stopping
        )
    }

    /// States in which clustat shows the last owner in parentheses rather than the owner.
    pub fn shows_last_owner(self) -> bool {
        matches!(
            self,
            ServiceState::Stopped
                | ServiceState::Disabled
                | ServiceState::Recoverable
                | ServiceState::Failed
        )
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Service flags: frozen (no status checks, no recovery) and partial (a non-critical subtree is
/// stopped). Bits as RHCS: frozen 1, partial 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceFlags {
    pub frozen: bool,
    pub partial: bool,
}

impl ServiceFlags {
    pub fn bits(self) -> u32 {
        u32::from(self.frozen) | (u32::from(self.partial) << 1)
    }

    pub fn is_empty(self) -> bool {
        self.bits() == 0
    }

    /// `Z`, `P`, `ZP` (clustat's table) or `frozen`, `partial` joined by `sep` (long forms).
    pub fn letters(self) -> String {
        let mut s = String::new();
        if self.frozen {
            s.push('Z');
        }
        if self.partial {
            s.push('P');
        }
        s
    }

    pub fn words(self, sep: &str) -> String {
        let mut v = Vec::new();
        if self.frozen {
            v.push("frozen");
        }
        if self.partial {
            v.push("partial");
        }
        v.join(sep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_rhcs() {
        for s in ServiceState::ALL {
            assert_eq!(ServiceState::from_code(s.code()), Some(s));
        }
        assert_eq!(ServiceState::Stopped.code(), 110);
        assert_eq!(ServiceState::Recoverable.as_str(), "recoverable");
        assert_eq!(ServiceState::Disabled.code(), 119);
        assert_eq!(ServiceState::from_code(121), None);
    }

    #[test]
    fn flags() {
        let f = ServiceFlags {
            frozen: true,
            partial: true,
        };
        assert_eq!(f.bits(), 3);
        assert_eq!(f.letters(), "ZP");
        assert_eq!(f.words(", "), "frozen, partial");
        assert!(ServiceFlags::default().is_empty());
    }
}
