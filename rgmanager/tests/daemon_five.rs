//! Five `rgmanager` daemons as real processes on 127.0.0.1: they form one quorate cluster and
//! start two script services, each on the top node of its ordered domain; every node's `clustat
//! --json` and `clustat -x` agree on that. SIGTERM on the node running one service: it stops the
//! service, leaves cleanly (`Member 3 shutting down` on the others), and the service starts on the
//! next node of its domain while the other service stays where it is. The services' init scripts
//! record where they ran, which proves the scripts really ran there and never on two nodes.
//!
//! Everything polls until the expected state or a generous deadline; every process is killed by
//! a drop guard, also when an assertion fails.

mod common;

use ccs::xml::Element;
use common::{check_markers, member, online, service, started_on, Cluster};

const NODES: [&str; 5] = ["node1", "node2", "node3", "node4", "node5"];

/// The cluster of this file: alpha prefers node1 then node2; beta prefers node3, then node4,
/// then node5. No daemon running.
fn configured() -> Cluster {
    let c = Cluster::new(5);
    let alpha = c.script("alpha");
    let beta = c.script("beta");
    let nodes = c.nodes_xml(|_| String::new());
    // A token of 3 s keeps a loaded machine from failing nodes.
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="five" config_version="1">
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d_alpha" ordered="1" restricted="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
      </failoverdomain>
      <failoverdomain name="d_beta" ordered="1" restricted="1">
        <failoverdomainnode name="node3" priority="1"/>
        <failoverdomainnode name="node4" priority="2"/>
        <failoverdomainnode name="node5" priority="3"/>
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
    ));
    c
}

/// `clustat -x` on a node, parsed; exit status 0 required.
fn clustat_xml(c: &mut Cluster, node: &str) -> Element {
    let (code, out) = c.clustat_args(node, &["-x"]);
    assert_eq!(code, 0, "clustat -x on {node}: {out}");
    ccs::xml::parse(&out).unwrap_or_else(|e| panic!("clustat -x on {node}: {e:?}\n{out}"))
}

fn child<'a>(e: &'a Element, name: &str) -> &'a Element {
    e.elements()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no <{name}> in <{}>", e.name))
}

/// The `<node>` or `<group>` element called `name` under `<nodes>` or `<groups>`.
fn named<'a>(root: &'a Element, list: &str, name: &str) -> &'a Element {
    child(root, list)
        .elements()
        .find(|e| e.attrs.get("name") == Some(name))
        .unwrap_or_else(|| panic!("no {name} in <{list}>"))
}

/// Checks `clustat -x` on `node`: quorate, the members of `up` online with rgmanager and
/// `down` offline, `local` only on `node`, and each `(service, owner)` started there.
fn check_xml(c: &mut Cluster, node: &str, up: &[&str], down: &[&str], services: &[(&str, &str)]) {
    let x = clustat_xml(c, node);
    assert_eq!(x.name, "clustat");
    assert_eq!(x.attrs.get("version"), Some("4.1.1"));
    assert_eq!(child(&x, "cluster").attrs.get("name"), Some("five"));
    let q = child(&x, "quorum");
    assert_eq!(q.attrs.get("quorate"), Some("1"), "{node}");
    assert_eq!(q.attrs.get("groupmember"), Some("1"), "{node}");
    for m in up {
        let e = named(&x, "nodes", m);
        assert_eq!(e.attrs.get("state"), Some("1"), "{m} on {node}");
        assert_eq!(e.attrs.get("rgmanager"), Some("1"), "{m} on {node}");
        let local = if *m == node { "1" } else { "0" };
        assert_eq!(e.attrs.get("local"), Some(local), "{m} on {node}");
        let id = format!("0x{:08x}", m[4..].parse::<u32>().unwrap());
        assert_eq!(e.attrs.get("nodeid"), Some(id.as_str()));
    }
    for m in down {
        let e = named(&x, "nodes", m);
        assert_eq!(e.attrs.get("state"), Some("0"), "{m} on {node}");
        assert_eq!(e.attrs.get("rgmanager"), Some("0"), "{m} on {node}");
    }
    for (svc, owner) in services {
        let g = named(&x, "groups", svc);
        assert_eq!(g.attrs.get("state"), Some("112"), "{svc} on {node}");
        assert_eq!(g.attrs.get("state_str"), Some("started"), "{svc} on {node}");
        assert_eq!(g.attrs.get("owner"), Some(*owner), "{svc} on {node}");
    }
}

#[test]
fn five_daemons_start_services_and_a_clean_leave_moves_one() {
    let mut c = configured();
    for n in NODES {
        c.start(n);
    }
    c.wait_for(&NODES, "five members, quorate, both services home", |v| {
        v["quorate"] == true
            && NODES.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node3")
    });
    for n in NODES {
        let v = c.clustat(n).unwrap();
        assert_eq!(member(&v, n).unwrap()["local"], true, "{v:#}");
        assert_eq!(v["cluster"], "five");
        // The lowest node id of the quorate view coordinates.
        let coordinators: Vec<&str> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["coordinator"] == true)
            .filter_map(|m| m["name"].as_str())
            .collect();
        assert_eq!(coordinators, ["node1"], "{v:#}");
        check_xml(
            &mut c,
            n,
            &NODES,
            &[],
            &[("service:alpha", "node1"), ("service:beta", "node3")],
        );
    }
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node3");

    // SIGTERM node3: it stops beta, leaves cleanly, and beta starts on node4; alpha stays.
    c.terminate("node3");
    let rest = ["node1", "node2", "node4", "node5"];
    c.wait_for(&rest, "beta on node4 after node3 left", |v| {
        v["quorate"] == true
            && !online(v, "node3")
            && rest.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node4")
    });
    for n in rest {
        let v = c.clustat(n).unwrap();
        assert_eq!(
            service(&v, "service:beta").unwrap()["last_owner"],
            "node3",
            "{v:#}"
        );
        check_xml(
            &mut c,
            n,
            &rest,
            &["node3"],
            &[("service:alpha", "node1"), ("service:beta", "node4")],
        );
        let log = c.log_of(n);
        assert!(log.contains("Member 3 shutting down"), "{n}:\n{log}");
    }
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node4");
    let beta = c.markers("beta");
    assert!(beta.ends_with("stop node3\nstart node4\n"), "{beta}");
    // alpha never moved.
    assert_eq!(c.markers("alpha"), "start node1\n");
}
