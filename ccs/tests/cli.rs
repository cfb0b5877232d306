//! `ccs_config_validate` and `ccs_config_dump` run as real processes, as cman_tool and
//! administrators run them: exit statuses (the contract `cman_tool version -r` relies on), quiet
//! and JSON output, determinism, and that a dump is itself a valid, stable configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VALIDATE: &str = env!("CARGO_BIN_EXE_ccs_config_validate");
const DUMP: &str = env!("CARGO_BIN_EXE_ccs_config_dump");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn validate(args: &[&str]) -> Output {
    run(VALIDATE, args)
}

fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {o:?}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or("").to_string()
}

/// A valid fixture whose config_version is 42.
fn v42() -> String {
    fixture("valid/two-node-ipmilan.conf").display().to_string()
}

/// Writes `text` to a file in a fresh temporary directory.
fn temp_conf(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.conf");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

#[test]
fn valid_file_exits_0() {
    let o = validate(&["-f", &v42()]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(stdout(&o), "Configuration validates\n");
}

#[test]
fn invalid_file_exits_3_with_located_findings() {
    let f = fixture("invalid/ref-device-no-fencedevice.conf")
        .display()
        .to_string();
    let o = validate(&["-f", &f]);
    assert_eq!(code(&o), 3, "{o:?}");
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("{f}:14:14: device \"ipmi_node2\"")),
        "{out}"
    );
    assert_eq!(last_line(&o), "Configuration fails to validate");
}

#[test]
fn not_well_formed_file_exits_3() {
    let f = fixture("invalid/xml-truncated.conf").display().to_string();
    let o = validate(&["-f", &f]);
    assert_eq!(code(&o), 3, "{o:?}");
    assert!(stdout(&o).contains(": XML: "), "{o:?}");
}

#[test]
fn missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir
        .path()
        .join("no-such-cluster.conf")
        .display()
        .to_string();
    let o = validate(&["-f", &f]);
    assert_eq!(code(&o), 2, "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!("{f}: cannot read: ")),
        "{o:?}"
    );
}

#[test]
fn usage_errors_exit_255() {
    for args in [
        vec!["--bogus"],
        vec!["-f"],
        vec!["-R"],
        vec!["-R", "seven", "-f", "/dev/null"],
        vec!["-x", "-f", "/dev/null"],
    ] {
        let o = validate(&args);
        assert_eq!(code(&o), 255, "{args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{args:?}: usage goes to stderr");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Usage: ccs_config_validate"),
            "{args:?}: {o:?}"
        );
    }
}

#[test]
fn running_version_check() {
    // config_version is 42: only an older running version lets it through.
    let o = validate(&["-R", "41", "-f", &v42()]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(last_line(&o), "Configuration validates");
    for running in ["42", "43", "1000"] {
        let o = validate(&["-f", &v42(), "-R", running]);
        assert_eq!(code(&o), 254, "-R {running}: {o:?}");
        assert_eq!(
            last_line(&o),
            "Error: Configuration version is older than running config!"
        );
    }
}

#[test]
fn unreadable_version_exits_253() {
    let text = std::fs::read_to_string(v42()).unwrap();
    for (what, replacement) in [
        ("missing", ""),
        ("a word", "config_version=\"forty-three\""),
        ("negative", "config_version=\"-43\""),
    ] {
        let (_dir, f) = temp_conf(&text.replace("config_version=\"42\"", replacement));
        let o = validate(&["-R", "41", "-f", &f]);
        assert_eq!(code(&o), 253, "config_version {what}: {o:?}");
        assert_eq!(
            last_line(&o),
            "Error: unable to read the configuration version"
        );
        // Without -R the same file is simply invalid.
        assert_eq!(code(&validate(&["-f", &f])), 3, "config_version {what}");
    }
}

#[test]
fn quiet_prints_nothing() {
    let invalid = fixture("invalid/dup-nodeid.conf").display().to_string();
    let warns = fixture("valid/vendor-extensions.conf")
        .display()
        .to_string();
    let valid = v42();
    for (args, want) in [
        (vec!["-q", "-f", valid.as_str()], 0),
        (vec!["-q", "-f", warns.as_str()], 0),
        (vec!["-f", invalid.as_str(), "-q"], 3),
        (vec!["-q", "-f", "/nonexistent/cluster.conf"], 2),
        (vec!["-q", "-R", "42", "-f", valid.as_str()], 254),
    ] {
        let o = validate(&args);
        assert_eq!(code(&o), want, "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}: {o:?}");
        assert!(o.stderr.is_empty(), "{args:?}: {o:?}");
    }
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let o = validate(args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)));
    (code(&o), v)
}

#[test]
fn json_report() {
    let f = fixture("valid/vendor-extensions.conf")
        .display()
        .to_string();
    let (c, v) = json(&["--json", "-f", &f]);
    assert_eq!(c, 0);
    assert_eq!(v["file"], f.as_str());
    assert_eq!(v["valid"], true);
    assert_eq!(v["config_version"], 2);
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 6, "{v:#}");
    assert_eq!(warnings[0]["line"], 2);
    assert_eq!(warnings[0]["column"], 10);
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(
        warnings[0]["message"],
        "unknown attribute \"alias\" on <cluster> (kept, not used)"
    );

    let f = fixture("invalid/schema-three-problems.conf")
        .display()
        .to_string();
    let (c, v) = json(&["-f", &f, "--json"]);
    assert_eq!(c, 3);
    assert_eq!(v["valid"], false);
    assert_eq!(v["config_version"], 12);
    let errors = v["errors"].as_array().unwrap();
    let at: Vec<(u64, u64)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, [(11, 38), (28, 47), (43, 24)], "{v:#}");
    assert!(errors.iter().all(|e| e["severity"] == "error"));

    // Not well-formed: no version, one error.
    let f = fixture("invalid/xml-mismatched-tag.conf")
        .display()
        .to_string();
    let (c, v) = json(&["--json", "-f", &f]);
    assert_eq!(c, 3);
    assert_eq!(v["config_version"], serde_json::Value::Null);
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);

    // -R failures are not "valid" even when the file is.
    let (c, v) = json(&["--json", "-R", "42", "-f", &v42()]);
    assert_eq!(c, 254);
    assert_eq!(v["valid"], false);
}

#[test]
fn output_is_deterministic() {
    for rel in [
        "invalid/mixed-schema-ref-dup.conf",
        "invalid/max-ip-three-services.conf",
        "valid/vendor-extensions.conf",
    ] {
        let f = fixture(rel).display().to_string();
        for args in [vec!["-f", f.as_str()], vec!["--json", "-f", f.as_str()]] {
            let a = validate(&args);
            let b = validate(&args);
            assert_eq!(a.stdout, b.stdout, "{args:?}");
            assert_eq!(code(&a), code(&b), "{args:?}");
        }
    }
}

#[test]
fn dump_revalidates_and_is_stable() {
    let dir = fixture("valid");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 19);
    for conf in confs {
        let f = conf.display().to_string();
        let first = run(DUMP, &["-f", &f]);
        assert_eq!(code(&first), 0, "{f}: {first:?}");
        let dumped = stdout(&first);
        assert!(
            dumped.starts_with("<?xml version=\"1.0\"?>\n<cluster "),
            "{f}"
        );
        let (_tmp, dumped_path) = temp_conf(&dumped);

        // The dump validates, with as many findings of each kind as the original.
        let (c0, before) = json(&["--json", "-f", &f]);
        let (c1, after) = json(&["--json", "-f", &dumped_path]);
        assert_eq!((c0, c1), (0, 0), "{f}: {after:#}");
        assert_eq!(
            before["warnings"].as_array().unwrap().len(),
            after["warnings"].as_array().unwrap().len(),
            "{f}: {after:#}"
        );
        assert_eq!(before["config_version"], after["config_version"], "{f}");

        let second = run(DUMP, &["-f", &dumped_path]);
        assert_eq!(code(&second), 0, "{f}");
        assert_eq!(dumped, stdout(&second), "{f}: dump of dump differs");
    }
}

#[test]
fn dump_exit_statuses() {
    let o = run(DUMP, &["-f", "/nonexistent/cluster.conf"]);
    assert_eq!(code(&o), 2, "{o:?}");
    assert!(o.stdout.is_empty());

    let f = fixture("invalid/xml-duplicate-attribute.conf")
        .display()
        .to_string();
    let o = run(DUMP, &["-f", &f]);
    assert_eq!(code(&o), 3, "{o:?}");
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with(&format!("{f}:4:49: XML: ")),
        "{o:?}"
    );

    // An invalid but well-formed file is still dumped: the dump is not a validator.
    let f = fixture("invalid/dup-nodeid.conf").display().to_string();
    assert_eq!(code(&run(DUMP, &["-f", &f])), 0);

    for args in [vec!["--bogus"], vec!["-f"]] {
        let o = run(DUMP, &args);
        assert_eq!(code(&o), 255, "{args:?}: {o:?}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn version_names_the_build() {
    for (prog, name) in [(VALIDATE, "ccs_config_validate"), (DUMP, "ccs_config_dump")] {
        for flag in ["-V", "--version"] {
            let o = run(prog, &[flag]);
            assert_eq!(code(&o), 0, "{o:?}");
            assert_eq!(stdout(&o), format!("{name} {}\n", tooldoc::VERSION));
        }
        let o = run(prog, &["-h"]);
        assert_eq!(code(&o), 0, "{o:?}");
        assert!(stdout(&o).contains("-V, --version"), "{o:?}");
    }
}

#[test]
fn corosync_conf_is_generated_from_a_valid_file_and_written_whole() {
    let (dir, f) = temp_conf(
        r#"<?xml version="1.0"?>
<cluster name="web" config_version="3">
  <cman two_node="1" expected_votes="1"/>
  <totem token="300"/>
  <clusternodes>
    <clusternode name="node1" nodeid="1"/>
    <clusternode name="node2" nodeid="2"/>
  </clusternodes>
</cluster>
"#,
    );
    let o = run(DUMP, &["-f", &f, "--corosync"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let text = stdout(&o);
    assert!(text.contains("cluster_name: web\n"), "{text}");
    assert!(
        text.contains("two_node: 1\n    wait_for_all: 0\n"),
        "{text}"
    );

    // -o writes the same text, and replaces a file already there.
    let out = dir.path().join("corosync.conf");
    std::fs::write(&out, "old").unwrap();
    let o = run(
        DUMP,
        &["-f", &f, "--corosync", "-o", &out.display().to_string()],
    );
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 2, "cluster.conf and corosync.conf only");

    // An output that cannot be written: 4, and the old file stays.
    let o = run(
        DUMP,
        &[
            "-f",
            &f,
            "--corosync",
            "-o",
            "/nonexistent/dir/corosync.conf",
        ],
    );
    assert_eq!(code(&o), 4, "{o:?}");

    // Only a valid cluster.conf is turned into a corosync.conf: located errors, exit 3, and
    // an existing output is left as it was.
    let bad = fixture("invalid/dup-nodeid.conf").display().to_string();
    let o = run(
        DUMP,
        &["-f", &bad, "--corosync", "-o", &out.display().to_string()],
    );
    assert_eq!(code(&o), 3, "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with(&format!("{bad}:")),
        "{o:?}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    // What corosync cannot run is named: a quorum disk.
    let (_d, q) = temp_conf(
        r#"<cluster name="c" config_version="1"><quorumd label="q"/><clusternodes>
        <clusternode name="a" nodeid="1"/></clusternodes></cluster>"#,
    );
    let o = run(DUMP, &["-f", &q, "--corosync"]);
    assert_eq!(code(&o), 3, "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("quorum disk"),
        "{o:?}"
    );
}
