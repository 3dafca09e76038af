//! Plugin key-value data, one namespace per (coop, plugin).
//!
//! A plugin call reads through to the database and buffers its writes in a
//! [`CallTx`] with the versions they were based on. At return the host
//! applies them in one short transaction that first checks every key read
//! and every prefix scanned is unchanged (DESIGN invariant 4). On a mismatch
//! the commit fails with [`CommitError::Conflict`] and the caller re-runs the
//! call, so a call never commits on stale data and no lock is held while
//! plugin code runs.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most records one scan returns.
pub const MAX_SCAN: u32 = 1000;

/// A record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Key.
    pub key: String,
    /// Bytes.
    pub value: Vec<u8>,
    /// Version: 1 on first write, +1 per change.
    pub version: i64,
    /// The member the record concerns, as the plugin sees them.
    pub member_pseudo: Option<String>,
}

/// A buffered write: `None` value deletes.
#[derive(Clone, Debug)]
struct Write {
    value: Option<Vec<u8>>,
    version: i64,
    member_pseudo: Option<String>,
    member_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Scan {
    prefix: String,
    start_after: Option<String>,
    limit: i64,
    seen: Vec<(String, i64)>,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// Something the call read changed meanwhile: re-run the call.
    Conflict,
    /// SQLite was transiently locked: re-run the call after a short wait.
    Busy,
    /// The commit would take the namespace past its store quota.
    Quota(String),
    /// The database failed.
    Db(Error),
}

/// Store quota of one plugin namespace.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    /// Most keys.
    pub keys: i64,
    /// Most bytes, keys plus values.
    pub bytes: i64,
}

/// A database error at commit. SQLite's "database is locked" is transient
/// (another process, or a checkpoint, held the file): the call is re-run
/// like any other conflict instead of failing.
fn commit_error(e: sqlx::Error) -> CommitError {
    if crate::db::is_transient(&e) {
        CommitError::Busy
    } else {
        CommitError::Db(e.into())
    }
}

fn record_size(key: &str, value: &[u8]) -> i64 {
    (key.len() + value.len()) as i64
}

/// The reads and buffered writes of one plugin call.
#[derive(Debug)]
pub struct CallTx {
    coop_id: i64,
    plugin: String,
    /// Base version and size (key plus value bytes) of every key read or
    /// written (`None`: absent).
    reads: HashMap<String, Option<(i64, i64)>>,
    scans: Vec<Scan>,
    writes: BTreeMap<String, Write>,
}

/// Check a key: 1 to [`MAX_KEY_BYTES`] bytes of UTF-8 without NUL or other
/// control characters. Keys are names inside the plugin's namespace, never
/// paths, so `..` or `/` mean nothing special; control characters are
/// refused so every backend stores the same bytes.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Error::Invalid(format!(
            "store key must be 1 to {MAX_KEY_BYTES} bytes, got {}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "store key must not contain NUL or control characters".into(),
        ));
    }
    Ok(())
}

/// The smallest string greater than every string starting with `prefix`, or
/// `None` when no such bound exists (empty prefix, or all `char::MAX`).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        let mut next = c as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(n) = char::from_u32(next) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl CallTx {
    /// An empty transaction for the namespace.
    pub fn new(coop_id: i64, plugin: &str) -> Self {
        CallTx {
            coop_id,
            plugin: plugin.to_string(),
            reads: HashMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
        }
    }

    /// Whether the call wrote anything.
    pub fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }

    async fn db_get(&self, db: &Db, key: &str) -> Result<Option<Entry>> {
        let row = sqlx::query(
            "SELECT key, value, version, member_pseudo FROM kv WHERE coop_id = $1 AND plugin = $2 AND key = $3",
        )
        .bind(self.coop_id)
        .bind(&self.plugin)
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
        Ok(row.map(|r| entry_from_row(&r)))
    }

    /// The current record at `key`, seen through this call's own writes.
    pub async fn get(&mut self, db: &Db, key: &str) -> Result<Option<Entry>> {
        check_key(key)?;
        if let Some(w) = self.writes.get(key) {
            return Ok(w.value.as_ref().map(|v| Entry {
                key: key.to_string(),
                value: v.clone(),
                version: w.version,
                member_pseudo: w.member_pseudo.clone(),
            }));
        }
        let e = self.db_get(db, key).await?;
        self.reads.entry(key.to_string()).or_insert(
            e.as_ref()
                .map(|e| (e.version, record_size(&e.key, &e.value))),
        );
        Ok(e)
    }

    /// Write `key`. With `expected` (`Some(None)`: must be absent), fail with
    /// a conflict unless the current version matches.
    pub async fn put(
        &mut self,
        db: &Db,
        key: &str,
        value: Option<Vec<u8>>,
        expected: Option<Option<i64>>,
        member: Option<(String, i64)>,
    ) -> Result<Option<i64>> {
        if let Some(v) = &value
            && v.len() > MAX_VALUE_BYTES
        {
            return Err(Error::Invalid(format!(
                "store value for {key:?} is {} bytes; the limit is {MAX_VALUE_BYTES}",
                v.len()
            )));
        }
        let current = self.get(db, key).await?;
        let current_version = current.as_ref().map(|e| e.version);
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(Error::Conflict(match (expected, current_version) {
                (None, Some(v)) => format!("key {key:?} already exists at version {v}"),
                (Some(e), None) => format!("key {key:?} does not exist (expected version {e})"),
                (Some(e), Some(v)) => format!("key {key:?} is at version {v}, not {e}"),
                (None, None) => unreachable!("equal versions are not a conflict"),
            }));
        }
        if value.is_none() && current.is_none() {
            return Ok(None);
        }
        let version = current_version.unwrap_or(0) + 1;
        let (member_pseudo, member_id) = match member {
            Some((p, id)) => (Some(p), Some(id)),
            None => (None, None),
        };
        let deleting = value.is_none();
        self.writes.insert(
            key.to_string(),
            Write {
                value,
                version,
                member_pseudo,
                member_id,
            },
        );
        Ok(if deleting {
            current_version
        } else {
            Some(version)
        })
    }

    /// Records under `prefix` after `start_after`, at most `limit`, seen
    /// through this call's own writes. `charge` is asked for the size of
    /// each record before it is kept (database rows as they arrive, so a
    /// scan never holds more than the caller allows); when it refuses, the
    /// scan stops and answers `None`.
    pub async fn scan(
        &mut self,
        db: &Db,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        charge: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<Option<Vec<Entry>>> {
        if prefix.len() > MAX_KEY_BYTES || prefix.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "scan prefix must be at most 512 bytes without control characters".into(),
            ));
        }
        let limit = limit.clamp(1, MAX_SCAN) as usize;
        // Fetch enough that deletions buffered in this call cannot starve the page.
        let pending_here = self.writes.keys().filter(|k| k.starts_with(prefix)).count();
        let fetch = (limit + pending_here) as i64;
        let Some(db_rows) = self
            .db_scan(db, prefix, start_after, fetch, &mut *charge)
            .await?
        else {
            return Ok(None);
        };
        self.scans.push(Scan {
            prefix: prefix.to_string(),
            start_after: start_after.map(String::from),
            limit: fetch,
            seen: db_rows.iter().map(|e| (e.key.clone(), e.version)).collect(),
        });
        let mut merged: BTreeMap<String, Option<Entry>> = db_rows
            .into_iter()
            .map(|e| (e.key.clone(), Some(e)))
            .collect();
        for (k, w) in self.writes.range(prefix.to_string()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if start_after.is_some_and(|s| k.as_str() <= s) {
                continue;
            }
            let own = match &w.value {
                Some(v) => {
                    if !charge(record_size(k, v) as u64) {
                        return Ok(None);
                    }
                    Some(Entry {
                        key: k.clone(),
                        value: v.clone(),
                        version: w.version,
                        member_pseudo: w.member_pseudo.clone(),
                    })
                }
                None => None,
            };
            merged.insert(k.clone(), own);
        }
        // A buffered key beyond the database page could sort before the
        // page's end only if the page was full; trimming to `limit` keeps
        // the result a correct prefix of the merged order.
        Ok(Some(merged.into_values().flatten().take(limit).collect()))
    }

    /// The stored records of a scan, streamed from the database and each
    /// charged before it is kept (`None` once `charge` refuses).
    async fn db_scan(
        &self,
        db: &Db,
        prefix: &str,
        start_after: Option<&str>,
        limit: i64,
        charge: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<Option<Vec<Entry>>> {
        use futures_util::TryStreamExt;
        let bounds = ScanBounds::new(prefix, start_after);
        let sql = bounds.sql("key, value, version, member_pseudo");
        let mut rows = bounds
            .bind(sqlx::query(&sql), self.coop_id, &self.plugin, limit)
            .fetch(&db.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let e = entry_from_row(&row);
            if !charge(record_size(&e.key, &e.value) as u64) {
                return Ok(None);
            }
            out.push(e);
        }
        Ok(Some(out))
    }

    /// The (key, version) pairs a scan sees now, in `exec` (the commit's
    /// transaction): values are not needed to validate a scan, and reading
    /// them again would double what a large scan costs.
    async fn db_scan_versions<'e, E>(
        &self,
        exec: E,
        scan: &Scan,
    ) -> Result<Vec<(String, i64)>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let bounds = ScanBounds::new(&scan.prefix, scan.start_after.as_deref());
        let sql = bounds.sql("key, version");
        let rows = bounds
            .bind(sqlx::query(&sql), self.coop_id, &self.plugin, scan.limit)
            .fetch_all(exec)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Validate the reads and apply the buffered writes in a transaction
    /// that holds the namespace lock. The caller adds what else the call
    /// produced (events, ledger postings) to the returned transaction and
    /// commits it; dropping it rolls everything back.
    pub async fn apply(
        self,
        db: &Db,
        now_ms: i64,
        quota: Quota,
    ) -> Result<crate::db::NamespaceTx, CommitError> {
        let mut ns = db
            .begin_namespace(self.coop_id, &self.plugin)
            .await
            .map_err(|e| match e.downcast::<sqlx::Error>() {
                Ok(e) => commit_error(e),
                Err(e) => CommitError::Db(e.into()),
            })?;
        let tx = &mut ns.tx;
        for (key, base) in &self.reads {
            let row = sqlx::query(
                "SELECT version FROM kv WHERE coop_id = $1 AND plugin = $2 AND key = $3",
            )
            .bind(self.coop_id)
            .bind(&self.plugin)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(commit_error)?;
            if row.map(|r| r.get::<i64, _>(0)) != base.map(|(v, _)| v) {
                return Err(CommitError::Conflict);
            }
        }
        for scan in &self.scans {
            let now = self
                .db_scan_versions(&mut **tx, scan)
                .await
                .map_err(commit_error)?;
            if now != scan.seen {
                return Err(CommitError::Conflict);
            }
        }
        let (mut delta_keys, mut delta_bytes) = (0i64, 0i64);
        for (key, w) in &self.writes {
            // Every written key was read first (`put` reads it), so its base is known.
            let base = self.reads.get(key).copied().flatten();
            delta_keys += i64::from(w.value.is_some()) - i64::from(base.is_some());
            delta_bytes +=
                w.value.as_ref().map_or(0, |v| record_size(key, v)) - base.map_or(0, |(_, s)| s);
        }
        if delta_keys != 0 || delta_bytes != 0 {
            let row = sqlx::query(
                "INSERT INTO kv_usage (coop_id, plugin, keys, bytes) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (coop_id, plugin) DO UPDATE SET keys = kv_usage.keys + excluded.keys, \
                 bytes = kv_usage.bytes + excluded.bytes RETURNING keys, bytes",
            )
            .bind(self.coop_id)
            .bind(&self.plugin)
            .bind(delta_keys)
            .bind(delta_bytes)
            .fetch_one(&mut **tx)
            .await
            .map_err(commit_error)?;
            let (keys, bytes): (i64, i64) = (row.get(0), row.get(1));
            if delta_keys > 0 && keys > quota.keys {
                return Err(CommitError::Quota(format!(
                    "the plugin's store would hold {keys} keys; its quota is {}",
                    quota.keys
                )));
            }
            if delta_bytes > 0 && bytes > quota.bytes {
                return Err(CommitError::Quota(format!(
                    "the plugin's store would hold {bytes} bytes; its quota is {}",
                    quota.bytes
                )));
            }
        }
        // The values move into the statements: the commit does not copy
        // what the call buffered.
        let (coop_id, plugin) = (self.coop_id, self.plugin);
        for (key, w) in self.writes {
            let q = match w.value {
                Some(v) => sqlx::query(
                    "INSERT INTO kv (coop_id, plugin, key, value, version, member_pseudo, member_id, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (coop_id, plugin, key) DO UPDATE SET \
                     value = excluded.value, version = excluded.version, member_pseudo = excluded.member_pseudo, \
                     member_id = excluded.member_id, updated_at = excluded.updated_at",
                )
                .bind(coop_id)
                .bind(plugin.clone())
                .bind(key)
                .bind(v)
                .bind(w.version)
                .bind(w.member_pseudo)
                .bind(w.member_id)
                .bind(now_ms),
                None => sqlx::query("DELETE FROM kv WHERE coop_id = $1 AND plugin = $2 AND key = $3")
                    .bind(coop_id)
                    .bind(plugin.clone())
                    .bind(key),
            };
            q.execute(&mut **tx).await.map_err(commit_error)?;
        }
        Ok(ns)
    }
}

/// The key range of a scan: keys from `lower` (after it when `strict`)
/// and below `end` (the first string past the prefix, when there is one).
struct ScanBounds {
    lower: String,
    strict: bool,
    end: Option<String>,
}

impl ScanBounds {
    fn new(prefix: &str, start_after: Option<&str>) -> ScanBounds {
        let (lower, strict) = match start_after {
            Some(s) if s >= prefix => (s.to_string(), true),
            _ => (prefix.to_string(), false),
        };
        ScanBounds {
            lower,
            strict,
            end: prefix_end(prefix),
        }
    }

    /// The query selecting `columns` of the range in key order, with
    /// placeholders for coop, plugin, lower bound, upper bound (if any)
    /// and limit, as [`Self::bind`] binds them.
    fn sql(&self, columns: &str) -> String {
        let op = if self.strict { ">" } else { ">=" };
        let (upper, limit) = match self.end {
            Some(_) => (" AND key < $4", "$5"),
            None => ("", "$4"),
        };
        format!(
            "SELECT {columns} FROM kv WHERE coop_id = $1 AND plugin = $2 \
             AND key {op} $3{upper} ORDER BY key LIMIT {limit}"
        )
    }

    fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        coop_id: i64,
        plugin: &str,
        limit: i64,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let q = q
            .bind(coop_id)
            .bind(plugin.to_string())
            .bind(self.lower.clone());
        match &self.end {
            Some(end) => q.bind(end.clone()).bind(limit),
            None => q.bind(limit),
        }
    }
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> Entry {
    Entry {
        key: r.get(0),
        value: r.get(1),
        version: r.get(2),
        member_pseudo: r.get(3),
    }
}

/// Every record of a plugin namespace, for admins and tests.
pub async fn dump(db: &Db, coop_id: i64, plugin: &str) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT key, value, version, member_pseudo FROM kv WHERE coop_id = $1 AND plugin = $2 ORDER BY key",
    )
    .bind(coop_id)
    .bind(plugin)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(entry_from_row).collect())
}

/// Delete every record tagged with `member_id` in the coop's plugin
/// namespaces (a member's erasure), keeping each namespace's quota
/// counter (`kv_usage`) equal to what it holds: each namespace changes
/// under its lock, as a call's commit does, so no commit counts against
/// records that are gone. Returns how many records were deleted.
pub async fn erase_member(db: &Db, coop_id: i64, member_id: i64) -> Result<u64> {
    let plugins: Vec<String> =
        sqlx::query("SELECT DISTINCT plugin FROM kv WHERE coop_id = $1 AND member_id = $2")
            .bind(coop_id)
            .bind(member_id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    let mut deleted = 0;
    for plugin in plugins {
        let mut ns = db
            .begin_namespace(coop_id, &plugin)
            .await
            .map_err(Error::Internal)?;
        let rows = sqlx::query(
            "SELECT key, CAST(LENGTH(value) AS BIGINT) FROM kv \
             WHERE coop_id = $1 AND plugin = $2 AND member_id = $3",
        )
        .bind(coop_id)
        .bind(&plugin)
        .bind(member_id)
        .fetch_all(&mut *ns.tx)
        .await?;
        let keys = rows.len() as i64;
        let bytes: i64 = rows
            .iter()
            .map(|r| r.get::<String, _>(0).len() as i64 + r.get::<i64, _>(1))
            .sum();
        sqlx::query("DELETE FROM kv WHERE coop_id = $1 AND plugin = $2 AND member_id = $3")
            .bind(coop_id)
            .bind(&plugin)
            .bind(member_id)
            .execute(&mut *ns.tx)
            .await?;
        sqlx::query(
            "UPDATE kv_usage SET keys = keys - $1, bytes = bytes - $2 WHERE coop_id = $3 AND plugin = $4",
        )
        .bind(keys)
        .bind(bytes)
        .bind(coop_id)
        .bind(&plugin)
        .execute(&mut *ns.tx)
        .await?;
        ns.tx.commit().await?;
        deleted += keys as u64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("shift/1").is_ok());
        assert!(
            check_key("../other-plugin/x").is_ok(),
            "dots are plain characters"
        );
        assert!(check_key("").is_err());
        assert!(check_key("a\0b").is_err());
        assert!(check_key(&"k".repeat(513)).is_err());
    }
}
