//! The scheduler jobs money needs: expiring holds and the monthly floor
//! run. [`crate::app::App::run_jobs_once`] dispatches to [`handle`].

use serde::Deserialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::ledger::account::AccountKind;
use crate::ledger::money::Currency;
use crate::ledger::period::Month;
use crate::ledger::repo;
use crate::ledger::transaction::{Posting, Transaction, kinds};
use crate::scheduler::{self, Job};

/// Releases what is left in an order's escrow when its hold runs out.
pub const HOLD_EXPIRE: &str = "hold.expire";
/// Computes a finished month's earnings floor for every worker.
pub const FLOOR_MONTH: &str = "floor.month";
/// How long after a month ends its floor runs: shifts still open at
/// midnight are clipped to the month either way, this leaves time for
/// late settlements dated in the month to commit.
pub const FLOOR_GRACE_MS: i64 = 3_600_000;

#[derive(Deserialize)]
struct HoldPayload {
    order_ref: String,
    currency: String,
}

#[derive(Deserialize)]
struct FloorPayload {
    period: Month,
}

/// Whether this module handles jobs of `kind`.
pub fn handles(kind: &str) -> bool {
    kind == HOLD_EXPIRE || kind == FLOOR_MONTH
}

/// Run one job of a kind this module [`handles`].
pub async fn handle(db: &Db, job: &Job, now_ms: i64) -> Result<()> {
    let coop_id = job
        .coop_id
        .ok_or_else(|| Error::Invalid(format!("job {} has no coop", job.id)))?;
    let bad = |e: serde_json::Error| Error::Invalid(format!("job {} payload: {e}", job.id));
    match job.kind.as_str() {
        HOLD_EXPIRE => {
            let p: HoldPayload = serde_json::from_value(job.payload.clone()).map_err(bad)?;
            expire_hold(db, coop_id, &p.order_ref, &p.currency, now_ms).await
        }
        FLOOR_MONTH => {
            let p: FloorPayload = serde_json::from_value(job.payload.clone()).map_err(bad)?;
            super::floor_run::run(db, coop_id, p.period, now_ms).await?;
            schedule_floor(db, coop_id, p.period.next(), now_ms).await
        }
        other => Err(Error::Invalid(format!("no handler for job kind {other:?}"))),
    }
}

/// Give back to the customer whatever is still in `order_ref`'s escrow.
/// Nothing happens if the order was settled or refunded in full.
pub async fn expire_hold(
    db: &Db,
    coop_id: i64,
    order_ref: &str,
    currency: &str,
    now_ms: i64,
) -> Result<()> {
    let escrow = AccountKind::escrow(order_ref).map_err(|e| Error::Invalid(e.to_string()))?;
    let cur = Currency::parse(currency).map_err(|e| Error::Invalid(e.to_string()))?;
    let left = repo::balance(db, coop_id, &escrow, &cur).await?;
    if left <= 0 {
        return Ok(());
    }
    let tx = Transaction {
        idempotency_key: format!("expire:{order_ref}"),
        kind: kinds::HOLD_EXPIRE.to_string(),
        memo: format!("hold on order {order_ref} expired: {left} returned to the customer"),
        postings: vec![
            Posting::new(escrow, -left, cur),
            Posting::new(AccountKind::ExternalClearing, left, cur),
        ],
        created_at: now_ms,
    };
    repo::post(db, coop_id, &tx).await?;
    Ok(())
}

/// Schedule `month`'s floor run for coop `coop_id` (once; a second call is
/// a no-op).
pub async fn schedule_floor(db: &Db, coop_id: i64, month: Month, now_ms: i64) -> Result<()> {
    scheduler::schedule(
        db,
        Some(coop_id),
        FLOOR_MONTH,
        Some(&format!("{FLOOR_MONTH}:{coop_id}:{month}")),
        &serde_json::json!({"period": month}),
        month.end_ms() + FLOOR_GRACE_MS,
        now_ms,
    )
    .await?;
    Ok(())
}

/// Make sure every coop has its previous and current months' floor runs
/// scheduled (new coops, hosts that were down across a month's end, and
/// hosts upgraded from before the scheduler existed).
pub async fn ensure_recurring(db: &Db, now_ms: i64) -> Result<()> {
    let month = Month::containing(now_ms);
    let coops: Vec<i64> = sqlx::query("SELECT id FROM coops ORDER BY id")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for coop in coops {
        // The month before too: a host that was down across the month's
        // end still computes it (once, by its unique key).
        schedule_floor(db, coop, month.previous(), now_ms).await?;
        schedule_floor(db, coop, month, now_ms).await?;
    }
    Ok(())
}
