//! Ed25519 signatures over a component's SHA-256 digest (the 32 raw bytes).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::error::{Error, Result};

/// Parse a hex public key.
pub fn parse_public(hex_key: &str) -> Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Invalid("a public key is 64 hex characters (32 bytes, Ed25519)".into())
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| Error::Invalid(format!("not an Ed25519 public key: {e}")))
}

/// Whether `signature_hex` signs `digest` under `public_hex`. A malformed
/// signature is an error; a well-formed wrong one is `false`.
pub fn verify(public_hex: &str, digest: &[u8], signature_hex: &str) -> Result<bool> {
    let key = parse_public(public_hex)?;
    let bytes: [u8; 64] = hex::decode(signature_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Invalid("a signature is 128 hex characters (64 bytes, Ed25519)".into())
        })?;
    Ok(key.verify(digest, &Signature::from_bytes(&bytes)).is_ok())
}

/// Sign a digest with a 32-byte secret seed (hex); returns (signature hex,
/// public key hex). For publishers and tests.
pub fn sign(seed_hex: &str, digest: &[u8]) -> Result<(String, String)> {
    let seed: [u8; 32] = hex::decode(seed_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::Invalid("a signing key is 64 hex characters (a 32-byte seed)".into())
        })?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        hex::encode(key.sign(digest).to_bytes()),
        hex::encode(key.verifying_key().to_bytes()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let seed = "11".repeat(32);
        let (sig, public) = sign(&seed, b"digest").unwrap();
        assert!(verify(&public, b"digest", &sig).unwrap());
        assert!(!verify(&public, b"other", &sig).unwrap());
        assert!(verify(&public, b"digest", "00").is_err());
        assert!(parse_public("zz").is_err());
    }
}
