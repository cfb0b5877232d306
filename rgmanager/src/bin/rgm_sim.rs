//! `rgm_sim`: runs the cluster simulator (`rgmanager::sim`) over many seeds, or replays one.
//!
//! ```text
//! rgm_sim [--seeds N] [--from S] [--nodes N] [--steps N] [--threads T] [--attack]
//! rgm_sim --seed S [--nodes N] [--steps N] [--verbose] [--attack]
//! ```
//! `--attack` adds an attacker that replays and redirects recorded datagrams at each step.
//! Exit status: 0 when no schedule broke an invariant, 1 when one did (its seed, the broken
//! invariant and the last steps are printed), 2 for a usage error.

use std::process::ExitCode;
use std::time::Instant;

use rgmanager::sim::{self, Options};

const USAGE: &str =
    "usage: rgm_sim [--seeds N] [--from S] [--nodes N] [--steps N] [--threads T] [--attack]\n\
       rgm_sim --seed S [--nodes N] [--steps N] [--verbose] [--attack]\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds: u64 = 1000;
    let mut from: u64 = 1;
    let mut one: Option<u64> = None;
    let mut nodes: Option<u32> = None;
    let mut steps: Option<u32> = None;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut verbose = false;
    let mut attack = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> Option<u64> {
            let v = it.next()?;
            match v.parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    eprintln!("rgm_sim: {what} needs a number, not {v:?}");
                    None
                }
            }
        };
        let ok = match a.as_str() {
            "--seeds" => num("--seeds").map(|n| seeds = n),
            "--from" => num("--from").map(|n| from = n),
            "--seed" => num("--seed").map(|n| one = Some(n)),
            "--nodes" => num("--nodes").map(|n| nodes = Some(n as u32)),
            "--steps" => num("--steps").map(|n| steps = Some(n as u32)),
            "--threads" => num("--threads").map(|n| threads = n.max(1) as usize),
            "--verbose" => {
                verbose = true;
                Some(())
            }
            "--attack" => {
                attack = true;
                Some(())
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("rgm_sim {}", tooldoc::VERSION);
                return ExitCode::SUCCESS;
            }
            _ => None,
        };
        if ok.is_none() {
            eprint!("rgm_sim: bad argument {a:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    if let Some(seed) = one {
        if verbose {
            rgmanager::sim::log_to_stderr();
        }
        let mut o = Options::random(seed);
        if let Some(n) = nodes {
            o.nodes = n;
        }
        if let Some(s) = steps {
            o.steps = s;
        }
        o.verbose = verbose;
        o.attack = attack;
        let out = sim::run_catching(&o);
        println!(
            "seed {seed}: {} nodes, {} faults, {:.0} s simulated, {} starts, {} fence runs, {} pushes",
            o.nodes,
            out.stats.faults,
            out.stats.simulated.as_secs_f64(),
            out.stats.starts,
            out.stats.fences,
            out.stats.pushes
        );
        return match out.violation {
            None => {
                println!("no invariant broken");
                ExitCode::SUCCESS
            }
            Some(v) => {
                println!("{v}");
                ExitCode::from(1)
            }
        };
    }
    let t = Instant::now();
    let outs = sim::run_many(from..from + seeds, threads, nodes, steps, attack);
    let secs = t.elapsed().as_secs_f64();
    let bad: Vec<_> = outs.iter().filter_map(|o| o.violation.as_ref()).collect();
    let simulated: f64 = outs.iter().map(|o| o.stats.simulated.as_secs_f64()).sum();
    let faults: u64 = outs.iter().map(|o| o.stats.faults).sum();
    println!(
        "{} schedules (seeds {from}..{}), {faults} faults, {:.1} simulated hours, {secs:.1} s, \
         {} violation(s)",
        outs.len(),
        from + seeds,
        simulated / 3600.0,
        bad.len()
    );
    if let Some(v) = bad.first() {
        println!("{v}");
        let seeds: Vec<String> = bad.iter().map(|v| v.seed.to_string()).collect();
        println!("failing seeds: {}", seeds.join(" "));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
