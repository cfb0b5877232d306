//! The text `rg_test` prints, byte for byte in the layout of rgmanager 3.1.8 (`reslist.c`
//! `print_resource`, `restree.c` `_print_resource_tree`, `fo_domain.c` `print_domains`,
//! `resrules.c` `print_resource_rule`), so that scripts and eyes used to the original keep
//! working.

use std::fmt::Write as _;

use ccs::resource_types::ResourceType;
use ccs::ClusterConf;

use super::rules::{rule_actions, rule_attrs, sorted_types};
use super::tree::{atoi, Forest, NodeId, ResourceDef};

/// The agent file rgmanager ran for a type (its basename, as `Agent:` lines show it).
pub fn agent_file(kind: &str) -> String {
    match kind {
        // The SAP agents were shipped without the .sh suffix.
        "SAPInstance" | "SAPDatabase" => kind.to_string(),
        // Ours: built in, running the OCF agent the resource names, or systemctl.
        "ocf" => "resource.d/PROVIDER/TYPE".to_string(),
        "systemd" => "systemctl".to_string(),
        _ => format!("{kind}.sh"),
    }
}

/// One entry of `=== Resources List ===`.
pub fn resource_entry(out: &mut String, r: &ResourceDef) {
    let _ = write!(out, "Resource type: {}", r.kind);
    if r.inline {
        out.push_str(" [INLINE]");
    }
    out.push('\n');
    if let Some(max) = r.rtype.maxinstances.filter(|m| *m > 0) {
        let _ = writeln!(out, "Instances: {}/{}", r.refs, max);
    }
    let _ = writeln!(out, "Agent: {}", agent_file(&r.kind));
    out.push_str("Attributes:\n");
    if r.attrs.is_empty() {
        out.push_str("  - None -\n\n");
        return;
    }
    for a in &r.attrs {
        if a.inherit {
            let _ = write!(out, "  {}", a.name);
        } else {
            let _ = write!(out, "  {} = {}", a.name, a.value);
        }
        if !(a.primary || a.unique || a.required || a.inherit) {
            out.push('\n');
            continue;
        }
        out.push_str(" [");
        if a.primary {
            out.push_str(" primary");
        }
        if a.unique {
            out.push_str(" unique");
        }
        if a.required {
            out.push_str(" required");
        }
        if a.inherit {
            let _ = write!(out, " inherit(\"{}\")", a.value);
        }
        out.push_str(" ]\n");
    }
    out.push('\n');
}

fn tree_node(out: &mut String, f: &Forest, id: NodeId, level: usize) {
    let n = f.node(id);
    let r = f.resource_of(id);
    let pad = "  ".repeat(level);
    let _ = write!(out, "{pad}{}", r.kind);
    let enforce = n.enforce_timeouts == Some(true);
    if n.independent || enforce || n.non_critical {
        out.push_str(" [ ");
        if n.independent {
            out.push_str("INDEPENDENT ");
        }
        if enforce {
            out.push_str("ENFORCE-TIMEOUTS ");
        }
        if n.non_critical {
            out.push_str("NON-CRITICAL ");
        }
        out.push(']');
    }
    // State 0 = stopped: rg_test never starts anything before printing.
    out.push_str(" (S0) {\n");
    for a in &r.attrs {
        let v = f.attr_value(id, &a.name).unwrap_or("(null)");
        let _ = writeln!(out, "{pad}  {} = \"{}\";", a.name, v);
    }
    for &c in &n.children {
        tree_node(out, f, c, level + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

/// `=== Resource Tree ===` body: every group with resolved attributes.
pub fn resource_tree(f: &Forest) -> String {
    let mut out = String::new();
    for &r in &f.roots {
        tree_node(&mut out, f, r, 0);
    }
    out
}

/// `=== Failover Domains ===` body.
pub fn domains(conf: &ClusterConf) -> String {
    let mut out = String::new();
    for d in conf.domains() {
        let _ = writeln!(out, "Failover domain: {}", d.name());
        out.push_str("Flags: ");
        if !d.ordered() && !d.restricted() && !d.nofailback() {
            out.push_str("none\n");
        } else {
            if d.ordered() {
                out.push_str("Ordered ");
            }
            if d.restricted() {
                out.push_str("Restricted ");
            }
            if d.nofailback() {
                out.push_str("No Failback");
            }
            out.push('\n');
        }
        for (name, prio) in d.members() {
            let id = conf.node(name).and_then(|n| n.nodeid()).unwrap_or(0);
            let _ = writeln!(
                out,
                "  Node {name} (id {id}, priority {})",
                prio.unwrap_or(0)
            );
        }
    }
    out
}

/// rgmanager's resource-group state names (`rg_state_str`), numbered from 110.
const RG_STATES: &[&str] = &[
    "stopped",
    "starting",
    "started",
    "stopping",
    "failed",
    "uninitialized",
    "checking",
    "recoverable",
    "recovering",
    "disabled",
    "migrating",
];

fn rg_state_str(state: Option<usize>) -> &'static str {
    state
        .and_then(|s| s.checked_sub(110))
        .and_then(|i| RG_STATES.get(i))
        .copied()
        .unwrap_or("Unknown")
}

/// `=== Event Triggers ===` body (`event_config.c`): the `<rm><events>` entries rgmanager
/// accepted, by priority (1..100, default 99), then its built-in default event at 100.
pub fn events(conf: &ClusterConf) -> String {
    use ccs::xml::Node;
    let mut levels: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    let node_id = |name: &str| -> i64 {
        conf.node(name)
            .and_then(|n| n.nodeid())
            .map(i64::from)
            .unwrap_or(0)
    };
    let evs = conf
        .rm
        .iter()
        .flat_map(|rm| rm.extra.iter())
        .filter_map(|n| match n {
            Node::Element(e) if e.name == "events" => Some(e),
            _ => None,
        })
        .take(1)
        .flat_map(|e| e.elements().filter(|c| c.name == "event"));
    for ev in evs {
        let Some(name) = ev.attrs.get("name") else {
            // rgmanager stopped reading events at the first one without a name.
            break;
        };
        let text: String = ev
            .children
            .iter()
            .filter_map(|c| match c {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let script = match ev.attrs.get("file") {
            Some(f) => format!("    File: {f}\n"),
            None if !text.is_empty() => "    Inline script.\n".to_string(),
            None => continue,
        };
        let prio = match ev.attrs.get("priority") {
            Some(p) => {
                let p = atoi(p);
                if !(1..=100).contains(&p) {
                    continue;
                }
                p
            }
            None => 99,
        };
        let class = match ev.attrs.get("class").map(str::to_ascii_lowercase) {
            None => "    (Any event)\n".to_string(),
            Some(c) if c == "node" => {
                let mut id = -1;
                if let Some(v) = ev.attrs.get("node_id") {
                    id = atoi(v);
                    if id <= 0 {
                        continue;
                    }
                } else if let Some(v) = ev.attrs.get("node") {
                    id = node_id(v);
                    if id <= 0 {
                        continue;
                    }
                }
                let state = match ev.attrs.get("node_state") {
                    Some(v) if v.eq_ignore_ascii_case("up") => 1,
                    Some(v) if v.eq_ignore_ascii_case("down") => 0,
                    Some(v) => i64::from(atoi(v) != 0),
                    None => -1,
                };
                format!("    Node {id} State {state}\n")
            }
            Some(c) if c == "service" || c == "resource" || c == "rg" => {
                let svc = ev.attrs.get("service").unwrap_or("");
                if ev.attrs.get("service").is_some_and(str::is_empty) {
                    continue;
                }
                let state = ev.attrs.get("service_state").and_then(|v| {
                    if v.starts_with(|c: char| c.is_ascii_digit()) {
                        usize::try_from(atoi(v)).ok()
                    } else {
                        RG_STATES
                            .iter()
                            .position(|s| s.eq_ignore_ascii_case(v))
                            .map(|i| i + 110)
                    }
                });
                format!("    RG {svc} State {}\n", rg_state_str(state))
            }
            // "config" events were never implemented, other classes are refused.
            Some(_) => continue,
        };
        levels
            .entry(prio)
            .or_default()
            .push(format!("  Name: {name}\n{class}{script}"));
    }
    levels.entry(100).or_default().push(format!(
        "  Name: Default\n    (Any event)\n    File: {}/default_event_script.sl\n",
        super::agent::OCF_ROOT
    ));
    let mut out = String::new();
    for (prio, entries) in levels {
        let _ = writeln!(out, "Event Priority Level {prio}:");
        for e in entries {
            out.push_str(&e);
        }
    }
    out
}

/// What `rg_test test FILE` prints on stdout: the build messages rgmanager printed, then the
/// resource list, the trees and the failover domains (each only when non-empty) and the
/// event triggers.
pub fn test_dump(conf: &ClusterConf, f: &Forest) -> String {
    let mut out = String::new();
    for p in &f.problems {
        if let Some(line) = p.rhcs_line() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !f.resources.is_empty() {
        out.push_str("=== Resources List ===\n");
        for r in &f.resources {
            resource_entry(&mut out, r);
        }
    }
    if !f.roots.is_empty() {
        out.push_str("=== Resource Tree ===\n");
        out.push_str(&resource_tree(f));
    }
    if !conf.domains().is_empty() {
        out.push_str("=== Failover Domains ===\n");
        out.push_str(&domains(conf));
    }
    // rgmanager always had its default event, so this section always appears.
    out.push_str("=== Event Triggers ===\n");
    out.push_str(&events(conf));
    out
}

/// One rule as `rg_test rules` printed it (`print_resource_rule`).
pub fn rule_entry(out: &mut String, t: &ResourceType) {
    let _ = writeln!(out, "Resource Rules for \"{}\"", t.name);
    if let Some(max) = t.maxinstances.filter(|m| *m > 0) {
        let _ = writeln!(out, "Max instances: {max}");
    }
    let _ = writeln!(out, "Agent: {}", agent_file(t.name));
    // rgmanager set init_on_add and destroy_on_delete unless the agent cleared them; none of
    // the classic agents did.
    out.push_str("Flags: init_on_add destroy_on_delete \n");
    out.push_str("Attributes:\n");
    let attrs = rule_attrs(t);
    if attrs.is_empty() {
        out.push_str("  - None -\n");
    }
    for a in &attrs {
        let _ = write!(out, "  {}", a.name);
        let flagged = a.primary || a.unique || a.required || a.inherit;
        if !flagged && a.value.is_none() {
            out.push('\n');
            continue;
        }
        if flagged {
            out.push_str(" [");
            if a.primary {
                out.push_str(" primary");
            }
            if a.unique {
                out.push_str(" unique");
            }
            if a.required {
                out.push_str(" required");
            }
            if a.inherit {
                out.push_str(" inherit");
            }
            out.push_str(" ]");
        }
        match a.value {
            Some(v) => {
                let _ = writeln!(out, " default=\"{v}\"");
            }
            None => out.push('\n'),
        }
    }
    out.push_str("Actions:\n");
    let acts = rule_actions(t);
    if acts.is_empty() {
        out.push_str("  - None -\n");
    }
    for a in &acts {
        let _ = writeln!(out, "  {}", a.name);
        if a.timeout != 0 {
            let _ = writeln!(out, "    Timeout (hint): {} seconds", a.timeout);
        }
        if a.depth != 0 {
            let _ = writeln!(
                out,
                "    OCF Check Depth (status/monitor): {} seconds",
                a.depth
            );
        }
        if a.interval != 0 {
            let _ = writeln!(out, "    Check Interval: {} seconds", a.interval);
        }
    }
    out.push_str("Explicitly defined child resource types:\n");
    if t.children.is_empty() {
        out.push_str("  - None -\n\n");
        return;
    }
    for c in t.children {
        let _ = write!(out, "  {}", c.kind);
        if c.forbid {
            out.push_str(" (forbidden)\n");
            continue;
        }
        let start = c.start.filter(|l| *l > 0);
        let stop = c.stop.filter(|l| *l > 0);
        if start.is_some() || stop.is_some() {
            out.push_str(" [");
            if let Some(l) = start {
                let _ = write!(out, " startlevel = {l}");
            }
            if let Some(l) = stop {
                let _ = write!(out, " stoplevel = {l}");
            }
            out.push_str(" ] ");
        }
        out.push('\n');
    }
    out.push('\n');
}

/// `rg_test rules`: every rule in rgmanager's (alphabetical) order.
pub fn rules_dump() -> String {
    let mut out = String::new();
    for t in sorted_types() {
        rule_entry(&mut out, t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"<cluster name="c" config_version="1">
      <clusternodes><clusternode name="n1" nodeid="1"/><clusternode name="n2" nodeid="2"/></clusternodes>
      <rm>
        <failoverdomains>
          <failoverdomain name="d" ordered="1" restricted="1">
            <failoverdomainnode name="n1" priority="1"/><failoverdomainnode name="n2" priority="2"/>
          </failoverdomain>
          <failoverdomain name="e"/>
        </failoverdomains>
        <resources><ip address="10.0.0.1" monitor_link="yes"/></resources>
        <service name="s" domain="d">
          <ip ref="10.0.0.1"/>
          <script name="x" file="/etc/init.d/x" __independent_subtree="1"/>
        </service>
      </rm></cluster>"#;

    #[test]
    fn test_dump_layout() {
        let conf = ccs::parse_str(CONF).unwrap();
        let f = Forest::build(&conf);
        let out = test_dump(&conf, &f);
        let expected_tree = "=== Resource Tree ===\n\
service (S0) {\n  name = \"s\";\n  domain = \"d\";\n";
        assert!(out.contains(expected_tree), "{out}");
        assert!(
            out.contains("  ip (S0) {\n    address = \"10.0.0.1\";\n    monitor_link = \"yes\";\n"),
            "{out}"
        );
        assert!(
            out.contains("    nfslock = \"0\";\n"),
            "inherited from service: {out}"
        );
        assert!(out.contains("  script [ INDEPENDENT ] (S0) {\n    name = \"x\";\n    file = \"/etc/init.d/x\";\n    service_name = \"s\";\n  }\n"), "{out}");
        assert!(out.starts_with("=== Resources List ===\nResource type: ip\nInstances: 1/1\nAgent: ip.sh\nAttributes:\n  address = 10.0.0.1 [ primary unique ]\n"), "{out}");
        assert!(
            out.contains("  nfslock [ inherit(\"service%nfslock\") ]\n"),
            "{out}"
        );
        assert!(
            out.contains("Resource type: script [INLINE]\nAgent: script.sh\n"),
            "{out}"
        );
        assert!(out.contains("=== Failover Domains ===\nFailover domain: d\nFlags: Ordered Restricted \n  Node n1 (id 1, priority 1)\n  Node n2 (id 2, priority 2)\nFailover domain: e\nFlags: none\n=== Event Triggers ===\n"), "{out}");
        assert!(out.ends_with("=== Event Triggers ===\nEvent Priority Level 100:\n  Name: Default\n    (Any event)\n    File: /usr/share/cluster/default_event_script.sl\n"), "{out}");
    }

    #[test]
    fn event_triggers_by_priority() {
        let conf = ccs::parse_str(
            r#"<cluster name="c" config_version="1">
              <clusternodes><clusternode name="n1" nodeid="1"/></clusternodes>
              <rm><events>
                <event name="up" class="node" node="n1" node_state="up" priority="5">start_service("service:a");</event>
                <event name="svc" class="service" service="service:a" service_state="failed" file="/x.sl"/>
                <event name="any" priority="5" file="/y.sl"/>
                <event name="bad" class="config" file="/z.sl"/>
                <event name="noscript" class="node"/>
              </events></rm></cluster>"#,
        )
        .unwrap();
        assert_eq!(
            events(&conf),
            "Event Priority Level 5:\n  Name: up\n    Node 1 State 1\n    Inline script.\n  Name: any\n    (Any event)\n    File: /y.sl\n\
Event Priority Level 99:\n  Name: svc\n    RG service:a State failed\n    File: /x.sl\n\
Event Priority Level 100:\n  Name: Default\n    (Any event)\n    File: /usr/share/cluster/default_event_script.sl\n"
        );
    }

    #[test]
    fn rules_dump_has_service_levels() {
        let out = rules_dump();
        assert!(out.starts_with("Resource Rules for \"apache\"\n"));
        assert!(
            out.contains("Resource Rules for \"service\"\nMax instances: 1\nAgent: service.sh\n")
        );
        assert!(out.contains("  lvm [ startlevel = 1 stoplevel = 9 ] \n"));
        assert!(out.contains("  script [ startlevel = 9 stoplevel = 1 ] \n"));
        assert!(out.contains("  nfsclient (forbidden)\n"));
    }
}
