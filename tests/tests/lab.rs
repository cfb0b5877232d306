//! The fault lab (`cluster_tests::lab`, issue 16) in the test suite, so that it cannot rot: a
//! short fixed-seed run on three namespace hosts with real daemons and BMCs, which must find
//! no violation, then two steps that break the cluster's promises behind its back (the
//! floating address added by hand on a second host, the web script started by hand on a
//! second host), which the observer must catch: a lab that cannot fail proves nothing. Needs
//! root (CI runs as root); about a minute and a half.
//!
//! The long runs are `tests/bench/cts` (docs/RELIABILITY.md, "The fault lab").

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use cluster_tests::lab::engine::{run, RunOptions};
use cluster_tests::lab::fault::Fault;
use cluster_tests::lab::{report, Lab, Options};

fn bins() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_name_httpd"))
        .parent()
        .unwrap()
        .to_path_buf();
    for b in ["rgmanager", "clustat", "clusvcadm", "ccs_sync"] {
        assert!(
            dir.join(b).exists(),
            "{b} is not built in {}: run the workspace's tests (`cargo test --workspace`)",
            dir.display()
        );
    }
    dir
}

/// Seed 7's first eight steps on three nodes: an unreachable BMC while its node dies, a
/// freeze, a partition with web's node in the minority, a failing status check, a relocation,
/// a second minority partition, web's process killed, a power-off through the BMC
/// (`cts 8 --seed 7 --dry-run` lists them).
const SEED: u64 = 7;
const STEPS: u64 = 8;

#[test]
fn a_short_fixed_seed_run_finds_nothing_and_sabotage_is_caught() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the lab makes network namespaces: the tests run as root"
    );
    let out = tempfile::tempdir().unwrap();
    let o = Options {
        nodes: 3,
        token: None,
        boot_time: Duration::from_secs(1),
        bins: bins(),
    };
    let mut lab = Lab::new(o, out.path()).unwrap();
    let ro = RunOptions {
        seed: SEED,
        first: 1,
        iterations: STEPS,
        until: None,
        only: Vec::new(),
        replay: "tests/bench/cts".into(),
        replay_opts: " --nodes 3".into(),
    };
    let mut lines = Vec::new();
    let records = run(&mut lab, &ro, &mut lines, &AtomicBool::new(false));
    let printed = String::from_utf8_lossy(&lines).into_owned();
    let journal = || std::fs::read_to_string(out.path().join("journal.log")).unwrap_or_default();
    assert_eq!(
        records.len() as u64,
        STEPS,
        "{printed}\n{}\n{}",
        journal(),
        lab.h.logs(40)
    );
    let violations: usize = records.iter().map(|r| r.violations.len()).sum();
    assert_eq!(
        violations,
        0,
        "{printed}\n{}\n{}",
        journal(),
        lab.h.logs(60)
    );
    // The faults are the seed's, whatever the machine: the run is reproducible.
    let kinds: Vec<&str> = records.iter().map(|r| r.kind).collect();
    let drawn: Vec<&str> = (1..=STEPS)
        .map(|s| Fault::pick(SEED, s, 3, &[]).unwrap().kind())
        .collect();
    assert_eq!(kinds, drawn);
    // Something really went down and came back (the lab is not watching an idle cluster).
    assert!(records.iter().any(|r| r.recovery.is_some()), "{printed}");
    let table = report::summary(&records);
    assert!(table.contains(&format!("| all | {STEPS} |")), "{table}");

    let r = lab.iteration(STEPS + 1, &Fault::SabotageVip);
    assert!(
        r.violations
            .iter()
            .any(|(rule, _)| rule.starts_with("one holder of the address")),
        "the address on two hosts went unseen: {:?}\n{}",
        r.violations,
        journal()
    );
    let r = lab.iteration(STEPS + 2, &Fault::SabotageStart);
    let rules: Vec<&str> = r.violations.iter().map(|(rule, _)| rule.as_str()).collect();
    assert!(
        rules.contains(&"one runner (processes)") && rules.contains(&"one runner, fenced first"),
        "web running on two hosts went unseen: {:?}\n{}",
        r.violations,
        journal()
    );
}
