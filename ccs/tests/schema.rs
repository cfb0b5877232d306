//! `schemas/cluster.rng` and the validator must agree: this test runs xmllint with the schema and
//! `ccs::check_str` over every fixture and over documents generated from the validator's own tables
//! (`ccs::schema`, `ccs::resource_types`), and fails on any file one accepts and the other rejects.
//! That is what keeps the schema, written by hand, from drifting from the Rust checks.
//!
//! "Accepts" means no error for the validator (warnings are fine: unknown elements, attributes,
//! agents and resource types only draw warnings) and exit status 0 for xmllint. Cross-reference
//! checks (dangling names, duplicates, instance limits) are beyond a schema, so the fixtures for
//! them (`ref-*`, `dup-*`, `max-*`) must pass the schema while the validator rejects them.
//!
//! xmllint (Debian libxml2-utils, installed by `scripts/test`) is a real dependency: without it
//! this test fails instead of skipping, so a machine without it cannot pass by accident.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ccs::resource_types::{Param, ResourceType, RESOURCE_TYPES};
use ccs::schema::{self, AttrSpec, ElementSpec, Ty};

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/cluster.rng")
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The two judges.

fn xmllint(args: &[OsString]) -> Output {
    match Command::new("xmllint").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "xmllint is not installed, and this test needs it to check schemas/cluster.rng: \
             install libxml2-utils (apt-get install libxml2-utils; scripts/test does it)"
        ),
        Err(e) => panic!("cannot run xmllint: {e}"),
    }
}

/// `xmllint --noout --relaxng schemas/cluster.rng FILE`: accepted, and what it said.
fn schema_accepts(file: &Path) -> (bool, String) {
    let out = xmllint(&[
        "--noout".into(),
        "--relaxng".into(),
        schema_path().into(),
        file.into(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("failed to compile"),
        "schemas/cluster.rng does not compile:\n{stderr}"
    );
    (out.status.success(), stderr)
}

/// The same for many files in few runs (the schema is compiled once per run): xmllint prints
/// `FILE validates` for each file that passes.
fn schema_accepts_all(files: &[PathBuf]) -> Vec<bool> {
    let mut verdicts = Vec::with_capacity(files.len());
    for chunk in files.chunks(500) {
        let mut args: Vec<OsString> = vec!["--noout".into(), "--relaxng".into()];
        args.push(schema_path().into());
        args.extend(chunk.iter().map(|f| f.clone().into_os_string()));
        let out = xmllint(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("failed to compile"),
            "schemas/cluster.rng does not compile:\n{stderr}"
        );
        let passed: HashSet<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_suffix(" validates"))
            .collect();
        let chunk_verdicts: Vec<bool> = chunk
            .iter()
            .map(|f| passed.contains(f.to_str().unwrap()))
            .collect();
        // Cross-check the parsing of xmllint's report against its exit status.
        assert_eq!(
            out.status.success(),
            chunk_verdicts.iter().all(|v| *v),
            "xmllint's exit status and its per-file report disagree:\n{stderr}"
        );
        verdicts.extend(chunk_verdicts);
    }
    verdicts
}

/// The validator: accepted (no error), and its errors.
fn validator_accepts(text: &str) -> (bool, Vec<String>) {
    let report = ccs::check_str(text);
    let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
    (report.conf.is_some() && errors.is_empty(), errors)
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

#[test]
fn schema_is_well_formed_xml() {
    let out = xmllint(&["--noout".into(), schema_path().into()]);
    assert!(
        out.status.success(),
        "schemas/cluster.rng is not well-formed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn valid_fixtures_pass_both() {
    let files = fixtures("valid");
    assert!(!files.is_empty(), "no valid fixtures");
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (ok, errors) = validator_accepts(&text);
        if !ok {
            problems.push(format!(
                "{}: the validator rejects it: {errors:?}",
                file_name(f)
            ));
        }
        let (ok, said) = schema_accepts(f);
        if !ok {
            problems.push(format!("{}: the schema rejects it:\n{said}", file_name(f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn schema_and_xml_fixtures_fail_both() {
    let files: Vec<PathBuf> = fixtures("invalid")
        .into_iter()
        .filter(|f| file_name(f).starts_with("schema-") || file_name(f).starts_with("xml-"))
        .collect();
    assert!(
        !files.is_empty(),
        "no invalid/schema-*.conf or xml-*.conf fixtures"
    );
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if validator_accepts(&text).0 {
            problems.push(format!("{}: the validator finds no error", file_name(f)));
        }
        if schema_accepts(f).0 {
            problems.push(format!("{}: the schema accepts it", file_name(f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Cross-reference problems are the validator's alone: the schema must not reject those files,
/// or it would be stricter than the validator on something it cannot judge.
#[test]
fn cross_reference_fixtures_pass_the_schema_only() {
    let files: Vec<PathBuf> = fixtures("invalid")
        .into_iter()
        .filter(|f| {
            ["ref-", "dup-", "max-"]
                .iter()
                .any(|p| file_name(f).starts_with(p))
        })
        .collect();
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if validator_accepts(&text).0 {
            problems.push(format!("{}: the validator finds no error", file_name(f)));
        }
        let (ok, said) = schema_accepts(f);
        if !ok {
            problems.push(format!("{}: the schema rejects it:\n{said}", file_name(f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Generated documents: a small cluster with every fixed element, mutated one attribute at a
// time with values each type must accept or reject, and every resource type defined, referenced
// and mutated the same way.

#[derive(Clone, Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<El>,
    text: Option<String>,
}

impl El {
    fn new(name: &str) -> El {
        El {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
            text: None,
        }
    }

    fn attr(mut self, name: &str, value: &str) -> El {
        self.set(name, Some(value));
        self
    }

    fn child(mut self, c: El) -> El {
        self.children.push(c);
        self
    }

    fn set(&mut self, name: &str, value: Option<&str>) {
        self.attrs.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.attrs.push((name.to_string(), v.to_string()));
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Applies `f` to this element and every descendant named `name`.
    fn each_named(&mut self, name: &str, f: &mut dyn FnMut(&mut El)) {
        if self.name == name {
            f(self);
        }
        for c in &mut self.children {
            c.each_named(name, f);
        }
    }

    fn count_named(&self, name: &str) -> usize {
        usize::from(self.name == name)
            + self
                .children
                .iter()
                .map(|c| c.count_named(name))
                .sum::<usize>()
    }

    fn render(&self, out: &mut String) {
        write!(out, "<{}", self.name).unwrap();
        for (k, v) in &self.attrs {
            let v = v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('"', "&quot;");
            write!(out, " {k}=\"{v}\"").unwrap();
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        if let Some(t) = &self.text {
            out.push_str(t);
            out.push('\n');
        }
        for c in &self.children {
            c.render(out);
        }
        writeln!(out, "</{}>", self.name).unwrap();
    }

    fn document(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\"?>\n");
        self.render(&mut s);
        s
    }
}

/// A one-node cluster with every fixed element, free of errors; `<rm>` holds `globals` in
/// `<resources>` and `groups` after it.
fn cluster(globals: Vec<El>, groups: Vec<El>) -> El {
    let device = El::new("device").attr("name", "d");
    let node = El::new("clusternode")
        .attr("name", "n1")
        .attr("nodeid", "1")
        .child(El::new("fence").child(El::new("method").attr("name", "m").child(device.clone())))
        .child(El::new("unfence").child(device));
    let mut resources = El::new("resources");
    resources.children = globals;
    let mut rm = El::new("rm")
        .child(
            El::new("failoverdomains").child(
                El::new("failoverdomain")
                    .attr("name", "fd")
                    .child(El::new("failoverdomainnode").attr("name", "n1")),
            ),
        )
        .child(resources);
    rm.children.extend(groups);
    El::new("cluster")
        .attr("name", "c")
        .attr("config_version", "1")
        .child(El::new("cman"))
        .child(El::new("totem"))
        .child(El::new("quorumd").child(El::new("heuristic").attr("program", "/bin/true")))
        .child(El::new("fence_daemon"))
        .child(El::new("clusternodes").child(node))
        .child(
            El::new("fencedevices").child(
                El::new("fencedevice")
                    .attr("name", "d")
                    .attr("agent", "fence_virsh"),
            ),
        )
        .child(rm)
}

/// The base document of the fixed-element cases: one service with a script and an action.
fn base() -> El {
    let svc = El::new("service").attr("name", "s").child(
        El::new("script")
            .attr("name", "sc")
            .attr("file", "/bin/true")
            .child(El::new("action").attr("name", "status")),
    );
    cluster(Vec::new(), vec![svc])
}

/// Every fixed element (each occurs in `base()`), with the typed options it takes besides its own.
fn fixed_elements() -> Vec<(&'static ElementSpec, &'static [AttrSpec])> {
    vec![
        (&schema::CLUSTER, &[]),
        (&schema::CMAN, &[]),
        (&schema::TOTEM, &[]),
        (&schema::QUORUMD, &[]),
        (&schema::HEURISTIC, &[]),
        (&schema::FENCE_DAEMON, &[]),
        (&schema::CLUSTERNODES, &[]),
        (&schema::CLUSTERNODE, &[]),
        (&schema::FENCE, &[]),
        (&schema::METHOD, &[]),
        (&schema::UNFENCE, &[]),
        (&schema::DEVICE, schema::FENCE_OPTIONS),
        (&schema::FENCEDEVICES, &[]),
        (&schema::FENCEDEVICE, schema::FENCE_OPTIONS),
        (&schema::RM, &[]),
        (&schema::FAILOVERDOMAINS, &[]),
        (&schema::FAILOVERDOMAIN, &[]),
        (&schema::FAILOVERDOMAINNODE, &[]),
        (&schema::RESOURCES, &[]),
        (&schema::ACTION, &[]),
    ]
}

/// Values a type must accept (value.rs trims blanks around most of them). Names are left out:
/// changing one would break the references between the elements of the base document.
fn good_values(ty: Ty) -> Vec<String> {
    let v: Vec<String> = match ty {
        Ty::Str | Ty::Name => vec![],
        Ty::Bool | Ty::AtoiBool => ["1", "0", "yes", "No", "TRUE", "false", "on", "OFF", " on "]
            .map(String::from)
            .to_vec(),
        Ty::UInt => ["0", "42", " 7 ", "007", "4294967295"]
            .map(String::from)
            .to_vec(),
        Ty::PosInt => ["1", "300", " 5 ", "4294967295"].map(String::from).to_vec(),
        Ty::Int => ["-1", "0", "42", " -3 "].map(String::from).to_vec(),
        Ty::Range(lo, hi) => vec![lo.to_string(), hi.to_string(), format!(" {lo} ")],
        Ty::Enum(words) => {
            let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            v.extend(
                words
                    .iter()
                    .map(|w| format!(" {} ", w.to_ascii_uppercase())),
            );
            v
        }
        Ty::Time => [
            "0", "30", "10s", "5m", "1H", "2d", "1w", " 5m ", "1h30m", "2m30",
        ]
        .map(String::from)
        .to_vec(),
        Ty::IpPrefix => [
            "10.0.0.1",
            "10.0.0.1/24",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "fd00::1/64",
            "::",
            "::1/128",
            "::ffff:10.0.0.1",
            "1:2:3:4:5:6:7:8",
            "FE80::ABCD:1",
        ]
        .map(String::from)
        .to_vec(),
        Ty::Addr => [
            "127.0.0.1",
            "10.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "1:2:3:4:5:6:7:8",
            "FE80::ABCD:1",
        ]
        .map(String::from)
        .to_vec(),
        Ty::AbsPath => ["/usr/local/bin/check", "/"].map(String::from).to_vec(),
    };
    v
}

/// Values a type must reject.
fn bad_values(ty: Ty) -> Vec<String> {
    let v: Vec<String> = match ty {
        Ty::Str => vec![],
        Ty::Name => ["", "  "].map(String::from).to_vec(),
        Ty::Bool | Ty::AtoiBool => ["2", "maybe", "", "y"].map(String::from).to_vec(),
        Ty::UInt => ["-1", "x", "", "+1", "1.5", "4294967296"]
            .map(String::from)
            .to_vec(),
        Ty::PosInt => ["0", "-1", "x", "", "4294967296"]
            .map(String::from)
            .to_vec(),
        Ty::Int => ["x", "", "1.5", "+3", "--1"].map(String::from).to_vec(),
        Ty::Range(lo, hi) => vec![
            (lo - 1).to_string(),
            (hi + 1).to_string(),
            "x".into(),
            String::new(),
        ],
        Ty::Enum(_) => ["bogus", ""].map(String::from).to_vec(),
        Ty::Time => ["m", "x5", "5x", "-1", "", "5mm", "1.5h", "5 m"]
            .map(String::from)
            .to_vec(),
        Ty::IpPrefix => [
            "10.0.0.300",
            "010.0.0.1",
            "10.0.0.1/33",
            "10.0.0.1/",
            "1.2.3",
            "fd00::1/129",
            "12345::1",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            "fe80::1%eth0",
            "host.example.com",
            "",
        ]
        .map(String::from)
        .to_vec(),
        Ty::Addr => [
            "10.0.0.1/24",
            "::1/128",
            "10.0.0.300",
            "010.0.0.1",
            "1.2.3",
            "12345::1",
            "1::2::3",
            "fe80::1%eth0",
            "node1.example.com",
            "",
        ]
        .map(String::from)
        .to_vec(),
        Ty::AbsPath => ["relative/path", "", " /x"].map(String::from).to_vec(),
    };
    v
}

/// One generated document and what both judges must say of it.
struct Case {
    what: String,
    doc: El,
    valid: bool,
}

fn case(what: impl Into<String>, doc: El, valid: bool) -> Case {
    Case {
        what: what.into(),
        doc,
        valid,
    }
}

/// `base()` with `attr` of every `element` set to `value` (or removed).
fn mutated(element: &str, attr: &str, value: Option<&str>) -> El {
    let mut doc = base();
    doc.each_named(element, &mut |e| e.set(attr, value));
    doc
}

/// A vendor extension: an element the schema has never heard of, with content of its own.
fn vendor_element() -> El {
    let mut inner = El::new("probe").attr("interval", "whenever");
    inner.text = Some("free text".into());
    El::new("acme_monitor").attr("level", "high").child(inner)
}

fn fixed_element_cases() -> Vec<Case> {
    let mut cases = vec![case("the base document", base(), true)];
    for (spec, options) in fixed_elements() {
        let el = spec.name;
        assert!(base().count_named(el) > 0, "base() has no <{el}>");
        for a in spec.attrs.iter().chain(options.iter()) {
            if a.required {
                cases.push(case(
                    format!("<{el}> without {}", a.name),
                    mutated(el, a.name, None),
                    false,
                ));
            }
            for v in bad_values(a.ty) {
                let what = format!("<{el} {}=\"{v}\">", a.name);
                cases.push(case(what, mutated(el, a.name, Some(&v)), false));
            }
            for v in good_values(a.ty) {
                let what = format!("<{el} {}=\"{v}\">", a.name);
                cases.push(case(what, mutated(el, a.name, Some(&v)), true));
            }
        }
        // What the validator only warns about.
        cases.push(case(
            format!("<{el} alias=…> (unknown attribute)"),
            mutated(el, "alias", Some("anything")),
            true,
        ));
        let mut doc = base();
        doc.each_named(el, &mut |e| e.children.push(vendor_element()));
        cases.push(case(format!("a vendor element in <{el}>"), doc, true));
        let mut doc = base();
        doc.each_named(el, &mut |e| e.text = Some("stray text".into()));
        cases.push(case(format!("text in <{el}>"), doc, true));
    }
    for (parent, child) in schema::KNOWN_UNTYPED {
        let mut doc = base();
        doc.each_named(parent, &mut |e| {
            e.children
                .push(El::new(child).attr("anything", "1").child(vendor_element()))
        });
        cases.push(case(format!("<{child}> in <{parent}>"), doc, true));
    }
    let max = schema::CLUSTER_NAME_MAX;
    let longest = "n".repeat(max);
    let too_long = "n".repeat(max + 1);
    cases.push(case(
        format!("a cluster name of {max} characters"),
        mutated("cluster", "name", Some(&longest)),
        true,
    ));
    cases.push(case(
        format!("a cluster name of {} characters", max + 1),
        mutated("cluster", "name", Some(&too_long)),
        false,
    ));
    cases.push(case(
        "an unknown fence agent",
        mutated("fencedevice", "agent", Some("fence_acme_pdu")),
        true,
    ));
    cases
}

/// How the validator types a resource parameter (the validator's own function, so the
/// generated cases follow it).
fn param_ty(kind: &str, p: &Param) -> Ty {
    ccs::validate::resource_param_ty(kind, p.name, p.kind)
}

/// Parameters a definition must carry: the required ones and the primary one (its name).
fn needed(t: &ResourceType) -> impl Iterator<Item = &'static Param> {
    t.params.iter().filter(|p| p.required || p.primary)
}

/// A value of the type for a definition's needed parameter.
fn sample(ty: Ty) -> String {
    match ty {
        Ty::Str | Ty::Name => "r1".into(),
        _ => good_values(ty).swap_remove(0),
    }
}

/// A definition of a type with its needed parameters.
fn definition(t: &ResourceType) -> El {
    needed(t).fold(El::new(t.name), |el, p| {
        el.attr(p.name, &sample(param_ty(t.name, p)))
    })
}

/// A document with `r` where a resource of its type goes in a group: a service or vm is a group
/// itself, anything else sits in service "s".
fn in_group(t: &ResourceType, r: El, globals: Vec<El>) -> El {
    let group = if t.root {
        r
    } else {
        El::new("service").attr("name", "s").child(r)
    };
    cluster(globals, vec![group])
}

fn resource_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for t in RESOURCE_TYPES {
        let k = t.name;
        let def = definition(t);
        cases.push(case(
            format!("a <{k}> definition"),
            in_group(t, def.clone(), vec![]),
            true,
        ));
        cases.push(case(
            format!("a global <{k}>"),
            cluster(vec![def.clone()], vec![]),
            true,
        ));
        for p in needed(t) {
            let mut el = def.clone();
            el.set(p.name, None);
            cases.push(case(
                format!("a <{k}> definition without {}", p.name),
                in_group(t, el.clone(), vec![]),
                false,
            ));
            // Under <resources> an element is always a definition, even with ref=.
            el.set("ref", Some("r1"));
            cases.push(case(
                format!("a global <{k} ref=…> without {}", p.name),
                cluster(vec![el], vec![]),
                false,
            ));
        }
        // A reference: the needed parameters stay with the global definition.
        let primary = t.params.iter().find(|p| p.primary).unwrap();
        let target = def.get(primary.name).unwrap().to_string();
        let reference = El::new(k).attr("ref", &target);
        cases.push(case(
            format!("a <{k} ref=…> reference"),
            in_group(t, reference.clone(), vec![def.clone()]),
            true,
        ));
        cases.push(case(
            format!("a <{k} ref=\"\">"),
            in_group(t, El::new(k).attr("ref", ""), vec![def.clone()]),
            false,
        ));
        // Every typed parameter, on a definition and on a reference.
        let typed = t.params.iter().map(|p| (p.name, param_ty(k, p))).chain(
            schema::RESOURCE_COMMON
                .iter()
                .filter(|c| c.name != "ref" && t.params.iter().all(|p| p.name != c.name))
                .map(|c| (c.name, c.ty)),
        );
        for (name, ty) in typed {
            for v in bad_values(ty) {
                let what = format!("<{k} {name}=\"{v}\">");
                let el = def.clone().attr(name, &v);
                cases.push(case(what, in_group(t, el, vec![]), false));
            }
            for v in good_values(ty) {
                let what = format!("<{k} {name}=\"{v}\">");
                let el = def.clone().attr(name, &v);
                cases.push(case(what, in_group(t, el, vec![]), true));
            }
            if let Some(v) = bad_values(ty).first() {
                let what = format!("<{k} ref=… {name}=\"{v}\">");
                let el = reference.clone().attr(name, v);
                cases.push(case(what, in_group(t, el, vec![def.clone()]), false));
            }
        }
        cases.push(case(
            format!("<{k} alias=…> (unknown attribute)"),
            in_group(t, def.clone().attr("alias", "x"), vec![]),
            true,
        ));
        // A resource of an unknown type is kept with a warning, and its children still checked.
        let custom = El::new("acme-agent").attr("whatever", "1");
        let svc = |child: El| El::new("service").attr("name", "s").child(child);
        cases.push(case(
            format!("<{k}> inside an unknown resource type"),
            cluster(vec![], vec![svc(custom.clone().child(def.clone()))]),
            true,
        ));
        if let Some(p) = needed(t).next() {
            let mut el = def.clone();
            el.set(p.name, None);
            cases.push(case(
                format!("<{k}> without {} inside an unknown resource type", p.name),
                cluster(vec![], vec![svc(custom.clone().child(el))]),
                false,
            ));
        }
    }
    // <action> inside a resource is typed; inside <resources> it is an unknown resource type.
    let script = |action: El| {
        El::new("service").attr("name", "s").child(
            El::new("script")
                .attr("name", "sc")
                .attr("file", "/bin/true")
                .child(action),
        )
    };
    cases.push(case(
        "<action> without name in a resource",
        cluster(
            vec![],
            vec![script(El::new("action").attr("timeout", "5m"))],
        ),
        false,
    ));
    cases.push(case(
        "<action name=… bogus=…> in a resource",
        cluster(
            vec![],
            vec![script(
                El::new("action").attr("name", "status").attr("bogus", "1"),
            )],
        ),
        true,
    ));
    cases.push(case(
        "<action> and an unknown type directly in <resources>",
        cluster(
            vec![El::new("action"), El::new("acme-agent").attr("a", "b")],
            vec![],
        ),
        true,
    ));
    cases.push(case(
        "an unknown element in <rm>",
        cluster(vec![], vec![vendor_element()]),
        true,
    ));
    cases
}

#[test]
fn generated_cases_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = fixed_element_cases();
    cases.extend(resource_cases());
    let mut files = Vec::with_capacity(cases.len());
    let mut texts = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let text = c.doc.document();
        let path = dir.path().join(format!("case{i:05}.conf"));
        std::fs::write(&path, &text).unwrap();
        files.push(path);
        texts.push(text);
    }
    let schema = schema_accepts_all(&files);
    let mut problems = Vec::new();
    for ((c, text), schema_ok) in cases.iter().zip(&texts).zip(schema) {
        let (validator_ok, errors) = validator_accepts(text);
        if validator_ok == c.valid && schema_ok == c.valid {
            continue;
        }
        let verdict = |ok: bool| if ok { "accepts" } else { "rejects" };
        problems.push(format!(
            "{}: expected {}; the validator {} it {errors:?}, the schema {} it",
            c.what,
            if c.valid { "valid" } else { "invalid" },
            verdict(validator_ok),
            verdict(schema_ok),
        ));
    }
    let shown: Vec<&String> = problems.iter().take(40).collect();
    assert!(
        problems.is_empty(),
        "{} of {} generated cases disagree (first 40):\n{}",
        problems.len(),
        cases.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
