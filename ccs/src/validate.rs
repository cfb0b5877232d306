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
//!
//! The resource checks (the bulk of a large file) are a piece of their own, `ResourcePass`:
//! `crate::check_str` runs them inside the parse, on each resource as it is completed, so that a
//! model of megabytes is not read a second time; `validate` runs them on a finished model. Same
//! code, same order, same findings.

use std::collections::hash_map::Entry;
use std::sync::OnceLock;

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::Serialize;

use compact_str::CompactString;

use crate::model::{ClusterConf, ClusterNode, FailoverDomain, FailoverDomains, Resource, Section};
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
    validate_streamed(conf, None)
}

/// [`validate`], given the resource checks made while parsing (`crate::check_str`): the rest of
/// the checks are made on the model, and the findings are the same.
pub(crate) fn validate_streamed(conf: &ClusterConf, pass: Option<ResourcePass>) -> Vec<Diagnostic> {
    let mut v = Checker {
        streamed: pass.filter(ResourcePass::in_order),
        ..Checker::default()
    };
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
    /// The resource checks made while parsing, if they were (`crate::check_str`).
    streamed: Option<ResourcePass>,
}

/// Where a name was first defined, for duplicate detection.
type Seen = HashMap<String, Loc>;

/// A resource type as a number: its place in `RESOURCE_TYPES`, or (for a type the schema does
/// not know) `UNKNOWN_KIND` plus its place in the pass's list of such names. Keys hold numbers
/// and owned values (short ones inline) rather than slices of the model, so that a lookup never
/// reads the model again and the pass can run while the model is still being built.
type KindId = u32;
const UNKNOWN_KIND: KindId = 1 << 30;

/// Global resources by (type, primary value): how many times referenced, where last, and how
/// many instances the type allows (kept here so that the final count does not go back to the
/// model, by then out of the caches, for each entry).
type Globals = HashMap<(KindId, CompactString), (usize, Loc, Option<u32>)>;

/// Primary and unique attribute values of resource definitions: (type and attribute, value).
/// The attribute is its number in the type's parameters, in the upper half.
type Defined = HashMap<(u64, CompactString), Loc>;

impl Checker {
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
                Some(a) => check_value(
                    &mut self.diags,
                    spec.name,
                    name,
                    &attr.value,
                    a.ty,
                    attr.loc,
                ),
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
            self.http(c, rm);
            if let Some(f) = &rm.failoverdomains {
                self.attrs(&schema::FAILOVERDOMAINS, &f.attrs, f.loc, &[]);
                self.extras("failoverdomains", f.loc, &f.extra);
            }
            if let Some(r) = &rm.resources {
                self.attrs(&schema::RESOURCES, &r.attrs, r.loc, &[]);
                self.extras("resources", r.loc, &r.extra);
            }
            self.domains(c);
            let streamed = self.streamed.take();
            self.resources(c, streamed);
        }
    }

    /// The HTTP listener's attributes that only make sense together (docs/http.md). Warnings:
    /// the cluster runs either way; the daemon leaves the listener off and says why.
    fn http(&mut self, c: &ClusterConf, rm: &crate::model::Rm) {
        let port = rm.attrs.attr("http_port").is_some();
        let cert = rm.attrs.attr("http_tls_cert");
        let key = rm.attrs.attr("http_tls_key");
        match (cert, key) {
            (Some(a), None) => self.warn(
                a.loc,
                "http_tls_cert without http_tls_key: the HTTP listener does not start".into(),
            ),
            (None, Some(a)) => self.warn(
                a.loc,
                "http_tls_key without http_tls_cert: the HTTP listener does not start".into(),
            ),
            _ => {}
        }
        if let Some(a) = rm.attrs.attr("http_address") {
            if crate::value::parse_addr(a.value.trim()).is_ok_and(|ip| ip.is_unspecified()) {
                self.warn(
                    a.loc,
                    format!(
                        "http_address=\"{}\": the status page, metrics and health checks answer on every interface",
                        a.value.trim()
                    ),
                );
            }
        }
        if !port {
            for name in ["http_address", "http_tls_cert", "http_tls_key"] {
                if let Some(a) = rm.attrs.attr(name) {
                    self.warn(
                        a.loc,
                        format!("{name} without http_port: the HTTP listener is off"),
                    );
                }
            }
            for n in c.nodes() {
                if let Some(a) = n.attrs.attr("rgm_http_port") {
                    self.warn(
                        a.loc,
                        "rgm_http_port without <rm http_port>: the HTTP listener is off".into(),
                    );
                }
            }
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

    /// The resource checks: from the pass `crate::check_str` ran while parsing when there is
    /// one, else by walking the model now. Both visit the resources in the same order (global
    /// definitions, then each group followed by its policy checks) with the same code, so the
    /// findings are the same.
    fn resources(&mut self, c: &ClusterConf, streamed: Option<ResourcePass>) {
        let diags = match streamed {
            Some(pass) => pass.finish(c, &self.domain_names),
            None => {
                // The tables are sized for what goes in them and no more: at 10,000 services
                // they are looked up in no useful order, and a table twice too large is twice
                // the cache misses.
                let mut pass =
                    ResourcePass::new(c.resources().len(), c.resources().len() + c.groups().len());
                for r in c.resources() {
                    pass.global(r);
                }
                // Two groups with one name are caught by `resource` (a group's name is its
                // primary attribute), so they are not checked again here: one problem, one
                // finding.
                let mut groups = GroupIndex::default();
                for g in c.groups() {
                    pass.tree(g);
                    domain_check(&mut pass.diags, &self.domain_names, g);
                    depend_check(&mut pass.diags, c, &mut groups, g);
                }
                pass.finish(c, &self.domain_names)
            }
        };
        self.diags.extend(diags);
    }
}

/// Checks one value against its type.
fn check_value(diags: &mut Vec<Diagnostic>, el: &str, name: &str, v: &str, ty: Ty, at: Loc) {
    let bad = |what: &str| format!("{name}=\"{v}\" on <{el}> is not {what}");
    match ty {
        Ty::Str => {}
        Ty::Name => {
            if value::is_blank(v) {
                push_error(diags, at, format!("{name}=\"{v}\" on <{el}> is empty"));
            }
        }
        Ty::Bool | Ty::AtoiBool => match value::parse_bool(v) {
            None => push_error(
                diags,
                at,
                bad("a boolean (use 1/0, yes/no, true/false, on/off)"),
            ),
            Some(b) if ty == Ty::AtoiBool && b != value::atoi_flag(v) => push_warning(
                diags,
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
                push_error(diags, at, bad("a non-negative integer"));
            }
        }
        Ty::PosInt => {
            if value::parse_u32(v).is_none_or(|n| n == 0) {
                push_error(diags, at, bad("a positive integer"));
            }
        }
        Ty::Int => {
            if value::parse_int(v).is_none() {
                push_error(diags, at, bad("an integer"));
            }
        }
        Ty::Range(lo, hi) => match value::parse_int(v) {
            Some(n) if (lo..=hi).contains(&n) => {}
            Some(_) => push_error(
                diags,
                at,
                format!("{name}=\"{v}\" on <{el}> is outside {lo}..{hi}"),
            ),
            None => push_error(diags, at, bad(&format!("an integer in {lo}..{hi}"))),
        },
        Ty::Enum(words) => {
            let t = value::trim(v);
            if !words.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                push_error(diags, at, bad(&format!("one of {}", words.join(", "))));
            }
        }
        Ty::Time => {
            if value::parse_time(v).is_none() {
                push_error(
                    diags,
                    at,
                    bad("a time (a number of seconds, or with a unit s, m, h, d, w)"),
                );
            }
        }
        Ty::IpPrefix => {
            if let Err(why) = value::parse_ip_prefix(value::trim(v)) {
                push_error(
                    diags,
                    at,
                    format!("{name}=\"{v}\" on <{el}> is not a valid address: {why}"),
                );
            }
        }
        Ty::Addr => {
            if let Err(why) = value::parse_addr(value::trim(v)) {
                push_error(
                    diags,
                    at,
                    format!("{name}=\"{v}\" on <{el}> is not a valid address: {why}"),
                );
            }
        }
        Ty::AbsPath => {
            if !v.starts_with('/') {
                push_error(diags, at, bad("an absolute path"));
            }
        }
    }
}

fn push_error(diags: &mut Vec<Diagnostic>, loc: Loc, msg: String) {
    diags.push(Diagnostic::error(loc, msg));
}

fn push_warning(diags: &mut Vec<Diagnostic>, loc: Loc, msg: String) {
    diags.push(Diagnostic::warning(loc, msg));
}

/// The resource part of validation: every definition and reference under `<rm>`, in the order
/// `validate` visits them (the global definitions of `<resources>`, then each group), with the
/// cross-reference tables. A piece of its own so that [`crate::check_str`] can run it on each
/// top-level resource as the parser completes it, while it is still in the cache, instead of
/// reading a model of many megabytes again afterwards (at 10,000 services that second read was
/// most of validation's time, in cache misses). [`validate`] runs the same code on a finished
/// model.
pub(crate) struct ResourcePass {
    diags: Vec<Diagnostic>,
    globals: Globals,
    defined: Defined,
    /// The types of the last resources checked: a file uses a few types many times over
    /// (ips, scripts and services, interleaved), and this spares a hash lookup per resource.
    recent_types: [Option<&'static TypeInfo>; 4],
    /// Where the next type not in `recent_types` goes.
    recent_next: usize,
    /// The global resources referenced more times than their type allows, in the order they
    /// went over (the table is not read again at the end: at 10,000 services it is megabytes).
    over: Vec<(KindId, CompactString)>,
    /// Names of resource types the schema does not know, numbered from `UNKNOWN_KIND`.
    unknown_kinds: Vec<CompactString>,
    // While parsing (`streamed_*`):
    /// The failover domain names (folded), once `<failoverdomains>` is complete.
    domain_names: Option<Seen>,
    /// Groups seen so far.
    groups: usize,
    /// Group checks that need the whole model, to be placed where they would have come.
    deferred: Vec<Deferred>,
    /// A global definition came after a group: the order of `validate` cannot be kept while
    /// parsing, so this pass is dropped and the model checked afterwards.
    out_of_order: bool,
}

/// A group's policy checks left for the end of the parse: `depend=` needs every group, and
/// `domain=` the failover domains when they come after the group in the file.
struct Deferred {
    group: usize,
    /// Where in the findings they go.
    at: usize,
    /// Whether the domain check is left too.
    domain: bool,
}

impl ResourcePass {
    pub(crate) fn new(globals: usize, defined: usize) -> Self {
        ResourcePass {
            diags: Vec::new(),
            globals: HashMap::with_capacity_and_hasher(globals, Default::default()),
            defined: HashMap::with_capacity_and_hasher(defined, Default::default()),
            recent_types: [None; 4],
            recent_next: 0,
            over: Vec::new(),
            unknown_kinds: Vec::new(),
            domain_names: None,
            groups: 0,
            deferred: Vec::new(),
            out_of_order: false,
        }
    }

    /// A pass for a text about to be parsed, its tables sized from the text's length (a
    /// resource element takes some 64 bytes or more, a global definition with the reference to
    /// it some 128): an estimate, not a bound (the tables grow if needed).
    pub(crate) fn for_text(len: usize) -> Self {
        ResourcePass::new(len / 128, len / 64)
    }

    fn type_info(&mut self, kind: &str) -> Option<&'static TypeInfo> {
        if let Some(t) = self.recent_types.iter().flatten().find(|t| t.name == kind) {
            return Some(t);
        }
        let t = type_info(kind)?;
        self.recent_types[self.recent_next] = Some(t);
        self.recent_next = (self.recent_next + 1) % self.recent_types.len();
        Some(t)
    }

    /// The number of a type (`info`, the schema's, when it knows the type), and how many
    /// instances it allows.
    fn kind_id(&mut self, kind: &str, info: Option<&TypeInfo>) -> (KindId, Option<u32>) {
        if let Some(t) = info {
            return (t.id, t.maxinstances);
        }
        let i = match self.unknown_kinds.iter().position(|k| k == kind) {
            Some(i) => i,
            None => {
                self.unknown_kinds.push(kind.into());
                self.unknown_kinds.len() - 1
            }
        };
        (UNKNOWN_KIND + i as KindId, None)
    }

    fn kind_name(&self, id: KindId) -> &str {
        if id >= UNKNOWN_KIND {
            self.unknown_kinds
                .get((id - UNKNOWN_KIND) as usize)
                .map(|k| k.as_str())
                .unwrap_or("")
        } else {
            RESOURCE_TYPES
                .get(id as usize)
                .map(|t| t.name)
                .unwrap_or("")
        }
    }

    /// A global definition (a child of `<resources>`) with everything under it.
    fn global(&mut self, r: &Resource) {
        let info = self.resource(r, true);
        let primary = info.map_or("name", |t| t.primary);
        if let Some(p) = r.attrs.get(primary) {
            let (id, max) = self.kind_id(&r.kind, info);
            self.globals
                .entry((id, CompactString::new(p)))
                .or_insert((0, r.loc, max));
        }
        for child in &r.children {
            self.tree(child);
        }
    }

    /// A resource in a group's tree: a definition (checked like a global) or a reference.
    fn tree(&mut self, r: &Resource) {
        match r.reference() {
            Some(target) => {
                let info = self.resource(r, false);
                let (id, _) = self.kind_id(&r.kind, info);
                let key = (id, CompactString::new(target));
                if let Some(e) = self.globals.get_mut(&key) {
                    e.0 += 1;
                    e.1 = r.loc;
                    if e.2.is_some_and(|max| e.0 == max as usize + 1) {
                        self.over.push(key);
                    }
                } else if !value::is_blank(target) {
                    let at = r.attrs.loc_or("ref", r.loc);
                    push_error(
                        &mut self.diags,
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
            None => {
                self.resource(r, true);
            }
        }
        for child in &r.children {
            self.tree(child);
        }
    }

    /// One resource element: its actions and attributes, and for a definition (`define`; not
    /// for `ref=` elements, which need not repeat the required attributes) the required
    /// attributes and its primary and unique values. A second resource of one type with the
    /// same primary or unique value is an error (RHCS refused it: "Primary attribute
    /// collision").
    /// Returns what the schema knows of the type.
    fn resource(&mut self, r: &Resource, define: bool) -> Option<&'static TypeInfo> {
        let diags = &mut self.diags;
        for a in &r.actions {
            check_section(diags, &schema::ACTION, "action", a);
        }
        let Some(info) = self.type_info(&r.kind) else {
            push_warning(
                &mut self.diags,
                r.loc,
                format!(
                    "resource type <{}> is not known to the schema (kept; it has no agent here)",
                    r.kind
                ),
            );
            return None;
        };
        let diags = &mut self.diags;
        // Required attributes are counted while the attributes are checked; only when one is
        // missing are they looked up, and the findings go where a check made first would have
        // put them.
        let mark = diags.len();
        let mut needed_seen = 0;
        for (name, a) in r.attrs.iter() {
            let Some(&(index, ty, key, needed)) = info.params.get(name) else {
                if info.any_params {
                    // A parameter of the agent itself (`ocf`): its meta-data checks it.
                    continue;
                }
                push_warning(
                    diags,
                    a.loc,
                    format!(
                        "unknown attribute \"{name}\" on <{}> (kept, not used)",
                        r.kind
                    ),
                );
                continue;
            };
            needed_seen += usize::from(needed);
            check_value(diags, &r.kind, name, &a.value, ty, a.loc);
            if !define || !key || value::is_blank(&a.value) {
                continue;
            }
            let k = (
                u64::from(info.id) | (u64::from(index) << 32),
                a.value.clone(),
            );
            match self.defined.entry(k) {
                Entry::Occupied(first) => {
                    let first = first.get().line;
                    push_error(
                        diags,
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
        if define && needed_seen < info.needed.len() {
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
            diags.splice(mark..mark, missing);
        }
        Some(info)
    }

    /// While parsing: a complete child of `<resources>`, before it is stored.
    pub(crate) fn streamed_global(&mut self, r: &Resource) {
        if self.groups > 0 {
            self.out_of_order = true;
        }
        if !self.out_of_order {
            self.global(r);
        }
    }

    /// While parsing: `<failoverdomains>`, complete. The names are the ones `validate` collects
    /// (every non-empty name, folded; duplicates are reported there).
    pub(crate) fn streamed_domains(&mut self, f: &FailoverDomains) {
        let mut names = Seen::default();
        for d in &f.domains {
            if let Some(name) = d.attrs.get("name") {
                let key = name.to_ascii_lowercase();
                if !key.is_empty() {
                    names.entry(key).or_insert(d.loc);
                }
            }
        }
        self.domain_names = Some(names);
    }

    /// While parsing: a complete group (a resource child of `<rm>`), before it is stored.
    pub(crate) fn streamed_group(&mut self, g: &Resource) {
        let group = self.groups;
        self.groups += 1;
        if self.out_of_order {
            return;
        }
        self.tree(g);
        let depend = g.attrs.contains("depend");
        match &self.domain_names {
            Some(names) => {
                domain_check(&mut self.diags, names, g);
                if depend {
                    self.deferred.push(Deferred {
                        group,
                        at: self.diags.len(),
                        domain: false,
                    });
                }
            }
            None if depend || g.attrs.contains("domain") => self.deferred.push(Deferred {
                group,
                at: self.diags.len(),
                domain: true,
            }),
            None => {}
        }
    }

    /// Whether the parse kept `validate`'s order, so that `finish` gives its findings.
    pub(crate) fn in_order(&self) -> bool {
        !self.out_of_order
    }

    /// The findings: those made so far, the deferred group checks in their places, and the
    /// instance counts of the global resources.
    fn finish(mut self, c: &ClusterConf, domain_names: &Seen) -> Vec<Diagnostic> {
        if !self.deferred.is_empty() {
            let made = std::mem::take(&mut self.diags);
            let mut made = made.into_iter();
            let mut taken = 0;
            let groups = c.groups();
            let mut index = GroupIndex::default();
            for d in std::mem::take(&mut self.deferred) {
                self.diags.extend(made.by_ref().take(d.at - taken));
                taken = d.at;
                if let Some(g) = groups.get(d.group) {
                    if d.domain {
                        domain_check(&mut self.diags, domain_names, g);
                    }
                    depend_check(&mut self.diags, c, &mut index, g);
                }
            }
            self.diags.extend(made);
        }
        for key in std::mem::take(&mut self.over) {
            let Some(&(count, at, Some(max))) = self.globals.get(&key) else {
                continue;
            };
            let (kind, name) = key;
            let kind = self.kind_name(kind);
            let msg = format!(
                "{kind} resource \"{name}\" is used {count} times; {kind} allows {max} instance{}",
                if max == 1 { "" } else { "s" }
            );
            self.diags.push(Diagnostic::error(at, msg));
        }
        self.diags
    }
}

/// A fixed element's attributes and kept children (what `Checker::attrs` and `extras` do, for
/// the resource pass, which has no `Checker`).
fn check_section(diags: &mut Vec<Diagnostic>, spec: &ElementSpec, name: &str, s: &Section) {
    let mut c = Checker {
        diags: std::mem::take(diags),
        ..Checker::default()
    };
    c.attrs(spec, &s.attrs, s.loc, &[]);
    c.extras(name, s.loc, &s.extra);
    *diags = c.diags;
}

/// A group's `domain=`: the failover domain must exist (names compared case-insensitively).
fn domain_check(diags: &mut Vec<Diagnostic>, domain_names: &Seen, g: &Resource) {
    if let Some(d) = g.attrs.attr("domain") {
        if !value::is_blank(&d.value) && !known_folded(domain_names, &d.value) {
            push_error(
                diags,
                d.loc,
                format!(
                    "{} names failover domain \"{}\", which does not exist",
                    g.full_name(),
                    d.value
                ),
            );
        }
    }
}

/// A group's `depend=`: another service or vm of this cluster.
fn depend_check<'c>(
    diags: &mut Vec<Diagnostic>,
    c: &'c ClusterConf,
    groups: &mut GroupIndex<'c>,
    g: &Resource,
) {
    if let Some(dep) = g.attrs.attr("depend") {
        let target = value::trim(&dep.value);
        if !target.is_empty() {
            let found = groups.group(c, target);
            if found.is_none() {
                push_error(
                    diags,
                    dep.loc,
                    format!(
                        "{} depends on \"{}\", which is not a service or vm of this cluster",
                        g.full_name(),
                        dep.value
                    ),
                );
            } else if found.map(|t| t.full_name()) == Some(g.full_name()) {
                push_error(
                    diags,
                    dep.loc,
                    format!("{} depends on itself", g.full_name()),
                );
            }
        }
    }
}

/// The groups by type and name, built the first time a `depend=` is checked: what
/// `ClusterConf::group` finds (the first group of that type whose primary value, or `ref=`, is
/// the name), without a scan of every group per `depend=` (quadratic when every service
/// depends on another).
#[derive(Default)]
struct GroupIndex<'c>(Option<HashMap<(&'c str, &'c str), &'c Resource>>);

impl<'c> GroupIndex<'c> {
    fn group(&mut self, c: &'c ClusterConf, full_name: &str) -> Option<&'c Resource> {
        let index = self.0.get_or_insert_with(|| {
            let mut index = HashMap::default();
            for g in c.groups() {
                if let Some(name) = g.primary_value() {
                    index.entry((g.kind.as_str(), name)).or_insert(g);
                }
            }
            index
        });
        let (kind, name) = full_name.split_once(':').unwrap_or(("service", full_name));
        index.get(&(kind, name)).copied()
    }
}

/// What the validator needs of a resource type, computed once per type: the attributes a
/// definition must carry (required or primary), and each attribute it understands (its own
/// parameters and rgmanager's common ones) with its checked type and whether it is a primary or
/// unique key.
struct TypeInfo {
    /// Its place in `RESOURCE_TYPES`.
    id: KindId,
    name: &'static str,
    /// The primary attribute (as `model::primary_attr_of`).
    primary: &'static str,
    maxinstances: Option<u32>,
    /// Attributes beyond `params` are the agent's own parameters (`ResourceType::any_params`).
    any_params: bool,
    needed: Vec<&'static str>,
    /// Number (in this table), checked type, whether a primary or unique key, whether in
    /// `needed`.
    params: HashMap<&'static str, (u32, Ty, bool, bool)>,
}

fn type_info(kind: &str) -> Option<&'static TypeInfo> {
    static INFO: OnceLock<HashMap<&'static str, TypeInfo>> = OnceLock::new();
    INFO.get_or_init(|| {
        RESOURCE_TYPES
            .iter()
            .enumerate()
            .map(|(id, t)| {
                let mut params: HashMap<_, _> = schema::RESOURCE_COMMON
                    .iter()
                    .map(|s| (s.name, (0, s.ty, false, false)))
                    .collect();
                for (i, p) in t.params.iter().enumerate() {
                    let ty = resource_param_ty(t.name, p.name, p.kind);
                    let key = p.primary || p.unique;
                    let index = i as u32 + 1;
                    params.insert(p.name, (index, ty, key, p.required || p.primary));
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
                        id: id as KindId,
                        name: t.name,
                        primary: t
                            .params
                            .iter()
                            .find(|p| p.primary)
                            .map_or("name", |p| p.name),
                        maxinstances: t.maxinstances,
                        any_params: t.any_params,
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
        ("ocf", "type" | "provider") | ("systemd", "unit") => Ty::Name,
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
