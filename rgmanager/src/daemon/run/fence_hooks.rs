//! The daemon's side of fencing: what membership, quorum, the other daemons and the admin
//! socket change for the lost nodes, and what a fenced node changes for the policy.
//!
//! Kept apart from the rest of the daemon's loop so that the decisions stay in
//! [`crate::daemon::fencing`] and the loop only calls a few hooks.

use super::Daemon;
use crate::admin::Response;
use crate::daemon::fencing::{FenceNews, VictimState};
use crate::daemon::wire::{LostNode, Msg, Op};
use crate::policy::{Event, Holds, NodeId, State};

use super::Job;

impl Daemon {
    /// A member left without a goodbye: it is to be fenced.
    pub(super) fn fence_lost(&mut self, node: NodeId) {
        self.fencer.victims.lost(node);
    }

    /// A member (re)joined: not a victim any more; a worker fencing it stops ("averting fence").
    pub(super) fn fence_joined(&mut self, node: NodeId) {
        if self.fencer.victims.joined(node) {
            tracing::info!("fence {} averted: it is a member again", self.name_of(node));
        }
        self.fencer.cancel(node);
    }

    /// After a view change: a daemon that no longer coordinates stops its workers; one that
    /// lost quorum stops its local services (an inquorate partition runs nothing and fences
    /// nothing); a coordinator of a quorate partition starts fencing. The members hear of the
    /// lost nodes now, before the report the daemon sends next: a node that just joined and
    /// coordinates rebuilds its table as soon as every member reported.
    pub(super) async fn fence_view(&mut self, quorum_lost: bool) {
        if !self.coordinating {
            for n in self.fencer.victims.stand_down() {
                self.fencer.cancel(n);
            }
        }
        if quorum_lost {
            self.stop_local_services();
        }
        self.fence_start();
        self.tell_fenced().await;
    }

    /// Stops every local service, in reverse cluster.conf order (each tree stops in reverse
    /// order too), without asking anybody: there is no quorum to ask.
    fn stop_local_services(&mut self) {
        let services: Vec<String> = self
            .order
            .iter()
            .rev()
            .filter(|s| self.running.contains(*s))
            .cloned()
            .collect();
        if !services.is_empty() {
            tracing::warn!("Quorum lost: stopping the local services {services:?}");
        }
        for service in services {
            let _ = self.jobs.send(Job {
                from: None,
                service,
                op: Op::Stop,
            });
        }
    }

    /// Starts a worker for each lost node nobody here fences yet, when this daemon coordinates
    /// a quorate partition.
    pub(super) fn fence_start(&mut self) {
        let coordinating = self.coordinating && self.quorum.is_quorate();
        for n in self.fencer.victims.due(coordinating) {
            let name = self.name_of(n);
            self.fencer.spawn(n, name);
        }
    }

    /// Each second: fence what is due, and tell the members which nodes are fenced.
    pub(super) async fn fence_periodic(&mut self) {
        self.fence_start();
        self.tell_fenced().await;
    }

    async fn tell_fenced(&mut self) {
        let fenced = self.fencer.victims.fenced_nodes();
        let lost: Vec<LostNode> = self
            .fencer
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
            self.send(*m, msg).await;
        }
    }

    /// `node` is fenced: the policy hears of it once (the coordinator takes its services over).
    async fn node_fenced(&mut self, node: NodeId) {
        if self.view.as_ref().is_some_and(|v| v.contains(node)) {
            return;
        }
        self.fencer.cancel(node);
        if self.fencer.victims.fenced(node) {
            self.policy_event(Event::NodeFenced(node)).await;
            self.tell_fenced().await;
        }
    }

    /// Another daemon's fencing news. A lost node this daemon did not see fail (it started
    /// later) is lost here too, and the services it held are recorded as still running there
    /// unless the table has them elsewhere: should this daemon coordinate, it fences that node
    /// before anything of it moves.
    pub(super) async fn victims_heard(&mut self, fenced: Vec<NodeId>, lost: Vec<LostNode>) {
        for l in lost {
            if self.view.as_ref().is_some_and(|v| v.contains(l.node)) {
                continue;
            }
            if self.fencer.victims.heard_lost(l.node) {
                tracing::info!("{} failed before this node joined", self.name_of(l.node));
                self.policy_event(Event::NodeLeft {
                    node: l.node,
                    clean: false,
                })
                .await;
            }
            if self.fencer.victims.state(l.node) == Some(VictimState::Fenced) {
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
            self.node_fenced(n).await;
        }
    }

    /// News from a worker or the admin socket.
    pub(super) async fn fence_news(&mut self, news: FenceNews) {
        match news {
            FenceNews::Fenced(n, generation) => {
                // A success is a fact, whichever worker it came from.
                self.fencer.ended(n, generation);
                self.node_fenced(n).await;
            }
            FenceNews::GaveUp(n, generation) => {
                if self.fencer.ended(n, generation) {
                    self.fencer.victims.worker_ended(n);
                }
            }
            FenceNews::Ack { node, reply } => {
                let answer = self.fence_ack(&node).await;
                let _ = reply.send(answer);
            }
        }
    }

    /// `fence_ack_manual NODE`: refused for a member; a lost node is taken as fenced.
    async fn fence_ack(&mut self, name: &str) -> Response {
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
        match self.fencer.victims.state(id) {
            Some(VictimState::Lost | VictimState::Fencing) => {
                tracing::warn!("fence {name} overridden by administrator intervention");
                self.node_fenced(id).await;
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
