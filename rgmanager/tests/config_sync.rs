//! Configuration sync with real processes: three `rgmanager` daemons on 127.0.0.1, each with
//! its own cluster.conf file, and `ccs_sync` as the administrator runs it.
//!
//! - a push of version 2 that adds a service and changes a domain reaches every node byte for
//!   byte; the new service runs, the service whose domain changed moves, and the unchanged one
//!   was never stopped (its init script's marker log shows a single start);
//! - an older version and an equal version with other content are refused, with the files
//!   unchanged; an invalid file is refused before anything is sent;
//! - a node with another cluster key refuses the transfer and says why;
//! - a node stopped during a push fetches the new version when it starts again (from the
//!   members whose heartbeats announce it), before it is given any service.
//!
//! Everything polls until the expected state or a generous deadline; the harness kills every
//! daemon on drop, also when an assertion fails.

mod common;

use std::path::Path;

use common::{online, started_on, Cluster};

const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// The test configuration: `alpha` in an ordered domain led by node1; `beta` in one led by
/// `beta_top`; with `gamma`, a third service restricted to node3.
fn conf_text(c: &Cluster, version: u64, beta_top: &str, gamma: bool) -> String {
    let nodes = c.nodes_xml(|_| String::new());
    let script = |s: &str| c.path(&format!("{s}.sh")).display().to_string();
    let beta_order: Vec<&str> = match beta_top {
        "node3" => vec!["node3", "node2", "node1"],
        _ => vec!["node2", "node3", "node1"],
    };
    let beta_nodes: String = beta_order
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "        <failoverdomainnode name=\"{n}\" priority=\"{}\"/>\n",
                i + 1
            )
        })
        .collect();
    let (gamma_domain, gamma_service) = if gamma {
        (
            "      <failoverdomain name=\"d_gamma\" restricted=\"1\">\n        <failoverdomainnode name=\"node3\"/>\n      </failoverdomain>\n".to_string(),
            format!(
                "    <service name=\"gamma\" domain=\"d_gamma\">\n      <script name=\"gamma\" file=\"{}\"/>\n    </service>\n",
                script("gamma")
            ),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        r#"<?xml version="1.0"?>
<!-- the administrator's comment: kept byte for byte on every node -->
<cluster name="synctest" config_version="{version}">
  <cman expected_votes="3"/>
  <totem token="3000"/>
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
{beta_nodes}      </failoverdomain>
{gamma_domain}    </failoverdomains>
    <service name="alpha" domain="d_alpha">
      <script name="alpha" file="{alpha}"/>
    </service>
    <service name="beta" domain="d_beta">
      <script name="beta" file="{beta}"/>
    </service>
{gamma_service}  </rm>
</cluster>
"#,
        alpha = script("alpha"),
        beta = script("beta"),
    )
}

/// A cluster whose nodes each have their own copy of version 1; no daemon started.
fn configured() -> (Cluster, String) {
    // Sync listens on TCP at the daemon channel's port: pick ports free for TCP too.
    let c = loop {
        let c = Cluster::new(3);
        if c.ports
            .iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        {
            break c;
        }
    };
    for s in ["alpha", "beta", "gamma"] {
        c.script(s);
    }
    let v1 = conf_text(&c, 1, "node2", false);
    for n in NODES {
        std::fs::write(c.node_conf(n), &v1).unwrap();
    }
    (c, v1)
}

/// Starts `names` with their own files and the cluster key.
fn start(c: &mut Cluster, names: &[&str]) {
    for n in names {
        c.start_own(n);
    }
}

fn up() -> (Cluster, String) {
    let (mut c, v1) = configured();
    start(&mut c, &NODES);
    c.wait_for(
        &NODES,
        "three members, alpha on node1, beta on node2",
        |v| {
            v["quorate"] == true
                && NODES.iter().all(|n| online(v, n))
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node2")
        },
    );
    (c, v1)
}

/// `ccs_sync ARGS` against `node`'s daemon: exit status, stdout, stderr.
fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn a_push_reaches_every_node_and_the_cluster_reloads_without_touching_unchanged_services() {
    let (mut c, v1) = up();
    let v2 = conf_text(&c, 2, "node3", true);
    let (code, out, err) = c.push("node1", &v2);
    assert_eq!(code, 0, "{out}{err}\n{}", c.dump());
    assert_eq!(
        lines(&out),
        ["node1: Success", "node2: Success", "node3: Success"],
        "{err}"
    );
    for n in NODES {
        assert_eq!(read(&c.node_conf(n)), v2, "{n}'s file");
        // The replaced version is kept as a backup.
        assert_eq!(read(&c.path(&format!("{n}.conf.v1"))), v1);
    }
    c.wait_for(&NODES, "gamma on node3, beta moved to node3", |v| {
        started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node3")
            && started_on(v, "service:gamma", "node3")
    });
    // alpha's resources did not change: never stopped, never started again.
    assert_eq!(c.markers("alpha"), "start node1\n");
    assert_eq!(c.markers("beta"), "start node2\nstop node2\nstart node3\n");
    assert_eq!(c.markers("gamma"), "start node3\n");
    for n in NODES {
        let log = c.log_of(n);
        assert!(log.contains("Reconfiguring"), "{n}:\n{log}");
        assert!(log.contains("Loading Service Data"), "{n}:\n{log}");
        assert!(log.contains("Initializing service:gamma"), "{n}:\n{log}");
    }
    // Every daemon runs version 2, as each one reports it.
    for n in NODES {
        let (code, out, err) = c.ccs_sync(n, &["--check"]);
        assert_eq!(code, 0, "{out}{err}");
        let got = lines(&out);
        assert_eq!(got.len(), 3, "{out}");
        for (line, node) in got.iter().zip(NODES) {
            assert!(
                line.starts_with(&format!("{node}: version 2 (hash ")),
                "{out}"
            );
        }
    }

    // An older version: refused everywhere, naming both versions; nothing written.
    let (code, out, _) = c.push("node2", &v1);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        lines(&out),
        [
            "node1: refused: version 1 is not newer than 2",
            "node2: refused: version 1 is not newer than 2",
            "node3: refused: version 1 is not newer than 2",
        ]
    );
    // The same version with other content: a conflict, never merged.
    let other = v2.replace(
        "the administrator's comment",
        "another administrator's comment",
    );
    let (code, out, _) = c.push("node3", &other);
    assert_eq!(code, 1, "{out}");
    let got = lines(&out);
    assert_eq!(got.len(), 3, "{out}");
    for (line, node) in got.iter().zip(NODES) {
        assert!(
            line.starts_with(&format!("{node}: conflict: both have config_version 2")),
            "{out}"
        );
    }
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("Configuration conflict with node 3"),
        "{log1}"
    );
    // Invalid XML: refused by ccs_sync itself, with the validator's located line; nothing sent.
    let broken = v2.replace("config_version=\"2\">", "config_version=\"3\">\n<rm>");
    let (code, out, err) = c.push("node1", &broken);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("push.conf:"), "{err}");
    assert!(err.contains("nothing sent"), "{err}");
    for n in NODES {
        assert_eq!(read(&c.node_conf(n)), v2, "{n}'s file after the refusals");
        assert!(!c.log_of(n).contains("version 3"), "{n} heard of version 3");
    }
    assert_eq!(c.markers("alpha"), "start node1\n");
}

#[test]
fn a_node_with_another_key_refuses_the_transfer_and_says_why() {
    let (mut c, v1) = configured();
    start(&mut c, &["node1", "node2"]);
    let conf3 = c.node_conf("node3");
    let wrong = c.wrong_key.clone();
    c.start_with("node3", &conf3, &wrong);
    c.wait_for(&["node1", "node2"], "node1 and node2 quorate", |v| {
        v["quorate"] == true && online(v, "node1") && online(v, "node2") && !online(v, "node3")
    });
    let v2 = conf_text(&c, 2, "node2", true);
    let (code, out, err) = c.push("node1", &v2);
    assert_eq!(code, 1, "{out}{err}\n{}", c.dump());
    assert_eq!(
        lines(&out),
        [
            "node1: Success",
            "node2: Success",
            "node3: refused: authentication failed (another cluster key?)",
        ],
        "{err}"
    );
    assert_eq!(read(&conf3), v1);
    let log3 = c.log_of("node3");
    assert!(
        log3.contains("Refused a configuration transfer from 127.0.0.1:")
            && log3.contains("authentication failed"),
        "{log3}"
    );
}

#[test]
fn a_node_that_missed_a_push_catches_up_before_it_starts_services() {
    let (mut c, v1) = up();
    c.terminate("node3");
    c.wait_for(&["node1", "node2"], "node3 gone", |v| !online(v, "node3"));
    let v2 = conf_text(&c, 2, "node2", true);
    let (code, out, err) = c.push("node1", &v2);
    assert_eq!(code, 0, "{out}{err}\n{}", c.dump());
    assert_eq!(
        lines(&out),
        ["node1: Success", "node2: Success", "node3: unreachable"],
        "{err}"
    );
    assert_eq!(read(&c.node_conf("node3")), v1);
    // gamma may only run on node3: it waits, stopped.
    c.wait_for(&["node1", "node2"], "gamma known and stopped", |v| {
        common::service(v, "service:gamma").is_some_and(|s| s["state"] != "started")
    });
    start(&mut c, &["node3"]);
    c.wait_for(&NODES, "node3 back, gamma on node3", |v| {
        NODES.iter().all(|n| online(v, n)) && started_on(v, "service:gamma", "node3")
    });
    assert_eq!(read(&c.node_conf("node3")), v2);
    let log3 = c.log_of("node3");
    // The second run of node3: it joins, learns version 2 from the members' heartbeats and
    // fetches it before it runs anything (docs/ccs_sync.md, "In the daemon").
    let run2 = &log3[log3.rfind("Shutdown complete").unwrap()..];
    let joined = run2.find("Resource Group Manager Starting").unwrap();
    let adopted = run2
        .find("Configuration version 2 (hash ")
        .unwrap_or_else(|| panic!("node3 did not fetch version 2:\n{log3}"));
    let started = run2.find("Starting service:gamma").unwrap();
    assert!(joined < adopted && adopted < started, "{log3}");
    assert!(!run2[..adopted].contains("Starting "), "{log3}");
    assert_eq!(c.markers("gamma"), "start node3\n");
    assert_eq!(c.markers("alpha"), "start node1\n");
}
