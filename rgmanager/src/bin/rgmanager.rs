//! `rgmanager`: the node daemon (see `rgmanager::daemon`). The command line is parsed here with
//! its clap declaration (`rgmanager::cli::daemon_args`: `--help`, `--version`, usage errors)
//! and handed to the daemon spelled out.
use std::process::ExitCode;

use rgmanager::cli::{daemon_args, Parsed};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = daemon_args::parse(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    match parsed {
        Parsed::Run(a) => ExitCode::from(rgmanager::daemon::main(&daemon_args::canonical(&a))),
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
