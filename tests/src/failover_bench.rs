//! The failover benchmark (`failover_bench`, run by `tests/bench/failover-netns`): the
//! client-measured outage of a web service on a floating address when its node dies or its
//! cable is pulled, on namespace hosts ([`crate::hosts`]), for each HA stack put through the
//! same harness. A client probes the address every 20 ms ([`crate::probe`]); the outage is the
//! time from the failure to the first answer of the new node. A node death freezes every process
//! of its namespace (SIGSTOP) before killing them, so nothing announces its own death.
//!
//! Each system is a [`System`]: how to set the hosts up and how to bring a failed node back.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::hosts::{HostError, Hosts, Result};
use crate::probe::{outage, Prober, VipWatch};

/// What happens to the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Every process frozen, then killed; link down; addresses gone (a power cut).
    NodeDies,
    /// The link goes down; the node's processes live on.
    CablePulled,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NodeDies => "node dies",
            Failure::CablePulled => "cable pulled",
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub system: String,
    pub settings: String,
    /// The cluster and which node fails.
    pub case: String,
    pub failure: Failure,
    pub outages: Vec<Duration>,
    /// Runs where the new node never answered within the patience.
    pub failed: usize,
    /// Runs during which two nodes held the address at once.
    pub double_holders: usize,
}

impl Row {
    pub fn median(&self) -> Option<Duration> {
        self.quantile(0.5)
    }

    /// The `q` quantile of the outages (nearest rank).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v = self.outages.clone();
        v.sort();
        if v.is_empty() {
            return None;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v.get(rank - 1).copied()
    }
}

/// Which cluster and which failure: the node hosts, the one that serves (and fails), the one
/// that must take over.
#[derive(Clone, Debug)]
pub struct Case {
    pub label: String,
    pub nodes: Vec<String>,
    pub owner: String,
    pub successor: String,
    /// The failure comes at a random moment within this much after the settling pause (the
    /// heartbeat interval: the phase of the failure against the heartbeats).
    pub phase: Duration,
}

impl Case {
    /// `nodes` hosts `node1`…, `nodeN`; `owner` serves and fails, `successor` takes over.
    pub fn new(label: &str, nodes: usize, owner: usize, successor: usize, phase: Duration) -> Case {
        Case {
            label: label.to_string(),
            nodes: (1..=nodes).map(|i| format!("node{i}")).collect(),
            owner: format!("node{owner}"),
            successor: format!("node{successor}"),
            phase,
        }
    }
}

/// How a system under test is set up on the case's node hosts and `client`.
pub trait System {
    fn name(&self) -> String;
    fn settings(&self) -> String;
    /// Configures and boots the nodes; the case's owner must end up serving the address.
    fn setup(&mut self, h: &Hosts) -> Result<()>;
    /// Brings `host` back after `failure` (power on, cable in); it must end up serving again.
    fn restore(&mut self, h: &Hosts, host: &str, failure: Failure) -> Result<()>;
    /// Called after each run (to check invariants or collect logs); an error ends the bench.
    fn after_run(&mut self, _h: &Hosts) -> Result<()> {
        Ok(())
    }
}

/// The floating address of every system.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 213, 7, 100);

/// The name a node's web server answers with: `web` and the last byte of its address.
fn web_name(h: &Hosts, host: &str) -> Result<String> {
    Ok(format!("web{}", h.host(host)?.addr.octets()[3]))
}

/// Runs `runs` failures of each kind against `sys` in `case` and returns its rows.
pub fn bench(
    sys: &mut dyn System,
    case: &Case,
    failures: &[Failure],
    runs: usize,
) -> Result<Vec<Row>> {
    let mut names: Vec<&str> = case.nodes.iter().map(String::as_str).collect();
    names.push("client");
    let h = Hosts::new(&names)?;
    sys.setup(&h)?;
    let every = Duration::from_millis(20);
    let prober = Prober::start(&h, "client", VIP, 80, every)?;
    let nodes: Vec<&str> = case.nodes.iter().map(String::as_str).collect();
    let watch = VipWatch::start(&h, &nodes, VIP, every)?;
    let patience = Duration::from_secs(120);
    let first = web_name(&h, &case.owner)?;
    let next = web_name(&h, &case.successor)?;
    if !prober.wait_for(&first, patience) {
        return Err(HostError::Timeout(format!(
            "{}: {} never served the address",
            sys.name(),
            case.owner
        )));
    }
    // The failure's phase against the heartbeats: xorshift, seeded from the clock (the
    // figures are statistics, not a replay).
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x2545_F491, |d| d.as_nanos() as u64)
        | 1;
    let mut random = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if bound == 0 {
            0
        } else {
            rng % bound
        }
    };
    let mut rows = Vec::new();
    for &failure in failures {
        let mut row = Row {
            system: sys.name(),
            settings: sys.settings(),
            case: case.label.clone(),
            failure,
            outages: Vec::new(),
            failed: 0,
            double_holders: 0,
        };
        for run in 0..runs {
            if !prober.wait_for(&first, patience) {
                return Err(HostError::Timeout(format!(
                    "{}: {} does not serve before run {run}",
                    sys.name(),
                    case.owner
                )));
            }
            // Let the cluster settle (the standby sees the owner for a while), then a random
            // moment within a heartbeat interval.
            std::thread::sleep(Duration::from_secs(2));
            std::thread::sleep(Duration::from_micros(random(case.phase.as_micros() as u64)));
            let doubles = watch.doubles().len();
            let at = prober.now();
            match failure {
                Failure::NodeDies => h.power_off(&case.owner)?,
                Failure::CablePulled => h.cable(&case.owner, false)?,
            }
            let served = prober.wait_for(&next, patience);
            match outage(&prober.samples(), at, &next) {
                Some(d) if served => row.outages.push(d),
                _ => row.failed += 1,
            }
            sys.restore(&h, &case.owner, failure)?;
            if !prober.wait_for(&first, patience) {
                return Err(HostError::Timeout(format!(
                    "{}: {} never served again after run {run}; last answer {:?}\n{}",
                    sys.name(),
                    case.owner,
                    prober.last(),
                    h.logs(30)
                )));
            }
            if watch.doubles().len() > doubles {
                row.double_holders += 1;
            }
            sys.after_run(&h)?;
            eprintln!(
                "{} {} {} {}: run {} outage {:?}",
                row.system,
                row.settings,
                row.case,
                failure.as_str(),
                run + 1,
                row.outages.last()
            );
        }
        rows.push(row);
    }
    Ok(rows)
}

/// keepalived with adverts every `advert` seconds; node1 priority 150, node2 100 (node1
/// preempts when it is back, as an ordered failover domain fails back).
pub struct Keepalived {
    pub advert: f64,
    pub httpd: String,
}

impl System for Keepalived {
    fn name(&self) -> String {
        "keepalived (VRRP)".into()
    }

    fn settings(&self) -> String {
        format!("advert {} s", self.advert)
    }

    fn setup(&mut self, h: &Hosts) -> Result<()> {
        crate::keepalived::configure(h, "node1", 150, self.advert, VIP, &self.httpd, "web1")?;
        crate::keepalived::configure(h, "node2", 100, self.advert, VIP, &self.httpd, "web2")?;
        h.boot("node1")?;
        h.boot("node2")
    }

    fn restore(&mut self, h: &Hosts, host: &str, failure: Failure) -> Result<()> {
        match failure {
            Failure::NodeDies => h.boot(host),
            Failure::CablePulled => h.cable(host, true),
        }
    }
}

/// rgmanager-rs on the seed 004 cluster ([`crate::seed`]): node1 serves, node2 takes over
/// after fencing node1 through its BMC. `settings` names the configuration; `options` is it.
pub struct Rgmanager {
    pub bins: std::path::PathBuf,
    pub label: String,
    pub options: crate::seed::Options,
    seed: Option<crate::seed::Seed>,
    victim: Option<String>,
}

impl Rgmanager {
    pub fn new(bins: &std::path::Path, label: &str, options: crate::seed::Options) -> Rgmanager {
        Rgmanager {
            bins: bins.to_path_buf(),
            label: label.to_string(),
            options,
            seed: None,
            victim: None,
        }
    }
}

impl System for Rgmanager {
    fn name(&self) -> String {
        "rgmanager-rs (fencing included)".into()
    }

    fn settings(&self) -> String {
        self.label.clone()
    }

    fn setup(&mut self, h: &Hosts) -> Result<()> {
        let seed = crate::seed::Seed::setup(h, &self.bins, &self.options)?;
        // node1 first: it is the coordinator and starts the service where the domain says.
        for (i, host) in seed.hosts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(500));
            }
            h.boot(host)?;
        }
        self.seed = Some(seed);
        Ok(())
    }

    fn restore(&mut self, h: &Hosts, host: &str, _failure: Failure) -> Result<()> {
        let Some(seed) = &self.seed else {
            return Err(HostError::NoHost("the seed cluster is not set up".into()));
        };
        self.victim = Some(host.to_string());
        // Fenced with `reboot`: the BMC powered the node on again and it boots by itself.
        // Fenced with `off`: an administrator powers it on.
        let bmc = seed.bmc(host)?;
        if !bmc.powered() {
            seed.power_on(h, host)?;
        }
        Ok(())
    }

    fn after_run(&mut self, h: &Hosts) -> Result<()> {
        let (Some(seed), Some(victim)) = (&self.seed, &self.victim) else {
            return Ok(());
        };
        // Some survivor (the coordinator) fenced the victim before the takeover.
        let line = format!("fence {victim}.cluster.com success");
        let fenced = seed
            .hosts
            .iter()
            .filter(|x| *x != victim)
            .any(|x| seed.log(h, x).contains(&line));
        if !fenced {
            return Err(HostError::Timeout(format!(
                "the service moved without fencing {victim}?\n{}",
                h.logs(40)
            )));
        }
        Ok(())
    }
}

/// The table, one row per system, setting, case and failure: median, p90 and max.
pub fn table(rows: &[Row]) -> String {
    let ms =
        |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{:.3}", d.as_secs_f64()));
    let mut out = String::from(
        "| system | settings | case | failure | runs | median outage (s) | p90 | max | no takeover | two holders |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.system,
            r.settings,
            r.case,
            r.failure.as_str(),
            r.outages.len() + r.failed,
            ms(r.median()),
            ms(r.quantile(0.9)),
            ms(r.outages.iter().max().copied()),
            r.failed,
            r.double_holders
        );
    }
    out
}
