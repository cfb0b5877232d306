//! The shell's link to corosync (cargo feature `corosync`): the CPG group [`GROUP`] for
//! membership and daemon messages, libquorum for votequorum's verdict, votequorum for live
//! vote changes. Everything corosync delivers becomes an [`Incoming`] for the node core; what
//! the core sends goes out as one agreed-order multicast.
//!
//! Multicast payload: `[kind u8][to u32 BE][bytes]`. Kind 0 is the membership core's own
//! (hellos, for every member; `to` 0); kind 1 a daemon message for node `to` (every member
//! receives it in the group's order; the others drop it unread; it is authenticated by the node
//! core's codec like any daemon datagram).
//!
//! rust-corosync's callbacks are plain `fn`s run inside `dispatch` on this thread, with the
//! crate's global lock held: they only push into a thread-local inbox, drained after
//! `dispatch` returns (no corosync call from inside a callback).

use std::cell::RefCell;
use std::os::fd::{AsRawFd, RawFd};

use rust_corosync as rc;
use tokio::io::unix::AsyncFd;

use crate::membership::cpg::{CpgInput, Proc, Reason, GROUP};
use crate::membership::NodeId;

const KIND_ENGINE: u8 = 0;
const KIND_MESSAGE: u8 = 1;

/// What corosync delivered, for the core.
#[derive(Debug)]
pub enum Incoming {
    Cpg(CpgInput),
    /// A daemon message addressed to this node.
    Message(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum CorosyncError {
    #[error("cannot connect to corosync ({what}: {err}); is corosync running on this node?")]
    Connect { what: &'static str, err: String },
    #[error(
        "corosync says this is node id {corosync}, cluster.conf says {ours}: generate \
         corosync.conf from cluster.conf (ccs_config_dump --corosync)"
    )]
    NodeId { corosync: u32, ours: u32 },
}

thread_local! {
    static INBOX: RefCell<Vec<Incoming>> = const { RefCell::new(Vec::new()) };
    static LOCAL: RefCell<u32> = const { RefCell::new(0) };
}

fn push(i: Incoming) {
    INBOX.with(|b| b.borrow_mut().push(i));
}

fn reason(r: rc::cpg::Reason) -> Reason {
    match r {
        rc::cpg::Reason::Join => Reason::Join,
        rc::cpg::Reason::Leave => Reason::Leave,
        rc::cpg::Reason::NodeDown => Reason::NodeDown,
        rc::cpg::Reason::NodeUp => Reason::NodeUp,
        rc::cpg::Reason::ProcDown => Reason::ProcDown,
        rc::cpg::Reason::Undefined => Reason::Other,
    }
}

fn procs(list: &[rc::cpg::Address]) -> Vec<Proc> {
    list.iter()
        .map(|a| Proc {
            node: u32::from(a.nodeid),
            pid: a.pid,
            reason: reason(a.reason),
        })
        .collect()
}

fn on_deliver(
    _h: &rc::cpg::Handle,
    _group: String,
    nodeid: rc::NodeId,
    pid: u32,
    msg: &[u8],
    _len: usize,
) {
    if msg.len() < 5 {
        return;
    }
    let to = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]);
    let bytes = msg[5..].to_vec();
    match msg[0] {
        KIND_ENGINE => push(Incoming::Cpg(CpgInput::Deliver {
            node: u32::from(nodeid),
            pid,
            bytes,
        })),
        KIND_MESSAGE if LOCAL.with(|l| *l.borrow() == to) => push(Incoming::Message(bytes)),
        _ => {}
    }
}

fn on_confchg(
    _h: &rc::cpg::Handle,
    _group: &str,
    members: Vec<rc::cpg::Address>,
    left: Vec<rc::cpg::Address>,
    joined: Vec<rc::cpg::Address>,
) {
    push(Incoming::Cpg(CpgInput::ConfChg {
        members: procs(&members),
        left: procs(&left),
        joined: procs(&joined),
    }));
}

fn on_quorum(
    _h: &rc::quorum::Handle,
    quorate: bool,
    _ring: rc::quorum::RingId,
    _members: Vec<rc::NodeId>,
) {
    push(Incoming::Cpg(CpgInput::Quorum { quorate }));
}

struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The connection. Field order matters: the `AsyncFd`s are dropped (deregistered) before the
/// handles whose drop closes their descriptors.
pub struct Link {
    cpg_fd: AsyncFd<Fd>,
    quorum_fd: AsyncFd<Fd>,
    cpg: rc::cpg::Handle,
    quorum: rc::quorum::Handle,
    votequorum: Option<rc::votequorum::Handle>,
    lost: bool,
}

fn connect_err(what: &'static str) -> impl Fn(rc::CsError) -> CorosyncError {
    move |e| CorosyncError::Connect {
        what,
        err: e.to_string(),
    }
}

impl Link {
    /// Connects to the corosync of this node and joins the group. Must run inside the tokio
    /// runtime (the descriptors are registered with it).
    pub fn open(local: NodeId) -> Result<Link, CorosyncError> {
        let model = rc::cpg::ModelData::ModelV1(rc::cpg::Model1Data {
            flags: rc::cpg::Model1Flags::None,
            deliver_fn: Some(on_deliver),
            confchg_fn: Some(on_confchg),
            totem_confchg_fn: None,
        });
        let cpg = rc::cpg::initialize(&model, 0).map_err(connect_err("cpg"))?;
        let id = u32::from(rc::cpg::local_get(&cpg).map_err(connect_err("cpg local node id"))?);
        if id != local {
            return Err(CorosyncError::NodeId {
                corosync: id,
                ours: local,
            });
        }
        LOCAL.with(|l| *l.borrow_mut() = local);
        let qmodel = rc::quorum::ModelData::ModelV1(rc::quorum::Model1Data {
            flags: rc::quorum::Model1Flags::None,
            quorum_notification_fn: Some(on_quorum),
            nodelist_notification_fn: None,
        });
        let (quorum, _) = rc::quorum::initialize(&qmodel, 0).map_err(connect_err("quorum"))?;
        // The current verdict at once, then every change.
        rc::quorum::trackstart(&quorum, rc::TrackFlags::Changes)
            .map_err(connect_err("quorum tracking"))?;
        let votequorum = rc::votequorum::initialize(&rc::votequorum::Callbacks {
            quorum_notification_fn: None,
            nodelist_notification_fn: None,
            expectedvotes_notification_fn: None,
        })
        .ok();
        let fd = |r: rc::Result<i32>, what| -> Result<AsyncFd<Fd>, CorosyncError> {
            let raw = r.map_err(connect_err(what))?;
            // SAFETY: the descriptor is the corosync handle's; `Link` holds the handle in a
            // field declared after this `AsyncFd`, so the descriptor stays open for as long as
            // the `AsyncFd` lives (fields drop in declaration order).
            unsafe { AsyncFd::register_with_interest(Fd(raw), tokio::io::Interest::READABLE) }
                .map_err(|e| CorosyncError::Connect {
                    what,
                    err: e.to_string(),
                })
        };
        let cpg_fd = fd(rc::cpg::fd_get(&cpg), "cpg descriptor")?;
        let quorum_fd = fd(rc::quorum::fd_get(&quorum), "quorum descriptor")?;
        rc::cpg::join(&cpg, GROUP).map_err(connect_err("cpg join"))?;
        tracing::info!("corosync: joined the CPG group {GROUP} as node id {local}");
        Ok(Link {
            cpg_fd,
            quorum_fd,
            cpg,
            quorum,
            votequorum,
            lost: false,
        })
    }

    /// Waits for corosync to deliver something; returns what it delivered, in order. After
    /// corosync went away: [`CpgInput::Lost`] once, then nothing ever again.
    pub async fn next(&mut self) -> Vec<Incoming> {
        if self.lost {
            return std::future::pending().await;
        }
        let ok = tokio::select! {
            r = self.cpg_fd.readable() => match r {
                Ok(mut g) => {
                    g.clear_ready();
                    rc::cpg::dispatch(&self.cpg, rc::DispatchFlags::All).is_ok()
                }
                Err(_) => false,
            },
            r = self.quorum_fd.readable() => match r {
                Ok(mut g) => {
                    g.clear_ready();
                    rc::quorum::dispatch(&self.quorum, rc::DispatchFlags::All).is_ok()
                }
                Err(_) => false,
            },
        };
        let mut got = INBOX.with(|b| std::mem::take(&mut *b.borrow_mut()));
        if !ok {
            self.lost = true;
            tracing::error!("corosync: the connection to corosync is gone");
            got.push(Incoming::Cpg(CpgInput::Lost));
        }
        got
    }

    /// Multicasts the membership core's bytes to the group.
    pub async fn send_engine(&mut self, bytes: &[u8]) {
        self.mcast(KIND_ENGINE, 0, bytes).await;
    }

    /// Multicasts a daemon message for node `to`.
    pub async fn send_message(&mut self, to: NodeId, bytes: &[u8]) {
        self.mcast(KIND_MESSAGE, to, bytes).await;
    }

    async fn mcast(&mut self, kind: u8, to: NodeId, bytes: &[u8]) {
        if self.lost {
            return;
        }
        let mut msg = Vec::with_capacity(5 + bytes.len());
        msg.push(kind);
        msg.extend_from_slice(&to.to_be_bytes());
        msg.extend_from_slice(bytes);
        // Corosync's queue can be full for a moment (flow control): it asks to try again.
        for attempt in 0..50u32 {
            match rc::cpg::mcast_joined(&self.cpg, rc::cpg::Guarantee::TypeAgreed, &msg) {
                Ok(()) => return,
                Err(rc::CsError::CsErrTryAgain) => {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                        attempt.min(10),
                    )))
                    .await;
                }
                Err(e) => {
                    tracing::warn!("corosync: multicast failed: {e}");
                    return;
                }
            }
        }
        tracing::warn!("corosync: multicast still refused after 50 tries; dropped");
    }

    /// A clean exit: leave the group, so that the others see CPG's `Leave` (a goodbye), not a
    /// dead process.
    pub fn leave(&mut self) {
        if !self.lost {
            if let Err(e) = rc::cpg::leave(&self.cpg, GROUP) {
                tracing::warn!("corosync: leaving the group: {e}");
            }
        }
    }

    /// A newer cluster.conf: votequorum takes its votes and expected votes at once (corosync's
    /// own file is regenerated by the administrator's tooling; these calls keep the running
    /// cluster in step meanwhile).
    pub fn reconfigure(&mut self, conf: &ccs::ClusterConf) {
        let Some(vq) = &self.votequorum else {
            return;
        };
        for n in conf.nodes() {
            if let Some(id) = n.nodeid() {
                if let Err(e) = rc::votequorum::set_votes(vq, rc::NodeId::from(id), n.votes()) {
                    tracing::warn!("corosync: setting the votes of node {id}: {e}");
                }
            }
        }
        if let Err(e) = rc::votequorum::set_expected(vq, conf.expected_votes()) {
            tracing::warn!("corosync: setting expected votes: {e}");
        }
    }
}
