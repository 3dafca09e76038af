//! Staged components: the `.wasm` a coop's admin uploads so that a plugin
//! proposal can name it by SHA-256 (`POST /v1/coops/{coop}/components`).
//!
//! The bytes are stored once per content in `components` (several coops may
//! stage the same plugin); each coop's claim on them is a row of
//! `staged_components`, counted against the coop's quota
//! ([`MAX_STAGED_PER_COOP`], [`MAX_STAGED_BYTES_PER_COOP`]) so one coop
//! cannot fill the shared database. [`purge`] removes claims older than
//! [`STAGED_RETENTION_MS`] that no open or passed proposal of the coop
//! names, then the bytes nobody claims, installs or proposes any more.

use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// Components one coop may have staged at once: a few versions of the
/// plugins it is weighing; installed ones stop counting once their claim
/// expires (the installation keeps the bytes).
pub const MAX_STAGED_PER_COOP: i64 = 16;

/// Bytes one coop may have staged at once: four of the largest components
/// (`api::MAX_COMPONENT_BYTES`, 64 MiB), or about a dozen Python ones.
pub const MAX_STAGED_BYTES_PER_COOP: i64 = 256 << 20;

/// How long a staged component stays without a proposal naming it: a week
/// is time to stage, discuss and open the proposal; staging it again
/// starts the week again. While an open or passed (not yet applied)
/// proposal names it, it stays whatever its age.
pub const STAGED_RETENTION_MS: i64 = 7 * 24 * 3_600_000;

/// What a coop has staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Components staged.
    pub count: i64,
    /// Their bytes.
    pub bytes: i64,
}

/// A staging quota a coop would exceed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaHit {
    /// Too many components staged.
    #[error(
        "this coop has {count} components staged, the most it may hold: propose or wait for the \
         unused ones to be removed (after {days} days)"
    )]
    Count {
        /// Components staged now.
        count: i64,
        /// Days a component stays unused.
        days: i64,
    },
    /// Too many bytes staged.
    #[error(
        "this coop has {used} bytes staged and may hold {max}: this component does not fit; \
         propose or wait for the unused ones to be removed (after {days} days)"
    )]
    Bytes {
        /// Bytes staged now.
        used: i64,
        /// The quota.
        max: i64,
        /// Days a component stays unused.
        days: i64,
    },
}

const DAYS: i64 = STAGED_RETENTION_MS / (24 * 3_600_000);

/// The bytes a coop with `usage` may still stage in one component, at most
/// `largest`; refused when it may stage nothing more.
pub fn room(usage: Usage, largest: i64) -> std::result::Result<i64, QuotaHit> {
    if usage.count >= MAX_STAGED_PER_COOP {
        return Err(QuotaHit::Count {
            count: usage.count,
            days: DAYS,
        });
    }
    let left = MAX_STAGED_BYTES_PER_COOP - usage.bytes;
    if left <= 0 {
        return Err(bytes_hit(usage));
    }
    Ok(left.min(largest))
}

fn bytes_hit(usage: Usage) -> QuotaHit {
    QuotaHit::Bytes {
        used: usage.bytes,
        max: MAX_STAGED_BYTES_PER_COOP,
        days: DAYS,
    }
}

/// Whether a coop with `usage` may stage one more component of `size`
/// bytes (a component it already staged takes no more room).
pub fn fits(usage: Usage, size: i64, already: bool) -> std::result::Result<(), QuotaHit> {
    if already {
        return Ok(());
    }
    room(usage, i64::MAX)?;
    if usage.bytes + size > MAX_STAGED_BYTES_PER_COOP {
        return Err(bytes_hit(usage));
    }
    Ok(())
}

/// What a coop has staged now.
pub async fn usage(db: &Db, coop_id: i64) -> Result<Usage> {
    usage_with(&db.pool, coop_id).await
}

async fn usage_with<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    exec: E,
    coop_id: i64,
) -> Result<Usage> {
    let row = sqlx::query(
        // PostgreSQL sums BIGINT as NUMERIC: cast back for the Any driver.
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM staged_components \
         WHERE coop_id = $1",
    )
    .bind(coop_id)
    .fetch_one(exec)
    .await?;
    Ok(Usage {
        count: row.get(0),
        bytes: row.get(1),
    })
}

/// Why staging was refused.
#[derive(Debug)]
pub enum Refusal {
    /// A quota would be exceeded.
    Quota(QuotaHit),
    /// Anything else.
    Failed(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Refusal::Failed(e)
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Failed(e.into())
    }
}

/// Store `bytes` (already inspected: a usable component with SHA-256
/// `sha`) as staged by coop `coop_id`, checking its quota again under the
/// coop's staging lock so parallel uploads cannot both slip under it.
/// Staging a component again renews its retention.
pub async fn record(
    db: &Db,
    coop_id: i64,
    sha: &str,
    bytes: Vec<u8>,
    staged_by: Option<i64>,
    now: i64,
) -> std::result::Result<(), Refusal> {
    let size = bytes.len() as i64;
    let mut ns = db
        .begin_namespace(coop_id, LOCK)
        .await
        .map_err(Error::Internal)?;
    let tx = &mut ns.tx;
    let already = sqlx::query("SELECT 1 FROM staged_components WHERE coop_id = $1 AND sha256 = $2")
        .bind(coop_id)
        .bind(sha)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    let used = usage_with(&mut **tx, coop_id).await?;
    fits(used, size, already).map_err(Refusal::Quota)?;
    sqlx::query(
        "INSERT INTO components (sha256, bytes, size, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha)
    .bind(bytes)
    .bind(size)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO staged_components (coop_id, sha256, size, staged_by, staged_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (coop_id, sha256) DO UPDATE SET \
         staged_at = excluded.staged_at, staged_by = excluded.staged_by",
    )
    .bind(coop_id)
    .bind(sha)
    .bind(size)
    .bind(staged_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    ns.tx.commit().await?;
    Ok(())
}

/// The name the staging lock takes in the namespace-lock space (no plugin
/// may be called this: plugin names have no dot).
const LOCK: &str = "coophost.staging";

/// Whether coop `coop_id` may name component `sha` in a proposal: it
/// staged it, or one of its installations (a previous version) uses it.
pub async fn available_to(db: &Db, coop_id: i64, sha: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM staged_components WHERE coop_id = $1 AND sha256 = $2 \
         UNION SELECT 1 FROM plugins WHERE coop_id = $1 AND sha256 = $2",
    )
    .bind(coop_id)
    .bind(sha)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

/// Remove staged components unused for [`STAGED_RETENTION_MS`]: a coop's
/// claim older than that which no open or passed proposal of the coop
/// names, then the bytes of components no claim, installation or open or
/// passed proposal refers to. Returns how many components were deleted.
pub async fn purge(db: &Db, now: i64) -> Result<u64> {
    let before = now - STAGED_RETENTION_MS;
    // A proposal names its component by SHA-256 (64 hex digits) in its
    // change; matching the text is exact enough and needs no JSON in SQL.
    sqlx::query(
        "DELETE FROM staged_components WHERE staged_at < $1 AND NOT EXISTS (\
         SELECT 1 FROM proposals p WHERE p.coop_id = staged_components.coop_id \
         AND p.status IN ('open', 'passed') AND p.change LIKE '%' || staged_components.sha256 || '%')",
    )
    .bind(before)
    .execute(&db.pool)
    .await?;
    let done = sqlx::query(
        "DELETE FROM components WHERE created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM staged_components s WHERE s.sha256 = components.sha256) \
         AND NOT EXISTS (SELECT 1 FROM plugins p WHERE p.sha256 = components.sha256) \
         AND NOT EXISTS (SELECT 1 FROM proposals p WHERE p.status IN ('open', 'passed') \
         AND p.change LIKE '%' || components.sha256 || '%')",
    )
    .bind(before)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_count_components_and_bytes() {
        let empty = Usage { count: 0, bytes: 0 };
        assert_eq!(room(empty, 64 << 20), Ok(64 << 20));
        let nearly = Usage {
            count: 3,
            bytes: MAX_STAGED_BYTES_PER_COOP - 10,
        };
        assert_eq!(room(nearly, 64 << 20), Ok(10));
        assert!(fits(nearly, 10, false).is_ok());
        assert!(matches!(
            fits(nearly, 11, false),
            Err(QuotaHit::Bytes { .. })
        ));
        // Staging again what is already staged takes no room.
        assert!(fits(nearly, 11, true).is_ok());
        let full = Usage {
            count: MAX_STAGED_PER_COOP,
            bytes: 0,
        };
        assert!(matches!(room(full, 1), Err(QuotaHit::Count { .. })));
        assert!(matches!(fits(full, 1, false), Err(QuotaHit::Count { .. })));
        let no_bytes = Usage {
            count: 1,
            bytes: MAX_STAGED_BYTES_PER_COOP,
        };
        assert!(matches!(room(no_bytes, 1), Err(QuotaHit::Bytes { .. })));
    }
}
