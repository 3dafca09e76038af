//! The `eddsa-jcs-2022` cryptosuite of W3C "Data Integrity EdDSA
//! Cryptosuites v1.0": a Data Integrity proof over a JSON document with
//! Ed25519, after JSON canonicalisation (RFC 8785).
//!
//! Create (spec 3.3.1): the proof options (`type` DataIntegrityProof,
//! `cryptosuite`, `created`, `verificationMethod`, `proofPurpose`) get the
//! document's `@context`; that is the proof configuration. Then
//!
//! ```text
//! hashData   = SHA-256(JCS(proofConfig)) || SHA-256(JCS(document without proof))
//! proofValue = "z" + base58btc(Ed25519-sign(secret key, hashData))
//! ```
//!
//! Verify (spec 3.3.2) undoes it: drop `proof` from the document and
//! `proofValue` from the proof, check the proof's `@context` is a prefix of
//! the document's and use it as the document's, rebuild `hashData`, check
//! the signature.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{datetime, jcs, multibase};

/// `proof.type`.
pub const PROOF_TYPE: &str = "DataIntegrityProof";
/// `proof.cryptosuite`.
pub const CRYPTOSUITE: &str = "eddsa-jcs-2022";
/// `proof.proofPurpose` of a credential's proof.
pub const ASSERTION_METHOD: &str = "assertionMethod";

/// Why a proof could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The document or proof is not shaped as the cryptosuite requires.
    #[error("{0}")]
    Malformed(String),
    /// Well formed, but the signature does not match: the document, the
    /// proof options or the key differ from what was signed.
    #[error(
        "the signature does not match the credential: it was altered after signing, or signed with another key"
    )]
    BadSignature,
}

/// `document` (without `proof`) secured with an `eddsa-jcs-2022` proof by
/// `key`, named `verification_method`, created at `created_ms`.
pub fn sign(
    document: &Value,
    key: &SigningKey,
    verification_method: &str,
    created_ms: i64,
) -> Result<Value, ProofError> {
    let Value::Object(doc) = document else {
        return Err(ProofError::Malformed(
            "a secured document is a JSON object".into(),
        ));
    };
    if doc.contains_key("proof") {
        return Err(ProofError::Malformed(
            "the document already has a proof; proof sets are not supported".into(),
        ));
    }
    let mut proof = Map::new();
    proof.insert("type".into(), PROOF_TYPE.into());
    proof.insert("cryptosuite".into(), CRYPTOSUITE.into());
    proof.insert("created".into(), datetime::format(created_ms).into());
    proof.insert("verificationMethod".into(), verification_method.into());
    proof.insert("proofPurpose".into(), ASSERTION_METHOD.into());
    if let Some(context) = doc.get("@context") {
        proof.insert("@context".into(), context.clone());
    }
    let hash = hash_data(&proof, document)?;
    let signature = key.sign(&hash);
    proof.insert(
        "proofValue".into(),
        multibase::encode(&signature.to_bytes()).into(),
    );
    let mut secured = doc.clone();
    secured.insert("proof".into(), Value::Object(proof));
    Ok(Value::Object(secured))
}

/// The parts of a secured document's proof a verifier needs before it has
/// a key: who signed (`verificationMethod`) and when (`created`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofInfo {
    /// The key's id, e.g. `https://host/.well-known/.../keys.json#key-1`.
    pub verification_method: String,
    /// `proof.created`, ms since the epoch.
    pub created_ms: i64,
}

/// Read and check the shape of `secured`'s proof (one proof, this
/// cryptosuite, for assertions).
pub fn inspect(secured: &Value) -> Result<ProofInfo, ProofError> {
    let proof = match secured.get("proof") {
        Some(Value::Object(p)) => p,
        Some(Value::Array(_)) => {
            return Err(ProofError::Malformed(
                "the credential has several proofs; only one eddsa-jcs-2022 proof is supported"
                    .into(),
            ));
        }
        Some(_) => return Err(ProofError::Malformed("proof is not an object".into())),
        None => return Err(ProofError::Malformed("the credential has no proof".into())),
    };
    let text = |name: &str| -> Result<&str, ProofError> {
        proof
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| ProofError::Malformed(format!("the proof has no {name} string")))
    };
    if text("type")? != PROOF_TYPE || text("cryptosuite")? != CRYPTOSUITE {
        return Err(ProofError::Malformed(format!(
            "the proof is not a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}"
        )));
    }
    if text("proofPurpose")? != ASSERTION_METHOD {
        return Err(ProofError::Malformed(format!(
            "the proof's purpose is not {ASSERTION_METHOD}"
        )));
    }
    let created_ms = datetime::parse(text("created")?)
        .map_err(|e| ProofError::Malformed(format!("proof.created: {e}")))?;
    text("proofValue")?;
    Ok(ProofInfo {
        verification_method: text("verificationMethod")?.to_string(),
        created_ms,
    })
}

/// Check `secured`'s `eddsa-jcs-2022` proof against `key`.
pub fn verify(secured: &Value, key: &VerifyingKey) -> Result<(), ProofError> {
    inspect(secured)?;
    let Value::Object(doc) = secured else {
        return Err(ProofError::Malformed(
            "a secured document is a JSON object".into(),
        ));
    };
    let mut unsecured = doc.clone();
    let Some(Value::Object(mut options)) = unsecured.remove("proof") else {
        return Err(ProofError::Malformed("proof is not an object".into()));
    };
    let proof_value = options
        .remove("proofValue")
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| ProofError::Malformed("the proof has no proofValue string".into()))?;
    let bytes = multibase::decode(&proof_value)
        .map_err(|e| ProofError::Malformed(format!("proofValue: {e}")))?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| {
        ProofError::Malformed("proofValue is not a 64-byte Ed25519 signature".into())
    })?;
    if let Some(proof_context) = options.get("@context") {
        if !context_starts_with(unsecured.get("@context"), proof_context) {
            return Err(ProofError::Malformed(
                "the proof's @context is not the start of the credential's @context".into(),
            ));
        }
        unsecured.insert("@context".into(), proof_context.clone());
    }
    let hash = hash_data(&options, &Value::Object(unsecured))?;
    key.verify(&hash, &Signature::from_bytes(&bytes))
        .map_err(|_| ProofError::BadSignature)
}

/// Whether the document's `@context` starts with every value of the
/// proof's, in order.
fn context_starts_with(document: Option<&Value>, proof: &Value) -> bool {
    let as_list = |v: &Value| match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let Some(document) = document else {
        return false;
    };
    let (document, proof) = (as_list(document), as_list(proof));
    document.len() >= proof.len() && document.iter().zip(&proof).all(|(a, b)| a == b)
}

/// SHA-256 of the canonical proof configuration, then of the canonical
/// document (spec 3.3.4 and 3.3.5).
fn hash_data(proof_config: &Map<String, Value>, document: &Value) -> Result<Vec<u8>, ProofError> {
    let canonical = |v: &Value| {
        jcs::canonicalize(v).map_err(|e| ProofError::Malformed(format!("cannot canonicalise: {e}")))
    };
    let config = canonical(&Value::Object(proof_config.clone()))?;
    let doc = canonical(document)?;
    let mut out = Sha256::digest(config.as_bytes()).to_vec();
    out.extend_from_slice(&Sha256::digest(doc.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The signed credential of the spec's eddsa-jcs-2022 test vectors
    /// (TestVectors/eddsa-jcs-2022/signedJCS.json), with its key pair.
    fn spec_vector() -> (Value, SigningKey) {
        let doc = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2",
                "https://www.w3.org/ns/credentials/examples/v2"],
            "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"],
            "name": "Alumni Credential",
            "description": "A minimum viable example of an Alumni Credential.",
            "issuer": "https://vc.example/issuers/5678",
            "validFrom": "2023-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
            "proof": {
                "type": "DataIntegrityProof",
                "cryptosuite": "eddsa-jcs-2022",
                "created": "2023-02-24T23:36:38Z",
                "verificationMethod": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
                "proofPurpose": "assertionMethod",
                "@context": ["https://www.w3.org/ns/credentials/v2",
                    "https://www.w3.org/ns/credentials/examples/v2"],
                "proofValue": "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
            }
        });
        let key = multibase::parse_secret_key("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq")
            .unwrap();
        (doc, key)
    }

    #[test]
    fn verifies_the_spec_test_vector_and_reproduces_its_proof() {
        let (doc, key) = spec_vector();
        verify(&doc, &key.verifying_key()).unwrap();
        // Ed25519 is deterministic: signing the same document with the same
        // options gives the spec's proofValue byte for byte.
        let mut unsecured = doc.clone();
        unsecured.as_object_mut().unwrap().remove("proof");
        let created = datetime::parse("2023-02-24T23:36:38Z").unwrap();
        let vm = doc["proof"]["verificationMethod"].as_str().unwrap();
        let ours = sign(&unsecured, &key, vm, created).unwrap();
        assert_eq!(ours["proof"], doc["proof"]);
        // The intermediate hash of the vectors (combinedHashJCS.txt).
        let mut options = doc["proof"].as_object().unwrap().clone();
        options.remove("proofValue");
        assert_eq!(
            hex::encode(hash_data(&options, &unsecured).unwrap()),
            "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db\
             59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
        );
    }

    #[test]
    fn round_trip_and_every_alteration_is_caught() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let doc = json!({"@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"], "issuer": "https://a.example/coops/x",
            "credentialSubject": {"id": "urn:uuid:1", "jobs": 12, "name": "Ana"}});
        let secured = sign(&doc, &key, "https://a.example/k#key-1", 1_790_000_000_000).unwrap();
        verify(&secured, &key.verifying_key()).unwrap();
        assert_eq!(
            inspect(&secured).unwrap(),
            ProofInfo {
                verification_method: "https://a.example/k#key-1".into(),
                created_ms: 1_790_000_000_000
            }
        );
        // Key order and whitespace do not matter (JCS).
        let reparsed: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&secured).unwrap()).unwrap();
        verify(&reparsed, &key.verifying_key()).unwrap();

        let altered = |path: &[&str], value: Value| {
            let mut v = secured.clone();
            let mut at = &mut v;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = value;
            verify(&v, &key.verifying_key())
        };
        assert_eq!(
            altered(&["credentialSubject", "jobs"], json!(13)),
            Err(ProofError::BadSignature)
        );
        assert_eq!(
            altered(&["proof", "created"], json!("2026-09-21T14:13:21Z")),
            Err(ProofError::BadSignature)
        );
        assert!(matches!(
            altered(&["proof", "cryptosuite"], json!("eddsa-rdfc-2022")),
            Err(ProofError::Malformed(_))
        ));
        assert!(matches!(
            altered(&["@context"], json!(["https://example.org/other"])),
            Err(ProofError::Malformed(_))
        ));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            verify(&secured, &other.verifying_key()),
            Err(ProofError::BadSignature)
        );
        let mut unproven = secured.clone();
        unproven.as_object_mut().unwrap().remove("proof");
        assert!(matches!(
            verify(&unproven, &key.verifying_key()),
            Err(ProofError::Malformed(_))
        ));
        assert!(sign(&secured, &key, "x", 0).is_err(), "already proven");
    }
}
