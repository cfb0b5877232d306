//! `rg_test`: try cluster.conf resource trees without a cluster (see `rgmanager::rg_test`).

use std::process::ExitCode;

use rgmanager::resource::agent::Agents;
use rgmanager::rg_test;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("rg_test")
        .to_string();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_target(false)
        .init();
    let Some(cmd) = rg_test::parse_args(args.get(1..).unwrap_or(&[])) else {
        print!("{}", rg_test::usage(&arg0));
        return ExitCode::from(1);
    };
    let out = rg_test::run(&cmd, &Agents::builtin());
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
