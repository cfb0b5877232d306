//! `rgmanager::policy`: where services run and what happens when something fails, as a pure
//! function `decide(&ClusterView, &Event) -> Vec<Action>`.
//!
//! It owns RHCS's placement and recovery rules (failover domains, `exclusive`, `autostart`,
//! `depend`, `recovery` with restart thresholds, failback, node loss, quorum loss, the
//! administrator's requests and their return codes) and nothing else: no I/O, no clock (the
//! caller passes `now`), no randomness. Keeping the decision pure is what lets the coordinator
//! decide placement instead of letting nodes race for it, and what lets the golden scenarios
//! and the property test pin the behaviour down without a cluster. The daemon carries the
//! actions out and reports their outcome as new events. `docs/policy.md` is the user's page.
//!
//! - [`view`]: the policy's digest of cluster.conf ([`PolicyConfig`], built once) and the
//!   replicated state it decides on ([`ClusterView`]), with [`ClusterView::apply`] recording
//!   what a successful action leaves behind.
//! - [`decide`](mod@decide): the rules.

pub mod decide;
pub mod view;

pub use decide::decide;
pub use view::{ClusterView, DomainConf, NodeConf, PolicyConfig, ServiceConf, ServiceStatus};

/// A node as cluster.conf numbers it (`clusternode/@nodeid`).
pub type NodeId = u32;

/// What the membership layer knows about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// A member of the current view.
    Online,
    /// Not a member and holding nothing: it left cleanly (stopping its services first) or has
    /// not joined since start-up.
    Down,
    /// Left uncleanly and not fenced yet: whatever it ran may still be running, so its
    /// services stay its own.
    Lost,
    /// Left uncleanly and then fenced (or acknowledged by hand): it runs nothing.
    Fenced,
}

impl NodeState {
    pub fn is_online(self) -> bool {
        self == NodeState::Online
    }

    /// Offline and known to run nothing: its services may be recovered elsewhere.
    pub fn is_safely_down(self) -> bool {
        matches!(self, NodeState::Down | NodeState::Fenced)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Down => "down",
            NodeState::Lost => "lost",
            NodeState::Fenced => "fenced",
        }
    }

    pub fn parse(word: &str) -> Option<NodeState> {
        Some(match word {
            "online" => NodeState::Online,
            "down" => NodeState::Down,
            "lost" => NodeState::Lost,
            "fenced" => NodeState::Fenced,
            _ => return None,
        })
    }
}

/// A service's state: the project's one table of RHCS's states (`rgmanager::state`).
pub use crate::state::ServiceState as State;

/// The state with this clustat word.
pub fn parse_state(word: &str) -> Option<State> {
    State::ALL.into_iter().find(|s| s.as_str() == word)
}

/// What the policy needs to know about a state beyond its name.
pub trait Holds {
    /// States in which the owner has, or may have, the service's resources up. A service in
    /// one of them belongs to its owner until that owner stops it or is known to be down.
    fn holds(self) -> bool;
}

impl Holds for State {
    fn holds(self) -> bool {
        matches!(
            self,
            State::Starting
                | State::Started
                | State::Stopping
                | State::Checking
                | State::Recoverable
                | State::Recovering
                | State::Migrating
        )
    }
}

pub use crate::state::RgCode;

/// What the policy is asked to react to. Membership facts in an event (a node joined, left,
/// was fenced; quorum lost or regained) override the view, so the caller may pass the view
/// from before or after it recorded them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    NodeJoined(NodeId),
    /// `clean`: the node shut down in order (its services were stopped); otherwise it failed
    /// and must be fenced before its services move.
    NodeLeft {
        node: NodeId,
        clean: bool,
    },
    /// Fencing of a lost node succeeded (or was acknowledged by hand).
    NodeFenced(NodeId),
    QuorumLost,
    QuorumRegained,
    /// Re-examine everything: initial placement after start-up, services left stopped after a
    /// failed relocation, dependencies. Not a tight timer: a service stopped by the
    /// administrator (`clusvcadm -s`) is started again by the next evaluation, as RHCS did at
    /// the next transition.
    Evaluate,
    /// The owner's status check of a started service failed.
    StatusFailed {
        service: String,
        node: NodeId,
    },
    /// A `Start`, `Relocate` (its start phase) or `Restart` failed to start on `node`.
    StartFailed {
        service: String,
        node: NodeId,
    },
    /// A stop failed on `node` (the resources may still be up there).
    StopFailed {
        service: String,
        node: NodeId,
    },
    /// A start completed on `node`.
    Started {
        service: String,
        node: NodeId,
    },
    /// A `Stop` completed (not the stop phase of a relocation or restart).
    Stopped {
        service: String,
        node: NodeId,
    },
    Request(Request),
}

/// The administrator's requests (`clusvcadm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `-e S`: `node` is the `-m` member, or the local member for a plain `-e`; `None` follows
    /// the failover domain (`-e S -F`).
    Enable {
        service: String,
        node: Option<NodeId>,
    },
    /// `-d S`
    Disable { service: String },
    /// `-r S [-m N]`
    Relocate {
        service: String,
        node: Option<NodeId>,
    },
    /// `-R S`
    Restart { service: String },
    /// `-s S`
    Stop { service: String },
    /// `-Z S`
    Freeze { service: String },
    /// `-U S`
    Unfreeze { service: String },
    /// `-M S -m N`: move a running `vm` to `node` (RHCS's `svc_migrate` checks).
    Migrate { service: String, node: NodeId },
    /// `-c S`: start the non-critical parts of a started service that a failed status check
    /// stopped (RHCS's `svc_convalesce`).
    Convalesce { service: String },
    /// `-l` / `-u`: the cluster-wide lock that keeps services from starting (used before a
    /// cluster shutdown). Not about one service.
    Lock { locked: bool },
}

impl Request {
    pub fn service(&self) -> &str {
        match self {
            Request::Enable { service, .. }
            | Request::Disable { service }
            | Request::Relocate { service, .. }
            | Request::Restart { service }
            | Request::Stop { service }
            | Request::Freeze { service }
            | Request::Unfreeze { service }
            | Request::Migrate { service, .. }
            | Request::Convalesce { service } => service,
            Request::Lock { .. } => "",
        }
    }
}

/// Log levels of the lines the policy writes (syslog's, as rgmanager used them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Err,
    Crit,
    Alert,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Err => "err",
            Level::Crit => "crit",
            Level::Alert => "alert",
        }
    }
}

/// What the daemon must do, in list order. Services are named `type:name`.
///
/// Order matters where services depend on each other: the stops of a service's dependents
/// come before the action that takes it down, and a dependent is started only on its
/// dependency's `Started` event. Actions on unrelated services may run concurrently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start on `node`: state `starting` (owner `node`), then `started`; report `Started` or
    /// `StartFailed`.
    Start { service: String, node: NodeId },
    /// Stop on `node`: state `stopping` (a `failed` service stays `failed` meanwhile), then
    /// `to` (`stopped` or `disabled`) with `node` as last owner; report `Stopped` or
    /// `StopFailed`.
    Stop {
        service: String,
        node: NodeId,
        to: State,
    },
    /// Stop on `from` (state `stopping`), then start on `to` (`starting`, `started`), as one
    /// operation; report `Started`, `StopFailed` (from) or `StartFailed` (to).
    Relocate {
        service: String,
        from: NodeId,
        to: NodeId,
    },
    /// Stop and start again on `node`. `recover`: a recovery after a failed status check: the
    /// state reads `recovering` throughout and `now` joins the restart history. Report
    /// `Started`, `StopFailed` or `StartFailed`.
    Restart {
        service: String,
        node: NodeId,
        recover: bool,
    },
    /// Without quorum: stop on `node` at once, writing no state (there is no quorum to write
    /// it with; RHCS's `#69: Unclean stop`).
    EmergencyStop { service: String, node: NodeId },
    /// Write the state without running anything: the owner (if any) becomes the last owner.
    Mark { service: String, state: State },
    /// Set or clear the frozen flag.
    Freeze { service: String, frozen: bool },
    /// Forget the restart history (after the threshold sent the service elsewhere).
    ClearRestarts { service: String },
    /// Start the stopped non-critical subtrees of a service that runs partly on `node`; on
    /// success the `partial` flag is cleared.
    Convalesce { service: String, node: NodeId },
    /// Set or clear the cluster-wide lock (`clusvcadm -l/-u`).
    Lock { locked: bool },
    /// A log line in RHCS's words.
    Log { level: Level, text: String },
    /// The answer to a [`Request`] (always the last action of a request's list).
    Reply(RgCode),
}

impl Action {
    /// The service this action changes, if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Start { service, .. }
            | Action::Stop { service, .. }
            | Action::Relocate { service, .. }
            | Action::Restart { service, .. }
            | Action::EmergencyStop { service, .. }
            | Action::Mark { service, .. }
            | Action::Freeze { service, .. }
            | Action::ClearRestarts { service }
            | Action::Convalesce { service, .. } => Some(service),
            Action::Log { .. } | Action::Reply(_) | Action::Lock { .. } => None,
        }
    }

    /// The node that ends up running the service, for the actions that start it somewhere.
    pub fn start_target(&self) -> Option<NodeId> {
        match self {
            Action::Start { node, .. } | Action::Restart { node, .. } => Some(*node),
            Action::Relocate { to, .. } => Some(*to),
            _ => None,
        }
    }

    /// One line, with node names from `config` (the golden scenarios' and the docs' form).
    pub fn render(&self, config: &PolicyConfig) -> String {
        let n = |id: &NodeId| config.node_name(*id).to_string();
        match self {
            Action::Start { service, node } => format!("start {service} on {}", n(node)),
            Action::Stop { service, node, to } => {
                format!("stop {service} on {} -> {to}", n(node))
            }
            Action::Relocate { service, from, to } => {
                format!("relocate {service} from {} to {}", n(from), n(to))
            }
            Action::Restart {
                service,
                node,
                recover,
            } => format!(
                "restart {service} on {}{}",
                n(node),
                if *recover { " (recovery)" } else { "" }
            ),
            Action::EmergencyStop { service, node } => {
                format!("emergency-stop {service} on {}", n(node))
            }
            Action::Mark { service, state } => format!("mark {service} {state}"),
            Action::Freeze { service, frozen } => {
                format!("{} {service}", if *frozen { "freeze" } else { "unfreeze" })
            }
            Action::ClearRestarts { service } => format!("clear-restarts {service}"),
            Action::Convalesce { service, node } => {
                format!("convalesce {service} on {}", n(node))
            }
            Action::Lock { locked } => (if *locked { "lock" } else { "unlock" }).to_string(),
            Action::Log { level, text } => format!("log {}: {text}", level.as_str()),
            Action::Reply(code) => format!("reply {}", code.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_words_are_rhcs_ones() {
        assert_eq!(RgCode::Success.code(), 0);
        assert_eq!(RgCode::Fail.code(), -1);
        assert_eq!(RgCode::Quorum.code(), -9);
        assert_eq!(RgCode::Running.code(), -10);
        assert_eq!(RgCode::Frozen.code(), -11);
        assert_eq!(RgCode::Fence.code(), -13);
        assert_eq!(RgCode::Domain.code(), -15);
        assert_eq!(RgCode::Permission.code(), -18);
        assert_eq!(RgCode::parse_name("RG_EEXCL"), Some(RgCode::Exclusive));
        assert_eq!(State::Stopped.code(), 110);
        assert_eq!(State::Recoverable.as_str(), "recoverable");
        assert_eq!(State::Migrating.code(), 120);
        for s in State::ALL {
            assert_eq!(parse_state(s.as_str()), Some(s));
        }
    }

    #[test]
    fn long_dependency_chain_stops_deepest_first() {
        // s(i) depends on s(i-1); disabling s0 stops all 20,000 others, without recursion
        // deep enough to overflow a test thread's stack.
        let n = 20_000;
        let mut xml = String::from(
            r#"<cluster name="c" config_version="1"><clusternodes><clusternode name="a" nodeid="1"/></clusternodes><rm><service name="s0"/>"#,
        );
        for i in 1..=n {
            xml.push_str(&format!(
                r#"<service name="s{i}" depend="service:s{}"/>"#,
                i - 1
            ));
        }
        xml.push_str("</rm></cluster>");
        let mut view = ClusterView::from_conf(&ccs::parse_str(&xml).unwrap());
        view.members[0] = NodeState::Online;
        view.quorate = true;
        for st in &mut view.services {
            st.state = State::Started;
            st.owner = Some(1);
        }
        let actions = decide(
            &view,
            &Event::Request(Request::Disable {
                service: "s0".into(),
            }),
        );
        let stops: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Stop { service, .. } => Some(service.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(stops.len(), n + 1);
        assert_eq!(stops[0], format!("service:s{n}"));
        assert_eq!(stops[n], "service:s0");
        assert_eq!(actions.last(), Some(&Action::Reply(RgCode::Success)));
    }

    /// Three online nodes, quorate; `web` (ordered n1, n2, restricted to them) started on n1,
    /// `vm:guest` started on n1, `db` stopped.
    fn three() -> ClusterView {
        let conf = ccs::parse_str(
            r#"<cluster name="c" config_version="1"><clusternodes>
                <clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/>
                <clusternode name="n3" nodeid="3"/></clusternodes>
              <rm><failoverdomains>
                <failoverdomain name="d" ordered="1" restricted="1">
                  <failoverdomainnode name="n1" priority="1"/>
                  <failoverdomainnode name="n2" priority="2"/></failoverdomain>
              </failoverdomains>
              <service name="web" domain="d"/><vm name="guest" domain="d"/>
              <service name="db"/></rm></cluster>"#,
        )
        .unwrap();
        let mut v = ClusterView::from_conf(&conf);
        v.members = vec![NodeState::Online; 3];
        v.quorate = true;
        v.now = 100;
        for name in ["service:web", "vm:guest"] {
            let st = v.service_mut(name).unwrap();
            st.state = State::Started;
            st.owner = Some(1);
            st.last_transition = 50;
        }
        v.service_mut("service:db").unwrap().last_transition = 50;
        v
    }

    fn ask(v: &ClusterView, r: Request) -> Vec<Action> {
        decide(v, &Event::Request(r))
    }

    #[test]
    fn the_lock_keeps_services_from_starting_until_unlocked() {
        let mut v = three();
        let acts = ask(&v, Request::Lock { locked: true });
        assert_eq!(acts.first(), Some(&Action::Lock { locked: true }));
        assert_eq!(acts.last(), Some(&Action::Reply(RgCode::Success)));
        for a in &acts {
            v.apply(a);
        }
        assert!(v.locked);
        // A stopped service is not started, by evaluation or on request; nothing moves.
        assert!(!decide(&v, &Event::Evaluate)
            .iter()
            .any(|a| matches!(a, Action::Start { .. })));
        let db = || "service:db".to_string();
        let web = || "service:web".to_string();
        assert_eq!(
            ask(
                &v,
                Request::Enable {
                    service: db(),
                    node: Some(2)
                }
            )
            .last(),
            Some(&Action::Reply(RgCode::Again))
        );
        assert_eq!(
            ask(
                &v,
                Request::Relocate {
                    service: web(),
                    node: Some(2)
                }
            ),
            vec![Action::Reply(RgCode::Again)]
        );
        assert_eq!(
            ask(&v, Request::Restart { service: web() }),
            vec![Action::Reply(RgCode::Again)]
        );
        // Stopping and disabling still work.
        assert_eq!(
            ask(&v, Request::Stop { service: web() }).last(),
            Some(&Action::Reply(RgCode::Success))
        );
        // Unlocking starts what waited.
        let acts = ask(&v, Request::Lock { locked: false });
        assert_eq!(acts.first(), Some(&Action::Lock { locked: false }));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Start { service, .. } if service == "service:db"
        )));
        // Quorum loss drops the lock; without quorum a lock request is refused.
        v.apply_event(&Event::QuorumLost);
        assert!(!v.locked);
        assert_eq!(
            ask(&v, Request::Lock { locked: true }),
            vec![Action::Reply(RgCode::Quorum)]
        );
    }

    #[test]
    fn migrate_is_for_vms_and_checks_like_svc_migrate() {
        let mut v = three();
        let m = |s: &str, n: NodeId| Request::Migrate {
            service: s.into(),
            node: n,
        };
        assert_eq!(
            ask(&v, m("service:web", 2)),
            vec![Action::Reply(RgCode::Invalid)]
        );
        assert_eq!(
            ask(&v, m("vm:guest", 3)),
            vec![Action::Reply(RgCode::Depend)]
        );
        assert_eq!(
            ask(&v, m("vm:guest", 9)),
            vec![Action::Reply(RgCode::Invalid)]
        );
        assert_eq!(
            ask(&v, m("vm:guest", 1)),
            vec![Action::Reply(RgCode::Success)]
        );
        let acts = ask(&v, m("vm:guest", 2));
        assert!(acts.contains(&Action::Relocate {
            service: "vm:guest".into(),
            from: 1,
            to: 2
        }));
        assert_eq!(acts.last(), Some(&Action::Reply(RgCode::Success)));
        v.service_mut("vm:guest").unwrap().frozen = true;
        assert_eq!(
            ask(&v, m("vm:guest", 2)),
            vec![Action::Reply(RgCode::Frozen)]
        );
        v.members[1] = NodeState::Down;
        assert_eq!(ask(&v, m("vm:guest", 2)), vec![Action::Reply(RgCode::Node)]);
    }

    #[test]
    fn convalesce_repairs_only_a_partly_running_service() {
        let mut v = three();
        let c = || Request::Convalesce {
            service: "service:web".into(),
        };
        assert_eq!(ask(&v, c()), vec![Action::Reply(RgCode::Running)]);
        v.service_mut("service:web").unwrap().partial = true;
        let acts = ask(&v, c());
        assert!(acts.contains(&Action::Convalesce {
            service: "service:web".into(),
            node: 1
        }));
        assert_eq!(acts.last(), Some(&Action::Reply(RgCode::Success)));
        for a in &acts {
            v.apply(a);
        }
        assert!(!v.service("service:web").unwrap().partial);
        v.service_mut("service:web").unwrap().partial = true;
        v.service_mut("service:web").unwrap().frozen = true;
        assert_eq!(ask(&v, c()), vec![Action::Reply(RgCode::Frozen)]);
        assert_eq!(
            ask(
                &v,
                Request::Convalesce {
                    service: "service:db".into()
                }
            ),
            vec![Action::Reply(RgCode::Invalid)]
        );
        v.service_mut("service:web").unwrap().state = State::Recovering;
        assert_eq!(ask(&v, c()), vec![Action::Reply(RgCode::Again)]);
    }

    #[test]
    fn config_digest() {
        let conf = ccs::parse_str(
            r#"<cluster name="c" config_version="1"><clusternodes>
                <clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/>
                <clusternode name="nodeless"/></clusternodes>
              <rm><failoverdomains>
                <failoverdomain name="d" ordered="1"><failoverdomainnode name="A"/>
                  <failoverdomainnode name="b" priority="2"/><failoverdomainnode name="zz"/>
                </failoverdomain>
                <failoverdomain name="D" ordered="0"><failoverdomainnode name="a"/></failoverdomain>
              </failoverdomains>
              <service name="x" domain="d" depend="y"/><service name="y" domain="none"/>
              <vm name="x"/></rm></cluster>"#,
        )
        .unwrap();
        let c = view::PolicyConfig::from_conf(&conf);
        assert_eq!(c.nodes.len(), 2, "a node without nodeid is left out");
        assert_eq!(
            c.domains.len(),
            1,
            "a repeated domain name ends the list (RHCS #31)"
        );
        assert_eq!(c.domains[0].rank, vec![Some(u32::MAX), Some(2)]);
        let x = c.service_index("x").unwrap();
        let y = c.service_index("service:y").unwrap();
        assert_eq!(c.services[x].depend, Some(y));
        assert_eq!(c.services[y].dependents, vec![x]);
        assert_eq!(c.services[y].domain, view::DomainRef::Missing);
        assert!(c.service_index("vm:x").is_some());
        assert_eq!(c.node_by_name("B"), Some(2));
        assert_eq!(c.node_name(7), "#7");
    }
}
