//! Running a service's resource tree on this node through the agents: start, stop and status
//! in rgmanager's order ([`super::walk`]), with a result per resource, effective timeouts
//! (enforced unless `__enforce_timeouts="0"`), status depth scheduling, tolerated status
//! failures (`__max_failures`), and independent-subtree recovery: a failed status inside an
//! independent subtree restarts only that subtree (up to `__max_restarts` within
//! `__restart_expire_time`), a failed non-critical subtree is stopped and the service goes on
//! partly.
//!
//! The runner keeps per-node memory across calls ([`RunState`]): which nodes it started, when
//! each status depth last ran, restart and failure counters, and the non-critical subtrees it
//! stopped. It owns no clock beyond `Instant::now()` at each operation.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::agent::{AgentError, Agents, OpContext, ResourceError};
use super::tree::{Forest, NodeId};
use super::walk::{self, due_status_action, Executor, Op};

/// The outcome of one operation on one resource.
#[derive(Debug)]
pub struct ResourceResult {
    pub node: NodeId,
    /// `type:primary`.
    pub resource: String,
    pub op: Op,
    /// The check depth (status only).
    pub depth: u32,
    pub result: Result<(), ResourceError>,
}

/// The result of starting or stopping a tree.
#[derive(Debug)]
pub struct TreeReport {
    pub op: Op,
    pub ok: bool,
    /// Every agent call made, in order.
    pub results: Vec<ResourceResult>,
}

impl TreeReport {
    /// The failures, each naming service and resource.
    pub fn errors(&self) -> impl Iterator<Item = &ResourceError> {
        self.results.iter().filter_map(|r| r.result.as_ref().err())
    }
}

/// What a status check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Everything answered.
    Ok,
    /// Independent subtrees failed and were restarted (named by their top resource).
    Recovered { restarted: Vec<String> },
    /// Non-critical subtrees failed and were stopped; the service runs partly.
    Partial { stopped: Vec<String> },
    /// The service failed: it needs the policy's recovery (restart, relocate, …).
    Failed,
    /// A restart of an independent subtree did not succeed: the service failed.
    RecoveryFailed { subtree: String },
}

#[derive(Debug)]
pub struct StatusReport {
    pub health: Health,
    /// The status calls and, after a recovery, its stop and start calls.
    pub results: Vec<ResourceResult>,
}

/// Memory kept between operations on the same forest.
#[derive(Debug, Default)]
pub struct RunState {
    started: HashSet<NodeId>,
    disabled: HashSet<NodeId>,
    restarts: HashMap<NodeId, Vec<Instant>>,
    failures: HashMap<NodeId, Vec<Instant>>,
    status_last: HashMap<(NodeId, usize), Instant>,
    last_status_ok: HashMap<NodeId, bool>,
}

impl RunState {
    /// Nodes the runner started and has not stopped since.
    pub fn is_started(&self, node: NodeId) -> bool {
        self.started.contains(&node)
    }

    /// Non-critical subtrees stopped after a failure (until the next full start).
    pub fn is_disabled(&self, node: NodeId) -> bool {
        self.disabled.contains(&node)
    }
}

/// Runs trees of one forest with a set of agents.
pub struct Runner<'a> {
    forest: &'a Forest,
    agents: &'a Agents,
    pub state: RunState,
    /// The limit for an action whose metadata gives none (timeout 0, as `script` declares for
    /// everything), when timeouts are enforced: a hung init script must fail, so that its
    /// service can recover, rather than hang the service forever as in RHCS.
    pub unlimited_action_timeout: Duration,
    /// This node's cluster name, given to agents (`OpContext::node`). Defaults to the host
    /// name; the daemon sets the node name it runs as.
    pub node_name: String,
}

/// The default of [`Runner::unlimited_action_timeout`]: generous, because it only exists to
/// catch a hang; `<action timeout=…>` or `__enforce_timeouts="0"` set it per resource.
pub const UNLIMITED_ACTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Keeps the entries of a window younger than `expire` (0 = never forget).
fn prune(v: &mut Vec<Instant>, expire: u64, now: Instant) {
    if expire > 0 {
        let keep = Duration::from_secs(expire);
        v.retain(|t| now.saturating_duration_since(*t) < keep);
    }
}

/// The addresses of the `ip` resources directly under group `root`, without their prefix
/// (rgmanager's agents read `/cluster/rm/service[@name=…]/ip[N]/@address`).
pub fn service_ips(forest: &Forest, root: NodeId) -> Vec<String> {
    forest
        .node(root)
        .children
        .iter()
        .filter(|&&c| forest.resource_of(c).kind == "ip")
        .filter_map(|&c| forest.attr_value(c, "address"))
        .map(|a| a.split_once('/').map_or(a, |(ip, _)| ip).trim().to_string())
        .collect()
}

struct Exec<'r, 'a> {
    runner: &'r mut Runner<'a>,
    results: Vec<ResourceResult>,
    /// Restarting a failed independent subtree: its restart count must survive.
    recovering: bool,
}

impl Exec<'_, '_> {
    fn call(&mut self, forest: &Forest, node: NodeId, op: Op) -> bool {
        let n = forest.node(node);
        let res = forest.resource_of(node);
        let now = Instant::now();
        let st = &self.runner.state;
        let action = match op {
            Op::Status => {
                let idx = due_status_action(&n.actions, |i| {
                    st.status_last
                        .get(&(node, i))
                        .map(|t| now.saturating_duration_since(*t).as_secs())
                });
                match idx {
                    Some(i) => Some((i, &n.actions[i])),
                    // Nothing due: the last answer stands.
                    None => return st.last_status_ok.get(&node).copied().unwrap_or(true),
                }
            }
            _ => n
                .actions
                .iter()
                .enumerate()
                .find(|(_, a)| a.depth == 0 && a.name.eq_ignore_ascii_case(op.as_str())),
        };
        // An agent without the action: nothing to run (rgmanager did the same).
        let Some((idx, action)) = action else {
            return true;
        };
        let depth = action.depth;
        let timeout = n.enforces_timeouts().then(|| match action.timeout {
            0 => self.runner.unlimited_action_timeout,
            t => Duration::from_secs(t),
        });
        let refcnt = st
            .started
            .iter()
            .filter(|&&o| o != node && forest.node(o).res == n.res)
            .count();
        let service = forest.name_of(n.root);
        let ctx = OpContext {
            service: service.clone(),
            resource: res.name(),
            kind: res.kind.clone(),
            params: forest.resolved_attrs(node),
            timeout,
            timeout_hint: action.timeout,
            depth,
            interval: if op == Op::Status { action.interval } else { 0 },
            refcnt: u32::try_from(refcnt).unwrap_or(u32::MAX),
            node: self.runner.node_name.clone(),
            service_ips: service_ips(forest, n.root),
        };
        let outcome = match self.runner.agents.get(&res.kind) {
            Some(agent) => agent.run(op, &ctx),
            None => Err(AgentError::NoAgent {
                kind: res.kind.clone(),
            }),
        };
        let state = &mut self.runner.state;
        let mut ok = outcome.is_ok();
        match op {
            Op::Start if ok => {
                state.started.insert(node);
                state.last_status_ok.remove(&node);
                // As rgmanager's clear_checks: the status clocks start at the start, so the
                // first check comes one interval later.
                for (i, a) in n.actions.iter().enumerate() {
                    if a.name == "status" {
                        state.status_last.insert((node, i), now);
                    }
                }
            }
            Op::Stop if ok => {
                state.started.remove(&node);
                state.last_status_ok.remove(&node);
            }
            Op::Status => {
                state.status_last.insert((node, idx), Instant::now());
                if !ok && n.max_failures > 0 && n.failure_expire_time > 0 {
                    let w = state.failures.entry(node).or_default();
                    prune(w, n.failure_expire_time, now);
                    if w.len() < n.max_failures as usize {
                        w.push(now);
                        tracing::warn!(service = %service, resource = %res.name(),
                            "status failure {} of {} tolerated", w.len(), n.max_failures);
                        ok = true;
                    }
                }
                state.last_status_ok.insert(node, ok);
            }
            _ => {}
        }
        let result = outcome.map_err(|source| {
            tracing::warn!(service = %service, "{} on {} returned an error: {source}", op.as_str(), res.name());
            ResourceError {
                service,
                resource: res.name(),
                op,
                source,
            }
        });
        self.results.push(ResourceResult {
            node,
            resource: res.name(),
            op,
            depth,
            result,
        });
        ok
    }
}

impl Executor for Exec<'_, '_> {
    fn exec(&mut self, forest: &Forest, node: NodeId, op: Op) -> bool {
        self.call(forest, node, op)
    }

    fn is_disabled(&self, node: NodeId) -> bool {
        self.runner.state.disabled.contains(&node)
    }

    fn restarts_exceeded(&mut self, forest: &Forest, node: NodeId) -> Option<bool> {
        let n = forest.node(node);
        if n.max_restarts == 0 {
            return None;
        }
        let w = self.runner.state.restarts.entry(node).or_default();
        prune(w, n.restart_expire_time, Instant::now());
        Some(w.len() >= n.max_restarts as usize)
    }

    fn record_restart(&mut self, forest: &Forest, node: NodeId) {
        if forest.node(node).max_restarts > 0 {
            self.runner
                .state
                .restarts
                .entry(node)
                .or_default()
                .push(Instant::now());
        }
    }

    fn clear_restarts(&mut self, _forest: &Forest, node: NodeId) {
        self.runner.state.restarts.remove(&node);
    }

    fn independent_start(&mut self, forest: &Forest, node: NodeId) {
        if !self.recovering {
            self.clear_restarts(forest, node);
        }
    }
}

impl<'a> Runner<'a> {
    pub fn new(forest: &'a Forest, agents: &'a Agents) -> Self {
        Runner {
            forest,
            agents,
            state: RunState::default(),
            unlimited_action_timeout: UNLIMITED_ACTION_TIMEOUT,
            node_name: super::exec::host_name(),
        }
    }

    fn walk(&mut self, node: NodeId, op: Op) -> (walk::Walk, Vec<ResourceResult>) {
        self.walk_as(node, op, false)
    }

    fn walk_as(
        &mut self,
        node: NodeId,
        op: Op,
        recovering: bool,
    ) -> (walk::Walk, Vec<ResourceResult>) {
        let forest = self.forest;
        let mut e = Exec {
            runner: self,
            results: Vec::new(),
            recovering,
        };
        let w = walk::walk_node(forest, &mut e, node, op);
        (w, e.results)
    }

    /// Starts a group (or any subtree) in order; stops at the first failure.
    pub fn start(&mut self, node: NodeId) -> TreeReport {
        // A full start of a group brings its stopped non-critical parts back.
        let sub: HashSet<NodeId> = self.forest.subtree(node).into_iter().collect();
        if self.forest.node(node).parent.is_none() {
            self.state.disabled.retain(|n| !sub.contains(n));
        }
        let (w, results) = self.walk(node, Op::Start);
        TreeReport {
            op: Op::Start,
            ok: !w.flags.failure,
            results,
        }
    }

    /// The non-critical subtrees of group `node` that a failed check stopped.
    pub fn stopped_parts(&self, node: NodeId) -> Vec<NodeId> {
        let mut parts: Vec<NodeId> = self
            .forest
            .subtree(node)
            .into_iter()
            .filter(|n| self.state.disabled.contains(n))
            .collect();
        parts.sort_unstable();
        parts
    }

    /// `clusvcadm -c` (rgmanager's `RG_CONVALESCE`): starts again the non-critical subtrees
    /// of group `node` that a failed check stopped. `ok` when every one of them started; one
    /// that fails stays stopped (and the service keeps running partly).
    pub fn convalesce(&mut self, node: NodeId) -> TreeReport {
        let mut ok = true;
        let mut results = Vec::new();
        for n in self.stopped_parts(node) {
            // A part inside another stopped part starts with it.
            if !self.state.disabled.contains(&n) {
                continue;
            }
            let inner: Vec<NodeId> = self.forest.subtree(n);
            self.state.disabled.retain(|d| !inner.contains(d));
            let (w, r) = self.walk(n, Op::Start);
            results.extend(r);
            if w.flags.failure {
                ok = false;
                // Whatever of it started goes down again: it stays a stopped part.
                let (_, r) = self.walk(n, Op::Stop);
                results.extend(r);
                self.state.disabled.insert(n);
            }
        }
        TreeReport {
            op: Op::Start,
            ok,
            results,
        }
    }

    /// Stops a group (or subtree) in reverse order; every stop is attempted.
    pub fn stop(&mut self, node: NodeId) -> TreeReport {
        let (w, results) = self.walk(node, Op::Stop);
        TreeReport {
            op: Op::Stop,
            ok: !w.flags.failure,
            results,
        }
    }

    /// Checks a group; restarts or stops independent subtrees as their flags ask.
    pub fn status(&mut self, node: NodeId) -> StatusReport {
        let (w, mut results) = self.walk(node, Op::Status);
        if w.flags.failure {
            return StatusReport {
                health: Health::Failed,
                results,
            };
        }
        let mut stopped = Vec::new();
        for &n in &w.stop {
            let (_, r) = self.walk(n, Op::Stop);
            results.extend(r);
            self.state.disabled.insert(n);
            stopped.push(self.forest.name_of(n));
        }
        let mut restarted = Vec::new();
        for &n in &w.restart {
            let (_, r) = self.walk(n, Op::Stop);
            results.extend(r);
            let (sw, r) = self.walk_as(n, Op::Start, true);
            results.extend(r);
            if sw.flags.failure {
                return StatusReport {
                    health: Health::RecoveryFailed {
                        subtree: self.forest.name_of(n),
                    },
                    results,
                };
            }
            restarted.push(self.forest.name_of(n));
        }
        let health = if !stopped.is_empty() {
            Health::Partial { stopped }
        } else if !restarted.is_empty() {
            Health::Recovered { restarted }
        } else {
            Health::Ok
        };
        StatusReport { health, results }
    }

    /// rgmanager's `res_start/res_stop/res_status(&tree, res)`: the operation on every tree
    /// node of a resource (what `rg_test test FILE start TYPE NAME` does). Status here does
    /// no recovery.
    pub fn run_resource(&mut self, res: super::ResId, op: Op) -> TreeReport {
        let forest = self.forest;
        let mut e = Exec {
            runner: self,
            results: Vec::new(),
            recovering: false,
        };
        let w = walk::walk_resource(forest, &mut e, res, op);
        TreeReport {
            op,
            ok: !w.flags.failure && !w.flags.recoverable,
            results: e.results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// An init script keeping its state in `dir/NAME.on`, logging every call to `dir/log`.
    fn init_script(dir: &Path, name: &str, start_rc: i32) -> String {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        let d = dir.display();
        writeln!(
            f,
            "#!/bin/sh\necho \"{name} $1 $OCF_RESKEY_service_name\" >> {d}/log\ncase \"$1\" in\n start) [ {start_rc} -eq 0 ] && touch {d}/{name}.on; exit {start_rc} ;;\n stop) rm -f {d}/{name}.on; exit 0 ;;\n status) [ -e {d}/{name}.on ] && exit 0; exit 3 ;;\nesac"
        )
        .unwrap();
        drop(f);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }

    fn log(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn forest(xml: &str) -> Forest {
        let f = Forest::build(&ccs::parse_str(xml).unwrap());
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        f
    }

    #[test]
    fn start_status_stop_a_service_with_scripts() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 0);
        let b = init_script(d.path(), "b", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web">
                <script name="a" file="{a}"><script name="b" file="{b}"/></script>
              </service></rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let root = f.roots[0];
        let rep = r.start(root);
        assert!(rep.ok, "{:?}", rep.errors().collect::<Vec<_>>());
        // Right after a start no check is due (rgmanager waited one interval).
        assert!(r.status(root).results.is_empty());
        r.state.status_last.clear();
        assert_eq!(
            rep.results
                .iter()
                .map(|x| x.resource.as_str())
                .collect::<Vec<_>>(),
            ["service:web", "script:a", "script:b"]
        );
        let st = r.status(root);
        assert_eq!(st.health, Health::Ok);
        // Both scripts were checked (the service has no status action).
        assert_eq!(st.results.len(), 2);
        let rep = r.stop(root);
        assert!(rep.ok);
        assert_eq!(
            log(d.path()),
            [
                "a start web",
                "b start web",
                "a status web",
                "b status web",
                "b stop web",
                "a stop web"
            ]
        );
        // Stopped now: status reports the service failed, naming the resource.
        r.state.status_last.clear();
        let st = r.status(root);
        assert_eq!(st.health, Health::Failed);
        let err = st.results[0].result.as_ref().unwrap_err();
        assert!(matches!(err.source, AgentError::NotRunning));
        assert_eq!(
            err.to_string(),
            "service:web: status of script:a failed: not running"
        );
    }

    #[test]
    fn a_failed_start_stops_the_walk_and_names_the_resource() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 1);
        let b = init_script(d.path(), "b", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web"><script name="a" file="{a}"/><script name="b" file="{b}"/></service>
            </rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let rep = r.start(f.roots[0]);
        assert!(!rep.ok);
        let errs: Vec<String> = rep.errors().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("service:web: start of script:a failed:"),
            "{errs:?}"
        );
        assert_eq!(log(d.path()), ["a start web"]);
    }

    #[test]
    fn types_without_an_agent_report_no_agent() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web"><smb name="data" workgroup="w"/></service></rm></cluster>"#,
        );
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let rep = r.start(f.roots[0]);
        assert!(!rep.ok);
        let e = rep.errors().next().unwrap();
        assert_eq!(e.resource, "smb:data");
        assert!(
            e.to_string().contains("no agent for resource type smb"),
            "{e}"
        );
    }

    #[test]
    fn independent_subtree_restarts_alone_until_its_restarts_are_used() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 0);
        let b = init_script(d.path(), "b", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web">
                <script name="a" file="{a}"/>
                <script name="b" file="{b}" __independent_subtree="1" __max_restarts="1" __restart_expire_time="1h"/>
              </service></rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let root = f.roots[0];
        assert!(r.start(root).ok);
        std::fs::remove_file(d.path().join("b.on")).unwrap();
        std::fs::remove_file(d.path().join("log")).unwrap();
        // Force the status schedule: every check is due.
        r.state.status_last.clear();
        let st = r.status(root);
        assert_eq!(
            st.health,
            Health::Recovered {
                restarted: vec!["script:b".into()]
            }
        );
        assert_eq!(
            log(d.path()),
            ["a status web", "b status web", "b stop web", "b start web"]
        );
        // Second failure within the hour: the one allowed restart is used, the service fails.
        std::fs::remove_file(d.path().join("b.on")).unwrap();
        r.state.status_last.clear();
        assert_eq!(r.status(root).health, Health::Failed);
    }

    #[test]
    fn non_critical_subtree_is_stopped_and_left_stopped() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 0);
        let b = init_script(d.path(), "b", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web">
                <script name="a" file="{a}"/>
                <script name="b" file="{b}" __independent_subtree="non-critical"/>
              </service></rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let root = f.roots[0];
        assert!(r.start(root).ok);
        std::fs::remove_file(d.path().join("b.on")).unwrap();
        r.state.status_last.clear();
        let st = r.status(root);
        assert_eq!(
            st.health,
            Health::Partial {
                stopped: vec!["script:b".into()]
            }
        );
        let bnode = f.nodes[root].children[1];
        assert!(r.state.is_disabled(bnode));
        // Later checks leave it alone and find the rest healthy.
        r.state.status_last.clear();
        assert_eq!(r.status(root).health, Health::Ok);
        // A full start brings it back.
        assert!(r.start(root).ok);
        assert!(d.path().join("b.on").exists());
    }

    #[test]
    fn convalesce_starts_the_stopped_non_critical_parts_again() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 0);
        let b = init_script(d.path(), "b", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web">
                <script name="a" file="{a}"/>
                <script name="b" file="{b}" __independent_subtree="non-critical"/>
              </service></rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let root = f.roots[0];
        assert!(r.start(root).ok);
        // Nothing stopped: nothing to do, and that is a success.
        assert!(r.stopped_parts(root).is_empty());
        assert!(r.convalesce(root).ok);
        std::fs::remove_file(d.path().join("b.on")).unwrap();
        r.state.status_last.clear();
        assert!(matches!(r.status(root).health, Health::Partial { .. }));
        let bnode = f.nodes[root].children[1];
        assert_eq!(r.stopped_parts(root), vec![bnode]);
        let rep = r.convalesce(root);
        assert!(rep.ok);
        assert!(d.path().join("b.on").exists());
        assert!(r.stopped_parts(root).is_empty());
        r.state.status_last.clear();
        assert_eq!(r.status(root).health, Health::Ok);
    }

    #[test]
    fn status_failures_within_max_failures_are_tolerated() {
        let d = tempfile::tempdir().unwrap();
        let a = init_script(d.path(), "a", 0);
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web">
                <script name="a" file="{a}" __max_failures="2" __failure_expire_time="1h"/>
              </service></rm></cluster>"#
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        let root = f.roots[0];
        // Never started: every check fails; two are forgiven, the third is not.
        for _ in 0..2 {
            r.state.status_last.clear();
            assert_eq!(r.status(root).health, Health::Ok);
        }
        r.state.status_last.clear();
        assert_eq!(r.status(root).health, Health::Failed);
    }

    #[test]
    fn timeouts_are_enforced_unless_turned_off() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("slow");
        std::fs::write(&p, "#!/bin/sh\n[ \"$1\" = start ] && sleep 2\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = |enforce: &str| {
            format!(
                r#"<cluster name="c" config_version="1"><rm>
                  <resources><script name="s" file="{}"><action name="start" timeout="1"/></script></resources>
                  <service name="web"><script ref="s" {enforce}/></service></rm></cluster>"#,
                p.display()
            )
        };
        let agents = Agents::builtin();
        let f = forest(&conf(""));
        let mut r = Runner::new(&f, &agents);
        let rep = r.start(f.roots[0]);
        assert!(!rep.ok);
        assert!(matches!(
            rep.errors().next().unwrap().source,
            AgentError::Timeout { secs: 1, .. }
        ));
        let f = forest(&conf(r#"__enforce_timeouts="0""#));
        let mut r = Runner::new(&f, &agents);
        assert!(r.start(f.roots[0]).ok);
    }

    #[test]
    fn an_action_without_a_timeout_still_has_a_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hang");
        std::fs::write(&p, "#!/bin/sh\n[ \"$1\" = start ] && sleep 30\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="web"><script name="s" file="{}"/></service></rm></cluster>"#,
            p.display()
        ));
        let agents = Agents::builtin();
        let mut r = Runner::new(&f, &agents);
        r.unlimited_action_timeout = Duration::from_secs(1);
        let t = Instant::now();
        let rep = r.start(f.roots[0]);
        assert!(!rep.ok);
        assert!(t.elapsed() < Duration::from_secs(25));
        assert!(matches!(
            rep.errors().next().unwrap().source,
            AgentError::Timeout { .. }
        ));
    }
}
