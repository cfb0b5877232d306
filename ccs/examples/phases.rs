//! Times the phases of loading a large generated cluster.conf (parse into the model, validate,
//! write, drop), then `ccs::check_str` and the drop of its report:
//! `cargo run --release -p ccs --example phases [SERVICES] [ROUNDS]`. A tool for profiling
//! (e.g. under `perf record` or `valgrind --tool=callgrind`), not a benchmark.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let services = args.next().and_then(Result::ok).unwrap_or(10_000);
    let rounds = args.next().and_then(Result::ok).unwrap_or(1);
    let text = ccs::sample::generate(64, 64, services);
    for _ in 0..rounds {
        let t = Instant::now();
        let Ok(conf) = ccs::parse_str(&text) else {
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
        // What the benchmark measures: `check_str` (parse with the resource checks made as it
        // goes, the other checks), then dropping the report.
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
