//! `fence_virsh`, native: libvirt domains on a hypervisor reached over SSH, with the `virsh`
//! commands fence-agents' fence_virsh runs (`virsh domstate`, `start`, `destroy`, `list --all`)
//! and its reading of their output. One SSH connection and one remote `sh` (no pty, no prompt)
//! serve every step of an action; each command's output ends at a random marker line carrying its
//! exit status.
//!
//! The connection, host-key check and login are [`crate::ssh`]'s (shared with `fence_apc -x`):
//! unlike fence-agents, an unknown host key is refused unless asked to record it. The output
//! parsers are pure functions; the SSH session (libssh2 through the `ssh2` crate) is the edge.

use std::io::Read;
use std::time::Duration;

use crate::agent::{AgentSpec, FenceDevice, FenceError, Options, Outlet, PowerState};
use crate::ssh::{self, is_timeout, millis, ssh_error};

/// The agent description used by the CLI and the metadata.
pub static SPEC: AgentSpec = AgentSpec {
    name: "fence_virsh",
    shortdesc: "Fence agent for virsh",
    longdesc: "fence_virsh is an I/O Fencing agent which can be used with the virtual machines managed by libvirt. \
It logs via ssh to a dom0 and there run virsh command, which does all work. \
By default, virsh needs root account to do properly work. So you must allow ssh login in your sshd_config. \
The host key of the dom0 must be in known_hosts, or accept_new_host_key must be set to record it.",
    vendor_url: "http://libvirt.org",
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
        "secure",
        "identity_file",
        "ssh_options",
        "cmd_prompt",
        "sudo",
        "sudo_path",
        "missing_as_off",
        "known_hosts",
        "accept_new_host_key",
    ],
    required: &["ipaddr", "login"],
    defaults: &[("ipport", "22"), ("secure", "1")],
    has_plugs: true,
    actions: &[
        "on",
        "off",
        "reboot",
        "status",
        "list",
        "list-status",
        "monitor",
        "metadata",
        "validate-all",
    ],
    connect,
};

/// Domain states fence_virsh counts as powered.
const ON_STATES: [&str; 5] = ["running", "blocked", "idle", "no state", "paused"];

/// Quote `s` for a POSIX shell (the remote login shell runs our commands).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@%+=,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The power state in `virsh domstate` output (stdout and stderr), read as fence_virsh reads it.
pub fn parse_domstate(output: &str, missing_as_off: bool) -> Result<PowerState, FenceError> {
    for line in output.lines() {
        let l = line.trim();
        if ON_STATES.contains(&l) {
            return Ok(PowerState::On);
        }
        if l.contains("error: failed to get domain") && missing_as_off {
            return Ok(PowerState::Off);
        }
        if l.contains("error:") {
            return Err(FenceError::Usage(
                "Failed: You have to enter existing name/UUID of virtual machine!".into(),
            ));
        }
    }
    Ok(PowerState::Off)
}

/// The domains in `virsh list --all` output: rows after the `Id Name State` header; the state's
/// first word decides on/off (as fence_virsh: names with spaces are not supported).
pub fn parse_list(output: &str) -> Vec<Outlet> {
    let mut header_seen = false;
    let mut out = vec![];
    for line in output.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 3 {
            continue;
        }
        if !header_seen {
            header_seen =
                cols[0].eq_ignore_ascii_case("id") && cols[1].eq_ignore_ascii_case("name");
            continue;
        }
        let state = cols[2].to_ascii_lowercase();
        out.push(Outlet {
            plug: cols[1].to_string(),
            alias: String::new(),
            status: Some(
                if ON_STATES.contains(&state.as_str()) {
                    "on"
                } else {
                    "off"
                }
                .into(),
            ),
        });
    }
    out
}

/// A fresh end-of-output marker.
fn new_marker() -> String {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // Not secret, only unlikely in virsh output: time and pid do as well.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("FENCE_VIRSH_DONE_{hex}")
}

/// The line the remote shell gets for `cmd`: its output (stderr too), then the marker and the
/// exit status on a line of their own. stdin is /dev/null so a command cannot eat the next one.
pub fn command_line(cmd: &str, marker: &str) -> String {
    format!("{cmd} </dev/null 2>&1; printf '\\n%s %d\\n' {marker} $?\n")
}

/// The output and exit status of a command once its marker line has arrived.
pub fn split_reply(buf: &str, marker: &str) -> Option<(i32, String)> {
    let at = buf.find(&format!("\n{marker} "))?;
    let rest = &buf[at + 1 + marker.len() + 1..];
    let eol = rest.find('\n')?;
    let code = rest[..eol].trim().parse().unwrap_or(-1);
    Some((code, buf[..at].to_string()))
}

/// A logged-in SSH session to the hypervisor.
pub struct Virsh {
    session: ssh2::Session,
    prefix: String,
    missing_as_off: bool,
    shell_timeout: Duration,
    power_timeout: Duration,
    /// The remote shell the commands run in, opened by the first command.
    shell: Option<ssh2::Channel>,
    /// Ends each command's output; random, so no output can fake it.
    marker: String,
}

fn connect(opts: &Options) -> Result<Box<dyn FenceDevice>, FenceError> {
    if !opts.secure {
        return Err(FenceError::Usage(
            "Failed: this fence_virsh connects by ssh only (secure=1)".into(),
        ));
    }
    let session = ssh::login(opts, 22)?.session;

    let prefix = if opts
        .raw
        .get("sudo")
        .and_then(|v| crate::agent::options::parse_bool(v))
        .unwrap_or(false)
    {
        let sudo = opts
            .raw
            .get("sudo_path")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("/usr/bin/sudo");
        format!("{sudo} ")
    } else {
        String::new()
    };
    let missing_as_off = opts
        .raw
        .get("missing_as_off")
        .and_then(|v| crate::agent::options::parse_bool(v))
        .unwrap_or(false);
    Ok(Box::new(Virsh {
        session,
        prefix,
        missing_as_off,
        shell_timeout: opts.shell_timeout,
        power_timeout: Duration::from_secs(opts.power_timeout),
        shell: None,
        marker: new_marker(),
    }))
}

impl Virsh {
    /// Run one virsh command in the session's shell; its exit status and output (stdout and
    /// stderr together, as fence_virsh sees them on its terminal).
    fn run(&mut self, args: &str, limit: Duration) -> Result<(i32, String), FenceError> {
        use std::io::Write;
        let cmd = format!("{}virsh {args}", self.prefix);
        tracing::debug!(command = %cmd, "running");
        self.session.set_timeout(millis(limit));
        let err = |e: ssh2::Error| {
            if is_timeout(&e) {
                FenceError::Timeout(format!("no answer to `{cmd}` within {limit:?}"))
            } else {
                FenceError::Device(ssh_error(&format!("`{cmd}`"), &e))
            }
        };
        let io_err = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                FenceError::Timeout(format!("no answer to `{cmd}` within {limit:?}"))
            } else {
                FenceError::Device(format!("`{cmd}`: connection lost: {e}"))
            }
        };
        if self.shell.is_none() {
            // One shell for every command of the action: each new exec channel would cost a
            // session set-up and a login shell on the hypervisor (~0.1 s each).
            let mut ch = self.session.channel_session().map_err(err)?;
            ch.exec("exec sh").map_err(err)?;
            self.shell = Some(ch);
        }
        let Some(ch) = self.shell.as_mut() else {
            return Err(FenceError::Device("no shell channel".into()));
        };
        ch.write_all(command_line(&cmd, &self.marker).as_bytes())
            .and_then(|()| ch.flush())
            .map_err(io_err)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((code, out)) = split_reply(&String::from_utf8_lossy(&buf), &self.marker) {
                tracing::debug!(code, output = %out.trim_end(), "command done");
                return Ok((code, out));
            }
            if buf.len() > 1 << 20 {
                return Err(FenceError::Device(format!("`{cmd}`: endless output")));
            }
            match ch.read(&mut chunk).map_err(io_err)? {
                0 => {
                    return Err(FenceError::Device(format!(
                        "`{cmd}`: the remote shell ended: {}",
                        String::from_utf8_lossy(&buf).trim()
                    )))
                }
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn plug(plug: Option<&str>) -> Result<&str, FenceError> {
        plug.ok_or_else(|| {
            FenceError::Usage(
                "Failed: You have to enter plug number or machine identification".into(),
            )
        })
    }
}

impl FenceDevice for Virsh {
    fn get_power(&mut self, plug: Option<&str>) -> Result<PowerState, FenceError> {
        let plug = Self::plug(plug)?;
        let (_, out) = self.run(
            &format!("domstate {}", shell_quote(plug)),
            self.shell_timeout,
        )?;
        parse_domstate(&out, self.missing_as_off)
    }

    fn set_power(&mut self, plug: Option<&str>, state: PowerState) -> Result<(), FenceError> {
        let plug = Self::plug(plug)?;
        let verb = match state {
            PowerState::On => "start",
            PowerState::Off => "destroy",
        };
        let (code, out) = self.run(&format!("{verb} {}", shell_quote(plug)), self.power_timeout)?;
        if code != 0 {
            // As fence_virsh: the state polls that follow decide; say what virsh said.
            tracing::warn!(
                "virsh {verb} {plug} exited with {code}: {}",
                out.lines()
                    .find(|l| l.contains("error"))
                    .unwrap_or("")
                    .trim()
            );
        }
        Ok(())
    }

    fn list(&mut self) -> Result<Vec<Outlet>, FenceError> {
        let (code, out) = self.run("list --all", self.shell_timeout)?;
        let domains = parse_list(&out);
        if code != 0 && domains.is_empty() {
            return Err(FenceError::Device(format!(
                "virsh list failed: {}",
                out.lines().next().unwrap_or("").trim()
            )));
        }
        Ok(domains)
    }

    fn logout(&mut self) {
        if let Some(mut ch) = self.shell.take() {
            use std::io::Write;
            let _ = ch.write_all(b"exit\n");
            let _ = ch.send_eof();
        }
        let _ = self.session.disconnect(None, "fence_virsh done", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domstate_as_fence_virsh_reads_it() {
        assert_eq!(parse_domstate("running\n\n", false), Ok(PowerState::On));
        for on in ON_STATES {
            assert_eq!(
                parse_domstate(&format!("{on}\n"), false),
                Ok(PowerState::On)
            );
        }
        for off in ["shut off", "crashed", "pmsuspended", "in shutdown", ""] {
            assert_eq!(parse_domstate(off, false), Ok(PowerState::Off), "{off}");
        }
        let missing = "error: failed to get domain 'nope'\n";
        assert!(matches!(
            parse_domstate(missing, false),
            Err(FenceError::Usage(m)) if m.contains("existing name/UUID")
        ));
        assert_eq!(parse_domstate(missing, true), Ok(PowerState::Off));
        assert!(parse_domstate("error: no connection driver available", true).is_err());
    }

    #[test]
    fn list_as_fence_virsh_reads_it() {
        let out = " Id   Name    State\n------------------------\n 1    node1   running\n 2    node2   paused\n -    node3   shut off\n -    node4   no state\n\n";
        let l = parse_list(out);
        let got: Vec<(&str, &str)> = l
            .iter()
            .map(|o| (o.plug.as_str(), o.status.as_deref().unwrap()))
            .collect();
        // "no state" is read as "no": off in a list, on in domstate (fence_virsh does the same).
        assert_eq!(
            got,
            vec![
                ("node1", "on"),
                ("node2", "on"),
                ("node3", "off"),
                ("node4", "off")
            ]
        );
        assert!(l.iter().all(|o| o.alias.is_empty()));
        assert!(parse_list("garbage\nmore garbage here\n").is_empty());
    }

    #[test]
    fn replies_end_at_the_marker() {
        let m = "FENCE_VIRSH_DONE_00ff";
        let line = command_line("virsh domstate node1", m);
        assert_eq!(
            line,
            "virsh domstate node1 </dev/null 2>&1; printf '\\n%s %d\\n' FENCE_VIRSH_DONE_00ff $?\n"
        );
        assert_eq!(split_reply("running\n\n", m), None);
        assert_eq!(split_reply(&format!("running\n\n\n{m} 0"), m), None);
        assert_eq!(
            split_reply(&format!("running\n\n\n{m} 0\n"), m),
            Some((0, "running\n\n".into()))
        );
        assert_eq!(
            split_reply(&format!("\n{m} 1\n"), m),
            Some((1, String::new()))
        );
        assert!(new_marker().starts_with("FENCE_VIRSH_DONE_"));
        assert_ne!(new_marker(), new_marker());
    }

    #[test]
    fn plugs_are_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("node1"), "node1");
        assert_eq!(
            shell_quote("0b3c0f6e-4b1a-4f63-9d0e-2a6f4f2e3a11"),
            "0b3c0f6e-4b1a-4f63-9d0e-2a6f4f2e3a11"
        );
        assert_eq!(shell_quote("a b;rm -rf /"), "'a b;rm -rf /'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(ssh::shell_words(&shell_quote("x'y z")), vec!["x'y z"]);
    }
}
