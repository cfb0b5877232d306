//! Prints a generated cluster.conf: `gen_conf SERVICES [NODES] [DOMAINS]` (defaults 64 and 64).
//! Used to put our validator beside `xmllint --relaxng` on the same file (docs/PERFORMANCE.md).
fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let services = args.next().and_then(Result::ok).unwrap_or(1000);
    let nodes = args.next().and_then(Result::ok).unwrap_or(64);
    let domains = args.next().and_then(Result::ok).unwrap_or(64);
    print!("{}", ccs::sample::generate(nodes, domains, services));
}
