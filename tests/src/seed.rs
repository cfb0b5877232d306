//! The seed 004 scenario on namespace hosts: the RHEL 6 tutorial's two-node web cluster
//! (`web_ha`: `two_node`, failover domain `web_failover` ordered and restricted with node1 first,
//! service `apache_service` made of a `script` (an LSB init script) and an `ip`, `exclusive`,
//! `recovery="relocate"`), with only the addresses adapted to the test subnet, each node fenced
//! by `fence_ipmilan` through its own BMC (`ipmi_sim` in the switch, whose power-off kills the
//! node's namespace), one `/etc/cluster` per node, and the web server answering with the node's
//! web name (`web1`, `web2`) so the client knows who serves.
//!
//! Used by the end-to-end test and by the failover benchmark; the binaries (rgmanager, clustat,
//! clusvcadm, ccs_sync, name_httpd) are taken from one directory (`bins`).

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::bmc::{Bmc, BmcSpec};
use crate::hosts::{boot_after_script, HostError, Hosts, Result};

/// The floating address of the web service.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 213, 7, 100);
/// The BMCs' password (never on a command line: it is in cluster.conf, as in the seed).
pub const BMC_PASSWORD: &str = "bmc-s3cret";
/// The APC switch's address (the switch namespace's own, on the bridge).
pub const APC_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 7, 254);
/// The seed's two cluster nodes, as the hosts name them and as cluster.conf does.
pub const NODES: [(&str, &str); 2] = [
    ("node1", "node1.cluster.com"),
    ("node2", "node2.cluster.com"),
];

/// The cluster's nodes for `o`: the seed's two, or `nodeN`/`nodeN.cluster.com` up to
/// `o.nodes`.
pub fn nodes(o: &Options) -> Vec<(String, String)> {
    (1..=o.nodes.max(1))
        .map(|i| (format!("node{i}"), format!("node{i}.cluster.com")))
        .collect()
}

/// How the cluster is configured.
#[derive(Clone, Debug)]
pub struct Options {
    pub config_version: u32,
    /// `<totem token=…>` in ms (`None`: our default).
    pub token: Option<u32>,
    /// Fence methods on the nodes (the seed's first cluster.conf had none).
    pub fencing: bool,
    /// The password cluster.conf gives the fence devices.
    pub fence_password: String,
    /// `<ip sleeptime=…>` (the seed: 10 seconds after a removal).
    pub ip_sleeptime: u32,
    /// How long a node takes to boot after its BMC powers it on (the seed's VMs: ~25 s).
    pub boot_time: std::time::Duration,
    /// More attributes for every `<fencedevice>` (`action="off" power_wait="0"`, say).
    pub fence_extra: String,
    /// The `delay` (seconds) of each node's fence device in its method, by node number
    /// (node1's first; none when missing or 0): what decides which side of a split two-node
    /// cluster survives, both being quorate.
    pub fence_delay: Vec<u32>,
    /// The fence device: a BMC per node (`fence_ipmilan`), or, as in the seed itself, one APC
    /// power switch (`fence_apc`, the APC simulator in the switch) with an outlet per node.
    pub apc: bool,
    /// How many nodes (the seed has 2, with `two_node`; more are a majority-quorum cluster).
    pub nodes: usize,
    /// The daemons log at debug level (`-d`): the timestamps of every step of a failover.
    pub debug: bool,
    /// The failover domain's order, by node number (`[1, 2]`: node1 first).
    pub domain: Vec<usize>,
    /// Run on corosync (`<cman engine="corosync"/>`): each host boots its own corosync (the
    /// corosync.conf `ccs::corosync` generates from the cluster.conf, a private `/run` and
    /// `/dev/shm`), then the daemon.
    pub corosync: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            config_version: 11,
            token: None,
            fencing: true,
            fence_password: BMC_PASSWORD.to_string(),
            ip_sleeptime: 10,
            boot_time: std::time::Duration::from_secs(8),
            fence_extra: String::new(),
            fence_delay: Vec::new(),
            apc: false,
            nodes: 2,
            domain: vec![1, 2],
            debug: false,
            corosync: false,
        }
    }
}

/// The seed's cluster.conf (version 11, the one with fencing), addresses adapted.
pub fn cluster_conf(h: &Hosts, o: &Options) -> Result<String> {
    let script = h.dir.path().join("httpd");
    let mut nodes = String::new();
    let mut devices = String::new();
    for (i, (host, name)) in self::nodes(o).iter().enumerate() {
        let hh = h.host(host)?;
        let delay = match o.fence_delay.get(i) {
            Some(&d) if d > 0 => format!(" delay=\"{d}\""),
            _ => String::new(),
        };
        let fence = if o.fencing && o.apc {
            format!(
                "<fence>\n<method name=\"fence1\">\n<device name=\"apc_switch\" port=\"{n}\"{delay}/>\n</method>\n</fence>\n",
                n = i + 1
            )
        } else if o.fencing {
            format!(
                "<fence>\n<method name=\"fence1\">\n<device name=\"bmc{n}\"{delay}/>\n</method>\n</fence>\n",
                n = i + 1
            )
        } else {
            String::new()
        };
        nodes += &format!(
            "<clusternode name=\"{name}\" nodeid=\"{n}\" rgm_addr=\"{addr}\">\n{fence}</clusternode>\n",
            n = i + 1,
            addr = hh.addr
        );
        if o.apc {
            continue;
        }
        devices += &format!(
            "<fencedevice agent=\"fence_ipmilan\" ipaddr=\"{bmc}\" login=\"admin\" name=\"bmc{n}\" passwd=\"{pw}\" lanplus=\"1\" cipher=\"3\"{extra}/>\n",
            n = i + 1,
            bmc = hh.bmc_addr,
            pw = o.fence_password,
            extra = if o.fence_extra.is_empty() {
                String::new()
            } else {
                format!(" {}", o.fence_extra)
            }
        );
    }
    if o.apc {
        devices = format!(
            "<fencedevice agent=\"fence_apc\" ipaddr=\"{APC_ADDR}\" login=\"apc\" name=\"apc_switch\" passwd=\"{pw}\"{extra}/>\n",
            pw = o.fence_password,
            extra = if o.fence_extra.is_empty() {
                String::new()
            } else {
                format!(" {}", o.fence_extra)
            }
        );
    }
    let totem = o
        .token
        .map_or(String::new(), |t| format!("<totem token=\"{t}\"/>\n"));
    let votes = if o.nodes == 2 {
        "expected_votes=\"1\" two_node=\"1\"".to_string()
    } else {
        format!("expected_votes=\"{}\"", o.nodes)
    };
    let engine = if o.corosync {
        " engine=\"corosync\""
    } else {
        ""
    };
    let cman = format!("<cman {votes}{engine}/>");
    Ok(format!(
        r#"<?xml version="1.0"?>
<cluster config_version="{v}" name="web_ha">
<clusternodes>
{nodes}</clusternodes>
{cman}
{totem}<rm>
<failoverdomains>
<failoverdomain name="web_failover" ordered="1" restricted="1">
{domain}</failoverdomain>
</failoverdomains>
<resources>
<script file="{script}" name="httpd"/>
<ip address="{VIP}/24" sleeptime="{sleep}"/>
</resources>
<service domain="web_failover" exclusive="1" name="apache_service" recovery="relocate">
<script ref="httpd"/>
<ip ref="{VIP}/24"/>
</service>
</rm>
<fencedevices>
{devices}</fencedevices>
</cluster>
"#,
        v = o.config_version,
        script = script.display(),
        sleep = o.ip_sleeptime,
        cman = cman,
        domain = o
            .domain
            .iter()
            .enumerate()
            .map(|(p, n)| format!(
                "<failoverdomainnode name=\"node{n}.cluster.com\" priority=\"{}\"/>\n",
                p + 1
            ))
            .collect::<String>(),
    ))
}

/// The LSB init script of the web service: `name_httpd webN` where N is the last byte of the
/// node's own address; pid file per node.
fn init_script(httpd: &Path, run_dir: &Path) -> String {
    format!(
        r#"#!/bin/sh
# httpd: the seed scenario's web server (answers with this node's web name).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
# This host's own address (not the VIP), with one program: the start is on the takeover's path.
me=
for w in $(ip -o -4 addr show dev eth0); do
    case "$w" in {VIP}/*) ;; */*) [ -z "$me" ] && me=${{w%/*}} ;; esac
done
n=${{me##*.}}
pidfile='{run}'/httpd.$n.pid
running() {{ [ -f "$pidfile" ] && read -r pid < "$pidfile" && kill -0 "$pid" 2>/dev/null; }}
case "$1" in
start)
    running && exit 0
    setsid '{httpd}' "web$n" >/dev/null 2>&1 < /dev/null &
    echo $! > "$pidfile"
    ;;
stop)
    if running; then kill "$(cat "$pidfile")"; fi
    rm -f "$pidfile"
    ;;
status)
    running || exit 3
    ;;
esac
exit 0
"#,
        httpd = httpd.display(),
        run = run_dir.display(),
    )
}

/// The first lines of a host's boot script on corosync: writes the host's corosync.conf
/// (generated from the cluster.conf, its own log, state directory and key) and key; at boot,
/// gives corosync and the daemon a private `/run` (corosync's pid file has a fixed path) and
/// `/dev/shm` (libqb's files of a killed corosync stay there), starts corosync and waits
/// until it answers.
fn corosync_boot(hh: &crate::hosts::Host, conf: &str, key: &[u8]) -> Result<String> {
    let parsed = ccs::parse_str(conf).map_err(|d| HostError::Io {
        what: format!("the test's cluster.conf: {}", d.message),
        source: std::io::Error::other("invalid cluster.conf"),
    })?;
    let dir = hh.dir.join("corosync");
    let opts = ccs::corosync::Options {
        logfile: Some(dir.join("corosync.log").display().to_string()),
        state_dir: Some(dir.join("state").display().to_string()),
        keyfile: Some(dir.join("authkey").display().to_string()),
    };
    let text = ccs::corosync::corosync_conf(&parsed, &opts).map_err(|e| HostError::Io {
        what: format!("corosync.conf: {e}"),
        source: std::io::Error::other("no corosync.conf"),
    })?;
    write(&dir.join("corosync.conf"), text.as_bytes(), 0o644)?;
    // corosync wants 128 to 4096 bytes of key: the cluster key, twice over.
    let mut k = key.to_vec();
    k.extend_from_slice(key);
    k.extend_from_slice(key);
    k.extend_from_slice(key);
    write(&dir.join("authkey"), &k, 0o400)?;
    std::fs::create_dir_all(dir.join("state")).map_err(|source| HostError::Io {
        what: "cannot create corosync's state directory".into(),
        source,
    })?;
    let d = dir.display();
    Ok(format!(
        "mount -t tmpfs -o size=16m tmpfs /run && mount -t tmpfs -o size=64m tmpfs /dev/shm || exit 1\n\
         ip link set lo up\n\
         corosync -f -c '{d}/corosync.conf' >> '{d}/corosync.out' 2>&1 < /dev/null &\n\
         for i in $(seq 100); do corosync-cfgtool -s > /dev/null 2>&1 && break; sleep 0.1; done\n"
    ))
}

/// The seed cluster on `h` (hosts `node1`, `node2`, …, and any others such as `client`).
pub struct Seed {
    pub bins: PathBuf,
    /// The nodes' hosts, in order.
    pub hosts: Vec<String>,
    /// Their BMCs, in the same order.
    pub bmcs: Vec<Bmc>,
    /// With `Options::apc`: the switch's outlets (outlet N powers nodeN).
    pub outlets: Option<fence::apc_sim::Outlets>,
}

fn write(path: &Path, text: &[u8], mode: u32) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|source| HostError::Io {
            what: format!("cannot create {}", d.display()),
            source,
        })?;
    }
    std::fs::write(path, text)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|source| HostError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })
}

impl Seed {
    /// Writes every node's `/etc/cluster` (cluster.conf, authkey), the init script and boot
    /// scripts, and starts the BMCs. No daemon runs yet: [`Seed::boot`] starts one.
    pub fn setup(h: &Hosts, bins: &Path, o: &Options) -> Result<Seed> {
        let conf = cluster_conf(h, o)?;
        let mut key = vec![0u8; 32];
        {
            use std::io::Read;
            let mut f = std::fs::File::open("/dev/urandom").map_err(|source| HostError::Io {
                what: "cannot open /dev/urandom".into(),
                source,
            })?;
            f.read_exact(&mut key).map_err(|source| HostError::Io {
                what: "cannot read /dev/urandom".into(),
                source,
            })?;
        }
        let run_dir = h.dir.path().join("run");
        std::fs::create_dir_all(&run_dir).map_err(|source| HostError::Io {
            what: format!("cannot create {}", run_dir.display()),
            source,
        })?;
        write(
            &h.dir.path().join("httpd"),
            init_script(&bins.join("name_httpd"), &run_dir).as_bytes(),
            0o755,
        )?;
        let mut bmcs = Vec::new();
        let list = nodes(o);
        for (host, name) in &list {
            let host = host.as_str();
            let hh = h.host(host)?.clone();
            let etc = hh.dir.join("etc/cluster");
            write(&etc.join("cluster.conf"), conf.as_bytes(), 0o640)?;
            write(&etc.join("authkey"), &key, 0o600)?;
            let d = hh.dir.display();
            let corosync = if o.corosync {
                corosync_boot(&hh, &conf, &key)?
            } else {
                String::new()
            };
            h.set_boot(
                host,
                &format!(
                    "{corosync}RGMANAGER_LOG=stderr exec '{rgm}' -F{debug} -f '{d}/etc/cluster/cluster.conf' --node {name} \
                     --state-dir '{d}/state' --socket '{d}/rgmanager.sock' \
                     --key '{d}/etc/cluster/authkey' >> '{d}/rgmanager.log' 2>&1",
                    rgm = bins.join("rgmanager").display(),
                    debug = if o.debug { " -d" } else { "" }
                ),
            )?;
            bmcs.push(Bmc::start(&BmcSpec {
                addr: hh.bmc_addr,
                port: 623,
                password: BMC_PASSWORD.to_string(),
                netns: Some(h.switch.clone()),
                on_power_off: h.power_off_script(host)?,
                on_power_on: boot_after_script(&hh, o.boot_time),
                powered: true,
            })?);
        }
        let outlets = if o.apc { Some(start_apc(h, o)?) } else { None };
        Ok(Seed {
            bins: bins.to_path_buf(),
            hosts: list.into_iter().map(|(h, _)| h).collect(),
            bmcs,
            outlets,
        })
    }

    /// The BMC of `host` (`node1`, `node2`, …).
    pub fn bmc(&self, host: &str) -> Result<&Bmc> {
        self.hosts
            .iter()
            .position(|h| h == host)
            .and_then(|i| self.bmcs.get(i))
            .ok_or_else(|| HostError::NoHost(host.to_string()))
    }

    /// Powers `host` on through its BMC (as an administrator would), which boots it; when the
    /// BMC already says "on" (the host was killed behind its back), boots it directly.
    pub fn power_on(&self, h: &Hosts, host: &str) -> Result<()> {
        let bmc = self.bmc(host)?;
        if bmc.powered() {
            return h.boot(host);
        }
        bmc.set_power(true)?;
        h.wait_carrier(host, true)
    }

    /// `clustat ARGS` against `host`'s daemon: exit status and output (stdout then stderr).
    pub fn clustat(&self, h: &Hosts, host: &str, args: &[&str]) -> Result<(i32, String)> {
        self.tool(h, host, "clustat", args)
    }

    /// `clusvcadm ARGS` against `host`'s daemon.
    pub fn clusvcadm(&self, h: &Hosts, host: &str, args: &[&str]) -> Result<(i32, String)> {
        self.tool(h, host, "clusvcadm", args)
    }

    /// Runs one of the administration tools inside `host`'s namespace, talking to its daemon.
    pub fn tool(&self, h: &Hosts, host: &str, tool: &str, args: &[&str]) -> Result<(i32, String)> {
        let dir = h.host(host)?.dir.clone();
        let out = h
            .command(host, self.bins.join(tool))?
            .args(args)
            .arg("--socket")
            .arg(dir.join("rgmanager.sock"))
            .output()
            .map_err(|source| HostError::Io {
                what: format!("cannot run {tool}"),
                source,
            })?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ))
    }

    /// The daemon log of `host`.
    pub fn log(&self, h: &Hosts, host: &str) -> String {
        h.host(host)
            .map(|x| std::fs::read_to_string(x.dir.join("rgmanager.log")).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// Runs the APC simulator (AOS v3 menus, user `apc`, `Options::fence_password`) on the
/// switch's address, port 23, in the switch namespace; outlet N powers nodeN: off is the
/// host's power cut, on its boot after `Options::boot_time`. The server thread lives as long
/// as the test process (a listener thread blocked in accept).
fn start_apc(h: &Hosts, o: &Options) -> Result<fence::apc_sim::Outlets> {
    use fence::apc_sim::{outlets, serve_with, Config, Dialect, Hook};
    let mut off = Vec::new();
    let mut on = Vec::new();
    for (host, _) in nodes(o) {
        let host = host.as_str();
        let hh = h.host(host)?;
        off.push(h.power_off_script(host)?);
        on.push(boot_after_script(hh, o.boot_time));
    }
    let hook: Hook = std::sync::Arc::new(move |outlet: usize, power: bool| {
        let script = if power {
            on.get(outlet - 1)
        } else {
            off.get(outlet - 1)
        };
        if let Some(script) = script {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .status();
        }
    });
    let shared = outlets(8);
    let cfg = Config {
        dialect: Dialect::V3,
        user: "apc".into(),
        password: o.fence_password.clone(),
        outlets: 8,
        state_file: None,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let served = shared.clone();
    let _server =
        crate::hosts::spawn_in_netns(&h.switch, move || {
            match std::net::TcpListener::bind((APC_ADDR, 23)) {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    serve_with(l, cfg, served, Some(hook));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(Ok(())) => Ok(shared),
        Ok(Err(source)) => Err(HostError::Io {
            what: format!("the APC simulator cannot listen on {APC_ADDR}:23"),
            source,
        }),
        Err(_) => Err(HostError::Timeout("the APC simulator did not start".into())),
    }
}

/// How long the end-to-end tests wait for a cluster to get somewhere.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Polls `clustat --json` on `host` until `want` holds; panics with every host's log after
/// [`PATIENCE`].
pub fn wait_clustat(
    h: &Hosts,
    s: &Seed,
    host: &str,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (code, out) = s
            .clustat(h, host, &["--json"])
            .unwrap_or((-1, String::new()));
        if code == 0 {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) {
                if want(&v) {
                    return;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what} on {host}: {out}\n{}",
            h.logs(40)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// `clustat --json` says the seed's web service is started on `node`.
pub fn started_on(v: &serde_json::Value, node: &str) -> bool {
    v["services"].as_array().is_some_and(|a| {
        a.iter().any(|s| {
            s["name"] == "service:apache_service" && s["state"] == "started" && s["owner"] == node
        })
    })
}

/// The daemon's pid on `host`, from its pid file.
pub fn daemon_pid(h: &Hosts, host: &str) -> i32 {
    let path = match h.host(host) {
        Ok(x) => x.dir.join("state/rgmanager.pid"),
        Err(e) => panic!("{host}: {e}"),
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A seed cluster running for a test: its hosts (the nodes and `client`), every daemon up
/// and quorate with the web service on node1, the client answered by `web1`, the client's
/// prober and the watch on the nodes' addresses running.
pub struct Up {
    pub h: Hosts,
    pub seed: Seed,
    pub prober: crate::probe::Prober,
    pub watch: crate::probe::VipWatch,
}

impl Up {
    /// Makes the hosts of `o` and `client`, sets the cluster up with the binaries in `bins`,
    /// boots every node and waits until it serves. Panics with the hosts' logs when something
    /// fails or [`PATIENCE`] runs out: for tests.
    pub fn start(bins: &Path, o: &Options) -> Up {
        use crate::probe::{Prober, VipWatch};
        let list = nodes(o);
        let names: Vec<&str> = list.iter().map(|(host, _)| host.as_str()).collect();
        let every = std::time::Duration::from_millis(20);
        let h = Hosts::new(&[names.as_slice(), &["client"]].concat())
            .unwrap_or_else(|e| panic!("cannot make the hosts: {e}"));
        let seed = Seed::setup(&h, bins, o)
            .unwrap_or_else(|e| panic!("cannot set the cluster up: {e}\n{}", h.logs(40)));
        let prober = Prober::start(&h, "client", VIP, 80, every)
            .unwrap_or_else(|e| panic!("cannot start the client: {e}"));
        let watch = VipWatch::start(&h, &names, VIP, every)
            .unwrap_or_else(|e| panic!("cannot watch the addresses: {e}"));
        for n in &names {
            h.boot(n)
                .unwrap_or_else(|e| panic!("cannot boot {n}: {e}\n{}", h.logs(40)));
        }
        for n in &names {
            wait_clustat(&h, &seed, n, "apache_service on node1", |v| {
                v["quorate"] == true && started_on(v, "node1.cluster.com")
            });
        }
        assert!(prober.wait_for("web1", PATIENCE), "{}", h.logs(40));
        Up {
            h,
            seed,
            prober,
            watch,
        }
    }
}
