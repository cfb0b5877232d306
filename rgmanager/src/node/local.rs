//! This node's own services: the agent operations it runs (ordered by the coordinator, or its
//! own: a reload's restarts, quorum loss, shutdown), what runs here, and the shutdown.

use std::collections::BTreeSet;
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
    /// Services whose stop was asked for by the shutdown.
    pub stopped: BTreeSet<String>,
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

    fn run_job_as(&mut self, service: String, op: Op, order: Option<OrderKey>, restart: bool) {
        let job = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            job,
            Job {
                service: service.clone(),
                op,
                order,
                restart,
            },
        );
        self.out
            .push_back(Output::Agent(AgentCmd::Run { job, service, op }));
    }

    /// An agent operation finished.
    pub(super) fn job_done(&mut self, _now: Instant, job: u64, ok: bool) {
        let Some(j) = self.jobs.remove(&job) else {
            return;
        };
        match (j.op, ok) {
            (Op::Convalesce, _) => {}
            (Op::Stop, _) if j.restart => {}
            (Op::Start, true) => {
                self.running.insert(j.service.clone());
            }
            (Op::Stop, true) | (Op::Start, false) => {
                self.running.remove(&j.service);
            }
            (Op::Stop, false) => {}
        }
        if let Some(key) = j.order {
            self.executed
                .insert(key, Some((j.service.clone(), j.op, ok)));
            // Old answers are only kept for repeated orders; a bounded memory is enough.
            if self.executed.len() > 4096 {
                self.executed.retain(|_, v| v.is_none());
            }
            let msg = Msg::Done {
                id: key.2,
                service: j.service,
                op: j.op,
                ok,
            };
            self.send(key.0, msg);
        }
        self.report();
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
    }

    /// Carries a shutdown on: operations already given to the agents finish first; whatever
    /// runs then is stopped, once; when nothing is left, the goodbye.
    pub(super) fn shutdown_step(&mut self, now: Instant) {
        let Some(sd) = self.shutdown.as_ref() else {
            return;
        };
        if self.done || !self.jobs.is_empty() {
            return;
        }
        let todo: Vec<String> = self
            .running_in_reverse()
            .into_iter()
            .filter(|s| !sd.stopped.contains(s))
            .collect();
        if !todo.is_empty() {
            for s in todo {
                if let Some(sd) = self.shutdown.as_mut() {
                    sd.stopped.insert(s.clone());
                }
                self.run_job(s, Op::Stop, None);
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
