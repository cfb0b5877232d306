//! `ccs::sync`'s decisions, table-driven: each scenario starts one node with a configuration,
//! feeds it steps and compares everything it outputs, rendered one line each with
//! configurations named by label (`13a` = version 13, variant a), with the expected lines.
//! Then a few nodes wired together in memory: rejoin catch-up and a conflict seen on both sides.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use ccs::store::{ConfHash, Versioned};
use ccs::sync::{Event, Message, NodeId, Output, Refusal, Sync};

/// A valid configuration for a label: leading digits the version, the rest the variant.
fn text(label: &str) -> Vec<u8> {
    let split = label.find(|c: char| !c.is_ascii_digit()).unwrap();
    let (v, tag) = label.split_at(split);
    format!(
        "<?xml version=\"1.0\"?>\n<!-- variant {tag} -->\n<cluster config_version=\"{v}\" name=\"c\">\n\t<clusternodes>\n\t\t<clusternode name=\"n1\" nodeid=\"1\"/>\n\t\t<clusternode name=\"n2\" nodeid=\"2\"/>\n\t\t<clusternode name=\"n3\" nodeid=\"3\"/>\n\t</clusternodes>\n</cluster>\n"
    )
    .into_bytes()
}

const LABELS: &[&str] = &["11a", "12a", "12b", "13a", "13b", "14a"];

/// Version 13, but a node without its required nodeid.
const INVALID_13: &str = "<?xml version=\"1.0\"?>\n<cluster config_version=\"13\" name=\"c\">\n\t<clusternodes>\n\t\t<clusternode name=\"n1\"/>\n\t</clusternodes>\n</cluster>\n";

fn conf(label: &str) -> Versioned {
    Versioned::check(text(label)).unwrap()
}

fn hash(label: &str) -> ConfHash {
    ConfHash::of(&text(label))
}

fn label_of(h: &ConfHash) -> String {
    LABELS
        .iter()
        .find(|l| hash(l) == *h)
        .map(|l| l.to_string())
        .unwrap_or_else(|| format!("#{h}"))
}

fn announce(label: &str) -> Message {
    Message::Announce {
        version: conf(label).version(),
        hash: hash(label),
    }
}

fn offer(label: &str) -> Message {
    offer_raw(conf(label).version(), &text(label))
}

fn offer_raw(version: u64, bytes: &[u8]) -> Message {
    Message::Offer {
        version,
        bytes: Arc::<[u8]>::from(bytes).into(),
    }
}

fn render_msg(m: &Message) -> String {
    match m {
        Message::Announce { version, hash } => format!("Announce v{version} {}", label_of(hash)),
        Message::Request { version } => format!("Request v{version}"),
        Message::Offer { version, bytes } => {
            format!("Offer v{version} {}", label_of(&ConfHash::of(bytes)))
        }
        Message::Accepted { version } => format!("Accepted v{version}"),
        Message::Refused { reason } => format!("Refused: {reason}"),
        Message::Conflict {
            version,
            ours,
            theirs,
        } => format!(
            "Conflict v{version} ours {} theirs {}",
            label_of(ours),
            label_of(theirs)
        ),
    }
}

fn render(o: &Output) -> String {
    match o {
        Output::Send { to, msg } => format!("send {to} {}", render_msg(msg)),
        Output::Write { from, config } => {
            format!("write {} from {from}", label_of(&config.hash()))
        }
        Output::Event(e) => match e {
            Event::Adopted {
                from,
                previous,
                hash,
                ..
            } => format!(
                "event Adopted {} from {from} (was v{previous})",
                label_of(hash)
            ),
            Event::Conflict {
                peer,
                version,
                ours,
                theirs,
            } => format!(
                "event Conflict with {peer} v{version} ours {} theirs {}",
                label_of(ours),
                label_of(theirs)
            ),
            Event::Refused { peer, reason } => format!("event Refused {peer}: {reason}"),
            Event::PeerRefused { peer, reason } => format!("event PeerRefused {peer}: {reason}"),
            Event::PeerAccepted { peer, version } => {
                format!("event PeerAccepted {peer} v{version}")
            }
            Event::Fetching {
                peer,
                version,
                ours,
            } => format!("event Fetching v{version} from {peer} (ours v{ours})"),
            Event::CaughtUp { version } => format!("event CaughtUp v{version}"),
        },
    }
}

enum Step {
    From(NodeId, Message),
    Written(Result<(), &'static str>),
    Lost(NodeId),
    Push(&'static [NodeId]),
    Retry,
}

struct Scenario {
    name: &'static str,
    local: &'static str,
    steps: Vec<(Step, &'static [&'static str])>,
    /// Label of what the node holds at the end, and whether it is caught up.
    end: (&'static str, bool),
}

use Step::*;

const INVALID_13_ERROR: &str =
    "invalid: 4:3: <clusternode> is missing the required attribute \"nodeid\"";

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "push newer: accepted",
            local: "12a",
            steps: vec![
                (From(2, offer("13a")), &["write 13a from 2"]),
                (
                    Written(Ok(())),
                    &["send 2 Accepted v13", "event Adopted 13a from 2 (was v12)"],
                ),
            ],
            end: ("13a", true),
        },
        Scenario {
            name: "push equal, same bytes: no-op answered Accepted",
            local: "12a",
            steps: vec![(From(2, offer("12a")), &["send 2 Accepted v12"])],
            end: ("12a", true),
        },
        Scenario {
            name: "push equal, different bytes: conflict, not merged",
            local: "12a",
            steps: vec![(
                From(2, offer("12b")),
                &[
                    "send 2 Conflict v12 ours 12a theirs 12b",
                    "event Conflict with 2 v12 ours 12a theirs 12b",
                ],
            )],
            end: ("12a", true),
        },
        Scenario {
            name: "the pusher's side of a conflict",
            local: "12b",
            steps: vec![
                (Push(&[1]), &["send 1 Offer v12 12b"]),
                (
                    From(
                        1,
                        Message::Conflict {
                            version: 12,
                            ours: hash("12a"),
                            theirs: hash("12b"),
                        },
                    ),
                    &["event Conflict with 1 v12 ours 12b theirs 12a"],
                ),
            ],
            end: ("12b", true),
        },
        Scenario {
            name: "conflict seen in an announce: reported once",
            local: "12a",
            steps: vec![
                (
                    From(3, announce("12b")),
                    &["event Conflict with 3 v12 ours 12a theirs 12b"],
                ),
                (From(3, announce("12b")), &[]),
                (From(2, announce("12a")), &[]),
            ],
            end: ("12a", true),
        },
        Scenario {
            name: "push older: refused naming both versions",
            local: "12a",
            steps: vec![(
                From(2, offer("11a")),
                &[
                    "send 2 Refused: version 11 is not newer than 12",
                    "event Refused 2: version 11 is not newer than 12",
                ],
            )],
            end: ("12a", true),
        },
        Scenario {
            name: "push invalid: refused with the validator's first error",
            local: "12a",
            steps: vec![(
                From(2, offer_raw(13, INVALID_13.as_bytes())),
                &[
                    "send 2 Refused: invalid: 4:3: <clusternode> is missing the required attribute \"nodeid\"",
                    "event Refused 2: invalid: 4:3: <clusternode> is missing the required attribute \"nodeid\"",
                ],
            )],
            end: ("12a", true),
        },
        Scenario {
            name: "garbled offer (not XML): refused, nothing written",
            local: "12a",
            steps: vec![
                (
                    From(2, offer_raw(13, b"%%% <<< not a config")),
                    &[
                        "send 2 Refused: invalid: 1:1: XML: text outside the root element",
                        "event Refused 2: invalid: 1:1: XML: text outside the root element",
                    ],
                ),
                (
                    From(2, offer_raw(13, b"\x00\xff\xfe\x80binary")),
                    &[
                        "send 2 Refused: not UTF-8 text (at byte 1)",
                        "event Refused 2: not UTF-8 text (at byte 1)",
                    ],
                ),
                // A truncated transfer.
                (
                    From(2, offer_raw(13, &text("13a")[..150])),
                    &[
                        "send 2 Refused: invalid: 6:3: XML: tag not closed: '>' missing before the end of the file",
                        "event Refused 2: invalid: 6:3: XML: tag not closed: '>' missing before the end of the file",
                    ],
                ),
            ],
            end: ("12a", true),
        },
        Scenario {
            name: "offer whose text says another version: refused",
            local: "12a",
            steps: vec![(
                From(2, offer_raw(14, &text("13a"))),
                &[
                    "send 2 Refused: the offer says version 14 but its config_version is 13",
                    "event Refused 2: the offer says version 14 but its config_version is 13",
                ],
            )],
            end: ("12a", true),
        },
        Scenario {
            name: "rejoining node behind: requests and adopts, then caught up",
            local: "12a",
            steps: vec![
                (From(3, announce("12a")), &[]),
                (
                    From(2, announce("13a")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
                (From(2, offer("13a")), &["write 13a from 2"]),
                (
                    Written(Ok(())),
                    &[
                        "send 2 Accepted v13",
                        "event Adopted 13a from 2 (was v12)",
                        "event CaughtUp v13",
                    ],
                ),
            ],
            end: ("13a", true),
        },
        Scenario {
            name: "two peers announce different newer versions: the newest is taken",
            local: "12a",
            steps: vec![
                (
                    From(2, announce("13a")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
                (
                    From(3, announce("14a")),
                    &["send 3 Request v14", "event Fetching v14 from 3 (ours v12)"],
                ),
                (From(3, offer("14a")), &["write 14a from 3"]),
                (
                    Written(Ok(())),
                    &[
                        "send 3 Accepted v14",
                        "event Adopted 14a from 3 (was v12)",
                        "event CaughtUp v14",
                    ],
                ),
                // Peer 2's late answer to the first request.
                (
                    From(2, offer("13a")),
                    &[
                        "send 2 Refused: version 13 is not newer than 14",
                        "event Refused 2: version 13 is not newer than 14",
                    ],
                ),
            ],
            end: ("14a", true),
        },
        Scenario {
            name: "newest announced first: an older newer one is not fetched",
            local: "12a",
            steps: vec![
                (
                    From(3, announce("14a")),
                    &["send 3 Request v14", "event Fetching v14 from 3 (ours v12)"],
                ),
                (From(2, announce("13a")), &[]),
            ],
            end: ("12a", false),
        },
        Scenario {
            name: "the peer fetched from sends garbage: refused, fetched from another",
            local: "12a",
            steps: vec![
                (
                    From(2, announce("13a")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
                (
                    From(2, offer_raw(13, INVALID_13.as_bytes())),
                    &[
                        "send 2 Refused: invalid: 4:3: <clusternode> is missing the required attribute \"nodeid\"",
                        "event Refused 2: invalid: 4:3: <clusternode> is missing the required attribute \"nodeid\"",
                        "event CaughtUp v12",
                    ],
                ),
                (
                    From(3, announce("13a")),
                    &["send 3 Request v13", "event Fetching v13 from 3 (ours v12)"],
                ),
                (From(3, offer("13a")), &["write 13a from 3"]),
                (
                    Written(Ok(())),
                    &[
                        "send 3 Accepted v13",
                        "event Adopted 13a from 3 (was v12)",
                        "event CaughtUp v13",
                    ],
                ),
            ],
            end: ("13a", true),
        },
        Scenario {
            name: "the peer fetched from is lost: another is asked; retry resends",
            local: "12a",
            steps: vec![
                (
                    From(2, announce("13a")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
                (From(3, announce("13a")), &[]),
                (Retry, &["send 2 Request v13"]),
                (
                    Lost(2),
                    &["send 3 Request v13", "event Fetching v13 from 3 (ours v12)"],
                ),
                (
                    Lost(3),
                    &["event CaughtUp v12"],
                ),
                (Retry, &[]),
            ],
            end: ("12a", true),
        },
        Scenario {
            name: "the peer refuses our request: not waited for",
            local: "12a",
            steps: vec![
                (
                    From(2, announce("13a")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
                (
                    From(
                        2,
                        Message::Refused {
                            reason: Refusal::Unavailable {
                                requested: 13,
                                ours: 12,
                            },
                        },
                    ),
                    &[
                        "event PeerRefused 2: version 13 requested, this node has 12",
                        "event CaughtUp v12",
                    ],
                ),
                // A new announcement from it is worth a new try.
                (
                    From(2, announce("13b")),
                    &["send 2 Request v13", "event Fetching v13 from 2 (ours v12)"],
                ),
            ],
            end: ("12a", false),
        },
        Scenario {
            name: "write fails: refused to the sender, nothing adopted",
            local: "12a",
            steps: vec![
                (From(2, offer("13a")), &["write 13a from 2"]),
                (
                    Written(Err("/etc/cluster/cluster.conf: cannot write: No space left on device")),
                    &[
                        "send 2 Refused: not stored: /etc/cluster/cluster.conf: cannot write: No space left on device",
                        "event Refused 2: not stored: /etc/cluster/cluster.conf: cannot write: No space left on device",
                    ],
                ),
            ],
            end: ("12a", true),
        },
        Scenario {
            name: "messages during a write wait for it",
            local: "12a",
            steps: vec![
                (From(2, offer("13a")), &["write 13a from 2"]),
                (From(3, Message::Request { version: 13 }), &[]),
                (From(3, offer("13b")), &[]),
                (
                    Written(Ok(())),
                    &[
                        "send 2 Accepted v13",
                        "event Adopted 13a from 2 (was v12)",
                        "send 3 Offer v13 13a",
                        "send 3 Conflict v13 ours 13a theirs 13b",
                        "event Conflict with 3 v13 ours 13a theirs 13b",
                    ],
                ),
            ],
            end: ("13a", true),
        },
        Scenario {
            name: "requests are answered with our file or refused",
            local: "12a",
            steps: vec![
                (From(2, Message::Request { version: 11 }), &["send 2 Offer v12 12a"]),
                (From(2, Message::Request { version: 12 }), &["send 2 Offer v12 12a"]),
                (
                    From(2, Message::Request { version: 13 }),
                    &["send 2 Refused: version 13 requested, this node has 12"],
                ),
            ],
            end: ("12a", true),
        },
        Scenario {
            name: "a push and its answers",
            local: "13a",
            steps: vec![
                (Push(&[2, 3]), &["send 2 Offer v13 13a", "send 3 Offer v13 13a"]),
                (From(2, Message::Accepted { version: 13 }), &["event PeerAccepted 2 v13"]),
                (
                    From(
                        3,
                        Message::Refused {
                            reason: Refusal::NotNewer {
                                offered: 13,
                                ours: 14,
                            },
                        },
                    ),
                    &["event PeerRefused 3: version 13 is not newer than 14"],
                ),
                // Peer 3 is ahead: the pusher fetches.
                (
                    From(3, announce("14a")),
                    &["send 3 Request v14", "event Fetching v14 from 3 (ours v13)"],
                ),
            ],
            end: ("13a", false),
        },
    ]
}

#[test]
fn decision_table() {
    let mut failures = Vec::new();
    for sc in scenarios() {
        let mut node = Sync::new(conf(sc.local));
        for (i, (step, want)) in sc.steps.into_iter().enumerate() {
            match step {
                From(from, msg) => node.handle(from, msg),
                Written(r) => node.written(r.map_err(str::to_string)),
                Lost(p) => node.peer_lost(p),
                Push(to) => node.push(to),
                Retry => node.retry(),
            }
            let got: Vec<String> = node.drain().iter().map(render).collect();
            if got != want {
                failures.push(format!(
                    "{}: step {}:\n  want {want:#?}\n  got  {got:#?}",
                    sc.name,
                    i + 1
                ));
            }
        }
        let end = (label_of(&node.local().hash()), node.is_caught_up());
        if (end.0.as_str(), end.1) != sc.end {
            failures.push(format!("{}: ends {end:?}, want {:?}", sc.name, sc.end));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_fixture_fails_as_the_table_says() {
    let e = Versioned::check(INVALID_13.as_bytes().to_vec()).unwrap_err();
    assert_eq!(e.to_string(), INVALID_13_ERROR);
}

#[test]
fn log_lines_name_the_peer_the_versions_and_both_hashes() {
    let e = Event::Conflict {
        peer: 2,
        version: 12,
        ours: hash("12a"),
        theirs: hash("12b"),
    };
    let line = e.to_string();
    assert!(line.contains("node 2"), "{line}");
    assert!(line.contains("config_version 12"), "{line}");
    assert!(line.contains(&hash("12a").to_string()), "{line}");
    assert!(line.contains(&hash("12b").to_string()), "{line}");
    assert!(e.is_alarm());
    let r = Event::Refused {
        peer: 3,
        reason: Refusal::NotNewer {
            offered: 11,
            ours: 12,
        },
    };
    assert_eq!(
        r.to_string(),
        "Refused the configuration offered by node 3: version 11 is not newer than 12"
    );
}

/// Nodes wired in memory; writes succeed at once into a per-node "disk".
struct Net {
    nodes: HashMap<NodeId, Sync>,
    disk: HashMap<NodeId, Vec<u8>>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    events: Vec<(NodeId, Event)>,
}

impl Net {
    fn new(start: &[(NodeId, &str)]) -> Self {
        Net {
            nodes: start
                .iter()
                .map(|(n, l)| (*n, Sync::new(conf(l))))
                .collect(),
            disk: start.iter().map(|(n, l)| (*n, text(l))).collect(),
            queue: VecDeque::new(),
            events: Vec::new(),
        }
    }

    /// Every node announces to every other (one round of heartbeats).
    fn heartbeats(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &a in &ids {
            for &b in &ids {
                if a != b {
                    let m = self.nodes[&a].announcement();
                    self.queue.push_back((a, b, m));
                }
            }
        }
    }

    fn collect(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        while let Some(o) = node.poll_output() {
            match o {
                Output::Send { to, msg } => {
                    if to != id {
                        self.queue.push_back((id, to, msg))
                    }
                }
                Output::Write { config, .. } => {
                    self.disk.insert(id, config.bytes().to_vec());
                    node.written(Ok(()));
                }
                Output::Event(e) => self.events.push((id, e)),
            }
        }
    }

    fn run(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.collect(id);
        }
        let mut budget = 10_000;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "no quiescence");
            if let Some(n) = self.nodes.get_mut(&to) {
                n.handle(from, msg);
                self.collect(to);
            }
        }
    }
}

#[test]
fn three_nodes_push_then_a_rejoining_node_catches_up() {
    let mut net = Net::new(&[(1, "12a"), (2, "12a")]);
    net.heartbeats();
    net.run();
    // The administrator's new file on node 1, pushed to node 2 while node 3 is down.
    net.nodes.get_mut(&1).unwrap().set_local(conf("13a"));
    net.disk.insert(1, text("13a"));
    net.nodes.get_mut(&1).unwrap().push(&[2]);
    net.run();
    assert_eq!(net.disk[&2], text("13a"));
    assert!(net.events.contains(&(
        1,
        Event::PeerAccepted {
            peer: 2,
            version: 13
        }
    )));

    // Node 3 comes back with version 12: behind until it has fetched.
    net.nodes.insert(3, Sync::new(conf("12a")));
    net.disk.insert(3, text("12a"));
    let mut node3 = net.nodes.remove(&3).unwrap();
    node3.handle(1, net.nodes[&1].announcement());
    assert!(
        !node3.is_caught_up(),
        "behind after hearing a newer version"
    );
    net.nodes.insert(3, node3);
    net.collect(3);
    net.heartbeats();
    net.run();
    for n in 1..=3 {
        assert_eq!(net.disk[&n], text("13a"), "node {n}");
        assert_eq!(net.nodes[&n].local().version(), 13);
        assert!(net.nodes[&n].is_caught_up());
    }
    assert!(net.events.contains(&(3, Event::CaughtUp { version: 13 })));
}

#[test]
fn a_conflict_is_reported_on_both_sides_and_nobody_changes() {
    let mut net = Net::new(&[(1, "12a"), (2, "12b"), (3, "12a")]);
    net.heartbeats();
    net.run();
    net.nodes.get_mut(&2).unwrap().push(&[1]);
    net.run();
    let conflicts: Vec<(NodeId, NodeId)> = net
        .events
        .iter()
        .filter_map(|(n, e)| match e {
            Event::Conflict {
                peer, ours, theirs, ..
            } => {
                assert_eq!(*ours, hash(if *n == 2 { "12b" } else { "12a" }));
                assert_eq!(*theirs, hash(if *n == 2 { "12a" } else { "12b" }));
                Some((*n, *peer))
            }
            _ => None,
        })
        .collect();
    // Each pair reports once per side, the push adding no duplicate.
    let mut sorted = conflicts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![(1, 2), (2, 1), (2, 3), (3, 2)],
        "{conflicts:?}"
    );
    assert_eq!(net.disk[&1], text("12a"));
    assert_eq!(net.disk[&2], text("12b"));
    assert_eq!(net.disk[&3], text("12a"));
}
