//! Configuration sync and live reload inside the node: the [`ccs::sync`] core fed with the
//! peers' messages, the store's writes as outputs, `ccs_sync` pushes and checks from the admin
//! socket, and the reload of the running node when a newer version is adopted.
//!
//! Announcements are exchanged when a peer joins, when its heartbeats show another
//! `config_version` (a second later, so that a push's own offer arrives first), and on
//! `ccs_sync --check`. Every message travels on its own (the owner's transport carries one
//! message per connection); an announcement sent as a *query* is answered with ours, an answer
//! is never answered, so two nodes never ping-pong.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccs::store::Versioned;
use ccs::sync::{Event as SyncEvent, Message, Output as SyncOutput, Refusal, Sync};

use super::wire::Op;
use super::{AgentCmd, Node, Output};
use crate::admin::{NodeLine, Response, SyncOutcome};
use crate::membership::NodeId;
use crate::policy::view::{DomainRef, NodeConf};
use crate::policy::{ClusterView, Event, NodeState, PolicyConfig, State};
use crate::quorum::QuorumConfig;
use crate::resource::Forest;

/// How long `ccs_sync` waits for every node's answer.
const ADMIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long after a peer's heartbeats show another `config_version` we announce ours to it:
/// longer than a push takes, so that the push's own offer arrives first.
const HELLO_DELAY: Duration = Duration::from_secs(1);

/// Why a sync message got no answer (the transport's report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// No connection: the node is down, or nothing listens.
    Unreachable(String),
    /// The peer could not authenticate our frame (another cluster key).
    AuthRefused,
    /// Connected, but the message did not get through.
    NoAnswer,
}

/// What a store write is for.
#[derive(Clone, Debug)]
enum Write {
    /// The sync core's adoption of an offered version.
    Core,
    /// `ccs_sync`'s local copy, pushed here.
    Push(Versioned),
}

/// A `ccs_sync` push or check waiting for its nodes.
struct AdminRun {
    /// The admin request to answer.
    id: u64,
    /// The pushed version; `None` for a check.
    version: Option<u64>,
    /// The pushed text's hash.
    pushed: Option<ccs::store::ConfHash>,
    /// Node id → name and line (`None` while waiting).
    lines: BTreeMap<NodeId, (String, Option<SyncOutcome>)>,
    /// Nodes whose answer belongs to the run.
    expect: BTreeSet<NodeId>,
    deadline: Instant,
}

/// An administrator's sync request waiting for the current run.
enum Queued {
    Push(u64, String),
    Check(u64),
}

pub(super) struct SyncState {
    pub(super) core: Sync,
    /// Nodes we exchange sync messages with (configured, or leaving while in the view).
    peers: BTreeSet<NodeId>,
    writes: BTreeMap<u64, Write>,
    next_write: u64,
    run: Option<AdminRun>,
    queued: Vec<Queued>,
    /// Peers to say hello to, and from when.
    hello_soon: BTreeMap<NodeId, Instant>,
    /// Names of nodes removed from the configuration, for the log lines about their leaving.
    pub(super) former_names: BTreeMap<NodeId, String>,
    /// Each service's resource signature in the running configuration.
    sigs: BTreeMap<String, Vec<String>>,
}

impl SyncState {
    pub(super) fn new(config: Versioned, forest: &Forest) -> SyncState {
        let peers = config
            .conf()
            .nodes()
            .iter()
            .filter_map(|n| n.nodeid())
            .collect();
        SyncState {
            core: Sync::new(config),
            peers,
            writes: BTreeMap::new(),
            next_write: 1,
            run: None,
            queued: Vec::new(),
            hello_soon: BTreeMap::new(),
            former_names: BTreeMap::new(),
            sigs: signatures(forest),
        }
    }

    /// An administrator's run is waiting for answers.
    pub(super) fn run_pending(&self) -> bool {
        self.run.is_some() || !self.queued.is_empty()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let hello = self.hello_soon.values().min().copied();
        let run = self.run.as_ref().map(|r| r.deadline);
        match (hello, run) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The answer to an administrator's push or check.
    fn admin_answer(&mut self, from: NodeId, msg: &Message) -> bool {
        let Some(run) = &mut self.run else {
            return false;
        };
        if !run.expect.contains(&from) {
            return false;
        }
        let line = match (run.version, msg) {
            (None, Message::Announce { version, hash }) => SyncOutcome::Version {
                version: *version,
                hash: hash.to_string(),
            },
            (Some(v), Message::Accepted { version }) if *version == v => SyncOutcome::Success,
            (Some(_), Message::Accepted { version }) => SyncOutcome::Refused {
                reason: format!("the node holds version {version}"),
            },
            (_, Message::Refused { reason }) => SyncOutcome::Refused {
                reason: reason.to_string(),
            },
            (
                _,
                Message::Conflict {
                    version,
                    ours,
                    theirs,
                },
            ) => SyncOutcome::Conflict {
                detail: format!(
                    "both have config_version {version}, the node has hash {ours}, the pushed text {theirs}"
                ),
            },
            _ => return false,
        };
        run.expect.remove(&from);
        self.set_line(from, line);
        true
    }

    fn set_line(&mut self, node: NodeId, line: SyncOutcome) {
        if let Some(run) = &mut self.run {
            if let Some((_, l)) = run.lines.get_mut(&node) {
                if l.is_none() {
                    *l = Some(line);
                }
            }
        }
    }
}

impl Node {
    fn sync_send(&mut self, to: NodeId, msg: Message, query: bool) {
        if to == self.local {
            return;
        }
        self.out.push_back(Output::Sync { to, msg, query });
    }

    /// A sync message from a peer.
    pub(super) fn sync_message(&mut self, now: Instant, from: NodeId, msg: Message, query: bool) {
        if from == self.local || !self.sync.peers.contains(&from) {
            return;
        }
        if query && matches!(msg, Message::Announce { .. }) {
            let ours = self.sync.core.announcement();
            self.sync_send(from, ours, false);
        }
        let ours =
            self.sync.run.as_ref().and_then(|r| r.pushed) == Some(self.sync.core.local().hash());
        let admin = !query && self.sync.admin_answer(from, &msg);
        match msg {
            Message::Accepted { .. } if admin && !ours => {}
            Message::Refused { reason } if admin && !ours => {
                tracing::error!("Node {from} refused the pushed configuration: {reason}");
            }
            Message::Conflict {
                version,
                ours: theirs,
                theirs: pushed,
            } if admin && !ours => tracing::error!(
                "Configuration conflict with node {from}: both have config_version \
                 {version}, the node has hash {theirs}, the pushed text {pushed}; not merged"
            ),
            msg => self.sync.core.handle(from, msg),
        }
        self.sync_settle(now);
    }

    /// The transport could not deliver a message to `to`.
    pub(super) fn sync_failed(&mut self, now: Instant, to: NodeId, why: SendFailure) {
        let admin = self.sync.run.as_mut().is_some_and(|r| r.expect.remove(&to));
        if admin {
            let line = match why {
                SendFailure::Unreachable(why) => SyncOutcome::Unreachable { why },
                SendFailure::AuthRefused => SyncOutcome::Refused {
                    reason: "authentication failed (another cluster key?)".into(),
                },
                SendFailure::NoAnswer => SyncOutcome::NoAnswer,
            };
            self.sync.set_line(to, line);
        }
        self.sync_settle(now);
    }

    /// A store write finished.
    pub(super) fn sync_written(&mut self, now: Instant, write: u64, result: Result<(), String>) {
        match self.sync.writes.remove(&write) {
            Some(Write::Core) => self.sync.core.written(result),
            Some(Write::Push(config)) => self.push_written(config, result),
            None => {}
        }
        self.sync_settle(now);
    }

    /// Carries the sync core's outputs out, answers `ccs_sync` when its run is complete.
    pub(super) fn sync_settle(&mut self, now: Instant) {
        while let Some(out) = self.sync.core.poll_output() {
            match out {
                SyncOutput::Send { to, msg } => self.sync_send(to, msg, false),
                SyncOutput::Write { config, .. } => {
                    let write = self.sync.next_write;
                    self.sync.next_write += 1;
                    self.sync.writes.insert(write, Write::Core);
                    self.out.push_back(Output::Write { write, config });
                }
                SyncOutput::Event(e) => {
                    log_event(&e);
                    let run_version = self.sync.run.as_ref().and_then(|r| r.version);
                    match &e {
                        SyncEvent::PeerAccepted { peer, version }
                            if run_version == Some(*version) =>
                        {
                            self.sync.set_line(*peer, SyncOutcome::Success);
                        }
                        SyncEvent::PeerRefused { peer, reason } if run_version.is_some() => {
                            self.sync.set_line(
                                *peer,
                                SyncOutcome::Refused {
                                    reason: reason.to_string(),
                                },
                            );
                        }
                        _ => {}
                    }
                    if let SyncEvent::Adopted { .. } = e {
                        let config = self.sync.core.local().clone();
                        self.sync_adopted(now, &config);
                    }
                }
            }
        }
        self.finish_run(false);
        if self.sync.run.is_none() && !self.sync.queued.is_empty() {
            match self.sync.queued.remove(0) {
                Queued::Push(id, text) => self.sync_push(now, id, text),
                Queued::Check(id) => self.sync_check(now, id),
            }
        }
    }

    /// Answers `ccs_sync` once every node has a line, or at the deadline (`late`).
    fn finish_run(&mut self, late: bool) {
        let done = self
            .sync
            .run
            .as_ref()
            .is_some_and(|r| late || r.lines.values().all(|(_, l)| l.is_some()));
        if !done {
            return;
        }
        let Some(run) = self.sync.run.take() else {
            return;
        };
        let nodes = run
            .lines
            .into_values()
            .map(|(node, l)| NodeLine {
                node,
                outcome: l.unwrap_or(SyncOutcome::NoAnswer),
            })
            .collect();
        self.admin_reply(run.id, Response::Nodes { nodes });
    }

    /// Says hello (our announcement, answered with theirs) to a peer that joined.
    pub(super) fn sync_hello(&mut self, to: NodeId) {
        let msg = self.sync.core.announcement();
        self.sync_send(to, msg, true);
    }

    /// A peer's heartbeats show another `config_version`: hello in a moment.
    pub(super) fn sync_hello_soon(&mut self, now: Instant, to: NodeId) {
        self.sync
            .hello_soon
            .entry(to)
            .or_insert_with(|| now + HELLO_DELAY);
    }

    pub(super) fn sync_peer_lost(&mut self, peer: NodeId) {
        let configured = self.members_conf.iter().any(|(id, _)| *id == peer);
        self.sync.core.peer_lost(peer);
        if !configured {
            self.sync.peers.remove(&peer);
        }
        let now = self.now;
        self.sync_settle(now);
    }

    /// Each second: a fetch not answered is asked again.
    pub(super) fn sync_periodic(&mut self, now: Instant) {
        if !self.sync.core.is_caught_up() {
            self.sync.core.retry();
        }
        self.sync_settle(now);
    }

    /// The hellos and the `ccs_sync` deadline.
    pub(super) fn sync_timers(&mut self, now: Instant) {
        let due: Vec<NodeId> = self
            .sync
            .hello_soon
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for to in due {
            self.sync.hello_soon.remove(&to);
            self.sync_hello(to);
        }
        let late = self.sync.run.as_ref().is_some_and(|r| now >= r.deadline);
        self.finish_run(late);
        self.sync_settle(now);
    }

    /// `ccs_sync --check`: every node's version.
    pub(super) fn sync_check(&mut self, now: Instant, id: u64) {
        if self.sync.run.is_some() {
            self.sync.queued.push(Queued::Check(id));
            return;
        }
        let cur = self.sync.core.local().clone();
        let mut lines = BTreeMap::new();
        for (node, name) in self.members_conf.clone() {
            let line = (node == self.local).then(|| SyncOutcome::Version {
                version: cur.version(),
                hash: cur.hash().to_string(),
            });
            lines.insert(node, (name, line));
        }
        let targets: Vec<NodeId> = self
            .sync
            .peers
            .iter()
            .copied()
            .filter(|i| *i != self.local)
            .collect();
        self.sync.run = Some(AdminRun {
            id,
            version: None,
            pushed: None,
            lines,
            expect: targets.iter().copied().collect(),
            deadline: now + ADMIN_DEADLINE,
        });
        let hello = self.sync.core.announcement();
        for to in targets {
            self.sync_send(to, hello.clone(), true);
        }
    }

    /// `ccs_sync`: a new configuration for every node, this one included.
    pub(super) fn sync_push(&mut self, now: Instant, id: u64, text: String) {
        if self.sync.run.is_some() {
            self.sync.queued.push(Queued::Push(id, text));
            return;
        }
        let config = match Versioned::check(text.into_bytes()) {
            Ok(c) => c,
            Err(e) => {
                self.admin_reply(
                    id,
                    Response::Error {
                        message: format!("invalid: {e}"),
                    },
                );
                return;
            }
        };
        let conf = config.conf().clone();
        // The new configuration's nodes may be new to the transport.
        self.out.push_back(Output::Addresses { conf: conf.clone() });
        let mut targets: BTreeSet<NodeId> =
            conf.nodes().iter().filter_map(|n| n.nodeid()).collect();
        targets.extend(self.sync.peers.iter().copied());
        targets.remove(&self.local);
        let offer = Message::Offer {
            version: config.version(),
            bytes: config.hashed().clone(),
        };
        for to in &targets {
            self.sync_send(*to, offer.clone(), false);
        }
        let names = names_of(&conf);
        let mut lines = BTreeMap::new();
        for (node, name) in &names {
            lines.insert(*node, (name.clone(), None));
        }
        let local_name = self.name_of(self.local);
        lines.entry(self.local).or_insert((local_name, None));
        self.sync.run = Some(AdminRun {
            id,
            version: Some(config.version()),
            pushed: Some(config.hash()),
            lines,
            expect: targets,
            deadline: now + ADMIN_DEADLINE,
        });
        let ours = self.sync.core.local().clone();
        let local_line = if config.version() > ours.version() {
            let write = self.sync.next_write;
            self.sync.next_write += 1;
            self.sync.writes.insert(write, Write::Push(config.clone()));
            self.out.push_back(Output::Write { write, config });
            return;
        } else if config.version() == ours.version() && config.hash() == ours.hash() {
            SyncOutcome::Success
        } else if config.version() == ours.version() {
            tracing::error!(
                "Configuration conflict: ccs_sync pushes config_version {} with hash {}, \
                 this node has hash {}; not merged",
                config.version(),
                config.hash(),
                ours.hash()
            );
            SyncOutcome::Conflict {
                detail: format!(
                    "both have config_version {}, this node has hash {}, the pushed text {}",
                    config.version(),
                    ours.hash(),
                    config.hash()
                ),
            }
        } else {
            let reason = Refusal::NotNewer {
                offered: config.version(),
                ours: ours.version(),
            };
            tracing::error!("ccs_sync refused here: {reason}");
            SyncOutcome::Refused {
                reason: reason.to_string(),
            }
        };
        self.sync.set_line(self.local, local_line);
    }

    /// SIGHUP: the file on disk, edited by hand. A newer valid version is adopted as if it
    /// had been pushed here; the others learn its version from this node's heartbeats and
    /// fetch it.
    pub(super) fn sync_reload(&mut self, now: Instant, config: Versioned) {
        let ours = self.sync.core.local().clone();
        if config.version() > ours.version() {
            tracing::info!(
                "Configuration version {} (hash {}) read from disk, replacing version {}",
                config.version(),
                config.hash(),
                ours.version()
            );
            self.sync.core.set_local(config.clone());
            self.sync_adopted(now, &config);
        } else if config.version() == ours.version() && config.hash() == ours.hash() {
            tracing::info!(
                "cluster.conf on disk is version {}, the one in force: nothing to reload",
                config.version()
            );
        } else if config.version() == ours.version() {
            tracing::error!(
                "cluster.conf on disk has config_version {} like the one in force, but other \
                 contents (hash {}, in force {}): not reloaded; raise config_version",
                config.version(),
                config.hash(),
                ours.hash()
            );
        } else {
            tracing::error!(
                "cluster.conf on disk is version {}, older than version {} in force: not reloaded",
                config.version(),
                ours.version()
            );
        }
        self.sync_settle(now);
    }

    /// `ccs_sync`'s local copy is written (or not).
    fn push_written(&mut self, config: Versioned, result: Result<(), String>) {
        let line = match result {
            Ok(()) => {
                let ours = self.sync.core.local().version();
                self.sync.core.set_local(config.clone());
                tracing::info!(
                    "Configuration version {} (hash {}) installed by ccs_sync, replacing version {}",
                    config.version(),
                    config.hash(),
                    ours
                );
                let now = self.now;
                self.sync_adopted(now, &config);
                SyncOutcome::Success
            }
            Err(error) => SyncOutcome::Refused {
                reason: Refusal::NotStored { error }.to_string(),
            },
        };
        self.sync.set_line(self.local, line);
    }

    /// A newer configuration is in force: everything that depends on it follows, without a
    /// restart of anything unchanged.
    fn sync_adopted(&mut self, now: Instant, config: &Versioned) {
        let conf: Arc<ccs::ClusterConf> = config.conf().clone();
        if !conf.nodes().iter().any(|n| n.nodeid() == Some(self.local)) {
            tracing::warn!(
                "This node is not in configuration version {}: stopping its services and \
                 leaving the cluster",
                config.version()
            );
            self.begin_shutdown("Shutting down");
            return;
        }
        tracing::info!("Reconfiguring");
        self.conf = conf.clone();
        self.out
            .push_back(Output::Reconfigured { conf: conf.clone() });
        tracing::info!("Loading Service Data");
        let forest = match Forest::build_strict(&conf) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                tracing::error!(
                    "#7: Error building resource tree: {e}; services keep running as configured before"
                );
                return;
            }
        };
        let new_sigs = signatures(&forest);
        let in_view: Vec<NodeId> = self.view.as_ref().map_or(Vec::new(), |v| v.members.clone());
        let old_sigs = std::mem::replace(&mut self.sync.sigs, new_sigs.clone());
        let mut peers: BTreeSet<NodeId> = conf.nodes().iter().filter_map(|n| n.nodeid()).collect();
        for id in &self.sync.peers {
            if in_view.contains(id) {
                peers.insert(*id);
            }
        }
        self.sync.peers = peers;
        self.membership.set_config_version(config.version());
        let ids: Vec<NodeId> = conf.nodes().iter().filter_map(|n| n.nodeid()).collect();
        self.membership.set_nodes(&ids, now);

        let removed: Vec<String> = old_sigs
            .keys()
            .filter(|k| !new_sigs.contains_key(*k))
            .cloned()
            .collect();
        let changed: Vec<String> = old_sigs
            .iter()
            .filter(|(k, v)| new_sigs.get(*k).is_some_and(|n| n != *v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in new_sigs.keys().filter(|k| !old_sigs.contains_key(*k)) {
            tracing::info!("Initializing {k}");
        }
        for k in &removed {
            tracing::info!("{k} was removed from the configuration");
        }
        for k in &changed {
            tracing::info!("{k}: resources changed");
        }
        let stop: Vec<String> = removed
            .iter()
            .filter(|k| self.running.contains(*k))
            .cloned()
            .collect();
        let restart: Vec<String> = changed
            .iter()
            .filter(|k| self.running.contains(*k))
            .cloned()
            .collect();
        if !stop.is_empty() || !restart.is_empty() {
            tracing::info!("Stopping changed resources.");
        }
        for s in stop {
            self.run_job(s, Op::Stop, None);
        }
        // Each changed service is stopped with the old trees; its start with the new ones is
        // decided when that stop is done (`job_done`), after the `Load` below.
        for s in &restart {
            self.run_restart_stop(s.clone());
        }
        self.out.push_back(Output::Agent(AgentCmd::Load { forest }));
        if !restart.is_empty() {
            tracing::info!("Restarting changed resources.");
        }

        let old_policy = self.coord.view.config.clone();
        let old = &self.coord.view;
        let mut policy = PolicyConfig::from_conf(&conf);
        // Nodes the new configuration drops stay in the policy's view while they may still
        // run something: members until they leave, and failed nodes until they are fenced.
        let lost: Vec<NodeId> = self.victims.lost_nodes().iter().map(|(n, _)| *n).collect();
        let departing: Vec<NodeConf> = old_policy
            .nodes
            .iter()
            .filter(|n| policy.node_index(n.id).is_none())
            .filter(|n| {
                in_view.contains(&n.id)
                    || old.member(n.id) == NodeState::Lost
                    || lost.contains(&n.id)
            })
            .cloned()
            .collect();
        for n in &departing {
            tracing::info!(
                "{} was removed from the configuration; its services move once it has left",
                n.name
            );
        }
        policy.keep_departing(&departing);
        let config_p = Arc::new(policy.clone());
        self.set_policy(policy);
        // Nothing is placed on them, and their services are not taken over, until they leave
        // (or are fenced).
        for n in &departing {
            self.coord.view.set_member(n.id, NodeState::Lost);
        }
        self.order = config_p.services.iter().map(|s| s.name.clone()).collect();
        let mut members_conf: Vec<(NodeId, String)> = names_of(&conf).into_iter().collect();
        members_conf.sort();
        let old_members = std::mem::replace(&mut self.members_conf, members_conf);
        for (id, name) in old_members {
            self.sync.former_names.insert(id, name);
        }
        self.cluster_name = conf.name().to_string();
        self.cluster_id = crate::quorum::cluster_id(&conf);
        self.central_processing = conf
            .rm_attr("central_processing")
            .is_some_and(ccs::value::atoi_flag);

        let members: Vec<NodeId> = self.view.as_ref().map_or(Vec::new(), |v| v.members.clone());
        let change = self
            .quorum
            .reconfigure(QuorumConfig::from_conf(&conf), &members);
        self.tell_quorum_change(change);

        if self.coordinating && self.takeover.is_none() {
            // A service new to this table may have been started by a lost node that held the
            // newer configuration before this node did.
            let running = self.running_on_members();
            self.coord.suspect_lost(&running);
        }
        self.policy_event(Event::Evaluate);
        if self.coordinating && self.takeover.is_none() {
            for req in domain_moves(&old_policy, &self.coord.view) {
                let (_, orders) = self.coord.request(req);
                self.dispatch(orders);
            }
        }
        self.broadcast_table();
    }
}

fn log_event(e: &SyncEvent) {
    if e.is_alarm() {
        tracing::error!("{e}");
    } else {
        tracing::info!("{e}");
    }
}

/// Attributes of a service that only the policy reads: changing them re-evaluates placement
/// but does not restart the service.
const POLICY_ATTRS: &[&str] = &[
    "domain",
    "autostart",
    "exclusive",
    "recovery",
    "max_restarts",
    "restart_expire_time",
    "depend",
    "depend_mode",
];

/// What a service's resources are, for deciding whether a reload restarts it: every resource
/// of its tree (type, resolved attributes, place in the tree), the service's policy-only
/// attributes left out.
fn signatures(forest: &Forest) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for &root in &forest.roots {
        let sub = forest.subtree(root);
        let lines = sub
            .iter()
            .map(|&id| {
                let node = forest.node(id);
                let parent = node.parent.and_then(|p| sub.iter().position(|x| *x == p));
                let attrs: Vec<(String, String)> = forest
                    .resolved_attrs(id)
                    .into_iter()
                    .filter(|(k, _)| id != root || !POLICY_ATTRS.contains(&k.as_str()))
                    .collect();
                format!(
                    "{parent:?} {} {attrs:?} {:?}",
                    forest.resource_of(id).kind,
                    node.actions
                )
            })
            .collect();
        out.insert(forest.name_of(root), lines);
    }
    out
}

/// A node name for log lines and `ccs_sync`.
fn names_of(conf: &ccs::ClusterConf) -> BTreeMap<NodeId, String> {
    conf.nodes()
        .iter()
        .filter_map(|n| n.nodeid().map(|id| (id, n.name().to_string())))
        .collect()
}

type DomainKey = Option<(bool, bool, bool, Vec<(NodeId, u32)>)>;

fn domain_key(cfg: &PolicyConfig, service: &str) -> DomainKey {
    let s = &cfg.services[cfg.service_index(service)?];
    let DomainRef::Index(d) = s.domain else {
        return None;
    };
    let d = cfg.domains.get(d)?;
    let members = cfg
        .nodes
        .iter()
        .zip(&d.rank)
        .filter_map(|(n, r)| r.map(|r| (n.id, r)))
        .collect();
    Some((d.ordered, d.restricted, d.nofailback, members))
}

/// After a reload, on the coordinator: the services whose failover domain changed and that
/// run where the new domain does not want them: on a node it no longer allows (restricted),
/// or below an online node of higher priority (ordered, without `nofailback`). Each is
/// relocated through the policy, as `clusvcadm -r` would be.
fn domain_moves(old: &PolicyConfig, view: &ClusterView) -> Vec<crate::policy::Request> {
    let mut out = Vec::new();
    for (i, svc) in view.config.services.iter().enumerate() {
        let key = domain_key(&view.config, &svc.name);
        if old.service_index(&svc.name).is_none() || domain_key(old, &svc.name) == key {
            continue;
        }
        let st = &view.services[i];
        let (State::Started, Some(owner)) = (st.state, st.owner) else {
            continue;
        };
        let Some((ordered, restricted, nofailback, members)) = key else {
            continue;
        };
        let online = |id: NodeId| view.member(id) == NodeState::Online;
        let rank_of = |id: NodeId| members.iter().find(|(n, _)| *n == id).map(|(_, r)| *r);
        let best = members
            .iter()
            .filter(|(n, _)| online(*n))
            .min_by_key(|(n, r)| (if ordered { *r } else { 0 }, *n))
            .map(|(n, r)| (*n, *r));
        let here = rank_of(owner);
        let relocate_to = match (here, best) {
            (None, Some((b, _))) if restricted => Some(b),
            (Some(h), Some((b, r))) if ordered && !nofailback && r < h => Some(b),
            _ => None,
        };
        if let Some(node) = relocate_to {
            tracing::info!(
                "{}: failover domain changed; relocating to node {node}",
                svc.name
            );
            out.push(crate::policy::Request::Relocate {
                service: svc.name.clone(),
                node: Some(node),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(web_file: &str, db_domain: &str, d_top: &str, flags: &str) -> ccs::ClusterConf {
        let order = if d_top == "n1" {
            ["n1", "n2"]
        } else {
            ["n2", "n1"]
        };
        let text = format!(
            r#"<cluster name="c" config_version="1">
  <clusternodes>
    <clusternode name="n1" nodeid="1"/>
    <clusternode name="n2" nodeid="2"/>
    <clusternode name="n3" nodeid="3"/>
  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d" {flags}>
        <failoverdomainnode name="{}" priority="1"/>
        <failoverdomainnode name="{}" priority="2"/>
      </failoverdomain>
    </failoverdomains>
    <service name="web"><script name="web" file="{web_file}"/></service>
    <service name="db" domain="{db_domain}" recovery="relocate"><script name="db" file="/db"/></service>
  </rm>
</cluster>"#,
            order[0], order[1]
        );
        let r = ccs::check_str(&text);
        assert!(r.errors().next().is_none(), "{:?}", r.diagnostics);
        r.conf.unwrap()
    }

    #[test]
    fn a_signature_changes_with_the_resources_not_with_policy_attributes() {
        let a = signatures(&Forest::build(&conf("/web", "d", "n1", "ordered=\"1\"")));
        let b = signatures(&Forest::build(&conf("/web2", "d", "n1", "ordered=\"1\"")));
        let c = signatures(&Forest::build(&conf("/web", "", "n2", "")));
        assert_eq!(a.len(), 2);
        assert_ne!(a["service:web"], b["service:web"]);
        assert_eq!(a["service:db"], b["service:db"]);
        // Another domain (and domain contents) leave every tree as it was.
        assert_eq!(a, c);
    }

    fn view_with_db_on(cfg: &ccs::ClusterConf, owner: NodeId) -> ClusterView {
        let mut v = ClusterView::from_conf(cfg);
        for id in [1, 2, 3] {
            v.set_member(id, NodeState::Online);
        }
        v.quorate = true;
        let st = v.service_mut("service:db").unwrap();
        st.state = State::Started;
        st.owner = Some(owner);
        v
    }

    #[test]
    fn a_changed_domain_relocates_only_what_it_no_longer_wants_where_it_is() {
        let old = PolicyConfig::from_conf(&conf("/web", "d", "n2", "ordered=\"1\""));
        // The ordered domain now puts n1 first: db moves from n2 to n1.
        let new = conf("/web", "d", "n1", "ordered=\"1\"");
        let moves = domain_moves(&old, &view_with_db_on(&new, 2));
        assert_eq!(
            moves,
            vec![crate::policy::Request::Relocate {
                service: "service:db".into(),
                node: Some(1),
            }]
        );
        // Already on the new top node, or nofailback, or unordered: nothing moves.
        assert!(domain_moves(&old, &view_with_db_on(&new, 1)).is_empty());
        let nofailback = conf("/web", "d", "n1", "ordered=\"1\" nofailback=\"1\"");
        assert!(domain_moves(&old, &view_with_db_on(&nofailback, 2)).is_empty());
        let unordered = conf("/web", "d", "n1", "");
        assert!(domain_moves(&old, &view_with_db_on(&unordered, 2)).is_empty());
        // A restricted domain that no longer lists the owner moves it to one it lists.
        let restricted = conf("/web", "d", "n1", "ordered=\"1\" restricted=\"1\"");
        let moves = domain_moves(&old, &view_with_db_on(&restricted, 3));
        assert_eq!(moves.len(), 1, "{moves:?}");
        // The same domain as before: nothing to do, wherever the service runs.
        let same = PolicyConfig::from_conf(&new);
        assert!(domain_moves(&same, &view_with_db_on(&new, 2)).is_empty());
    }
}
