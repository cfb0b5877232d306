//! Node loss with real processes and real fencing: `rgmanager` daemons on 127.0.0.1, each node
//! with its own OpenIPMI `ipmi_sim` BMC, fenced by our `fence_ipmilan` (lanplus, cipher 3). A
//! BMC's power-off really powers its node off: its chassis helper kills that node's daemon and
//! closes the node's service markers (an `off NODE` line); its power-on lets the test boot the
//! node again (start its daemon).
//!
//! Scenarios: a node killed with SIGKILL is fenced, its service taken over, and fails back when
//! the node is back; a fence device that refuses (wrong password) blocks the takeover until a
//! new configuration fixes the password; methods are tried in order; `fence_ack_manual`
//! confirms a node with no fence device; a 3-node partition (the minority's traffic dropped by
//! nftables) stops the minority's service, fences the minority and takes over, then heals; a
//! two-node cluster cut in two, where both sides fence and a device `delay` picks the survivor;
//! a node that joins after a failure and becomes coordinator fences the lost node before its
//! service moves.
//!
//! A node that boots while another hangs joins at once and keeps the quorum (issue 21).
//!
//! Every scenario checks the markers: a service never ran on two nodes at once.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cluster_tests::bmc::Bmc;
use common::bmc::{
    boot_after_fence, device_xml, free_port_avoiding, method_xml, power_log, powered, start_bmcs,
    PASSWORD,
};
use common::{
    check_markers, fence_ack_manual, never_double, online, service, started_on, wait_log, Cluster,
};

/// How each node is fenced.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fencing {
    /// One method: the node's BMC with this password.
    Bmc(&'static str),
    /// Two methods: a BMC port where nothing answers, then the node's BMC.
    DeadThenBmc,
    /// No fence method at all.
    None,
}

/// A cluster of `n` nodes, each with a BMC, alpha in an ordered domain node1 > node2 > node3
/// (checked every second), beta in node3 > node2 > node1. Node1 is fenced as `node1` says, the
/// others through their BMC. `post_fail_delay` in seconds.
fn configured(n: usize, node1: Fencing, post_fail_delay: u32, version: u32) -> (Cluster, Vec<Bmc>) {
    configured_victim(n, 1, node1, post_fail_delay, version)
}

/// As [`configured`], with `fencing` for node `victim` instead of node1.
fn configured_victim(
    n: usize,
    victim: usize,
    fencing: Fencing,
    post_fail_delay: u32,
    version: u32,
) -> (Cluster, Vec<Bmc>) {
    let c = Cluster::new(n);
    let bmcs = start_bmcs(&c);
    c.script("alpha");
    c.script("beta");
    write_conf(&c, &bmcs, victim, fencing, post_fail_delay, version);
    (c, bmcs)
}

/// Writes cluster.conf (atomically: the daemons may be reading it) for the scripts already in
/// place.
fn write_conf(
    c: &Cluster,
    bmcs: &[Bmc],
    victim: usize,
    fencing: Fencing,
    post_fail_delay: u32,
    version: u32,
) {
    let alpha = c.path("alpha.sh");
    let beta = c.path("beta.sh");
    let n = bmcs.len();
    let nodes = c.nodes_xml(|i| {
        let bmc = method_xml(i);
        let methods = match fencing {
            Fencing::None if i == victim => return String::new(),
            Fencing::DeadThenBmc if i == victim => format!(
                "        <method name=\"dead\">\n          <device name=\"dead\"/>\n        </method>\n{bmc}"
            ),
            _ => bmc,
        };
        format!("      <fence>\n{methods}      </fence>\n")
    });
    let mut devices = String::new();
    for (i, b) in bmcs.iter().enumerate() {
        let pw = match fencing {
            Fencing::Bmc(pw) if i + 1 == victim => pw,
            _ => PASSWORD,
        };
        devices += &device_xml(i + 1, b, pw);
    }
    if fencing == Fencing::DeadThenBmc {
        devices += &format!(
            "    <fencedevice name=\"dead\" agent=\"fence_ipmilan\" ipaddr=\"127.0.0.1\" \
             ipport=\"{}\" login=\"admin\" passwd=\"{PASSWORD}\" lanplus=\"1\" cipher=\"3\" \
             power_wait=\"0\" login_timeout=\"2\" retry_on=\"1\"/>\n",
            free_port_avoiding(&c.ports)
        );
    }
    let domain = |order: &[usize]| -> String {
        order
            .iter()
            .filter(|i| **i <= n)
            .enumerate()
            .map(|(p, i)| {
                format!(
                    "        <failoverdomainnode name=\"node{i}\" priority=\"{}\"/>\n",
                    p + 1
                )
            })
            .collect()
    };
    let text = format!(
        r#"<?xml version="1.0"?>
<cluster name="ftest" config_version="{version}">
  <cman expected_votes="{n}"/>
  <totem token="3000"/>
  <fence_daemon post_fail_delay="{post_fail_delay}"/>
  <clusternodes>
{nodes}  </clusternodes>
  <fencedevices>
{devices}  </fencedevices>
  <rm>
    <failoverdomains>
      <failoverdomain name="d_alpha" ordered="1">
{}      </failoverdomain>
      <failoverdomain name="d_beta" ordered="1">
{}      </failoverdomain>
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
        domain(&[1, 2, 3]),
        domain(&[3, 2, 1]),
        alpha.display(),
        beta.display()
    );
    let tmp = c.path("cluster.conf.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, c.path("cluster.conf")).unwrap();
}

/// Starts every node and waits until alpha runs on node1 and beta on its top node.
fn up(c: &mut Cluster, n: usize) -> Vec<String> {
    let names: Vec<String> = (1..=n).map(|i| format!("node{i}")).collect();
    for name in &names {
        c.start(name);
    }
    let beta_home = format!("node{}", n.min(3));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    c.wait_for(&refs, "every member up, services home", |v| {
        v["quorate"] == true
            && refs.iter().all(|m| online(v, m))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", &beta_home)
    });
    names
}

fn owned_by(v: &serde_json::Value, svc: &str, node: &str) -> bool {
    service(v, svc).is_some_and(|s| s["owner"] == node)
}

fn offline(v: &serde_json::Value, node: &str) -> bool {
    !online(v, node)
}

#[test]
fn a_killed_node_is_fenced_before_its_service_moves_and_gets_it_back() {
    let (mut c, bmcs) = configured(3, Fencing::Bmc(PASSWORD), 0, 1);
    up(&mut c, 3);
    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "alpha taken over by node2", |v| {
        offline(v, "node1") && started_on(v, "service:alpha", "node2")
    });
    // Fenced first: node1's BMC powered it off, which closed its marker.
    assert!(
        power_log(&bmcs, "node1")
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("power 0 (was 1)")),
        "{}",
        c.dump()
    );
    let markers = c.markers("alpha");
    assert!(
        markers.contains("off node1\nstart node2"),
        "{markers}\n{}",
        c.dump()
    );
    check_markers(&c, "alpha", "node2");
    // node2 coordinates now: it fenced node1 in fenced's words, then took over.
    let log = c.log_of("node2");
    for line in [
        "fencing node node1",
        "fence node1 dev 0.0 agent fence_ipmilan result: success",
        "fence node1 success",
        "Taking over service service:alpha from down member node1",
    ] {
        assert!(log.contains(line), "node2 did not log {line:?}:\n{log}");
    }
    let fenced_at = log.find("fence node1 success").unwrap();
    let taken_at = log.find("Taking over service service:alpha").unwrap();
    assert!(fenced_at < taken_at, "{log}");
    assert!(!log.contains(PASSWORD), "the BMC password is in the log");

    // The power is back (the fence was a reboot): node1 boots and gets alpha back.
    boot_after_fence(&mut c, &bmcs, "node1");
    c.wait_for(&["node1", "node2", "node3"], "alpha back on node1", |v| {
        online(v, "node1") && started_on(v, "service:alpha", "node1")
    });
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node3");
}

/// Issue 21: four nodes (quorum 3), node3 stopped cleanly, then node2 hangs (SIGSTOP) while
/// node3 starts again. node3 joins from the members it hears instead of waiting for every
/// configured node (it used to wait 20 s for the hung one), so node1, node3 and node4 keep the
/// quorum: node2 is fenced, and alpha, on node1, never stops.
#[test]
fn a_booting_node_does_not_wait_for_a_hung_one() {
    let (mut c, bmcs) = configured(4, Fencing::Bmc(PASSWORD), 0, 1);
    up(&mut c, 4);
    c.terminate("node3");
    c.wait_for(
        &["node1", "node2", "node4"],
        "node3 gone, beta on node2",
        |v| offline(v, "node3") && started_on(v, "service:beta", "node2"),
    );
    c.signal("node2", libc::SIGSTOP);
    c.start("node3");
    c.wait_for(
        &["node1", "node3", "node4"],
        "node3 a member, node2 fenced",
        |v| {
            v["quorate"] == true
                && online(v, "node3")
                && offline(v, "node2")
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node3")
        },
    );
    assert!(
        power_log(&bmcs, "node2").contains("power 0"),
        "node2 was not fenced:\n{}",
        c.dump()
    );
    // Quorum held all along: alpha was never stopped.
    assert_eq!(c.markers("alpha"), "start node1\n", "{}", c.dump());
    let log1 = c.log_of("node1");
    assert!(!log1.contains("Quorum lost"), "{log1}");
    let log3 = c.log_of("node3");
    assert!(!log3.contains("no complete answer"), "{log3}");
    check_markers(&c, "beta", "node3");
}

#[test]
fn a_refusing_fence_device_blocks_the_takeover_until_the_password_is_fixed() {
    let (mut c, bmcs) = configured(3, Fencing::Bmc("n0tThePassw0rd"), 0, 1);
    up(&mut c, 3);
    let before = c.markers("alpha");
    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "node1 gone", |v| offline(v, "node1"));
    wait_log(
        &mut c,
        "node2",
        "fence node1 dev 0.0 agent fence_ipmilan result: error from agent",
    );
    // No takeover for as long as we wait: clustat shows the old owner.
    c.holds_for(
        &["node2", "node3"],
        "alpha stays with the lost node1",
        Duration::from_secs(15),
        |v| {
            offline(v, "node1")
                && owned_by(v, "service:alpha", "node1")
                && service(v, "service:alpha").is_some_and(|s| s["state"] == "started")
        },
    );
    assert!(powered(&bmcs, "node1"), "node1 was not powered off");
    assert_eq!(c.markers("alpha"), before, "alpha did not move");
    // A new configuration with the right password: the next round fences, alpha moves.
    write_conf(&c, &bmcs, 1, Fencing::Bmc(PASSWORD), 0, 2);
    c.wait_for(&["node2", "node3"], "alpha taken over after the fix", |v| {
        started_on(v, "service:alpha", "node2")
    });
    check_markers(&c, "alpha", "node2");
    let log = c.log_of("node2");
    assert!(
        log.contains("fencing with configuration version 2"),
        "{log}"
    );
    assert!(log.contains("fence node1 success"), "{log}");
    assert!(
        !log.contains("n0tThePassw0rd") && !log.contains(PASSWORD),
        "{log}"
    );
}

#[test]
fn fence_methods_are_tried_in_order() {
    let (mut c, _bmcs) = configured(3, Fencing::DeadThenBmc, 0, 1);
    up(&mut c, 3);
    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "alpha taken over by node2", |v| {
        offline(v, "node1") && started_on(v, "service:alpha", "node2")
    });
    let log = c.log_of("node2");
    let dead = log
        .find("fence node1 dev 0.0 agent fence_ipmilan result: error from agent")
        .unwrap_or_else(|| panic!("no failure of method 1:\n{log}"));
    let good = log
        .find("fence node1 dev 1.0 agent fence_ipmilan result: success")
        .unwrap_or_else(|| panic!("no success of method 2:\n{log}"));
    assert!(dead < good, "{log}");
    check_markers(&c, "alpha", "node2");
    check_markers(&c, "beta", "node3");
}

/// What an administrator makes sure of before `fence_ack_manual`: the node is off, so nothing
/// of it runs (its markers are closed as a power-off closes them).
fn powered_off_by_hand(c: &Cluster, node: &str) {
    for svc in ["alpha", "beta"] {
        let running = c.path(&format!("{svc}.running"));
        if std::fs::read_to_string(&running).is_ok_and(|r| r.trim() == node) {
            std::fs::remove_file(&running).unwrap();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(c.path(&format!("{svc}.log")))
                .unwrap();
            writeln!(f, "off {node}").unwrap();
        }
    }
}

#[test]
fn fence_ack_manual_stands_in_for_a_missing_fence_device() {
    let (mut c, _bmcs) = configured(3, Fencing::None, 0, 1);
    up(&mut c, 3);
    // A member is never acknowledged.
    let (code, out) = fence_ack_manual(&mut c, "node3", "node2", "absolutely\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("node2 is a cluster member"), "{out}");

    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "node1 gone", |v| offline(v, "node1"));
    wait_log(
        &mut c,
        "node2",
        "fence node1 dev 0.0 agent none result: error no method",
    );
    c.holds_for(
        &["node2", "node3"],
        "alpha stays with node1 while nothing can fence it",
        Duration::from_secs(5),
        |v| owned_by(v, "service:alpha", "node1"),
    );
    // Without "absolutely" nothing happens.
    let (code, out) = fence_ack_manual(&mut c, "node3", "node1", "yes\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Aborted."), "{out}");
    assert!(out.contains("Improper use of this command"), "{out}");
    c.holds_for(
        &["node2", "node3"],
        "alpha still with node1",
        Duration::from_secs(2),
        |v| owned_by(v, "service:alpha", "node1"),
    );
    // The administrator powered node1 off, and says so on node3 (not the coordinator).
    powered_off_by_hand(&c, "node1");
    let (code, out) = fence_ack_manual(&mut c, "node3", "node1", "absolutely\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("Done\n"), "{out}");
    c.wait_for(&["node2", "node3"], "alpha taken over by node2", |v| {
        started_on(v, "service:alpha", "node2")
    });
    assert!(c
        .log_of("node3")
        .contains("fence node1 overridden by administrator intervention"));
    check_markers(&c, "alpha", "node2");
}

/// `nft`, also when /usr/sbin is not on the PATH.
fn nft() -> &'static str {
    if Path::new("/usr/sbin/nft").exists() {
        "/usr/sbin/nft"
    } else {
        "nft"
    }
}

/// nftables rules dropping every datagram to or from some loopback UDP ports (a node's
/// membership and daemon ports): the node is cut off the others, its BMC is not. The table
/// is removed on drop.
struct Partition {
    table: String,
    healed: bool,
}

impl Partition {
    fn cut(ports: &[u16]) -> Partition {
        let table = format!("rgm_failover_{}_{}", std::process::id(), ports[0]);
        let set = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let script = format!(
            "table inet {table} {{\n\
               chain input {{\n\
                 type filter hook input priority 0; policy accept;\n\
                 iifname \"lo\" udp dport {{ {set} }} drop\n\
                 iifname \"lo\" udp sport {{ {set} }} drop\n\
               }}\n\
             }}\n"
        );
        let mut child = Command::new(nft())
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft (Debian package nftables) must be installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft refused:\n{script}");
        Partition {
            table,
            healed: false,
        }
    }

    fn heal(&mut self) {
        if std::mem::replace(&mut self.healed, true) {
            return;
        }
        let ok = Command::new(nft())
            .args(["delete", "table", "inet", &self.table])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok || std::thread::panicking(),
            "nft could not remove its rules"
        );
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.heal();
    }
}

#[test]
fn a_partitioned_minority_stops_its_service_and_is_fenced_by_the_majority() {
    // A post_fail_delay gives the minority the time to stop its service before the majority
    // powers it off (the takeover is safe either way: fencing comes first).
    // 10 s: the two sides see the split at about the same time, but a loaded machine may
    // delay the minority's stop by seconds.
    let (mut c, bmcs) = configured(3, Fencing::Bmc(PASSWORD), 10, 1);
    up(&mut c, 3);
    let p3 = c.ports[2];
    // beta may have started on node2 before node3 joined, then failed back: what counts is
    // what happens after the cut.
    let before = c.markers("beta");
    assert!(before.ends_with("start node3\n"), "{before}");
    let mut cut = Partition::cut(&[p3, p3 + 1]);
    // The minority: no quorum, so beta stops (in reverse tree order) and nothing is fenced.
    wait_log(&mut c, "node3", "Quorum lost");
    wait_log(&mut c, "node3", "Service service:beta is stopped");
    // The majority fences node3 and takes beta over.
    c.wait_for(&["node1", "node2"], "beta taken over by node2", |v| {
        v["quorate"] == true && offline(v, "node3") && started_on(v, "service:beta", "node2")
    });
    let log3 = c.log_of("node3");
    assert!(
        log3.contains("Stopping service service:beta"),
        "node3 did not stop beta:\n{}",
        c.dump()
    );
    assert!(
        !log3.contains("fencing node"),
        "the minority fenced:\n{log3}"
    );
    let markers = c.markers("beta");
    assert!(
        markers[before.len()..].starts_with("stop node3\nstart node2\n"),
        "{markers}"
    );
    assert!(power_log(&bmcs, "node3").contains("power 0"));
    let log1 = c.log_of("node1");
    assert!(log1.contains("fence node3 success"), "{log1}");
    check_markers(&c, "beta", "node2");
    check_markers(&c, "alpha", "node1");

    // Heal the network, boot node3: it rejoins and gets beta back.
    cut.heal();
    boot_after_fence(&mut c, &bmcs, "node3");
    c.wait_for(&["node1", "node2", "node3"], "converged", |v| {
        v["quorate"] == true
            && ["node1", "node2", "node3"].iter().all(|m| online(v, m))
            && started_on(v, "service:beta", "node3")
            && started_on(v, "service:alpha", "node1")
    });
    check_markers(&c, "beta", "node3");
    check_markers(&c, "alpha", "node1");
    assert_eq!(never_double(&c, "alpha").as_deref(), Some("node1"));
}

#[test]
fn two_nodes_cut_apart_both_fence_and_the_delay_chooses_the_survivor() {
    // two_node: each side is quorate alone, so both fence. The device that fences node1 waits
    // 10 s (`delay`), the one that fences node2 3 s (time for both sides to see the split and
    // start fencing, even on a loaded machine): node1's fence of node2 lands first, and node2,
    // powered off, fences nobody.
    let (mut c, bmcs) = configured(2, Fencing::Bmc(PASSWORD), 0, 1);
    let text = std::fs::read_to_string(c.path("cluster.conf")).unwrap();
    let text = text
        .replace(
            r#"<cman expected_votes="2"/>"#,
            r#"<cman two_node="1" expected_votes="1"/>"#,
        )
        .replace(
            r#"<device name="bmc-node1"/>"#,
            r#"<device name="bmc-node1" delay="10"/>"#,
        )
        .replace(
            r#"<device name="bmc-node2"/>"#,
            r#"<device name="bmc-node2" delay="3"/>"#,
        );
    c.write_conf(&text);
    up(&mut c, 2);
    let p2 = c.ports[1];
    let mut cut = Partition::cut(&[p2, p2 + 1]);
    c.wait_for(&["node1"], "beta taken over by node1", |v| {
        v["quorate"] == true && offline(v, "node2") && started_on(v, "service:beta", "node1")
    });
    assert!(power_log(&bmcs, "node2")
        .lines()
        .next()
        .is_some_and(|l| l.ends_with("power 0 (was 1)")));
    assert_eq!(power_log(&bmcs, "node1"), "", "node1 was never powered off");
    let log2 = c.log_of("node2");
    // Both tried; node2 was still waiting out the delay when it was powered off.
    assert!(log2.contains("fencing node node1"), "{}", c.dump());
    assert!(
        !log2.contains("fence node1 success"),
        "the loser fenced:\n{log2}"
    );
    assert!(c.log_of("node1").contains("fence node2 success"));
    check_markers(&c, "alpha", "node1");
    check_markers(&c, "beta", "node1");

    cut.heal();
    boot_after_fence(&mut c, &bmcs, "node2");
    c.wait_for(&["node1", "node2"], "beta back on node2", |v| {
        online(v, "node2") && started_on(v, "service:beta", "node2")
    });
    check_markers(&c, "beta", "node2");
    check_markers(&c, "alpha", "node1");
}

#[test]
fn a_coordinator_that_joined_after_a_failure_fences_before_taking_over() {
    // Four nodes, quorum 2 (expected_votes 3). node1 is down at first; node3 (beta's home)
    // fails while its fence device refuses. node1 then joins and coordinates: it never saw
    // node3 fail, yet must neither start beta elsewhere nor forget to fence node3.
    let (mut c, bmcs) = configured_victim(4, 3, Fencing::Bmc("n0tThePassw0rd"), 0, 1);
    let text = std::fs::read_to_string(c.path("cluster.conf"))
        .unwrap()
        .replace(
            r#"<cman expected_votes="4"/>"#,
            r#"<cman expected_votes="3"/>"#,
        );
    c.write_conf(&text);
    for n in ["node2", "node3", "node4"] {
        c.start(n);
    }
    c.wait_for(
        &["node2", "node3", "node4"],
        "alpha on node2, beta on node3",
        |v| {
            v["quorate"] == true
                && started_on(v, "service:alpha", "node2")
                && started_on(v, "service:beta", "node3")
        },
    );
    c.kill9("node3");
    c.wait_for(&["node2", "node4"], "node3 gone", |v| offline(v, "node3"));
    wait_log(
        &mut c,
        "node2",
        "fence node3 dev 0.0 agent fence_ipmilan result: error from agent",
    );
    c.start("node1");
    c.wait_for(&["node1", "node2", "node4"], "node1 in, alpha home", |v| {
        online(v, "node1") && started_on(v, "service:alpha", "node1")
    });
    wait_log(&mut c, "node1", "Node node1 is the coordinator");
    wait_log(
        &mut c,
        "node1",
        "fence node3 dev 0.0 agent fence_ipmilan result: error from agent",
    );
    c.holds_for(
        &["node1", "node2", "node4"],
        "beta stays with the lost node3",
        Duration::from_secs(8),
        |v| offline(v, "node3") && owned_by(v, "service:beta", "node3"),
    );
    assert_eq!(never_double(&c, "beta").as_deref(), Some("node3"));
    write_conf(&c, &bmcs, 3, Fencing::Bmc(PASSWORD), 0, 2);
    let text = std::fs::read_to_string(c.path("cluster.conf"))
        .unwrap()
        .replace(
            r#"<cman expected_votes="4"/>"#,
            r#"<cman expected_votes="3"/>"#,
        );
    let tmp = c.path("cluster.conf.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, c.path("cluster.conf")).unwrap();
    c.wait_for(
        &["node1", "node2", "node4"],
        "beta taken over by node2",
        |v| started_on(v, "service:beta", "node2"),
    );
    assert!(c.log_of("node1").contains("fence node3 success"));
    check_markers(&c, "beta", "node2");
    check_markers(&c, "alpha", "node1");
}

/// Adds `attrs` to the `<fence_daemon>` of the cluster's cluster.conf.
fn fence_daemon_attrs(c: &Cluster, attrs: &str) {
    let text = std::fs::read_to_string(c.path("cluster.conf"))
        .unwrap()
        .replace("<fence_daemon ", &format!("<fence_daemon {attrs} "));
    c.write_conf(&text);
}

/// No service of `v` is started.
fn nothing_started(v: &serde_json::Value) -> bool {
    v["services"]
        .as_array()
        .is_some_and(|s| s.iter().all(|r| r["state"] != "started"))
}

/// The timestamp of the first line of `log` containing `text` (RFC 3339, comparable as text).
fn first_at<'a>(log: &'a str, text: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(text))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {text:?} in:\n{log}"))
}

#[test]
fn a_cluster_forming_without_a_node_fences_it_before_starting_anything() {
    // node1 (alpha's home) is not started: node2 and node3 are quorate (2 of 3 votes), but
    // node1 may be up behind a broken network with alpha still running. Nothing starts until
    // node1 has been given post_join_delay to join and is then fenced (startup fencing).
    let (mut c, bmcs) = configured(3, Fencing::Bmc(PASSWORD), 0, 1);
    fence_daemon_attrs(&c, "post_join_delay=\"3\"");
    c.start("node2");
    c.start("node3");
    wait_log(
        &mut c,
        "node2",
        "Waiting post_join_delay 3 s for node1 to join; then they are fenced",
    );
    c.holds_for(
        &["node2", "node3"],
        "nothing starts while node1 is neither a member nor fenced",
        Duration::from_secs(2),
        |v| v["quorate"] == true && nothing_started(v),
    );
    wait_log(
        &mut c,
        "node2",
        "Startup fencing: node1 did not join within post_join_delay; fencing it",
    );
    wait_log(&mut c, "node2", "fence node1 success");
    assert!(
        power_log(&bmcs, "node1").contains("power 0"),
        "node1 powered off"
    );
    c.wait_for(&["node2", "node3"], "alpha on node2, beta on node3", |v| {
        started_on(v, "service:alpha", "node2") && started_on(v, "service:beta", "node3")
    });
    // Fenced before anything started, on either node.
    let fenced = first_at(&c.log_of("node2"), "fence node1 success").to_string();
    for n in ["node2", "node3"] {
        let log = c.log_of(n);
        let started = first_at(&log, "Starting service:");
        assert!(
            fenced.as_str() < started,
            "{n} started at {started}, before {fenced}"
        );
    }
    assert_eq!(never_double(&c, "alpha").as_deref(), Some("node2"));
}

#[test]
fn a_node_that_joins_within_post_join_delay_is_not_fenced_and_clean_start_skips_it() {
    // Joining in time: node1 starts 1 s after the others, within post_join_delay (10 s).
    let (mut c, bmcs) = configured(3, Fencing::Bmc(PASSWORD), 0, 1);
    fence_daemon_attrs(&c, "post_join_delay=\"10\"");
    c.start("node2");
    c.start("node3");
    wait_log(
        &mut c,
        "node2",
        "Waiting post_join_delay 10 s for node1 to join",
    );
    c.start("node1");
    up_again(&mut c);
    assert_eq!(
        power_log(&bmcs, "node1"),
        "",
        "node1 joined: nobody fenced it"
    );

    // clean_start: the administrator vouches that absent nodes are down; no waiting.
    let (mut c, bmcs) = configured(3, Fencing::Bmc(PASSWORD), 0, 1);
    fence_daemon_attrs(&c, "clean_start=\"1\"");
    c.start("node2");
    c.start("node3");
    c.wait_for(&["node2", "node3"], "alpha on node2 at once", |v| {
        started_on(v, "service:alpha", "node2") && started_on(v, "service:beta", "node3")
    });
    wait_log(&mut c, "node2", "clean_start: not fencing node1");
    assert_eq!(
        power_log(&bmcs, "node1"),
        "",
        "clean_start: nobody fenced node1"
    );
}

/// Waits until alpha runs on node1 and beta on node3 with all three members online.
fn up_again(c: &mut Cluster) {
    c.wait_for(
        &["node1", "node2", "node3"],
        "every member up, services home",
        |v| {
            v["quorate"] == true
                && ["node1", "node2", "node3"].iter().all(|m| online(v, m))
                && started_on(v, "service:alpha", "node1")
                && started_on(v, "service:beta", "node3")
        },
    );
}
