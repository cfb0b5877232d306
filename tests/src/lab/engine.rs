//! The lab's loop: for each step, the fault applied to the real hosts, held, undone, the
//! cluster settled again, and everything checked ([`Lab::check_history`], the observer's live
//! findings, [`Lab::settle`]). A violation stops the run and keeps the logs.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::fault::{Fault, Split, Who};
use super::history::{Cut, CutKind};
use super::report::Record;
use super::{unix_now, Lab, VIP};
use crate::hosts::{nft, HostError, Result};

/// How long after the undo every service must be up again, at home, with `clustat` agreeing
/// and every configuration converged (the liveness bound, docs/RELIABILITY.md).
pub const SETTLE: Duration = Duration::from_secs(60);

/// How long a crashed node may take to be fenced and back (its daemon running again) before
/// the lab powers it on by itself.
const BACK: Duration = Duration::from_secs(45);

/// What holding a fault means.
enum Hold {
    /// Keep it for this long.
    For(Duration),
    /// Until every wanted service is up again and `host`'s daemon (if any) runs, or the limit.
    Recovered {
        host: Option<String>,
        limit: Duration,
    },
    /// Until `svc` runs on `host` (`None`: anywhere), or the limit.
    Runs {
        svc: &'static str,
        host: Option<String>,
        limit: Duration,
    },
}

/// How a fault is undone.
enum Undo {
    /// A crashed node: wait for the cluster's fence to bring it back, else power it on; then
    /// its cut (an index in `Lab::cuts`) ends.
    Back(String, Option<usize>),
    /// A hang: SIGCONT to the processes stopped; its cut ends.
    Cont(String, Vec<i32>, usize),
    /// The cable back in; `cut` indexes `Lab::cuts`.
    Plug(String, usize),
    /// The loss table and the netem queues of the host's interface and switch port removed;
    /// its cut ends.
    Clean(String, String, usize),
    /// The partition healed.
    Heal(usize),
    /// The BMC reachable again; the node's fence should then work; then its cable back in
    /// (if it was pulled), the node back and its cut ended.
    BmcBack {
        host: String,
        cable: bool,
        cut: usize,
    },
    RemoveFlag(std::path::PathBuf),
    /// The stop works again: `clusvcadm -d`, then `-e -F`.
    StopFails(&'static str, std::path::PathBuf),
    Push(super::conf::LabConf),
    /// The spare removed by this push: its daemon must leave and exit.
    RemoveSpare(super::conf::LabConf),
    Relocate(&'static str, String),
    Enable(&'static str),
    Unfreeze(&'static str),
    DelVip(String),
    ScriptStop(String),
}

struct Applied {
    what: Vec<String>,
    holds: Vec<Hold>,
    undo: Vec<Undo>,
    /// Hosts the fault touched (the other fault of a double avoids them).
    targets: Vec<String>,
    /// Hosts the client cannot reach while the fault holds.
    unreachable: Vec<String>,
    /// Services the lab disabled on purpose.
    disabled: Vec<&'static str>,
    findings: Vec<(String, String)>,
}

impl Applied {
    fn new() -> Applied {
        Applied {
            what: Vec::new(),
            holds: Vec::new(),
            undo: Vec::new(),
            targets: Vec::new(),
            unreachable: Vec::new(),
            disabled: Vec::new(),
            findings: Vec::new(),
        }
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn signal(pids: &[i32], sig: i32) {
    for p in pids {
        // SAFETY: kill(2) of processes the lab found in a host's namespace.
        unsafe {
            libc::kill(*p, sig);
        }
    }
}

impl Lab {
    /// The host a role names now, never one of `avoid`.
    fn resolve(&self, who: &Who, avoid: &[String]) -> Result<String> {
        let nodes: Vec<String> = self
            .configured()
            .into_iter()
            .filter(|n| !avoid.contains(n))
            .collect();
        let pick = |svc: &str, k: u64| {
            let owner = self.observer.owner(svc);
            let others: Vec<&String> = nodes
                .iter()
                .filter(|n| Some(*n) != owner.as_ref())
                .collect();
            others
                .get((k % others.len().max(1) as u64) as usize)
                .map(|s| s.to_string())
        };
        let host = match who {
            Who::Owner(svc) => self
                .observer
                .owner(svc)
                .filter(|o| nodes.contains(o))
                .or_else(|| pick(svc, 0)),
            Who::Other(svc, k) => pick(svc, *k),
        };
        host.ok_or_else(|| HostError::NoHost(format!("{who:?} (every node is taken)")))
    }

    fn cut_index(&mut self, groups: Vec<Vec<String>>, kind: CutKind) -> usize {
        self.cuts.push(Cut {
            from: unix_now(),
            until: None,
            groups,
            kind,
            reboot_ends: None,
        });
        self.cuts.len() - 1
    }

    /// A cut of `host` alone from the other configured nodes.
    fn isolate(&mut self, host: &str, kind: CutKind) -> usize {
        let rest: Vec<String> = self
            .configured()
            .into_iter()
            .filter(|n| n != host)
            .collect();
        let i = self.cut_index(vec![vec![host.to_string()], rest], kind);
        if kind != CutKind::Lossy {
            self.cuts[i].reboot_ends = Some(host.to_string());
        }
        i
    }

    /// Ends the open cuts that a power-on of their host ended (a fenced host boots with its
    /// cable in, its processes new) before the checks read them.
    fn close_rebooted_cuts(&mut self) {
        for i in 0..self.cuts.len() {
            let (from, host) = match &self.cuts[i] {
                Cut {
                    until: None,
                    reboot_ends: Some(h),
                    from,
                    ..
                } => (*from, h.clone()),
                _ => continue,
            };
            if let Some(on) = self.powered_on_since(&host, from) {
                self.cuts[i].until = Some(on);
            }
        }
    }

    /// Ends a cut of `host`: now, or when it was powered on again since the cut began (a
    /// fenced host boots with its cable in, its processes new).
    fn end_cut(&mut self, host: &str, cut: usize) {
        let from = self.cuts[cut].from;
        let until = self.powered_on_since(host, from).unwrap_or_else(unix_now);
        self.cuts[cut].until = Some(until);
    }

    /// The first BMC power-on of `host` after `from` (a reboot plugs a pulled cable back).
    fn powered_on_since(&self, host: &str, from: f64) -> Option<f64> {
        let events = self.bmc(host).ok()?.events();
        events
            .lines()
            .flat_map(|l| super::history::parse_power(host, l))
            .find(|e| e.at >= from && matches!(e.event, super::history::Event::PowerOn { .. }))
            .map(|e| e.at)
    }

    fn apply(&mut self, f: &Fault, avoid: &[String], a: &mut Applied) -> Result<()> {
        let token = ms(self.o.token_ms());
        match f {
            Fault::CrashBmc(who) | Fault::CrashKill(who) => {
                let host = self.resolve(who, avoid)?;
                let cut = self.isolate(&host, CutKind::Down);
                if matches!(f, Fault::CrashBmc(_)) {
                    self.lab_offs.push((host.clone(), unix_now()));
                    self.bmc(&host)?.set_power(false)?;
                } else {
                    self.h.power_off(&host)?;
                }
                a.what.push(format!("{} {host}", f.kind()));
                a.holds.push(Hold::Recovered {
                    host: Some(host.clone()),
                    limit: BACK,
                });
                a.undo.push(Undo::Back(host.clone(), Some(cut)));
                a.targets.push(host);
            }
            Fault::Hang { who, tenths } => {
                let host = self.resolve(who, avoid)?;
                let pids = self.h.pids(&host)?;
                let cut = self.isolate(&host, CutKind::Down);
                signal(&pids, libc::SIGSTOP);
                let d = token.mul_f64(*tenths as f64 / 10.0);
                a.what.push(format!("hang {host} {:.1}s", d.as_secs_f64()));
                a.holds.push(Hold::For(d));
                a.undo.push(Undo::Cont(host.clone(), pids, cut));
                a.unreachable.push(host.clone());
                a.targets.push(host);
            }
            Fault::Cable { who, ms: d } => {
                let host = self.resolve(who, avoid)?;
                let cut = self.isolate(&host, CutKind::Partition);
                self.h.cable(&host, false)?;
                a.what
                    .push(format!("cable {host} {:.1}s", *d as f64 / 1000.0));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::Plug(host.clone(), cut));
                a.unreachable.push(host.clone());
                a.targets.push(host);
            }
            Fault::Lossy {
                who,
                loss,
                delay,
                ms: d,
            } => {
                let host = self.resolve(who, avoid)?;
                let port = self.h.port(&host)?;
                let table = format!("lab_loss_{host}");
                let cut = self.isolate(&host, CutKind::Lossy);
                nft(
                    &self.h.switch,
                    &format!(
                        "table bridge {table} {{\n chain loss {{\n  type filter hook forward priority -1; policy accept;\n  \
                         iifname \"{port}\" numgen random mod 100 < {loss} drop\n  \
                         oifname \"{port}\" numgen random mod 100 < {loss} drop\n }}\n}}"
                    ),
                )?;
                let ns = self.h.host(&host)?.ns.clone();
                let switch = self.h.switch.clone();
                let jitter = (delay / 4).max(1);
                let mut delayed = true;
                for (ns, dev) in [(ns.as_str(), "eth0"), (switch.as_str(), port.as_str())] {
                    let (dl, jt) = (format!("{delay}ms"), format!("{jitter}ms"));
                    let args = [
                        "-n", ns, "qdisc", "replace", "dev", dev, "root", "netem", "delay", &dl,
                        &jt,
                    ];
                    if let Err(e) = crate::hosts::run("tc", &args) {
                        // Kernels built without sch_netem (this lab's CI machine): loss only.
                        self.note(&format!("{host}: no delay ({e})"));
                        delayed = false;
                        break;
                    }
                }
                a.what.push(format!(
                    "lossy {host} loss {loss}% {} {:.1}s",
                    if delayed {
                        format!("delay {delay}ms")
                    } else {
                        "(no netem)".into()
                    },
                    *d as f64 / 1000.0
                ));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::Clean(host.clone(), table, cut));
                a.targets.push(host);
            }
            Fault::Partition { how, size, ms: d } => {
                let nodes = self.configured();
                let n = nodes.len();
                let owner = self
                    .observer
                    .owner("web")
                    .filter(|o| nodes.contains(o))
                    .unwrap_or_else(|| nodes[0].clone());
                let mut others: Vec<String> =
                    nodes.iter().filter(|x| **x != owner).cloned().collect();
                let rot = (*size as usize) % others.len().max(1);
                others.rotate_left(rot);
                let max_minority = (n - 1) / 2;
                let m = 1 + (*size as usize) % max_minority.max(1);
                // `side` is the group cut off from the client's.
                let (side, client_side): (Vec<String>, Vec<String>) = match how {
                    Split::OwnerInMinority => {
                        let mut g = vec![owner.clone()];
                        g.extend(others.iter().take(m - 1).cloned());
                        let rest = nodes.iter().filter(|x| !g.contains(x)).cloned().collect();
                        (g, rest)
                    }
                    Split::OwnerInMajority => {
                        let g: Vec<String> = others.iter().take(m).cloned().collect();
                        let rest = nodes.iter().filter(|x| !g.contains(x)).cloned().collect();
                        (g, rest)
                    }
                    Split::Even => {
                        let g: Vec<String> = others.iter().take(n / 2).cloned().collect();
                        let rest = nodes.iter().filter(|x| !g.contains(x)).cloned().collect();
                        (g, rest)
                    }
                };
                let a_side: Vec<&str> = side.iter().map(String::as_str).collect();
                let b_side: Vec<&str> = client_side
                    .iter()
                    .map(String::as_str)
                    .chain(["client"])
                    .collect();
                self.h.partition(&a_side, &b_side)?;
                let cut =
                    self.cut_index(vec![side.clone(), client_side.clone()], CutKind::Partition);
                a.what.push(format!(
                    "{} [{}] | [{}] {:.1}s",
                    f.kind(),
                    side.join(" "),
                    client_side.join(" "),
                    *d as f64 / 1000.0
                ));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::Heal(cut));
                a.unreachable.extend(side.iter().cloned());
                a.targets.extend(nodes);
            }
            Fault::BmcFails { who, cable, ms: d } => {
                let host = self.resolve(who, avoid)?;
                self.h.bmc_reachable(&host, false)?;
                let kind = if *cable {
                    CutKind::Partition
                } else {
                    CutKind::Down
                };
                let cut = self.isolate(&host, kind);
                if *cable {
                    self.h.cable(&host, false)?;
                    a.unreachable.push(host.clone());
                } else {
                    self.h.power_off(&host)?;
                }
                a.what.push(format!(
                    "bmc-fails {host} ({}) {:.1}s",
                    if *cable { "cable" } else { "killed" },
                    *d as f64 / 1000.0
                ));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::BmcBack {
                    host: host.clone(),
                    cable: *cable,
                    cut,
                });
                a.targets.push(host);
            }
            Fault::ServiceDies(svc) => {
                let host = self.resolve(&Who::Owner(svc), avoid)?;
                let markers = self.dir().join("markers");
                let pid: Option<i32> =
                    std::fs::read_to_string(markers.join(format!("{svc}.{host}.pid")))
                        .ok()
                        .and_then(|t| t.trim().parse().ok());
                if let Some(pid) =
                    pid.filter(|_| super::observer::runner(&markers, svc, &host).is_some())
                {
                    signal(&[pid], libc::SIGKILL);
                }
                a.what.push(format!("service-dies {svc} on {host}"));
                a.holds.push(Hold::Recovered {
                    host: None,
                    limit: Duration::from_secs(30),
                });
                a.targets.push(host);
            }
            Fault::StatusFails { svc, ms: d } => {
                let host = self.resolve(&Who::Owner(svc), avoid)?;
                let flag = self
                    .dir()
                    .join("faults")
                    .join(format!("{svc}.{host}.statusfail"));
                std::fs::write(&flag, "").map_err(|source| HostError::Io {
                    what: format!("cannot write {}", flag.display()),
                    source,
                })?;
                a.what.push(format!(
                    "status-fails {svc} on {host} {:.1}s",
                    *d as f64 / 1000.0
                ));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::RemoveFlag(flag));
                a.targets.push(host);
            }
            Fault::StopFails(svc) => {
                let host = self.resolve(&Who::Owner(svc), avoid)?;
                let flag = self
                    .dir()
                    .join("faults")
                    .join(format!("{svc}.{host}.stopfail"));
                std::fs::write(&flag, "").map_err(|source| HostError::Io {
                    what: format!("cannot write {}", flag.display()),
                    source,
                })?;
                self.clusvcadm(&["-r", svc], avoid)?;
                a.what.push(format!("stop-fails {svc} on {host}"));
                a.holds.push(Hold::For(Duration::from_secs(2)));
                a.undo.push(Undo::StopFails(svc, flag));
                a.disabled.push(svc);
                a.targets.push(host);
            }
            Fault::DaemonRestart(who) => {
                let host = self.resolve(who, avoid)?;
                a.what.push(format!("daemon-restart {host}"));
                self.restart_daemon(&host, a)?;
                a.holds.push(Hold::Recovered {
                    host: Some(host.clone()),
                    limit: Duration::from_secs(30),
                });
                a.targets.push(host);
            }
            Fault::ConfigService => {
                let before = self.conf.clone();
                let mut c = before.clone();
                c.version += 1;
                c.extra = true;
                self.push(c, avoid)?;
                a.what
                    .push(format!("config-service +extra v{}", self.conf.version));
                a.holds.push(Hold::Runs {
                    svc: "extra",
                    host: None,
                    limit: Duration::from_secs(30),
                });
                a.undo.push(Undo::Push(before));
            }
            Fault::ConfigDomain => {
                let before = self.conf.clone();
                let mut c = before.clone();
                c.version += 1;
                let home = c.home("web");
                c.web_order.retain(|n| Some(*n) != home);
                c.web_order.extend(home);
                let new_home = c.home("web").map(|n| format!("node{n}"));
                self.push(c, avoid)?;
                a.what.push(format!(
                    "config-domain web home {} v{}",
                    new_home.clone().unwrap_or_default(),
                    self.conf.version
                ));
                a.holds.push(Hold::Runs {
                    svc: "web",
                    host: new_home,
                    limit: Duration::from_secs(30),
                });
                a.undo.push(Undo::Push(before));
            }
            Fault::ConfigNode => {
                let before = self.conf.clone();
                let spare = self.site.spare();
                let host = self.spare();
                let mut c = before.clone();
                c.version += 1;
                c.nodes.push(spare);
                c.batch_order.retain(|n| *n != spare);
                c.batch_order.insert(0, spare);
                let text = c.render(&self.site);
                let etc = self.h.host(&host)?.dir.join("etc/cluster/cluster.conf");
                super::write(&etc, text.as_bytes(), 0o640)?;
                self.push(c, &[avoid, std::slice::from_ref(&host)].concat())?;
                self.h.boot(&host)?;
                a.what
                    .push(format!("config-node +{host} v{}", self.conf.version));
                a.holds.push(Hold::Runs {
                    svc: "batch",
                    host: Some(host.clone()),
                    limit: Duration::from_secs(45),
                });
                a.undo.push(Undo::RemoveSpare(before));
                a.targets.push(host);
            }
            Fault::Relocate { svc, to } => {
                let home = self.resolve(&Who::Owner(svc), avoid)?;
                let target = match to {
                    Some(k) => Some(self.resolve(&Who::Other(svc, *k), avoid)?),
                    None => None,
                };
                match &target {
                    Some(t) => self.clusvcadm(&["-r", svc, "-m", t], avoid)?,
                    None => self.clusvcadm(&["-r", svc], avoid)?,
                };
                a.what.push(format!(
                    "relocate {svc} {home} -> {}",
                    target.as_deref().unwrap_or("(best)")
                ));
                a.holds.push(Hold::For(Duration::from_secs(1)));
                a.undo.push(Undo::Relocate(svc, home.clone()));
                a.targets.push(home);
            }
            Fault::Disable { svc, ms: d } => {
                self.clusvcadm(&["-d", svc], avoid)?;
                a.what
                    .push(format!("disable {svc} {:.1}s", *d as f64 / 1000.0));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::Enable(svc));
                a.disabled.push(svc);
            }
            Fault::Freeze { svc, ms: d } => {
                self.clusvcadm(&["-Z", svc], avoid)?;
                a.what
                    .push(format!("freeze {svc} {:.1}s", *d as f64 / 1000.0));
                a.holds.push(Hold::For(ms(*d)));
                a.undo.push(Undo::Unfreeze(svc));
            }
            Fault::Double(x, y) => {
                self.apply(x, avoid, a)?;
                let taken = [avoid, &a.targets].concat();
                self.apply(y, &taken, a)?;
            }
            Fault::RollingRestart => {
                a.what.push("rolling-restart".into());
                for host in self.configured() {
                    if let Err(e) = self.restart_daemon(&host, a) {
                        a.findings.push(("lab step".into(), e.to_string()));
                        break;
                    }
                    if let Err(why) = self.settle(SETTLE).map(drop) {
                        a.findings.push((
                            "liveness".into(),
                            format!(
                                "not settled within {}s after restarting {host}: {why}",
                                SETTLE.as_secs()
                            ),
                        ));
                        break;
                    }
                }
            }
            Fault::SabotageVip => {
                let host = self.resolve(&Who::Other("web", 0), avoid)?;
                self.h
                    .ip(&host, &["addr", "add", &format!("{VIP}/24"), "dev", "eth0"])?;
                a.what.push(format!("sabotage-vip on {host}"));
                a.holds.push(Hold::For(ms(400)));
                a.undo.push(Undo::DelVip(host.clone()));
                a.targets.push(host);
            }
            Fault::SabotageStart => {
                let host = self.resolve(&Who::Other("web", 0), avoid)?;
                let script = self.dir().join("web.sh");
                let out = self.h.command(&host, &script)?.arg("start").output();
                if let Err(e) = out {
                    return Err(HostError::Io {
                        what: "cannot run web.sh".into(),
                        source: e,
                    });
                }
                a.what.push(format!("sabotage-start web on {host}"));
                a.holds.push(Hold::For(ms(500)));
                a.undo.push(Undo::ScriptStop(host.clone()));
                a.targets.push(host);
            }
        }
        Ok(())
    }

    /// SIGTERM to `host`'s daemon, its exit awaited, then its boot.
    fn restart_daemon(&mut self, host: &str, a: &mut Applied) -> Result<()> {
        let pids = self.daemon_pids(host);
        if pids.is_empty() {
            return Err(HostError::NoHost(format!(
                "{host} runs no daemon to restart"
            )));
        }
        *self.expected_exits.entry(host.to_string()).or_insert(0) += 1;
        signal(&pids, libc::SIGTERM);
        self.note(&format!("{host}: SIGTERM to rgmanager {pids:?}"));
        let deadline = Instant::now() + BACK;
        while !self.daemon_pids(host).is_empty() {
            if Instant::now() > deadline {
                a.findings.push((
                    "liveness".into(),
                    format!(
                        "{host}: rgmanager did not exit within {}s of SIGTERM",
                        BACK.as_secs()
                    ),
                ));
                return Ok(());
            }
            std::thread::sleep(ms(50));
        }
        // The boot shell records the exit a moment after the daemon is gone.
        std::thread::sleep(ms(100));
        self.h.boot(host)?;
        self.note(&format!("{host}: booted again"));
        Ok(())
    }

    fn hold(&mut self, holds: &[Hold], unreachable: &mut Vec<String>, disabled: &[&'static str]) {
        let began = Instant::now();
        let cut_at = unix_now();
        loop {
            // A host fenced and booted again while its cable was out has it back in (the
            // boot plugs it): the client reaches it again.
            let before = unreachable.len();
            unreachable.retain(|h| self.powered_on_since(h, cut_at).is_none());
            if unreachable.len() != before {
                self.intent_with(unreachable, disabled);
            }
            let done = holds.iter().all(|h| match h {
                Hold::For(d) => began.elapsed() >= *d,
                Hold::Recovered { host, limit } => {
                    began.elapsed() >= *limit
                        || (self.observer.with(|s| s.up)
                            && host
                                .as_ref()
                                .is_none_or(|h| !self.daemon_pids(h).is_empty()))
                }
                Hold::Runs { svc, host, limit } => {
                    began.elapsed() >= *limit
                        || self.observer.with(|s| {
                            s.runners.get(*svc).is_some_and(|r| match host {
                                Some(h) => r.as_slice() == [h.clone()],
                                None => r.len() == 1,
                            })
                        })
                }
            });
            if done {
                return;
            }
            std::thread::sleep(ms(100));
        }
    }

    fn intent_with(&self, unreachable: &[String], disabled: &[&'static str]) {
        let mut i = self.observer.intent();
        i.services = self
            .conf
            .services()
            .into_iter()
            .filter(|s| !disabled.contains(s))
            .map(str::to_string)
            .collect();
        i.unreachable = unreachable.to_vec();
        self.observer.set_intent(i);
    }

    fn undo(&mut self, u: Undo, findings: &mut Vec<(String, String)>) -> Result<()> {
        match u {
            Undo::Back(host, cut) => {
                self.power_settled(&host);
                let deadline = Instant::now() + BACK;
                while self.daemon_pids(&host).is_empty() && Instant::now() < deadline {
                    std::thread::sleep(ms(100));
                }
                self.ensure_up(&host)?;
                if let Some(cut) = cut {
                    self.end_cut(&host, cut);
                }
            }
            Undo::Cont(host, pids, cut) => {
                let alive: Vec<i32> = pids
                    .into_iter()
                    .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                    .collect();
                signal(&alive, libc::SIGCONT);
                self.end_cut(&host, cut);
                self.note(&format!("{host}: SIGCONT to {} processes", alive.len()));
            }
            Undo::Plug(host, cut) => {
                self.h.cable(&host, true)?;
                self.end_cut(&host, cut);
                self.note(&format!("{host}: cable plugged back"));
            }
            Undo::Clean(host, table, cut) => {
                nft(&self.h.switch, &format!("delete table bridge {table}"))?;
                let ns = self.h.host(&host)?.ns.clone();
                let port = self.h.port(&host)?;
                for (ns, dev) in [
                    (ns.as_str(), "eth0"),
                    (self.h.switch.as_str(), port.as_str()),
                ] {
                    // None when netem is missing, or gone when a fence rebuilt the link.
                    let _ =
                        crate::hosts::run("tc", &["-n", ns, "qdisc", "del", "dev", dev, "root"]);
                }
                self.end_cut(&host, cut);
                self.note(&format!("{host}: link clean again"));
            }
            Undo::Heal(cut) => {
                self.h.heal()?;
                self.cuts[cut].until = Some(unix_now());
                self.note("partition healed");
            }
            Undo::BmcBack { host, cable, cut } => {
                self.h.bmc_reachable(&host, true)?;
                let since = unix_now();
                self.note(&format!("{host}: BMC reachable again"));
                // The cluster's next fence round powers it off now.
                let deadline = Instant::now() + Duration::from_secs(20);
                let fenced = loop {
                    let off = self.bmc(&host)?.events().lines().any(|l| {
                        super::history::parse_power(&host, l).iter().any(|e| {
                            e.at >= since - 0.5
                                && matches!(e.event, super::history::Event::PowerOff { .. })
                        })
                    });
                    if off || Instant::now() > deadline {
                        break off;
                    }
                    std::thread::sleep(ms(100));
                };
                if !fenced {
                    self.note(&format!(
                        "{host}: not fenced within 20 s of its BMC coming back"
                    ));
                }
                if cable {
                    self.h.cable(&host, true)?;
                }
                self.undo(Undo::Back(host, Some(cut)), findings)?;
            }
            Undo::RemoveFlag(path) => {
                let _ = std::fs::remove_file(&path);
            }
            Undo::StopFails(svc, flag) => {
                let _ = std::fs::remove_file(&flag);
                let mut tries = 0;
                loop {
                    let (code, _) = self.clusvcadm(&["-d", svc], &[])?;
                    tries += 1;
                    if code == 0 || tries >= 10 {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                self.clusvcadm(&["-e", svc, "-F"], &[])?;
            }
            Undo::Push(mut c) => {
                c.version = self.conf.version + 1;
                self.push(c, &[])?;
            }
            Undo::RemoveSpare(mut c) => {
                let host = self.spare();
                c.version = self.conf.version + 1;
                *self.expected_exits.entry(host.clone()).or_insert(0) += 1;
                self.push(c, std::slice::from_ref(&host))?;
                let deadline = Instant::now() + BACK;
                while !self.daemon_pids(&host).is_empty() {
                    if Instant::now() > deadline {
                        findings.push((
                            "liveness".into(),
                            format!("{host}: removed from the configuration, its daemon did not exit within {}s", BACK.as_secs()),
                        ));
                        break;
                    }
                    std::thread::sleep(ms(100));
                }
            }
            Undo::Relocate(svc, home) => {
                if self.observer.owner(svc).as_deref() != Some(home.as_str()) {
                    self.clusvcadm(&["-r", svc, "-m", &home], &[])?;
                }
            }
            Undo::Enable(svc) => {
                if let Some(on) = self
                    .observer
                    .with(|s| s.runners.get(svc).cloned())
                    .filter(|r| !r.is_empty())
                {
                    findings.push((
                        "clusvcadm -d".into(),
                        format!("service:{svc} still runs on {on:?} after it was disabled"),
                    ));
                }
                self.clusvcadm(&["-e", svc, "-F"], &[])?;
            }
            Undo::Unfreeze(svc) => {
                self.clusvcadm(&["-U", svc], &[])?;
            }
            Undo::DelVip(host) => {
                self.h
                    .ip(&host, &["addr", "del", &format!("{VIP}/24"), "dev", "eth0"])?;
            }
            Undo::ScriptStop(host) => {
                let script = self.dir().join("web.sh");
                let _ = self.h.command(&host, &script)?.arg("stop").output();
            }
        }
        Ok(())
    }

    /// One step: the fault applied, held, undone, the cluster settled, everything checked.
    pub fn iteration(&mut self, step: u64, fault: &Fault) -> Record {
        let grace = 2.0 * self.o.token_ms() as f64 / 1000.0 + 1.0;
        self.note(&format!("step {step}: {fault:?}"));
        let live_before = self.observer.with(|s| s.violations.len());
        let t0 = Instant::now();
        let p0 = self.prober.now();
        let mut a = Applied::new();
        if let Err(e) = self.apply(fault, &[], &mut a) {
            a.findings
                .push(("lab step".into(), format!("applying {}: {e}", fault.kind())));
        }
        let mut unreachable = a.unreachable.clone();
        self.intent_with(&unreachable, &a.disabled);
        let holds = std::mem::take(&mut a.holds);
        self.hold(&holds, &mut unreachable, &a.disabled);
        let mut findings = std::mem::take(&mut a.findings);
        self.close_rebooted_cuts();
        findings.extend(self.check_history(grace));
        let undo: Vec<Undo> = std::mem::take(&mut a.undo);
        for u in undo.into_iter().rev() {
            if let Err(e) = self.undo(u, &mut findings) {
                findings.push(("lab step".into(), format!("undoing {}: {e}", fault.kind())));
            }
        }
        self.intent_with(&[], &[]);
        let t_undo = Instant::now();
        let settle = match self.settle(SETTLE) {
            Ok((_, moved)) => {
                if !moved.is_empty() {
                    self.note(&format!("moved home by the lab: {}", moved.join(", ")));
                    a.what.push(format!("(then {} by hand)", moved.join(", ")));
                }
                t_undo.elapsed()
            }
            Err(why) => {
                findings.push((
                    "liveness".into(),
                    format!(
                        "not settled within {}s of the undo: {why}",
                        SETTLE.as_secs()
                    ),
                ));
                t_undo.elapsed()
            }
        };
        self.close_rebooted_cuts();
        findings.extend(self.check_history(grace));
        let live: Vec<(String, String)> = self.observer.with(|s| {
            s.violations[live_before..]
                .iter()
                .map(|v| {
                    (
                        v.rule.to_string(),
                        format!("{} at {}", v.text, super::history::stamp(super::unix(v.at))),
                    )
                })
                .collect()
        });
        findings.extend(live);
        let recovery = self.observer.with(|s| {
            s.downs
                .iter()
                .find(|(from, _)| *from >= t0)
                .map(|(_, until)| until.unwrap_or_else(Instant::now) - t0)
        });
        let samples = self.prober.since(p0);
        let (outage, longest) = crate::probe::unanswered(&samples, self.prober.now());
        self.prober
            .forget_before(self.prober.now().saturating_sub(Duration::from_secs(5)));
        let timeline = self.observer.take_timeline();
        for (at, l) in timeline {
            self.note_at(at, &format!("observer: {l}"));
        }
        Record {
            step,
            kind: fault.kind(),
            what: a.what.join(" + "),
            recovery,
            outage,
            longest,
            settle,
            violations: findings,
        }
    }
}

/// What a run is asked to do.
pub struct RunOptions {
    pub seed: u64,
    pub first: u64,
    pub iterations: u64,
    /// No step begins after this (a run for a duration: `cts --duration`).
    pub until: Option<Instant>,
    /// Fault kinds to draw from (empty: the whole mix).
    pub only: Vec<String>,
    /// How to replay, for the messages: the command (`tests/bench/cts`) and the options of
    /// this run (` --nodes 4 --token 500`).
    pub replay: String,
    pub replay_opts: String,
}

/// Runs the steps, printing a line each to `out`; stops at the first violation (its logs kept
/// in `OUT/violation-step-K/`) or when `stop` is set. The records of the steps run.
pub fn run(lab: &mut Lab, ro: &RunOptions, out: &mut dyn Write, stop: &AtomicBool) -> Vec<Record> {
    let mut records = Vec::new();
    for step in ro.first..ro.first + ro.iterations {
        if stop.load(Ordering::Relaxed) || ro.until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let Some(fault) = Fault::pick(ro.seed, step, lab.o.nodes, &ro.only) else {
            let _ = writeln!(
                out,
                "step {step}: no fault of the kinds asked for fits {} nodes",
                lab.o.nodes
            );
            break;
        };
        let r = lab.iteration(step, &fault);
        if stop.load(Ordering::Relaxed) {
            // Interrupted: commands were killed under it; the step counts for nothing.
            let _ = writeln!(out, "step {step}: interrupted");
            break;
        }
        let _ = writeln!(out, "{}", r.line());
        let _ = out.flush();
        let broken = !r.violations.is_empty();
        if broken {
            let _ = writeln!(
                out,
                "\nVIOLATION at step {step} (seed {}): {}",
                ro.seed, r.what
            );
            for (rule, text) in &r.violations {
                let _ = writeln!(out, "  [{rule}] {text}");
            }
            let dir = lab.out.join(format!("violation-step-{step}"));
            match lab.keep_logs(&dir) {
                Ok(()) => {
                    let _ = writeln!(
                        out,
                        "  logs of every host, BMC and script: {}",
                        dir.display()
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "  could not keep the logs: {e}");
                }
            }
            let _ = writeln!(
                out,
                "  replay this step on a fresh cluster: {} 1 --seed {} --first {step}{}\n  \
                 replay the run up to it:            {} {} --seed {} --first {}{}",
                ro.replay,
                ro.seed,
                ro.replay_opts,
                ro.replay,
                step - ro.first + 1,
                ro.seed,
                ro.first,
                ro.replay_opts
            );
        }
        records.push(r);
        if broken {
            break;
        }
    }
    records
}
