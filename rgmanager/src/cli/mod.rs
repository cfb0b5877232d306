//! The command-line tools' front ends: argument parsing, talking to the daemon, printing. Each
//! `src/bin/*.rs` calls one `run` here; the logic they print comes from the library modules.
//!
//! Two kinds of parsers, on purpose (docs/ARCHITECTURE.md): `clustat` and `clusvcadm` keep
//! RHCS's getopt(3) behaviour byte for byte ([`Getopt`]: bundled flags, `-sweb`, the first of
//! `-l/-S/-u/-v` wins, their usage texts and exit codes), because scripts and habits depend on
//! them; the tools whose command line is this project's own (`rgmanager`, `ccs_sync`,
//! `rg_test`, `rgm_keygen`, `demo`, `fence_ack_manual`) are declared with clap, which gives
//! them `--help`, `--version`, the man page and the completions from one definition
//! ([`parse_clap`]).

pub mod ccs_sync;
pub mod clustat;
pub mod clusvcadm;
pub mod daemon_args;
pub mod fence_ack_manual;
pub mod rg_test;
pub mod rgm_keygen;

use std::io::Write;

/// What a clap-parsed command line came to: run with these arguments, or exit with this
/// status (help, version and usage errors already printed).
#[derive(Debug)]
pub enum Parsed<T> {
    Run(T),
    Exit(u8),
}

/// Parses `argv` (without the program name) with `cmd`, named `bin` in its messages.
/// `--help` and `--version` print to `out` and exit 0; a usage error prints clap's message to
/// `err` and exits with `usage_status` (each tool keeps the status it always had).
pub fn parse_clap<T: clap::FromArgMatches>(
    cmd: clap::Command,
    bin: &str,
    argv: &[String],
    usage_status: u8,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Parsed<T> {
    let words = std::iter::once(bin.to_string()).chain(argv.iter().cloned());
    // The name it was started as, in usage and `--version` alike (`rgmanager-demo`).
    let matches = cmd
        .name(bin.to_string())
        .bin_name(bin.to_string())
        .try_get_matches_from(words);
    let result = matches.and_then(|m| T::from_arg_matches(&m));
    match result {
        Ok(t) => Parsed::Run(t),
        Err(e) => {
            let text = e.render().to_string();
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    let _ = out.write_all(text.as_bytes());
                    Parsed::Exit(0)
                }
                _ => {
                    let _ = err.write_all(text.as_bytes());
                    Parsed::Exit(usage_status)
                }
            }
        }
    }
}

/// The name this program was started as (for its messages), or `default`.
pub fn program_name(default: &str) -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| default.to_string())
}

/// One option as getopt(3) returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    /// A flag without a value.
    Flag(char),
    /// An option with its value (attached, `-sweb`, or the next word, `-s web`).
    Value(char, String),
    /// An option that takes a value but none followed.
    Missing(char),
    /// A letter not in the spec.
    Unknown(char),
    /// `--word` (our long options; the tool decides what they mean).
    Long(String),
}

/// getopt(3) for the RHCS tools: a spec like `"fIls:m:i:xvQh?"` (a letter followed by `:` takes
/// a value), bundled flags, and `--word` long options. Stops at the first non-option or `--`.
pub struct Getopt<'a> {
    argv: &'a [String],
    spec: &'static str,
    /// Next word, and the position inside a bundle of flags (0 = start a new word).
    word: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    pub fn new(argv: &'a [String], spec: &'static str) -> Self {
        Getopt {
            argv,
            spec,
            word: 0,
            pos: 0,
        }
    }

    /// The next word, for long options that take a value.
    pub fn next_word(&mut self) -> Option<String> {
        let w = self.argv.get(self.word).cloned();
        if w.is_some() {
            self.word += 1;
        }
        w
    }

    fn takes_value(&self, c: char) -> Option<bool> {
        let mut it = self.spec.chars().peekable();
        while let Some(s) = it.next() {
            let value = it.peek() == Some(&':');
            if value {
                it.next();
            }
            if s == c {
                return Some(value);
            }
        }
        None
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if self.pos == 0 {
            let arg = self.argv.get(self.word)?;
            if arg == "--" {
                return None;
            }
            if let Some(long) = arg.strip_prefix("--") {
                self.word += 1;
                return Some(Opt::Long(long.to_string()));
            }
            if !arg.starts_with('-') || arg.len() < 2 {
                return None;
            }
            self.pos = 1;
        }
        let arg: &str = self.argv.get(self.word)?;
        let rest = arg.get(self.pos..).unwrap_or("");
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            self.word += 1;
            self.pos = 0;
            return self.next();
        };
        self.pos += c.len_utf8();
        let tail: String = chars.collect();
        let at_end = tail.is_empty();
        match self.takes_value(c) {
            None => {
                if at_end {
                    (self.word, self.pos) = (self.word + 1, 0);
                }
                Some(Opt::Unknown(c))
            }
            Some(false) => {
                if at_end {
                    (self.word, self.pos) = (self.word + 1, 0);
                }
                Some(Opt::Flag(c))
            }
            Some(true) => {
                (self.word, self.pos) = (self.word + 1, 0);
                if !at_end {
                    return Some(Opt::Value(c, tail));
                }
                match self.next_word() {
                    Some(v) => Some(Opt::Value(c, v)),
                    None => Some(Opt::Missing(c)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getopt_forms() {
        let argv: Vec<String> = ["-ls", "web", "-mnode1", "-x", "--json", "-Z", "-i"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got: Vec<Opt> = Getopt::new(&argv, "ls:m:xi:").collect();
        assert_eq!(
            got,
            vec![
                Opt::Flag('l'),
                Opt::Value('s', "web".into()),
                Opt::Value('m', "node1".into()),
                Opt::Flag('x'),
                Opt::Long("json".into()),
                Opt::Unknown('Z'),
                Opt::Missing('i'),
            ]
        );
        let stop: Vec<String> = ["-l", "file", "-x"].iter().map(|s| s.to_string()).collect();
        assert_eq!(Getopt::new(&stop, "lx").count(), 1);
    }
}
