//! The `ip` agent for real: each test makes its own network namespace with a veth pair
//! (`ha`, where addresses go, and its peer `pb`), runs the agent (or `rg_test`) inside it and
//! checks the result with `ip` and a packet socket on the peer. The namespace and everything in
//! it is deleted when the test ends, even on failure. Needs root, as CI has.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rgmanager::resource::agent::{Agent, AgentError, Agents, OpContext};
use rgmanager::resource::ip::{IpAgent, IpError};
use rgmanager::resource::runner::Runner;
use rgmanager::resource::Forest;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the ip agent tests need root to create network namespaces (CI runs them as root); \
         run `cargo test` as root"
    );
}

/// A network namespace of this test, deleted on drop.
struct Netns {
    name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `ip netns add` sets up the `/run/netns` mount the first time it runs on a machine; one
/// at a time, so that parallel tests on a fresh machine do not race at it.
static CREATE: Mutex<()> = Mutex::new(());

impl Netns {
    fn new() -> Netns {
        require_root();
        let name = format!(
            "rgip-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// `ip -n NS ARGS`, which must succeed; its output.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A veth pair `ha`/`pb`, both up, with `v4` and `v6` (with prefixes) on `ha`; waits for
    /// the carrier.
    fn veth(&self, v4: &str, v6: &str) {
        self.ip(&["link", "add", "ha", "type", "veth", "peer", "name", "pb"]);
        self.ip(&["link", "set", "ha", "up"]);
        self.ip(&["link", "set", "pb", "up"]);
        self.ip(&["addr", "add", v4, "dev", "ha"]);
        self.ip(&["addr", "add", v6, "dev", "ha", "nodad"]);
        self.wait_link("ha", true);
    }

    /// Waits (generously) until `dev` has carrier (`LOWER_UP`) or not.
    fn wait_link(&self, dev: &str, carrier: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.ip(&["-o", "link", "show", "dev", dev]);
            let flags = out.split('<').nth(1).and_then(|s| s.split('>').next());
            let has = flags.is_some_and(|f| f.split(',').any(|x| x == "LOWER_UP"));
            if has == carrier {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{dev} carrier never {carrier}: {out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The addresses on `dev` as `ip -o addr` prints them (`10.0.0.1/24`, `fd00::1/64`).
    fn addrs(&self, dev: &str) -> Vec<String> {
        self.ip(&["-o", "addr", "show", "dev", dev])
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "inet" || *x == "inet6")?;
                w.next().map(str::to_string)
            })
            .collect()
    }

    fn mac(&self, dev: &str) -> [u8; 6] {
        let out = self.ip(&["-o", "link", "show", "dev", dev]);
        let hex = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_else(|| panic!("no MAC in {out}"));
        let v: Vec<u8> = hex
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let ns = File::open(&path).unwrap();
                // SAFETY: setns on a namespace file we hold; affects only this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            });
            match h.join() {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ctx(params: &[(&str, &str)]) -> OpContext {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !params.iter().any(|(k, _)| k == "sleeptime") {
        params.push(("sleeptime".into(), "0".into()));
    }
    let address = params
        .iter()
        .find(|(k, _)| k == "address")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    OpContext {
        service: "service:web".into(),
        resource: format!("ip:{address}"),
        kind: "ip".into(),
        params,
        timeout: None,
        timeout_hint: 20,
        depth: 0,
        refcnt: 0,
        ..OpContext::default()
    }
}

fn at_depth(c: &OpContext, depth: u32) -> OpContext {
    let mut c = c.clone();
    c.depth = depth;
    c
}

#[test]
fn ipv4_without_prefix_takes_the_subnet_of_its_interface() {
    let ns = Netns::new();
    ns.veth("10.200.1.1/24", "fd00:200:1::1/64");
    let c = ctx(&[("address", "10.200.1.100")]);
    ns.inside(|| {
        assert!(matches!(IpAgent.status(&c), Err(AgentError::NotRunning)));
        IpAgent.start(&c).unwrap();
    });
    assert!(ns.addrs("ha").contains(&"10.200.1.100/24".to_string()));
    ns.inside(|| {
        IpAgent.status(&c).unwrap();
        IpAgent.status(&at_depth(&c, 10)).unwrap();
        // Started again: already there, nothing to do.
        IpAgent.start(&c).unwrap();
        IpAgent.stop(&c).unwrap();
    });
    let addrs = ns.addrs("ha");
    assert!(
        !addrs.iter().any(|a| a.starts_with("10.200.1.100/")),
        "{addrs:?}"
    );
    assert!(addrs.contains(&"10.200.1.1/24".to_string()));
    ns.inside(|| {
        assert!(matches!(IpAgent.status(&c), Err(AgentError::NotRunning)));
        // Stopping a stopped address is a success.
        IpAgent.stop(&c).unwrap();
    });
}

#[test]
fn ipv4_with_prefix_keeps_it() {
    let ns = Netns::new();
    ns.veth("10.200.2.1/24", "fd00:200:2::1/64");
    let c = ctx(&[
        ("address", "10.200.2.100/28"),
        ("family", "inet"),
        ("sleeptime", "1"),
    ]);
    ns.inside(|| IpAgent.start(&c).unwrap());
    assert!(ns.addrs("ha").contains(&"10.200.2.100/28".to_string()));
    // The stop waits `sleeptime` seconds after the removal.
    let t = Instant::now();
    ns.inside(|| IpAgent.stop(&c).unwrap());
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(!ns
        .addrs("ha")
        .iter()
        .any(|a| a.starts_with("10.200.2.100/")));
}

#[test]
fn ipv6_with_and_without_prefix() {
    let ns = Netns::new();
    ns.veth("10.200.3.1/24", "fd00:200:3::1/64");
    let bare = ctx(&[("address", "fd00:200:3::100")]);
    let given = ctx(&[("address", "fd00:200:3::200/80"), ("family", "inet6")]);
    ns.inside(|| {
        IpAgent.start(&bare).unwrap();
        IpAgent.start(&given).unwrap();
    });
    let addrs = ns.addrs("ha");
    assert!(
        addrs.contains(&"fd00:200:3::100/64".to_string()),
        "{addrs:?}"
    );
    assert!(
        addrs.contains(&"fd00:200:3::200/80".to_string()),
        "{addrs:?}"
    );
    ns.inside(|| {
        IpAgent.status(&bare).unwrap();
        IpAgent.status(&at_depth(&given, 10)).unwrap();
        IpAgent.stop(&bare).unwrap();
        IpAgent.stop(&given).unwrap();
        assert!(matches!(IpAgent.status(&bare), Err(AgentError::NotRunning)));
    });
    let addrs = ns.addrs("ha");
    assert!(
        !addrs
            .iter()
            .any(|a| a.starts_with("fd00:200:3::100/") || a.starts_with("fd00:200:3::200/")),
        "{addrs:?}"
    );
}

#[test]
fn no_interface_in_the_subnet_fails_naming_service_and_resource() {
    let ns = Netns::new();
    ns.veth("10.200.4.1/24", "fd00:200:4::1/64");
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><rm>
          <service name="web"><ip address="10.201.0.7/24" sleeptime="0"/></service></rm></cluster>"#,
    )
    .unwrap();
    let f = Forest::build(&conf);
    let agents = Agents::builtin();
    let msg = ns.inside(|| {
        let mut r = Runner::new(&f, &agents);
        let rep = r.start(f.roots[0]);
        assert!(!rep.ok);
        let msg = rep.errors().next().unwrap().to_string();
        msg
    });
    assert_eq!(
        msg,
        "service:web: start of ip:10.201.0.7/24 failed: \
         no up interface has an address in the same subnet as 10.201.0.7"
    );
    assert!(!ns.addrs("ha").iter().any(|a| a.starts_with("10.201.")));
}

#[test]
fn monitor_link_without_carrier_fails_start_and_status() {
    let ns = Netns::new();
    ns.veth("10.200.5.1/24", "fd00:200:5::1/64");
    let mon = ctx(&[("address", "10.200.5.100")]);
    let nomon = ctx(&[("address", "10.200.5.100"), ("monitor_link", "0")]);
    // Started with carrier; then the peer goes down and status notices.
    ns.inside(|| IpAgent.start(&mon).unwrap());
    ns.ip(&["link", "set", "pb", "down"]);
    ns.wait_link("ha", false);
    ns.inside(|| {
        let e = IpAgent.status(&mon).unwrap_err();
        assert!(
            matches!(e, AgentError::Ip(IpError::NoCarrier { .. })),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "interface ha has no link (no carrier) and monitor_link is on"
        );
        // Without monitor_link the address is all that counts (ha itself is still up).
        IpAgent.status(&nomon).unwrap();
        IpAgent.status(&at_depth(&nomon, 10)).unwrap();
        IpAgent.stop(&mon).unwrap();
        // No carrier: the start refuses with monitor_link, goes ahead without it.
        let e = IpAgent.start(&mon).unwrap_err();
        assert!(
            matches!(e, AgentError::Ip(IpError::NoCarrier { .. })),
            "{e}"
        );
    });
    assert!(!ns
        .addrs("ha")
        .iter()
        .any(|a| a.starts_with("10.200.5.100/")));
    ns.inside(|| IpAgent.start(&nomon).unwrap());
    assert!(ns.addrs("ha").contains(&"10.200.5.100/24".to_string()));
    // Down interface: status at depth 10 fails even without monitor_link.
    ns.ip(&["link", "set", "ha", "down"]);
    ns.inside(|| {
        IpAgent.status(&nomon).unwrap();
        let e = IpAgent.status(&at_depth(&nomon, 10)).unwrap_err();
        assert!(
            matches!(e, AgentError::Ip(IpError::InterfaceDown { .. })),
            "{e}"
        );
    });
}

#[test]
fn address_on_another_interface_is_an_error() {
    let ns = Netns::new();
    ns.veth("10.200.6.1/24", "fd00:200:6::1/64");
    ns.ip(&["link", "add", "hb", "type", "veth", "peer", "name", "pc"]);
    ns.ip(&["link", "set", "hb", "up"]);
    ns.ip(&["link", "set", "pc", "up"]);
    ns.ip(&["addr", "add", "10.200.6.100/32", "dev", "hb"]);
    let c = ctx(&[("address", "10.200.6.100")]);
    let e = ns.inside(|| IpAgent.start(&c).unwrap_err());
    assert_eq!(
        e.to_string(),
        "10.200.6.100 is already configured on hb, but its subnet belongs to ha"
    );
    assert!(!ns
        .addrs("ha")
        .iter()
        .any(|a| a.starts_with("10.200.6.100/")));
    assert_eq!(
        ns.addrs("hb").first().map(String::as_str),
        Some("10.200.6.100/32")
    );
}

#[test]
fn duplicate_ipv6_address_fails_the_status() {
    let ns = Netns::new();
    ns.veth("10.200.10.1/24", "fd00:200:10::1/64");
    // The peer end goes to a namespace of its own, a second "host" that already has the address.
    let other = Netns::new();
    ns.ip(&["link", "set", "pb", "netns", &other.name]);
    other.ip(&["link", "set", "pb", "up"]);
    other.ip(&["addr", "add", "fd00:200:10::100/64", "dev", "pb", "nodad"]);
    ns.wait_link("ha", true);
    let c = ctx(&[("address", "fd00:200:10::100")]);
    ns.inside(|| IpAgent.start(&c).unwrap());
    // Duplicate address detection runs in the kernel within a few seconds of the add.
    let deadline = Instant::now() + Duration::from_secs(60);
    let e = loop {
        match ns.inside(|| IpAgent.status(&c)) {
            Ok(()) => {
                assert!(Instant::now() < deadline, "DAD never failed");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(e, AgentError::Ip(IpError::Duplicate { .. })),
        "{e}"
    );
    assert!(ns
        .ip(&["-o", "addr", "show", "dev", "ha"])
        .lines()
        .any(|l| l.contains("fd00:200:10::100/64") && l.contains("dadfailed")));
    // Stop removes it all the same.
    ns.inside(|| IpAgent.stop(&c).unwrap());
    assert!(!ns
        .addrs("ha")
        .iter()
        .any(|a| a.starts_with("fd00:200:10::100/")));
}

/// A packet socket capturing every frame that reaches `dev`.
struct Capture(OwnedFd);

impl Capture {
    fn open(dev: &str) -> Capture {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2), owned right away.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        assert!(
            raw >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let name = std::ffi::CString::new(dev).unwrap();
        // SAFETY: a valid C string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(index > 0, "no {dev}");
        // SAFETY: zeroed sockaddr_ll is valid; bind reads it for its size.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = index as i32;
        // SAFETY: the address is valid for the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: a timeval for SO_RCVTIMEO.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        Capture(fd)
    }

    /// Every frame received until nothing came for a second (or 20 s passed).
    fn drain(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            // SAFETY: the buffer is valid for its length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            frames.push(buf[..n as usize].to_vec());
        }
        frames
    }
}

#[test]
fn gratuitous_arp_reaches_the_peer() {
    let ns = Netns::new();
    ns.veth("10.200.8.1/24", "fd00:200:8::1/64");
    let mac = ns.mac("ha");
    let c = ctx(&[("address", "10.200.8.100")]);
    let frames = ns.inside(|| {
        let cap = Capture::open("pb");
        IpAgent.start(&c).unwrap();
        cap.drain()
    });
    let ip = [10, 200, 8, 100];
    let garps: Vec<_> = frames
        .iter()
        .filter(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06])
        .map(|f| &f[14..42])
        .filter(|a| a[14..18] == ip && a[24..28] == ip)
        .collect();
    assert_eq!(garps.len(), 2, "want 2 gratuitous ARPs, got {garps:02x?}");
    for a in garps {
        assert_eq!(&a[..8], &[0, 1, 8, 0, 6, 4, 0, 1], "an ARP request");
        assert_eq!(&a[8..14], &mac, "sender is ha");
    }
    for f in frames.iter().filter(|f| f[12..14] == [0x08, 0x06]) {
        assert_eq!(&f[..6], &[0xff; 6], "broadcast");
    }
}

#[test]
fn unsolicited_neighbour_advertisement_reaches_the_peer() {
    let ns = Netns::new();
    ns.veth("10.200.9.1/24", "fd00:200:9::1/64");
    let mac = ns.mac("ha");
    let c = ctx(&[("address", "fd00:200:9::100")]);
    let target: std::net::Ipv6Addr = "fd00:200:9::100".parse().unwrap();
    let frames = ns.inside(|| {
        let cap = Capture::open("pb");
        IpAgent.start(&c).unwrap();
        cap.drain()
    });
    let nas: Vec<_> = frames
        .iter()
        .filter(|f| f.len() >= 14 + 40 + 32 && f[12..14] == [0x86, 0xdd])
        .map(|f| &f[14..])
        .filter(|p| p[6] == 58 && p[40] == 136 && p[48..64] == target.octets())
        .collect();
    assert_eq!(nas.len(), 1, "want 1 unsolicited NA, got {nas:02x?}");
    let p = nas[0];
    assert_eq!(p[7], 255, "hop limit");
    assert_eq!(&p[8..24], &target.octets(), "from the new address");
    assert_eq!(
        &p[24..40],
        &"ff02::1".parse::<std::net::Ipv6Addr>().unwrap().octets()
    );
    assert_eq!(p[44] & 0xe0, 0x20, "override, not solicited, not router");
    assert_eq!(&p[64..66], &[2, 1], "target link-layer address option");
    assert_eq!(&p[66..72], &mac);
}

#[test]
fn rg_test_runs_a_seed_004_like_service_in_a_namespace() {
    let ns = Netns::new();
    ns.veth("10.200.7.1/24", "fd00:200:7::1/64");
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("httpd.running");
    let script = d.path().join("httpd");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nM={}\ncase \"$1\" in\n start) touch $M ;;\n stop) rm -f $M ;;\n status) [ -e $M ] || exit 3 ;;\nesac\nexit 0\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = d.path().join("cluster.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<?xml version="1.0"?>
<cluster config_version="6" name="web_ha">
<clusternodes>
<clusternode name="node1.cluster.com" nodeid="1"/>
<clusternode name="node2.cluster.com" nodeid="2"/>
</clusternodes>
<cman expected_votes="1" two_node="1"/>
<rm>
<failoverdomains>
<failoverdomain name="web_failover" ordered="1" restricted="1">
<failoverdomainnode name="node1.cluster.com" priority="1"/>
<failoverdomainnode name="node2.cluster.com" priority="2"/>
</failoverdomain>
</failoverdomains>
<resources>
<ip address="10.200.7.100/24" sleeptime="0"/>
<script file="{}" name="httpd"/>
</resources>
<service domain="web_failover" name="apache_service" recovery="relocate">
<ip ref="10.200.7.100/24"/>
<script ref="httpd"/>
</service>
</rm>
</cluster>
"#,
            script.display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let rg_test = |op: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_rg_test")])
            .args(["test", conf, op, "service", "apache_service"])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (rc, out, err) = rg_test("start");
    assert_eq!(
        (rc, out.as_str()),
        (
            0,
            "Starting apache_service...\nStart of apache_service complete\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("[ip] Adding IPv4 address 10.200.7.100/24 to ha"),
        "{err}"
    );
    assert!(ns.addrs("ha").contains(&"10.200.7.100/24".to_string()));
    assert!(marker.exists());
    let (rc, out, err) = rg_test("status");
    assert_eq!(
        (rc, out.as_str()),
        (
            0,
            "Checking status of apache_service...\nStatus of apache_service is good\n"
        ),
        "{err}"
    );
    let (rc, out, err) = rg_test("stop");
    assert_eq!(
        (rc, out.as_str()),
        (
            0,
            "Stopping apache_service...\nStop of apache_service complete\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("[ip] Removing IPv4 address 10.200.7.100/24 from ha"),
        "{err}"
    );
    assert!(!ns
        .addrs("ha")
        .iter()
        .any(|a| a.starts_with("10.200.7.100/")));
    assert!(!marker.exists());
    let (rc, out, err) = rg_test("status");
    assert_eq!(rc, 1, "{out}{err}");
    assert!(
        err.contains("status on ip \"10.200.7.100/24\" returned 7 (not running)"),
        "{err}"
    );
}
