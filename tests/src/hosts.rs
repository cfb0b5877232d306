//! Hosts made of network namespaces, for tests and benchmarks that need what crosses a real
//! network: each host (`node1`, `client`, …) is a namespace with one interface `eth0` plugged
//! into a bridge that lives in a namespace of its own (the "switch"), so the test subnet exists
//! only inside these namespaces and the machine's own network is never touched. The switch
//! namespace also holds the hosts' BMC addresses (see [`crate::bmc`]): a BMC stays reachable
//! when its host is powered off, as a real one does.
//!
//! What a test does to a host is what happens to a real one: [`Hosts::cable`] pulls the cable
//! (the link goes down, the processes live on), [`Hosts::power_off`] freezes every process of
//! the namespace with SIGSTOP before killing it (so that nothing gets to say goodbye) and takes
//! the link down, [`Hosts::boot`] brings the link up and runs the host's boot command.
//!
//! Namespaces are named `<prefix>-<host>` with a prefix unique to the process and the instance,
//! so tests can run in parallel. Everything is torn down on drop, also when a test fails.
//! Needs root (CI runs as root).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why the harness could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{command}: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("no host named {0}")]
    NoHost(String),
    #[error("{0}")]
    Timeout(String),
}

pub type Result<T> = std::result::Result<T, HostError>;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `ip netns add` sets up the `/run/netns` mount the first time it runs on a machine; one at a
/// time, so that parallel tests on a fresh machine do not race at it.
static CREATE: Mutex<()> = Mutex::new(());

/// One host.
#[derive(Clone, Debug)]
pub struct Host {
    /// The name the test uses (`node1`).
    pub name: String,
    /// The namespace (`<prefix>-node1`).
    pub ns: String,
    /// Its address on the test subnet.
    pub addr: Ipv4Addr,
    /// The address of its BMC, in the switch namespace.
    pub bmc_addr: Ipv4Addr,
    /// A directory of its own (its `/etc/cluster`, state, logs).
    pub dir: PathBuf,
}

/// The hosts of one test, their switch, and a temporary directory.
pub struct Hosts {
    pub prefix: String,
    /// The switch's namespace (bridge `br0`, the BMC addresses).
    pub switch: String,
    /// `10.X.Y` of the test subnet `10.X.Y.0/24`.
    pub net: [u8; 3],
    pub hosts: Vec<Host>,
    pub dir: tempfile::TempDir,
    /// Processes started through [`Hosts::spawn`]; killed on drop.
    children: Mutex<Vec<Child>>,
}

/// Runs `prog args`, which must succeed; its stdout.
pub fn run(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HostError::Io {
            what: format!("cannot run {prog}"),
            source,
        })?;
    if !out.status.success() {
        return Err(HostError::Command {
            command: format!("{prog} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Hosts {
    /// Hosts `names[i]` at `10.X.Y.(i+1)` with their BMC addresses at `10.X.Y.(i+101)`, the
    /// switch at `10.X.Y.254`. The subnet is the same for every instance: the namespaces of two
    /// instances never share a link.
    pub fn new(names: &[&str]) -> Result<Hosts> {
        let prefix = format!(
            "rgh{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::Builder::new()
            .prefix("rgm-hosts-")
            .tempdir()
            .map_err(|source| HostError::Io {
                what: "cannot create a temporary directory".into(),
                source,
            })?;
        let net = [10, 213, 7];
        let switch = format!("{prefix}-sw");
        let mut hosts = Hosts {
            prefix: prefix.clone(),
            switch: switch.clone(),
            net,
            hosts: Vec::new(),
            dir,
            children: Mutex::new(Vec::new()),
        };
        {
            let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
            run("ip", &["netns", "add", &switch])?;
        }
        let sw = |args: &[&str]| -> Result<String> {
            let mut all = vec!["-n", switch.as_str()];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        sw(&["link", "set", "lo", "up"])?;
        sw(&["link", "add", "br0", "type", "bridge"])?;
        // No STP, no forwarding delay: a port forwards as soon as its link is up, as an
        // unmanaged switch does.
        sw(&[
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ])?;
        sw(&["link", "set", "br0", "up"])?;
        sw(&[
            "addr",
            "add",
            &format!("10.{}.{}.254/24", net[1], net[2]),
            "dev",
            "br0",
        ])?;
        for (i, name) in names.iter().enumerate() {
            let ns = format!("{prefix}-{name}");
            {
                let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
                run("ip", &["netns", "add", &ns])?;
            }
            let port = format!("p{i}");
            run(
                "ip",
                &[
                    "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                    "netns", &switch,
                ],
            )?;
            sw(&["link", "set", &port, "master", "br0"])?;
            sw(&["link", "set", &port, "up"])?;
            let addr = Ipv4Addr::new(net[0], net[1], net[2], i as u8 + 1);
            let bmc_addr = Ipv4Addr::new(net[0], net[1], net[2], i as u8 + 101);
            sw(&["addr", "add", &format!("{bmc_addr}/24"), "dev", "br0"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "eth0",
                ],
            )?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            let hdir = hosts.dir.path().join(name);
            std::fs::create_dir_all(&hdir).map_err(|source| HostError::Io {
                what: format!("cannot create {}", hdir.display()),
                source,
            })?;
            hosts.hosts.push(Host {
                name: name.to_string(),
                ns,
                addr,
                bmc_addr,
                dir: hdir,
            });
        }
        for h in hosts.hosts.clone() {
            hosts.wait_carrier(&h.name, true)?;
        }
        Ok(hosts)
    }

    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| HostError::NoHost(name.to_string()))
    }

    /// The switch port (in the switch namespace) that a host's cable plugs into.
    pub fn port(&self, host: &str) -> Result<String> {
        self.hosts
            .iter()
            .position(|h| h.name == host)
            .map(|i| format!("p{i}"))
            .ok_or_else(|| HostError::NoHost(host.to_string()))
    }

    /// `ip -n NS ARGS` in a host's namespace.
    pub fn ip(&self, host: &str, args: &[&str]) -> Result<String> {
        let ns = self.host(host)?.ns.clone();
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// The IPv4 addresses (with prefix) on a host's `eth0`.
    pub fn addrs(&self, host: &str) -> Result<Vec<String>> {
        Ok(self
            .ip(host, &["-o", "-4", "addr", "show", "dev", "eth0"])?
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "inet")?;
                w.next().map(str::to_string)
            })
            .collect())
    }

    /// Waits until `eth0` of `host` has carrier or not.
    pub fn wait_carrier(&self, host: &str, carrier: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.ip(host, &["-o", "link", "show", "dev", "eth0"])?;
            let flags = out.split('<').nth(1).and_then(|s| s.split('>').next());
            let has = flags.is_some_and(|f| f.split(',').any(|x| x == "LOWER_UP"));
            if has == carrier {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(HostError::Timeout(format!(
                    "{host}: eth0 carrier never {carrier}: {out}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A command that runs `prog` inside the host's namespace (`ip netns exec`).
    pub fn command(&self, host: &str, prog: impl AsRef<Path>) -> Result<Command> {
        let ns = &self.host(host)?.ns;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(prog.as_ref());
        Ok(c)
    }

    /// Starts `cmd` (from [`Hosts::command`]) and keeps it to be killed on drop.
    pub fn spawn(&self, mut cmd: Command) -> Result<u32> {
        let child = cmd.spawn().map_err(|source| HostError::Io {
            what: format!("cannot start {cmd:?}"),
            source,
        })?;
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        Ok(pid)
    }

    /// Reaps processes started by [`Hosts::spawn`] that have exited (killed by a power-off,
    /// say), so they do not linger as zombies.
    pub fn reap(&self) {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
    }

    /// Process ids living in a host's namespace.
    pub fn pids(&self, host: &str) -> Result<Vec<i32>> {
        let ns = self.host(host)?.ns.clone();
        Ok(run("ip", &["netns", "pids", &ns])?
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    }

    /// The cable: `eth0` down (pulled) or up (plugged back). Processes live on.
    pub fn cable(&self, host: &str, plugged: bool) -> Result<()> {
        self.ip(
            host,
            &["link", "set", "eth0", if plugged { "up" } else { "down" }],
        )?;
        Ok(())
    }

    /// Splits the network in the switch, as a failed switch between two racks would: a
    /// bridge filter drops every frame between the ports of the hosts of `a` and those of `b`.
    /// Unlike a pulled cable, every host keeps its link and the BMCs (addresses of the switch
    /// itself, behind no port) stay reachable from both sides, so both sides may fence. One
    /// partition at a time; [`Hosts::heal`] ends it.
    pub fn partition(&self, a: &[&str], b: &[&str]) -> Result<()> {
        let ports = |group: &[&str]| -> Result<String> {
            let quoted: Vec<String> = group
                .iter()
                .map(|h| self.port(h).map(|p| format!("\"{p}\"")))
                .collect::<Result<_>>()?;
            Ok(quoted.join(", "))
        };
        let (pa, pb) = (ports(a)?, ports(b)?);
        nft(
            &self.switch,
            &format!(
                "table bridge {PARTITION} {{\n chain cut {{\n  type filter hook forward priority 0; policy accept;\n  \
                 iifname {{ {pa} }} oifname {{ {pb} }} drop\n  iifname {{ {pb} }} oifname {{ {pa} }} drop\n }}\n}}"
            ),
        )
    }

    /// Ends the partition [`Hosts::partition`] made.
    pub fn heal(&self) -> Result<()> {
        nft(&self.switch, &format!("delete table bridge {PARTITION}"))
    }

    /// `host`'s BMC unreachable (a failed BMC or its network down: the switch drops what is
    /// sent to its IPMI port) or reachable again. The host itself is not touched.
    pub fn bmc_reachable(&self, host: &str, reachable: bool) -> Result<()> {
        let bmc = self.host(host)?.bmc_addr;
        let table = format!("bmc_{host}");
        if reachable {
            return nft(&self.switch, &format!("delete table inet {table}"));
        }
        nft(
            &self.switch,
            &format!(
                "table inet {table} {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
                 ip daddr {bmc} udp dport 623 drop\n }}\n}}"
            ),
        )
    }

    /// Power off: every process of the namespace frozen (SIGSTOP), then killed (SIGKILL), and
    /// the link taken down. Nothing of the host gets to announce its own death.
    pub fn power_off(&self, host: &str) -> Result<()> {
        let ns = self.host(host)?.ns.clone();
        power_off_script_run(&ns)?;
        self.reap();
        Ok(())
    }

    /// Power on: the link comes up and the host's boot script (`DIR/boot.sh`, written by the
    /// test, executable) runs inside the namespace, detached. Its processes are killed when
    /// the host is powered off again or the harness is dropped.
    pub fn boot(&self, host: &str) -> Result<()> {
        let h = self.host(host)?;
        run("sh", &["-c", &boot_script(h)])?;
        self.wait_carrier(host, true)
    }

    /// Writes a host's boot script (`#!/bin/sh` and `body`), run by [`Hosts::boot`] and by a
    /// BMC's power-on.
    pub fn set_boot(&self, host: &str, body: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.host(host)?.dir.join("boot.sh");
        let text = format!("#!/bin/sh\n{body}\n");
        std::fs::write(&path, text)
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)))
            .map_err(|source| HostError::Io {
                what: format!("cannot write {}", path.display()),
                source,
            })?;
        Ok(path)
    }

    /// The last `lines` lines of every `*.log` file in every host's directory, for an error
    /// message.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            let Ok(entries) = std::fs::read_dir(&h.dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
            {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                let tail = &all[all.len().saturating_sub(lines)..];
                out += &format!(
                    "--- {}/{} ---\n{}\n",
                    h.name,
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    tail.join("\n")
                );
            }
        }
        out
    }

    /// The shell commands that power a host off (used by [`crate::bmc`]'s power hooks too).
    pub fn power_off_script(&self, host: &str) -> Result<String> {
        Ok(power_off_script(&self.host(host)?.ns))
    }

    /// Runs `f` on a thread that has entered the host's namespace: sockets it opens live there
    /// (a client measuring the VIP, say).
    pub fn inside<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
        in_netns(Some(&self.host(host)?.ns), f)
    }
}

/// The switch's nftables table of [`Hosts::partition`].
const PARTITION: &str = "partition";

/// Runs the nftables script `script` (`nft -f -`) in network namespace `ns`.
pub fn nft(ns: &str, script: &str) -> Result<()> {
    let nft = if Path::new("/usr/sbin/nft").exists() {
        "/usr/sbin/nft"
    } else {
        "nft"
    };
    run(
        "sh",
        &[
            "-c",
            &format!("ip netns exec {ns} {nft} -f - <<'EOF'\n{script}\nEOF"),
        ],
    )?;
    Ok(())
}

/// Starts a thread that enters network namespace `ns` and runs `f` (a long-lived client, say).
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<T>>> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|source| HostError::Io {
        what: format!("cannot open {path}"),
        source,
    })?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns on a namespace file we hold; it affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(HostError::Io {
                what: format!("setns {path}"),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(f())
    }))
}

/// Runs `f` on a thread that has entered network namespace `ns` (`None`: here, directly).
pub fn in_netns<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T> {
    let Some(ns) = ns else { return Ok(f()) };
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|source| HostError::Io {
        what: format!("cannot open {path}"),
        source,
    })?;
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            // SAFETY: setns on a namespace file we hold; it affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(HostError::Io {
                    what: format!("setns {path}"),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(f())
        });
        match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// `sh -c` text that configures the host's address, plugs it back in and runs its boot script `DIR/boot.sh` (if any)
/// inside its namespace, detached, its output appended to `DIR/boot.log`.
pub fn boot_script(host: &Host) -> String {
    let d = host.dir.display();
    let (ns, addr) = (&host.ns, host.addr);
    format!(
        "ip -n {ns} addr replace {addr}/24 dev eth0; \
         ip -n {ns} link set eth0 up; \
         if [ -x '{d}/boot.sh' ]; then \
           setsid ip netns exec {ns} '{d}/boot.sh' >> '{d}/boot.log' 2>&1 < /dev/null & \
         fi; exit 0"
    )
}

/// `sh -c` text that freezes and kills every process of namespace `ns`, takes its link down
/// and forgets its addresses (a floating IP does not survive a power cut; boot sets the host's
/// own address again).
pub fn power_off_script(ns: &str) -> String {
    format!(
        "pids=$(ip netns pids {ns}); \
         [ -n \"$pids\" ] && kill -STOP $pids 2>/dev/null; \
         [ -n \"$pids\" ] && kill -KILL $pids 2>/dev/null; \
         ip -n {ns} link set eth0 down; \
         ip -n {ns} addr flush dev eth0; \
         for i in 1 2 3 4 5 6 7 8 9 10; do [ -z \"$(ip netns pids {ns})\" ] && break; sleep 0.05; done; \
         exit 0"
    )
}

/// A BMC's power-on: the machine boots `delay` later (firmware, kernel: a real server takes
/// half a minute or more), unless its power was cut again meanwhile (the BMC's power file,
/// `$D/power`, no longer says 1). Returns at once.
pub fn boot_after_script(host: &Host, delay: std::time::Duration) -> String {
    format!(
        "( sleep {:.3}; if [ -n \"$D\" ] && [ \"$(cat \"$D/power\")\" != 1 ]; then exit 0; fi; {} ) \
         > /dev/null 2>&1 < /dev/null &",
        delay.as_secs_f64(),
        boot_script(host)
    )
}

fn power_off_script_run(ns: &str) -> Result<()> {
    run("sh", &["-c", &power_off_script(ns)])?;
    Ok(())
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for h in &self.hosts {
            let _ = power_off_script_run(&h.ns);
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).status();
        }
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "pids=$(ip netns pids {0}); [ -n \"$pids\" ] && kill -KILL $pids; ip netns del {0}",
                self.switch
            ))
            .status();
        // RGM_KEEP_HOSTS=1 keeps the hosts' directories (configs, logs) for a post-mortem.
        if std::env::var_os("RGM_KEEP_HOSTS").is_some() {
            let path = std::mem::replace(
                &mut self.dir,
                match tempfile::tempdir() {
                    Ok(d) => d,
                    Err(_) => return,
                },
            )
            .keep();
            eprintln!("hosts kept in {}", path.display());
        }
    }
}
