//! Shared harness of the multi-process daemon tests: `rgmanager` daemons as real processes on
//! 127.0.0.1, each with its own ports, state directory, admin socket and log; `clustat` and
//! `clusvcadm` run as the administrator runs them; test init scripts that record where a
//! service ran and refuse a second runner, so that every test can check the one rule that matters
//! most: a service never runs on two nodes at once.
//!
//! Everything polls until the expected state or a generous deadline (the machine is small and
//! shared); every process is killed by a drop guard, also when an assertion fails.
//!
//! Each test binary includes this module (`mod common;`) and uses part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod bmc;

/// How long a test waits for the cluster to reach a state before it fails.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// One daemon process.
pub struct Daemon {
    pub name: String,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
}

/// A test cluster: a temporary directory with the cluster key (`authkey`), a second key
/// (`wrongkey`), free ports for its nodes, and the daemons started so far. Dropping it kills
/// every daemon still running, whatever happened in the test.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub daemons: Vec<Daemon>,
    /// Membership port of node N+1 (the daemon channel uses the next port).
    pub ports: Vec<u16>,
    pub key: PathBuf,
    pub wrong_key: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            if let Some(mut c) = d.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Free port pairs on loopback (membership; daemon messages and sync on the next port).
pub fn port_pairs(n: usize) -> Vec<u16> {
    rgmanager::demo::ports::free_port_pairs(n).unwrap()
}

/// A test init script: records which node runs the service (the node name is read from the
/// parent daemon's command line), refuses a second runner, and "crashes" (fails its status
/// check) while `$svc.crashed` exists.
pub const SCRIPT: &str = r#"#!/bin/sh
dir="@DIR@"
svc="@SVC@"
node=$(tr '\0' '\n' < /proc/$PPID/cmdline | sed -n '/^--node$/{n;p;}')
case "$1" in
start)
    if [ -e "$dir/$svc.running" ]; then
        echo "DOUBLE $node while $(cat "$dir/$svc.running") runs it" >> "$dir/$svc.log"
        exit 1
    fi
    echo "$node" > "$dir/$svc.running"
    echo "start $node" >> "$dir/$svc.log"
    ;;
stop)
    if [ "$(cat "$dir/$svc.running" 2>/dev/null)" = "$node" ]; then
        rm -f "$dir/$svc.running" "$dir/$svc.crashed"
        echo "stop $node" >> "$dir/$svc.log"
    fi
    ;;
status)
    [ -e "$dir/$svc.crashed" ] && exit 1
    [ "$(cat "$dir/$svc.running" 2>/dev/null)" = "$node" ] || exit 3
    ;;
esac
exit 0
"#;

/// Writes the test init script of `svc` into `dir` and returns its path.
pub fn write_script(dir: &Path, svc: &str) -> PathBuf {
    let path = dir.join(format!("{svc}.sh"));
    let text = SCRIPT
        .replace("@DIR@", &dir.display().to_string())
        .replace("@SVC@", svc);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Like [`write_script`], but the script's stop fails (exit 1, the service left running)
/// while `$svc.stopfail` exists in `dir`.
pub fn write_script_failing_stop(dir: &Path, svc: &str) -> PathBuf {
    let path = write_script(dir, svc);
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "stop)\n",
        "stop)\n    [ -e \"$dir/$svc.stopfail\" ] && exit 1\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A service's `flags` in `clustat --json` contain `flag` (`frozen`, `partial`).
pub fn has_flag(v: &Value, svc: &str, flag: &str) -> bool {
    service(v, svc).is_some_and(|s| {
        s["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == flag))
    })
}

/// A service's state in `clustat --json`.
pub fn state_of(v: &Value, svc: &str) -> String {
    service(v, svc)
        .and_then(|s| s["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

impl Cluster {
    /// A directory with keys and `nodes` port pairs; no configuration, no daemon.
    pub fn new(nodes: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = port_pairs(nodes);
        let key = dir.path().join("authkey");
        rgmanager::membership::key::generate(&key, 32, false).unwrap();
        let wrong_key = dir.path().join("wrongkey");
        rgmanager::membership::key::generate(&wrong_key, 32, false).unwrap();
        Cluster {
            dir,
            daemons: Vec::new(),
            ports,
            key,
            wrong_key,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The test init script of `svc` in the cluster's directory.
    pub fn script(&self, svc: &str) -> PathBuf {
        write_script(self.dir.path(), svc)
    }

    /// The test init script of `svc`, whose stop fails while `$svc.stopfail` exists.
    pub fn script_failing_stop(&self, svc: &str) -> PathBuf {
        write_script_failing_stop(self.dir.path(), svc)
    }

    /// `<clusternode>` elements for node1..nodeN on their loopback ports, each with the inner
    /// XML `inner(n)` returns (fence methods, say; `""` for none).
    pub fn nodes_xml(&self, inner: impl Fn(usize) -> String) -> String {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let n = i + 1;
                let body = inner(n);
                let attrs = format!(
                    "name=\"node{n}\" nodeid=\"{n}\" rgm_addr=\"127.0.0.1\" rgm_port=\"{p}\""
                );
                if body.is_empty() {
                    format!("    <clusternode {attrs}/>\n")
                } else {
                    format!("    <clusternode {attrs}>\n{body}    </clusternode>\n")
                }
            })
            .collect()
    }

    /// Writes `cluster.conf` (the file every daemon is started with unless told otherwise).
    pub fn write_conf(&self, text: &str) -> PathBuf {
        let path = self.path("cluster.conf");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The cluster.conf of node `name` when each node has its own (`NAME.conf`).
    pub fn node_conf(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.conf"))
    }

    /// Starts `name` with its own file ([`Cluster::node_conf`]) and the cluster key.
    pub fn start_own(&mut self, name: &str) {
        let conf = self.node_conf(name);
        let key = self.key.clone();
        self.start_with(name, &conf, &key);
    }

    /// `ccs_sync ARGS` against `node`'s daemon: exit status, stdout, stderr.
    pub fn ccs_sync(&mut self, node: &str, args: &[&str]) -> (i32, String, String) {
        let socket = self.daemon(node).socket.clone();
        let out = Command::new(env!("CARGO_BIN_EXE_ccs_sync"))
            .args(args)
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Pushes `text` (written to a file of its own) with `ccs_sync -f` from `node`.
    pub fn push(&mut self, node: &str, text: &str) -> (i32, String, String) {
        let f = self.path("push.conf");
        std::fs::write(&f, text).unwrap();
        let f = f.display().to_string();
        self.ccs_sync(node, &["-f", &f])
    }

    /// Starts `name` with the shared `cluster.conf` and the cluster key.
    pub fn start(&mut self, name: &str) {
        let conf = self.path("cluster.conf");
        let key = self.key.clone();
        self.start_with(name, &conf, &key);
    }

    /// Starts `name` with the given configuration file and key (a restarted node replaces its
    /// old entry; its log is appended to).
    pub fn start_with(&mut self, name: &str, conf: &Path, key: &Path) {
        self.start_env(name, conf, key, &[]);
    }

    /// As [`Cluster::start_with`], with environment variables for the daemon.
    pub fn start_env(&mut self, name: &str, conf: &Path, key: &Path, env: &[(&str, &str)]) {
        let socket = self.path(&format!("{name}.sock"));
        let log = self.path(&format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rgmanager"))
            .env("RGMANAGER_LOG", "stderr")
            .envs(env.iter().copied())
            .arg("-F")
            .arg("-f")
            .arg(conf)
            .args(["--node", name])
            .arg("--state-dir")
            .arg(self.path(&format!("{name}.state")))
            .arg("--socket")
            .arg(&socket)
            .arg("--key")
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        if let Some(old) = self.daemons.iter_mut().find(|d| d.name == name) {
            if let Some(mut c) = old.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            old.child = Some(child);
            return;
        }
        self.daemons.push(Daemon {
            name: name.to_string(),
            socket,
            log,
            child: Some(child),
        });
    }

    pub fn daemon(&mut self, name: &str) -> &mut Daemon {
        self.daemons.iter_mut().find(|d| d.name == name).unwrap()
    }

    /// The daemon's process id (it must be running).
    pub fn pid(&mut self, name: &str) -> i32 {
        self.daemon(name).child.as_ref().unwrap().id() as i32
    }

    /// Sends `sig` to the daemon of `name`.
    pub fn signal(&mut self, name: &str, sig: libc::c_int) {
        let pid = self.pid(name);
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// SIGKILL: the daemon dies without a goodbye; reaped at once.
    pub fn kill9(&mut self, name: &str) {
        if let Some(mut c) = self.daemon(name).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_of(&mut self, name: &str) -> String {
        let path = self.daemon(name).log.clone();
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// `clusvcadm ARGS` on a node: exit status and stdout followed by stderr.
    pub fn clusvcadm(&mut self, name: &str, args: &[&str]) -> (i32, String) {
        let socket = self.daemon(name).socket.clone();
        let out = Command::new(env!("CARGO_BIN_EXE_clusvcadm"))
            .args(args)
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// `clustat ARGS` on a node: exit status and stdout followed by stderr.
    pub fn clustat_args(&mut self, name: &str, args: &[&str]) -> (i32, String) {
        let socket = self.daemon(name).socket.clone();
        let out = Command::new(env!("CARGO_BIN_EXE_clustat"))
            .args(args)
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// The marker log of a service (`start NODE` / `stop NODE` lines).
    pub fn markers(&self, svc: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{svc}.log"))).unwrap_or_default()
    }

    /// `clustat --json` on a node; `None` while its daemon does not answer.
    pub fn clustat(&mut self, name: &str) -> Option<Value> {
        let (code, out) = self.clustat_args(name, &["--json"]);
        if code != 0 {
            return None;
        }
        serde_json::from_str(&out).ok()
    }

    /// Every daemon's log and every marker log, for a failure message.
    pub fn dump(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                if p.extension().is_some_and(|e| e == "log") {
                    text += &format!(
                        "--- {} ---\n{}\n",
                        p.file_name().unwrap_or_default().to_string_lossy(),
                        std::fs::read_to_string(&p).unwrap_or_default()
                    );
                }
            }
        }
        text
    }

    /// Polls `clustat --json` on every node of `nodes` until `want` holds on all of them.
    pub fn wait_for(&mut self, nodes: &[&str], what: &str, want: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut last = Vec::new();
            let mut all = true;
            for n in nodes {
                let v = self.clustat(n);
                all &= v.as_ref().is_some_and(&want);
                last.push((n.to_string(), v));
            }
            if all {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last clustat: {last:#?}\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Polls until `want` holds for `hold` without a break, checking it every 200 ms; fails
    /// the test as soon as it does not. For "nothing happens" assertions (no takeover while
    /// fencing fails, say).
    pub fn holds_for(
        &mut self,
        nodes: &[&str],
        what: &str,
        hold: Duration,
        want: impl Fn(&Value) -> bool,
    ) {
        let until = Instant::now() + hold;
        while Instant::now() < until {
            for n in nodes {
                let v = self.clustat(n);
                if !v.as_ref().is_some_and(&want) {
                    panic!("{what} broke on {n}: {v:#?}\n{}", self.dump());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the daemon `name` exits by itself (`why` says what should make it) and
    /// returns its status; the daemon is then no longer killed on drop.
    pub fn wait_exit(&mut self, name: &str, why: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self
                .daemon(name)
                .child
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
            {
                break s;
            }
            assert!(Instant::now() < deadline, "{name} did not exit {why}");
            std::thread::sleep(Duration::from_millis(200));
        };
        self.daemon(name).child = None;
        status
    }

    /// SIGTERM to a daemon; waits for its clean exit and checks its goodbye lines.
    pub fn terminate(&mut self, name: &str) {
        self.signal(name, libc::SIGTERM);
        let status = self.wait_exit(name, "after SIGTERM");
        let log = self.log_of(name);
        assert!(status.success(), "{name} exited with {status}:\n{log}");
        assert!(log.contains("Shutting down"), "{log}");
        assert!(log.contains("Shutdown complete, exiting"), "{log}");
    }
}

/// Waits until `text` appears in the log of `node`.
pub fn wait_log(c: &mut Cluster, node: &str, text: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !c.log_of(node).contains(text) {
        assert!(
            Instant::now() < deadline,
            "{node} never logged {text:?}:\n{}",
            c.dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["members"].as_array()?.iter().find(|m| m["name"] == name)
}

pub fn online(v: &Value, name: &str) -> bool {
    member(v, name).is_some_and(|m| m["online"] == true && m["rgmanager"] == true)
}

pub fn service<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["services"].as_array()?.iter().find(|s| s["name"] == name)
}

pub fn started_on(v: &Value, svc: &str, node: &str) -> bool {
    service(v, svc).is_some_and(|s| s["state"] == "started" && s["owner"] == node)
}

/// The marker log of a service never shows two runners: starts and stops alternate, each stop
/// by the node that started (or an `off NODE` line: the node was powered off). Returns the node running it now, if any.
pub fn never_double(c: &Cluster, svc: &str) -> Option<String> {
    let log = c.markers(svc);
    assert!(!log.contains("DOUBLE"), "{svc} ran on two nodes:\n{log}");
    let mut running: Option<&str> = None;
    for line in log.lines() {
        match line.split_once(' ') {
            Some(("start", n)) => {
                assert!(running.is_none(), "{svc}: start while running:\n{log}");
                running = Some(n);
            }
            Some(("stop", n)) => {
                assert_eq!(running, Some(n), "{svc}: stop by a non-runner:\n{log}");
                running = None;
            }
            // Written by a test's fence device when it powers node `n` off: whatever ran
            // there is gone (the device removes `$svc.running` when `n` held it).
            Some(("off", n)) => {
                if running == Some(n) {
                    running = None;
                }
            }
            _ => panic!("{svc}: unexpected marker line {line:?}"),
        }
    }
    running.map(str::to_string)
}

/// The marker log of a service: never two runners, and the last start is on `node`, which runs
/// it now.
pub fn check_markers(c: &Cluster, svc: &str, node: &str) {
    let running = never_double(c, svc);
    assert_eq!(running.as_deref(), Some(node), "{svc}:\n{}", c.markers(svc));
    let now = std::fs::read_to_string(c.path(&format!("{svc}.running"))).unwrap();
    assert_eq!(now.trim(), node);
}

/// `fence_ack_manual NODE` on `on`'s daemon with `answer` on its standard input: exit status
/// and output.
pub fn fence_ack_manual(c: &mut Cluster, on: &str, node: &str, answer: &str) -> (i32, String) {
    use std::io::Write as _;
    let socket = c.daemon(on).socket.clone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fence_ack_manual"))
        .arg(node)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}
