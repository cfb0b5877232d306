//! The fixture corpus: every file under `tests/fixtures/valid` and `tests/fixtures/invalid` is
//! run through `ccs_config_validate` and its full output compared with the `.expected` file
//! beside it, so every message, location and verdict the validator gives is pinned. A second
//! test checks that every fixture that parses survives a write and a re-read losslessly.
//!
//! After a deliberate change of a message, `UPDATE_EXPECTED=1 cargo test -p ccs --test
//! fixtures` rewrites the `.expected` files; review the diff before committing it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Minimum corpus sizes: the folders must not silently shrink.
const MIN_VALID: usize = 19;
const MIN_INVALID: usize = 40;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The files of `dir` whose name ends in `.ext`, sorted.
fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn base_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs the tool in-process; the output names the file by its base name.
fn validate(path: &Path) -> (u8, String) {
    let shown = path.display().to_string();
    let mut buf = Vec::new();
    let code = ccs::cli::run_validate(vec!["-f".into(), shown.clone()], &mut buf);
    let out = String::from_utf8(buf).expect("the tool writes UTF-8");
    (code, out.replace(&shown, &base_name(path)))
}

/// A line diff (longest common subsequence): `-` lines only expected, `+` lines only got.
fn diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "   {}", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "  +{}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "  -{}", a[i]);
            i += 1;
        }
    }
    if expected.ends_with('\n') != got.ends_with('\n') {
        let _ = writeln!(out, "  (the final newline differs)");
    }
    out
}

#[test]
fn every_fixture_gives_its_expected_output() {
    let update = std::env::var("UPDATE_EXPECTED").is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    for (folder, min, want_code) in [("valid", MIN_VALID, 0u8), ("invalid", MIN_INVALID, 3)] {
        let dir = fixtures_dir().join(folder);
        let confs = files_with(&dir, "conf");
        if confs.len() < min {
            problems.push(format!(
                "{folder}/ holds {} .conf files; at least {min} are required",
                confs.len()
            ));
        }
        // Every .expected belongs to a .conf (a stale one would pin nothing).
        for exp in files_with(&dir, "expected") {
            if !exp.with_extension("conf").exists() {
                problems.push(format!("{folder}/{}: no .conf beside it", base_name(&exp)));
            }
        }
        for conf in confs {
            let name = format!("{folder}/{}", base_name(&conf));
            let (code, got) = validate(&conf);
            let exp_path = conf.with_extension("expected");
            if update {
                std::fs::write(&exp_path, &got).unwrap();
            }
            match std::fs::read_to_string(&exp_path) {
                Err(e) => problems.push(format!("{name}: no .expected beside it ({e})")),
                Ok(expected) if expected != got => problems.push(format!(
                    "{name}: output differs from {} (- expected, + got):\n{}",
                    base_name(&exp_path),
                    diff(&expected, &got)
                )),
                Ok(_) => {}
            }
            if code != want_code {
                problems.push(format!(
                    "{name}: exit status {code}, expected {want_code}; output:\n{got}"
                ));
            }
            let verdict = if want_code == 0 {
                "Configuration validates"
            } else {
                "Configuration fails to validate"
            };
            if got.lines().last() != Some(verdict) {
                problems.push(format!("{name}: the last line is not \"{verdict}\""));
            }
            if want_code == 3 && got.lines().count() < 2 {
                problems.push(format!("{name}: invalid, but no finding is reported"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} fixture problem(s) (UPDATE_EXPECTED=1 rewrites the .expected files):\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// An element as (path from the root, sorted attributes); text and order are left aside.
type ElementKey = (String, Vec<(String, String)>);

/// Every element of a generic tree, counted.
fn element_multiset(root: &ccs::xml::Element) -> BTreeMap<ElementKey, usize> {
    fn walk(e: &ccs::xml::Element, prefix: &str, out: &mut BTreeMap<ElementKey, usize>) {
        let path = format!("{prefix}/{}", e.name);
        let mut attrs: Vec<(String, String)> = e
            .attrs
            .iter()
            .map(|(k, a)| (k.to_string(), a.value.to_string()))
            .collect();
        attrs.sort();
        *out.entry((path.clone(), attrs)).or_default() += 1;
        for child in e.elements() {
            walk(child, &path, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

#[test]
fn every_parsable_fixture_round_trips_losslessly() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for folder in ["valid", "invalid"] {
        for conf in files_with(&fixtures_dir().join(folder), "conf") {
            let name = format!("{folder}/{}", base_name(&conf));
            let text = std::fs::read_to_string(&conf).unwrap();
            let Ok(model) = ccs::parse_str(&text) else {
                // Not well-formed, or not a <cluster>: nothing to write.
                continue;
            };
            checked += 1;
            let written = ccs::write(&model);
            match ccs::parse_str(&written) {
                Ok(again) if again == model => {}
                Ok(_) => problems.push(format!("{name}: the re-read model differs from the first")),
                Err(d) => {
                    problems.push(format!("{name}: the written text does not parse: {d}"));
                    continue;
                }
            }
            let before = element_multiset(&ccs::xml::parse(&text).unwrap());
            let after = element_multiset(&ccs::xml::parse(&written).unwrap());
            for (key, n) in &before {
                let m = after.get(key).copied().unwrap_or(0);
                if m != *n {
                    problems.push(format!("{name}: {key:?} is written {m} times, read {n}"));
                }
            }
            for (key, m) in &after {
                if !before.contains_key(key) {
                    problems.push(format!("{name}: {key:?} is written {m} times, never read"));
                }
            }
        }
    }
    // All valid fixtures and most invalid ones (all but the xml-* files) parse.
    assert!(checked >= MIN_VALID + 30, "only {checked} fixtures parsed");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `check_str` makes the resource checks while parsing; its findings must be exactly those of
/// `validate` on the parsed model (same messages, places and order), for every fixture and for
/// files whose sections come in orders the parse cannot check as it goes (a service before
/// `<resources>`, the failover domains after the services, `depend=` on a later service).
#[test]
fn checks_made_while_parsing_equal_validation_of_the_model() {
    let mut texts = Vec::new();
    for folder in ["valid", "invalid"] {
        for conf in files_with(&fixtures_dir().join(folder), "conf") {
            texts.push((
                format!("{folder}/{}", base_name(&conf)),
                std::fs::read_to_string(&conf).unwrap(),
            ));
        }
    }
    let nodes = r#"<clusternodes><clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/></clusternodes>"#;
    let domains = r#"<failoverdomains><failoverdomain name="D" ordered="1"><failoverdomainnode name="a" priority="1"/></failoverdomain></failoverdomains>"#;
    let resources = r#"<resources><ip address="10.0.0.1/24"/><ip address="10.0.0.1/24"/><script name="s" file="/x"><ip ref="10.0.0.9"/></script><script name="s" file="rel"/><mystery name="m"/><fs name="f"/></resources>"#;
    let services = r#"<service name="one" domain="d" depend="service:two"><ip ref="10.0.0.1/24"><script ref="s"/><action name="status" timeout="x"/></ip><action name="stop" depth="q"/></service><service name="two" domain="nope" depend="one" autostart="maybe"><ip ref="10.0.0.1/24"/><mystery ref="m"/><mystery ref="zz"/></service><service name="one" depend="service:one"/><vm name="v" domain="D"/>"#;
    for (name, rm) in [
        ("in order", format!("{domains}{resources}{services}")),
        ("services first", format!("{services}{domains}{resources}")),
        ("resources last", format!("{domains}{services}{resources}")),
        ("domains last", format!("{resources}{services}{domains}")),
        ("no domains", format!("{resources}{services}")),
        (
            "two of each",
            format!("{domains}{resources}{services}{domains}{resources}"),
        ),
    ] {
        texts.push((
            name.to_string(),
            format!(r#"<cluster name="c" config_version="1">{nodes}<rm>{rm}</rm></cluster>"#)
                .replace("><", ">\n<"),
        ));
    }
    texts.push(("generated".into(), ccs::sample::generate(5, 3, 40)));
    let mut differ = Vec::new();
    for (name, text) in &texts {
        let checked = ccs::check_str(text).diagnostics;
        let walked = match ccs::parse_str(text) {
            Ok(conf) => ccs::validate::validate(&conf),
            Err(d) => vec![d],
        };
        if !name.contains('/') && name != "generated" {
            // The hand-written files exercise the cross-references.
            let all: String = checked.iter().map(|d| d.message.clone() + "\n").collect();
            for what in ["refers to no", "depends on", "duplicate", "is not"] {
                assert!(all.contains(what), "{name}: no \"{what}\" finding:\n{all}");
            }
        }
        if checked != walked {
            differ.push(format!("{name}:\n{checked:#?}\n--- validate:\n{walked:#?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
