//! The record of someone other than the member reading that member's money
//! (a statement, a wallet's history). Members read the entries about
//! themselves. The data-ethics issue moves these entries into the
//! hash-chained audit log; until then they are plain append-only rows.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::Result;
use crate::identity::Actor;

/// One read of a member's data by someone else.
#[derive(Clone, Debug, Serialize)]
pub struct Access {
    /// Entry id, increasing.
    pub id: i64,
    /// The reader's member id, if a member read it.
    pub reader_member_id: Option<i64>,
    /// Who read it, in words (`member 3`, `api key 2`, `host operator`).
    pub reader: String,
    /// Whose data.
    pub subject_member_id: i64,
    /// What was read, e.g. `statement 2026-11`.
    pub what: String,
    /// When, ms since the epoch.
    pub at: i64,
}

fn reader_name(actor: &Actor) -> String {
    match (actor.member_id, actor.service_key, actor.operator) {
        (_, _, true) => "host operator".to_string(),
        (Some(m), _, _) => format!("member {m}"),
        (None, Some(k), _) => format!("api key {k}"),
        _ => "anonymous".to_string(),
    }
}

/// Record that `actor` read `what` about `subject`, unless the actor is the
/// subject (reading one's own data is not recorded).
pub async fn record(db: &Db, actor: &Actor, subject: i64, what: &str, now_ms: i64) -> Result<()> {
    if actor.member_id == Some(subject) && !actor.operator {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO data_access_log (coop_id, reader_member_id, reader, subject_member_id, what, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor.coop_id)
    .bind(actor.member_id)
    .bind(reader_name(actor))
    .bind(subject)
    .bind(what)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The reads of `subject`'s data in coop `coop_id`, newest first.
pub async fn about(db: &Db, coop_id: i64, subject: i64, limit: i64) -> Result<Vec<Access>> {
    let rows = sqlx::query(
        "SELECT id, reader_member_id, reader, subject_member_id, what, at FROM data_access_log \
         WHERE coop_id = $1 AND subject_member_id = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(coop_id)
    .bind(subject)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Access {
            id: r.get(0),
            reader_member_id: r.get(1),
            reader: r.get(2),
            subject_member_id: r.get(3),
            what: r.get(4),
            at: r.get(5),
        })
        .collect())
}
