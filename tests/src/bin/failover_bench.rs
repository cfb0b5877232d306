//! `failover_bench [--runs N] [--only keepalived|rgmanager|rgmanager-defaults|rgmanager-tuned]
//! [--token MS]`: the failover benchmark on
//! namespace hosts (see `cluster_tests::failover_bench`); prints a Markdown table. Root only;
//! the rgmanager binaries and `name_httpd` must be in this program's directory (the script
//! `tests/bench/failover-netns` builds them).

use std::path::PathBuf;

use std::time::Duration;

use cluster_tests::failover_bench::{bench, table, Failure, Keepalived, Rgmanager, System};
use cluster_tests::seed::Options;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 10usize;
    let mut only: Option<String> = None;
    let mut token: u32 = 200;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => {
                    eprintln!("failover_bench: --runs needs a positive number");
                    std::process::exit(2);
                }
            },
            "--only" => only = it.next().cloned(),
            "--token" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => token = n,
                _ => {
                    eprintln!("failover_bench: --token needs a positive number of ms");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: failover_bench [--runs N] \
                     [--only keepalived|rgmanager|rgmanager-defaults|rgmanager-tuned] [--token MS]"
                );
                std::process::exit(2);
            }
        }
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let httpd = bin_dir.join("name_httpd").display().to_string();
    let mut systems: Vec<Box<dyn System>> = Vec::new();
    if only.as_deref().is_none_or(|o| o == "keepalived") {
        for advert in [0.1, 1.0] {
            systems.push(Box::new(Keepalived {
                advert,
                httpd: httpd.clone(),
            }));
        }
    }
    let wants = |row: &str| only.as_deref().is_none_or(|o| o == "rgmanager" || o == row);
    // The seed's configuration as it is (our default token of 1 s, fence_ipmilan with
    // fence-agents' defaults: `reboot`, `power_wait` 2 s), and tuned: the same with
    // `<totem token>` 200 ms (or --token). A rebooted node boots 3 s after its BMC powers it
    // on; `sleeptime` 0 so that failback does not wait.
    let base = Options {
        ip_sleeptime: 0,
        boot_time: Duration::from_secs(3),
        ..Options::default()
    };
    if wants("rgmanager-defaults") {
        systems.push(Box::new(Rgmanager::new(&bin_dir, "defaults", base.clone())));
    }
    if wants("rgmanager-tuned") {
        systems.push(Box::new(Rgmanager::new(
            &bin_dir,
            &format!("token {token} ms"),
            Options {
                token: Some(token),
                ..base
            },
        )));
    }
    let failures = [Failure::NodeDies, Failure::CablePulled];
    let mut rows = Vec::new();
    for mut s in systems {
        match bench(s.as_mut(), &failures, runs) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("failover_bench: {} {}: {e}", s.name(), s.settings());
                std::process::exit(1);
            }
        }
    }
    print!("{}", table(&rows));
}
