//! Recovery, failback and `clusvcadm` with real daemons: three `rgmanager` processes on
//! 127.0.0.1 run script services whose test init scripts record where they ran. A failed
//! status check restarts a service in place and relocates it once `max_restarts` is used up;
//! `recovery="relocate"`, `"disable"` and `"restart-disable"` do what they say; a stop that
//! fails leaves the service `failed`, started nowhere, until `clusvcadm -d`; a node returning to
//! an ordered domain gets its service back unless the domain says `nofailback`; and every
//! `clusvcadm` command answers with RHCS's words and exit codes, refusals included (restricted
//! domain, frozen, locked, no quorum).
//!
//! Every test checks the markers: a service never ran on two nodes at once. Nodes leave and
//! come back cleanly (SIGTERM); losing one uncleanly needs fencing, tested elsewhere.

mod common;

use std::time::Duration;

use common::{
    check_markers, has_flag, never_double, online, service, started_on, state_of, Cluster,
};

const ALL: [&str; 3] = ["node1", "node2", "node3"];

/// Writes a 3-node cluster.conf with these failover domains and services (`@name@` in
/// `services` is replaced by the path of the test script of service `name`; `@!name@` by one
/// whose stop fails while `name.stopfail` exists).
fn configure(c: &Cluster, domains: &str, services: &str, scripts: &[&str], stopfail: &[&str]) {
    let mut services = services.to_string();
    for s in scripts {
        services = services.replace(&format!("@{s}@"), &c.script(s).display().to_string());
    }
    for s in stopfail {
        services = services.replace(
            &format!("@!{s}@"),
            &c.script_failing_stop(s).display().to_string(),
        );
    }
    let nodes = c.nodes_xml(|_| String::new());
    // A token of 3 s keeps a loaded machine from failing nodes.
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="rtest" config_version="1">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
{domains}    </failoverdomains>
{services}  </rm>
</cluster>
"#
    ));
}

/// An ordered domain of the three nodes, in this order of preference.
fn ordered(name: &str, order: [&str; 3], extra: &str) -> String {
    let mut text = format!("      <failoverdomain name=\"{name}\" ordered=\"1\"{extra}>\n");
    for (i, n) in order.iter().enumerate() {
        text += &format!(
            "        <failoverdomainnode name=\"{n}\" priority=\"{}\"/>\n",
            i + 1
        );
    }
    text + "      </failoverdomain>\n"
}

/// A script service checked every second.
fn svc(name: &str, domain: &str, attrs: &str) -> String {
    format!(
        r#"    <service name="{name}" domain="{domain}"{attrs}>
      <script name="{name}" file="@{name}@">
        <action name="status" depth="*" interval="1"/>
      </script>
    </service>
"#
    )
}

/// Starts the three daemons and waits until they are quorate and each service of `home` runs
/// on its node.
fn up(c: &mut Cluster, home: &[(&str, &str)]) {
    for n in ALL {
        c.start(n);
    }
    c.wait_for(&ALL, "three members, quorate, services home", |v| {
        v["quorate"] == true
            && ALL.iter().all(|n| online(v, n))
            && home
                .iter()
                .all(|(s, n)| started_on(v, &format!("service:{s}"), n))
    });
    for (s, n) in home {
        check_markers(c, s, n);
    }
}

fn crash(c: &Cluster, svc: &str) {
    std::fs::write(c.path(&format!("{svc}.crashed")), "").unwrap();
}

fn restarts(v: &serde_json::Value, svc: &str) -> u64 {
    service(v, svc)
        .and_then(|s| s["restarts"].as_u64())
        .unwrap_or(u64::MAX)
}

#[test]
fn a_failing_service_restarts_in_place_then_relocates_after_max_restarts() {
    let mut c = Cluster::new(3);
    configure(
        &c,
        &ordered("d1", ["node1", "node2", "node3"], ""),
        &svc(
            "alpha",
            "d1",
            r#" max_restarts="2" restart_expire_time="600""#,
        ),
        &["alpha"],
        &[],
    );
    up(&mut c, &[("alpha", "node1")]);

    // Two failures within the window: restarted in place each time.
    for n in 1..=2 {
        crash(&c, "alpha");
        c.wait_for(&ALL, &format!("alpha restarted in place ({n})"), |v| {
            started_on(v, "service:alpha", "node1") && restarts(v, "service:alpha") == n
        });
        check_markers(&c, "alpha", "node1");
    }
    // The third exceeds max_restarts: relocated to the next node of the domain, the restart
    // history forgotten.
    crash(&c, "alpha");
    c.wait_for(&ALL, "alpha relocated to node2", |v| {
        started_on(v, "service:alpha", "node2") && restarts(v, "service:alpha") == 0
    });
    check_markers(&c, "alpha", "node2");
    assert!(c.markers("alpha").ends_with("start node1\nstop node1\nstart node1\nstop node1\nstart node1\nstop node1\nstart node2\n"), "{}", c.markers("alpha"));
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("Recovering failed service service:alpha"),
        "{log1}"
    );
    assert!(
        log1.contains("Restart threshold for service:alpha exceeded; attempting to relocate"),
        "{log1}"
    );
}

#[test]
fn recovery_relocate_moves_and_disable_and_restart_disable_disable() {
    let mut c = Cluster::new(3);
    let domains = ordered("d2", ["node2", "node3", "node1"], "")
        + &ordered("d3", ["node3", "node1", "node2"], "");
    let domains = domains + &ordered("d1", ["node1", "node2", "node3"], "");
    let services = svc("beta", "d2", r#" recovery="relocate""#)
        + &svc("gamma", "d3", r#" recovery="disable""#)
        + &svc(
            "rd",
            "d1",
            r#" recovery="restart-disable" max_restarts="1" restart_expire_time="600""#,
        );
    configure(&c, &domains, &services, &["beta", "gamma", "rd"], &[]);
    up(
        &mut c,
        &[("beta", "node2"), ("gamma", "node3"), ("rd", "node1")],
    );

    // restart-disable: restarted once in place, disabled when the threshold is exceeded.
    crash(&c, "rd");
    c.wait_for(&ALL, "rd restarted in place", |v| {
        started_on(v, "service:rd", "node1") && restarts(v, "service:rd") == 1
    });
    check_markers(&c, "rd", "node1");
    crash(&c, "rd");
    c.wait_for(&ALL, "rd disabled", |v| {
        service(v, "service:rd")
            .is_some_and(|s| s["state"] == "disabled" && s["last_owner"] == "node1")
    });
    assert_eq!(never_double(&c, "rd"), None);
    assert!(
        c.markers("rd")
            .ends_with("start node1\nstop node1\nstart node1\nstop node1\n"),
        "{}",
        c.markers("rd")
    );
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("Restart threshold for service:rd exceeded; disabling"),
        "{log1}"
    );

    crash(&c, "beta");
    c.wait_for(&ALL, "beta relocated to node3", |v| {
        started_on(v, "service:beta", "node3")
    });
    check_markers(&c, "beta", "node3");
    assert!(
        c.markers("beta")
            .ends_with("start node2\nstop node2\nstart node3\n"),
        "{}",
        c.markers("beta")
    );

    crash(&c, "gamma");
    c.wait_for(&ALL, "gamma disabled", |v| {
        service(v, "service:gamma")
            .is_some_and(|s| s["state"] == "disabled" && s["last_owner"] == "node3")
    });
    assert_eq!(never_double(&c, "gamma"), None);
    assert!(
        c.markers("gamma").ends_with("start node3\nstop node3\n"),
        "{}",
        c.markers("gamma")
    );
    // Disabled means disabled: nothing starts it again.
    c.holds_for(&ALL, "gamma stays disabled", Duration::from_secs(4), |v| {
        state_of(v, "service:gamma") == "disabled" && started_on(v, "service:beta", "node3")
    });
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("#71: Relocating failed service service:beta"),
        "{log1}"
    );
    assert!(
        log1.contains("Disabling service:gamma: recovery policy is disable"),
        "{log1}"
    );
}

#[test]
fn a_stop_that_fails_leaves_the_service_failed_until_an_administrator_disables_it() {
    let mut c = Cluster::new(3);
    configure(
        &c,
        &ordered("d1", ["node1", "node2", "node3"], ""),
        &svc("delta", "d1", "").replace("@delta@", "@!delta@"),
        &[],
        &["delta"],
    );
    up(&mut c, &[("delta", "node1")]);

    // Its status fails, the recovery's stop fails: failed, and started nowhere else.
    std::fs::write(c.path("delta.stopfail"), "").unwrap();
    crash(&c, "delta");
    c.wait_for(&ALL, "delta failed", |v| {
        service(v, "service:delta")
            .is_some_and(|s| s["state"] == "failed" && s["last_owner"] == "node1")
    });
    c.holds_for(
        &ALL,
        "delta stays failed, on node1 only",
        Duration::from_secs(5),
        |v| state_of(v, "service:delta") == "failed",
    );
    assert_eq!(never_double(&c, "delta").as_deref(), Some("node1"));
    assert!(
        c.markers("delta").ends_with("start node1\n"),
        "{}",
        c.markers("delta")
    );
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("#12: RG service:delta failed to stop; intervention required"),
        "{log1}"
    );

    // Enabling a failed service is refused.
    let (code, out) = c.clusvcadm("node2", &["-e", "delta"]);
    assert_eq!(
        (code, out.as_str()),
        (
            255,
            "Local machine trying to enable service:delta...Failure\n"
        )
    );

    // The administrator cleans up and disables it: the stop runs where it failed.
    std::fs::remove_file(c.path("delta.stopfail")).unwrap();
    let (code, out) = c.clusvcadm("node3", &["-d", "delta"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Local machine disabling service:delta...Success\n")
    );
    c.wait_for(&ALL, "delta disabled", |v| {
        state_of(v, "service:delta") == "disabled"
    });
    assert_eq!(never_double(&c, "delta"), None);
    assert!(
        c.markers("delta").ends_with("start node1\nstop node1\n"),
        "{}",
        c.markers("delta")
    );

    // And it can be enabled again.
    let (code, out) = c.clusvcadm("node2", &["-e", "delta"]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "Local machine trying to enable service:delta...Success\nservice:delta is now running on node2\n"
        )
    );
    c.wait_for(&ALL, "delta on node2", |v| {
        started_on(v, "service:delta", "node2")
    });
    check_markers(&c, "delta", "node2");
}

#[test]
fn a_returning_node_gets_its_service_back_unless_nofailback() {
    let mut c = Cluster::new(3);
    // node3 is preferred, so that node1 (the coordinator) sees it leave and come back.
    let domains = ordered("back", ["node3", "node1", "node2"], "")
        + &ordered("stay", ["node3", "node1", "node2"], r#" nofailback="1""#);
    let services = svc("home", "back", "") + &svc("sticky", "stay", "");
    configure(&c, &domains, &services, &["home", "sticky"], &[]);
    up(&mut c, &[("home", "node3")]);
    // When node1 and node2 formed the cluster before node3 joined, sticky started on node1
    // and, nofailback, stayed there: bring it to node3 by hand (already there: exit 0).
    c.wait_for(&ALL, "sticky started", |v| {
        state_of(v, "service:sticky") == "started"
    });
    let (code, out) = c.clusvcadm("node2", &["-r", "sticky", "-m", "node3"]);
    assert_eq!(code, 0, "{out}");
    c.wait_for(&ALL, "sticky on node3", |v| {
        started_on(v, "service:sticky", "node3")
    });
    check_markers(&c, "sticky", "node3");

    c.terminate("node3");
    let two = ["node1", "node2"];
    c.wait_for(&two, "both services on node1", |v| {
        !online(v, "node3")
            && started_on(v, "service:home", "node1")
            && started_on(v, "service:sticky", "node1")
    });
    check_markers(&c, "home", "node1");
    check_markers(&c, "sticky", "node1");

    c.start("node3");
    c.wait_for(&ALL, "home back on node3, sticky on node1", |v| {
        ALL.iter().all(|n| online(v, n))
            && started_on(v, "service:home", "node3")
            && started_on(v, "service:sticky", "node1")
    });
    c.holds_for(&ALL, "sticky stays on node1", Duration::from_secs(4), |v| {
        started_on(v, "service:sticky", "node1") && started_on(v, "service:home", "node3")
    });
    check_markers(&c, "home", "node3");
    check_markers(&c, "sticky", "node1");
    assert!(
        c.markers("home")
            .ends_with("start node3\nstop node3\nstart node1\nstop node1\nstart node3\n"),
        "{}",
        c.markers("home")
    );
    assert!(
        c.markers("sticky")
            .ends_with("start node3\nstop node3\nstart node1\n"),
        "{}",
        c.markers("sticky")
    );
    let log1 = c.log_of("node1");
    assert!(
        log1.contains("Relocating service:home to better node node3"),
        "{log1}"
    );
    assert!(!log1.contains("Relocating service:sticky"), "{log1}");
}

/// One `clusvcadm` run: exit status and output, compared exactly.
fn adm(c: &mut Cluster, node: &str, args: &[&str], code: i32, out: &str) {
    let got = c.clusvcadm(node, args);
    assert_eq!(
        got,
        (code, out.to_string()),
        "clusvcadm {args:?} on {node}\n{}",
        c.dump()
    );
}

#[test]
fn every_clusvcadm_command_answers_as_rhcs_did() {
    let mut c = Cluster::new(3);
    let domains = ordered("d1", ["node1", "node2", "node3"], "")
        + r#"      <failoverdomain name="pair" restricted="1">
        <failoverdomainnode name="node1"/>
        <failoverdomainnode name="node2"/>
      </failoverdomain>
"#;
    // eps has a non-critical part (epsx) that a failed check stops and `-c` restarts.
    let services = svc("alpha", "d1", "")
        + &svc("rs", "pair", "")
        + r#"    <service name="eps" domain="d1">
      <script name="eps" file="@eps@">
        <action name="status" depth="*" interval="1"/>
        <script name="epsx" file="@epsx@" __independent_subtree="2">
          <action name="status" depth="*" interval="1"/>
        </script>
      </script>
    </service>
"#;
    configure(
        &c,
        &domains,
        &services,
        &["alpha", "rs", "eps", "epsx"],
        &[],
    );
    up(&mut c, &[("alpha", "node1"), ("eps", "node1")]);
    check_markers(&c, "epsx", "node1");
    c.wait_for(&ALL, "rs started", |v| {
        state_of(v, "service:rs") == "started"
    });
    let rs_home = never_double(&c, "rs").unwrap();
    assert!(rs_home == "node1" || rs_home == "node2", "{rs_home}");

    // Usage errors, as getopt and the original's checks answered them.
    adm(
        &mut c,
        "node2",
        &["-M", "alpha"],
        1,
        "Migration requires a target cluster member\n",
    );
    adm(
        &mut c,
        "node2",
        &["-e", "alpha", "-F", "-m", "node2"],
        1,
        "Cannot use '-F' with '-n' or '-m'\n",
    );
    adm(
        &mut c,
        "node2",
        &["-e", "alpha", "-m", "node2", "-F"],
        1,
        "Cannot use '-F' with '-n' or '-m'\n",
    );
    adm(
        &mut c,
        "node2",
        &["-e", "alpha", "-m", "nodeX"],
        1,
        "'nodeX' not in membership list\nMore than one possible match for 'nodeX' found\n",
    );
    adm(
        &mut c,
        "node2",
        &["-e", "nosuch"],
        252,
        "Local machine trying to enable service:nosuch...Service does not exist\n",
    );

    // Migration is for virtual machines only.
    adm(
        &mut c,
        "node2",
        &["-M", "alpha", "-m", "node2"],
        248,
        "Trying to migrate service:alpha to node2...Invalid operation for resource\n",
    );

    // A restricted domain refuses a node outside it; -F follows the domain's rules.
    adm(
        &mut c,
        "node3",
        &["-r", "rs", "-m", "node3"],
        241,
        "Trying to relocate service:rs to node3...Service not runnable\n",
    );
    adm(
        &mut c,
        "node3",
        &["-d", "rs"],
        0,
        "Local machine disabling service:rs...Success\n",
    );
    adm(
        &mut c,
        "node3",
        &["-e", "rs"],
        241,
        "Local machine trying to enable service:rs...Service not runnable\n",
    );
    adm(
        &mut c,
        "node3",
        &["-e", "rs", "-m", "node3"],
        241,
        "Member node3 trying to enable service:rs...Service not runnable\n",
    );
    let (code, out) = c.clusvcadm("node3", &["-e", "rs", "-F"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out == "Local machine trying to enable service:rs...Success\nservice:rs is now running on node1\n"
            || out == "Local machine trying to enable service:rs...Success\nservice:rs is now running on node2\n",
        "{out}"
    );
    let rs_now = never_double(&c, "rs").unwrap();
    assert!(rs_now == "node1" || rs_now == "node2", "{rs_now}");

    // Restart in place.
    adm(
        &mut c,
        "node2",
        &["-R", "alpha"],
        0,
        "Local machine trying to restart service:alpha...Success\n",
    );
    check_markers(&c, "alpha", "node1");
    assert!(c
        .markers("alpha")
        .ends_with("start node1\nstop node1\nstart node1\n"));

    // Frozen: no relocation, no stop, until thawed.
    adm(
        &mut c,
        "node2",
        &["-Z", "alpha"],
        0,
        "Local machine freezing service:alpha...Success\n",
    );
    c.wait_for(&ALL, "alpha frozen", |v| {
        has_flag(v, "service:alpha", "frozen")
    });
    adm(
        &mut c,
        "node3",
        &["-r", "alpha", "-m", "node2"],
        245,
        "Trying to relocate service:alpha to node2...Failure: Service is frozen\n",
    );
    adm(
        &mut c,
        "node3",
        &["-s", "alpha"],
        245,
        "Local machine stopping service:alpha...Failure: Service is frozen\n",
    );
    adm(
        &mut c,
        "node2",
        &["-U", "alpha"],
        0,
        "Local machine unfreezing service:alpha...Success\n",
    );
    c.wait_for(&ALL, "alpha thawed", |v| {
        !has_flag(v, "service:alpha", "frozen") && started_on(v, "service:alpha", "node1")
    });

    // Convalesce: a service running whole is "already running" (exit 0); after its
    // non-critical part failed and was stopped, -c starts that part again.
    adm(
        &mut c,
        "node2",
        &["-c", "eps"],
        0,
        "Local machine convalescing service:eps...Service is already running\n",
    );
    crash(&c, "epsx");
    c.wait_for(&ALL, "eps runs partly", |v| {
        started_on(v, "service:eps", "node1") && has_flag(v, "service:eps", "partial")
    });
    assert_eq!(never_double(&c, "epsx"), None);
    check_markers(&c, "eps", "node1");
    adm(
        &mut c,
        "node3",
        &["-c", "eps"],
        0,
        "Local machine convalescing service:eps...Success\n",
    );
    c.wait_for(&ALL, "eps whole again", |v| {
        started_on(v, "service:eps", "node1") && !has_flag(v, "service:eps", "partial")
    });
    check_markers(&c, "epsx", "node1");
    assert!(
        c.markers("epsx")
            .ends_with("start node1\nstop node1\nstart node1\n"),
        "{}",
        c.markers("epsx")
    );
    check_markers(&c, "eps", "node1");
    assert!(
        c.markers("eps").ends_with("start node1\n"),
        "{}",
        c.markers("eps")
    );

    // The lock: taken on one node, seen on all; nothing starts or moves while it holds.
    adm(&mut c, "node3", &["-S"], 0, "Resource groups unlocked\n");
    adm(&mut c, "node2", &["-l"], 0, "Resource groups locked\n");
    for n in ALL {
        let deadline = std::time::Instant::now() + common::PATIENCE;
        while c.clusvcadm(n, &["-S"]) != (0, "Resource groups locked\n".to_string()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} never saw the lock"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    adm(
        &mut c,
        "node3",
        &["-r", "alpha", "-m", "node2"],
        250,
        "Trying to relocate service:alpha to node2...Temporary failure; try again\n",
    );
    adm(
        &mut c,
        "node1",
        &["-s", "alpha"],
        0,
        "Local machine stopping service:alpha...Success\n",
    );
    adm(
        &mut c,
        "node1",
        &["-e", "alpha"],
        250,
        "Local machine trying to enable service:alpha...Temporary failure; try again\n",
    );
    c.holds_for(
        &ALL,
        "alpha stays stopped while locked",
        Duration::from_secs(4),
        |v| state_of(v, "service:alpha") == "stopped",
    );
    assert_eq!(never_double(&c, "alpha"), None);
    // Unlocking starts what the lock held back.
    adm(&mut c, "node3", &["-u"], 0, "Resource groups unlocked\n");
    c.wait_for(&ALL, "alpha started again on node1", |v| {
        started_on(v, "service:alpha", "node1")
    });
    check_markers(&c, "alpha", "node1");
    adm(&mut c, "node1", &["-S"], 0, "Resource groups unlocked\n");

    // Relocation with and without a member, and -q.
    adm(
        &mut c,
        "node3",
        &["-r", "alpha", "-m", "node3"],
        0,
        "Trying to relocate service:alpha to node3...Success\nservice:alpha is now running on node3\n",
    );
    check_markers(&c, "alpha", "node3");
    adm(
        &mut c,
        "node3",
        &["-q", "-r", "alpha", "-m", "node2"],
        0,
        "",
    );
    c.wait_for(&ALL, "alpha on node2", |v| {
        started_on(v, "service:alpha", "node2")
    });
    check_markers(&c, "alpha", "node2");

    // Without quorum nothing is decided: node2 and node3 leave, node1 is alone. (alpha and rs
    // are disabled first, so that no takeover is under way when quorum goes.)
    adm(
        &mut c,
        "node1",
        &["-d", "alpha"],
        0,
        "Local machine disabling service:alpha...Success\n",
    );
    adm(
        &mut c,
        "node1",
        &["-d", "rs"],
        0,
        "Local machine disabling service:rs...Success\n",
    );
    c.terminate("node3");
    c.terminate("node2");
    c.wait_for(&["node1"], "node1 alone, inquorate", |v| {
        v["quorate"] == false
    });
    adm(
        &mut c,
        "node1",
        &["-e", "alpha"],
        247,
        "Local machine trying to enable service:alpha...Operation requires quorum\n",
    );
    adm(&mut c, "node1", &["-l"], 1, "Lock operation failed\n");
    adm(&mut c, "node1", &["-S"], 1, "Query operation failed\n");
    assert_eq!(never_double(&c, "alpha"), None);
    assert_eq!(never_double(&c, "rs"), None);
    never_double(&c, "eps");
    never_double(&c, "epsx");
}
