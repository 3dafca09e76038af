//! Which host processes are running, so that an unclean stop is not
//! silent. A process records itself at start ([`start`]) and deletes its
//! row at a clean stop ([`stop`]), after its audit queue is written. A
//! process killed outright (SIGKILL, a crash, the power) leaves its row,
//! and with it the proof that its queued audit items were lost: the next
//! host to look ([`recover`]: at start, and once a minute from the
//! scheduler) writes an `audit.gap` entry in every coop's chain for the
//! interval the items can have come from, and deletes the row in the same
//! transaction, so the gap is written once.
//!
//! A row is the trace of a process that is gone when it names this
//! machine and a process id that no longer runs (a restart notices at
//! once), or when its heartbeat ([`HEARTBEAT`]) has been silent for
//! [`STALE_MS`] (another machine, or a system without `/proc`).

use std::time::Duration;

use rand::RngCore;
use serde_json::json;
use sqlx::Row;

use super::{AUDIT, Audit};
use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::Result;

/// How often a running process says it is alive, and whether its audit
/// queue was empty.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A run whose heartbeat is older than this is gone: thirty missed beats,
/// so a host paused by a busy database is not taken for dead.
pub const STALE_MS: i64 = 5 * 60_000;

/// This process's row.
#[derive(Clone, Debug)]
pub struct Run {
    /// Its id (random).
    pub id: String,
}

/// Record this process as running on `hostname`, after writing the gaps
/// of the runs found gone.
pub async fn start(db: &Db, audit_db: &Db, hostname: &str, now: i64) -> Result<Run> {
    recover(db, audit_db, hostname, now).await?;
    let mut id = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let run = Run {
        id: hex::encode(id),
    };
    sqlx::query(
        "INSERT INTO host_runs (id, hostname, pid, started_at, seen_at, quiet_at) \
         VALUES ($1, $2, $3, $4, $4, $4)",
    )
    .bind(&run.id)
    .bind(hostname)
    .bind(i64::from(std::process::id()))
    .bind(now)
    .execute(&audit_db.pool)
    .await?;
    Ok(run)
}

/// Say the process is alive; `quiet_at` moves when its audit queue is
/// empty now (nothing queued before is waiting any more).
pub async fn beat(audit_db: &Db, run: &Run, audit: &Audit, now: i64) -> Result<()> {
    let quiet = audit.queued() == 0;
    sqlx::query(
        "UPDATE host_runs SET seen_at = $1, quiet_at = CASE WHEN $2 = 1 THEN $1 ELSE quiet_at END \
         WHERE id = $3",
    )
    .bind(now)
    .bind(i64::from(quiet))
    .bind(&run.id)
    .execute(&audit_db.pool)
    .await?;
    Ok(())
}

/// A clean stop: the audit queue was written, nothing was lost.
pub async fn stop(audit_db: &Db, run: &Run) -> Result<()> {
    sqlx::query("DELETE FROM host_runs WHERE id = $1")
        .bind(&run.id)
        .execute(&audit_db.pool)
        .await?;
    Ok(())
}

/// Whether process `pid` of this machine still runs, when the system
/// can say (`/proc`); `None` elsewhere.
fn alive(pid: i64) -> Option<bool> {
    if !std::path::Path::new("/proc/self").exists() {
        return None;
    }
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Write an `audit.gap` entry in every coop's chain for each run that is
/// gone without a clean stop, and delete its row, in one transaction per
/// run. `hostname` is this machine's. Returns how many runs were gone.
pub async fn recover(db: &Db, audit_db: &Db, hostname: &str, now: i64) -> Result<usize> {
    let rows = sqlx::query("SELECT id, hostname, pid, seen_at, quiet_at FROM host_runs")
        .fetch_all(&audit_db.pool)
        .await?;
    let me = i64::from(std::process::id());
    let gone: Vec<(String, i64)> = rows
        .iter()
        .filter_map(|r| {
            let (id, host, pid, seen, quiet): (String, String, i64, i64, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            let dead = if host == hostname && pid != me {
                alive(pid).map_or(now - seen > STALE_MS, |a| !a)
            } else {
                host != hostname && now - seen > STALE_MS
            };
            dead.then_some((id, quiet))
        })
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let coops = crate::identity::list_coops(db).await?;
    for (id, quiet_at) in &gone {
        let mut tx = audit_db.begin_write().await?;
        let claimed = sqlx::query("DELETE FROM host_runs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            // Another host recorded it meanwhile.
            continue;
        }
        let entry = NewEntry {
            kind: "audit.gap".into(),
            body: json!({"from": quiet_at, "to": now, "stopped_uncleanly": true,
                "reason": "a host process stopped without writing its audit queue: \
                           entries audited in this interval may be missing"}),
            personal: None,
        };
        for coop in &coops {
            chain::append_in(&mut tx, AUDIT, coop.id, &entry, now).await?;
        }
        tx.commit().await?;
        tracing::warn!(
            run = %id,
            from = quiet_at,
            coops = coops.len(),
            "a host process stopped uncleanly: recorded an audit gap in every coop's chain"
        );
    }
    Ok(gone.len())
}
