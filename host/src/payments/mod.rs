//! Money services on top of the ledger's domain core and repository: what
//! the WIT `payments` calls leave behind at commit (settlement records,
//! hold expiry jobs), the per-period floor run, bank details and SEPA
//! payout runs, worker statements, and the record of admins reading a
//! member's money.
//!
//! The split of work: [`crate::ledger`] decides (pure functions and the
//! balanced-posting repository); this module reads and writes the tables
//! around it and is what the API, the CLI and the scheduler call.

pub mod access;
pub mod floor_run;
pub mod jobs;
pub mod payouts;
pub mod statements;

use sqlx::AnyConnection;

use crate::error::Result;
use crate::ledger::repo;
use crate::ledger::split::{FeeBearer, Settlement, SplitPolicy, SplitTerms};
use crate::ledger::transaction::Transaction;

/// One money movement a plugin call asked for, applied when the call
/// commits.
#[derive(Debug, Clone)]
pub enum LedgerWrite {
    /// A plain balanced transaction (a refund).
    Post(Transaction),
    /// A customer charged into an order's escrow; the hold expires at
    /// `expires_at` unless the order is settled or refunded first.
    Charge {
        /// The authorisation.
        transaction: Transaction,
        /// The escrow's order reference.
        order_ref: String,
        /// When the hold runs out, ms since the epoch.
        expires_at: i64,
    },
    /// An order settled for a worker under the coop's split.
    Settle {
        /// The settlement and its transaction.
        settlement: Box<Settlement>,
        /// What of the processor fee the worker bore.
        worker_fee: i64,
    },
}

impl LedgerWrite {
    /// A settlement, with the worker's part of the processor fee read off
    /// the policy it was made under.
    pub fn settle(settlement: Settlement, policy: &SplitPolicy) -> LedgerWrite {
        let worker_fee = match &policy.terms {
            SplitTerms::Commission {
                processor_fee_borne_by: FeeBearer::Worker,
                ..
            } => settlement.breakdown.processor_fee,
            _ => 0,
        };
        LedgerWrite::Settle {
            settlement: Box::new(settlement),
            worker_fee,
        }
    }
}

/// Apply `writes` for coop `coop_id` inside the caller's database
/// transaction `conn`: post each transaction (a replay posts nothing),
/// record settlements for statements, and schedule each new hold's expiry.
/// Returns what was posted, one per write.
pub async fn commit_in(
    conn: &mut AnyConnection,
    coop_id: i64,
    writes: &[LedgerWrite],
    now_ms: i64,
) -> Result<Vec<repo::Posted>> {
    let mut out = Vec::with_capacity(writes.len());
    for write in writes {
        let posted = match write {
            LedgerWrite::Post(tx) => repo::post_in(conn, coop_id, tx).await?,
            LedgerWrite::Charge {
                transaction,
                order_ref,
                expires_at,
            } => {
                let posted = repo::post_in(conn, coop_id, transaction).await?;
                if !posted.replayed {
                    let currency = transaction
                        .postings
                        .first()
                        .map(|p| p.amount.currency.as_str().to_string())
                        .unwrap_or_default();
                    crate::scheduler::schedule_in(
                        conn,
                        Some(coop_id),
                        jobs::HOLD_EXPIRE,
                        Some(&format!("{}:{coop_id}:{order_ref}", jobs::HOLD_EXPIRE)),
                        &serde_json::json!({"order_ref": order_ref, "currency": currency}),
                        *expires_at,
                        now_ms,
                    )
                    .await?;
                }
                posted
            }
            LedgerWrite::Settle {
                settlement,
                worker_fee,
            } => {
                let posted = repo::post_in(conn, coop_id, &settlement.transaction).await?;
                if !posted.replayed {
                    record_settlement(conn, coop_id, posted.id, settlement, *worker_fee).await?;
                }
                posted
            }
        };
        out.push(posted);
    }
    Ok(out)
}

async fn record_settlement(
    conn: &mut AnyConnection,
    coop_id: i64,
    transaction_id: i64,
    s: &Settlement,
    worker_fee: i64,
) -> Result<()> {
    let b = &s.breakdown;
    sqlx::query(
        "INSERT INTO settlements (transaction_id, coop_id, order_ref, member_id, policy_version, currency, \
         gross, commission, processor_fee, worker_fee, cae_fee, worker_net, settled_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(transaction_id)
    .bind(coop_id)
    .bind(&s.order_ref)
    .bind(s.worker_member_id)
    .bind(i64::from(s.policy_version))
    .bind(b.currency.as_str())
    .bind(b.gross)
    .bind(b.commission)
    .bind(b.processor_fee)
    .bind(worker_fee)
    .bind(b.cae_fee)
    .bind(b.worker_net)
    .bind(s.transaction.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Settle outside a plugin call (tests, benchmarks, the CLI): post the
/// settlement and record it in one database transaction, starting over
/// when a concurrent writer holds the same idempotency key or the SQLite
/// file is busy.
pub async fn settle(
    db: &crate::db::Db,
    coop_id: i64,
    settlement: Settlement,
    policy: &SplitPolicy,
    now_ms: i64,
) -> Result<repo::Posted> {
    let write = [LedgerWrite::settle(settlement, policy)];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = db.begin_write().await?;
        let posted = match commit_in(&mut tx, coop_id, &write, now_ms).await {
            Ok(mut posted) => posted.remove(0),
            Err(crate::error::Error::Conflict(m))
                if attempt < repo::MAX_POST_ATTEMPTS && m.contains("concurrently") =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        match tx.commit().await {
            Ok(()) => return Ok(posted),
            Err(e) if attempt < repo::MAX_POST_ATTEMPTS && crate::db::is_busy(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
