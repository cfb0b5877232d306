//! `fence_virsh` against a real OpenSSH `sshd` on loopback with a test `virsh` behind it
//! (`support::sshd`): every action, key and password logins, host-key checking (unknown key
//! refused, accepted and recorded only when asked, changed key refused), bad credentials, a
//! closed port, `use_sudo`; and Debian's own `fence_virsh` run against the same sshd with the same
//! command lines, to show that both print the same and leave the domains in the same state.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::sshd::{keygen, Hypervisor, PasswordUser};

const BIN: &str = env!("CARGO_BIN_EXE_fence_virsh");
const DEBIAN: &str = "/usr/sbin/fence_virsh";

fn run(bin: &str, args: &[String], extra: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn run_stdin(params: &str) -> Output {
    let mut c = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(params.as_bytes())
        .unwrap();
    c.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Our agent with the test key and an explicit known_hosts.
fn ours(hv: &Hypervisor, extra: &[&str]) -> Output {
    let mut a = hv.key_args();
    a.push(format!("--known-hosts={}", hv.known_hosts.display()));
    run(BIN, &a, extra)
}

#[track_caller]
fn expect(o: &Output, code: i32, out: &str) {
    assert_eq!(
        (o.status.code(), stdout(o).as_str()),
        (Some(code), out),
        "stderr: {}",
        stderr(o)
    );
}

#[test]
fn every_action_with_a_key() {
    let hv = Hypervisor::start();
    expect(
        &ours(&hv, &["-n", "node1", "-o", "status"]),
        0,
        "Status: ON\n",
    );
    expect(
        &ours(&hv, &["-n", "node3", "-o", "status"]),
        2,
        "Status: OFF\n",
    );
    expect(
        &ours(&hv, &["-n", "node1", "-o", "on"]),
        0,
        "Success: Already ON\n",
    );

    hv.clear_calls();
    expect(
        &ours(&hv, &["-n", "node1", "-o", "off"]),
        0,
        "Success: Powered OFF\n",
    );
    assert_eq!(hv.state("node1"), "shut off");
    assert_eq!(
        hv.calls(),
        vec!["domstate node1", "destroy node1", "domstate node1"]
    );
    expect(
        &ours(&hv, &["-n", "node1", "-o", "status"]),
        2,
        "Status: OFF\n",
    );
    expect(
        &ours(&hv, &["-n", "node1", "-o", "off"]),
        0,
        "Success: Already OFF\n",
    );
    expect(
        &ours(&hv, &["-n", "node1", "-o", "on"]),
        0,
        "Success: Powered ON\n",
    );
    assert_eq!(hv.state("node1"), "running");

    hv.clear_calls();
    expect(
        &ours(&hv, &["-n", "node2", "-o", "reboot"]),
        0,
        "Success: Rebooted\n",
    );
    assert_eq!(hv.state("node2"), "running");
    assert_eq!(
        hv.calls(),
        vec![
            "domstate node2",
            "destroy node2",
            "domstate node2",
            "start node2",
            "domstate node2"
        ]
    );

    expect(&ours(&hv, &["-o", "list"]), 0, "node1,\nnode2,\nnode3,\n");
    expect(
        &ours(&hv, &["-o", "list-status"]),
        0,
        "node1,,on\nnode2,,on\nnode3,,off\n",
    );
    expect(&ours(&hv, &["-o", "monitor"]), 0, "");
    // Several plugs: ON while any is on.
    expect(
        &ours(&hv, &["-n", "node3,node1", "-o", "status"]),
        0,
        "Status: ON\n",
    );

    // An unknown domain is an error, or OFF with missing_as_off.
    let o = ours(&hv, &["-n", "ghost", "-o", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("You have to enter existing name/UUID of virtual machine"),
        "{}",
        stderr(&o)
    );
    expect(
        &ours(&hv, &["-n", "ghost", "--missing-as-off", "-o", "status"]),
        2,
        "Status: OFF\n",
    );
    // A name the remote shell would otherwise split or run.
    let o = ours(
        &hv,
        &["-n", "x; touch /tmp/fence-virsh-injected", "-o", "status"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!std::path::Path::new("/tmp/fence-virsh-injected").exists());
}

#[test]
fn same_results_as_debian_fence_virsh() {
    let hv = Hypervisor::start();
    // Debian's agent with its default shell part and our known_hosts (strict), and ours with
    // exactly the same command line: the -o settings are honoured, the -t part ignored.
    let mut args = hv.key_args();
    args.push(hv.ssh_options());
    let steps: &[(&[&str], i32, &str, &str)] = &[
        (
            &["-n", "node1", "-o", "status"],
            0,
            "Status: ON\n",
            "running",
        ),
        (
            &["-n", "node1", "-o", "off"],
            0,
            "Success: Powered OFF\n",
            "shut off",
        ),
        (
            &["-n", "node1", "-o", "status"],
            2,
            "Status: OFF\n",
            "shut off",
        ),
        (
            &["-n", "node1", "-o", "off"],
            0,
            "Success: Already OFF\n",
            "shut off",
        ),
        (
            &["-n", "node1", "-o", "on"],
            0,
            "Success: Powered ON\n",
            "running",
        ),
        (
            &["-n", "node1", "-o", "reboot"],
            0,
            "Success: Rebooted\n",
            "running",
        ),
        (&["-o", "list"], 0, "node1,\nnode2,\nnode3,\n", "running"),
        (
            &["-o", "list-status"],
            0,
            "node1,,on\nnode2,,on\nnode3,,off\n",
            "running",
        ),
        (&["-o", "monitor"], 0, "", "running"),
    ];
    for bin in [DEBIAN, BIN] {
        for (extra, code, out, state) in steps {
            let o = run(bin, &args, extra);
            assert_eq!(
                (
                    o.status.code(),
                    stdout(&o).as_str(),
                    hv.state("node1").as_str()
                ),
                (Some(*code), *out, *state),
                "{bin} {extra:?}: {}",
                stderr(&o)
            );
        }
        hv.clear_calls();
        let o = run(bin, &args, &["-n", "node1", "-o", "reboot"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        // The same virsh commands, in the same order.
        assert_eq!(
            hv.calls(),
            vec![
                "domstate node1",
                "destroy node1",
                "domstate node1",
                "start node1",
                "domstate node1"
            ],
            "{bin}"
        );
        // Both refuse an unknown domain.
        let o = run(bin, &args, &["-n", "ghost", "-o", "status"]);
        assert_eq!(o.status.code(), Some(1), "{bin}");
        assert!(stderr(&o).contains("existing name/UUID"), "{bin}");
    }
}

#[test]
fn unknown_host_key_is_refused_unless_accepted() {
    let hv = Hypervisor::start();
    let home = tempfile::tempdir().unwrap();
    let default_kh = home.path().join(".ssh/known_hosts");
    let with_home = |extra: &[&str]| {
        Command::new(BIN)
            .args(hv.key_args())
            .args(extra)
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Nothing known (default file ~/.ssh/known_hosts does not exist): refused, nothing written.
    let o = with_home(&["-n", "node1", "-o", "status"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("unknown host key"), "{e}");
    assert!(e.contains("SHA256:"), "{e}");
    assert!(e.contains(&format!("127.0.0.1:{}", hv.port)), "{e}");
    assert!(!default_kh.exists());
    assert_eq!(hv.state("node1"), "running");
    assert!(hv.calls().is_empty());

    // Asked to accept: it is recorded (with a warning) and the action runs.
    let o = with_home(&["-n", "node1", "--accept-new-host-key", "-o", "status"]);
    expect(&o, 0, "Status: ON\n");
    assert!(
        stderr(&o).contains("recording the new host key"),
        "{}",
        stderr(&o)
    );
    let recorded = std::fs::read_to_string(&default_kh).unwrap();
    assert_eq!(
        recorded,
        format!("[127.0.0.1]:{} {}\n", hv.port, hv.host_key)
    );
    // From now on it is known.
    expect(
        &with_home(&["-n", "node1", "-o", "status"]),
        0,
        "Status: ON\n",
    );
    // The file OpenSSH's ssh reads agrees.
    let st = Command::new("ssh")
        .args(["-i", hv.key.to_str().unwrap(), "-p", &hv.port.to_string()])
        .arg(format!("-oUserKnownHostsFile={}", default_kh.display()))
        .args([
            "-oStrictHostKeyChecking=yes",
            "-oBatchMode=yes",
            "root@127.0.0.1",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // StrictHostKeyChecking=accept-new in ssh_options asks for the same, into UserKnownHostsFile.
    let kh2 = home.path().join("kh2");
    let o = run(
        BIN,
        &hv.key_args(),
        &[
            "-n",
            "node1",
            "-o",
            "status",
            &format!(
                "--ssh-options=-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new",
                kh2.display()
            ),
        ],
    );
    expect(&o, 0, "Status: ON\n");
    assert!(std::fs::read_to_string(&kh2)
        .unwrap()
        .contains(&hv.host_key));

    // A changed key is refused, even when new keys may be accepted.
    let other = home.path().join("other");
    keygen(&other);
    let other_pub = std::fs::read_to_string(home.path().join("other.pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let kh3 = home.path().join("kh3");
    std::fs::write(
        &kh3,
        format!("[127.0.0.1]:{} {}\n", hv.port, other_key.join(" ")),
    )
    .unwrap();
    let o = run(
        BIN,
        &hv.key_args(),
        &[
            "-n",
            "node1",
            "-o",
            "off",
            "--accept-new-host-key",
            &format!("--known-hosts={}", kh3.display()),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("HOST KEY CHANGED"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{}:1", kh3.display())),
        "{}",
        stderr(&o)
    );
    assert_eq!(hv.state("node1"), "running");
}

#[test]
fn password_login_and_bad_credentials() {
    let hv = Hypervisor::start();
    let user = PasswordUser::create("Virsh-pw-1");
    let params = |pw: &str| {
        format!(
            "action=status\nip=127.0.0.1\nipport={}\nusername={}\npassword={pw}\nplug=node1\nknown_hosts={}\n",
            hv.port,
            user.name,
            hv.known_hosts.display()
        )
    };
    expect(&run_stdin(&params("Virsh-pw-1")), 0, "Status: ON\n");
    let o = run_stdin(&params("Wrong-pw-2"));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("password not accepted"), "{e}");
    assert!(!e.contains("Wrong-pw-2"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");

    // A key root does not authorize.
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger");
    keygen(&stranger);
    let o = run(
        BIN,
        &[
            "-a".into(),
            "127.0.0.1".into(),
            "--ipport".into(),
            hv.port.to_string(),
            "-l".into(),
            "root".into(),
            "-k".into(),
            stranger.display().to_string(),
            format!("--known-hosts={}", hv.known_hosts.display()),
        ],
        &["-n", "node1", "-o", "off"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not accepted for root"),
        "{}",
        stderr(&o)
    );
    assert_eq!(hv.state("node1"), "running");
}

#[test]
fn closed_port_and_sudo() {
    let hv = Hypervisor::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let o = run(
        BIN,
        &[
            "-a".into(),
            "127.0.0.1".into(),
            "--ipport".into(),
            port.to_string(),
            "-l".into(),
            "root".into(),
            "-k".into(),
            hv.key.display().to_string(),
            format!("--known-hosts={}", hv.known_hosts.display()),
        ],
        &["-n", "node1", "-o", "status"],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.contains("cannot connect"), "{e}");

    // use_sudo prefixes every virsh command with sudo_path.
    let sudo = hv.dir.path().join("fake-sudo");
    let log = hv.dir.path().join("sudo.log");
    std::fs::write(
        &sudo,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = ours(
        &hv,
        &[
            "-n",
            "node1",
            "-o",
            "off",
            "--use-sudo",
            &format!("--sudo-path={}", sudo.display()),
        ],
    );
    expect(&o, 0, "Success: Powered OFF\n");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "virsh domstate node1\nvirsh destroy node1\nvirsh domstate node1\n"
    );
}

#[test]
fn metadata_is_well_formed() {
    let o = run(BIN, &[], &["-o", "metadata"]);
    assert_eq!(o.status.code(), Some(0));
    let xml = stdout(&o);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.xml");
    std::fs::write(&f, &xml).unwrap();
    assert!(Command::new("xmllint")
        .arg("--noout")
        .arg(&f)
        .status()
        .unwrap()
        .success());
    for p in [
        "ipaddr",
        "ipport",
        "login",
        "passwd",
        "identity_file",
        "ssh_options",
        "use_sudo",
        "missing_as_off",
        "known_hosts",
        "accept_new_host_key",
        "port",
    ] {
        assert!(
            xml.contains(&format!("<parameter name=\"{p}\"")),
            "{p}\n{xml}"
        );
    }
    assert!(xml.contains("<content type=\"integer\" default=\"22\"  />"));
}
