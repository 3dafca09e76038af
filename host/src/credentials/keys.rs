//! Each coop's Ed25519 issuing keys: created on first use, sealed at rest,
//! rotated and revoked, published as a controlled identifier document.
//!
//! Keys are numbered per coop (`key-1`, `key-2`, ...). The newest key that
//! is neither retired nor revoked signs. Rotating retires the current key
//! (it stays published, so credentials it signed verify until they expire)
//! and creates the next; revoking says a key must no longer be trusted
//! (credentials it signed are refused, whatever their date).
//!
//! The secret seed is stored sealed under the host secret
//! ([`crate::sealed`]), with the coop and key number as associated data,
//! so a sealed seed copied to another coop's row does not open.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::{Issuer, datetime, multibase};
use crate::db::Db;
use crate::error::{Error, Result};

/// Derivation label of the sealing key: changing it orphans every key.
const SEAL_LABEL: &[u8] = b"coophost credential issuing keys v1";

/// Longest reason accepted when revoking a key.
pub const MAX_REASON_CHARS: usize = 500;

/// A coop's issuing key as published (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Its number within the coop: the fragment is `key-{seq}`.
    pub seq: i64,
    /// Multikey form of the public key (`z6Mk...`).
    pub public_key_multibase: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// Replaced by a newer key (still valid for what it signed).
    pub retired_at: Option<i64>,
    /// No longer trusted (what it signed is refused).
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// The key a coop signs with now.
pub struct IssuingKey {
    /// Its number within the coop.
    pub seq: i64,
    /// The secret key.
    pub key: SigningKey,
}

fn aad(coop_id: i64, seq: i64) -> String {
    format!("coop {coop_id} credential key {seq}")
}

/// Seal a seed under the host secret (see [`crate::sealed`]).
fn seal(secret: &[u8], coop_id: i64, seq: i64, seed: &[u8; 32]) -> Result<String> {
    crate::sealed::seal(secret, SEAL_LABEL, &aad(coop_id, seq), seed)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("failed to seal a credential key")))
}

fn open(secret: &[u8], coop_id: i64, seq: i64, sealed_hex: &str) -> Result<SigningKey> {
    let corrupt = |why: &str| {
        Error::Internal(anyhow::anyhow!(
            "credential key {seq} of coop {coop_id} cannot be opened ({why}): was the host secret \
             changed? rotate the coop's key to go on issuing"
        ))
    };
    let seed = crate::sealed::open(secret, SEAL_LABEL, &aad(coop_id, seq), sealed_hex)
        .map_err(|e| corrupt(e.why()))?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| corrupt("wrong length"))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn info_from_row(r: &sqlx::any::AnyRow) -> KeyInfo {
    KeyInfo {
        seq: r.get(0),
        public_key_multibase: r.get(1),
        created_at: r.get(2),
        retired_at: r.get(3),
        revoked_at: r.get(4),
        revoked_reason: r.get(5),
    }
}

const INFO_COLUMNS: &str = "seq, public_key, created_at, retired_at, revoked_at, revoked_reason";

/// Every key of the coop, oldest first.
pub async fn list(db: &Db, coop_id: i64) -> Result<Vec<KeyInfo>> {
    Ok(sqlx::query(&format!(
        "SELECT {INFO_COLUMNS} FROM credential_keys WHERE coop_id = $1 ORDER BY seq"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(info_from_row)
    .collect())
}

/// Insert key `seq` for the coop unless that number is taken; whether it
/// was inserted.
async fn insert_new<'c, E>(
    executor: E,
    secret: &[u8],
    coop_id: i64,
    seq: i64,
    now_ms: i64,
) -> Result<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let sealed = seal(secret, coop_id, seq, &key.to_bytes())?;
    let done = sqlx::query(
        "INSERT INTO credential_keys (coop_id, seq, public_key, sealed_secret, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(coop_id)
    .bind(seq)
    .bind(multibase::public_key(&key.verifying_key()))
    .bind(sealed)
    .bind(now_ms)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The key the coop signs with, created on first use. Two hosts creating
/// it at once both insert key 1; one wins and both use it.
pub async fn active(db: &Db, secret: &[u8], coop_id: i64, now_ms: i64) -> Result<IssuingKey> {
    for _ in 0..2 {
        let row = sqlx::query(
            "SELECT seq, sealed_secret FROM credential_keys \
             WHERE coop_id = $1 AND retired_at IS NULL AND revoked_at IS NULL ORDER BY seq DESC LIMIT 1",
        )
        .bind(coop_id)
        .fetch_optional(&db.pool)
        .await?;
        if let Some(row) = row {
            let seq: i64 = row.get(0);
            let sealed: String = row.get(1);
            return Ok(IssuingKey {
                seq,
                key: open(secret, coop_id, seq, &sealed)?,
            });
        }
        let any = sqlx::query("SELECT COUNT(*) FROM credential_keys WHERE coop_id = $1")
            .bind(coop_id)
            .fetch_one(&db.pool)
            .await?
            .get::<i64, _>(0);
        if any > 0 {
            return Err(Error::Conflict(
                "the coop's issuing key was revoked and not replaced: an admin rotates it first"
                    .into(),
            ));
        }
        insert_new(&db.pool, secret, coop_id, 1, now_ms).await?;
    }
    Err(Error::Internal(anyhow::anyhow!(
        "credential key of coop {coop_id} vanished after creation"
    )))
}

/// Retire the coop's current key (if any) and create the next one.
pub async fn rotate(db: &Db, secret: &[u8], coop_id: i64, now_ms: i64) -> Result<KeyInfo> {
    let mut tx = db.begin_write().await?;
    let next: i64 =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM credential_keys WHERE coop_id = $1")
            .bind(coop_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
    sqlx::query(
        "UPDATE credential_keys SET retired_at = $2 \
         WHERE coop_id = $1 AND retired_at IS NULL AND revoked_at IS NULL",
    )
    .bind(coop_id)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if !insert_new(&mut *tx, secret, coop_id, next, now_ms).await? {
        return Err(Error::Conflict(
            "the key was rotated by someone else at the same moment; look at the keys and retry if needed"
                .into(),
        ));
    }
    tx.commit().await?;
    list(db, coop_id)
        .await?
        .into_iter()
        .find(|k| k.seq == next)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("rotated key {next} not found")))
}

/// Revoke key `seq`: credentials it signed no longer verify. The coop
/// issues nothing more until a rotation creates a new key (when `seq` was
/// the active one).
pub async fn revoke(db: &Db, coop_id: i64, seq: i64, reason: &str, now_ms: i64) -> Result<KeyInfo> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::Invalid(format!(
            "give a reason for revoking the key (1 to {MAX_REASON_CHARS} characters)"
        )));
    }
    let done = sqlx::query(
        "UPDATE credential_keys SET revoked_at = $3, revoked_reason = $4 \
         WHERE coop_id = $1 AND seq = $2 AND revoked_at IS NULL",
    )
    .bind(coop_id)
    .bind(seq)
    .bind(now_ms)
    .bind(reason)
    .execute(&db.pool)
    .await?;
    let key = list(db, coop_id)
        .await?
        .into_iter()
        .find(|k| k.seq == seq)
        .ok_or_else(|| Error::NotFound(format!("the coop has no credential key {seq}")))?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(format!("key {seq} is already revoked")));
    }
    Ok(key)
}

/// The coop's keys as a controlled identifier document (W3C CID 1.0): the
/// verification methods (`Multikey`), those fit for `assertionMethod`
/// (every key not revoked), with coophost's `retired` and `revoked` dates.
/// Served at [`Issuer::keys_url`].
pub fn document(issuer: &Issuer, keys: &[KeyInfo]) -> Value {
    let methods: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut m = json!({
                "id": issuer.method_id(k.seq),
                "type": "Multikey",
                "controller": issuer.id(),
                "publicKeyMultibase": k.public_key_multibase,
                "created": datetime::format(k.created_at),
            });
            if let Some(t) = k.retired_at {
                m["retired"] = datetime::format(t).into();
            }
            if let Some(t) = k.revoked_at {
                m["revoked"] = datetime::format(t).into();
                m["revokedReason"] = k.revoked_reason.clone().unwrap_or_default().into();
            }
            m
        })
        .collect();
    let assertion: Vec<Value> = keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| issuer.method_id(k.seq).into())
        .collect();
    json!({
        "id": issuer.keys_url(),
        "controller": issuer.id(),
        "verificationMethod": methods,
        "assertionMethod": assertion,
    })
}

/// A key as a verifier sees it in a keys document.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    /// Its full id (`...keys.json#key-1`).
    pub id: String,
    /// The public key.
    pub key: VerifyingKey,
    /// Retired at (ms), if it was.
    pub retired_ms: Option<i64>,
    /// Revoked at (ms), if it was.
    pub revoked_ms: Option<i64>,
}

/// Find verification method `method_id` in a keys document (as served by
/// [`document`]) controlled by `controller`.
pub fn find_in_document(
    doc: &Value,
    method_id: &str,
    controller: &str,
) -> std::result::Result<PublishedKey, String> {
    let methods = doc
        .get("verificationMethod")
        .and_then(Value::as_array)
        .ok_or("the keys document has no verificationMethod list")?;
    let m = methods
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(method_id))
        .ok_or_else(|| format!("the issuer's keys document has no key {method_id}"))?;
    if m.get("controller").and_then(Value::as_str) != Some(controller) {
        return Err(format!(
            "key {method_id} is not controlled by the issuer {controller}"
        ));
    }
    if m.get("type").and_then(Value::as_str) != Some("Multikey") {
        return Err(format!("key {method_id} is not a Multikey"));
    }
    let key = m
        .get("publicKeyMultibase")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("key {method_id} has no publicKeyMultibase"))
        .and_then(|t| multibase::parse_public_key(t).map_err(|e| e.to_string()))?;
    let date = |name: &str| -> std::result::Result<Option<i64>, String> {
        m.get(name)
            .and_then(Value::as_str)
            .map(datetime::parse)
            .transpose()
            .map_err(|e| format!("key {method_id} {name}: {e}"))
    };
    let revoked_ms = date("revoked")?;
    let listed = doc
        .get("assertionMethod")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(method_id)));
    if !listed && revoked_ms.is_none() {
        return Err(format!(
            "key {method_id} is not an assertion method of the issuer: it may not sign credentials"
        ));
    }
    Ok(PublishedKey {
        id: method_id.to_string(),
        key,
        retired_ms: date("retired")?,
        revoked_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_seeds_open_only_for_their_coop_key_and_secret() {
        let seed = [9u8; 32];
        let sealed = seal(b"host secret", 3, 1, &seed).unwrap();
        assert_ne!(
            sealed,
            seal(b"host secret", 3, 1, &seed).unwrap(),
            "random nonce"
        );
        assert!(!sealed.contains(&hex::encode(seed)));
        assert_eq!(
            open(b"host secret", 3, 1, &sealed).unwrap().to_bytes(),
            seed
        );
        assert!(open(b"host secret", 4, 1, &sealed).is_err(), "another coop");
        assert!(
            open(b"host secret", 3, 2, &sealed).is_err(),
            "another key number"
        );
        assert!(open(b"other secret", 3, 1, &sealed).is_err());
        assert!(open(b"host secret", 3, 1, "zz").is_err());
    }

    #[test]
    fn document_lists_keys_and_finds_them() {
        let issuer = Issuer::new("https://a.example", "velo");
        let key = SigningKey::from_bytes(&[1; 32]);
        let keys = vec![
            KeyInfo {
                seq: 1,
                public_key_multibase: multibase::public_key(&key.verifying_key()),
                created_at: 0,
                retired_at: Some(1000),
                revoked_at: None,
                revoked_reason: None,
            },
            KeyInfo {
                seq: 2,
                public_key_multibase: multibase::public_key(&key.verifying_key()),
                created_at: 1000,
                retired_at: None,
                revoked_at: Some(2000),
                revoked_reason: Some("laptop stolen".into()),
            },
        ];
        let doc = document(&issuer, &keys);
        assert_eq!(doc["assertionMethod"], json!([issuer.method_id(1)]));
        let k1 = find_in_document(&doc, &issuer.method_id(1), &issuer.id()).unwrap();
        assert_eq!((k1.retired_ms, k1.revoked_ms), (Some(1000), None));
        assert_eq!(k1.key, key.verifying_key());
        let k2 = find_in_document(&doc, &issuer.method_id(2), &issuer.id()).unwrap();
        assert_eq!(k2.revoked_ms, Some(2000));
        assert!(find_in_document(&doc, &issuer.method_id(3), &issuer.id()).is_err());
        assert!(find_in_document(&doc, &issuer.method_id(1), "https://b.example").is_err());
    }
}
