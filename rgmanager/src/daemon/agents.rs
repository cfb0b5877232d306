//! The thread that runs resource agents: one operation at a time, in the order the node core
//! gave them, and between them the periodic status checks of the services it started.
//!
//! A start or stop can take minutes and blocks, so it cannot run on the daemon's event loop.
//! Each resource is checked at the interval of its agent's metadata (or `<action>` override);
//! [`STATUS_TICK`] only bounds the lateness.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use crate::node::{wire::Op, AgentCmd, Input};
use crate::resource::agent::Agents;
use crate::resource::lvm::{LvmAgent, Members};
use crate::resource::runner::{Health, Runner};
use crate::resource::Forest;

/// How often the thread looks for due status checks.
const STATUS_TICK: Duration = Duration::from_millis(500);

/// How many replaced configurations' trees are kept to stop services they alone describe.
///
/// A service removed from cluster.conf while its stop is failing (or still queued) must be
/// stopped with the resources it was started with: the new trees no longer have it, and a
/// stop that can never succeed would keep a shutting-down node (and what only it may run)
/// waiting forever. A few configurations back is plenty: each reload is an administrator's push.
pub(crate) const RETIRED_FORESTS: usize = 8;

/// Starts the thread; its results go to `news` (which returns false once the daemon is gone).
/// `node` is this node's name in cluster.conf (the agents' `OCF_RESKEY_*`/LVM tags use it);
/// `members` the current members' names, for the `lvm` agent.
pub fn spawn(
    news: impl Fn(Input) -> bool + Send + 'static,
    node: String,
    members: Arc<dyn Members>,
) -> std::io::Result<std_mpsc::Sender<AgentCmd>> {
    let (tx, rx) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("agents".into())
        .spawn(move || serve(&rx, &news, &node, members))?;
    Ok(tx)
}

fn serve(
    cmds: &std_mpsc::Receiver<AgentCmd>,
    news: &dyn Fn(Input) -> bool,
    node: &str,
    members: Arc<dyn Members>,
) {
    let mut agents = Agents::builtin();
    // The lvm agent strips the tag of a node that has left: it needs the membership.
    agents.register(Box::new(LvmAgent {
        system_dir: std::env::var_os("LVM_SYSTEM_DIR").map(std::path::PathBuf::from),
        members: Some(members),
    }));
    // Services started here and not stopped since, with whether they were last healthy.
    let mut started: BTreeMap<String, bool> = BTreeMap::new();
    // The first command is the first configuration's trees.
    let mut forest = loop {
        match cmds.recv() {
            Ok(AgentCmd::Load { forest }) => break forest,
            Ok(AgentCmd::Run { job, .. }) => {
                if !news(Input::AgentDone { job, ok: false }) {
                    return;
                }
            }
            Err(_) => return,
        }
    };
    // Earlier configurations' trees, newest first.
    let mut retired: VecDeque<Arc<Forest>> = VecDeque::new();
    loop {
        let mut runner = Runner::new(&forest, &agents);
        runner.node_name = node.to_string();
        let old = Retired {
            forests: &retired,
            agents: &agents,
            node,
        };
        let Some(next) = serve_trees(&forest, &mut runner, &old, cmds, news, &mut started) else {
            return;
        };
        drop(runner);
        started.retain(|s, _| next.find_root(s).is_some());
        retired.push_front(std::mem::replace(&mut forest, next));
        retired.truncate(RETIRED_FORESTS);
    }
}

/// The trees of replaced configurations, for stopping a service the current one lacks.
struct Retired<'a> {
    forests: &'a VecDeque<Arc<Forest>>,
    agents: &'a Agents,
    node: &'a str,
}

impl Retired<'_> {
    /// Stops `service` with the newest earlier configuration that has it; `None` if none has.
    fn stop(&self, started: &mut BTreeMap<String, bool>, service: &str) -> Option<bool> {
        let forest = self
            .forests
            .iter()
            .find(|f| f.find_root(service).is_some())?;
        tracing::info!(
            "{service} is no longer in cluster.conf; stopping it as the configuration it ran \
             under describes it"
        );
        let mut runner = Runner::new(forest, self.agents);
        runner.node_name = self.node.to_string();
        Some(run(forest, &mut runner, started, service, Op::Stop))
    }
}

/// Runs operations and status checks with one configuration's trees until the next
/// configuration comes (returned) or the daemon is gone (`None`).
fn serve_trees(
    forest: &Forest,
    runner: &mut Runner<'_>,
    retired: &Retired<'_>,
    cmds: &std_mpsc::Receiver<AgentCmd>,
    news: &dyn Fn(Input) -> bool,
    started: &mut BTreeMap<String, bool>,
) -> Option<Arc<Forest>> {
    loop {
        let (job, service, op) = match cmds.recv_timeout(STATUS_TICK) {
            Ok(AgentCmd::Load { forest }) => return Some(forest),
            Ok(AgentCmd::Run { job, service, op }) => (job, service, op),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                if !check_status(forest, runner, news, started) {
                    return None;
                }
                continue;
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
        };
        let ok = match op {
            Op::Stop if forest.find_root(&service).is_none() => retired
                .stop(started, &service)
                .unwrap_or_else(|| run(forest, runner, started, &service, op)),
            _ => run(forest, runner, started, &service, op),
        };
        if !news(Input::AgentDone { job, ok }) {
            return None;
        }
    }
}

fn run(
    forest: &Forest,
    runner: &mut Runner<'_>,
    started: &mut BTreeMap<String, bool>,
    service: &str,
    op: Op,
) -> bool {
    let Some(root) = forest.find_root(service) else {
        tracing::error!("{service}: no such resource group here");
        return false;
    };
    match op {
        Op::Start => {
            tracing::info!("Starting {service}");
            let rep = runner.start(root);
            if rep.ok {
                tracing::info!("Service {service} started");
                started.insert(service.to_string(), true);
            } else {
                tracing::warn!("#68: Failed to start {service}; stopping what started");
                runner.stop(root);
            }
            rep.ok
        }
        Op::Stop => {
            tracing::info!("Stopping service {service}");
            started.remove(service);
            let rep = runner.stop(root);
            if rep.ok {
                tracing::info!("Service {service} is stopped");
            } else {
                tracing::error!("#12: {service} failed to stop cleanly");
            }
            rep.ok
        }
        Op::Convalesce => {
            tracing::info!("Repairing {service}");
            let rep = runner.convalesce(root);
            if !rep.ok {
                tracing::warn!("Failed to repair {service}");
            }
            rep.ok
        }
    }
}

/// The status checks that are due. False once the daemon is gone.
fn check_status(
    forest: &Forest,
    runner: &mut Runner<'_>,
    news: &dyn Fn(Input) -> bool,
    started: &mut BTreeMap<String, bool>,
) -> bool {
    for (service, healthy) in started.iter_mut() {
        let Some(root) = forest.find_root(service) else {
            continue;
        };
        let rep = runner.status(root);
        if let Health::Partial { stopped } = &rep.health {
            tracing::warn!(
                "Some non-critical resources of {service} failed and were stopped: {}; run \
                 'clusvcadm -c {service}' to restore them",
                stopped.join(", ")
            );
        }
        // Repeated at each check while parts stay stopped: a lost report is not lost for long.
        if !runner.stopped_parts(root).is_empty()
            && !news(Input::StatusPartial {
                service: service.clone(),
            })
        {
            return false;
        }
        match rep.health {
            Health::Failed | Health::RecoveryFailed { .. } => {
                // Reported again at each failed check until the coordinator acts.
                if *healthy {
                    tracing::warn!("#13: {service} failed its status check");
                }
                *healthy = false;
                if !news(Input::StatusFailed {
                    service: service.clone(),
                }) {
                    return false;
                }
            }
            _ => *healthy = true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[derive(Debug)]
    struct NoMembers;
    impl Members for NoMembers {
        fn is_member(&self, _: &str) -> Option<bool> {
            None
        }
    }

    fn forest(xml: &str) -> Arc<Forest> {
        let f = Forest::build(&ccs::parse_str(xml).unwrap());
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        Arc::new(f)
    }

    /// The answer to `job`, skipping status news.
    fn done(rx: &std_mpsc::Receiver<Input>, job: u64) -> bool {
        loop {
            match rx.recv_timeout(Duration::from_secs(30)).unwrap() {
                Input::AgentDone { job: j, ok } if j == job => return ok,
                _ => {}
            }
        }
    }

    #[test]
    fn a_service_removed_from_the_configuration_is_stopped_with_the_trees_it_ran_under() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("web");
        let log = d.path().join("log");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" >> {}\nexit 0\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let with_web = forest(&format!(
            r#"<cluster name="c" config_version="1"><rm>
                 <service name="web"><script name="web" file="{}"/></service>
               </rm></cluster>"#,
            script.display()
        ));
        let without = forest(
            r#"<cluster name="c" config_version="2"><rm>
                 <service name="other"/>
               </rm></cluster>"#,
        );
        let (news_tx, news) = std_mpsc::channel();
        let cmds = spawn(
            move |i| news_tx.send(i).is_ok(),
            "node1".into(),
            Arc::new(NoMembers),
        )
        .unwrap();
        let run = |job, service: &str, op| AgentCmd::Run {
            job,
            service: service.into(),
            op,
        };
        cmds.send(AgentCmd::Load { forest: with_web }).unwrap();
        cmds.send(run(1, "service:web", Op::Start)).unwrap();
        assert!(done(&news, 1));
        // The push that removes `web` reaches the agents before its stop (a stop that failed
        // before the push and is retried after it).
        cmds.send(AgentCmd::Load { forest: without }).unwrap();
        cmds.send(run(2, "service:web", Op::Stop)).unwrap();
        assert!(
            done(&news, 2),
            "the stop used the configuration web ran under"
        );
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(calls.lines().collect::<Vec<_>>(), ["start", "stop"]);
        // Only a stop falls back on earlier trees, and only for what they knew.
        cmds.send(run(3, "service:web", Op::Start)).unwrap();
        assert!(!done(&news, 3));
        cmds.send(run(4, "service:never", Op::Stop)).unwrap();
        assert!(!done(&news, 4));
    }
}
