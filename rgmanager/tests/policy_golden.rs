//! The policy's golden scenarios: every `tests/policy/*.scn` file is a cluster.conf, a view, and
//! one or more events, each followed by the actions `rgmanager::policy::decide` must return.
//! The format is described in `tests/policy/README.md`. `UPDATE_GOLDEN=1` rewrites the
//! expectations with what `decide` returns now (review the diff before committing it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rgmanager::policy::{
    decide, parse_state, ClusterView, Event, NodeState, PolicyConfig, Request, ServiceStatus,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy")
}

fn svc_name(word: &str) -> String {
    if word.contains(':') {
        word.to_string()
    } else {
        format!("service:{word}")
    }
}

struct Scenario {
    lines: Vec<String>,
    /// (first line, end line exclusive) of each expect block's action lines.
    blocks: Vec<(usize, usize)>,
    actual: Vec<Vec<String>>,
}

fn node(view: &ClusterView, name: &str, at: &str) -> u32 {
    view.config
        .node_by_name(name)
        .unwrap_or_else(|| panic!("{at}: unknown node {name}"))
}

fn parse_event(view: &ClusterView, words: &[&str], at: &str) -> Event {
    let n = |i: usize| node(view, words.get(i).copied().unwrap_or(""), at);
    let s = |i: usize| svc_name(words.get(i).copied().unwrap_or(""));
    // `... on NODE` / `... to NODE`
    let opt_node = |i: usize| words.get(i + 1).map(|w| node(view, w, at));
    match words.first().copied().unwrap_or("") {
        "node-joined" => Event::NodeJoined(n(1)),
        "node-left" => Event::NodeLeft {
            node: n(1),
            clean: match words.get(2).copied() {
                Some("clean") => true,
                Some("unclean") => false,
                w => panic!("{at}: node-left NODE clean|unclean, got {w:?}"),
            },
        },
        "node-fenced" => Event::NodeFenced(n(1)),
        "quorum-lost" => Event::QuorumLost,
        "quorum-regained" => Event::QuorumRegained,
        "evaluate" => Event::Evaluate,
        "status-failed" => Event::StatusFailed {
            service: s(1),
            node: n(3),
        },
        "start-failed" => Event::StartFailed {
            service: s(1),
            node: n(3),
        },
        "stop-failed" => Event::StopFailed {
            service: s(1),
            node: n(3),
        },
        "started" => Event::Started {
            service: s(1),
            node: n(3),
        },
        "stopped" => Event::Stopped {
            service: s(1),
            node: n(3),
        },
        "enable" => Event::Request(Request::Enable {
            service: s(1),
            node: opt_node(2),
        }),
        "disable" => Event::Request(Request::Disable { service: s(1) }),
        "relocate" => Event::Request(Request::Relocate {
            service: s(1),
            node: opt_node(2),
        }),
        "restart" => Event::Request(Request::Restart { service: s(1) }),
        "stop" => Event::Request(Request::Stop { service: s(1) }),
        "freeze" => Event::Request(Request::Freeze { service: s(1) }),
        "unfreeze" => Event::Request(Request::Unfreeze { service: s(1) }),
        "migrate" => Event::Request(Request::Migrate {
            service: s(1),
            node: n(3),
        }),
        "convalesce" => Event::Request(Request::Convalesce { service: s(1) }),
        "lock" => Event::Request(Request::Lock { locked: true }),
        "unlock" => Event::Request(Request::Lock { locked: false }),
        w => panic!("{at}: unknown event {w:?}"),
    }
}

fn parse_service(view: &mut ClusterView, words: &[&str], at: &str) {
    let name = svc_name(
        words
            .get(1)
            .unwrap_or_else(|| panic!("{at}: service NAME STATE")),
    );
    let state = words
        .get(2)
        .and_then(|w| parse_state(w))
        .unwrap_or_else(|| panic!("{at}: service {name}: bad state"));
    let mut st = ServiceStatus {
        state,
        ..ServiceStatus::default()
    };
    let mut i = 3;
    while i < words.len() {
        match words[i] {
            "on" => st.owner = Some(node(view, words[i + 1], at)),
            "last" => st.last_owner = Some(node(view, words[i + 1], at)),
            "frozen" => {
                st.frozen = true;
                i += 1;
                continue;
            }
            "partial" => {
                st.partial = true;
                i += 1;
                continue;
            }
            "restarts" => {
                st.restarts = words[i + 1]
                    .split(',')
                    .map(|t| t.parse().unwrap_or_else(|_| panic!("{at}: bad time {t}")))
                    .collect()
            }
            "startfail" => {
                st.start_failures = words[i + 1].split(',').map(|n| node(view, n, at)).collect()
            }
            "transition" => {
                st.last_transition = words[i + 1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{at}: bad time"))
            }
            w => panic!("{at}: unknown service attribute {w:?}"),
        }
        i += 2;
    }
    *view
        .service_mut(&name)
        .unwrap_or_else(|| panic!("{at}: no service {name} in the config")) = st;
}

fn run(path: &Path) -> Scenario {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let mut view: Option<ClusterView> = None;
    let mut pending: Option<Event> = None;
    let mut blocks = Vec::new();
    let mut actual = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let at = format!("{file}:{}", i + 1);
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "conf" => {
                let xml = if let Some(f) = words.get(1) {
                    std::fs::read_to_string(dir().join(f)).unwrap()
                } else {
                    let mut xml = String::new();
                    while i < lines.len() && lines[i].trim() != "end" {
                        xml.push_str(&lines[i]);
                        xml.push('\n');
                        i += 1;
                    }
                    i += 1;
                    xml
                };
                let conf = ccs::parse_str(&xml).unwrap_or_else(|e| panic!("{at}: {e:?}"));
                let mut v = ClusterView::new(Arc::new(PolicyConfig::from_conf(&conf)));
                v.members.iter_mut().for_each(|m| *m = NodeState::Online);
                v.quorate = true;
                view = Some(v);
            }
            "nodes" => {
                let v = view.as_mut().expect("conf first");
                for w in &words[1..] {
                    let (n, s) = w
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{at}: NODE=STATE"));
                    let id = node(v, n, &at);
                    let st = NodeState::parse(s).unwrap_or_else(|| panic!("{at}: state {s}"));
                    v.set_member(id, st);
                }
            }
            "all" => {
                let v = view.as_mut().expect("conf first");
                let state = words
                    .get(1)
                    .and_then(|w| parse_state(w))
                    .unwrap_or_else(|| panic!("{at}: all STATE"));
                v.services.iter_mut().for_each(|s| {
                    *s = ServiceStatus {
                        state,
                        ..ServiceStatus::default()
                    }
                });
            }
            "quorate" => {
                view.as_mut().expect("conf first").quorate = match words.get(1).copied() {
                    Some("yes") => true,
                    Some("no") => false,
                    w => panic!("{at}: quorate yes|no, got {w:?}"),
                }
            }
            "now" => {
                view.as_mut().expect("conf first").now = words[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{at}: bad time"))
            }
            "service" | "vm" => {
                let v = view.as_mut().expect("conf first");
                let mut w = words.clone();
                let full = format!("{}:{}", words[0], words[1]);
                if words[0] == "vm" {
                    w[1] = &full;
                }
                parse_service(v, &w, &at);
            }
            "event" => {
                let v = view.as_ref().expect("conf first");
                pending = Some(parse_event(v, &words[1..], &at));
            }
            "expect" => {
                let v = view.as_mut().expect("conf first");
                let ev = pending
                    .take()
                    .unwrap_or_else(|| panic!("{at}: expect without event"));
                let start = i;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
                blocks.push((start, i));
                let actions = decide(v, &ev);
                actual.push(actions.iter().map(|a| a.render(&v.config)).collect());
                // The next step starts from the outcome of this one.
                v.apply_event(&ev);
                for a in &actions {
                    v.apply(a);
                }
            }
            w => panic!("{at}: unknown line {w:?}"),
        }
    }
    assert!(pending.is_none(), "{file}: event without expect");
    assert!(!blocks.is_empty(), "{file}: no event");
    Scenario {
        lines,
        blocks,
        actual,
    }
}

#[test]
fn golden_scenarios() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "only {} scenarios", files.len());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for f in &files {
        let sc = run(f);
        let mut out = Vec::new();
        let mut last = 0;
        let mut differs = false;
        for ((start, end), got) in sc.blocks.iter().zip(&sc.actual) {
            let want: Vec<&str> = sc.lines[*start..*end].iter().map(|l| l.trim()).collect();
            if want != got.iter().map(String::as_str).collect::<Vec<_>>() {
                differs = true;
                failures.push(format!(
                    "{} (line {}):\n--- expected\n{}\n--- got\n{}\n",
                    f.display(),
                    start,
                    want.join("\n"),
                    got.join("\n")
                ));
            }
            out.extend(sc.lines[last..*start].iter().cloned());
            out.extend(got.iter().cloned());
            last = *end;
        }
        out.extend(sc.lines[last..].iter().cloned());
        if update && differs {
            std::fs::write(f, out.join("\n") + "\n").unwrap();
        }
    }
    if !update {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
