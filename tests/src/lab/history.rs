//! The after-the-fact checks on what the hosts themselves wrote down, trusting no daemon: the
//! service scripts' marker logs (`<unix time> start|stop|stopfail <host>`, one file per
//! service), the BMCs' power logs (`<unix time> power 0 (was 1)`), and the lab's own record of
//! the partitions it made. Pure: the lab reads the files and feeds the lines here.
//!
//! The rules:
//! - **One runner, fenced first.** A service's run on a host begins with its `start` line and
//!   ends with its `stop` line there or with a power-off of that host by its BMC. A `start` on
//!   another host while a run is open is a violation: either the old runner still ran (two
//!   runners) or it had died unseen (a crash, a hang, a cut cable) and nothing but a power-off
//!   can prove that, so the start came before the fence.
//! - **Quorum.** No `start` on a host that is cut off, with fewer configured nodes than a
//!   quorum, more than `grace` after the cut began (a node needs a token to notice, and may
//!   finish an order given before the cut).
//! - **No fencing without quorum.** While the lab holds any cut (a partition, a cable pulled, a
//!   host down or hung; until `grace` after it ends, for a fence decided just before), a
//!   power-off of a host that the lab did not ask for must have come from a quorate
//!   group of nodes that could not reach that host: some group of the cuts' combined
//!   partition, not the victim's, with at least a quorum of configured nodes. A minority (or an
//!   even split, where no side is quorate) that powers anything off breaks it. Outside every
//!   cut nothing is checked (a fence may land a moment after the lab's record of a cut ends),
//!   nor while a host is on a lossy link (any membership may form).

use std::collections::BTreeMap;

/// Unix time in seconds (the scripts' and the BMCs' `date +%s.%N`).
pub type Time = f64;

/// One line of a log, read.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start {
        svc: String,
        host: String,
    },
    Stop {
        svc: String,
        host: String,
    },
    /// The script's stop refused on purpose (a "stop fails" fault): the run goes on.
    StopFail {
        svc: String,
        host: String,
    },
    PowerOff {
        host: String,
    },
    PowerOn {
        host: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub at: Time,
    pub event: Event,
}

/// A service's marker line (`1712345678.123456789 start node2`).
pub fn parse_marker(svc: &str, line: &str) -> Option<Timed> {
    let mut w = line.split_whitespace();
    let at: Time = w.next()?.parse().ok()?;
    let what = w.next()?;
    let host = w.next()?.to_string();
    let svc = svc.to_string();
    let event = match what {
        "start" => Event::Start { svc, host },
        "stop" => Event::Stop { svc, host },
        "stopfail" => Event::StopFail { svc, host },
        _ => return None,
    };
    Some(Timed { at, event })
}

/// A BMC's power log line (`cluster_tests::bmc`): `T power 0 (was 1)`, `T power 1 (was 0)`,
/// `T reset (was 1)`. A reset of a powered host is a power-off (and an on).
pub fn parse_power(host: &str, line: &str) -> Vec<Timed> {
    let mut w = line.split_whitespace();
    let Some(at) = w.next().and_then(|t| t.parse::<Time>().ok()) else {
        return Vec::new();
    };
    let rest: Vec<&str> = w.collect();
    let host = host.to_string();
    let off = Timed {
        at,
        event: Event::PowerOff { host: host.clone() },
    };
    let on = Timed {
        at,
        event: Event::PowerOn { host },
    };
    match rest.as_slice() {
        ["power", "0", "(was", "1)"] => vec![off],
        ["power", "1", "(was", "0)"] => vec![on],
        ["reset", "(was", "1)"] => vec![off, on],
        _ => Vec::new(),
    }
}

/// A partition the lab made: from `from` until `until` (open while it holds), hosts in
/// different groups cannot talk. A cable pulled is a partition of that host alone; so is a
/// host down or hung, for the fencing rule.
#[derive(Clone, Debug)]
pub struct Cut {
    pub from: Time,
    pub until: Option<Time>,
    pub groups: Vec<Vec<String>>,
    pub kind: CutKind,
    /// The host whose power-on ends the cut, if one does: a cable pulled (a fenced host boots
    /// with its cable in) or a host down or hung; not a partition in the switch or a lossy
    /// port, which outlive a reboot.
    pub reboot_ends: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutKind {
    /// The hosts live on, cut off (a partition, a cable): both quorum rules read it.
    Partition,
    /// A host down or hung: it starts nothing; the fencing rule reads it.
    Down,
    /// A host on a lossy link: who can talk to whom is anybody's guess (a membership may keep
    /// the lossy node and drop a healthy one, and fence it); neither rule can read it, and the
    /// fencing rule is not checked while it holds.
    Lossy,
}

/// A broken promise, with the time it was broken.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub at: Time,
    pub rule: &'static str,
    pub text: String,
}

/// The checker's memory across iterations: the open runs, and lines not yet old enough to be
/// checked (lines of two hosts may land in a file out of time order by a few microseconds).
#[derive(Debug, Default)]
pub struct History {
    /// (service, host) → when its run began.
    open: BTreeMap<(String, String), Time>,
    pending: Vec<Timed>,
}

impl History {
    pub fn feed(&mut self, events: impl IntoIterator<Item = Timed>) {
        self.pending.extend(events);
    }

    /// The services running by the markers: (service, host, since).
    pub fn open_runs(&self) -> Vec<(String, String, Time)> {
        self.open
            .iter()
            .map(|((s, h), t)| (s.clone(), h.clone(), *t))
            .collect()
    }

    /// Checks every pending event up to `upto`, in time order. `quorum(t)` is the quorum of
    /// the configuration at `t`, `configured(t, host)` whether the host was a configured node;
    /// `lab_offs` the power-offs the lab itself made through a BMC (host, when).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        upto: Time,
        cuts: &[Cut],
        grace: f64,
        lab_offs: &[(String, Time)],
        quorum: impl Fn(Time) -> usize,
        configured: impl Fn(Time, &str) -> bool,
        hosts: &[String],
    ) -> Vec<Finding> {
        self.pending
            .sort_by(|a, b| a.at.partial_cmp(&b.at).unwrap_or(std::cmp::Ordering::Equal));
        let split = self.pending.partition_point(|e| e.at <= upto);
        let now: Vec<Timed> = self.pending.drain(..split).collect();
        let mut found = Vec::new();
        for e in now {
            match e.event {
                Event::Start { svc, host } => {
                    for ((s, h), since) in &self.open {
                        if *s == svc && *h != host {
                            found.push(Finding {
                                at: e.at,
                                rule: "one runner, fenced first",
                                text: format!(
                                    "service:{svc} started on {host} at {} while its run on {h} \
                                     (started {}) was neither stopped nor ended by a BMC power-off",
                                    stamp(e.at),
                                    stamp(*since)
                                ),
                            });
                        }
                    }
                    if let Some(f) =
                        quorum_finding(&svc, &host, e.at, cuts, grace, &quorum, &configured)
                    {
                        found.push(f);
                    }
                    self.open.entry((svc, host)).or_insert(e.at);
                }
                Event::Stop { svc, host } => {
                    self.open.remove(&(svc, host));
                }
                Event::StopFail { .. } | Event::PowerOn { .. } => {}
                Event::PowerOff { host } => {
                    let ours = lab_offs
                        .iter()
                        .any(|(h, t)| *h == host && (e.at - t).abs() < 2.0);
                    if !ours {
                        found.extend(fence_finding(
                            &host,
                            e.at,
                            cuts,
                            grace,
                            &quorum,
                            &configured,
                            hosts,
                        ));
                    }
                    self.open.retain(|(_, h), _| *h != host)
                }
            }
        }
        found
    }
}

fn quorum_finding(
    svc: &str,
    host: &str,
    at: Time,
    cuts: &[Cut],
    grace: f64,
    quorum: &impl Fn(Time) -> usize,
    configured: &impl Fn(Time, &str) -> bool,
) -> Option<Finding> {
    for cut in cuts {
        if cut.kind != CutKind::Partition
            || at < cut.from + grace
            || cut.until.is_some_and(|u| at >= u)
        {
            continue;
        }
        let Some(group) = cut.groups.iter().find(|g| g.iter().any(|h| h == host)) else {
            continue;
        };
        let members = group.iter().filter(|h| configured(at, h)).count();
        let q = quorum(at);
        if members < q {
            return Some(Finding {
                at,
                rule: "quorum",
                text: format!(
                    "service:{svc} started on {host} at {} in a partition of {members} configured \
                     node(s) ({}) cut off at {}, quorum {q}",
                    stamp(at),
                    group.join(" "),
                    stamp(cut.from)
                ),
            });
        }
    }
    None
}

/// The fencing rule for a power-off of `victim` at `at` that the lab did not make. A cut is
/// certain from `grace` after it began until it ended; within `grace` of either end it may or
/// may not have been seen yet (a fence decided just before the cluster noticed a cut, or
/// just before a heal): the power-off is fine if some reading of those cuts explains it.
fn fence_finding(
    victim: &str,
    at: Time,
    cuts: &[Cut],
    grace: f64,
    quorum: &impl Fn(Time) -> usize,
    configured: &impl Fn(Time, &str) -> bool,
    hosts: &[String],
) -> Option<Finding> {
    let mut certain: Vec<&Cut> = Vec::new();
    let mut maybe: Vec<&Cut> = Vec::new();
    for c in cuts {
        let until = c.until.unwrap_or(f64::INFINITY);
        if at < c.from || at > until + grace {
            continue;
        }
        if c.kind == CutKind::Lossy {
            return None;
        }
        if at >= c.from + grace && at <= until {
            certain.push(c);
        } else {
            maybe.push(c);
        }
    }
    // Cuts are few at a time (two faults at most); a run's stale record cannot blow this up.
    maybe.truncate(8);
    let q = quorum(at);
    let mut shown = String::new();
    for mask in 0u32..1 << maybe.len() {
        let active: Vec<&Cut> = certain
            .iter()
            .copied()
            .chain(
                maybe
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, c)| *c),
            )
            .collect();
        if active.is_empty() {
            return None;
        }
        // Two hosts can talk when every active cut has them in the same group: a host's group
        // numbers across the cuts name its piece of the combined partition.
        let piece = |h: &str| -> Vec<usize> {
            active
                .iter()
                .map(|c| {
                    c.groups
                        .iter()
                        .position(|g| g.iter().any(|x| x == h))
                        .unwrap_or(usize::MAX)
                })
                .collect()
        };
        let mine = piece(victim);
        let mut pieces: Vec<(Vec<usize>, Vec<&str>)> = Vec::new();
        for h in hosts.iter().filter(|h| configured(at, h)) {
            let p = piece(h);
            match pieces.iter_mut().find(|(k, _)| *k == p) {
                Some((_, members)) => members.push(h),
                None => pieces.push((p, vec![h])),
            }
        }
        if pieces
            .iter()
            .any(|(k, members)| *k != mine && members.len() >= q)
        {
            return None;
        }
        if shown.is_empty() {
            shown = pieces
                .iter()
                .map(|(_, m)| format!("[{}]", m.join(" ")))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    if shown.is_empty() {
        return None;
    }
    Some(Finding {
        at,
        rule: "no fencing without quorum",
        text: format!(
            "{victim} was powered off at {} while no quorate group could have fenced it: \
             the hosts were split {shown} (quorum {q})",
            stamp(at),
        ),
    })
}

/// A unix time as `HH:MM:SS.mmm` UTC (the logs' times are compared by eye).
pub fn stamp(t: Time) -> String {
    let ms = (t * 1000.0).round() as u64;
    let day = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600_000,
        day / 60_000 % 60,
        day / 1000 % 60,
        day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(svc: &str, line: &str) -> Timed {
        parse_marker(svc, line).unwrap()
    }

    fn hosts() -> Vec<String> {
        ["node1", "node2", "node3"].map(String::from).to_vec()
    }

    fn run(events: Vec<Timed>, cuts: &[Cut]) -> Vec<Finding> {
        let mut h = History::default();
        h.feed(events);
        h.check(f64::MAX, cuts, 2.0, &[], |_| 2, |_, _| true, &hosts())
    }

    #[test]
    fn lines_are_read() {
        assert_eq!(
            m("web", "100.5 start node2"),
            Timed {
                at: 100.5,
                event: Event::Start {
                    svc: "web".into(),
                    host: "node2".into()
                }
            }
        );
        assert_eq!(parse_marker("web", "garbage"), None);
        assert_eq!(parse_power("node1", "7.25 power 0 (was 1)").len(), 1);
        assert_eq!(parse_power("node1", "7.25 power 0 (was 0)").len(), 0);
        assert_eq!(parse_power("node1", "7.25 reset (was 1)").len(), 2);
        assert_eq!(parse_power("node1", "7.25 reset (was 0)").len(), 0);
        assert_eq!(stamp(86_400.0 * 3.0 + 3_723.045_6), "01:02:03.046");
    }

    #[test]
    fn a_move_after_a_stop_or_a_power_off_is_fine() {
        let f = run(
            vec![
                m("web", "1 start node1"),
                m("web", "2 stop node1"),
                m("web", "3 start node2"),
                parse_power("node2", "4 power 0 (was 1)").remove(0),
                m("web", "5 start node3"),
                // Initial stops on hosts that never ran it.
                m("web", "6 stop node1"),
            ],
            &[],
        );
        assert_eq!(f, vec![]);
    }

    #[test]
    fn a_start_while_another_host_runs_is_found_in_any_line_order() {
        let f = run(
            vec![
                m("web", "3 start node2"),
                m("web", "1 start node1"),
                m("batch", "2 start node2"),
                parse_power("node3", "2.5 power 0 (was 1)").remove(0),
            ],
            &[],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "one runner, fenced first");
        assert!(f[0].text.contains("service:web started on node2"), "{f:?}");
        assert!(f[0].text.contains("run on node1"), "{f:?}");
    }

    #[test]
    fn a_failed_stop_keeps_the_run_open() {
        let f = run(
            vec![
                m("web", "1 start node1"),
                m("web", "2 stopfail node1"),
                m("web", "3 start node2"),
            ],
            &[],
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn pending_lines_wait_until_they_are_old_enough() {
        let mut h = History::default();
        h.feed(vec![m("web", "1 start node1"), m("web", "5 start node2")]);
        assert_eq!(
            h.check(2.0, &[], 2.0, &[], |_| 2, |_, _| true, &hosts()),
            vec![]
        );
        assert_eq!(h.open_runs().len(), 1);
        h.feed(vec![m("web", "3 stop node1")]);
        assert_eq!(
            h.check(10.0, &[], 2.0, &[], |_| 2, |_, _| true, &hosts()),
            vec![]
        );
        assert_eq!(h.open_runs(), vec![("web".into(), "node2".into(), 5.0)]);
    }

    #[test]
    fn starts_in_a_minority_after_the_grace_are_found() {
        let cut = Cut {
            from: 10.0,
            until: Some(30.0),
            groups: vec![vec!["node1".into()], vec!["node2".into(), "node3".into()]],
            kind: CutKind::Partition,
            reboot_ends: None,
        };
        let f = run(
            vec![
                m("web", "11 start node1"), // within the grace: an order from before the cut
                m("web", "11.5 stop node1"),
                m("batch", "13 start node1"),
                m("batch", "13.5 stop node1"),
                m("web", "20 start node2"), // the majority: fine
                m("web", "21 stop node2"),
                m("web", "31 start node1"), // healed
            ],
            &[cut],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "quorum");
        assert!(
            f[0].text.contains("service:batch started on node1"),
            "{f:?}"
        );
    }

    fn cut(from: Time, until: Time, groups: &[&[&str]], kind: CutKind) -> Cut {
        Cut {
            from,
            until: Some(until),
            groups: groups
                .iter()
                .map(|g| g.iter().map(|h| h.to_string()).collect())
                .collect(),
            kind,
            reboot_ends: None,
        }
    }

    fn off(host: &str, at: &str) -> Timed {
        parse_power(host, &format!("{at} power 0 (was 1)")).remove(0)
    }

    #[test]
    fn only_a_quorate_group_fences() {
        let minority = cut(
            10.0,
            30.0,
            &[&["node1"], &["node2", "node3"]],
            CutKind::Partition,
        );
        // The majority fences the cut-off node: fine; the minority fencing a majority node,
        // or anyone fencing within the grace after the heal from the minority: not.
        let f = run(vec![off("node1", "12")], std::slice::from_ref(&minority));
        assert_eq!(f, vec![]);
        // Within the grace of either end the cut may not have been seen yet: not checked.
        let f = run(
            vec![off("node2", "11"), off("node3", "31")],
            std::slice::from_ref(&minority),
        );
        assert_eq!(f, vec![]);
        let f = run(
            vec![off("node2", "12"), off("node3", "29")],
            std::slice::from_ref(&minority),
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].rule, "no fencing without quorum");
        assert!(f[0].text.contains("[node1] [node2 node3]"), "{f:?}");
        // Outside every cut (after the grace): not checked.
        assert_eq!(run(vec![off("node2", "40")], &[minority]), vec![]);
        // A host down and another cut off at once (3 nodes, quorum 2): node3 alone is not
        // quorate, so nobody may be fenced; the lab's own power-off is not a fence.
        let two = [
            cut(
                10.0,
                30.0,
                &[&["node1"], &["node2", "node3"]],
                CutKind::Down,
            ),
            cut(
                11.0,
                30.0,
                &[&["node2"], &["node1", "node3"]],
                CutKind::Partition,
            ),
        ];
        let mut h = History::default();
        h.feed(vec![off("node1", "12"), off("node2", "14")]);
        let f = h.check(
            f64::MAX,
            &two,
            2.0,
            &[("node1".to_string(), 11.9)],
            |_| 2,
            |_, _| true,
            &hosts(),
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].text.starts_with("node2 was powered off"), "{f:?}");
        // A lossy link: a quorate membership may drop and fence a healthy node.
        let lossy = cut(
            10.0,
            30.0,
            &[&["node1"], &["node2", "node3"]],
            CutKind::Lossy,
        );
        assert_eq!(run(vec![off("node2", "20")], &[lossy]), vec![]);
    }
}
