//! `rg_test`: shows and tries the resource trees of a cluster.conf without a cluster, with
//! the command forms and output of rgmanager's `rg_test` (`rgmanager/src/daemons/test.c`).
//!
//! - `rg_test [agentdir] test FILE`: the resource list, the trees and the failover domains.
//! - `rg_test [agentdir] test FILE start|stop|status TYPE NAME`: runs the agents on this machine.
//! - `rg_test [agentdir] noop FILE start|stop|status TYPE NAME`: prints each agent call instead.
//! - `rg_test [agentdir] rules`: the resource types and their child ordering.
//!
//! The agent directory the original took first is accepted and ignored: our agents are built
//! in and the rules come from the RHCS rules table. The command line is parsed by
//! `crate::cli::rg_test`.

use std::path::{Path, PathBuf};

use ccs::ClusterConf;

use crate::resource::agent::{AgentError, Agents};
use crate::resource::dump;
use crate::resource::runner::Runner;
use crate::resource::walk::{self, Op, Recorder};
use crate::resource::Forest;

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the rules.
    Rules,
    /// Print the configuration's resources and trees.
    Dump { file: PathBuf },
    /// Run (or with `noop`, print) an operation on a resource and its subtree.
    Run {
        file: PathBuf,
        noop: bool,
        op: Op,
        kind: String,
        name: String,
    },
}

/// What the command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

fn load(file: &Path, out: &mut Output) -> Option<ClusterConf> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            out.stdout
                .push_str(&format!("Error parsing {}\n", file.display()));
            out.stderr.push_str(&format!("{}: {e}\n", file.display()));
            out.code = 1;
            return None;
        }
    };
    match ccs::parse_str(&text) {
        Ok(c) => Some(c),
        Err(d) => {
            out.stdout
                .push_str(&format!("Error parsing {}\n", file.display()));
            out.stderr.push_str(&format!(
                "{}:{}:{}: {}\n",
                file.display(),
                d.line,
                d.column,
                d.message
            ));
            out.code = 1;
            None
        }
    }
}

/// The build messages: rgmanager's own lines on stdout (as it printed them), ours on stderr.
fn build(conf: &ClusterConf, out: &mut Output, verbose_rhcs_lines: bool) -> Forest {
    let f = Forest::build(conf);
    for p in &f.problems {
        match p.rhcs_line() {
            Some(line) if verbose_rhcs_lines => {
                out.stdout.push_str(&line);
                out.stdout.push('\n');
            }
            _ => out.stderr.push_str(&format!("Warning: {p}\n")),
        }
    }
    f
}

/// rgmanager's names for OCF exit codes, used in its `returned N (...)` log lines.
pub fn ocf_strerror(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "generic error",
        2 => "invalid argument(s)",
        3 => "function not implemented",
        4 => "insufficient privileges",
        5 => "program not installed",
        6 => "program not configured",
        7 => "not running",
        _ => "unspecified",
    }
}

/// Runs any command; `test FILE start|stop|status TYPE NAME` runs `agents` on this machine.
pub fn run(cmd: &Command, agents: &Agents) -> Output {
    let Command::Run {
        file,
        noop: false,
        op,
        kind,
        name,
    } = cmd
    else {
        return run_offline(cmd);
    };
    let mut out = Output::default();
    out.stderr.push_str("Running in test mode.\n");
    let Some(conf) = load(file, &mut out) else {
        return out;
    };
    let f = build(&conf, &mut out, true);
    let Some(res) = f.find_resource(kind, name) else {
        out.stdout
            .push_str(&format!("No resource {name} of type {kind} found\n"));
        return out;
    };
    out.stdout.push_str(&banner_before(*op, name));
    let mut runner = Runner::new(&f, agents);
    let rep = runner.run_resource(res, *op);
    for r in &rep.results {
        if let Err(e) = &r.result {
            let (k, primary) = r.resource.split_once(':').unwrap_or((&r.resource, ""));
            let line = match &e.source {
                AgentError::Failed { code, .. } => format!(
                    "{} on {k} \"{primary}\" returned {code} ({})\n",
                    r.op.as_str(),
                    ocf_strerror(*code)
                ),
                AgentError::NotRunning => format!(
                    "{} on {k} \"{primary}\" returned 7 (not running)\n",
                    r.op.as_str()
                ),
                other => format!("{} on {k} \"{primary}\" failed: {other}\n", r.op.as_str()),
            };
            out.stderr.push_str(&line);
        }
    }
    let (text, code) = banner_after(*op, name, !rep.ok);
    out.stdout.push_str(&text);
    out.code = code;
    out
}

/// Runs a command that needs no agents (`rules`, `test FILE`, `noop ...`); real runs go
/// through [`run`].
pub fn run_offline(cmd: &Command) -> Output {
    let mut out = Output::default();
    match cmd {
        Command::Rules => {
            out.stderr.push_str("Running in rules mode.\n");
            out.stderr.push_str(&format!(
                "Loaded {} resource rules\n",
                ccs::resource_types::RESOURCE_TYPES.len()
            ));
            out.stdout.push_str(&dump::rules_dump());
        }
        Command::Dump { file } => {
            out.stderr.push_str("Running in test mode.\n");
            let Some(conf) = load(file, &mut out) else {
                return out;
            };
            let f = build(&conf, &mut out, false);
            out.stderr.push_str(&format!(
                "Loaded {} resource rules\n",
                ccs::resource_types::RESOURCE_TYPES.len()
            ));
            out.stdout.push_str(&dump::test_dump(&conf, &f));
        }
        Command::Run { noop: false, .. } => {
            return run(cmd, &Agents::builtin());
        }
        Command::Run {
            file,
            op,
            kind,
            name,
            noop: true,
        } => {
            out.stderr.push_str("Running in test mode.\n");
            let Some(conf) = load(file, &mut out) else {
                return out;
            };
            let f = build(&conf, &mut out, true);
            let mut rec = Recorder::default();
            let res = match f.find_resource(kind, name) {
                Some(r) => r,
                None => {
                    out.stdout
                        .push_str(&format!("No resource {name} of type {kind} found\n"));
                    return out;
                }
            };
            out.stdout.push_str(&banner_before(*op, name));
            let w = walk::walk_resource(&f, &mut rec, res, *op);
            for l in rec.lines(&f) {
                out.stdout.push_str(&l);
                out.stdout.push('\n');
            }
            let (text, code) = banner_after(*op, name, w.flags.failure);
            out.stdout.push_str(&text);
            out.code = code;
        }
    }
    out
}

/// The line printed before an operation.
pub fn banner_before(op: Op, name: &str) -> String {
    match op {
        Op::Start => format!("Starting {name}...\n"),
        Op::Stop => format!("Stopping {name}...\n"),
        Op::Status => format!("Checking status of {name}...\n"),
    }
}

/// The line printed after an operation and the exit code (the original printed nothing
/// after a failed stop).
pub fn banner_after(op: Op, name: &str, failed: bool) -> (String, i32) {
    match (op, failed) {
        (Op::Start, false) => (format!("Start of {name} complete\n"), 0),
        (Op::Start, true) => (format!("Failed to start {name}\n"), 1),
        (Op::Stop, false) => (format!("Stop of {name} complete\n"), 0),
        (Op::Stop, true) => (String::new(), 1),
        (Op::Status, false) => (format!("Status of {name} is good\n"), 0),
        (Op::Status, true) => (format!("Status check of {name} failed\n"), 1),
    }
}
