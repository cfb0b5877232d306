//! `rgm_keygen [-k FILE] [-l BYTES] [-f]`: writes a new cluster key, as corosync-keygen did
//! (the key and its rules: `crate::membership::key`). Declared with clap.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use tooldoc::Page;

use super::{parse_clap, Parsed};
use crate::membership::key::{self, DEFAULT_KEY_LEN, DEFAULT_KEY_PATH, MAX_KEY_LEN, MIN_KEY_LEN};

/// The status of a usage error or a failure.
pub const FAILURE: u8 = 1;

const SECTIONS: &[(&str, &str)] = &[
    (
        "Exit status",
        "0 the key was written; 1 it was not (the file exists without -f, a bad length, the \
         directory cannot be written) or bad usage.",
    ),
    (
        "Files",
        "/etc/cluster/authkey  the cluster key every node's rgmanager reads; copy the same \
         file (mode 0400, owner root) to every node of the cluster.",
    ),
];

#[derive(Parser, Debug)]
#[command(
    name = "rgm_keygen",
    version = tooldoc::VERSION,
    about = "write a new cluster key",
    long_about = "rgm_keygen writes a new random cluster key, mode 0400, the way \
                  corosync-keygen did. Every node of a cluster needs the same key: make it \
                  once, then copy it to the other nodes. The file appears whole or not at all, \
                  and an existing key is only replaced with -f. The key is never printed."
)]
struct Cli {
    /// Where to write the key.
    #[arg(short = 'k', value_name = "FILE", default_value = DEFAULT_KEY_PATH)]
    path: PathBuf,
    /// Key length in bytes.
    #[arg(short = 'l', value_name = "BYTES", default_value_t = DEFAULT_KEY_LEN,
          long_help = format!("Key length in bytes, {MIN_KEY_LEN}..{MAX_KEY_LEN}."))]
    len: usize,
    /// Replace an existing key file.
    #[arg(short = 'f')]
    force: bool,
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    Cli::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page.
pub fn page() -> Page {
    Page::from_clap(&command(), 8, SECTIONS).see_also(&["rgmanager(8)", "ccs_sync(8)"])
}

/// Runs the tool with `argv` (without the program name); the exit status.
pub fn run_with(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let a: Cli = match parse_clap(command(), "rgm_keygen", argv, FAILURE, out, err) {
        Parsed::Run(a) => a,
        Parsed::Exit(c) => return c,
    };
    let _ = writeln!(
        out,
        "Writing {} bytes of random data to {}.",
        a.len,
        a.path.display()
    );
    match key::generate(&a.path, a.len, a.force) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "rgm_keygen: {e}");
            FAILURE
        }
    }
}

/// The `rgm_keygen` binary.
pub fn run(argv: &[String]) -> u8 {
    run_with(
        argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}
