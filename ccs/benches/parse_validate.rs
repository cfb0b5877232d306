//! Parse + validate of generated configurations: 64 nodes, 64 failover domains, and 1,000 or
//! 10,000 services each made of an ip and a script (target: < 50 ms at 10,000).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn parse_validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_validate");
    g.sample_size(20);
    for services in [1_000usize, 10_000] {
        let text = ccs::sample::generate(64, 64, services);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(services), &text, |b, text| {
            b.iter(|| {
                let report = ccs::check_str(text);
                assert!(report.is_valid());
                report
            })
        });
    }
    g.finish();
}

fn write(c: &mut Criterion) {
    let conf = match ccs::parse_str(&ccs::sample::generate(64, 64, 10_000)) {
        Ok(c) => c,
        Err(e) => panic!("generated config does not parse: {e}"),
    };
    c.bench_function("write/10000", |b| b.iter(|| ccs::write(&conf)));
}

criterion_group!(benches, parse_validate, write);
criterion_main!(benches);
