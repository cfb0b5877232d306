//! `fence_apc`, native: the APC MasterSwitch / Switched Rack PDU over telnet. The dialog itself
//! (both firmware dialects) is the sans-I/O `fence::apc`; this module is its edge: a TCP
//! connection, the telnet layer, and waiting for the screens the dialog asks for within the
//! login / shell / power time limits. One login serves every step of an action (status, set,
//! status polls), as fence_apc does.
//!
//! SSH is not offered yet: fence_apc's own default (`ssh -1 -c blowfish`) cannot work with any
//! current OpenSSH, and a telnet login is what the units ship with.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::agent::{AgentSpec, FenceDevice, FenceError, Options, Outlet, PowerState, Secret};
use crate::apc::{self, Dialect, Dialog, Limit, Step, Task};
use crate::telnet;

/// The agent description used by the CLI and the metadata.
pub static SPEC: AgentSpec = AgentSpec {
    name: "fence_apc",
    shortdesc: "Fence agent for APC over telnet",
    longdesc: "fence_apc is an I/O Fencing agent which can be used with the APC network power switch. \
It logs into the device via telnet and switches a specified outlet, in the menus of AOS v2/v3 or the \
command line of AOS v5 and later. Lengthy telnet connections should be avoided while a GFS cluster is \
running because the connection will block any necessary fencing actions.",
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
    declines: &["secure"],
    connect,
};

/// Anything a device prints beyond this between two awaited screens is not an APC unit.
const MAX_SCREEN: usize = 1 << 20;

/// A logged-in APC session.
pub struct Apc {
    stream: TcpStream,
    telnet: telnet::Client,
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
    if opts.secure {
        return Err(FenceError::Usage(
            "Failed: ssh is not supported by this fence_apc yet; use telnet (secure=0)".into(),
        ));
    }
    let host = opts
        .ipaddr
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter fence address".into()))?;
    let port = opts.ipport.unwrap_or(23);
    let login_timeout = limit(opts.login_timeout);
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| FenceError::Login(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        let r = match login_timeout {
            Some(t) => TcpStream::connect_timeout(&a, t),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = stream.ok_or_else(|| {
        FenceError::Login(match last {
            Some(e) => format!("cannot connect: {e}"),
            None => format!("{host} has no address"),
        })
    })?;
    let _ = stream.set_nodelay(true);
    let settle = opts
        .raw
        .get("settle_delay")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0 && *f < 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_default();
    let mut apc = Apc {
        stream,
        telnet: telnet::Client::default(),
        buf: String::new(),
        dialect: Dialect::Menus,
        switch: opts.raw.get("switch").map(|s| s.trim().to_string()),
        login_timeout,
        shell_timeout: limit(opts.shell_timeout),
        power_timeout: limit(Duration::from_secs(opts.power_timeout)),
        settle,
        label: format!("{host}:{port}"),
    };
    let mut login = Dialog::new(
        Task::Login {
            user: opts.login.clone().unwrap_or_default(),
            password: opts.passwd.clone().unwrap_or_else(|| Secret::new("")),
        },
        Dialect::Menus,
        None,
    );
    apc.drive(&mut login)?;
    apc.dialect = login.dialect().unwrap_or(Dialect::Menus);
    tracing::debug!(dialect = ?apc.dialect, "logged in to the APC unit");
    Ok(Box::new(apc))
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
        self.stream
            .write_all(&telnet::encode(bytes))
            .map_err(|e| FenceError::Device(format!("connection lost: {e}")))
    }

    /// Wait until one of `patterns` is on screen; returns its index and the text before it.
    fn wait(
        &mut self,
        patterns: &[&str],
        limit: Option<Duration>,
    ) -> Result<(usize, String), FenceError> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut chunk = [0u8; 4096];
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
            self.stream
                .set_read_timeout(left)
                .map_err(|e| FenceError::Device(e.to_string()))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(FenceError::Device(format!(
                        "connection closed by the device while waiting for {:?}",
                        patterns.first().copied().unwrap_or("")
                    )))
                }
                Ok(n) => {
                    let (data, reply) = self.telnet.decode(&chunk[..n]);
                    if !reply.is_empty() {
                        self.stream
                            .write_all(&reply)
                            .map_err(|e| FenceError::Device(format!("connection lost: {e}")))?;
                    }
                    self.buf.push_str(&String::from_utf8_lossy(&data));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(timeout(patterns, limit));
                }
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
        let _ = self.stream.write_all(bye);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        tracing::debug!(device = %self.label, "logged out");
    }
}
