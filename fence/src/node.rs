//! Fencing a node as configured in cluster.conf, the job of libfence's `fence_node()` (used by
//! fenced and by the `fence_node` tool): the node's methods are tried in order; inside a method
//! every device must succeed, the first failure abandons the method; the first method whose
//! devices all succeeded ends fencing. When every method failed, the caller's [`RetryPolicy`] says
//! whether to wait and start over (fenced: for ever, every 5 s; `fence_node`: one round).
//!
//! Three layers, so the decisions are tested without devices:
//! * [`plan`] (pure): what to run for each device — the agent and its parameters, i.e. the
//!   fencedevice's attributes merged with the node's `<device>` element (the latter wins),
//!   `nodename=<victim>` added when absent as libfence did, and the legacy `option` attribute
//!   turned into `action` (Python agents no longer know `option`, and would reboot instead of
//!   powering off one supply of a dual-supply machine).
//! * [`Sequencer`] (sans-I/O): given the number of devices per method and the results so far, the
//!   next step — run device m.d, wait, report a failed round, or finish.
//! * [`fence_node`]: drives the two with a [`DeviceRunner`] (by default [`AgentRunner`]: agents we
//!   have natively run in-process, any other through [`crate::external`]) and a clock, logs in
//!   fenced's words through `tracing` and returns every attempt as a structured [`Report`].

use std::path::PathBuf;
use std::time::Duration;

use ccs::model::Section;
use ccs::ClusterConf;

use crate::agent::{Clock, RealClock};
use crate::external::{self, ExternalAgent, ExternalError};

/// Result of one device attempt, in libfence's words (`fe_str()` of fence_node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceResult {
    /// The agent succeeded.
    Success,
    /// The agent ran and failed (or could not be found, as an exec failure was reported).
    ErrorFromAgent,
    /// The agent process could not be started.
    ErrorFromFork,
    /// The node has no fence method.
    ErrorNoMethod,
    /// A method has no device.
    ErrorNoDevice,
    /// The device names no fencedevice, or the fencedevice names no agent.
    ErrorConfigAgent,
    /// The device's parameters cannot be passed to an agent.
    ErrorConfigArgs,
}

impl FenceResult {
    /// The text fenced logged.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceResult::Success => "success",
            FenceResult::ErrorFromAgent => "error from agent",
            FenceResult::ErrorFromFork => "error from fork",
            FenceResult::ErrorNoMethod => "error no method",
            FenceResult::ErrorNoDevice => "error no device",
            FenceResult::ErrorConfigAgent => "error config agent",
            FenceResult::ErrorConfigArgs => "error config args",
        }
    }
}

impl std::fmt::Display for FenceResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why fencing could not even be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The victim is not a clusternode of the configuration.
    #[error("node \"{0}\" is not a clusternode of the configuration")]
    UnknownNode(String),
}

/// One device to run: method `method`, device `device` (0-based, as fenced numbers them).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCall {
    /// Method index.
    pub method: usize,
    /// Device index within the method.
    pub device: usize,
    /// The fencedevice's name.
    pub device_name: String,
    /// The agent program (`fence_ipmilan`).
    pub agent: String,
    /// The agent's parameters, in the order they are sent.
    pub params: Vec<(String, String)>,
}

impl DeviceCall {
    /// The action the agent is asked for (`reboot` when none is given: the agents' default).
    pub fn action(&self) -> &str {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == "action")
            .map(|(_, v)| v.as_str())
            .unwrap_or("reboot")
    }
}

impl std::fmt::Debug for DeviceCall {
    // Parameters may hold passwords: show their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("DeviceCall")
            .field("method", &self.method)
            .field("device", &self.device)
            .field("device_name", &self.device_name)
            .field("agent", &self.agent)
            .field("params", &keys)
            .finish()
    }
}

/// A device of a method: runnable, or wrong in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Ready to run.
    Call(DeviceCall),
    /// Cannot run; counts as a failed device.
    Broken {
        /// The name the node's `<device>` gives, if any.
        device_name: Option<String>,
        /// The agent, when known.
        agent: Option<String>,
        /// What fenced would have logged.
        result: FenceResult,
        /// Why, for the administrator.
        detail: String,
    },
}

/// Everything to run to fence one node: per method, its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The node.
    pub victim: String,
    /// Methods in order, each with its devices in order.
    pub methods: Vec<Vec<Planned>>,
}

/// The parameters for one device: the fencedevice's attributes (without `name` and `agent`, which
/// choose the device and program), then the node's `<device>` attributes (without `name`) replacing
/// or adding to them, the legacy `option` as `action`, and `nodename=<victim>` unless given.
pub fn device_params(
    fencedevice: &Section,
    node_device: &Section,
    victim: &str,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| {
        let k = if k == "option" { "action" } else { k };
        match params.iter_mut().find(|(pk, _)| pk == k) {
            Some(p) => p.1 = v.to_string(),
            None => params.push((k.to_string(), v.to_string())),
        }
    };
    for (k, a) in fencedevice.attrs.iter() {
        if k != "name" && k != "agent" {
            put(k, &a.value);
        }
    }
    // `action` beats a legacy `option` whichever order they come in on the same element.
    let node_attrs: Vec<(&str, &str)> = node_device
        .attrs
        .iter()
        .filter(|(k, _)| *k != "name")
        .map(|(k, a)| (k, a.value.as_str()))
        .collect();
    for (k, v) in node_attrs.iter().filter(|(k, _)| *k == "option") {
        put(k, v);
    }
    for (k, v) in node_attrs.iter().filter(|(k, _)| *k != "option") {
        put(k, v);
    }
    if !params.iter().any(|(k, _)| k == "nodename") {
        params.push(("nodename".into(), victim.to_string()));
    }
    params
}

/// What fencing `victim` takes, from the configuration alone.
pub fn plan(conf: &ClusterConf, victim: &str) -> Result<Plan, NodeError> {
    let node = conf
        .node(victim)
        .ok_or_else(|| NodeError::UnknownNode(victim.to_string()))?;
    let methods = node
        .methods()
        .iter()
        .enumerate()
        .map(|(m, method)| {
            method
                .devices
                .iter()
                .enumerate()
                .map(|(d, dev)| plan_device(conf, victim, m, d, dev))
                .collect()
        })
        .collect();
    Ok(Plan {
        victim: victim.to_string(),
        methods,
    })
}

fn plan_device(conf: &ClusterConf, victim: &str, m: usize, d: usize, dev: &Section) -> Planned {
    let name = dev.attrs.get("name").map(str::to_string);
    let broken = |agent: Option<String>, detail: String| Planned::Broken {
        device_name: name.clone(),
        agent,
        result: FenceResult::ErrorConfigAgent,
        detail,
    };
    let Some(n) = name.as_deref().filter(|n| !n.trim().is_empty()) else {
        return broken(None, "the <device> element has no name".into());
    };
    let Some(fd) = conf.fence_device(n) else {
        return broken(None, format!("device \"{n}\" names no fencedevice"));
    };
    let Some(agent) = fd.attrs.get("agent").filter(|a| !a.trim().is_empty()) else {
        return broken(None, format!("fencedevice \"{n}\" has no agent"));
    };
    Planned::Call(DeviceCall {
        method: m,
        device: d,
        device_name: n.to_string(),
        agent: agent.trim().to_string(),
        params: device_params(fd, dev, victim),
    })
}

/// When to give up, and the waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Rounds over all methods before giving up; None = until success (fenced).
    pub rounds: Option<u32>,
    /// Wait between rounds (fenced: 5 s).
    pub retry_delay: Duration,
    /// Wait before the first round (`post_fail_delay`, when the caller honours it).
    pub initial_delay: Duration,
}

impl RetryPolicy {
    /// One round, no waiting: `fence_node`'s default.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            rounds: Some(1),
            retry_delay: Duration::ZERO,
            initial_delay: Duration::ZERO,
        }
    }

    /// Until success, `retry_delay` between rounds: fenced's.
    pub fn forever(retry_delay: Duration) -> RetryPolicy {
        RetryPolicy {
            rounds: None,
            retry_delay,
            initial_delay: Duration::ZERO,
        }
    }
}

/// How fencing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every device of this method (0-based) succeeded.
    Success {
        /// The method that fenced the node.
        method: usize,
    },
    /// Every method failed in every round allowed.
    Failed {
        /// Rounds tried.
        rounds: u32,
    },
    /// The node has no fence method: nothing can ever fence it (`fence_node` exits 2).
    NoMethod,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sleep, then ask again.
    Wait(Duration),
    /// Run device `device` of method `method`, then [`Sequencer::record`] its result.
    Run {
        /// Method index.
        method: usize,
        /// Device index.
        device: usize,
    },
    /// Method `method` has no device: it failed without running anything.
    NoDevice {
        /// Method index.
        method: usize,
    },
    /// Every method of round `round` (1-based) failed.
    RoundFailed {
        /// The round.
        round: u32,
    },
    /// Finished.
    Done(Verdict),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Idle,
    Pending,
    RoundOver,
    Finished(Verdict),
}

/// The ordering rules of fencing as a state machine: fed with device results, it says what to run
/// next. No I/O, no clock.
#[derive(Debug, Clone)]
pub struct Sequencer {
    devices: Vec<usize>,
    policy: RetryPolicy,
    round: u32,
    method: usize,
    device: usize,
    state: State,
}

impl Sequencer {
    /// `devices[m]` = the number of devices of method m.
    pub fn new(devices: Vec<usize>, policy: RetryPolicy) -> Sequencer {
        Sequencer {
            devices,
            policy,
            round: 1,
            method: 0,
            device: 0,
            state: State::Start,
        }
    }

    /// The round in progress (1-based).
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The next step. While a [`Step::Run`] awaits its result, the same step is returned again.
    pub fn next_step(&mut self) -> Step {
        loop {
            match self.state {
                State::Finished(v) => return Step::Done(v),
                State::Start => {
                    if self.devices.is_empty() {
                        self.state = State::Finished(Verdict::NoMethod);
                        continue;
                    }
                    self.state = State::Idle;
                    if !self.policy.initial_delay.is_zero() {
                        return Step::Wait(self.policy.initial_delay);
                    }
                }
                State::Pending => {
                    return Step::Run {
                        method: self.method,
                        device: self.device,
                    }
                }
                State::RoundOver => {
                    if self.policy.rounds.is_some_and(|max| self.round >= max) {
                        self.state = State::Finished(Verdict::Failed { rounds: self.round });
                        continue;
                    }
                    self.round += 1;
                    self.method = 0;
                    self.device = 0;
                    self.state = State::Idle;
                    if !self.policy.retry_delay.is_zero() {
                        return Step::Wait(self.policy.retry_delay);
                    }
                }
                State::Idle => {
                    if self.method >= self.devices.len() {
                        self.state = State::RoundOver;
                        return Step::RoundFailed { round: self.round };
                    }
                    if self.devices[self.method] == 0 {
                        self.method += 1;
                        return Step::NoDevice {
                            method: self.method - 1,
                        };
                    }
                    self.state = State::Pending;
                }
            }
        }
    }

    /// The result of the pending [`Step::Run`]; ignored when nothing is pending.
    pub fn record(&mut self, success: bool) {
        if self.state != State::Pending {
            return;
        }
        if success {
            self.device += 1;
            if self.device >= self.devices[self.method] {
                self.state = State::Finished(Verdict::Success {
                    method: self.method,
                });
                return;
            }
        } else {
            self.method += 1;
            self.device = 0;
        }
        self.state = State::Idle;
    }
}

/// One line of the fencing log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Round (1-based).
    pub round: u32,
    /// Method index (0-based).
    pub method: usize,
    /// Device index (0-based).
    pub device: usize,
    /// The fencedevice name, when there is one.
    pub device_name: Option<String>,
    /// The agent, when known.
    pub agent: Option<String>,
    /// The result.
    pub result: FenceResult,
    /// Why it failed (the agent's error line, secrets scrubbed), for failures.
    pub detail: Option<String>,
}

impl Attempt {
    /// fenced's log line: `fence node1 dev 0.0 agent fence_apc result: success`.
    pub fn line(&self, victim: &str) -> String {
        format!(
            "fence {victim} dev {}.{} agent {} result: {}",
            self.method,
            self.device,
            self.agent.as_deref().unwrap_or("none"),
            self.result
        )
    }

    /// libfence's report of a failing agent: `agent "fence_x" reports: device "d": …`.
    pub fn report_line(&self) -> Option<String> {
        let detail = self.detail.as_deref()?;
        let agent = self.agent.as_deref().unwrap_or("none");
        Some(match &self.device_name {
            Some(d) => format!("agent \"{agent}\" reports: device \"{d}\": {detail}"),
            None => format!("agent \"{agent}\" reports: {detail}"),
        })
    }
}

/// The outcome of fencing a node, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The node.
    pub victim: String,
    /// How it ended.
    pub verdict: Verdict,
    /// Every device attempt (and the no-method / no-device entries), in order.
    pub attempts: Vec<Attempt>,
}

impl Report {
    /// Whether the node is fenced.
    pub fn success(&self) -> bool {
        matches!(self.verdict, Verdict::Success { .. })
    }
}

/// Runs one device.
pub trait DeviceRunner {
    /// Run `call`; on failure the result to log and why.
    fn run(&mut self, call: &DeviceCall) -> Result<(), (FenceResult, String)>;
}

/// The real runner: an agent we have natively ([`crate::agents::by_name`]) runs in-process,
/// any other as a program found in `search_dirs`, under `timeout`.
#[derive(Debug, Clone)]
pub struct AgentRunner {
    /// Where to look for external agents, in order.
    pub search_dirs: Vec<PathBuf>,
    /// Time limit of an external agent run (None = none, as fenced had).
    pub timeout: Option<Duration>,
}

/// The default limit of one external agent run: well above a Python agent's own worst case
/// (20 s of ipmitool retries per step).
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for AgentRunner {
    fn default() -> AgentRunner {
        let path = std::env::var_os("PATH");
        AgentRunner {
            search_dirs: external::search_dirs(path.as_deref()),
            timeout: Some(DEFAULT_AGENT_TIMEOUT),
        }
    }
}

/// The native agent for `call`, if there is one (otherwise the installed program runs).
fn native(call: &DeviceCall) -> Option<&'static crate::agent::AgentSpec> {
    crate::agents::by_name(&call.agent)
}

impl DeviceRunner for AgentRunner {
    fn run(&mut self, call: &DeviceCall) -> Result<(), (FenceResult, String)> {
        let outcome = if let Some(spec) = native(call) {
            crate::cli::perform_params(spec, &call.params, &mut RealClock)
                .map_err(|e| (FenceResult::ErrorFromAgent, e))?
        } else {
            let agent = ExternalAgent::find_in(&call.agent, &self.search_dirs)
                .map_err(|e| (FenceResult::ErrorFromAgent, e.to_string()))?;
            agent.run(&call.params, self.timeout).map_err(|e| {
                let r = match e {
                    ExternalError::Spawn { .. } => FenceResult::ErrorFromFork,
                    ExternalError::BadParameter { .. } => FenceResult::ErrorConfigArgs,
                    _ => FenceResult::ErrorFromAgent,
                };
                (r, e.to_string())
            })?
        };
        if outcome.exit_code == 0 {
            Ok(())
        } else {
            // Only `status` of an "off" target ends here; fenced counted any non-zero exit as failure.
            Err((
                FenceResult::ErrorFromAgent,
                format!(
                    "{}: exit {}: {}",
                    call.agent,
                    outcome.exit_code,
                    outcome.lines.join(" / ")
                ),
            ))
        }
    }
}

/// Fence `victim` as `conf` says, logging in fenced's words. `observer` sees every attempt as
/// it ends (a tool prints them live; the [`Report`] has them all at the end).
pub fn fence_node(
    conf: &ClusterConf,
    victim: &str,
    policy: &RetryPolicy,
    runner: &mut dyn DeviceRunner,
    clock: &mut dyn Clock,
    observer: &mut dyn FnMut(&Attempt),
) -> Result<Report, NodeError> {
    let plan = plan(conf, victim)?;
    Ok(execute(&plan, policy, runner, clock, observer))
}

/// The second half of a method's split reboots (see [`split_reboots`]): its devices' `on`
/// calls, to run in order once the method has confirmed the node off, after `pause`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerOn {
    /// How long to leave the node off before the first `on`: the `power_wait` the split took
    /// out of the `off` (zero when the `off` still waits it itself).
    pub pause: Duration,
    /// The `on` calls, in device order.
    pub calls: Vec<DeviceCall>,
}

/// A plan whose `reboot`s are split for a caller that can act as soon as the node is off: every
/// device asked to `reboot` (the agents' default) is asked for `off` instead, and the `on`
/// that completes its reboot is returned per method, to be run once the method has succeeded.
///
/// The node is safely down when every device of a method has confirmed it off; a reboot's
/// power-on only brings it back, so the daemon need not wait for it before recovering the
/// node's services. For a method of several devices (a dual power supply) the split is
/// also what the hardware needs: all supplies off, then all on, where a reboot per device
/// leaves the node powered by the other supply throughout. A device whose agent reboots by
/// itself in one command (`method=cycle`) is left as it is.
///
/// The `power_wait` an agent sleeps by default after its command (fence_ipmilan's 2 s) moves
/// from the `off` to before the `on`: the `off` then confirms by reading the device's power
/// state at once (polling it as long as the device still reports the node on, as the agents
/// do after their sleep), and the device still gets its pause between the off and the on,
/// which is what the wait protects in a reboot (devices that ignore an `on` sent right after
/// an `off`). The node is recovered ~2 s sooner with fence_ipmilan's defaults. A `power_wait`
/// written in cluster.conf is the administrator's (a device known to report "off" early) and
/// stays on the `off`, as does any wait of an agent we do not run natively (its default is
/// not known here).
pub fn split_reboots(plan: &Plan) -> (Plan, Vec<PowerOn>) {
    let mut ons: Vec<PowerOn> = vec![PowerOn::default(); plan.methods.len()];
    let mut split = plan.clone();
    for (m, devices) in split.methods.iter_mut().enumerate() {
        for d in devices.iter_mut() {
            let Planned::Call(call) = d else { continue };
            let cycle = call
                .params
                .iter()
                .any(|(k, v)| k == "method" && v == "cycle");
            if call.action() != "reboot" || cycle {
                continue;
            }
            let mut on = call.clone();
            call.params.retain(|(k, _)| k != "action");
            call.params.push(("action".into(), "off".into()));
            if let Some(wait) = default_power_wait(call) {
                call.params.push(("power_wait".into(), "0".into()));
                ons[m].pause = ons[m].pause.max(wait);
            }
            on.params.retain(|(k, _)| k != "action");
            on.params.push(("action".into(), "on".into()));
            ons[m].calls.push(on);
        }
    }
    (split, ons)
}

/// The `power_wait` a natively run agent would sleep after its command when cluster.conf sets
/// none (None when it is set, zero, or the agent is not ours).
fn default_power_wait(call: &DeviceCall) -> Option<Duration> {
    let explicit = call
        .params
        .iter()
        .any(|(k, _)| k == "power_wait" || k == "power-wait");
    if explicit {
        return None;
    }
    let spec = native(call)?;
    let (_, v) = spec.defaults.iter().find(|(k, _)| *k == "power_wait")?;
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Carry out a [`Plan`]; see [`fence_node`].
pub fn execute(
    plan: &Plan,
    policy: &RetryPolicy,
    runner: &mut dyn DeviceRunner,
    clock: &mut dyn Clock,
    observer: &mut dyn FnMut(&Attempt),
) -> Report {
    let victim = plan.victim.as_str();
    let mut seq = Sequencer::new(plan.methods.iter().map(Vec::len).collect(), *policy);
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut log = |a: Attempt, attempts: &mut Vec<Attempt>| {
        if a.result == FenceResult::Success {
            tracing::info!("{}", a.line(victim));
        } else {
            tracing::error!("{}", a.line(victim));
            if let Some(r) = a.report_line() {
                tracing::error!("{r}");
            }
        }
        observer(&a);
        attempts.push(a);
    };
    tracing::info!("fencing node {victim}");
    loop {
        match seq.next_step() {
            Step::Wait(d) => clock.sleep(d),
            Step::Run { method, device } => {
                let attempt = match &plan.methods[method][device] {
                    Planned::Call(call) => {
                        tracing::debug!(
                            device = %call.device_name,
                            agent = %call.agent,
                            action = call.action(),
                            "running fence device"
                        );
                        let (result, detail) = match runner.run(call) {
                            Ok(()) => (FenceResult::Success, None),
                            Err((r, why)) => (r, Some(why)),
                        };
                        Attempt {
                            round: seq.round(),
                            method,
                            device,
                            device_name: Some(call.device_name.clone()),
                            agent: Some(call.agent.clone()),
                            result,
                            detail,
                        }
                    }
                    Planned::Broken {
                        device_name,
                        agent,
                        result,
                        detail,
                    } => Attempt {
                        round: seq.round(),
                        method,
                        device,
                        device_name: device_name.clone(),
                        agent: agent.clone(),
                        result: *result,
                        detail: Some(detail.clone()),
                    },
                };
                seq.record(attempt.result == FenceResult::Success);
                log(attempt, &mut attempts);
            }
            Step::NoDevice { method } => log(
                Attempt {
                    round: seq.round(),
                    method,
                    device: 0,
                    device_name: None,
                    agent: None,
                    result: FenceResult::ErrorNoDevice,
                    detail: None,
                },
                &mut attempts,
            ),
            Step::RoundFailed { .. } => tracing::error!("fence {victim} failed"),
            Step::Done(verdict) => {
                match verdict {
                    Verdict::Success { .. } => tracing::info!("fence {victim} success"),
                    Verdict::NoMethod => {
                        log(
                            Attempt {
                                round: 1,
                                method: 0,
                                device: 0,
                                device_name: None,
                                agent: None,
                                result: FenceResult::ErrorNoMethod,
                                detail: None,
                            },
                            &mut attempts,
                        );
                        tracing::error!("fence {victim} failed");
                    }
                    Verdict::Failed { .. } => {}
                }
                return Report {
                    victim: victim.to_string(),
                    verdict,
                    attempts,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reboots_become_off_then_on_per_method_cycles_and_explicit_actions_stay() {
        let call = |m: usize, d: usize, extra: &[(&str, &str)]| {
            let mut params = vec![("ipaddr".to_string(), format!("10.0.0.{m}{d}"))];
            params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Planned::Call(DeviceCall {
                method: m,
                device: d,
                device_name: format!("dev{m}{d}"),
                agent: "fence_ipmilan".into(),
                params,
            })
        };
        let plan = Plan {
            victim: "node1".into(),
            methods: vec![
                vec![call(0, 0, &[]), call(0, 1, &[("action", "reboot")])],
                vec![
                    call(1, 0, &[("action", "off")]),
                    call(1, 1, &[("method", "cycle")]),
                ],
            ],
        };
        let (split, ons) = split_reboots(&plan);
        let action = |m: usize, d: usize| match &split.methods[m][d] {
            Planned::Call(c) => c.action().to_string(),
            _ => unreachable!(),
        };
        assert_eq!(action(0, 0), "off");
        assert_eq!(action(0, 1), "off");
        assert_eq!(action(1, 0), "off");
        assert_eq!(
            action(1, 1),
            "reboot",
            "a power cycle in one command is kept"
        );
        assert_eq!(ons.len(), 2);
        let on: Vec<(&str, &str)> = ons[0]
            .calls
            .iter()
            .map(|c| (c.device_name.as_str(), c.action()))
            .collect();
        assert_eq!(on, [("dev00", "on"), ("dev01", "on")]);
        assert!(ons[1].calls.is_empty());
        // fence_ipmilan's default wait moves from the off to before the on.
        assert_eq!(ons[0].pause, Duration::from_secs(2));
        assert_eq!(ons[1].pause, Duration::ZERO);
        let param = |m: usize, d: usize, k: &str| match &split.methods[m][d] {
            Planned::Call(c) => c
                .params
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone()),
            _ => unreachable!(),
        };
        assert_eq!(param(0, 0, "power_wait").as_deref(), Some("0"));
        assert_eq!(
            param(1, 0, "power_wait"),
            None,
            "an explicit off is untouched"
        );
        // The rest of each call is untouched.
        assert!(matches!(&split.methods[0][0], Planned::Call(c) if c.params[0].1 == "10.0.0.00"));
    }

    #[test]
    fn an_explicit_power_wait_and_external_agents_keep_their_wait_on_the_off() {
        let call = |d: usize, agent: &str, extra: &[(&str, &str)]| {
            Planned::Call(DeviceCall {
                method: 0,
                device: d,
                device_name: format!("dev{d}"),
                agent: agent.into(),
                params: extra
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
        };
        let plan = Plan {
            victim: "node1".into(),
            methods: vec![
                vec![call(0, "fence_ipmilan", &[("power_wait", "3")])],
                vec![call(0, "fence_foo", &[])],
                vec![call(0, "fence_apc", &[])],
            ],
        };
        let (split, ons) = split_reboots(&plan);
        for (m, wait) in [(0, Some("3")), (1, None), (2, None)] {
            let Planned::Call(c) = &split.methods[m][0] else {
                unreachable!()
            };
            assert_eq!(c.action(), "off");
            let w = c.params.iter().rev().find(|(k, _)| k == "power_wait");
            assert_eq!(w.map(|(_, v)| v.as_str()), wait, "method {m}");
            assert_eq!(ons[m].pause, Duration::ZERO, "method {m}");
            assert_eq!(ons[m].calls.len(), 1);
        }
    }

    use super::*;

    fn steps_with(seq: &mut Sequencer, results: &[bool]) -> Vec<Step> {
        let mut out = vec![];
        let mut r = results.iter();
        loop {
            let s = seq.next_step();
            out.push(s);
            match s {
                Step::Run { .. } => seq.record(*r.next().expect("more results than given")),
                Step::Done(_) => return out,
                _ => {}
            }
            assert!(out.len() < 100, "runaway: {out:?}");
        }
    }

    fn run(m: usize, d: usize) -> Step {
        Step::Run {
            method: m,
            device: d,
        }
    }

    #[test]
    fn no_method_fails_at_once_whatever_the_policy() {
        let mut s = Sequencer::new(vec![], RetryPolicy::forever(Duration::from_secs(5)));
        assert_eq!(steps_with(&mut s, &[]), vec![Step::Done(Verdict::NoMethod)]);
    }

    #[test]
    fn first_method_failing_falls_through_to_the_second() {
        let mut s = Sequencer::new(vec![1, 1], RetryPolicy::once());
        assert_eq!(
            steps_with(&mut s, &[false, true]),
            vec![
                run(0, 0),
                run(1, 0),
                Step::Done(Verdict::Success { method: 1 })
            ]
        );
    }

    #[test]
    fn every_device_of_a_method_must_succeed_in_order() {
        // Dual supplies: off, off, on, on.
        let mut s = Sequencer::new(vec![4], RetryPolicy::once());
        assert_eq!(
            steps_with(&mut s, &[true, true, true, true]),
            vec![
                run(0, 0),
                run(0, 1),
                run(0, 2),
                run(0, 3),
                Step::Done(Verdict::Success { method: 0 })
            ]
        );
        // The first failure abandons the method: its later devices are not run.
        let mut s = Sequencer::new(vec![3, 1], RetryPolicy::once());
        assert_eq!(
            steps_with(&mut s, &[true, false, true]),
            vec![
                run(0, 0),
                run(0, 1),
                run(1, 0),
                Step::Done(Verdict::Success { method: 1 })
            ]
        );
    }

    #[test]
    fn empty_method_is_a_failure_without_running_anything() {
        let mut s = Sequencer::new(vec![0, 1], RetryPolicy::once());
        assert_eq!(
            steps_with(&mut s, &[true]),
            vec![
                Step::NoDevice { method: 0 },
                run(1, 0),
                Step::Done(Verdict::Success { method: 1 })
            ]
        );
    }

    #[test]
    fn rounds_wait_and_start_over_until_the_limit() {
        let policy = RetryPolicy {
            rounds: Some(2),
            retry_delay: Duration::from_secs(5),
            initial_delay: Duration::from_secs(3),
        };
        let mut s = Sequencer::new(vec![1, 1], policy);
        assert_eq!(
            steps_with(&mut s, &[false, false, false, false]),
            vec![
                Step::Wait(Duration::from_secs(3)),
                run(0, 0),
                run(1, 0),
                Step::RoundFailed { round: 1 },
                Step::Wait(Duration::from_secs(5)),
                run(0, 0),
                run(1, 0),
                Step::RoundFailed { round: 2 },
                Step::Done(Verdict::Failed { rounds: 2 })
            ]
        );
    }

    #[test]
    fn forever_keeps_going_until_success() {
        let mut s = Sequencer::new(vec![1], RetryPolicy::forever(Duration::from_secs(5)));
        let mut results = vec![false; 20];
        results.push(true);
        let steps = steps_with(&mut s, &results);
        assert_eq!(
            steps.last(),
            Some(&Step::Done(Verdict::Success { method: 0 }))
        );
        assert_eq!(s.round(), 21);
        let waits = steps.iter().filter(|s| matches!(s, Step::Wait(_))).count();
        assert_eq!(waits, 20);
    }

    #[test]
    fn pending_run_is_repeated_and_stray_results_ignored() {
        let mut s = Sequencer::new(vec![1], RetryPolicy::once());
        s.record(false); // nothing pending yet
        assert_eq!(s.next_step(), run(0, 0));
        assert_eq!(s.next_step(), run(0, 0));
        s.record(true);
        s.record(false); // finished: ignored
        assert_eq!(s.next_step(), Step::Done(Verdict::Success { method: 0 }));
    }

    const CONF: &str = r#"<?xml version="1.0"?>
<cluster name="c" config_version="1">
  <clusternodes>
    <clusternode name="node1" nodeid="1">
      <fence>
        <method name="power">
          <device name="apc1" port="1" action="off"/>
          <device name="apc2" port="1" option="off"/>
          <device name="apc1" port="1" action="on"/>
          <device name="apc2" port="1" action="on"/>
        </method>
        <method name="ipmi">
          <device name="ipmi1" ipaddr="10.0.0.9" nodename="n1-bmc"/>
        </method>
        <method name="broken">
          <device name="nosuch"/>
        </method>
      </fence>
    </clusternode>
    <clusternode name="node2" nodeid="2"/>
  </clusternodes>
  <fencedevices>
    <fencedevice name="apc1" agent="fence_apc" ipaddr="10.0.0.1" login="apc" passwd="pw1" port="7"/>
    <fencedevice name="apc2" agent="fence_apc" ipaddr="10.0.0.2" login="apc" passwd="pw2"/>
    <fencedevice name="ipmi1" agent="fence_ipmilan" login="admin" passwd="pw3" lanplus="1"/>
  </fencedevices>
</cluster>
"#;

    fn conf() -> ClusterConf {
        ccs::parse_str(CONF).unwrap()
    }

    fn call(p: &Planned) -> &DeviceCall {
        match p {
            Planned::Call(c) => c,
            other => panic!("not runnable: {other:?}"),
        }
    }

    fn param<'a>(c: &'a DeviceCall, k: &str) -> Option<&'a str> {
        c.params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn plan_merges_device_attributes_node_level_winning() {
        let p = plan(&conf(), "node1").unwrap();
        assert_eq!(
            p.methods.iter().map(Vec::len).collect::<Vec<_>>(),
            [4, 1, 1]
        );
        let c = call(&p.methods[0][0]);
        assert_eq!(c.agent, "fence_apc");
        assert_eq!(c.device_name, "apc1");
        assert_eq!(param(c, "port"), Some("1"), "node-level port wins");
        assert_eq!(param(c, "ipaddr"), Some("10.0.0.1"));
        assert_eq!(param(c, "passwd"), Some("pw1"));
        assert_eq!(param(c, "name"), None);
        assert_eq!(param(c, "agent"), None);
        assert_eq!(param(c, "nodename"), Some("node1"));
        assert_eq!(c.params.iter().filter(|(k, _)| k == "port").count(), 1);
        // Per-device actions, the legacy `option` as `action`.
        let actions: Vec<&str> = p.methods[0].iter().map(|d| call(d).action()).collect();
        assert_eq!(actions, ["off", "off", "on", "on"]);
        assert_eq!(param(call(&p.methods[0][1]), "option"), None);
        // No action given: the agent's default.
        let c = call(&p.methods[1][0]);
        assert_eq!(c.action(), "reboot");
        assert_eq!(
            param(c, "nodename"),
            Some("n1-bmc"),
            "a given nodename is kept"
        );
        assert!(!format!("{c:?}").contains("pw3"));
        match &p.methods[2][0] {
            Planned::Broken { result, detail, .. } => {
                assert_eq!(*result, FenceResult::ErrorConfigAgent);
                assert!(detail.contains("nosuch"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            plan(&conf(), "node9"),
            Err(NodeError::UnknownNode("node9".into()))
        );
        assert!(plan(&conf(), "node2").unwrap().methods.is_empty());
    }

    #[test]
    fn action_beats_option_on_the_same_element() {
        let mut fd = Section::default();
        fd.attrs.set("agent", "fence_x");
        let mut dev = Section::default();
        dev.attrs.set("action", "on");
        dev.attrs.set("option", "off");
        let p = device_params(&fd, &dev, "n");
        assert_eq!(
            p,
            vec![
                ("action".to_string(), "on".to_string()),
                ("nodename".to_string(), "n".to_string())
            ]
        );
    }

    #[test]
    fn native_agents_for_every_transport() {
        let c = |agent: &str, params: &[(&str, &str)]| DeviceCall {
            method: 0,
            device: 0,
            device_name: "d".into(),
            agent: agent.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let name = |call: &DeviceCall| native(call).map(|s| s.name);
        assert_eq!(name(&c("fence_apc", &[("port", "1")])), Some("fence_apc"));
        assert_eq!(name(&c("fence_apc", &[("secure", "0")])), Some("fence_apc"));
        // SSH included: the native fence_apc speaks it.
        assert_eq!(name(&c("fence_apc", &[("secure", "1")])), Some("fence_apc"));
        assert_eq!(name(&c("fence_apc", &[("ssh", "yes")])), Some("fence_apc"));
        assert_eq!(
            name(&c("fence_ipmilan", &[("lanplus", "1")])),
            Some("fence_ipmilan")
        );
        assert_eq!(name(&c("fence_wti", &[])), None);
    }

    /// Records the calls; fails the devices named in `down`.
    struct Recorder {
        calls: Vec<String>,
        down: Vec<&'static str>,
    }

    impl DeviceRunner for Recorder {
        fn run(&mut self, c: &DeviceCall) -> Result<(), (FenceResult, String)> {
            self.calls.push(format!("{} {}", c.device_name, c.action()));
            if self.down.contains(&c.device_name.as_str()) {
                Err((FenceResult::ErrorFromAgent, "Connection refused".into()))
            } else {
                Ok(())
            }
        }
    }

    #[derive(Default)]
    struct FakeClock(Vec<Duration>);
    impl Clock for FakeClock {
        fn sleep(&mut self, d: Duration) {
            self.0.push(d);
        }
    }

    #[test]
    fn dual_supply_method_runs_off_off_on_on() {
        let mut r = Recorder {
            calls: vec![],
            down: vec![],
        };
        let rep = fence_node(
            &conf(),
            "node1",
            &RetryPolicy::once(),
            &mut r,
            &mut FakeClock::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(rep.verdict, Verdict::Success { method: 0 });
        assert_eq!(r.calls, ["apc1 off", "apc2 off", "apc1 on", "apc2 on"]);
        let lines: Vec<String> = rep.attempts.iter().map(|a| a.line("node1")).collect();
        assert_eq!(
            lines,
            [
                "fence node1 dev 0.0 agent fence_apc result: success",
                "fence node1 dev 0.1 agent fence_apc result: success",
                "fence node1 dev 0.2 agent fence_apc result: success",
                "fence node1 dev 0.3 agent fence_apc result: success",
            ]
        );
    }

    #[test]
    fn failures_fall_through_and_retry_with_waits() {
        let mut r = Recorder {
            calls: vec![],
            down: vec!["apc2", "ipmi1"],
        };
        let policy = RetryPolicy {
            rounds: Some(2),
            retry_delay: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
        };
        let mut clock = FakeClock::default();
        let mut seen = 0;
        let rep = fence_node(&conf(), "node1", &policy, &mut r, &mut clock, &mut |_| {
            seen += 1
        })
        .unwrap();
        assert_eq!(seen, rep.attempts.len());
        assert_eq!(rep.verdict, Verdict::Failed { rounds: 2 });
        assert_eq!(clock.0, [Duration::from_secs(5)]);
        let round1: Vec<String> = rep
            .attempts
            .iter()
            .filter(|a| a.round == 1)
            .map(|a| a.line("node1"))
            .collect();
        assert_eq!(
            round1,
            [
                "fence node1 dev 0.0 agent fence_apc result: success",
                "fence node1 dev 0.1 agent fence_apc result: error from agent",
                "fence node1 dev 1.0 agent fence_ipmilan result: error from agent",
                "fence node1 dev 2.0 agent none result: error config agent",
            ]
        );
        assert_eq!(rep.attempts.len(), 8);
        assert_eq!(
            rep.attempts[1].report_line().as_deref(),
            Some("agent \"fence_apc\" reports: device \"apc2\": Connection refused")
        );
    }

    #[test]
    fn node_without_method_reports_error_no_method() {
        let mut r = Recorder {
            calls: vec![],
            down: vec![],
        };
        let rep = fence_node(
            &conf(),
            "node2",
            &RetryPolicy::forever(Duration::from_secs(5)),
            &mut r,
            &mut FakeClock::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(rep.verdict, Verdict::NoMethod);
        assert!(r.calls.is_empty());
        assert_eq!(
            rep.attempts
                .iter()
                .map(|a| a.line("node2"))
                .collect::<Vec<_>>(),
            ["fence node2 dev 0.0 agent none result: error no method"]
        );
    }
}
