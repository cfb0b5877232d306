//! The one command-line front of every `fence_*` agent: fence-agents' getopt options, or — when the
//! program gets no arguments at all — `name=value` lines on stdin (what fenced and Pacemaker send, so
//! that passwords never show in `ps`); `-o metadata` XML; `passwd_script`; the delay; exit codes 0
//! (success), 1 (any failure, one line on stderr naming the device and the reason) and 2 (`status`
//! of a powered-off target). Parsing and metadata are pure functions; [`execute`] does the rest with
//! injected output streams and clock so it can be unit-tested.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::options::{self, Kind, OptSpec};
use tooldoc::{Group, Page, Row};

use crate::agent::{Action, AgentSpec, Clock, FenceError, Options, Outcome, RealClock, Secret};

/// The version `-V` prints: the fence-agents release whose interface this follows.
pub const VERSION: &str = "4.12.1";

/// Raw parameters from argv or stdin, before typing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Internal key -> value (flags as "1", `verbose` as the count).
    pub raw: BTreeMap<String, String>,
    /// Problems that were ignored (unknown stdin names…), to be logged.
    pub warnings: Vec<String>,
}

fn accepted(spec: &AgentSpec) -> Vec<&'static OptSpec> {
    // Agent options first: they win short-option clashes (`-C` is --cipher for ipmilan).
    spec.options
        .iter()
        .chain(options::COMMON)
        .filter_map(|k| options::spec(k))
        .collect()
}

/// Parse fence-agents command-line options.
pub fn parse_args(spec: &AgentSpec, args: &[String]) -> Result<Parsed, FenceError> {
    let opts = accepted(spec);
    let mut p = Parsed::default();
    let set = |p: &mut Parsed, s: &OptSpec, v: Option<String>| {
        if s.key == "verbose" {
            let n = p
                .raw
                .get("verbose")
                .and_then(|c| c.parse::<u8>().ok())
                .unwrap_or(0);
            p.raw
                .insert("verbose".into(), n.saturating_add(1).to_string());
        } else {
            p.raw
                .insert(s.key.to_string(), v.unwrap_or_else(|| "1".into()));
        }
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let norm = name.replace('_', "-");
            let s = opts.iter().find(|s| s.long == norm).ok_or_else(|| {
                FenceError::Usage(format!("Parse error: unrecognized option '--{name}'"))
            })?;
            if s.kind == Kind::Boolean {
                if inline.is_some() {
                    return Err(FenceError::Usage(format!(
                        "Parse error: option '--{name}' takes no value"
                    )));
                }
                set(&mut p, s, None);
            } else {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i - 1).cloned().ok_or_else(|| {
                            FenceError::Usage(format!(
                                "Parse error: option '--{name}' needs a value"
                            ))
                        })?
                    }
                };
                set(&mut p, s, Some(v));
            }
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (pos, c) in shorts.char_indices() {
                let s = opts.iter().find(|s| s.short == Some(c)).ok_or_else(|| {
                    FenceError::Usage(format!("Parse error: unrecognized option '-{c}'"))
                })?;
                if s.kind == Kind::Boolean {
                    set(&mut p, s, None);
                    continue;
                }
                let rest = &shorts[pos + c.len_utf8()..];
                let v = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    i += 1;
                    args.get(i - 1).cloned().ok_or_else(|| {
                        FenceError::Usage(format!("Parse error: option '-{c}' needs a value"))
                    })?
                };
                set(&mut p, s, Some(v));
                break;
            }
        } else {
            return Err(FenceError::Usage(format!(
                "Parse error: unexpected argument '{a}'"
            )));
        }
    }
    Ok(p)
}

/// Parse the stdin protocol: `name=value` lines; names are internal keys (`ipaddr`, `login`,
/// `passwd`, `port`…) or long option names (`ip`, `username`, `password`, `plug`…); `option` is an
/// old alias of `action`; `nodename` is ignored; unknown names are warned about and skipped.
pub fn parse_stdin(spec: &AgentSpec, text: &str) -> Parsed {
    let opts = accepted(spec);
    let mut p = Parsed::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            // Not echoed: a malformed line may well be a password.
            p.warnings
                .push("Parse error: Ignoring a line without '='".to_string());
            continue;
        };
        let name = name.trim();
        let mut value = value.trim();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        let key = match name {
            "nodename" => continue,
            "option" => "action",
            n => n,
        };
        let norm = key.replace('-', "_");
        let Some(s) = opts
            .iter()
            .find(|s| s.key == norm)
            .or_else(|| opts.iter().find(|s| options::new_name(s) == norm))
        else {
            p.warnings
                .push(format!("Parse error: Ignoring unknown option '{name}'"));
            continue;
        };
        if s.kind == Kind::Boolean {
            match options::parse_bool(value) {
                Some(true) => {
                    p.raw.insert(s.key.to_string(), "1".into());
                }
                Some(false) => {
                    p.raw.remove(s.key);
                }
                None => p.warnings.push(format!(
                    "Parse error: Ignoring invalid boolean value for '{name}'"
                )),
            }
        } else {
            p.raw.insert(s.key.to_string(), value.to_string());
        }
    }
    p
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

fn getopt_text(s: &OptSpec) -> String {
    let long = match (s.kind, s.value_name) {
        (Kind::Boolean, _) | (_, None) => format!("--{}", s.long),
        (_, Some(v)) => format!("--{}=[{v}]", s.long),
    };
    match s.short {
        Some(c) => format!("-{c}, {long}"),
        None => long,
    }
}

/// The agent's metadata XML in fence-agents' layout: legacy keys are listed with `deprecated="1"`
/// beside their new names carrying `obsoletes`.
pub fn metadata(spec: &AgentSpec) -> String {
    let mut entries: Vec<(u16, String, &OptSpec, &'static str)> = Vec::new();
    for s in accepted(spec) {
        let new = options::new_name(s);
        if new != s.key && s.key != "action" {
            entries.push((s.order, new, s, "obsoletes"));
            entries.push((s.order, s.key.to_string(), s, "deprecated"));
        } else {
            entries.push((s.order, s.key.to_string(), s, ""));
        }
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    entries.dedup_by(|a, b| a.1 == b.1);
    let mut x = String::from("<?xml version=\"1.0\" ?>\n");
    x += &format!(
        "<resource-agent name=\"{}\" shortdesc=\"{}\" >\n",
        xml_escape(spec.name),
        xml_escape(spec.shortdesc)
    );
    for (n, d) in spec.symlinks {
        x += &format!(
            "<symlink name=\"{}\" shortdesc=\"{}\"/>\n",
            xml_escape(n),
            xml_escape(d)
        );
    }
    x += &format!("<longdesc>{}</longdesc>\n", xml_escape(spec.longdesc));
    x += &format!(
        "<vendor-url>{}</vendor-url>\n<parameters>\n",
        xml_escape(spec.vendor_url)
    );
    for (_, name, s, rel) in &entries {
        // As fence-agents: with port_as_ip the address may come as the plug, so it is optional.
        let optional_ip = s.key == "ipaddr" && spec.options.contains(&"port_as_ip");
        let required = s.required || (spec.required.contains(&s.key) && !optional_ip);
        let extra = match *rel {
            "obsoletes" => format!(" obsoletes=\"{}\"", s.key),
            "deprecated" => " deprecated=\"1\"".to_string(),
            _ => String::new(),
        };
        x += &format!(
            "\t<parameter name=\"{}\" unique=\"0\" required=\"{}\"{}>\n",
            xml_escape(name),
            u8::from(required),
            extra
        );
        x += &format!("\t\t<getopt mixed=\"{}\" />\n", xml_escape(&getopt_text(s)));
        let default = spec
            .defaults
            .iter()
            .find(|(k, _)| *k == s.key)
            .map(|(_, v)| *v)
            .or(s.default);
        let default = default
            .map(|d| format!(" default=\"{}\"", xml_escape(d)))
            .unwrap_or_default();
        match s.kind {
            Kind::Select(choices) => {
                x += &format!("\t\t<content type=\"select\"{default}  >\n");
                for c in choices {
                    x += &format!("\t\t\t<option value=\"{}\" />\n", xml_escape(c));
                }
                x += "\t\t</content>\n";
            }
            k => {
                let t = match k {
                    Kind::Integer => "integer",
                    Kind::Second => "second",
                    Kind::Boolean => "boolean",
                    _ => "string",
                };
                x += &format!("\t\t<content type=\"{t}\"{default}  />\n");
            }
        }
        x += &format!(
            "\t\t<shortdesc lang=\"en\">{}</shortdesc>\n\t</parameter>\n",
            xml_escape(s.shortdesc)
        );
    }
    x += "</parameters>\n<actions>\n";
    for a in spec.actions {
        if *a == "on" {
            x += "\t<action name=\"on\" automatic=\"0\"/>\n";
        } else {
            x += &format!("\t<action name=\"{}\" />\n", xml_escape(a));
        }
    }
    x += "</actions>\n</resource-agent>\n";
    x
}

/// An agent's documentation: its `-h` text (the options table, fence-agents' layout) and its
/// man page, both from the options table the parsers use.
pub fn page(spec: &AgentSpec) -> Page {
    let rows = accepted(spec)
        .into_iter()
        .map(|s| Row::new(&getopt_text(s), &[s.shortdesc]))
        .collect();
    let mut p = Page::new(spec.name, 8, spec.shortdesc);
    p.synopsis = vec![
        format!("{} [OPTIONS]", spec.name),
        format!("{} < PARAMETERS", spec.name),
    ];
    p.description = format!(
        "{}\n\n\
         With no command-line arguments, the agent reads name=value lines on its standard input, \
         as fenced, fence_node and Pacemaker send them, so that passwords never show in the \
         process list. The names are the option keys of the metadata (ipaddr, login, passwd, \
         port, action, ...) or the long option names; `{} -o metadata` prints them all.\n\n\
         This agent is part of rgmanager-rs: it follows the fence-agents {VERSION} interface \
         (options, standard input, metadata, exit codes).",
        spec.longdesc, spec.name
    );
    p.usage_head = format!(
        "{}\nUsage:\n\t{} [options]\nOptions:\n",
        spec.shortdesc, spec.name
    );
    p.groups.push(Group::new(3, 39, rows).long_form_same_line());
    p.usage_tail =
        "\nWith no options, name=value lines are read from stdin (e.g. ipaddr=, login=, \
                    passwd=, action=).\n"
            .to_string();
    p.section(
        "Exit status",
        "0 success (for status: the target is on); 1 failure, with one line on standard error \
         naming the device and the reason; 2 status of a target that is off.",
    )
    .see_also(&["fence_node(8)", "fence_ack_manual(8)", "cluster.conf(5)"])
}

/// `-h` text.
pub fn help(spec: &AgentSpec) -> String {
    page(spec).usage()
}

/// What `-V` prints: the fence-agents release whose interface this follows (alone on its first
/// line, as fence-agents printed it), then our version and commit.
pub fn version_text() -> String {
    format!("{VERSION}\nrgmanager-rs {}\n", tooldoc::VERSION)
}

/// Run `passwd_script` through the shell and take the first line of its output as the password.
/// The script is configuration, not a secret; its output never reaches a log.
pub fn run_password_script(script: &str, timeout: Duration) -> Result<Secret, FenceError> {
    let fail = |why: String| FenceError::Usage(format!("Failed: password script: {why}"));
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| fail("no output pipe".into()))?;
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no answer within {} s",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let bytes = reader
        .join()
        .map_err(|_| fail("cannot read output".into()))?;
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(Secret::new(
        text.lines().next().unwrap_or("").trim_end().to_string(),
    ))
}

/// Type the parameters, check them and carry out the action. Writes results to `out`, the single
/// error line to `err`, and returns the exit status.
pub fn execute(
    spec: &AgentSpec,
    parsed: Parsed,
    clock: &mut dyn Clock,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    for w in &parsed.warnings {
        tracing::warn!("{w}");
    }
    let raw = parsed.raw;
    if raw.contains_key("help") {
        let _ = out.write_all(help(spec).as_bytes());
        return 0;
    }
    if raw.contains_key("version") {
        let _ = out.write_all(version_text().as_bytes());
        return 0;
    }
    let mut opts = match Options::from_raw(raw, spec.defaults) {
        Ok(o) => o,
        Err(e) => return fail(spec, None, &e, err),
    };
    if opts.action == Action::Metadata {
        let _ = out.write_all(metadata(spec).as_bytes());
        return 0;
    }
    match prepare(spec, &mut opts) {
        Ok(()) => {}
        Err(e) => return fail(spec, Some(&opts), &e, err),
    }
    if opts.action == Action::ValidateAll {
        return 0;
    }
    let result = spec.perform(&opts, clock);
    match result {
        Ok(o) => {
            for l in &o.lines {
                let _ = writeln!(out, "{l}");
            }
            o.exit_code
        }
        Err(e) => fail(spec, Some(&opts), &e, err),
    }
}

/// Carry out a device action in-process from `name=value` parameters, as if they had come on the
/// agent's stdin (what `fence::node` does for the agents we have natively). The error is the one
/// line the agent binary would print: agent name, device and reason, never a secret.
pub fn perform_params(
    spec: &AgentSpec,
    params: &[(String, String)],
    clock: &mut dyn Clock,
) -> Result<Outcome, String> {
    let mut text = String::new();
    for (k, v) in params {
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('\n');
    }
    let parsed = parse_stdin(spec, &text);
    for w in &parsed.warnings {
        tracing::warn!("{w}");
    }
    let line = |opts: Option<&Options>, e: &FenceError| {
        let mut buf = Vec::new();
        fail(spec, opts, e, &mut buf);
        String::from_utf8_lossy(&buf).trim_end().to_string()
    };
    let mut opts = Options::from_raw(parsed.raw, spec.defaults).map_err(|e| line(None, &e))?;
    if matches!(opts.action, Action::Metadata | Action::ValidateAll) {
        let e = FenceError::Usage("Failed: not a device action".into());
        return Err(line(Some(&opts), &e));
    }
    prepare(spec, &mut opts).map_err(|e| line(Some(&opts), &e))?;
    spec.perform(&opts, clock)
        .map_err(|e| line(Some(&opts), &e))
}

/// Checks that need no device, and the password script.
fn prepare(spec: &AgentSpec, opts: &mut Options) -> Result<(), FenceError> {
    if opts.raw.contains_key("port_as_ip") && !opts.plugs.is_empty() {
        opts.ipaddr = Some(opts.plugs.remove(0));
        opts.plugs.clear();
    }
    for key in spec.required {
        let missing = match *key {
            "ipaddr" => opts.ipaddr.is_none(),
            "login" => opts.login.is_none(),
            k => !opts.raw.contains_key(k),
        };
        if missing {
            let what = match *key {
                "ipaddr" => "fence address".to_string(),
                "login" => "login name".to_string(),
                k => format!("'{k}'"),
            };
            return Err(FenceError::Usage(format!(
                "Failed: You have to enter {what}"
            )));
        }
    }
    let device_action = matches!(
        opts.action,
        Action::On | Action::Off | Action::Reboot | Action::Status | Action::Diag
    );
    if spec.has_plugs && device_action && opts.plugs.is_empty() {
        return Err(FenceError::Usage(
            "Failed: You have to enter plug number or machine identification".into(),
        ));
    }
    if opts.passwd.is_none() {
        if let Some(script) = opts.passwd_script.clone() {
            // login_timeout 0 means no limit; a day stands in for that.
            let limit = if opts.login_timeout.is_zero() {
                Duration::from_secs(86_400)
            } else {
                opts.login_timeout
            };
            opts.passwd = Some(run_password_script(&script, limit)?);
        }
    }
    Ok(())
}

fn fail(spec: &AgentSpec, opts: Option<&Options>, e: &FenceError, err: &mut dyn Write) -> i32 {
    let label = opts.map(|o| spec.device_label(o)).unwrap_or_default();
    if label.is_empty() {
        let _ = writeln!(err, "{}: {e}", spec.name);
    } else {
        let _ = writeln!(err, "{}: {label}: {e}", spec.name);
    }
    1
}

fn init_logging(raw: &BTreeMap<String, String>) {
    use tracing_subscriber::filter::LevelFilter;
    let verbose = raw
        .get("verbose_level")
        .or(raw.get("verbose"))
        .and_then(|v| v.trim().parse::<u8>().ok())
        .unwrap_or(0);
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(false)
        .without_time();
    if let Some(path) = raw.get("debug") {
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = builder
                .with_max_level(LevelFilter::DEBUG)
                .with_writer(std::sync::Mutex::new(f))
                .try_init();
            return;
        }
    }
    let level = if raw.contains_key("quiet") {
        LevelFilter::OFF
    } else {
        level
    };
    let _ = builder
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Entry point of every agent binary: argv, or stdin when there are no arguments.
pub fn main(spec: &AgentSpec) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = if args.is_empty() {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("{}: cannot read stdin: {e}", spec.name);
            return 1;
        }
        parse_stdin(spec, &text)
    } else {
        match parse_args(spec, &args) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e}", spec.name);
                return 1;
            }
        }
    };
    let mut parsed = parsed;
    if std::env::var("PCMK_service").as_deref() == Ok("pacemaker-fenced") {
        // As fence-agents: started by Pacemaker's fencer, our own timeouts default to off.
        parsed
            .raw
            .entry("disable_timeout".into())
            .or_insert_with(|| "true".into());
    }
    init_logging(&parsed.raw);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    execute(
        spec,
        parsed,
        &mut RealClock,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::ipmilan::SPEC;

    /// `fence_ipmilan -h` as it was before the text came from a `tooldoc::Page`.
    const OLD_IPMILAN_HELP: &str = r#"Fence agent for IPMI
Usage:
	fence_ipmilan [options]
Options:
   -a, --ip=[ip]                          IP address or hostname of fencing device
   -u, --ipport=[port]                    TCP/UDP port to use for connection with device
   -l, --username=[name]                  Login name
   -p, --password=[password]              Login password or passphrase
   -S, --password-script=[script]         Script to run to retrieve password
   -n, --plug=[id]                        Physical plug number on device, UUID or identification of machine
   --port-as-ip                           Make "port/plug" to be an alias to IP address
   --plug-separator=[char]                Separator for plug parameter when specifying more than 1 plug
   -P, --lanplus                          Use Lanplus to improve security of connection
   -A, --auth=[auth]                      IPMI Lan Auth type.
   -C, --cipher=[cipher]                  Ciphersuite to use (same as ipmitool -C parameter)
   -L, --privlvl=[level]                  Privilege level on IPMI device
   -m, --method=[method]                  Method to fence
   --hexadecimal-kg=[key]                 Hexadecimal-encoded Kg key for IPMIv2 authentication
   --target=[targetaddress]               Bridge IPMI requests to the remote target address
   --ipmitool-path=[path]                 Path to ipmitool binary (accepted for compatibility; the native agent does not use it)
   --ipmitool-timeout=[timeout]           Timeout (sec) for IPMI operation
   --use-sudo                             Use sudo (without password) when calling 3rd party software
   --sudo-path=[path]                     Path to sudo binary
   -o, --action=[action]                  Fencing action
   -q, --quiet                            Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.
   -v, --verbose                          Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity.
   --verbose-level                        Level of debugging detail in output. Defaults to the number of --verbose flags specified on the command line, or to 1 if verbose=1 in a stonith device configuration (i.e., on stdin).
   -D, --debug-file=[debugfile]           Write debug information to given file
   -V, --version                          Display version information and exit
   -h, --help                             Display help and exit
   --delay=[seconds]                      Wait X seconds before fencing is started
   --disable-timeout=[true/false]         Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)
   --login-timeout=[seconds]              Wait X seconds for cmd prompt after login
   --power-timeout=[seconds]              Test X seconds for status change after ON/OFF
   --power-wait=[seconds]                 Wait X seconds after issuing ON/OFF
   --shell-timeout=[seconds]              Wait X seconds for cmd prompt after issuing command
   --stonith-status-sleep=[seconds]       Sleep X seconds between status calls during a STONITH action
   --retry-on=[attempts]                  Count of attempts to retry power on

With no options, name=value lines are read from stdin (e.g. ipaddr=, login=, passwd=, action=).
"#;

    #[test]
    fn help_from_the_table_is_unchanged_and_version_names_the_commit() {
        assert_eq!(help(&SPEC), OLD_IPMILAN_HELP);
        let v = version_text();
        assert_eq!(v.lines().next(), Some(VERSION));
        assert!(v.contains(tooldoc::GIT_COMMIT), "{v}");
        let p = page(&SPEC).roff();
        assert!(p.contains("\\fB\\-a, \\-\\-ip=[ip]\\fR"), "{p}");
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn raw(p: &Parsed, k: &str) -> Option<String> {
        p.raw.get(k).cloned()
    }

    #[test]
    fn short_long_and_clustered_options() {
        let p = parse_args(
            &SPEC,
            &args(&[
                "-a",
                "10.0.0.1",
                "--ipport=9623",
                "-lroot",
                "-p",
                "pw",
                "-P",
                "-C",
                "17",
                "-vv",
                "--power-wait",
                "0",
                "-o",
                "off",
            ]),
        )
        .unwrap();
        assert_eq!(raw(&p, "ipaddr").as_deref(), Some("10.0.0.1"));
        assert_eq!(raw(&p, "ipport").as_deref(), Some("9623"));
        assert_eq!(raw(&p, "login").as_deref(), Some("root"));
        assert_eq!(raw(&p, "passwd").as_deref(), Some("pw"));
        assert_eq!(raw(&p, "lanplus").as_deref(), Some("1"));
        assert_eq!(raw(&p, "cipher").as_deref(), Some("17"));
        assert_eq!(raw(&p, "verbose").as_deref(), Some("2"));
        assert_eq!(raw(&p, "power_wait").as_deref(), Some("0"));
        assert_eq!(raw(&p, "action").as_deref(), Some("off"));
        let p = parse_args(
            &SPEC,
            &args(&[
                "--ip",
                "h",
                "--username",
                "u",
                "--password-script",
                "s",
                "-L",
                "operator",
                "-m",
                "cycle",
                "--power_timeout=5",
            ]),
        )
        .unwrap();
        assert_eq!(raw(&p, "passwd_script").as_deref(), Some("s"));
        assert_eq!(raw(&p, "privlvl").as_deref(), Some("operator"));
        assert_eq!(raw(&p, "method").as_deref(), Some("cycle"));
        assert_eq!(raw(&p, "power_timeout").as_deref(), Some("5"));
    }

    #[test]
    fn bad_arguments() {
        assert!(parse_args(&SPEC, &args(&["--bogus"])).is_err());
        assert!(parse_args(&SPEC, &args(&["-Z"])).is_err());
        assert!(parse_args(&SPEC, &args(&["-a"])).is_err());
        assert!(parse_args(&SPEC, &args(&["--lanplus=1"])).is_err());
        assert!(parse_args(&SPEC, &args(&["stray"])).is_err());
    }

    #[test]
    fn stdin_names_old_and_new() {
        let text = "# fenced\n\naction=off\nipaddr=10.0.0.1\nlogin=\"admin\"\npasswd=a=b\nport=ignored-plug\nnodename=node1\nlanplus=yes\nfoo=bar\nsecret line\npower-wait=0\n";
        let p = parse_stdin(&SPEC, text);
        assert_eq!(raw(&p, "action").as_deref(), Some("off"));
        assert_eq!(raw(&p, "login").as_deref(), Some("admin"));
        assert_eq!(raw(&p, "passwd").as_deref(), Some("a=b"));
        assert_eq!(raw(&p, "port").as_deref(), Some("ignored-plug"));
        assert_eq!(raw(&p, "lanplus").as_deref(), Some("1"));
        assert_eq!(raw(&p, "power_wait").as_deref(), Some("0"));
        assert!(raw(&p, "nodename").is_none());
        assert_eq!(p.warnings.len(), 2);
        assert!(
            p.warnings.iter().all(|w| !w.contains("secret")),
            "{:?}",
            p.warnings
        );
        let p = parse_stdin(
            &SPEC,
            "option=status\nip=h\nusername=u\npassword=p\nlanplus=0\n",
        );
        assert_eq!(raw(&p, "action").as_deref(), Some("status"));
        assert_eq!(raw(&p, "ipaddr").as_deref(), Some("h"));
        assert_eq!(raw(&p, "login").as_deref(), Some("u"));
        assert_eq!(raw(&p, "passwd").as_deref(), Some("p"));
        assert!(raw(&p, "lanplus").is_none());
    }

    #[test]
    fn metadata_lists_old_and_new_names() {
        let m = metadata(&SPEC);
        assert!(
            m.contains("<parameter name=\"ip\" unique=\"0\" required=\"0\" obsoletes=\"ipaddr\">")
        );
        assert!(
            m.contains("<parameter name=\"ipaddr\" unique=\"0\" required=\"0\" deprecated=\"1\">")
        );
        assert!(m.contains("<getopt mixed=\"-p, --password=[password]\" />"));
        assert!(m.contains("<content type=\"integer\" default=\"623\"  />"));
        assert!(m.contains("<content type=\"second\" default=\"2\"  />"));
        assert!(m.contains("<action name=\"on\" automatic=\"0\"/>"));
        assert_eq!(
            m.matches("<parameter ").count(),
            m.matches("</parameter>").count()
        );
    }

    struct NoSleep;
    impl Clock for NoSleep {
        fn sleep(&mut self, _: Duration) {}
    }

    fn run(p: Parsed) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = execute(&SPEC, p, &mut NoSleep, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn execute_without_device() {
        let (code, out, _) = run(parse_args(&SPEC, &args(&["-o", "metadata"])).unwrap());
        assert_eq!(code, 0);
        assert!(out.starts_with("<?xml"));
        let (code, out, _) = run(parse_args(&SPEC, &args(&["-V"])).unwrap());
        assert_eq!((code, out), (0, version_text()));
        assert!(version_text().starts_with("4.12.1\n"));
        let (code, _, err) = run(parse_args(&SPEC, &args(&["-o", "validate-all"])).unwrap());
        assert_eq!(
            (code, err.as_str()),
            (
                1,
                "fence_ipmilan: Failed: You have to enter fence address\n"
            )
        );
        let (code, _, _) =
            run(parse_args(&SPEC, &args(&["-a", "h", "-o", "validate-all"])).unwrap());
        assert_eq!(code, 0);
        let (code, _, err) = run(parse_args(&SPEC, &args(&["-a", "h", "-o", "explode"])).unwrap());
        assert_eq!(
            (code, err.as_str()),
            (1, "fence_ipmilan: Unrecognised action 'explode'\n")
        );
        let (code, _, err) = run(parse_args(
            &SPEC,
            &args(&["-a", "h", "-C", "0", "-p", "s3cret", "-o", "status"]),
        )
        .unwrap());
        assert_eq!(code, 1);
        assert!(
            err.contains("cipher suite 0") && err.contains("h:623") && !err.contains("s3cret"),
            "{err}"
        );
    }

    /// A device type without a network: the address names its behaviour.
    struct Dev {
        on: bool,
    }

    impl crate::agent::FenceDevice for Dev {
        fn get_power(&mut self, _: Option<&str>) -> Result<crate::agent::PowerState, FenceError> {
            Ok(if self.on {
                crate::agent::PowerState::On
            } else {
                crate::agent::PowerState::Off
            })
        }
        fn set_power(
            &mut self,
            _: Option<&str>,
            s: crate::agent::PowerState,
        ) -> Result<(), FenceError> {
            self.on = s == crate::agent::PowerState::On;
            Ok(())
        }
    }

    fn fake_connect(o: &Options) -> Result<Box<dyn crate::agent::FenceDevice>, FenceError> {
        match o.ipaddr.as_deref() {
            Some("down") => Err(FenceError::Timeout("no answer".into())),
            Some("nopw") if o.passwd.as_ref().map(|p| p.expose()) != Some("pw") => {
                Err(FenceError::Login("wrong password".into()))
            }
            Some("off") => Ok(Box::new(Dev { on: false })),
            _ => Ok(Box::new(Dev { on: true })),
        }
    }

    static FAKE: AgentSpec = AgentSpec {
        name: "fence_fake",
        shortdesc: "Fake",
        longdesc: "Fake device for tests",
        vendor_url: "",
        symlinks: &[],
        options: &[
            "ipaddr",
            "ipport",
            "login",
            "passwd",
            "passwd_script",
            "port",
            "plug_separator",
            "separator",
        ],
        required: &["ipaddr"],
        defaults: &[],
        has_plugs: false,
        actions: &[
            "on",
            "off",
            "reboot",
            "status",
            "monitor",
            "metadata",
            "validate-all",
        ],
        connect: fake_connect,
    };

    #[derive(Default)]
    struct Recorder(Vec<Duration>);
    impl Clock for Recorder {
        fn sleep(&mut self, d: Duration) {
            self.0.push(d);
        }
    }

    fn run_fake(a: &[&str]) -> (i32, String, String, Vec<Duration>) {
        let (mut out, mut err, mut clock) = (Vec::new(), Vec::new(), Recorder::default());
        let code = execute(
            &FAKE,
            parse_args(&FAKE, &args(a)).unwrap(),
            &mut clock,
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            clock.0,
        )
    }

    #[test]
    fn execute_actions_exit_codes_and_delay() {
        let (code, out, _, _) = run_fake(&["-a", "off", "-o", "status"]);
        assert_eq!((code, out.as_str()), (2, "Status: OFF\n"));
        let (code, out, _, sleeps) = run_fake(&["-a", "on", "-o", "status", "--delay=5"]);
        assert_eq!((code, out.as_str()), (0, "Status: ON\n"));
        assert!(sleeps.is_empty(), "status must not be delayed");
        let (code, out, _, sleeps) = run_fake(&["-a", "on", "-o", "off", "--delay=5"]);
        assert_eq!((code, out.as_str()), (0, "Success: Powered OFF\n"));
        assert_eq!(sleeps.first(), Some(&Duration::from_secs(5)));
        let (code, out, _, sleeps) = run_fake(&["-a", "on", "-o", "reboot", "--delay=1.5"]);
        assert_eq!((code, out.as_str()), (0, "Success: Rebooted\n"));
        assert_eq!(sleeps.first(), Some(&Duration::from_millis(1500)));
        let (code, out, err, _) = run_fake(&["-a", "down", "-u", "99", "-o", "off"]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (
                1,
                "",
                "fence_fake: down:99: Connection timed out: no answer\n"
            )
        );
    }

    #[test]
    fn execute_uses_the_password_script() {
        let (code, _, err, _) =
            run_fake(&["-a", "nopw", "-o", "status", "-S", "echo pw; echo other"]);
        assert_eq!((code, err.as_str()), (0, ""));
        let (code, _, err, _) = run_fake(&["-a", "nopw", "-o", "status", "-S", "echo nope"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "fence_fake: nopw: Unable to connect/login to fencing device: wrong password\n"
        );
        let (code, _, err, _) = run_fake(&["-a", "nopw", "-o", "status", "-S", "exit 4"]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("fence_fake: nopw: Failed: password script: exited with"),
            "{err}"
        );
    }

    #[test]
    fn password_script_first_line() {
        let s = run_password_script("printf 'pw1\\nother\\n'", Duration::from_secs(5)).unwrap();
        assert_eq!(s.expose(), "pw1");
        assert!(run_password_script("exit 3", Duration::from_secs(5)).is_err());
        assert!(run_password_script("sleep 5", Duration::from_millis(200)).is_err());
    }
}
