//! The `fence_apc` binary's own front: metadata (well-formed, fence_apc's parameters and actions),
//! help, usage errors (over telnet and SSH). Its dialogs run against the APC simulator in the cluster-tests crate
//! (`tests/tests/apc_sim.rs`), next to Debian's fence_apc.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fence_apc");

#[test]
fn metadata_is_well_formed_with_fence_apc_parameters() {
    let out = Command::new(BIN).args(["-o", "metadata"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let xml = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("meta.xml");
    std::fs::write(&f, &xml).unwrap();
    let st = Command::new("xmllint")
        .arg("--noout")
        .arg(&f)
        .status()
        .expect("xmllint (libxml2-utils)");
    assert!(st.success());
    assert!(xml.starts_with("<?xml version=\"1.0\" ?>\n<resource-agent name=\"fence_apc\""));
    for p in [
        "ipaddr",
        "ip",
        "ipport",
        "login",
        "username",
        "passwd",
        "password",
        "port",
        "plug",
        "switch",
        "settle_delay",
        "secure",
        "identity_file",
        "ssh_options",
        "known_hosts",
        "accept_new_host_key",
    ] {
        assert!(xml.contains(&format!("<parameter name=\"{p}\"")), "{p}");
    }
    assert!(xml.contains("<getopt mixed=\"-s, --switch=[id]\" />"));
    assert!(xml.contains("<content type=\"integer\" default=\"23\"  />"));
    for a in [
        "on",
        "off",
        "reboot",
        "status",
        "list",
        "list-status",
        "monitor",
    ] {
        assert!(xml.contains(&format!("<action name=\"{a}\"")), "{a}");
    }
}

#[test]
fn usage_errors_exit_1() {
    let out = Command::new(BIN)
        .args(["-a", "127.0.0.1", "-l", "apc", "-o", "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "fence_apc: 127.0.0.1:23: Failed: You have to enter plug number or machine identification"
    );
    // -x is SSH (its sessions are tested in tests/tests/apc_ssh.rs): here a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = Command::new(BIN)
        .args([
            "-a",
            "127.0.0.1",
            "-u",
            &closed,
            "-l",
            "apc",
            "-p",
            "Secret-1",
            "-n",
            "1",
            "-x",
            "-o",
            "status",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "fence_apc: 127.0.0.1:{closed}: Unable to connect/login to fencing device: cannot connect:"
        )),
        "{err}"
    );
    assert!(!err.contains("Secret-1"));
    let out = Command::new(BIN).arg("-h").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--switch"));
}
