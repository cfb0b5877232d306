//! The command-line tools' front ends: argument parsing, talking to the daemon, printing. Each
//! `src/bin/*.rs` calls one `run` here; the logic they print comes from the library modules.

pub mod clustat;
