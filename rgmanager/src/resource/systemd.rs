//! `systemd`: a systemd unit as a resource (a type of our own, docs/resource-agents.md).
//!
//! ```xml
//! <systemd unit="haproxy.service"/>
//! ```
//!
//! - start: `systemctl start UNIT` (which waits for the start job), then the unit's state
//!   must be `active`. A unit systemd does not know is "not installed".
//! - stop: `systemctl stop UNIT`, then the unit must be `inactive` or `failed`. A unit that
//!   is not loaded, or already stopped, is stopped.
//! - status: the unit's `ActiveState` from `systemctl show`: `active` and `reloading` are
//!   running, anything else is "not running" (with the state, sub-state and result in the
//!   log line: a unit that died is `failed`, one being restarted by systemd `activating`).
//! - A unit without a suffix is a `.service`, as for systemctl.
//! - A unit enabled (`enabled`, `enabled-runtime`) is started by systemd itself on a node that
//!   boots, beside the one the cluster chose: the start logs a warning saying so.
//! - systemd not running on the node (no `/run/systemd/system`) is an error naming it.

use std::collections::HashMap;
use std::path::Path;

use super::agent::{Agent, AgentError, OpContext};
use super::exec::{self, CmdError, Deadline};

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("unit \"{0}\" is not a unit name")]
    BadUnit(String),
    #[error("systemd is not running on this node (no /run/systemd/system)")]
    NoSystemd,
    #[error("unit {0} is not installed (systemd cannot find it)")]
    NotFound(String),
    #[error("unit {unit} is {state} after {op} (sub-state {sub}, result {result})")]
    WrongState {
        unit: String,
        op: &'static str,
        state: String,
        sub: String,
        result: String,
    },
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<SystemdError> for AgentError {
    fn from(e: SystemdError) -> Self {
        AgentError::Systemd(e)
    }
}

/// The unit's name as systemctl reads it: `.service` added to a name without a suffix.
pub fn unit_name(spec: &str) -> Result<String, SystemdError> {
    let s = spec.trim();
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@:._-\\".contains(&b));
    if !ok {
        return Err(SystemdError::BadUnit(spec.to_string()));
    }
    const SUFFIXES: &[&str] = &[
        ".service",
        ".socket",
        ".target",
        ".mount",
        ".timer",
        ".path",
        ".swap",
        ".slice",
        ".scope",
        ".device",
        ".automount",
    ];
    if SUFFIXES.iter().any(|x| s.ends_with(x)) {
        Ok(s.to_string())
    } else {
        Ok(format!("{s}.service"))
    }
}

/// `systemctl show -p …` output: `Key=value` lines.
pub fn parse_show(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The part of a unit's state the agent reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
    pub result: String,
    pub file_state: String,
}

impl UnitState {
    pub fn from_show(text: &str) -> Self {
        let mut m = parse_show(text);
        let mut take = |k: &str| m.remove(k).unwrap_or_default();
        UnitState {
            load: take("LoadState"),
            active: take("ActiveState"),
            sub: take("SubState"),
            result: take("Result"),
            file_state: take("UnitFileState"),
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading")
    }

    pub fn stopped(&self) -> bool {
        matches!(self.active.as_str(), "inactive" | "failed" | "")
    }

    pub fn not_found(&self) -> bool {
        self.load == "not-found"
    }
}

/// The `systemd` agent.
#[derive(Debug, Default)]
pub struct SystemdAgent;

fn systemctl(dl: &Deadline, args: &[&str]) -> Result<String, SystemdError> {
    Ok(exec::check(dl, &exec::base_env(), "systemctl", args)?.stdout)
}

fn state(dl: &Deadline, unit: &str) -> Result<UnitState, SystemdError> {
    let out = systemctl(
        dl,
        &[
            "show",
            "-p",
            "LoadState,ActiveState,SubState,Result,UnitFileState",
            "--",
            unit,
        ],
    )?;
    Ok(UnitState::from_show(&out))
}

fn prepare(ctx: &OpContext) -> Result<(String, Deadline), AgentError> {
    let unit = unit_name(ctx.param("unit").ok_or(AgentError::MissingParam("unit"))?)?;
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(SystemdError::NoSystemd.into());
    }
    Ok((unit, Deadline::of(ctx)))
}

fn wrong(unit: &str, op: &'static str, s: UnitState) -> SystemdError {
    SystemdError::WrongState {
        unit: unit.to_string(),
        op,
        state: s.active,
        sub: s.sub,
        result: s.result,
    }
}

impl Agent for SystemdAgent {
    fn kind(&self) -> &'static str {
        "systemd"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let (unit, dl) = prepare(ctx)?;
        let before = state(&dl, &unit)?;
        if before.not_found() {
            return Err(SystemdError::NotFound(unit).into());
        }
        if before.file_state.starts_with("enabled") {
            tracing::warn!(service = %ctx.service, resource = %ctx.resource,
                "{unit} is {}: systemd starts it by itself on a node that boots, beside the cluster's choice (systemctl disable {unit})", before.file_state);
        }
        tracing::info!(service = %ctx.service, resource = %ctx.resource, "Starting {unit}");
        let started = systemctl(&dl, &["start", "--", &unit]);
        let after = state(&dl, &unit)?;
        if after.running() {
            return Ok(());
        }
        // systemctl's own message says why (the job failed, a dependency, …).
        started?;
        Err(wrong(&unit, "start", after).into())
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let (unit, dl) = prepare(ctx)?;
        let before = state(&dl, &unit)?;
        if before.not_found() || (before.stopped() && before.active != "failed") {
            return Ok(());
        }
        tracing::info!(service = %ctx.service, resource = %ctx.resource, "Stopping {unit}");
        let stopped = systemctl(&dl, &["stop", "--", &unit]);
        let after = state(&dl, &unit)?;
        if after.stopped() {
            return Ok(());
        }
        stopped?;
        Err(wrong(&unit, "stop", after).into())
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let (unit, dl) = prepare(ctx)?;
        let s = state(&dl, &unit)?;
        if s.running() {
            return Ok(());
        }
        tracing::warn!(service = %ctx.service, resource = %ctx.resource,
            "{unit} is {} ({}, result {})", s.active, s.sub, s.result);
        Err(AgentError::NotRunning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(unit_name("haproxy").unwrap(), "haproxy.service");
        assert_eq!(unit_name("haproxy.service").unwrap(), "haproxy.service");
        assert_eq!(
            unit_name("getty@tty1.service").unwrap(),
            "getty@tty1.service"
        );
        assert_eq!(unit_name("web.target").unwrap(), "web.target");
        for bad in ["", "a b", "../x", "--force", "a;b"] {
            assert!(unit_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_from_systemctl_show() {
        let s = UnitState::from_show(
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nUnitFileState=enabled\n",
        );
        assert!(!s.running() && s.stopped() && !s.not_found());
        assert_eq!(s.result, "exit-code");
        assert_eq!(s.file_state, "enabled");
        let s = UnitState::from_show("LoadState=not-found\nActiveState=inactive\nSubState=dead\n");
        assert!(s.not_found() && s.stopped());
        let s = UnitState::from_show("ActiveState=reloading\n");
        assert!(s.running());
        let s = UnitState::from_show("ActiveState=activating\nSubState=auto-restart\n");
        assert!(!s.running() && !s.stopped());
    }
}
