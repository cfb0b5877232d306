//! Rolling upgrades with real daemons (issue 22, docs/wire-versions.md): a daemon made to speak
//! as the previous release (`RGMANAGER_WIRE=1`: protocol 1 only, the formats before the
//! security work) joins two current ones; the cluster forms at version 1, runs and moves a
//! service, takes a pushed configuration on every node; the old node is then upgraded
//! (restarted without the switch) and the cluster moves to version 2 without a service moving.
//! Two daemons without a version in common refuse each other and say why.

mod common;

use common::{check_markers, online, started_on, Cluster};

const GOOD: [&str; 3] = ["node1", "node2", "node3"];

fn conf(c: &Cluster, version: u64) -> String {
    let nodes = c.nodes_xml(|_| String::new());
    let alpha = c.script("alpha");
    format!(
        r#"<?xml version="1.0"?>
<cluster name="upgrade" config_version="{version}">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <fence_daemon clean_start="1"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d" ordered="1" nofailback="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
        <failoverdomainnode name="node3" priority="3"/>
      </failoverdomain>
    </failoverdomains>
    <service name="alpha" domain="d">
      <script name="alpha" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha.display()
    )
}

#[test]
fn an_old_daemon_joins_new_ones_and_the_cluster_moves_up_after_its_upgrade() {
    let mut c = Cluster::new(4);
    // Each node its own cluster.conf, as on real machines.
    let text = conf(&c, 1);
    for n in GOOD {
        std::fs::write(c.node_conf(n), &text).unwrap();
    }
    let key = c.key.clone();
    c.start_own("node1");
    c.start_own("node2");
    let path3 = c.node_conf("node3");
    c.start_env("node3", &path3, &key, &[("RGMANAGER_WIRE", "1")]);
    c.wait_for(&GOOD, "three members, alpha on node1", |v| {
        v["quorate"] == true
            && GOOD.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
    });
    for n in GOOD {
        let log = c.log_of(n);
        assert!(
            log.contains("The cluster talks wire version 1"),
            "{n}: {log}"
        );
    }
    // A configuration pushed from a new node reaches the old one (sync format 3), and one
    // pushed from the old node reaches the new ones.
    let (rc, out, err) = c.push("node1", &conf(&c, 2));
    assert_eq!(rc, 0, "{out}{err}");
    let (rc, out, err) = c.push("node3", &conf(&c, 3));
    assert_eq!(rc, 0, "{out}{err}");
    for n in GOOD {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (rc, out, _) = c.ccs_sync(n, &["--check"]);
            if rc == 0 && out.matches("version 3 ").count() == 3 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{n}: {out}\n{}",
                c.dump()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    // A clean leave of node1 moves alpha to node2 (orders between new nodes, reports from
    // the old one).
    c.terminate("node1");
    c.wait_for(&["node2", "node3"], "alpha on node2", |v| {
        v["quorate"] == true && !online(v, "node1") && started_on(v, "service:alpha", "node2")
    });
    c.start_own("node1");
    c.wait_for(&GOOD, "node1 back", |v| GOOD.iter().all(|n| online(v, n)));
    // node3 upgraded: stopped cleanly, started as this build. Nothing moves.
    c.terminate("node3");
    c.start_own("node3");
    c.wait_for(&GOOD, "node3 back, alpha still on node2", |v| {
        GOOD.iter().all(|n| online(v, n)) && started_on(v, "service:alpha", "node2")
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !c
        .log_of("node2")
        .contains("The cluster talks wire version 2")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            c.log_of("node2")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    check_markers(&c, "alpha", "node2");
    let alpha = c.markers("alpha");
    assert!(alpha.ends_with("stop node1\nstart node2\n"), "{alpha}");
}

#[test]
fn daemons_without_a_common_version_refuse_each_other_and_say_why() {
    let mut c = Cluster::new(2);
    let text = conf(&c, 1)
        .replace(r#"expected_votes="3""#, r#"expected_votes="1""#)
        .replace(r#"<failoverdomainnode name="node3" priority="3"/>"#, "");
    let path = c.write_conf(&text);
    let key = c.key.clone();
    c.start_env("node1", &path, &key, &[("RGMANAGER_WIRE", "2")]);
    c.start_env("node2", &path, &key, &[("RGMANAGER_WIRE", "1")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (l1, l2) = (c.log_of("node1"), c.log_of("node2"));
        let said1 = l1.contains("Refusing node 2") || l1.contains("membership frames of format 1");
        let said2 = l2.contains("Refusing node 1") || l2.contains("membership frames of format 2");
        if said1 && said2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{l1}\n---\n{l2}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for (n, other) in [("node1", "node2"), ("node2", "node1")] {
        let v = c.clustat(n).unwrap();
        assert!(!online(&v, other), "{n} sees {other}: {v:#}");
    }
}
