//! `rgm_keygen`: write a new cluster key, like corosync-keygen (see
//! `rgmanager::cli::rgm_keygen`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::cli::rgm_keygen::run(&args))
}
