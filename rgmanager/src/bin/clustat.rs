//! `clustat`: cluster, member and service status (see `rgmanager::cli::clustat`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::cli::clustat::run(&args))
}
