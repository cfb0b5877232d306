//! What membership, quorum, the other daemons and the administrator change for the lost
//! nodes, and what a fenced node changes for the policy. The decisions about whom to fence
//! are [`super::fencing::Victims`]'; the fence runs are the owner's ([`super::FenceCmd`]).

use super::fencing::VictimState;
use super::wire::{LostNode, Msg};
use super::{FenceCmd, Node, Output};
use crate::admin::Response;
use crate::policy::{Event, Holds, NodeId, State};

impl Node {
    /// A member (re)joined: not a victim any more; a run fencing it stops ("averting fence").
    pub(super) fn fence_joined(&mut self, node: NodeId) {
        if self.victims.joined(node) {
            tracing::info!("fence {} averted: it is a member again", self.name_of(node));
        }
        self.fence_cancel(node);
    }

    fn fence_cancel(&mut self, node: NodeId) {
        let runs: Vec<u64> = self
            .fence_runs
            .iter()
            .filter(|(_, n)| **n == node)
            .map(|(r, _)| *r)
            .collect();
        if runs.is_empty() {
            return;
        }
        for r in runs {
            self.fence_runs.remove(&r);
        }
        self.out.push_back(Output::Fence(FenceCmd::Cancel { node }));
    }

    /// After a view change: a node that no longer coordinates stops its fence runs; one that
    /// lost quorum stops its local services (an inquorate partition runs nothing and fences
    /// nothing); a coordinator of a quorate partition starts fencing. The members hear of the
    /// lost nodes now, before the report the node sends next.
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
        for node in self.victims.due(coordinating) {
            let run = self.next_fence_run;
            self.next_fence_run += 1;
            self.fence_runs.insert(run, node);
            let name = self.name_of(node);
            self.out
                .push_back(Output::Fence(FenceCmd::Start { run, node, name }));
        }
    }

    /// Each second: fence what is due, and tell the members which nodes are fenced.
    pub(super) fn fence_periodic(&mut self) {
        self.fence_start();
        self.tell_fenced();
    }

    fn tell_fenced(&mut self) {
        let fenced = self.victims.fenced_nodes();
        let lost: Vec<LostNode> = self
            .victims
            .lost_nodes()
            .into_iter()
            .map(|node| LostNode {
                node,
                services: self
                    .coord
                    .records()
                    .into_iter()
                    .filter(|r| r.owner == Some(node) && r.state.holds())
                    .map(|r| r.name)
                    .collect(),
            })
            .collect();
        if fenced.is_empty() && lost.is_empty() {
            return;
        }
        let Some(v) = self.view.clone() else { return };
        let local = self.local;
        for m in v.members.iter().filter(|m| **m != local) {
            let msg = Msg::Victims {
                fenced: fenced.clone(),
                lost: lost.clone(),
            };
            self.send(*m, msg);
        }
    }

    /// `node` is fenced: the policy hears of it once (the coordinator takes its services over).
    fn node_fenced(&mut self, node: NodeId) {
        if self.view.as_ref().is_some_and(|v| v.contains(node)) {
            return;
        }
        self.fence_cancel(node);
        if self.victims.fenced(node) {
            self.policy_event(Event::NodeFenced(node));
            self.tell_fenced();
        }
    }

    /// Another daemon's fencing news. A lost node this daemon did not see fail (it started
    /// later) is lost here too, and the services it held are recorded as still running there
    /// unless the table has them elsewhere: should this daemon coordinate, it fences that node
    /// before anything of it moves.
    pub(super) fn victims_heard(&mut self, fenced: Vec<NodeId>, lost: Vec<LostNode>) {
        for l in lost {
            if self.view.as_ref().is_some_and(|v| v.contains(l.node)) {
                continue;
            }
            if self.victims.heard_lost(l.node) {
                tracing::info!("{} failed before this node joined", self.name_of(l.node));
                self.policy_event(Event::NodeLeft {
                    node: l.node,
                    clean: false,
                });
            }
            if self.victims.state(l.node) == Some(VictimState::Fenced) {
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
        for n in fenced {
            self.node_fenced(n);
        }
    }

    /// A fence run ended.
    pub(super) fn fence_done(&mut self, run: u64, node: NodeId, fenced: bool) {
        let current = self.fence_runs.remove(&run).is_some();
        if fenced {
            // A success is a fact, whichever run it came from.
            self.node_fenced(node);
        } else if current {
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
        match self.victims.state(id) {
            Some(VictimState::Lost | VictimState::Fencing) => {
                tracing::warn!("fence {name} overridden by administrator intervention");
                self.node_fenced(id);
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
