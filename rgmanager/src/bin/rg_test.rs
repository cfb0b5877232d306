//! `rg_test`: try cluster.conf resource trees without a cluster (see `rgmanager::rg_test`;
//! command line: `rgmanager::cli::rg_test`).

use std::process::ExitCode;

use rgmanager::cli::{self, Parsed};
use rgmanager::resource::agent::Agents;
use rgmanager::rg_test;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::rg_test::parse(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ) {
        Parsed::Run(c) => c,
        Parsed::Exit(code) => return ExitCode::from(code),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_target(false)
        .init();
    let out = rg_test::run(&cmd, &Agents::builtin());
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
