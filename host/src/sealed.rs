//! Secrets sealed at rest under the host secret: ChaCha20-Poly1305 with a
//! key derived per purpose (`HMAC-SHA256(host secret, label)`) and the
//! owner of the secret as associated data, so a sealed value copied to
//! another row (another coop's key, another user's second factor) does not
//! open. Used for coops' credential issuing keys and members' TOTP secrets.
//!
//! The host secret lives in the database (`host_settings`) today, so this
//! protects against leaks of one table alone (a log, a partial export); a
//! full database dump still holds both.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Bytes of the random nonce in front of every sealed value.
const NONCE_BYTES: usize = 12;

fn cipher(secret: &[u8], label: &[u8]) -> ChaCha20Poly1305 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(label);
    let derived = mac.finalize().into_bytes();
    ChaCha20Poly1305::new(Key::from_slice(&derived))
}

/// Seal `plain` for the purpose `label`, bound to `aad`: a random nonce,
/// then ciphertext and tag, in hex. `None` only if the cipher fails.
pub fn seal(secret: &[u8], label: &[u8], aad: &str, plain: &[u8]) -> Option<String> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher(secret, label)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Some(hex::encode(out))
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not hex.
    NotHex,
    /// Shorter than a nonce.
    TooShort,
    /// Another secret, label or owner, or altered.
    Authentication,
}

impl OpenError {
    /// A few words for a log line.
    pub fn why(self) -> &'static str {
        match self {
            OpenError::NotHex => "not hex",
            OpenError::TooShort => "too short",
            OpenError::Authentication => "authentication failed",
        }
    }
}

/// Open what [`seal`] sealed with the same secret, label and `aad`.
pub fn open(
    secret: &[u8],
    label: &[u8],
    aad: &str,
    sealed_hex: &str,
) -> Result<Vec<u8>, OpenError> {
    let bytes = hex::decode(sealed_hex).map_err(|_| OpenError::NotHex)?;
    if bytes.len() < NONCE_BYTES {
        return Err(OpenError::TooShort);
    }
    let (nonce, ct) = bytes.split_at(NONCE_BYTES);
    cipher(secret, label)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_secret_label_and_owner() {
        let sealed = seal(b"host secret", b"label", "user 1", b"plain").unwrap();
        assert!(!sealed.contains(&hex::encode(b"plain")));
        assert_ne!(
            sealed,
            seal(b"host secret", b"label", "user 1", b"plain").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            open(b"host secret", b"label", "user 1", &sealed).unwrap(),
            b"plain"
        );
        for (secret, label, aad) in [
            (&b"other secret"[..], &b"label"[..], "user 1"),
            (b"host secret", b"other label", "user 1"),
            (b"host secret", b"label", "user 2"),
        ] {
            assert_eq!(
                open(secret, label, aad, &sealed),
                Err(OpenError::Authentication)
            );
        }
        assert_eq!(
            open(b"host secret", b"label", "user 1", "zz"),
            Err(OpenError::NotHex)
        );
        assert_eq!(
            open(b"host secret", b"label", "user 1", "00"),
            Err(OpenError::TooShort)
        );
    }
}
