//! Fencing lost members, fenced's job inside the daemon: the threads that run a node's fence
//! methods through [`fence::node`] (which nodes to fence, and when, is the node core's
//! decision: [`crate::node::fencing`]).
//!
//! A fence run: `post_fail_delay`, then the node's methods in order, every device of a
//! method, round after round with a pause until one method succeeds or the run is cancelled
//! (the node rejoined, or this node stopped coordinating). The worker threads exist because an
//! agent run blocks for seconds and must not hold up the daemon's loop. Each round reads the
//! configuration from [`ConfSource`]: the daemon's file when its `config_version` grew and it
//! validates, so that a corrected fence password takes effect without restarting anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::node::Input;
use crate::policy::NodeId;
use ccs::ClusterConf;
use fence::agent::RealClock;
use fence::node::{AgentRunner, RetryPolicy};

/// The pause between two rounds over a node's methods (fenced slept 5 s).
pub const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// After this many failed rounds, fenced stopped logging every failure; a reminder every
/// [`REMIND_EVERY`] rounds says it still tries.
const QUIET_AFTER: u32 = 3;
const REMIND_EVERY: u32 = 60;

/// The configuration the workers read: the daemon's, replaced by a newer valid version of its
/// file when one appears.
#[derive(Debug)]
pub struct ConfSource {
    path: PathBuf,
    conf: Mutex<Arc<ClusterConf>>,
    /// The last version found invalid, so that it is reported once.
    refused: Mutex<Option<u64>>,
}

impl ConfSource {
    pub fn new(path: &Path, conf: ClusterConf) -> ConfSource {
        ConfSource {
            path: path.to_path_buf(),
            conf: Mutex::new(Arc::new(conf)),
            refused: Mutex::new(None),
        }
    }

    fn cached(&self) -> Arc<ClusterConf> {
        match self.conf.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the configuration (config sync, live reload).
    pub fn set(&self, conf: ClusterConf) {
        match self.conf.lock() {
            Ok(mut c) => *c = Arc::new(conf),
            Err(p) => *p.into_inner() = Arc::new(conf),
        }
    }

    /// The configuration to fence with now: the file's when its version is newer than the one
    /// held and it loads and validates; the one held otherwise.
    pub fn current(&self) -> Arc<ClusterConf> {
        let held = self.cached();
        let have = held.config_version().unwrap_or(0);
        match ccs::load(&self.path) {
            Ok((conf, _)) => {
                let v = conf.config_version().unwrap_or(0);
                if v > have {
                    tracing::info!(
                        "fencing with configuration version {v} of {}",
                        self.path.display()
                    );
                    self.set(conf);
                    return self.cached();
                }
            }
            Err(_) => {
                let mut refused = match self.refused.lock() {
                    Ok(r) => r,
                    Err(p) => p.into_inner(),
                };
                // Only the version is worth remembering, and the error is not logged: it may
                // quote the file, passwords included. ccs_config_validate tells what is wrong.
                let v = std::fs::read_to_string(&self.path)
                    .ok()
                    .and_then(|t| version_in(&t));
                if *refused != v || v.is_none() {
                    *refused = v;
                    tracing::warn!(
                        "fencing keeps configuration version {have}: {} does not load or \
                         validate (see ccs_config_validate)",
                        self.path.display()
                    );
                }
            }
        }
        held
    }
}

/// `config_version="N"` of a file's text, without parsing the rest.
fn version_in(text: &str) -> Option<u64> {
    let i = text.find("config_version")?;
    let rest = text[i + "config_version".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    let rest = &rest[q.len_utf8()..];
    let end = rest.find(q)?;
    rest[..end].trim().parse().ok()
}

/// The fence runs: one thread per node being fenced, started and cancelled by the node core
/// ([`crate::node::FenceCmd`]), reporting with [`crate::node::Input::FenceDone`].
pub struct Fencer {
    source: Arc<ConfSource>,
    /// The running worker of each node and its cancel flag.
    cancels: BTreeMap<NodeId, Arc<AtomicBool>>,
    news: Arc<dyn Fn(Input) -> bool + Send + Sync>,
}

impl Fencer {
    pub fn new(source: ConfSource, news: impl Fn(Input) -> bool + Send + Sync + 'static) -> Fencer {
        Fencer {
            source: Arc::new(source),
            cancels: BTreeMap::new(),
            news: Arc::new(news),
        }
    }

    pub fn source(&self) -> &ConfSource {
        &self.source
    }

    /// Stops the worker fencing `node`, if any (between rounds: a device being run finishes).
    pub fn cancel(&mut self, node: NodeId) {
        if let Some(c) = self.cancels.remove(&node) {
            c.store(true, Ordering::SeqCst);
        }
    }

    /// Starts run `run` fencing `node` (named `victim` in cluster.conf).
    pub fn spawn(&mut self, run: u64, node: NodeId, victim: String) {
        self.cancel(node);
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels.insert(node, cancel.clone());
        let source = self.source.clone();
        let news = self.news.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("fence-{victim}"))
            .spawn(move || {
                let fenced = fence_until_done(&source, &victim, &cancel);
                news(Input::FenceDone { run, node, fenced });
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start fencing node {node}: {e}");
            (self.news)(Input::FenceDone {
                run,
                node,
                fenced: false,
            });
        }
    }
}

/// Sleeps `d` in short steps; false when cancelled meanwhile.
fn pause(d: Duration, cancel: &AtomicBool) -> bool {
    let step = Duration::from_millis(100);
    let mut left = d;
    while !left.is_zero() {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    !cancel.load(Ordering::SeqCst)
}

/// The second half of the reboots a fencing split (see `fence::node::split_reboots`): the
/// devices that powered `victim` off power it on again, from a thread of their own, so that
/// the node comes back as a `reboot` would have brought it, while its services already move.
/// A failure leaves the node off, which is safe; it is logged for the administrator. The
/// device's `power_wait`, taken out of the off, is the pause before the first on.
fn power_on_again(victim: &str, on: fence::node::PowerOn) {
    if on.calls.is_empty() {
        return;
    }
    let name = format!("power-on-{victim}");
    let victim = victim.to_string();
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        std::thread::sleep(on.pause);
        let mut runner = AgentRunner::default();
        for call in &on.calls {
            match fence::node::DeviceRunner::run(&mut runner, call) {
                Ok(()) => tracing::info!(
                    "fence {victim} dev {}.{}: powered on again (the reboot's second half)",
                    call.method,
                    call.device
                ),
                Err((result, why)) => tracing::warn!(
                    "fence {victim} dev {}.{}: power on failed ({}: {why}); the node stays off",
                    call.method,
                    call.device,
                    result.as_str()
                ),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot power the node on again: {e}; it stays off");
    }
}

/// fenced's victim loop for one node: `post_fail_delay`, then rounds over the node's methods
/// until one succeeds or the worker is cancelled. True when the node is fenced.
fn fence_until_done(source: &ConfSource, victim: &str, cancel: &AtomicBool) -> bool {
    let delay = source.current().post_fail_delay();
    if delay < 0 {
        // fenced's -1: wait for ever, i.e. only an administrator's acknowledgement helps.
        tracing::warn!(
            "post_fail_delay -1: not fencing node {victim}; waiting for fence_ack_manual {victim}"
        );
        while pause(Duration::from_secs(1), cancel) {}
        return false;
    }
    if delay > 0 {
        tracing::info!("Delaying fencing of node {victim} by post_fail_delay {delay} s");
        if !pause(Duration::from_secs(delay as u64), cancel) {
            return false;
        }
    }
    let mut round: u32 = 0;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        round += 1;
        let conf = source.current();
        let mut runner = AgentRunner::default();
        match fence::node::plan(&conf, victim) {
            Ok(plan) => {
                // Off first: the node is safe once its method's devices confirm it off, and
                // its services may move then; the reboot's power-on follows in the background.
                let (plan, ons) = fence::node::split_reboots(&plan);
                let report = fence::node::execute(
                    &plan,
                    &RetryPolicy::once(),
                    &mut runner,
                    &mut RealClock,
                    &mut |_| {},
                );
                if let fence::node::Verdict::Success { method } = report.verdict {
                    let on = ons.get(method).cloned().unwrap_or_default();
                    power_on_again(victim, on);
                    return true;
                }
            }
            Err(e) => tracing::error!("fence {victim}: {e}"),
        }
        if round == QUIET_AFTER || (round > QUIET_AFTER && round.is_multiple_of(REMIND_EVERY)) {
            tracing::error!("fencing node {victim} still retrying");
        }
        if !pause(RETRY_PAUSE, cancel) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_version_is_read_without_parsing() {
        assert_eq!(
            version_in(r#"<cluster name="a" config_version = '12'>"#),
            Some(12)
        );
        assert_eq!(version_in("<cluster/>"), None);
    }

    #[test]
    fn a_newer_valid_file_replaces_the_configuration_an_invalid_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.conf");
        let conf = |v: u32, pw: &str| {
            format!(
                r#"<cluster name="c" config_version="{v}"><clusternodes>
                <clusternode name="n1" nodeid="1"/></clusternodes>
                <fencedevices><fencedevice name="f" agent="fence_ipmilan" ipaddr="127.0.0.1" login="a" passwd="{pw}"/></fencedevices></cluster>"#
            )
        };
        std::fs::write(&path, conf(1, "old")).unwrap();
        let (c, _) = ccs::load(&path).unwrap();
        let src = ConfSource::new(&path, c);
        assert_eq!(src.current().config_version(), Some(1));
        std::fs::write(&path, conf(2, "new")).unwrap();
        assert_eq!(src.current().config_version(), Some(2));
        std::fs::write(&path, "<cluster name=\"c\" config_version=\"3\"><nonsense").unwrap();
        assert_eq!(src.current().config_version(), Some(2));
        // An older file does not replace a newer configuration.
        std::fs::write(&path, conf(1, "old")).unwrap();
        assert_eq!(src.current().config_version(), Some(2));
    }
}
