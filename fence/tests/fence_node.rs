//! `fence_node` end to end: cluster.conf files written by the tests, real devices — OpenIPMI's
//! `ipmi_sim` fenced by our native fence_ipmilan (in-process), Debian's Python `fence_wti`
//! (external) and our `fence_apc` pointed at a closed port as devices that are down, and small
//! script agents put on `PATH` that record what they were asked.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::ipmi_sim::{Bmc, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_fence_node");

fn closed_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A cluster.conf with node1 (fence section `fence`) and node2 (none), devices `devices`.
fn write_conf(dir: &Path, fence: &str, devices: &str) -> PathBuf {
    let p = dir.join("cluster.conf");
    std::fs::write(
        &p,
        format!(
            r#"<?xml version="1.0"?>
<cluster name="test" config_version="1">
  <clusternodes>
    <clusternode name="node1" nodeid="1">
      <fence>
{fence}
      </fence>
    </clusternode>
    <clusternode name="node2" nodeid="2"/>
  </clusternodes>
  <fencedevices>
{devices}
  </fencedevices>
</cluster>
"#
        ),
    )
    .unwrap();
    p
}

fn ipmi_device(name: &str, bmc: &Bmc, passwd: &str) -> String {
    format!(
        r#"    <fencedevice name="{name}" agent="fence_ipmilan" ipaddr="127.0.0.1" ipport="{}" login="admin" passwd="{passwd}" lanplus="1" cipher="3" power_wait="0"/>"#,
        bmc.port
    )
}

/// Runs fence_node with `dir` first on PATH (for script agents).
fn fence_node(dir: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(BIN)
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn methods_down_fall_through_to_the_one_that_fences() {
    let bmc = Bmc::start();
    let dir = tempfile::tempdir().unwrap();
    let down = closed_tcp_port();
    // Method 0: Debian's Python fence_wti (run as a program); method 1: our fence_apc
    // (in-process); both devices down. Method 2: our fence_ipmilan against ipmi_sim.
    let conf = write_conf(
        dir.path(),
        r#"        <method name="wti">
          <device name="wti1" port="1" action="off"/>
        </method>
        <method name="apc">
          <device name="apc1" port="1" action="off"/>
        </method>
        <method name="ipmi">
          <device name="bmc1" action="off"/>
        </method>"#,
        &format!(
            r#"    <fencedevice name="wti1" agent="fence_wti" ipaddr="127.0.0.1" ipport="{down}" login="wti" passwd="wtipw" login_timeout="1"/>
    <fencedevice name="apc1" agent="fence_apc" ipaddr="127.0.0.1" ipport="{down}" login="apc" passwd="apcpw" login_timeout="1"/>
{}"#,
            ipmi_device("bmc1", &bmc, PASSWORD)
        ),
    );
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err,
        format!(
            "fence node1 dev 0.0 agent fence_wti result: error from agent\n\
             agent \"fence_wti\" reports: device \"wti1\": fence_wti: exit 1: Unable to connect/login to fencing device\n\
             fence node1 dev 1.0 agent fence_apc result: error from agent\n\
             agent \"fence_apc\" reports: device \"apc1\": fence_apc: 127.0.0.1:{down}: Unable to connect/login to fencing device: cannot connect: Connection refused (os error 111)\n\
             fence node1 dev 2.0 agent fence_ipmilan result: success\n\
             fence node1 success\n"
        )
    );
    assert_eq!(bmc.power_file(), "0", "node1 is off");
    assert!(!err.contains("apcpw") && !err.contains("wtipw") && !err.contains(PASSWORD));
}

#[test]
fn ssh_apc_devices_run_the_native_agent() {
    // secure="1" (SSH) is native too: the report is our fence_apc's own, at the SSH port given.
    let dir = tempfile::tempdir().unwrap();
    let down = closed_tcp_port();
    let conf = write_conf(
        dir.path(),
        r#"        <method name="apc">
          <device name="apc1" port="1" action="off"/>
        </method>"#,
        &format!(
            r#"    <fencedevice name="apc1" agent="fence_apc" ipaddr="127.0.0.1" ipport="{down}" login="apc" passwd="apcpw" secure="1" login_timeout="1"/>"#
        ),
    );
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "fence node1 dev 0.0 agent fence_apc result: error from agent\n\
             agent \"fence_apc\" reports: device \"apc1\": fence_apc: 127.0.0.1:{down}: Unable to connect/login to fencing device: cannot connect: Connection refused"
        )),
        "{err}"
    );
    assert!(!err.contains("apcpw"));
}

#[test]
fn dual_supply_method_runs_off_off_then_on_on() {
    let psu1 = Bmc::start();
    let psu2 = Bmc::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("probe.log");
    // Between the offs and the ons, a probe agent records both supplies' state.
    script(
        dir.path(),
        "fence_probe",
        &format!(
            "cat > /dev/null\necho \"$(cat '{}')$(cat '{}')\" >> '{}'\n",
            psu1.dir.path().join("power").display(),
            psu2.dir.path().join("power").display(),
            log.display()
        ),
    );
    let conf = write_conf(
        dir.path(),
        r#"        <method name="power">
          <device name="psu1" action="off"/>
          <device name="psu2" action="off"/>
          <device name="probe"/>
          <device name="psu1" action="on"/>
          <device name="psu2" action="on"/>
        </method>"#,
        &format!(
            "{}\n{}\n    <fencedevice name=\"probe\" agent=\"fence_probe\"/>",
            ipmi_device("psu1", &psu1, PASSWORD),
            ipmi_device("psu2", &psu2, PASSWORD)
        ),
    );
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err,
        "fence node1 dev 0.0 agent fence_ipmilan result: success\n\
         fence node1 dev 0.1 agent fence_ipmilan result: success\n\
         fence node1 dev 0.2 agent fence_probe result: success\n\
         fence node1 dev 0.3 agent fence_ipmilan result: success\n\
         fence node1 dev 0.4 agent fence_ipmilan result: success\n\
         fence node1 success\n"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "00\n");
    assert_eq!(
        (psu1.power_file(), psu2.power_file()),
        ("1".into(), "1".into())
    );
}

#[test]
fn node_without_method_is_undefined() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "",
        r#"    <fencedevice name="x" agent="fence_x"/>"#,
    );
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "fence node2 dev 0.0 agent none result: error no method\nfence node2 undefined\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn wrong_password_fails_naming_the_device_without_the_secret() {
    let bmc = Bmc::start();
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        r#"        <method name="ipmi">
          <device name="bmc-node1" action="off"/>
        </method>"#,
        &ipmi_device("bmc-node1", &bmc, "n0tThePassw0rd"),
    );
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        "fence node1 dev 0.0 agent fence_ipmilan result: error from agent"
    );
    assert!(
        lines[1].starts_with(&format!(
            "agent \"fence_ipmilan\" reports: device \"bmc-node1\": fence_ipmilan: 127.0.0.1:{}: ",
            bmc.port
        )),
        "{err}"
    );
    assert_eq!(lines[2], "fence node1 failed");
    assert!(!err.contains("n0tThePassw0rd"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("n0tThePassw0rd"));
    assert_eq!(bmc.power_file(), "1");
}

#[test]
fn rounds_retry_every_method_and_stdin_carries_the_merged_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    // Fails, recording its stdin; the password is echoed on stderr to prove it is scrubbed.
    script(
        dir.path(),
        "fence_flaky",
        &format!(
            "tee -a '{}' | sed -n 's/^passwd=/Failed: refused &/p' >&2\necho --- >> '{}'\nexit 1\n",
            log.display(),
            log.display()
        ),
    );
    let conf = write_conf(
        dir.path(),
        r#"        <method name="1">
          <device name="flaky" port="5" option="off"/>
        </method>
        <method name="empty"/>"#,
        r#"    <fencedevice name="flaky" agent="fence_flaky" ipaddr="10.9.9.9" port="1" passwd="t0ps3cret"/>"#,
    );
    let out = fence_node(
        dir.path(),
        &[
            "-f",
            conf.to_str().unwrap(),
            "--rounds",
            "2",
            "--retry-delay",
            "0",
            "node1",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report = "agent \"fence_flaky\" reports: device \"flaky\": fence_flaky: exit 1: Failed: refused passwd=[set]";
    let round = format!(
        "fence node1 dev 0.0 agent fence_flaky result: error from agent\n{report}\n\
         fence node1 dev 1.0 agent none result: error no device\n"
    );
    assert_eq!(err, format!("{round}{round}fence node1 failed\n"));
    let one = "ipaddr=10.9.9.9\npasswd=t0ps3cret\nport=5\naction=off\nnodename=node1\n---\n";
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{one}{one}")
    );
}

#[test]
fn usage_and_configuration_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = fence_node(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no node name specified"));
    let missing = dir.path().join("nosuch.conf");
    let out = fence_node(dir.path(), &["-f", missing.to_str().unwrap(), "node1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    let conf = write_conf(dir.path(), "", "");
    let out = fence_node(dir.path(), &["-f", conf.to_str().unwrap(), "node7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("node \"node7\" is not a clusternode"),
        "{}",
        stderr(&out)
    );
    let out = fence_node(dir.path(), &["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage:"));
}

#[test]
fn post_fail_delay_is_waited_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "fence_ok", "cat > /dev/null\n");
    let conf_with = |delay: &str| {
        let p = dir.path().join(format!("delay{delay}.conf"));
        std::fs::write(
            &p,
            format!(
                r#"<?xml version="1.0"?>
<cluster name="test" config_version="1">
  <fence_daemon post_fail_delay="{delay}"/>
  <clusternodes>
    <clusternode name="node1" nodeid="1"><fence><method name="1"><device name="ok"/></method></fence></clusternode>
  </clusternodes>
  <fencedevices><fencedevice name="ok" agent="fence_ok"/></fencedevices>
</cluster>
"#
            ),
        )
        .unwrap();
        p
    };
    let two = conf_with("2");
    let started = std::time::Instant::now();
    let out = fence_node(
        dir.path(),
        &["-f", two.to_str().unwrap(), "--post-fail-delay", "node1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    // -1 means "wait for the node for ever": only the daemon can do something with that.
    let forever = conf_with("-1");
    let out = fence_node(
        dir.path(),
        &[
            "-f",
            forever.to_str().unwrap(),
            "--post-fail-delay",
            "node1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("post_fail_delay is -1"));
    // Not asked: fenced at once, whatever the configuration says.
    let out = fence_node(dir.path(), &["-f", forever.to_str().unwrap(), "node1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
