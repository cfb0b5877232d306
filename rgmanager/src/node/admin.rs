//! The admin socket's requests (`clustat`, `clusvcadm`, `fence_ack_manual`, `ccs_sync`), as the
//! core sees them: a request with an id in, an answer with the same id out, now or once the
//! work it started is done.

use std::time::Instant;

use super::wire::Msg;
use super::{Node, Origin, Output};
use crate::admin::{LockOp, Request, Response, ServiceAction};
use crate::clustat;
use crate::state::RgCode;

impl Node {
    pub(super) fn admin(&mut self, now: Instant, id: u64, request: Request) {
        match request {
            Request::Status => {
                let status = self.status(now);
                self.admin_reply(id, Response::Status { status });
            }
            Request::Service {
                action,
                service,
                target,
                domain_rules,
            } => self.admin_service(id, action, &service, target.as_deref(), domain_rules),
            Request::Lock { lock } => self.admin_lock(id, lock),
            Request::FenceAck { node } => {
                let answer = self.fence_ack(&node);
                self.admin_reply(id, answer);
            }
            Request::ConfigPush { text } => self.sync_push(now, id, text),
            Request::ConfigCheck => self.sync_check(now, id),
        }
    }

    pub(super) fn admin_reply(&mut self, id: u64, response: Response) {
        self.out.push_back(Output::Admin { id, response });
    }

    /// A `clusvcadm` request made on this node: decided here when this node coordinates, else
    /// sent to the coordinator.
    fn admin_service(
        &mut self,
        id: u64,
        action: ServiceAction,
        service: &str,
        target: Option<&str>,
        domain_rules: bool,
    ) {
        let service = clustat::full_service_name(service);
        let target = match target {
            Some(name) => match self.coord.view.config.node_by_name(name) {
                Some(node) => Some(node),
                None => {
                    self.admin_reply(
                        id,
                        Response::Service {
                            code: RgCode::Node,
                            owner: None,
                        },
                    );
                    return;
                }
            },
            // A plain `clusvcadm -e S` means here; `-F` lets the domain rules choose.
            None if action == ServiceAction::Enable && !domain_rules => Some(self.local),
            None => None,
        };
        if self.coordinating && self.takeover.is_none() {
            self.coord_request(action, service, target, Origin::Local(id));
            return;
        }
        let Some(c) = self.coordinator().filter(|_| self.quorum.is_quorate()) else {
            self.admin_reply(
                id,
                Response::Service {
                    code: RgCode::Quorum,
                    owner: None,
                },
            );
            return;
        };
        let rid = self.next_request;
        self.next_request += 1;
        let msg = Msg::Request {
            id: rid,
            action,
            service,
            target,
        };
        self.forwarded.insert(rid, (msg.clone(), id));
        self.send(c, msg);
    }

    /// `clusvcadm -l/-u/-S` made on this node. The lock is the coordinator's, replicated in
    /// its table: a query reads the local copy; lock and unlock go to the coordinator.
    fn admin_lock(&mut self, id: u64, op: LockOp) {
        let locked = match op {
            LockOp::Query => None,
            LockOp::Lock => Some(true),
            LockOp::Unlock => Some(false),
        };
        let Some(locked) = locked else {
            // RHCS answered a query only with quorum.
            let answer = if self.quorum.is_quorate() {
                Response::Lock {
                    locked: self.coord.view.locked,
                }
            } else {
                lock_answer(RgCode::Quorum, false)
            };
            self.admin_reply(id, answer);
            return;
        };
        if self.coordinating && self.takeover.is_none() {
            let code = self.coord_lock(locked);
            self.admin_reply(id, lock_answer(code, locked));
            return;
        }
        let Some(c) = self.coordinator().filter(|_| self.quorum.is_quorate()) else {
            self.admin_reply(id, lock_answer(RgCode::Quorum, locked));
            return;
        };
        let rid = self.next_request;
        self.next_request += 1;
        let msg = Msg::Lock { id: rid, locked };
        self.forwarded.insert(rid, (msg.clone(), id));
        self.send(c, msg);
    }

    /// The coordinator's answer to a request forwarded from here.
    pub(super) fn reply_received(&mut self, rid: u64, code: RgCode, owner: Option<u32>) {
        let Some((msg, id)) = self.forwarded.remove(&rid) else {
            return;
        };
        let answer = match msg {
            Msg::Lock { locked, .. } => lock_answer(code, locked),
            _ => Response::Service {
                code,
                owner: owner.map(|o| self.name_of(o)),
            },
        };
        self.admin_reply(id, answer);
    }

    /// Each second: forwarded requests go again to the coordinator; without one (or without
    /// quorum) they are answered "no quorum".
    pub(super) fn resend_forwarded(&mut self) {
        match self.coordinator().filter(|_| self.quorum.is_quorate()) {
            Some(c) => {
                let again: Vec<Msg> = self.forwarded.values().map(|(m, _)| m.clone()).collect();
                for m in again {
                    self.send(c, m);
                }
            }
            None => {
                for (_, (msg, id)) in std::mem::take(&mut self.forwarded) {
                    let answer = match msg {
                        Msg::Lock { locked, .. } => lock_answer(RgCode::Quorum, locked),
                        _ => Response::Service {
                            code: RgCode::Quorum,
                            owner: None,
                        },
                    };
                    self.admin_reply(id, answer);
                }
            }
        }
    }
}

/// The answer to a lock request: the lock's state, or why it was refused (clusvcadm then
/// prints "Lock operation failed" or "Unlock operation failed").
pub(super) fn lock_answer(code: RgCode, locked: bool) -> Response {
    if code == RgCode::Success {
        Response::Lock { locked }
    } else {
        Response::Error {
            message: code.message().to_string(),
        }
    }
}
