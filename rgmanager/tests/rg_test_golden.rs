//! The upstream rgmanager regression suite's start/stop expectations
//! (`tests/rg_test/*.start.expected`, `*.stop.expected`), reproduced byte for byte by
//! `rg_test noop FILE start|stop service NAME` run for every service of the config, as the
//! upstream `runtests.sh` did.

use std::path::{Path, PathBuf};

use rgmanager::resource::walk::Op;
use rgmanager::resource::Forest;
use rgmanager::rg_test::{run_offline, Command};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rg_test")
}

fn services(conf: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(conf).unwrap();
    let c = ccs::parse_str(&text).unwrap();
    let f = Forest::build(&c);
    f.roots
        .iter()
        .map(|&r| f.resource_of(r).primary_value().to_string())
        .collect()
}

fn noop(conf: &Path, op: Op) -> String {
    let mut out = String::new();
    for svc in services(conf) {
        let o = run_offline(&Command::Run {
            file: conf.to_path_buf(),
            noop: true,
            op,
            kind: "service".into(),
            name: svc,
        });
        assert_eq!(o.code, 0, "{}: {}", conf.display(), o.stderr);
        out.push_str(&o.stdout);
    }
    out
}

#[test]
fn upstream_start_stop_expectations() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 18);
    for conf in entries {
        for (op, suffix) in [(Op::Start, "start"), (Op::Stop, "stop")] {
            let stem = conf.file_stem().unwrap().to_str().unwrap();
            let exp = dir().join(format!("{stem}.{suffix}.expected"));
            let got = noop(&conf, op);
            if let Ok(expected) = std::fs::read_to_string(&exp) {
                assert_eq!(got, expected, "{}", exp.display());
                checked += 1;
            } else {
                // Configs whose expectation was not available still build and run cleanly.
                assert!(!got.is_empty());
            }
        }
    }
    assert_eq!(checked, 22);
}

#[test]
fn every_upstream_config_builds_without_errors_except_test016() {
    for n in 1..=18 {
        let conf = dir().join(format!("test{n:03}.conf"));
        let c = ccs::parse_str(&std::fs::read_to_string(&conf).unwrap()).unwrap();
        let f = Forest::build(&c);
        if n == 16 {
            assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        } else {
            assert!(
                f.problems.is_empty(),
                "{}: {:?}",
                conf.display(),
                f.problems
            );
        }
    }
}
