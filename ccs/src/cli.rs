//! The command-line tools of this crate, `ccs_config_validate` and `ccs_config_dump`, as library
//! functions (the binaries only pass their arguments here), so tests can run them in-process.
//!
//! Exit codes of `ccs_config_validate` follow RHCS's script: 0 valid, 3 invalid (xmllint's code),
//! 2 the file cannot be read, 253 `-R` given and the version cannot be read, 254 `-R` given and
//! the version is not newer, 255 bad usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use tooldoc::{Group, Page, Row};

use crate::validate::Diagnostic;
use crate::{check_str, DEFAULT_PATH};

pub const EXIT_VALID: u8 = 0;
pub const EXIT_UNREADABLE: u8 = 2;
pub const EXIT_INVALID: u8 = 3;
pub const EXIT_VERSION_UNREADABLE: u8 = 253;
pub const EXIT_VERSION_OLDER: u8 = 254;
pub const EXIT_USAGE: u8 = 255;

/// `ccs_config_validate`'s documentation: its `--help` and its man page.
pub fn validate_page() -> Page {
    Page::new("ccs_config_validate", 8, "verify a cluster.conf")
        .synopsis(&["ccs_config_validate [-f FILE] [-q] [--json] [-R OLD_VERSION]"])
        .description(
            "ccs_config_validate checks a cluster.conf against the schema of RHEL 6 clusters \
             and the rules the cluster software applies when it loads one (references, \
             duplicates, failover domains, resource trees, fence devices), and prints every \
             problem at once, each as FILE:LINE:COLUMN: message, errors and warnings alike.\n\n\
             With -R it also checks that config_version is newer than the running version, \
             as RHCS's tool did before a configuration was propagated.",
        )
        .usage_head("Usage: ccs_config_validate [-f FILE] [-q] [--json] [-R OLD_VERSION]\n\n")
        .group(Group::new(
            2,
            17,
            vec![
                Row::new(
                    "-f FILE",
                    &["validate FILE (default /etc/cluster/cluster.conf)"],
                ),
                Row::new(
                    "-q",
                    &["quiet: print nothing, report through the exit status"],
                ),
                Row::new("--json", &["print the findings as JSON"]),
                Row::new(
                    "-R OLD_VERSION",
                    &["also require config_version to be newer than OLD_VERSION"],
                ),
                Row::new("-V, --version", &["print the version and exit"]),
                Row::new("-h", &["this help"]),
            ],
        ))
        .usage_tail(
            "\nExit status: 0 valid, 3 invalid, 2 file unreadable, 253 version unreadable (-R),\n\
             254 version not newer (-R), 255 usage error.",
        )
        .section(
            "Exit status",
            "0 valid, 3 invalid, 2 the file cannot be read, 253 -R given and the version \
             cannot be read, 254 -R given and the version is not newer, 255 usage error.",
        )
        .section("Files", "/etc/cluster/cluster.conf")
        .see_also(&["ccs_config_dump(8)", "ccs_sync(8)", "cluster.conf(5)"])
}

struct ValidateArgs {
    file: PathBuf,
    quiet: bool,
    json: bool,
    running: Option<u64>,
}

enum Parsed<T> {
    Run(T),
    Exit(u8),
}

fn usage_error(usage: &str, msg: &str) -> Parsed<ValidateArgs> {
    eprintln!("{msg}");
    eprintln!("{usage}");
    Parsed::Exit(EXIT_USAGE)
}

fn parse_validate_args(args: Vec<String>) -> Parsed<ValidateArgs> {
    let mut out = ValidateArgs {
        file: PathBuf::from(DEFAULT_PATH),
        quiet: false,
        json: false,
        running: None,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => match it.next() {
                Some(f) => out.file = PathBuf::from(f),
                None => return usage_error(&validate_page().usage(), "option -f needs a file"),
            },
            "-q" => out.quiet = true,
            "--json" => out.json = true,
            "-R" => match it.next().map(|v| v.trim().parse::<u64>()) {
                Some(Ok(v)) => out.running = Some(v),
                Some(Err(_)) => {
                    return usage_error(
                        &validate_page().usage(),
                        "option -R needs a version number",
                    )
                }
                None => {
                    return usage_error(
                        &validate_page().usage(),
                        "option -R needs a version number",
                    )
                }
            },
            "-h" | "--help" => {
                println!("{}", validate_page().usage());
                return Parsed::Exit(EXIT_VALID);
            }
            "-V" | "--version" => {
                print_version("ccs_config_validate");
                return Parsed::Exit(EXIT_VALID);
            }
            other => {
                return usage_error(
                    &validate_page().usage(),
                    &format!("unknown option \"{other}\""),
                )
            }
        }
    }
    Parsed::Run(out)
}

#[derive(Serialize)]
struct JsonReport<'a> {
    file: String,
    valid: bool,
    config_version: Option<u64>,
    errors: Vec<&'a Diagnostic>,
    warnings: Vec<&'a Diagnostic>,
}

/// `ccs_config_validate`; returns the exit status.
pub fn config_validate(args: Vec<String>) -> ExitCode {
    ExitCode::from(run_validate(args, &mut std::io::stdout().lock()))
}

/// The tool with its output written to `out` (for tests).
pub fn run_validate(args: Vec<String>, out: &mut dyn Write) -> u8 {
    let a = match parse_validate_args(args) {
        Parsed::Run(a) => a,
        Parsed::Exit(code) => return code,
    };
    let shown = a.file.display().to_string();
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            if !a.quiet {
                let _ = writeln!(out, "{shown}: cannot read: {e}");
            }
            return EXIT_UNREADABLE;
        }
    };
    let report = check_str(&text);
    let version = report.conf.as_ref().and_then(|c| c.config_version());

    let mut code = if report.is_valid() {
        EXIT_VALID
    } else {
        EXIT_INVALID
    };
    let mut version_msg = None;
    if let (Some(running), true) = (a.running, report.conf.is_some()) {
        match version {
            None => {
                code = EXIT_VERSION_UNREADABLE;
                version_msg = Some("Error: unable to read the configuration version".to_string());
            }
            Some(v) if v <= running => {
                code = EXIT_VERSION_OLDER;
                version_msg =
                    Some("Error: Configuration version is older than running config!".into());
            }
            Some(_) => {}
        }
    }
    if a.quiet {
        return code;
    }
    if a.json {
        let j = JsonReport {
            file: shown,
            valid: code == EXIT_VALID,
            config_version: version,
            errors: report.errors().collect(),
            warnings: report.warnings().collect(),
        };
        match serde_json::to_string_pretty(&j) {
            Ok(s) => {
                let _ = writeln!(out, "{s}");
            }
            Err(e) => {
                let _ = writeln!(out, "{{\"error\": \"{e}\"}}");
            }
        }
        return code;
    }
    for d in &report.diagnostics {
        let _ = writeln!(out, "{}", d.render(&shown));
    }
    if let Some(m) = version_msg {
        let _ = writeln!(out, "{m}");
    } else if report.is_valid() {
        let _ = writeln!(out, "Configuration validates");
    } else {
        let _ = writeln!(out, "Configuration fails to validate");
    }
    code
}

/// `ccs_config_dump`'s documentation: its `--help` and its man page.
pub fn dump_page() -> Page {
    Page::new("ccs_config_dump", 8, "print a cluster.conf in its canonical written form")
        .synopsis(&["ccs_config_dump [-f FILE] [--corosync] [-o OUTPUT]"])
        .description(
            "ccs_config_dump reads a cluster.conf and prints it as the cluster tools write it: \
             attributes in a fixed order, indentation normalised, nothing the file holds \
             dropped (unknown elements and attributes included).\n\n\
             With --corosync it prints instead the corosync.conf that runs this cluster on \
             corosync 3 (knet, votequorum), derived as cman derived it: cluster name, nodes, \
             node ids, votes, rgm_addr or the name as the ring address, altname as a second \
             link, expected_votes, two_node without wait_for_all, the totem token with \
             token_coefficient 0, encryption with corosync's key. The cluster.conf must \
             validate first.",
        )
        .usage_head("Usage: ccs_config_dump [-f FILE] [--corosync] [-o OUTPUT]\n\n")
        .group(Group::new(
            2,
            17,
            vec![
                Row::new("-f FILE", &["dump FILE (default /etc/cluster/cluster.conf)"]),
                Row::new(
                    "--corosync",
                    &["print the corosync.conf generated from FILE"],
                ),
                Row::new(
                    "-o OUTPUT",
                    &["write OUTPUT (whole, replaced atomically) instead of printing"],
                ),
                Row::new("-V, --version", &["print the version and exit"]),
                Row::new("-h", &["this help"]),
            ],
        ))
        .usage_tail(
            "\nExit status: 0 dumped, 2 file unreadable, 3 not a readable (or, with --corosync, valid)\n\
             cluster.conf or no corosync.conf can be made from it, 4 OUTPUT cannot be written, 255 usage error.",
        )
        .section(
            "Exit status",
            "0 dumped, 2 the file cannot be read, 3 not a readable cluster.conf (with --corosync: \
             not a valid one, or one corosync cannot run, such as a quorum disk or a node without \
             a nodeid), 4 OUTPUT cannot be written (nothing is left half-written), 255 usage error.",
        )
        .section("Files", "/etc/cluster/cluster.conf, /etc/corosync/corosync.conf")
        .see_also(&["ccs_config_validate(8)", "cluster.conf(5)"])
}

fn print_version(tool: &str) {
    println!("{tool} {}", tooldoc::VERSION);
}

/// `ccs_config_dump` could not write its OUTPUT.
pub const EXIT_UNWRITABLE: u8 = 4;

/// `ccs_config_dump`; returns the exit status.
pub fn config_dump(args: Vec<String>) -> ExitCode {
    let mut file = PathBuf::from(DEFAULT_PATH);
    let mut output: Option<PathBuf> = None;
    let mut corosync = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" | "-o" => match it.next() {
                Some(f) if a == "-f" => file = PathBuf::from(f),
                Some(f) => output = Some(PathBuf::from(f)),
                None => {
                    eprintln!("option {a} needs a file\n{}", dump_page().usage());
                    return ExitCode::from(EXIT_USAGE);
                }
            },
            "--corosync" => corosync = true,
            "-h" | "--help" => {
                println!("{}", dump_page().usage());
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                print_version("ccs_config_dump");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown option \"{other}\"\n{}", dump_page().usage());
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{shown}: cannot read: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let out = if corosync {
        // corosync runs what it is given: only a configuration that validates is turned into
        // one, and every error is shown, as ccs_config_validate shows it.
        let report = check_str(&text);
        let errors: Vec<&Diagnostic> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
        let Some(conf) = report.conf.filter(|_| errors.is_empty()) else {
            for d in errors {
                eprintln!("{}", d.render(&shown));
            }
            return ExitCode::from(EXIT_INVALID);
        };
        match crate::corosync::corosync_conf(&conf, &crate::corosync::Options::default()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{shown}: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    } else {
        match crate::parse_str(&text) {
            Ok(conf) => crate::write(&conf),
            Err(d) => {
                eprintln!("{}", d.render(&shown));
                return ExitCode::from(EXIT_INVALID);
            }
        }
    };
    match output {
        None => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Some(path) => match write_whole(&path, out.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: cannot write: {e}", path.display());
                ExitCode::from(EXIT_UNWRITABLE)
            }
        },
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, renamed
/// over it (a reader, corosync included, sees the old file or the new one).
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
