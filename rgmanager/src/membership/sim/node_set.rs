//! Simulations of [`Membership::set_nodes`]: a configuration adopted while running adds or
//! removes nodes without restarting anyone (the config sync's live reload calls it).

use super::*;

/// Every running node adopts the node set `ids` (as each daemon does when it adopts a pushed
/// cluster.conf).
fn adopt(s: &mut Sim, ids: &[NodeId]) {
    s.ids = ids.to_vec();
    let now = s.t0 + s.now;
    let running: Vec<NodeId> = s.nodes.keys().copied().collect();
    for id in running {
        if let Some(m) = s.nodes.get_mut(&id) {
            if ids.contains(&id) {
                m.set_nodes(ids, now);
            }
        }
        s.flush(id);
    }
}

#[test]
fn an_added_node_joins_the_running_view_without_a_restart() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let before = s.assert_agreed(&[1, 2, 3]);
    adopt(&mut s, &[1, 2, 3, 4]);
    // Adding a node that does not run yet changes nothing.
    s.run_for(2 * SEC);
    assert_eq!(s.assert_agreed(&[1, 2, 3]), before);
    s.start(4);
    s.run_for(3 * SEC);
    let after = s.assert_agreed(&[1, 2, 3, 4]);
    assert!(after > before);
    for id in [1, 2, 3] {
        assert!(s.events(id).contains(&&Event::Joined(4)));
        assert!(!s.events(id).iter().any(|e| matches!(e, Event::Failed(_))));
        assert_eq!(s.nodes[&id].config().nodes, vec![1, 2, 3, 4]);
    }
    // And it stays.
    let installed = s.views_installed(1);
    s.run_for(5 * SEC);
    assert_eq!(s.views_installed(1), installed);
}

#[test]
fn a_node_the_old_configuration_lacks_is_ignored_until_it_is_added() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    // Node 4 runs with a configuration that lists it; the others do not list it yet.
    let cfg = Config::new("sim", 4, &[1, 2, 3, 4], DEFAULT_TOKEN, 5000);
    s.start_with(4, cfg, KEY);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    assert!(s.nodes[&1].counters().unknown_node > 0);
    assert_eq!(s.view(4).map(|v| v.members.clone()), Some(vec![4]));
    adopt(&mut s, &[1, 2, 3, 4]);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3, 4]);
}

#[test]
fn a_removed_member_stays_until_it_says_goodbye_then_left_cleanly_and_ignored() {
    let mut s = Sim::new(4, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    let before = s.assert_agreed(&[1, 2, 3, 4]);
    // Nodes 1-3 adopt a configuration without node 4; node 4 is still running.
    adopt(&mut s, &[1, 2, 3]);
    s.run_for(3 * SEC);
    // Still a member: its services may still run there, so it is not dropped behind its back.
    assert_eq!(s.assert_agreed(&[1, 2, 3, 4]), before);
    // Another reload meanwhile (a service changed, say) keeps it departing.
    adopt(&mut s, &[1, 2, 3]);
    s.run_for(SEC);
    assert_eq!(s.assert_agreed(&[1, 2, 3, 4]), before);
    for id in [1, 2, 3] {
        assert_eq!(s.nodes[&id].departing().collect::<Vec<_>>(), vec![4]);
        assert_eq!(s.nodes[&id].config().nodes, vec![1, 2, 3]);
    }
    // The removed daemon stops its services and leaves.
    s.stop(4);
    s.run_for(ms(200));
    s.assert_agreed(&[1, 2, 3]);
    for id in [1, 2, 3] {
        assert!(s.events(id).contains(&&Event::LeftCleanly(4)));
        assert!(!s.events(id).contains(&&Event::Failed(4)));
        assert_eq!(s.nodes[&id].departing().count(), 0);
    }
    // Started again with its old configuration, it is refused: its frames are unknown.
    s.start(4);
    let unknown = s.nodes[&1].counters().unknown_node;
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    assert!(s.nodes[&1].counters().unknown_node > unknown);
    assert_eq!(s.view(4).map(|v| v.members.clone()), Some(vec![4]));
    for id in [1, 2, 3] {
        let joins = s
            .events(id)
            .iter()
            .filter(|e| ***e == Event::Joined(4))
            .count();
        assert_eq!(joins, 1, "node {id} let the removed node join again");
    }
}

#[test]
fn a_removed_member_that_goes_silent_is_failed_not_left_cleanly() {
    let mut s = Sim::new(4, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    adopt(&mut s, &[1, 2, 3]);
    s.run_for(SEC);
    // Without a goodbye it may still run its services: a failure, fenced as any other.
    s.kill(4);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    for id in [1, 2, 3] {
        assert!(s.events(id).contains(&&Event::Failed(4)));
        assert!(!s.events(id).contains(&&Event::LeftCleanly(4)));
        assert_eq!(s.nodes[&id].departing().count(), 0);
    }
}

#[test]
fn a_removed_node_outside_the_view_is_forgotten_at_once() {
    let mut s = Sim::new(4, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    s.stop(4);
    s.run_for(SEC);
    let before = s.assert_agreed(&[1, 2, 3]);
    adopt(&mut s, &[1, 2, 3]);
    s.run_for(SEC);
    assert_eq!(s.assert_agreed(&[1, 2, 3]), before);
    for id in [1, 2, 3] {
        assert_eq!(s.nodes[&id].departing().count(), 0);
    }
    s.start(4);
    s.run_for(3 * SEC);
    assert_eq!(s.assert_agreed(&[1, 2, 3]), before);
}

#[test]
fn one_adoption_adds_and_removes_and_readding_a_departing_node_keeps_it() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    // Node 3 is replaced by node 5 in one push.
    adopt(&mut s, &[1, 2, 5]);
    s.run_for(SEC);
    s.assert_agreed(&[1, 2, 3]);
    // Changed mind before node 3 left: node 3 is back in the configuration, a member still.
    adopt(&mut s, &[1, 2, 3, 5]);
    assert_eq!(s.nodes[&1].departing().count(), 0);
    s.start(5);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3, 5]);
    assert!(!s
        .events(1)
        .iter()
        .any(|e| matches!(e, Event::Failed(_) | Event::LeftCleanly(_))));
}
