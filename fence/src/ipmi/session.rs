//! The RMCP+ session as a sans-I/O state machine: Get Channel Authentication Capabilities, Open
//! Session, RAKP 1–4, Set Session Privilege Level, then authenticated (and, per suite, encrypted)
//! requests one at a time, and Close Session.
//!
//! The caller owns the socket and the clock: it sends the datagrams this returns, feeds back every
//! datagram it receives with [`Session::handle_datagram`], and calls [`Session::handle_timeout`]
//! when [`Session::deadline`] passes, which retransmits or gives up. Randomness (session ID, Rm,
//! IVs) comes from an [`Entropy`] so that tests can replay a captured handshake byte for byte.
//! Datagrams that are malformed, forged or stale are dropped (logged at debug level), never fatal:
//! anyone can send UDP packets to us, and only the BMC can make the session fail.

use std::time::{Duration, Instant};

use super::crypto::{ct_eq, CipherSuite, ConfAlg, IntegrityAlg};
use super::packet::{self, Frame, IpmiRequest, IpmiResponse, PT_AUTHENTICATED, PT_ENCRYPTED};

/// Source of random bytes for session IDs, Rm and IVs.
pub trait Entropy {
    /// Fill `buf` with unpredictable bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SessionError>;
}

/// The operating system's random number generator.
#[derive(Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SessionError> {
        getrandom::fill(buf).map_err(|_| SessionError::Entropy)
    }
}

/// Privilege levels (IPMI v2.0 §6.8): the session's requested maximum and the level it is
/// raised to after activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Callback.
    Callback = 1,
    /// User.
    User = 2,
    /// Operator: enough for Chassis Control.
    Operator = 3,
    /// Administrator (fence-agents' default).
    Administrator = 4,
}

/// What a session needs to know before it starts.
#[derive(Clone)]
pub struct SessionConfig {
    /// User name (at most 16 bytes).
    pub username: Vec<u8>,
    /// Password (at most 20 bytes): the key Kuid.
    pub password: Vec<u8>,
    /// BMC key Kg, if the BMC has one (at most 20 bytes); else Kuid is used.
    pub kg: Option<Vec<u8>>,
    /// Cipher suite to propose.
    pub suite: CipherSuite,
    /// Privilege to request.
    pub privilege: Privilege,
    /// Wait this long for an answer before retransmitting.
    pub retransmit: Duration,
    /// Send each datagram at most this many times.
    pub attempts: u32,
}

impl std::fmt::Debug for SessionConfig {
    // Never print the password or Kg.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("suite", &self.suite.id)
            .field("privilege", &self.privilege)
            .field("retransmit", &self.retransmit)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Why a session failed. Messages name the step and never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The BMC did not answer.
    #[error("no answer to {step} after {attempts} attempts")]
    Timeout {
        /// The request that went unanswered.
        step: &'static str,
        /// How often it was sent.
        attempts: u32,
    },
    /// The BMC does not offer IPMI v2.0 / RMCP+.
    #[error("device does not support IPMI v2.0 (RMCP+) sessions")]
    NoRmcpPlus,
    /// The BMC answered a handshake step with an error status.
    #[error("device refused {step}: {}", packet::rmcp_status_text(*status))]
    Refused {
        /// Handshake step.
        step: &'static str,
        /// RMCP+ status code.
        status: u8,
    },
    /// RAKP 2 did not prove knowledge of our password.
    #[error("authentication failed: wrong user name or password")]
    AuthFailed,
    /// RAKP 4 did not prove the same session key.
    #[error("authentication failed: session key mismatch (wrong Kg?)")]
    KeyMismatch,
    /// The BMC chose algorithms other than the ones proposed.
    #[error("device answered with other algorithms than cipher suite {0}")]
    SuiteMismatch(u8),
    /// A command inside the handshake failed with a completion code.
    #[error("{step} failed: {}", packet::completion_text(*code))]
    Completion {
        /// The command.
        step: &'static str,
        /// IPMI completion code.
        code: u8,
    },
    /// The configuration cannot be used (lengths limited by the protocol).
    #[error("{0}")]
    Config(&'static str),
    /// No random numbers available.
    #[error("cannot get random numbers from the operating system")]
    Entropy,
    /// The caller asked for something the current state does not allow.
    #[error("session is not ready for {0}")]
    NotReady(&'static str),
}

/// What a received datagram or timeout produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Nothing to do (datagram dropped or not yet complete).
    Nothing,
    /// Send this datagram (next handshake step).
    Send(Vec<u8>),
    /// The session is up at the requested privilege: requests may be sent.
    Established,
    /// The answer to the outstanding request.
    Response(IpmiResponse),
    /// The session is closed.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    AuthCaps,
    OpenSession,
    Rakp2,
    Rakp4,
    SetPrivilege,
    Idle,
    Request,
    Closing,
    Closed,
}

impl State {
    fn step(self) -> &'static str {
        match self {
            State::New | State::AuthCaps => "Get Channel Authentication Capabilities",
            State::OpenSession => "RMCP+ Open Session",
            State::Rakp2 => "RAKP message 1",
            State::Rakp4 => "RAKP message 3",
            State::SetPrivilege => "Set Session Privilege Level",
            State::Idle | State::Request => "IPMI request",
            State::Closing | State::Closed => "Close Session",
        }
    }
}

struct Pending {
    datagram: Vec<u8>,
    deadline: Instant,
    sent: u32,
    /// In-session requests are re-encoded on retransmission (fresh sequence number and IV).
    request: Option<IpmiRequest>,
}

/// One RMCP+ session with one BMC.
pub struct Session {
    cfg: SessionConfig,
    entropy: Box<dyn Entropy + Send>,
    state: State,
    console_sid: u32,
    bmc_sid: u32,
    rm: [u8; 16],
    guid: [u8; 16],
    role: u8,
    sik: Vec<u8>,
    k1: Vec<u8>,
    k2: [u8; 16],
    out_seq: u32,
    /// Highest session sequence number accepted from the BMC: older ones are replays.
    in_seq: u32,
    rq_seq: u8,
    pending: Option<Pending>,
}

const NETFN_APP: u8 = 0x06;
const CMD_GET_CHANNEL_AUTH_CAPS: u8 = 0x38;
const CMD_SET_SESSION_PRIVILEGE: u8 = 0x3B;
const CMD_CLOSE_SESSION: u8 = 0x3C;

impl Session {
    /// A session that has not sent anything yet.
    pub fn new(
        cfg: SessionConfig,
        entropy: Box<dyn Entropy + Send>,
    ) -> Result<Session, SessionError> {
        if cfg.username.len() > 16 {
            return Err(SessionError::Config("user name longer than 16 bytes"));
        }
        if cfg.password.len() > 20 {
            return Err(SessionError::Config("password longer than 20 bytes"));
        }
        if cfg.kg.as_ref().is_some_and(|k| k.len() > 20) {
            return Err(SessionError::Config("Kg longer than 20 bytes"));
        }
        if cfg.attempts == 0 {
            return Err(SessionError::Config("at least one attempt is needed"));
        }
        let role = cfg.privilege as u8 | 0x10;
        Ok(Session {
            cfg,
            entropy,
            state: State::New,
            console_sid: 0,
            bmc_sid: 0,
            rm: [0; 16],
            guid: [0; 16],
            role,
            sik: Vec::new(),
            k1: Vec::new(),
            k2: [0; 16],
            out_seq: 0,
            in_seq: 0,
            rq_seq: 0,
            pending: None,
        })
    }

    /// Begin the handshake: returns the first datagram.
    pub fn start(&mut self, now: Instant) -> Result<Vec<u8>, SessionError> {
        if self.state != State::New {
            return Err(SessionError::NotReady("start"));
        }
        let msg = IpmiRequest {
            netfn: NETFN_APP,
            cmd: CMD_GET_CHANNEL_AUTH_CAPS,
            rq_seq: 0,
            data: vec![0x8E, self.cfg.privilege as u8],
        }
        .encode();
        self.state = State::AuthCaps;
        Ok(self.send_raw(now, packet::encode_v15(0, 0, &msg)))
    }

    /// When the outstanding datagram should be retransmitted (None when nothing is outstanding).
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.deadline)
    }

    /// True once the handshake is complete and no request is outstanding.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// The current session keys (SIK, K1, K2), to test the derivation.
    #[cfg(test)]
    fn keys(&self) -> (&[u8], &[u8], &[u8; 16]) {
        (&self.sik, &self.k1, &self.k2)
    }

    /// Send an IPMI request inside the established session.
    pub fn request(
        &mut self,
        now: Instant,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, SessionError> {
        if self.state != State::Idle {
            return Err(SessionError::NotReady("a request"));
        }
        self.state = State::Request;
        self.send_request(now, netfn, cmd, data.to_vec())
    }

    /// Close the session (Close Session). `None` when there is no session to close.
    pub fn close(&mut self, now: Instant) -> Result<Option<Vec<u8>>, SessionError> {
        match self.state {
            State::Idle | State::Request => {
                self.state = State::Closing;
                let sid = self.bmc_sid.to_le_bytes().to_vec();
                self.send_request(now, NETFN_APP, CMD_CLOSE_SESSION, sid)
                    .map(Some)
            }
            _ => {
                self.state = State::Closed;
                self.pending = None;
                Ok(None)
            }
        }
    }

    /// Retransmit or give up once the deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<Option<Vec<u8>>, SessionError> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(None);
        };
        if now < p.deadline {
            return Ok(None);
        }
        // Close Session is sent twice at most: the BMC expires an abandoned session anyway, and
        // some (ipmi_sim) do not answer a repeated Close for a session they already closed.
        let limit = if self.state == State::Closing {
            self.cfg.attempts.min(2)
        } else {
            self.cfg.attempts
        };
        if p.sent >= limit {
            let step = self.state.step();
            let attempts = p.sent;
            self.pending = None;
            if self.state == State::Closing {
                // The BMC will expire the session itself; nothing is lost.
                self.state = State::Closed;
                return Ok(None);
            }
            return Err(SessionError::Timeout { step, attempts });
        }
        tracing::debug!(
            step = self.state.step(),
            attempt = p.sent + 1,
            "retransmitting"
        );
        let sent = p.sent;
        let dg = match p.request.clone() {
            Some(req) => {
                let dg = self.encode_in_session(&req)?;
                self.rearm(now, dg.clone(), Some(req));
                dg
            }
            None => {
                p.deadline = now + self.cfg.retransmit;
                p.datagram.clone()
            }
        };
        if let Some(p) = self.pending.as_mut() {
            p.sent = sent + 1;
        }
        Ok(Some(dg))
    }

    /// Feed one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, dg: &[u8]) -> Result<Output, SessionError> {
        match self.state {
            State::AuthCaps => self.on_auth_caps(now, dg),
            State::OpenSession => self.on_open_session(now, dg),
            State::Rakp2 => self.on_rakp2(now, dg),
            State::Rakp4 => self.on_rakp4(now, dg),
            State::SetPrivilege | State::Request | State::Closing => self.on_response(dg),
            State::New | State::Idle | State::Closed => {
                tracing::debug!("dropping unexpected datagram");
                Ok(Output::Nothing)
            }
        }
    }

    fn send_raw(&mut self, now: Instant, dg: Vec<u8>) -> Vec<u8> {
        self.rearm(now, dg.clone(), None);
        dg
    }

    fn rearm(&mut self, now: Instant, datagram: Vec<u8>, request: Option<IpmiRequest>) {
        self.pending = Some(Pending {
            datagram,
            deadline: now + self.cfg.retransmit,
            sent: 1,
            request,
        });
    }

    fn random<const N: usize>(&mut self) -> Result<[u8; N], SessionError> {
        let mut b = [0u8; N];
        self.entropy.fill(&mut b)?;
        Ok(b)
    }

    fn send_request(
        &mut self,
        now: Instant,
        netfn: u8,
        cmd: u8,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, SessionError> {
        // rqSeq is 6 bits; 0 is left to the pre-session Get Channel Authentication Capabilities.
        self.rq_seq = if self.rq_seq >= 63 {
            1
        } else {
            self.rq_seq + 1
        };
        let req = IpmiRequest {
            netfn,
            cmd,
            rq_seq: self.rq_seq,
            data,
        };
        let dg = self.encode_in_session(&req)?;
        self.rearm(now, dg.clone(), Some(req));
        Ok(dg)
    }

    fn encode_in_session(&mut self, req: &IpmiRequest) -> Result<Vec<u8>, SessionError> {
        // Session sequence numbers start at 1 and never wrap to 0.
        self.out_seq = self.out_seq.checked_add(1).unwrap_or(1);
        let msg = req.encode();
        let suite = self.cfg.suite;
        let mut pt = packet::PT_IPMI;
        let payload = match suite.conf {
            ConfAlg::None => msg,
            ConfAlg::AesCbc128 => {
                pt |= PT_ENCRYPTED;
                let iv: [u8; 16] = self.random()?;
                super::crypto::aes_cbc_encrypt(&self.k2, &iv, &msg)
            }
        };
        let integrity = match suite.integrity {
            IntegrityAlg::None => None,
            alg => {
                pt |= PT_AUTHENTICATED;
                Some((alg, &self.k1[..]))
            }
        };
        Ok(packet::encode_v20(
            pt,
            self.bmc_sid,
            self.out_seq,
            &payload,
            integrity,
        ))
    }

    /// Unwrap a pre-session RMCP+ payload of the expected type.
    fn presession_payload<'a>(&self, dg: &'a [u8], want: u8) -> Option<&'a [u8]> {
        match packet::decode(dg, 0) {
            Ok(Frame::V20(f)) if f.payload_type & 0x3F == want && f.session_id == 0 => {
                Some(f.payload)
            }
            Ok(_) => {
                tracing::debug!(want, "dropping datagram of another type");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "dropping malformed datagram");
                None
            }
        }
    }

    fn on_auth_caps(&mut self, now: Instant, dg: &[u8]) -> Result<Output, SessionError> {
        let msg = match packet::decode(dg, 0) {
            Ok(Frame::V15 { msg, .. }) => msg,
            _ => return Ok(Output::Nothing),
        };
        let Ok(r) = IpmiResponse::decode(msg) else {
            return Ok(Output::Nothing);
        };
        if r.cmd != CMD_GET_CHANNEL_AUTH_CAPS || r.netfn != NETFN_APP + 1 || r.rq_seq != 0 {
            return Ok(Output::Nothing);
        }
        if r.completion != 0 {
            return Err(SessionError::Completion {
                step: State::AuthCaps.step(),
                code: r.completion,
            });
        }
        // data[1] bit 7: extended capabilities present; data[3] bit 1: IPMI v2.0 supported.
        let v2 = r.data.len() >= 4 && r.data[1] & 0x80 != 0 && r.data[3] & 0x02 != 0;
        if !v2 {
            return Err(SessionError::NoRmcpPlus);
        }
        self.console_sid = loop {
            let sid = u32::from_le_bytes(self.random()?);
            if sid != 0 {
                break sid;
            }
        };
        let req = packet::OpenSessionRequest {
            tag: 0,
            max_privilege: 0,
            console_sid: self.console_sid,
            suite: self.cfg.suite,
        };
        self.state = State::OpenSession;
        let dg = packet::encode_v20(packet::PT_OPEN_SESSION_REQUEST, 0, 0, &req.encode(), None);
        Ok(Output::Send(self.send_raw(now, dg)))
    }

    fn on_open_session(&mut self, now: Instant, dg: &[u8]) -> Result<Output, SessionError> {
        let Some(p) = self.presession_payload(dg, packet::PT_OPEN_SESSION_RESPONSE) else {
            return Ok(Output::Nothing);
        };
        let Ok(r) = packet::OpenSessionResponse::decode(p) else {
            return Ok(Output::Nothing);
        };
        if r.console_sid != self.console_sid && r.status == 0 {
            return Ok(Output::Nothing);
        }
        if r.status != 0 {
            return Err(SessionError::Refused {
                step: State::OpenSession.step(),
                status: r.status,
            });
        }
        if r.algorithms != self.cfg.suite.wire_numbers() {
            return Err(SessionError::SuiteMismatch(self.cfg.suite.id));
        }
        self.bmc_sid = r.bmc_sid;
        self.rm = self.random()?;
        let m = packet::Rakp1 {
            tag: 0,
            bmc_sid: self.bmc_sid,
            rm: self.rm,
            role: self.role,
            username: self.cfg.username.clone(),
        };
        self.state = State::Rakp2;
        let dg = packet::encode_v20(packet::PT_RAKP1, 0, 0, &m.encode(), None);
        Ok(Output::Send(self.send_raw(now, dg)))
    }

    fn on_rakp2(&mut self, now: Instant, dg: &[u8]) -> Result<Output, SessionError> {
        let auth = self.cfg.suite.auth;
        let Some(p) = self.presession_payload(dg, packet::PT_RAKP2) else {
            return Ok(Output::Nothing);
        };
        let Ok(r) = packet::Rakp2::decode(p, auth.digest_len()) else {
            return Ok(Output::Nothing);
        };
        if r.console_sid != self.console_sid {
            return Ok(Output::Nothing);
        }
        if r.status != 0 {
            return Err(SessionError::Refused {
                step: State::Rakp2.step(),
                status: r.status,
            });
        }
        let ulen = [self.cfg.username.len() as u8];
        let user = &self.cfg.username[..];
        let kuid = &self.cfg.password[..];
        let expected = auth.hmac(
            kuid,
            &[
                &self.console_sid.to_le_bytes(),
                &self.bmc_sid.to_le_bytes(),
                &self.rm,
                &r.rc,
                &r.guid,
                &[self.role],
                &ulen,
                user,
            ],
        );
        if !ct_eq(&expected, &r.auth_code[..auth.digest_len()]) {
            return Err(SessionError::AuthFailed);
        }
        let rakp3_code = auth.hmac(
            kuid,
            &[
                &r.rc,
                &self.console_sid.to_le_bytes(),
                &[self.role],
                &ulen,
                user,
            ],
        );
        let kg = self.cfg.kg.as_deref().unwrap_or(kuid);
        self.sik = auth.hmac(kg, &[&self.rm, &r.rc, &[self.role], &ulen, user]);
        self.k1 = auth.hmac(&self.sik, &[&[0x01; 20]]);
        let k2 = auth.hmac(&self.sik, &[&[0x02; 20]]);
        // HMAC output is 20 or 32 bytes; the AES key is its first 16.
        let k2 = k2.get(..16).ok_or(SessionError::KeyMismatch)?;
        self.k2.copy_from_slice(k2);
        self.guid = r.guid;
        let m = packet::Rakp3 {
            tag: 0,
            status: 0,
            bmc_sid: self.bmc_sid,
            auth_code: rakp3_code,
        };
        self.state = State::Rakp4;
        let dg = packet::encode_v20(packet::PT_RAKP3, 0, 0, &m.encode(), None);
        Ok(Output::Send(self.send_raw(now, dg)))
    }

    fn on_rakp4(&mut self, now: Instant, dg: &[u8]) -> Result<Output, SessionError> {
        let auth = self.cfg.suite.auth;
        let Some(p) = self.presession_payload(dg, packet::PT_RAKP4) else {
            return Ok(Output::Nothing);
        };
        let Ok(r) = packet::Rakp4::decode(p, auth.rakp4_icv_len()) else {
            return Ok(Output::Nothing);
        };
        if r.console_sid != self.console_sid {
            return Ok(Output::Nothing);
        }
        if r.status != 0 {
            return Err(SessionError::Refused {
                step: State::Rakp4.step(),
                status: r.status,
            });
        }
        let icv = auth.hmac(
            &self.sik,
            &[&self.rm, &self.bmc_sid.to_le_bytes(), &self.guid],
        );
        if !ct_eq(&icv[..auth.rakp4_icv_len()], &r.icv) {
            return Err(SessionError::KeyMismatch);
        }
        self.state = State::SetPrivilege;
        let level = self.cfg.privilege as u8;
        let dg = self.send_request(now, NETFN_APP, CMD_SET_SESSION_PRIVILEGE, vec![level])?;
        Ok(Output::Send(dg))
    }

    /// Authenticate, decrypt and match a response to the outstanding in-session request.
    fn on_response(&mut self, dg: &[u8]) -> Result<Output, SessionError> {
        let Some(req) = self.pending.as_ref().and_then(|p| p.request.clone()) else {
            return Ok(Output::Nothing);
        };
        let Some((seq, r)) = self.open_response(dg) else {
            return Ok(Output::Nothing);
        };
        let replay = seq <= self.in_seq;
        if replay || r.rq_seq != req.rq_seq || r.cmd != req.cmd || r.netfn != req.netfn + 1 {
            tracing::debug!(
                seq,
                rq_seq = r.rq_seq,
                cmd = r.cmd,
                "dropping stale response"
            );
            return Ok(Output::Nothing);
        }
        self.in_seq = seq;
        self.pending = None;
        match self.state {
            State::SetPrivilege => {
                if r.completion != 0 {
                    return Err(SessionError::Completion {
                        step: State::SetPrivilege.step(),
                        code: r.completion,
                    });
                }
                self.state = State::Idle;
                Ok(Output::Established)
            }
            State::Closing => {
                self.state = State::Closed;
                Ok(Output::Closed)
            }
            _ => {
                self.state = State::Idle;
                Ok(Output::Response(r))
            }
        }
    }

    fn open_response(&self, dg: &[u8]) -> Option<(u32, IpmiResponse)> {
        let suite = self.cfg.suite;
        let f = match packet::decode(dg, suite.integrity.icv_len()) {
            Ok(Frame::V20(f)) => f,
            _ => return None,
        };
        if f.payload_type & 0x3F != packet::PT_IPMI || f.session_id != self.console_sid {
            return None;
        }
        if let Err(e) = f.verify(suite.integrity, &self.k1) {
            tracing::debug!(error = %e, "dropping unauthenticated datagram");
            return None;
        }
        let msg = match suite.conf {
            ConfAlg::None => f.payload.to_vec(),
            ConfAlg::AesCbc128 => {
                if f.payload_type & PT_ENCRYPTED == 0 {
                    return None;
                }
                super::crypto::aes_cbc_decrypt(&self.k2, f.payload)?
            }
        };
        IpmiResponse::decode(&msg).ok().map(|r| (f.seq, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::crypto::{aes_cbc_encrypt, AuthAlg};
    use crate::ipmi::packet::tests::hex;
    use std::collections::VecDeque;

    /// Hands out prepared byte strings, in order, as "random" numbers.
    struct Script(VecDeque<Vec<u8>>);

    impl Entropy for Script {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), SessionError> {
            match self.0.pop_front() {
                Some(b) if b.len() == buf.len() => {
                    buf.copy_from_slice(&b);
                    Ok(())
                }
                _ => Err(SessionError::Entropy),
            }
        }
    }

    fn cfg(suite: u8, password: &[u8]) -> SessionConfig {
        SessionConfig {
            username: b"admin".to_vec(),
            password: password.to_vec(),
            kg: None,
            suite: CipherSuite::from_id(suite).unwrap(),
            privilege: Privilege::Administrator,
            retransmit: Duration::from_secs(1),
            attempts: 3,
        }
    }

    fn rmcpp(pt: u8, payload: &[u8]) -> Vec<u8> {
        packet::encode_v20(pt, 0, 0, payload, None)
    }

    // Values from `ipmitool -I lanplus -C 3 -vvvv` against ipmi_sim (user admin, password
    // "password"): console session ID 0xA0A2A3A4, BMC session ID 2.
    const RM: &str = "68199b32d04d695273cf2ac897002b5a";
    const RC: &str = "c47193bcd7829f52f766e7154741197f";
    const GUID: &str = "a123456789abcdefa123456789abcdef";
    const RAKP2_MAC: &str = "5b5c3b960aabdd5225bd99d9322a1f5a9a163cc9";
    const RAKP3_MAC: &str = "06f8e235b16ef3e998f4e859cb04f11dfc01dfeb";
    const SIK: &str = "2ccec6a41a93e57ad80656e7a68392b8237a0f0a";
    const K1: &str = "5a17d2f8442edeb740bdc82b4ca98dafc45f2d39";
    const K2: &str = "806e19278038f9c39a858ae2241fc4b3c42f6c20";
    const RAKP4_ICV: &str = "e08f905aad5612b69ab15653";
    const SETPRIV_IV: &str = "a4f7c6b483c894a50fc4b7602258eabf";
    const SETPRIV_CIPHERTEXT: &str = "b8008b1593d001f6ec415db689c9f524";
    /// The BMC's answer to Set Session Privilege Level (seq 1, rqSeq 1), AuthCode included.
    const SETPRIV_RESPONSE: &str = "0600ff0706c0a4a3a2a00100000020
        0059acb3e09453b1495961618ed65dafe4b97d288f3a802ce1764034e048d5b546ffff0207
        ed8145609a1460edf4079a00";
    /// The BMC's answer to Get Chassis Status (seq 6, rqSeq 6): power on.
    const CHASSIS_STATUS_RESPONSE: &str = "0600ff0706c0a4a3a2a00600000020
        00e0e51f4c45a3d2e7730c5be6bdc97c73e604ad4fc7a8f4d36bfe1272bfcce174ffff0207
        dd063b7bb7fc3ba01570bde8";

    fn captured_session(password: &[u8]) -> (Session, Instant, Result<Output, SessionError>) {
        let script = Script(VecDeque::from(vec![
            hex("a4a3a2a0"),
            hex(RM),
            hex(SETPRIV_IV),
        ]));
        let mut s = Session::new(cfg(3, password), Box::new(script)).unwrap();
        let now = Instant::now();
        assert_eq!(
            s.start(now).unwrap(),
            hex("0600ff07000000000000000000092018c88100388e04b5")
        );
        let caps = hex("0600ff0700000000000000000010811c6320003800019704030000000009");
        let Output::Send(open) = s.handle_datagram(now, &caps).unwrap() else {
            panic!()
        };
        assert_eq!(open, hex("0600ff0706100000000000000000200000000000a4a3a2a0000000080100000001000008010000000200000801000000"));
        let open_rsp =
            hex("00000000a4a3a2a002000000000000080100000001000008010000000200000801000000");
        let Output::Send(rakp1) = s.handle_datagram(now, &rmcpp(0x11, &open_rsp)).unwrap() else {
            panic!()
        };
        let mut want = hex("0002000000");
        want.extend(hex(RM));
        want.extend(hex("1400000561646d696e"));
        assert_eq!(&rakp1[16..20], &hex("00000000")[..]);
        assert_eq!(&rakp1[20..], &want[1..]);
        let mut rakp2 = hex("00000000a4a3a2a0");
        rakp2.extend(hex(RC));
        rakp2.extend(hex(GUID));
        rakp2.extend(hex(RAKP2_MAC));
        let out = s.handle_datagram(now, &rmcpp(0x13, &rakp2));
        (s, now, out)
    }

    #[test]
    fn handshake_reproduces_ipmitool_byte_for_byte() {
        let (mut s, now, out) = captured_session(b"password");
        let Output::Send(rakp3) = out.unwrap() else {
            panic!()
        };
        let mut want = hex("0000000002000000");
        want.extend(hex(RAKP3_MAC));
        assert_eq!(&rakp3[16..], &want[..]);
        let (sik, k1, k2) = s.keys();
        assert_eq!(sik, &hex(SIK)[..]);
        assert_eq!(k1, &hex(K1)[..]);
        assert_eq!(&k2[..], &hex(K2)[..16]);

        let mut rakp4 = hex("00000000a4a3a2a0");
        rakp4.extend(hex(RAKP4_ICV));
        let Output::Send(setpriv) = s.handle_datagram(now, &rmcpp(0x15, &rakp4)).unwrap() else {
            panic!()
        };
        // Same key, IV and message as ipmitool: same ciphertext (our session sequence differs).
        assert_eq!(&setpriv[4..6], &[0x06, 0xC0]);
        assert_eq!(&setpriv[6..10], &2u32.to_le_bytes());
        assert_eq!(&setpriv[16..32], &hex(SETPRIV_IV)[..]);
        assert_eq!(&setpriv[32..48], &hex(SETPRIV_CIPHERTEXT)[..]);

        // A corrupted copy of the answer is dropped; the real one completes the handshake.
        let mut forged = hex(SETPRIV_RESPONSE);
        forged[30] ^= 1;
        assert_eq!(s.handle_datagram(now, &forged).unwrap(), Output::Nothing);
        assert_eq!(
            s.handle_datagram(now, &hex(SETPRIV_RESPONSE)).unwrap(),
            Output::Established
        );
        assert!(s.is_idle());
    }

    #[test]
    fn captured_chassis_status_decrypts_to_power_on() {
        let mut k2 = [0u8; 16];
        k2.copy_from_slice(&hex(K2)[..16]);
        let dg = hex(CHASSIS_STATUS_RESPONSE);
        let Ok(Frame::V20(f)) = packet::decode(&dg, 12) else {
            panic!()
        };
        f.verify(IntegrityAlg::HmacSha1_96, &hex(K1)).unwrap();
        let msg = crate::ipmi::crypto::aes_cbc_decrypt(&k2, f.payload).unwrap();
        let r = IpmiResponse::decode(&msg).unwrap();
        assert_eq!((r.netfn, r.cmd, r.rq_seq, r.completion), (0x01, 0x01, 6, 0));
        assert_eq!(r.data[0] & 1, 1);
    }

    #[test]
    fn wrong_password_fails_at_rakp2() {
        let (_, _, out) = captured_session(b"wrong");
        assert_eq!(out, Err(SessionError::AuthFailed));
    }

    #[test]
    fn refusals_are_reported_with_the_step() {
        let script = Script(VecDeque::from(vec![hex("a4a3a2a0")]));
        let mut s = Session::new(cfg(17, b"password"), Box::new(script)).unwrap();
        let now = Instant::now();
        s.start(now).unwrap();
        let caps = hex("0600ff0700000000000000000010811c6320003800019704030000000009");
        s.handle_datagram(now, &caps).unwrap();
        let err = s
            .handle_datagram(now, &rmcpp(0x11, &hex("00040000a4a3a2a0")))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "device refused RMCP+ Open Session: invalid authentication algorithm"
        );
    }

    #[test]
    fn retransmits_then_times_out() {
        let mut s = Session::new(cfg(3, b"password"), Box::new(Script(VecDeque::new()))).unwrap();
        let t0 = Instant::now();
        let first = s.start(t0).unwrap();
        assert_eq!(s.handle_timeout(t0).unwrap(), None);
        let t1 = s.deadline().unwrap();
        assert_eq!(s.handle_timeout(t1).unwrap(), Some(first.clone()));
        let t2 = s.deadline().unwrap();
        assert!(t2 > t1);
        assert_eq!(s.handle_timeout(t2).unwrap(), Some(first));
        let err = s.handle_timeout(s.deadline().unwrap()).unwrap_err();
        assert_eq!(
            err,
            SessionError::Timeout {
                step: "Get Channel Authentication Capabilities",
                attempts: 3
            }
        );
    }

    /// A minimal BMC written straight from the specification, for suites ipmi_sim lacks (17).
    struct TestBmc {
        alg: AuthAlg,
        integrity: IntegrityAlg,
        console_sid: u32,
        rm: Vec<u8>,
        k1: Vec<u8>,
        k2: [u8; 16],
        seq: u32,
    }

    impl TestBmc {
        const SID: u32 = 0x0BADCAFE;
        const RC: [u8; 16] = [0x11; 16];
        const GUID: [u8; 16] = [0x22; 16];

        fn answer(&mut self, dg: &[u8]) -> Vec<u8> {
            let kuid = b"password";
            match packet::decode(dg, self.integrity.icv_len()).unwrap() {
                Frame::V15 { .. } => {
                    hex("0600ff0700000000000000000010811c6320003800019704030000000009")
                }
                Frame::V20(f) => match f.payload_type & 0x3F {
                    0x10 => {
                        self.console_sid = u32::from_le_bytes(f.payload[4..8].try_into().unwrap());
                        let mut p = vec![f.payload[0], 0, 4, 0];
                        p.extend(self.console_sid.to_le_bytes());
                        p.extend(Self::SID.to_le_bytes());
                        p.extend_from_slice(&f.payload[8..32]);
                        rmcpp(0x11, &p)
                    }
                    0x12 => {
                        self.rm = f.payload[8..24].to_vec();
                        let tail = &f.payload[24..];
                        let (role, ulen, user) = (tail[0], tail[3], &tail[4..]);
                        let code = self.alg.hmac(
                            kuid,
                            &[
                                &self.console_sid.to_le_bytes(),
                                &Self::SID.to_le_bytes(),
                                &self.rm,
                                &Self::RC,
                                &Self::GUID,
                                &[role, ulen],
                                user,
                            ],
                        );
                        let sik = self
                            .alg
                            .hmac(kuid, &[&self.rm, &Self::RC, &[role, ulen], user]);
                        self.k1 = self.alg.hmac(&sik, &[&[1; 20]]);
                        self.k2
                            .copy_from_slice(&self.alg.hmac(&sik, &[&[2; 20]])[..16]);
                        let mut p = vec![0, 0, 0, 0];
                        p.extend(self.console_sid.to_le_bytes());
                        p.extend(Self::RC);
                        p.extend(Self::GUID);
                        p.extend(code);
                        self.rm.extend(sik);
                        rmcpp(0x13, &p)
                    }
                    0x14 => {
                        let sik = self.rm.split_off(16);
                        let icv = self
                            .alg
                            .hmac(&sik, &[&self.rm, &Self::SID.to_le_bytes(), &Self::GUID]);
                        let mut p = vec![0, 0, 0, 0];
                        p.extend(self.console_sid.to_le_bytes());
                        p.extend_from_slice(&icv[..self.alg.rakp4_icv_len()]);
                        rmcpp(0x15, &p)
                    }
                    _ => {
                        f.verify(self.integrity, &self.k1).unwrap();
                        let req =
                            crate::ipmi::crypto::aes_cbc_decrypt(&self.k2, f.payload).unwrap();
                        let (netfn, seq, cmd) = (req[1] >> 2, req[4], req[5]);
                        let data: &[u8] = if netfn == 0 && cmd == 1 {
                            &[0x01, 0, 0, 0]
                        } else {
                            &[]
                        };
                        let mut m = vec![0x81, (netfn + 1) << 2];
                        m.push(packet::checksum(&m));
                        m.extend([0x20, seq, cmd, 0x00]);
                        m.extend_from_slice(data);
                        m.push(packet::checksum(&m[3..]));
                        self.seq += 1;
                        let payload = aes_cbc_encrypt(&self.k2, &[0x33; 16], &m);
                        packet::encode_v20(
                            0xC0,
                            self.console_sid,
                            self.seq,
                            &payload,
                            Some((self.integrity, &self.k1)),
                        )
                    }
                },
            }
        }
    }

    #[test]
    fn suite_17_session_against_a_spec_bmc() {
        let script = Script(VecDeque::from(vec![
            vec![1, 2, 3, 4],
            vec![5; 16],
            vec![6; 16],
            vec![7; 16],
            vec![8; 16],
        ]));
        let mut s = Session::new(cfg(17, b"password"), Box::new(script)).unwrap();
        let mut bmc = TestBmc {
            alg: AuthAlg::HmacSha256,
            integrity: IntegrityAlg::HmacSha256_128,
            console_sid: 0,
            rm: vec![],
            k1: vec![],
            k2: [0; 16],
            seq: 0,
        };
        let now = Instant::now();
        let mut dg = s.start(now).unwrap();
        loop {
            match s.handle_datagram(now, &bmc.answer(&dg)).unwrap() {
                Output::Send(next) => dg = next,
                Output::Established => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(s.keys().1.len(), 32);
        let req = s.request(now, 0x00, 0x01, &[]).unwrap();
        let Output::Response(r) = s.handle_datagram(now, &bmc.answer(&req)).unwrap() else {
            panic!()
        };
        assert_eq!((r.cmd, r.completion, r.data[0] & 1), (0x01, 0, 1));
        let close = s.close(now).unwrap().unwrap();
        assert_eq!(
            s.handle_datagram(now, &bmc.answer(&close)).unwrap(),
            Output::Closed
        );
    }

    fn suite17_established() -> (Session, TestBmc, Instant) {
        let mut script = vec![vec![1, 2, 3, 4], vec![5; 16]];
        script.extend((0..200).map(|i| vec![i as u8; 16]));
        let mut s = Session::new(
            cfg(17, b"password"),
            Box::new(Script(VecDeque::from(script))),
        )
        .unwrap();
        let mut bmc = TestBmc {
            alg: AuthAlg::HmacSha256,
            integrity: IntegrityAlg::HmacSha256_128,
            console_sid: 0,
            rm: vec![],
            k1: vec![],
            k2: [0; 16],
            seq: 0,
        };
        let now = Instant::now();
        let mut dg = s.start(now).unwrap();
        while let Output::Send(next) = s.handle_datagram(now, &bmc.answer(&dg)).unwrap() {
            dg = next;
        }
        assert!(s.is_idle());
        (s, bmc, now)
    }

    #[test]
    fn lost_request_is_resent_with_a_new_sequence_number() {
        let (mut s, mut bmc, now) = suite17_established();
        let first = s.request(now, 0x00, 0x01, &[]).unwrap();
        let again = s.handle_timeout(s.deadline().unwrap()).unwrap().unwrap();
        assert_ne!(first[10..14], again[10..14]);
        // The answer to the lost first copy would match too; here only the second arrives.
        let Output::Response(r) = s.handle_datagram(now, &bmc.answer(&again)).unwrap() else {
            panic!()
        };
        assert_eq!(r.cmd, 0x01);
        assert!(s.is_idle());
    }

    #[test]
    fn replayed_answers_are_dropped() {
        let (mut s, mut bmc, now) = suite17_established();
        let req = s.request(now, 0x00, 0x01, &[]).unwrap();
        let answer = bmc.answer(&req);
        assert!(matches!(
            s.handle_datagram(now, &answer).unwrap(),
            Output::Response(_)
        ));
        // Go once round the 6-bit rqSeq space (63 values) so the old answer's rqSeq matches again.
        for _ in 0..62 {
            let req = s.request(now, 0x00, 0x01, &[]).unwrap();
            assert!(matches!(
                s.handle_datagram(now, &bmc.answer(&req)).unwrap(),
                Output::Response(_)
            ));
        }
        let req = s.request(now, 0x00, 0x01, &[]).unwrap();
        assert_eq!(s.handle_datagram(now, &answer).unwrap(), Output::Nothing);
        assert!(matches!(
            s.handle_datagram(now, &bmc.answer(&req)).unwrap(),
            Output::Response(_)
        ));
    }

    proptest::proptest! {
        #[test]
        fn garbage_in_any_state_never_panics(junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100), cut in 0usize..80) {
            let (mut s, now, _) = captured_session(b"password");
            let _ = s.handle_datagram(now, &junk);
            let mut truncated = hex(SETPRIV_RESPONSE);
            truncated.truncate(cut);
            let _ = s.handle_datagram(now, &truncated);
            let mut prefixed = hex("0600ff0706c0");
            prefixed.extend(&junk);
            let _ = s.handle_datagram(now, &prefixed);
        }

        #[test]
        fn corrupted_answers_in_session_are_dropped(flip in 0usize..80, bit in 0u8..8, cut in 0usize..90) {
            let (mut s, mut bmc, now) = suite17_established();
            let req = s.request(now, 0x00, 0x01, &[]).unwrap();
            let answer = bmc.answer(&req);
            let mut bad = answer.clone();
            if flip < bad.len() {
                bad[flip] ^= 1 << bit;
                proptest::prop_assert_eq!(s.handle_datagram(now, &bad).unwrap(), Output::Nothing);
            }
            if cut < answer.len() {
                proptest::prop_assert_eq!(s.handle_datagram(now, &answer[..cut]).unwrap(), Output::Nothing);
            }
            proptest::prop_assert!(matches!(s.handle_datagram(now, &answer).unwrap(), Output::Response(_)));
        }
    }
}
