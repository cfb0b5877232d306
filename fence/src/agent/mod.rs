//! The fence agent framework: what every device type provides ([`FenceDevice`]: get/set power,
//! optionally cycle and list), and the fence-agents action logic built once on top of it
//! ([`Fence`]: `on`, `off`, `reboot`, `status`, `list`, `monitor`), following `fence_action` of
//! fence-agents' `fencing.py`: check the state first, "Already ON/OFF" when there is nothing to do,
//! otherwise set the state, sleep `power_wait`, and poll the state every `stonith_status_sleep`
//! until it is confirmed or `power_timeout` polls have failed. Sleeping goes through a [`Clock`]
//! so the logic is unit-tested without waiting.

pub mod options;

use std::time::Duration;

pub use options::{Action, Method, Options, Secret};

/// A plug's power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    /// Powered.
    On,
    /// Not powered.
    Off,
}

impl PowerState {
    /// `ON` / `OFF`, as fence-agents prints them.
    pub fn upper(self) -> &'static str {
        match self {
            PowerState::On => "ON",
            PowerState::Off => "OFF",
        }
    }
}

/// Why an action failed. The messages are fence-agents' where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceError {
    /// Bad or missing parameters.
    #[error("{0}")]
    Usage(String),
    /// Could not reach or log in to the device.
    #[error("Unable to connect/login to fencing device: {0}")]
    Login(String),
    /// The device stopped answering.
    #[error("Connection timed out: {0}")]
    Timeout(String),
    /// The device answered with an error.
    #[error("Failed: {0}")]
    Device(String),
    /// The state did not reach ON in time.
    #[error("Failed: Timed out waiting to power ON")]
    WaitingOn,
    /// The state did not reach OFF in time.
    #[error("Failed: Timed out waiting to power OFF")]
    WaitingOff,
    /// The device did not accept a power cycle.
    #[error("Failed: power cycle was not accepted by the device")]
    CycleFailed,
    /// The device type cannot do this.
    #[error("Failed: {0} is not supported by this device")]
    Unsupported(&'static str),
}

/// One plug as `list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlet {
    /// Plug identifier (number, VM name…).
    pub plug: String,
    /// Alias or name, may be empty.
    pub alias: String,
    /// State as the device spelled it (`ON`/`OFF`/…), if known.
    pub status: Option<String>,
}

/// What a device type implements: the primitive operations, on a connection already logged in.
pub trait FenceDevice {
    /// Current power state of `plug` (None for devices without plugs).
    fn get_power(&mut self, plug: Option<&str>) -> Result<PowerState, FenceError>;
    /// Ask for a new power state (the framework confirms it by polling).
    fn set_power(&mut self, plug: Option<&str>, state: PowerState) -> Result<(), FenceError>;
    /// One power-cycle command; `Ok(true)` when the device accepted it.
    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<bool, FenceError> {
        Err(FenceError::Unsupported("power cycle"))
    }
    /// Send a diagnostic interrupt (NMI); `Ok(true)` when the device accepted it.
    fn diag(&mut self, _plug: Option<&str>) -> Result<bool, FenceError> {
        Err(FenceError::Unsupported("diag"))
    }
    /// All plugs of the device.
    fn list(&mut self) -> Result<Vec<Outlet>, FenceError> {
        Err(FenceError::Unsupported("list"))
    }
    /// Log out; errors do not matter any more at this point.
    fn logout(&mut self) {}
}

/// Sleeping, injectable so tests of the action logic do not wait.
pub trait Clock {
    /// Sleep for `d`.
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
#[derive(Debug, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// What an action printed and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Lines for stdout.
    pub lines: Vec<String>,
    /// Exit status: 0, or 2 for `status` of a powered-off target.
    pub exit_code: i32,
}

impl Outcome {
    fn ok(line: impl Into<String>) -> Outcome {
        Outcome {
            lines: vec![line.into()],
            exit_code: 0,
        }
    }
}

/// The fence-agents actions, for every [`FenceDevice`].
pub trait Fence: FenceDevice {
    /// Power state over all plugs: ON if any plug is not off.
    fn multi_status(&mut self, opts: &Options) -> Result<PowerState, FenceError> {
        let mut state = PowerState::Off;
        for plug in plugs(opts) {
            if self.get_power(plug)? == PowerState::On {
                state = PowerState::On;
            }
        }
        Ok(state)
    }

    /// Set every plug to `target`, then poll until confirmed; `attempts` rounds of that.
    /// `Ok(false)` when the state was never confirmed.
    fn set_and_confirm(
        &mut self,
        opts: &Options,
        clock: &mut dyn Clock,
        target: PowerState,
        attempts: u32,
    ) -> Result<bool, FenceError> {
        for attempt in 0..attempts {
            for plug in plugs(opts) {
                tracing::info!(
                    plug = plug.unwrap_or(""),
                    state = target.upper(),
                    attempt,
                    "setting power"
                );
                self.set_power(plug, target)?;
                clock.sleep(opts.power_wait);
            }
            let mut polls: u64 = 1;
            loop {
                if self.multi_status(opts)? == target {
                    return Ok(true);
                }
                clock.sleep(opts.stonith_status_sleep);
                if opts.power_timeout > 0 && polls >= opts.power_timeout {
                    break;
                }
                polls += 1;
            }
        }
        Ok(false)
    }

    /// `status`: `Status: ON` (exit 0) or `Status: OFF` (exit 2).
    fn status(&mut self, opts: &Options) -> Result<Outcome, FenceError> {
        let s = self.multi_status(opts)?;
        Ok(Outcome {
            lines: vec![format!("Status: {}", s.upper())],
            exit_code: if s == PowerState::Off { 2 } else { 0 },
        })
    }

    /// `on`: with `1 + retry_on` attempts.
    fn on(&mut self, opts: &Options, clock: &mut dyn Clock) -> Result<Outcome, FenceError> {
        if self.multi_status(opts)? == PowerState::On {
            return Ok(Outcome::ok("Success: Already ON"));
        }
        if self.set_and_confirm(opts, clock, PowerState::On, 1 + opts.retry_on)? {
            Ok(Outcome::ok("Success: Powered ON"))
        } else {
            Err(FenceError::WaitingOn)
        }
    }

    /// `off`: one attempt.
    fn off(&mut self, opts: &Options, clock: &mut dyn Clock) -> Result<Outcome, FenceError> {
        if self.multi_status(opts)? == PowerState::Off {
            return Ok(Outcome::ok("Success: Already OFF"));
        }
        if self.set_and_confirm(opts, clock, PowerState::Off, 1)? {
            Ok(Outcome::ok("Success: Powered OFF"))
        } else {
            Err(FenceError::WaitingOff)
        }
    }

    /// `reboot`: with `method=cycle` one cycle command per plug; otherwise off (confirmed, failure
    /// is fatal) then on with `retry_on` attempts. A failed power-on still reports success, as in
    /// fence-agents: the node *was* fenced, which is what the caller needs to know.
    fn reboot(&mut self, opts: &Options, clock: &mut dyn Clock) -> Result<Outcome, FenceError> {
        let status = self.multi_status(opts)?;
        if opts.method == Method::Cycle {
            for _ in 0..1 + opts.retry_on {
                let mut all = true;
                for plug in plugs(opts) {
                    all &= self.power_cycle(plug)?;
                }
                if all {
                    return Ok(Outcome::ok("Success: Rebooted"));
                }
            }
            return Err(FenceError::CycleFailed);
        }
        if status != PowerState::Off && !self.set_and_confirm(opts, clock, PowerState::Off, 1)? {
            return Err(FenceError::WaitingOff);
        }
        match self.set_and_confirm(opts, clock, PowerState::On, opts.retry_on.max(1)) {
            Ok(true) => {}
            Ok(false) => tracing::error!("Timed out waiting to power ON"),
            Err(e) => tracing::warn!(error = %e, "power on after fencing failed"),
        }
        Ok(Outcome::ok("Success: Rebooted"))
    }

    /// `diag`: one diagnostic interrupt per plug, reported like a cycle reboot (fence-agents
    /// reuses its reboot path for it); nothing can confirm its effect.
    fn diag(&mut self, opts: &Options) -> Result<Outcome, FenceError> {
        self.multi_status(opts)?;
        for plug in plugs(opts) {
            if !FenceDevice::diag(self, plug)? {
                return Err(FenceError::Device(
                    "diagnostic interrupt was not accepted".into(),
                ));
            }
        }
        Ok(Outcome::ok("Success: Rebooted"))
    }

    /// `list` / `list-status`: `plug<sep>alias[<sep>STATUS]`; `N/A` for devices without plugs.
    fn list(
        &mut self,
        opts: &Options,
        has_plugs: bool,
        with_status: bool,
    ) -> Result<Outcome, FenceError> {
        if !has_plugs {
            return Ok(Outcome::ok("N/A"));
        }
        let sep = &opts.separator;
        let lines = FenceDevice::list(self)?
            .into_iter()
            .map(|o| {
                if with_status {
                    let st = match o.status {
                        Some(s) if ["ON", "OFF"].contains(&s.to_ascii_uppercase().as_str()) => s,
                        _ => "UNKNOWN".into(),
                    };
                    format!("{}{sep}{}{sep}{st}", o.plug, o.alias)
                } else {
                    format!("{}{sep}{}", o.plug, o.alias)
                }
            })
            .collect();
        Ok(Outcome {
            lines,
            exit_code: 0,
        })
    }

    /// `monitor`: the device answers (list for plug devices, status otherwise); prints nothing.
    fn monitor(&mut self, opts: &Options, has_plugs: bool) -> Result<Outcome, FenceError> {
        if has_plugs {
            FenceDevice::list(self)?;
        } else {
            self.multi_status(opts)?;
        }
        Ok(Outcome {
            lines: vec![],
            exit_code: 0,
        })
    }

    /// Dispatch a device action.
    fn run(
        &mut self,
        opts: &Options,
        has_plugs: bool,
        clock: &mut dyn Clock,
    ) -> Result<Outcome, FenceError> {
        match opts.action {
            Action::On => self.on(opts, clock),
            Action::Off => self.off(opts, clock),
            Action::Reboot => self.reboot(opts, clock),
            Action::Status => self.status(opts),
            Action::List => Fence::list(self, opts, has_plugs, false),
            Action::ListStatus => Fence::list(self, opts, has_plugs, true),
            Action::Monitor => self.monitor(opts, has_plugs),
            Action::Diag => Fence::diag(self, opts),
            Action::Metadata | Action::ValidateAll => {
                Err(FenceError::Usage("not a device action".into()))
            }
        }
    }
}

impl<T: FenceDevice + ?Sized> Fence for T {}

fn plugs(opts: &Options) -> Vec<Option<&str>> {
    if opts.plugs.is_empty() {
        vec![None]
    } else {
        opts.plugs.iter().map(|p| Some(p.as_str())).collect()
    }
}

/// Everything the CLI needs to know about one agent.
pub struct AgentSpec {
    /// Program name (`fence_ipmilan`).
    pub name: &'static str,
    /// One-line description.
    pub shortdesc: &'static str,
    /// Long description.
    pub longdesc: &'static str,
    /// Vendor URL (may be empty).
    pub vendor_url: &'static str,
    /// Other names the agent is installed under, with their descriptions.
    pub symlinks: &'static [(&'static str, &'static str)],
    /// Device option keys beyond the common ones.
    pub options: &'static [&'static str],
    /// Option keys that must be set for device actions.
    pub required: &'static [&'static str],
    /// Agent defaults overriding the table (`power_wait=2` for ipmilan…).
    pub defaults: &'static [(&'static str, &'static str)],
    /// Whether the device has plugs (enables list/list-status, requires `port`).
    pub has_plugs: bool,
    /// Actions listed in the metadata.
    pub actions: &'static [&'static str],
    /// Connect and log in.
    pub connect: fn(&Options) -> Result<Box<dyn FenceDevice>, FenceError>,
}

impl AgentSpec {
    /// Carry out a device action with options already checked: the `delay` (before off/reboot
    /// only, as fence-agents does), connect and log in, the action, log out.
    pub fn perform(&self, opts: &Options, clock: &mut dyn Clock) -> Result<Outcome, FenceError> {
        if matches!(opts.action, Action::Off | Action::Reboot) && !opts.delay.is_zero() {
            tracing::info!(
                "Delay {} second(s) before logging in to the fence device",
                opts.delay.as_secs_f64()
            );
            clock.sleep(opts.delay);
        }
        let mut dev = (self.connect)(opts)?;
        let result = dev.run(opts, self.has_plugs, clock);
        dev.logout();
        result
    }

    /// The device name used in error messages: `address:port` when known.
    pub fn device_label(&self, opts: &Options) -> String {
        match (&opts.ipaddr, opts.ipport) {
            (Some(a), Some(p)) => format!("{a}:{p}"),
            (Some(a), None) => a.clone(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A device whose power changes `lag` polls after being set; records every call.
    struct FakeDevice {
        state: PowerState,
        target: Option<(PowerState, u32)>,
        lag: u32,
        calls: Vec<String>,
        cycle_ok: bool,
    }

    impl FakeDevice {
        fn new(state: PowerState, lag: u32) -> FakeDevice {
            FakeDevice {
                state,
                target: None,
                lag,
                calls: vec![],
                cycle_ok: true,
            }
        }
    }

    impl FenceDevice for FakeDevice {
        fn get_power(&mut self, _: Option<&str>) -> Result<PowerState, FenceError> {
            self.calls.push("get".into());
            if let Some((t, left)) = self.target {
                if left == 0 {
                    self.state = t;
                    self.target = None;
                } else {
                    self.target = Some((t, left - 1));
                }
            }
            Ok(self.state)
        }
        fn set_power(&mut self, _: Option<&str>, s: PowerState) -> Result<(), FenceError> {
            self.calls.push(format!("set {}", s.upper()));
            self.target = Some((s, self.lag));
            Ok(())
        }
        fn power_cycle(&mut self, _: Option<&str>) -> Result<bool, FenceError> {
            self.calls.push("cycle".into());
            Ok(self.cycle_ok)
        }
    }

    #[derive(Default)]
    struct FakeClock(Vec<Duration>);
    impl Clock for FakeClock {
        fn sleep(&mut self, d: Duration) {
            self.0.push(d);
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> Options {
        let raw: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_raw(raw, &[]).unwrap()
    }

    #[test]
    fn off_when_on_sets_waits_and_polls() {
        let mut d = FakeDevice::new(PowerState::On, 2);
        let mut c = FakeClock::default();
        let o = opts(&[("action", "off"), ("power_wait", "2")]);
        let out = d.run(&o, false, &mut c).unwrap();
        assert_eq!(out, Outcome::ok("Success: Powered OFF"));
        assert_eq!(d.calls, vec!["get", "set OFF", "get", "get", "get"]);
        assert_eq!(
            c.0,
            vec![
                Duration::from_secs(2),
                Duration::from_secs(1),
                Duration::from_secs(1)
            ]
        );
    }

    #[test]
    fn already_in_state_does_nothing() {
        let mut d = FakeDevice::new(PowerState::Off, 0);
        let out = d
            .run(
                &opts(&[("action", "off")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(out, Outcome::ok("Success: Already OFF"));
        assert_eq!(d.calls, vec!["get"]);
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d
            .run(&opts(&[("action", "on")]), false, &mut FakeClock::default())
            .unwrap();
        assert_eq!(out, Outcome::ok("Success: Already ON"));
    }

    #[test]
    fn status_exit_codes() {
        let mut d = FakeDevice::new(PowerState::Off, 0);
        let out = d
            .run(
                &opts(&[("action", "status")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(
            out,
            Outcome {
                lines: vec!["Status: OFF".into()],
                exit_code: 2
            }
        );
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d
            .run(
                &opts(&[("action", "status")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(
            out,
            Outcome {
                lines: vec!["Status: ON".into()],
                exit_code: 0
            }
        );
    }

    #[test]
    fn power_timeout_counts_polls() {
        let mut d = FakeDevice::new(PowerState::On, 100);
        let out = d.run(
            &opts(&[("action", "off"), ("power_timeout", "3")]),
            false,
            &mut FakeClock::default(),
        );
        assert_eq!(out, Err(FenceError::WaitingOff));
        assert_eq!(d.calls.iter().filter(|c| *c == "get").count(), 1 + 3);
    }

    #[test]
    fn on_retries_retry_on_times() {
        let mut d = FakeDevice::new(PowerState::Off, 100);
        let o = opts(&[("action", "on"), ("power_timeout", "2"), ("retry_on", "2")]);
        assert_eq!(
            d.run(&o, false, &mut FakeClock::default()),
            Err(FenceError::WaitingOn)
        );
        assert_eq!(d.calls.iter().filter(|c| *c == "set ON").count(), 3);
    }

    #[test]
    fn reboot_is_off_then_on() {
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d
            .run(
                &opts(&[("action", "reboot")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(out, Outcome::ok("Success: Rebooted"));
        assert_eq!(d.calls, vec!["get", "set OFF", "get", "set ON", "get"]);
        // Already off: straight to on.
        let mut d = FakeDevice::new(PowerState::Off, 0);
        d.run(
            &opts(&[("action", "reboot")]),
            false,
            &mut FakeClock::default(),
        )
        .unwrap();
        assert_eq!(d.calls, vec!["get", "set ON", "get"]);
    }

    #[test]
    fn reboot_fails_if_off_is_not_confirmed_but_not_if_on_is_not() {
        let mut d = FakeDevice::new(PowerState::On, 100);
        let o = opts(&[("action", "reboot"), ("power_timeout", "2")]);
        assert_eq!(
            d.run(&o, false, &mut FakeClock::default()),
            Err(FenceError::WaitingOff)
        );
    }

    #[test]
    fn reboot_cycle_method() {
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d.run(
            &opts(&[("action", "reboot"), ("method", "cycle")]),
            false,
            &mut FakeClock::default(),
        );
        assert_eq!(out.unwrap(), Outcome::ok("Success: Rebooted"));
        assert_eq!(d.calls, vec!["get", "cycle"]);
        let mut d = FakeDevice::new(PowerState::On, 0);
        d.cycle_ok = false;
        let out = d.run(
            &opts(&[("action", "reboot"), ("method", "cycle")]),
            false,
            &mut FakeClock::default(),
        );
        assert_eq!(out, Err(FenceError::CycleFailed));
        assert_eq!(d.calls, vec!["get", "cycle", "cycle"]);
    }

    #[test]
    fn diag_needs_device_support() {
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d.run(
            &opts(&[("action", "diag")]),
            false,
            &mut FakeClock::default(),
        );
        assert_eq!(out, Err(FenceError::Unsupported("diag")));
        assert_eq!(d.calls, vec!["get"]);
    }

    #[test]
    fn list_and_monitor_without_plugs() {
        let mut d = FakeDevice::new(PowerState::On, 0);
        let out = d
            .run(
                &opts(&[("action", "list")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(out, Outcome::ok("N/A"));
        let out = d
            .run(
                &opts(&[("action", "monitor")]),
                false,
                &mut FakeClock::default(),
            )
            .unwrap();
        assert_eq!(
            out,
            Outcome {
                lines: vec![],
                exit_code: 0
            }
        );
        assert_eq!(d.calls, vec!["get"]);
        assert_eq!(
            d.run(
                &opts(&[("action", "list")]),
                true,
                &mut FakeClock::default()
            ),
            Err(FenceError::Unsupported("list"))
        );
    }
}
