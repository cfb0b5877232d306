//! The daemon's logs where operators look, as RHCS's logsys wrote them (docs/logging.md):
//!
//! - **syslog** through `/dev/log` (RFC 3164 datagrams, `<PRI>Mmm dd hh:mm:ss rgmanager[PID]:
//!   message`, the facility and priority threshold of cluster.conf), as `Jul 20 11:35:31 node2
//!   rgmanager[2349]: Taking over service …` in `/var/log/messages`;
//! - a **log file** (`/var/log/cluster/rgmanager.log` by default, `Mmm dd hh:mm:ss rgmanager
//!   message`, its own threshold);
//! - under **systemd**, the journal's native protocol instead of `/dev/log` and standard
//!   error, with the syslog fields (so rsyslog still files the lines by facility) and structured
//!   fields: `NODE` (this node) and every field of the event upper-cased (`service`, `event`, …
//!   → `SERVICE=`, `EVENT=`), for `journalctl -u rgmanager EVENT=fence`;
//! - standard error in tracing's format when not under systemd (a foreground run, the tests
//!   and the demo read it).
//!
//! [`Settings::from_conf`] reads `<logging to_syslog= to_logfile= logfile= syslog_facility=
//! syslog_priority= logfile_priority= debug=>`, its `<logging_daemon name="rgmanager">` and
//! `<rm log_level= log_facility=>`; [`init`] installs the subscriber once and returns the
//! [`LogHandle`] whose [`LogHandle::reconfigure`] applies a reloaded cluster.conf.
//!
//! Levels: tracing `ERROR` = err (3), `WARN` = warning (4), `INFO` = notice (5, the priority
//! rgmanager gave its state changes), `DEBUG` and `TRACE` = debug (7). A destination shows an
//! event when its priority number is at most the destination's threshold (RHCS's default
//! `info`, 6, shows everything but debug).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use ccs::xml::{Element, Node};
use ccs::ClusterConf;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The syslog identifier and the file's tag.
pub const IDENT: &str = "rgmanager";
/// RHCS's log file for rgmanager.
pub const DEFAULT_LOGFILE: &str = "/var/log/cluster/rgmanager.log";
/// Where syslog listens.
pub const SYSLOG_SOCKET: &str = "/dev/log";
/// journald's native socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Syslog severities by number, as cluster.conf names them.
const PRIORITIES: &[(&str, u8)] = &[
    ("emerg", 0),
    ("alert", 1),
    ("crit", 2),
    ("err", 3),
    ("error", 3),
    ("warning", 4),
    ("warn", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

/// Syslog facilities by code.
const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

const DEBUG: u8 = 7;
const INFO: u8 = 6;

/// The syslog priority of a tracing level (module docs).
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 5,
        Level::DEBUG | Level::TRACE => DEBUG,
    }
}

/// A priority name or number (`info`, `6`); `None` if it is neither.
pub fn parse_priority(word: &str) -> Option<u8> {
    let w = word.trim();
    if let Ok(n) = w.parse::<u8>() {
        return (n <= DEBUG).then_some(n);
    }
    PRIORITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(w))
        .map(|(_, p)| *p)
}

/// A facility name (`daemon`, `local4`); `None` if unknown.
pub fn parse_facility(word: &str) -> Option<u8> {
    let w = word.trim();
    FACILITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(w))
        .map(|(_, f)| *f)
}

fn facility_name(code: u8) -> &'static str {
    FACILITIES
        .iter()
        .find(|(_, f)| *f == code)
        .map(|(n, _)| *n)
        .unwrap_or("daemon")
}

/// Where the logs go and how much of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Syslog (or, under systemd, the journal) wanted.
    pub to_syslog: bool,
    pub syslog_facility: u8,
    /// Highest priority number sent to syslog / the journal.
    pub syslog_priority: u8,
    pub to_logfile: bool,
    pub logfile: PathBuf,
    pub logfile_priority: u8,
    /// Standard error (tracing's format), with this threshold.
    pub to_stderr: bool,
    pub stderr_priority: u8,
    /// Native journal instead of `syslog_socket` (under systemd).
    pub journal: bool,
    pub syslog_socket: PathBuf,
    pub journal_socket: PathBuf,
    /// This node's name, sent as `NODE=` to the journal.
    pub node: Option<String>,
}

impl Default for Settings {
    /// RHCS's defaults, outside systemd.
    fn default() -> Self {
        Settings {
            to_syslog: true,
            syslog_facility: 3,
            syslog_priority: INFO,
            to_logfile: true,
            logfile: PathBuf::from(DEFAULT_LOGFILE),
            logfile_priority: INFO,
            to_stderr: true,
            stderr_priority: INFO,
            journal: false,
            syslog_socket: PathBuf::from(SYSLOG_SOCKET),
            journal_socket: PathBuf::from(JOURNAL_SOCKET),
            node: None,
        }
    }
}

/// Where the daemon runs, as far as logging cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Started by systemd with standard error going to the journal.
    pub under_systemd: bool,
    /// The journal's socket exists.
    pub journal_available: bool,
}

impl Environment {
    /// systemd sets `JOURNAL_STREAM` to the device and inode of the stream it connected to
    /// standard error; it only counts if standard error is still that stream.
    pub fn detect() -> Environment {
        let under_systemd = std::env::var("JOURNAL_STREAM")
            .ok()
            .and_then(|v| {
                let (dev, ino) = v.split_once(':')?;
                Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?))
            })
            .is_some_and(|(dev, ino)| {
                std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
            });
        Environment {
            under_systemd,
            journal_available: Path::new(JOURNAL_SOCKET).exists(),
        }
    }
}

impl Settings {
    /// Before cluster.conf is read: standard error, or the journal under systemd; `debug` is
    /// the daemon's `-d`.
    pub fn early(debug: bool, env: Environment) -> Settings {
        let mut s = Settings {
            to_logfile: false,
            to_syslog: false,
            ..Settings::default()
        };
        s.apply_environment(env);
        if debug {
            s.all_debug();
        }
        s
    }

    /// The settings cluster.conf gives, RHCS's way (docs/logging.md): the defaults, then
    /// `<logging>`, then `<rm log_level log_facility>`, then `<logging_daemon
    /// name="rgmanager">`; `debug="on"` raises the log file to debug, `-d` (`debug`) raises
    /// every destination. Values that cannot be read are reported and left at their default.
    pub fn from_conf(conf: &ClusterConf, debug: bool, env: Environment) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut warnings = Vec::new();
        let logging = conf.extra.iter().find_map(|n| match n {
            Node::Element(e) if e.name == "logging" => Some(e),
            _ => None,
        });
        let mut debug_on = false;
        if let Some(l) = logging {
            debug_on |= s.apply(l, &mut warnings);
        }
        if let Some(rm) = &conf.rm {
            if let Some(v) = rm.attrs.get("log_level") {
                match parse_priority(v) {
                    Some(p) => {
                        s.syslog_priority = p;
                        s.logfile_priority = p;
                    }
                    None => warnings.push(format!("<rm log_level=\"{v}\">: not a priority")),
                }
            }
            if let Some(v) = rm.attrs.get("log_facility") {
                match parse_facility(v) {
                    Some(f) => s.syslog_facility = f,
                    None => warnings.push(format!("<rm log_facility=\"{v}\">: unknown facility")),
                }
            }
        }
        let daemon = logging.and_then(|l| {
            l.children.iter().find_map(|n| match n {
                Node::Element(e)
                    if e.name == "logging_daemon" && e.attrs.get("name") == Some(IDENT) =>
                {
                    Some(e)
                }
                _ => None,
            })
        });
        if let Some(d) = daemon {
            debug_on |= s.apply(d, &mut warnings);
        }
        if debug_on {
            s.logfile_priority = DEBUG;
        }
        s.apply_environment(env);
        if debug {
            s.all_debug();
        }
        (s, warnings)
    }

    /// One `<logging>` or `<logging_daemon>` element's attributes; true if it says
    /// `debug="on"`.
    fn apply(&mut self, e: &Element, warnings: &mut Vec<String>) -> bool {
        let at = |name: &str| format!("<{} {name}=", e.name);
        let flag = |name: &str, warnings: &mut Vec<String>| {
            let v = e.attrs.get(name)?;
            let b = ccs::value::parse_bool(v);
            if b.is_none() {
                warnings.push(format!("{}\"{v}\">: not yes or no", at(name)));
            }
            b
        };
        if let Some(b) = flag("to_syslog", warnings) {
            self.to_syslog = b;
        }
        if let Some(b) = flag("to_logfile", warnings) {
            self.to_logfile = b;
        }
        if let Some(f) = e.attrs.get("logfile").filter(|f| !f.trim().is_empty()) {
            self.logfile = PathBuf::from(f.trim());
        }
        if let Some(v) = e.attrs.get("syslog_facility") {
            match parse_facility(v) {
                Some(f) => self.syslog_facility = f,
                None => warnings.push(format!(
                    "{}\"{v}\">: unknown facility",
                    at("syslog_facility")
                )),
            }
        }
        for (name, slot) in [
            ("syslog_priority", &mut self.syslog_priority),
            ("logfile_priority", &mut self.logfile_priority),
        ] {
            if let Some(v) = e.attrs.get(name) {
                match parse_priority(v) {
                    Some(p) => *slot = p,
                    None => warnings.push(format!("{}\"{v}\">: not a priority", at(name))),
                }
            }
        }
        flag("debug", warnings).unwrap_or(false)
    }

    fn apply_environment(&mut self, env: Environment) {
        let journal = env.under_systemd && env.journal_available;
        self.journal = journal;
        self.to_stderr = !journal;
        if journal {
            // The journal is where systemd's operators look: always written to, standard error
            // (which systemd sends there too) left alone.
            self.to_syslog = true;
        }
    }

    fn all_debug(&mut self) {
        self.syslog_priority = DEBUG;
        self.logfile_priority = DEBUG;
        self.stderr_priority = DEBUG;
    }

    /// The most detailed priority any destination takes.
    fn max_priority(&self) -> u8 {
        let mut m = 0;
        if self.to_syslog {
            m = m.max(self.syslog_priority);
        }
        if self.to_logfile {
            m = m.max(self.logfile_priority);
        }
        if self.to_stderr {
            m = m.max(self.stderr_priority);
        }
        m
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("a logger is already installed in this process")]
    AlreadyInstalled,
}

/// The open destinations.
struct Sinks {
    settings: Settings,
    syslog: Option<UnixDatagram>,
    journal: Option<UnixDatagram>,
    file: Option<File>,
    pid: u32,
    /// Destinations that failed, reported once on standard error.
    complained: Vec<String>,
}

impl Sinks {
    fn open(settings: &Settings) -> Sinks {
        let mut s = Sinks {
            settings: settings.clone(),
            syslog: None,
            journal: None,
            file: None,
            pid: std::process::id(),
            complained: Vec::new(),
        };
        if settings.to_syslog {
            if settings.journal {
                s.journal = UnixDatagram::unbound().ok();
            } else {
                s.syslog = connect(&settings.syslog_socket);
            }
        }
        if settings.to_logfile {
            match OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .open(&settings.logfile)
            {
                Ok(f) => s.file = Some(f),
                Err(e) => s.complain(format!(
                    "cannot open the log file {}: {e}",
                    settings.logfile.display()
                )),
            }
        }
        s
    }

    fn complain(&mut self, what: String) {
        if !self.complained.contains(&what) {
            eprintln!("{IDENT}: {what}");
            self.complained.push(what);
        }
    }

    fn write(&mut self, prio: u8, message: &str, fields: &[(String, String)]) {
        let st = &self.settings;
        if st.to_syslog && prio <= st.syslog_priority {
            if st.journal {
                let dgram = journal_datagram(st, self.pid, prio, message, fields);
                if let Some(sock) = &self.journal {
                    if let Err(e) = sock.send_to(&dgram, &st.journal_socket) {
                        let w = format!("cannot log to {}: {e}", st.journal_socket.display());
                        self.complain(w);
                    }
                }
            } else {
                let line = format!(
                    "<{}>{} {IDENT}[{}]: {message}",
                    u32::from(st.syslog_facility) * 8 + u32::from(prio),
                    timestamp(),
                    self.pid
                );
                let sent = self.syslog.as_ref().map(|s| s.send(line.as_bytes()));
                if !matches!(sent, Some(Ok(_))) {
                    // syslog restarted, or was not there yet: one new connection, then give up
                    // on this line (a logger never blocks the daemon).
                    self.syslog = connect(&st.syslog_socket);
                    if let Some(s) = &self.syslog {
                        let _ = s.send(line.as_bytes());
                    }
                }
            }
        }
        let st = &self.settings;
        if st.to_logfile && prio <= st.logfile_priority {
            if let Some(f) = &mut self.file {
                let line = format!("{} {IDENT} {message}\n", timestamp());
                if let Err(e) = f.write_all(line.as_bytes()) {
                    let w = format!("cannot write the log file {}: {e}", st.logfile.display());
                    self.complain(w);
                }
            }
        }
    }
}

fn connect(path: &Path) -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.set_nonblocking(true).ok()?;
    s.connect(path).ok()?;
    Some(s)
}

/// Local time as syslog writes it: `Dec  7 00:53:39`.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) only returns the time; localtime_r writes into the struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return "Jan  1 00:00:00".into();
    }
    let month = MONTHS
        .get(usize::try_from(tm.tm_mon).unwrap_or(0))
        .unwrap_or(&"Jan");
    format!(
        "{month} {:>2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// A journal field name from a tracing field name: upper case, `A-Z0-9_`, not starting with
/// `_` or a digit (journald drops such fields).
fn journal_name(name: &str) -> Option<String> {
    let n: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect();
    let n = n.trim_start_matches(|c: char| c == '_' || c.is_ascii_digit());
    (!n.is_empty() && n.len() <= 64).then(|| n.to_string())
}

/// journald's native datagram: `NAME=value\n`, or for a value with a newline `NAME\n`, its
/// length as 64-bit little-endian, the value and `\n`.
fn journal_datagram(
    st: &Settings,
    pid: u32,
    prio: u8,
    message: &str,
    fields: &[(String, String)],
) -> Vec<u8> {
    // A message too large for one datagram is cut rather than lost.
    const MAX_VALUE: usize = 48 * 1024;
    let mut out = Vec::with_capacity(256 + message.len());
    let mut put = |name: &str, value: &str| {
        let mut v = value;
        if v.len() > MAX_VALUE {
            let mut end = MAX_VALUE;
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            v = &v[..end];
        }
        if v.contains('\n') {
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        }
    };
    put("MESSAGE", message);
    put("PRIORITY", &prio.to_string());
    put("SYSLOG_FACILITY", &st.syslog_facility.to_string());
    put("SYSLOG_IDENTIFIER", IDENT);
    put("SYSLOG_PID", &pid.to_string());
    if let Some(n) = &st.node {
        put("NODE", n);
    }
    for (k, v) in fields {
        if let Some(name) = journal_name(k) {
            if !matches!(
                name.as_str(),
                "MESSAGE" | "PRIORITY" | "SYSLOG_FACILITY" | "SYSLOG_IDENTIFIER" | "SYSLOG_PID"
            ) {
                put(&name, v);
            }
        }
    }
    out
}

/// The message and the other fields of an event.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.others
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        if field.name() == "message" {
            self.message = s;
        } else {
            self.others.push((field.name().to_string(), s));
        }
    }
}

/// State shared by the layers and the handle.
struct Shared {
    sinks: Mutex<Sinks>,
    /// The most detailed priority any destination takes (the layers' quick filter).
    max: AtomicU8,
    stderr_max: AtomicU8,
}

impl Shared {
    fn new(settings: &Settings) -> Shared {
        Shared {
            sinks: Mutex::new(Sinks::open(settings)),
            max: AtomicU8::new(settings.max_priority()),
            stderr_max: AtomicU8::new(stderr_level(settings)),
        }
    }
}

fn stderr_level(s: &Settings) -> u8 {
    if s.to_stderr {
        s.stderr_priority
    } else {
        0
    }
}

/// syslog, the journal and the log file (standard error is tracing's own fmt layer).
struct RhcsLayer {
    shared: Arc<Shared>,
}

impl<S: Subscriber> Layer<S> for RhcsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let prio = priority(event.metadata().level());
        if prio > self.shared.max.load(Ordering::Relaxed) {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if let Ok(mut sinks) = self.shared.sinks.lock() {
            sinks.write(prio, &f.message, &f.others);
        }
    }
}

/// What [`init`] returns: keep it for the daemon's lifetime; [`LogHandle::reconfigure`] after
/// a new cluster.conf.
#[derive(Clone)]
pub struct LogHandle {
    shared: Arc<Shared>,
}

impl LogHandle {
    /// Applies new settings: destinations reopened (the log file too, so a moved file is
    /// followed), thresholds changed at once.
    pub fn reconfigure(&self, settings: &Settings) {
        let fresh = Sinks::open(settings);
        if let Ok(mut s) = self.shared.sinks.lock() {
            *s = fresh;
        }
        self.shared
            .max
            .store(settings.max_priority(), Ordering::Relaxed);
        self.shared
            .stderr_max
            .store(stderr_level(settings), Ordering::Relaxed);
    }
}

/// The subscriber for `settings`, not installed (tests run it with
/// `tracing::subscriber::with_default`).
pub fn subscriber(settings: &Settings) -> (impl Subscriber + Send + Sync, LogHandle) {
    let shared = Arc::new(Shared::new(settings));
    let for_stderr = shared.clone();
    let stderr = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::filter_fn(move |m| {
            priority(m.level()) <= for_stderr.stderr_max.load(Ordering::Relaxed)
        }));
    let rhcs = RhcsLayer {
        shared: shared.clone(),
    };
    let sub = tracing_subscriber::registry().with(stderr).with(rhcs);
    (sub, LogHandle { shared })
}

/// Installs the process's logger. Call once, early ([`Settings::early`]), then
/// [`LogHandle::reconfigure`] with [`Settings::from_conf`] once cluster.conf is read.
pub fn init(settings: &Settings) -> Result<LogHandle, LogError> {
    let (sub, handle) = subscriber(settings);
    sub.try_init().map_err(|_| LogError::AlreadyInstalled)?;
    Ok(handle)
}

/// The facility's name (for messages and docs).
pub fn facility(code: u8) -> &'static str {
    facility_name(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const OUTSIDE: Environment = Environment {
        under_systemd: false,
        journal_available: false,
    };
    const SYSTEMD: Environment = Environment {
        under_systemd: true,
        journal_available: true,
    };

    fn conf(xml: &str) -> ClusterConf {
        ccs::parse_str(xml).unwrap()
    }

    #[test]
    fn defaults_are_rhcs() {
        let (s, w) = Settings::from_conf(
            &conf("<cluster name=\"c\" config_version=\"1\"/>"),
            false,
            OUTSIDE,
        );
        assert!(w.is_empty());
        assert!(s.to_syslog && s.to_logfile && s.to_stderr && !s.journal);
        assert_eq!(s.logfile, PathBuf::from(DEFAULT_LOGFILE));
        assert_eq!(
            (s.syslog_facility, s.syslog_priority, s.logfile_priority),
            (3, 6, 6)
        );
    }

    #[test]
    fn logging_rm_and_logging_daemon_in_that_order() {
        let c = conf(
            r#"<cluster name="c" config_version="1">
  <logging to_syslog="no" logfile="/tmp/x.log" syslog_facility="local3" syslog_priority="warning">
    <logging_daemon name="rgmanager" syslog_priority="err" debug="on"/>
    <logging_daemon name="fenced" syslog_priority="debug"/>
  </logging>
  <rm log_level="5" log_facility="local4"/>
</cluster>"#,
        );
        let (s, w) = Settings::from_conf(&c, false, OUTSIDE);
        assert!(w.is_empty(), "{w:?}");
        assert!(!s.to_syslog && s.to_logfile);
        assert_eq!(s.logfile, PathBuf::from("/tmp/x.log"));
        // <rm log_facility> over <logging>; <logging_daemon name=rgmanager> over <rm log_level>.
        assert_eq!(s.syslog_facility, 20);
        assert_eq!(s.syslog_priority, 3);
        // <rm log_level> set the file's threshold; debug="on" raised it.
        assert_eq!(s.logfile_priority, DEBUG);
        assert_eq!(s.stderr_priority, INFO);
        let (s, _) = Settings::from_conf(&c, true, OUTSIDE);
        assert_eq!(
            (s.syslog_priority, s.logfile_priority, s.stderr_priority),
            (7, 7, 7)
        );
    }

    #[test]
    fn unreadable_values_are_reported_and_left_at_their_default() {
        let c = conf(
            r#"<cluster name="c" config_version="1"><logging to_syslog="maybe" syslog_facility="local9" syslog_priority="loud"/><rm log_facility="nowhere"/></cluster>"#,
        );
        let (s, w) = Settings::from_conf(&c, false, OUTSIDE);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("to_syslog=\"maybe\""), "{w:?}");
        assert!(s.to_syslog);
        assert_eq!((s.syslog_facility, s.syslog_priority), (3, 6));
    }

    #[test]
    fn under_systemd_the_journal_replaces_syslog_and_stderr() {
        let (s, _) = Settings::from_conf(
            &conf("<cluster name=\"c\" config_version=\"1\"><logging to_syslog=\"no\"/></cluster>"),
            false,
            SYSTEMD,
        );
        assert!(s.journal && s.to_syslog && !s.to_stderr);
        let e = Settings::early(false, SYSTEMD);
        assert!(e.journal && !e.to_stderr && !e.to_logfile);
        let e = Settings::early(true, OUTSIDE);
        assert!(!e.journal && e.to_stderr && e.stderr_priority == DEBUG);
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_priority("info"), Some(6));
        assert_eq!(parse_priority("ERR"), Some(3));
        assert_eq!(parse_priority("7"), Some(7));
        assert_eq!(parse_priority("8"), None);
        assert_eq!(parse_facility("local7"), Some(23));
        assert_eq!(facility(20), "local4");
        assert_eq!(priority(&Level::INFO), 5);
        assert_eq!(journal_name("service"), Some("SERVICE".into()));
        assert_eq!(journal_name("_x.y"), Some("X_Y".into()));
        assert_eq!(journal_name("__"), None);
    }

    fn recv_all(sock: &UnixDatagram) -> Vec<Vec<u8>> {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn syslog_datagrams_and_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("log");
        let listener = UnixDatagram::bind(&sock_path).unwrap();
        let file = dir.path().join("rgmanager.log");
        let settings = Settings {
            syslog_facility: 20,
            syslog_priority: 5,
            logfile: file.clone(),
            logfile_priority: DEBUG,
            to_stderr: false,
            syslog_socket: sock_path,
            ..Settings::default()
        };
        let (sub, handle) = subscriber(&settings);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(service = "web", "Service service:web started");
            tracing::debug!("a detail");
            tracing::error!("#13: Service service:web failed to stop cleanly");
            // Reconfigured: syslog to warnings only, no file.
            handle.reconfigure(&Settings {
                syslog_priority: 4,
                to_logfile: false,
                ..settings.clone()
            });
            tracing::info!("not sent");
            tracing::warn!("sent");
        });
        let got: Vec<String> = recv_all(&listener)
            .into_iter()
            .map(|d| String::from_utf8(d).unwrap())
            .collect();
        let pid = std::process::id();
        assert_eq!(got.len(), 3, "{got:?}");
        // local4 = 20: 20*8 + 5 (notice) = 165; + 3 (err) = 163; + 4 = 164.
        assert!(got[0].starts_with("<165>"), "{got:?}");
        assert!(
            got[0].ends_with(&format!(" rgmanager[{pid}]: Service service:web started")),
            "{got:?}"
        );
        assert!(got[1].starts_with("<163>"), "{got:?}");
        assert!(
            got[2].starts_with("<164>") && got[2].ends_with(": sent"),
            "{got:?}"
        );
        // `<165>Dec  7 00:53:39 rgmanager[…`: the timestamp is syslog's.
        let ts = &got[0][5..20];
        assert_eq!(&ts[3..4], " ", "{ts}");
        assert_eq!(&ts[9..10], ":", "{ts}");
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with(" rgmanager Service service:web started"),
            "{text}"
        );
        assert!(lines[1].ends_with(" rgmanager a detail"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn journal_gets_structured_fields() {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("journal.socket");
        let listener = UnixDatagram::bind(&sock_path).unwrap();
        let settings = Settings {
            journal: true,
            to_logfile: false,
            to_stderr: false,
            journal_socket: sock_path,
            node: Some("node2.cluster.com".into()),
            ..Settings::default()
        };
        let (sub, _h) = subscriber(&settings);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                service = "service:apache_service",
                event = "takeover",
                "Taking over service service:apache_service from down member node1.cluster.com"
            );
            tracing::warn!("two\nlines");
        });
        let got = recv_all(&listener);
        assert_eq!(got.len(), 2);
        let first = String::from_utf8(got[0].clone()).unwrap();
        let pid = std::process::id();
        for want in [
            "MESSAGE=Taking over service service:apache_service from down member node1.cluster.com\n",
            "PRIORITY=5\n",
            "SYSLOG_FACILITY=3\n",
            "SYSLOG_IDENTIFIER=rgmanager\n",
            &format!("SYSLOG_PID={pid}\n"),
            "NODE=node2.cluster.com\n",
            "SERVICE=service:apache_service\n",
            "EVENT=takeover\n",
        ] {
            assert!(first.contains(want), "{want}: {first}");
        }
        let mut expect = b"MESSAGE\n".to_vec();
        expect.extend_from_slice(&9u64.to_le_bytes());
        expect.extend_from_slice(b"two\nlines\n");
        assert!(got[1].starts_with(&expect), "{:?}", got[1]);
    }

    #[test]
    fn a_missing_syslog_does_not_stop_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            to_logfile: false,
            to_stderr: false,
            syslog_socket: dir.path().join("nobody"),
            ..Settings::default()
        };
        let (sub, _h) = subscriber(&settings);
        let listener = tracing::subscriber::with_default(sub, || {
            tracing::info!("into the void");
            // The socket appears later (syslog started): the next line reaches it.
            let listener = UnixDatagram::bind(dir.path().join("nobody")).unwrap();
            tracing::info!("now heard");
            listener
        });
        let got = recv_all(&listener);
        assert_eq!(got.len(), 1);
        assert!(got[0].ends_with(b"now heard"));
    }
}
