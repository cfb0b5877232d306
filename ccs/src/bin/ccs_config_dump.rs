//! `ccs_config_dump [-f FILE]`: prints the canonical written form of a cluster.conf.
use std::process::ExitCode;

fn main() -> ExitCode {
    ccs::cli::config_dump(std::env::args().skip(1).collect())
}
