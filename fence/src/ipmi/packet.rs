//! Byte layouts of IPMI over LAN: the RMCP header, IPMI v1.5 and v2.0 (RMCP+) session wrappers, the
//! IPMI message with its two checksums, and the RMCP+ handshake payloads (Open Session, RAKP 1–4).
//!
//! Pure encoding and decoding, no state and no I/O: the session state machine (`super::session`)
//! decides what to send and what a reply means. Decoders take untrusted bytes from the network, so
//! every read is bounds-checked and malformed input becomes a [`PacketError`], never a panic.

use super::crypto::{ct_eq, CipherSuite, IntegrityAlg};

/// RMCP header: version 6, reserved, sequence 0xFF (no RMCP ACK), class 7 (IPMI).
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Session header auth type meaning "RMCP+ (IPMI v2.0) format".
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;
/// Payload type bit: payload is encrypted.
pub const PT_ENCRYPTED: u8 = 0x80;
/// Payload type bit: packet carries an AuthCode trailer.
pub const PT_AUTHENTICATED: u8 = 0x40;
/// Payload types (low six bits).
pub const PT_IPMI: u8 = 0x00;
/// RMCP+ Open Session Request.
pub const PT_OPEN_SESSION_REQUEST: u8 = 0x10;
/// RMCP+ Open Session Response.
pub const PT_OPEN_SESSION_RESPONSE: u8 = 0x11;
/// RAKP Message 1.
pub const PT_RAKP1: u8 = 0x12;
/// RAKP Message 2.
pub const PT_RAKP2: u8 = 0x13;
/// RAKP Message 3.
pub const PT_RAKP3: u8 = 0x14;
/// RAKP Message 4.
pub const PT_RAKP4: u8 = 0x15;

/// BMC responder address and our (software ID) requester address.
pub const BMC_ADDR: u8 = 0x20;
/// Remote console software ID 0x40, as ipmitool uses (0x81 = 0x40 << 1 | 1).
pub const CONSOLE_ADDR: u8 = 0x81;

/// What is wrong with a received datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than the layout needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Not an RMCP/IPMI packet, or an auth type we do not speak.
    #[error("not an IPMI-over-RMCP packet")]
    NotIpmi,
    /// A length field disagrees with the datagram.
    #[error("inconsistent length in {0}")]
    BadLength(&'static str),
    /// An IPMI message checksum does not add up.
    #[error("bad IPMI message checksum")]
    BadChecksum,
    /// The integrity trailer is malformed.
    #[error("malformed integrity trailer")]
    BadTrailer,
    /// The AuthCode does not match (forged or corrupted packet, or wrong keys).
    #[error("integrity check failed")]
    BadAuthCode,
    /// The encrypted payload cannot be decrypted.
    #[error("cannot decrypt payload")]
    Decrypt,
}

fn need<'a>(b: &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], PacketError> {
    b.get(..n).ok_or(PacketError::Truncated(what))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Two's complement of the byte sum: what makes the covered bytes plus the checksum sum to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

/// An IPMI request message addressed to the BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRequest {
    /// Network function (even: request).
    pub netfn: u8,
    /// Command number.
    pub cmd: u8,
    /// Requester sequence number (6 bits), echoed in the response.
    pub rq_seq: u8,
    /// Request data.
    pub data: Vec<u8>,
}

impl IpmiRequest {
    /// `rsAddr, netFn/LUN, chk1, rqAddr, rqSeq/LUN, cmd, data…, chk2`.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = vec![BMC_ADDR, self.netfn << 2];
        m.push(checksum(&m));
        m.extend_from_slice(&[CONSOLE_ADDR, (self.rq_seq & 0x3F) << 2, self.cmd]);
        m.extend_from_slice(&self.data);
        m.push(checksum(&m[3..]));
        m
    }
}

/// An IPMI response message from the BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiResponse {
    /// Network function (odd: response).
    pub netfn: u8,
    /// Command number.
    pub cmd: u8,
    /// Echoed requester sequence number.
    pub rq_seq: u8,
    /// Completion code (0 = success).
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

impl IpmiResponse {
    /// Parse and check both checksums.
    pub fn decode(m: &[u8]) -> Result<IpmiResponse, PacketError> {
        if m.len() < 8 {
            return Err(PacketError::Truncated("IPMI response message"));
        }
        if checksum(&m[..2]) != m[2] || checksum(&m[3..m.len() - 1]) != m[m.len() - 1] {
            return Err(PacketError::BadChecksum);
        }
        Ok(IpmiResponse {
            netfn: m[1] >> 2,
            rq_seq: m[4] >> 2,
            cmd: m[5],
            completion: m[6],
            data: m[7..m.len() - 1].to_vec(),
        })
    }
}

/// IPMI v1.5 session wrapper with auth type NONE: only used before a session exists (Get Channel
/// Authentication Capabilities).
pub fn encode_v15(session_id: u32, seq: u32, msg: &[u8]) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.push(0x00);
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&session_id.to_le_bytes());
    p.push(msg.len() as u8);
    p.extend_from_slice(msg);
    p
}

/// A decoded session wrapper. Payloads are borrowed from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// IPMI v1.5 wrapper (auth type NONE only; we never open 1.5 sessions).
    V15 {
        /// Session ID field.
        session_id: u32,
        /// The IPMI message.
        msg: &'a [u8],
    },
    /// RMCP+ wrapper.
    V20(V20Frame<'a>),
}

/// An RMCP+ packet, its integrity trailer split off but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V20Frame<'a> {
    /// Full payload type byte (with encrypted/authenticated bits).
    pub payload_type: u8,
    /// Session ID (ours, in packets from the BMC).
    pub session_id: u32,
    /// Session sequence number.
    pub seq: u32,
    /// The payload as sent (possibly encrypted).
    pub payload: &'a [u8],
    /// The bytes the AuthCode covers (from the auth type byte to the next-header byte).
    pub signed: &'a [u8],
    /// The AuthCode (empty when unauthenticated).
    pub auth_code: &'a [u8],
}

impl V20Frame<'_> {
    /// Check the AuthCode with `alg` keyed by K1.
    pub fn verify(&self, alg: IntegrityAlg, k1: &[u8]) -> Result<(), PacketError> {
        if alg == IntegrityAlg::None {
            return Ok(());
        }
        if self.payload_type & PT_AUTHENTICATED == 0 {
            return Err(PacketError::BadAuthCode);
        }
        if ct_eq(&alg.auth_code(k1, self.signed), self.auth_code) {
            Ok(())
        } else {
            Err(PacketError::BadAuthCode)
        }
    }
}

/// Split a datagram into its session wrapper. `icv_len` is the AuthCode length of the session's
/// integrity algorithm (used only when the packet says it is authenticated).
pub fn decode(dg: &[u8], icv_len: usize) -> Result<Frame<'_>, PacketError> {
    let h = need(dg, 5, "RMCP header")?;
    if h[..4] != RMCP_HEADER {
        return Err(PacketError::NotIpmi);
    }
    match h[4] {
        0x00 => {
            let s = need(dg, 14, "IPMI v1.5 session header")?;
            let len = s[13] as usize;
            let msg = dg
                .get(14..14 + len)
                .ok_or(PacketError::BadLength("v1.5 session"))?;
            Ok(Frame::V15 {
                session_id: le32(&s[9..13]),
                msg,
            })
        }
        AUTH_TYPE_RMCP_PLUS => {
            let s = need(dg, 16, "RMCP+ session header")?;
            let payload_type = s[5];
            let len = u16::from_le_bytes([s[14], s[15]]) as usize;
            let payload = dg
                .get(16..16 + len)
                .ok_or(PacketError::BadLength("RMCP+ session"))?;
            let (signed, auth_code) = if payload_type & PT_AUTHENTICATED != 0 {
                // Trailer: 0xFF pad, pad length, next header 0x07, AuthCode.
                let end = dg
                    .len()
                    .checked_sub(icv_len)
                    .ok_or(PacketError::BadTrailer)?;
                let next_header_at = end.checked_sub(1).ok_or(PacketError::BadTrailer)?;
                let pad_len_at = end.checked_sub(2).ok_or(PacketError::BadTrailer)?;
                if next_header_at < 16 + len || pad_len_at < 16 + len || dg[next_header_at] != 0x07
                {
                    return Err(PacketError::BadTrailer);
                }
                let pad = dg[pad_len_at] as usize;
                if 16 + len + pad != pad_len_at {
                    return Err(PacketError::BadTrailer);
                }
                (&dg[4..end], &dg[end..])
            } else {
                (&dg[4..16 + len], &dg[dg.len()..])
            };
            Ok(Frame::V20(V20Frame {
                payload_type,
                session_id: le32(&s[6..10]),
                seq: le32(&s[10..14]),
                payload,
                signed,
                auth_code,
            }))
        }
        _ => Err(PacketError::NotIpmi),
    }
}

/// Wrap `payload` (already encrypted if the type says so) in an RMCP+ packet, adding the integrity
/// trailer when `integrity` names an algorithm and K1.
pub fn encode_v20(
    payload_type: u8,
    session_id: u32,
    seq: u32,
    payload: &[u8],
    integrity: Option<(IntegrityAlg, &[u8])>,
) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.push(AUTH_TYPE_RMCP_PLUS);
    p.push(payload_type);
    p.extend_from_slice(&session_id.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    p.extend_from_slice(payload);
    if let Some((alg, k1)) = integrity {
        if alg != IntegrityAlg::None {
            // The signed area (auth type .. next header) must be a multiple of 4 bytes.
            let signed_len = p.len() - 4 + 2;
            let pad = (4 - signed_len % 4) % 4;
            p.extend(std::iter::repeat_n(0xFF, pad));
            p.push(pad as u8);
            p.push(0x07);
            let code = alg.auth_code(k1, &p[4..]);
            p.extend_from_slice(&code);
        }
    }
    p
}

/// RMCP+ Open Session Request (§13.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// Message tag, echoed by the BMC.
    pub tag: u8,
    /// Requested maximum privilege (0 = highest the user may have).
    pub max_privilege: u8,
    /// Our session ID: the BMC puts it in every packet it sends us.
    pub console_sid: u32,
    /// The proposed algorithms.
    pub suite: CipherSuite,
}

impl OpenSessionRequest {
    /// Encode the 32-byte payload.
    pub fn encode(&self) -> Vec<u8> {
        let (a, i, c) = self.suite.wire_numbers();
        let mut p = vec![self.tag, self.max_privilege, 0, 0];
        p.extend_from_slice(&self.console_sid.to_le_bytes());
        for (kind, alg) in [(0u8, a), (1, i), (2, c)] {
            p.extend_from_slice(&[kind, 0, 0, 8, alg, 0, 0, 0]);
        }
        p
    }
}

/// RMCP+ Open Session Response (§13.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Echoed tag.
    pub tag: u8,
    /// RMCP+ status code (0 = success).
    pub status: u8,
    /// Our session ID as echoed.
    pub console_sid: u32,
    /// The BMC's session ID (0 on error).
    pub bmc_sid: u32,
    /// Accepted (authentication, integrity, confidentiality) algorithm numbers.
    pub algorithms: (u8, u8, u8),
}

impl OpenSessionResponse {
    /// Decode; an error status may come with a short payload.
    pub fn decode(p: &[u8]) -> Result<OpenSessionResponse, PacketError> {
        let h = need(p, 2, "Open Session Response")?;
        let (tag, status) = (h[0], h[1]);
        // BMCs (ipmi_sim among them) may shorten an error answer to tag and status.
        let console_sid = p.get(4..8).map(le32).unwrap_or(0);
        if status != 0 {
            return Ok(OpenSessionResponse {
                tag,
                status,
                console_sid,
                bmc_sid: 0,
                algorithms: (0, 0, 0),
            });
        }
        let b = need(p, 36, "Open Session Response")?;
        Ok(OpenSessionResponse {
            tag,
            status,
            console_sid,
            bmc_sid: le32(&b[8..12]),
            algorithms: (b[16], b[24], b[32]),
        })
    }
}

/// RAKP Message 1 (§13.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp1 {
    /// Message tag.
    pub tag: u8,
    /// The BMC's session ID.
    pub bmc_sid: u32,
    /// Console random number Rm.
    pub rm: [u8; 16],
    /// Requested role: privilege in bits 0–3, bit 4 = name-only lookup.
    pub role: u8,
    /// User name (at most 16 bytes).
    pub username: Vec<u8>,
}

impl Rakp1 {
    /// Encode the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, 0, 0, 0];
        p.extend_from_slice(&self.bmc_sid.to_le_bytes());
        p.extend_from_slice(&self.rm);
        p.extend_from_slice(&[self.role, 0, 0, self.username.len() as u8]);
        p.extend_from_slice(&self.username);
        p
    }
}

/// RAKP Message 2 (§13.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    /// Echoed tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// Our session ID.
    pub console_sid: u32,
    /// BMC random number Rc.
    pub rc: [u8; 16],
    /// BMC GUID.
    pub guid: [u8; 16],
    /// Key exchange auth code (HMAC over the handshake values, keyed with the user password).
    pub auth_code: Vec<u8>,
}

impl Rakp2 {
    /// Decode; `digest_len` is the RAKP algorithm's digest length.
    pub fn decode(p: &[u8], digest_len: usize) -> Result<Rakp2, PacketError> {
        let h = need(p, 2, "RAKP 2")?;
        let (tag, status) = (h[0], h[1]);
        // BMCs (ipmi_sim among them) may shorten an error answer to tag and status.
        let console_sid = p.get(4..8).map(le32).unwrap_or(0);
        if status != 0 {
            return Ok(Rakp2 {
                tag,
                status,
                console_sid,
                rc: [0; 16],
                guid: [0; 16],
                auth_code: vec![],
            });
        }
        let b = need(p, 40 + digest_len, "RAKP 2")?;
        let mut rc = [0u8; 16];
        rc.copy_from_slice(&b[8..24]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&b[24..40]);
        Ok(Rakp2 {
            tag,
            status,
            console_sid,
            rc,
            guid,
            auth_code: b[40..].to_vec(),
        })
    }
}

/// RAKP Message 3 (§13.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp3 {
    /// Message tag.
    pub tag: u8,
    /// Status we report (0 = RAKP 2 was fine).
    pub status: u8,
    /// The BMC's session ID.
    pub bmc_sid: u32,
    /// Key exchange auth code.
    pub auth_code: Vec<u8>,
}

impl Rakp3 {
    /// Encode the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, self.status, 0, 0];
        p.extend_from_slice(&self.bmc_sid.to_le_bytes());
        p.extend_from_slice(&self.auth_code);
        p
    }
}

/// RAKP Message 4 (§13.23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp4 {
    /// Echoed tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// Our session ID.
    pub console_sid: u32,
    /// Integrity check value (first bytes of an HMAC keyed with SIK).
    pub icv: Vec<u8>,
}

impl Rakp4 {
    /// Decode; `icv_len` is the expected ICV length for the RAKP algorithm.
    pub fn decode(p: &[u8], icv_len: usize) -> Result<Rakp4, PacketError> {
        let h = need(p, 2, "RAKP 4")?;
        let (tag, status) = (h[0], h[1]);
        // BMCs (ipmi_sim among them) may shorten an error answer to tag and status.
        let console_sid = p.get(4..8).map(le32).unwrap_or(0);
        if status != 0 {
            return Ok(Rakp4 {
                tag,
                status,
                console_sid,
                icv: vec![],
            });
        }
        let b = need(p, 8 + icv_len, "RAKP 4")?;
        Ok(Rakp4 {
            tag,
            status,
            console_sid,
            icv: b[8..8 + icv_len].to_vec(),
        })
    }
}

/// Text of an RMCP+ status code (Table 13-15), for error messages.
pub fn rmcp_status_text(code: u8) -> &'static str {
    match code {
        0x00 => "no errors",
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "unknown status",
    }
}

/// Text of an IPMI completion code (§5.2, Table 5-2), for error messages.
pub fn completion_text(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "command invalid for given LUN",
        0xC3 => "timeout while processing command",
        0xC4 => "out of space",
        0xC5 => "reservation cancelled or invalid",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return number of requested data bytes",
        0xCB => "requested sensor, data, or record not present",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for specified sensor or record type",
        0xCE => "command response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0 => "SDR repository in update mode",
        0xD1 => "device in firmware update mode",
        0xD2 => "BMC initialization in progress",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "command not supported in present state",
        0xD6 => "command sub-function disabled or unavailable",
        _ => "unspecified error",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Hex to bytes for test vectors (whitespace ignored).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Datagrams captured between ipmitool 1.8.19 (`-I lanplus -C 3 -U admin`) and ipmi_sim.
    const CAP_AUTH_CAPS_REQ: &str = "0600ff07000000000000000000092018c88100388e04b5";
    const CAP_AUTH_CAPS_RSP: &str = "0600ff0700000000000000000010811c6320003800019704030000000009";
    const CAP_OPEN_REQ: &str = "0600ff0706100000000000000000200000000000a4a3a2a0000000080100000001000008010000000200000801000000";
    const CAP_OPEN_RSP: &str = "0600ff0706110000000000000000240000000000a4a3a2a002010000000000080100000001000008010000000200000801000000";
    const CAP_RAKP1: &str = "0600ff0706120000000000000000210000000000020100002be8f1b92b8b673d5b88dbee4970f8a31400000561646d696e";
    const CAP_RAKP4: &str =
        "0600ff0706150000000000000000140000000000a4a3a2a0617492af82a773ba51461987";

    #[test]
    fn checksum_is_twos_complement() {
        assert_eq!(checksum(&[0x20, 0x18]), 0xC8);
        assert_eq!(checksum(&[]), 0);
    }

    #[test]
    fn get_channel_auth_caps_request_matches_ipmitool() {
        let msg = IpmiRequest {
            netfn: 0x06,
            cmd: 0x38,
            rq_seq: 0,
            data: vec![0x8E, 0x04],
        }
        .encode();
        assert_eq!(encode_v15(0, 0, &msg), hex(CAP_AUTH_CAPS_REQ));
    }

    #[test]
    fn get_channel_auth_caps_response_decodes() {
        let dg = hex(CAP_AUTH_CAPS_RSP);
        let Frame::V15 { session_id, msg } = decode(&dg, 0).unwrap() else {
            panic!("not v1.5")
        };
        assert_eq!(session_id, 0);
        let r = IpmiResponse::decode(msg).unwrap();
        assert_eq!((r.netfn, r.cmd, r.rq_seq, r.completion), (0x07, 0x38, 0, 0));
        // Channel 1, IPMI 2.0 extended capabilities (bit 7) and IPMI 2.0 support (bit 1).
        assert_eq!(r.data, vec![0x01, 0x97, 0x04, 0x03, 0, 0, 0, 0]);
    }

    #[test]
    fn open_session_request_matches_ipmitool() {
        let req = OpenSessionRequest {
            tag: 0,
            max_privilege: 0,
            console_sid: 0xA0A2A3A4,
            suite: CipherSuite::from_id(3).unwrap(),
        };
        assert_eq!(
            encode_v20(PT_OPEN_SESSION_REQUEST, 0, 0, &req.encode(), None),
            hex(CAP_OPEN_REQ)
        );
    }

    #[test]
    fn open_session_response_decodes() {
        let dg = hex(CAP_OPEN_RSP);
        let Frame::V20(f) = decode(&dg, 0).unwrap() else {
            panic!("not v2")
        };
        assert_eq!(f.payload_type, PT_OPEN_SESSION_RESPONSE);
        let r = OpenSessionResponse::decode(f.payload).unwrap();
        assert_eq!(r.status, 0);
        assert_eq!(r.console_sid, 0xA0A2A3A4);
        assert_eq!(r.bmc_sid, 0x0000_0102);
        assert_eq!(r.algorithms, (1, 1, 1));
    }

    #[test]
    fn rakp1_matches_ipmitool() {
        let mut rm = [0u8; 16];
        rm.copy_from_slice(&hex("2be8f1b92b8b673d5b88dbee4970f8a3"));
        let m = Rakp1 {
            tag: 0,
            bmc_sid: 0x102,
            rm,
            role: 0x14,
            username: b"admin".to_vec(),
        };
        assert_eq!(
            encode_v20(PT_RAKP1, 0, 0, &m.encode(), None),
            hex(CAP_RAKP1)
        );
    }

    #[test]
    fn rakp4_decodes() {
        let dg = hex(CAP_RAKP4);
        let Frame::V20(f) = decode(&dg, 0).unwrap() else {
            panic!("not v2")
        };
        let r = Rakp4::decode(f.payload, 12).unwrap();
        assert_eq!(r.console_sid, 0xA0A2A3A4);
        assert_eq!(r.icv, hex("617492af82a773ba51461987"));
    }

    #[test]
    fn error_statuses_decode_from_short_payloads() {
        // ipmi_sim 2.0.33 answers a suite 17 proposal with just tag and status.
        let r = OpenSessionResponse::decode(&hex("0004")).unwrap();
        assert_eq!(r.status, 4);
        assert_eq!(
            rmcp_status_text(r.status),
            "invalid authentication algorithm"
        );
        assert_eq!(
            Rakp2::decode(&hex("000d0000a4a3a2a0"), 20).unwrap().status,
            0x0D
        );
    }

    #[test]
    fn request_and_response_round_trip() {
        let req = IpmiRequest {
            netfn: 0x00,
            cmd: 0x02,
            rq_seq: 5,
            data: vec![0x01],
        }
        .encode();
        // Turn the request into a response by hand: swap addresses, odd netfn, completion code.
        let mut rsp = vec![CONSOLE_ADDR, 0x01 << 2];
        rsp.push(checksum(&rsp));
        rsp.extend_from_slice(&[BMC_ADDR, 5 << 2, 0x02, 0x00]);
        rsp.push(checksum(&rsp[3..]));
        let r = IpmiResponse::decode(&rsp).unwrap();
        assert_eq!((r.netfn, r.cmd, r.rq_seq, r.completion), (1, 2, 5, 0));
        assert_eq!(req[6], 0x01);
        let mut bad = rsp.clone();
        bad[6] ^= 1;
        assert_eq!(IpmiResponse::decode(&bad), Err(PacketError::BadChecksum));
    }

    #[test]
    fn integrity_trailer_round_trips_and_detects_tampering() {
        let k1 = [0x5Au8; 20];
        for len in 0..9 {
            let payload = vec![0xAB; len];
            let dg = encode_v20(
                PT_IPMI | PT_AUTHENTICATED,
                7,
                9,
                &payload,
                Some((IntegrityAlg::HmacSha1_96, &k1)),
            );
            assert_eq!((dg.len() - 4 - 12) % 4, 0);
            let Frame::V20(f) = decode(&dg, 12).unwrap() else {
                panic!("not v2")
            };
            assert_eq!(f.payload, &payload[..]);
            f.verify(IntegrityAlg::HmacSha1_96, &k1).unwrap();
            let mut bad = dg.clone();
            bad[16] ^= 0x80;
            if let Ok(Frame::V20(f)) = decode(&bad, 12) {
                assert!(f.verify(IntegrityAlg::HmacSha1_96, &k1).is_err());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), icv in 0usize..20) {
            if let Ok(Frame::V20(f)) = decode(&data, icv) {
                let _ = f.verify(IntegrityAlg::HmacSha1_96, &[1; 20]);
                let _ = OpenSessionResponse::decode(f.payload);
                let _ = Rakp2::decode(f.payload, 32);
                let _ = Rakp4::decode(f.payload, 16);
            }
            let _ = IpmiResponse::decode(&data);
        }

        #[test]
        fn truncated_and_corrupted_captures_never_panic(cut in 0usize..60, flip in 0usize..60, bit in 0u8..8) {
            for cap in [CAP_AUTH_CAPS_RSP, CAP_OPEN_RSP, CAP_RAKP4] {
                let mut dg = hex(cap);
                if flip < dg.len() { dg[flip] ^= 1 << bit; }
                dg.truncate(cut.min(dg.len()));
                match decode(&dg, 12) {
                    Ok(Frame::V20(f)) => {
                        let _ = OpenSessionResponse::decode(f.payload);
                        let _ = Rakp4::decode(f.payload, 12);
                    }
                    Ok(Frame::V15 { msg, .. }) => { let _ = IpmiResponse::decode(msg); }
                    Err(_) => {}
                }
            }
        }
    }
}
