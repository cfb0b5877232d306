//! The host harness itself (`cluster_tests::hosts`, `cluster_tests::bmc`): namespace hosts on a
//! bridge reach each other; a cable pull cuts a host off while its processes live on; a BMC
//! (real ipmi_sim, driven by the real ipmitool from another host) powers its host off — every
//! process gone, the link down — and on again — the boot script runs. Needs root (CI is root).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use cluster_tests::bmc::{Bmc, BmcSpec};
use cluster_tests::hosts::{boot_script, Hosts};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the host harness needs root (CI runs tests as root)"
    );
}

/// One HTTP GET from inside `client`: the body, or `None` if nothing answered within 500 ms.
fn get(h: &Hosts, client: &str, addr: Ipv4Addr) -> Option<String> {
    h.inside(client, || {
        let to = Duration::from_millis(500);
        let mut s = TcpStream::connect_timeout(&SocketAddrV4::new(addr, 80).into(), to).ok()?;
        s.set_read_timeout(Some(to)).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.trim().to_string())
    })
    .unwrap()
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hosts_talk_cables_pull_and_bmcs_power_off_and_on() {
    require_root();
    let h = Hosts::new(&["node1", "node2", "client"]).unwrap();
    let httpd = env!("CARGO_BIN_EXE_name_httpd");
    let n1 = h.host("node1").unwrap().clone();
    let n2 = h.host("node2").unwrap().clone();
    assert_eq!(n1.addr, Ipv4Addr::new(10, 213, 7, 1));
    assert_eq!(h.addrs("node1").unwrap(), vec!["10.213.7.1/24".to_string()]);

    // node1 serves through its boot script, node2 through a process the test starts.
    h.set_boot("node1", &format!("exec '{httpd}' web1"))
        .unwrap();
    h.boot("node1").unwrap();
    let mut c = h.command("node2", httpd).unwrap();
    c.arg("web2");
    let web2 = h.spawn(c).unwrap();
    eventually("both web servers", || {
        get(&h, "client", n1.addr).as_deref() == Some("web1")
            && get(&h, "client", n2.addr).as_deref() == Some("web2")
    });
    assert!(h.pids("node2").unwrap().contains(&(web2 as i32)));

    // The cable: node2 unreachable, its server alive; plugged back, it answers again.
    h.cable("node2", false).unwrap();
    assert_eq!(get(&h, "client", n2.addr), None);
    assert!(h.pids("node2").unwrap().contains(&(web2 as i32)));
    h.cable("node2", true).unwrap();
    h.wait_carrier("node2", true).unwrap();
    eventually("node2 back", || {
        get(&h, "client", n2.addr).as_deref() == Some("web2")
    });

    // node1's BMC, in the switch, powered off by ipmitool running on node2.
    let bmc = Bmc::start(&BmcSpec {
        addr: n1.bmc_addr,
        port: 623,
        password: "s3cret".into(),
        netns: Some(h.switch.clone()),
        on_power_off: h.power_off_script("node1").unwrap(),
        on_power_on: boot_script(&n1),
        powered: true,
    })
    .unwrap();
    let ipmitool = |action: &str| {
        let out = h
            .command("node2", "ipmitool")
            .unwrap()
            .args(["-I", "lanplus", "-C", "3", "-H"])
            .arg(n1.bmc_addr.to_string())
            .args(["-U", "admin", "-E", "chassis", "power", action])
            .env("IPMI_PASSWORD", "s3cret")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ipmitool {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(ipmitool("status").contains("on"));
    ipmitool("off");
    assert!(!bmc.powered());
    assert!(
        h.pids("node1").unwrap().is_empty(),
        "every process of node1 is gone"
    );
    h.wait_carrier("node1", false).unwrap();
    assert!(
        h.addrs("node1").unwrap().is_empty(),
        "addresses are lost with the power"
    );
    assert_eq!(get(&h, "client", n1.addr), None);
    assert!(ipmitool("status").contains("off"));
    assert!(bmc.events().contains("power 0 (was 1)"), "{}", bmc.events());

    // Power on: node1 boots and serves again.
    ipmitool("on");
    assert!(bmc.powered());
    eventually("node1 booted", || {
        get(&h, "client", n1.addr).as_deref() == Some("web1")
    });
    assert_eq!(h.addrs("node1").unwrap(), vec!["10.213.7.1/24".to_string()]);

    // Everything goes with the harness.
    let names: Vec<String> = h.hosts.iter().map(|x| x.ns.clone()).collect();
    let switch = h.switch.clone();
    drop(bmc);
    drop(h);
    let list = String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for n in names.iter().chain([&switch]) {
        assert!(
            !list.lines().any(|l| l.split_whitespace().next() == Some(n)),
            "{n} left: {list}"
        );
    }
}
