//! Running fence agents we do not have natively (`fence_ilo`, `fence_xvm`, Debian's Python agents…)
//! as separate programs, the way fenced and Pacemaker run them: the program is looked up by name
//! on `PATH`, then in `/usr/sbin` and `/sbin`; it gets no arguments and its parameters as
//! `name=value` lines on stdin (so passwords never show in `ps`); it runs under a time limit, in a
//! process group of its own that is killed whole when the limit passes (agents spawn `ipmitool`,
//! `telnet`, `ssh`…); its exit status is mapped as fence-agents defines it: 0 success, 2 "off" for
//! `status`, anything else failure, reported with the last line the agent wrote on stderr, with
//! every secret parameter value scrubbed out of it.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::agent::Outcome;

/// Where agents are looked for after `PATH`: where distributions install them.
pub const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/sbin"];

/// How long to keep reading an agent's output after it exited, for output held open by a
/// left-over child of the agent.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Why an external agent run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExternalError {
    /// The name is not a bare `fence_*` program name.
    #[error("\"{0}\" is not a fence agent name (a fence_* program name without a path)")]
    BadName(String),
    /// No such program in the search path.
    #[error("{agent}: not found in {searched}")]
    NotFound {
        /// Agent name.
        agent: String,
        /// The directories looked at, `:`-separated.
        searched: String,
    },
    /// A parameter cannot be sent as one stdin line.
    #[error(
        "{agent}: parameter '{key}' cannot be sent on stdin (line break in its name or value)"
    )]
    BadParameter {
        /// Agent name.
        agent: String,
        /// The parameter's name (never its value).
        key: String,
    },
    /// The program could not be started.
    #[error("{agent}: cannot start: {reason}")]
    Spawn {
        /// Agent name.
        agent: String,
        /// OS error text.
        reason: String,
    },
    /// The agent did not finish in time and was killed.
    #[error("{agent}: no result within {secs} s; killed")]
    Timeout {
        /// Agent name.
        agent: String,
        /// The limit.
        secs: f64,
    },
    /// The agent reported failure.
    #[error("{agent}: {status}: {message}")]
    Failed {
        /// Agent name.
        agent: String,
        /// `exit 1`, `killed by signal 9`…
        status: String,
        /// The last line the agent wrote on stderr (else stdout), secrets scrubbed.
        message: String,
    },
}

/// Parameter names whose values are secrets: never shown, and scrubbed from agent output.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    // The password script is a path, not a secret; what it prints never passes through here.
    if k.ends_with("_script") {
        return false;
    }
    k.contains("passw") || k.contains("secret") || k.contains("community") || k == "hexadecimal_kg"
}

/// Whether `name` may name an agent: `fence_` and then letters, digits, `_`, `-`, `.` only.
pub fn valid_name(name: &str) -> bool {
    name.len() > "fence_".len()
        && name.starts_with("fence_")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The directories to search, in order: the entries of `path_var` (a `PATH` value), then
/// [`SYSTEM_DIRS`].
pub fn search_dirs(path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for d in SYSTEM_DIRS {
        let d = PathBuf::from(d);
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs.retain(|d| !d.as_os_str().is_empty());
    dirs
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// An installed agent program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAgent {
    /// The name it was asked for (`fence_ilo`).
    pub name: String,
    /// Where it was found.
    pub path: PathBuf,
}

impl ExternalAgent {
    /// Find `name` on this process's `PATH`, then in `/usr/sbin` and `/sbin`.
    pub fn find(name: &str) -> Result<ExternalAgent, ExternalError> {
        let path = std::env::var_os("PATH");
        Self::find_in(name, &search_dirs(path.as_deref()))
    }

    /// Find `name` in `dirs`, in order.
    pub fn find_in(name: &str, dirs: &[PathBuf]) -> Result<ExternalAgent, ExternalError> {
        if !valid_name(name) {
            return Err(ExternalError::BadName(name.to_string()));
        }
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
            .map(|path| ExternalAgent {
                name: name.to_string(),
                path,
            })
            .ok_or_else(|| ExternalError::NotFound {
                agent: name.to_string(),
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            })
    }

    /// Run the agent with `params` on stdin. `Ok` carries its stdout lines and exit status: 0, or
    /// 2 when the action is `status` and the target is off. `timeout` None waits for ever.
    pub fn run(
        &self,
        params: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<Outcome, ExternalError> {
        let input = stdin_text(&self.name, params)?;
        let secrets: Vec<&str> = params
            .iter()
            .filter(|(k, v)| is_secret_key(k) && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect();
        let status_action = params
            .iter()
            .rev()
            .find(|(k, _)| k == "action" || k == "option")
            .is_some_and(|(_, v)| v.trim().eq_ignore_ascii_case("status"));

        tracing::debug!(agent = %self.name, path = %self.path.display(), "running external agent");
        let mut child = self.spawn()?;
        let pgid = child.id();
        let stdout = read_in_background(child.stdout.take());
        let stderr = read_in_background(child.stderr.take());
        if let Some(mut w) = child.stdin.take() {
            // An agent may exit without reading its input (EPIPE): its exit status tells.
            let _ = w.write_all(input.as_bytes());
            // Dropping `w` closes stdin: agents read it to the end.
        }

        let deadline = timeout.map(|t| Instant::now() + t);
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        kill_group(pgid);
                        let _ = child.wait();
                        return Err(ExternalError::Timeout {
                            agent: self.name.clone(),
                            secs: timeout.unwrap_or_default().as_secs_f64(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    kill_group(pgid);
                    let _ = child.wait();
                    return Err(ExternalError::Spawn {
                        agent: self.name.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        };
        let out = scrub(&collect(stdout), &secrets);
        let err = scrub(&collect(stderr), &secrets);
        let lines: Vec<String> = out.lines().map(str::to_string).collect();
        match status.code() {
            Some(0) => Ok(Outcome {
                lines,
                exit_code: 0,
            }),
            Some(2) if status_action => Ok(Outcome {
                lines,
                exit_code: 2,
            }),
            _ => Err(ExternalError::Failed {
                agent: self.name.clone(),
                status: describe(status),
                message: last_line(&err)
                    .or_else(|| last_line(&out))
                    .unwrap_or_else(|| "no message".into()),
            }),
        }
    }
}

impl ExternalAgent {
    fn spawn(&self) -> Result<std::process::Child, ExternalError> {
        let mut tries = 0;
        loop {
            let r = Command::new(&self.path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Its own process group, so that a timeout kills what the agent started too.
                .process_group(0)
                .spawn();
            match r {
                Ok(c) => return Ok(c),
                // A program written a moment ago can be "busy" while another thread's fork still
                // holds its write descriptor: that passes within milliseconds.
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(ExternalError::Spawn {
                        agent: self.name.clone(),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }
}

/// The stdin text for `params`: one `name=value` line each.
fn stdin_text(agent: &str, params: &[(String, String)]) -> Result<String, ExternalError> {
    let mut s = String::new();
    for (k, v) in params {
        let bad = |t: &str| t.contains('\n') || t.contains('\r');
        if bad(k) || bad(v) || k.contains('=') || k.trim().is_empty() {
            return Err(ExternalError::BadParameter {
                agent: agent.to_string(),
                key: k.replace(['\n', '\r'], " "),
            });
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    Ok(s)
}

fn read_in_background<R: Read + Send + 'static>(r: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn collect(rx: mpsc::Receiver<Vec<u8>>) -> String {
    // A child the agent left running may hold the pipe open: take what came, do not hang on it.
    let bytes = rx.recv_timeout(DRAIN_AFTER_EXIT).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for the agent;
        // it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| strip_log_prefix(l).to_string())
}

/// `line` without fence-agents' logging prefix `2026-01-31 12:00:00,123 ERROR: `: the time is
/// the caller's to add, and the level is implied by the failure.
fn strip_log_prefix(line: &str) -> &str {
    let b = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let stamp = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b' ')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && b.get(19) == Some(&b',');
    if !stamp {
        return line;
    }
    let rest = line[20..].trim_start_matches(|c: char| c.is_ascii_digit());
    match rest.strip_prefix(' ').and_then(|r| r.split_once(": ")) {
        Some((level, msg))
            if !level.is_empty() && level.chars().all(|c| c.is_ascii_uppercase()) =>
        {
            msg
        }
        _ => line,
    }
}

/// `text` with every occurrence of each secret replaced by `[set]` (longest secrets first, so a
/// secret that contains another is replaced whole).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s, "[set]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("fence_ipmilan"));
        assert!(valid_name("fence_apc_snmp"));
        assert!(!valid_name("fence_"));
        assert!(!valid_name("/usr/sbin/fence_apc"));
        assert!(!valid_name("fence_../../bin/sh"));
        assert!(!valid_name("ipmitool"));
        assert!(!valid_name("fence_a b"));
    }

    #[test]
    fn search_order_is_path_then_system_dirs() {
        let dirs = search_dirs(Some(OsStr::new("/opt/a:/usr/sbin::/opt/b")));
        let want: Vec<PathBuf> = ["/opt/a", "/usr/sbin", "/opt/b", "/sbin"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(dirs, want);
        assert_eq!(
            search_dirs(None),
            vec![PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]
        );
    }

    #[test]
    fn secrets_are_recognised_and_scrubbed() {
        assert!(is_secret_key("passwd"));
        assert!(is_secret_key("password"));
        assert!(is_secret_key("snmp_priv_passwd"));
        assert!(is_secret_key("hexadecimal_kg"));
        assert!(is_secret_key("community"));
        assert!(!is_secret_key("login"));
        assert!(!is_secret_key("passwd_script"));
        assert_eq!(
            scrub("login pw and pwlong failed", &["pw", "pwlong", ""]),
            "login [set] and [set] failed"
        );
    }

    #[test]
    fn stdin_lines_refuse_line_breaks() {
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(
            stdin_text("fence_x", &p("action", "off")).unwrap(),
            "action=off\n"
        );
        let e = stdin_text("fence_x", &p("port", "1\naction=on")).unwrap_err();
        assert_eq!(
            e,
            ExternalError::BadParameter {
                agent: "fence_x".into(),
                key: "port".into()
            }
        );
        assert!(!e.to_string().contains("action=on"));
        assert!(stdin_text("fence_x", &p("a=b", "c")).is_err());
    }

    #[test]
    fn last_line_skips_blank_lines_and_the_log_prefix() {
        assert_eq!(last_line("a\nb\n\n  \n").as_deref(), Some("b"));
        assert_eq!(last_line("\n"), None);
        assert_eq!(
            last_line("x\n2026-11-22 03:36:54,634 ERROR: Unable to connect\n").as_deref(),
            Some("Unable to connect")
        );
        for kept in [
            "2026-11-22 03:36:54,634 error: lower case is not the prefix",
            "2026-11-22 03:36:54 ERROR: no milliseconds",
            "2026-11-22 03:36:54,634",
            "12:00 ERROR: x",
        ] {
            assert_eq!(strip_log_prefix(kept), kept);
        }
    }
}
