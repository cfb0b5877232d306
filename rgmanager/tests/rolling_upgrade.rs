//! Rolling upgrades with real daemons (issue 22, docs/wire-versions.md): a daemon made to speak
//! as the previous release (`RGMANAGER_WIRE=1`: protocol 1 only, the formats before the
//! security work) joins two current ones; the cluster forms at version 1, runs and moves a
//! service, takes a pushed configuration on every node; the old node is then upgraded
//! (restarted without the switch) and the cluster moves to version 2 without a service moving.
//! `clustat` shows each member's version and the cluster's (`--json`, `-x`, and the text
//! layout while they differ). With real fencing (a BMC per node, `common::bmc`), the old node
//! killed is fenced by a new one before its service moves, and a new node killed is fenced by
//! the old one, then the coordinator. Two daemons without a version in common refuse each other
//! and say why.

mod common;

use common::bmc::{fenced_nodes_xml, power_log, start_bmcs, wait_power_cycled, PASSWORD};
use common::{check_markers, member, online, started_on, wait_log, Cluster};
use serde_json::Value;

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

/// `clustat --json` says the cluster talks `cluster` and each member of `wires` speaks its
/// version (`None`: not shown, an offline member).
fn json_wires(v: &Value, cluster: u64, wires: &[(&str, Option<u64>)]) -> bool {
    v["wire"] == cluster
        && wires
            .iter()
            .all(|(n, w)| member(v, n).is_some_and(|m| m["wire"].as_u64() == *w))
}

/// `clustat -x` on `node`: the `wire` of `<cluster>` and of each `<node>` by name.
fn xml_wires(c: &mut Cluster, node: &str) -> (Option<String>, Vec<(String, Option<String>)>) {
    let (code, out) = c.clustat_args(node, &["-x"]);
    assert_eq!(code, 0, "clustat -x on {node}: {out}");
    let x = ccs::xml::parse(&out).unwrap_or_else(|e| panic!("clustat -x on {node}: {e:?}\n{out}"));
    let wire = |e: &ccs::xml::Element| e.attrs.get("wire").map(str::to_string);
    let cluster = x.elements().find(|e| e.name == "cluster").and_then(wire);
    let nodes = x
        .elements()
        .filter(|e| e.name == "nodes")
        .flat_map(|e| e.elements())
        .map(|n| (n.attrs.get("name").unwrap_or("").to_string(), wire(n)))
        .collect();
    (cluster, nodes)
}

/// The versions every node's `clustat` shows while node3 speaks protocol 1 (mixed), or after
/// its upgrade: `--json`, `-x`, and the text layout (RHCS's unchanged once they all agree).
/// node3 itself, while old, hears its peers in protocol 1's heartbeats, which name no range:
/// it shows every member at 1 (as far as it can tell), and no mixed cluster.
fn check_clustat_wires(c: &mut Cluster, mixed: bool) {
    let (cluster, node3) = if mixed { (1, 1) } else { (2, 2) };
    let new_view = [("node1", 2), ("node2", 2), ("node3", node3)];
    let old_view = [("node1", 1), ("node2", 1), ("node3", 1)];
    for n in GOOD {
        let want = if mixed && n == "node3" {
            old_view
        } else {
            new_view
        };
        let json: Vec<(&str, Option<u64>)> = want.iter().map(|(m, w)| (*m, Some(*w))).collect();
        c.wait_for(&[n], "the versions in clustat --json", |v| {
            json_wires(v, cluster, &json)
        });
        let (x_cluster, x_nodes) = xml_wires(c, n);
        assert_eq!(x_cluster, Some(cluster.to_string()), "clustat -x on {n}");
        let x_nodes: Vec<(String, Option<String>)> = x_nodes
            .into_iter()
            .filter(|(m, _)| GOOD.contains(&m.as_str()))
            .collect();
        let x_want: Vec<(String, Option<String>)> = want
            .iter()
            .map(|(m, w)| (m.to_string(), Some(w.to_string())))
            .collect();
        assert_eq!(x_nodes, x_want, "clustat -x on {n}");
        let (code, text) = c.clustat_args(n, &[]);
        assert_eq!(code, 0, "{text}");
        if mixed && n != "node3" {
            assert!(
                text.contains(
                    "Member Status: Quorate\nWire Version: 1 (members of different releases)\n\n"
                ),
                "clustat on {n}:\n{text}"
            );
            for (m, w) in want {
                let row = text
                    .lines()
                    .find(|l| l.starts_with(&format!(" {m} ")))
                    .unwrap_or_else(|| panic!("no row of {m}:\n{text}"));
                assert!(
                    row.ends_with(&format!("rgmanager, wire {w}")),
                    "{row:?}\n{text}"
                );
            }
        } else {
            assert!(
                !text.contains("Wire") && !text.contains("wire"),
                "clustat on {n}:\n{text}"
            );
        }
    }
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
    check_clustat_wires(&mut c, true);
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
    check_clustat_wires(&mut c, false);
    check_markers(&c, "alpha", "node2");
    let alpha = c.markers("alpha");
    assert!(alpha.ends_with("stop node1\nstart node2\n"), "{alpha}");
}

/// Three nodes, each fenced through its own BMC; alpha in node1 > node2 > node3, beta in
/// node2 > node3 > node1.
fn fenced_conf(c: &Cluster, bmcs: &[cluster_tests::bmc::Bmc]) -> String {
    let (nodes, devices) = fenced_nodes_xml(c, bmcs);
    let (alpha, beta) = (c.script("alpha"), c.script("beta"));
    format!(
        r#"<?xml version="1.0"?>
<cluster name="upgrade" config_version="1">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <fencedevices>
{devices}  </fencedevices>
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
      <script name="alpha" file="{}"/>
    </service>
    <service name="beta" domain="d_beta">
      <script name="beta" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha.display(),
        beta.display()
    )
}

/// `fencer`'s log says it fenced `victim` through its BMC, and only then took `svc` over.
fn fenced_then_taken_over(c: &mut Cluster, fencer: &str, victim: &str, svc: &str) {
    let taking = format!("Taking over service service:{svc} from down member {victim}");
    wait_log(c, fencer, &taking);
    let log = c.log_of(fencer);
    let success = format!("fence {victim} success");
    for line in [
        format!("fencing node {victim}"),
        format!("fence {victim} dev 0.0 agent fence_ipmilan result: success"),
        success.clone(),
    ] {
        assert!(log.contains(&line), "{fencer} did not log {line:?}:\n{log}");
    }
    let fenced_at = log.find(&success).unwrap_or(usize::MAX);
    let taken_at = log.find(&taking).unwrap_or(0);
    assert!(
        fenced_at < taken_at,
        "{fencer} took over before fencing:\n{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the BMC password is in {fencer}'s log"
    );
}

/// node1, the coordinator, speaks protocol 1; node2 and node3 are current. Killed (SIGKILL),
/// node1 is fenced by node2, the new coordinator, before its service moves, and the cluster
/// left talks version 2. Booted again, still old, node1 gets its service back and coordinates
/// again; node2 killed is then fenced by node1, the old release, before its service moves.
#[test]
fn a_mixed_cluster_fences_an_old_node_and_a_new_one_before_their_services_move() {
    let mut c = Cluster::new(3);
    let bmcs = start_bmcs(&c);
    let conf = c.write_conf(&fenced_conf(&c, &bmcs));
    let key = c.key.clone();
    let old = [("RGMANAGER_WIRE", "1")];
    c.start_env("node1", &conf, &key, &old);
    c.start("node2");
    c.start("node3");
    c.wait_for(&GOOD, "three members at version 1, services home", |v| {
        v["quorate"] == true
            && GOOD.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node2")
            && v["wire"] == 1
    });
    // The new nodes know each member's range (node1, of protocol 1, hears theirs as 1).
    let mixed = [("node1", Some(1)), ("node2", Some(2)), ("node3", Some(2))];
    c.wait_for(
        &["node2", "node3"],
        "the versions of a mixed cluster",
        |v| json_wires(v, 1, &mixed),
    );

    // The old node dies with alpha: node2 fences it, then takes alpha over; without node1
    // the cluster talks version 2.
    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "alpha on node2, version 2", |v| {
        !online(v, "node1")
            && started_on(v, "service:alpha", "node2")
            && json_wires(
                v,
                2,
                &[("node1", None), ("node2", Some(2)), ("node3", Some(2))],
            )
    });
    assert!(
        power_log(&bmcs, "node1")
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("power 0 (was 1)")),
        "node1 was not fenced:\n{}",
        c.dump()
    );
    let alpha = c.markers("alpha");
    assert!(alpha.contains("off node1\nstart node2\n"), "{alpha}");
    fenced_then_taken_over(&mut c, "node2", "node1", "alpha");
    check_markers(&c, "alpha", "node2");

    // node1 boots after the fence (a reboot), still of the old release: alpha fails back
    // and the cluster talks version 1 again.
    wait_power_cycled(&c, &bmcs, "node1");
    c.start_env("node1", &conf, &key, &old);
    c.wait_for(&GOOD, "node1 back at version 1 with alpha", |v| {
        GOOD.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && v["wire"] == 1
    });
    c.wait_for(
        &["node2", "node3"],
        "the versions of a mixed cluster",
        |v| json_wires(v, 1, &mixed),
    );

    // A new node dies with beta: node1, the old release and the coordinator, fences it, then
    // takes beta over on node3.
    c.kill9("node2");
    c.wait_for(&["node1", "node3"], "beta on node3", |v| {
        !online(v, "node2")
            && started_on(v, "service:beta", "node3")
            && started_on(v, "service:alpha", "node1")
            && v["wire"] == 1
            && member(v, "node2").is_some_and(|m| m["wire"].is_null())
    });
    assert!(
        power_log(&bmcs, "node2").contains("power 0 (was 1)"),
        "node2 was not fenced:\n{}",
        c.dump()
    );
    let beta = c.markers("beta");
    assert!(beta.contains("off node2\nstart node3\n"), "{beta}");
    fenced_then_taken_over(&mut c, "node1", "node2", "beta");
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node3");
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
