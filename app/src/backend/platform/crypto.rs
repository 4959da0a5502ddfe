//! Secrets at rest: XChaCha20-Poly1305 with a 256-bit key from configuration. Every ciphertext is bound to
//! where it belongs (associated data such as `tenant/<id>/customers/<id>/kasm_password`), so a value copied
//! to another row or tenant fails to decrypt instead of leaking.
//!
//! Also keyed hashes ([`Crypto::keyed_hash`]): a stable name for a value (an email, a client address) that
//! can be stored and compared by every server sharing the data key, and reversed by nobody without it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the data key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("ciphertext is malformed or does not belong here")]
    Invalid,
}

/// The data-encryption key. Its Debug output never shows the key.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    pub fn from_base64(text: &str) -> Result<DataKey, CryptoError> {
        let bytes = B64.decode(text.trim()).map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(DataKey(key))
    }

    pub fn generate() -> DataKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        DataKey(key)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }
}

#[derive(Clone)]
pub struct Crypto {
    cipher: XChaCha20Poly1305,
    /// The key of [`Crypto::keyed_hash`], derived from the data key so that no key is used for two jobs.
    hash_key: [u8; 32],
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto([redacted])")
    }
}

impl Crypto {
    pub fn new(key: &DataKey) -> Crypto {
        Crypto { cipher: XChaCha20Poly1305::new(&key.0.into()), hash_key: mac(&key.0, b"ezscale/keyed-hash/v1") }
    }

    /// `hex(HMAC-SHA256(k, purpose || 0x00 || value))`, with `k` derived from the data key. Every server with
    /// the same data key names a value the same way, so a shared table can be keyed by it (attempt
    /// limits across servers) without holding the value itself: an email or an address cannot be read back,
    /// nor found by hashing guesses, without the key. `purpose` (a constant of the caller's) keeps names for different uses apart.
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(&self.hash_key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(value.as_bytes());
        hex(&m.finalize().into_bytes())
    }

    /// `v1:<base64 nonce || ciphertext>`, bound to `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| CryptoError::Invalid)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{VERSION}:{}", B64.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, CryptoError> {
        let body = sealed.strip_prefix("v1:").ok_or(CryptoError::Invalid)?;
        let bytes = B64.decode(body).map_err(|_| CryptoError::Invalid)?;
        if bytes.len() < 24 {
            return Err(CryptoError::Invalid);
        }
        let (nonce, ct) = bytes.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Invalid)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Invalid)
    }
}

fn mac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_own_context() {
        let c = Crypto::new(&DataKey::generate());
        let sealed = c.seal("hunter2", "tenant/a/customers/1/kasm_password").unwrap_or_default();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(c.open(&sealed, "tenant/a/customers/1/kasm_password"), Ok("hunter2".into()));
        assert_eq!(c.open(&sealed, "tenant/b/customers/1/kasm_password"), Err(CryptoError::Invalid));
        let other = Crypto::new(&DataKey::generate());
        assert_eq!(other.open(&sealed, "tenant/a/customers/1/kasm_password"), Err(CryptoError::Invalid));
    }

    #[test]
    fn keys_round_trip_and_never_print() {
        let k = DataKey::generate();
        assert_eq!(DataKey::from_base64(&k.to_base64()).map(|k2| k2.0), Ok(k.0));
        assert_eq!(format!("{k:?}"), "DataKey([redacted])");
        assert_eq!(DataKey::from_base64("c2hvcnQ=").err(), Some(CryptoError::BadKey));
    }

    #[test]
    fn keyed_hashes_are_stable_per_key_and_purpose_and_hide_the_value() {
        let key = DataKey::generate();
        let same = DataKey::from_base64(&key.to_base64()).unwrap_or_else(|_| DataKey::generate());
        let (a, b) = (Crypto::new(&key), Crypto::new(&same));
        let h = a.keyed_hash("limit", "login:t:ann@x.test");
        assert_eq!(h.len(), 64, "hex of 32 bytes: {h}");
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(b.keyed_hash("limit", "login:t:ann@x.test"), h, "another server with the same key agrees");
        assert_ne!(a.keyed_hash("limit", "login:t:bob@x.test"), h);
        assert_ne!(a.keyed_hash("other", "login:t:ann@x.test"), h, "purposes are kept apart");
        assert_ne!(Crypto::new(&DataKey::generate()).keyed_hash("limit", "login:t:ann@x.test"), h);
        // Not a plain hash of the value: without the key it cannot be recomputed.
        use sha2::Digest as _;
        assert_ne!(hex(&Sha256::digest(b"limit\0login:t:ann@x.test")), h);
    }
}
