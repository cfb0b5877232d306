//! The `rgmanager` daemon as real processes on 127.0.0.1: three nodes form a quorate cluster
//! and start two script services, each on the top node of its ordered domain, as `clustat
//! --json` shows on every node; a fourth node with another cluster key never joins and says
//! why; SIGTERM on a node stops its service, the node leaves cleanly and the service starts on
//! the next node of its domain. The services' init scripts record where they ran (the node name
//! is read from their parent daemon's command line), which proves where each ran and that none
//! ever ran on two nodes at once.
//!
//! Everything polls until the expected state or a generous deadline; every process is killed by
//! a drop guard, also when an assertion fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{check_markers, member, online, service, started_on, Cluster};

const GOOD: [&str; 3] = ["node1", "node2", "node3"];

/// The three-node test cluster of this file: two script services in two ordered domains
/// (alpha: node1 first, checked every second; beta: node2 first), a fourth node configured but
/// not counted in expected_votes (it tries to join with another key). No daemon running.
fn configured() -> (Cluster, PathBuf, PathBuf) {
    let c = Cluster::new(4);
    let alpha = c.script("alpha");
    let beta = c.script("beta");
    let nodes = c.nodes_xml(|_| String::new());
    // A token of 3 s keeps a loaded machine from failing nodes. node4 is configured but never
    // started, and no node has a fence method: `clean_start` says, as on an RHCS cluster set up
    // without fencing, that nodes absent at start are down (no startup fencing, which could
    // never succeed here and would hold every service back).
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="dtest" config_version="1">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <fence_daemon clean_start="1"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d_alpha" ordered="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
        <failoverdomainnode name="node3" priority="3"/>
      </failoverdomain>
      <failoverdomain name="d_beta" ordered="1">
        <failoverdomainnode name="node2" priority="1"/>
        <failoverdomainnode name="node3" priority="2"/>
        <failoverdomainnode name="node1" priority="3"/>
      </failoverdomain>
    </failoverdomains>
    <service name="alpha" domain="d_alpha">
      <script name="alpha" file="{}">
        <action name="status" depth="*" interval="1"/>
      </script>
    </service>
    <service name="beta" domain="d_beta">
      <script name="beta" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha.display(),
        beta.display()
    ));
    let (key, wrong) = (c.key.clone(), c.wrong_key.clone());
    (c, key, wrong)
}

/// Starts node1..node3 with the cluster key (and node4 with another key when `intruder`) and
/// waits until both services run on their domains' top nodes, checked on every good node.
fn up(intruder: bool) -> Cluster {
    let (mut c, key, wrong) = configured();
    let conf = c.path("cluster.conf");
    for n in GOOD {
        c.start_with(n, &conf, &key);
    }
    if intruder {
        c.start_with("node4", &conf, &wrong);
    }
    c.wait_for(&GOOD, "three members, quorate, both services home", |v| {
        v["quorate"] == true
            && GOOD.iter().all(|n| online(v, n))
            && !online(v, "node4")
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node2")
    });
    for n in GOOD {
        let v = c.clustat(n).unwrap();
        assert_eq!(member(&v, n).unwrap()["local"], true, "{v:#}");
    }
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node2");
    c
}

/// SIGTERM to a daemon; waits for its clean exit.
fn terminate(c: &mut Cluster, name: &str) {
    c.terminate(name);
}

#[test]
fn three_daemons_start_services_and_a_clean_leave_moves_one() {
    let mut c = up(true);

    // The node with another key stays alone, inquorate, and says why.
    c.wait_for(&["node4"], "node4 alone and inquorate", |v| {
        v["quorate"] == false && online(v, "node4") && GOOD.iter().all(|n| !online(v, n))
    });
    let log4 = c.log_of("node4");
    assert!(log4.contains("fails authentication"), "{log4}");
    assert!(!log4.contains("Quorum regained"), "{log4}");

    // SIGTERM node2: it stops beta, leaves cleanly, and beta starts on node3.
    terminate(&mut c, "node2");
    let rest = ["node1", "node3"];
    c.wait_for(&rest, "beta on node3 after node2 left", |v| {
        v["quorate"] == true
            && !online(v, "node2")
            && online(v, "node1")
            && online(v, "node3")
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node3")
    });
    let v = c.clustat("node3").unwrap();
    assert_eq!(service(&v, "service:beta").unwrap()["last_owner"], "node2");
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node3");
    let beta = c.markers("beta");
    assert!(beta.ends_with("stop node2\nstart node3\n"), "{beta}");
    let log1 = c.log_of("node1");
    assert!(log1.contains("Member 2 shutting down"), "{log1}");
    assert!(log1.contains("Quorum regained"), "{log1}");
}

#[test]
fn the_coordinator_leaves_cleanly_and_the_next_one_takes_over() {
    let mut c = up(false);
    // node1 coordinates and runs alpha; after it leaves, node2 rebuilds the table from the
    // members' reports and starts alpha on itself, the next node of alpha's domain.
    terminate(&mut c, "node1");
    let rest = ["node2", "node3"];
    c.wait_for(&rest, "alpha on node2 after node1 left", |v| {
        v["quorate"] == true
            && !online(v, "node1")
            && started_on(v, "service:alpha", "node2")
            && started_on(v, "service:beta", "node2")
    });
    check_markers(&c, "alpha", "node2");
    check_markers(&c, "beta", "node2");
    let alpha = c.markers("alpha");
    assert!(alpha.ends_with("stop node1\nstart node2\n"), "{alpha}");
    let log2 = c.log_of("node2");
    assert!(log2.contains("Member 1 shutting down"), "{log2}");
    assert!(log2.contains("Node node2 is the coordinator"), "{log2}");
}

#[test]
fn clusvcadm_requests_reach_the_coordinator_from_any_node() {
    let mut c = up(false);
    let every = GOOD;

    // From node3, which does not coordinate: the request goes to node1 and back.
    let (code, out) = c.clusvcadm("node3", &["-r", "alpha", "-m", "node3"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "Trying to relocate service:alpha to node3...Success\nservice:alpha is now running on node3\n"
    );
    c.wait_for(&every, "alpha on node3", |v| {
        started_on(v, "service:alpha", "node3")
    });
    check_markers(&c, "alpha", "node3");
    assert!(c
        .markers("alpha")
        .ends_with("start node1\nstop node1\nstart node3\n"));

    // On the coordinator itself.
    let (code, out) = c.clusvcadm("node1", &["-d", "beta"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "Local machine disabling service:beta...Success\n");
    c.wait_for(&every, "beta disabled", |v| {
        service(v, "service:beta").is_some_and(|s| s["state"] == "disabled" && s["owner"].is_null())
    });
    assert!(c.markers("beta").ends_with("stop node2\n"));
    assert!(!c.path("beta.running").exists());

    // A plain enable starts the service on the node where it is asked.
    let (code, out) = c.clusvcadm("node3", &["-e", "beta"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "Local machine trying to enable service:beta...Success\nservice:beta is now running on node3\n"
    );
    c.wait_for(&every, "beta on node3", |v| {
        started_on(v, "service:beta", "node3")
    });
    check_markers(&c, "beta", "node3");

    // The policy's refusals come back with their codes.
    let (code, out) = c.clusvcadm("node2", &["-e", "alpha"]);
    assert_eq!(code, 0, "already running is success for clusvcadm: {out}");
    assert!(out.contains("already running"), "{out}");
    let (code, out) = c.clusvcadm("node2", &["-e", "nosuch"]);
    assert_ne!(code, 0, "{out}");
    check_markers(&c, "alpha", "node3");
}

#[test]
fn a_failed_status_check_restarts_the_service_in_place() {
    let mut c = up(false);
    // alpha's script is checked every second (an <action> override); its default recovery
    // is restart.
    std::fs::write(c.path("alpha.crashed"), "").unwrap();
    c.wait_for(&GOOD, "alpha restarted on node1", |v| {
        started_on(v, "service:alpha", "node1")
            && service(v, "service:alpha").is_some_and(|s| s["restarts"] == 1)
    });
    check_markers(&c, "alpha", "node1");
    let alpha = c.markers("alpha");
    assert!(
        alpha.ends_with("start node1\nstop node1\nstart node1\n"),
        "{alpha}"
    );
    let log1 = c.log_of("node1");
    assert!(log1.contains("failed its status check"), "{log1}");
    check_markers(&c, "beta", "node2");

    // A second daemon for node1 on this machine is refused: its ports are taken.
    let out = Command::new(env!("CARGO_BIN_EXE_rgmanager"))
        .env("RGMANAGER_LOG", "stderr")
        .arg("-F")
        .arg("-f")
        .arg(c.path("cluster.conf"))
        .args(["--node", "node1"])
        .arg("--state-dir")
        .arg(c.path("node1bis.state"))
        .arg("--socket")
        .arg(c.path("node1bis.sock"))
        .arg("--key")
        .arg(c.path("authkey"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot bind"), "{err}");
    c.wait_for(&GOOD, "the cluster unchanged", |v| {
        GOOD.iter().all(|n| online(v, n)) && started_on(v, "service:alpha", "node1")
    });
}

#[test]
fn a_late_node_becomes_coordinator_and_takes_its_service_home() {
    let (mut c, _, _) = configured();
    c.start("node2");
    c.start("node3");
    let two = ["node2", "node3"];
    c.wait_for(
        &two,
        "node2 and node3 quorate, both services on node2",
        |v| {
            v["quorate"] == true
                && !online(v, "node1")
                && started_on(v, "service:alpha", "node2")
                && started_on(v, "service:beta", "node2")
        },
    );
    // node1 joins: it becomes the coordinator, rebuilds the table from the members' reports,
    // and alpha fails back to it (its domain's first node).
    c.start("node1");
    c.wait_for(&GOOD, "alpha back on node1", |v| {
        GOOD.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node2")
    });
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node2");
    let alpha = c.markers("alpha");
    assert!(
        alpha.ends_with("start node2\nstop node2\nstart node1\n"),
        "{alpha}"
    );
    assert_eq!(c.markers("beta"), "start node2\n");
    let log1 = c.log_of("node1");
    assert!(log1.contains("Node node1 is the coordinator"), "{log1}");
}

#[test]
fn an_invalid_configuration_is_refused_with_the_validators_lines() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cluster.conf");
    std::fs::write(
        &conf,
        "<cluster name=\"bad\" config_version=\"1\">\n<clusternodes>\n\
         <clusternode name=\"n1\" nodeid=\"1\"/>\n<clusternode name=\"n2\" nodeid=\"1\"/>\n\
         </clusternodes>\n</cluster>\n",
    )
    .unwrap();
    let key = dir.path().join("authkey");
    rgmanager::membership::key::generate(&key, 32, false).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rgmanager"))
        .env("RGMANAGER_LOG", "stderr")
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .args(["--node", "n1"])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:4:", conf.display())),
        "the validator's located line: {err}"
    );
    assert!(err.contains("not starting"), "{err}");
    assert!(!dir.path().join("s.sock").exists());
}
