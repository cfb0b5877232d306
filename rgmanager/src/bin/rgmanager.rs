//! `rgmanager`: the node daemon (see `rgmanager::daemon`). The command line is parsed with its
//! clap declaration (`rgmanager::cli::daemon_args`: `--help`, `--version`, usage errors).
//!
//! systemd's notification socket is taken from the environment first, while this is the only
//! thread, so that the resource agents do not inherit it (`rgmanager::sd_notify`).
use std::process::ExitCode;

use rgmanager::cli::{daemon_args, Parsed};
use rgmanager::sd_notify::Notifier;

fn main() -> ExitCode {
    let notifier = Notifier::from_env().unwrap_or_else(|_| Notifier::disabled());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = daemon_args::parse(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    match parsed {
        Parsed::Run(a) => ExitCode::from(rgmanager::daemon::run::run(&a, notifier)),
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
