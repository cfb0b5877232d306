//! What membership, quorum, the other daemons and the administrator change for the lost
//! nodes, and what a fenced node changes for the policy. The decisions about whom to fence
//! are [`super::fencing::Victims`]'; the fence runs are the owner's ([`super::FenceCmd`]).
//!
//! Every failure has an epoch: the incarnation of the run that failed, as the membership saw
//! it when it joined. Fencing news names it, so that news of one failure (a late "node X
//! fenced") never settles the next one.

use super::fencing::VictimState;
use super::wire::{FenceNews, Fenced, LostNode, Msg};
use super::{FenceCmd, Node, Output};
use crate::admin::Response;
use crate::policy::{Event, Holds, NodeId, State};

/// A fence run this node started.
#[derive(Clone, Copy, Debug)]
pub(super) struct Run {
    pub node: NodeId,
    pub epoch: u64,
    /// Cancelled: its end is not news, but a success still is a fact.
    pub cancelled: bool,
}

impl Node {
    /// A member (re)joined: its run is remembered (the epoch of a later failure); it is not a
    /// victim any more, and a run fencing it stops ("averting fence").
    pub(super) fn fence_joined(&mut self, node: NodeId) {
        let inc = self.membership.peer_incarnation(node).unwrap_or(0);
        self.member_inc.insert(node, inc);
        if self.victims.joined(node) {
            tracing::info!("fence {} averted: it is a member again", self.name_of(node));
        }
        self.fence_cancel(node);
    }

    /// A member left the view without a goodbye: its run failed and is to be fenced.
    pub(super) fn fence_lost(&mut self, node: NodeId) {
        self.count_node_failed(node);
        let epoch = self.member_inc.remove(&node).unwrap_or(0);
        self.victims.lost(node, epoch);
        self.keep_in_policy(node);
    }

    fn fence_cancel(&mut self, node: NodeId) {
        let mut any = false;
        for r in self.fence_runs.values_mut() {
            if r.node == node && !r.cancelled {
                r.cancelled = true;
                any = true;
            }
        }
        if any {
            self.out.push_back(Output::Fence(FenceCmd::Cancel { node }));
        }
    }

    /// After a view change: a node that no longer coordinates stops its fence runs; one that
    /// lost quorum stops its local services (an inquorate partition runs nothing and fences
    /// nothing); a coordinator of a quorate partition starts fencing. The members hear of the
    /// lost nodes now (and in every report).
    pub(super) fn fence_view(&mut self, quorum_lost: bool) {
        if !self.coordinating {
            self.fence_stand_down();
        }
        if quorum_lost {
            self.stop_local_services();
        }
        self.fence_start();
        self.tell_fenced();
    }

    /// This node no longer coordinates: its runs stop, and the nodes they fenced are lost
    /// again, for the next coordinator.
    pub(super) fn fence_stand_down(&mut self) {
        for n in self.victims.stand_down() {
            self.fence_cancel(n);
        }
    }

    /// Starts a fence run for each lost node nobody here fences yet, when this node
    /// coordinates a quorate partition.
    pub(super) fn fence_start(&mut self) {
        let coordinating = self.coordinating && self.quorum.is_quorate();
        for (node, epoch) in self.victims.due(coordinating) {
            let run = self.next_fence_run;
            self.next_fence_run += 1;
            self.fence_runs.insert(
                run,
                Run {
                    node,
                    epoch,
                    cancelled: false,
                },
            );
            self.count_fence_start(run, node);
            let name = self.name_of(node);
            self.out
                .push_back(Output::Fence(FenceCmd::Start { run, node, name }));
        }
    }

    /// Each second: fence what is due, and tell the members which nodes are lost or fenced.
    pub(super) fn fence_periodic(&mut self) {
        self.fence_start();
        self.tell_fenced();
    }

    /// What this node knows of the failed nodes, with the services the table has on the lost
    /// ones.
    pub(super) fn fence_news(&self) -> FenceNews {
        let records = self.coord.records();
        let lost = self
            .victims
            .lost_nodes()
            .into_iter()
            .map(|(node, epoch)| LostNode {
                node,
                epoch,
                services: records
                    .iter()
                    .filter(|r| r.owner == Some(node) && r.state.holds())
                    .map(|r| r.name.clone())
                    .collect(),
            })
            .collect();
        let fenced = self
            .victims
            .fenced_nodes()
            .into_iter()
            .map(|(node, epoch)| Fenced { node, epoch })
            .collect();
        FenceNews { lost, fenced }
    }

    fn tell_fenced(&mut self) {
        let news = self.fence_news();
        if news.is_empty() {
            return;
        }
        let Some(v) = self.view.clone() else { return };
        let local = self.local;
        for m in v.members.iter().filter(|m| **m != local) {
            self.send(*m, Msg::Victims(news.clone()));
        }
    }

    /// `node` is fenced after its failure of `epoch`: the policy hears of it once (the
    /// coordinator takes its services over).
    fn node_fenced(&mut self, node: NodeId, epoch: u64) {
        if self.view.as_ref().is_some_and(|v| v.contains(node)) {
            return;
        }
        if self.victims.fenced(node, epoch) {
            tracing::debug!("node {node} fenced (failure epoch {epoch}): its services may move");
            self.count_node_fenced(node);
            self.fence_cancel(node);
            self.policy_event(Event::NodeFenced(node));
            self.tell_fenced();
        }
    }

    /// Another daemon's fencing news (its `Victims` message, or its report). A lost node this
    /// node did not see fail (it started later) is lost here too, and the services it held are
    /// recorded as still running there unless the table has them elsewhere: should this node
    /// coordinate, it fences that node before anything of it moves.
    pub(super) fn victims_heard(&mut self, news: FenceNews) {
        for l in news.lost {
            if self.view.as_ref().is_some_and(|v| v.contains(l.node))
                || self.left_clean.get(&l.node) == Some(&l.epoch)
            {
                continue;
            }
            if self.victims.heard_lost(l.node, l.epoch) {
                tracing::info!("{} failed before this node joined", self.name_of(l.node));
                self.keep_in_policy(l.node);
                self.policy_event(Event::NodeLeft {
                    node: l.node,
                    clean: false,
                });
                if self.coordinating && self.takeover.is_none() {
                    // A failure older than this coordinator's table: what the node ran then
                    // is unknown here.
                    let running = self.running_on_members();
                    self.coord.suspect_lost(&running);
                }
            }
            if self.victims.state(l.node) == Some(VictimState::Fenced)
                || self.victims.epoch(l.node) != Some(l.epoch)
            {
                continue;
            }
            for s in &l.services {
                if self.coord.busy(s) {
                    continue;
                }
                if let Some(st) = self.coord.view.service_mut(s) {
                    if st.owner.is_none() || !st.state.holds() {
                        st.owner = Some(l.node);
                        st.state = State::Started;
                    }
                }
            }
        }
        for f in news.fenced {
            self.node_fenced(f.node, f.epoch);
        }
    }

    /// A fence run ended.
    pub(super) fn fence_done(&mut self, run: u64, node: NodeId, fenced: bool) {
        let Some(r) = self.fence_runs.remove(&run) else {
            return;
        };
        if r.node != node {
            return;
        }
        self.count_fence_end(run, node, fenced);
        if fenced {
            // A success is a fact, whichever run it came from.
            self.node_fenced(node, r.epoch);
        } else if !r.cancelled {
            self.victims.worker_ended(node);
        }
    }

    /// `fence_ack_manual NODE`: refused for a member; a lost node is taken as fenced.
    pub(super) fn fence_ack(&mut self, name: &str) -> Response {
        let Some(id) = self.coord.view.config.node_by_name(name) else {
            return Response::Error {
                message: format!("{name} is not a node of cluster.conf"),
            };
        };
        let name = self.name_of(id);
        if self.view.as_ref().is_some_and(|v| v.contains(id)) {
            return Response::Error {
                message: format!("{name} is a cluster member; refusing to treat it as fenced"),
            };
        }
        match (self.victims.state(id), self.victims.epoch(id)) {
            (Some(VictimState::Lost | VictimState::Fencing), Some(epoch)) => {
                tracing::warn!("fence {name} overridden by administrator intervention");
                self.node_fenced(id, epoch);
                Response::FenceAck {
                    node: name,
                    fenced: true,
                }
            }
            _ => Response::FenceAck {
                node: name,
                fenced: false,
            },
        }
    }
}
