//! `fence::external` with real programs: Debian's Python `fence_ipmilan` (package fence-agents)
//! against OpenIPMI's `ipmi_sim`, and small shell-script agents written by the tests (one that
//! checks what it got on stdin, one that fails, one that hangs with a child of its own, one that
//! leaks its password on stderr).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fence::external::{ExternalAgent, ExternalError};
use support::ipmi_sim::{Bmc, PASSWORD};

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes an executable script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn debian_ipmilan() -> ExternalAgent {
    ExternalAgent::find_in("fence_ipmilan", &[PathBuf::from("/usr/sbin")])
        .expect("Debian's fence_ipmilan (package fence-agents) must be installed")
}

fn bmc_params<'a>(bmc_port: &'a str, action: &'a str, passwd: &'a str) -> Vec<(String, String)> {
    params(&[
        ("action", action),
        ("ipaddr", "127.0.0.1"),
        ("ipport", bmc_port),
        ("login", "admin"),
        ("passwd", passwd),
        ("lanplus", "1"),
        ("cipher", "3"),
        ("power_wait", "0"),
        ("nodename", "node1"),
    ])
}

#[test]
fn debian_fence_ipmilan_status_off_on_through_stdin() {
    let bmc = Bmc::start();
    let agent = debian_ipmilan();
    let port = bmc.port.to_string();
    let limit = Some(Duration::from_secs(60));

    let out = agent
        .run(&bmc_params(&port, "status", PASSWORD), limit)
        .unwrap();
    assert_eq!(
        (out.exit_code, out.lines.clone()),
        (0, vec!["Status: ON".to_string()])
    );

    let out = agent
        .run(&bmc_params(&port, "off", PASSWORD), limit)
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.lines, ["Success: Powered OFF"]);
    assert_eq!(bmc.power_file(), "0");

    // Status of a machine that is off: exit 2, which is an answer, not a failure.
    let out = agent
        .run(&bmc_params(&port, "status", PASSWORD), limit)
        .unwrap();
    assert_eq!(
        (out.exit_code, out.lines),
        (2, vec!["Status: OFF".to_string()])
    );

    let out = agent
        .run(&bmc_params(&port, "on", PASSWORD), limit)
        .unwrap();
    assert_eq!(out.lines, ["Success: Powered ON"]);
    assert_eq!(bmc.power_file(), "1");
}

#[test]
fn debian_fence_ipmilan_wrong_password_is_a_failure_without_the_password() {
    let bmc = Bmc::start();
    let port = bmc.port.to_string();
    let e = debian_ipmilan()
        .run(
            &bmc_params(&port, "off", "wr0ngpassw0rd"),
            Some(Duration::from_secs(60)),
        )
        .unwrap_err();
    match &e {
        ExternalError::Failed { agent, status, .. } => {
            assert_eq!(agent, "fence_ipmilan");
            assert_eq!(status, "exit 1");
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("Failed:"), "{text}");
    assert!(!text.contains("wr0ngpassw0rd"), "{text}");
    assert_eq!(bmc.power_file(), "1");
}

#[test]
fn parameters_arrive_on_stdin_and_never_in_argv() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    script(
        dir.path(),
        "fence_check",
        &format!(
            r#"[ $# -eq 0 ] || {{ echo "Failed: got arguments: $*" >&2; exit 1; }}
cat > '{}'
grep -qx 'action=off' '{}' || {{ echo "Failed: no action=off" >&2; exit 1; }}
grep -qx 'port=3' '{}' || {{ echo "Failed: no port=3" >&2; exit 1; }}
echo "Success: Powered OFF"
"#,
            seen.display(),
            seen.display(),
            seen.display()
        ),
    );
    let agent = ExternalAgent::find_in("fence_check", &[dir.path().to_path_buf()]).unwrap();
    let p = params(&[("action", "off"), ("port", "3"), ("passwd", "s3cret")]);
    let out = agent.run(&p, Some(Duration::from_secs(30))).unwrap();
    assert_eq!(
        (out.exit_code, out.lines),
        (0, vec!["Success: Powered OFF".to_string()])
    );
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "action=off\nport=3\npasswd=s3cret\n"
    );

    // The same agent asked for something else fails, with its own words.
    let e = agent
        .run(
            &params(&[("action", "on"), ("port", "3")]),
            Some(Duration::from_secs(30)),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "fence_check: exit 1: Failed: no action=off");
}

#[test]
fn failure_reports_the_last_stderr_line_with_secrets_scrubbed() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "fence_leaky",
        r#"pw=$(sed -n 's/^passwd=//p')
echo "some progress"
echo "2026-01-01 00:00:00,000 ERROR: first problem" >&2
echo "Failed: login as admin/$pw refused" >&2
echo "" >&2
exit 1
"#,
    );
    let agent = ExternalAgent::find_in("fence_leaky", &[dir.path().to_path_buf()]).unwrap();
    let e = agent
        .run(
            &params(&[("action", "off"), ("passwd", "hunter2")]),
            Some(Duration::from_secs(30)),
        )
        .unwrap_err();
    assert_eq!(
        e,
        ExternalError::Failed {
            agent: "fence_leaky".into(),
            status: "exit 1".into(),
            message: "Failed: login as admin/[set] refused".into(),
        }
    );
    // Exit 2 is "off" only for status; for off it is a failure.
    script(
        dir.path(),
        "fence_two",
        "cat >/dev/null\necho 'Status: OFF'\nexit 2\n",
    );
    let two = ExternalAgent::find_in("fence_two", &[dir.path().to_path_buf()]).unwrap();
    let out = two
        .run(
            &params(&[("action", "status")]),
            Some(Duration::from_secs(30)),
        )
        .unwrap();
    assert_eq!(out.exit_code, 2);
    let e = two
        .run(&params(&[("action", "off")]), Some(Duration::from_secs(30)))
        .unwrap_err();
    assert_eq!(e.to_string(), "fence_two: exit 2: Status: OFF");
}

fn alive(pid: u32) -> bool {
    // A zombie has been killed already; only a live process counts.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn hanging_agent_is_killed_with_its_children_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    script(
        dir.path(),
        "fence_hang",
        &format!(
            "sleep 300 &\necho $! > '{}'\nsleep 300\n",
            pidfile.display()
        ),
    );
    let agent = ExternalAgent::find_in("fence_hang", &[dir.path().to_path_buf()]).unwrap();
    let started = Instant::now();
    let e = agent
        .run(&params(&[("action", "off")]), Some(Duration::from_secs(2)))
        .unwrap_err();
    assert_eq!(
        e,
        ExternalError::Timeout {
            agent: "fence_hang".into(),
            secs: 2.0
        }
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the agent's child {pid} survived the timeout");
}

#[test]
fn missing_agent_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let e = ExternalAgent::find_in("fence_nosuch", &[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("fence_nosuch: not found in {}", dir.path().display())
    );
    assert!(matches!(
        ExternalAgent::find_in("../fence_x", &[dir.path().to_path_buf()]),
        Err(ExternalError::BadName(_))
    ));
    // Not executable: not an agent.
    std::fs::write(dir.path().join("fence_plain"), "#!/bin/sh\n").unwrap();
    assert!(ExternalAgent::find_in("fence_plain", &[dir.path().to_path_buf()]).is_err());
    // PATH first, then the system directories.
    assert_eq!(
        ExternalAgent::find("fence_apc").unwrap().path.file_name(),
        Some(std::ffi::OsStr::new("fence_apc"))
    );
}
