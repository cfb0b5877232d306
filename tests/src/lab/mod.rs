//! The cluster test lab (issue 16), run by `tests/bench/cts`: real `rgmanager` daemons on
//! namespace hosts ([`crate::hosts`]), each with an `ipmi_sim` BMC ([`crate::bmc`]) whose
//! power-off really kills it, a floating address with a web server (service `web`), a
//! script-only service (`batch`), a client polling the address ([`crate::probe`]), hit by a
//! long random sequence of faults ([`fault`]) while an observer that trusts nothing the
//! daemons say checks the cluster's promises from outside ([`observer`], [`history`]).
//!
//! Each iteration: pick the step's fault from the seed, apply it, hold it (for its time, or
//! until the cluster recovered), undo it, wait until the cluster is settled again (every
//! service up at home, `clustat` on every node agreeing with what really runs, every
//! configuration file the same bytes, every daemon alive), then check what the hosts wrote
//! down. See docs/RELIABILITY.md ("The fault lab") for the rules and the bounds.
//!
//! Layout of the lab's directory (the hosts' temporary directory): `web.sh`, `batch.sh`,
//! `extra.sh` (the services' scripts), `markers/` (their logs and pid files), `faults/` (flags
//! the scripts obey: `SVC.HOST.stopfail`, `SVC.HOST.statusfail`), `push/` (the versions pushed),
//! and a directory per host (`etc/cluster`, `state/`, `rgmanager.log`, `exits`, `boot.log`).

pub mod conf;
pub mod engine;
pub mod fault;
pub mod history;
pub mod net;
pub mod observer;
pub mod report;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::bmc::{Bmc, BmcSpec};
use crate::hosts::{boot_after_script, HostError, Hosts, Result};
use crate::probe::Prober;
use conf::{LabConf, Site, SERVICES};
use observer::{Intent, Observer};

/// The floating address of `web`.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 213, 7, 100);
/// The BMCs' password (in cluster.conf only).
pub const BMC_PASSWORD: &str = "lab-bmc-s3cret";
/// How often the observer and the client sample.
pub const EVERY: Duration = Duration::from_millis(20);

/// How the lab is built.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cluster nodes (3 to 5); one more host is the spare a "node added" push configures.
    pub nodes: usize,
    /// `<totem token>` in ms (`None`: the daemon's default, 1000 ms).
    pub token: Option<u32>,
    /// How long a host takes from power-on to its daemon starting.
    pub boot_time: Duration,
    /// Where rgmanager, clustat, clusvcadm, ccs_sync and name_httpd are.
    pub bins: PathBuf,
}

impl Options {
    pub fn token_ms(&self) -> u64 {
        u64::from(self.token.unwrap_or(1000))
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> HostError {
    move |source| HostError::Io { what, source }
}

fn write(path: &Path, text: &[u8], mode: u32) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(format!("cannot create {}", d.display())))?;
    }
    std::fs::write(path, text)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(io(format!("cannot write {}", path.display())))
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    unix(SystemTime::now())
}

pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The service script: an LSB script as rgmanager's `script` resource runs it. It finds its
/// host from its own network namespace (not from anything the daemon says), starts
/// `name_httpd SVC@HOST PORT`, and writes every start and stop, with the time, to
/// `markers/SVC.log`; its pid file says which process is the service. The lab's fault flags
/// make its stop or its status fail.
fn service_script(svc: &str, port: u16, lab: &Path, httpd: &Path) -> String {
    format!(
        r#"#!/bin/sh
# The lab's service {svc} (cluster_tests::lab).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
svc={svc}
lab='{lab}'
ns=$(ip netns identify $$)
host=${{ns##*-}}
[ -n "$host" ] || {{ echo "$svc: cannot tell which host this is" >&2; exit 1; }}
pidf="$lab/markers/$svc.$host.pid"
log="$lab/markers/$svc.log"
now() {{ date +%s.%N; }}
flag() {{ [ -e "$lab/faults/$svc.$host.$1" ]; }}
alive() {{
    [ -f "$pidf" ] && read -r pid < "$pidf" && [ -n "$pid" ] || return 1
    case "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" in
        Z|X|"") return 1 ;;
    esac
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qx "$svc@$host"
}}
case "$1" in
start)
    alive && exit 0
    echo "$(now) start $host" >> "$log"
    setsid '{httpd}' "$svc@$host" {port} > /dev/null 2>&1 < /dev/null &
    echo $! > "$pidf"
    ;;
stop)
    if flag stopfail; then echo "$(now) stopfail $host" >> "$log"; exit 1; fi
    if alive; then
        kill "$pid" 2>/dev/null
        i=0
        while alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        alive && kill -9 "$pid" 2>/dev/null
        while alive; do sleep 0.05; done
    fi
    rm -f "$pidf"
    echo "$(now) stop $host" >> "$log"
    ;;
status)
    flag statusfail && exit 1
    alive || exit 3
    ;;
esac
exit 0
"#,
        lab = lab.display(),
        httpd = httpd.display(),
    )
}

/// A node's boot: its daemon (one per host: a second boot while it runs does nothing), and
/// the daemon's exit status appended to `exits` when it ends by itself (a power-off kills this
/// shell too, and records nothing).
fn boot_body(dir: &Path, node: &str, rgmanager: &Path) -> String {
    format!(
        r#"d='{d}'
exec 9>> "$d/boot.lock"
if ! flock -n 9; then echo "$(date +%s.%N) already running" >> "$d/boot.log"; exit 0; fi
RGMANAGER_LOG=stderr '{rgm}' -F -f "$d/etc/cluster/cluster.conf" --node {node} \
    --state-dir "$d/state" --socket "$d/rgmanager.sock" --key "$d/etc/cluster/authkey" \
    >> "$d/rgmanager.log" 2>&1 9>&-
echo "$(date +%s.%N) exit $?" >> "$d/exits""#,
        d = dir.display(),
        rgm = rgmanager.display(),
    )
}

/// One line of the lab's journal.
fn line(at: SystemTime, text: &str) -> String {
    format!("{} {text}\n", history::stamp(unix(at)))
}

/// The lab: hosts, BMCs, the cluster's configuration, the observer and the client.
pub struct Lab {
    pub o: Options,
    pub h: Hosts,
    pub site: Site,
    /// The configuration pushed last (every configured node must end up holding its text).
    pub conf: LabConf,
    /// Each host's BMC, `node1` first (the spare's last).
    pub bmcs: Vec<Bmc>,
    pub observer: Observer,
    pub prober: Prober,
    /// When the prober's clock started (its samples count from there).
    pub prober_epoch: Instant,
    /// Partitions, cables pulled, hosts down, hung or on a lossy link: for the quorum checks.
    pub cuts: Vec<history::Cut>,
    /// The power-offs the lab made through a BMC (host, unix time): not fences.
    pub lab_offs: Vec<(String, f64)>,
    /// (from, configuration) for the quorum check: which nodes were configured when.
    pub conf_history: Vec<(f64, LabConf)>,
    /// Daemon exits the lab caused (SIGTERM, removal from the configuration), per host.
    pub expected_exits: BTreeMap<String, usize>,
    pub history: history::History,
    /// How far each marker log, BMC log and exits file has been read.
    offsets: BTreeMap<PathBuf, u64>,
    /// What the lab did, line by line (`journal.log` in the output directory).
    pub journal: Vec<String>,
    pub out: PathBuf,
}

impl Lab {
    /// Builds the hosts, writes every file, starts the BMCs, the observer and the client,
    /// boots every configured node and waits until the cluster has settled.
    pub fn new(o: Options, out: &Path) -> Result<Lab> {
        if !(3..=5).contains(&o.nodes) {
            return Err(HostError::Timeout(format!(
                "the lab runs 3 to 5 nodes, not {}",
                o.nodes
            )));
        }
        std::fs::create_dir_all(out).map_err(io(format!("cannot create {}", out.display())))?;
        let mut names: Vec<String> = (1..=o.nodes + 1).map(|i| format!("node{i}")).collect();
        names.push("client".into());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let h = Hosts::new(&refs)?;
        let lab = h.dir.path().to_path_buf();
        for d in ["markers", "faults", "push"] {
            std::fs::create_dir_all(lab.join(d))
                .map_err(io(format!("cannot create {}", lab.join(d).display())))?;
        }
        let httpd = o.bins.join("name_httpd");
        let mut scripts = Vec::new();
        for (svc, port) in SERVICES.iter().zip([80u16, 8001, 8002]) {
            let path = lab.join(format!("{svc}.sh"));
            write(
                &path,
                service_script(svc, port, &lab, &httpd).as_bytes(),
                0o755,
            )?;
            scripts.push((svc.to_string(), path));
        }
        let mut nodes = Vec::new();
        for i in 1..=o.nodes + 1 {
            let hh = h.host(&format!("node{i}"))?;
            nodes.push((hh.addr, hh.bmc_addr));
        }
        let site = Site {
            nodes,
            scripts,
            vip: VIP,
            bmc_password: BMC_PASSWORD.into(),
            token: o.token,
        };
        let conf = LabConf::initial(o.nodes);
        let text = conf.render(&site);
        let mut key = vec![0u8; 32];
        {
            use std::io::Read;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .map_err(io("cannot read /dev/urandom".into()))?;
        }
        let mut bmcs = Vec::new();
        for i in 1..=o.nodes + 1 {
            let name = format!("node{i}");
            let hh = h.host(&name)?.clone();
            let etc = hh.dir.join("etc/cluster");
            write(&etc.join("authkey"), &key, 0o600)?;
            if conf.nodes.contains(&i) {
                write(&etc.join("cluster.conf"), text.as_bytes(), 0o640)?;
            }
            std::fs::create_dir_all(hh.dir.join("state"))
                .map_err(io(format!("cannot create {}/state", hh.dir.display())))?;
            h.set_boot(&name, &boot_body(&hh.dir, &name, &o.bins.join("rgmanager")))?;
            bmcs.push(Bmc::start(&BmcSpec {
                addr: hh.bmc_addr,
                port: 623,
                password: BMC_PASSWORD.to_string(),
                netns: Some(h.switch.clone()),
                on_power_off: h.power_off_script(&name)?,
                on_power_on: boot_after_script(&hh, o.boot_time),
                powered: true,
            })?);
        }
        let node_ns: Vec<(String, String)> = (1..=o.nodes + 1)
            .map(|i| {
                let n = format!("node{i}");
                let ns = h.host(&n).map(|x| x.ns.clone()).unwrap_or_default();
                (n, ns)
            })
            .collect();
        let client = h.host("client")?.clone();
        let observer = Observer::start(
            &node_ns,
            &client.ns,
            client.addr,
            VIP,
            &lab.join("markers"),
            &SERVICES,
            EVERY,
        )?;
        let prober_epoch = Instant::now();
        let prober = Prober::start(&h, "client", VIP, 80, EVERY)?;
        let mut lab = Lab {
            o,
            h,
            site,
            conf: conf.clone(),
            bmcs,
            observer,
            prober,
            prober_epoch,
            cuts: Vec::new(),
            lab_offs: Vec::new(),
            conf_history: vec![(unix_now(), conf)],
            expected_exits: BTreeMap::new(),
            history: history::History::default(),
            offsets: BTreeMap::new(),
            journal: Vec::new(),
            out: out.to_path_buf(),
        };
        lab.set_intent(&[]);
        let configured = lab.configured();
        for n in &configured {
            lab.h.boot(n)?;
        }
        lab.note(&format!("booted {}", configured.join(" ")));
        if let Err(why) = lab.settle(Duration::from_secs(90)) {
            return Err(HostError::Timeout(format!(
                "the lab cluster never settled: {why}\n{}",
                lab.h.logs(30)
            )));
        }
        Ok(lab)
    }

    /// The lab's directory.
    pub fn dir(&self) -> PathBuf {
        self.h.dir.path().to_path_buf()
    }

    /// Adds a line to the journal.
    pub fn note(&mut self, text: &str) {
        self.note_at(SystemTime::now(), text);
    }

    /// Adds a line to the journal, of something that happened at `at`.
    pub fn note_at(&mut self, at: SystemTime, text: &str) {
        let l = line(at, text);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.out.join("journal.log"))
        {
            let _ = f.write_all(l.as_bytes());
        }
        self.journal.push(l);
    }

    /// The configured nodes' host names.
    pub fn configured(&self) -> Vec<String> {
        self.conf.nodes.iter().map(|n| format!("node{n}")).collect()
    }

    pub fn spare(&self) -> String {
        format!("node{}", self.site.spare())
    }

    /// Tells the observer what must run, and which hosts the client cannot reach.
    pub fn set_intent(&self, unreachable: &[String]) {
        self.observer.set_intent(Intent {
            services: self.conf.services().iter().map(|s| s.to_string()).collect(),
            unreachable: unreachable.to_vec(),
        });
    }

    pub fn bmc(&self, host: &str) -> Result<&Bmc> {
        host.strip_prefix("node")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.bmcs.get(n.wrapping_sub(1)))
            .ok_or_else(|| HostError::NoHost(host.to_string()))
    }

    /// The rgmanager processes living in a host (by their command line, not their pid file).
    pub fn daemon_pids(&self, host: &str) -> Vec<i32> {
        let rgm = self.o.bins.join("rgmanager");
        let want = rgm.as_os_str().as_encoded_bytes();
        self.h
            .pids(host)
            .unwrap_or_default()
            .into_iter()
            .filter(|pid| {
                let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
                    .is_some_and(|r| !r.starts_with('Z'));
                alive && cmd.split(|b| *b == 0).next() == Some(want)
            })
            .collect()
    }

    /// Runs `tool args` inside `host`, talking to its daemon, killed after `limit`.
    pub fn tool(
        &self,
        host: &str,
        tool: &str,
        args: &[&str],
        limit: Duration,
    ) -> Result<(i32, String)> {
        let dir = self.h.host(host)?.dir.clone();
        let out = self
            .h
            .command(host, "timeout")?
            .arg(format!("{}", limit.as_secs().max(1)))
            .arg(self.o.bins.join(tool))
            .args(args)
            .arg("--socket")
            .arg(dir.join("rgmanager.sock"))
            .output()
            .map_err(io(format!("cannot run {tool}")))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ))
    }

    /// `clustat --json` on `host`, read.
    pub fn clustat(&self, host: &str) -> Option<serde_json::Value> {
        let (code, out) = self
            .tool(host, "clustat", &["--json"], Duration::from_secs(12))
            .ok()?;
        if code != 0 {
            return None;
        }
        serde_json::from_str(&out).ok()
    }

    /// The configured nodes whose daemon runs.
    pub fn live_members(&self) -> Vec<String> {
        self.configured()
            .into_iter()
            .filter(|n| !self.daemon_pids(n).is_empty())
            .collect()
    }

    /// `clusvcadm ARGS` from a live member other than `avoid` (the first that answers).
    pub fn clusvcadm(&mut self, args: &[&str], avoid: &[String]) -> Result<(i32, String)> {
        let from: Vec<String> = self
            .live_members()
            .into_iter()
            .filter(|n| !avoid.contains(n))
            .collect();
        let Some(host) = from.first() else {
            return Err(HostError::Timeout(
                "no live member to run clusvcadm on".into(),
            ));
        };
        let r = self.tool(host, "clusvcadm", args, Duration::from_secs(60))?;
        self.note(&format!(
            "clusvcadm {} on {host}: exit {}: {}",
            args.join(" "),
            r.0,
            r.1.trim().replace('\n', " | ")
        ));
        Ok(r)
    }

    /// Pushes `conf` with `ccs_sync` from a live member (retried from another for up to 30 s
    /// while the cluster is in transition) and makes it the lab's configuration.
    pub fn push(&mut self, conf: LabConf, avoid: &[String]) -> Result<()> {
        let text = conf.render(&self.site);
        let file = self
            .dir()
            .join("push")
            .join(format!("cluster.conf.v{}", conf.version));
        write(&file, text.as_bytes(), 0o644)?;
        let f = file.display().to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let from: Vec<String> = self
                .live_members()
                .into_iter()
                .filter(|n| !avoid.contains(n))
                .collect();
            let mut last = String::from("no live member");
            for host in &from {
                let (code, out) =
                    self.tool(host, "ccs_sync", &["-f", &f], Duration::from_secs(30))?;
                self.note(&format!(
                    "ccs_sync version {} from {host}: exit {code}: {}",
                    conf.version,
                    out.trim().replace('\n', " | ")
                ));
                if code == 0 {
                    self.conf_history.push((unix_now(), conf.clone()));
                    self.conf = conf;
                    return Ok(());
                }
                last = out;
            }
            if Instant::now() > deadline {
                return Err(HostError::Timeout(format!(
                    "ccs_sync of version {} never succeeded: {last}",
                    conf.version
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Starts `host`'s daemon if it runs none: power on through the BMC when it is off (it
    /// boots after the boot time), else the boot script now.
    pub fn ensure_up(&mut self, host: &str) -> Result<()> {
        self.power_settled(host);
        let bmc = self.bmc(host)?;
        if !bmc.powered() {
            bmc.set_power(true)?;
            self.note(&format!("{host}: powered on by the lab"));
        } else if self.daemon_pids(host).is_empty() {
            self.h.boot(host)?;
            self.note(&format!("{host}: booted by the lab"));
        }
        Ok(())
    }

    /// Waits (at most 5 s) until the host's BMC has finished its last power change. A
    /// power-off is logged first, then the host's processes are killed and its address
    /// flushed, and only then does the power file say 0: a boot in between would lose its
    /// address to the flush (seen: seed 1001 step 79, the lab booting a node the cluster was
    /// fencing; its daemon could not bind and exited).
    pub fn power_settled(&self, host: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(bmc) = self.bmc(host) {
            let last_on = bmc
                .events()
                .lines()
                .rev()
                .find_map(|l| history::parse_power(host, l).pop())
                .map(|e| matches!(e.event, history::Event::PowerOn { .. }));
            if last_on.is_none_or(|on| on == bmc.powered()) || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Why the cluster is not settled, or `Ok` when it is: every configured node powered with
    /// its daemon; every wanted service up (observer), on its home node if `at_home`; `clustat` on every
    /// configured node quorate, every configured node online, each service `started` where it
    /// really runs and not frozen; every configured node's cluster.conf the pushed text.
    pub fn settled_now(&self, at_home: bool) -> std::result::Result<(), String> {
        let nodes = self.configured();
        for n in &nodes {
            if !self.bmc(n).is_ok_and(|b| b.powered()) {
                return Err(format!("{n} is powered off"));
            }
            if self.daemon_pids(n).is_empty() {
                return Err(format!("{n}: no daemon"));
            }
        }
        self.observer.fresh();
        let (up, runners) = self.observer.with(|s| (s.up, s.runners.clone()));
        if !up {
            return Err(format!("not every service is up: {runners:?}"));
        }
        for svc in self.conf.services().into_iter().filter(|_| at_home) {
            let on = runners.get(svc).cloned().unwrap_or_default();
            if let Some(home) = self.conf.home(svc) {
                if on != [format!("node{home}")] {
                    return Err(format!(
                        "service:{svc} runs on {on:?}, not at home (node{home})"
                    ));
                }
            }
        }
        let text = self.conf.render(&self.site);
        for n in &nodes {
            let path = self
                .h
                .host(n)
                .map(|h| h.dir.join("etc/cluster/cluster.conf"));
            let ok = path
                .ok()
                .and_then(|p| std::fs::read(p).ok())
                .is_some_and(|b| b == text.as_bytes());
            if !ok {
                return Err(format!(
                    "{n}: cluster.conf is not version {}'s text",
                    self.conf.version
                ));
            }
        }
        for n in &nodes {
            let Some(v) = self.clustat(n) else {
                return Err(format!("{n}: clustat does not answer"));
            };
            if v["quorate"] != true {
                return Err(format!("{n}: clustat says inquorate"));
            }
            let members = v["members"].as_array().cloned().unwrap_or_default();
            for m in &nodes {
                if !members
                    .iter()
                    .any(|x| x["name"] == m.as_str() && x["online"] == true)
                {
                    return Err(format!("{n}: clustat does not show {m} online"));
                }
            }
            let services = v["services"].as_array().cloned().unwrap_or_default();
            for svc in SERVICES {
                let full = format!("service:{svc}");
                let row = services.iter().find(|s| s["name"] == full.as_str());
                let real = runners.get(svc).cloned().unwrap_or_default();
                let wanted = self.conf.services().contains(&svc);
                match (row, wanted) {
                    (Some(r), true) => {
                        let owner = r["owner"].as_str().unwrap_or("");
                        if r["state"] != "started" || [owner.to_string()] != real.as_slice() {
                            return Err(format!(
                                "{n}: clustat shows {full} {} on {owner:?}, it runs on {real:?}",
                                r["state"]
                            ));
                        }
                        if r["flags"].as_array().is_some_and(|f| !f.is_empty()) {
                            return Err(format!("{n}: clustat shows {full} flags {}", r["flags"]));
                        }
                    }
                    (None, true) => return Err(format!("{n}: clustat does not list {full}")),
                    (Some(_), false) => return Err(format!("{n}: clustat still lists {full}")),
                    (None, false) => {
                        if !real.is_empty() {
                            return Err(format!("{full} was removed and still runs on {real:?}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits until [`Lab::settled_now`] holds twice, a second apart, within `limit`. Then,
    /// since nothing but a node joining moves a service back to the best node of its domain
    /// (a service relocated after failed checks stays where it went, as in RHCS), gives it
    /// `HOME` to get home by itself, and otherwise relocates it home with `clusvcadm`, as an
    /// administrator would, so that every step starts from the same placement. The time it
    /// took, and the services the lab moved.
    pub fn settle(
        &mut self,
        limit: Duration,
    ) -> std::result::Result<(Duration, Vec<String>), String> {
        const HOME: Duration = Duration::from_secs(10);
        let began = Instant::now();
        let deadline = began + limit;
        self.settle_until(false, deadline)?;
        let home_by = Instant::now() + HOME;
        if self.settle_until(true, home_by.min(deadline)).is_ok() {
            return Ok((began.elapsed(), Vec::new()));
        }
        let mut moved = Vec::new();
        for svc in self.conf.services() {
            let Some(home) = self.conf.home(svc).map(|n| format!("node{n}")) else {
                continue;
            };
            if self.observer.owner(svc).as_deref() != Some(home.as_str()) {
                let _ = self.clusvcadm(&["-r", svc, "-m", &home], &[]);
                moved.push(format!("{svc} to {home}"));
            }
        }
        self.settle_until(true, deadline)?;
        Ok((began.elapsed(), moved))
    }

    fn settle_until(
        &mut self,
        at_home: bool,
        deadline: Instant,
    ) -> std::result::Result<(), String> {
        let mut last = String::new();
        let mut ok_since: Option<Instant> = None;
        loop {
            match self.settled_now(at_home) {
                Ok(()) => match ok_since {
                    Some(t) if t.elapsed() >= Duration::from_secs(1) => return Ok(()),
                    Some(_) => {}
                    None => ok_since = Some(Instant::now()),
                },
                Err(why) => {
                    ok_since = None;
                    last = why;
                }
            }
            if Instant::now() > deadline {
                return Err(last);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// New complete lines of a file since the last call for it.
    fn new_lines(&mut self, path: &Path) -> Vec<String> {
        let Ok(bytes) = std::fs::read(path) else {
            return Vec::new();
        };
        let from = self.offsets.get(path).copied().unwrap_or(0) as usize;
        let Some(rest) = bytes.get(from..) else {
            return Vec::new();
        };
        let Some(end) = rest.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        self.offsets
            .insert(path.to_path_buf(), (from + end + 1) as u64);
        String::from_utf8_lossy(&rest[..end])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Reads what the scripts and the BMCs wrote since the last call and checks it; also the
    /// daemons' exits and panics. Findings, as (rule, text).
    pub fn check_history(&mut self, grace: f64) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let markers = self.dir().join("markers");
        for svc in SERVICES {
            let lines = self.new_lines(&markers.join(format!("{svc}.log")));
            let events: Vec<_> = lines
                .iter()
                .filter_map(|l| history::parse_marker(svc, l))
                .collect();
            self.history.feed(events);
        }
        for i in 1..=self.o.nodes + 1 {
            let host = format!("node{i}");
            let Some(dir) = self.bmcs.get(i - 1).map(|b| b.dir.path().join("events")) else {
                continue;
            };
            let events: Vec<_> = self
                .new_lines(&dir)
                .iter()
                .flat_map(|l| history::parse_power(&host, l))
                .collect();
            self.history.feed(events);
        }
        let confs = self.conf_history.clone();
        let at = |t: f64| -> &LabConf {
            confs
                .iter()
                .rev()
                .find(|(from, _)| *from <= t)
                .or(confs.first())
                .map(|(_, c)| c)
                .unwrap_or(&self.conf)
        };
        let hosts: Vec<String> = (1..=self.o.nodes + 1).map(|i| format!("node{i}")).collect();
        let findings = self.history.check(
            unix_now() - 0.5,
            &self.cuts,
            grace,
            &self.lab_offs,
            |t| at(t).quorum(),
            |t, h| {
                h.strip_prefix("node")
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| at(t).nodes.contains(&n))
            },
            &hosts,
        );
        for f in findings {
            found.push((f.rule.to_string(), f.text));
        }
        for i in 1..=self.o.nodes + 1 {
            let host = format!("node{i}");
            let Ok(dir) = self.h.host(&host).map(|h| h.dir.clone()) else {
                continue;
            };
            for l in self.new_lines(&dir.join("exits")) {
                let code = l.split_whitespace().nth(2).unwrap_or("?").to_string();
                let expected = self.expected_exits.entry(host.clone()).or_insert(0);
                if code == "0" && *expected > 0 {
                    *expected -= 1;
                } else {
                    found.push((
                        "no daemon exits unless meant to".into(),
                        format!("{host}: rgmanager exited with status {code} ({l})"),
                    ));
                }
            }
            for l in self.new_lines(&dir.join("rgmanager.log")) {
                if l.contains("panicked at") {
                    found.push(("no panic".into(), format!("{host}: {l}")));
                }
            }
        }
        found
    }

    /// Copies every log of the hosts, the BMCs' power logs, the markers and the journal into
    /// `dir` (kept after a violation).
    pub fn keep_logs(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let copy = |from: &Path, to: &str| {
            let _ = std::fs::copy(from, dir.join(to));
        };
        for i in 1..=self.o.nodes + 1 {
            let host = format!("node{i}");
            if let Ok(hh) = self.h.host(&host) {
                for f in ["rgmanager.log", "exits", "boot.log"] {
                    copy(&hh.dir.join(f), &format!("{host}.{f}"));
                }
                copy(
                    &hh.dir.join("etc/cluster/cluster.conf"),
                    &format!("{host}.cluster.conf"),
                );
            }
            if let Some(b) = self.bmcs.get(i - 1) {
                copy(&b.dir.path().join("events"), &format!("{host}.bmc-events"));
            }
        }
        for svc in SERVICES {
            copy(
                &self.dir().join("markers").join(format!("{svc}.log")),
                &format!("markers.{svc}.log"),
            );
        }
        std::fs::write(dir.join("journal.log"), self.journal.concat())
            .map_err(io(format!("cannot write {}", dir.display())))?;
        Ok(())
    }
}
