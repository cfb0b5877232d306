//! `fence_ack_manual`: confirm by hand that a lost node is down (see
//! `rgmanager::cli::fence_ack_manual`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::cli::fence_ack_manual::run(&args))
}
