//! Times the phases of loading a large generated cluster.conf (parse into the model, validate,
//! write, drop), then what the benchmark measures (`ccs::check_str`, which makes the resource
//! checks while parsing, and the drop of its report):
//! `cargo run --release -p ccs --example phases [SERVICES] [ROUNDS] [check]`; with `check`,
//! only the second part. A tool for profiling (e.g. under `valgrind --tool=callgrind`), not a
//! benchmark.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let services = number(0, 10_000);
    let rounds = number(1, 1);
    let only_check = args.get(2).is_some_and(|a| a == "check");
    let text = ccs::sample::generate(64, 64, services);
    for _ in 0..rounds {
        if !only_check {
            phases(&text);
        }
        let t = Instant::now();
        let report = ccs::check_str(&text);
        let t1 = t.elapsed();
        let findings = report.diagnostics.len();
        drop(report);
        let t2 = t.elapsed();
        println!(
            "check_str {:?}, drop {:?} ({findings} findings)",
            t1,
            t2 - t1
        );
    }
}

fn phases(text: &str) {
    let t = Instant::now();
    let Ok(conf) = ccs::parse_str(text) else {
        eprintln!("generated text does not parse");
        std::process::exit(1);
    };
    let t1 = t.elapsed();
    let d = ccs::validate::validate(&conf);
    let t3 = t.elapsed();
    let w = ccs::write(&conf);
    let t4 = t.elapsed();
    drop(conf);
    let t5 = t.elapsed();
    println!(
        "{} bytes: parse into the model {:?}, validate {:?}, write {:?}, drop {:?} ({} findings, {} bytes written)",
        text.len(),
        t1,
        t3 - t1,
        t4 - t3,
        t5 - t4,
        d.len(),
        w.len()
    );
}
