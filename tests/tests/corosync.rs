//! The seed cluster on corosync (`<cman engine="corosync"/>`): namespace hosts, each with its
//! own corosync (knet, votequorum; its corosync.conf generated from the cluster.conf by
//! `ccs::corosync`) and its own rgmanager, a BMC (`ipmi_sim`) per host whose power-off kills
//! the host, a client polling the floating address, a watch on every host's addresses.
//!
//! Needs root, the `corosync` package, and rgmanager built with the `corosync` cargo feature
//! (`scripts/test` does all three: `cargo test --workspace --features rgmanager/corosync`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cluster_tests::hosts::Hosts;
use cluster_tests::seed::{daemon_pid, started_on, wait_clustat, Options, Seed, Up, PATIENCE};

const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "needs root (CI runs tests as root)"
    );
}

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_name_httpd"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cluster of `o` on corosync, serving from node1; fails at once when the daemons are
/// not on corosync (a build without the feature would refuse to start and time out later).
fn start(o: &Options) -> Up {
    let up = Up::start(&bins(), o);
    let log2 = up.seed.log(&up.h, "node2");
    assert!(log2.contains("through corosync"), "{log2}");
    let built = up.seed.log(&up.h, "node1");
    assert!(
        !built.contains("built without corosync support"),
        "rgmanager lacks the corosync feature: run scripts/test \
         (cargo test --workspace --features rgmanager/corosync)\n{built}"
    );
    up
}

/// The order of three lines in `log`: fencing `node`, its success, the takeover.
fn fenced_before_takeover(log: &str, node: &str, from: usize) {
    let log = &log[from..];
    let fencing = log.find(&format!("fencing node {node}")).expect(log);
    let success = log.find(&format!("fence {node} success")).expect(log);
    let takeover = log
        .find(&format!(
            "Taking over service service:apache_service from down member {node}"
        ))
        .expect(log);
    assert!(fencing < success && success < takeover, "{log}");
}

/// How many times `host`'s BMC has powered it off.
fn power_offs(seed: &Seed, host: &str) -> usize {
    seed.bmc(host).unwrap().events().matches("power 0").count()
}

/// Polls `done` until it holds; panics with every host's log after [`PATIENCE`].
fn wait_until(h: &Hosts, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            h.logs(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `clustat --json` shows `node` offline.
fn offline(v: &serde_json::Value, node: &str) -> bool {
    v["members"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m["name"] == node && m["online"] == false))
}

#[test]
fn on_corosync_a_dead_daemon_or_corosync_a_pulled_cable_and_a_minority_are_fenced_and_a_clean_stop_is_not(
) {
    require_root();
    let Up {
        h,
        seed,
        prober,
        watch,
    } = start(&Options {
        nodes: 3,
        domain: vec![1, 2, 3],
        corosync: true,
        boot_time: Duration::from_secs(2),
        ..Options::default()
    });

    // 1. node1's daemon dies while its corosync lives (CPG: ProcDown): node1 is fenced (it
    //    may still hold the address), then node2 takes over; the BMC's reboot boots node1
    //    again and the service fails back.
    let mark = seed.log(&h, "node2").len();
    let pid = daemon_pid(&h, "node1");
    // SAFETY: kill(2) of the daemon process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    let events = seed.bmc("node1").unwrap().events();
    assert!(
        events.contains("power 0 (was 1)"),
        "node1 was powered off: {events}"
    );
    fenced_before_takeover(&seed.log(&h, "node2"), "node1.cluster.com", mark);
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    for n in NODES {
        wait_clustat(&h, &seed, n, "apache_service back on node1", |v| {
            v["quorate"] == true && started_on(v, "node1.cluster.com")
        });
    }

    // 2. The seed's scenario: node1's cable is pulled. Its corosync loses the others; the two
    //    of them keep quorum, fence node1 and take over; node1 boots and gets its service back.
    let mark = seed.log(&h, "node2").len();
    let powered_off = power_offs(&seed, "node1");
    h.cable("node1", false).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    assert_eq!(power_offs(&seed, "node1"), powered_off + 1);
    fenced_before_takeover(&seed.log(&h, "node2"), "node1.cluster.com", mark);
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    for n in NODES {
        wait_clustat(
            &h,
            &seed,
            n,
            "apache_service back on node1 after the cable",
            |v| v["quorate"] == true && started_on(v, "node1.cluster.com"),
        );
    }

    // 3. A 2/1 partition in the switch, node1 (the service's) alone, every BMC reachable from
    //    both sides but node1's, which fails for a while. node1 loses quorum and stops its
    //    service; it fences nobody. The majority keeps quorum and tries to fence node1 in vain
    //    and takes nothing over meanwhile; once node1's BMC answers again, its next round
    //    fences node1, and only then does node2 take over. node1 reboots into the minority
    //    (starts nothing), the partition heals, and node1 gets its service back.
    let marks: Vec<usize> = NODES.iter().map(|n| seed.log(&h, n).len()).collect();
    let others_off = (power_offs(&seed, "node2"), power_offs(&seed, "node3"));
    let powered_off = power_offs(&seed, "node1");
    h.bmc_reachable("node1", false).unwrap();
    h.partition(&["node1"], &["node2", "node3", "client"])
        .unwrap();
    let vip = format!("{}/24", cluster_tests::seed::VIP);
    wait_until(
        &h,
        "node1 stopping its service without quorum, node2 failing to fence it",
        || {
            let log1 = &seed.log(&h, "node1")[marks[0]..];
            let log2 = &seed.log(&h, "node2")[marks[1]..];
            log1.contains("Quorum lost")
                && log1.contains("Service service:apache_service is stopped")
                && !h.addrs("node1").unwrap().contains(&vip)
                && log2
                    .contains("fence node1.cluster.com dev 0.0 agent fence_ipmilan result: error")
        },
    );
    for (n, mark) in NODES.iter().zip(&marks).skip(1) {
        let log = seed.log(&h, n);
        assert!(
            !log[*mark..].contains("Taking over service"),
            "{n} took over before node1 was fenced:\n{log}"
        );
    }
    h.bmc_reachable("node1", true).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    assert_eq!(power_offs(&seed, "node1"), powered_off + 1);
    fenced_before_takeover(&seed.log(&h, "node2"), "node1.cluster.com", marks[1]);
    h.heal().unwrap();
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    for n in NODES {
        wait_clustat(
            &h,
            &seed,
            n,
            "apache_service back on node1 after the partition",
            |v| v["quorate"] == true && started_on(v, "node1.cluster.com"),
        );
    }
    let log1 = seed.log(&h, "node1");
    assert!(
        !log1[marks[0]..].contains("fencing node"),
        "the minority fenced:\n{log1}"
    );
    assert_eq!(
        (power_offs(&seed, "node2"), power_offs(&seed, "node3")),
        others_off
    );

    // 4. Corosync dies under node3's daemon (no service there): the daemon stops acting and
    //    exits (status 3); the others see node3's corosync go and fence node3.
    let powered_off = power_offs(&seed, "node3");
    let corosync = h
        .pids("node3")
        .unwrap()
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "corosync")
        })
        .expect("node3 runs corosync");
    // SAFETY: kill(2) of corosync.
    assert_eq!(unsafe { libc::kill(corosync, libc::SIGKILL) }, 0);
    wait_until(&h, "node3 fenced after its corosync died", || {
        seed.log(&h, "node3").contains("corosync is gone")
            && power_offs(&seed, "node3") > powered_off
    });
    // node3 boots again (the fence's reboot) and rejoins.
    for n in NODES {
        wait_clustat(&h, &seed, n, "node3 back", |v| {
            v["quorate"] == true
                && v["members"].as_array().is_some_and(|a| {
                    a.iter()
                        .filter(|x| x["online"] == true && x["rgmanager"] == true)
                        .count()
                        == 3
                })
        });
    }

    // 5. A clean stop of node1's daemon (CPG: Leave): the service moves, nobody is fenced.
    let mark = seed.log(&h, "node2").len();
    let powered_off = power_offs(&seed, "node1");
    let pid = daemon_pid(&h, "node1");
    // SAFETY: kill(2) of the daemon process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    wait_clustat(&h, &seed, "node2", "apache_service on node2", |v| {
        started_on(v, "node2.cluster.com")
    });
    let log2 = seed.log(&h, "node2");
    assert!(
        !log2[mark..].contains("fencing node"),
        "a clean leave is not fenced:\n{log2}"
    );
    assert_eq!(power_offs(&seed, "node1"), powered_off);

    drop(prober);
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held the VIP"
    );
}

#[test]
fn on_corosync_two_node_both_sides_fence_and_the_delay_chooses_the_survivor() {
    require_root();
    // The seed's own cluster: two nodes, `<cman two_node="1" expected_votes="1"/>`, so each
    // side of a split is quorate alone and both fence. node1's fence device waits 5 s
    // (`delay`), node2's 15 s: node2's fence of node1 lands first, and node1, powered off,
    // fences nobody. The 5 s are time for node1 to see the split and start its own fencing,
    // even on a loaded machine. The devices power off (`action="off"`) so that node1 stays
    // off until the test powers it on: rebooted while still split, it would be quorate alone
    // and fence node2 (startup fencing), the two-node fence loop an administrator avoids by
    // not booting a node that cannot see its peer.
    let Up {
        h,
        seed,
        prober,
        watch,
    } = start(&Options {
        corosync: true,
        boot_time: Duration::from_secs(2),
        fence_delay: vec![5, 15],
        fence_extra: "action=\"off\"".into(),
        ..Options::default()
    });
    // cman's two_node, as the generated corosync.conf carries it.
    let conf = std::fs::read_to_string(h.host("node1").unwrap().dir.join("corosync/corosync.conf"))
        .unwrap();
    assert!(
        conf.contains("two_node: 1\n    wait_for_all: 0\n"),
        "{conf}"
    );

    // 1. A split in the switch, every BMC reachable from both sides: both are quorate and
    //    fence; the delay decides. node2 fences node1 before it takes over; node2's BMC never
    //    powers it off.
    let marks = (seed.log(&h, "node1").len(), seed.log(&h, "node2").len());
    h.partition(&["node1"], &["node2", "client"]).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    assert_eq!(power_offs(&seed, "node1"), 1);
    assert_eq!(
        seed.bmc("node2").unwrap().events(),
        "",
        "node2 never powered off"
    );
    fenced_before_takeover(&seed.log(&h, "node2"), "node1.cluster.com", marks.1);
    let log1 = seed.log(&h, "node1");
    assert!(
        log1[marks.0..].contains("fencing node node2.cluster.com"),
        "node1, quorate alone, raced to fence:\n{log1}"
    );
    assert!(
        !log1.contains("fence node2.cluster.com success"),
        "the loser fenced:\n{log1}"
    );
    wait_clustat(&h, &seed, "node2", "node2 alone, quorate, serving", |v| {
        v["quorate"] == true
            && offline(v, "node1.cluster.com")
            && started_on(v, "node2.cluster.com")
    });

    // 2. The split heals and the administrator powers node1 on: it joins node2 and gets its
    //    service back.
    h.heal().unwrap();
    seed.power_on(&h, "node1").unwrap();
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    for n in ["node1", "node2"] {
        wait_clustat(&h, &seed, n, "apache_service back on node1", |v| {
            v["quorate"] == true && started_on(v, "node1.cluster.com")
        });
    }

    // 3. The seed's scenario on two_node: node1's cable is pulled. node1, quorate alone, keeps
    //    its service and tries to fence node2, which it cannot reach; node2 fences node1 and
    //    only then takes over.
    let marks = (seed.log(&h, "node1").len(), seed.log(&h, "node2").len());
    h.cable("node1", false).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    assert_eq!(power_offs(&seed, "node1"), 2);
    assert_eq!(
        seed.bmc("node2").unwrap().events(),
        "",
        "node2 never powered off"
    );
    fenced_before_takeover(&seed.log(&h, "node2"), "node1.cluster.com", marks.1);
    let log1 = seed.log(&h, "node1");
    assert!(
        log1[marks.0..].contains("fencing node node2.cluster.com"),
        "node1, quorate alone, tried to fence:\n{log1}"
    );

    drop(prober);
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held the VIP"
    );
}
