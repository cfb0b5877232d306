//! The configuration sync protocol as a sans-I/O state machine: what a node holds, what its
//! peers announce, and the decisions (adopt, refuse, conflict, fetch) as pure transitions.
//!
//! It exists so that every node runs the same cluster.conf, carried byte for byte, without a
//! node ever taking an older, equal-but-different or invalid text. The daemon owns the I/O: it
//! feeds [`Sync::handle`] with messages from peers, sends the [`Output::Send`]s, performs each
//! [`Output::Write`] with [`crate::store::Store::replace`] and reports with [`Sync::written`]
//! before feeding the next message (messages that arrive meanwhile are kept and handled after),
//! and logs the [`Output::Event`]s (their `Display` is the log line).
//!
//! Rules (docs/ccs_sync.md has the full table):
//! - an offered text is adopted only if it is valid ([`crate::check_str`] without errors), its
//!   `config_version` is the one the offer states, and is strictly greater than ours;
//! - an equal version with the same bytes is answered `Accepted` and nothing is written;
//! - an equal version with different bytes is a conflict, reported on both sides with both
//!   hashes and never merged;
//! - an older version is refused naming both versions;
//! - a peer announcing a newer version is asked for it (the newest announced wins); until it is
//!   adopted (or refused) [`Sync::is_caught_up`] is false, and the daemon starts no service.
//!
//! Authentication is not done here: the daemon's transport (`rgmanager::daemon::sync_wire`,
//! TCP frames with an HMAC-SHA256 over the cluster key) checks every message before it reaches
//! this core.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::store::{ConfHash, Hashed, Versioned};

/// A node's id (`<clusternode nodeid>`).
pub type NodeId = u32;

/// What nodes say to each other about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// What the sender holds (exchanged when peers meet or a version changes).
    Announce { version: u64, hash: ConfHash },
    /// Asks the receiver for its configuration (it announced `version`).
    Request { version: u64 },
    /// A whole configuration, byte for byte: pushed by an administrator's `ccs_sync`, or the
    /// answer to a `Request`. The bytes come with their hash (computed once: the transport
    /// authenticates it and the receiver keeps it as the configuration's hash).
    Offer { version: u64, bytes: Hashed },
    /// The receiver of an offer now holds `version` (written, or already held identical).
    Accepted { version: u64 },
    /// An offer or a request was refused.
    Refused { reason: Refusal },
    /// Same version, different bytes; `ours` is the sender's hash, `theirs` the receiver's.
    Conflict {
        version: u64,
        ours: ConfHash,
        theirs: ConfHash,
    },
}

/// Why an offer or a request was refused; the text is what `ccs_sync` prints after `refused: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The offered version is older than the receiver's.
    NotNewer { offered: u64, ours: u64 },
    /// The offered text is not a valid configuration: the validator's first error.
    Invalid { error: String },
    /// The offer states one version and the text inside carries another.
    Mismatch { stated: u64, in_file: u64 },
    /// A version was requested from a node that does not have it.
    Unavailable { requested: u64, ours: u64 },
    /// Valid and newer, but the receiver could not write it.
    NotStored { error: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotNewer { offered, ours } => {
                write!(f, "version {offered} is not newer than {ours}")
            }
            Refusal::Invalid { error } => f.write_str(error),
            Refusal::Mismatch { stated, in_file } => write!(
                f,
                "the offer says version {stated} but its config_version is {in_file}"
            ),
            Refusal::Unavailable { requested, ours } => {
                write!(f, "version {requested} requested, this node has {ours}")
            }
            Refusal::NotStored { error } => write!(f, "not stored: {error}"),
        }
    }
}

/// Something the daemon logs (the `Display` is the line) and may act upon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A newer configuration was written: the daemon reloads.
    Adopted {
        from: NodeId,
        previous: u64,
        version: u64,
        hash: ConfHash,
    },
    /// Same version, different bytes (from an announce, an offer or the peer's report).
    Conflict {
        peer: NodeId,
        version: u64,
        ours: ConfHash,
        theirs: ConfHash,
    },
    /// We refused what `peer` offered.
    Refused { peer: NodeId, reason: Refusal },
    /// `peer` refused our offer or request.
    PeerRefused { peer: NodeId, reason: Refusal },
    /// `peer` holds the version we offered.
    PeerAccepted { peer: NodeId, version: u64 },
    /// `peer` announced a newer version; we asked for it.
    Fetching {
        peer: NodeId,
        version: u64,
        ours: u64,
    },
    /// Nothing newer is known any more, after we had learnt of a newer version.
    CaughtUp { version: u64 },
}

impl Event {
    /// Conflicts and refusals are for the administrator to act on; the rest is information.
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            Event::Conflict { .. } | Event::Refused { .. } | Event::PeerRefused { .. }
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Adopted {
                from,
                previous,
                version,
                hash,
            } => write!(
                f,
                "Configuration version {version} (hash {hash}) received from node {from}, replacing version {previous}"
            ),
            Event::Conflict {
                peer,
                version,
                ours,
                theirs,
            } => write!(
                f,
                "Configuration conflict with node {peer}: both have config_version {version}, ours is hash {ours}, theirs is hash {theirs}; not merged: raise config_version on the right copy and push it"
            ),
            Event::Refused { peer, reason } => {
                write!(f, "Refused the configuration offered by node {peer}: {reason}")
            }
            Event::PeerRefused { peer, reason } => write!(f, "Node {peer} refused: {reason}"),
            Event::PeerAccepted { peer, version } => {
                write!(f, "Node {peer} has configuration version {version}")
            }
            Event::Fetching {
                peer,
                version,
                ours,
            } => write!(
                f,
                "Node {peer} has configuration version {version}, ours is {ours}: fetching it"
            ),
            Event::CaughtUp { version } => {
                write!(f, "Configuration is up to date at version {version}")
            }
        }
    }
}

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send {
        to: NodeId,
        msg: Message,
    },
    /// Write this configuration (`Store::replace`), then call [`Sync::written`].
    Write {
        from: NodeId,
        config: Versioned,
    },
    Event(Event),
}

/// One node's side of the protocol.
#[derive(Debug)]
pub struct Sync {
    local: Versioned,
    /// What each peer last announced.
    announced: BTreeMap<NodeId, (u64, ConfHash)>,
    /// Peers whose announced version we could not get (refused, invalid, not stored): not asked
    /// again, and not waited for, until they announce something else.
    failed: BTreeSet<NodeId>,
    /// The outstanding request: to whom, for which version.
    requested: Option<(NodeId, u64)>,
    /// The write the daemon is doing, and who offered it.
    writing: Option<(NodeId, Versioned)>,
    /// Messages received during a write, handled after it.
    deferred: VecDeque<(NodeId, Message)>,
    /// Conflicts already reported: (peer, version, their hash).
    reported: BTreeSet<(NodeId, u64, ConfHash)>,
    caught_up: bool,
    out: VecDeque<Output>,
}

impl Sync {
    /// A node holding `local` (what its store holds at start).
    pub fn new(local: Versioned) -> Self {
        Sync {
            local,
            announced: BTreeMap::new(),
            failed: BTreeSet::new(),
            requested: None,
            writing: None,
            deferred: VecDeque::new(),
            reported: BTreeSet::new(),
            caught_up: true,
            out: VecDeque::new(),
        }
    }

    pub fn local(&self) -> &Versioned {
        &self.local
    }

    /// What to announce to peers.
    pub fn announcement(&self) -> Message {
        Message::Announce {
            version: self.local.version(),
            hash: self.local.hash(),
        }
    }

    /// No peer we could fetch from announced a newer version, and no fetch or write is under
    /// way. The daemon waits for this, after its first view (whose members' heartbeats carried
    /// their announcements), before starting any service.
    pub fn is_caught_up(&self) -> bool {
        self.writing.is_none()
            && self.requested.is_none()
            && !self
                .announced
                .iter()
                .any(|(p, (v, _))| *v > self.local.version() && !self.failed.contains(p))
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn drain(&mut self) -> Vec<Output> {
        self.out.drain(..).collect()
    }

    /// A message from `from` (already authenticated by the transport).
    pub fn handle(&mut self, from: NodeId, msg: Message) {
        if self.writing.is_some() {
            self.deferred.push_back((from, msg));
            return;
        }
        match msg {
            Message::Announce { version, hash } => self.on_announce(from, version, hash),
            Message::Request { version } => {
                let ours = self.local.version();
                let msg = if ours >= version {
                    Message::Offer {
                        version: ours,
                        bytes: self.local.hashed().clone(),
                    }
                } else {
                    Message::Refused {
                        reason: Refusal::Unavailable {
                            requested: version,
                            ours,
                        },
                    }
                };
                self.send(from, msg);
            }
            Message::Offer { version, bytes } => self.on_offer(from, version, bytes),
            Message::Accepted { version } => {
                self.event(Event::PeerAccepted {
                    peer: from,
                    version,
                });
            }
            Message::Refused { reason } => {
                self.event(Event::PeerRefused { peer: from, reason });
                if self.requested.is_some_and(|(p, _)| p == from) {
                    self.requested = None;
                    self.failed.insert(from);
                }
            }
            Message::Conflict {
                version,
                ours,
                theirs,
            } => {
                // Their `ours` is our `theirs`.
                self.report_conflict(from, version, theirs, ours);
            }
        }
        self.settle();
    }

    /// The daemon's answer to an [`Output::Write`]: `Ok` once the file is replaced, else the
    /// store's one-line error.
    pub fn written(&mut self, result: Result<(), String>) {
        let Some((from, config)) = self.writing.take() else {
            return;
        };
        match result {
            Ok(()) => {
                let previous = self.local.version();
                let version = config.version();
                let hash = config.hash();
                self.local = config;
                self.send(from, Message::Accepted { version });
                self.event(Event::Adopted {
                    from,
                    previous,
                    version,
                    hash,
                });
                if self.requested.is_some_and(|(_, v)| v <= version) {
                    self.requested = None;
                }
            }
            Err(error) => {
                let reason = Refusal::NotStored { error };
                self.refuse(from, reason);
            }
        }
        while self.writing.is_none() {
            let Some((from, msg)) = self.deferred.pop_front() else {
                break;
            };
            self.handle(from, msg);
        }
        self.settle();
    }

    /// `peer` left the membership: its announcement no longer counts, and a request to it is
    /// given up (another peer with the version is asked).
    pub fn peer_lost(&mut self, peer: NodeId) {
        self.announced.remove(&peer);
        self.failed.remove(&peer);
        if self.requested.is_some_and(|(p, _)| p == peer) {
            self.requested = None;
        }
        self.settle();
    }

    /// The daemon replaced the file itself (an administrator's `ccs_sync` on this node).
    pub fn set_local(&mut self, config: Versioned) {
        self.local = config;
        if self
            .requested
            .is_some_and(|(_, v)| v <= self.local.version())
        {
            self.requested = None;
        }
        self.settle();
    }

    /// Offers our configuration to `nodes` (a push).
    pub fn push(&mut self, nodes: &[NodeId]) {
        for &to in nodes {
            self.send(
                to,
                Message::Offer {
                    version: self.local.version(),
                    bytes: self.local.hashed().clone(),
                },
            );
        }
    }

    /// Sends the outstanding request again (the daemon calls this on a timer while not caught
    /// up: a request or its answer may have been lost).
    pub fn retry(&mut self) {
        if let Some((to, version)) = self.requested {
            self.send(to, Message::Request { version });
        }
    }

    fn on_announce(&mut self, from: NodeId, version: u64, hash: ConfHash) {
        if self.announced.insert(from, (version, hash)) != Some((version, hash)) {
            self.failed.remove(&from);
        }
        if version == self.local.version() && hash != self.local.hash() {
            self.report_conflict(from, version, self.local.hash(), hash);
        }
    }

    fn on_offer(&mut self, from: NodeId, stated: u64, bytes: Hashed) {
        let config = match Versioned::check_hashed(bytes) {
            Ok(c) => c,
            Err(e) => {
                return self.refuse(
                    from,
                    Refusal::Invalid {
                        error: e.to_string(),
                    },
                )
            }
        };
        let (offered, ours) = (config.version(), self.local.version());
        if offered != stated {
            return self.refuse(
                from,
                Refusal::Mismatch {
                    stated,
                    in_file: offered,
                },
            );
        }
        if offered < ours {
            return self.refuse(from, Refusal::NotNewer { offered, ours });
        }
        if offered == ours {
            if config.hash() == self.local.hash() {
                self.send(from, Message::Accepted { version: ours });
            } else {
                self.send(
                    from,
                    Message::Conflict {
                        version: ours,
                        ours: self.local.hash(),
                        theirs: config.hash(),
                    },
                );
                self.report_conflict(from, ours, self.local.hash(), config.hash());
            }
            return;
        }
        self.out.push_back(Output::Write {
            from,
            config: config.clone(),
        });
        self.writing = Some((from, config));
    }

    fn refuse(&mut self, peer: NodeId, reason: Refusal) {
        self.send(
            peer,
            Message::Refused {
                reason: reason.clone(),
            },
        );
        self.event(Event::Refused { peer, reason });
        // What this peer has is of no use to us until it announces something else.
        if self.requested.is_some_and(|(p, _)| p == peer) {
            self.requested = None;
        }
        if self
            .announced
            .get(&peer)
            .is_some_and(|(v, _)| *v > self.local.version())
        {
            self.failed.insert(peer);
        }
    }

    fn report_conflict(&mut self, peer: NodeId, version: u64, ours: ConfHash, theirs: ConfHash) {
        if self.reported.insert((peer, version, theirs)) {
            self.event(Event::Conflict {
                peer,
                version,
                ours,
                theirs,
            });
        }
    }

    /// After every input: ask for the newest announced version if it is newer than ours and
    /// not already being fetched, and report when we become caught up.
    fn settle(&mut self) {
        if self.writing.is_some() {
            return;
        }
        let ours = self.local.version();
        let best = self
            .announced
            .iter()
            .filter(|(p, (v, _))| *v > ours && !self.failed.contains(p))
            // Newest version; among equals the lowest id (iteration order), for determinism.
            .fold(None::<(NodeId, u64)>, |best, (p, (v, _))| match best {
                Some((_, bv)) if bv >= *v => best,
                _ => Some((*p, *v)),
            });
        if let Some((peer, version)) = best {
            let newer = match self.requested {
                Some((_, rv)) => rv < version,
                None => true,
            };
            if newer {
                self.requested = Some((peer, version));
                self.send(peer, Message::Request { version });
                self.event(Event::Fetching {
                    peer,
                    version,
                    ours,
                });
            }
        }
        let now = self.is_caught_up();
        if now && !self.caught_up {
            self.event(Event::CaughtUp { version: ours });
        }
        self.caught_up = now;
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.out.push_back(Output::Send { to, msg });
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }
}
