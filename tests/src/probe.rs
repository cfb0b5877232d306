//! A client that measures a service the way its users see it: an HTTP GET to the service's
//! floating address every few milliseconds from the client host, recording who answered (the
//! web servers of the tests answer with their node's name) or that nobody did. From the samples:
//! the outage after a failure (from the failure to the first answer of the new node) and
//! whether two nodes ever answered in the same period.
//!
//! Alongside, [`VipWatch`] samples `ip addr` in every node's namespace: no node may hold the
//! floating address while another does.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::hosts::{spawn_in_netns, Hosts, Result};

/// One probe: when it started (since the prober started) and who answered.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub answer: Option<String>,
}

/// One HTTP/1.0 GET `/` to `addr:port`, each step within `timeout`: the body, trimmed.
pub fn http_get(addr: Ipv4Addr, port: u16, timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&SocketAddrV4::new(addr, port).into(), timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
}

/// Polls an address from a host until stopped.
pub struct Prober {
    started: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Prober {
    /// Starts polling `addr:port` from `client` every `every` (each probe given `every` or
    /// 50 ms, whichever is longer, to answer).
    pub fn start(
        h: &Hosts,
        client: &str,
        addr: Ipv4Addr,
        port: u16,
        every: Duration,
    ) -> Result<Prober> {
        let ns = h.host(client)?.ns.clone();
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s2, samples2) = (stop.clone(), samples.clone());
        let timeout = every.max(Duration::from_millis(50));
        let thread = spawn_in_netns(&ns, move || {
            let mut next = Instant::now();
            while !s2.load(Ordering::Relaxed) {
                let at = started.elapsed();
                let answer = http_get(addr, port, timeout);
                samples2
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Sample { at, answer });
                next += every;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        })?;
        Ok(Prober {
            started,
            stop,
            samples,
            thread: Some(thread),
        })
    }

    /// Time since the prober started (to mark a failure in the samples' clock).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last answer seen, if the last probe got one.
    pub fn last(&self) -> Option<String> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .and_then(|s| s.answer.clone())
    }

    /// Waits until a probe started after now gets `want`, or `patience` runs out.
    pub fn wait_for(&self, want: &str, patience: Duration) -> bool {
        let from = self.now();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if self
                .samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .take_while(|s| s.at >= from)
                .any(|s| s.answer.as_deref() == Some(want))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The samples taken from `from` on (the prober's clock).
    pub fn since(&self, from: Duration) -> Vec<Sample> {
        let all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let i = all.partition_point(|s| s.at < from);
        all[i..].to_vec()
    }

    /// Drops the samples taken before `at` (a prober polling for hours keeps only what is
    /// still to be read).
    pub fn forget_before(&self, at: Duration) {
        let mut all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let i = all.partition_point(|s| s.at < at);
        all.drain(..i);
    }

    pub fn stop(mut self) -> Vec<Sample> {
        self.finish();
        self.samples()
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The outage after a failure at `failed_at`: the time from it to the start of the first probe
/// answered by `new_owner`, if one was. Answers from the old owner in between do not end it.
pub fn outage(samples: &[Sample], failed_at: Duration, new_owner: &str) -> Option<Duration> {
    samples
        .iter()
        .find(|s| s.at >= failed_at && s.answer.as_deref() == Some(new_owner))
        .map(|s| s.at - failed_at)
}

/// How long the client went unanswered over `samples` (each sample counts until the next one,
/// the last until `end`): the total, and the longest single stretch (from its first unanswered
/// probe to the next answered one).
pub fn unanswered(samples: &[Sample], end: Duration) -> (Duration, Duration) {
    let mut total = Duration::ZERO;
    let mut longest = Duration::ZERO;
    let mut run_from: Option<Duration> = None;
    for (i, s) in samples.iter().enumerate() {
        let next = samples.get(i + 1).map_or(end, |n| n.at);
        if s.answer.is_none() {
            total += next.saturating_sub(s.at);
            let from = *run_from.get_or_insert(s.at);
            longest = longest.max(next.saturating_sub(from));
        } else {
            run_from = None;
        }
    }
    (total, longest)
}

/// Names of the nodes that answered in `samples`, in order of first answer.
pub fn answerers(samples: &[Sample]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for s in samples {
        if let Some(a) = &s.answer {
            if !seen.contains(a) {
                seen.push(a.clone());
            }
        }
    }
    seen
}

/// Samples, in every node's namespace, whether it holds the floating address, and records any
/// moment two did at once.
pub struct VipWatch {
    stop: Arc<AtomicBool>,
    doubles: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl VipWatch {
    pub fn start(h: &Hosts, nodes: &[&str], vip: Ipv4Addr, every: Duration) -> Result<VipWatch> {
        let mut namespaces = Vec::new();
        for n in nodes {
            namespaces.push((n.to_string(), h.host(n)?.ns.clone()));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let doubles = Arc::new(Mutex::new(Vec::new()));
        let (s2, d2) = (stop.clone(), doubles.clone());
        let needle = format!("inet {vip}/");
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let holders: Vec<&str> = namespaces
                    .iter()
                    .filter(|(_, ns)| {
                        crate::hosts::run("ip", &["-n", ns, "-o", "-4", "addr", "show"])
                            .is_ok_and(|out| out.contains(&needle))
                    })
                    .map(|(n, _)| n.as_str())
                    .collect();
                if holders.len() > 1 {
                    d2.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(holders.join(" and "));
                }
                std::thread::sleep(every);
            }
        });
        Ok(VipWatch {
            stop,
            doubles,
            thread: Some(thread),
        })
    }

    /// Moments (as "node1 and node2") when more than one node held the address.
    pub fn doubles(&self) -> Vec<String> {
        self.doubles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_stretches() {
        let ms = Duration::from_millis;
        let s = |at: u64, a: Option<&str>| Sample {
            at: ms(at),
            answer: a.map(str::to_string),
        };
        let samples = [
            s(0, Some("a")),
            s(20, None),
            s(70, None),
            s(120, Some("b")),
            s(140, None),
            s(160, Some("b")),
        ];
        assert_eq!(unanswered(&samples, ms(180)), (ms(120), ms(100)));
        assert_eq!(unanswered(&samples[..3], ms(100)), (ms(80), ms(80)));
        assert_eq!(unanswered(&[], ms(100)), (Duration::ZERO, Duration::ZERO));
    }
}
