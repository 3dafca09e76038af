//! Work shifts and worker status, owned by the host.
//!
//! A worker starts and ends their own shift; nobody else can shorten or
//! invent shift time, since the earnings floor pays for it. Plugins read
//! shifts through `coop:host/shifts` only.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// One shift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shift {
    /// Shift id.
    pub id: i64,
    /// The worker (member id).
    pub member_id: i64,
    /// Start, ms since the epoch.
    pub started_at: i64,
    /// End, or `None` while open.
    pub ended_at: Option<i64>,
}

impl Shift {
    /// Time on shift up to `now` (or the end), in ms.
    pub fn on_shift_ms(&self, now_ms: i64) -> i64 {
        (self.ended_at.unwrap_or(now_ms) - self.started_at).max(0)
    }
}

fn shift_from_row(r: &sqlx::any::AnyRow) -> Shift {
    Shift {
        id: r.get(0),
        member_id: r.get(1),
        started_at: r.get(2),
        ended_at: r.get(3),
    }
}

/// The member's open shift, if any.
pub async fn current(db: &Db, coop_id: i64, member_id: i64) -> Result<Option<Shift>> {
    let row = sqlx::query(
        "SELECT id, member_id, started_at, ended_at FROM shifts \
         WHERE coop_id = $1 AND member_id = $2 AND ended_at IS NULL",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(shift_from_row))
}

/// Start a shift for the member at `now_ms`. Only workers work shifts; an
/// open shift must be ended first.
pub async fn start(db: &Db, coop_id: i64, member_id: i64, now_ms: i64) -> Result<Shift> {
    let mut tx = db.begin_write().await?;
    let open = sqlx::query(
        "SELECT id FROM shifts WHERE coop_id = $1 AND member_id = $2 AND ended_at IS NULL",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&mut *tx)
    .await?;
    if open.is_some() {
        return Err(Error::Conflict(
            "you are already on shift: end it before starting another".into(),
        ));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO shifts (coop_id, member_id, started_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    tx.commit().await?;
    Ok(Shift {
        id,
        member_id,
        started_at: now_ms,
        ended_at: None,
    })
}

/// End the member's open shift at `now_ms`.
pub async fn end(db: &Db, coop_id: i64, member_id: i64, now_ms: i64) -> Result<Shift> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT id, member_id, started_at, ended_at FROM shifts \
         WHERE coop_id = $1 AND member_id = $2 AND ended_at IS NULL",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::Conflict("you are not on shift".into()))?;
    let mut shift = shift_from_row(&row);
    let end = now_ms.max(shift.started_at);
    sqlx::query("UPDATE shifts SET ended_at = $1 WHERE id = $2")
        .bind(end)
        .bind(shift.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    shift.ended_at = Some(end);
    Ok(shift)
}

/// The member's shifts overlapping `[from, to)`, oldest first.
pub async fn list(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Shift>> {
    if to_ms <= from_ms {
        return Err(Error::Invalid("the period must end after it starts".into()));
    }
    let rows = sqlx::query(
        "SELECT id, member_id, started_at, ended_at FROM shifts WHERE coop_id = $1 AND member_id = $2 \
         AND started_at < $3 AND (ended_at IS NULL OR ended_at > $4) ORDER BY started_at",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(to_ms)
    .bind(from_ms)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(shift_from_row).collect())
}

pub use crate::ledger::split::WorkerStatus;

/// A worker's status.
pub async fn status(db: &Db, coop_id: i64, member_id: i64) -> Result<WorkerStatus> {
    let row =
        sqlx::query("SELECT worker_status, cae_name FROM members WHERE coop_id = $1 AND id = $2")
            .bind(coop_id)
            .bind(member_id)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no member {member_id} in this coop")))?;
    let s: String = row.get(0);
    Ok(match s.as_str() {
        "salaried" => WorkerStatus::Salaried,
        "cae" => WorkerStatus::Cae {
            name: row.get::<Option<String>, _>(1).unwrap_or_default(),
        },
        _ => WorkerStatus::Independent,
    })
}

/// Set a worker's own status. Only the worker calls this: the coop cannot
/// block or override the choice of a CAE.
pub async fn set_status(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    status: &WorkerStatus,
) -> Result<()> {
    let (s, cae) = match status {
        WorkerStatus::Independent => ("independent", None),
        WorkerStatus::Salaried => ("salaried", None),
        WorkerStatus::Cae { name } => {
            // The CAE's fee goes to the ledger account `cae:<name>`.
            crate::ledger::account::AccountKind::cae(name).map_err(|e| {
                Error::Invalid(format!(
                    "CAE name {name:?}: {e}; use letters, digits, '.', '_', ':' or '-'"
                ))
            })?;
            ("cae", Some(name.clone()))
        }
    };
    sqlx::query(
        "UPDATE members SET worker_status = $1, cae_name = $2 WHERE coop_id = $3 AND id = $4",
    )
    .bind(s)
    .bind(cae)
    .bind(coop_id)
    .bind(member_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_shift_time_counts_to_now_or_end() {
        let open = Shift {
            id: 1,
            member_id: 2,
            started_at: 1_000,
            ended_at: None,
        };
        assert_eq!(open.on_shift_ms(61_000), 60_000);
        let closed = Shift {
            ended_at: Some(31_000),
            ..open.clone()
        };
        assert_eq!(closed.on_shift_ms(99_000), 30_000);
        assert_eq!(
            open.on_shift_ms(500),
            0,
            "a clock behind the start counts nothing"
        );
    }

    #[test]
    fn status_json_is_tagged() {
        let s: WorkerStatus =
            serde_json::from_str(r#"{"status":"cae","name":"coopaname"}"#).unwrap();
        assert_eq!(
            s,
            WorkerStatus::Cae {
                name: "coopaname".into()
            }
        );
        assert!(serde_json::from_str::<WorkerStatus>(r#"{"status":"boss"}"#).is_err());
    }
}
