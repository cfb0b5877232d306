//! The simulated clusters' configurations: a small model of what varies (nodes, failover
//! domains, services, timings), rendered to a real cluster.conf that every node core parses
//! and validates as the daemon would, and the changes an administrator pushes.

use std::fmt::Write as _;

use super::rng::Rng;
use crate::membership::NodeId;

/// A failover domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub ordered: bool,
    pub restricted: bool,
    pub nofailback: bool,
    /// Member nodes with their priority.
    pub members: Vec<(NodeId, u32)>,
}

/// A service: one script resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub domain: Option<String>,
    /// `restart`, `relocate` or `disable`.
    pub recovery: &'static str,
    pub autostart: bool,
    /// Changes the resource tree (a reload restarts the service).
    pub generation: u32,
}

/// A cluster's configuration as the simulator varies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConf {
    pub version: u64,
    pub nodes: Vec<NodeId>,
    pub domains: Vec<Domain>,
    pub services: Vec<Service>,
    pub token_ms: u64,
    pub post_fail_delay: u64,
    /// A comment that makes two texts of one version differ (a conflicting push).
    pub flavour: u32,
}

/// The recovery policies, `restart` twice as likely at first.
const RECOVERY: [&str; 4] = ["restart", "restart", "relocate", "disable"];

pub fn node_name(id: NodeId) -> String {
    format!("node{id}")
}

impl SimConf {
    /// A random cluster of `n` nodes.
    pub fn random(rng: &mut Rng, n: u32) -> SimConf {
        let nodes: Vec<NodeId> = (1..=n).collect();
        let token_ms = *rng.pick(&[300, 500, 1000]);
        let mut c = SimConf {
            version: 1,
            nodes,
            domains: Vec::new(),
            services: Vec::new(),
            token_ms,
            post_fail_delay: if rng.chance(0.2) { 1 } else { 0 },
            flavour: 0,
        };
        let domains = rng.range(0, 3);
        for i in 0..domains {
            c.domains.push(c.random_domain(rng, i));
        }
        let services = rng.range(1, 5);
        for i in 0..services {
            let s = c.random_service(rng, &format!("s{}", i + 1));
            c.services.push(s);
        }
        c
    }

    fn random_domain(&self, rng: &mut Rng, i: u64) -> Domain {
        let mut members: Vec<(NodeId, u32)> = Vec::new();
        for &n in &self.nodes {
            if rng.chance(0.6) {
                members.push((n, rng.range(1, 4) as u32));
            }
        }
        if members.is_empty() {
            members.push((*rng.pick(&self.nodes), 1));
        }
        Domain {
            name: format!("d{}", i + 1),
            ordered: rng.chance(0.6),
            restricted: rng.chance(0.4),
            nofailback: rng.chance(0.2),
            members,
        }
    }

    fn random_service(&self, rng: &mut Rng, name: &str) -> Service {
        let domain = if !self.domains.is_empty() && rng.chance(0.7) {
            Some(rng.pick(&self.domains).name.clone())
        } else {
            None
        };
        Service {
            name: name.to_string(),
            domain,
            recovery: RECOVERY[rng.range(0, 4) as usize],
            autostart: rng.chance(0.9),
            generation: 0,
        }
    }

    /// A newer version with one random change an administrator might push.
    pub fn mutate(&self, rng: &mut Rng) -> SimConf {
        let mut c = self.clone();
        c.version += 1;
        match rng.range(0, 6) {
            0 => {
                let name = format!("s{}", 1 + c.services.len() + rng.range(0, 50) as usize);
                if !c.services.iter().any(|s| s.name == name) {
                    let s = c.random_service(rng, &name);
                    c.services.push(s);
                }
            }
            1 if c.services.len() > 1 => {
                let i = rng.range(0, c.services.len() as u64) as usize;
                c.services.remove(i);
            }
            2 if !c.domains.is_empty() => {
                let i = rng.range(0, c.domains.len() as u64) as usize;
                let d = c.random_domain(rng, i as u64);
                c.domains[i] = d;
            }
            3 if !c.services.is_empty() => {
                let i = rng.range(0, c.services.len() as u64) as usize;
                c.services[i].generation += 1;
            }
            4 if !c.services.is_empty() => {
                let i = rng.range(0, c.services.len() as u64) as usize;
                c.services[i].recovery = RECOVERY[rng.range(1, 4) as usize];
            }
            _ => c.post_fail_delay = if c.post_fail_delay == 0 { 1 } else { 0 },
        }
        c
    }

    /// cluster.conf's text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<?xml version=\"1.0\"?>\n<cluster name=\"sim\" config_version=\"{}\">",
            self.version
        );
        if self.flavour != 0 {
            let _ = writeln!(s, "  <!-- flavour {} -->", self.flavour);
        }
        let _ = writeln!(s, "  <totem token=\"{}\"/>", self.token_ms);
        let _ = writeln!(
            s,
            "  <fence_daemon post_fail_delay=\"{}\" post_join_delay=\"3\"/>",
            self.post_fail_delay
        );
        s.push_str("  <clusternodes>\n");
        for &n in &self.nodes {
            let name = node_name(n);
            let _ = writeln!(
                s,
                "    <clusternode name=\"{name}\" nodeid=\"{n}\"><fence><method name=\"1\">\
                 <device name=\"pdu\" port=\"{n}\"/></method></fence></clusternode>"
            );
        }
        s.push_str("  </clusternodes>\n");
        s.push_str(
            "  <fencedevices><fencedevice name=\"pdu\" agent=\"fence_apc\" ipaddr=\"192.0.2.1\" \
             login=\"apc\" passwd=\"apc\"/></fencedevices>\n",
        );
        s.push_str("  <rm>\n    <failoverdomains>\n");
        for d in &self.domains {
            let _ = writeln!(
                s,
                "      <failoverdomain name=\"{}\" ordered=\"{}\" restricted=\"{}\" nofailback=\"{}\">",
                d.name,
                u8::from(d.ordered),
                u8::from(d.restricted),
                u8::from(d.nofailback)
            );
            for (n, p) in &d.members {
                if self.nodes.contains(n) {
                    let _ = writeln!(
                        s,
                        "        <failoverdomainnode name=\"{}\" priority=\"{p}\"/>",
                        node_name(*n)
                    );
                }
            }
            s.push_str("      </failoverdomain>\n");
        }
        s.push_str("    </failoverdomains>\n");
        for svc in &self.services {
            let domain = svc
                .domain
                .as_ref()
                .filter(|d| self.domains.iter().any(|x| &x.name == *d))
                .map(|d| format!(" domain=\"{d}\""))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    <service name=\"{}\"{domain} recovery=\"{}\" autostart=\"{}\">\
                 <script name=\"{}\" file=\"/etc/init.d/{}-{}\"/></service>",
                svc.name,
                svc.recovery,
                u8::from(svc.autostart),
                svc.name,
                svc.name,
                svc.generation
            );
        }
        s.push_str("  </rm>\n</cluster>\n");
        s
    }
}
