//! The typed cluster.conf.
//!
//! Each element RHEL 6 clusters use has a struct here; values are kept as the text the
//! administrator wrote (so `ordered="yes"` is written back as `yes`, and a file that loads also
//! writes back unchanged in meaning), and typed accessors read them with RHCS's defaults.
//! Anything the model does not know (a vendor element, an `alias` attribute, a stray text) is kept
//! in `attrs` / `extra` and written back, so a load and a write never drop a thing.
//!
//! Building the model never fails on content: a missing `nodeid` or `priority="x"` is a
//! validation problem (`crate::validate`), not a parse error. Only XML syntax stops a load.

use compact_str::CompactString;

use crate::resource_types::resource_type;
use crate::validate::ResourcePass;
use crate::value;
use crate::xml::{Attrs, Builder, Element, Loc, Node, XmlWriter};

/// A leaf element: its attributes plus whatever it holds that the model does not know.
/// Used for `cman`, `totem`, `fence_daemon`, `fencedevice`, a method's `device`,
/// `failoverdomainnode`, `heuristic` and a resource's `action`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub attrs: Attrs,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// The membership engine a cluster runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// rgmanager's own membership and quorum (one binary, no corosync).
    #[default]
    Embedded,
    /// corosync 3: CPG for membership and messages, votequorum for quorum.
    Corosync,
}

impl Engine {
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Embedded => "embedded",
            Engine::Corosync => "corosync",
        }
    }
}

/// The whole file: `<cluster>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterConf {
    pub attrs: Attrs,
    pub cman: Option<Section>,
    pub totem: Option<Section>,
    pub quorumd: Option<Quorumd>,
    pub fence_daemon: Option<Section>,
    pub clusternodes: Option<ClusterNodes>,
    pub fencedevices: Option<FenceDevices>,
    pub rm: Option<Rm>,
    /// Other children of `<cluster>`: `logging`, `dlm`, `gfs_controld`, … and unknown ones.
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quorumd {
    pub attrs: Attrs,
    pub heuristics: Vec<Section>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterNodes {
    pub attrs: Attrs,
    pub nodes: Vec<ClusterNode>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterNode {
    pub attrs: Attrs,
    pub fence: Option<Fence>,
    pub unfence: Option<Unfence>,
    /// `altname` and unknown children.
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// `<fence>`: a node's fence methods, tried in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fence {
    pub attrs: Attrs,
    pub methods: Vec<FenceMethod>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// `<method name=…>`: every device must succeed for the method to succeed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenceMethod {
    pub attrs: Attrs,
    pub devices: Vec<Section>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// `<unfence>`: devices run with `action="on"` when a node joins (fence_scsi and the like).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unfence {
    pub attrs: Attrs,
    pub devices: Vec<Section>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenceDevices {
    pub attrs: Attrs,
    pub devices: Vec<Section>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// `<rm>`: the resource manager's section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rm {
    pub attrs: Attrs,
    pub failoverdomains: Option<FailoverDomains>,
    pub resources: Option<Resources>,
    /// Top-level resource groups (`service`, `vm`, or another resource type), in file order.
    pub groups: Vec<Resource>,
    /// `events`, `resource-defaults` and unknown children.
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailoverDomains {
    pub attrs: Attrs,
    pub domains: Vec<FailoverDomain>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailoverDomain {
    pub attrs: Attrs,
    pub nodes: Vec<Section>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub attrs: Attrs,
    pub items: Vec<Resource>,
    pub extra: Vec<Node>,
    pub loc: Loc,
}

/// Any resource, of any type (the element name): global definitions under `<resources>`,
/// resource groups under `<rm>`, and the children of either. Kept generically so that every
/// RHCS resource type (and custom ones) loads; typed views below read the classic attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// The type: the element name (`service`, `ip`, `script`, …).
    pub kind: CompactString,
    pub attrs: Attrs,
    pub children: Vec<Resource>,
    /// `<action name= depth= interval= timeout=/>` overrides of the agent's timings.
    pub actions: Vec<Section>,
    /// Text inside a resource element (never meaningful; kept so nothing is lost).
    pub extra: Vec<Node>,
    pub loc: Loc,
}

// ---------------------------------------------------------------------------------------------
// Typed reading.

/// What `recovery` asks for when a service's status check fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    Restart,
    Relocate,
    Disable,
    RestartDisable,
}

impl Recovery {
    pub fn parse(word: &str) -> Option<Recovery> {
        match word.to_ascii_lowercase().as_str() {
            "restart" => Some(Recovery::Restart),
            "relocate" => Some(Recovery::Relocate),
            "disable" => Some(Recovery::Disable),
            "restart-disable" => Some(Recovery::RestartDisable),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Recovery::Restart => "restart",
            Recovery::Relocate => "relocate",
            Recovery::Disable => "disable",
            Recovery::RestartDisable => "restart-disable",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DependMode {
    Hard,
    Soft,
}

/// The policy attributes of a service or vm, with RHCS's defaults applied.
/// Values that do not parse fall back to the default (the validator reports them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePolicy {
    pub name: String,
    pub domain: Option<String>,
    pub autostart: bool,
    pub exclusive: bool,
    pub recovery: Recovery,
    /// 0 = unlimited restarts in place.
    pub max_restarts: u32,
    /// Seconds; 0 = restarts are never forgotten.
    pub restart_expire_time: u64,
    pub depend: Option<String>,
    pub depend_mode: DependMode,
}

fn flag(attrs: &Attrs, name: &str, default: bool) -> bool {
    attrs
        .get(name)
        .and_then(value::parse_bool)
        .unwrap_or(default)
}

fn num<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Option<T> {
    attrs.get(name).and_then(|v| v.trim().parse().ok())
}

impl ClusterConf {
    /// A new, empty configuration (for building configs in code).
    pub fn new(name: &str, config_version: u64) -> Self {
        let mut c = ClusterConf::default();
        c.attrs.set("name", name);
        c.attrs.set("config_version", config_version.to_string());
        c
    }

    pub fn name(&self) -> &str {
        self.attrs.get("name").unwrap_or("")
    }

    pub fn config_version(&self) -> Option<u64> {
        value::parse_uint(self.attrs.get("config_version")?)
    }

    pub fn nodes(&self) -> &[ClusterNode] {
        self.clusternodes
            .as_ref()
            .map(|c| c.nodes.as_slice())
            .unwrap_or(&[])
    }

    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes().iter().find(|n| n.name() == name)
    }

    pub fn fence_devices(&self) -> &[Section] {
        self.fencedevices
            .as_ref()
            .map(|c| c.devices.as_slice())
            .unwrap_or(&[])
    }

    pub fn fence_device(&self, name: &str) -> Option<&Section> {
        self.fence_devices()
            .iter()
            .find(|d| d.attrs.get("name") == Some(name))
    }

    pub fn domains(&self) -> &[FailoverDomain] {
        self.rm
            .as_ref()
            .and_then(|r| r.failoverdomains.as_ref())
            .map(|f| f.domains.as_slice())
            .unwrap_or(&[])
    }

    /// Failover domains are named case-insensitively, as RHCS compared them.
    pub fn domain(&self, name: &str) -> Option<&FailoverDomain> {
        self.domains()
            .iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// Global resource definitions (`<rm><resources>`).
    pub fn resources(&self) -> &[Resource] {
        self.rm
            .as_ref()
            .and_then(|r| r.resources.as_ref())
            .map(|r| r.items.as_slice())
            .unwrap_or(&[])
    }

    /// Top-level resource groups (services, vms, …) in file order.
    pub fn groups(&self) -> &[Resource] {
        self.rm.as_ref().map(|r| r.groups.as_slice()).unwrap_or(&[])
    }

    pub fn services(&self) -> impl Iterator<Item = &Resource> {
        self.groups().iter().filter(|g| g.kind == "service")
    }

    pub fn vms(&self) -> impl Iterator<Item = &Resource> {
        self.groups().iter().filter(|g| g.kind == "vm")
    }

    /// The group named `type:name` (or `name`, taken as `service:name`).
    pub fn group(&self, full_name: &str) -> Option<&Resource> {
        let (kind, name) = full_name.split_once(':').unwrap_or(("service", full_name));
        self.groups()
            .iter()
            .find(|g| g.kind == kind && g.primary_value() == Some(name))
    }

    pub fn two_node(&self) -> bool {
        self.cman
            .as_ref()
            .is_some_and(|c| flag(&c.attrs, "two_node", false))
    }

    /// Expected votes: the `cman` attribute, else the sum of the nodes' votes (cman's default).
    pub fn expected_votes(&self) -> u32 {
        self.cman
            .as_ref()
            .and_then(|c| num::<u32>(&c.attrs, "expected_votes"))
            .unwrap_or_else(|| self.nodes().iter().map(|n| n.votes()).sum())
    }

    /// `<cman port=…>`, if given and valid: cman's totem port, the default port of our
    /// membership traffic.
    pub fn cman_port(&self) -> Option<u16> {
        self.cman
            .as_ref()
            .and_then(|c| c.attrs.get("port"))
            .and_then(crate::value::parse_uint)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    }

    /// `<cman engine=…>` (ours): the membership engine named by the file, if it names a known
    /// one (the validator reports any other word).
    pub fn engine(&self) -> Option<Engine> {
        let word = self.cman.as_ref()?.attrs.get("engine")?.trim();
        if word.eq_ignore_ascii_case("corosync") {
            Some(Engine::Corosync)
        } else if word.eq_ignore_ascii_case("embedded") {
            Some(Engine::Embedded)
        } else {
            None
        }
    }

    /// `<totem token=…>` in milliseconds, if given.
    pub fn totem_token_ms(&self) -> Option<u64> {
        self.totem.as_ref().and_then(|t| num(&t.attrs, "token"))
    }

    fn fence_daemon_num(&self, name: &str) -> Option<i64> {
        self.fence_daemon.as_ref().and_then(|f| num(&f.attrs, name))
    }

    /// Seconds to wait after a member fails before fencing it (default 0; -1 = forever).
    pub fn post_fail_delay(&self) -> i64 {
        self.fence_daemon_num("post_fail_delay").unwrap_or(0)
    }

    /// Seconds to wait after joining before fencing absent nodes (default 6).
    pub fn post_join_delay(&self) -> i64 {
        self.fence_daemon_num("post_join_delay").unwrap_or(6)
    }

    pub fn clean_start(&self) -> bool {
        self.fence_daemon
            .as_ref()
            .is_some_and(|f| flag(&f.attrs, "clean_start", false))
    }

    /// An `<rm>` attribute as written.
    pub fn rm_attr(&self, name: &str) -> Option<&str> {
        self.rm.as_ref().and_then(|r| r.attrs.get(name))
    }
}

impl ClusterNode {
    pub fn name(&self) -> &str {
        self.attrs.get("name").unwrap_or("")
    }

    pub fn nodeid(&self) -> Option<u32> {
        num(&self.attrs, "nodeid")
    }

    /// Votes (default 1).
    pub fn votes(&self) -> u32 {
        num(&self.attrs, "votes").unwrap_or(1)
    }

    /// `rgm_addr` (our extension): the address of this node's membership traffic, when given
    /// and valid. Without it the node name is resolved.
    pub fn rgm_addr(&self) -> Option<std::net::IpAddr> {
        self.attrs
            .get("rgm_addr")
            .and_then(|v| crate::value::parse_addr(v.trim()).ok())
    }

    /// `rgm_port` (our extension): the UDP port of this node's membership traffic, when given
    /// and valid (1..65535).
    pub fn rgm_port(&self) -> Option<u16> {
        self.attrs
            .get("rgm_port")
            .and_then(crate::value::parse_uint)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    }

    /// `rgm_http_port` (our extension): this node's HTTP port when it differs from
    /// `<rm http_port>`, when given and valid (docs/http.md).
    pub fn rgm_http_port(&self) -> Option<u16> {
        self.attrs
            .get("rgm_http_port")
            .and_then(crate::value::parse_uint)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    }

    pub fn methods(&self) -> &[FenceMethod] {
        self.fence
            .as_ref()
            .map(|f| f.methods.as_slice())
            .unwrap_or(&[])
    }
}

impl FenceMethod {
    pub fn name(&self) -> &str {
        self.attrs.get("name").unwrap_or("")
    }
}

impl FailoverDomain {
    pub fn name(&self) -> &str {
        self.attrs.get("name").unwrap_or("")
    }

    pub fn ordered(&self) -> bool {
        flag(&self.attrs, "ordered", false)
    }

    pub fn restricted(&self) -> bool {
        flag(&self.attrs, "restricted", false)
    }

    pub fn nofailback(&self) -> bool {
        flag(&self.attrs, "nofailback", false)
    }

    /// The members as (node name, priority). Priority is read only in an ordered domain (as
    /// RHCS did); elsewhere, and when missing or invalid, it is `None`.
    pub fn members(&self) -> impl Iterator<Item = (&str, Option<u32>)> {
        let ordered = self.ordered();
        self.nodes.iter().map(move |n| {
            let prio = if ordered {
                num::<u32>(&n.attrs, "priority").filter(|p| (1..=100).contains(p))
            } else {
                None
            };
            (n.attrs.get("name").unwrap_or(""), prio)
        })
    }
}

impl Resource {
    pub fn new(kind: &str) -> Self {
        Resource {
            kind: kind.into(),
            ..Resource::default()
        }
    }

    /// The name of the type's primary attribute (`address` for ip, `name` for most).
    pub fn primary_attr(&self) -> &'static str {
        primary_attr_of(&self.kind)
    }

    /// The primary attribute's value; for a reference, the value it refers to.
    pub fn primary_value(&self) -> Option<&str> {
        self.attrs
            .get(self.primary_attr())
            .or_else(|| self.attrs.get("ref"))
    }

    /// `ref="…"`: this element refers to a global resource instead of defining one.
    pub fn reference(&self) -> Option<&str> {
        self.attrs.get("ref")
    }

    /// RHCS's resource name `type:primary` (e.g. `service:web`, `ip:10.0.0.1/24`).
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.kind, self.primary_value().unwrap_or(""))
    }

    /// The policy attributes of a service or vm with their defaults.
    pub fn service_policy(&self) -> ServicePolicy {
        let a = &self.attrs;
        ServicePolicy {
            name: a.get("name").unwrap_or("").to_string(),
            domain: a.get("domain").map(str::to_string),
            autostart: flag(a, "autostart", true),
            exclusive: flag(a, "exclusive", false),
            recovery: a
                .get("recovery")
                .and_then(Recovery::parse)
                .unwrap_or(Recovery::Restart),
            max_restarts: num(a, "max_restarts").unwrap_or(0),
            restart_expire_time: a
                .get("restart_expire_time")
                .and_then(value::parse_time)
                .unwrap_or(0),
            depend: a.get("depend").map(str::to_string),
            depend_mode: match a.get("depend_mode") {
                Some(m) if m.eq_ignore_ascii_case("soft") => DependMode::Soft,
                _ => DependMode::Hard,
            },
        }
    }

    /// Every resource of this subtree, depth first, this one included.
    pub fn walk(&self) -> Vec<&Resource> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(r) = stack.pop() {
            out.push(r);
            stack.extend(r.children.iter().rev());
        }
        out
    }
}

/// The primary attribute of a resource type: from the RHCS rules table, `name` for unknown types.
pub fn primary_attr_of(kind: &str) -> &'static str {
    resource_type(kind)
        .and_then(|t| t.params.iter().find(|p| p.primary))
        .map(|p| p.name)
        .unwrap_or("name")
}

// ---------------------------------------------------------------------------------------------
// Writing: each part writes itself through `XmlWriter`, in the canonical order.

impl Section {
    pub fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name, &self.attrs);
        w.nodes(&self.extra);
        w.end(name);
    }
}

/// Builds a struct of the shape {attrs, <items>, extra, loc} from an element whose children of
/// one tag are items.
macro_rules! list_model {
    ($ty:ident, $field:ident, $item_tag:literal, $item:ty) => {
        impl $ty {
            pub fn write_xml(&self, w: &mut XmlWriter, name: &str) {
                w.start(name, &self.attrs);
                for item in &self.$field {
                    item.write_xml(w, $item_tag);
                }
                w.nodes(&self.extra);
                w.end(name);
            }
        }
    };
}

list_model!(Quorumd, heuristics, "heuristic", Section);
list_model!(ClusterNodes, nodes, "clusternode", ClusterNode);
list_model!(Fence, methods, "method", FenceMethod);
list_model!(FenceMethod, devices, "device", Section);
list_model!(Unfence, devices, "device", Section);
list_model!(FenceDevices, devices, "fencedevice", Section);
list_model!(FailoverDomains, domains, "failoverdomain", FailoverDomain);
list_model!(FailoverDomain, nodes, "failoverdomainnode", Section);

impl ClusterNode {
    pub fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name, &self.attrs);
        if let Some(f) = &self.fence {
            f.write_xml(w, "fence");
        }
        if let Some(u) = &self.unfence {
            u.write_xml(w, "unfence");
        }
        w.nodes(&self.extra);
        w.end(name);
    }
}

impl Resources {
    pub fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name, &self.attrs);
        for r in &self.items {
            r.write_xml(w);
        }
        w.nodes(&self.extra);
        w.end(name);
    }
}

impl Resource {
    pub fn write_xml(&self, w: &mut XmlWriter) {
        w.start(&self.kind, &self.attrs);
        for a in &self.actions {
            a.write_xml(w, "action");
        }
        for c in &self.children {
            c.write_xml(w);
        }
        w.nodes(&self.extra);
        w.end(&self.kind);
    }
}

/// Children of `<rm>` that are not resource groups.
pub const RM_SECTIONS: &[&str] = &[
    "failoverdomains",
    "resources",
    "events",
    "resource-defaults",
];

/// True if an element under `<rm>` is a resource group: an element named after a known resource
/// type (RHCS took any child of `<rm>` whose agent it knew). Other elements are kept as extras.
fn is_group(name: &str) -> bool {
    !RM_SECTIONS.contains(&name) && resource_type(name).is_some()
}

impl Rm {
    pub fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name, &self.attrs);
        if let Some(f) = &self.failoverdomains {
            f.write_xml(w, "failoverdomains");
        }
        if let Some(r) = &self.resources {
            r.write_xml(w, "resources");
        }
        for g in &self.groups {
            g.write_xml(w);
        }
        w.nodes(&self.extra);
        w.end(name);
    }
}

impl ClusterConf {
    /// Builds the model from a parsed `<cluster>` element (the caller checked the root's name).
    /// Writes the canonical form: the sections in a fixed order (`clusternodes`, `cman`,
    /// `totem`, `quorumd`, `fence_daemon`, `fencedevices`, `rm`), then everything else as loaded.
    pub fn write_xml(&self, w: &mut XmlWriter) {
        w.start("cluster", &self.attrs);
        if let Some(n) = &self.clusternodes {
            n.write_xml(w, "clusternodes");
        }
        if let Some(s) = &self.cman {
            s.write_xml(w, "cman");
        }
        if let Some(s) = &self.totem {
            s.write_xml(w, "totem");
        }
        if let Some(q) = &self.quorumd {
            q.write_xml(w, "quorumd");
        }
        if let Some(s) = &self.fence_daemon {
            s.write_xml(w, "fence_daemon");
        }
        if let Some(f) = &self.fencedevices {
            f.write_xml(w, "fencedevices");
        }
        if let Some(r) = &self.rm {
            r.write_xml(w, "rm");
        }
        w.nodes(&self.extra);
        w.end("cluster");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: the model is built straight from the parser's events (no intermediate tree: files of
// tens of thousands of resources load noticeably faster). Each open element is a frame; where
// an element goes is decided from its parent frame and its name when it starts, and it is
// attached to its parent when it ends.

/// Which field of its parent a leaf `Section` fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Cman,
    Totem,
    FenceDaemon,
    Heuristic,
    Device,
    FenceDevice,
    DomainNode,
    Action,
}

/// An element being read. The two large sections (a node with its fencing, `<rm>`) are boxed:
/// frames are moved on every element, and the common one is a resource.
enum Frame {
    Cluster(Box<ClusterConf>),
    Section(Section, Slot),
    Quorumd(Quorumd),
    ClusterNodes(ClusterNodes),
    ClusterNode(Box<ClusterNode>),
    Fence(Fence),
    Method(FenceMethod),
    Unfence(Unfence),
    FenceDevices(FenceDevices),
    Rm(Box<Rm>),
    FailoverDomains(FailoverDomains),
    FailoverDomain(FailoverDomain),
    Resources(Resources),
    Resource(Resource),
    /// Anything the model does not know, kept as a tree; also a root that is not `<cluster>`.
    Other(Element),
}

impl Frame {
    /// Where kept nodes (unknown children, text) of this element go.
    fn extra(&mut self) -> &mut Vec<Node> {
        match self {
            Frame::Cluster(c) => &mut c.extra,
            Frame::Section(s, _) => &mut s.extra,
            Frame::Quorumd(x) => &mut x.extra,
            Frame::ClusterNodes(x) => &mut x.extra,
            Frame::ClusterNode(x) => &mut x.extra,
            Frame::Fence(x) => &mut x.extra,
            Frame::Method(x) => &mut x.extra,
            Frame::Unfence(x) => &mut x.extra,
            Frame::FenceDevices(x) => &mut x.extra,
            Frame::Rm(x) => &mut x.extra,
            Frame::FailoverDomains(x) => &mut x.extra,
            Frame::FailoverDomain(x) => &mut x.extra,
            Frame::Resources(x) => &mut x.extra,
            Frame::Resource(x) => &mut x.extra,
            Frame::Other(e) => &mut e.children,
        }
    }

    /// The frame for child `el` of this frame. A section written twice is kept as an unknown
    /// element (the validator reports it).
    fn child(&self, el: Element) -> Frame {
        let section = |el: Element, slot| {
            Frame::Section(
                Section {
                    attrs: el.attrs,
                    extra: Vec::new(),
                    loc: el.loc,
                },
                slot,
            )
        };
        macro_rules! list {
            ($variant:ident, $ty:ident) => {
                Frame::$variant($ty {
                    attrs: el.attrs,
                    loc: el.loc,
                    ..$ty::default()
                })
            };
        }
        match (self, el.name.as_str()) {
            (Frame::Cluster(c), "cman") if c.cman.is_none() => section(el, Slot::Cman),
            (Frame::Cluster(c), "totem") if c.totem.is_none() => section(el, Slot::Totem),
            (Frame::Cluster(c), "fence_daemon") if c.fence_daemon.is_none() => {
                section(el, Slot::FenceDaemon)
            }
            (Frame::Cluster(c), "quorumd") if c.quorumd.is_none() => list!(Quorumd, Quorumd),
            (Frame::Cluster(c), "clusternodes") if c.clusternodes.is_none() => {
                list!(ClusterNodes, ClusterNodes)
            }
            (Frame::Cluster(c), "fencedevices") if c.fencedevices.is_none() => {
                list!(FenceDevices, FenceDevices)
            }
            (Frame::Cluster(c), "rm") if c.rm.is_none() => Frame::Rm(Box::new(Rm {
                attrs: el.attrs,
                loc: el.loc,
                ..Rm::default()
            })),
            (Frame::Quorumd(_), "heuristic") => section(el, Slot::Heuristic),
            (Frame::ClusterNodes(_), "clusternode") => Frame::ClusterNode(Box::new(ClusterNode {
                attrs: el.attrs,
                loc: el.loc,
                ..ClusterNode::default()
            })),
            (Frame::ClusterNode(n), "fence") if n.fence.is_none() => list!(Fence, Fence),
            (Frame::ClusterNode(n), "unfence") if n.unfence.is_none() => list!(Unfence, Unfence),
            (Frame::Fence(_), "method") => list!(Method, FenceMethod),
            (Frame::Method(_) | Frame::Unfence(_), "device") => section(el, Slot::Device),
            (Frame::FenceDevices(_), "fencedevice") => section(el, Slot::FenceDevice),
            (Frame::Rm(r), "failoverdomains") if r.failoverdomains.is_none() => {
                list!(FailoverDomains, FailoverDomains)
            }
            (Frame::Rm(r), "resources") if r.resources.is_none() => list!(Resources, Resources),
            (Frame::Rm(_), name) if is_group(name) => Frame::Resource(resource(el)),
            (Frame::FailoverDomains(_), "failoverdomain") => {
                list!(FailoverDomain, FailoverDomain)
            }
            (Frame::FailoverDomain(_), "failoverdomainnode") => section(el, Slot::DomainNode),
            (Frame::Resources(_), _) => Frame::Resource(resource(el)),
            (Frame::Resource(_), "action") => section(el, Slot::Action),
            (Frame::Resource(_), _) => Frame::Resource(resource(el)),
            _ => Frame::Other(el),
        }
    }

    /// Puts a finished child where `child()` decided it goes.
    fn attach(&mut self, child: Frame) {
        match (self, child) {
            (parent, Frame::Other(e)) => parent.extra().push(Node::Element(e)),
            (Frame::Cluster(c), Frame::Section(s, Slot::Cman)) => c.cman = Some(s),
            (Frame::Cluster(c), Frame::Section(s, Slot::Totem)) => c.totem = Some(s),
            (Frame::Cluster(c), Frame::Section(s, Slot::FenceDaemon)) => c.fence_daemon = Some(s),
            (Frame::Cluster(c), Frame::Quorumd(q)) => c.quorumd = Some(q),
            (Frame::Cluster(c), Frame::ClusterNodes(n)) => c.clusternodes = Some(n),
            (Frame::Cluster(c), Frame::FenceDevices(f)) => c.fencedevices = Some(f),
            (Frame::Cluster(c), Frame::Rm(r)) => c.rm = Some(*r),
            (Frame::Quorumd(q), Frame::Section(s, _)) => q.heuristics.push(s),
            (Frame::ClusterNodes(c), Frame::ClusterNode(n)) => c.nodes.push(*n),
            (Frame::ClusterNode(n), Frame::Fence(f)) => n.fence = Some(f),
            (Frame::ClusterNode(n), Frame::Unfence(u)) => n.unfence = Some(u),
            (Frame::Fence(f), Frame::Method(m)) => f.methods.push(m),
            (Frame::Method(m), Frame::Section(s, _)) => m.devices.push(s),
            (Frame::Unfence(u), Frame::Section(s, _)) => u.devices.push(s),
            (Frame::FenceDevices(f), Frame::Section(s, _)) => f.devices.push(s),
            (Frame::Rm(r), Frame::FailoverDomains(f)) => r.failoverdomains = Some(f),
            (Frame::Rm(r), Frame::Resources(x)) => r.resources = Some(x),
            (Frame::Rm(r), Frame::Resource(g)) => r.groups.push(g),
            (Frame::FailoverDomains(f), Frame::FailoverDomain(d)) => f.domains.push(d),
            (Frame::FailoverDomain(d), Frame::Section(s, _)) => d.nodes.push(s),
            (Frame::Resources(x), Frame::Resource(r)) => x.items.push(r),
            (Frame::Resource(r), Frame::Section(s, _)) => r.actions.push(s),
            (Frame::Resource(r), Frame::Resource(c)) => {
                // Room for one first (most parents have one child; `end` gives back the rest
                // of a larger vector).
                if r.children.capacity() == 0 {
                    r.children.reserve_exact(1);
                }
                r.children.push(c)
            }
            // `child()` never pairs anything else.
            (parent, other) => {
                let _ = other;
                debug_assert!(false, "no place for a child");
                let _ = parent;
            }
        }
    }
}

fn resource(el: Element) -> Resource {
    Resource {
        kind: el.name,
        attrs: el.attrs,
        loc: el.loc,
        ..Resource::default()
    }
}

/// Builds a [`ClusterConf`] from parser events.
#[derive(Default)]
pub struct ModelBuilder {
    stack: Vec<Frame>,
    done: Option<Frame>,
    /// The resource checks, run on each top-level resource as it is completed
    /// (`crate::check_str`).
    check: Option<ResourcePass>,
    /// At most how many elements the text has: the room reserved for the global resources
    /// and for the groups, given back when they are complete. Growing those vectors instead
    /// copies megabytes at each doubling in a large file (the allocator cannot grow them in
    /// place between the small allocations of their contents).
    reserve: usize,
}

impl ModelBuilder {
    /// A builder for `text`: room for its resources is reserved once (see `reserve`).
    pub(crate) fn for_text(text: &str) -> Self {
        ModelBuilder {
            reserve: memchr::memchr_iter(b'<', text.as_bytes()).count(),
            ..ModelBuilder::default()
        }
    }

    /// Also makes the resource checks of validation as it goes.
    pub(crate) fn checking(self, pass: ResourcePass) -> Self {
        ModelBuilder {
            check: Some(pass),
            ..self
        }
    }

    /// The model and the resource checks made while building it.
    pub(crate) fn finish_checked(
        mut self,
    ) -> Result<(ClusterConf, Option<ResourcePass>), (CompactString, Loc)> {
        let pass = self.check.take();
        self.finish().map(|conf| (conf, pass))
    }

    /// The model, or the name and location of a root element that is not `<cluster>`.
    pub fn finish(self) -> Result<ClusterConf, (CompactString, Loc)> {
        match self.done {
            Some(Frame::Cluster(c)) => Ok(*c),
            Some(Frame::Other(e)) => Err((e.name, e.loc)),
            _ => Err((CompactString::default(), Loc::default())),
        }
    }
}

impl Builder for ModelBuilder {
    fn start(&mut self, el: Element) {
        let frame = match self.stack.last() {
            Some(parent) => parent.child(el),
            None if el.name == "cluster" => Frame::Cluster(Box::new(ClusterConf {
                attrs: el.attrs,
                loc: el.loc,
                ..ClusterConf::default()
            })),
            None => Frame::Other(el),
        };
        let mut frame = frame;
        match &mut frame {
            Frame::Resources(x) => x.items.reserve(self.reserve),
            Frame::Rm(r) => r.groups.reserve(self.reserve),
            _ => {}
        }
        self.stack.push(frame);
    }

    fn text(&mut self, text: String) {
        if let Some(top) = self.stack.last_mut() {
            top.extra().push(Node::Text(text));
        }
    }

    fn end(&mut self) {
        let Some(mut frame) = self.stack.pop() else {
            return;
        };
        match &mut frame {
            // A vector grows to four resources (512 bytes) and more; most resources that have
            // children have one or two. Giving the rest back keeps a large model smaller, so it
            // is written and dropped with fewer cache misses.
            Frame::Resource(r) => r.children.shrink_to_fit(),
            // The room reserved at the start (shrinking in place: nothing is copied).
            Frame::Resources(x) => x.items.shrink_to_fit(),
            Frame::Rm(r) => r.groups.shrink_to_fit(),
            _ => {}
        }
        match self.stack.last_mut() {
            Some(parent) => {
                if let Some(pass) = &mut self.check {
                    // Checked now, while it is in the cache (see `ResourcePass`).
                    match (&*parent, &frame) {
                        (Frame::Resources(_), Frame::Resource(r)) => pass.streamed_global(r),
                        (Frame::Rm(_), Frame::Resource(g)) => pass.streamed_group(g),
                        (Frame::Rm(_), Frame::FailoverDomains(f)) => pass.streamed_domains(f),
                        _ => {}
                    }
                }
                parent.attach(frame)
            }
            None => self.done = Some(frame),
        }
    }
}

/// Replays a generic tree as parser events.
fn replay(el: Element, b: &mut impl Builder) {
    let Element {
        name,
        attrs,
        children,
        loc,
    } = el;
    b.start(Element {
        name,
        attrs,
        children: Vec::new(),
        loc,
    });
    for child in children {
        match child {
            Node::Element(e) => replay(e, b),
            Node::Text(t) => b.text(t),
        }
    }
    b.end();
}

impl ClusterConf {
    /// Builds the model from a generic `<cluster>` tree (for trees built or parsed elsewhere;
    /// `crate::parse_str` builds the model straight from the text). A root of another name
    /// gives an empty model keeping nothing: check the name first.
    pub fn from_element(el: Element) -> Self {
        let mut b = ModelBuilder::default();
        replay(el, &mut b);
        b.finish().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn membership_address_extension() {
        let conf = crate::parse_str(
            r#"<cluster name="c" config_version="1"><cman port="6000"/><clusternodes>
            <clusternode name="a" nodeid="1" rgm_addr=" 127.0.0.1 " rgm_port="5411"/>
            <clusternode name="b" nodeid="2" rgm_addr="::1"/>
            <clusternode name="c" nodeid="3" rgm_addr="10.0.0.1/24" rgm_port="+7"/>
            <clusternode name="d" nodeid="4" rgm_port="70000"/>
            </clusternodes></cluster>"#,
        )
        .unwrap();
        let n = conf.nodes();
        assert_eq!(n[0].rgm_addr(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(n[0].rgm_port(), Some(5411));
        assert_eq!(n[1].rgm_addr(), Some("::1".parse().unwrap()));
        assert_eq!(n[1].rgm_port(), None);
        // Values the validator rejects are not used.
        assert_eq!((n[2].rgm_addr(), n[2].rgm_port()), (None, None));
        assert_eq!(n[3].rgm_port(), None);
        assert_eq!(conf.cman_port(), Some(6000));
        // Written back as they were.
        let again = crate::parse_str(&crate::write(&conf)).unwrap();
        assert_eq!(again, conf);
    }
}
