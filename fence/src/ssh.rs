//! The SSH client side shared by the SSH agents (`fence_virsh`, `fence_apc -x`): reading the
//! fence-agents `ssh_options` string, connecting within `login_timeout`, the handshake, the host
//! key checked against a known_hosts file ([`crate::known_hosts`]) and the login with a password
//! or a key. One place, so both agents refuse and accept host keys the same way.
//!
//! Unlike fence-agents (which answers `yes` to OpenSSH's host-key question), an unknown key is
//! refused unless `accept_new_host_key` (or `-o StrictHostKeyChecking=accept-new|no` in
//! `ssh_options`) asks to record it, and a changed or revoked key is always refused. The password
//! (or key passphrase) goes to the SSH library only, never to a command line or a log. libssh2
//! (through the `ssh2` crate) speaks SSH 2 with current algorithms, so a current OpenSSH server
//! works (fence_apc's own default, `ssh -1 -c blowfish`, no longer does).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::{FenceError, Options};
use crate::known_hosts::{self, Verdict};
use crate::tcp;

/// What to do with a host key that known_hosts does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKeys {
    /// Refuse it (the default).
    Refuse,
    /// Record it and go on (never a changed key).
    Accept,
}

/// The parts of an agent's `ssh_options` string that mean something without an `ssh` program:
/// `-o UserKnownHostsFile=…` and `-o StrictHostKeyChecking=…`. Everything else (fence_virsh's
/// default `-t '/bin/bash -c "PS1=…"'` shell, fence_apc's `-1 -c blowfish`) is ignored.
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

pub fn ssh_error(what: &str, e: &ssh2::Error) -> String {
    format!("{what}: {}", e.message())
}

pub fn is_timeout(e: &ssh2::Error) -> bool {
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
pub fn host_key_policy(opts: &Options) -> Result<(PathBuf, NewKeys), FenceError> {
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

pub fn millis(d: Duration) -> u32 {
    // 0 = no limit for libssh2, as for the options.
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Check the server's key against known_hosts; record it when that is allowed.
pub fn check_host_key(
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

// libssh2's I/O callback hook (libssh2.h): present in every libssh2 since 1.0, so in the one
// libssh2-sys builds and in a system one alike. (`libssh2_session_callback_set2` is its 1.11.1
// name; the old one stays exported.)
extern "C" {
    fn libssh2_session_callback_set(
        session: *mut libc::c_void,
        cbtype: libc::c_int,
        callback: *mut libc::c_void,
    ) -> *mut libc::c_void;
}
const LIBSSH2_CALLBACK_RECV: libc::c_int = 6;

/// libssh2's own receive (`ssh2_recv`: `recv`, -errno on failure, EINTR as EAGAIN), followed by
/// [`tcp::ack_now`] after every read that brought data. sshd writes an SSH session's first
/// messages (and, without a pty, every command's output) with Nagle on: each message after the
/// first waited for our delayed ACK of it (~40 ms, e.g. between the `hostkeys-00@openssh.com`
/// notice and the channel-open confirmation). libssh2 reads inside its blocking calls, so the
/// ACK has to be sent from here.
extern "C" fn recv_and_ack(
    socket: libc::c_int,
    buffer: *mut libc::c_void,
    length: libc::size_t,
    flags: libc::c_int,
    _abstract: *mut *mut libc::c_void,
) -> libc::ssize_t {
    // SAFETY: libssh2 passes its own buffer of `length` bytes and its session's socket.
    let rc = unsafe { libc::recv(socket, buffer, length, flags) };
    if rc < 0 {
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return match e {
            libc::EINTR | libc::EAGAIN | libc::ENOENT => -(libc::EAGAIN as libc::ssize_t),
            e => -(e as libc::ssize_t),
        };
    }
    if rc > 0 {
        tcp::ack_now(&socket);
    }
    rc
}

/// Make `session` acknowledge every read at once (see [`recv_and_ack`]).
fn ack_every_read(session: &ssh2::Session) {
    let mut raw = session.raw();
    let raw: *mut libc::c_void = std::ptr::from_mut(&mut *raw).cast();
    // SAFETY: `raw` is the live session, locked for the call; the callback has the signature
    // libssh2 declares for LIBSSH2_CALLBACK_RECV (LIBSSH2_RECV_FUNC) and lives for ever.
    unsafe {
        libssh2_session_callback_set(
            raw,
            LIBSSH2_CALLBACK_RECV,
            recv_and_ack as *const () as *mut libc::c_void,
        );
    }
}

/// An authenticated SSH session and what names its device in messages.
pub struct Login {
    /// The session (blocking; its timeout is `login_timeout` until changed).
    pub session: ssh2::Session,
    /// `host:port`.
    pub label: String,
}

/// Connect to `ipaddr:ipport` (`default_port` when not given), check the host key and log in as
/// `login` with `identity_file` (its passphrase in `passwd`) or with `passwd`.
pub fn login(opts: &Options, default_port: u16) -> Result<Login, FenceError> {
    let host = opts
        .ipaddr
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter fence address".into()))?;
    let port = opts.ipport.unwrap_or(default_port);
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

    let tcp = tcp::connect(&host, port, Some(opts.login_timeout))?;
    let mut session =
        ssh2::Session::new().map_err(|e| FenceError::Login(ssh_error("ssh session", &e)))?;
    ack_every_read(&session);
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
    Ok(Login {
        session,
        label: format!("{host}:{port}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_acknowledge_every_read_at_once() {
        use crate::tcp::probe::{delay_acks, quickack};
        use std::io::Write;
        use std::os::fd::AsRawFd;
        // The hook is installed: setting another callback hands ours back.
        let session = ssh2::Session::new().unwrap();
        ack_every_read(&session);
        let mut raw = session.raw();
        let raw: *mut libc::c_void = std::ptr::from_mut(&mut *raw).cast();
        let old = unsafe {
            libssh2_session_callback_set(raw, LIBSSH2_CALLBACK_RECV, std::ptr::null_mut())
        };
        assert_eq!(old, recv_and_ack as *const () as *mut libc::c_void);

        // And it reads as libssh2's own receive does, leaving delayed-ACK mode after data.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let recv = |buf: &mut [u8]| {
            recv_and_ack(
                c.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(recv(&mut buf), -(libc::EAGAIN as libc::ssize_t));
        s.write_all(b"SSH-2.0-x\r\n").unwrap();
        delay_acks(&c);
        let mut n = -1;
        for _ in 0..1000 {
            n = recv(&mut buf);
            if n > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&buf[..n as usize], b"SSH-2.0-x\r\n");
        assert_eq!(quickack(&c), 1);
        drop(s);
        assert_eq!(recv(&mut buf), 0);
        assert_eq!(
            recv_and_ack(-1, buf.as_mut_ptr().cast(), 1, 0, std::ptr::null_mut()),
            -(libc::EBADF as libc::ssize_t)
        );
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
        // fence_apc's default asks for protocol 1 and blowfish: nothing there for us.
        assert_eq!(parse_ssh_options("-1 -c blowfish"), SshOptions::default());
        assert_eq!(
            shell_words(r#"a 'b c' "d \"e\" \x" f\ g"#),
            vec!["a", "b c", "d \"e\" \\x", "f g"]
        );
    }
}
