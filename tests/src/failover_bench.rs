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
    pub failure: Failure,
    pub outages: Vec<Duration>,
    /// Runs where the new node never answered within the patience.
    pub failed: usize,
    /// Runs during which two nodes held the address at once.
    pub double_holders: usize,
}

impl Row {
    pub fn median(&self) -> Option<Duration> {
        let mut v = self.outages.clone();
        v.sort();
        v.get(v.len() / 2).copied()
    }
}

/// How a system under test is set up on the hosts `node1`, `node2`, `client`.
pub trait System {
    fn name(&self) -> String;
    fn settings(&self) -> String;
    /// Configures and boots both nodes; `node1` must end up serving the address.
    fn setup(&mut self, h: &Hosts) -> Result<()>;
    /// Brings `node1` back after `failure` (power on, cable in); it must end up serving again.
    fn restore(&mut self, h: &Hosts, failure: Failure) -> Result<()>;
    /// Called after each run (to check invariants or collect logs); an error ends the bench.
    fn after_run(&mut self, _h: &Hosts) -> Result<()> {
        Ok(())
    }
}

/// The floating address of every system.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 213, 7, 100);

/// Runs `runs` failures of each kind against `sys` and returns its rows.
pub fn bench(sys: &mut dyn System, failures: &[Failure], runs: usize) -> Result<Vec<Row>> {
    let h = Hosts::new(&["node1", "node2", "client"])?;
    sys.setup(&h)?;
    let every = Duration::from_millis(20);
    let prober = Prober::start(&h, "client", VIP, 80, every)?;
    let watch = VipWatch::start(&h, &["node1", "node2"], VIP, every)?;
    let patience = Duration::from_secs(120);
    if !prober.wait_for("web1", patience) {
        return Err(HostError::Timeout(format!(
            "{}: node1 never served the address",
            sys.name()
        )));
    }
    let mut rows = Vec::new();
    for &failure in failures {
        let mut row = Row {
            system: sys.name(),
            settings: sys.settings(),
            failure,
            outages: Vec::new(),
            failed: 0,
            double_holders: 0,
        };
        for run in 0..runs {
            if !prober.wait_for("web1", patience) {
                return Err(HostError::Timeout(format!(
                    "{}: node1 does not serve before run {run}",
                    sys.name()
                )));
            }
            // Let the cluster settle (the standby sees the owner for a while).
            std::thread::sleep(Duration::from_secs(2));
            let doubles = watch.doubles().len();
            let at = prober.now();
            match failure {
                Failure::NodeDies => h.power_off("node1")?,
                Failure::CablePulled => h.cable("node1", false)?,
            }
            let served = prober.wait_for("web2", patience);
            match outage(&prober.samples(), at, "web2") {
                Some(d) if served => row.outages.push(d),
                _ => row.failed += 1,
            }
            sys.restore(&h, failure)?;
            if !prober.wait_for("web1", patience) {
                return Err(HostError::Timeout(format!(
                    "{}: node1 never served again after run {run}; last answer {:?}\n{}",
                    sys.name(),
                    prober.last(),
                    h.logs(30)
                )));
            }
            if watch.doubles().len() > doubles {
                row.double_holders += 1;
            }
            sys.after_run(&h)?;
            eprintln!(
                "{} {} {}: run {} outage {:?}",
                row.system,
                row.settings,
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

    fn restore(&mut self, h: &Hosts, failure: Failure) -> Result<()> {
        match failure {
            Failure::NodeDies => h.boot("node1"),
            Failure::CablePulled => h.cable("node1", true),
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
}

impl Rgmanager {
    pub fn new(bins: &std::path::Path, label: &str, options: crate::seed::Options) -> Rgmanager {
        Rgmanager {
            bins: bins.to_path_buf(),
            label: label.to_string(),
            options,
            seed: None,
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
        h.boot("node1")?;
        // node1 first: it is the coordinator and starts the service on itself.
        std::thread::sleep(Duration::from_millis(500));
        h.boot("node2")?;
        self.seed = Some(seed);
        Ok(())
    }

    fn restore(&mut self, h: &Hosts, _failure: Failure) -> Result<()> {
        let Some(seed) = &self.seed else {
            return Err(HostError::NoHost("the seed cluster is not set up".into()));
        };
        // Fenced with `reboot`: the BMC powered node1 on again and it boots by itself. Fenced
        // with `off`: an administrator powers it on.
        let bmc = seed.bmc("node1")?;
        if !bmc.powered() {
            seed.power_on(h, "node1")?;
        }
        Ok(())
    }

    fn after_run(&mut self, h: &Hosts) -> Result<()> {
        let Some(seed) = &self.seed else {
            return Ok(());
        };
        let log = seed.log(h, "node2");
        if !log.contains("fence node1.cluster.com success") {
            return Err(HostError::Timeout(format!(
                "node2 took over without fencing node1?\n{log}"
            )));
        }
        Ok(())
    }
}

/// The table, one row per system, setting and failure.
pub fn table(rows: &[Row]) -> String {
    let ms =
        |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{:.3}", d.as_secs_f64()));
    let mut out = String::from(
        "| system | settings | failure | runs | median outage (s) | min | max | no takeover | two holders |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.system,
            r.settings,
            r.failure.as_str(),
            r.outages.len() + r.failed,
            ms(r.median()),
            ms(r.outages.iter().min().copied()),
            ms(r.outages.iter().max().copied()),
            r.failed,
            r.double_holders
        );
    }
    out
}
