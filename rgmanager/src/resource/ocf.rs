//! `ocf`: any OCF resource agent as a resource (a type of our own, docs/resource-agents.md).
//!
//! ```xml
//! <ocf name="vip" type="IPaddr2" provider="heartbeat" ip="10.0.0.5" cidr_netmask="24"/>
//! ```
//!
//! runs `$OCF_ROOT/resource.d/heartbeat/IPaddr2` (`OCF_ROOT` is `/usr/lib/ocf`, where Debian's
//! `resource-agents` and Pacemaker keep them) the way Pacemaker runs OCF agents:
//! - its `meta-data` is read once per agent file (again when the file changes) and checks the
//!   parameters before every action: an attribute the agent does not declare, or a required
//!   one missing, is an error naming the agent and the parameter (the agent would exit 2 or 6
//!   with a line in its own words, or worse, ignore a misspelt parameter);
//! - an action's time limit is the agent's own (`<action name="start" timeout="60s"/>` of its
//!   meta-data) unless cluster.conf gives one with `<action>`; `__enforce_timeouts="0"` lifts it;
//! - the environment: `OCF_ROOT`, `OCF_RA_VERSION_MAJOR/MINOR` (1.0), `OCF_RESOURCE_INSTANCE`
//!   (the name), `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `OCF_RESKEY_<param>` for each
//!   parameter written, `OCF_RESKEY_CRM_meta_timeout` and `OCF_RESKEY_CRM_meta_interval` in
//!   milliseconds, `OCF_CHECK_LEVEL` for monitor, and a fixed `PATH`; nothing of the daemon's;
//! - status is the agent's `monitor` at the check depth rgmanager scheduled;
//! - exit codes: 0 success; 7 "not running" (for monitor: stopped; for stop: stopped already,
//!   a success, as Pacemaker takes it); 1–6 the OCF errors with their names; 8 and 9
//!   (promoted, failed promoted) and 191 are a promotable clone's answers, which a service does
//!   not manage: an error; 190 (degraded) is running, with a warning; anything else an error.
//!
//! Parameters named like our own attributes (`name`, `type`, `provider`) cannot be given;
//! no heartbeat agent of Debian's `resource-agents` declares one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ccs::xml::Element;

use super::agent::{run_command, Agent, AgentError, Exit, OpContext, AGENT_PATH};
use super::walk::Op;

/// Where OCF agents live (Pacemaker's and Debian's `OCF_ROOT`).
pub const OCF_AGENT_ROOT: &str = "/usr/lib/ocf";

/// How long `meta-data` may take.
pub const META_DATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Attributes of an `<ocf>` element that are ours, not the agent's.
pub const OWN_ATTRS: &[&str] = &["name", "type", "provider"];

#[derive(Debug, thiserror::Error)]
pub enum OcfError {
    #[error("{what} \"{value}\" is not a valid OCF {what} (letters, digits, '_', '-', '.')")]
    BadName { what: &'static str, value: String },
    #[error("OCF agent {0} is not installed")]
    NotInstalled(String),
    #[error("OCF agent {0} is not an executable file")]
    NotExecutable(String),
    #[error("{agent} meta-data: {why}")]
    MetaData { agent: String, why: String },
    #[error("\"{param}\" is not a parameter of {agent} (its parameters: {known})")]
    UnknownParam {
        agent: String,
        param: String,
        known: String,
    },
    #[error("{agent} requires the parameter \"{param}\"")]
    MissingParam { agent: String, param: String },
    #[error("{agent} {op} reported a promoted instance (exit {code}); promotable resources are not managed by a service")]
    Promoted {
        agent: String,
        op: &'static str,
        code: i32,
    },
}

impl From<OcfError> for AgentError {
    fn from(e: OcfError) -> Self {
        AgentError::Ocf(e)
    }
}

/// One `<parameter>` of an agent's meta-data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaParam {
    pub name: String,
    pub required: bool,
    pub unique: bool,
    pub content_type: String,
    pub default: Option<String>,
}

/// One `<action>` of an agent's meta-data (times in seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaAction {
    pub name: String,
    pub timeout: Option<u64>,
    pub interval: Option<u64>,
    pub depth: Option<u32>,
}

/// What an agent's `meta-data` declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub name: String,
    pub params: Vec<MetaParam>,
    pub actions: Vec<MetaAction>,
}

impl Meta {
    pub fn param(&self, name: &str) -> Option<&MetaParam> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The timeout of `action` (the depth-0 one for monitor), in seconds.
    pub fn timeout(&self, action: &str, depth: u32) -> Option<u64> {
        let pick = |d: Option<u32>| {
            self.actions
                .iter()
                .filter(|a| a.name == action && a.depth.unwrap_or(0) == d.unwrap_or(0))
                .find_map(|a| a.timeout)
        };
        pick(Some(depth)).or_else(|| pick(None))
    }
}

/// An OCF duration (`20s`, `20`, `1m`, `500ms`, `2h`) in whole seconds, rounded up.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => Some(n),
        "ms" | "msec" => Some(n.div_ceil(1000)),
        "m" | "min" => n.checked_mul(60),
        "h" | "hr" => n.checked_mul(3600),
        _ => None,
    }
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some("1" | "true" | "yes"))
}

/// Reads an agent's `meta-data` XML.
pub fn parse_metadata(agent: &str, xml: &str) -> Result<Meta, OcfError> {
    let bad = |why: String| OcfError::MetaData {
        agent: agent.to_string(),
        why,
    };
    let root = ccs::xml::parse(xml).map_err(|e| bad(format!("not XML: {e}")))?;
    if root.name != "resource-agent" {
        return Err(bad(format!(
            "root element is <{}>, not <resource-agent>",
            root.name
        )));
    }
    let child = |e: &'_ Element, name: &str| e.elements().find(|c| c.name == name).cloned();
    let mut params = Vec::new();
    if let Some(ps) = child(&root, "parameters") {
        for p in ps.elements().filter(|p| p.name == "parameter") {
            let Some(name) = p.attrs.get("name") else {
                return Err(bad("a <parameter> without a name".to_string()));
            };
            let content = child(p, "content");
            params.push(MetaParam {
                name: name.to_string(),
                required: is_true(p.attrs.get("required")),
                unique: is_true(p.attrs.get("unique")),
                content_type: content
                    .as_ref()
                    .and_then(|c| c.attrs.get("type"))
                    .unwrap_or("string")
                    .to_string(),
                default: content
                    .as_ref()
                    .and_then(|c| c.attrs.get("default"))
                    .map(str::to_string),
            });
        }
    }
    let mut actions = Vec::new();
    if let Some(acts) = child(&root, "actions") {
        for a in acts.elements().filter(|a| a.name == "action") {
            let Some(name) = a.attrs.get("name") else {
                continue;
            };
            actions.push(MetaAction {
                name: name.to_string(),
                timeout: a.attrs.get("timeout").and_then(parse_duration),
                interval: a.attrs.get("interval").and_then(parse_duration),
                depth: a.attrs.get("depth").and_then(|d| d.trim().parse().ok()),
            });
        }
    }
    Ok(Meta {
        name: root.attrs.get("name").unwrap_or(agent).to_string(),
        params,
        actions,
    })
}

/// The agent's parameters among a resource's attributes (ours left out).
pub fn agent_params(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(k, _)| !OWN_ATTRS.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// Checks the given parameters against the meta-data: every one declared, every required one
/// given (and not blank).
pub fn check_params(agent: &str, meta: &Meta, given: &[(String, String)]) -> Result<(), OcfError> {
    for (k, _) in given {
        if meta.param(k).is_none() {
            let known: Vec<&str> = meta.params.iter().map(|p| p.name.as_str()).collect();
            return Err(OcfError::UnknownParam {
                agent: agent.to_string(),
                param: k.clone(),
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            });
        }
    }
    for p in meta.params.iter().filter(|p| p.required) {
        if !given
            .iter()
            .any(|(k, v)| *k == p.name && !v.trim().is_empty())
        {
            return Err(OcfError::MissingParam {
                agent: agent.to_string(),
                param: p.name.clone(),
            });
        }
    }
    Ok(())
}

/// What an exit code means for an action.
pub fn map_exit(agent: &str, op: Op, code: i32) -> Result<(), AgentError> {
    let opname = ocf_action(op);
    match (op, code) {
        (_, 0) => Ok(()),
        (Op::Status, 7) => Err(AgentError::NotRunning),
        // Stopping what is stopped is a success (Pacemaker reads it the same way).
        (Op::Stop, 7) => Ok(()),
        (Op::Status, 190) => {
            tracing::warn!("{agent} monitor: running, degraded (exit 190)");
            Ok(())
        }
        (_, 8 | 9 | 191) => Err(OcfError::Promoted {
            agent: agent.to_string(),
            op: opname,
            code,
        }
        .into()),
        (_, code) => Err(AgentError::Failed {
            program: agent.to_string(),
            op: opname,
            code,
        }),
    }
}

/// The OCF action run for an operation.
pub fn ocf_action(op: Op) -> &'static str {
    match op {
        Op::Start => "start",
        Op::Stop => "stop",
        Op::Status => "monitor",
    }
}

fn valid_name(what: &'static str, v: &str) -> Result<(), OcfError> {
    let ok = !v.is_empty()
        && v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(OcfError::BadName {
            what,
            value: v.to_string(),
        })
    }
}

/// The `ocf` agent, with its cache of meta-data.
#[derive(Debug)]
pub struct OcfAgent {
    /// `OCF_ROOT` (tests may point it elsewhere).
    pub root: PathBuf,
    cache: Mutex<HashMap<PathBuf, (SystemTime, Arc<Meta>)>>,
}

impl Default for OcfAgent {
    fn default() -> Self {
        OcfAgent::with_root(OCF_AGENT_ROOT)
    }
}

impl OcfAgent {
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        OcfAgent {
            root: root.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `ocf:provider:type` and the agent's file.
    fn locate(&self, ctx: &OpContext) -> Result<(String, PathBuf), AgentError> {
        let kind = ctx.param("type").ok_or(AgentError::MissingParam("type"))?;
        let provider = ctx.param("provider").unwrap_or("heartbeat");
        valid_name("type", kind)?;
        valid_name("provider", provider)?;
        let path = self.root.join("resource.d").join(provider).join(kind);
        Ok((format!("ocf:{provider}:{kind}"), path))
    }

    fn base_env(&self, ctx: &OpContext) -> Vec<(String, String)> {
        let primary = ctx.resource.split_once(':').map_or("", |(_, p)| p);
        vec![
            ("OCF_ROOT".into(), self.root.to_string_lossy().into_owned()),
            ("OCF_RA_VERSION_MAJOR".into(), "1".into()),
            ("OCF_RA_VERSION_MINOR".into(), "0".into()),
            ("OCF_RESOURCE_INSTANCE".into(), primary.to_string()),
            (
                "OCF_RESOURCE_TYPE".into(),
                ctx.param("type").unwrap_or("").to_string(),
            ),
            (
                "OCF_RESOURCE_PROVIDER".into(),
                ctx.param("provider").unwrap_or("heartbeat").to_string(),
            ),
            ("PATH".into(), AGENT_PATH.into()),
        ]
    }

    /// The agent's meta-data, from the cache while its file is unchanged.
    pub fn meta(&self, name: &str, path: &Path, ctx: &OpContext) -> Result<Arc<Meta>, AgentError> {
        let stat = std::fs::metadata(path)
            .map_err(|_| OcfError::NotInstalled(format!("{name} ({})", path.display())))?;
        use std::os::unix::fs::PermissionsExt;
        if !stat.is_file() || stat.permissions().mode() & 0o111 == 0 {
            return Err(OcfError::NotExecutable(path.display().to_string()).into());
        }
        let mtime = stat.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if let Ok(cache) = self.cache.lock() {
            if let Some((t, m)) = cache.get(path) {
                if *t == mtime {
                    return Ok(m.clone());
                }
            }
        }
        let ran = run_command(
            path,
            &["meta-data"],
            &self.base_env(ctx),
            Some(META_DATA_TIMEOUT),
        )
        .map_err(|source| AgentError::Spawn {
            program: path.display().to_string(),
            source,
        })?;
        let meta = match &ran.exit {
            Exit::Code(0) => parse_metadata(name, &ran.stdout)?,
            other => {
                return Err(OcfError::MetaData {
                    agent: name.to_string(),
                    why: format!(
                        "the agent failed ({other:?}): {}",
                        super::exec::last_line(&ran)
                    ),
                }
                .into())
            }
        };
        let meta = Arc::new(meta);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(path.to_path_buf(), (mtime, meta.clone()));
        }
        Ok(meta)
    }

    fn act(&self, op: Op, ctx: &OpContext) -> Result<(), AgentError> {
        let (name, path) = self.locate(ctx)?;
        let meta = self.meta(&name, &path, ctx)?;
        let given = agent_params(&ctx.params);
        check_params(&name, &meta, &given)?;
        let action = ocf_action(op);
        // The agent's own limit, unless cluster.conf set one (or lifted them).
        let timeout = match (ctx.timeout, ctx.timeout_hint) {
            (None, _) => None,
            (Some(t), 0) => Some(
                meta.timeout(action, ctx.depth)
                    .map_or(t, Duration::from_secs),
            ),
            (Some(t), _) => Some(t),
        };
        let mut env = self.base_env(ctx);
        env.extend(
            given
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.clone())),
        );
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis()).to_string();
        env.push(("OCF_RESKEY_CRM_meta_timeout".into(), ms(timeout)));
        let interval = match op {
            Op::Status => Duration::from_secs(ctx.interval),
            _ => Duration::ZERO,
        };
        env.push(("OCF_RESKEY_CRM_meta_interval".into(), ms(Some(interval))));
        if op == Op::Status {
            env.push(("OCF_CHECK_LEVEL".into(), ctx.depth.to_string()));
        }
        tracing::debug!(service = %ctx.service, resource = %ctx.resource, "{} {action}", path.display());
        let ran =
            run_command(&path, &[action], &env, timeout).map_err(|source| AgentError::Spawn {
                program: path.display().to_string(),
                source,
            })?;
        for line in ran.stdout.lines().chain(ran.stderr.lines()) {
            if !line.trim().is_empty() {
                tracing::info!(service = %ctx.service, resource = %ctx.resource, op = action, "{line}");
            }
        }
        match ran.exit {
            Exit::Code(code) => map_exit(&name, op, code),
            Exit::Signal(signal) => Err(AgentError::Signalled {
                program: name,
                op: action,
                signal,
            }),
            Exit::TimedOut => Err(AgentError::Timeout {
                program: name,
                op: action,
                secs: timeout.map_or(0, |t| t.as_secs()),
            }),
        }
    }
}

impl Agent for OcfAgent {
    fn kind(&self) -> &'static str {
        "ocf"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        self.act(Op::Start, ctx)
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        self.act(Op::Stop, ctx)
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        self.act(Op::Status, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Demo" version="1.0">
<version>1.0</version>
<longdesc lang="en">A demo.</longdesc>
<shortdesc lang="en">Demo</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<longdesc lang="en">The address.</longdesc>
<shortdesc lang="en">IP</shortdesc>
<content type="string" default="" />
</parameter>
<parameter name="nic">
<content type="string"/>
</parameter>
<parameter name="count" reloadable="1">
<content type="integer" default="3"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s" />
<action name="stop" timeout="1m" />
<action name="monitor" depth="0" timeout="20s" interval="10s" />
<action name="monitor" depth="10" timeout="45" interval="60s" />
<action name="meta-data" timeout="5s" />
</actions>
</resource-agent>
"#;

    #[test]
    fn meta_data_is_read() {
        let m = parse_metadata("ocf:test:Demo", META).unwrap();
        assert_eq!(m.name, "Demo");
        assert_eq!(m.params.len(), 3);
        let ip = m.param("ip").unwrap();
        assert!(ip.required && ip.unique);
        assert_eq!(ip.default.as_deref(), Some(""));
        assert_eq!(m.param("count").unwrap().content_type, "integer");
        assert_eq!(m.param("count").unwrap().default.as_deref(), Some("3"));
        assert_eq!(m.timeout("start", 0), Some(20));
        assert_eq!(m.timeout("stop", 0), Some(60));
        assert_eq!(m.timeout("monitor", 0), Some(20));
        assert_eq!(m.timeout("monitor", 10), Some(45));
        // A depth the agent does not list takes the depth-0 timeout.
        assert_eq!(m.timeout("monitor", 20), Some(20));
        assert_eq!(m.timeout("promote", 0), None);
        let e = parse_metadata("x", "<other/>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x meta-data: root element is <other>, not <resource-agent>"
        );
        assert!(parse_metadata("x", "not xml <").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Some(20));
        assert_eq!(parse_duration("20"), Some(20));
        assert_eq!(parse_duration("2m"), Some(120));
        assert_eq!(parse_duration("1500ms"), Some(2));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }

    #[test]
    fn parameters_are_checked_against_the_meta_data() {
        let m = parse_metadata("ocf:test:Demo", META).unwrap();
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            agent_params(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        check_params(
            "ocf:test:Demo",
            &m,
            &given(&[("name", "vip"), ("type", "Demo"), ("ip", "10.0.0.1")]),
        )
        .unwrap();
        let e = check_params(
            "ocf:test:Demo",
            &m,
            &given(&[("ip", "1.2.3.4"), ("nci", "eth0")]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"nci\" is not a parameter of ocf:test:Demo (its parameters: ip, nic, count)"
        );
        let e =
            check_params("ocf:test:Demo", &m, &given(&[("nic", "eth0"), ("ip", " ")])).unwrap_err();
        assert_eq!(e.to_string(), "ocf:test:Demo requires the parameter \"ip\"");
    }

    #[test]
    fn exit_codes() {
        assert!(map_exit("a", Op::Start, 0).is_ok());
        assert!(matches!(
            map_exit("a", Op::Status, 7),
            Err(AgentError::NotRunning)
        ));
        assert!(map_exit("a", Op::Stop, 7).is_ok());
        assert!(matches!(
            map_exit("a", Op::Start, 7),
            Err(AgentError::Failed { code: 7, .. })
        ));
        for c in 1..=6 {
            assert!(matches!(
                map_exit("a", Op::Status, c),
                Err(AgentError::Failed { code, op: "monitor", .. }) if code == c
            ));
        }
        for c in [8, 9, 191] {
            let e = map_exit("a", Op::Status, c).unwrap_err();
            assert!(e.to_string().contains("promoted instance"), "{e}");
        }
        assert!(map_exit("a", Op::Status, 190).is_ok());
        assert!(map_exit("a", Op::Start, 42).is_err());
    }

    #[test]
    fn agent_names_cannot_leave_the_agent_directory() {
        for bad in ["../../bin/sh", "", "a/b", ".."] {
            assert!(valid_name("type", bad).is_err(), "{bad}");
        }
        valid_name("type", "IPaddr2").unwrap();
        valid_name("provider", "heartbeat").unwrap();
        valid_name("type", "LVM-activate").unwrap();
    }
}
