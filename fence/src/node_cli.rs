//! The `fence_node NODE [-f cluster.conf]` tool: fence one node as cluster.conf says, by hand or
//! from a script, without the daemon. Output as RHCS's fence_node printed it on stderr — one
//! `fence NODE dev M.D agent A result: R` line per device attempt (plus the agent's reason for a
//! failure), then `fence NODE success` (exit 0), `fence NODE failed` (exit 1) or, for a node with
//! no fence method, `fence NODE undefined` (exit 2).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tooldoc::{Group, Page, Row};

use crate::agent::RealClock;
use crate::node::{self, AgentRunner, RetryPolicy, Verdict};

/// `fence_node`'s documentation: its `-h` text and its man page.
pub fn page() -> Page {
    Page::new("fence_node", 8, "fence a node as cluster.conf says")
        .synopsis(&["fence_node [OPTIONS] NODE"])
        .description(
            "fence_node runs the fence methods cluster.conf gives NODE, in order, without the \
             daemon: every device of a method must succeed, else the next method is tried. \
             Native agents (fence_ipmilan, fence_apc, fence_virsh) run in-process; any other \
             installed fence_* agent runs as a program with its parameters on standard input.\n\n\
             It prints what RHCS's fence_node printed on standard error: one line per device \
             attempt, then \"fence NODE success\", \"fence NODE failed\" or, for a node \
             without a method, \"fence NODE undefined\".",
        )
        .usage_head(
            "Usage:\n\nfence_node [OPTIONS] NODE\n\n\
             Fences NODE with the methods cluster.conf gives it, in order.\n\nOptions:\n",
        )
        .group(Group::new(
            2,
            21,
            vec![
                Row::new(
                    "-f FILE",
                    &["cluster.conf to read (default /etc/cluster/cluster.conf)"],
                ),
                Row::new(
                    "-r, --rounds N",
                    &["rounds over all methods before giving up (default 1; 0 = until success)"],
                ),
                Row::new(
                    "--retry-delay SECS",
                    &["wait between rounds (default 5, as fenced)"],
                ),
                Row::new(
                    "--post-fail-delay",
                    &["wait the configuration's post_fail_delay before the first round"],
                ),
                Row::new(
                    "-t, --agent-timeout SECS",
                    &["time limit of one external agent run (default 120; 0 = none)"],
                ),
                Row::new("-v", &["log what the agents do"]),
                Row::new("-h", &["print this help"]),
                Row::new("-V", &["print the version"]),
            ],
        ))
        .section(
            "Exit status",
            "0 the node was fenced; 1 fencing failed; 2 the node has no fence method.",
        )
        .section("Files", "/etc/cluster/cluster.conf")
        .see_also(&[
            "fence_ipmilan(8)",
            "fence_apc(8)",
            "fence_virsh(8)",
            "cluster.conf(5)",
        ])
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The node to fence.
    pub node: String,
    /// The configuration file.
    pub file: PathBuf,
    /// Rounds (None = until success).
    pub rounds: Option<u32>,
    /// Wait between rounds.
    pub retry_delay: Duration,
    /// Honour `post_fail_delay`.
    pub post_fail_delay: bool,
    /// External agent time limit.
    pub agent_timeout: Option<Duration>,
    /// Verbose.
    pub verbose: bool,
}

/// What to do after parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Fence.
    Fence(Args),
    /// Print this and exit 0.
    Print(String),
}

fn seconds(opt: &str, v: &str) -> Result<Duration, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && (0.0..=86_400.0).contains(f))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{opt} needs a number of seconds, not '{v}'"))
}

/// Parse the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut node: Option<String> = None;
    let mut a = Args {
        node: String::new(),
        file: PathBuf::from(ccs::DEFAULT_PATH),
        rounds: Some(1),
        retry_delay: Duration::from_secs(5),
        post_fail_delay: false,
        agent_timeout: Some(node::DEFAULT_AGENT_TIMEOUT),
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let value = |it: &mut std::slice::Iter<String>| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Command::Print(page().usage())),
            "-V" | "--version" => {
                return Ok(Command::Print(format!("fence_node {}\n", tooldoc::VERSION)))
            }
            "-v" | "--verbose" => a.verbose = true,
            "-f" | "--file" => a.file = PathBuf::from(value(&mut it)?),
            "-r" | "--rounds" => {
                let v = value(&mut it)?;
                let n: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} needs a whole number, not '{v}'"))?;
                a.rounds = (n > 0).then_some(n);
            }
            "--retry-delay" => a.retry_delay = seconds(name, &value(&mut it)?)?,
            "--post-fail-delay" => a.post_fail_delay = true,
            "-t" | "--agent-timeout" => {
                let d = seconds(name, &value(&mut it)?)?;
                a.agent_timeout = (!d.is_zero()).then_some(d);
            }
            n if n.starts_with('-') && n.len() > 1 => return Err(format!("unknown option {n}")),
            _ => {
                if node.is_some() {
                    return Err(format!("unexpected argument '{arg}'"));
                }
                node = Some(arg.clone());
            }
        }
    }
    a.node = node.ok_or("no node name specified")?;
    Ok(Command::Fence(a))
}

/// Run the tool; messages to `err`. Returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a = match parse_args(args) {
        Ok(Command::Fence(a)) => a,
        Ok(Command::Print(text)) => {
            let _ = out.write_all(text.as_bytes());
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "fence_node: {e}\nPlease use '-h' for usage.");
            return 1;
        }
    };
    if a.verbose {
        // The agents' own logs; the fencing lines themselves are printed below from the report.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,fence::node=off"))
            .with_target(false)
            .with_ansi(false)
            .without_time()
            .with_writer(std::io::stderr)
            .try_init();
    }
    let conf = match ccs::load(&a.file) {
        Ok((conf, _warnings)) => conf,
        Err(e) => {
            let _ = writeln!(err, "fence_node: {e}");
            return 1;
        }
    };
    let initial_delay = if a.post_fail_delay {
        match conf.post_fail_delay() {
            d if d < 0 => {
                let _ = writeln!(
                    err,
                    "fence_node: post_fail_delay is {d} (wait for the node for ever): nothing to do without the daemon"
                );
                return 1;
            }
            d => Duration::from_secs(d.unsigned_abs()),
        }
    } else {
        Duration::ZERO
    };
    let policy = RetryPolicy {
        rounds: a.rounds,
        retry_delay: a.retry_delay,
        initial_delay,
    };
    let mut runner = AgentRunner {
        timeout: a.agent_timeout,
        ..AgentRunner::default()
    };
    // Attempts are printed as they end: with --rounds 0 this may run for a long time.
    let victim = a.node.clone();
    let mut print = |at: &node::Attempt| {
        let _ = writeln!(err, "{}", at.line(&victim));
        if let Some(r) = at.report_line() {
            let _ = writeln!(err, "{r}");
        }
    };
    let report = node::fence_node(
        &conf,
        &a.node,
        &policy,
        &mut runner,
        &mut RealClock,
        &mut print,
    );
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "fence_node: {}: {e}", a.file.display());
            return 1;
        }
    };
    let (word, code) = match report.verdict {
        Verdict::Success { .. } => ("success", 0),
        Verdict::Failed { .. } => ("failed", 1),
        Verdict::NoMethod => ("undefined", 2),
    };
    let _ = writeln!(err, "fence {} {word}", report.victim);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help this tool printed before it came from a table (kept to prove the table
    /// renders it unchanged).
    const OLD_USAGE: &str = "Usage:

fence_node [OPTIONS] NODE

Fences NODE with the methods cluster.conf gives it, in order.

Options:
  -f FILE              cluster.conf to read (default /etc/cluster/cluster.conf)
  -r, --rounds N       rounds over all methods before giving up (default 1; 0 = until success)
  --retry-delay SECS   wait between rounds (default 5, as fenced)
  --post-fail-delay    wait the configuration's post_fail_delay before the first round
  -t, --agent-timeout SECS
                       time limit of one external agent run (default 120; 0 = none)
  -v                   log what the agents do
  -h                   print this help
  -V                   print the version
";

    #[test]
    fn help_and_version() {
        assert_eq!(page().usage(), OLD_USAGE);
        assert_eq!(
            parse_args(&["-V".to_string()]),
            Ok(Command::Print(format!("fence_node {}\n", tooldoc::VERSION)))
        );
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_options() {
        let Command::Fence(a) = parse_args(&args(&["node1"])).unwrap() else {
            panic!()
        };
        assert_eq!(a.node, "node1");
        assert_eq!(a.file, PathBuf::from("/etc/cluster/cluster.conf"));
        assert_eq!(a.rounds, Some(1));
        assert!(!a.post_fail_delay);
        let Command::Fence(a) = parse_args(&args(&[
            "-f",
            "/tmp/c.conf",
            "--rounds=0",
            "--retry-delay",
            "0.5",
            "--post-fail-delay",
            "-t",
            "0",
            "n2",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(a.file, PathBuf::from("/tmp/c.conf"));
        assert_eq!(a.rounds, None);
        assert_eq!(a.retry_delay, Duration::from_millis(500));
        assert!(a.post_fail_delay);
        assert_eq!(a.agent_timeout, None);
        assert_eq!(a.node, "n2");
    }

    #[test]
    fn bad_arguments() {
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["a", "b"])).is_err());
        assert!(parse_args(&args(&["-x", "a"])).is_err());
        assert!(parse_args(&args(&["-r", "many", "a"])).is_err());
        assert!(parse_args(&args(&["a", "-f"])).is_err());
        assert!(matches!(
            parse_args(&args(&["-h"])),
            Ok(Command::Print(t)) if t.contains("Usage")
        ));
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(run(&args(&["--bogus", "n"]), &mut out, &mut err), 1);
        assert!(String::from_utf8_lossy(&err).contains("unknown option --bogus"));
    }
}
