//! Property test of the policy's safety rules over random clusters, views and event sequences:
//! `decide` never panics, is deterministic, and never starts a service twice, on an offline,
//! lost-and-unfenced or out-of-restricted-domain node, without quorum, against `exclusive` or a
//! hard `depend`, nor touches a frozen or failed service in a forbidden way. Each step's actions
//! are applied as if they succeeded and the next event is decided on the result.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

use proptest::prelude::*;
use rgmanager::policy::view::DomainRef;
use rgmanager::policy::{
    decide, Action, ClusterView, Event, Holds, NodeState, PolicyConfig, Request, ServiceStatus,
    State,
};

#[derive(Clone, Debug)]
struct GenDomain {
    ordered: bool,
    restricted: bool,
    nofailback: bool,
    /// (node number, priority) — priority 0 means none.
    members: Vec<(usize, u32)>,
}

#[derive(Clone, Debug)]
struct GenService {
    /// 0 = none, 1..=domains = that domain, beyond = a missing domain.
    domain: usize,
    autostart: bool,
    exclusive: bool,
    recovery: usize,
    max_restarts: u32,
    expire: u64,
    /// 0 = none, else depends on service (k-1) (may be itself or later: from_conf decides).
    depend: usize,
}

fn gen_domain(nodes: usize) -> impl Strategy<Value = GenDomain> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((1..=nodes, 0u32..4), 0..=nodes),
    )
        .prop_map(|(ordered, restricted, nofailback, members)| GenDomain {
            ordered,
            restricted,
            nofailback,
            members,
        })
}

fn gen_service(domains: usize, services: usize) -> impl Strategy<Value = GenService> {
    (
        0..=domains + 1,
        proptest::bool::weighted(0.8),
        proptest::bool::weighted(0.2),
        0usize..4,
        0u32..3,
        prop_oneof![Just(0u64), Just(100u64)],
        0..=services,
    )
        .prop_map(
            |(domain, autostart, exclusive, recovery, max_restarts, expire, depend)| GenService {
                domain,
                autostart,
                exclusive,
                recovery,
                max_restarts,
                expire,
                depend,
            },
        )
}

fn conf_xml(nodes: usize, domains: &[GenDomain], services: &[GenService]) -> String {
    let mut s = String::from("<cluster name=\"p\" config_version=\"1\"><clusternodes>");
    for n in 1..=nodes {
        let _ = write!(s, "<clusternode name=\"n{n}\" nodeid=\"{n}\"/>");
    }
    s.push_str("</clusternodes><rm><failoverdomains>");
    for (i, d) in domains.iter().enumerate() {
        let _ = write!(
            s,
            "<failoverdomain name=\"d{i}\" ordered=\"{}\" restricted=\"{}\" nofailback=\"{}\">",
            d.ordered as u8, d.restricted as u8, d.nofailback as u8
        );
        for (n, p) in &d.members {
            if *p == 0 {
                let _ = write!(s, "<failoverdomainnode name=\"n{n}\"/>");
            } else {
                let _ = write!(s, "<failoverdomainnode name=\"n{n}\" priority=\"{p}\"/>");
            }
        }
        s.push_str("</failoverdomain>");
    }
    s.push_str("</failoverdomains>");
    let recov = ["restart", "relocate", "disable", "restart-disable"];
    for (i, v) in services.iter().enumerate() {
        let _ = write!(
            s,
            "<service name=\"s{i}\" autostart=\"{}\" exclusive=\"{}\" recovery=\"{}\" max_restarts=\"{}\" restart_expire_time=\"{}\"",
            v.autostart as u8, v.exclusive as u8, recov[v.recovery], v.max_restarts, v.expire
        );
        if v.domain > 0 {
            let _ = write!(s, " domain=\"d{}\"", v.domain - 1);
        }
        if v.depend > 0 {
            let _ = write!(s, " depend=\"service:s{}\"", v.depend - 1);
        }
        s.push_str("/>");
    }
    s.push_str("</rm></cluster>");
    s
}

#[derive(Clone, Debug)]
struct GenStatus {
    state: usize,
    owner: usize,
    last: usize,
    frozen: bool,
    restarts: Vec<u64>,
    transition: u64,
}

fn gen_status(nodes: usize) -> impl Strategy<Value = GenStatus> {
    (
        0usize..State::ALL.len() + 4,
        0..=nodes + 1,
        0..=nodes,
        proptest::bool::weighted(0.15),
        proptest::collection::vec(850u64..1000, 0..3),
        prop_oneof![Just(0u64), Just(500u64)],
    )
        .prop_map(
            |(state, owner, last, frozen, restarts, transition)| GenStatus {
                state,
                owner,
                last,
                frozen,
                restarts,
                transition,
            },
        )
}

/// Events by number; node and service numbers may point past the config (unknown).
fn gen_event(nodes: usize, services: usize) -> impl Strategy<Value = (usize, usize, usize)> {
    (0usize..22, 1..=nodes + 1, 0..=services)
}

fn event_of(kind: usize, node: usize, svc: usize) -> Event {
    let node = node as u32;
    let service = format!("service:s{svc}");
    match kind {
        0 => Event::NodeJoined(node),
        1 => Event::NodeLeft { node, clean: true },
        2 => Event::NodeLeft { node, clean: false },
        3 => Event::NodeFenced(node),
        4 => Event::QuorumLost,
        5 => Event::QuorumRegained,
        6 => Event::Evaluate,
        7 => Event::StatusFailed { service, node },
        8 => Event::StartFailed { service, node },
        9 => Event::StopFailed { service, node },
        10 => Event::Started { service, node },
        11 => Event::Stopped { service, node },
        12 => Event::Request(Request::Enable {
            service,
            node: Some(node),
        }),
        13 => Event::Request(Request::Enable {
            service,
            node: None,
        }),
        14 => Event::Request(Request::Disable { service }),
        15 => Event::Request(Request::Relocate {
            service,
            node: Some(node),
        }),
        16 => Event::Request(Request::Relocate {
            service,
            node: None,
        }),
        17 => Event::Request(Request::Restart { service }),
        18 => Event::Request(Request::Stop { service }),
        19 => Event::Request(Request::Freeze { service }),
        20 => Event::Request(Request::Unfreeze { service }),
        _ => Event::Evaluate,
    }
}

fn build_view(conf: &str, members: &[usize], quorate: bool, st: &[GenStatus]) -> ClusterView {
    let conf = ccs::parse_str(conf).expect("generated config parses");
    let mut v = ClusterView::new(Arc::new(PolicyConfig::from_conf(&conf)));
    let states = [
        NodeState::Online,
        NodeState::Online,
        NodeState::Down,
        NodeState::Lost,
        NodeState::Fenced,
    ];
    for (i, m) in v.members.iter_mut().enumerate() {
        *m = states[members.get(i).copied().unwrap_or(0) % states.len()];
    }
    v.quorate = quorate;
    v.now = 1000;
    let n = v.config.nodes.len();
    for (s, g) in v.services.iter_mut().zip(st) {
        // Mostly started/stopped, the rest anything.
        let state = match g.state {
            x if x < State::ALL.len() => State::ALL[x],
            x if x % 2 == 0 => State::Started,
            _ => State::Stopped,
        };
        let node = |k: usize| (k >= 1 && k <= n + 1).then_some(k as u32);
        *s = ServiceStatus {
            state,
            // Holding states get an owner (sometimes none, sometimes an unknown id: records
            // can be inconsistent and must not make the policy misbehave).
            owner: if state.holds() { node(g.owner) } else { None },
            last_owner: node(g.last),
            frozen: g.frozen,
            restarts: g.restarts.clone(),
            last_transition: g.transition,
            // Some records carry an earlier start failure (on their last owner).
            start_failures: if g.transition > 0 {
                node(g.last).into_iter().collect()
            } else {
                Vec::new()
            },
            partial: false,
        };
    }
    v
}

/// The view with the event's membership facts recorded: what `decide` decides on.
fn effective(view: &ClusterView, event: &Event) -> ClusterView {
    let mut v = view.clone();
    v.apply_event(event);
    v
}

fn check(view: &ClusterView, event: &Event, actions: &[Action]) -> Result<(), String> {
    let eff = effective(view, event);
    let cfg = &eff.config;
    let online = |id: u32| eff.member(id).is_online();
    let idx = |name: &str| cfg.service_index(name).ok_or(format!("unknown {name}"));
    let mut acted: HashSet<&str> = HashSet::new();
    let mut starts_on: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut taken_down: HashSet<usize> = HashSet::new();
    let replies = actions
        .iter()
        .filter(|a| matches!(a, Action::Reply(_)))
        .count();
    let is_request = matches!(event, Event::Request(_));
    if replies != usize::from(is_request) {
        return Err(format!("{replies} replies to {event:?}"));
    }
    if is_request && !matches!(actions.last(), Some(Action::Reply(_))) {
        return Err("reply is not last".into());
    }
    for a in actions {
        let Some(name) = a.service() else { continue };
        let s = idx(name)?;
        let st = &eff.services[s];
        let sc = &cfg.services[s];
        let exclusive_action = !matches!(a, Action::Freeze { .. } | Action::ClearRestarts { .. });
        if exclusive_action && !acted.insert(name) {
            return Err(format!("two actions for {name}"));
        }
        if !eff.quorate && !matches!(a, Action::EmergencyStop { .. }) {
            return Err(format!("{a:?} without quorum"));
        }
        if matches!(a, Action::EmergencyStop { .. }) && !matches!(event, Event::QuorumLost) {
            return Err(format!("{a:?} outside quorum loss"));
        }
        let owner_lost =
            st.state.holds() && st.owner.is_some_and(|o| eff.member(o) == NodeState::Lost);
        if owner_lost && !matches!(a, Action::Freeze { .. }) {
            return Err(format!("{a:?} on a service held by a lost, unfenced node"));
        }
        if st.frozen {
            let ok = match a {
                Action::EmergencyStop { .. } | Action::Freeze { .. } => true,
                // A stop failure is a fact and is recorded even for a frozen service.
                Action::Mark {
                    state: State::Failed | State::Disabled,
                    ..
                } => matches!(event, Event::StopFailed { .. }),
                Action::Mark { state, .. } => {
                    *state == State::Stopped
                        && st.state.holds()
                        && st.owner.is_none_or(|o| eff.member(o).is_safely_down())
                }
                _ => false,
            };
            if !ok {
                return Err(format!("{a:?} on frozen {name}"));
            }
        }
        if matches!(
            a,
            Action::Stop { .. } | Action::Relocate { .. } | Action::Restart { .. }
        ) {
            taken_down.insert(s);
        }
        if let Action::Stop { node, .. } = a {
            let runs_there = st.owner == Some(*node) && st.state.holds();
            let failed_there = st.state == State::Failed && st.last_owner == Some(*node);
            if !online(*node) || !(runs_there || failed_there) {
                return Err(format!("{a:?}: not held by an online {node}"));
            }
        }
        let Some(target) = a.start_target() else {
            continue;
        };
        if !online(target) {
            return Err(format!("{a:?}: target offline"));
        }
        if st.state == State::Failed {
            return Err(format!("{a:?}: failed service started"));
        }
        if let DomainRef::Index(d) = sc.domain {
            let dom = &cfg.domains[d];
            let ti = cfg.node_index(target).ok_or("target not in config")?;
            if dom.restricted && dom.rank[ti].is_none() {
                return Err(format!("{a:?}: outside restricted domain {}", dom.name));
            }
        }
        match a {
            Action::Start { .. } => {
                let held_elsewhere =
                    st.state.holds() && st.owner.is_some_and(|o| !eff.member(o).is_safely_down());
                if held_elsewhere {
                    return Err(format!("{a:?}: still held by {:?}", st.owner));
                }
                if let Some(d) = sc.depend {
                    let ds = &eff.services[d];
                    if ds.state != State::Started
                        || !ds.owner.is_some_and(online)
                        || taken_down.contains(&d)
                    {
                        return Err(format!("{a:?}: dependency not running"));
                    }
                }
            }
            Action::Relocate { from, to, .. } => {
                if !st.state.holds() || st.owner != Some(*from) || !online(*from) {
                    return Err(format!("{a:?}: not held by {from}"));
                }
                if from == to {
                    return Err(format!("{a:?}: relocation to itself"));
                }
            }
            Action::Restart { node, .. } if !st.state.holds() || st.owner != Some(*node) => {
                return Err(format!("{a:?}: not held there"));
            }
            _ => {}
        }
        if !matches!(a, Action::Restart { .. }) {
            starts_on.entry(target).or_default().push(s);
        }
    }
    // depend: whatever takes a running (or taken over) service down stops its running
    // dependents first.
    if eff.quorate {
        for (k, a) in actions.iter().enumerate() {
            let down = matches!(
                a,
                Action::Stop { .. }
                    | Action::Relocate { .. }
                    | Action::Restart { .. }
                    | Action::Mark { .. }
            );
            let Some(name) = a.service().filter(|_| down) else {
                continue;
            };
            let s = idx(name)?;
            let st = &eff.services[s];
            if !st.state.holds() {
                continue;
            }
            for &d in &cfg.services[s].dependents {
                let ds = &eff.services[d];
                let running = ds.state == State::Started && ds.owner.is_some_and(online);
                // The event itself may say it stopped (the record is not updated yet).
                let just_stopped = matches!(event, Event::Stopped { service, .. } if *service == cfg.services[d].name);
                if !running || ds.frozen || just_stopped {
                    continue;
                }
                let dname = &cfg.services[d].name;
                let stopped_before = actions[..k]
                    .iter()
                    .any(|b| matches!(b, Action::Stop { service, .. } if service == dname));
                // A depend cycle (s needs d needs s) has no order: d just has to go down too.
                let mut up = cfg.services[s].depend;
                let mut cyclic = false;
                for _ in 0..cfg.services.len() {
                    match up {
                        Some(x) if x == d => cyclic = true,
                        Some(x) => up = cfg.services[x].depend,
                        None => break,
                    }
                    if cyclic {
                        break;
                    }
                }
                let taken_down_anywhere = actions.iter().any(|b| {
                    b.service() == Some(dname.as_str())
                        && !matches!(b, Action::Freeze { .. } | Action::ClearRestarts { .. })
                });
                if !(stopped_before || cyclic && taken_down_anywhere) {
                    return Err(format!(
                        "{a:?} while its dependent {} keeps running",
                        cfg.services[d].name
                    ));
                }
            }
        }
    }
    // exclusive: what holds on a target node (per the record) plus what this decision puts there.
    for (node, new) in &starts_on {
        let held: Vec<usize> = (0..cfg.services.len())
            .filter(|&s| {
                let st = &eff.services[s];
                st.state.holds() && st.owner == Some(*node)
            })
            .collect();
        for &s in new {
            let others = held
                .iter()
                .chain(new.iter())
                .filter(|&&o| o != s)
                .collect::<Vec<_>>();
            if cfg.services[s].exclusive && !others.is_empty() {
                return Err(format!(
                    "exclusive {} started on node {node} with {others:?}",
                    cfg.services[s].name
                ));
            }
            if let Some(&&e) = others.iter().find(|&&&o| cfg.services[o].exclusive) {
                return Err(format!(
                    "{} started on node {node} which has exclusive {}",
                    cfg.services[s].name, cfg.services[e].name
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn safety_invariants(
        (nodes, domains, services) in (2usize..=5).prop_flat_map(|n| {
            let d = proptest::collection::vec(gen_domain(n), 0..=3);
            (Just(n), d)
        }).prop_flat_map(|(n, d)| {
            let len = d.len();
            (Just(n), Just(d), proptest::collection::vec(gen_service(len, 8), 1..=8))
        }),
        members in proptest::collection::vec(0usize..5, 5),
        quorate in proptest::bool::weighted(0.85),
        statuses in proptest::collection::vec(gen_status(5), 8),
        events in proptest::collection::vec(gen_event(5, 8), 1..=6),
    ) {
        let xml = conf_xml(nodes, &domains, &services);
        let mut view = build_view(&xml, &members, quorate, &statuses);
        for (kind, node, svc) in events {
            let event = event_of(kind, node, svc);
            let actions = decide(&view, &event);
            prop_assert_eq!(&actions, &decide(&view, &event), "not deterministic");
            if let Err(e) = check(&view, &event, &actions) {
                prop_assert!(false, "{}\nevent {:?}\nactions {:?}\nview {:?}\nconf {}", e, event, actions, view, xml);
            }
            view.apply_event(&event);
            for a in &actions {
                view.apply(a);
            }
            view.now += 7;
        }
    }
}
