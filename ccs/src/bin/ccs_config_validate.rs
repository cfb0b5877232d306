//! `ccs_config_validate`: checks a cluster.conf as RHCS's tool of that name did.
use std::process::ExitCode;

fn main() -> ExitCode {
    ccs::cli::config_validate(std::env::args().skip(1).collect())
}
