//! The seed cluster on corosync (`<cman engine="corosync"/>`): three namespace hosts, each with
//! its own corosync (knet, votequorum; its corosync.conf generated from the cluster.conf by
//! `ccs::corosync`) and its own rgmanager, a BMC (`ipmi_sim`) per host whose power-off kills
//! the host, a client polling the floating address, a watch on every host's addresses.
//!
//! Needs root, the `corosync` package, and rgmanager built with the `corosync` cargo feature
//! (`scripts/test` does all three: `cargo test --workspace --features rgmanager/corosync`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cluster_tests::hosts::Hosts;
use cluster_tests::probe::{Prober, VipWatch};
use cluster_tests::seed::{daemon_pid, started_on, wait_clustat, Options, Seed, PATIENCE, VIP};

const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_name_httpd"))
        .parent()
        .unwrap()
        .to_path_buf()
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

#[test]
fn on_corosync_a_dead_daemon_or_corosync_and_a_pulled_cable_are_fenced_and_a_clean_stop_is_not() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "needs root (CI runs tests as root)"
    );
    let o = Options {
        nodes: 3,
        domain: vec![1, 2, 3],
        corosync: true,
        boot_time: Duration::from_secs(2),
        ..Options::default()
    };
    let h = Hosts::new(&["node1", "node2", "node3", "client"]).unwrap();
    let seed = Seed::setup(&h, &bins(), &o).unwrap();
    let prober = Prober::start(&h, "client", VIP, 80, Duration::from_millis(20)).unwrap();
    let watch = VipWatch::start(&h, &NODES, VIP, Duration::from_millis(20)).unwrap();
    for n in NODES {
        h.boot(n).unwrap();
    }
    for n in NODES {
        wait_clustat(&h, &seed, n, "apache_service on node1", |v| {
            v["quorate"] == true && started_on(v, "node1.cluster.com")
        });
    }
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(40));
    let log2 = seed.log(&h, "node2");
    assert!(log2.contains("through corosync"), "{log2}");
    let built = seed.log(&h, "node1");
    assert!(
        !built.contains("built without corosync support"),
        "rgmanager lacks the corosync feature: run scripts/test \
         (cargo test --workspace --features rgmanager/corosync)\n{built}"
    );

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
    let powered_off = seed
        .bmc("node1")
        .unwrap()
        .events()
        .matches("power 0")
        .count();
    h.cable("node1", false).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    let events = seed.bmc("node1").unwrap().events();
    assert_eq!(
        events.matches("power 0").count(),
        powered_off + 1,
        "{events}"
    );
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

    // 3. Corosync dies under node3's daemon (no service there): the daemon stops acting and
    //    exits (status 1); the others see node3's corosync go and fence node3.
    let powered_off = seed
        .bmc("node3")
        .unwrap()
        .events()
        .matches("power 0")
        .count();
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
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log3 = seed.log(&h, "node3");
        let events = seed.bmc("node3").unwrap().events();
        if log3.contains("corosync is gone") && events.matches("power 0").count() > powered_off {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node3 after its corosync died:\n{}",
            h.logs(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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

    // 4. A clean stop of node1's daemon (CPG: Leave): the service moves, nobody is fenced.
    let mark = seed.log(&h, "node2").len();
    let powered_off = seed
        .bmc("node1")
        .unwrap()
        .events()
        .matches("power 0")
        .count();
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
    let events = seed.bmc("node1").unwrap().events();
    assert_eq!(events.matches("power 0").count(), powered_off, "{events}");

    drop(prober);
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held {VIP}"
    );
}
