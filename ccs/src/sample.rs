//! Generated cluster.conf files of any size, for benchmarks, load tests and demos.
//!
//! The shape is the one RHEL 6 clusters use at scale: every node fenced through IPMI, one ordered
//! failover domain per node (that node first, the next two as fallbacks), and services made of an
//! `ip` and a `script` defined under `<resources>` and referenced by the service.

use std::fmt::Write;

/// A valid cluster.conf with `nodes` nodes, `domains` ordered failover domains and `services`
/// services. `nodes` must be at least 1; the text is deterministic.
pub fn generate(nodes: usize, domains: usize, services: usize) -> String {
    let nodes = nodes.max(1);
    let mut s = String::with_capacity(200 * (nodes + domains) + 400 * services);
    let _ = writeln!(s, "<?xml version=\"1.0\"?>");
    let _ = writeln!(s, "<cluster config_version=\"1\" name=\"bench\">");
    let _ = writeln!(s, "\t<clusternodes>");
    for n in 1..=nodes {
        let _ = writeln!(
            s,
            "\t\t<clusternode name=\"node{n}\" nodeid=\"{n}\">\n\t\t\t<fence>\n\t\t\t\t<method name=\"ipmi\">\n\t\t\t\t\t<device name=\"bmc{n}\"/>\n\t\t\t\t</method>\n\t\t\t</fence>\n\t\t</clusternode>"
        );
    }
    let _ = writeln!(s, "\t</clusternodes>");
    let _ = writeln!(s, "\t<fencedevices>");
    for n in 1..=nodes {
        let _ = writeln!(
            s,
            "\t\t<fencedevice agent=\"fence_ipmilan\" ipaddr=\"10.1.{}.{}\" lanplus=\"1\" login=\"admin\" name=\"bmc{n}\" passwd=\"secret\"/>",
            n / 250,
            n % 250 + 1
        );
    }
    let _ = writeln!(s, "\t</fencedevices>");
    let _ = writeln!(s, "\t<rm>\n\t\t<failoverdomains>");
    for d in 0..domains {
        let _ = writeln!(
            s,
            "\t\t\t<failoverdomain name=\"dom{d}\" nofailback=\"0\" ordered=\"1\" restricted=\"1\">"
        );
        for k in 0..3.min(nodes) {
            let n = (d + k) % nodes + 1;
            let _ = writeln!(
                s,
                "\t\t\t\t<failoverdomainnode name=\"node{n}\" priority=\"{}\"/>",
                k + 1
            );
        }
        let _ = writeln!(s, "\t\t\t</failoverdomain>");
    }
    let _ = writeln!(s, "\t\t</failoverdomains>\n\t\t<resources>");
    for i in 0..services {
        let _ = writeln!(
            s,
            "\t\t\t<ip address=\"10.{}.{}.{}/16\" monitor_link=\"1\" sleeptime=\"10\"/>\n\t\t\t<script file=\"/etc/init.d/app{i}\" name=\"app{i}\"/>",
            100 + i / 65536,
            (i / 256) % 256,
            i % 256
        );
    }
    let _ = writeln!(s, "\t\t</resources>");
    for i in 0..services {
        let domain = if domains > 0 {
            format!(" domain=\"dom{}\"", i % domains)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "\t\t<service autostart=\"1\"{domain} name=\"svc{i}\" recovery=\"relocate\">\n\t\t\t<ip ref=\"10.{}.{}.{}/16\">\n\t\t\t\t<script ref=\"app{i}\"/>\n\t\t\t</ip>\n\t\t</service>",
            100 + i / 65536,
            (i / 256) % 256,
            i % 256
        );
    }
    let _ = writeln!(s, "\t</rm>\n</cluster>");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_configs_validate() {
        for (n, d, s) in [(1, 0, 0), (3, 3, 10), (64, 64, 300)] {
            let report = crate::check_str(&super::generate(n, d, s));
            let errors: Vec<_> = report.errors().collect();
            assert!(errors.is_empty(), "{n}/{d}/{s}: {errors:?}");
            assert_eq!(report.conf.map(|c| c.services().count()), Some(s));
        }
    }
}
