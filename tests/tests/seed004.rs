//! End to end, the way seed 004 tested RHCS: the tutorial's two-node web cluster on hosts made
//! of network namespaces (`cluster_tests::hosts`), each node with its own `/etc/cluster`, its
//! `rgmanager`, and a BMC (`ipmi_sim`) whose power-off kills the node; a client polling the
//! floating address every 20 ms; a watch on every namespace's addresses. At no moment may two
//! nodes hold the floating address, and the client must never be answered by two nodes in turn
//! without the old one being gone. Needs root (CI runs as root).
//!
//! The binaries come from the directory of this package's `name_httpd`: `cargo test
//! --workspace` (the README's test command) builds rgmanager's there too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cluster_tests::hosts::Hosts;
use cluster_tests::seed::{daemon_pid, started_on, wait_clustat, Options, Seed, Up, PATIENCE, VIP};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the end-to-end tests need root (CI runs tests as root)"
    );
}

fn bins() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_name_httpd"))
        .parent()
        .unwrap()
        .to_path_buf();
    for b in ["rgmanager", "clustat", "clusvcadm"] {
        assert!(
            dir.join(b).exists(),
            "{b} is not built in {}: run the workspace's tests (`cargo test --workspace`)",
            dir.display()
        );
    }
    dir
}

/// The seed's cluster.conf made with `options`, pushed with `ccs_sync -f` from node2: the
/// text, ccs_sync's exit status and output.
fn push_from_node2(h: &Hosts, seed: &Seed, options: &Options) -> (String, i32, String) {
    let text = cluster_tests::seed::cluster_conf(h, options).unwrap();
    let file = h
        .dir
        .path()
        .join(format!("cluster.conf.v{}", options.config_version));
    std::fs::write(&file, &text).unwrap();
    let (code, out) = seed
        .tool(h, "node2", "ccs_sync", &["-f", &file.display().to_string()])
        .unwrap();
    (text, code, out)
}

fn up(options: &Options) -> Up {
    Up::start(&bins(), options)
}

#[test]
fn seed004_web_service_starts_moves_on_a_clean_reboot_and_fails_back() {
    require_root();
    // Start: node1 (priority 1) serves.
    let Up {
        h,
        seed,
        prober,
        watch,
    } = up(&Options::default());
    let (code, text) = seed.clustat(&h, "node2", &[]).unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Cluster Status for web_ha @ "), "{text}");
    assert!(text.contains("node2.cluster.com"), "{text}");

    // `reboot` of node1: its daemon stops cleanly (the service stops, the node leaves), node2
    // takes over without fencing.
    let pid = daemon_pid(&h, "node1");
    // SAFETY: kill(2) of the daemon process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(40));
    wait_clustat(&h, &seed, "node2", "apache_service on node2", |v| {
        started_on(v, "node2.cluster.com")
    });
    let log2 = seed.log(&h, "node2");
    assert!(
        !log2.contains("fencing node"),
        "a clean leave is not fenced:\n{log2}"
    );
    assert_eq!(seed.bmc("node1").unwrap().events(), "", "no power change");

    // node1 comes back: the service relocates to it (ordered domain, failback).
    h.power_off("node1").unwrap();
    h.boot("node1").unwrap();
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(40));
    wait_clustat(&h, &seed, "node2", "apache_service back on node1", |v| {
        started_on(v, "node1.cluster.com")
    });
    let log2 = seed.log(&h, "node2");
    assert!(
        log2.contains("Relocating service:apache_service to better node node1.cluster.com"),
        "{log2}"
    );

    let samples = prober.stop();
    assert!(samples.iter().any(|s| s.answer.as_deref() == Some("web2")));
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held {VIP}"
    );
}

#[test]
fn seed004_cable_pulled_the_node_is_fenced_before_takeover_and_fails_back_after_power_on() {
    require_root();
    let Up {
        h,
        seed,
        prober,
        watch,
    } = up(&Options::default());

    // The cable of node1 is pulled: node2 fences it through its BMC (fence_ipmilan's default
    // action, reboot: power off, then on) and only then takes the service over. node1 boots
    // a few seconds later, rejoins, and gets its service back (ordered domain).
    let old_daemon = daemon_pid(&h, "node1");
    let pulled = prober.now();
    h.cable("node1", false).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    let outage = cluster_tests::probe::outage(&prober.samples(), pulled, "web2").unwrap();
    eprintln!("outage with the cable pulled: {outage:?}");
    let events = seed.bmc("node1").unwrap().events();
    assert!(
        events.contains("power 0 (was 1)"),
        "node1 was powered off: {events}"
    );
    assert!(
        !h.pids("node1").unwrap().contains(&old_daemon),
        "node1's daemon died with the power"
    );
    let log2 = seed.log(&h, "node2");
    let fencing = log2.find("fencing node node1.cluster.com").expect(&log2);
    let success = log2.find("fence node1.cluster.com success").expect(&log2);
    let takeover = log2
        .find("Taking over service service:apache_service from down member node1.cluster.com")
        .expect(&log2);
    assert!(fencing < success && success < takeover, "{log2}");

    // While node1 is down the administrator pushes version 12 from node2: node1 cannot get it
    // now (ccs_sync says so; every reachable node has it, so it succeeds), it must catch up
    // when it comes back.
    let (v12, code, out) = push_from_node2(
        &h,
        &seed,
        &Options {
            config_version: 12,
            ..Options::default()
        },
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("node2.cluster.com: Success"), "{out}");
    assert!(out.contains("node1.cluster.com: unreachable"), "{out}");

    // node1 boots (the reboot's power-on), rejoins, and the service comes back to it.
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    // It caught up before it started anything.
    let on_disk = std::fs::read_to_string(
        h.host("node1")
            .unwrap()
            .dir
            .join("etc/cluster/cluster.conf"),
    )
    .unwrap();
    assert_eq!(on_disk, v12, "node1 caught up with version 12");
    let log1 = seed.log(&h, "node1");
    let caught_up = log1.rfind("Configuration version 12 (hash").expect(&log1);
    let started = log1.rfind("Starting service:apache_service").expect(&log1);
    assert!(caught_up < started, "{log1}");
    // The reboot was split: the service moved once node1 was confirmed off, before the
    // power-on (with its 2 s power_wait) finished.
    let log2 = seed.log(&h, "node2");
    let on_again = log2
        .find("fence node1.cluster.com dev 0.0: powered on again")
        .expect(&log2);
    let takeover = log2.find("Taking over service").expect(&log2);
    assert!(takeover < on_again, "{log2}");
    for n in ["node1", "node2"] {
        wait_clustat(&h, &seed, n, "apache_service back on node1", |v| {
            started_on(v, "node1.cluster.com")
        });
    }
    let log2 = seed.log(&h, "node2");
    assert!(
        log2.contains("Relocating service:apache_service to better node node1.cluster.com"),
        "{log2}"
    );
    drop(prober);
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held {VIP}"
    );
}

#[test]
fn seed004_without_a_fence_method_a_pulled_cable_moves_nothing() {
    require_root();
    let b = bins();
    assert!(
        b.join("ccs_sync").exists(),
        "ccs_sync is not built in {}",
        b.display()
    );
    let Up {
        h,
        seed,
        prober,
        watch,
    } = up(&Options::default());

    // The administrator removes the fence methods (the seed's first cluster.conf had none) and
    // pushes version 12 with ccs_sync from node2.
    let (v12, code, out) = push_from_node2(
        &h,
        &seed,
        &Options {
            config_version: 12,
            fencing: false,
            ..Options::default()
        },
    );
    assert_eq!(code, 0, "{out}\n{}", h.logs(40));
    assert!(out.contains("node1.cluster.com: Success"), "{out}");
    for n in ["node1", "node2"] {
        let on_disk =
            std::fs::read_to_string(h.host(n).unwrap().dir.join("etc/cluster/cluster.conf"))
                .unwrap();
        assert_eq!(on_disk, v12, "{n} holds version 12");
    }

    // node1's cable is pulled: node2 cannot fence it ("error no method", again and again), so
    // the service stays node1's and the VIP never answers from node2.
    h.cable("node1", false).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log2 = seed.log(&h, "node2");
        if log2.matches("result: error no method").count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no fencing attempts:\n{log2}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let watched_from = prober.now();
    std::thread::sleep(Duration::from_secs(12));
    let samples = prober.samples();
    assert!(
        samples
            .iter()
            .filter(|s| s.at >= watched_from)
            .all(|s| s.answer.is_none()),
        "the VIP answered while node1 was unfenced: {:?}",
        cluster_tests::probe::answerers(&samples)
    );
    wait_clustat(&h, &seed, "node2", "the service still node1's", |v| {
        started_on(v, "node1.cluster.com")
    });
    let log2 = seed.log(&h, "node2");
    assert!(!log2.contains("Taking over service"), "{log2}");
    assert!(!log2.contains("fence node1.cluster.com success"), "{log2}");
    assert_eq!(
        seed.bmc("node1").unwrap().events(),
        "",
        "nobody touched node1's power"
    );
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held {VIP}"
    );
}

#[test]
fn seed004_with_the_apc_switch_of_the_tutorial_a_pulled_cable_is_fenced_through_its_outlet() {
    require_root();
    let Up {
        h,
        seed,
        prober,
        watch,
    } = up(&Options {
        apc: true,
        ..Options::default()
    });
    let conf = std::fs::read_to_string(
        h.host("node1")
            .unwrap()
            .dir
            .join("etc/cluster/cluster.conf"),
    )
    .unwrap();
    assert!(conf.contains("agent=\"fence_apc\""), "{conf}");

    let old_daemon = daemon_pid(&h, "node1");
    h.cable("node1", false).unwrap();
    assert!(prober.wait_for("web2", PATIENCE), "{}", h.logs(60));
    assert!(
        !h.pids("node1").unwrap().contains(&old_daemon),
        "outlet 1 cut node1's power"
    );
    let log2 = seed.log(&h, "node2");
    let fenced = log2
        .find("fence node1.cluster.com dev 0.0 agent fence_apc result: success")
        .expect(&log2);
    let takeover = log2
        .find("Taking over service service:apache_service from down member node1.cluster.com")
        .expect(&log2);
    assert!(fenced < takeover, "{log2}");
    assert!(
        !log2.contains(cluster_tests::seed::BMC_PASSWORD),
        "no password in the log"
    );

    // The reboot's second half switches outlet 1 on again: node1 boots and gets its service back.
    assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(60));
    let outlets = seed.outlets.as_ref().unwrap().lock().unwrap().clone();
    assert!(outlets[0] && outlets[1], "both outlets on: {outlets:?}");
    drop(prober);
    assert_eq!(
        watch.doubles(),
        Vec::<String>::new(),
        "two nodes held {VIP}"
    );
}
