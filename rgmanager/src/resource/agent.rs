//! Resource agents: one trait for every resource type (start, stop, status at a depth,
//! metadata), the registry of the agents we have, and the agents themselves that need no
//! network: `service` (a resource group's own node: nothing to do) and `script` (an LSB init
//! script, rgmanager's `script.sh`). The `ip` agent lives in [`super::ip`].
//!
//! Every agent that runs a program gets the environment rgmanager's `build_env` gave its
//! agents: `OCF_RESKEY_<attr>` for each resolved attribute, `OCF_RA_VERSION_MAJOR/MINOR`,
//! `OCF_ROOT`, `OCF_RESOURCE_INSTANCE` (`type:primary`), `OCF_RESOURCE_TYPE`,
//! `OCF_CHECK_LEVEL`, `OCF_RESKEY_RGMANAGER_meta_refcnt` and `..._meta_timeout`, plus a fixed
//! `PATH` (rgmanager exec'd with that environment only; its shell agents then set `PATH`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ccs::resource_types::{resource_type, ResourceType};

use super::walk::Op;

/// rgmanager's agent directory, given to agents as `OCF_ROOT`.
pub const OCF_ROOT: &str = "/usr/share/cluster";

/// The `PATH` agents run with.
pub const AGENT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything an agent needs for one operation on one resource.
#[derive(Clone, Debug, Default)]
pub struct OpContext {
    /// The resource group, `service:NAME`.
    pub service: String,
    /// The resource, `type:primary`.
    pub resource: String,
    pub kind: String,
    /// The resource's attributes resolved at its tree node (inheritance applied).
    pub params: Vec<(String, String)>,
    /// The limit to enforce, if any.
    pub timeout: Option<Duration>,
    /// The action's timeout in seconds as configured (passed to the agent even when not
    /// enforced; 0 = none).
    pub timeout_hint: u64,
    /// OCF check level for status.
    pub depth: u32,
    /// Seconds between two runs of this status check (0 for start and stop).
    pub interval: u64,
    /// How many *other* incarnations of the resource run on this host.
    pub refcnt: u32,
    /// This node's name in the cluster (the `lvm` agent tags volume groups with it; the `fs`
    /// write check names its file after it).
    pub node: String,
    /// The addresses (without prefix) of the `ip` resources directly under the service, in
    /// order: where `apache`, `mysql` and `postgres-8` listen, as rgmanager's agents looked
    /// them up in cluster.conf.
    pub service_ips: Vec<String>,
}

impl OpContext {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The environment rgmanager gave agents.
    pub fn ocf_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.clone()))
            .collect();
        let primary = self.resource.split_once(':').map(|(_, p)| p).unwrap_or("");
        env.extend([
            ("OCF_RA_VERSION_MAJOR".to_string(), "1".to_string()),
            ("OCF_RA_VERSION_MINOR".to_string(), "0".to_string()),
            ("OCF_ROOT".to_string(), OCF_ROOT.to_string()),
            (
                "OCF_RESOURCE_INSTANCE".to_string(),
                format!("{}:{primary}", self.kind),
            ),
            ("OCF_RESOURCE_TYPE".to_string(), self.kind.clone()),
            ("OCF_CHECK_LEVEL".to_string(), self.depth.to_string()),
            (
                "OCF_RESKEY_RGMANAGER_meta_refcnt".to_string(),
                self.refcnt.to_string(),
            ),
            (
                "OCF_RESKEY_RGMANAGER_meta_timeout".to_string(),
                self.timeout_hint.to_string(),
            ),
            ("PATH".to_string(), AGENT_PATH.to_string()),
        ]);
        env
    }
}

/// Why an agent operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Status only: the resource is stopped (LSB status 3, OCF 7).
    #[error("not running")]
    NotRunning,
    #[error("{program} {op} exited with status {code}")]
    Failed {
        program: String,
        op: &'static str,
        code: i32,
    },
    #[error("{program} {op} was killed by signal {signal}")]
    Signalled {
        program: String,
        op: &'static str,
        signal: i32,
    },
    #[error("{program} {op} timed out after {secs} s; its process group was killed")]
    Timeout {
        program: String,
        op: &'static str,
        secs: u64,
    },
    #[error("{file} does not exist")]
    NotInstalled { file: String },
    #[error("{file} is not an executable file")]
    NotExecutable { file: String },
    #[error("required parameter {0} is not set")]
    MissingParam(&'static str),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("no agent for resource type {kind} on this node")]
    NoAgent { kind: String },
    /// The `ip` agent's own failures.
    #[error(transparent)]
    Ip(super::ip::IpError),
    #[error(transparent)]
    Fs(super::fs::FsError),
    #[error(transparent)]
    Ocf(super::ocf::OcfError),
    #[error(transparent)]
    Systemd(super::systemd::SystemdError),
    #[error(transparent)]
    Server(super::servers::ServerError),
    #[error(transparent)]
    Nfs(super::nfs::NfsError),
    #[error(transparent)]
    Lvm(super::lvm::LvmError),
}

/// One failed operation, naming the service and the resource.
#[derive(Debug, thiserror::Error)]
#[error("{service}: {} of {resource} failed: {source}", .op.as_str())]
pub struct ResourceError {
    pub service: String,
    pub resource: String,
    pub op: Op,
    #[source]
    pub source: AgentError,
}

/// A resource agent: what one resource type does on this node.
pub trait Agent: Send + Sync {
    /// The resource type it implements.
    fn kind(&self) -> &'static str;

    /// The type's rules (parameters, children, actions) from the RHCS table.
    fn metadata(&self) -> Option<&'static ResourceType> {
        resource_type(self.kind())
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError>;

    /// Stopping a stopped resource must succeed.
    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError>;

    /// Checks the resource at `ctx.depth`; [`AgentError::NotRunning`] when it is stopped.
    fn status(&self, ctx: &OpContext) -> Result<(), AgentError>;

    /// Runs `op` (the dispatch the runner uses).
    fn run(&self, op: Op, ctx: &OpContext) -> Result<(), AgentError> {
        match op {
            Op::Start => self.start(ctx),
            Op::Stop => self.stop(ctx),
            Op::Status => self.status(ctx),
        }
    }
}

/// The agents available on this node, by type.
#[derive(Default)]
pub struct Agents {
    map: HashMap<String, Box<dyn Agent>>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.map.keys().collect();
        kinds.sort();
        f.debug_struct("Agents").field("kinds", &kinds).finish()
    }
}

impl Agents {
    /// No agents at all.
    pub fn empty() -> Self {
        Agents::default()
    }

    /// The agents of this crate: `service`, `script`, `ip`, `fs`, `ocf`, `systemd`, `apache`,
    /// `mysql`, `postgres-8`, `nfsexport`, `nfsclient`, `lvm` (the latter without the cluster
    /// membership: register an [`super::lvm::LvmAgent`] with `members` to give it).
    pub fn builtin() -> Self {
        let mut a = Agents::empty();
        a.register(Box::new(ServiceAgent));
        a.register(Box::new(ScriptAgent));
        a.register(Box::new(super::ip::IpAgent));
        a.register(Box::new(super::fs::FsAgent::default()));
        a.register(Box::new(super::ocf::OcfAgent::default()));
        a.register(Box::new(super::systemd::SystemdAgent));
        a.register(Box::new(super::servers::ApacheAgent::default()));
        a.register(Box::new(super::servers::MysqlAgent::default()));
        a.register(Box::new(super::servers::PostgresAgent::default()));
        a.register(Box::new(super::nfs::NfsExportAgent));
        a.register(Box::new(super::nfs::NfsClientAgent));
        a.register(Box::new(super::lvm::LvmAgent {
            system_dir: std::env::var_os("LVM_SYSTEM_DIR").map(std::path::PathBuf::from),
            members: None,
        }));
        a
    }

    /// Adds (or replaces) the agent of a type.
    pub fn register(&mut self, agent: Box<dyn Agent>) {
        self.map.insert(agent.kind().to_string(), agent);
    }

    pub fn get(&self, kind: &str) -> Option<&dyn Agent> {
        self.map.get(kind).map(|b| b.as_ref())
    }
}

/// `service` (and the top node of any group): the group itself holds nothing to start.
/// rgmanager's `service.sh` only touched NFS lock state when `nfslock` was set, which the
/// NFS agents own here.
#[derive(Debug, Default)]
pub struct ServiceAgent;

impl Agent for ServiceAgent {
    fn kind(&self) -> &'static str {
        "service"
    }
    fn start(&self, _ctx: &OpContext) -> Result<(), AgentError> {
        Ok(())
    }
    fn stop(&self, _ctx: &OpContext) -> Result<(), AgentError> {
        Ok(())
    }
    fn status(&self, _ctx: &OpContext) -> Result<(), AgentError> {
        Ok(())
    }
}

/// How a program run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
}

/// A finished program run with its output.
#[derive(Clone, Debug)]
pub struct Ran {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program arg` with exactly `env` (see [`run_command`]).
pub fn run_program(
    program: &Path,
    arg: &str,
    env: &[(String, String)],
    timeout: Option<Duration>,
) -> std::io::Result<Ran> {
    run_command(program, &[arg], env, timeout)
}

/// Runs `program args` with exactly `env` (a bare program name is looked up in that `PATH`),
/// in its own process group, output into anonymous files (not pipes: a daemon an init script
/// leaves behind keeps its copies of the descriptors, and a pipe would then never reach
/// end-of-file). On timeout the whole process group is killed.
pub fn run_command(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    timeout: Option<Duration>,
) -> std::io::Result<Ran> {
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(err.try_clone()?))
        .process_group(0)
        .spawn()?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break match status.code() {
                Some(c) => Exit::Code(c),
                None => Exit::Signal(status.signal().unwrap_or(0)),
            };
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            kill_group(child.id());
            // Reap the leader; SIGKILL cannot be ignored, so this returns.
            let _ = child.wait();
            break Exit::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Ran {
        exit,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    })
}

fn read_all(f: &mut File) -> String {
    let mut s = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.read_to_end(&mut s);
    }
    String::from_utf8_lossy(&s).into_owned()
}

fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: killpg only sends a signal; the group is the one the child leads (it was
    // started with process_group(0)), so nothing outside the agent's processes is hit.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// Logs a program's output, one event per line, under the resource's name.
fn log_output(ctx: &OpContext, op: Op, ran: &Ran) {
    for line in ran.stdout.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(service = %ctx.service, resource = %ctx.resource, op = op.as_str(), "{line}");
    }
    for line in ran.stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(service = %ctx.service, resource = %ctx.resource, op = op.as_str(), "{line}");
    }
}

/// `script`: runs the init script named by `file` with `start`, `stop` or `status`.
///
/// Exit codes keep rgmanager's meaning for start and stop (anything but 0 fails; an LSB script
/// must answer 0 to `stop` when already stopped), and LSB's for status: 0 running, 3 not
/// running (reported as such), anything else a failure.
#[derive(Debug, Default)]
pub struct ScriptAgent;

impl ScriptAgent {
    fn exec(&self, op: Op, ctx: &OpContext) -> Result<i32, AgentError> {
        let file = ctx.param("file").ok_or(AgentError::MissingParam("file"))?;
        let path = Path::new(file);
        let meta = std::fs::metadata(path).map_err(|_| AgentError::NotInstalled {
            file: file.to_string(),
        })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(AgentError::NotExecutable {
                file: file.to_string(),
            });
        }
        tracing::debug!(service = %ctx.service, resource = %ctx.resource, "{file} {}", op.as_str());
        let ran =
            run_program(path, op.as_str(), &ctx.ocf_env(), ctx.timeout).map_err(|source| {
                AgentError::Spawn {
                    program: file.to_string(),
                    source,
                }
            })?;
        log_output(ctx, op, &ran);
        match ran.exit {
            Exit::Code(c) => Ok(c),
            Exit::Signal(signal) => Err(AgentError::Signalled {
                program: file.to_string(),
                op: op.as_str(),
                signal,
            }),
            Exit::TimedOut => Err(AgentError::Timeout {
                program: file.to_string(),
                op: op.as_str(),
                secs: ctx.timeout.map(|t| t.as_secs()).unwrap_or(0),
            }),
        }
    }

    fn failed(ctx: &OpContext, op: Op, code: i32) -> AgentError {
        AgentError::Failed {
            program: ctx.param("file").unwrap_or("").to_string(),
            op: op.as_str(),
            code,
        }
    }
}

impl Agent for ScriptAgent {
    fn kind(&self) -> &'static str {
        "script"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        match self.exec(Op::Start, ctx)? {
            0 => Ok(()),
            c => Err(Self::failed(ctx, Op::Start, c)),
        }
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        match self.exec(Op::Stop, ctx)? {
            0 => Ok(()),
            c => Err(Self::failed(ctx, Op::Stop, c)),
        }
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        match self.exec(Op::Status, ctx)? {
            0 => Ok(()),
            3 => Err(AgentError::NotRunning),
            c => Err(Self::failed(ctx, Op::Status, c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> String {
        let p = dir.join(name);
        let mut f = File::create(&p).unwrap();
        writeln!(f, "#!/bin/sh\n{body}").unwrap();
        drop(f);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn ctx(file: &str, timeout: Option<Duration>) -> OpContext {
        OpContext {
            service: "service:web".into(),
            resource: "script:httpd".into(),
            kind: "script".into(),
            params: vec![
                ("name".into(), "httpd".into()),
                ("file".into(), file.into()),
                ("service_name".into(), "web".into()),
            ],
            timeout,
            timeout_hint: 0,
            depth: 0,
            refcnt: 0,
            ..OpContext::default()
        }
    }

    #[test]
    fn lsb_script_start_status_stop_with_ocf_env() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("running");
        let env_out = d.path().join("env");
        let body = format!(
            "M={m}\ncase \"$1\" in\n start) env > {e}; touch $M; echo started ;;\n stop) rm -f $M ;;\n status) [ -e $M ] && exit 0; exit 3 ;;\nesac\n",
            m = marker.display(),
            e = env_out.display()
        );
        let file = script(d.path(), "svc", &body, 0o755);
        let c = ctx(&file, None);
        let a = ScriptAgent;
        assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
        a.start(&c).unwrap();
        assert!(marker.exists());
        a.status(&c).unwrap();
        let env = std::fs::read_to_string(&env_out).unwrap();
        for want in [
            "OCF_RESKEY_file=",
            "OCF_RESKEY_service_name=web",
            "OCF_RESOURCE_INSTANCE=script:httpd",
            "OCF_RESOURCE_TYPE=script",
            "OCF_ROOT=/usr/share/cluster",
            "OCF_CHECK_LEVEL=0",
            "OCF_RA_VERSION_MAJOR=1",
            "OCF_RESKEY_RGMANAGER_meta_refcnt=0",
        ] {
            assert!(env.contains(want), "{want} missing from\n{env}");
        }
        a.stop(&c).unwrap();
        assert!(!marker.exists());
        // A stop of a stopped service answers 0 in LSB, and is a success.
        a.stop(&c).unwrap();
        assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    }

    #[test]
    fn failing_start_keeps_the_exit_code() {
        let d = tempfile::tempdir().unwrap();
        let file = script(d.path(), "bad", "echo oops >&2; exit 6", 0o755);
        let e = ScriptAgent.start(&ctx(&file, None)).unwrap_err();
        assert!(matches!(e, AgentError::Failed { code: 6, .. }), "{e}");
        assert!(
            e.to_string().contains("bad start exited with status 6"),
            "{e}"
        );
        // status: a code other than 0 or 3 is a failure, not "not running".
        let e = ScriptAgent.status(&ctx(&file, None)).unwrap_err();
        assert!(matches!(e, AgentError::Failed { code: 6, .. }));
    }

    #[test]
    fn hung_script_is_killed_with_its_children() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("child.pid");
        // The script leaves a child sleeping too: the whole group must die.
        let body = format!(
            "sleep 300 &\necho $! > {p}\nsleep 300\n",
            p = pidfile.display()
        );
        let file = script(d.path(), "hang", &body, 0o755);
        let e = ScriptAgent
            .start(&ctx(&file, Some(Duration::from_secs(3))))
            .unwrap_err();
        assert!(matches!(e, AgentError::Timeout { secs: 3, .. }), "{e}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep was killed by the group kill; give the kernel a moment to
        // reap it (it is re-parented to init or a subreaper).
        let gone = (0..250).any(|_| {
            let alive = Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true);
            if alive {
                std::thread::sleep(Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "child {pid} survived the timeout");
    }

    #[test]
    fn missing_and_not_executable_files() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        let e = ScriptAgent
            .start(&ctx(missing.to_str().unwrap(), None))
            .unwrap_err();
        assert!(matches!(e, AgentError::NotInstalled { .. }), "{e}");
        assert!(e.to_string().contains("nope does not exist"));
        let plain = script(d.path(), "plain", "exit 0", 0o644);
        let e = ScriptAgent.start(&ctx(&plain, None)).unwrap_err();
        assert!(matches!(e, AgentError::NotExecutable { .. }), "{e}");
        let mut c = ctx(&plain, None);
        c.params.retain(|(k, _)| k != "file");
        assert!(matches!(
            ScriptAgent.start(&c),
            Err(AgentError::MissingParam("file"))
        ));
    }

    #[test]
    fn output_is_captured_even_when_a_daemon_keeps_the_descriptors() {
        let d = tempfile::tempdir().unwrap();
        // The "daemon" outlives the script with stdout still open; the run must not wait.
        let pg = d.path().join("pgid");
        let body = format!(
            "echo $$ > {}\nsleep 30 &\necho hello-out; echo hello-err >&2; exit 0",
            pg.display()
        );
        let file = script(d.path(), "daemon", &body, 0o755);
        let ran = run_program(
            Path::new(&file),
            "start",
            &[],
            Some(Duration::from_secs(20)),
        );
        // Tear the daemon down whatever happened.
        if let Ok(pgid) = std::fs::read_to_string(&pg) {
            if let Ok(pgid) = pgid.trim().parse::<u32>() {
                kill_group(pgid);
            }
        }
        let ran = ran.unwrap();
        assert_eq!(ran.exit, Exit::Code(0));
        assert_eq!(ran.stdout, "hello-out\n");
        assert_eq!(ran.stderr, "hello-err\n");
    }
}
