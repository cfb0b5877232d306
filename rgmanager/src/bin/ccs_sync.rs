//! `ccs_sync`: pushes cluster.conf to every node through the local daemon (see
//! `rgmanager::cli::ccs_sync`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::cli::ccs_sync::run(&args))
}
