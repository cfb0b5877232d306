//! `decide` at scale: 64 nodes, 64 ordered restricted domains, 10,000 services
//! (`ccs::sample::generate`). The steady state is what the policy itself places at start-up;
//! then node1 (holding ~156 services) fails and is fenced: the `NodeFenced` decision that
//! recovers all of them (target < 10 ms). Also its failback when node1 returns, and an
//! administrator's request in the same view.
use criterion::{criterion_group, criterion_main, Criterion};
use rgmanager::policy::{decide, Action, ClusterView, Event, NodeState, Request};

fn steady_view() -> ClusterView {
    let conf = match ccs::parse_str(&ccs::sample::generate(64, 64, 10_000)) {
        Ok(c) => c,
        Err(e) => panic!("generated config does not parse: {e:?}"),
    };
    let mut view = ClusterView::from_conf(&conf);
    view.members.iter_mut().for_each(|m| *m = NodeState::Online);
    view.quorate = true;
    view.now = 1_000;
    for a in decide(&view, &Event::Evaluate) {
        view.apply(&a);
    }
    view
}

fn policy(c: &mut Criterion) {
    let mut view = steady_view();
    let held = view.services.iter().filter(|s| s.owner == Some(1)).count();
    view.set_member(1, NodeState::Lost);
    let fenced = Event::NodeFenced(1);
    let actions = decide(&view, &fenced);
    let starts = actions
        .iter()
        .filter(|a| matches!(a, Action::Start { .. }))
        .count();
    assert_eq!(starts, held, "every service of node1 is recovered");
    eprintln!(
        "node1 held {held} services; NodeFenced gives {} actions",
        actions.len()
    );
    c.bench_function("decide/node_fenced/64n_10000s", |b| {
        b.iter(|| decide(&view, &fenced))
    });

    view.apply_event(&fenced);
    for a in &actions {
        view.apply(a);
    }
    let joined = Event::NodeJoined(1);
    c.bench_function("decide/node_joined_failback/64n_10000s", |b| {
        b.iter(|| decide(&view, &joined))
    });

    let request = Event::Request(Request::Relocate {
        service: "service:svc42".into(),
        node: None,
    });
    c.bench_function("decide/relocate_request/64n_10000s", |b| {
        b.iter(|| decide(&view, &request))
    });
}

criterion_group!(benches, policy);
criterion_main!(benches);
