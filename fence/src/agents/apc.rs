//! `fence_apc`, native: the APC MasterSwitch / Switched Rack PDU over telnet or SSH. The dialog
//! itself (both firmware dialects) is the sans-I/O `fence::apc`; this module is its edge: a TCP
//! connection with the telnet layer, or an SSH shell channel with a pseudo-terminal (the unit's
//! menus and `apc>` prompt are the same there; the SSH login replaces the `User Name :` screen),
//! and waiting for the screens the dialog asks for within the login / shell / power time limits.
//! One login serves every step of an action (status, set, status polls), as fence_apc does.
//!
//! SSH goes through [`crate::ssh`] (libssh2, host key checked against known_hosts), so it works
//! with a current OpenSSH, where fence_apc's own default (`ssh -1 -c blowfish`) cannot.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::agent::{AgentSpec, FenceDevice, FenceError, Options, Outlet, PowerState, Secret};
use crate::apc::{self, Dialect, Dialog, Limit, Step, Task};
use crate::ssh;
use crate::tcp;
use crate::telnet;

/// The agent description used by the CLI and the metadata.
pub static SPEC: AgentSpec = AgentSpec {
    name: "fence_apc",
    shortdesc: "Fence agent for APC over telnet/ssh",
    longdesc: "fence_apc is an I/O Fencing agent which can be used with the APC network power switch. \
It logs into the device via telnet/ssh and switches a specified outlet, in the menus of AOS v2/v3 or the \
command line of AOS v5 and later. Lengthy telnet/ssh connections should be avoided while a GFS cluster is \
running because the connection will block any necessary fencing actions. Over ssh the host key of the \
unit must be in known_hosts, or accept_new_host_key must be set to record it.",
    vendor_url: "http://www.apc.com",
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
        "switch",
        "secure",
        "identity_file",
        "ssh_options",
        "known_hosts",
        "accept_new_host_key",
        "settle_delay",
    ],
    required: &["ipaddr", "login"],
    defaults: &[("ipport", "23")],
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

/// Anything a device prints beyond this between two awaited screens is not an APC unit.
const MAX_SCREEN: usize = 1 << 20;

/// How the bytes of the dialog travel.
enum Link {
    Telnet {
        stream: TcpStream,
        telnet: telnet::Client,
    },
    /// A shell channel with a pty: the unit's console as over telnet.
    Ssh {
        session: ssh2::Session,
        channel: ssh2::Channel,
    },
}

/// What one read brought.
enum Got {
    Data(Vec<u8>),
    Closed,
    TimedOut,
}

impl Link {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Telnet { stream, .. } => stream.write_all(&telnet::encode(bytes)),
            Link::Ssh { channel, .. } => channel.write_all(bytes).and_then(|()| channel.flush()),
        }
    }

    /// Wait up to `left` (None: no limit) for bytes from the unit.
    fn read(&mut self, left: Option<Duration>) -> std::io::Result<Got> {
        let mut chunk = [0u8; 4096];
        let r = match self {
            Link::Telnet { stream, telnet } => {
                stream.set_read_timeout(left)?;
                let r = stream.read(&mut chunk);
                // The rest of the screen may be held by the unit's Nagle until this is acked.
                tcp::ack_now(stream);
                r.map(|n| {
                    let (data, reply) = telnet.decode(&chunk[..n]);
                    (n, data, reply)
                })
            }
            Link::Ssh { session, channel } => {
                // libssh2 reads 0 ms as "no limit": a deadline about to pass waits 1 ms.
                // (Its reads acknowledge at once: `fence::ssh`.)
                session.set_timeout(left.map_or(0, |l| ssh::millis(l).max(1)));
                channel
                    .read(&mut chunk)
                    .map(|n| (n, chunk[..n].to_vec(), Vec::new()))
            }
        };
        match r {
            Ok((0, ..)) => Ok(Got::Closed),
            Ok((_, data, reply)) => {
                if !reply.is_empty() {
                    if let Link::Telnet { stream, .. } = self {
                        stream.write_all(&reply)?;
                    }
                }
                Ok(Got::Data(data))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(Got::TimedOut)
            }
            Err(e) => Err(e),
        }
    }

    fn close(&mut self, bye: &[u8]) {
        match self {
            Link::Telnet { stream, .. } => {
                let _ = stream.write_all(bye);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            Link::Ssh { session, channel } => {
                // The action is done: a unit slow to see us off must not hold the result up.
                session.set_timeout(1000);
                let _ = channel.write_all(bye);
                let _ = channel.send_eof();
                let _ = session.disconnect(None, "fence_apc done", None);
            }
        }
    }
}

/// A logged-in APC session.
pub struct Apc {
    link: Link,
    buf: String,
    dialect: Dialect,
    switch: Option<String>,
    login_timeout: Option<Duration>,
    shell_timeout: Option<Duration>,
    power_timeout: Option<Duration>,
    settle: Duration,
    label: String,
}

fn limit(d: Duration) -> Option<Duration> {
    // 0 = no limit (disable_timeout, as under Pacemaker).
    (!d.is_zero()).then_some(d)
}

fn connect(opts: &Options) -> Result<Box<dyn FenceDevice>, FenceError> {
    let login_timeout = limit(opts.login_timeout);
    let (link, label) = if opts.secure {
        ssh_link(opts)?
    } else {
        telnet_link(opts, login_timeout)?
    };
    let settle = opts
        .raw
        .get("settle_delay")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0 && *f < 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_default();
    let mut apc = Apc {
        link,
        buf: String::new(),
        dialect: Dialect::Menus,
        switch: opts.raw.get("switch").map(|s| s.trim().to_string()),
        login_timeout,
        shell_timeout: limit(opts.shell_timeout),
        power_timeout: limit(Duration::from_secs(opts.power_timeout)),
        settle,
        label,
    };
    let task = if opts.secure {
        Task::Attach
    } else {
        Task::Login {
            user: opts.login.clone().unwrap_or_default(),
            password: opts.passwd.clone().unwrap_or_else(|| Secret::new("")),
        }
    };
    let mut login = Dialog::new(task, Dialect::Menus, None);
    apc.drive(&mut login)?;
    apc.dialect = login.dialect().unwrap_or(Dialect::Menus);
    tracing::debug!(dialect = ?apc.dialect, "logged in to the APC unit");
    Ok(Box::new(apc))
}

fn telnet_link(
    opts: &Options,
    login_timeout: Option<Duration>,
) -> Result<(Link, String), FenceError> {
    let host = opts
        .ipaddr
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter fence address".into()))?;
    let port = opts.ipport.unwrap_or(23);
    let stream = tcp::connect(&host, port, login_timeout)?;
    Ok((
        Link::Telnet {
            stream,
            telnet: telnet::Client::default(),
        },
        format!("{host}:{port}"),
    ))
}

/// Log in over SSH and open the unit's console: a shell channel on a pseudo-terminal, as
/// `ssh -t` gives fence_apc.
fn ssh_link(opts: &Options) -> Result<(Link, String), FenceError> {
    let ssh::Login { session, label } = ssh::login(opts, 22)?;
    let err = |what: &str, e: ssh2::Error| {
        if ssh::is_timeout(&e) {
            FenceError::Timeout(ssh::ssh_error(what, &e))
        } else {
            FenceError::Login(ssh::ssh_error(what, &e))
        }
    };
    let mut channel = session
        .channel_session()
        .map_err(|e| err("ssh channel", e))?;
    channel
        .request_pty("vt100", None, Some((80, 24, 0, 0)))
        .map_err(|e| err("ssh pty", e))?;
    channel.shell().map_err(|e| err("ssh shell", e))?;
    Ok((Link::Ssh { session, channel }, label))
}

impl Apc {
    fn limit(&self, l: Limit) -> Option<Duration> {
        match l {
            Limit::Login => self.login_timeout,
            Limit::Shell => self.shell_timeout,
            Limit::Power => self.power_timeout,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), FenceError> {
        if !self.settle.is_zero() {
            std::thread::sleep(self.settle);
        }
        self.link
            .send(bytes)
            .map_err(|e| FenceError::Device(format!("connection lost: {e}")))
    }

    /// Wait until one of `patterns` is on screen; returns its index and the text before it.
    fn wait(
        &mut self,
        patterns: &[&str],
        limit: Option<Duration>,
    ) -> Result<(usize, String), FenceError> {
        let deadline = limit.map(|l| Instant::now() + l);
        loop {
            if let Some((i, at, end)) = apc::find_earliest(&self.buf, patterns) {
                let before = self.buf[..at].to_string();
                self.buf.drain(..end);
                return Ok((i, before));
            }
            if self.buf.len() > MAX_SCREEN {
                return Err(FenceError::Device(
                    "the device keeps printing without showing an expected screen".into(),
                ));
            }
            let left = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(timeout(patterns, limit));
                    }
                    Some(d - now)
                }
                None => None,
            };
            match self.link.read(left) {
                Ok(Got::Closed) => {
                    return Err(FenceError::Device(format!(
                        "connection closed by the device while waiting for {:?}",
                        patterns.first().copied().unwrap_or("")
                    )))
                }
                Ok(Got::Data(data)) => self.buf.push_str(&String::from_utf8_lossy(&data)),
                Ok(Got::TimedOut) => return Err(timeout(patterns, limit)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(FenceError::Device(format!("connection lost: {e}"))),
            }
        }
    }

    fn drive(&mut self, d: &mut Dialog) -> Result<(), FenceError> {
        loop {
            match d.poll() {
                Step::Send(b) => self.send(&b)?,
                Step::Expect { patterns, limit } => {
                    let (i, before) = self.wait(&patterns, self.limit(limit))?;
                    d.matched(i, &before)?;
                }
                Step::Done => return Ok(()),
            }
        }
    }

    /// The outlet and daisy-chain unit: `switch:plug` is the legacy way to give both.
    fn target(&self, plug: Option<&str>) -> Result<(Option<String>, String), FenceError> {
        let plug = plug.ok_or_else(|| {
            FenceError::Usage(
                "Failed: You have to enter plug number or machine identification".into(),
            )
        })?;
        Ok(match plug.split_once(':') {
            Some((sw, p)) => (Some(sw.trim().to_string()), p.trim().to_string()),
            None => (self.switch.clone(), plug.trim().to_string()),
        })
    }

    fn outlets(&mut self, switch: Option<String>) -> Result<Vec<Outlet>, FenceError> {
        let mut d = Dialog::new(Task::Status, self.dialect, switch);
        self.drive(&mut d)?;
        Ok(d.outlets().to_vec())
    }
}

fn timeout(patterns: &[&str], limit: Option<Duration>) -> FenceError {
    FenceError::Timeout(format!(
        "no {:?} within {} s",
        patterns.first().copied().unwrap_or("").trim(),
        limit.map(|l| l.as_secs_f64()).unwrap_or(0.0)
    ))
}

impl FenceDevice for Apc {
    fn get_power(&mut self, plug: Option<&str>) -> Result<PowerState, FenceError> {
        let (switch, plug) = self.target(plug)?;
        let outlets = self.outlets(switch)?;
        apc::state_of(&outlets, &plug)
    }

    fn set_power(&mut self, plug: Option<&str>, state: PowerState) -> Result<(), FenceError> {
        let (switch, plug) = self.target(plug)?;
        let mut d = Dialog::new(Task::Set { plug, state }, self.dialect, switch);
        self.drive(&mut d)
    }

    fn list(&mut self) -> Result<Vec<Outlet>, FenceError> {
        let switch = self.switch.clone();
        self.outlets(switch)
    }

    fn logout(&mut self) {
        let bye: &[u8] = match self.dialect {
            Dialect::Menus => b"4\r\n",
            Dialect::CommandLine => b"exit\r\n",
        };
        self.link.close(bye);
        tracing::debug!(device = %self.label, "logged out");
    }
}
