//! Golden start and stop orders of services that mix the native agents of the classic types
//! (`lvm`, `fs`, `nfsexport`, `nfsclient`, `ip`, `script`, `apache`, `mysql`, `postgres-8`)
//! with our own types (`ocf`, `systemd`): `rg_test noop` over
//! `ccs/tests/fixtures/valid/resource-agents.conf` (which the validator and the schema accept,
//! `ccs/tests/fixtures.rs` and `schema.rs`), every service, compared byte for byte with
//! `tests/restypes/*.expected`. `UPDATE_GOLDEN=1` rewrites the expectations after a deliberate
//! change.
//!
//! What the orders show: typed children by the parent's levels (lvm, fs, nfsexport, nfsclient,
//! ip, script under a service; fs before nfsexport under an fs; the reverse levels on stop);
//! `apache`, `mysql`, `postgres-8`, `ocf` and `systemd` are nobody's typed children, so they
//! come after the typed ones in document order (the order of a Pacemaker group) and stop first
//! in the reverse order; children of an `ocf` resource after it.

use std::path::{Path, PathBuf};

use rgmanager::resource::walk::Op;
use rgmanager::resource::Forest;
use rgmanager::rg_test::{run_offline, Command};

fn conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ccs/tests/fixtures/valid/resource-agents.conf")
}

fn noop(op: Op) -> String {
    let text = std::fs::read_to_string(conf()).unwrap();
    let c = ccs::parse_str(&text).unwrap();
    let f = Forest::build(&c);
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let mut out = String::new();
    for &r in &f.roots {
        let o = run_offline(&Command::Run {
            file: conf(),
            noop: true,
            op,
            kind: "service".into(),
            name: f.resource_of(r).primary_value().to_string(),
        });
        assert_eq!(o.code, 0, "{}", o.stderr);
        out.push_str(&o.stdout);
    }
    out
}

#[test]
fn mixed_services_start_and_stop_in_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/restypes");
    for (op, name) in [(Op::Start, "start"), (Op::Stop, "stop")] {
        let got = noop(op);
        let file = dir.join(format!("resource-agents.{name}.expected"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&file, &got).unwrap();
        }
        let want =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(got, want, "{}", file.display());
    }
}

#[test]
fn the_dump_shows_ocf_parameters_and_our_agents() {
    let o = run_offline(&Command::Dump { file: conf() });
    assert_eq!(o.code, 0, "{}", o.stderr);
    // An OCF resource keeps the agent's parameters (they are not RHCS rules' attributes).
    assert!(o.stdout.contains("Resource type: ocf\n"), "{}", o.stdout);
    assert!(o.stdout.contains("Agent: resource.d/PROVIDER/TYPE\n"));
    assert!(
        o.stdout.contains("    directory = \"/srv/pg\";\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("    cidr_netmask = \"24\";\n"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("Agent: systemctl\n"));
    let rules = run_offline(&Command::Rules);
    assert!(rules.stdout.contains("Resource Rules for \"ocf\""));
    assert!(rules.stdout.contains("Resource Rules for \"systemd\""));
}
