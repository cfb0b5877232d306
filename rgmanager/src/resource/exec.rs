//! What the native agents share to act on the machine: running a command within the time left
//! to the operation (through [`super::agent::run_command`], the one child-process-with-timeout
//! of the crate: own process group, killed whole on timeout), the messages of a failed command,
//! this node's name, and processes (alive, signalled, waited for).
//!
//! Commands run with a fixed environment (`PATH`, `LC_ALL=C`, `LANG=C`: the tools' output is
//! read, so it must not be translated), never the daemon's.

use std::path::Path;
use std::time::{Duration, Instant};

use super::agent::{run_command, Exit, OpContext, Ran, AGENT_PATH};

/// The time limit of an operation is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired;

/// The end of an operation's time limit, shared by every command the operation runs.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// The limit of `ctx` (none when timeouts are not enforced), counted from now.
    pub fn of(ctx: &OpContext) -> Self {
        Deadline(ctx.timeout.map(|t| Instant::now() + t))
    }

    /// No limit.
    pub fn none() -> Self {
        Deadline(None)
    }

    /// At most `limit` from now, and never after `self`.
    pub fn within(&self, limit: Duration) -> Self {
        let t = Instant::now() + limit;
        Deadline(Some(self.0.map_or(t, |d| d.min(t))))
    }

    /// The time left (`None` = unlimited), or [`Expired`] when it is over.
    pub fn remaining(&self) -> Result<Option<Duration>, Expired> {
        match self.0 {
            None => Ok(None),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    Err(Expired)
                } else {
                    Ok(Some(d - now))
                }
            }
        }
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_err()
    }

    /// Polls `done` every `every` until it answers true (true) or the deadline passes (false).
    pub fn poll(&self, every: Duration, mut done: impl FnMut() -> bool) -> bool {
        loop {
            if done() {
                return true;
            }
            match self.remaining() {
                Err(Expired) => return false,
                Ok(left) => std::thread::sleep(left.map_or(every, |l| l.min(every))),
            }
        }
    }
}

/// A command that did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` exited with status {code}{}", detail(.message))]
    Failed {
        command: String,
        code: i32,
        /// The last line the command printed on stderr (else stdout), if any.
        message: String,
    },
    #[error("`{command}` was killed by signal {signal}")]
    Signalled { command: String, signal: i32 },
    #[error("`{command}` did not finish in the time left to the operation; its process group was killed")]
    TimedOut { command: String },
    #[error("the operation's time limit ran out before `{command}`")]
    Expired { command: String },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The environment commands run with.
pub fn base_env() -> Vec<(String, String)> {
    vec![
        ("PATH".to_string(), AGENT_PATH.to_string()),
        ("LC_ALL".to_string(), "C".to_string()),
        ("LANG".to_string(), "C".to_string()),
    ]
}

/// `program a b c` as a log line (arguments with blanks quoted).
pub fn command_line(program: &str, args: &[&str]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push('\'');
            s.push_str(a);
            s.push('\'');
        } else {
            s.push_str(a);
        }
    }
    s
}

/// The last non-blank line of what a command printed: its error message.
pub fn last_line(ran: &Ran) -> String {
    let pick = |s: &str| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    };
    pick(&ran.stderr)
        .or_else(|| pick(&ran.stdout))
        .unwrap_or_default()
}

/// Runs `program args` with `env` within `dl`; any exit status is returned.
pub fn run(
    dl: &Deadline,
    env: &[(String, String)],
    program: &str,
    args: &[&str],
) -> Result<Ran, CmdError> {
    let command = command_line(program, args);
    let left = dl.remaining().map_err(|Expired| CmdError::Expired {
        command: command.clone(),
    })?;
    tracing::debug!("running {command}");
    let ran =
        run_command(Path::new(program), args, env, left).map_err(|source| CmdError::Spawn {
            program: program.to_string(),
            source,
        })?;
    match ran.exit {
        Exit::Code(_) => Ok(ran),
        Exit::Signal(signal) => Err(CmdError::Signalled { command, signal }),
        Exit::TimedOut => Err(CmdError::TimedOut { command }),
    }
}

/// Like [`run`], but only exit status 0 is a success.
pub fn check(
    dl: &Deadline,
    env: &[(String, String)],
    program: &str,
    args: &[&str],
) -> Result<Ran, CmdError> {
    let ran = run(dl, env, program, args)?;
    match code(&ran) {
        0 => Ok(ran),
        code => Err(CmdError::Failed {
            command: command_line(program, args),
            code,
            message: last_line(&ran),
        }),
    }
}

/// The exit code of a finished run (run() returns only those).
pub fn code(ran: &Ran) -> i32 {
    match ran.exit {
        Exit::Code(c) => c,
        _ => -1,
    }
}

/// This machine's host name: the default node name agents tag storage with (rgmanager's agents
/// asked cman for the cluster node name; the daemon passes that one when it knows it).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// True while process `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold ") ".
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Sends `sig` to `pid`; false if there is no such process.
pub fn signal(pid: i32, sig: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) only sends a signal; pid is positive, so it names one process, never a
    // group or every process.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Waits until none of `pids` is alive or `dl` passes; true when all are gone.
pub fn wait_gone(dl: &Deadline, pids: &[i32]) -> bool {
    dl.poll(Duration::from_millis(50), || {
        pids.iter().all(|&p| !pid_alive(p))
    })
}

/// The first line of a pid file as a pid (None if missing, empty or not a number).
pub fn read_pid_file(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_and_messages() {
        assert_eq!(
            command_line("mount", &["-o", "ro,noatime", "/dev/x", "/mnt/a b"]),
            "mount -o ro,noatime /dev/x '/mnt/a b'"
        );
        let dl = Deadline::none();
        let e = check(
            &dl,
            &base_env(),
            "sh",
            &["-c", "echo out; echo bad thing >&2; exit 3"],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`sh -c 'echo out; echo bad thing >&2; exit 3'` exited with status 3: bad thing"
        );
        let ran = run(&dl, &base_env(), "sh", &["-c", "echo $LC_ALL; exit 4"]).unwrap();
        assert_eq!((code(&ran), ran.stdout.as_str()), (4, "C\n"));
        assert!(matches!(
            run(&dl, &base_env(), "/nonexistent/prog", &[]),
            Err(CmdError::Spawn { .. })
        ));
    }

    #[test]
    fn the_deadline_is_shared_by_the_commands() {
        let dl = Deadline::none().within(Duration::from_millis(600));
        let e = run(&dl, &base_env(), "sleep", &["5"]).unwrap_err();
        assert!(matches!(e, CmdError::TimedOut { .. }), "{e}");
        assert!(dl.expired());
        let e = run(&dl, &base_env(), "true", &[]).unwrap_err();
        assert!(matches!(e, CmdError::Expired { .. }), "{e}");
    }

    #[test]
    fn processes() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(pid_alive(pid));
        assert!(signal(pid, libc::SIGTERM));
        let _ = child.wait();
        assert!(wait_gone(
            &Deadline::none().within(Duration::from_secs(5)),
            &[pid]
        ));
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.pid");
        std::fs::write(&f, "1234\n").unwrap();
        assert_eq!(read_pid_file(&f), Some(1234));
        std::fs::write(&f, "\n").unwrap();
        assert_eq!(read_pid_file(&f), None);
    }
}
