//! The RMCP+ cipher suites and the keyed primitives they name (IPMI v2.0 §13.28–13.29, Table 22-20).
//!
//! Everything cryptographic the session needs goes through here, built on the RustCrypto crates, so
//! that the packet and session code only talks about "the suite's HMAC" and never about SHA-1 vs
//! SHA-256 details.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Authentication (RAKP) algorithm: keys the handshake HMACs and derives SIK, K1, K2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlg {
    /// RAKP-HMAC-SHA1 (algorithm number 0x01).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (algorithm number 0x03).
    HmacSha256,
}

/// Integrity algorithm: the AuthCode appended to every in-session packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    /// No AuthCode.
    None,
    /// HMAC-SHA1-96 (0x01): HMAC-SHA1 keyed with K1, first 12 bytes.
    HmacSha1_96,
    /// HMAC-SHA256-128 (0x04): HMAC-SHA256 keyed with K1, first 16 bytes.
    HmacSha256_128,
}

/// Confidentiality algorithm: how in-session payloads are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfAlg {
    /// Payloads in clear.
    None,
    /// AES-CBC-128 (0x01) keyed with the first 16 bytes of K2, random IV per packet.
    AesCbc128,
}

/// A cipher suite: the triple of algorithms negotiated in Open Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// The suite number of Table 22-20 (what `-C` names).
    pub id: u8,
    /// RAKP algorithm.
    pub auth: AuthAlg,
    /// Packet integrity algorithm.
    pub integrity: IntegrityAlg,
    /// Packet confidentiality algorithm.
    pub conf: ConfAlg,
}

impl CipherSuite {
    /// The suites this implementation speaks. Suite 0 (no authentication at all) is refused on
    /// purpose: a fence agent must not power off machines for anyone who can send a UDP packet.
    pub fn from_id(id: u8) -> Option<CipherSuite> {
        use AuthAlg::*;
        let (auth, integrity, conf) = match id {
            1 => (HmacSha1, IntegrityAlg::None, ConfAlg::None),
            2 => (HmacSha1, IntegrityAlg::HmacSha1_96, ConfAlg::None),
            3 => (HmacSha1, IntegrityAlg::HmacSha1_96, ConfAlg::AesCbc128),
            15 => (HmacSha256, IntegrityAlg::None, ConfAlg::None),
            16 => (HmacSha256, IntegrityAlg::HmacSha256_128, ConfAlg::None),
            17 => (HmacSha256, IntegrityAlg::HmacSha256_128, ConfAlg::AesCbc128),
            _ => return None,
        };
        Some(CipherSuite {
            id,
            auth,
            integrity,
            conf,
        })
    }

    /// Algorithm numbers as carried in the Open Session records.
    pub fn wire_numbers(&self) -> (u8, u8, u8) {
        let a = match self.auth {
            AuthAlg::HmacSha1 => 0x01,
            AuthAlg::HmacSha256 => 0x03,
        };
        let i = match self.integrity {
            IntegrityAlg::None => 0x00,
            IntegrityAlg::HmacSha1_96 => 0x01,
            IntegrityAlg::HmacSha256_128 => 0x04,
        };
        let c = match self.conf {
            ConfAlg::None => 0x00,
            ConfAlg::AesCbc128 => 0x01,
        };
        (a, i, c)
    }
}

impl AuthAlg {
    /// Keyed hash of the concatenation of `parts`.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            AuthAlg::HmacSha1 => hmac_parts::<Hmac<Sha1>>(key, parts),
            AuthAlg::HmacSha256 => hmac_parts::<Hmac<Sha256>>(key, parts),
        }
    }

    /// Length of the RAKP 4 integrity check value: 12 bytes for SHA-1, 16 for SHA-256.
    pub fn rakp4_icv_len(self) -> usize {
        match self {
            AuthAlg::HmacSha1 => 12,
            AuthAlg::HmacSha256 => 16,
        }
    }

    /// Length of the full digest (RAKP 2/3 key exchange auth codes).
    pub fn digest_len(self) -> usize {
        match self {
            AuthAlg::HmacSha1 => 20,
            AuthAlg::HmacSha256 => 32,
        }
    }
}

impl IntegrityAlg {
    /// Length of the per-packet AuthCode.
    pub fn icv_len(self) -> usize {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 12,
            IntegrityAlg::HmacSha256_128 => 16,
        }
    }

    /// AuthCode over `data` keyed with K1, truncated to the algorithm's length.
    pub fn auth_code(self, k1: &[u8], data: &[u8]) -> Vec<u8> {
        let mut full = match self {
            IntegrityAlg::None => return Vec::new(),
            IntegrityAlg::HmacSha1_96 => hmac_parts::<Hmac<Sha1>>(k1, &[data]),
            IntegrityAlg::HmacSha256_128 => hmac_parts::<Hmac<Sha256>>(k1, &[data]),
        };
        full.truncate(self.icv_len());
        full
    }
}

fn hmac_parts<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the signature total.
    let mut mac = match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Compare two MACs in constant time (the length is public).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AES-CBC-128 confidentiality (§13.29): pad the plaintext with 01 02 03 … and a pad-length byte to
/// a multiple of 16, encrypt with `key`/`iv`, and return `iv || ciphertext`.
pub fn aes_cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let pad = (16 - (plain.len() + 1) % 16) % 16;
    let mut buf = Vec::with_capacity(16 + plain.len() + pad + 1);
    buf.extend_from_slice(plain);
    for i in 0..pad {
        buf.push(i as u8 + 1);
    }
    buf.push(pad as u8);
    let len = buf.len();
    let enc = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into());
    // The buffer length is a multiple of the block size by construction, so this cannot fail.
    let _ = enc.encrypt_padded_mut::<NoPadding>(&mut buf, len);
    let mut out = iv.to_vec();
    out.extend_from_slice(&buf);
    out
}

/// Inverse of [`aes_cbc_encrypt`]: `data` is `iv || ciphertext`. `None` when the length is not a
/// whole number of blocks or the confidentiality trailer is inconsistent.
pub fn aes_cbc_decrypt(key: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return None;
    }
    let (iv, ct) = data.split_at(16);
    let mut buf = ct.to_vec();
    let dec = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into());
    let plain_len = dec.decrypt_padded_mut::<NoPadding>(&mut buf).ok()?.len();
    let pad = *buf.get(plain_len.checked_sub(1)?)? as usize;
    if pad > 15 || pad + 1 > plain_len {
        return None;
    }
    buf.truncate(plain_len - 1 - pad);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_map_to_table_22_20() {
        assert_eq!(CipherSuite::from_id(3).unwrap().wire_numbers(), (1, 1, 1));
        assert_eq!(CipherSuite::from_id(17).unwrap().wire_numbers(), (3, 4, 1));
        assert!(CipherSuite::from_id(0).is_none());
        assert!(CipherSuite::from_id(4).is_none());
    }

    #[test]
    fn aes_round_trip_and_padding() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for n in 0..40 {
            let plain: Vec<u8> = (0..n as u8).collect();
            let enc = aes_cbc_encrypt(&key, &iv, &plain);
            assert_eq!(enc.len() % 16, 0);
            assert_eq!(aes_cbc_decrypt(&key, &enc).unwrap(), plain);
        }
        assert!(aes_cbc_decrypt(&key, &[0u8; 17]).is_none());
        assert!(aes_cbc_decrypt(&key, &[0u8; 16]).is_none());
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
