//! `rgmanager`: the node daemon (see `rgmanager::daemon`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::daemon::main(&args))
}
