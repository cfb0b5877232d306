//! The faults of the lab and how one is picked: from the seed and the step number alone (the
//! step's own random stream), so that a step can be replayed on a fresh cluster
//! (`cts 1 --seed S --first K`) and a whole run again with the same seed. A fault names its
//! targets by role ("the node running web", "the second node that does not"), resolved against
//! the cluster when it is applied: every iteration ends with the cluster back in its starting
//! state, so the same roles name the same hosts.

use rgmanager::sim::rng::Rng;

/// A node, by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// The node running this service.
    Owner(&'static str),
    /// One of the configured nodes that do not run this service (the pick modulo their number).
    Other(&'static str, u64),
}

/// How a partition is drawn, by where the web service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The web service's node is in a minority cut off from the rest: the majority fences the
    /// minority and takes the service over.
    OwnerInMinority,
    /// The web service's node is in the majority: the minority is cut off and fenced, nothing
    /// of the majority moves.
    OwnerInMajority,
    /// Two halves (an even number of nodes): neither is quorate, everything stops until the
    /// partition heals.
    Even,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The node's BMC powers it off (a crash; the cluster's fencing finds it off and powers it
    /// on again).
    CrashBmc(Who),
    /// Every process of the host killed (SIGKILL), link down, addresses gone, behind the BMC's
    /// back: the BMC still says on, the cluster must fence it.
    CrashKill(Who),
    /// Every process of the host stopped (SIGSTOP) for `tenths` tenths of a token, then
    /// continued (SIGCONT), unless the cluster fenced it meanwhile.
    Hang { who: Who, tenths: u64 },
    /// The host's cable pulled for `ms`, then plugged back.
    Cable { who: Who, ms: u64 },
    /// A bad link, for `ms`: `loss` percent of the host's frames dropped at random both ways
    /// (nftables `numgen random` on its switch port), and its traffic both ways delayed by
    /// `delay` ms, jitter a quarter of it (`tc netem` on its interface and its switch port;
    /// loss only on a kernel without `sch_netem`, said in the step's line).
    Lossy {
        who: Who,
        loss: u64,
        delay: u64,
        ms: u64,
    },
    /// A partition drawn by `how`, in the switch (nftables), for `ms`. `size` picks the size of
    /// the smaller side (modulo the sizes possible).
    Partition { how: Split, size: u64, ms: u64 },
    /// The node's BMC unreachable (nftables in the switch), then the node fails (its cable
    /// pulled, or killed); after `ms` the BMC answers again: fencing fails, then works.
    BmcFails { who: Who, cable: bool, ms: u64 },
    /// The service's process killed: the status check finds it dead.
    ServiceDies(&'static str),
    /// The service's status check fails on its node for `ms` while the process lives.
    StatusFails { svc: &'static str, ms: u64 },
    /// The service's stop fails on its node; the administrator relocates it: it is `failed`
    /// there until the lab, as the administrator, disables and enables it.
    StopFails(&'static str),
    /// SIGTERM to the node's daemon, and once it has exited, its start again.
    DaemonRestart(Who),
    /// `ccs_sync` of a version with service `extra` added; undone by a version without it.
    ConfigService,
    /// `ccs_sync` of a version where web's domain prefers another node; undone by the original.
    ConfigDomain,
    /// `ccs_sync` of a version with the spare node added (and first in batch's domain), the
    /// spare booted; undone by a version without it (its daemon leaves and exits).
    ConfigNode,
    /// `clusvcadm -r` of the service (`-m` the picked other node, or the best one); undone by
    /// relocating it home.
    Relocate { svc: &'static str, to: Option<u64> },
    /// `clusvcadm -d` for `ms`, then `-e -F`.
    Disable { svc: &'static str, ms: u64 },
    /// `clusvcadm -Z` for `ms`, then `-U`.
    Freeze { svc: &'static str, ms: u64 },
    /// Two faults at once (on different nodes).
    Double(Box<Fault>, Box<Fault>),
    /// Every configured node's daemon restarted in turn, each back before the next.
    RollingRestart,
    /// Not in the random mix: the VIP added by hand on a node that does not run web, for a
    /// moment. The observer must report it (tests of the lab itself).
    SabotageVip,
    /// Not in the random mix: web's script started by hand on a second node, then stopped.
    SabotageStart,
}

/// Every kind, as the reports and `--faults` name them.
pub const KINDS: [&str; 23] = [
    "crash-bmc",
    "crash-kill",
    "hang",
    "cable",
    "lossy",
    "split-minority",
    "split-majority",
    "split-even",
    "bmc-fails",
    "service-dies",
    "status-fails",
    "stop-fails",
    "daemon-restart",
    "config-service",
    "config-domain",
    "config-node",
    "relocate",
    "disable",
    "freeze",
    "double",
    "rolling-restart",
    "sabotage-vip",
    "sabotage-start",
];

/// The random mix: (kind, weight). Crashes and partitions weigh most: they are what fencing
/// and quorum are for.
const MIX: [(&str, u64); 21] = [
    ("crash-bmc", 8),
    ("crash-kill", 8),
    ("hang", 6),
    ("cable", 6),
    ("lossy", 4),
    ("split-minority", 5),
    ("split-majority", 4),
    ("split-even", 3),
    ("bmc-fails", 5),
    ("service-dies", 5),
    ("status-fails", 4),
    ("stop-fails", 3),
    ("daemon-restart", 5),
    ("config-service", 3),
    ("config-domain", 3),
    ("config-node", 3),
    ("relocate", 4),
    ("disable", 3),
    ("freeze", 3),
    ("double", 6),
    ("rolling-restart", 2),
];

/// What may be one of two faults at once: nothing that partitions (the quorum check reads one
/// partition at a time), restarts everything, or changes the node set.
const DOUBLE: [&str; 13] = [
    "crash-bmc",
    "crash-kill",
    "hang",
    "cable",
    "lossy",
    "bmc-fails",
    "service-dies",
    "status-fails",
    "daemon-restart",
    "config-service",
    "config-domain",
    "relocate",
    "freeze",
];

/// The random stream of step `step` of run `seed`: independent of every other step's.
pub fn step_rng(seed: u64, step: u64) -> Rng {
    let a = Rng::new(seed).next_u64();
    let b = Rng::new(step ^ 0x5DEE_CE66_D1CE_4E5B).next_u64();
    Rng::new(a ^ b.rotate_left(17))
}

fn svc(r: &mut Rng) -> &'static str {
    if r.chance(0.6) {
        "web"
    } else {
        "batch"
    }
}

fn who(r: &mut Rng) -> Who {
    match r.range(0, 4) {
        0 | 1 => Who::Owner("web"),
        2 => Who::Owner("batch"),
        _ => Who::Other("web", r.next_u64()),
    }
}

impl Fault {
    /// The fault of one kind, its parameters drawn from `r`.
    pub fn of_kind(kind: &str, nodes: usize, r: &mut Rng) -> Option<Fault> {
        Some(match kind {
            "crash-bmc" => Fault::CrashBmc(who(r)),
            "crash-kill" => Fault::CrashKill(who(r)),
            "hang" => Fault::Hang {
                who: who(r),
                tenths: r.range(15, 41),
            },
            "cable" => Fault::Cable {
                who: who(r),
                ms: r.range(1_000, 8_000),
            },
            "lossy" => Fault::Lossy {
                who: who(r),
                loss: r.range(0, 41),
                delay: r.range(5, 301),
                ms: r.range(3_000, 10_000),
            },
            "split-minority" => Fault::Partition {
                how: Split::OwnerInMinority,
                size: r.next_u64(),
                ms: r.range(4_000, 12_000),
            },
            "split-majority" => Fault::Partition {
                how: Split::OwnerInMajority,
                size: r.next_u64(),
                ms: r.range(4_000, 12_000),
            },
            "split-even" if nodes.is_multiple_of(2) => Fault::Partition {
                how: Split::Even,
                size: 0,
                ms: r.range(3_000, 8_000),
            },
            "split-even" => return None,
            "bmc-fails" => Fault::BmcFails {
                who: who(r),
                cable: r.chance(0.5),
                ms: r.range(6_000, 16_000),
            },
            "service-dies" => Fault::ServiceDies(svc(r)),
            "status-fails" => Fault::StatusFails {
                svc: svc(r),
                ms: r.range(2_000, 8_000),
            },
            "stop-fails" => Fault::StopFails(svc(r)),
            "daemon-restart" => Fault::DaemonRestart(who(r)),
            "config-service" => Fault::ConfigService,
            "config-domain" => Fault::ConfigDomain,
            "config-node" => Fault::ConfigNode,
            "relocate" => Fault::Relocate {
                svc: svc(r),
                to: r.chance(0.5).then(|| r.next_u64()),
            },
            "disable" => Fault::Disable {
                svc: svc(r),
                ms: r.range(1_000, 5_000),
            },
            "freeze" => Fault::Freeze {
                svc: svc(r),
                ms: r.range(1_000, 6_000),
            },
            "double" => {
                let a = *r.pick(&DOUBLE);
                let rest: Vec<&str> = DOUBLE.iter().copied().filter(|k| *k != a).collect();
                // At most one configuration push at a time.
                let rest: Vec<&str> = if a.starts_with("config") {
                    rest.into_iter()
                        .filter(|k| !k.starts_with("config"))
                        .collect()
                } else {
                    rest
                };
                let b = *r.pick(&rest);
                Fault::Double(
                    Box::new(Fault::of_kind(a, nodes, r)?),
                    Box::new(Fault::of_kind(b, nodes, r)?),
                )
            }
            "rolling-restart" => Fault::RollingRestart,
            "sabotage-vip" => Fault::SabotageVip,
            "sabotage-start" => Fault::SabotageStart,
            _ => return None,
        })
    }

    /// The fault of step `step`: a kind drawn from the mix (restricted to `only` when given),
    /// then its parameters.
    pub fn pick(seed: u64, step: u64, nodes: usize, only: &[String]) -> Option<Fault> {
        let mut r = step_rng(seed, step);
        let mix: Vec<(&str, u64)> = if only.is_empty() {
            MIX.to_vec()
        } else {
            only.iter()
                .filter_map(|k| {
                    let w = MIX.iter().find(|(m, _)| m == k).map_or(1, |(_, w)| *w);
                    KINDS.iter().find(|x| *x == k).map(|x| (*x, w))
                })
                .collect()
        };
        let mix: Vec<(&str, u64)> = mix
            .into_iter()
            .filter(|(k, _)| *k != "split-even" || nodes.is_multiple_of(2))
            .collect();
        let total: u64 = mix.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let mut x = r.range(0, total);
        for (k, w) in &mix {
            if x < *w {
                return Fault::of_kind(k, nodes, &mut r);
            }
            x -= w;
        }
        None
    }

    /// Its kind, as in [`KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::CrashBmc(_) => "crash-bmc",
            Fault::CrashKill(_) => "crash-kill",
            Fault::Hang { .. } => "hang",
            Fault::Cable { .. } => "cable",
            Fault::Lossy { .. } => "lossy",
            Fault::Partition { how, .. } => match how {
                Split::OwnerInMinority => "split-minority",
                Split::OwnerInMajority => "split-majority",
                Split::Even => "split-even",
            },
            Fault::BmcFails { .. } => "bmc-fails",
            Fault::ServiceDies(_) => "service-dies",
            Fault::StatusFails { .. } => "status-fails",
            Fault::StopFails(_) => "stop-fails",
            Fault::DaemonRestart(_) => "daemon-restart",
            Fault::ConfigService => "config-service",
            Fault::ConfigDomain => "config-domain",
            Fault::ConfigNode => "config-node",
            Fault::Relocate { .. } => "relocate",
            Fault::Disable { .. } => "disable",
            Fault::Freeze { .. } => "freeze",
            Fault::Double(..) => "double",
            Fault::RollingRestart => "rolling-restart",
            Fault::SabotageVip => "sabotage-vip",
            Fault::SabotageStart => "sabotage-start",
        }
    }

    /// Whether it is two faults at once.
    pub fn is_double(&self) -> bool {
        matches!(self, Fault::Double(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_the_same_fault_whatever_came_before() {
        for step in 1..200 {
            assert_eq!(
                Fault::pick(7, step, 4, &[]),
                Fault::pick(7, step, 4, &[]),
                "step {step}"
            );
        }
        let a: Vec<_> = (1..50).map(|s| Fault::pick(7, s, 4, &[])).collect();
        let b: Vec<_> = (1..50).map(|s| Fault::pick(8, s, 4, &[])).collect();
        assert_ne!(a, b, "another seed, other faults");
    }

    #[test]
    fn the_mix_has_every_kind_and_honours_the_restriction() {
        let mut seen = std::collections::BTreeSet::new();
        for step in 1..2_000 {
            let f = Fault::pick(1, step, 4, &[]).expect("a fault");
            seen.insert(f.kind());
            if let Fault::Double(a, b) = &f {
                assert!(!a.is_double() && !b.is_double());
                assert_ne!(a.kind(), b.kind());
                assert!(!(a.kind().starts_with("config") && b.kind().starts_with("config")));
            }
        }
        assert_eq!(seen.len(), MIX.len(), "{seen:?}");
        for step in 1..500 {
            let k = Fault::pick(1, step, 3, &[]).unwrap().kind();
            assert_ne!(k, "split-even", "three nodes cannot split evenly");
        }
        let only = vec!["hang".to_string(), "sabotage-vip".to_string()];
        for step in 1..100 {
            let k = Fault::pick(3, step, 3, &only).unwrap().kind();
            assert!(k == "hang" || k == "sabotage-vip", "{k}");
        }
        for k in KINDS {
            let f = Fault::of_kind(k, 4, &mut Rng::new(5)).unwrap();
            assert_eq!(f.kind(), k);
        }
    }
}
