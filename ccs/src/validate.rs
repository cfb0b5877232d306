//! Validation of a loaded cluster.conf: every problem at once, each with its location.
//!
//! Four kinds of checks, in one pass over the model plus a few lookups (linear in the size of
//! the file, so a 10,000-service cluster validates in milliseconds):
//! - schema: required attributes, value types, ranges (mirrored by `schemas/cluster.rng`);
//! - cross-references: fence devices, failover domains, `ref=`, `depend=`, duplicates;
//! - sanity: address syntax, absolute script paths;
//! - warnings for what is legal but risky, or kept without being understood (unknown elements,
//!   attributes and agents are kept and reported, as cman only warned about them).
//!
//! Messages are fixed sentences with the offending values quoted, so the same problem always
//! reads the same way (fixtures pin them).

use std::collections::hash_map::Entry;
use std::sync::OnceLock;

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::Serialize;

use crate::model::{ClusterConf, ClusterNode, FailoverDomain, Resource, Section};
use crate::resource_types::{ParamKind, RESOURCE_TYPES};
use crate::schema::{self, AttrSpec, ElementSpec, Ty};
use crate::value;
use crate::xml::{Attrs, Loc, Node};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn error(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line: loc.line,
            column: loc.col,
            message: message.into(),
        }
    }

    pub fn warning(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(loc, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `FILE:LINE:COL: message` for errors, `FILE:LINE:COL: warning: message` for warnings.
    pub fn render(&self, file: &str) -> String {
        match self.severity {
            Severity::Error => format!("{file}:{}:{}: {}", self.line, self.column, self.message),
            Severity::Warning => format!(
                "{file}:{}:{}: warning: {}",
                self.line, self.column, self.message
            ),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(f, "{}:{}: {sev}{}", self.line, self.column, self.message)
    }
}

/// Validates a model. Findings come sorted by position, errors before warnings at one spot.
pub fn validate(conf: &ClusterConf) -> Vec<Diagnostic> {
    let mut v = Checker::default();
    v.cluster(conf);
    let mut out = v.diags;
    out.sort_by_key(|d| (d.line, d.column, d.severity));
    out
}

#[derive(Default)]
struct Checker {
    diags: Vec<Diagnostic>,
    /// Failover domain names, lowercased (looked up once per service).
    domain_names: Seen,
    /// The types of the last resources checked: a file uses a few types many times over
    /// (ips, scripts and services, interleaved), and this spares a hash lookup per resource.
    recent_types: [Option<&'static TypeInfo>; 4],
    /// Where the next type not in `recent_types` goes.
    recent_next: usize,
}

/// Where a name was first defined, for duplicate detection.
type Seen = HashMap<String, Loc>;

/// Global resources by (type, primary value): how many times referenced, where last, and how
/// many instances the type allows (kept here so that the final count does not go back to the
/// model, by then out of the caches, for each entry).
type Globals<'a> = HashMap<(&'a str, &'a str), (usize, Loc, Option<u32>)>;

/// Primary and unique attribute values of resource definitions: (type, attribute, value).
type Defined<'a> = HashMap<(&'a str, &'static str, &'a str), Loc>;

impl Checker {
    fn type_info(&mut self, kind: &str) -> Option<&'static TypeInfo> {
        if let Some(t) = self.recent_types.iter().flatten().find(|t| t.name == kind) {
            return Some(t);
        }
        let t = type_info(kind)?;
        self.recent_types[self.recent_next] = Some(t);
        self.recent_next = (self.recent_next + 1) % self.recent_types.len();
        Some(t)
    }

    fn error(&mut self, loc: Loc, msg: String) {
        self.diags.push(Diagnostic::error(loc, msg));
    }

    fn warn(&mut self, loc: Loc, msg: String) {
        self.diags.push(Diagnostic::warning(loc, msg));
    }

    /// Checks the attributes of a fixed element against its spec.
    fn attrs(&mut self, spec: &ElementSpec, attrs: &Attrs, at: Loc, extra: &[AttrSpec]) {
        for a in spec.attrs {
            if a.required && !attrs.contains(a.name) {
                self.error(
                    at,
                    format!(
                        "<{}> is missing the required attribute \"{}\"",
                        spec.name, a.name
                    ),
                );
            }
        }
        for (name, attr) in attrs.iter() {
            let typed = spec
                .attrs
                .iter()
                .chain(extra.iter())
                .find(|a| a.name == name);
            match typed {
                Some(a) => self.value(spec.name, name, &attr.value, a.ty, attr.loc),
                None if spec.open => {}
                None => self.warn(
                    attr.loc,
                    format!(
                        "unknown attribute \"{name}\" on <{}> (kept, not used)",
                        spec.name
                    ),
                ),
            }
        }
    }

    /// Checks one value against its type.
    fn value(&mut self, el: &str, name: &str, v: &str, ty: Ty, at: Loc) {
        let bad = |what: &str| format!("{name}=\"{v}\" on <{el}> is not {what}");
        match ty {
            Ty::Str => {}
            Ty::Name => {
                if value::is_blank(v) {
                    self.error(at, format!("{name}=\"{v}\" on <{el}> is empty"));
                }
            }
            Ty::Bool | Ty::AtoiBool => match value::parse_bool(v) {
                None => self.error(
                    at,
                    bad("a boolean (use 1/0, yes/no, true/false, on/off)"),
                ),
                Some(b) if ty == Ty::AtoiBool && b != value::atoi_flag(v) => self.warn(
                    at,
                    format!(
                        "{name}=\"{v}\" on <{el}> means {}; RHCS read it with atoi as {} (write {})",
                        on_off(b),
                        on_off(!b),
                        u8::from(b)
                    ),
                ),
                Some(_) => {}
            },
            Ty::UInt => {
                if value::parse_u32(v).is_none() {
                    self.error(at, bad("a non-negative integer"));
                }
            }
            Ty::PosInt => {
                if value::parse_u32(v).is_none_or(|n| n == 0) {
                    self.error(at, bad("a positive integer"));
                }
            }
            Ty::Int => {
                if value::parse_int(v).is_none() {
                    self.error(at, bad("an integer"));
                }
            }
            Ty::Range(lo, hi) => match value::parse_int(v) {
                Some(n) if (lo..=hi).contains(&n) => {}
                Some(_) => self.error(
                    at,
                    format!("{name}=\"{v}\" on <{el}> is outside {lo}..{hi}"),
                ),
                None => self.error(at, bad(&format!("an integer in {lo}..{hi}"))),
            },
            Ty::Enum(words) => {
                let t = value::trim(v);
                if !words.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                    self.error(at, bad(&format!("one of {}", words.join(", "))));
                }
            }
            Ty::Time => {
                if value::parse_time(v).is_none() {
                    self.error(
                        at,
                        bad("a time (a number of seconds, or with a unit s, m, h, d, w)"),
                    );
                }
            }
            Ty::IpPrefix => {
                if let Err(why) = value::parse_ip_prefix(value::trim(v)) {
                    self.error(
                        at,
                        format!("{name}=\"{v}\" on <{el}> is not a valid address: {why}"),
                    );
                }
            }
            Ty::Addr => {
                if let Err(why) = value::parse_addr(value::trim(v)) {
                    self.error(
                        at,
                        format!("{name}=\"{v}\" on <{el}> is not a valid address: {why}"),
                    );
                }
            }
            Ty::AbsPath => {
                if !v.starts_with('/') {
                    self.error(at, bad("an absolute path"));
                }
            }
        }
    }

    /// Reports child elements the model keeps but does not understand.
    fn extras(&mut self, parent: &str, at: Loc, extra: &[Node]) {
        for n in extra {
            match n {
                Node::Element(e) => {
                    if schema::KNOWN_UNTYPED.contains(&(parent, e.name.as_str())) {
                        continue;
                    }
                    let msg = if is_section(parent, &e.name) {
                        format!(
                            "<{}> is written twice in <{parent}>; the second one is ignored",
                            e.name
                        )
                    } else {
                        format!(
                            "unknown element <{}> in <{parent}> (kept, not used)",
                            e.name
                        )
                    };
                    if is_section(parent, &e.name) {
                        self.error(e.loc, msg);
                    } else {
                        self.warn(e.loc, msg);
                    }
                }
                Node::Text(t) => {
                    let shown: String = t.chars().take(20).collect();
                    self.warn(
                        at,
                        format!("text \"{shown}\" inside <{parent}> (kept, not used)"),
                    );
                }
            }
        }
    }

    fn cluster(&mut self, c: &ClusterConf) {
        self.attrs(&schema::CLUSTER, &c.attrs, c.loc, &[]);
        if let Some(name) = c.attrs.attr("name") {
            if name.value.chars().count() > schema::CLUSTER_NAME_MAX {
                self.error(
                    name.loc,
                    format!(
                        "cluster name \"{}\" is longer than {} characters",
                        name.value,
                        schema::CLUSTER_NAME_MAX
                    ),
                );
            }
        }
        self.extras("cluster", c.loc, &c.extra);
        if let Some(s) = &c.cman {
            self.attrs(&schema::CMAN, &s.attrs, s.loc, &[]);
            self.extras("cman", s.loc, &s.extra);
        }
        if let Some(s) = &c.totem {
            self.attrs(&schema::TOTEM, &s.attrs, s.loc, &[]);
            self.extras("totem", s.loc, &s.extra);
        }
        if let Some(q) = &c.quorumd {
            self.attrs(&schema::QUORUMD, &q.attrs, q.loc, &[]);
            for h in &q.heuristics {
                self.attrs(&schema::HEURISTIC, &h.attrs, h.loc, &[]);
                self.extras("heuristic", h.loc, &h.extra);
            }
            self.extras("quorumd", q.loc, &q.extra);
        }
        if let Some(s) = &c.fence_daemon {
            self.attrs(&schema::FENCE_DAEMON, &s.attrs, s.loc, &[]);
            self.extras("fence_daemon", s.loc, &s.extra);
        }
        if let Some(f) = &c.fencedevices {
            self.attrs(&schema::FENCEDEVICES, &f.attrs, f.loc, &[]);
            self.extras("fencedevices", f.loc, &f.extra);
        }
        self.fence_devices(c);
        if let Some(n) = &c.clusternodes {
            self.attrs(&schema::CLUSTERNODES, &n.attrs, n.loc, &[]);
            self.extras("clusternodes", n.loc, &n.extra);
        }
        self.nodes(c);
        self.quorum(c);
        if let Some(rm) = &c.rm {
            self.attrs(&schema::RM, &rm.attrs, rm.loc, &[]);
            self.extras("rm", rm.loc, &rm.extra);
            if let Some(f) = &rm.failoverdomains {
                self.attrs(&schema::FAILOVERDOMAINS, &f.attrs, f.loc, &[]);
                self.extras("failoverdomains", f.loc, &f.extra);
            }
            if let Some(r) = &rm.resources {
                self.attrs(&schema::RESOURCES, &r.attrs, r.loc, &[]);
                self.extras("resources", r.loc, &r.extra);
            }
            self.domains(c);
            self.resources(c);
        }
    }

    fn fence_devices(&mut self, c: &ClusterConf) {
        let mut seen = Seen::default();
        for d in c.fence_devices() {
            self.attrs(&schema::FENCEDEVICE, &d.attrs, d.loc, schema::FENCE_OPTIONS);
            self.extras("fencedevice", d.loc, &d.extra);
            if let Some(name) = d.attrs.attr("name") {
                self.duplicate(
                    &mut seen,
                    &name.value,
                    &name.value,
                    name.loc,
                    "fencedevice name",
                );
            }
            if let Some(agent) = d.attrs.attr("agent") {
                if !value::is_blank(&agent.value)
                    && !schema::KNOWN_FENCE_AGENTS.contains(&agent.value.as_str())
                {
                    self.warn(
                        agent.loc,
                        format!(
                            "fence agent \"{}\" is not known to the schema (kept; it runs if installed)",
                            agent.value
                        ),
                    );
                }
            }
        }
    }

    /// Reports `key` if it was seen before. `shown` is the name as written (the key may be
    /// folded to lower case where RHCS compared names case-insensitively); `at` is where the
    /// name is written, so the administrator is pointed at the value to change.
    fn duplicate(&mut self, seen: &mut Seen, key: &str, shown: &str, at: Loc, what: &str) {
        if key.is_empty() {
            return;
        }
        match seen.get(key) {
            Some(first) => {
                let first = *first;
                self.error(
                    at,
                    format!(
                        "duplicate {what} \"{shown}\" (first at line {})",
                        first.line
                    ),
                );
            }
            None => {
                seen.insert(key.to_string(), at);
            }
        }
    }

    fn nodes(&mut self, c: &ClusterConf) {
        let mut names = Seen::default();
        let mut ids = Seen::default();
        for n in c.nodes() {
            self.attrs(&schema::CLUSTERNODE, &n.attrs, n.loc, &[]);
            self.extras("clusternode", n.loc, &n.extra);
            if let Some(name) = n.attrs.attr("name") {
                self.duplicate(
                    &mut names,
                    &name.value,
                    &name.value,
                    name.loc,
                    "clusternode name",
                );
            }
            if let (Some(id), Some(at)) = (n.nodeid(), n.attrs.attr("nodeid")) {
                if id >= 1 {
                    self.duplicate(&mut ids, &id.to_string(), &id.to_string(), at.loc, "nodeid");
                }
            }
            self.node_fencing(c, n);
        }
    }

    fn node_fencing(&mut self, c: &ClusterConf, n: &ClusterNode) {
        if let Some(f) = &n.fence {
            self.attrs(&schema::FENCE, &f.attrs, f.loc, &[]);
            self.extras("fence", f.loc, &f.extra);
        }
        if n.methods().is_empty() && !n.name().is_empty() {
            self.warn(
                n.loc,
                format!(
                    "node \"{}\" has no fence method: if it fails, its services stay where they are until an administrator runs fence_ack_manual",
                    n.name()
                ),
            );
        }
        let mut method_names = Seen::default();
        for m in n.methods() {
            self.attrs(&schema::METHOD, &m.attrs, m.loc, &[]);
            self.extras("method", m.loc, &m.extra);
            if let Some(name) = m.attrs.attr("name") {
                self.duplicate(
                    &mut method_names,
                    &name.value,
                    &name.value,
                    name.loc,
                    "fence method name",
                );
            }
            if m.devices.is_empty() {
                self.warn(
                    m.loc,
                    format!(
                        "fence method \"{}\" of node \"{}\" has no device: it always fails",
                        m.name(),
                        n.name()
                    ),
                );
            }
            for d in &m.devices {
                self.device_ref(c, n, d, &format!("method \"{}\"", m.name()));
            }
        }
        if let Some(u) = &n.unfence {
            self.attrs(&schema::UNFENCE, &u.attrs, u.loc, &[]);
            self.extras("unfence", u.loc, &u.extra);
            for d in &u.devices {
                self.device_ref(c, n, d, "unfence");
            }
        }
    }

    fn device_ref(&mut self, c: &ClusterConf, n: &ClusterNode, d: &Section, place: &str) {
        self.attrs(&schema::DEVICE, &d.attrs, d.loc, schema::FENCE_OPTIONS);
        self.extras("device", d.loc, &d.extra);
        if let Some(name) = d.attrs.attr("name") {
            if !value::is_blank(&name.value) && c.fence_device(&name.value).is_none() {
                self.error(
                    name.loc,
                    format!(
                        "device \"{}\" in {place} of node \"{}\" names no fencedevice",
                        name.value,
                        n.name()
                    ),
                );
            }
        }
    }

    fn quorum(&mut self, c: &ClusterConf) {
        let Some(cman) = &c.cman else { return };
        if !c.two_node() {
            return;
        }
        let at = cman.attrs.loc_or("two_node", cman.loc);
        if c.nodes().len() > 2 {
            self.warn(
                at,
                format!(
                    "two_node=\"1\" with {} nodes: cman only allows two-node mode with exactly two nodes",
                    c.nodes().len()
                ),
            );
        }
        if let Some(ev) = cman.attrs.get("expected_votes") {
            // 0 or a word is already an error of the attribute itself.
            if value::parse_uint(ev).is_some_and(|n| n > 1) {
                self.warn(
                    at,
                    format!("two_node=\"1\" needs expected_votes=\"1\", not \"{ev}\""),
                );
            }
        }
    }

    fn domains(&mut self, c: &ClusterConf) {
        let mut names = Seen::default();
        for d in c.domains() {
            self.attrs(&schema::FAILOVERDOMAIN, &d.attrs, d.loc, &[]);
            self.extras("failoverdomain", d.loc, &d.extra);
            if let Some(name) = d.attrs.attr("name") {
                // RHCS compared domain names case-insensitively (strcasecmp).
                self.duplicate(
                    &mut names,
                    &name.value.to_ascii_lowercase(),
                    &name.value,
                    name.loc,
                    "failoverdomain name",
                );
            }
            self.domain_nodes(c, d);
        }
        self.domain_names = names;
    }

    fn domain_nodes(&mut self, c: &ClusterConf, d: &FailoverDomain) {
        let mut members = Seen::default();
        for fdn in &d.nodes {
            self.attrs(&schema::FAILOVERDOMAINNODE, &fdn.attrs, fdn.loc, &[]);
            self.extras("failoverdomainnode", fdn.loc, &fdn.extra);
            let Some(name) = fdn.attrs.attr("name") else {
                continue;
            };
            if value::is_blank(&name.value) {
                continue;
            }
            if c.node(&name.value).is_none() {
                self.error(
                    name.loc,
                    format!(
                        "failoverdomainnode \"{}\" in domain \"{}\" names no clusternode",
                        name.value,
                        d.name()
                    ),
                );
            }
            match members.get(name.value.to_ascii_lowercase().as_str()) {
                Some(_) => self.error(
                    name.loc,
                    format!(
                        "node \"{}\" is listed twice in domain \"{}\"",
                        name.value,
                        d.name()
                    ),
                ),
                None => {
                    members.insert(name.value.to_ascii_lowercase().into(), fdn.loc);
                }
            }
            if d.ordered() && !fdn.attrs.contains("priority") {
                self.warn(
                    fdn.loc,
                    format!(
                        "node \"{}\" in ordered domain \"{}\" has no priority: it is ranked last (RHCS ranked it inconsistently)",
                        name.value,
                        d.name()
                    ),
                );
            }
        }
    }

    fn resources(&mut self, c: &ClusterConf) {
        // The tables are sized for what goes in them and no more: at 10,000 services they are
        // looked up in no useful order, and a table twice too large is twice the cache misses.
        let n = c.resources().len() + c.groups().len();
        // Global definitions by (type, primary value), for ref= resolution, with how many
        // times each is referenced and where last: one per top-level definition.
        let mut globals: Globals =
            HashMap::with_capacity_and_hasher(c.resources().len(), Default::default());
        // Primary and unique values already defined: (type, attr, value) -> where. Most
        // resources have one or two such values; the table grows if a file has more.
        let mut defined: Defined = HashMap::with_capacity_and_hasher(n, Default::default());

        for r in c.resources() {
            self.resource(r, Some(&mut defined));
            if let Some(p) = r.attrs.get(r.primary_attr()) {
                let max = self.type_info(&r.kind).and_then(|t| t.maxinstances);
                globals
                    .entry((r.kind.as_str(), p))
                    .or_insert((0, r.loc, max));
            }
            for child in &r.children {
                self.tree(child, &mut globals, &mut defined);
            }
        }
        // Two groups with one name are caught by `resource` (a group's name is its primary
        // attribute), so they are not checked again here: one problem, one finding.
        for g in c.groups() {
            self.tree(g, &mut globals, &mut defined);
            self.group_policy(c, g);
        }
        for ((kind, name), (count, at, max)) in globals {
            if let Some(max) = max {
                if count > max as usize {
                    self.error(
                        at,
                        format!(
                            "{kind} resource \"{name}\" is used {count} times; {kind} allows {max} instance{}",
                            if max == 1 { "" } else { "s" }
                        ),
                    );
                }
            }
        }
    }

    /// A resource in a group's tree: a definition (checked like a global) or a reference.
    fn tree<'a>(&mut self, r: &'a Resource, globals: &mut Globals<'a>, defined: &mut Defined<'a>) {
        match r.reference() {
            Some(target) => {
                self.resource(r, None);
                if let Some(e) = globals.get_mut(&(r.kind.as_str(), target)) {
                    e.0 += 1;
                    e.1 = r.loc;
                } else if !value::is_blank(target) {
                    let at = r.attrs.loc_or("ref", r.loc);
                    self.error(
                        at,
                        format!(
                            "<{} ref=\"{target}\"> refers to no {} resource with {}=\"{target}\" in <resources>",
                            r.kind,
                            r.kind,
                            r.primary_attr()
                        ),
                    );
                }
            }
            None => self.resource(r, Some(defined)),
        }
        for child in &r.children {
            self.tree(child, globals, defined);
        }
    }

    /// One resource element: its actions and attributes, and for a definition (`defined` is
    /// given; not for `ref=` elements, which need not repeat the required attributes) the
    /// required attributes and its primary and unique values. A second resource of one type
    /// with the same primary or unique value is an error (RHCS refused it: "Primary attribute
    /// collision").
    fn resource<'a>(&mut self, r: &'a Resource, mut defined: Option<&mut Defined<'a>>) {
        for a in &r.actions {
            self.attrs(&schema::ACTION, &a.attrs, a.loc, &[]);
            self.extras("action", a.loc, &a.extra);
        }
        let Some(info) = self.type_info(&r.kind) else {
            self.warn(
                r.loc,
                format!(
                    "resource type <{}> is not known to the schema (kept; it has no agent here)",
                    r.kind
                ),
            );
            return;
        };
        // Required attributes are counted while the attributes are checked; only when one is
        // missing are they looked up, and the findings go where a check made first would have
        // put them.
        let mark = self.diags.len();
        let mut needed_seen = 0;
        for (name, a) in r.attrs.iter() {
            let Some(&(pname, ty, key, needed)) = info.params.get(name) else {
                self.warn(
                    a.loc,
                    format!(
                        "unknown attribute \"{name}\" on <{}> (kept, not used)",
                        r.kind
                    ),
                );
                continue;
            };
            needed_seen += usize::from(needed);
            self.value(&r.kind, name, &a.value, ty, a.loc);
            let Some(defined) = defined.as_deref_mut().filter(|_| key) else {
                continue;
            };
            if value::is_blank(&a.value) {
                continue;
            }
            match defined.entry((r.kind.as_str(), pname, a.value.as_str())) {
                Entry::Occupied(first) => {
                    let first = first.get().line;
                    self.error(
                        a.loc,
                        format!(
                            "duplicate {} resource {name}=\"{}\" (first at line {first})",
                            r.kind, a.value
                        ),
                    )
                }
                Entry::Vacant(v) => {
                    v.insert(a.loc);
                }
            }
        }
        if defined.is_some() && needed_seen < info.needed.len() {
            let missing: Vec<Diagnostic> = info
                .needed
                .iter()
                .filter(|needed| !r.attrs.contains(needed))
                .map(|needed| {
                    Diagnostic::error(
                        r.loc,
                        format!(
                            "<{}> is missing the required attribute \"{needed}\"",
                            r.kind
                        ),
                    )
                })
                .collect();
            self.diags.splice(mark..mark, missing);
        }
    }

    fn group_policy(&mut self, c: &ClusterConf, g: &Resource) {
        if let Some(d) = g.attrs.attr("domain") {
            if !value::is_blank(&d.value) && !known_folded(&self.domain_names, &d.value) {
                self.error(
                    d.loc,
                    format!(
                        "{} names failover domain \"{}\", which does not exist",
                        g.full_name(),
                        d.value
                    ),
                );
            }
        }
        if let Some(dep) = g.attrs.attr("depend") {
            let target = value::trim(&dep.value);
            if !target.is_empty() {
                if c.group(target).is_none() {
                    self.error(
                        dep.loc,
                        format!(
                            "{} depends on \"{}\", which is not a service or vm of this cluster",
                            g.full_name(),
                            dep.value
                        ),
                    );
                } else if c.group(target).map(|t| t.full_name()) == Some(g.full_name()) {
                    self.error(dep.loc, format!("{} depends on itself", g.full_name()));
                }
            }
        }
    }
}

/// What the validator needs of a resource type, computed once per type: the attributes a
/// definition must carry (required or primary), and each attribute it understands (its own
/// parameters and rgmanager's common ones) with its checked type and whether it is a primary or
/// unique key.
struct TypeInfo {
    name: &'static str,
    maxinstances: Option<u32>,
    needed: Vec<&'static str>,
    /// Name, checked type, whether a primary or unique key, whether in `needed`.
    params: HashMap<&'static str, (&'static str, Ty, bool, bool)>,
}

fn type_info(kind: &str) -> Option<&'static TypeInfo> {
    static INFO: OnceLock<HashMap<&'static str, TypeInfo>> = OnceLock::new();
    INFO.get_or_init(|| {
        RESOURCE_TYPES
            .iter()
            .map(|t| {
                let mut params: HashMap<_, _> = schema::RESOURCE_COMMON
                    .iter()
                    .map(|s| (s.name, (s.name, s.ty, false, false)))
                    .collect();
                for p in t.params {
                    let ty = resource_param_ty(t.name, p.name, p.kind);
                    let key = p.primary || p.unique;
                    params.insert(p.name, (p.name, ty, key, p.required || p.primary));
                }
                let needed = t
                    .params
                    .iter()
                    .filter(|p| p.required || p.primary)
                    .map(|p| p.name)
                    .collect();
                (
                    t.name,
                    TypeInfo {
                        name: t.name,
                        maxinstances: t.maxinstances,
                        needed,
                        params,
                    },
                )
            })
            .collect()
    })
    .get(kind)
}

/// The checked type of a resource parameter: the rules table's, sharpened where cluster.conf's
/// meaning is fixed (an ip's address, a script's path, a restart count rgmanager reads as a
/// number although the metadata calls it a string).
pub fn resource_param_ty(kind: &str, name: &str, declared: ParamKind) -> Ty {
    match (kind, name) {
        ("ip", "address") => Ty::IpPrefix,
        ("script", "file") => Ty::AbsPath,
        ("service" | "vm", "max_restarts") => Ty::UInt,
        (_, "name") => Ty::Name,
        _ => match declared {
            ParamKind::String => Ty::Str,
            ParamKind::Boolean => Ty::Bool,
            ParamKind::Integer => Ty::Int,
            ParamKind::Time => Ty::Time,
            ParamKind::Enum(words) => Ty::Enum(words),
        },
    }
}

/// Whether `key` folded to lower case is in `seen` (whose keys are folded), without building the
/// folded string when `key` has no upper-case letter (the usual case, once per service).
fn known_folded(seen: &Seen, key: &str) -> bool {
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        seen.contains_key(key.to_ascii_lowercase().as_str())
    } else {
        seen.contains_key(key)
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// Child elements that the model reads once; a second copy is kept as an extra and reported.
fn is_section(parent: &str, child: &str) -> bool {
    matches!(
        (parent, child),
        (
            "cluster",
            "cman" | "totem" | "quorumd" | "fence_daemon" | "clusternodes" | "fencedevices" | "rm"
        ) | ("clusternode", "fence" | "unfence")
            | ("rm", "failoverdomains" | "resources")
    )
}
