//! Building the resource list and the resource trees from cluster.conf, as rgmanager's
//! `reslist.c` (`load_resources`, `store_resource`, `load_resource`) and `restree.c`
//! (`build_tree`, `do_load_resource`) did.
//!
//! The result is a [`Forest`]: every resource instance (global definitions first, in rule
//! order, then inline ones in the order the trees met them), and one tree per resource group
//! whose nodes point at those instances. A resource referenced from two services is one
//! instance with two tree nodes, exactly as in RHCS, so attribute inheritance differs per node
//! while the resource's own attributes are shared.
//!
//! RHCS printed a line and skipped the offending resource for most problems; so do we (the
//! line is kept verbatim for `rg_test`), but every problem is also returned as a typed
//! [`TreeError`] naming the service and the resource. Where RHCS silently dropped something
//! (a forbidden child, an element of an unknown type, an inline resource missing a required
//! attribute — which also hid every later sibling of that type) we keep the rest and report it.

use ccs::model::Resource;
use ccs::resource_types::ResourceType;
use ccs::{ClusterConf, Loc};

use super::rules::{self, expand_time, Action};

/// Index of a resource instance in [`Forest::resources`].
pub type ResId = usize;
/// Index of a tree node in [`Forest::nodes`].
pub type NodeId = usize;

/// One attribute of a resource instance, in rgmanager's storage order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    /// The value; for an attribute still inheriting, the inheritance spec (`service%name`).
    pub value: String,
    pub primary: bool,
    pub unique: bool,
    pub required: bool,
    pub inherit: bool,
}

impl Attr {
    pub fn has_flags(&self) -> bool {
        self.primary || self.unique || self.required || self.inherit
    }
}

/// A resource instance: a global definition or an inline one.
#[derive(Clone, Debug)]
pub struct ResourceDef {
    pub kind: String,
    pub rtype: &'static ResourceType,
    /// Primary attribute first.
    pub attrs: Vec<Attr>,
    /// The agent's actions with this definition's `<action>` overrides applied.
    pub actions: Vec<Action>,
    /// Defined inside a tree rather than under `<resources>`.
    pub inline: bool,
    /// How many tree nodes use it.
    pub refs: u32,
    /// `__independent_subtree="2"` was set on its (only) reference.
    pub non_critical: bool,
    pub loc: Loc,
}

impl ResourceDef {
    /// The primary attribute's value (rgmanager's `r_attrs[0].ra_value`).
    pub fn primary_value(&self) -> &str {
        self.attrs.first().map(|a| a.value.as_str()).unwrap_or("")
    }

    /// `type:primary`, rgmanager's resource name.
    pub fn name(&self) -> String {
        format!("{}:{}", self.kind, self.primary_value())
    }

    /// The attribute as written or defaulted on the resource itself (not inherited).
    pub fn own_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && !a.inherit)
            .map(|a| a.value.as_str())
    }
}

/// One use of a resource in a tree, with the per-use special attributes.
#[derive(Clone, Debug)]
pub struct TreeNode {
    pub res: ResId,
    pub parent: Option<NodeId>,
    /// In rgmanager's list order: typed children (by the parent's child-type order, then
    /// document order), then untyped children in document order.
    pub children: Vec<NodeId>,
    /// The top-level group this node belongs to.
    pub root: NodeId,
    /// `__independent_subtree="1"` (or implied by non-critical).
    pub independent: bool,
    /// `__independent_subtree="2"`: a failure stops only this subtree, the service goes on.
    pub non_critical: bool,
    /// `__enforce_timeouts` as written: `Some(true)` for `1`/`yes`, `Some(false)` otherwise,
    /// `None` when absent. Timeouts are enforced unless it is `Some(false)`.
    pub enforce_timeouts: Option<bool>,
    /// `__max_failures` / `__failure_expire_time`: status failures tolerated.
    pub max_failures: u32,
    pub failure_expire_time: u64,
    /// Restart policy: for an independent subtree `__max_restarts`/`__restart_expire_time`,
    /// for a top-level group its `max_restarts`/`restart_expire_time`; 0 = none.
    pub max_restarts: u32,
    pub restart_expire_time: u64,
    /// The actions and timings in force for this node.
    pub actions: Vec<Action>,
    pub loc: Loc,
}

impl TreeNode {
    /// Timeouts are ours to enforce unless the administrator wrote `__enforce_timeouts="0"`.
    pub fn enforces_timeouts(&self) -> bool {
        self.enforce_timeouts != Some(false)
    }

    /// The action `name` at `depth` (rgmanager's `res_act_index`).
    pub fn action(&self, name: &str, depth: u32) -> Option<&Action> {
        self.actions
            .iter()
            .find(|a| a.depth == depth && a.name.eq_ignore_ascii_case(name))
    }
}

/// A problem met while building; the resource concerned is left out (or, for warnings, kept).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("{service}: <{kind}> at {}:{} has no resource agent rule; ignored", .loc.line, .loc.col)]
    UnknownType {
        service: String,
        kind: String,
        loc: Loc,
    },
    #[error("{service}: {parent} may not contain a {kind} resource; ignored")]
    ForbiddenChild {
        service: String,
        parent: String,
        kind: String,
    },
    #[error("{context}: {kind} resource at {}:{} lacks its required attribute {attr}; ignored", .loc.line, .loc.col)]
    MissingAttribute {
        context: String,
        kind: String,
        attr: String,
        loc: Loc,
    },
    #[error("{} attribute collision: {kind} {attr}=\"{value}\" is already used by another {kind}; the second definition is ignored", if *.primary { "primary" } else { "unique" })]
    Collision {
        primary: bool,
        kind: String,
        attr: String,
        value: String,
    },
    #[error("{service}: reference to nonexistent resource {kind}:{reference}")]
    NonexistentReference {
        service: String,
        kind: String,
        reference: String,
    },
    #[error("{service}: reference to {kind}:{reference}, which is defined inline in a tree; only <resources> entries can be referenced")]
    ReferenceToInline {
        service: String,
        kind: String,
        reference: String,
    },
    #[error("{service}: {resource} is used more than {max} time(s), the most its agent allows; this use is ignored")]
    MaxInstances {
        service: String,
        resource: String,
        max: u32,
        /// rgmanager printed the primary attribute's *name* here.
        primary_attr: String,
    },
    #[error(
        "{resource}: non-critical flag cleared because the resource is referenced more than once"
    )]
    NonCriticalCleared { resource: String },
    #[error("{service}: attributes {attrs:?} written on the reference to {resource} are ignored (a reference uses the <resources> definition)")]
    ReferenceAttributesIgnored {
        service: String,
        resource: String,
        attrs: Vec<String>,
    },
    #[error("{resource}: <action name=\"{action}\"> neither matches an agent action nor gives depth, timeout and interval; ignored")]
    ActionIgnored { resource: String, action: String },
}

impl TreeError {
    /// The line rgmanager printed on stdout for this problem, if it printed one (`rg_test`
    /// reproduces them).
    pub fn rhcs_line(&self) -> Option<String> {
        match self {
            TreeError::Collision {
                primary,
                kind,
                attr,
                value,
            } => Some(format!(
                "Error: {} attribute collision. type={kind} attr={attr} value={value}\nError storing {kind} resource",
                if *primary { "Primary" } else { "Unique" }
            )),
            TreeError::NonexistentReference {
                kind, reference, ..
            } => Some(format!(
                "Error: Reference to nonexistent resource {reference} (type {kind})"
            )),
            TreeError::ReferenceToInline {
                kind, reference, ..
            } => Some(format!(
                "Error: Reference to inlined resource {reference} (type {kind}) is illegal"
            )),
            TreeError::MaxInstances {
                resource,
                primary_attr,
                ..
            } => {
                let kind = resource.split(':').next().unwrap_or("");
                Some(format!(
                    "Warning: Max references exceeded for resource {primary_attr} (type {kind})"
                ))
            }
            TreeError::NonCriticalCleared { resource } => Some(format!(
                "Non-critical flag for {resource} is being cleared due to multiple references."
            )),
            _ => None,
        }
    }
}

/// The resource list and the trees of one configuration.
#[derive(Clone, Debug, Default)]
pub struct Forest {
    pub resources: Vec<ResourceDef>,
    pub nodes: Vec<TreeNode>,
    /// Top-level resource groups in file order.
    pub roots: Vec<NodeId>,
    /// Everything that was skipped or adjusted, in the order met.
    pub problems: Vec<TreeError>,
}

/// Why a whole forest is refused by [`Forest::build_strict`].
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the resource configuration; first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
pub struct TreeErrors(pub Vec<TreeError>);

impl Forest {
    /// Builds the resource list and all trees, keeping what is usable and recording problems.
    pub fn build(conf: &ClusterConf) -> Forest {
        let mut b = Builder {
            f: Forest::default(),
        };
        b.load_globals(conf.resources());
        for group in conf.groups() {
            b.load_root(group);
        }
        b.f
    }

    /// Like [`Forest::build`], but any problem other than a harmless warning is an error.
    pub fn build_strict(conf: &ClusterConf) -> Result<Forest, TreeErrors> {
        let f = Forest::build(conf);
        let errors: Vec<TreeError> = f
            .problems
            .iter()
            .filter(|p| {
                !matches!(
                    p,
                    TreeError::NonCriticalCleared { .. }
                        | TreeError::ReferenceAttributesIgnored { .. }
                        | TreeError::ActionIgnored { .. }
                )
            })
            .cloned()
            .collect();
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(TreeErrors(errors))
        }
    }

    pub fn node(&self, id: NodeId) -> &TreeNode {
        &self.nodes[id]
    }

    pub fn resource_of(&self, id: NodeId) -> &ResourceDef {
        &self.resources[self.nodes[id].res]
    }

    /// `type:primary` of a node's resource.
    pub fn name_of(&self, id: NodeId) -> String {
        self.resource_of(id).name()
    }

    /// The resource instance of type `kind` whose primary value is `primary`
    /// (`find_resource_by_ref`).
    pub fn find_resource(&self, kind: &str, primary: &str) -> Option<ResId> {
        self.resources
            .iter()
            .position(|r| r.kind == kind && r.attrs.iter().any(|a| a.primary && a.value == primary))
    }

    /// The top-level group named `type:name` or `name` (a service).
    pub fn find_root(&self, full_name: &str) -> Option<NodeId> {
        let (kind, name) = full_name.split_once(':').unwrap_or(("service", full_name));
        self.roots.iter().copied().find(|&r| {
            let res = self.resource_of(r);
            res.kind == kind && res.primary_value() == name
        })
    }

    /// An attribute's value at a tree node, following inheritance (`attr_value`): an attribute
    /// marked inherit takes the value of `x` from the nearest ancestor (`inherit="x"`) or from
    /// the nearest ancestor of type `t` (`inherit="t%x"`).
    pub fn attr_value(&self, node: NodeId, name: &str) -> Option<&str> {
        self.attr_value_typed(Some(node), name, None)
    }

    fn attr_value_typed(
        &self,
        node: Option<NodeId>,
        name: &str,
        ptype: Option<&str>,
    ) -> Option<&str> {
        let id = node?;
        let n = &self.nodes[id];
        let res = &self.resources[n.res];
        if let Some(t) = ptype {
            if res.kind != t {
                return self.attr_value_typed(n.parent, name, ptype);
            }
        }
        let a = res.attrs.iter().find(|a| a.name == name)?;
        if !a.inherit {
            return Some(a.value.as_str());
        }
        match a.value.split_once('%') {
            Some((t, field)) => self.attr_value_typed(n.parent, field, Some(t)),
            None => self.attr_value_typed(n.parent, &a.value, None),
        }
    }

    /// Every attribute of a node's resource with its value resolved at that node (inherited
    /// attributes with no ancestor value are left out), in storage order.
    pub fn resolved_attrs(&self, node: NodeId) -> Vec<(String, String)> {
        self.resource_of(node)
            .attrs
            .iter()
            .filter_map(|a| {
                self.attr_value(node, &a.name)
                    .map(|v| (a.name.clone(), v.to_string()))
            })
            .collect()
    }

    /// The nodes of a subtree, depth first, `id` first.
    pub fn subtree(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }
}

struct Builder {
    f: Forest,
}

/// What `load_resource` made of an element.
enum Loaded {
    Ok(ResourceDef),
    /// No attribute at all could be read (nothing to define).
    Empty,
    MissingRequired(String),
}

fn load_resource(rt: &'static ResourceType, el: &Resource) -> Loaded {
    let mut attrs = Vec::new();
    for ra in rules::rule_attrs(rt) {
        let written = el.attrs.get(ra.name);
        let (value, inherit) = match written {
            Some(v) => (v.to_string(), false),
            None => {
                if ra.required || ra.primary {
                    return Loaded::MissingRequired(ra.name.to_string());
                }
                match ra.value {
                    Some(v) => (v.to_string(), ra.inherit),
                    None => continue,
                }
            }
        };
        attrs.push(Attr {
            name: ra.name.to_string(),
            value,
            primary: ra.primary,
            unique: ra.unique,
            required: ra.required,
            inherit,
        });
    }
    if rt.any_params {
        // The agent's own parameters (`ocf`), in the order written, after the rule's.
        for (name, a) in el.attrs.iter() {
            if name == "ref" || name.starts_with("__") || attrs.iter().any(|x| x.name == name) {
                continue;
            }
            attrs.push(Attr {
                name: name.to_string(),
                value: a.value.to_string(),
                primary: false,
                unique: false,
                required: false,
                inherit: false,
            });
        }
    }
    if attrs.is_empty() {
        return Loaded::Empty;
    }
    Loaded::Ok(ResourceDef {
        kind: rt.name.to_string(),
        rtype: rt,
        attrs,
        actions: rules::rule_actions(rt),
        inline: false,
        refs: 0,
        non_critical: false,
        loc: el.loc,
    })
}

/// `<action>` children of a definition override the agent's timings (`_get_actions_ccs` +
/// `store_action`): matching name and depth (or `depth="*"`) replace the given numbers; an
/// action the agent lacks is added only when depth, timeout and interval are all given.
fn apply_action_overrides(def: &mut ResourceDef, el: &Resource, problems: &mut Vec<TreeError>) {
    for a in &el.actions {
        let Some(name) = a.attrs.get("name") else {
            continue;
        };
        let timeout = a.attrs.get("timeout").map(expand_time);
        let interval = a.attrs.get("interval").map(expand_time);
        // Depth is read for status/monitor only; not given or "*" means every depth.
        let depth: Option<u32> = if name == "status" || name == "monitor" {
            a.attrs.get("depth").and_then(|d| {
                if d.trim_start().starts_with('*') {
                    None
                } else {
                    Some(atoi(d).max(0) as u32)
                }
            })
        } else {
            None
        };
        if depth.is_none() && timeout.is_none() && interval.is_none() {
            continue;
        }
        let mut replaced = false;
        for act in def.actions.iter_mut() {
            if act.name == name && depth.is_none_or(|d| act.depth == d) {
                if let Some(t) = timeout {
                    act.timeout = t;
                }
                if let Some(i) = interval {
                    act.interval = i;
                }
                replaced = true;
            }
        }
        if replaced {
            continue;
        }
        match (depth, timeout, interval) {
            (Some(d), Some(t), Some(i)) => def.actions.push(Action {
                name: name.to_string(),
                depth: d,
                timeout: t,
                interval: i,
            }),
            _ => problems.push(TreeError::ActionIgnored {
                resource: def.name(),
                action: name.to_string(),
            }),
        }
    }
}

/// C's `atoi`: leading whitespace, optional sign, digits; 0 when there are none.
pub(crate) fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// `1`/`yes` (case-insensitive) as rgmanager read `__independent_subtree`.
fn special_flag(v: &str, word: &str, num: i64) -> bool {
    atoi(v) == num || v.eq_ignore_ascii_case(word)
}

const SPECIAL_ATTRS: &[&str] = &[
    "ref",
    "__independent_subtree",
    "__enforce_timeouts",
    "__max_failures",
    "__failure_expire_time",
    "__max_restarts",
    "__restart_expire_time",
];

impl Builder {
    /// `store_resource`: a new resource whose primary or unique attribute repeats the value
    /// of another resource of the same type is refused.
    fn store(&mut self, def: ResourceDef) -> Result<ResId, TreeError> {
        for cur in self.f.resources.iter().filter(|r| r.kind == def.kind) {
            for na in def.attrs.iter().filter(|a| a.primary || a.unique) {
                // rgmanager compared with the first non-inherited attribute of that name only.
                if let Some(ca) = cur.attrs.iter().find(|c| !c.inherit && c.name == na.name) {
                    if ca.value == na.value {
                        return Err(TreeError::Collision {
                            primary: na.primary,
                            kind: def.kind.clone(),
                            attr: na.name.clone(),
                            value: na.value.clone(),
                        });
                    }
                }
            }
        }
        self.f.resources.push(def);
        Ok(self.f.resources.len() - 1)
    }

    fn load_globals(&mut self, items: &[Resource]) {
        for rt in rules::sorted_types() {
            for el in items.iter().filter(|e| e.kind == rt.name) {
                match load_resource(rt, el) {
                    Loaded::Ok(mut def) => {
                        apply_action_overrides(&mut def, el, &mut self.f.problems);
                        if let Err(e) = self.store(def) {
                            self.f.problems.push(e);
                        }
                    }
                    Loaded::Empty => {}
                    Loaded::MissingRequired(attr) => {
                        self.f.problems.push(TreeError::MissingAttribute {
                            context: "<resources>".to_string(),
                            kind: rt.name.to_string(),
                            attr,
                            loc: el.loc,
                        })
                    }
                }
            }
        }
        for el in items {
            if rules::rule(&el.kind).is_none() {
                self.f.problems.push(TreeError::UnknownType {
                    service: "<resources>".to_string(),
                    kind: el.kind.to_string(),
                    loc: el.loc,
                });
            }
        }
    }

    fn load_root(&mut self, el: &Resource) {
        let Some(rt) = rules::rule(&el.kind) else {
            return;
        };
        let service = el.full_name();
        if let Some(id) = self.load_node(rt, el, None, &service) {
            self.f.roots.push(id);
            self.build_children(id, rt, el, &service);
        }
    }

    /// `build_tree` for the children of `el`, whose node is `parent` and rule `rt`.
    fn build_children(
        &mut self,
        parent: NodeId,
        rt: &'static ResourceType,
        el: &Resource,
        service: &str,
    ) {
        // Pass 1: the child types the parent's agent declares, in that order.
        for cr in rt.children {
            if cr.forbid {
                continue;
            }
            let Some(crt) = rules::rule(cr.kind) else {
                continue;
            };
            for child in el.children.iter().filter(|c| c.kind == cr.kind) {
                if let Some(id) = self.load_node(crt, child, Some(parent), service) {
                    self.f.nodes[parent].children.push(id);
                    self.build_children(id, crt, child, service);
                }
            }
        }
        // Pass 2: every other child, in document order.
        for child in &el.children {
            if let Some(cr) = rt.children.iter().find(|c| c.kind == child.kind) {
                if cr.forbid {
                    self.f.problems.push(TreeError::ForbiddenChild {
                        service: service.to_string(),
                        parent: self.f.name_of(parent),
                        kind: child.kind.to_string(),
                    });
                }
                continue;
            }
            let Some(crt) = rules::rule(&child.kind) else {
                self.f.problems.push(TreeError::UnknownType {
                    service: service.to_string(),
                    kind: child.kind.to_string(),
                    loc: child.loc,
                });
                continue;
            };
            if let Some(id) = self.load_node(crt, child, Some(parent), service) {
                self.f.nodes[parent].children.push(id);
                self.build_children(id, crt, child, service);
            }
        }
    }

    /// `do_load_resource`: resolves a reference or defines an inline resource, then makes the
    /// tree node with its special attributes.
    fn load_node(
        &mut self,
        rt: &'static ResourceType,
        el: &Resource,
        parent: Option<NodeId>,
        service: &str,
    ) -> Option<NodeId> {
        let res = match el.reference() {
            Some(r) => {
                let Some(id) = self.f.find_resource(rt.name, r) else {
                    self.f.problems.push(TreeError::NonexistentReference {
                        service: service.to_string(),
                        kind: rt.name.to_string(),
                        reference: r.to_string(),
                    });
                    return None;
                };
                if self.f.resources[id].inline {
                    self.f.problems.push(TreeError::ReferenceToInline {
                        service: service.to_string(),
                        kind: rt.name.to_string(),
                        reference: r.to_string(),
                    });
                    return None;
                }
                let ignored: Vec<String> = el
                    .attrs
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| !SPECIAL_ATTRS.contains(k))
                    .map(str::to_string)
                    .collect();
                if !ignored.is_empty() || !el.actions.is_empty() {
                    let mut attrs = ignored;
                    if !el.actions.is_empty() {
                        attrs.push("<action>".to_string());
                    }
                    self.f.problems.push(TreeError::ReferenceAttributesIgnored {
                        service: service.to_string(),
                        resource: self.f.resources[id].name(),
                        attrs,
                    });
                }
                id
            }
            None => match load_resource(rt, el) {
                Loaded::Ok(mut def) => {
                    apply_action_overrides(&mut def, el, &mut self.f.problems);
                    def.inline = true;
                    match self.store(def) {
                        Ok(id) => id,
                        Err(e) => {
                            self.f.problems.push(e);
                            return None;
                        }
                    }
                }
                Loaded::Empty => return None,
                Loaded::MissingRequired(attr) => {
                    self.f.problems.push(TreeError::MissingAttribute {
                        context: service.to_string(),
                        kind: rt.name.to_string(),
                        attr,
                        loc: el.loc,
                    });
                    return None;
                }
            },
        };

        if let Some(max) = rt.maxinstances.filter(|m| *m > 0) {
            if self.f.resources[res].refs >= max {
                self.f.problems.push(TreeError::MaxInstances {
                    service: service.to_string(),
                    resource: self.f.resources[res].name(),
                    max,
                    primary_attr: self.f.resources[res]
                        .attrs
                        .first()
                        .map(|a| a.name.clone())
                        .unwrap_or_default(),
                });
                return None;
            }
        }

        let a = &el.attrs;
        let mut independent = false;
        if parent.is_some() {
            if let Some(v) = a.get("__independent_subtree") {
                if special_flag(v, "yes", 1) {
                    independent = true;
                }
                if special_flag(v, "non-critical", 2) {
                    self.f.resources[res].non_critical = true;
                }
            }
        }
        let enforce_timeouts = a
            .get("__enforce_timeouts")
            .map(|v| atoi(v) > 0 || v.eq_ignore_ascii_case("yes"));
        let max_failures = a
            .get("__max_failures")
            .map(|v| atoi(v).max(0) as u32)
            .unwrap_or(0);
        let failure_expire_time = a.get("__failure_expire_time").map(expand_time).unwrap_or(0);

        self.f.resources[res].refs += 1;
        if self.f.resources[res].refs > 1 && self.f.resources[res].non_critical {
            self.f.problems.push(TreeError::NonCriticalCleared {
                resource: self.f.resources[res].name(),
            });
            self.f.resources[res].non_critical = false;
        }
        let non_critical = self.f.resources[res].non_critical;
        if non_critical {
            independent = true;
        }

        // assign_restart_policy
        let (max_restarts, restart_expire_time) = if independent {
            let m = a
                .get("__max_restarts")
                .map(|v| atoi(v).max(0) as u32)
                .unwrap_or(0);
            let e = a.get("__restart_expire_time").map(expand_time).unwrap_or(0);
            if m == 0 || e == 0 {
                (0, 0)
            } else {
                (m, e)
            }
        } else if parent.is_none() {
            let def = &self.f.resources[res];
            let m = def
                .own_attr("max_restarts")
                .map(|v| atoi(v).max(0) as u32)
                .unwrap_or(0);
            let e = def
                .own_attr("restart_expire_time")
                .map(expand_time)
                .unwrap_or(0);
            (m, if m == 0 { 0 } else { e })
        } else {
            (0, 0)
        };

        let id = self.f.nodes.len();
        let root = parent.map(|p| self.f.nodes[p].root).unwrap_or(id);
        self.f.nodes.push(TreeNode {
            res,
            parent,
            children: Vec::new(),
            root,
            independent,
            non_critical,
            enforce_timeouts,
            max_failures,
            failure_expire_time: if max_failures > 0 {
                failure_expire_time
            } else {
                0
            },
            max_restarts,
            restart_expire_time,
            actions: self.f.resources[res].actions.clone(),
            loc: el.loc,
        });
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forest(xml: &str) -> Forest {
        let conf = ccs::parse_str(xml).unwrap();
        Forest::build(&conf)
    }

    fn tree_names(f: &Forest, id: NodeId, out: &mut Vec<String>, depth: usize) {
        out.push(format!("{}{}", "  ".repeat(depth), f.name_of(id)));
        for &c in &f.nodes[id].children {
            tree_names(f, c, out, depth + 1);
        }
    }

    fn dump(f: &Forest) -> Vec<String> {
        let mut out = Vec::new();
        for &r in &f.roots {
            tree_names(f, r, &mut out, 0);
        }
        out
    }

    #[test]
    fn references_inline_and_child_order() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources>
                <ip address="10.0.0.1"/>
                <script name="web" file="/etc/init.d/httpd"/>
              </resources>
              <service name="svc">
                <script ref="web"/>
                <ip ref="10.0.0.1"/>
                <fs name="data" mountpoint="/srv" device="/dev/sdb1"/>
                <apache name="httpd"/>
              </service>
            </rm></cluster>"#,
        );
        assert_eq!(f.problems, vec![]);
        // Typed children by the service's child-type order (fs, ip, script), then untyped.
        assert_eq!(
            dump(&f),
            [
                "service:svc",
                "  fs:data",
                "  ip:10.0.0.1",
                "  script:web",
                "  apache:httpd"
            ]
        );
        let fs = f.find_resource("fs", "data").unwrap();
        assert!(f.resources[fs].inline);
        let svc = f.find_resource("service", "svc").unwrap();
        assert!(f.resources[svc].inline);
    }

    #[test]
    fn resource_list_is_in_rule_order_then_inline() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources>
                <service name="b"/>
                <script name="s" file="/x"/>
                <ip address="10.0.0.1"/>
              </resources>
              <service ref="b"/>
              <service name="a"/>
            </rm></cluster>"#,
        );
        let names: Vec<_> = f.resources.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["ip:10.0.0.1", "script:s", "service:b", "service:a"]);
    }

    #[test]
    fn inheritance_nearest_ancestor_and_typed() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="svc" nfslock="1">
                <fs name="data" mountpoint="/srv" device="/dev/sdb1" fsid="42">
                  <nfsexport name="exp">
                    <nfsclient name="all" target="*" options="rw"/>
                  </nfsexport>
                </fs>
                <script name="s" file="/x"/>
                <script name="t" file="/y" service_name="mine"/>
              </service>
            </rm></cluster>"#,
        );
        let node = |kind: &str, name: &str| {
            let r = f.find_resource(kind, name).unwrap();
            f.nodes.iter().position(|n| n.res == r).unwrap()
        };
        let s = node("script", "s");
        assert_eq!(f.attr_value(s, "service_name"), Some("svc"));
        let t = node("script", "t");
        assert_eq!(f.attr_value(t, "service_name"), Some("mine"));
        let exp = node("nfsexport", "exp");
        assert_eq!(f.attr_value(exp, "path"), Some("/srv"));
        assert_eq!(f.attr_value(exp, "device"), Some("/dev/sdb1"));
        let cl = node("nfsclient", "all");
        // nfsclient path <- nfsexport path <- fs mountpoint
        assert_eq!(f.attr_value(cl, "path"), Some("/srv"));
        assert_eq!(f.attr_value(cl, "fsid"), Some("42"));
        assert_eq!(f.attr_value(cl, "svcname"), Some("svc"));
        // fs nfslock inherits "nfslock" from the nearest ancestor that has it: the service.
        let fs = node("fs", "data");
        assert_eq!(f.attr_value(fs, "nfslock"), Some("1"));
    }

    #[test]
    fn bad_references_and_collisions_are_reported_and_skipped() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources>
                <script name="s" file="/x"/>
                <script name="s" file="/y"/>
                <script name="u" file="/x"/>
              </resources>
              <service name="svc">
                <script ref="nope"/>
                <script name="inl" file="/z"/>
                <ip address="10.0.0.9"/>
              </service>
              <service name="svc2">
                <script ref="inl"/>
                <script name="nofile"/>
                <script name="after" file="/w"/>
              </service>
            </rm></cluster>"#,
        );
        assert!(f.problems.contains(&TreeError::Collision {
            primary: true,
            kind: "script".into(),
            attr: "name".into(),
            value: "s".into()
        }));
        assert!(f.problems.contains(&TreeError::Collision {
            primary: false,
            kind: "script".into(),
            attr: "file".into(),
            value: "/x".into()
        }));
        assert!(f.problems.contains(&TreeError::NonexistentReference {
            service: "service:svc".into(),
            kind: "script".into(),
            reference: "nope".into()
        }));
        assert!(f.problems.contains(&TreeError::ReferenceToInline {
            service: "service:svc2".into(),
            kind: "script".into(),
            reference: "inl".into()
        }));
        assert!(f.problems.iter().any(|p| matches!(p,
            TreeError::MissingAttribute { context, kind, attr, .. }
            if context == "service:svc2" && kind == "script" && attr == "file")));
        // The sibling after the broken one is kept (RHCS lost it).
        assert_eq!(
            dump(&f),
            [
                "service:svc",
                "  ip:10.0.0.9",
                "  script:inl",
                "service:svc2",
                "  script:after"
            ]
        );
        let msg = f.problems[0].to_string();
        assert!(msg.contains("script") && msg.contains("name"), "{msg}");
        assert!(Forest::build_strict(&ccs::parse_str(
            r#"<cluster name="c" config_version="1"><rm><service name="a"><script ref="x"/></service></rm></cluster>"#
        ).unwrap()).is_err());
    }

    #[test]
    fn max_instances_and_forbidden_children() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources><ip address="10.0.0.1"/></resources>
              <service name="a"><ip ref="10.0.0.1"><nfsclient name="n" target="*"/><script name="s" file="/x"/></ip></service>
              <service name="b"><ip ref="10.0.0.1"/></service>
            </rm></cluster>"#,
        );
        assert_eq!(
            dump(&f),
            ["service:a", "  ip:10.0.0.1", "    script:s", "service:b"]
        );
        assert!(f
            .problems
            .iter()
            .any(|p| matches!(p, TreeError::ForbiddenChild { kind, .. } if kind == "nfsclient")));
        let max = f
            .problems
            .iter()
            .find(|p| matches!(p, TreeError::MaxInstances { .. }))
            .unwrap();
        assert_eq!(
            max.rhcs_line().unwrap(),
            "Warning: Max references exceeded for resource address (type ip)"
        );
        assert_eq!(
            f.resources[f.find_resource("ip", "10.0.0.1").unwrap()].refs,
            1
        );
    }

    #[test]
    fn special_attributes_and_action_overrides() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources>
                <script name="s" file="/x">
                  <action name="start" timeout="1m"/>
                  <action name="status" depth="*" interval="5"/>
                  <action name="status" depth="20" interval="2m" timeout="7"/>
                  <action name="stop" depth="3"/>
                </script>
              </resources>
              <service name="a" max_restarts="3" restart_expire_time="10m" __independent_subtree="1">
                <script ref="s" __independent_subtree="1" __max_restarts="2" __restart_expire_time="60" __enforce_timeouts="0"/>
                <script name="t" file="/y" __independent_subtree="non-critical" __max_failures="3" __failure_expire_time="1m"/>
              </service>
            </rm></cluster>"#,
        );
        let root = f.roots[0];
        let r = &f.nodes[root];
        assert!(!r.independent, "not allowed on the top level");
        assert_eq!((r.max_restarts, r.restart_expire_time), (3, 600));
        let s = f.nodes[root].children[0];
        let n = &f.nodes[s];
        assert!(n.independent && !n.non_critical);
        assert_eq!((n.max_restarts, n.restart_expire_time), (2, 60));
        assert!(!n.enforces_timeouts());
        assert_eq!(n.action("start", 0).unwrap().timeout, 60);
        assert_eq!(n.action("status", 0).unwrap().interval, 5);
        let deep = n.action("status", 20).unwrap();
        assert_eq!((deep.interval, deep.timeout), (120, 7));
        let t = &f.nodes[f.nodes[root].children[1]];
        assert!(t.independent && t.non_critical && t.enforces_timeouts());
        assert_eq!((t.max_failures, t.failure_expire_time), (3, 60));
        // "stop" at depth 3: not status/monitor, depth is not read, nothing else given.
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn ref_attributes_are_reported_as_ignored() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources><script name="s" file="/x"/></resources>
              <service name="a"><script ref="s" file="/other"/></service>
            </rm></cluster>"#,
        );
        let s = f.nodes[f.roots[0]].children[0];
        assert_eq!(f.attr_value(s, "file"), Some("/x"));
        assert!(
            matches!(&f.problems[..], [TreeError::ReferenceAttributesIgnored { attrs, .. }] if attrs == &["file"])
        );
    }

    #[test]
    fn non_critical_is_cleared_by_a_second_reference() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <resources><script name="s" file="/x"/></resources>
              <service name="a"><script ref="s" __independent_subtree="2"/></service>
              <service name="b"><script ref="s"/></service>
            </rm></cluster>"#,
        );
        assert_eq!(
            f.problems[0].rhcs_line().unwrap(),
            "Non-critical flag for script:s is being cleared due to multiple references."
        );
    }
}
