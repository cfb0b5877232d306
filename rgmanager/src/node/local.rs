//! This node's own services: the agent operations it runs (ordered by the coordinator, or its
//! own: a reload's restarts, quorum loss, shutdown), what runs here, and the shutdown.

use std::time::Instant;

use super::wire::{Msg, Op};
use super::{AgentCmd, Node, OrderKey, Output};

/// An agent operation in flight.
#[derive(Clone, Debug)]
pub(super) struct Job {
    pub service: String,
    pub op: Op,
    /// The coordinator's order it carries out; `None` for the node's own.
    pub order: Option<OrderKey>,
    /// Half of a reload's restart of a changed service: the service stays running here
    /// for everyone else meanwhile (a report must not make it look failed).
    pub restart: bool,
}

/// A shutdown in progress: SIGTERM, or this node removed from the configuration.
#[derive(Clone, Debug, Default)]
pub(super) struct Shutdown {
    /// Said once: a failed stop holds the shutdown back.
    pub held_back: bool,
}

impl Node {
    /// Hands an operation to the agents.
    pub(super) fn run_job(&mut self, service: String, op: Op, order: Option<OrderKey>) {
        self.run_job_as(service, op, order, false);
    }

    /// A reload's restart of a changed service, with its old trees.
    pub(super) fn run_restart_stop(&mut self, service: String) {
        self.run_job_as(service, Op::Stop, None, true);
    }

    /// The second half: started with the new trees.
    pub(super) fn run_restart_start(&mut self, service: String) {
        self.run_job_as(service, Op::Start, None, true);
    }

    fn run_job_as(
        &mut self,
        service: String,
        op: Op,
        order: Option<OrderKey>,
        restart: bool,
    ) -> u64 {
        let job = self.next_job;
        self.next_job += 1;
        tracing::debug!("agent job {job}: {op:?} {service}");
        self.jobs.insert(
            job,
            Job {
                service: service.clone(),
                op,
                order,
                restart,
            },
        );
        self.count_job_start(job);
        self.out
            .push_back(Output::Agent(AgentCmd::Run { job, service, op }));
        job
    }

    /// An agent operation finished.
    pub(super) fn job_done(&mut self, _now: Instant, job: u64, ok: bool) {
        let Some(j) = self.jobs.remove(&job) else {
            return;
        };
        self.count_job_done(job, &j.service, j.op, ok);
        match (j.op, ok) {
            (Op::Convalesce, _) => {}
            (Op::Stop, true) if j.restart => {
                // The first half of a reload's restart. The second is decided now, not when
                // the reload queued the stop: an order of the coordinator may have stopped or
                // moved the service meanwhile, and quorum may be gone.
                // An order for the service queued meanwhile (a stop, a relocation) decides
                // instead: the restart would run after it.
                let still_ours = self.running.contains(&j.service)
                    && !self.jobs.values().any(|o| o.service == j.service);
                if still_ours && self.quorum.is_quorate() && self.shutdown.is_none() {
                    self.run_restart_start(j.service.clone());
                } else {
                    self.running.remove(&j.service);
                }
            }
            (Op::Start, true) => {
                self.running.insert(j.service.clone());
                self.failed_stops.remove(&j.service);
            }
            (Op::Stop, true) | (Op::Start, false) => {
                self.running.remove(&j.service);
                self.failed_stops.remove(&j.service);
            }
            (Op::Stop, false) => {
                // Its resources may still be up: it stays here, failed, until a stop works.
                self.failed_stops.insert(j.service.clone());
            }
        }
        if self.initializing.remove(&job) && self.initializing.is_empty() {
            tracing::info!("Services Initialized");
        }
        if let Some(key) = j.order {
            self.executed
                .insert(key, Some((j.service.clone(), j.op, ok)));
            // Old answers are only kept for repeated orders; a bounded memory is enough.
            if self.executed.len() > 4096 {
                self.executed.retain(|_, v| v.is_none());
            }
            // The answer goes to the run that gave the order only: a later run of that node
            // numbers its orders afresh, and would take it for the answer to its own order of
            // the same id (seed 155060).
            let (coordinator, run, id) = key;
            let same_run = if coordinator == self.local {
                run == self.incarnation
            } else {
                self.membership.peer_incarnation(coordinator) == Some(run)
            };
            if same_run {
                let msg = Msg::Done {
                    id,
                    service: j.service,
                    op: j.op,
                    ok,
                };
                self.send(coordinator, msg);
            } else {
                tracing::debug!(
                    "order {id} of an earlier run of node {coordinator} done: not answered"
                );
            }
        }
        self.report();
    }

    /// At start-up: every service is stopped here first, in reverse order, so that nothing a
    /// previous run left up runs unknown to the cluster. Until each stop is done the service
    /// counts as held here (reports say so); a stop that fails leaves it failed here.
    pub(super) fn initial_stop(&mut self) {
        tracing::info!("Initializing Services");
        let all: Vec<String> = self.order.iter().rev().cloned().collect();
        for s in all {
            let job = self.run_job_as(s, Op::Stop, None, false);
            self.initializing.insert(job);
        }
    }

    /// Every few seconds: a stop that failed here for a service this node does not hold
    /// as `failed` (an initial stop, a service that runs elsewhere) is tried again, so that a
    /// passing failure does not keep the node from leaving for ever. A service the table has
    /// `failed` here waits for the administrator's `clusvcadm -d`, as in RHCS.
    pub(super) fn retry_failed_stops(&mut self) {
        let retry: Vec<String> = self
            .failed_stops
            .iter()
            .filter(|s| !self.jobs.values().any(|j| &j.service == *s))
            .filter(|s| {
                !self.coord.view.service(s).is_some_and(|st| {
                    st.state == crate::policy::State::Failed && st.last_owner == Some(self.local)
                })
            })
            .cloned()
            .collect();
        for s in retry {
            tracing::info!("Stopping {s} again: its last stop here failed");
            self.run_job(s, Op::Stop, None);
        }
    }

    /// What this node may have up: the services running here and those being started. A
    /// report says all of them, so that a new coordinator never counts a start in progress as
    /// nothing.
    pub(super) fn held_here(&self) -> std::collections::BTreeSet<String> {
        let mut held = self.running.clone();
        for j in self.jobs.values() {
            if j.op == Op::Start {
                held.insert(j.service.clone());
            }
        }
        held
    }

    /// Stops every local service, in reverse cluster.conf order (each tree stops in reverse
    /// order too), without asking anybody: there is no quorum to ask.
    pub(super) fn stop_local_services(&mut self) {
        let services = self.running_in_reverse();
        if !services.is_empty() {
            tracing::warn!("Quorum lost: stopping the local services {services:?}");
        }
        for service in services {
            self.run_job(service, Op::Stop, None);
        }
    }

    /// The services running here, last configured first.
    fn running_in_reverse(&self) -> Vec<String> {
        self.order
            .iter()
            .rev()
            .filter(|s| self.running.contains(*s))
            .cloned()
            .collect()
    }

    /// SIGTERM, or this node's removal from the configuration: the local services stop, then
    /// the node leaves the cluster with a goodbye.
    pub(super) fn begin_shutdown(&mut self, why: &str) {
        if self.shutdown.is_some() {
            return;
        }
        tracing::info!("{why}");
        self.shutdown = Some(Shutdown::default());
        // The coordinator learns at once that nothing is to be placed here.
        self.report();
    }

    /// Carries a shutdown on: operations already given to the agents finish first; whatever
    /// runs then is stopped, once; when nothing is left, the goodbye.
    pub(super) fn shutdown_step(&mut self, now: Instant) {
        if self.engine_lost && !self.done && self.jobs.is_empty() && self.running.is_empty() {
            // Corosync went away and quorum with it: the services here are stopped (a failed
            // stop keeps the daemon, and the service, here). No goodbye can be said; systemd
            // starts the daemon again, and it joins once corosync is back.
            tracing::error!("corosync is gone and no service runs here: exiting");
            self.done = true;
            self.out.push_back(Output::Exit { clean: false });
            return;
        }
        if self.shutdown.is_none() || self.done || !self.jobs.is_empty() {
            return;
        }
        // Whatever runs now is stopped (a start that finished meanwhile included); a service
        // whose stop failed is not tried again by the shutdown.
        let todo: Vec<String> = self
            .running_in_reverse()
            .into_iter()
            .filter(|s| !self.failed_stops.contains(s))
            .collect();
        if !todo.is_empty() {
            for s in todo {
                self.run_job(s, Op::Stop, None);
            }
            return;
        }
        // A service whose stop failed keeps this node in the cluster: it stays `failed` here
        // until an administrator's disable stops it (or the node is fenced). Leaving cleanly
        // would let the others start it while its resources may still be up.
        if !self.failed_stops.is_empty() {
            if let Some(sd) = self.shutdown.as_mut() {
                if !sd.held_back {
                    sd.held_back = true;
                    let list: Vec<&String> = self.failed_stops.iter().collect();
                    tracing::error!(
                        "Not leaving the cluster: {list:?} failed to stop and may still hold \
                         their resources; they stay failed on this node until they are \
                         disabled (clusvcadm -d) or this node is fenced"
                    );
                }
            }
            return;
        }
        // A ccs_sync run from this node gets its answers first (a push that removed it).
        if self.sync.run_pending() {
            return;
        }
        self.membership.leave(now);
        self.pump_membership(now);
        tracing::info!("Shutdown complete, exiting");
        self.done = true;
        self.out.push_back(Output::Exit { clean: true });
    }
}
