//! `demo --describe`: a cluster.conf (the demo's sample, or any file) validated and shown as the
//! daemons run it: members and their fencing, quorum, failover domains and each service's
//! resource tree. Kept from before the demo started a cluster, because reading one's own
//! cluster.conf this way is useful on its own.

use std::fmt::Write as _;

use ccs::model::{ClusterConf, Resource};

/// Attributes never printed: fence passwords and the like.
const SECRETS: &[&str] = &["passwd", "password", "passwd_script"];

/// Validates `text` (named `name` in messages) and describes it. Returns the report, and false
/// when the configuration has errors.
pub fn describe(name: &str, text: &str) -> (String, bool) {
    let mut out = String::new();
    let report = ccs::check_str(text);
    for d in &report.diagnostics {
        let _ = writeln!(out, "{}", d.render(name));
    }
    let Some(conf) = report.conf.as_ref().filter(|_| report.is_valid()) else {
        let _ = writeln!(out, "Configuration fails to validate");
        return (out, false);
    };
    let _ = writeln!(
        out,
        "Cluster \"{}\", config_version {}: configuration validates ({} warning(s))\n",
        conf.name(),
        conf.config_version().unwrap_or(0),
        report.warnings().count()
    );
    members(&mut out, conf);
    domains(&mut out, conf);
    services(&mut out, conf);
    (out, true)
}

fn members(out: &mut String, conf: &ClusterConf) {
    let expected = conf.expected_votes();
    let quorum = if conf.two_node() { 1 } else { expected / 2 + 1 };
    let _ = writeln!(
        out,
        "Members (expected votes {expected}, quorum at {quorum} vote(s){}):",
        if conf.two_node() {
            ", two-node mode"
        } else {
            ""
        }
    );
    for n in conf.nodes() {
        let _ = write!(
            out,
            "  {:<20} id {:<3} votes {}  fencing: ",
            n.name(),
            n.nodeid().unwrap_or(0),
            n.votes()
        );
        if n.methods().is_empty() {
            let _ = writeln!(out, "none (a failure of this node needs fence_ack_manual)");
            continue;
        }
        let methods: Vec<String> = n
            .methods()
            .iter()
            .map(|m| {
                let devices: Vec<String> = m
                    .devices
                    .iter()
                    .map(|d| {
                        let name = d.attrs.get("name").unwrap_or("");
                        let agent = conf
                            .fence_device(name)
                            .and_then(|f| f.attrs.get("agent"))
                            .unwrap_or("?");
                        let args: Vec<String> = d
                            .attrs
                            .iter()
                            .filter(|(k, _)| *k != "name" && !SECRETS.contains(k))
                            .map(|(k, a)| format!("{k}={}", a.value))
                            .collect();
                        format!(
                            "{name} ({agent}{}{})",
                            if args.is_empty() { "" } else { " " },
                            args.join(" ")
                        )
                    })
                    .collect();
                format!("{}: {}", m.name(), devices.join(" + "))
            })
            .collect();
        let _ = writeln!(out, "{}", methods.join(", then "));
    }
    let _ = writeln!(out);
}

fn domains(out: &mut String, conf: &ClusterConf) {
    let _ = writeln!(out, "Failover domains:");
    if conf.domains().is_empty() {
        let _ = writeln!(out, "  none: every service may run on any member");
    }
    for d in conf.domains() {
        let mut flags = Vec::new();
        if d.ordered() {
            flags.push("ordered");
        }
        if d.restricted() {
            flags.push("restricted");
        }
        if d.nofailback() {
            flags.push("no failback");
        }
        let members: Vec<String> = d
            .members()
            .map(|(n, p)| match p {
                Some(p) => format!("{n} (priority {p})"),
                None => n.to_string(),
            })
            .collect();
        let _ = writeln!(
            out,
            "  {} [{}]: {}",
            d.name(),
            if flags.is_empty() {
                "unordered".to_string()
            } else {
                flags.join(", ")
            },
            members.join(", ")
        );
    }
    let _ = writeln!(out);
}

fn services(out: &mut String, conf: &ClusterConf) {
    let _ = writeln!(out, "Services:");
    for g in conf.groups() {
        let p = g.service_policy();
        let _ = writeln!(
            out,
            "  {}  domain {}, {}, recovery {}{}",
            g.full_name(),
            p.domain.as_deref().unwrap_or("(any member)"),
            if p.autostart {
                "autostart"
            } else {
                "starts disabled"
            },
            p.recovery.as_str(),
            if p.exclusive { ", exclusive" } else { "" }
        );
        for child in &g.children {
            tree(out, conf, child, 2);
        }
    }
}

/// One resource and its children, with `ref=` shown as the global definition it names.
fn tree(out: &mut String, conf: &ClusterConf, r: &Resource, depth: usize) {
    let def = r.reference().and_then(|target| {
        conf.resources()
            .iter()
            .find(|g| g.kind == r.kind && g.primary_value() == Some(target))
    });
    let shown = def.unwrap_or(r);
    let detail: Vec<String> = shown
        .attrs
        .iter()
        .filter(|(k, _)| *k != shown.primary_attr())
        .map(|(k, a)| format!("{k}={}", a.value))
        .collect();
    let _ = writeln!(
        out,
        "{:indent$}{}{}",
        "",
        r.full_name(),
        if detail.is_empty() {
            String::new()
        } else {
            format!("  ({})", detail.join(" "))
        },
        indent = depth * 2
    );
    for c in &r.children {
        tree(out, conf, c, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::SAMPLE;

    #[test]
    fn sample_validates_and_hides_passwords() {
        let (out, ok) = describe("sample", SAMPLE);
        assert!(ok, "{out}");
        assert!(
            out.contains("Members (expected votes 3, quorum at 2 vote(s)):"),
            "{out}"
        );
        assert!(out.contains("service:web  domain web_failover"), "{out}");
        assert!(
            out.contains("    script:web  (file=/etc/init.d/demo-web)"),
            "{out}"
        );
        assert!(
            !out.contains("passwd") && !out.contains("Pdu-s3cret"),
            "{out}"
        );
    }

    #[test]
    fn invalid_input_is_reported() {
        let (out, ok) = describe("bad.conf", "<cluster name=\"x\"><clusternodes>");
        assert!(!ok);
        assert!(out.starts_with("bad.conf:"), "{out}");
    }
}
