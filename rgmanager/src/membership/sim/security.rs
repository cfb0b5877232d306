//! Attacks on the membership frames by someone who records the cluster's traffic (it cannot
//! forge a frame without the key, but it can send any recorded frame anywhere, any time), and
//! clusters of mixed wire versions (rolling upgrades).

use super::*;

fn settled(n: u32) -> Sim {
    let mut s = Sim::new(n, DEFAULT_TOKEN);
    s.run_for(3 * SEC);
    s.assert_agreed(&(1..=n).collect::<Vec<_>>());
    s
}

/// Sends each recorded datagram again, to where it went (or to `to`), one every 10 ms.
fn replay(s: &mut Sim, capture: &[Captured], to: Option<NodeId>) {
    for (from, dest, bytes) in capture {
        let dest = to.unwrap_or(*dest);
        let now = s.t0 + s.now;
        if let Some(m) = s.nodes.get_mut(&dest) {
            m.handle_datagram(now, bytes, addr(*from));
        }
        s.flush(dest);
        s.run_for(ms(10));
    }
}

fn duplicates(s: &Sim, id: NodeId) -> usize {
    s.events(id)
        .iter()
        .filter(|e| matches!(e, Event::DuplicateNode { .. }))
        .count()
}

#[test]
fn frames_of_a_nodes_earlier_run_replayed_to_it_change_nothing() {
    let mut s = settled(3);
    s.tap = Some(Vec::new());
    s.run_for(2 * SEC);
    // Node 2 restarts: everything recorded from its earlier run, and the peers' heartbeats
    // naming that run, are sent to it (and to the others).
    s.kill(2);
    s.run_for(2 * SEC);
    s.start(2);
    s.run_for(3 * SEC);
    let number = s.assert_agreed(&[1, 2, 3]);
    let capture = s.tap.take().unwrap_or_default();
    let old: Vec<_> = capture.into_iter().take(400).collect();
    let before = s.log.get(&2).map_or(0, Vec::len);
    replay(&mut s, &old, Some(2));
    replay(&mut s, &old, None);
    s.run_for(3 * SEC);
    assert_eq!(
        s.assert_agreed(&[1, 2, 3]),
        number,
        "a replay changed the view"
    );
    assert_eq!(duplicates(&s, 2), 0, "a replay made node 2 see a twin");
    assert_eq!(s.log[&2].len(), before, "node 2 logged events from replays");
    let c = s.nodes[&2].counters();
    assert!(c.own_id > 0 && c.replayed > 0, "{c:?}");
}

#[test]
fn a_dead_peer_replayed_to_a_restarted_node_is_never_connected() {
    let mut s = settled(2);
    s.tap = Some(Vec::new());
    s.run_for(2 * SEC);
    let capture: Vec<_> = s
        .tap
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|(from, to, _)| *from == 2 && *to == 1)
        .collect();
    assert!(capture.len() > 5);
    // Node 2 dies; node 1 restarts (its replay state is gone) and stands alone.
    s.kill(2);
    s.kill(1);
    s.run_for(3 * SEC);
    let restart = s.now;
    s.start(1);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1]);
    // Node 2's heartbeats, replayed to node 1 over 2 s, are authentic and list node 1 as
    // heard and [1, 2] as their candidate, but they name node 1's earlier run: node 2 is
    // heard, never connected, and no view with it is installed.
    replay(&mut s, &capture, Some(1));
    assert!(s.nodes[&1].heard().contains(&2), "the replay is heard");
    s.assert_agreed(&[1]);
    assert!(!s.log[&1]
        .iter()
        .any(|(t, e)| *t >= restart && *e == Event::Joined(2)));
}

#[test]
fn a_real_second_daemon_is_proven_and_the_older_run_gives_way() {
    let mut s = settled(3);
    // Another process starts as node 2 (a later run) and reaches the same peers.
    let cfg = s.config(2, "sim");
    let twin_inc = cfg.incarnation;
    let m = Membership::new(cfg, KEY, s.t0 + s.now).unwrap();
    s.twin = Some((2, m));
    s.run_for(3 * SEC);
    let dups: Vec<&Event> = s
        .events(2)
        .into_iter()
        .filter(|e| matches!(e, Event::DuplicateNode { .. }))
        .collect();
    assert_eq!(dups.len(), 1, "{:?}", s.events(2));
    assert!(matches!(
        dups[0],
        Event::DuplicateNode { incarnation, witness: 1 | 3 } if *incarnation == twin_inc
    ));
}

fn start_speaking(s: &mut Sim, id: NodeId, wire: Range) {
    let mut cfg = s.config(id, "sim");
    cfg.wire = wire;
    s.start_with(id, cfg, KEY);
}

#[test]
fn an_old_node_joins_new_ones_and_the_cluster_moves_up_when_it_is_upgraded() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    start_speaking(&mut s, 3, Range::only(versions::V1));
    s.run_for(3 * SEC);
    let number = s.assert_agreed(&[1, 2, 3]);
    for id in [1, 2] {
        let m = &s.nodes[&id];
        assert_eq!(m.cluster_wire(), Some(1), "node {id}");
        assert_eq!(m.peer_wire(3), Some(1));
        assert_eq!(m.peer_wire(3 - id), Some(2), "new nodes talk version 2");
        assert_eq!(m.peer_speaks(3), Some(Range::only(1)));
    }
    assert_eq!(s.nodes[&3].cluster_wire(), Some(1));
    s.run_for(10 * SEC);
    assert_eq!(
        s.assert_agreed(&[1, 2, 3]),
        number,
        "mixed versions are stable"
    );
    // Node 3 upgraded: stopped cleanly, started with this build.
    s.stop(3);
    s.run_for(2 * SEC);
    s.start(3);
    s.run_for(3 * SEC);
    s.assert_agreed(&[1, 2, 3]);
    for id in 1..=3 {
        assert_eq!(s.nodes[&id].cluster_wire(), Some(2), "node {id}");
    }
}

#[test]
fn a_node_without_a_common_version_is_refused_both_ways() {
    let mut s = Sim::new(3, DEFAULT_TOKEN);
    for id in [1, 2] {
        start_speaking(&mut s, id, Range::only(versions::V2));
    }
    start_speaking(&mut s, 3, Range::only(versions::V1));
    s.run_for(4 * SEC);
    s.assert_agreed(&[1, 2]);
    s.assert_agreed(&[3]);
    for id in 1..=3 {
        assert!(
            s.nodes[&id].counters().bad_version > 0,
            "node {id}: {:?}",
            s.nodes[&id].counters()
        );
    }
    assert_eq!(s.nodes[&1].peer_wire(3), None);
}

#[test]
fn a_run_that_spoke_format_2_cannot_be_downgraded() {
    let mut s = settled(2);
    let now = s.t0 + s.now;
    let codec = Codec::new("sim", KEY).unwrap();
    let inc = s.nodes[&1].config().incarnation;
    let v1 = codec.encode(&Frame {
        version: frame::VERSION_1,
        sender: 1,
        incarnation: inc,
        seq: 1_000_000,
        payload: Payload::Heartbeat(Heartbeat::default()),
    });
    let m = s.nodes.get_mut(&2).unwrap();
    let before = m.counters().bad_version;
    m.handle_datagram(now, &v1, addr(1));
    assert_eq!(m.counters().bad_version, before + 1);
    assert_eq!(m.peer_wire(1), Some(2));
}
