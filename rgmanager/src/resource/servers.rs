//! `apache`, `mysql` and `postgres-8`: a service's web and database servers, the way
//! rgmanager's `apache.sh`, `mysql.sh` and `postgres-8.sh` (with their `config-utils.sh`) ran
//! them. What the three share:
//! - each instance has a pid file `/var/run/cluster/<agent>/<agent>:<name>.pid` and, for
//!   apache and postgres-8, a configuration generated at each start into
//!   `/etc/cluster/<agent>/<agent>:<name>/` from the administrator's file, so that the server
//!   listens on the service's floating addresses (the `ip` resources directly under the
//!   service, in order) and writes that pid file; the original file is never changed.
//!   rgmanager stopped regenerating a generated file once it had been edited (a checksum in
//!   it); here it is always regenerated: edits go to the original.
//! - status: the pid file names a live process (no pid file: "not running"; a pid file
//!   whose process is gone: "not running" with a warning, where the shell agents answered a
//!   generic error).
//! - stop: the process named by the pid file gets its stop signal and the agent waits for it
//!   to exit (`shutdown_wait` seconds, 20 when not given, as `stop_generic`); a server still
//!   running then is a failed stop (postgres-8 gets SIGQUIT and 5 more seconds first, as
//!   `stop_generic_sigkill`). No pid file, or a dead process: stopped already.
//!
//! Per agent (the parameters and defaults are the RHCS rules table's):
//! - apache: `server_root` (default `/etc/httpd`) and `config_file` (default
//!   `conf/httpd.conf`, relative to `server_root`). The generated file holds a `Listen IP:PORT`
//!   for every port of the original's `Listen`/`Port` lines and every service address, the
//!   `PidFile`, then the original with those lines commented out (`### `). `httpd -t` checks
//!   it, then `httpd -D<name> -d server_root -f generated httpd_options -k start`; the start
//!   waits for the pid file. The binary is `/usr/sbin/httpd` or Debian's `/usr/sbin/apache2`.
//!   No service address is an error (apache.sh said "IP Addresses not found").
//! - mysql: `mysqld_safe --defaults-file=config_file --pid-file=… --bind-address=ADDR
//!   mysqld_options` in the background, ADDR being `listen_address` or the first service
//!   address (none: no `--bind-address`); the start waits up to `startup_wait` (30) seconds for
//!   the pid file and a live server. SIGTERM stops it.
//! - postgres-8: the generated `postgresql.conf` sets `external_pid_file` and
//!   `listen_addresses` (the service addresses) before the original's lines (theirs commented
//!   out); `postmaster -c config_file=… postmaster_options` runs as `postmaster_user` (`su -`)
//!   in the background, and the start waits up to 30 s (postgres-8.sh: 10) for `pg_ctl status`. SIGINT (fast
//!   shutdown) stops it. The binaries are `/usr/bin/postmaster` and `pg_ctl` or the newest
//!   `/usr/lib/postgresql/*/bin/` (Debian).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::agent::{Agent, AgentError, OpContext};
use super::exec::{self, CmdError, Deadline};

/// rgmanager's `RA_COMMON_conf_dir`.
pub const CONF_DIR: &str = "/etc/cluster";
/// rgmanager's `RA_COMMON_pid_dir`.
pub const PID_DIR: &str = "/var/run/cluster";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what} {path} is not readable: {source}")]
    Unreadable {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("no IP addresses found for service {0} (an ip resource directly under the service)")]
    NoAddress(String),
    #[error("{0} is not installed")]
    NotInstalled(String),
    #[error("configuration {path} does not pass {program} -t: {message}")]
    BadConfig {
        path: String,
        program: String,
        message: String,
    },
    #[error("{what} did not start within {secs} s")]
    StartTimeout { what: String, secs: u64 },
    #[error("{what} (pid {pid}) still runs {secs} s after the stop signal")]
    StillRunning { what: String, pid: i32, secs: u64 },
    #[error("pid file {path} names process {pid}, which is already running")]
    AlreadyRunningElsewhere { path: String, pid: i32 },
    #[error("{name}=\"{value}\" is not a number of seconds")]
    BadNumber { name: &'static str, value: String },
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<ServerError> for AgentError {
    fn from(e: ServerError) -> Self {
        AgentError::Server(e)
    }
}

/// Where instances keep their generated configurations and pid files.
#[derive(Clone, Debug)]
pub struct Dirs {
    pub conf: PathBuf,
    pub pid: PathBuf,
}

impl Default for Dirs {
    fn default() -> Self {
        Dirs {
            conf: PathBuf::from(CONF_DIR),
            pid: PathBuf::from(PID_DIR),
        }
    }
}

impl Dirs {
    /// `<pid>/<agent>/<agent>:<name>.pid`.
    pub fn pid_file(&self, agent: &str, ctx: &OpContext) -> PathBuf {
        self.pid.join(agent).join(format!("{}.pid", instance(ctx)))
    }

    /// `<conf>/<agent>/<agent>:<name>`.
    pub fn conf_dir(&self, agent: &str, ctx: &OpContext) -> PathBuf {
        self.conf.join(agent).join(instance(ctx))
    }
}

/// `type:name`, rgmanager's `OCF_RESOURCE_INSTANCE`.
fn instance(ctx: &OpContext) -> String {
    ctx.resource.clone()
}

fn seconds(ctx: &OpContext, name: &'static str, default: u64) -> Result<u64, ServerError> {
    match ctx.param(name).map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => ccs::value::parse_uint(v).ok_or(ServerError::BadNumber {
            name,
            value: v.to_string(),
        }),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), ServerError> {
    let werr = |source| ServerError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    std::fs::write(path, text).map_err(werr)
}

fn read_file(what: &'static str, path: &Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path).map_err(|source| ServerError::Unreadable {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// The header of a generated file.
fn generated_header(comment: &str, original: &Path) -> String {
    format!(
        "{comment} Generated by rgmanager-rs from {} at each start of the resource;\n\
         {comment} change that file, not this one.\n",
        original.display()
    )
}

/// The pid a pid file names, if that process runs.
pub fn running_pid(pid_file: &Path) -> Option<i32> {
    exec::read_pid_file(pid_file).filter(|&p| exec::pid_alive(p))
}

/// `status_check_pid`, with a stale pid file read as "not running".
pub fn status_pid(ctx: &OpContext, pid_file: &Path) -> Result<(), AgentError> {
    match exec::read_pid_file(pid_file) {
        None => Err(AgentError::NotRunning),
        Some(pid) if exec::pid_alive(pid) => Ok(()),
        Some(pid) => {
            tracing::warn!(service = %ctx.service, resource = %ctx.resource,
                "pid file {} names process {pid}, which is gone", pid_file.display());
            Err(AgentError::NotRunning)
        }
    }
}

/// `stop_generic` / `stop_generic_sigkill`: `first` and up to `wait`, then (if given) `then`
/// and up to its wait. The pid file is removed once the process is gone.
pub fn stop_pid(
    ctx: &OpContext,
    what: &str,
    pid_file: &Path,
    first: (i32, u64),
    then: Option<(i32, u64)>,
) -> Result<(), ServerError> {
    let Some(pid) = running_pid(pid_file) else {
        let _ = std::fs::remove_file(pid_file);
        return Ok(());
    };
    let dl = Deadline::of(ctx);
    let mut waited = 0;
    for (sig, secs) in std::iter::once(first).chain(then) {
        exec::signal(pid, sig);
        waited += secs;
        if exec::wait_gone(&dl.within(Duration::from_secs(secs)), &[pid]) {
            let _ = std::fs::remove_file(pid_file);
            return Ok(());
        }
    }
    Err(ServerError::StillRunning {
        what: what.to_string(),
        pid,
        secs: waited,
    })
}

/// `check_pid_file` before a start: a stale pid file is removed; one naming a live process
/// is refused (an instance runs already but did not answer status as ours).
fn clear_stale_pid(pid_file: &Path) -> Result<(), ServerError> {
    if let Some(pid) = exec::read_pid_file(pid_file) {
        if exec::pid_alive(pid) {
            return Err(ServerError::AlreadyRunningElsewhere {
                path: pid_file.display().to_string(),
                pid,
            });
        }
    }
    let _ = std::fs::remove_file(pid_file);
    Ok(())
}

/// Runs `argv` in the background (a shell that starts it and exits, as the shell agents'
/// `&`), its output discarded.
fn spawn_background(dl: &Deadline, argv: &[&str]) -> Result<(), CmdError> {
    let mut args = vec!["-c", "\"$@\" >/dev/null 2>&1 </dev/null &", "sh"];
    args.extend_from_slice(argv);
    exec::check(dl, &exec::base_env(), "sh", &args).map(|_| ())
}

/// Waits up to `secs` for the pid file to name a live process (the start of `what`).
fn wait_started(dl: &Deadline, pid_file: &Path, what: &str, secs: u64) -> Result<(), AgentError> {
    if wait_for(dl, secs, || running_pid(pid_file).is_some()) {
        Ok(())
    } else {
        Err(ServerError::StartTimeout {
            what: what.to_string(),
            secs,
        }
        .into())
    }
}

/// Creates the directory of a pid file.
fn make_pid_dir(pid_file: &Path) -> Result<(), ServerError> {
    match pid_file.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|source| ServerError::Write {
            path: dir.display().to_string(),
            source,
        }),
        None => Ok(()),
    }
}

/// `stop_generic`: SIGTERM and `shutdown_wait` seconds (20) for `what` to exit.
fn stop_term(ctx: &OpContext, what: &str, pid_file: &Path) -> Result<(), AgentError> {
    let wait = seconds(ctx, "shutdown_wait", 20)?;
    Ok(stop_pid(ctx, what, pid_file, (libc::SIGTERM, wait), None)?)
}

/// Waits until `ready` or `secs` pass.
fn wait_for(dl: &Deadline, secs: u64, ready: impl FnMut() -> bool) -> bool {
    dl.within(Duration::from_secs(secs))
        .poll(Duration::from_millis(100), ready)
}

fn first_existing(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

fn log(ctx: &OpContext, msg: &str) {
    tracing::info!(service = %ctx.service, resource = %ctx.resource, "{msg}");
}

// ---------------------------------------------------------------------------------------------
// apache

/// The ports of an httpd configuration's `Listen` and `Port` lines, each with its protocol
/// argument if any (`Listen 443 https`), and the file with those lines and `PidFile`
/// commented out.
pub fn httpd_listens(conf: &str) -> (Vec<(String, Option<String>)>, String) {
    let mut ports = Vec::new();
    let mut rest = String::with_capacity(conf.len());
    for line in conf.lines() {
        let t = line.trim_start();
        let mut words = t.split_whitespace();
        let key = words.next().unwrap_or("").to_ascii_lowercase();
        match key.as_str() {
            "listen" | "port" => {
                if let Some(addr) = words.next() {
                    // `80`, `1.2.3.4:80`, `[::1]:80`: the port is after the last colon.
                    let port = addr.rsplit(':').next().unwrap_or(addr).to_string();
                    ports.push((port, words.next().map(str::to_string)));
                }
                rest.push_str("### ");
            }
            "pidfile" => rest.push_str("### "),
            _ => {}
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (ports, rest)
}

/// The generated httpd configuration.
pub fn httpd_config(
    original_path: &Path,
    original: &str,
    ips: &[String],
    pid_file: &Path,
) -> String {
    let (ports, rest) = httpd_listens(original);
    let mut out = generated_header("#", original_path);
    for (port, proto) in &ports {
        for ip in ips {
            let addr = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            match proto {
                Some(p) => out.push_str(&format!("Listen {addr} {p}\n")),
                None => out.push_str(&format!("Listen {addr}\n")),
            }
        }
    }
    out.push_str(&format!("PidFile \"{}\"\n\n", pid_file.display()));
    out.push_str(&rest);
    out
}

/// The `apache` agent.
#[derive(Clone, Debug, Default)]
pub struct ApacheAgent {
    pub dirs: Dirs,
}

impl ApacheAgent {
    fn httpd() -> Result<String, ServerError> {
        first_existing(&["/usr/sbin/httpd", "/usr/sbin/apache2"])
            .ok_or_else(|| ServerError::NotInstalled("httpd (or apache2)".to_string()))
    }

    fn original(ctx: &OpContext) -> PathBuf {
        let root = ctx.param("server_root").unwrap_or("/etc/httpd");
        let file = ctx.param("config_file").unwrap_or("conf/httpd.conf");
        if file.starts_with('/') {
            PathBuf::from(file)
        } else {
            Path::new(root).join(file)
        }
    }
}

impl Agent for ApacheAgent {
    fn kind(&self) -> &'static str {
        "apache"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let pid_file = self.dirs.pid_file("apache", ctx);
        if running_pid(&pid_file).is_some() {
            log(ctx, "Already running");
            return Ok(());
        }
        let dl = Deadline::of(ctx);
        let httpd = Self::httpd()?;
        let name = ctx.param("name").unwrap_or("");
        let root = ctx.param("server_root").unwrap_or("/etc/httpd");
        let original = Self::original(ctx);
        let text = read_file("configuration", &original)?;
        if ctx.service_ips.is_empty() {
            return Err(ServerError::NoAddress(ctx.service.clone()).into());
        }
        clear_stale_pid(&pid_file)?;
        make_pid_dir(&pid_file)?;
        let generated = self.dirs.conf_dir("apache", ctx).join("httpd.conf");
        write_file(
            &generated,
            &httpd_config(&original, &text, &ctx.service_ips, &pid_file),
        )?;
        let define = format!("-D{name}");
        let gen = generated.to_string_lossy().into_owned();
        let opts: Vec<&str> = ctx
            .param("httpd_options")
            .map(|o| o.split_whitespace().collect())
            .unwrap_or_default();
        let mut args = vec![define.as_str(), "-d", root, "-f", gen.as_str()];
        args.extend(opts.iter().copied());
        let mut test = args.clone();
        test.push("-t");
        if let Err(e) = exec::check(&dl, &exec::base_env(), &httpd, &test) {
            let message = match e {
                CmdError::Failed { message, .. } => message,
                other => other.to_string(),
            };
            return Err(ServerError::BadConfig {
                path: gen,
                program: httpd,
                message,
            }
            .into());
        }
        log(ctx, &format!("Starting {httpd} with {gen}"));
        args.extend(["-k", "start"]);
        exec::check(&dl, &exec::base_env(), &httpd, &args).map_err(ServerError::from)?;
        let wait = seconds(ctx, "shutdown_wait", 20)?.max(5);
        wait_started(&dl, &pid_file, &httpd, wait)
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        stop_term(ctx, "httpd", &self.dirs.pid_file("apache", ctx))
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        status_pid(ctx, &self.dirs.pid_file("apache", ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// mysql

/// The user mysqld runs as: `--user=X` / `-u X` in the options (as mysql.sh read them),
/// else `user=` in the configuration's `[mysqld]` section, else `mysql`.
pub fn mysql_user(options: &str, config: &str) -> String {
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(u) = w.strip_prefix("--user=") {
            return u.to_string();
        }
        if w == "-u" {
            if let Some(u) = words.next() {
                return u.to_string();
            }
        }
    }
    let mut in_mysqld = false;
    for line in config.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_mysqld = t.eq_ignore_ascii_case("[mysqld]");
        } else if in_mysqld {
            if let Some((k, v)) = t.split_once('=') {
                if k.trim() == "user" {
                    return v.trim().to_string();
                }
            }
        }
    }
    "mysql".to_string()
}

/// The `mysql` agent.
#[derive(Clone, Debug, Default)]
pub struct MysqlAgent {
    pub dirs: Dirs,
}

impl Agent for MysqlAgent {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let pid_file = self.dirs.pid_file("mysql", ctx);
        if running_pid(&pid_file).is_some() {
            log(ctx, "Already running");
            return Ok(());
        }
        let dl = Deadline::of(ctx);
        let safe = first_existing(&["/usr/bin/mysqld_safe"])
            .ok_or_else(|| ServerError::NotInstalled("/usr/bin/mysqld_safe".to_string()))?;
        let config = ctx.param("config_file").unwrap_or("/etc/my.cnf");
        let text = read_file("configuration", Path::new(config))?;
        clear_stale_pid(&pid_file)?;
        make_pid_dir(&pid_file)?;
        if let Some(dir) = pid_file.parent() {
            // mysqld writes its pid file as the user it switches to (create_pid_directory).
            let user = mysql_user(ctx.param("mysqld_options").unwrap_or(""), &text);
            exec::check(
                &dl,
                &exec::base_env(),
                "chown",
                &[&user, &dir.to_string_lossy()],
            )
            .map_err(ServerError::from)?;
        }
        let address = ctx
            .param("listen_address")
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .or_else(|| ctx.service_ips.first().cloned());
        let defaults = format!("--defaults-file={config}");
        let pid_arg = format!("--pid-file={}", pid_file.display());
        let mut argv = vec![safe.as_str(), defaults.as_str(), pid_arg.as_str()];
        let bind;
        match &address {
            Some(a) => {
                bind = format!("--bind-address={a}");
                argv.push(&bind);
            }
            None => tracing::warn!(service = %ctx.service, resource = %ctx.resource,
                "no listen_address and no IP address in the service: mysqld listens where its configuration says"),
        }
        let opts: Vec<&str> = ctx
            .param("mysqld_options")
            .map(|o| o.split_whitespace().collect())
            .unwrap_or_default();
        argv.extend(opts.iter().copied());
        log(ctx, &format!("Starting {safe} with {config}"));
        spawn_background(&dl, &argv).map_err(ServerError::from)?;
        let wait = seconds(ctx, "startup_wait", 30)?;
        wait_started(&dl, &pid_file, "mysqld", wait)
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        stop_term(ctx, "mysqld", &self.dirs.pid_file("mysql", ctx))
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        status_pid(ctx, &self.dirs.pid_file("mysql", ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// postgres-8

/// The generated `postgresql.conf`: our pid file and the service's addresses first, then the
/// original with its own `external_pid_file` and `listen_addresses` commented out.
pub fn postgres_config(
    original_path: &Path,
    original: &str,
    ips: &[String],
    pid_file: &Path,
) -> String {
    let mut out = generated_header("#", original_path);
    out.push_str(&format!("external_pid_file = '{}'\n", pid_file.display()));
    out.push_str(&format!("listen_addresses = '{}'\n\n", ips.join(",")));
    for line in original.lines() {
        let key = line.trim_start().to_ascii_lowercase();
        if key.starts_with("external_pid_file") || key.starts_with("listen_addresses") {
            out.push_str("### ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Single-quotes a word for `su -c` (the options stay as the administrator wrote them).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// How long a postgres-8 start waits for the server: postgres-8.sh waited 10 s, which a
/// loaded machine's crash recovery or first start can exceed; the start's own time limit still
/// applies.
pub const POSTGRES_STARTUP_WAIT: u64 = 30;

/// The `postgres-8` agent.
#[derive(Clone, Debug, Default)]
pub struct PostgresAgent {
    pub dirs: Dirs,
}

impl PostgresAgent {
    /// `postmaster` (or `postgres`) and `pg_ctl`.
    fn binaries() -> Result<(String, String), ServerError> {
        if Path::new("/usr/bin/postmaster").exists() && Path::new("/usr/bin/pg_ctl").exists() {
            return Ok(("/usr/bin/postmaster".into(), "/usr/bin/pg_ctl".into()));
        }
        // Debian: /usr/lib/postgresql/<version>/bin, the newest version.
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                        Some((v, e.path().join("bin")))
                    })
                    .filter(|(_, b)| b.join("postgres").exists())
                    .collect()
            })
            .unwrap_or_default();
        versions.sort();
        let (_, bin) = versions
            .pop()
            .ok_or_else(|| ServerError::NotInstalled("postmaster (PostgreSQL)".to_string()))?;
        Ok((
            bin.join("postgres").to_string_lossy().into_owned(),
            bin.join("pg_ctl").to_string_lossy().into_owned(),
        ))
    }
}

impl Agent for PostgresAgent {
    fn kind(&self) -> &'static str {
        "postgres-8"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let pid_file = self.dirs.pid_file("postgres-8", ctx);
        if running_pid(&pid_file).is_some() {
            log(ctx, "Already running");
            return Ok(());
        }
        let dl = Deadline::of(ctx);
        let (postmaster, pg_ctl) = Self::binaries()?;
        let config = PathBuf::from(
            ctx.param("config_file")
                .unwrap_or("/var/lib/pgsql/data/postgresql.conf"),
        );
        let user = ctx.param("postmaster_user").unwrap_or("postgres");
        let options = ctx
            .param("postmaster_options")
            .unwrap_or("-D /var/lib/pgsql/data");
        let text = read_file("configuration", &config)?;
        if ctx.service_ips.is_empty() {
            return Err(ServerError::NoAddress(ctx.service.clone()).into());
        }
        clear_stale_pid(&pid_file)?;
        let env = exec::base_env();
        // The server writes the pid file as its user: the file is made for it, as
        // postgres-8.sh did (touch + chown).
        write_file(&pid_file, "")?;
        exec::check(&dl, &env, "chown", &[user, &pid_file.to_string_lossy()])
            .map_err(ServerError::from)?;
        let generated = self
            .dirs
            .conf_dir("postgres-8", ctx)
            .join("postgresql.conf");
        write_file(
            &generated,
            &postgres_config(&config, &text, &ctx.service_ips, &pid_file),
        )?;
        let cmd = format!(
            "{} -c config_file={} {options} >/dev/null 2>&1 </dev/null &",
            shell_quote(&postmaster),
            shell_quote(&generated.to_string_lossy())
        );
        log(
            ctx,
            &format!(
                "Starting {postmaster} as {user} with {}",
                generated.display()
            ),
        );
        exec::check(&dl, &env, "su", &["-", user, "-c", &cmd]).map_err(ServerError::from)?;
        let status = format!("{} status {options}", shell_quote(&pg_ctl));
        let ready = wait_for(&dl, POSTGRES_STARTUP_WAIT, || {
            running_pid(&pid_file).is_some()
                && exec::run(&dl, &env, "su", &["-", user, "-c", &status])
                    .is_ok_and(|r| exec::code(&r) == 0)
        });
        if !ready {
            return Err(ServerError::StartTimeout {
                what: postmaster,
                secs: POSTGRES_STARTUP_WAIT,
            }
            .into());
        }
        Ok(())
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let wait = seconds(ctx, "shutdown_wait", 15)?;
        let pid_file = self.dirs.pid_file("postgres-8", ctx);
        Ok(stop_pid(
            ctx,
            "postmaster",
            &pid_file,
            (libc::SIGINT, wait),
            Some((libc::SIGQUIT, 5)),
        )?)
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        status_pid(ctx, &self.dirs.pid_file("postgres-8", ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPD: &str = "ServerRoot /etc/httpd\nListen 80\n  listen 10.0.0.1:8443 https\nPort 8080\nPidFile run/httpd.pid\nListenBacklog 5\nDocumentRoot /var/www\n";

    #[test]
    fn httpd_listen_lines_are_replaced_by_the_service_addresses() {
        let (ports, rest) = httpd_listens(HTTPD);
        assert_eq!(
            ports,
            [
                ("80".to_string(), None),
                ("8443".to_string(), Some("https".to_string())),
                ("8080".to_string(), None)
            ]
        );
        assert!(rest.contains("### Listen 80\n"));
        assert!(rest.contains("###   listen 10.0.0.1:8443 https\n"));
        assert!(rest.contains("### PidFile run/httpd.pid\n"));
        // Only the directives themselves, not look-alikes.
        assert!(rest.contains("\nListenBacklog 5\n"));
        let conf = httpd_config(
            Path::new("/etc/httpd/conf/httpd.conf"),
            HTTPD,
            &["10.1.1.1".into(), "fd00::5".into()],
            Path::new("/var/run/cluster/apache/apache:web.pid"),
        );
        assert!(conf.starts_with("# Generated by rgmanager-rs from /etc/httpd/conf/httpd.conf"));
        for want in [
            "Listen 10.1.1.1:80\n",
            "Listen [fd00::5]:80\n",
            "Listen 10.1.1.1:8443 https\n",
            "Listen [fd00::5]:8080\n",
            "PidFile \"/var/run/cluster/apache/apache:web.pid\"\n",
        ] {
            assert!(conf.contains(want), "{want} missing from\n{conf}");
        }
    }

    #[test]
    fn postgres_config_sets_pid_file_and_addresses_first() {
        let conf = postgres_config(
            Path::new("/d/postgresql.conf"),
            "port = 5433\nlisten_addresses = '*'\n  external_pid_file = '/x'\n",
            &["10.0.0.5".into(), "10.0.0.6".into()],
            Path::new("/p.pid"),
        );
        let lines: Vec<&str> = conf.lines().collect();
        assert_eq!(lines[2], "external_pid_file = '/p.pid'");
        assert_eq!(lines[3], "listen_addresses = '10.0.0.5,10.0.0.6'");
        assert!(conf.contains("### listen_addresses = '*'\n"));
        assert!(conf.contains("###   external_pid_file = '/x'\n"));
        assert!(conf.contains("\nport = 5433\n"));
    }

    #[test]
    fn pid_files_and_instances() {
        let ctx = OpContext {
            resource: "mysql:db".into(),
            ..OpContext::default()
        };
        let dirs = Dirs::default();
        assert_eq!(
            dirs.pid_file("mysql", &ctx),
            Path::new("/var/run/cluster/mysql/mysql:db.pid")
        );
        assert_eq!(
            dirs.conf_dir("mysql", &ctx),
            Path::new("/etc/cluster/mysql/mysql:db")
        );
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
        assert_eq!(mysql_user("--skip-networking --user=db2", ""), "db2");
        assert_eq!(mysql_user("-u db3", ""), "db3");
        assert_eq!(
            mysql_user("", "[client]\nuser=x\n[mysqld]\nport=1\nuser = db4\n"),
            "db4"
        );
        assert_eq!(mysql_user("", ""), "mysql");
    }
}
