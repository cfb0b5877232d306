//! Service states, flags and request answer codes as RHCS named and numbered them.
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

/// The answer to an administrator's request: RHCS's return codes (`resgroup.h`), which
/// `clusvcadm` prints with [`RgCode::message`] and exits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RgCode {
    Success,
    Fail,
    Abort,
    Forward,
    NoService,
    Deadlock,
    Again,
    Depend,
    Invalid,
    Quorum,
    Running,
    Frozen,
    Node,
    Fence,
    Script,
    Domain,
    Exclusive,
    Relocated,
    Permission,
}

impl RgCode {
    pub const ALL: [RgCode; 19] = [
        RgCode::Success,
        RgCode::Fail,
        RgCode::Abort,
        RgCode::Forward,
        RgCode::NoService,
        RgCode::Deadlock,
        RgCode::Again,
        RgCode::Depend,
        RgCode::Invalid,
        RgCode::Quorum,
        RgCode::Running,
        RgCode::Frozen,
        RgCode::Node,
        RgCode::Fence,
        RgCode::Script,
        RgCode::Domain,
        RgCode::Exclusive,
        RgCode::Relocated,
        RgCode::Permission,
    ];

    /// The number (0, -1 … -18).
    pub fn code(self) -> i32 {
        -(RgCode::ALL.iter().position(|c| *c == self).unwrap_or(1) as i32)
    }

    /// The C name (`RG_EFROZEN`).
    pub fn name(self) -> &'static str {
        match self {
            RgCode::Success => "RG_ESUCCESS",
            RgCode::Fail => "RG_EFAIL",
            RgCode::Abort => "RG_EABORT",
            RgCode::Forward => "RG_EFORWARD",
            RgCode::NoService => "RG_ENOSERVICE",
            RgCode::Deadlock => "RG_EDEADLCK",
            RgCode::Again => "RG_EAGAIN",
            RgCode::Depend => "RG_EDEPEND",
            RgCode::Invalid => "RG_EINVAL",
            RgCode::Quorum => "RG_EQUORUM",
            RgCode::Running => "RG_ERUN",
            RgCode::Frozen => "RG_EFROZEN",
            RgCode::Node => "RG_ENODE",
            RgCode::Fence => "RG_EFENCE",
            RgCode::Script => "RG_ESCRIPT",
            RgCode::Domain => "RG_EDOMAIN",
            RgCode::Exclusive => "RG_EEXCL",
            RgCode::Relocated => "RG_ERELO",
            RgCode::Permission => "RG_EPERM",
        }
    }

    /// `rg_strerror`'s text, as clusvcadm prints it.
    pub fn message(self) -> &'static str {
        match self {
            RgCode::Success => "Success",
            RgCode::Fail => "Failure",
            RgCode::Abort => "Aborted; service failed",
            RgCode::Forward => "Service not mastered locally",
            RgCode::NoService => "Service does not exist",
            RgCode::Deadlock => "Operation would cause a deadlock",
            RgCode::Again => "Temporary failure; try again",
            RgCode::Depend => "Operation violates dependency rule",
            RgCode::Invalid => "Invalid operation for resource",
            RgCode::Quorum => "Operation requires quorum",
            RgCode::Running => "Service is already running",
            RgCode::Frozen => "Failure: Service is frozen",
            RgCode::Node => "Target node dead / nonexistent",
            RgCode::Fence => "Fencing operation pending; try again later",
            RgCode::Script => "S/Lang Script Error",
            RgCode::Domain => "Service not runnable",
            RgCode::Exclusive => "Service not runnable: cannot run exclusive",
            RgCode::Relocated => "Failed; service running on original owner",
            RgCode::Permission => "Permissing denied",
        }
    }

    pub fn from_code(code: i32) -> Option<RgCode> {
        usize::try_from(-i64::from(code))
            .ok()
            .and_then(|i| RgCode::ALL.get(i).copied())
    }

    /// The code of a C name (`RG_EFROZEN`).
    pub fn parse_name(name: &str) -> Option<RgCode> {
        RgCode::ALL.into_iter().find(|c| c.name() == name)
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
    fn return_codes() {
        assert_eq!(RgCode::Success.code(), 0);
        assert_eq!(RgCode::Running.code(), -10);
        assert_eq!(RgCode::Running.name(), "RG_ERUN");
        assert_eq!(RgCode::Permission.code(), -18);
        assert_eq!(RgCode::from_code(-11), Some(RgCode::Frozen));
        assert_eq!(RgCode::from_code(-19), None);
        assert_eq!(RgCode::from_code(3), None);
        assert_eq!(RgCode::Frozen.message(), "Failure: Service is frozen");
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
