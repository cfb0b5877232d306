//! `failover_bench [--runs N] [--only keepalived|rgmanager|rgmanager-defaults|rgmanager-tuned|
//! corosync|corosync-defaults|corosync-tuned]
//! [--token MS] [--case 2|3c|3o]`: the failover benchmark on
//! namespace hosts (see `cluster_tests::failover_bench`); prints a Markdown table. Root only;
//! the rgmanager binaries and `name_httpd` must be in this program's directory (the script
//! `tests/bench/failover-netns` builds them).

use std::path::PathBuf;

use std::time::Duration;

use cluster_tests::failover_bench::{bench, table, Case, Failure, Keepalived, Rgmanager, System};
use cluster_tests::seed::Options;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 10usize;
    let mut only: Option<String> = None;
    let mut token: u32 = 200;
    let mut case_only: Option<String> = None;
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
            "--case" => case_only = it.next().cloned(),
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
                     [--only keepalived|rgmanager|rgmanager-defaults|rgmanager-tuned|corosync|\
                     corosync-defaults|corosync-tuned] [--token MS] \
                     [--case 2|3c|3o]"
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
    let failures = [Failure::NodeDies, Failure::CablePulled];
    let mut rows = Vec::new();
    let mut run = |sys: &mut dyn System, case: &Case| match bench(sys, case, &failures, runs) {
        Ok(r) => rows.extend(r),
        Err(e) => {
            eprintln!(
                "failover_bench: {} {} {}: {e}",
                sys.name(),
                sys.settings(),
                case.label
            );
            std::process::exit(1);
        }
    };
    let want_case = |c: &str| case_only.as_deref().is_none_or(|o| o == c);
    if only.as_deref().is_none_or(|o| o == "keepalived") && want_case("2") {
        for advert in [0.1, 1.0] {
            let case = Case::new("2 nodes", 2, 1, 2, Duration::from_secs_f64(advert));
            let mut k = Keepalived {
                advert,
                httpd: httpd.clone(),
            };
            run(&mut k, &case);
        }
    }
    let wants = |row: &str| only.as_deref().is_none_or(|o| o == "rgmanager" || o == row);
    // The seed's configuration as it is (our default token of 1 s, fence_ipmilan with
    // fence-agents' defaults: `reboot`, `power_wait` 2 s), and tuned: the same with
    // `<totem token>` 200 ms (or --token). A rebooted node boots 3 s after its BMC powers it
    // on; `sleeptime` 0 so that failback does not wait. Three cases: the seed's two nodes; three
    // nodes where the service's node is the coordinator (node1) and dies, so the new
    // coordinator must first gather every member's report; three nodes where another node
    // (node2) dies and the coordinator survives.
    let base = Options {
        ip_sleeptime: 0,
        boot_time: Duration::from_secs(3),
        debug: std::env::var_os("RGM_BENCH_DEBUG").is_some(),
        ..Options::default()
    };
    // On corosync (the rgmanager binaries built with the `corosync` feature): its corosync.conf
    // generated from the cluster.conf, with our default token (1 s) and tuned (token 300 ms,
    // the shortest the knet link pings hold steadily on this kind of machine).
    let wants_corosync = |row: &str| only.as_deref().is_some_and(|o| o == "corosync" || o == row);
    let settings: Vec<(String, Option<u32>, bool)> = [
        ("rgmanager-defaults", "defaults".to_string(), None, false),
        (
            "rgmanager-tuned",
            format!("token {token} ms"),
            Some(token),
            false,
        ),
        (
            "corosync-defaults",
            "corosync, defaults".to_string(),
            None,
            true,
        ),
        (
            "corosync-tuned",
            "corosync, token 300 ms".to_string(),
            Some(300),
            true,
        ),
    ]
    .into_iter()
    .filter(|(row, _, _, corosync)| {
        if *corosync {
            wants_corosync(row)
        } else {
            wants(row)
        }
    })
    .map(|(_, label, t, corosync)| (label, t, corosync))
    .collect();
    for (label, t, corosync) in settings {
        let phase = Duration::from_millis(u64::from(t.unwrap_or(1000)) / 4);
        let cases = [
            (
                "2",
                Case::new("2 nodes (seed 004)", 2, 1, 2, phase),
                vec![1, 2],
            ),
            (
                "3c",
                Case::new("3 nodes, the coordinator dies", 3, 1, 2, phase),
                vec![1, 2, 3],
            ),
            (
                "3o",
                Case::new("3 nodes, another node dies", 3, 2, 3, phase),
                vec![2, 3, 1],
            ),
        ];
        for (key, case, domain) in cases {
            if !want_case(key) {
                continue;
            }
            let options = Options {
                token: t,
                nodes: case.nodes.len(),
                domain,
                corosync,
                ..base.clone()
            };
            let mut r = Rgmanager::new(&bin_dir, &label, options);
            run(&mut r, &case);
        }
    }
    print!("{}", table(&rows));
}
