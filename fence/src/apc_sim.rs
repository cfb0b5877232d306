//! A simulated APC MasterSwitch / Switched Rack PDU, for demos and tests: no real switch is at
//! hand on a developer's machine or in CI. It speaks the two dialects fence-agents' `fence_apc`
//! drives (fencing.md §4): the AOS v3 menus (User Name / Password, Control Console → Device
//! Manager → Outlet Management → Outlet Control/Configuration → outlet → Control Outlet →
//! Immediate On/Off/Reboot → `YES` → `Press <ENTER> to continue...`) and the AOS v6 command line
//! (`apc>`, `olStatus`, `olOn`, `olOff`, `olReboot`, `E000: Success`). Debian's real `fence_apc`
//! is run against it in the cluster-tests crate (`tests/tests/apc_sim.rs`) to show it is
//! faithful before our agent is tested against it; `rgmanager`'s demo powers its simulated
//! nodes through it.
//!
//! [`Session`] is one login, sans-I/O: bytes in (telnet already decoded), bytes out. [`Telnet`]
//! is the small telnet layer a PDU's embedded server has: it offers WILL ECHO and WILL SGA,
//! refuses everything else, answers DO TIMING-MARK, maps IAC IP to Ctrl-C and IAC IAC to 0xFF.
//! [`serve`] runs both over TCP, one thread per connection, with the outlets shared between
//! connections (and optionally mirrored to a file the tests read); [`serve_with`] also calls a
//! [`Hook`] on every power change, which is how a simulated outlet really powers something off.
//! [`serve_stdio`] runs one session on stdin/stdout for a unit reached by SSH: sshd has done the
//! login, so the session starts at the banner, the terminal sshd gives it is put in raw mode (the
//! unit reads Ctrl-C and echoes by itself, as over telnet), and the outlets live in the state
//! file between logins. [`Writes::CharMode`] (`serve_writes`, `apc_sim --char-mode`) makes the
//! unit write as an embedded telnet server in character mode does on an ordinary TCP stack: an
//! echo per input character, a write per screen line, Nagle on, so that every screen after its
//! first byte waits for the client's ACK. Nothing in the fence agents uses this module.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Which firmware the simulator pretends to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// AOS v3.x menus.
    V3,
    /// AOS v6.x command line.
    V6,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Dialect.
    pub dialect: Dialect,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Number of outlets (named `Outlet N`, all on at start).
    pub outlets: usize,
    /// File receiving the outlet states as `1`/`0` characters after every change.
    pub state_file: Option<PathBuf>,
}

/// The outlets, shared by all sessions: true = on.
pub type Outlets = Arc<Mutex<Vec<bool>>>;

/// Called after an outlet's power changed: the outlet (from 1) and its new state (true = on). A
/// reboot is an off followed by an on. Runs on the connection's thread, outlets unlocked.
pub type Hook = Arc<dyn Fn(usize, bool) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Main,
    DeviceManager,
    OutletManagement,
    OutletList,
    Outlet(usize),
    ControlOutlet(usize),
    /// Network, System and the other menus the fence agent never visits.
    Stub(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    On,
    Off,
    Reboot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    User,
    Password(String),
    Menu(Screen),
    Confirm(usize, Op),
    PressEnter(usize),
    Cli,
    Closed,
}

const RULE: &str =
    "-------------------------------------------------------------------------------";

/// One login session, sans-I/O.
pub struct Session {
    cfg: Config,
    outlets: Outlets,
    phase: Phase,
    line: Vec<u8>,
    after_cr: bool,
    out: Vec<u8>,
    hook: Option<Hook>,
}

impl Session {
    /// A new session; [`Session::greeting`] is what it prints first.
    pub fn new(cfg: Config, outlets: Outlets) -> Session {
        Session {
            cfg,
            outlets,
            phase: Phase::User,
            line: Vec::new(),
            after_cr: false,
            out: Vec::new(),
            hook: None,
        }
    }

    /// The same session, telling `hook` about every power change it makes.
    pub fn with_hook(mut self, hook: Hook) -> Session {
        self.hook = Some(hook);
        self
    }

    /// The first output of a connection.
    pub fn greeting(&mut self) -> Vec<u8> {
        self.put("\r\nUser Name : ");
        std::mem::take(&mut self.out)
    }

    /// The first output of a session whose login the transport (SSH) has done.
    pub fn attached(&mut self) -> Vec<u8> {
        self.banner();
        std::mem::take(&mut self.out)
    }

    /// Whether the session has ended (the connection is to be closed).
    pub fn closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    fn put(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Feed input bytes (after telnet decoding); returns the output.
    pub fn input(&mut self, bytes: &[u8]) -> Vec<u8> {
        for &b in bytes {
            if self.closed() {
                break;
            }
            // A line ends with CR, CR LF, CR NUL, CR NUL LF or LF: one end each.
            if self.after_cr && (b == b'\n' || b == 0) {
                continue;
            }
            self.after_cr = b == b'\r';
            match b {
                b'\r' | b'\n' => {
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    self.put("\r\n");
                    self.line_done(line.trim());
                }
                0x03 => {
                    self.line.clear();
                    self.interrupt();
                }
                0x1b => {
                    self.line.clear();
                    self.escape();
                }
                0x08 | 0x7f => {
                    if self.line.pop().is_some() {
                        self.put("\x08 \x08");
                    }
                }
                0 => {}
                b => {
                    self.line.push(b);
                    match self.phase {
                        Phase::Password(_) => self.put("*"),
                        _ => self.out.push(b),
                    }
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    fn interrupt(&mut self) {
        match self.phase {
            Phase::Menu(_) | Phase::Confirm(..) | Phase::PressEnter(_) => {
                self.put("\r\n");
                self.show(Screen::Main);
            }
            Phase::Cli => self.put("\r\napc>"),
            _ => {}
        }
    }

    fn escape(&mut self) {
        if let Phase::Menu(s) = self.phase {
            let up = match s {
                Screen::Main => Screen::Main,
                Screen::DeviceManager | Screen::Stub(_) => Screen::Main,
                Screen::OutletManagement => Screen::DeviceManager,
                Screen::OutletList => Screen::OutletManagement,
                Screen::Outlet(_) => Screen::OutletList,
                Screen::ControlOutlet(n) => Screen::Outlet(n),
            };
            self.put("\r\n");
            self.show(up);
        }
    }

    fn line_done(&mut self, line: &str) {
        match self.phase.clone() {
            Phase::User => {
                self.phase = Phase::Password(line.to_string());
                self.put("Password  : ");
            }
            Phase::Password(user) => {
                if user == self.cfg.user && line == self.cfg.password {
                    self.banner();
                } else {
                    self.phase = Phase::User;
                    self.put("\r\nUser Name : ");
                }
            }
            Phase::Menu(screen) => self.menu(screen, line),
            Phase::Confirm(n, op) => {
                if line == "YES" {
                    self.apply(n, op);
                    self.put("\r\n        Command successfully issued.\r\n\r\n        Press <ENTER> to continue...");
                    self.phase = Phase::PressEnter(n);
                } else {
                    self.put("\r\n        Command cancelled.\r\n");
                    self.show(Screen::ControlOutlet(n));
                }
            }
            Phase::PressEnter(n) => self.show(Screen::ControlOutlet(n)),
            Phase::Cli => self.cli(line),
            Phase::Closed => {}
        }
    }

    fn banner(&mut self) {
        let v = match self.cfg.dialect {
            Dialect::V3 => "v3.7.3",
            Dialect::V6 => "v6.4.6",
        };
        self.put(&format!(
            "\r\n\r\nAmerican Power Conversion               Network Management Card AOS      {v}\r\n\
             (c)Copyright 2010 All Rights Reserved  Rack PDU APP                    {v}\r\n\
             {RULE}\r\n\
             Name      : apcsim                                    Date : 01/01/2026\r\n\
             Contact   : Unknown                                   Time : 00:00:00\r\n\
             Location  : Unknown                                   User : Administrator\r\n\
             Up Time   : 0 Days 0 Hours 1 Minute                   Stat : P+ N+ A+\r\n\r\n"
        ));
        match self.cfg.dialect {
            Dialect::V3 => {
                self.put("Switched Rack PDU: Communication Established\r\n");
                self.show(Screen::Main);
            }
            Dialect::V6 => {
                self.put("Type ? for command listing\r\nUse tcpip command for IP address(-i), subnet(-s), and gateway(-g)\r\n\r\napc>");
                self.phase = Phase::Cli;
            }
        }
    }

    fn count(&self) -> usize {
        self.outlets.lock().map(|o| o.len()).unwrap_or(0)
    }

    fn state(&self, n: usize) -> bool {
        self.outlets
            .lock()
            .ok()
            .and_then(|o| o.get(n - 1).copied())
            .unwrap_or(false)
    }

    fn apply(&mut self, n: usize, op: Op) {
        let mut changes = Vec::new();
        if let Ok(mut o) = self.outlets.lock() {
            if let Some(s) = o.get_mut(n - 1) {
                let was = *s;
                // A reboot ends with the outlet on; its off period is seen only by the hook.
                *s = op != Op::Off;
                match op {
                    Op::Off if was => changes.push(false),
                    Op::On if !was => changes.push(true),
                    Op::Reboot => {
                        if was {
                            changes.push(false);
                        }
                        changes.push(true);
                    }
                    _ => {}
                }
            }
            if let Some(f) = &self.cfg.state_file {
                let text: String = o.iter().map(|on| if *on { '1' } else { '0' }).collect();
                let _ = std::fs::write(f, text + "\n");
            }
        }
        if let Some(hook) = &self.hook {
            for on in changes {
                hook(n, on);
            }
        }
    }

    fn footer(&mut self) {
        self.put("\r\n     <ESC>- Back, <ENTER>- Refresh, <CTRL-L>- Event Log\r\n> ");
    }

    fn header(&mut self, title: &str) {
        let rule = "-".repeat(79usize.saturating_sub(title.len() + 9));
        self.put(&format!("\r\n------- {title} {rule}\r\n\r\n"));
    }

    fn show(&mut self, screen: Screen) {
        self.phase = Phase::Menu(screen);
        match screen {
            Screen::Main => {
                self.header("Control Console");
                self.put("     1- Device Manager\r\n     2- Network\r\n     3- System\r\n     4- Logout\r\n");
            }
            Screen::DeviceManager => {
                self.header("Device Manager");
                self.put("     1- Phase Management\r\n     2- Outlet Management\r\n     3- Power Supply Status\r\n");
            }
            Screen::OutletManagement => {
                self.header("Outlet Management");
                self.put("     1- Outlet Control/Configuration\r\n     2- Outlet Restriction\r\n");
            }
            Screen::OutletList => {
                self.header("Outlet Control/Configuration");
                for n in 1..=self.count() {
                    let st = if self.state(n) { "ON" } else { "OFF" };
                    self.put(&format!(
                        "     {n:>2}- {:<24}{st}\r\n",
                        format!("Outlet {n}")
                    ));
                }
                let master = self.count() + 1;
                self.put(&format!(
                    "     {master:>2}- Master Control/Configuration\r\n"
                ));
            }
            Screen::Outlet(n) | Screen::ControlOutlet(n) => {
                let control = matches!(screen, Screen::ControlOutlet(_));
                self.header(
                    if control {
                        "Control Outlet".to_string()
                    } else {
                        format!("Outlet {n}")
                    }
                    .as_str(),
                );
                let st = if self.state(n) { "ON" } else { "OFF" };
                self.put(&format!(
                    "        Name         : Outlet {n}\r\n        Outlet       : {n}\r\n        State        : {st}\r\n\r\n"
                ));
                if control {
                    self.put("     1- Immediate On\r\n     2- Immediate Off\r\n     3- Immediate Reboot\r\n     4- Cancel\r\n");
                } else {
                    self.put("     1- Control Outlet\r\n     2- Configure Outlet\r\n");
                }
            }
            Screen::Stub(title) => self.header(title),
        }
        self.footer();
    }

    fn menu(&mut self, screen: Screen, line: &str) {
        let pick: Option<usize> = line.parse().ok();
        let next = match (screen, pick) {
            (Screen::Main, Some(1)) => Screen::DeviceManager,
            (Screen::Main, Some(2)) => Screen::Stub("Network"),
            (Screen::Main, Some(3)) => Screen::Stub("System"),
            (Screen::Main, Some(4)) => {
                self.put("\r\nBye.\r\n\r\nConnection Closed - Bye\r\n");
                self.phase = Phase::Closed;
                return;
            }
            (Screen::DeviceManager, Some(2)) => Screen::OutletManagement,
            (Screen::DeviceManager, Some(1)) => Screen::Stub("Phase Management"),
            (Screen::DeviceManager, Some(3)) => Screen::Stub("Power Supply Status"),
            (Screen::OutletManagement, Some(1)) => Screen::OutletList,
            (Screen::OutletManagement, Some(2)) => Screen::Stub("Outlet Restriction"),
            (Screen::OutletList, Some(n)) if (1..=self.count()).contains(&n) => Screen::Outlet(n),
            (Screen::Outlet(n), Some(1)) => Screen::ControlOutlet(n),
            (Screen::Outlet(_), Some(2)) => Screen::Stub("Configure Outlet"),
            (Screen::ControlOutlet(n), Some(k @ 1..=3)) => {
                let (op, what, verb) = match k {
                    1 => (Op::On, "Immediate On", "turn on"),
                    2 => (Op::Off, "Immediate Off", "turn off"),
                    _ => (Op::Reboot, "Immediate Reboot", "reboot"),
                };
                self.put(&format!(
                    "\r\n        {RULE}\r\n        {what}\r\n        {RULE}\r\n\r\n        \
                     This command will immediately {verb} outlet {n}\r\n        named 'Outlet {n}'.\r\n\r\n        \
                     Enter 'YES' to continue or <ENTER> to cancel : "
                ));
                self.phase = Phase::Confirm(n, op);
                return;
            }
            (Screen::ControlOutlet(n), Some(4)) => Screen::Outlet(n),
            // ENTER refreshes; anything else is ignored and the screen shown again.
            (s, _) => s,
        };
        self.show(next);
    }

    fn cli(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next();
        let outlet = |a: Option<&str>, max: usize| -> Option<usize> {
            a.and_then(|a| a.parse().ok())
                .filter(|n| (1..=max).contains(n))
        };
        let max = self.count();
        match cmd.to_ascii_lowercase().as_str() {
            "" => {}
            "exit" | "quit" | "bye" => {
                self.put("Bye\r\n");
                self.phase = Phase::Closed;
                return;
            }
            "olstatus" => {
                let which: Vec<usize> = match arg {
                    Some(a) if a.eq_ignore_ascii_case("all") => (1..=max).collect(),
                    a => outlet(a, max).into_iter().collect(),
                };
                if which.is_empty() {
                    self.put("E102: Parameter Error\r\n");
                } else {
                    self.put("E000: Success\r\n");
                    for n in which {
                        let st = if self.state(n) { "On" } else { "Off" };
                        self.put(&format!(" {n}: Outlet {n}: {st}\r\n"));
                    }
                }
            }
            c @ ("olon" | "oloff" | "olreboot") => match outlet(arg, max) {
                Some(n) => {
                    let op = match c {
                        "olon" => Op::On,
                        "oloff" => Op::Off,
                        _ => Op::Reboot,
                    };
                    self.apply(n, op);
                    self.put("E000: Success\r\n");
                }
                None => self.put("E102: Parameter Error\r\n"),
            },
            _ => self.put("E101: Command Not Found\r\n"),
        }
        self.put("\r\napc>");
    }
}

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const IP: u8 = 244;
const OPT_ECHO: u8 = 1;
const OPT_SGA: u8 = 3;
const OPT_TIMING_MARK: u8 = 6;

/// The server side of telnet option negotiation, sans-I/O.
#[derive(Debug, Default)]
pub struct Telnet {
    state: TState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TState {
    #[default]
    Data,
    Iac,
    Verb(u8),
    Sub,
    SubIac,
}

impl Telnet {
    /// What the server offers on connect.
    pub fn offer() -> Vec<u8> {
        vec![IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA]
    }

    /// Split received bytes into data for the session and replies for the client.
    pub fn decode(&mut self, bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut data = Vec::new();
        let mut reply = Vec::new();
        for &b in bytes {
            self.state = match (self.state, b) {
                (TState::Data, IAC) => TState::Iac,
                (TState::Data, b) => {
                    data.push(b);
                    TState::Data
                }
                (TState::Iac, IAC) => {
                    data.push(IAC);
                    TState::Data
                }
                (TState::Iac, v @ (DO | DONT | WILL | WONT)) => TState::Verb(v),
                (TState::Iac, SB) => TState::Sub,
                (TState::Iac, IP) => {
                    data.push(0x03);
                    TState::Data
                }
                (TState::Iac, _) => TState::Data,
                (TState::Verb(v), opt) => {
                    match (v, opt) {
                        // Our own offers being accepted: nothing to say.
                        (DO, OPT_ECHO | OPT_SGA) => {}
                        (DO, OPT_TIMING_MARK) => reply.extend([IAC, WILL, OPT_TIMING_MARK]),
                        (DO, o) => reply.extend([IAC, WONT, o]),
                        (DONT, o @ (OPT_ECHO | OPT_SGA)) => reply.extend([IAC, WONT, o]),
                        (WILL, o) => reply.extend([IAC, DONT, o]),
                        _ => {}
                    }
                    TState::Data
                }
                (TState::Sub, IAC) => TState::SubIac,
                (TState::Sub, _) => TState::Sub,
                (TState::SubIac, SE) => TState::Data,
                (TState::SubIac, _) => TState::Sub,
            };
        }
        (data, reply)
    }
}

/// A fresh set of `n` outlets, all on.
pub fn outlets(n: usize) -> Outlets {
    Arc::new(Mutex::new(vec![true; n]))
}

/// How the simulator writes its output: the knob that makes a fast or a slow-acknowledged device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Writes {
    /// Everything the unit has to say about one read of input in one write (a fast device).
    #[default]
    Whole,
    /// As an embedded telnet server in character mode on an ordinary TCP stack: every input
    /// character handled and echoed by a write of its own, the screen that follows written a
    /// line per write, Nagle's algorithm on (as every socket of the simulator: no TCP_NODELAY).
    /// Nagle holds each write after the first until the client acknowledges the first one; a
    /// client that delays its ACKs (Linux: 40 ms and more once a connection is interactive)
    /// waits that long for the rest of every screen (`apc_sim --char-mode`).
    CharMode,
}

/// Cut `out` as the unit writes it: whole, or (character mode) one write per line.
fn pieces(out: &[u8], writes: Writes) -> Vec<&[u8]> {
    match writes {
        Writes::Whole => vec![out],
        Writes::CharMode => out.split_inclusive(|&b| b == b'\n').collect(),
    }
}

/// Give `data` to the session as the unit reads it, each output to `emit`: all at once, or (in
/// character mode) a byte at a time, so that each echo is an output of its own.
fn feed(
    session: &mut Session,
    data: &[u8],
    writes: Writes,
    mut emit: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match writes {
        Writes::Whole => emit(&session.input(data)),
        Writes::CharMode => {
            for &b in data {
                if session.closed() {
                    break;
                }
                emit(&session.input(&[b]))?;
            }
            Ok(())
        }
    }
}

fn connection(
    mut stream: TcpStream,
    cfg: Config,
    outlets: Outlets,
    hook: Option<Hook>,
    writes: Writes,
) -> std::io::Result<()> {
    let mut telnet = Telnet::default();
    let mut session = Session::new(cfg, outlets);
    if let Some(h) = hook {
        session = session.with_hook(h);
    }
    let emit = |stream: &mut TcpStream, out: &[u8]| -> std::io::Result<()> {
        for piece in pieces(out, writes) {
            // A data 0xFF is doubled on the wire, as the client does it.
            stream.write_all(&crate::telnet::encode(piece))?;
        }
        Ok(())
    };
    stream.write_all(&Telnet::offer())?;
    emit(&mut stream, &session.greeting())?;
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let (data, reply) = telnet.decode(&buf[..n]);
        if !reply.is_empty() {
            stream.write_all(&reply)?;
        }
        feed(&mut session, &data, writes, |out| emit(&mut stream, out))?;
        if session.closed() {
            return Ok(());
        }
    }
}

/// Outlets as the state file has them (`1`/`0` per outlet), or `n` outlets all on without one.
pub fn load_outlets(file: Option<&std::path::Path>, n: usize) -> Outlets {
    let saved = file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.trim().chars().map(|c| c == '1').collect::<Vec<bool>>())
        .filter(|o| !o.is_empty());
    match saved {
        Some(o) => Arc::new(Mutex::new(o)),
        None => outlets(n),
    }
}

/// Put the terminal on fd 0 (if it is one) in raw mode: no echo, no line editing, no signals
/// from Ctrl-C, no CR/LF translation. The previous settings are returned for [`restore_tty`].
fn raw_tty() -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr/tcsetattr only read/write it and fd 0.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let saved = t;
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
            return None;
        }
        Some(saved)
    }
}

fn restore_tty(saved: &libc::termios) {
    // SAFETY: as in raw_tty.
    unsafe {
        libc::tcsetattr(0, libc::TCSANOW, saved);
    }
}

/// One logged-in session on stdin/stdout (the login shell or `ForceCommand` of an sshd), until
/// the user logs out or the input ends; `writes` as over TCP (each piece flushed on its own, so
/// sshd sees and sends it alone).
pub fn serve_stdio(cfg: Config, writes: Writes) -> std::io::Result<()> {
    let shared = load_outlets(cfg.state_file.as_deref(), cfg.outlets);
    let saved = raw_tty();
    let mut session = Session::new(cfg, shared);
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut emit = |out: &[u8]| -> std::io::Result<()> {
        for piece in pieces(out, writes) {
            output.write_all(piece)?;
            output.flush()?;
        }
        Ok(())
    };
    let r = (|| {
        emit(&session.attached())?;
        let mut buf = [0u8; 1024];
        while !session.closed() {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            feed(&mut session, &buf[..n], writes, &mut emit)?;
        }
        Ok(())
    })();
    if let Some(t) = saved {
        restore_tty(&t);
    }
    r
}

/// Serve sessions on `listener` for ever, one thread per connection.
pub fn serve(listener: TcpListener, cfg: Config) {
    let shared = outlets(cfg.outlets);
    serve_with(listener, cfg, shared, None);
}

/// Serve sessions on `listener` for ever with the given outlets (`cfg.outlets` is not used),
/// calling `hook` on every power change.
pub fn serve_with(listener: TcpListener, cfg: Config, shared: Outlets, hook: Option<Hook>) {
    serve_writes(listener, cfg, shared, hook, Writes::Whole);
}

/// [`serve_with`], writing to the network as `writes` says ([`Writes::CharMode`]: a unit whose
/// every screen waits for the client's ACK of its first byte).
pub fn serve_writes(
    listener: TcpListener,
    cfg: Config,
    shared: Outlets,
    hook: Option<Hook>,
    writes: Writes,
) {
    for stream in listener.incoming().flatten() {
        let cfg = cfg.clone();
        let shared = Arc::clone(&shared);
        let hook = hook.clone();
        std::thread::spawn(move || {
            let _ = connection(stream, cfg, shared, hook, writes);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(d: Dialect) -> Session {
        let cfg = Config {
            dialect: d,
            user: "apc".into(),
            password: "pw".into(),
            outlets: 4,
            state_file: None,
        };
        Session::new(cfg, outlets(4))
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn v3_menu_walk_turns_an_outlet_off() {
        let mut s = session(Dialect::V3);
        assert!(text(s.greeting()).ends_with("User Name : "));
        assert!(text(s.input(b"apc\r\0\n")).ends_with("Password  : "));
        let t = text(s.input(b"pw\r\n"));
        assert!(
            t.contains("AOS      v3.7.3") && t.contains("4- Logout") && t.ends_with("\r\n> "),
            "{t}"
        );
        assert!(!t.contains("pw\r"), "password not echoed");
        let t = text(s.input(b"1\r\0\n"));
        assert!(t.contains("2- Outlet Management"));
        assert!(!t.contains("Outlet Control/Configuration"));
        text(s.input(b"2\r\n"));
        let t = text(s.input(b"1\r\n"));
        assert!(t.contains("      2- Outlet 2                ON\r\n"), "{t}");
        text(s.input(b"2\r\n"));
        text(s.input(b"1\r\n"));
        let t = text(s.input(b"2\r\n"));
        assert!(t.ends_with("Enter 'YES' to continue or <ENTER> to cancel : "));
        let t = text(s.input(b"YES\r\n"));
        assert!(t.ends_with("Press <ENTER> to continue..."));
        assert!(!s.state(2));
        let t = text(s.input(b"\r\n\x03"));
        assert!(t.contains("State        : OFF") && t.contains("- Logout"));
        text(s.input(b"4\r\n"));
        assert!(s.closed());
    }

    #[test]
    fn the_hook_sees_each_change_and_a_reboot_as_off_then_on() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let hook: Hook = Arc::new(move |n, on| log.lock().unwrap().push((n, on)));
        let mut s = session(Dialect::V6).with_hook(hook);
        s.greeting();
        s.input(b"apc\r\npw\r\n");
        s.input(b"olOff 2\r\nolOff 2\r\nolOn 2\r\nolOn 2\r\nolReboot 3\r\n");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(2, false), (2, true), (3, false), (3, true)]
        );
    }

    #[test]
    fn char_mode_says_the_same_in_pieces() {
        // Fed a byte at a time (character mode), a session prints what it prints for the whole
        // input at once, CR NUL LF line ends included.
        let input = b"apc\r\0\npw\r\n1\r\n2\r\n1\r\n\x03";
        let mut whole = session(Dialect::V3);
        let mut a = whole.greeting();
        a.extend(whole.input(input));
        let mut per = session(Dialect::V3);
        let mut b = per.greeting();
        for &c in input.iter() {
            b.extend(per.input(&[c]));
        }
        assert_eq!(text(a), text(b));
        assert_eq!(
            pieces(b"1\r\n-- x\r\n> ", Writes::CharMode),
            vec![&b"1\r\n"[..], b"-- x\r\n", b"> "]
        );
        assert_eq!(pieces(b"1\r\n> ", Writes::Whole), vec![&b"1\r\n> "[..]]);
    }

    #[test]
    fn wrong_password_asks_again() {
        let mut s = session(Dialect::V3);
        s.greeting();
        s.input(b"apc\n");
        assert!(text(s.input(b"nope\n")).ends_with("User Name : "));
    }

    #[test]
    fn v6_command_line() {
        let mut s = session(Dialect::V6);
        s.greeting();
        s.input(b"apc\r\n");
        let t = text(s.input(b"pw\r\n"));
        assert!(t.contains("AOS      v6.4.6") && t.ends_with("\r\napc>"));
        assert!(text(s.input(b"olOff 3\r\n")).contains("E000: Success"));
        let t = text(s.input(b"olStatus all\r\n"));
        assert!(t.contains(" 3: Outlet 3: Off\r\n") && t.contains(" 1: Outlet 1: On\r\n"));
        assert!(text(s.input(b"olOn 9\r\n")).contains("E102: Parameter Error"));
        assert!(text(s.input(b"4\r\n")).contains("E101: Command Not Found"));
        s.input(b"exit\r\n");
        assert!(s.closed());
    }

    #[test]
    fn telnet_negotiation() {
        let mut t = Telnet::default();
        let (data, reply) = t.decode(&[
            IAC,
            DO,
            OPT_ECHO,
            IAC,
            WILL,
            24,
            b'a',
            IAC,
            IAC,
            IAC,
            DO,
            31,
            IAC,
            SB,
            24,
            1,
            IAC,
            SE,
            IAC,
            DO,
            OPT_TIMING_MARK,
            IAC,
            IP,
        ]);
        assert_eq!(data, vec![b'a', IAC, 0x03]);
        assert_eq!(
            reply,
            vec![IAC, DONT, 24, IAC, WONT, 31, IAC, WILL, OPT_TIMING_MARK]
        );
    }
}
