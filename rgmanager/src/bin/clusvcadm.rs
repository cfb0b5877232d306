//! `clusvcadm`: service requests to the cluster (see `rgmanager::cli::clusvcadm`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::cli::clusvcadm::run(&args))
}
