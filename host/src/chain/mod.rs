//! Append-only, hash-chained logs: one chain per (chain name, coop), e.g.
//! the governance decision log (`decisions`) and the audit log (`audit`).
//!
//! Tables (`host/migrations/*/0009_governance.sql`):
//! - `chain_entries(chain, coop_id, seq, prev_hash, hash, kind, body,
//!   commitment, at)`: the entries, `seq` counting from 1 with no gap.
//! - `chain_personal(chain, coop_id, seq, salt, data)`: the personal part of
//!   an entry, kept beside the chain so that it can be erased.
//!
//! Each entry's `hash` is [`entry_hash`]: SHA-256 over an unambiguous
//! encoding of its chain, coop, seq, `prev_hash`, time, kind, canonical body
//! and commitment. `prev_hash` is the hash of the entry before ([`GENESIS`]
//! for the first), so changing, removing or reordering any entry breaks
//! every link after it and [`verify`] finds the first broken one.
//!
//! Personal data is not hashed into the chain itself: the entry carries a
//! [`personal_commitment`] (SHA-256 of a random salt and the data) and the
//! data lives in `chain_personal`. [`erase_personal`] deletes it; the chain
//! still verifies, and the salt keeps the commitment from revealing what
//! was erased (no guessing of small values such as a name or an email).
//!
//! Concurrency: appends to one chain are serialised. On SQLite the caller's
//! write transaction (`BEGIN IMMEDIATE`) does it; on PostgreSQL
//! [`append_in`] takes a transaction-scoped advisory lock on the chain
//! before reading its head. `PRIMARY KEY (chain, coop_id, seq)` is the last
//! line of defence: a writer that still loses the race gets a unique
//! violation, which [`append`] retries.

use anyhow::anyhow;
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::db::{Db, is_busy};
use crate::error::{Error, Result};

/// The `prev_hash` of entry 1: 64 zeros, the length of a hex SHA-256.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many times [`append`] tries before giving up on a chain that
/// concurrent writers (or a locked SQLite file) keep taking from under it.
pub const MAX_APPEND_ATTEMPTS: usize = 5;

/// Most entries one [`list`] call returns, so a page stays small.
pub const MAX_LIST: i64 = 1000;

/// Entries [`verify`] reads per query: bounded memory on long chains.
const VERIFY_BATCH: i64 = 500;

/// Bytes of random salt in front of personal data in its commitment.
const SALT_LEN: usize = 16;

/// Tags the hash encoding, so a future change of encoding cannot collide
/// with this one.
const HASH_DOMAIN: &str = "coophost-chain-v1";

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// What happened, e.g. `proposal.opened`.
    pub kind: String,
    /// The public part, hashed into the chain (stored as canonical JSON).
    pub body: Value,
    /// Personal fields that must stay erasable: only their commitment is
    /// hashed into the chain.
    pub personal: Option<Value>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The chain's name, e.g. `decisions`.
    pub chain: String,
    /// The coop the chain belongs to.
    pub coop_id: i64,
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The hash of entry `seq - 1`, or [`GENESIS`] for entry 1.
    pub prev_hash: String,
    /// [`entry_hash`] of this entry (hex SHA-256).
    pub hash: String,
    /// What happened, e.g. `proposal.opened`.
    pub kind: String,
    /// The public part.
    pub body: Value,
    /// [`personal_commitment`] of the personal part, or empty without one.
    pub commitment: String,
    /// When it was appended, ms since the epoch.
    pub at: i64,
    /// The personal part, while it has not been erased.
    pub personal: Option<Value>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// True when every entry checked out.
    pub ok: bool,
    /// How many entries verified, in order from entry 1 (all of them when
    /// `ok`; those before the problem otherwise).
    pub entries: i64,
    /// The hash of the last entry that verified, or [`GENESIS`] for none.
    /// Publishing it lets anyone later check that history was not rewritten.
    pub head: String,
    /// The first problem, when not `ok`.
    pub problem: Option<Problem>,
}

/// The first entry of a chain that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry at fault (for a gap, the first missing one).
    pub seq: i64,
    /// What is wrong with it, e.g. `entry 3: hash does not match its
    /// content (altered?)`.
    pub reason: String,
}

/// `value` as canonical JSON: object keys sorted (bytewise) at every level,
/// no whitespace. Two equal values always give the same text, whatever
/// order their keys were built in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars have one compact form already.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The commitment to personal data: hex SHA-256 of the salt bytes followed
/// by the canonical JSON of `personal`.
pub fn personal_commitment(salt: &[u8], personal: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(canonical_json(personal).as_bytes());
    hex::encode(hasher.finalize())
}

/// The hash `entry` must have: hex SHA-256 over its chain, coop, seq,
/// `prev_hash`, time, kind, canonical body and commitment, each field
/// prefixed with its length (8 bytes, big-endian) so that no two different
/// entries encode the same. `entry.hash` and `entry.personal` are ignored.
pub fn entry_hash(entry: &Entry) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(HASH_DOMAIN.as_bytes());
    field(entry.chain.as_bytes());
    field(&entry.coop_id.to_be_bytes());
    field(&entry.seq.to_be_bytes());
    field(entry.prev_hash.as_bytes());
    field(&entry.at.to_be_bytes());
    field(entry.kind.as_bytes());
    field(canonical_json(&entry.body).as_bytes());
    field(entry.commitment.as_bytes());
    hex::encode(hasher.finalize())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn check_names(chain: &str, entry: &NewEntry) -> Result<()> {
    if chain.is_empty() {
        return Err(Error::Invalid("chain name must not be empty".into()));
    }
    if entry.kind.is_empty() {
        return Err(Error::Invalid(format!(
            "entry kind must not be empty (chain {chain:?})"
        )));
    }
    Ok(())
}

/// A stable 64-bit advisory lock id for a chain (FNV-1a over a prefix that
/// plugin namespace locks never use, so every host agrees and the two never
/// share a lock).
fn chain_lock_id(chain: &str, coop_id: i64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"chain\0"
        .iter()
        .chain(&coop_id.to_le_bytes())
        .chain(chain.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Append `entry` to chain `chain` of coop `coop_id`, at time `at` (ms
/// since the epoch), inside a transaction the caller owns: the entry exists
/// only if the caller commits. Returns the entry as stored.
///
/// The caller's transaction should be a write transaction
/// ([`Db::begin_write`]). On PostgreSQL the chain stays locked until it
/// ends, so keep it short. A writer that still loses the race for the next
/// seq gets [`Error::Conflict`] and must roll back and retry (as [`append`]
/// does).
pub async fn append_in(
    conn: &mut AnyConnection,
    chain: &str,
    coop_id: i64,
    entry: &NewEntry,
    at: i64,
) -> Result<Entry> {
    check_names(chain, entry)?;
    append_on(conn, chain, coop_id, entry, at)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "chain {chain:?} of coop {coop_id} was appended to concurrently: retry"
                ))
            } else {
                e.into()
            }
        })
}

async fn append_on(
    conn: &mut AnyConnection,
    chain: &str,
    coop_id: i64,
    entry: &NewEntry,
    at: i64,
) -> std::result::Result<Entry, sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        // Under READ COMMITTED the head read below runs after the lock is
        // granted, so it sees the entry of the writer we waited for.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(chain_lock_id(chain, coop_id))
            .execute(&mut *conn)
            .await?;
    }
    let head = sqlx::query(
        "SELECT seq, hash FROM chain_entries WHERE chain = $1 AND coop_id = $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .bind(coop_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (seq, prev_hash) = match head {
        Some(row) => (row.get::<i64, _>(0) + 1, row.get::<String, _>(1)),
        None => (1, GENESIS.to_string()),
    };

    let personal = entry.personal.as_ref().map(|data| {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        (salt, data)
    });
    let commitment = personal
        .map(|(salt, data)| personal_commitment(&salt, data))
        .unwrap_or_default();
    let mut stored = Entry {
        chain: chain.to_string(),
        coop_id,
        seq,
        prev_hash,
        hash: String::new(),
        kind: entry.kind.clone(),
        body: entry.body.clone(),
        commitment,
        at,
        personal: entry.personal.clone(),
    };
    stored.hash = entry_hash(&stored);

    sqlx::query(
        "INSERT INTO chain_entries (chain, coop_id, seq, prev_hash, hash, kind, body, commitment, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(chain)
    .bind(coop_id)
    .bind(seq)
    .bind(&stored.prev_hash)
    .bind(&stored.hash)
    .bind(&stored.kind)
    .bind(canonical_json(&stored.body))
    .bind(&stored.commitment)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if let Some((salt, data)) = personal {
        sqlx::query(
            "INSERT INTO chain_personal (chain, coop_id, seq, salt, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(chain)
        .bind(coop_id)
        .bind(seq)
        .bind(hex::encode(salt))
        .bind(canonical_json(data))
        .execute(&mut *conn)
        .await?;
    }
    Ok(stored)
}

/// Rows per multi-row `INSERT` in [`append_many_in`] (nine parameters a
/// row stays far below SQLite's and PostgreSQL's bind limits).
const INSERT_CHUNK: usize = 100;

/// Append `entries` (each with its time) to chain `chain` of coop
/// `coop_id`, in order, inside the caller's write transaction: the same as
/// calling [`append_in`] for each, with one head read and one multi-row
/// insert per [`INSERT_CHUNK`] entries instead of two or three statements
/// each. Returns the entries as stored.
pub async fn append_many_in(
    conn: &mut AnyConnection,
    chain: &str,
    coop_id: i64,
    entries: &[(NewEntry, i64)],
) -> Result<Vec<Entry>> {
    for (e, _) in entries {
        check_names(chain, e)?;
    }
    append_many_on(conn, chain, coop_id, entries)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "chain {chain:?} of coop {coop_id} was appended to concurrently: retry"
                ))
            } else {
                e.into()
            }
        })
}

async fn append_many_on(
    conn: &mut AnyConnection,
    chain: &str,
    coop_id: i64,
    entries: &[(NewEntry, i64)],
) -> std::result::Result<Vec<Entry>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(vec![]);
    }
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(chain_lock_id(chain, coop_id))
            .execute(&mut *conn)
            .await?;
    }
    let head = sqlx::query(
        "SELECT seq, hash FROM chain_entries WHERE chain = $1 AND coop_id = $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .bind(coop_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (mut seq, mut prev_hash) = match head {
        Some(row) => (row.get::<i64, _>(0), row.get::<String, _>(1)),
        None => (0, GENESIS.to_string()),
    };
    let mut stored = Vec::with_capacity(entries.len());
    let mut salts = Vec::with_capacity(entries.len());
    for (entry, at) in entries {
        seq += 1;
        let salt = entry.personal.as_ref().map(|_| {
            let mut salt = [0u8; SALT_LEN];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            salt
        });
        let commitment = match (&salt, &entry.personal) {
            (Some(salt), Some(data)) => personal_commitment(salt, data),
            _ => String::new(),
        };
        let mut e = Entry {
            chain: chain.to_string(),
            coop_id,
            seq,
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
            kind: entry.kind.clone(),
            body: entry.body.clone(),
            commitment,
            at: *at,
            personal: entry.personal.clone(),
        };
        e.hash = entry_hash(&e);
        prev_hash = e.hash.clone();
        salts.push(salt);
        stored.push(e);
    }
    for chunk in stored.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO chain_entries (chain, coop_id, seq, prev_hash, hash, kind, body, commitment, at) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(chain)
                .bind(coop_id)
                .bind(e.seq)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .bind(&e.kind)
                .bind(canonical_json(&e.body))
                .bind(&e.commitment)
                .bind(e.at);
        }
        q.execute(&mut *conn).await?;
    }
    let personal: Vec<(i64, String, String)> = stored
        .iter()
        .zip(&salts)
        .filter_map(|(e, salt)| {
            Some((
                e.seq,
                hex::encode((*salt)?),
                canonical_json(e.personal.as_ref()?),
            ))
        })
        .collect();
    for chunk in personal.chunks(INSERT_CHUNK) {
        let mut sql =
            String::from("INSERT INTO chain_personal (chain, coop_id, seq, salt, data) VALUES ");
        for i in 0..chunk.len() {
            let b = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
        }
        let mut q = sqlx::query(&sql);
        for (seq, salt, data) in chunk {
            q = q.bind(chain).bind(coop_id).bind(*seq).bind(salt).bind(data);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(stored)
}

/// Append `entry` to chain `chain` of coop `coop_id` in its own write
/// transaction, at time `at` (ms since the epoch). Returns the entry as
/// stored.
///
/// Losing the race for the next seq to a concurrent writer, or finding
/// SQLite locked, is retried up to [`MAX_APPEND_ATTEMPTS`] times before
/// answering [`Error::Conflict`].
pub async fn append(
    db: &Db,
    chain: &str,
    coop_id: i64,
    entry: &NewEntry,
    at: i64,
) -> Result<Entry> {
    check_names(chain, entry)?;
    let mut delay = std::time::Duration::from_millis(2);
    for _ in 0..MAX_APPEND_ATTEMPTS {
        let mut tx = db.begin_write().await?;
        let attempt = match append_on(&mut tx, chain, coop_id, entry, at).await {
            Ok(stored) => tx.commit().await.map(|()| stored),
            // Dropping `tx` rolls it back.
            Err(e) => Err(e),
        };
        match attempt {
            Ok(stored) => return Ok(stored),
            Err(e) if is_unique_violation(&e) || is_busy(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(format!(
        "chain {chain:?} of coop {coop_id} is being appended to concurrently: \
         gave up after {MAX_APPEND_ATTEMPTS} attempts, retry"
    )))
}

/// Entries of chain `chain` of coop `coop_id` with seq above `after_seq`,
/// in seq order, at most `limit` (capped at [`MAX_LIST`]), with their
/// personal data where it has not been erased.
pub async fn list(
    db: &Db,
    chain: &str,
    coop_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Entry>> {
    if limit < 1 {
        return Err(Error::Invalid(format!(
            "limit must be at least 1, got {limit}"
        )));
    }
    let rows = fetch_page(db, chain, coop_id, after_seq, limit.min(MAX_LIST)).await?;
    rows.into_iter()
        .map(|row| {
            let body = serde_json::from_str(&row.body).map_err(|e| {
                Error::Internal(anyhow!(
                    "entry {} of chain {chain:?} of coop {coop_id} has a body that is not json ({e}): run verify",
                    row.seq
                ))
            })?;
            let personal = match &row.personal {
                Some((_, data)) => Some(serde_json::from_str(data).map_err(|e| {
                    Error::Internal(anyhow!(
                        "entry {} of chain {chain:?} of coop {coop_id} has personal data that is not json ({e}): run verify",
                        row.seq
                    ))
                })?),
                None => None,
            };
            Ok(Entry {
                chain: chain.to_string(),
                coop_id,
                seq: row.seq,
                prev_hash: row.prev_hash,
                hash: row.hash,
                kind: row.kind,
                body,
                commitment: row.commitment,
                at: row.at,
                personal,
            })
        })
        .collect()
}

/// An entry as read, before its JSON is parsed.
struct RawEntry {
    seq: i64,
    prev_hash: String,
    hash: String,
    kind: String,
    body: String,
    commitment: String,
    at: i64,
    /// Salt (hex) and data, unless erased.
    personal: Option<(String, String)>,
}

async fn fetch_page(
    db: &Db,
    chain: &str,
    coop_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<RawEntry>> {
    let rows = sqlx::query(
        "SELECT e.seq, e.prev_hash, e.hash, e.kind, e.body, e.commitment, e.at, p.salt, p.data \
         FROM chain_entries e LEFT JOIN chain_personal p \
           ON p.chain = e.chain AND p.coop_id = e.coop_id AND p.seq = e.seq \
         WHERE e.chain = $1 AND e.coop_id = $2 AND e.seq > $3 \
         ORDER BY e.seq LIMIT $4",
    )
    .bind(chain)
    .bind(coop_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let salt: Option<String> = row.get(7);
            let data: Option<String> = row.get(8);
            RawEntry {
                seq: row.get(0),
                prev_hash: row.get(1),
                hash: row.get(2),
                kind: row.get(3),
                body: row.get(4),
                commitment: row.get(5),
                at: row.get(6),
                personal: salt.zip(data),
            }
        })
        .collect())
}

/// Check chain `chain` of coop `coop_id` from entry 1 on: seqs contiguous
/// from 1, each `prev_hash` the hash of the entry before, each hash
/// recomputed from the entry's content, and personal data, where not
/// erased, matching its commitment. Stops at the first problem.
///
/// An empty chain verifies, with `head` [`GENESIS`]. Only database errors
/// are errors; a broken chain is an `ok: false` answer.
pub async fn verify(db: &Db, chain: &str, coop_id: i64) -> Result<Verification> {
    let mut entries = 0i64;
    let mut head = GENESIS.to_string();
    let mut last_seq = 0i64;
    loop {
        let page = fetch_page(db, chain, coop_id, last_seq, VERIFY_BATCH).await?;
        if page.is_empty() {
            return Ok(Verification {
                ok: true,
                entries,
                head,
                problem: None,
            });
        }
        for raw in page {
            if let Some(problem) = check_entry(chain, coop_id, last_seq, &head, &raw) {
                return Ok(Verification {
                    ok: false,
                    entries,
                    head,
                    problem: Some(problem),
                });
            }
            entries += 1;
            last_seq = raw.seq;
            head = raw.hash;
        }
    }
}

/// The problem with `raw`, which follows entry `prev_seq` (0: none) whose
/// hash is `prev_hash`, if any.
fn check_entry(
    chain: &str,
    coop_id: i64,
    prev_seq: i64,
    prev_hash: &str,
    raw: &RawEntry,
) -> Option<Problem> {
    let seq = raw.seq;
    let problem = |seq: i64, reason: String| Some(Problem { seq, reason });
    let expected = prev_seq + 1;
    if seq != expected {
        if seq < expected {
            // Only a seq below 1 sorts before the entry expected.
            return problem(
                seq,
                format!("entry {seq}: seq out of range, the chain starts at 1"),
            );
        }
        let reason = if prev_seq == 0 {
            format!("entry 1 missing: the chain starts at entry {seq}")
        } else {
            format!("entry {expected} missing: seq jumps from {prev_seq} to {seq}")
        };
        return problem(expected, reason);
    }
    if raw.prev_hash != prev_hash {
        let reason = if prev_seq == 0 {
            format!("entry {seq}: prev_hash is not the genesis hash")
        } else {
            format!("entry {seq}: prev_hash does not match entry {prev_seq}")
        };
        return problem(seq, reason);
    }
    let Ok(body) = serde_json::from_str::<Value>(&raw.body) else {
        return problem(
            seq,
            format!("entry {seq}: body is not valid json (altered?)"),
        );
    };
    let entry = Entry {
        chain: chain.to_string(),
        coop_id,
        seq,
        prev_hash: raw.prev_hash.clone(),
        hash: raw.hash.clone(),
        kind: raw.kind.clone(),
        body,
        commitment: raw.commitment.clone(),
        at: raw.at,
        personal: None,
    };
    if entry_hash(&entry) != raw.hash {
        return problem(
            seq,
            format!("entry {seq}: hash does not match its content (altered?)"),
        );
    }
    if let Some((salt, data)) = &raw.personal {
        if raw.commitment.is_empty() {
            return problem(
                seq,
                format!("entry {seq}: has personal data but commits to none (added later?)"),
            );
        }
        let salt = match hex::decode(salt) {
            Ok(salt) if salt.len() == SALT_LEN => salt,
            _ => {
                return problem(
                    seq,
                    format!("entry {seq}: personal data has a malformed salt (altered?)"),
                );
            }
        };
        let matches = serde_json::from_str::<Value>(data)
            .is_ok_and(|data| personal_commitment(&salt, &data) == raw.commitment);
        if !matches {
            return problem(
                seq,
                format!("entry {seq}: personal data does not match its commitment (altered?)"),
            );
        }
    }
    None
}

/// Erase the personal data of entry `seq` of chain `chain` of coop
/// `coop_id`. The entry and its commitment stay, so the chain still
/// verifies. Returns whether there was data to erase.
pub async fn erase_personal(db: &Db, chain: &str, coop_id: i64, seq: i64) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM chain_personal WHERE chain = $1 AND coop_id = $2 AND seq = $3")
            .bind(chain)
            .bind(coop_id)
            .bind(seq)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Entry {
        Entry {
            chain: "decisions".into(),
            coop_id: 1,
            seq: 1,
            prev_hash: GENESIS.into(),
            hash: String::new(),
            kind: "proposal.opened".into(),
            body: json!({"b": 1, "a": [true, null, "x"]}),
            commitment: String::new(),
            at: 1_790_000_000_000,
            personal: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut inner = serde_json::Map::new();
        inner.insert("z".into(), json!(1));
        inner.insert("a".into(), json!("é\"\n"));
        let mut outer = serde_json::Map::new();
        outer.insert("y".into(), Value::Object(inner));
        outer.insert("b".into(), json!([{"d": 1.5, "c": -2}]));
        assert_eq!(
            canonical_json(&Value::Object(outer)),
            r#"{"b":[{"c":-2,"d":1.5}],"y":{"a":"é\"\n","z":1}}"#
        );
    }

    #[test]
    fn genesis_is_as_long_as_a_hash() {
        assert_eq!(GENESIS.len(), entry_hash(&sample()).len());
        assert!(GENESIS.bytes().all(|b| b == b'0'));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = entry_hash(&sample());
        let changes: [fn(&mut Entry); 8] = [
            |e| e.chain = "audit".into(),
            |e| e.coop_id = 2,
            |e| e.seq = 2,
            |e| e.prev_hash = "1".repeat(64),
            |e| e.at += 1,
            |e| e.kind = "proposal.closed".into(),
            |e| e.body = json!({"b": 2, "a": [true, null, "x"]}),
            |e| e.commitment = "c".into(),
        ];
        for change in changes {
            let mut e = sample();
            change(&mut e);
            assert_ne!(entry_hash(&e), base);
        }
        // The stored hash and personal data are not part of it.
        let mut e = sample();
        e.hash = "x".into();
        e.personal = Some(json!({"name": "Ada"}));
        assert_eq!(entry_hash(&e), base);
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let mut a = sample();
        a.chain = "ab".into();
        a.kind = "c".into();
        let mut b = sample();
        b.chain = "a".into();
        b.kind = "bc".into();
        assert_ne!(entry_hash(&a), entry_hash(&b));
    }

    #[test]
    fn commitment_depends_on_salt_and_data_not_key_order() {
        let salt = [7u8; SALT_LEN];
        let c = personal_commitment(&salt, &json!({"a": 1, "b": 2}));
        assert_eq!(c.len(), 64);
        let mut m = serde_json::Map::new();
        m.insert("b".into(), json!(2));
        m.insert("a".into(), json!(1));
        assert_eq!(personal_commitment(&salt, &Value::Object(m)), c);
        assert_ne!(
            personal_commitment(&[8u8; SALT_LEN], &json!({"a": 1, "b": 2})),
            c
        );
        assert_ne!(personal_commitment(&salt, &json!({"a": 1, "b": 3})), c);
    }

    #[test]
    fn chain_locks_differ_per_chain_and_coop() {
        assert_ne!(chain_lock_id("decisions", 1), chain_lock_id("audit", 1));
        assert_ne!(chain_lock_id("decisions", 1), chain_lock_id("decisions", 2));
        assert_eq!(chain_lock_id("audit", 3), chain_lock_id("audit", 3));
    }
}
