//! Attacks on real daemons over real sockets (issue 14; run as root, as CI does): while an
//! attacker floods one node's sync port (TCP, membership port + 1) from twelve other loopback
//! addresses with idle connections, garbage, forged headers that state a huge body, and
//! headers trickled a byte at a time, an administrator's push of a new cluster.conf still
//! reaches every node in time, no node exits, the flooded daemon's memory stays bounded, and
//! a packet capture of the whole exchange on `lo` (an AF_PACKET socket) never contains the
//! fence device's password: the configuration crosses the network encrypted.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{online, started_on, Cluster};

const NODES: [&str; 3] = ["node1", "node2", "node3"];
const SECRET: &str = "Pw-never-in-clear-93514";

fn conf(c: &Cluster, version: u64) -> String {
    let nodes = c.nodes_xml(|_| String::new());
    format!(
        r#"<?xml version="1.0"?>
<cluster name="attacked" config_version="{version}">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <fence_daemon clean_start="1"/>
  <clusternodes>
{nodes}  </clusternodes>
  <fencedevices>
    <fencedevice name="bmc" agent="fence_ipmilan" ipaddr="127.0.0.1" login="admin" passwd="{SECRET}"/>
  </fencedevices>
  <rm>
    <service name="alpha">
      <script name="alpha" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        c.script("alpha").display()
    )
}

/// A TCP connection to `to` from `from` (another loopback address).
fn connect_from(from: Ipv4Addr, to: SocketAddrV4) -> Option<TcpStream> {
    // SAFETY: plain socket calls on a descriptor owned here; handed to TcpStream at the end.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return None;
        }
        let sa = |a: Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
            sin_zero: [0; 8],
        };
        let local = sa(from, 0);
        let remote = sa(*to.ip(), to.port());
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0
            || libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0
        {
            libc::close(fd);
            return None;
        }
        Some(TcpStream::from_raw_fd(fd))
    }
}

/// Captures every packet on `lo` until `stop`, into `out`.
fn sniff(stop: Arc<AtomicBool>, out: Arc<Mutex<Vec<Vec<u8>>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // SAFETY: an AF_PACKET socket read into a local buffer; closed at the end.
        unsafe {
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto);
            assert!(fd >= 0, "AF_PACKET socket: run as root");
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            let mut buf = vec![0u8; 70_000];
            while !stop.load(Ordering::Relaxed) {
                let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
                if n > 0 {
                    out.lock().unwrap().push(buf[..n as usize].to_vec());
                }
            }
            libc::close(fd);
        }
    })
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_push_gets_through_a_flooded_sync_port_and_no_password_crosses_in_clear() {
    let mut c = loop {
        let c = Cluster::new(3);
        if c.ports
            .iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        {
            break c;
        }
    };
    let v1 = conf(&c, 1);
    for n in NODES {
        std::fs::write(c.node_conf(n), &v1).unwrap();
        c.start_own(n);
    }
    c.wait_for(&NODES, "three members, alpha running", |v| {
        v["quorate"] == true
            && NODES.iter().all(|n| online(v, n))
            && NODES.iter().any(|n| started_on(v, "service:alpha", n))
    });
    let pid2 = c.pid("node2");
    let rss_before = rss_kib(pid2);
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, c.ports[1] + 1);

    let stop = Arc::new(AtomicBool::new(false));
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sniffer = sniff(stop.clone(), captured.clone());
    // The attacker, from twelve addresses 127.0.0.2 .. 127.0.0.13 (four connections each
    // would hold every one of the 32 slots): waves of connections of every kind.
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let mut opened = 0u64;
            let mut forged = b"RGMs\x04\x05other".to_vec();
            forged.resize(400, 0xFF);
            while !stop.load(Ordering::Relaxed) {
                for i in 0..30u32 {
                    let from = Ipv4Addr::new(127, 0, 0, 2 + (i % 12) as u8);
                    let Some(mut s) = connect_from(from, target) else {
                        continue;
                    };
                    opened += 1;
                    let _ = match i % 4 {
                        0 => Ok(()),                     // idle
                        1 => s.write_all(&[0xA5; 4096]), // garbage
                        2 => s.write_all(&forged),       // forged header
                        _ => s.write_all(b"RGMs\x04"),   // trickle, then idle
                    };
                    held.push(s);
                }
                if held.len() > 300 {
                    held.drain(..150);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            opened
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let (rc, out, err) = c.push("node1", &conf(&c, 2));
    let push_time = t.elapsed();
    assert_eq!(rc, 0, "push during the flood: {out}{err}");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let opened = attacker.join().unwrap();
    sniffer.join().unwrap();
    eprintln!(
        "flood: {opened} connections; push took {push_time:?}; node2 RSS {rss_before} -> {} KiB",
        rss_kib(pid2)
    );
    assert!(
        opened > 200,
        "the attacker opened only {opened} connections"
    );
    assert!(push_time < Duration::from_secs(15), "{push_time:?}");
    for n in NODES {
        let (rc, out, _) = c.ccs_sync(n, &["--check"]);
        assert!(
            rc == 0 && out.matches("version 2 ").count() == 3,
            "{n}: {out}"
        );
        let v = c.clustat(n).unwrap();
        assert!(NODES.iter().all(|m| online(&v, m)), "{n}: {v:#}");
    }
    assert!(
        rss_kib(pid2) < rss_before + 64 * 1024,
        "node2 grew from {rss_before} to {} KiB",
        rss_kib(pid2)
    );
    let packets = captured.lock().unwrap();
    let all: Vec<u8> = packets.concat();
    assert!(
        all.windows(14)
            .any(|w| w[..4] == *b"RGMs" && w[5..] == *b"\x08attacked"),
        "the capture saw no sync frame ({} packets)",
        packets.len()
    );
    assert!(
        !all.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the password crossed the network in clear"
    );
}
