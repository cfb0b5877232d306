//! Property test: writing a configuration and reading it back gives the same configuration.
//!
//! Configurations are generated at the model level, with every kind of part the model has:
//! nodes with fence methods and unfencing, devices with agent options, domains, global resources,
//! nested resource trees with action overrides, groups of several types, and unknown elements,
//! attributes and text wherever the model keeps them. Values use the characters XML must escape.

use ccs::model::*;
use ccs::xml::{Attrs, Element, Node};
use proptest::collection::vec;
use proptest::prelude::*;

fn value() -> impl Strategy<Value = String> {
    // Includes what XML must escape, leading/trailing spaces, tabs, newlines and non-ASCII.
    "[ a-zA-Z0-9_./:&<>\"'%é\t\n-]{0,12}"
}

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_string()),
        Just("alias".to_string()),
        Just("priority".to_string()),
        "[a-z_][a-z0-9_]{0,8}",
    ]
}

fn attrs() -> impl Strategy<Value = Attrs> {
    vec((attr_name(), value()), 0..4).prop_map(|kv| kv.into_iter().collect())
}

/// Text as the model keeps it: trimmed, not empty.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9&<>][ a-zA-Z0-9&<>]{0,8}[a-zA-Z0-9&<>]".prop_map(|s| s.trim().to_string())
}

/// Unknown elements (vendor extensions), possibly nested, possibly with text.
fn vendor(names: &'static [&'static str]) -> impl Strategy<Value = Element> {
    let leaf = (prop::sample::select(names), attrs()).prop_map(|(n, a)| Element::with_attrs(n, a));
    leaf.prop_recursive(2, 6, 3, move |inner| {
        (
            prop::sample::select(names),
            attrs(),
            vec(inner, 0..3),
            prop::option::of(text()),
        )
            .prop_map(|(n, a, kids, t)| {
                let mut e = Element::with_attrs(n, a);
                if let Some(t) = t {
                    e.children.push(Node::Text(t));
                }
                for k in kids {
                    e.push(k);
                }
                e
            })
    })
}

fn extras(names: &'static [&'static str]) -> impl Strategy<Value = Vec<Node>> {
    vec(vendor(names), 0..2).prop_map(|v| v.into_iter().map(Node::Element).collect())
}

/// Names that no parent in the model reads as one of its own sections.
const VENDOR: &[&str] = &["vendor_ext", "x-acme", "logging", "dlm", "comment_"];

fn section() -> impl Strategy<Value = Section> {
    (attrs(), extras(VENDOR)).prop_map(|(attrs, extra)| Section {
        attrs,
        extra,
        ..Section::default()
    })
}

fn method() -> impl Strategy<Value = FenceMethod> {
    (attrs(), vec(section(), 0..3), extras(VENDOR)).prop_map(|(attrs, devices, extra)| {
        FenceMethod {
            attrs,
            devices,
            extra,
            ..FenceMethod::default()
        }
    })
}

fn node() -> impl Strategy<Value = ClusterNode> {
    (
        attrs(),
        prop::option::of((attrs(), vec(method(), 0..3))),
        prop::option::of((attrs(), vec(section(), 0..2))),
        extras(VENDOR),
    )
        .prop_map(|(attrs, fence, unfence, extra)| ClusterNode {
            attrs,
            fence: fence.map(|(attrs, methods)| Fence {
                attrs,
                methods,
                ..Fence::default()
            }),
            unfence: unfence.map(|(attrs, devices)| Unfence {
                attrs,
                devices,
                ..Unfence::default()
            }),
            extra,
            ..ClusterNode::default()
        })
}

const KINDS: &[&str] = &[
    "ip",
    "script",
    "fs",
    "nfsexport",
    "nfsclient",
    "lvm",
    "custom_agent",
];
const GROUP_KINDS: &[&str] = &["service", "vm", "apache"];

fn resource(kinds: &'static [&'static str]) -> impl Strategy<Value = Resource> {
    let leaf = (prop::sample::select(kinds), attrs(), vec(section(), 0..2)).prop_map(
        |(k, attrs, actions)| Resource {
            kind: k.into(),
            attrs,
            actions,
            ..Resource::default()
        },
    );
    leaf.prop_recursive(3, 12, 3, move |inner| {
        (
            prop::sample::select(kinds),
            attrs(),
            vec(inner, 0..3),
            vec(section(), 0..2),
            prop::option::of(text()),
        )
            .prop_map(|(k, attrs, children, actions, t)| Resource {
                kind: k.into(),
                attrs,
                children,
                actions,
                extra: t.map(Node::Text).into_iter().collect(),
                ..Resource::default()
            })
    })
}

fn group() -> impl Strategy<Value = Resource> {
    (
        prop::sample::select(GROUP_KINDS),
        attrs(),
        vec(resource(KINDS), 0..3),
    )
        .prop_map(|(k, attrs, children)| Resource {
            kind: k.into(),
            attrs,
            children,
            ..Resource::default()
        })
}

const RM_VENDOR: &[&str] = &["events", "resource-defaults", "vendor_ext"];

fn rm() -> impl Strategy<Value = Rm> {
    (
        attrs(),
        prop::option::of((attrs(), vec((attrs(), vec(section(), 0..3)), 0..3))),
        prop::option::of((attrs(), vec(resource(KINDS), 0..4))),
        vec(group(), 0..4),
        extras(RM_VENDOR),
    )
        .prop_map(|(attrs, fods, res, groups, extra)| Rm {
            attrs,
            failoverdomains: fods.map(|(attrs, ds)| FailoverDomains {
                attrs,
                domains: ds
                    .into_iter()
                    .map(|(attrs, nodes)| FailoverDomain {
                        attrs,
                        nodes,
                        ..FailoverDomain::default()
                    })
                    .collect(),
                ..FailoverDomains::default()
            }),
            resources: res.map(|(attrs, items)| Resources {
                attrs,
                items,
                ..Resources::default()
            }),
            groups,
            extra,
            ..Rm::default()
        })
}

fn conf() -> impl Strategy<Value = ClusterConf> {
    (
        (
            attrs(),
            prop::option::of(section()),
            prop::option::of(section()),
            prop::option::of((attrs(), vec(section(), 0..3))),
            prop::option::of(section()),
        ),
        prop::option::of((attrs(), vec(node(), 0..4))),
        prop::option::of((attrs(), vec(section(), 0..3))),
        prop::option::of(rm()),
        extras(VENDOR),
    )
        .prop_map(
            |((attrs, cman, totem, quorumd, fence_daemon), nodes, devs, rm, extra)| ClusterConf {
                attrs,
                cman,
                totem,
                quorumd: quorumd.map(|(attrs, heuristics)| Quorumd {
                    attrs,
                    heuristics,
                    ..Quorumd::default()
                }),
                fence_daemon,
                clusternodes: nodes.map(|(attrs, nodes)| ClusterNodes {
                    attrs,
                    nodes,
                    ..ClusterNodes::default()
                }),
                fencedevices: devs.map(|(attrs, devices)| FenceDevices {
                    attrs,
                    devices,
                    ..FenceDevices::default()
                }),
                rm,
                extra,
                ..ClusterConf::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_of_write_is_identity(c in conf()) {
        let text = ccs::write(&c);
        let back = ccs::parse_str(&text);
        prop_assert!(back.is_ok(), "written text does not parse: {:?}\n{}", back.err(), text);
        let back = back.unwrap();
        prop_assert_eq!(&back, &c, "\n{}", text);
        // And the canonical form is a fixed point.
        prop_assert_eq!(ccs::write(&back), text);
    }
}
