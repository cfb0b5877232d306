//! The observer: what really runs where, sampled from outside every daemon, every 20 ms.
//!
//! One thread sweeps every node host: who holds the floating address (an rtnetlink dump in each
//! namespace, [`super::net::AddrSocket`]) and who runs each service (the script's pid file
//! `markers/SVC.HOST.pid`, believed only when `/proc` shows a live process whose command line
//! names `SVC@HOST`). Another asks, from the client, who answers ARP for the address. Two
//! holders, two ARP answers to one request, or two live runners of a service are violations,
//! recorded with their time. The sweep also keeps the moments when some wanted service was not
//! up (no runner, a runner on a host the client cannot reach or that is stopped, web without
//! the address on its runner's host), from which the lab reads recovery times.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::net::{show_mac, AddrSocket, ArpProbe};
use crate::hosts::Result;

/// What the lab wants now: the services that should be up, and the hosts the client cannot
/// reach (cut off, hung), whose runners do not count as up.
#[derive(Clone, Debug, Default)]
pub struct Intent {
    pub services: Vec<String>,
    pub unreachable: Vec<String>,
}

/// A violation seen live.
#[derive(Clone, Debug)]
pub struct Live {
    pub at: SystemTime,
    pub rule: &'static str,
    pub text: String,
}

/// What the sweeps found so far.
#[derive(Debug, Default)]
pub struct State {
    pub violations: Vec<Live>,
    /// Hosts holding the address at the last sweep.
    pub holders: Vec<String>,
    /// Service → hosts running it at the last sweep.
    pub runners: BTreeMap<String, Vec<String>>,
    /// Whether every wanted service was up at the last sweep.
    pub up: bool,
    /// When something wanted was down: (from, until), the last one open while it lasts.
    pub downs: Vec<(Instant, Option<Instant>)>,
    /// Changes of holders and runners, for the iteration's record.
    pub timeline: Vec<(SystemTime, String)>,
    pub sweeps: u64,
    pub arp_rounds: u64,
    /// The longest sweep (all hosts' addresses and runners).
    pub slowest_sweep: Duration,
}

struct Shared {
    stop: AtomicBool,
    intent: Mutex<Intent>,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Observer {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// A process's state letter in `/proc/PID/stat` (`R`, `S`, `T`, `Z`, …).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether `svc` runs on `host`, by its script's pid file and the process it names: `None`
/// when it does not, else the process's state letter (`T`: stopped).
pub fn runner(markers: &Path, svc: &str, host: &str) -> Option<char> {
    let text = std::fs::read_to_string(markers.join(format!("{svc}.{host}.pid"))).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let state = proc_state(pid)?;
    if matches!(state, 'Z' | 'X' | 'x') {
        return None;
    }
    // Pids are reused (32768 of them, hours of runs): the process must be the one the script
    // started, `name_httpd SVC@HOST PORT`.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let tag = format!("{svc}@{host}");
    cmdline
        .split(|b| *b == 0)
        .any(|a| a == tag.as_bytes())
        .then_some(state)
}

impl Observer {
    /// Starts sweeping `nodes` (name, namespace) every `every`, and probing ARP for `vip` from
    /// the client's namespace.
    pub fn start(
        nodes: &[(String, String)],
        client_ns: &str,
        client_addr: Ipv4Addr,
        vip: Ipv4Addr,
        markers: &Path,
        services: &[&str],
        every: Duration,
    ) -> Result<Observer> {
        let mut sockets = Vec::new();
        let mut macs = BTreeMap::new();
        for (name, ns) in nodes {
            sockets.push((name.clone(), AddrSocket::open(ns)?));
            macs.insert(super::net::mac(ns)?, name.clone());
        }
        let arp = ArpProbe::open(client_ns, client_addr, vip)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            intent: Mutex::new(Intent::default()),
            state: Mutex::new(State {
                up: true,
                ..State::default()
            }),
        });
        let mut threads = Vec::new();
        let s = shared.clone();
        let markers: PathBuf = markers.to_path_buf();
        let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        threads.push(std::thread::spawn(move || {
            sweep_loop(&s, sockets, &markers, &services, vip, every)
        }));
        let s = shared.clone();
        threads.push(std::thread::spawn(move || {
            arp_loop(&s, &arp, &macs, vip, every)
        }));
        Ok(Observer { shared, threads })
    }

    pub fn set_intent(&self, intent: Intent) {
        *lock(&self.shared.intent) = intent;
    }

    pub fn intent(&self) -> Intent {
        lock(&self.shared.intent).clone()
    }

    /// Reads the state.
    pub fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&lock(&self.shared.state))
    }

    /// Takes the timeline recorded so far (each iteration takes its own).
    pub fn take_timeline(&self) -> Vec<(SystemTime, String)> {
        std::mem::take(&mut lock(&self.shared.state).timeline)
    }

    /// The one host running `svc` at the last sweep, if exactly one does.
    pub fn owner(&self, svc: &str) -> Option<String> {
        self.with(|s| match s.runners.get(svc).map(Vec::as_slice) {
            Some([one]) => Some(one.clone()),
            _ => None,
        })
    }

    /// Waits until a full sweep has run after now (so that its view includes what the lab
    /// just did).
    pub fn fresh(&self) {
        let n = self.with(|s| s.sweeps);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.with(|s| s.sweeps) < n + 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn sweep_loop(
    s: &Shared,
    mut sockets: Vec<(String, AddrSocket)>,
    markers: &Path,
    services: &[String],
    vip: Ipv4Addr,
    every: Duration,
) {
    let mut next = Instant::now();
    let mut last_double = false;
    let mut last_runner_double: BTreeMap<String, bool> = BTreeMap::new();
    while !s.stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let mut holders = Vec::new();
        for (name, sock) in sockets.iter_mut() {
            // A failed dump is no evidence either way; the next sweep tries again.
            if sock.v4().is_ok_and(|a| a.contains(&vip)) {
                holders.push(name.clone());
            }
        }
        let mut runners: BTreeMap<String, Vec<(String, char)>> = BTreeMap::new();
        for svc in services {
            let list = sockets
                .iter()
                .filter_map(|(h, _)| runner(markers, svc, h).map(|st| (h.clone(), st)))
                .collect();
            runners.insert(svc.clone(), list);
        }
        let took = began.elapsed();
        let intent = lock(&s.intent).clone();
        let up = intent
            .services
            .iter()
            .all(|svc| match runners.get(svc).map(Vec::as_slice) {
                Some([(h, st)]) => {
                    *st != 'T'
                        && !intent.unreachable.contains(h)
                        && (svc != "web" || holders.as_slice() == [h.clone()])
                }
                _ => false,
            });
        let now = SystemTime::now();
        let mut st = lock(&s.state);
        st.sweeps += 1;
        st.slowest_sweep = st.slowest_sweep.max(took);
        let double = holders.len() > 1;
        if double && !last_double {
            st.violations.push(Live {
                at: now,
                rule: "one holder of the address (ip addr)",
                text: format!("{} held {vip} at once", holders.join(" and ")),
            });
        }
        last_double = double;
        for (svc, list) in &runners {
            let two = list.len() > 1;
            let was = last_runner_double.insert(svc.clone(), two).unwrap_or(false);
            if two && !was {
                let hosts: Vec<&str> = list.iter().map(|(h, _)| h.as_str()).collect();
                st.violations.push(Live {
                    at: now,
                    rule: "one runner (processes)",
                    text: format!("service:{svc} runs on {} at once", hosts.join(" and ")),
                });
            }
        }
        if holders != st.holders {
            let line = format!("address on [{}]", holders.join(" "));
            st.timeline.push((now, line));
            st.holders = holders;
        }
        for (svc, list) in runners {
            let hosts: Vec<String> = list.into_iter().map(|(h, _)| h).collect();
            if st.runners.get(&svc) != Some(&hosts) {
                st.timeline
                    .push((now, format!("service:{svc} runs on [{}]", hosts.join(" "))));
                st.runners.insert(svc, hosts);
            }
        }
        if up != st.up {
            let at = Instant::now();
            if up {
                if let Some(last) = st.downs.last_mut() {
                    last.1 = Some(at);
                }
            } else {
                st.downs.push((at, None));
            }
            st.timeline.push((
                now,
                if up { "all up" } else { "something down" }.to_string(),
            ));
            st.up = up;
        }
        drop(st);
        next += every;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

fn arp_loop(
    s: &Shared,
    arp: &ArpProbe,
    macs: &BTreeMap<[u8; 6], String>,
    vip: Ipv4Addr,
    every: Duration,
) {
    let window = every.mul_f64(0.75);
    let mut last_double = false;
    while !s.stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let Ok(answered) = arp.round(vip, window) else {
            std::thread::sleep(every);
            continue;
        };
        let mut st = lock(&s.state);
        st.arp_rounds += 1;
        let double = answered.len() > 1;
        if double && !last_double {
            let who: Vec<String> = answered
                .iter()
                .map(|m| {
                    macs.get(m)
                        .map_or_else(|| show_mac(m), |h| format!("{h} ({})", show_mac(m)))
                })
                .collect();
            st.violations.push(Live {
                at: SystemTime::now(),
                rule: "one holder of the address (ARP)",
                text: format!("{} answered ARP for {vip} at once", who.join(" and ")),
            });
        }
        last_double = double;
        drop(st);
        let spent = began.elapsed();
        if spent < every {
            std::thread::sleep(every - spent);
        }
    }
}
