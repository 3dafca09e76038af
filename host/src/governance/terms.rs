//! Terms of service: versions with their full text and a line diff to the
//! previous one, published with a notice period (at least
//! [`MIN_NOTICE_DAYS`] days; a coop may only lengthen it), never in effect
//! before the notice ends, announced in every member's inbox and by mail,
//! accepted by members one by one.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// The shortest notice a coop may give before new terms take effect.
pub const MIN_NOTICE_DAYS: u32 = 15;
/// Largest terms text, bytes.
pub const MAX_TERMS_BYTES: usize = 200_000;
const DAY_MS: i64 = 86_400_000;

/// A version of the terms.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TermsVersion {
    /// Version, from 1.
    pub version: i64,
    /// The full text.
    pub text: String,
    /// Line diff to the previous version: lines prefixed `+ `, `- ` or
    /// two spaces.
    pub diff: String,
    /// When it was published (the notice starts).
    pub published_at: i64,
    /// When it takes effect.
    pub effective_at: i64,
    /// The proposal that adopted it, if any.
    pub proposal_id: Option<i64>,
}

/// A line diff of `old` to `new` (longest common subsequence of lines):
/// unchanged lines start with two spaces, removed with `- `, added with
/// `+ `.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j] = LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str("  ");
            out.push_str(a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str("- ");
            out.push_str(a[i]);
            i += 1;
        } else {
            out.push_str("+ ");
            out.push_str(b[j]);
            j += 1;
        }
        out.push('\n');
    }
    out
}

fn from_row(r: &sqlx::any::AnyRow) -> TermsVersion {
    TermsVersion {
        version: r.get(0),
        text: r.get(1),
        diff: r.get(2),
        published_at: r.get(3),
        effective_at: r.get(4),
        proposal_id: r.get(5),
    }
}

/// Every version, oldest first.
pub async fn versions(db: &Db, coop_id: i64) -> Result<Vec<TermsVersion>> {
    let rows = sqlx::query(
        "SELECT version, text, diff, published_at, effective_at, proposal_id FROM terms_versions \
         WHERE coop_id = $1 ORDER BY version",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Publish `text` as the next version, taking effect at `effective_at`
/// (at the earliest `now + notice_days`; by default exactly then).
pub async fn publish(
    db: &Db,
    coop_id: i64,
    text: &str,
    notice_days: u32,
    effective_at: Option<i64>,
    proposal_id: Option<i64>,
    now: i64,
) -> Result<TermsVersion> {
    let mut tx = db.begin_write().await?;
    let v = publish_in(
        &mut tx,
        coop_id,
        text,
        notice_days,
        effective_at,
        proposal_id,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

/// [`publish`] inside the caller's transaction (a governed change commits
/// with its decision).
pub async fn publish_in(
    tx: &mut sqlx::AnyConnection,
    coop_id: i64,
    text: &str,
    notice_days: u32,
    effective_at: Option<i64>,
    proposal_id: Option<i64>,
    now: i64,
) -> Result<TermsVersion> {
    let notice_days = notice_days.max(MIN_NOTICE_DAYS);
    if text.trim().is_empty() || text.len() > MAX_TERMS_BYTES {
        return Err(Error::Invalid(format!(
            "terms text must be 1 to {MAX_TERMS_BYTES} bytes"
        )));
    }
    let earliest = now + i64::from(notice_days) * DAY_MS;
    let effective_at = effective_at.unwrap_or(earliest);
    if effective_at < earliest {
        return Err(Error::Invalid(format!(
            "new terms take effect at the earliest {notice_days} days after publication ({earliest}); {effective_at} is sooner"
        )));
    }
    let last = sqlx::query(
        "SELECT version, text FROM terms_versions WHERE coop_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(coop_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (version, previous) = match &last {
        Some(r) => (r.get::<i64, _>(0) + 1, r.get::<String, _>(1)),
        None => (1, String::new()),
    };
    let d = diff(&previous, text);
    sqlx::query(
        "INSERT INTO terms_versions (coop_id, version, text, diff, published_at, effective_at, proposal_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(coop_id)
    .bind(version)
    .bind(text)
    .bind(&d)
    .bind(now)
    .bind(effective_at)
    .bind(proposal_id)
    .execute(&mut *tx)
    .await?;
    announce_in(&mut *tx, coop_id, version, effective_at, now).await?;
    Ok(TermsVersion {
        version,
        text: text.to_string(),
        diff: d,
        published_at: now,
        effective_at,
        proposal_id,
    })
}

/// Tell every active member about a new version, in its publication's
/// transaction: a notice in their inbox and a mail, so nobody learns of a
/// contract change only once it binds them.
async fn announce_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    version: i64,
    effective_at: i64,
    now: i64,
) -> Result<()> {
    let members: Vec<i64> =
        sqlx::query("SELECT id FROM members WHERE coop_id = $1 AND status = 'active' ORDER BY id")
            .bind(coop_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    crate::events::notify_in(
        conn,
        coop_id,
        &members,
        "terms.published",
        &serde_json::json!({"version": version, "effective_at": effective_at}),
        now,
    )
    .await?;
    let coop = sqlx::query("SELECT slug, name FROM coops WHERE id = $1")
        .bind(coop_id)
        .fetch_one(&mut *conn)
        .await?;
    let message = crate::mail::Message::TermsPublished {
        coop: coop.get(0),
        coop_name: coop.get(1),
        version,
        effective_at,
    };
    crate::mail::queue_for_active_members_in(conn, coop_id, &message, now).await?;
    Ok(())
}

/// The version in effect at `now`, if any.
pub fn in_effect(versions: &[TermsVersion], now: i64) -> Option<&TermsVersion> {
    versions
        .iter()
        .filter(|v| v.effective_at <= now)
        .max_by_key(|v| v.version)
}

/// Record that `member_id` accepts `version`.
pub async fn accept(db: &Db, coop_id: i64, member_id: i64, version: i64, now: i64) -> Result<()> {
    let exists = sqlx::query("SELECT 1 FROM terms_versions WHERE coop_id = $1 AND version = $2")
        .bind(coop_id)
        .bind(version)
        .fetch_optional(&db.pool)
        .await?;
    if exists.is_none() {
        return Err(Error::NotFound(format!("no terms version {version}")));
    }
    sqlx::query(
        "INSERT INTO terms_acceptances (coop_id, member_id, version, accepted_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (coop_id, member_id, version) DO NOTHING",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(version)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The versions `member_id` accepted, with when.
pub async fn accepted(db: &Db, coop_id: i64, member_id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query(
        "SELECT version, accepted_at FROM terms_acceptances WHERE coop_id = $1 AND member_id = $2 ORDER BY version",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_added_removed_and_kept_lines() {
        let old = "1. Pay weekly.\n2. Floor 11.88 EUR/h.\n3. Appeals within 30 days.";
        let new = "1. Pay weekly.\n2. Floor 12.02 EUR/h.\n3. Appeals within 30 days.\n4. Data stays in the EU.";
        assert_eq!(
            diff(old, new),
            "  1. Pay weekly.\n- 2. Floor 11.88 EUR/h.\n+ 2. Floor 12.02 EUR/h.\n  3. Appeals within 30 days.\n+ 4. Data stays in the EU.\n"
        );
        assert_eq!(diff("", "a"), "+ a\n");
        assert_eq!(diff("a\nb", "b"), "- a\n  b\n");
    }
}
