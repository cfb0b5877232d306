//! End to end: our `fence_ipmilan` binary against OpenIPMI's `ipmi_sim` (a real BMC simulator on
//! 127.0.0.1, a free UDP port per test, a temp dir for its state and a chassis helper whose power
//! state really changes), with every state cross-checked by `ipmitool -I lanplus -C 3`.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::ipmi_sim::{free_udp_port, Bmc, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_fence_ipmilan");

fn run(args: &[String], extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn run_stdin(input: &str) -> Output {
    use std::io::Write;
    let mut c = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[track_caller]
fn expect(out: &Output, code: i32, stdout: &str) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        (out.status.code(), text.trim_end()),
        (Some(code), stdout),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn status_off_on_reboot_with_cipher_3() {
    let bmc = Bmc::start();
    let a = bmc.args();
    expect(&run(&a, &["-C", "3", "-o", "status"]), 0, "Status: ON");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");

    // Default power_wait (2 s) on this one, as fence_ipmilan has it.
    expect(
        &run(&a, &["-C", "3", "-o", "off"]),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is off");
    assert_eq!(bmc.power_file(), "0");
    expect(&run(&a, &["-o", "status"]), 2, "Status: OFF");
    expect(&run(&a, &["-o", "off"]), 0, "Success: Already OFF");

    expect(
        &run(&a, &["-o", "on", "--power-wait=0"]),
        0,
        "Success: Powered ON",
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
    expect(&run(&a, &["-o", "on"]), 0, "Success: Already ON");

    expect(
        &run(&a, &["-o", "reboot", "--power-wait=0"]),
        0,
        "Success: Rebooted",
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
    // Default action is reboot; from off it only powers on.
    expect(
        &run(&a, &["-o", "off", "--power-wait=0"]),
        0,
        "Success: Powered OFF",
    );
    expect(&run(&a, &["--power-wait=0"]), 0, "Success: Rebooted");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}

#[test]
fn reboot_with_cycle_method_and_other_suites() {
    let bmc = Bmc::start();
    let a = bmc.args();
    expect(
        &run(&a, &["-o", "reboot", "-m", "cycle"]),
        0,
        "Success: Rebooted",
    );
    // ipmi_sim powers off, then on again about a second later.
    let deadline = Instant::now() + Duration::from_secs(20);
    while bmc.ipmitool_power() != "Chassis Power is on" {
        assert!(Instant::now() < deadline, "cycle never powered back on");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Suites 1 and 2 share the SHA-1 RAKP with 3 (no encryption; no integrity for 1).
    expect(&run(&a, &["-C", "1", "-o", "status"]), 0, "Status: ON");
    expect(&run(&a, &["-C", "2", "-o", "status"]), 0, "Status: ON");
    expect(
        &run(&a, &["-C", "2", "-o", "off", "--power-wait=0"]),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is off");
    // Operator privilege is enough for Chassis Control.
    expect(
        &run(&a, &["-L", "operator", "-o", "on", "--power-wait=0"]),
        0,
        "Success: Powered ON",
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}

#[test]
fn cipher_17_is_refused_by_ipmi_sim_with_a_clear_error() {
    // OpenIPMI 2.0.33's lanserv only has the SHA-1 (and MD5) RAKP algorithms; our suite-17 code is
    // covered by the session unit tests. Here: the refusal must be one clear line.
    let bmc = Bmc::start();
    let out = run(&bmc.args(), &["-C", "17", "-o", "status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        err.trim_end(),
        format!(
            "fence_ipmilan: 127.0.0.1:{}: Unable to connect/login to fencing device: device refused RMCP+ Open Session: invalid authentication algorithm",
            bmc.port
        )
    );
}

#[test]
fn monitor_list_and_validate() {
    let bmc = Bmc::start();
    let a = bmc.args();
    expect(&run(&a, &["-o", "monitor"]), 0, "");
    expect(&run(&a, &["-o", "list"]), 0, "N/A");
    expect(&run(&a, &["-o", "validate-all"]), 0, "");
    // --port-as-ip: the plug is the address (how some cluster.conf entries name the BMC).
    let port = bmc.port.to_string();
    let plug_as_ip = [
        "--port-as-ip",
        "-n",
        "127.0.0.1",
        "-u",
        &port,
        "-l",
        "admin",
        "-p",
        PASSWORD,
        "-o",
        "status",
    ];
    expect(&run(&plug_as_ip.map(String::from), &[]), 0, "Status: ON");
    // ipmi_sim does not implement the diagnostic interrupt: the refusal is reported.
    let out = run(&a, &["-o", "diag"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("fence_ipmilan: 127.0.0.1:{}: Failed: Chassis Control (diag): invalid data field in request", bmc.port)
    );
    // monitor fails when the BMC does not answer.
    let dead = [
        "-a",
        "127.0.0.1",
        "-u",
        &free_udp_port().to_string(),
        "-l",
        "admin",
        "-p",
        "x",
        "--shell-timeout=1",
    ];
    let out = run(&dead.map(String::from), &["-o", "monitor"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn wrong_password_fails_clearly_without_echoing_it() {
    let bmc = Bmc::start();
    let port = bmc.port.to_string();
    let secret = "Wr0ngS3cret";
    let out = run(
        &[
            "-a",
            "127.0.0.1",
            "-u",
            &port,
            "-l",
            "admin",
            "-p",
            secret,
            "-o",
            "off",
            "-vv",
        ]
        .map(String::from),
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(!err.contains(secret), "{err}");
    assert!(
        err.lines().any(|l| l
            == format!("fence_ipmilan: 127.0.0.1:{port}: Unable to connect/login to fencing device: authentication failed: wrong user name or password")),
        "{err}"
    );
    // Nothing happened to the machine.
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}

#[test]
fn unreachable_port_times_out() {
    // A socket that is bound but never answers: a BMC that is gone silent (a released port would
    // answer with ICMP port unreachable, which the monitor test covers).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let t0 = Instant::now();
    let out = run(
        &[
            "-a",
            "127.0.0.1",
            "-u",
            &port,
            "-l",
            "admin",
            "-p",
            "pw",
            "-o",
            "status",
        ]
        .map(String::from),
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        err.trim_end(),
        format!("fence_ipmilan: 127.0.0.1:{port}: Connection timed out: no answer to Get Channel Authentication Capabilities after 3 attempts")
    );
    // Bounded by shell_timeout (3 s) per step; generous upper limit for a loaded machine.
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[test]
fn stdin_protocol_as_fenced_sends_it() {
    let bmc = Bmc::start();
    let p = bmc.port;
    let out = run_stdin(&format!(
        "# from fenced\naction=status\nipaddr=127.0.0.1\nipport={p}\nlogin=admin\npasswd={PASSWORD}\nlanplus=1\ncipher=3\nnodename=node1\n"
    ));
    expect(&out, 0, "Status: ON");
    // Old `option` name, new names, power_wait given as on stdin.
    let out = run_stdin(&format!(
        "option=off\nip=127.0.0.1\nipport={p}\nusername=admin\npassword={PASSWORD}\npower_wait=0\n"
    ));
    expect(&out, 0, "Success: Powered OFF");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is off");
    // Unknown names are ignored with a warning.
    let out = run_stdin(&format!("action=on\nipaddr=127.0.0.1\nipport={p}\nlogin=admin\npasswd={PASSWORD}\npower_wait=0\nbogus=1\n"));
    expect(&out, 0, "Success: Powered ON");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Ignoring unknown option 'bogus'"));
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}

#[test]
fn password_script() {
    let bmc = Bmc::start();
    let script = bmc.dir.path().join("pw.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho {PASSWORD}\necho ignored\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = bmc.port.to_string();
    let s = script.display().to_string();
    let out = run(
        &[
            "-a",
            "127.0.0.1",
            "-u",
            &port,
            "-l",
            "admin",
            "-S",
            &s,
            "-o",
            "status",
        ]
        .map(String::from),
        &[],
    );
    expect(&out, 0, "Status: ON");
    let out = run_stdin(&format!(
        "action=status\nipaddr=127.0.0.1\nipport={port}\nlogin=admin\npasswd_script={s}\n"
    ));
    expect(&out, 0, "Status: ON");
}

fn xmllint_ok(xml: &str, dir: &Path) {
    let f = dir.join("meta.xml");
    std::fs::write(&f, xml).unwrap();
    let st = Command::new("xmllint")
        .arg("--noout")
        .arg(&f)
        .status()
        .expect("xmllint (libxml2-utils)");
    assert!(st.success());
}

#[test]
fn metadata_is_well_formed_and_reads_back() {
    use quick_xml::events::Event;
    let out = run(&[], &["-o", "metadata"]);
    assert_eq!(out.status.code(), Some(0));
    let xml = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    xmllint_ok(&xml, dir.path());
    // Pacemaker's view: parameters with their attributes, content types and defaults, actions.
    let mut r = quick_xml::Reader::from_str(&xml);
    let mut params: Vec<(String, Vec<(String, String)>)> = vec![];
    let mut actions = vec![];
    let mut root = String::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                let get = |k: &str| {
                    attrs
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"resource-agent" => root = get("name"),
                    b"parameter" => params.push((get("name"), attrs.clone())),
                    b"content" => params.last_mut().unwrap().1.extend(
                        attrs
                            .iter()
                            .map(|(k, v)| (format!("content.{k}"), v.clone())),
                    ),
                    b"action" => actions.push(get("name")),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root, "fence_ipmilan");
    let param = |n: &str| {
        params
            .iter()
            .find(|(p, _)| p == n)
            .unwrap_or_else(|| panic!("no parameter {n}"))
            .1
            .clone()
    };
    let attr = |n: &str, k: &str| {
        param(n)
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attr("ip", "obsoletes").as_deref(), Some("ipaddr"));
    assert_eq!(attr("ipaddr", "deprecated").as_deref(), Some("1"));
    assert_eq!(attr("username", "obsoletes").as_deref(), Some("login"));
    assert_eq!(attr("password", "obsoletes").as_deref(), Some("passwd"));
    assert_eq!(
        attr("password_script", "obsoletes").as_deref(),
        Some("passwd_script")
    );
    assert_eq!(attr("ipport", "content.default").as_deref(), Some("623"));
    assert_eq!(attr("power_wait", "content.default").as_deref(), Some("2"));
    assert_eq!(
        attr("power_timeout", "content.default").as_deref(),
        Some("20")
    );
    assert_eq!(attr("method", "content.type").as_deref(), Some("select"));
    assert_eq!(attr("lanplus", "content.type").as_deref(), Some("boolean"));
    assert_eq!(
        attr("privlvl", "content.default").as_deref(),
        Some("administrator")
    );
    for p in [
        "action",
        "cipher",
        "delay",
        "retry_on",
        "shell_timeout",
        "login_timeout",
        "hexadecimal_kg",
        "verbose",
    ] {
        param(p);
    }
    assert_eq!(
        actions,
        [
            "on",
            "off",
            "reboot",
            "status",
            "monitor",
            "metadata",
            "validate-all",
            "diag"
        ]
    );
}

#[test]
fn usage_errors_exit_1() {
    let out = run(&[], &["--no-such-option"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "fence_ipmilan: Parse error: unrecognized option '--no-such-option'"
    );
    let out = run(&[], &["-o", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "fence_ipmilan: Failed: You have to enter fence address"
    );
}

/// A UDP relay between the agent and the BMC that loses datagrams: every `drop_every`th one in
/// each direction (0: none), starting with the first, so every handshake step and command is hit at
/// some point. It records the (auth type, payload type) of every datagram the agent sends.
struct LossyRelay {
    port: u16,
    sent: std::sync::Arc<std::sync::Mutex<Vec<(u8, u8)>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u32, u32)>>,
}

impl LossyRelay {
    fn start(bmc_port: u16, drop_every: u32) -> LossyRelay {
        use std::sync::atomic::{AtomicBool, Ordering};
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", bmc_port)).unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        back.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = front.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sent2 = sent.clone();
        let drop = move |n: u32| drop_every > 0 && n % drop_every == 1 % drop_every;
        let thread = std::thread::spawn(move || {
            let (mut up, mut down, mut dropped_up, mut dropped_down) = (0u32, 0u32, 0u32, 0u32);
            let mut client = None;
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    client = Some(from);
                    if n >= 6 {
                        sent2.lock().unwrap().push((buf[4], buf[5]));
                    }
                    up += 1;
                    if drop(up) {
                        dropped_up += 1;
                    } else {
                        let _ = back.send(&buf[..n]);
                    }
                }
                if let Ok(n) = back.recv(&mut buf) {
                    down += 1;
                    if drop(down) {
                        dropped_down += 1;
                    } else if let Some(c) = client {
                        let _ = front.send_to(&buf[..n], c);
                    }
                }
            }
            (dropped_up, dropped_down)
        });
        LossyRelay {
            port,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u32, u32) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn lost_datagrams_are_retransmitted() {
    let bmc = Bmc::start();
    let relay = LossyRelay::start(bmc.port, 3);
    let port = relay.port.to_string();
    let a = [
        "-a",
        "127.0.0.1",
        "-u",
        &port,
        "-l",
        "admin",
        "-p",
        PASSWORD,
        "--power-wait=0",
        // Retransmit after 0.2 s instead of 1 s to keep the test short.
        "--ipmitool-timeout=0.2",
    ]
    .map(String::from);
    expect(&run(&a, &["-o", "status"]), 0, "Status: ON");
    expect(&run(&a, &["-o", "off"]), 0, "Success: Powered OFF");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is off");
    expect(&run(&a, &["-o", "on"]), 0, "Success: Powered ON");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
    let (up, down) = relay.finish();
    assert!(
        up >= 5 && down >= 3,
        "relay dropped {up} requests and {down} answers"
    );
}

#[test]
fn unknown_user_and_insufficient_privilege() {
    let bmc = Bmc::start();
    let port = bmc.port.to_string();
    let out = run(
        &[
            "-a",
            "127.0.0.1",
            "-u",
            &port,
            "-l",
            "nobody",
            "-p",
            PASSWORD,
            "-o",
            "status",
        ]
        .map(String::from),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("fence_ipmilan: 127.0.0.1:{port}: Unable to connect/login to fencing device: device refused RAKP message 1: unauthorized name")
    );
    // A user-level session may read the state but not switch power.
    let a = bmc.args();
    expect(&run(&a, &["-L", "user", "-o", "status"]), 0, "Status: ON");
    let out = run(&a, &["-L", "user", "-o", "off", "--power-wait=0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("fence_ipmilan: 127.0.0.1:{port}: Failed: Chassis Control: insufficient privilege level")
    );
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}

#[test]
fn one_session_serves_every_step_of_an_action() {
    let bmc = Bmc::start();
    let relay = LossyRelay::start(bmc.port, 0);
    let port = relay.port.to_string();
    let a = [
        "-a",
        "127.0.0.1",
        "-u",
        &port,
        "-l",
        "admin",
        "-p",
        PASSWORD,
        "--power-wait=0",
    ]
    .map(String::from);
    expect(&run(&a, &["-o", "reboot"]), 0, "Success: Rebooted");
    let sent = relay.sent.lock().unwrap().clone();
    let count = |t: (u8, u8)| sent.iter().filter(|s| **s == t).count();
    // One handshake: Get Channel Auth Caps (v1.5), Open Session, RAKP 1, RAKP 3 …
    assert_eq!(
        (
            count((0x00, 0x00)),
            count((0x06, 0x10)),
            count((0x06, 0x12)),
            count((0x06, 0x14))
        ),
        (1, 1, 1, 1),
        "{sent:?}"
    );
    // … then Set Session Privilege, status, off, status…, on, status…, Close Session, all inside
    // it (encrypted and authenticated IPMI payloads).
    assert!(count((0x06, 0xC0)) >= 7, "{sent:?}");
    assert_eq!(sent.len(), 4 + count((0x06, 0xC0)), "{sent:?}");
    assert_eq!(bmc.ipmitool_power(), "Chassis Power is on");
}
