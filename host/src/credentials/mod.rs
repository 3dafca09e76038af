//! Portable work credentials: a worker's history at a coop as a W3C
//! Verifiable Credential (Data Model 2.0) that the coop signs and any
//! coophost host, or the CLI offline, verifies.
//!
//! - [`issue`]: the credential of a member, signed with the coop's current
//!   key ([`keys`]) by the `eddsa-jcs-2022` cryptosuite ([`proof`], over
//!   [`jcs`]).
//! - [`verify`]: the verdict on a credential: its contexts are bundled
//!   ([`contexts`]), its issuer is a coophost coop, its key is the issuer's
//!   (fetched from the issuer's well-known URL, read locally when the
//!   issuer is this host, or given by the caller), the signature matches,
//!   the key was not revoked, and it is valid now.
//!
//! URLs, for a host whose public URL is `B` and a coop `velo`:
//!
//! ```text
//! issuer id         B/.well-known/coophost/coops/velo
//! keys document     B/.well-known/coophost/coops/velo/keys.json
//! verification key  B/.well-known/coophost/coops/velo/keys.json#key-1
//! ```
//!
//! A verifier derives the keys URL from the issuer and accepts only keys
//! listed there, so a credential cannot borrow another issuer's name.

pub mod contexts;
pub mod datetime;
pub mod fetch;
pub mod history;
pub mod jcs;
pub mod keys;
pub mod multibase;
pub mod proof;

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::{self, Coop};

/// How long a credential is valid by default.
pub const DEFAULT_VALID_DAYS: i64 = 90;
/// Longest validity a worker may ask for: the history is a snapshot, and a
/// relying coop should see a recent one.
pub const MAX_VALID_DAYS: i64 = 366;
/// Largest credential [`verify`] looks at, as JSON text (the API's body
/// limit bounds it too).
pub const MAX_CREDENTIAL_BYTES: usize = 256 * 1024;

const MS_PER_DAY: i64 = 86_400_000;

/// Path under a host's public URL where coops publish as issuers.
const WELL_KNOWN: &str = "/.well-known/coophost/coops/";

/// A coop as a credential issuer on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    base: String,
    slug: String,
}

impl Issuer {
    /// Coop `slug` on the host whose public URL is `base`.
    pub fn new(base: &str, slug: &str) -> Issuer {
        Issuer {
            base: base.trim_end_matches('/').to_string(),
            slug: slug.to_string(),
        }
    }

    /// Parse an issuer id written by [`Issuer::id`].
    pub fn parse(id: &str) -> std::result::Result<Issuer, String> {
        let not_ours = || {
            format!(
                "issuer {id:?} is not a coophost coop (http(s)://HOST{WELL_KNOWN}SLUG); this host verifies coophost credentials only"
            )
        };
        let (base, slug) = id.rsplit_once(WELL_KNOWN).ok_or_else(not_ours)?;
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        let host_ok = base
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['?', '#', '@']));
        let slug_ok = !slug.is_empty()
            && slug.len() <= 48
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(scheme_ok && host_ok && slug_ok) || base.ends_with('/') {
            return Err(not_ours());
        }
        Ok(Issuer::new(base, slug))
    }

    /// The host's public URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The coop's slug.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// The issuer's id (also the URL of its public profile).
    pub fn id(&self) -> String {
        format!("{}{WELL_KNOWN}{}", self.base, self.slug)
    }

    /// Where its keys document is served.
    pub fn keys_url(&self) -> String {
        format!("{}/keys.json", self.id())
    }

    /// The id of its key number `seq`.
    pub fn method_id(&self, seq: i64) -> String {
        format!("{}#key-{seq}", self.keys_url())
    }
}

/// What the worker chooses when asking for a credential.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueOptions {
    /// Put the display name in the credential (default: no name, only the
    /// pseudonymous subject id).
    #[serde(default)]
    pub include_name: bool,
    /// Days until it expires (default [`DEFAULT_VALID_DAYS`]).
    pub valid_days: Option<i64>,
}

/// The stable pseudonymous subject id of a member of a coop:
/// `urn:uuid:` of `HMAC-SHA256(host secret, label | coop | member)`. The
/// same every time, so a relying coop can tell two credentials of one
/// worker apart from two workers; reveals no email.
pub fn subject_id(secret: &[u8], coop_id: i64, member_id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("credential-subject\0{coop_id}\0{member_id}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    // RFC 9562 version 8 (custom), RFC 4122 variant.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_urn(&b)
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_urn(&b)
}

fn uuid_urn(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The signed work credential of `member_id` in `coop`, issued by the host
/// at `base_url`, at `now_ms`. Departed and suspended members get theirs
/// too: their history is theirs.
pub async fn issue(
    db: &Db,
    secret: &[u8],
    base_url: &str,
    coop: &Coop,
    member_id: i64,
    options: &IssueOptions,
    now_ms: i64,
) -> Result<Value> {
    let days = options.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    if !(1..=MAX_VALID_DAYS).contains(&days) {
        return Err(Error::Invalid(format!(
            "valid_days must be between 1 and {MAX_VALID_DAYS}"
        )));
    }
    let member = identity::get_member(db, coop.id, member_id).await?;
    let issuer = Issuer::new(base_url, &coop.slug);
    let membership = history::membership(db, coop.id, &member).await?;
    let work = history::work_history(db, coop.id, &member, now_ms).await?;
    let ratings =
        crate::ratings::summary(db, coop.id, member.id, work.period_start_ms, now_ms).await?;
    let mut ratings_json = json!({
        "type": "RatingSummary",
        "ratingCount": ratings.count,
        "contestedCount": ratings.contested,
        "worstScore": crate::ratings::MIN_SCORE,
        "bestScore": crate::ratings::MAX_SCORE,
    });
    if let Some(avg) = ratings.average_milli {
        ratings_json["averageScoreMilli"] = avg.into();
    }
    let mut subject = json!({
        "id": subject_id(secret, coop.id, member.id),
        "type": "CoopWorker",
        "membership": membership,
        "workHistory": work,
        "ratings": ratings_json,
    });
    if options.include_name {
        subject["name"] = member.display_name.clone().into();
    }
    let credential = json!({
        "@context": [contexts::VC_V2, contexts::WORK_V1],
        "id": random_id(),
        "type": ["VerifiableCredential", "CoopWorkCredential"],
        "name": format!("Work history at {}", coop.name),
        "description": format!(
            "Membership, time on shift, jobs settled and earnings per month over the last {} months, as recorded by the coop's host",
            history::MONTHS
        ),
        "issuer": {"id": issuer.id(), "name": coop.name},
        "validFrom": datetime::format(now_ms),
        "validUntil": datetime::format(now_ms + days * MS_PER_DAY),
        "credentialSubject": subject,
    });
    let key = keys::active(db, secret, coop.id, now_ms).await?;
    proof::sign(&credential, &key.key, &issuer.method_id(key.seq), now_ms)
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to sign a credential: {e}")))
}

/// The public profile of a coop as an issuer (at [`Issuer::id`]).
pub fn issuer_profile(issuer: &Issuer, coop: &Coop) -> Value {
    json!({
        "id": issuer.id(),
        "name": coop.name,
        "keys": issuer.keys_url(),
        "contexts": contexts::BUNDLED.iter().map(|b| b.url).collect::<Vec<_>>(),
    })
}

/// The keys a caller gives [`verify`] instead of letting it fetch them.
#[derive(Debug, Clone)]
pub enum GivenKeys {
    /// An issuer's keys document, as served at [`Issuer::keys_url`].
    Document(Value),
    /// One public key (`z6Mk...`): trusted for whatever key the proof
    /// names, since the caller vouches for it.
    Multikey(String),
}

impl GivenKeys {
    /// Read a keys file or request field: a keys document (JSON object) or
    /// a Multikey, bare or as a JSON string.
    pub fn parse(text: &str) -> std::result::Result<GivenKeys, String> {
        let text = text.trim();
        if text.starts_with('z') {
            return Ok(GivenKeys::Multikey(text.to_string()));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(v) => GivenKeys::from_value(v),
            Err(e) => Err(format!(
                "keys are a keys document (JSON) or a publicKeyMultibase (z6Mk...): {e}"
            )),
        }
    }

    /// From a JSON value: an object is a keys document, a string a Multikey.
    pub fn from_value(v: Value) -> std::result::Result<GivenKeys, String> {
        match v {
            Value::Object(_) => Ok(GivenKeys::Document(v)),
            Value::String(s) => Ok(GivenKeys::Multikey(s)),
            _ => Err("keys are a keys document (object) or a publicKeyMultibase (string)".into()),
        }
    }
}

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// From the issuer's well-known URL over HTTP.
    Fetched,
    /// This host is the issuer's host: read from its own database.
    Local,
    /// Given by the caller (offline verification).
    Given,
}

/// Why a credential was not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Not a coophost work credential, or not shaped as one.
    Malformed,
    /// Names a context this host does not bundle, or an undefined term.
    UnknownContext,
    /// The issuer's keys could not be had.
    KeyUnavailable,
    /// The issuer publishes no such key.
    UnknownKey,
    /// The issuer revoked the key.
    RevokedKey,
    /// The signature does not match: altered, or not signed by the key.
    Tampered,
    /// `validUntil` has passed.
    Expired,
    /// `validFrom` is still ahead.
    NotYetValid,
}

/// A verifier's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether every check passed.
    pub verified: bool,
    /// The failed check, when not verified.
    pub reason: Option<Failure>,
    /// What was found, in words.
    pub message: String,
    /// The issuer's id, once read.
    pub issuer: Option<String>,
    /// The key that signed, once read.
    pub verification_method: Option<String>,
    /// Where the key came from, once found.
    pub key_source: Option<KeySource>,
    /// `validFrom` and `validUntil`, once read.
    pub valid_from: Option<String>,
    /// See `valid_from`.
    pub valid_until: Option<String>,
    /// The verifier's clock when it checked.
    pub checked_at: String,
    /// What the credential says about the worker (verified ones only).
    pub credential_subject: Option<Value>,
}

/// Where [`verify`] may find keys: given by the caller, else this host's
/// own database when the issuer is on this host, else fetched.
pub struct KeyLookup<'a> {
    /// Keys the caller gave (offline verification).
    pub given: Option<GivenKeys>,
    /// This host's database and public URL, if any.
    pub local: Option<(&'a Db, &'a str)>,
    /// Whether fetching over HTTP is allowed, and where to.
    pub fetch: Option<fetch::FetchPolicy>,
}

/// Check `credential` at `now_ms` (the verifier's clock).
pub async fn verify(credential: &Value, lookup: KeyLookup<'_>, now_ms: i64) -> Verdict {
    let mut v = Verdict {
        verified: false,
        reason: None,
        message: String::new(),
        issuer: None,
        verification_method: None,
        key_source: None,
        valid_from: None,
        valid_until: None,
        checked_at: datetime::format(now_ms),
        credential_subject: None,
    };
    match verify_steps(credential, lookup, now_ms, &mut v).await {
        Ok(()) => {
            v.verified = true;
            v.message = format!(
                "signed by {} with key {} and valid until {}",
                v.issuer.as_deref().unwrap_or("?"),
                v.verification_method.as_deref().unwrap_or("?"),
                v.valid_until.as_deref().unwrap_or("no end date")
            );
            v.credential_subject = credential.get("credentialSubject").cloned();
        }
        Err((reason, message)) => {
            v.reason = Some(reason);
            v.message = message;
        }
    }
    v
}

type Step<T> = std::result::Result<T, (Failure, String)>;

async fn verify_steps(
    credential: &Value,
    lookup: KeyLookup<'_>,
    now_ms: i64,
    v: &mut Verdict,
) -> Step<()> {
    let malformed = |m: String| (Failure::Malformed, m);
    if !credential.is_object() {
        return Err(malformed("a credential is a JSON object".into()));
    }
    if credential.to_string().len() > MAX_CREDENTIAL_BYTES {
        return Err(malformed(format!(
            "the credential is larger than {MAX_CREDENTIAL_BYTES} bytes"
        )));
    }
    contexts::check(credential).map_err(|m| (Failure::UnknownContext, m))?;
    let types = match credential.get("type") {
        Some(Value::Array(t)) => t.iter().filter_map(Value::as_str).collect::<Vec<_>>(),
        Some(Value::String(t)) => vec![t.as_str()],
        _ => vec![],
    };
    if !types.contains(&"VerifiableCredential") {
        return Err(malformed(
            "the credential's type does not include VerifiableCredential".into(),
        ));
    }
    let issuer_id = match credential.get("issuer") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("the issuer has no id".into()))?
            .to_string(),
        _ => return Err(malformed("the credential has no issuer".into())),
    };
    v.issuer = Some(issuer_id.clone());
    let issuer = Issuer::parse(&issuer_id).map_err(malformed)?;
    let date = |name: &str| -> Step<Option<i64>> {
        match credential.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => datetime::parse(s)
                .map(Some)
                .map_err(|e| malformed(format!("{name}: {e}"))),
            Some(_) => Err(malformed(format!("{name} is not a dateTime string"))),
        }
    };
    let valid_from = date("validFrom")?;
    let valid_until = date("validUntil")?;
    v.valid_from = valid_from.map(datetime::format);
    v.valid_until = valid_until.map(datetime::format);
    let info = proof::inspect(credential).map_err(|e| malformed(e.to_string()))?;
    v.verification_method = Some(info.verification_method.clone());
    if !info
        .verification_method
        .starts_with(&format!("{}#", issuer.keys_url()))
    {
        return Err((
            Failure::UnknownKey,
            format!(
                "the proof's key {} is not one of the issuer's keys ({}#...)",
                info.verification_method,
                issuer.keys_url()
            ),
        ));
    }
    let (key, source) = find_key(&issuer, &info.verification_method, lookup).await?;
    v.key_source = Some(source);
    if let Some(at) = key.revoked_ms {
        return Err((
            Failure::RevokedKey,
            format!(
                "the issuer revoked key {} on {}: nothing it signed is trusted",
                key.id,
                datetime::format(at)
            ),
        ));
    }
    if let Some(at) = key.retired_ms
        && info.created_ms > at
    {
        return Err((
            Failure::Tampered,
            format!(
                "the proof is dated {} but key {} was retired on {}",
                datetime::format(info.created_ms),
                key.id,
                datetime::format(at)
            ),
        ));
    }
    proof::verify(credential, &key.key).map_err(|e| match e {
        proof::ProofError::BadSignature => (Failure::Tampered, e.to_string()),
        proof::ProofError::Malformed(m) => malformed(m),
    })?;
    if let Some(until) = valid_until
        && until < now_ms
    {
        return Err((
            Failure::Expired,
            format!(
                "the credential expired on {} (now {})",
                datetime::format(until),
                datetime::format(now_ms)
            ),
        ));
    }
    if let Some(from) = valid_from
        && from > now_ms
    {
        return Err((
            Failure::NotYetValid,
            format!(
                "the credential is valid only from {} (now {})",
                datetime::format(from),
                datetime::format(now_ms)
            ),
        ));
    }
    Ok(())
}

async fn find_key(
    issuer: &Issuer,
    method: &str,
    lookup: KeyLookup<'_>,
) -> Step<(keys::PublishedKey, KeySource)> {
    let unknown = |m: String| (Failure::UnknownKey, m);
    if let Some(given) = lookup.given {
        let key = match given {
            GivenKeys::Document(doc) => {
                if doc.get("id").and_then(Value::as_str) != Some(issuer.keys_url().as_str()) {
                    return Err(unknown(format!(
                        "the keys given are not the issuer's: their id is not {}",
                        issuer.keys_url()
                    )));
                }
                keys::find_in_document(&doc, method, &issuer.id()).map_err(unknown)?
            }
            GivenKeys::Multikey(text) => keys::PublishedKey {
                id: method.to_string(),
                key: multibase::parse_public_key(&text)
                    .map_err(|e| (Failure::Malformed, format!("the key given: {e}")))?,
                retired_ms: None,
                revoked_ms: None,
            },
        };
        return Ok((key, KeySource::Given));
    }
    if let Some((db, own_base)) = lookup.local
        && own_base.trim_end_matches('/') == issuer.base()
    {
        let coop = identity::find_coop(db, issuer.slug()).await.map_err(|_| {
            unknown(format!(
                "the issuer {} names this host, which has no coop {}",
                issuer.id(),
                issuer.slug()
            ))
        })?;
        let list = keys::list(db, coop.id).await.map_err(|e| {
            tracing::error!(error = ?e, "failed to read credential keys");
            (
                Failure::KeyUnavailable,
                "this host could not read its own keys; try again".to_string(),
            )
        })?;
        let doc = keys::document(issuer, &list);
        let key = keys::find_in_document(&doc, method, &issuer.id()).map_err(unknown)?;
        return Ok((key, KeySource::Local));
    }
    let Some(policy) = &lookup.fetch else {
        return Err((
            Failure::KeyUnavailable,
            format!(
                "no key given and fetching is off: pass the issuer's keys ({})",
                issuer.keys_url()
            ),
        ));
    };
    let url = issuer.keys_url();
    // Whatever went wrong (an address refused, nothing listening, a
    // timeout, a bad answer) the caller hears the same thing, so the
    // verifier cannot be used to map what this host can reach.
    let doc = fetch::get_json(&url, policy).await.map_err(|e| {
        tracing::warn!(url = %url, error = %e, "could not fetch an issuer's keys");
        (
            Failure::KeyUnavailable,
            format!(
                "could not fetch the issuer's keys from {url}: pass them with the credential as \
                 `keys` (the issuer's keys document or its publicKeyMultibase)"
            ),
        )
    })?;
    if doc.get("id").and_then(Value::as_str) != Some(issuer.keys_url().as_str()) {
        return Err(unknown(format!(
            "the document at {} does not name itself as the issuer's keys",
            issuer.keys_url()
        )));
    }
    let key = keys::find_in_document(&doc, method, &issuer.id()).map_err(unknown)?;
    Ok((key, KeySource::Fetched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls_round_trip_and_foreign_issuers_are_refused() {
        let i = Issuer::new("http://127.0.0.1:8080/", "velo-lyon");
        assert_eq!(
            i.id(),
            "http://127.0.0.1:8080/.well-known/coophost/coops/velo-lyon"
        );
        assert_eq!(
            i.method_id(2),
            "http://127.0.0.1:8080/.well-known/coophost/coops/velo-lyon/keys.json#key-2"
        );
        assert_eq!(Issuer::parse(&i.id()).unwrap(), i);
        for bad in [
            "https://vc.example/issuers/5678",
            "did:key:z6Mk",
            "ftp://h/.well-known/coophost/coops/velo",
            "https:///.well-known/coophost/coops/velo",
            "https://h/.well-known/coophost/coops/Velo",
            "https://h/.well-known/coophost/coops/velo/keys.json",
            "https://u@h/.well-known/coophost/coops/velo",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subject_ids_are_stable_pseudonyms() {
        let a = subject_id(b"s", 1, 7);
        assert_eq!(a, subject_id(b"s", 1, 7));
        assert_ne!(a, subject_id(b"s", 1, 8));
        assert_ne!(a, subject_id(b"s", 2, 7));
        assert!(a.starts_with("urn:uuid:") && a.len() == 9 + 36, "{a}");
        assert_eq!(&a[23..24], "8", "version 8");
        assert_ne!(random_id(), random_id());
    }

    #[test]
    fn given_keys_parse() {
        assert!(matches!(
            GivenKeys::parse(" z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2\n"),
            Ok(GivenKeys::Multikey(_))
        ));
        assert!(matches!(
            GivenKeys::parse(r#"{"id": "x"}"#),
            Ok(GivenKeys::Document(_))
        ));
        assert!(GivenKeys::parse("[1]").is_err());
        assert!(GivenKeys::parse("not json").is_err());
    }
}
