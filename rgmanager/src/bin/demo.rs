//! `demo`: the README's first command (see `rgmanager::demo`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(rgmanager::demo::run(&args))
}
