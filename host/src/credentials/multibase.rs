//! Multibase base58-btc (`z...`) and the Multikey encoding of Ed25519 keys,
//! as Data Integrity proofs and verification methods write them.
//!
//! A Multikey public key is `z` + base58btc(0xed 0x01 || 32-byte key): the
//! two bytes are the varint of the multicodec `ed25519-pub` (0xed), which
//! is why every such key starts `z6Mk`. A secret key uses `ed25519-priv`
//! (0x1300, varint 0x80 0x26) in front of the 32-byte seed.

use ed25519_dalek::{SigningKey, VerifyingKey};

/// The Bitcoin base58 alphabet: no 0, O, I or l.
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Multicodec varint prefix of an Ed25519 public key.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// Multicodec varint prefix of an Ed25519 secret key (seed).
const ED25519_PRIV: [u8; 2] = [0x80, 0x26];

/// Longest base58 text [`decode_base58`] accepts: base58 is quadratic, and
/// nothing here is longer than a 64-byte signature (88 characters).
const MAX_BASE58_CHARS: usize = 256;

/// Why a multibase or Multikey value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultibaseError {
    /// Not `z` + base58btc.
    #[error("{0}")]
    Malformed(String),
    /// Decoded, but not an Ed25519 Multikey.
    #[error("{0}")]
    NotEd25519(String),
}

/// Base58 (Bitcoin alphabet) of `bytes`; leading zero bytes become `1`s.
pub fn encode_base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    // Digits in base 58, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(digits.iter().rev().map(|d| ALPHABET[*d as usize] as char));
    out
}

/// The bytes of base58 (Bitcoin alphabet) text.
pub fn decode_base58(text: &str) -> Result<Vec<u8>, MultibaseError> {
    if text.len() > MAX_BASE58_CHARS {
        return Err(MultibaseError::Malformed(format!(
            "base58 value is longer than {MAX_BASE58_CHARS} characters"
        )));
    }
    let zeros = text.bytes().take_while(|c| *c == b'1').count();
    // Bytes, least significant first.
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
    for c in text.bytes().skip(zeros) {
        let value = ALPHABET.iter().position(|a| *a == c).ok_or_else(|| {
            MultibaseError::Malformed(format!("{:?} is not a base58btc character", char::from(c)))
        })?;
        let mut carry = value as u32;
        for b in bytes.iter_mut() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Ok(out)
}

/// `z` + base58btc: the multibase form of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    format!("z{}", encode_base58(bytes))
}

/// The bytes of a multibase base58btc value (`z...`).
pub fn decode(text: &str) -> Result<Vec<u8>, MultibaseError> {
    let rest = text.strip_prefix('z').ok_or_else(|| {
        MultibaseError::Malformed(
            "a multibase value here must be base58btc, starting with 'z'".into(),
        )
    })?;
    decode_base58(rest)
}

/// The Multikey form of an Ed25519 public key (`z6Mk...`).
pub fn public_key(key: &VerifyingKey) -> String {
    let mut bytes = ED25519_PUB.to_vec();
    bytes.extend_from_slice(key.as_bytes());
    encode(&bytes)
}

/// The Ed25519 public key of a Multikey value.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, MultibaseError> {
    let bytes = decode(text.trim())?;
    let raw: [u8; 32] = bytes
        .strip_prefix(&ED25519_PUB)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            MultibaseError::NotEd25519(
                "publicKeyMultibase is not an Ed25519 Multikey (z6Mk..., 0xed01 and 32 bytes)"
                    .into(),
            )
        })?;
    VerifyingKey::from_bytes(&raw)
        .map_err(|e| MultibaseError::NotEd25519(format!("not an Ed25519 public key: {e}")))
}

/// The Multikey form of an Ed25519 secret key (`z3u2...`): for tests and
/// publishers' files, never served.
pub fn secret_key(key: &SigningKey) -> String {
    let mut bytes = ED25519_PRIV.to_vec();
    bytes.extend_from_slice(&key.to_bytes());
    encode(&bytes)
}

/// The Ed25519 secret key of a Multikey value.
pub fn parse_secret_key(text: &str) -> Result<SigningKey, MultibaseError> {
    let bytes = decode(text.trim())?;
    let seed: [u8; 32] = bytes
        .strip_prefix(&ED25519_PRIV)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            MultibaseError::NotEd25519(
                "not an Ed25519 secret Multikey (0x8026 and a 32-byte seed)".into(),
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_known_values_and_leading_zeros() {
        // Bitcoin's own examples.
        assert_eq!(encode_base58(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(
            encode_base58(b"The quick brown fox jumps over the lazy dog."),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"
        );
        assert_eq!(encode_base58(&[0, 0, 0x28, 0x7f, 0xb4, 0xcd]), "11233QC4");
        assert_eq!(encode_base58(&[]), "");
        assert_eq!(encode_base58(&[0]), "1");
        for bytes in [
            &b""[..],
            &[0],
            &[0, 0, 1],
            &[255; 64],
            b"Hello World!",
            &[0, 0x28, 0x7f, 0xb4, 0xcd, 0],
        ] {
            assert_eq!(decode_base58(&encode_base58(bytes)).unwrap(), bytes);
        }
        assert!(decode_base58("0OIl").is_err());
        assert!(decode("2NEpo7TZRRrLZSi2U").is_err(), "missing the z");
        assert_eq!(decode("z2NEpo7TZRRrLZSi2U").unwrap(), b"Hello World!");
    }

    #[test]
    fn multikey_matches_the_eddsa_spec_test_key() {
        // The key pair of the W3C Data Integrity EdDSA test vectors.
        let secret = parse_secret_key("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq").unwrap();
        let public = public_key(&secret.verifying_key());
        assert_eq!(public, "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2");
        assert_eq!(parse_public_key(&public).unwrap(), secret.verifying_key());
        assert_eq!(
            secret_key(&secret),
            "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
        );
        assert!(parse_public_key("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq").is_err());
        assert!(parse_public_key("z6Mk").is_err());
    }
}
