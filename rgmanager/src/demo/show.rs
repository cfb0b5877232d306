//! The demo's I/O: a scratch directory, three node daemons (this program re-executed), the
//! simulated APC switch that powers them, the narrative, and tearing everything down.
//!
//! Everything the show waits for is polled from a node's admin socket with a generous deadline
//! (a newcomer's machine may be busy building). Every daemon is killed whatever happens: by
//! [`Lab`]'s drop (an error, a panic), on Ctrl-C (a signal handler sets a flag the loop reads;
//! the daemons run in their own process group, so the terminal's Ctrl-C reaches only the demo,
//! which stops them in order), and by the kernel if the demo itself is killed
//! (`PR_SET_PDEATHSIG`). Daemons are only ever spawned from the main thread, because that
//! signal follows the spawning thread.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fence::apc_sim;

use super::setup;
use super::{DemoError, DAEMON_ARG, SAMPLE};
use crate::admin::{self, Request, Response};
use crate::clustat::{self, Status};

/// How long the show waits for the cluster to reach a state.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long a powered-on node takes to boot (start its daemon).
const BOOT: Duration = Duration::from_secs(3);
/// How long a daemon has to leave cleanly after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Between two polls of the cluster.
const TICK: Duration = Duration::from_millis(200);
/// The demo's nodes, in cluster.conf order; outlet N of the switch powers node N.
const NODES: [&str; 3] = ["node1", "node2", "node3"];

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do here.
    STOP.store(true, Ordering::SeqCst);
}

fn install_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
    }
}

/// One simulated machine: its daemon process while it is powered and booted.
struct Node {
    name: &'static str,
    socket: PathBuf,
    log: PathBuf,
    state_dir: PathBuf,
    child: Option<Child>,
    /// Frozen by the show (SIGSTOP): it can only be killed.
    frozen: bool,
    /// Powered on and waiting to boot at this instant.
    boot_at: Option<Instant>,
}

/// What the switch's hook tells the show.
struct Shared {
    nodes: Vec<Node>,
    /// Lines to print, from the switch's threads.
    news: VecDeque<String>,
}

/// The running demo: scratch directory, nodes, switch. Dropping it kills every daemon.
struct Lab {
    dir: tempfile::TempDir,
    exe: PathBuf,
    conf: PathBuf,
    key: PathBuf,
    secret: String,
    shared: Arc<Mutex<Shared>>,
    /// How far each node's log has been shown.
    shown: Vec<(u64, String)>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let mut sh = lock(&self.shared);
        for n in &mut sh.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Three free port pairs on loopback (membership, daemon messages and sync).
fn port_pairs() -> Result<[u16; 3], DemoError> {
    let p = super::ports::free_port_pairs(3).map_err(DemoError::io(
        "cannot find free ports",
        Path::new("127.0.0.1"),
    ))?;
    Ok([p[0], p[1], p[2]])
}

/// The switch's hook: outlet off kills the node's daemon (SIGKILL: the power is gone) and
/// closes the service's marker if the node held it; outlet on boots the node after [`BOOT`].
fn power_hook(shared: Arc<Mutex<Shared>>, dir: PathBuf) -> apc_sim::Hook {
    Arc::new(move |outlet, on| {
        let mut sh = lock(&shared);
        let Some(node) = outlet.checked_sub(1).and_then(|i| sh.nodes.get_mut(i)) else {
            return;
        };
        let name = node.name;
        let line = if on {
            node.boot_at = Some(Instant::now() + BOOT);
            format!(
                "outlet {outlet} on: {name} is powered again and boots ({} s)",
                BOOT.as_secs()
            )
        } else {
            node.boot_at = None;
            node.frozen = false;
            let killed = match node.child.take() {
                Some(mut c) => {
                    let pid = c.id();
                    let _ = c.kill();
                    let _ = c.wait();
                    format!("its daemon (pid {pid}) is killed")
                }
                None => "it was already down".to_string(),
            };
            // The power is gone, so is whatever the node ran: close its marker.
            let running = dir.join("web.running");
            if std::fs::read_to_string(&running).is_ok_and(|r| r.trim() == name) {
                let _ = std::fs::remove_file(&running);
                if let Ok(mut f) = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("web.log"))
                {
                    let _ = writeln!(f, "off {name}");
                }
            }
            format!("outlet {outlet} off: {name} loses power, {killed}")
        };
        sh.news
            .push_back(setup::demo_line("switch", &clock(), &line));
    })
}

impl Lab {
    fn new() -> Result<(Lab, u16), DemoError> {
        let exe = std::env::current_exe().map_err(DemoError::Exe)?;
        let dir = tempfile::Builder::new()
            .prefix("rgmanager-demo.")
            .tempdir()
            .map_err(DemoError::io("cannot create", &std::env::temp_dir()))?;
        let root = dir.path().to_path_buf();
        let key = root.join("authkey");
        crate::membership::key::generate(&key, 32, false)?;
        let script = root.join("web.sh");
        std::fs::write(&script, setup::script_text(&root))
            .map_err(DemoError::io("cannot write", &script))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(DemoError::io("cannot chmod", &script))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(DemoError::io("cannot listen on", Path::new("127.0.0.1")))?;
        let pdu_port = listener
            .local_addr()
            .map_err(DemoError::io("cannot listen on", Path::new("127.0.0.1")))?
            .port();
        let text = setup::localize(SAMPLE, &port_pairs()?, pdu_port, &script)?;
        let conf_path = root.join("cluster.conf");
        std::fs::write(&conf_path, &text).map_err(DemoError::io("cannot write", &conf_path))?;
        let conf = ccs::check_str(&text)
            .conf
            .ok_or_else(|| DemoError::Sample("does not load".into()))?;
        let pdu = conf
            .fence_device("pdu")
            .ok_or_else(|| DemoError::Sample("no fencedevice \"pdu\"".into()))?;
        let attr = |k: &str| pdu.attrs.get(k).unwrap_or("").to_string();
        let (user, secret) = (attr("login"), attr("passwd"));

        let nodes = NODES
            .iter()
            .map(|name| Node {
                name,
                socket: root.join(format!("{name}.sock")),
                log: root.join(format!("{name}.log")),
                state_dir: root.join(format!("{name}.state")),
                child: None,
                frozen: false,
                boot_at: None,
            })
            .collect();
        let shared = Arc::new(Mutex::new(Shared {
            nodes,
            news: VecDeque::new(),
        }));
        let cfg = apc_sim::Config {
            dialect: apc_sim::Dialect::V6,
            user,
            password: secret.clone(),
            outlets: 8,
            state_file: None,
        };
        let hook = power_hook(shared.clone(), root.clone());
        std::thread::Builder::new()
            .name("apc-switch".into())
            .spawn(move || apc_sim::serve_with(listener, cfg, apc_sim::outlets(8), Some(hook)))
            .map_err(DemoError::io("cannot start the switch thread", &root))?;
        let lab = Lab {
            dir,
            exe,
            conf: conf_path,
            key,
            secret,
            shared,
            shown: NODES.iter().map(|_| (0, String::new())).collect(),
        };
        Ok((lab, pdu_port))
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts node `i`'s daemon (main thread only: see the module comment).
    fn boot(&self, sh: &mut Shared, i: usize) -> Result<(), DemoError> {
        let node = &mut sh.nodes[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(DemoError::io("cannot open", &node.log))?;
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = Command::new(&self.exe);
        // Three daemons on one machine: their logs stay on standard error (the demo shows
        // them), not in this machine's syslog and /var/log/cluster.
        cmd.env("RGMANAGER_LOG", "stderr");
        cmd.arg(DAEMON_ARG)
            .arg("-F")
            .arg("-f")
            .arg(&self.conf)
            .args(["--node", node.name])
            .arg("--state-dir")
            .arg(&node.state_dir)
            .arg("--socket")
            .arg(&node.socket)
            .arg("--key")
            .arg(&self.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, _exit).
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(DemoError::io("cannot start", &self.exe))?;
        node.child = Some(child);
        node.boot_at = None;
        node.frozen = false;
        Ok(())
    }

    /// One step of the show's loop: the switch's news, nodes due to boot, new log lines.
    fn tick(&mut self) -> Result<(), DemoError> {
        let mut out = Vec::new();
        {
            let shared = self.shared.clone();
            let mut sh = lock(&shared);
            out.extend(sh.news.drain(..));
            let now = Instant::now();
            for i in 0..sh.nodes.len() {
                if sh.nodes[i].boot_at.is_some_and(|t| t <= now) {
                    let name = sh.nodes[i].name;
                    self.boot(&mut sh, i)?;
                    let pid = sh.nodes[i].child.as_ref().map(|c| c.id()).unwrap_or(0);
                    out.push(setup::demo_line(
                        "demo",
                        &clock(),
                        &format!("{name} booted: its daemon (pid {pid}) starts"),
                    ));
                }
            }
        }
        for (i, name) in NODES.iter().enumerate() {
            let log = self.path().join(format!("{name}.log"));
            let (offset, partial) = &mut self.shown[i];
            let Ok(mut f) = std::fs::File::open(&log) else {
                continue;
            };
            if f.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut buf = Vec::new();
            if let Ok(n) = f.read_to_end(&mut buf) {
                *offset += n as u64;
                partial.push_str(&String::from_utf8_lossy(&buf));
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    if let Some(l) = setup::log_line(name, line.trim_end(), &self.secret) {
                        out.push(l);
                    }
                }
            }
        }
        // One tick gathers several logs: in time order they tell the story.
        out.sort_by(|a, b| setup::line_time(a).cmp(setup::line_time(b)));
        for l in out {
            println!("{l}");
        }
        let _ = std::io::stdout().flush();
        if STOP.load(Ordering::SeqCst) {
            return Err(DemoError::Interrupted);
        }
        Ok(())
    }

    fn socket(&self, node: &str) -> PathBuf {
        self.path().join(format!("{node}.sock"))
    }

    /// The status as `node` sees it; `None` while it does not answer.
    fn status(&self, node: &str) -> Option<Status> {
        match admin::query(&self.socket(node), &Request::Status, Duration::from_secs(2)) {
            Ok(Response::Status { status }) => Some(status),
            _ => None,
        }
    }

    /// Ticks until `want` holds for the status `node` answers; the last status.
    fn wait_for(
        &mut self,
        node: &str,
        what: &str,
        want: impl Fn(&Status) -> bool,
    ) -> Result<Status, DemoError> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.tick()?;
            if let Some(st) = self.status(node).filter(|s| want(s)) {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return Err(DemoError::Timeout {
                    what: what.to_string(),
                    secs: PATIENCE.as_secs(),
                });
            }
            std::thread::sleep(TICK);
        }
    }

    fn pid(&self, node: &str) -> Option<u32> {
        let sh = lock(&self.shared);
        sh.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.child.as_ref())
            .map(|c| c.id())
    }

    fn freeze(&self, node: &str) -> Option<u32> {
        let mut sh = lock(&self.shared);
        let n = sh.nodes.iter_mut().find(|n| n.name == node)?;
        let pid = n.child.as_ref()?.id();
        // SAFETY: a plain kill(2) of our own child, not yet reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGSTOP);
        }
        n.frozen = true;
        Some(pid)
    }

    /// SIGTERM to every daemon (a frozen one is killed), then SIGKILL to any still running after
    /// [`STOP_GRACE`].
    fn stop_all(&mut self) {
        let mut sh = lock(&self.shared);
        for n in &mut sh.nodes {
            n.boot_at = None;
            if let Some(c) = &mut n.child {
                let sig = if n.frozen {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                // SAFETY: a plain kill(2) of our own child, not yet reaped.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, sig);
                }
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for n in &mut sh.nodes {
            if let Some(mut c) = n.child.take() {
                loop {
                    match c.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() > deadline => {
                            let _ = c.kill();
                            let _ = c.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            }
        }
    }

    /// The service's init script log: where it started and stopped, and power cuts.
    fn markers(&self) -> String {
        std::fs::read_to_string(self.path().join("web.log")).unwrap_or_default()
    }
}

/// The time of day in UTC as the daemons' logs print it, `HH:MM:SS.mmm`.
fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        now.subsec_millis()
    )
}

fn print_clustat(title: &str, st: &Status) {
    let view = clustat::View {
        cols: 80,
        ..Default::default()
    };
    println!("\n$ clustat    # {title}");
    print!("{}", clustat::text(st, &view).0);
    println!();
    let _ = std::io::stdout().flush();
}

fn say(text: &str) {
    println!("\n{text}");
    let _ = std::io::stdout().flush();
}

/// `demo` and `demo --exit`: the exit status.
pub fn run(exit_after: bool) -> u8 {
    install_signals();
    match show(exit_after) {
        Ok(()) => 0,
        Err(DemoError::Interrupted) => {
            println!("\nInterrupted: the cluster is stopped and its scratch directory removed.");
            130
        }
        Err(e) => {
            eprintln!("demo: {e}");
            1
        }
    }
}

fn show(exit_after: bool) -> Result<(), DemoError> {
    let started = Instant::now();
    let (mut lab, pdu_port) = Lab::new()?;
    let result = act(&mut lab, pdu_port, started, exit_after);
    if result.is_err() {
        let logs: Vec<String> = NODES
            .iter()
            .map(|n| lab.path().join(format!("{n}.log")).display().to_string())
            .collect();
        eprintln!(
            "demo: stopping; the daemons' logs were {} (removed now)",
            logs.join(", ")
        );
    }
    say("Stopping the cluster: SIGTERM to each daemon, which stops its services and leaves.");
    lab.stop_all();
    if result.is_ok() {
        println!(
            "Stopped; the scratch directory is removed ({:.1} s in all).",
            started.elapsed().as_secs_f64()
        );
    }
    result
}

fn act(lab: &mut Lab, pdu_port: u16, started: Instant, exit_after: bool) -> Result<(), DemoError> {
    println!(
        "rgmanager-rs demo: a three-node cluster on this machine, on loopback, no root needed."
    );
    println!("Scratch directory: {}", lab.path().display());
    say(&format!(
        "A simulated APC power switch listens on 127.0.0.1:{pdu_port}; its outlet 1, 2, 3 feeds \
         node1, node2, node3.\ncluster.conf (the embedded sample, `demo --describe`) fences each \
         node with fence_apc on its outlet,\nruns service:web (an init script that records where \
         it runs) on node1 first, then node2, then node3,\nand drops a silent node after a 1000 ms \
         token."
    ));
    say("Starting node1, node2 and node3: one rgmanager daemon each (this program, re-executed).");
    {
        let shared = lab.shared.clone();
        let mut sh = lock(&shared);
        for i in 0..NODES.len() {
            lab.boot(&mut sh, i)?;
        }
    }
    let before = lab.wait_for(
        "node2",
        "the three nodes are up and service:web runs on node1",
        |s| {
            s.quorate
                && NODES.iter().all(|n| setup::online(s, n))
                && setup::runs_on(s).as_deref() == Some("node1")
        },
    )?;
    say(&format!(
        "The cluster is up ({:.1} s): service:web runs on node1, the first node of its failover \
         domain.",
        started.elapsed().as_secs_f64()
    ));
    print_clustat("on node2, before", &before);

    let victim = "node1";
    let pid = lab.pid(victim).unwrap_or(0);
    say(&format!(
        "Now {victim} hangs: SIGSTOP freezes its daemon (pid {pid}), so it says no goodbye. The \
         others stop\nhearing it after the token and must power it off through the switch before \
         they may start\nservice:web elsewhere: a hung node could wake up and still be running it. \
         Their logs:"
    ));
    let t0 = Instant::now();
    lab.freeze(victim);
    let after = lab.wait_for("node2", "node1 is fenced and service:web taken over", |s| {
        !setup::online(s, victim) && setup::runs_on(s).is_some_and(|n| n != victim)
    })?;
    let owner = setup::runs_on(&after).unwrap_or_default();
    say(&format!(
        "Failover done {:.1} s after the freeze: {victim} was fenced (its outlet switched off, \
         which killed it),\nthen {owner} took service:web over.",
        t0.elapsed().as_secs_f64()
    ));
    print_clustat("on node2, after the failover", &after);
    println!("The service's init script log (start/stop per node; `off` when the power went):");
    for l in lab.markers().lines() {
        println!("  {l}");
    }

    say(&format!(
        "fence_apc reboots: the outlet went off, then on again, so {victim} boots, rejoins, and \
         service:web\nfails back to it (ordered domain, failback allowed):"
    ));
    let back = lab.wait_for("node2", "service:web is back on node1", |s| {
        NODES.iter().all(|n| setup::online(s, n)) && setup::runs_on(s).as_deref() == Some(victim)
    })?;
    print_clustat("on node2, after the failback", &back);
    println!("The service's init script log:");
    for l in lab.markers().lines() {
        println!("  {l}");
    }
    if exit_after {
        return Ok(());
    }
    let sock = lab.socket("node2");
    say(&format!(
        "The cluster keeps running; press Ctrl-C to stop it. Meanwhile, in another terminal:\n  \
         cargo run --release -q -p rgmanager --bin clustat -- --socket {s}\n  \
         cargo run --release -q -p rgmanager --bin clusvcadm -- -r service:web -m node3 --socket {s}\n  \
         kill -STOP <a node's pid>    # hang a node: watch it fenced again\nNode pids: {}",
        NODES
            .iter()
            .map(|n| format!("{n} {}", lab.pid(n).unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", "),
        s = sock.display()
    ));
    loop {
        match lab.tick() {
            Ok(()) => std::thread::sleep(TICK),
            Err(DemoError::Interrupted) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
