//! `cts ITERATIONS [--seed S] [--nodes N] [--token MS] [--first K] [--faults LIST] [--out DIR]
//! [--boot-time SECS] [--duration MINUTES] [--dry-run]`: the cluster test lab (`cluster_tests::lab`, run by `tests/bench/cts`).
//! Builds 3 to 5 namespace hosts with real daemons and BMCs, then runs ITERATIONS random faults
//! from the seed, one line each, and a summary table. Root only; the rgmanager binaries and
//! `name_httpd` must be in this program's directory.
//!
//! Exit status: 0 no violation, 1 a violation (its logs kept under the output directory),
//! 2 usage, 3 the lab could not be built, 130 interrupted (after the summary of the steps done).
//!
//! The process first makes itself a child subreaper and runs the lab as its child: the hosts'
//! processes (daemons, web servers, boot scripts) are orphaned all the time, and on a machine
//! whose init does not reap, hours of runs would otherwise fill the process table with zombies.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use cluster_tests::lab::engine::{run, RunOptions};
use cluster_tests::lab::fault::{Fault, KINDS};
use cluster_tests::lab::{report, Lab, Options};

#[derive(Parser, Debug)]
#[command(
    name = "cts",
    about = "The cluster test lab: random faults on real namespace hosts, checked from outside"
)]
struct Args {
    /// How many steps to run (at most, with --duration).
    iterations: u64,
    /// Begin no step after this many minutes (a run for a time: `cts 1000000 --duration 60`).
    #[arg(long)]
    duration: Option<f64>,
    /// The run's seed (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Cluster nodes, 3 to 5 (one more host is the spare that "config-node" adds).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// <totem token> in ms (default: none written, the daemon's 1000 ms).
    #[arg(long)]
    token: Option<u32>,
    /// The first step's number (to replay step K alone: `1 --first K`).
    #[arg(long, default_value_t = 1)]
    first: u64,
    /// Only these fault kinds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Where the journal, the report and a violation's logs go (default target/cts/seed-S).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds from a host's power-on to its daemon's start.
    #[arg(long, default_value_t = 3.0)]
    boot_time: f64,
    /// Print the steps' faults (as drawn from the seed) and exit, building nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Marks the run's child process in its environment.
const CHILD: &str = "RGM_CTS_CHILD";

static STOP: AtomicBool = AtomicBool::new(false);
static LAB_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn forward(sig: libc::c_int) {
    let pid = LAB_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn handle(sig: libc::c_int, f: extern "C" fn(libc::c_int)) {
    // SAFETY: installing a handler that only touches atomics or calls kill(2).
    unsafe {
        libc::signal(sig, f as *const () as libc::sighandler_t);
    }
}

/// The subreaper: runs the lab as a child, reaps every orphan until the child exits, passes
/// SIGTERM on (SIGINT from the terminal reaches the child by itself).
fn supervise() -> i32 {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER and an integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!(
            "cts: cannot become a subreaper: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: ignoring SIGINT in this process only.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cts: cannot find this program: {e}");
            return 3;
        }
    };
    let child = match Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD, "1")
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cts: cannot start the lab: {e}");
            return 3;
        }
    };
    let pid = child.id() as i32;
    LAB_PID.store(pid, Ordering::SeqCst);
    handle(libc::SIGTERM, forward);
    loop {
        let mut status = 0;
        // SAFETY: waitpid for any child with a valid status pointer.
        let got = unsafe { libc::waitpid(-1, &mut status, 0) };
        if got == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            return 128 + libc::WTERMSIG(status);
        }
        if got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 3;
        }
    }
}

/// Writes to stdout and to the report file.
struct Tee(Option<std::fs::File>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.0 {
            let _ = f.write_all(buf);
        }
        std::io::stdout().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let args = Args::parse();
    for k in &args.faults {
        if !KINDS.contains(&k.as_str()) {
            eprintln!(
                "cts: unknown fault kind {k:?}; the kinds: {}",
                KINDS.join(", ")
            );
            std::process::exit(2);
        }
    }
    if !(3..=5).contains(&args.nodes) {
        eprintln!("cts: --nodes must be 3 to 5, not {}", args.nodes);
        std::process::exit(2);
    }
    if args
        .duration
        .is_some_and(|m| !(0.0..=100_000.0).contains(&m))
    {
        eprintln!("cts: --duration must be 0 to 100000 minutes");
        std::process::exit(2);
    }
    if !(0.0..=600.0).contains(&args.boot_time) {
        eprintln!("cts: --boot-time must be 0 to 600 seconds");
        std::process::exit(2);
    }
    if args.dry_run {
        let seed = args.seed.unwrap_or(1);
        for step in args.first..args.first + args.iterations {
            match Fault::pick(seed, step, args.nodes, &args.faults) {
                Some(f) => println!("step {step}: {f:?}"),
                None => println!("step {step}: no fault of the kinds asked for fits"),
            }
        }
        return;
    }
    if std::env::var_os(CHILD).is_none() {
        std::process::exit(supervise());
    }
    handle(libc::SIGINT, on_stop);
    handle(libc::SIGTERM, on_stop);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("cts: the lab makes network namespaces: run it as root");
        std::process::exit(3);
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000)
    });
    let bins = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    for b in [
        "rgmanager",
        "clustat",
        "clusvcadm",
        "ccs_sync",
        "name_httpd",
    ] {
        if !bins.join(b).exists() {
            eprintln!(
                "cts: {b} is not in {} (tests/bench/cts builds it)",
                bins.display()
            );
            std::process::exit(3);
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/cts/seed-{seed}")));
    let token = args
        .token
        .map_or("1000 ms (default)".to_string(), |t| format!("{t} ms"));
    let mut tee = Tee(std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::File::create(out.join("report.txt")))
        .ok());
    let load_before = loadavg();
    let _ = writeln!(
        tee,
        "cts: seed {seed}, {} nodes, token {token}, steps {}..{}, load {load_before}, output {}",
        args.nodes,
        args.first,
        args.first + args.iterations.saturating_sub(1),
        out.display()
    );
    let began = Instant::now();
    let o = Options {
        nodes: args.nodes,
        token: args.token,
        boot_time: Duration::from_secs_f64(args.boot_time),
        bins,
    };
    let mut lab = match Lab::new(o, &out) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(tee, "cts: the lab could not be built: {e}");
            std::process::exit(3);
        }
    };
    let _ = writeln!(
        tee,
        "cts: cluster up in {:.1}s",
        began.elapsed().as_secs_f64()
    );
    let mut replay_opts = format!(" --nodes {}", args.nodes);
    if let Some(t) = args.token {
        replay_opts += &format!(" --token {t}");
    }
    if !args.faults.is_empty() {
        replay_opts += &format!(" --faults {}", args.faults.join(","));
    }
    let ro = RunOptions {
        seed,
        first: args.first,
        iterations: args.iterations,
        until: args
            .duration
            .map(|m| began + Duration::from_secs_f64(m * 60.0)),
        only: args.faults.clone(),
        replay: "tests/bench/cts".into(),
        replay_opts,
    };
    let records = run(&mut lab, &ro, &mut tee, &STOP);
    let violations: usize = records.iter().map(|r| r.violations.len()).sum();
    let (sweeps, rounds, slowest) = lab
        .observer
        .with(|s| (s.sweeps, s.arp_rounds, s.slowest_sweep));
    let _ = writeln!(
        tee,
        "\ncts: {} iterations in {:.0}s, seed {seed}, {} nodes, token {token}; load {load_before} before, {} after\n\
         observer: {sweeps} sweeps of every host (slowest {:.1} ms), {rounds} ARP rounds\n",
        records.len(),
        began.elapsed().as_secs_f64(),
        args.nodes,
        loadavg(),
        slowest.as_secs_f64() * 1000.0
    );
    let _ = writeln!(tee, "{}", report::summary(&records));
    let _ = writeln!(tee, "violations: {violations}");
    drop(lab);
    if violations > 0 {
        std::process::exit(1);
    }
    if STOP.load(Ordering::SeqCst) {
        std::process::exit(130);
    }
}
