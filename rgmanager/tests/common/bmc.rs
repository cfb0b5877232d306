//! Real fencing for the daemon tests: each node an OpenIPMI `ipmi_sim` BMC on loopback
//! (`cluster_tests::bmc`), fenced by our `fence_ipmilan` (lanplus, cipher 3). A BMC's
//! power-off really powers its node off: its chassis hook kills that node's daemon and closes
//! the node's service markers (an `off NODE` line, which [`super::never_double`] reads); its
//! power-on lets the test boot the node again (start its daemon).

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use cluster_tests::bmc::{Bmc, BmcSpec};

use super::{Cluster, PATIENCE};

/// The BMC user's password.
pub const PASSWORD: &str = "Bmc-s3cret";

/// What a node's BMC does when it powers the node off (`cluster_tests::bmc` runs it on the
/// power change): kill the node's daemon (its pid file, checked against its command line) and
/// close the markers of the services it held.
const POWER_OFF: &str = r#"dir='@DIR@'
node='@NODE@'
pid=$(cat "$dir/$node.state/rgmanager.pid" 2>/dev/null)
if [ -n "$pid" ] && tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qx "$node"; then
    kill -9 "$pid"
fi
for r in "$dir"/*.running; do
    [ -e "$r" ] || continue
    if [ "$(cat "$r")" = "$node" ]; then
        svc=$(basename "$r" .running)
        rm -f "$r"
        echo "off $node" >> "$dir/$svc.log"
    fi
done
"#;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free UDP port that is none of `avoid` nor the port after one of them.
pub fn free_port_avoiding(avoid: &[u16]) -> u16 {
    loop {
        let p = free_udp_port();
        if !avoid.iter().any(|a| p == *a || p == a.wrapping_add(1)) {
            return p;
        }
    }
}

/// The BMC of `node`, on a port that is none of the cluster's (`avoid`: the nodes' membership
/// ports, each followed by its message port); its power-off runs [`POWER_OFF`] for the node's
/// files in `dir`.
pub fn start_bmc(dir: &Path, node: &str, avoid: &[u16]) -> Bmc {
    let spec = BmcSpec {
        port: free_port_avoiding(avoid),
        on_power_off: POWER_OFF
            .replace("@DIR@", &dir.display().to_string())
            .replace("@NODE@", node),
        ..BmcSpec::loopback(PASSWORD)
    };
    Bmc::start(&spec).unwrap_or_else(|e| panic!("the BMC of {node}: {e}"))
}

/// A BMC for each of the cluster's nodes, node1 first.
pub fn start_bmcs(c: &Cluster) -> Vec<Bmc> {
    (1..=c.ports.len())
        .map(|i| start_bmc(c.dir.path(), &format!("node{i}"), &c.ports))
        .collect()
}

/// The `<method>` that fences node `i` through its BMC (device `bmc-nodeI`).
pub fn method_xml(i: usize) -> String {
    format!(
        "        <method name=\"ipmi\">\n          <device name=\"bmc-node{i}\"/>\n        </method>\n"
    )
}

/// The `<fencedevice>` of node `i`'s BMC, with the password `pw`.
pub fn device_xml(i: usize, bmc: &Bmc, pw: &str) -> String {
    format!(
        "    <fencedevice name=\"bmc-node{i}\" agent=\"fence_ipmilan\" ipaddr=\"127.0.0.1\" \
         ipport=\"{}\" login=\"admin\" passwd=\"{pw}\" lanplus=\"1\" cipher=\"3\" \
         power_wait=\"0\"/>\n",
        bmc.port
    )
}

/// Every node fenced through its own BMC: the `<clusternodes>` body and the
/// `<fencedevices>` body.
pub fn fenced_nodes_xml(c: &Cluster, bmcs: &[Bmc]) -> (String, String) {
    let nodes = c.nodes_xml(|i| format!("      <fence>\n{}      </fence>\n", method_xml(i)));
    let devices = bmcs
        .iter()
        .enumerate()
        .map(|(i, b)| device_xml(i + 1, b, PASSWORD))
        .collect();
    (nodes, devices)
}

pub fn bmc_of<'a>(bmcs: &'a [Bmc], node: &str) -> &'a Bmc {
    let i: usize = node.trim_start_matches("node").parse().unwrap();
    &bmcs[i - 1]
}

/// Whether `node`'s BMC says it is powered.
pub fn powered(bmcs: &[Bmc], node: &str) -> bool {
    bmc_of(bmcs, node).powered()
}

/// `node`'s BMC's power changes, one line each (`TIME power 0 (was 1)`).
pub fn power_log(bmcs: &[Bmc], node: &str) -> String {
    bmc_of(bmcs, node).events()
}

/// Waits until `node` was powered off by its BMC and is on again (a reboot: the fence).
pub fn wait_power_cycled(c: &Cluster, bmcs: &[Bmc], node: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = power_log(bmcs, node);
        if log.contains("power 0") && powered(bmcs, node) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node} was not power cycled: {log:?}\n{}",
            c.dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until `node` was power cycled, then boots it: starts its daemon again with the
/// shared cluster.conf.
pub fn boot_after_fence(c: &mut Cluster, bmcs: &[Bmc], node: &str) {
    wait_power_cycled(c, bmcs, node);
    c.start(node);
}
