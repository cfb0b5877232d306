//! The APC simulator is faithful: Debian's real `fence_apc` (fence-agents 4.12, over
//! `/usr/bin/telnet`) fences outlets on it in both dialects — status, off, on, reboot, list,
//! list-status — with the outlet states read back from the simulator's state file, and fails as
//! it does on a real switch for a wrong password or an unknown outlet. Then our native
//! `fence_apc` (`fence::agents::apc`, run through the same CLI code as its binary) does the same
//! on both dialects, cross-checked by Debian's agent reading the same simulator, also with the
//! simulator in character mode (`--char-mode`: screens written in pieces, Nagle on).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A running `apc_sim`, killed and reaped on drop.
pub struct Sim {
    child: Child,
    port: u16,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(dialect: &str) -> Sim {
        Sim::start_with(dialect, &[])
    }

    /// A unit that writes as a telnet server in character mode on an ordinary TCP stack: every
    /// screen comes in pieces, each after the client's ACK of the one before.
    fn start_char_mode(dialect: &str) -> Sim {
        Sim::start_with(dialect, &["--char-mode"])
    }

    fn start_with(dialect: &str, extra: &[&str]) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("outlets");
        let mut child = Command::new(env!("CARGO_BIN_EXE_apc_sim"))
            .args(["--dialect", dialect, "--user", "apc", "--password", "apcpw"])
            .args(extra)
            .arg("--state-file")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("apc_sim said {line:?}"));
        Sim {
            child,
            port,
            state,
            _dir: dir,
        }
    }

    /// Outlet states as `1`/`0`, `None` before the first change.
    fn outlets(&self) -> Option<String> {
        std::fs::read_to_string(&self.state)
            .ok()
            .map(|s| s.trim().to_string())
    }
}

fn fence_apc(port: u16, extra: &str) -> Output {
    assert!(
        Path::new("/usr/sbin/fence_apc").exists(),
        "Debian's fence_apc (package fence-agents) must be installed"
    );
    let mut c = Command::new("/usr/sbin/fence_apc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("ipaddr=127.0.0.1\nipport={port}\nlogin=apc\n{extra}");
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[track_caller]
fn expect(out: &Output, code: i32, stdout: &str) {
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        ),
        (Some(code), stdout),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn walk(dialect: &str, list_status_word: &str) {
    let sim = Sim::start(dialect);
    let p = sim.port;
    let pw = "passwd=apcpw\n";
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=status\n")),
        0,
        "Status: ON",
    );
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(sim.outlets().as_deref(), Some("11011111"));
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=off\n")),
        0,
        "Success: Already OFF",
    );
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=on\n")),
        0,
        "Success: Powered ON",
    );
    assert_eq!(sim.outlets().as_deref(), Some("11111111"));
    expect(
        &fence_apc(p, &format!("{pw}port=5\naction=reboot\n")),
        0,
        "Success: Rebooted",
    );
    // Reboot = off, confirmed off, then on: the outlet ends on.
    assert_eq!(sim.outlets().as_deref(), Some("11111111"));
    let list: Vec<String> = (1..=8).map(|n| format!("{n},Outlet {n}")).collect();
    expect(
        &fence_apc(p, &format!("{pw}action=list\n")),
        0,
        &list.join("\n"),
    );
    expect(
        &fence_apc(p, &format!("{pw}port=4\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    let out = fence_apc(p, &format!("{pw}action=list-status\n"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("4,Outlet 4,{}\n", list_status_word)),
        "{text}"
    );
    expect(&fence_apc(p, &format!("{pw}action=monitor\n")), 0, "");

    // A wrong password and an unknown outlet fail as on a real switch.
    let out = fence_apc(p, "passwd=wrong\nport=3\naction=off\nlogin_timeout=2\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unable to connect/login"));
    let out = fence_apc(p, &format!("{pw}port=12\naction=status\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Unable to obtain correct plug status or plug is not available"));
    assert_eq!(sim.outlets().as_deref(), Some("11101111"));
}

#[test]
fn debian_fence_apc_drives_the_v3_menus() {
    walk("v3", "OFF");
}

#[test]
fn debian_fence_apc_drives_the_v6_command_line() {
    walk("v6", "Off");
}

/// Our fence_apc, in-process through the CLI code its binary runs: (exit, stdout, stderr).
fn native_apc(port: u16, extra: &str) -> (i32, String, String) {
    use fence::agents::apc::SPEC;
    let input = format!("ipaddr=127.0.0.1\nipport={port}\nlogin=apc\n{extra}");
    let parsed = fence::cli::parse_stdin(&SPEC, &input);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = fence::cli::execute(
        &SPEC,
        parsed,
        &mut fence::agent::RealClock,
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).trim_end().to_string(),
        String::from_utf8_lossy(&err).trim_end().to_string(),
    )
}

#[track_caller]
fn ours(got: (i32, String, String), code: i32, stdout: &str) {
    assert_eq!((got.0, got.1.as_str()), (code, stdout), "stderr: {}", got.2);
}

fn native_walk(sim: Sim, on_word: &str) {
    let p = sim.port;
    let pw = "passwd=apcpw\n";
    ours(
        native_apc(p, &format!("{pw}port=3\naction=status\n")),
        0,
        "Status: ON",
    );
    ours(
        native_apc(p, &format!("{pw}port=3\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(sim.outlets().as_deref(), Some("11011111"));
    // Debian's agent sees what ours did.
    expect(
        &fence_apc(p, &format!("{pw}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    ours(
        native_apc(p, &format!("{pw}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    ours(
        native_apc(p, &format!("{pw}port=3\naction=off\n")),
        0,
        "Success: Already OFF",
    );
    ours(
        native_apc(p, &format!("{pw}port=3\naction=on\n")),
        0,
        "Success: Powered ON",
    );
    assert_eq!(sim.outlets().as_deref(), Some("11111111"));
    ours(
        native_apc(p, &format!("{pw}port=6\naction=reboot\n")),
        0,
        "Success: Rebooted",
    );
    assert_eq!(sim.outlets().as_deref(), Some("11111111"));
    let list: Vec<String> = (1..=8).map(|n| format!("{n},Outlet {n}")).collect();
    ours(
        native_apc(p, &format!("{pw}action=list\n")),
        0,
        &list.join("\n"),
    );
    let list: Vec<String> = (1..=8)
        .map(|n| format!("{n},Outlet {n},{on_word}"))
        .collect();
    ours(
        native_apc(p, &format!("{pw}action=list-status\n")),
        0,
        &list.join("\n"),
    );
    ours(native_apc(p, &format!("{pw}action=monitor\n")), 0, "");
    // The legacy switch:plug form, and several plugs at once.
    ours(
        native_apc(p, &format!("{pw}port=1:2\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    ours(
        native_apc(p, &format!("{pw}port=7,8\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(sim.outlets().as_deref(), Some("10111100"));

    // Failures: one line naming the device and the reason, exit 1, never the password.
    let (code, out, err) = native_apc(p, "passwd=wr0ng\nport=3\naction=off\n");
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!("fence_apc: 127.0.0.1:{p}: Unable to connect/login to fencing device: the device asked for the user name again (wrong user name or password)")
    );
    let (code, _, err) = native_apc(p, &format!("{pw}port=12\naction=off\n"));
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("fence_apc: 127.0.0.1:{p}: Failed: Unable to obtain correct plug status or plug is not available")
    );
    let (code, _, err) = native_apc(p, &format!("{pw}action=off\n"));
    assert_eq!(code, 1);
    assert!(err.contains("You have to enter plug number"), "{err}");
    assert_eq!(sim.outlets().as_deref(), Some("10111100"));
}

#[test]
fn native_fence_apc_drives_the_v3_menus() {
    native_walk(Sim::start("v3"), "ON");
}

#[test]
fn native_fence_apc_drives_the_v6_command_line() {
    native_walk(Sim::start("v6"), "On");
}

// The same on units that write their screens in pieces (an echo per character, a write per
// line, Nagle on), as real ones do: every wait reassembles a screen from several reads. How
// long that takes is the benchmark's business (tests/bench/fence-agents, "char mode").
#[test]
fn native_fence_apc_drives_the_v3_menus_of_a_char_mode_unit() {
    native_walk(Sim::start_char_mode("v3"), "ON");
}

#[test]
fn native_fence_apc_drives_the_v6_command_line_of_a_char_mode_unit() {
    native_walk(Sim::start_char_mode("v6"), "On");
}

#[test]
fn native_fence_apc_to_a_closed_port_fails_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = native_apc(port, "passwd=x\nport=1\naction=status\n");
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("fence_apc: 127.0.0.1:{port}: Unable to connect/login to fencing device: cannot connect:")),
        "{err}"
    );
}

#[test]
fn native_fence_apc_times_out_on_a_silent_device() {
    // Accepts the connection and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (code, _, err) = native_apc(port, "passwd=x\nport=1\naction=status\nlogin_timeout=1\n");
    drop(listener);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("fence_apc: 127.0.0.1:{port}: Connection timed out: no \"user name :\" within 1 s")
    );
}
