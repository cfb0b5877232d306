//! `nfsexport` and `nfsclient`: an NFS export of a service, rgmanager's `nfsexport.sh` and
//! `nfsclient.sh`. The classic NFS service is
//! `<fs mountpoint="/srv/data" fsid="9"><nfsexport name="exp"><nfsclient name="lan"
//! target="10.0.0.0/24" options="rw"/></nfsexport></fs>` with an `ip` beside it: the export
//! inherits its path (and device, fsid) from the file system above it, each client its path and
//! fsid from the export (the rules table's `inherit`).
//!
//! - nfsexport holds no state of its own: start and status check that the NFS server runs on
//!   this node (the kernel's nfsd threads and `rpc.mountd`); start tries to start it when it
//!   does not (`systemctl start nfs-server`, else the init script, as nfsexport.sh ran
//!   `service nfs start`) and fails if it still does not run. Stop is a success (the server is
//!   the node's, shared by every export; nfsexport.sh restarted it on stop, which dropped every
//!   other service's clients for a moment).
//! - nfsclient exports the path to its `target` with `exportfs -i -o OPTIONS target:path`
//!   (the kernel's export table, through nfs-utils; the options checked against
//!   nfsclient.sh's list first; `fsid` from the file system prepended unless the options carry
//!   their own), removes it with `exportfs -u`, and its status is whether `exportfs -v` lists
//!   the path for the target (`*` is listed as `<world>`). A client that is not exported is
//!   stopped already.

use super::agent::{Agent, AgentError, OpContext};
use super::exec::{self, CmdError, Deadline};

#[derive(Debug, thiserror::Error)]
pub enum NfsError {
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("export option {0} is invalid")]
    BadOption(String),
    #[error(
        "NFS server is not running on this node ({missing} missing) and could not be started{why}"
    )]
    ServerDown { missing: String, why: String },
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<NfsError> for AgentError {
    fn from(e: NfsError) -> Self {
        AgentError::Nfs(e)
    }
}

/// nfsclient.sh's accepted export options (`fsid=` among them).
pub fn check_options(options: &str) -> Result<(), NfsError> {
    const WORDS: &[&str] = &[
        "secure",
        "insecure",
        "rw",
        "ro",
        "async",
        "sync",
        "wdelay",
        "no_wdelay",
        "hide",
        "nohide",
        "subtree_check",
        "no_subtree_check",
        "secure_locks",
        "insecure_locks",
        "auth_nlm",
        "no_auth_nlm",
        "root_squash",
        "no_root_squash",
        "all_squash",
        "no_all_squash",
    ];
    const KEYED: &[&str] = &[
        "fsid=",
        "sec=",
        "mountpoint=",
        "mp=",
        "anonuid=",
        "anongid=",
    ];
    for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !WORDS.contains(&o) && !KEYED.iter().any(|k| o.starts_with(k)) {
            return Err(NfsError::BadOption(o.to_string()));
        }
    }
    Ok(())
}

/// The `-o` string: `fsid` (inherited) first, unless the options hold their own `fsid=`.
pub fn option_string(options: Option<&str>, fsid: Option<&str>) -> Option<String> {
    let options = options.map(str::trim).filter(|o| !o.is_empty());
    let own_fsid = options.is_some_and(|o| o.split(',').any(|x| x.trim().starts_with("fsid=")));
    let fsid = fsid.map(str::trim).filter(|f| !f.is_empty() && !own_fsid);
    match (fsid, options) {
        (None, None) => None,
        (Some(f), None) => Some(format!("fsid={f}")),
        (None, Some(o)) => Some(o.to_string()),
        (Some(f), Some(o)) => Some(format!("fsid={f},{o}")),
    }
}

/// One export of `exportfs -v`: path, client, options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub path: String,
    pub client: String,
    pub options: String,
}

/// Reads `exportfs -v`: `path<TAB>client(options)`, where a long path stands alone on its
/// line and its clients follow on indented lines.
pub fn parse_exportfs(text: &str) -> Vec<Export> {
    let mut out = Vec::new();
    let mut path = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let rest = if line.starts_with(char::is_whitespace) {
            line.trim()
        } else {
            let mut it = line.splitn(2, char::is_whitespace);
            path = it.next().unwrap_or("").to_string();
            it.next().unwrap_or("").trim()
        };
        if rest.is_empty() {
            continue;
        }
        let (client, options) = match rest.split_once('(') {
            Some((c, o)) => (c.trim(), o.trim_end_matches(')')),
            None => (rest, ""),
        };
        out.push(Export {
            path: path.clone(),
            client: client.to_string(),
            options: options.to_string(),
        });
    }
    out
}

/// Whether `exports` hold `path` for `target` (`*` is `<world>` there).
pub fn is_exported(exports: &[Export], path: &str, target: &str) -> bool {
    let path = path.trim_end_matches('/');
    let target = if target == "*" { "<world>" } else { target };
    exports
        .iter()
        .any(|e| e.path.trim_end_matches('/') == path && e.client.eq_ignore_ascii_case(target))
}

/// What of the NFS server is missing, from the process names (`comm`) on this node.
pub fn server_missing(comms: &[String]) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !comms.iter().any(|c| c == "nfsd") {
        missing.push("nfsd");
    }
    if !comms.iter().any(|c| c == "rpc.mountd") {
        missing.push("rpc.mountd");
    }
    missing
}

fn process_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect()
}

/// The `nfsexport` agent.
#[derive(Debug, Default)]
pub struct NfsExportAgent;

impl NfsExportAgent {
    fn verify_path(ctx: &OpContext) -> Result<(), AgentError> {
        let path = ctx.param("path").ok_or(AgentError::MissingParam("path"))?;
        if !std::path::Path::new(path).is_dir() {
            return Err(NfsError::NotADirectory(path.to_string()).into());
        }
        Ok(())
    }
}

impl Agent for NfsExportAgent {
    fn kind(&self) -> &'static str {
        "nfsexport"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        Self::verify_path(ctx)?;
        if server_missing(&process_names()).is_empty() {
            return Ok(());
        }
        tracing::error!(service = %ctx.service, resource = %ctx.resource, "Restarting NFS daemons");
        let dl = Deadline::of(ctx);
        let env = exec::base_env();
        let tried = if std::path::Path::new("/run/systemd/system").is_dir() {
            exec::check(&dl, &env, "systemctl", &["start", "nfs-server.service"])
        } else if std::path::Path::new("/etc/init.d/nfs-kernel-server").exists() {
            exec::check(&dl, &env, "/etc/init.d/nfs-kernel-server", &["start"])
        } else {
            exec::check(&dl, &env, "/etc/init.d/nfs", &["start"])
        };
        let missing = server_missing(&process_names());
        if missing.is_empty() {
            tracing::info!(service = %ctx.service, resource = %ctx.resource, "Successfully restarted NFS daemons");
            return Ok(());
        }
        Err(NfsError::ServerDown {
            missing: missing.join(", "),
            why: match tried {
                Err(e) => format!(": {e}"),
                Ok(_) => String::new(),
            },
        }
        .into())
    }

    fn stop(&self, _ctx: &OpContext) -> Result<(), AgentError> {
        Ok(())
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let missing = server_missing(&process_names());
        if missing.is_empty() {
            return Ok(());
        }
        tracing::error!(service = %ctx.service, resource = %ctx.resource,
            "NFS daemon {} is not running.", missing.join(", "));
        Err(AgentError::NotRunning)
    }
}

/// The `nfsclient` agent.
#[derive(Debug, Default)]
pub struct NfsClientAgent;

struct Client {
    target: String,
    path: String,
    options: Option<String>,
}

impl Client {
    fn from_ctx(ctx: &OpContext) -> Result<Client, AgentError> {
        let target = ctx
            .param("target")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AgentError::MissingParam("target"))?;
        let path = ctx
            .param("path")
            .map(|p| p.trim().trim_end_matches('/'))
            .filter(|p| !p.is_empty())
            .ok_or(AgentError::MissingParam("path"))?;
        if !std::path::Path::new(path).is_dir() {
            return Err(NfsError::NotADirectory(path.to_string()).into());
        }
        if let Some(o) = ctx.param("options") {
            check_options(o)?;
        }
        Ok(Client {
            target: target.to_string(),
            path: path.to_string(),
            options: option_string(ctx.param("options"), ctx.param("fsid")),
        })
    }

    fn spec(&self) -> String {
        format!("{}:{}", self.target, self.path)
    }
}

fn exports(dl: &Deadline) -> Result<Vec<Export>, NfsError> {
    let ran = exec::check(dl, &exec::base_env(), "exportfs", &["-v"])?;
    Ok(parse_exportfs(&ran.stdout))
}

impl Agent for NfsClientAgent {
    fn kind(&self) -> &'static str {
        "nfsclient"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let c = Client::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        let spec = c.spec();
        let mut args = vec!["-i"];
        match &c.options {
            Some(o) => {
                tracing::info!(service = %ctx.service, resource = %ctx.resource, "Adding export: {spec} ({o})");
                args.extend(["-o", o.as_str()]);
            }
            None => {
                tracing::info!(service = %ctx.service, resource = %ctx.resource, "Adding export: {spec}")
            }
        }
        args.push(&spec);
        exec::check(&dl, &exec::base_env(), "exportfs", &args).map_err(NfsError::from)?;
        Ok(())
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let c = Client::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        if !is_exported(&exports(&dl)?, &c.path, &c.target) {
            return Ok(());
        }
        let spec = c.spec();
        tracing::info!(service = %ctx.service, resource = %ctx.resource, "Removing export: {spec}");
        exec::check(&dl, &exec::base_env(), "exportfs", &["-u", &spec]).map_err(NfsError::from)?;
        Ok(())
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let c = Client::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        if is_exported(&exports(&dl)?, &c.path, &c.target) {
            return Ok(());
        }
        tracing::error!(service = %ctx.service, resource = %ctx.resource, "nfsclient:{} is missing!",
            ctx.param("name").unwrap_or(""));
        Err(AgentError::NotRunning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_nfsclient_sh_checked_and_built_them() {
        check_options("rw,sync,no_root_squash,fsid=3,anonuid=99,sec=krb5").unwrap();
        let e = check_options("rw,bogus").unwrap_err();
        assert_eq!(e.to_string(), "export option bogus is invalid");
        assert_eq!(option_string(None, None), None);
        assert_eq!(option_string(None, Some("9")).as_deref(), Some("fsid=9"));
        assert_eq!(option_string(Some("rw"), None).as_deref(), Some("rw"));
        assert_eq!(
            option_string(Some("rw,sync"), Some("9")).as_deref(),
            Some("fsid=9,rw,sync")
        );
        // The options' own fsid wins over the inherited one.
        assert_eq!(
            option_string(Some("fsid=4,rw"), Some("9")).as_deref(),
            Some("fsid=4,rw")
        );
    }

    #[test]
    fn exportfs_listing() {
        let text = "/srv/data\t10.0.0.0/24(sync,wdelay,hide,no_subtree_check,fsid=7,sec=sys,rw,root_squash)\n\
            /srv/a/very/long/path/that/wraps\n\t\t<world>(ro,sync)\n\
            /srv/data\tclient1.example.com(rw)\n";
        let e = parse_exportfs(text);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].path, "/srv/data");
        assert_eq!(e[0].client, "10.0.0.0/24");
        assert!(e[0].options.contains("fsid=7"));
        assert_eq!(e[1].path, "/srv/a/very/long/path/that/wraps");
        assert_eq!(e[1].client, "<world>");
        assert!(is_exported(&e, "/srv/data/", "10.0.0.0/24"));
        assert!(is_exported(&e, "/srv/a/very/long/path/that/wraps", "*"));
        assert!(is_exported(&e, "/srv/data", "CLIENT1.example.com"));
        assert!(!is_exported(&e, "/srv/data", "10.0.1.0/24"));
        assert!(!is_exported(&e, "/srv", "10.0.0.0/24"));
    }

    #[test]
    fn the_server_needs_nfsd_and_mountd() {
        let n = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(server_missing(&n(&["nfsd", "nfsd", "rpc.mountd", "bash"])).is_empty());
        assert_eq!(server_missing(&n(&["rpc.mountd"])), ["nfsd"]);
        assert_eq!(server_missing(&n(&[])), ["nfsd", "rpc.mountd"]);
    }
}
