//! `fence_virsh`, native: libvirt domains on a hypervisor reached over SSH, with the `virsh`
//! commands fence-agents' fence_virsh runs (`virsh domstate`, `start`, `destroy`, `list --all`)
//! and its reading of their output. One SSH connection and one remote `sh` (no pty, no prompt)
//! serve every step of an action; each command's output ends at a random marker line carrying its
//! exit status.
//!
//! Unlike fence-agents, the server's host key is checked against a known_hosts file
//! ([`crate::known_hosts`]); an unknown key is refused unless `accept_new_host_key` (or
//! `-o StrictHostKeyChecking=accept-new|no` in `ssh_options`) asks to record it, and a changed or
//! revoked key is always refused. The password (or key passphrase) goes to the SSH library only,
//! never to a command line or a log.
//!
//! The output parsers are pure functions; the SSH session (libssh2 through the `ssh2` crate) is
//! the edge.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::{AgentSpec, FenceDevice, FenceError, Options, Outlet, PowerState};
use crate::known_hosts::{self, Verdict};

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
    declines: &[],
    connect,
};

/// Domain states fence_virsh counts as powered.
const ON_STATES: [&str; 5] = ["running", "blocked", "idle", "no state", "paused"];

/// What to do with a host key that known_hosts does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKeys {
    /// Refuse it (the default).
    Refuse,
    /// Record it and go on (never a changed key).
    Accept,
}

/// The parts of fence_virsh's `ssh_options` string that mean something without an `ssh`
/// program: `-o UserKnownHostsFile=…` and `-o StrictHostKeyChecking=…`. Everything else (its
/// default `-t '/bin/bash -c "PS1=…"'` shell) is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    /// `UserKnownHostsFile` (first file named).
    pub known_hosts: Option<String>,
    /// `StrictHostKeyChecking`: Some(Accept) for `accept-new`/`no`/`off`, Some(Refuse) for
    /// `yes`/`ask`.
    pub new_keys: Option<NewKeys>,
}

/// Split a command-line string as a POSIX shell would (quotes and backslashes; no expansions).
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(n);
                            }
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Read the `-o` settings we honour out of an `ssh_options` string.
pub fn parse_ssh_options(s: &str) -> SshOptions {
    let words = shell_words(s);
    let mut out = SshOptions::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let setting = if w == "-o" {
            i += 1;
            words.get(i).cloned()
        } else {
            w.strip_prefix("-o").map(str::to_string)
        };
        i += 1;
        let Some(setting) = setting else { continue };
        let (k, v) = match setting.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => match setting.trim().split_once(char::is_whitespace) {
                Some((k, v)) => (k.to_string(), v.trim().to_string()),
                None => continue,
            },
        };
        match k.to_ascii_lowercase().as_str() {
            "userknownhostsfile" => {
                out.known_hosts = v.split_whitespace().next().map(str::to_string);
            }
            "stricthostkeychecking" => {
                out.new_keys = match v.to_ascii_lowercase().as_str() {
                    "accept-new" | "no" | "off" => Some(NewKeys::Accept),
                    _ => Some(NewKeys::Refuse),
                };
            }
            _ => tracing::debug!(option = %k, "ssh option ignored by the native agent"),
        }
    }
    out
}

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

fn ssh_error(what: &str, e: &ssh2::Error) -> String {
    format!("{what}: {}", e.message())
}

fn is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(-9) // LIBSSH2_ERROR_TIMEOUT
}

fn home_known_hosts() -> Result<PathBuf, FenceError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".ssh").join("known_hosts"))
        .ok_or_else(|| FenceError::Usage("Failed: HOME is not set; give known_hosts=PATH".into()))
}

fn expand_tilde(p: &str) -> Result<PathBuf, FenceError> {
    match p.strip_prefix("~/") {
        Some(rest) => Ok(home_known_hosts()?
            .parent()
            .and_then(Path::parent)
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(p))),
        None => Ok(PathBuf::from(p)),
    }
}

/// Where the host key is checked and what to do with a new one, from the options.
fn host_key_policy(opts: &Options) -> Result<(PathBuf, NewKeys), FenceError> {
    let ssh = opts
        .ssh_options
        .as_deref()
        .map(parse_ssh_options)
        .unwrap_or_default();
    let path = match opts.raw.get("known_hosts").map(|s| s.trim()) {
        Some(p) if !p.is_empty() => expand_tilde(p)?,
        _ => match &ssh.known_hosts {
            Some(p) => expand_tilde(p)?,
            None => home_known_hosts()?,
        },
    };
    let explicit = opts
        .raw
        .get("accept_new_host_key")
        .and_then(|v| crate::agent::options::parse_bool(v))
        .unwrap_or(false);
    let new_keys = if explicit {
        NewKeys::Accept
    } else {
        ssh.new_keys.unwrap_or(NewKeys::Refuse)
    };
    Ok((path, new_keys))
}

fn millis(d: Duration) -> u32 {
    // 0 = no limit for libssh2, as for the options.
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn connect_tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream, FenceError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FenceError::Login(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    for a in addrs {
        let r = if limit.is_zero() {
            TcpStream::connect(a)
        } else {
            TcpStream::connect_timeout(&a, limit)
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(FenceError::Login(match last {
        Some(e) => format!("cannot connect: {e}"),
        None => format!("{host} has no address"),
    }))
}

/// Check the server's key against known_hosts; record it when that is allowed.
fn check_host_key(
    session: &ssh2::Session,
    host: &str,
    port: u16,
    path: &Path,
    known: &str,
    new_keys: NewKeys,
) -> Result<(), FenceError> {
    let (blob, _) = session
        .host_key()
        .ok_or_else(|| FenceError::Login("the server sent no host key".into()))?;
    let fp = session
        .host_key_hash(ssh2::HashType::Sha256)
        .map(known_hosts::fingerprint)
        .unwrap_or_default();
    let ktype = known_hosts::key_type(blob).unwrap_or("unknown");
    let shown = path.display();
    match known_hosts::check(known, host, port, blob) {
        Verdict::Known => Ok(()),
        Verdict::Changed { line } => Err(FenceError::Login(format!(
            "HOST KEY CHANGED: {ktype} key {fp} of {host}:{port} differs from {shown}:{line}; \
             refusing to connect (remove that line only if the change is expected)"
        ))),
        Verdict::Revoked { line } => Err(FenceError::Login(format!(
            "host key {fp} of {host}:{port} is revoked in {shown}:{line}"
        ))),
        Verdict::Unknown if new_keys == NewKeys::Refuse => Err(FenceError::Login(format!(
            "unknown host key: {ktype} {fp} of {host}:{port} is not in {shown}; \
             check it and add it (ssh-keyscan), or set accept_new_host_key to record it"
        ))),
        Verdict::Unknown => {
            tracing::warn!(
                "recording the new host key of {host}:{port} ({ktype} {fp}) in {shown} (accept_new_host_key)"
            );
            record_key(path, &known_hosts::entry_line(host, port, blob)).map_err(|e| {
                FenceError::Login(format!("cannot record the host key in {shown}: {e}"))
            })
        }
    }
}

fn record_key(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // A file whose last line lacks its newline must not swallow ours.
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        let mut r = std::fs::File::open(path)?;
        use std::io::{Seek, SeekFrom};
        r.seek(SeekFrom::Start(len - 1))?;
        r.read_exact(&mut last)?;
        if last[0] != b'\n' {
            f.write_all(b"\n")?;
        }
    }
    f.write_all(line.as_bytes())
}

fn connect(opts: &Options) -> Result<Box<dyn FenceDevice>, FenceError> {
    if !opts.secure {
        return Err(FenceError::Usage(
            "Failed: this fence_virsh connects by ssh only (secure=1)".into(),
        ));
    }
    let host = opts
        .ipaddr
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter fence address".into()))?;
    let port = opts.ipport.unwrap_or(22);
    let user = opts
        .login
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter login name".into()))?;
    let (kh_path, new_keys) = host_key_policy(opts)?;
    let known = match std::fs::read_to_string(&kh_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(FenceError::Login(format!(
                "cannot read {}: {e}",
                kh_path.display()
            )))
        }
    };

    let tcp = connect_tcp(&host, port, opts.login_timeout)?;
    let _ = tcp.set_nodelay(true);
    let mut session =
        ssh2::Session::new().map_err(|e| FenceError::Login(ssh_error("ssh session", &e)))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(millis(opts.login_timeout));
    // Ask for a key type known_hosts has, so a host recorded with (say) only its ed25519 key
    // is not refused for showing its ECDSA key.
    let algos = known_hosts::algorithms_for(&known_hosts::recorded_types(&known, &host, port));
    if !algos.is_empty() {
        if let Err(e) = session.method_pref(ssh2::MethodType::HostKey, &algos.join(",")) {
            tracing::debug!(error = %e.message(), "host key algorithm preference not accepted");
        }
    }
    session.handshake().map_err(|e| {
        if is_timeout(&e) {
            FenceError::Timeout(ssh_error("ssh handshake", &e))
        } else {
            FenceError::Login(ssh_error("ssh handshake", &e))
        }
    })?;
    check_host_key(&session, &host, port, &kh_path, &known, new_keys)?;

    let passwd = opts.passwd.as_ref().map(|p| p.expose());
    let auth = match &opts.identity_file {
        Some(key) => session
            .userauth_pubkey_file(&user, None, Path::new(key), passwd)
            .map_err(|e| ssh_error(&format!("key {key} not accepted for {user}"), &e)),
        None => match passwd {
            Some(pw) => session
                .userauth_password(&user, pw)
                .map_err(|e| ssh_error(&format!("password not accepted for {user}"), &e)),
            None => Err("no password and no identity_file given".to_string()),
        },
    };
    auth.map_err(FenceError::Login)?;
    if !session.authenticated() {
        return Err(FenceError::Login(format!(
            "authentication failed for {user}"
        )));
    }
    tracing::debug!(host = %host, port, user = %user, "logged in");

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
    fn ssh_options_read_known_hosts_and_strictness() {
        let default_ish = r#"-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes -t '/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc"'"#;
        assert_eq!(
            parse_ssh_options(default_ish),
            SshOptions {
                known_hosts: Some("/tmp/kh".into()),
                new_keys: Some(NewKeys::Refuse)
            }
        );
        assert_eq!(
            parse_ssh_options("-oStrictHostKeyChecking=accept-new -o 'UserKnownHostsFile /a /b'")
                .new_keys,
            Some(NewKeys::Accept)
        );
        assert_eq!(
            parse_ssh_options("-o 'UserKnownHostsFile /a /b'").known_hosts,
            Some("/a".into())
        );
        assert_eq!(parse_ssh_options("-t bash -o"), SshOptions::default());
        assert_eq!(
            shell_words(r#"a 'b c' "d \"e\" \x" f\ g"#),
            vec!["a", "b c", "d \"e\" \\x", "f g"]
        );
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
        assert_eq!(shell_words(&shell_quote("x'y z")), vec!["x'y z"]);
    }
}
