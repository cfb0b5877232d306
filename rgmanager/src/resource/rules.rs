//! How rgmanager reads an agent's rules, on top of the RHCS rules table in
//! [`ccs::resource_types`].
//!
//! The table says what each agent's metadata declared; this module turns that into the shapes
//! rgmanager's `resrules.c` built from it, because several visible behaviours depend on those
//! shapes: the order of a resource's attributes (the primary attribute is swapped to the front,
//! which decides the `type:primary` name and the dump order), the default timings of actions
//! (missing numbers are 0, a given interval is at least 1 s), and the alphabetical order of
//! the rule list (which orders `rg_test`'s resource list).

use ccs::resource_types::{resource_type, ParamKind, ResourceType, RESOURCE_TYPES};

/// One parameter as rgmanager stored it in a rule (`resource_attr_t` of a rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleAttr {
    pub name: &'static str,
    /// The default value, or for an inherited parameter the inheritance spec (`service%name`).
    pub value: Option<&'static str>,
    pub primary: bool,
    pub unique: bool,
    pub required: bool,
    pub inherit: bool,
    pub kind: ParamKind,
}

/// One action with rgmanager's numbers: seconds, 0 when the metadata gives none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub name: String,
    /// OCF check depth (status/monitor only; 0 for everything else).
    pub depth: u32,
    /// Seconds; 0 = no limit.
    pub timeout: u64,
    /// Seconds between status checks; 0 = not a periodic action.
    pub interval: u64,
}

/// The attributes of a rule in rgmanager's storage order: parameter order, except that the
/// primary parameter is swapped with whatever was first (`store_attribute`).
pub fn rule_attrs(t: &ResourceType) -> Vec<RuleAttr> {
    let mut out: Vec<RuleAttr> = Vec::with_capacity(t.params.len());
    for p in t.params {
        let attr = RuleAttr {
            name: p.name,
            value: if p.inherit.is_some() {
                p.inherit
            } else {
                p.default
            },
            primary: p.primary,
            unique: p.unique,
            required: p.required,
            inherit: p.inherit.is_some(),
            kind: p.kind,
        };
        if attr.primary && !out.is_empty() {
            // The old head moves to the end, the primary takes its place.
            let head = std::mem::replace(&mut out[0], attr);
            out.push(head);
        } else {
            out.push(attr);
        }
    }
    out
}

/// The actions of a rule with rgmanager's defaults applied (`_get_actions` + `store_action`).
pub fn rule_actions(t: &ResourceType) -> Vec<Action> {
    let mut acts: Vec<Action> = Vec::new();
    for a in t.actions {
        let depth = if a.name == "status" || a.name == "monitor" {
            a.depth.unwrap_or(0)
        } else {
            0
        };
        let timeout = u64::from(a.timeout.unwrap_or(0));
        let interval = a.interval.map(|i| u64::from(i.max(1))).unwrap_or(0);
        if let Some(existing) = acts
            .iter_mut()
            .find(|x| x.name == a.name && x.depth == depth)
        {
            existing.timeout = timeout;
            existing.interval = interval;
            continue;
        }
        acts.push(Action {
            name: a.name.to_string(),
            depth,
            timeout,
            interval,
        });
    }
    acts
}

/// Every known type, in the order rgmanager kept its rule list: alphabetical, ignoring case.
pub fn sorted_types() -> Vec<&'static ResourceType> {
    let mut v: Vec<&'static ResourceType> = RESOURCE_TYPES.iter().collect();
    v.sort_by_key(|t| t.name.to_ascii_lowercase());
    v
}

/// The rule of a type, if rgmanager knows the type.
pub fn rule(kind: &str) -> Option<&'static ResourceType> {
    resource_type(kind)
}

/// rgmanager's `expand_time`: digits followed by an optional unit (s, m, h, d, w, y), summed
/// over the whole string; an unknown unit makes its segment 0.
pub fn expand_time(val: &str) -> u64 {
    let b = val.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            // Not a number: rgmanager steps over it, adding nothing.
            i += 1;
            continue;
        }
        let n: u64 = val[start..i].parse().unwrap_or(u64::MAX);
        let mult = match b.get(i) {
            None | Some(b's') | Some(b'S') => 1,
            Some(b'm') | Some(b'M') => 60,
            Some(b'h') | Some(b'H') => 3600,
            Some(b'd') | Some(b'D') => 86400,
            Some(b'w') | Some(b'W') => 604_800,
            Some(b'y') | Some(b'Y') => 31_536_000,
            Some(_) => 0,
        };
        total = total.saturating_add(n.saturating_mul(mult));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> &'static ResourceType {
        rule(name).unwrap()
    }

    #[test]
    fn primary_goes_first_by_swap() {
        // nfsclient lists name first: unchanged.
        let a = rule_attrs(t("nfsclient"));
        assert_eq!(a[0].name, "name");
        assert!(a[0].primary);
        // Every type ends with its primary attribute at the head.
        for ty in RESOURCE_TYPES {
            let a = rule_attrs(ty);
            assert!(a[0].primary, "{}", ty.name);
            assert_eq!(a.len(), ty.params.len());
        }
    }

    #[test]
    fn swap_moves_old_head_to_the_end() {
        use ccs::resource_types::Param;
        const fn p(name: &'static str, primary: bool) -> Param {
            Param {
                name,
                kind: ParamKind::String,
                required: false,
                primary,
                unique: false,
                inherit: None,
                default: None,
            }
        }
        static T: ResourceType = ResourceType {
            name: "x",
            maxinstances: None,
            root: false,
            any_params: false,
            params: &[p("a", false), p("b", false), p("P", true), p("c", false)],
            children: &[],
            actions: &[],
        };
        let names: Vec<_> = rule_attrs(&T).iter().map(|a| a.name).collect();
        assert_eq!(names, ["P", "b", "a", "c"]);
    }

    #[test]
    fn inherited_attrs_carry_their_spec() {
        let a = rule_attrs(t("script"));
        let sn = a.iter().find(|x| x.name == "service_name").unwrap();
        assert!(sn.inherit);
        assert_eq!(sn.value, Some("service%name"));
    }

    #[test]
    fn ip_actions_keep_both_status_depths() {
        let acts = rule_actions(t("ip"));
        let status: Vec<_> = acts.iter().filter(|a| a.name == "status").collect();
        assert_eq!(status.len(), 2);
        assert!(status.iter().any(|a| a.depth == 10 && a.interval == 60));
        let start = acts.iter().find(|a| a.name == "start").unwrap();
        assert_eq!((start.depth, start.interval), (0, 0));
    }

    #[test]
    fn rules_are_alphabetical_ignoring_case() {
        let names: Vec<_> = sorted_types().iter().map(|t| t.name).collect();
        let i_sapdb = names.iter().position(|n| *n == "SAPDatabase").unwrap();
        let i_samba = names.iter().position(|n| *n == "samba").unwrap();
        let i_script = names.iter().position(|n| *n == "script").unwrap();
        assert!(i_samba < i_sapdb && i_sapdb < i_script, "{names:?}");
        assert_eq!(names.first(), Some(&"apache"));
        assert_eq!(names.last(), Some(&"vm"));
    }

    #[test]
    fn expand_time_like_rgmanager() {
        assert_eq!(expand_time("30"), 30);
        assert_eq!(expand_time("30s"), 30);
        assert_eq!(expand_time("5m"), 300);
        assert_eq!(expand_time("1h30m"), 5400);
        assert_eq!(expand_time("2d"), 172_800);
        assert_eq!(expand_time("10x"), 0);
        assert_eq!(expand_time(""), 0);
    }
}
