//! The lab cluster's cluster.conf as a value: which nodes are configured, the order of the two
//! failover domains, whether the third service exists, the version. The lab changes it (a
//! service added, a domain reordered, a node added) and pushes the rendered text with
//! `ccs_sync`; the observer then compares every node's file with the text, byte for byte.

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// What does not change during a run: the hosts' addresses, their BMCs, the scripts.
#[derive(Clone, Debug)]
pub struct Site {
    /// Host `nodeI` is `nodes[I - 1]`: its address and its BMC's. The last one is the spare,
    /// configured only while a "node added" fault holds.
    pub nodes: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// The service scripts, by service name.
    pub scripts: Vec<(String, PathBuf)>,
    pub vip: Ipv4Addr,
    pub bmc_password: String,
    /// `<totem token>` in ms, `None`: the default (1000 ms).
    pub token: Option<u32>,
}

impl Site {
    fn script(&self, svc: &str) -> String {
        self.scripts
            .iter()
            .find(|(s, _)| s == svc)
            .map(|(_, p)| p.display().to_string())
            .unwrap_or_default()
    }

    /// The spare node's number (the last host).
    pub fn spare(&self) -> usize {
        self.nodes.len()
    }
}

/// The part of cluster.conf the lab changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabConf {
    pub version: u32,
    /// Configured node numbers, ascending.
    pub nodes: Vec<usize>,
    /// `web_dom`'s order, best first (configured nodes only are written).
    pub web_order: Vec<usize>,
    /// `batch_dom`'s order, best first.
    pub batch_order: Vec<usize>,
    /// Whether service `extra` exists.
    pub extra: bool,
}

/// The services of the lab: `web` (the floating address and a web server), `batch` (a
/// script only) and, while a "service added" push holds, `extra` (a script only).
pub const SERVICES: [&str; 3] = ["web", "batch", "extra"];

impl LabConf {
    /// The starting configuration of `n` nodes (the spare, node n+1, not configured): `web`
    /// prefers node1, node2, …; `batch` prefers the last node first.
    pub fn initial(n: usize) -> LabConf {
        LabConf {
            version: 1,
            nodes: (1..=n).collect(),
            web_order: (1..=n + 1).collect(),
            batch_order: (1..=n).rev().chain([n + 1]).collect(),
            extra: false,
        }
    }

    /// The services this configuration has.
    pub fn services(&self) -> Vec<&'static str> {
        SERVICES
            .iter()
            .copied()
            .filter(|s| *s != "extra" || self.extra)
            .collect()
    }

    /// The node where `svc` belongs when every configured node is up: the first configured
    /// node of its ordered domain (`extra` has none: `None`, anywhere is right).
    pub fn home(&self, svc: &str) -> Option<usize> {
        let order = match svc {
            "web" => &self.web_order,
            "batch" => &self.batch_order,
            _ => return None,
        };
        order.iter().copied().find(|n| self.nodes.contains(n))
    }

    /// Majority of the configured votes (one per node), as cman computed it.
    pub fn quorum(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// The cluster.conf text.
    pub fn render(&self, site: &Site) -> String {
        let mut nodes = String::new();
        let mut devices = String::new();
        for &n in &self.nodes {
            let Some((addr, bmc)) = site.nodes.get(n.wrapping_sub(1)) else {
                continue;
            };
            nodes += &format!(
                "<clusternode name=\"node{n}\" nodeid=\"{n}\" rgm_addr=\"{addr}\">\n\
                 <fence>\n<method name=\"ipmi\">\n<device name=\"bmc{n}\"/>\n</method>\n</fence>\n\
                 </clusternode>\n"
            );
            devices += &format!(
                "<fencedevice agent=\"fence_ipmilan\" ipaddr=\"{bmc}\" login=\"admin\" name=\"bmc{n}\" \
                 passwd=\"{pw}\" lanplus=\"1\" cipher=\"3\"/>\n",
                pw = site.bmc_password
            );
        }
        let domain = |name: &str, order: &[usize]| {
            let mut text =
                format!("<failoverdomain name=\"{name}\" ordered=\"1\" restricted=\"0\">\n");
            for (i, n) in order.iter().filter(|n| self.nodes.contains(n)).enumerate() {
                text += &format!(
                    "<failoverdomainnode name=\"node{n}\" priority=\"{}\"/>\n",
                    i + 1
                );
            }
            text + "</failoverdomain>\n"
        };
        // Checks every second: a dead web server is noticed within a second or two, as the
        // observer's recovery times assume.
        let check = "<action name=\"status\" depth=\"*\" interval=\"1\"/>";
        let script = |svc: &str| {
            format!(
                "<script name=\"{svc}\" file=\"{}\">\n{check}\n</script>\n",
                site.script(svc)
            )
        };
        let extra = if self.extra {
            format!(
                "<service name=\"extra\" recovery=\"restart\">\n{}</service>\n",
                script("extra")
            )
        } else {
            String::new()
        };
        let totem = site
            .token
            .map_or(String::new(), |t| format!("<totem token=\"{t}\"/>\n"));
        format!(
            r#"<?xml version="1.0"?>
<cluster config_version="{v}" name="lab">
<clusternodes>
{nodes}</clusternodes>
{totem}<rm>
<failoverdomains>
{web_dom}{batch_dom}</failoverdomains>
<service name="web" domain="web_dom" recovery="restart" max_restarts="2" restart_expire_time="60">
<ip address="{vip}/24" sleeptime="0">
{check}
</ip>
{web_script}</service>
<service name="batch" domain="batch_dom" recovery="relocate">
{batch_script}</service>
{extra}</rm>
<fencedevices>
{devices}</fencedevices>
</cluster>
"#,
            v = self.version,
            web_dom = domain("web_dom", &self.web_order),
            batch_dom = domain("batch_dom", &self.batch_order),
            vip = site.vip,
            web_script = script("web"),
            batch_script = script("batch"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(n: usize) -> Site {
        Site {
            nodes: (1..=n + 1)
                .map(|i| {
                    (
                        Ipv4Addr::new(10, 213, 7, i as u8),
                        Ipv4Addr::new(10, 213, 7, 100 + i as u8),
                    )
                })
                .collect(),
            scripts: SERVICES
                .iter()
                .map(|s| (s.to_string(), PathBuf::from(format!("/lab/{s}.sh"))))
                .collect(),
            vip: Ipv4Addr::new(10, 213, 7, 100),
            bmc_password: "pw".into(),
            token: Some(500),
        }
    }

    #[test]
    fn every_variant_the_lab_pushes_is_valid() {
        for n in 3..=5 {
            let s = site(n);
            let base = LabConf::initial(n);
            let mut with_spare = base.clone();
            with_spare.nodes.push(s.spare());
            with_spare.batch_order.rotate_right(1);
            let mut extra = base.clone();
            extra.extra = true;
            let mut reordered = base.clone();
            reordered.web_order.reverse();
            for c in [base, with_spare, extra, reordered] {
                let text = c.render(&s);
                let report = ccs::check_str(&text);
                assert!(
                    report.is_valid() && report.warnings().next().is_none(),
                    "{n} nodes: {:?}\n{text}",
                    report.diagnostics
                );
                let nodes = report
                    .conf
                    .and_then(|m| m.clusternodes)
                    .map(|c| c.nodes.len());
                assert_eq!(nodes, Some(c.nodes.len()));
            }
        }
    }

    #[test]
    fn homes_follow_the_domains_and_the_configured_nodes() {
        let mut c = LabConf::initial(3);
        assert_eq!(c.home("web"), Some(1));
        assert_eq!(c.home("batch"), Some(3));
        assert_eq!(c.home("extra"), None);
        c.batch_order = vec![4, 3, 2, 1];
        assert_eq!(c.home("batch"), Some(3), "node4 is not configured");
        c.nodes.push(4);
        assert_eq!(c.home("batch"), Some(4));
        assert_eq!(c.quorum(), 3);
        assert_eq!(LabConf::initial(5).quorum(), 3);
        assert_eq!(c.services(), vec!["web", "batch"]);
    }
}
