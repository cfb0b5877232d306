//! The `rg_test` binary as an administrator uses it: real agents on this machine with a real
//! init script, the noop ordering oracle, the dump and the rules.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn rg_test(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rg_test"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write_conf(dir: &Path, script: &Path) -> String {
    let conf = dir.join("cluster.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<?xml version="1.0"?>
<cluster name="alpha" config_version="1">
  <clusternodes><clusternode name="n1" nodeid="1"/></clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="prefer_n1" ordered="1" restricted="0">
        <failoverdomainnode name="n1" priority="1"/>
      </failoverdomain>
    </failoverdomains>
    <resources>
      <script name="web" file="{}"/>
    </resources>
    <service name="www" domain="prefer_n1" recovery="relocate">
      <script ref="web"/>
    </service>
  </rm>
</cluster>
"#,
            script.display()
        ),
    )
    .unwrap();
    conf.display().to_string()
}

#[test]
fn start_status_stop_a_service_for_real() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("running");
    let script = d.path().join("webd");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nM={}\ncase \"$1\" in\n start) echo \"starting for $OCF_RESKEY_service_name\"; touch $M ;;\n stop) rm -f $M ;;\n status) [ -e $M ] || exit 3 ;;\nesac\nexit 0\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = write_conf(d.path(), &script);

    let (rc, out, err) = rg_test(&["test", &conf, "status", "service", "www"]);
    assert_eq!(rc, 1, "{out}{err}");
    assert_eq!(
        out,
        "Checking status of www...\nStatus check of www failed\n"
    );
    assert!(
        err.contains("status on script \"web\" returned 7 (not running)"),
        "{err}"
    );

    let (rc, out, err) = rg_test(&["test", &conf, "start", "service", "www"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(out, "Starting www...\nStart of www complete\n");
    assert!(marker.exists());
    // The script's output went to the log, attributed to the resource.
    assert!(err.contains("starting for www"), "{err}");

    let (rc, out, _) = rg_test(&["test", &conf, "status", "service", "www"]);
    assert_eq!(rc, 0);
    assert_eq!(out, "Checking status of www...\nStatus of www is good\n");

    let (rc, out, _) = rg_test(&["test", &conf, "stop", "service", "www"]);
    assert_eq!(rc, 0);
    assert_eq!(out, "Stopping www...\nStop of www complete\n");
    assert!(!marker.exists());
}

#[test]
fn missing_script_fails_naming_service_and_resource() {
    let d = tempfile::tempdir().unwrap();
    let conf = write_conf(d.path(), &d.path().join("absent"));
    let (rc, out, err) = rg_test(&["test", &conf, "start", "service", "www"]);
    assert_eq!(rc, 1);
    assert_eq!(out, "Starting www...\nFailed to start www\n");
    assert!(err.contains("start on script \"web\" failed:"), "{err}");
    assert!(err.contains("absent does not exist"), "{err}");
    let (_, out, _) = rg_test(&["test", &conf, "start", "service", "nope"]);
    assert_eq!(out, "No resource nope of type service found\n");
}

#[test]
fn noop_dump_and_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rg_test");
    let conf = dir.join("test009.conf");
    let conf = conf.to_str().unwrap();
    // The agent directory argument of the original is accepted and ignored.
    let (rc, out, _) = rg_test(&[
        "/usr/share/cluster/../..",
        "noop",
        conf,
        "stop",
        "service",
        "test1",
    ]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        std::fs::read_to_string(dir.join("test009.stop.expected")).unwrap()
    );

    let (rc, out, err) = rg_test(&["test", conf]);
    assert_eq!(rc, 0);
    assert!(err.contains("Running in test mode."));
    assert!(
        out.starts_with(
            "=== Resources List ===\nResource type: fs\nInstances: 1/1\nAgent: fs.sh\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("=== Resource Tree ===\nservice (S0) {\n  name = \"test1\";\n"),
        "{out}"
    );
    assert!(out.contains("  script (S0) {\n    name = \"initscript\";\n    file = \"/etc/init.d/sshd\";\n    service_name = \"test1\";\n  }\n}\n"), "{out}");

    let (rc, out, _) = rg_test(&["rules"]);
    assert_eq!(rc, 0);
    assert!(out.contains("Resource Rules for \"service\""));
    assert!(out.contains("  ip [ startlevel = 7 stoplevel = 2 ] \n"));

    let (rc, _, err) = rg_test(&["bogus"]);
    assert_eq!(rc, 1);
    assert!(err.contains("unrecognized subcommand 'bogus'"), "{err}");
    assert!(err.contains("Usage: rg_test <COMMAND>"), "{err}");
    let (rc, out, _) = rg_test(&["--version"]);
    assert_eq!(rc, 0);
    assert_eq!(out, format!("rg_test {}\n", tooldoc::VERSION));
}

#[test]
fn seed_004_tutorial_service_order() {
    // The RHCS tutorial's apache service: address first, then the init script; reverse on stop.
    let conf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ccs/tests/fixtures/valid/seed004-v6.conf");
    let conf = conf.to_str().unwrap();
    let (rc, out, _) = rg_test(&["noop", conf, "start", "service", "apache_service"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "Starting apache_service...\n[start] service:apache_service\n[start] ip:192.168.122.100/24\n[start] script:httpd\nStart of apache_service complete\n"
    );
    let (rc, out, _) = rg_test(&["noop", conf, "stop", "service", "apache_service"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "Stopping apache_service...\n[stop] script:httpd\n[stop] ip:192.168.122.100/24\n[stop] service:apache_service\nStop of apache_service complete\n"
    );
    let (_, out, _) = rg_test(&["noop", conf, "status", "service", "apache_service"]);
    // The deepest due check of each resource; the service itself has no status action.
    assert_eq!(
        out,
        "Checking status of apache_service...\n[status] ip:192.168.122.100/24\n[status] script:httpd\nStatus of apache_service is good\n"
    );
}
