//! Nodes added and removed by `ccs_sync`, with real processes: the membership layer follows a
//! pushed configuration without restarting anyone.
//!
//! Three `rgmanager` daemons on 127.0.0.1 run version 1 (node1..node3). Version 2 adds node4
//! (its daemon not running yet: `ccs_sync` says it is unreachable) and puts it first in
//! `beta`'s ordered domain; node4 is then started with version 2 and joins the running cluster,
//! every node shows four members online and quorum, and `beta` fails back to node4. Version 3
//! removes node4 again: node4 gets the push too, stops `beta` and leaves; the others drop it
//! from the view and from clustat as a clean leave (no fencing), and `beta` moves back. Started
//! again with its old file, node4 is ignored by the others and runs nothing; node1 and node2
//! stay quorate when node3 stops (quorum per version 3's votes). Every service's marker log
//! shows it never ran on two nodes at once.

mod common;

use std::time::Duration;

use common::{member, never_double, online, started_on, Cluster};

const OLD: [&str; 3] = ["node1", "node2", "node3"];
const ALL: [&str; 4] = ["node1", "node2", "node3", "node4"];

/// The configuration with node1..node`n`: `alpha` led by node1; `beta` led by node4 when it is
/// listed, else by node3. No `expected_votes`: it follows the nodes' votes (one each).
fn conf_text(c: &Cluster, version: u64, n: usize) -> String {
    let nodes: String = c
        .nodes_xml(|_| String::new())
        .lines()
        .take(n)
        .map(|l| format!("{l}\n"))
        .collect();
    let script = |s: &str| c.path(&format!("{s}.sh")).display().to_string();
    let beta_top = if n >= 4 {
        "        <failoverdomainnode name=\"node4\" priority=\"1\"/>\n"
    } else {
        ""
    };
    format!(
        r#"<?xml version="1.0"?>
<cluster name="nodesync" config_version="{version}">
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d_alpha" ordered="1" restricted="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
      </failoverdomain>
      <failoverdomain name="d_beta" ordered="1">
{beta_top}        <failoverdomainnode name="node3" priority="2"/>
        <failoverdomainnode name="node2" priority="3"/>
      </failoverdomain>
    </failoverdomains>
    <service name="alpha" domain="d_alpha">
      <script name="alpha" file="{alpha}"/>
    </service>
    <service name="beta" domain="d_beta">
      <script name="beta" file="{beta}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha = script("alpha"),
        beta = script("beta"),
    )
}

fn members(v: &serde_json::Value) -> Vec<String> {
    v["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn no_double(c: &Cluster) {
    for s in ["alpha", "beta"] {
        never_double(c, s);
    }
}

#[test]
fn a_pushed_node_joins_live_and_a_removed_one_leaves_cleanly() {
    // Four port pairs, free for the sync's TCP too; node4's is unused until version 2.
    let mut c = loop {
        let c = Cluster::new(4);
        if c.ports
            .iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        {
            break c;
        }
    };
    for s in ["alpha", "beta"] {
        c.script(s);
    }
    let v1 = conf_text(&c, 1, 3);
    for n in OLD {
        std::fs::write(c.node_conf(n), &v1).unwrap();
        c.start_own(n);
    }
    c.wait_for(&OLD, "three members, alpha on node1, beta on node3", |v| {
        v["quorate"] == true
            && OLD.iter().all(|n| online(v, n))
            && members(v).len() == 3
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node3")
    });

    // Version 2 adds node4, whose daemon does not run yet.
    let v2 = conf_text(&c, 2, 4);
    let (code, out, err) = c.push("node1", &v2);
    assert_eq!(code, 0, "{out}{err}\n{}", c.dump());
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "node1: Success",
            "node2: Success",
            "node3: Success",
            "node4: unreachable"
        ],
        "{err}"
    );
    c.wait_for(&OLD, "node4 configured, offline; still quorate", |v| {
        v["quorate"] == true
            && members(v) == ALL
            && member(v, "node4").is_some_and(|m| m["online"] == false)
            && started_on(v, "service:beta", "node3")
    });
    // The administrator copies the file to the new node and starts it: it joins the running
    // cluster, nobody restarts.
    std::fs::write(c.node_conf("node4"), &v2).unwrap();
    let pids: Vec<i32> = OLD.iter().map(|n| c.pid(n)).collect();
    c.start_own("node4");
    c.wait_for(
        &ALL,
        "four members online, beta failed back to node4",
        |v| {
            v["quorate"] == true
                && ALL.iter().all(|n| online(v, n))
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node4")
        },
    );
    assert_eq!(OLD.iter().map(|n| c.pid(n)).collect::<Vec<_>>(), pids);
    for n in OLD {
        let log = c.log_of(n);
        assert!(
            log.contains("node 4 added to the configuration"),
            "{n}:\n{log}"
        );
        assert!(log.contains("State change: node4 UP"), "{n}:\n{log}");
    }
    no_double(&c);

    // Version 3 removes node4 again: it stops beta and leaves; beta moves back to node3.
    let v3 = conf_text(&c, 3, 3);
    let (code, out, err) = c.push("node1", &v3);
    assert_eq!(code, 0, "{out}{err}\n{}", c.dump());
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["node1: Success", "node2: Success", "node3: Success"],
        "{err}"
    );
    c.wait_for(
        &OLD,
        "node4 gone from the view and clustat, beta on node3",
        |v| {
            v["quorate"] == true
                && members(v) == OLD
                && OLD.iter().all(|n| online(v, n))
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node3")
        },
    );
    // node4's daemon stopped its services and exited cleanly on its own.
    let status = c.wait_exit("node4", "after its removal");
    let log4 = c.log_of("node4");
    assert!(status.success(), "node4 exited with {status}:\n{log4}");
    assert!(
        log4.contains("This node is not in configuration version 3"),
        "{log4}"
    );
    assert!(log4.contains("Shutdown complete, exiting"), "{log4}");
    for n in OLD {
        let log = c.log_of(n);
        assert!(log.contains("Member 4 shutting down"), "{n}:\n{log}");
        assert!(log.contains("State change: node4 DOWN"), "{n}:\n{log}");
        // A clean leave: nobody fences the removed node.
        assert!(!log.contains("fencing node 4"), "{n}:\n{log}");
        assert!(!log.contains("fence node4"), "{n}:\n{log}");
        assert!(!log.contains("Fencing node4"), "{n}:\n{log}");
    }
    assert_eq!(
        c.markers("beta"),
        "start node3\nstop node3\nstart node4\nstop node4\nstart node3\n"
    );
    assert_eq!(c.markers("alpha"), "start node1\n");
    no_double(&c);

    // Started again with its old file (version 2, which lists it), node4 is ignored: the
    // others drop its traffic, and alone it is inquorate and runs nothing.
    std::fs::write(c.node_conf("node4"), &v2).unwrap();
    c.start_own("node4");
    c.holds_for(
        &OLD,
        "three members, beta on node3",
        Duration::from_secs(8),
        |v| members(v) == OLD && started_on(v, "service:beta", "node3"),
    );
    let v4 = c.clustat("node4");
    assert!(
        v4.as_ref().is_some_and(|v| v["quorate"] == false),
        "{v4:#?}"
    );
    assert_eq!(
        c.markers("beta"),
        "start node3\nstop node3\nstart node4\nstop node4\nstart node3\n"
    );
    no_double(&c);

    // Quorum follows the new votes: with version 3 (3 votes expected, quorum 2) node1 and node2
    // stay quorate when node3 stops; with version 2's 4 votes they would not.
    c.terminate("node3");
    c.wait_for(
        &["node1", "node2"],
        "quorate without node3, beta on node2",
        |v| {
            v["quorate"] == true
                && !online(v, "node3")
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node2")
        },
    );
    no_double(&c);
}
