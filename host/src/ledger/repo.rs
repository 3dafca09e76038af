//! The ledger's persistence: balances, transactions and postings in the
//! database, on SQLite and PostgreSQL alike.
//!
//! Tables (`host/migrations/*/0004_ledger.sql`):
//! - `ledger_accounts(coop_id, code, currency, balance, may_go_negative)`:
//!   one row per account and currency ever posted to; `balance` is always
//!   the sum of the account's postings.
//! - `ledger_transactions(id, coop_id, idempotency_key, kind, memo,
//!   fingerprint, reverses, created_at)`: one row per posted transaction,
//!   the key unique per coop.
//! - `ledger_postings(transaction_id, position, coop_id, account, currency,
//!   amount)`: the lines, in the order they were given.
//!
//! [`post`] is the only writer. It records a transaction, its postings and
//! the balance changes in one database transaction, so either all of it is
//! visible or none. Nothing is edited or deleted afterwards: a mistake is
//! undone with [`reverse`].
//!
//! Concurrency: on SQLite `BEGIN IMMEDIATE` serialises writers. On
//! PostgreSQL every balance row is changed by one conditional `UPDATE`
//! whose `WHERE` clause holds the non-negative rule; the row lock it takes
//! makes a concurrent writer wait and re-check the clause against the
//! committed balance, and rows are updated in (code, currency) order so two
//! transactions never wait on each other. Two concurrent posts of one
//! idempotency key meet at the `UNIQUE (coop_id, idempotency_key)`
//! constraint: the loser looks the winner up and answers a replay or a
//! conflict.

use anyhow::anyhow;
use sqlx::{AnyConnection, Row};

use super::account::AccountKind;
use super::error::LedgerError;
use super::money::{Currency, Money};
use super::transaction::{Posting, Transaction, check_change};
use crate::db::Db;
use crate::error::{Error, Result};

/// Most entries one [`history`] call returns.
pub const MAX_HISTORY: u32 = 1000;

/// How often [`post`] starts over after losing a race on an idempotency
/// key to a writer that then rolled back, before answering a conflict.
pub const MAX_POST_ATTEMPTS: usize = 3;

/// Postings per `INSERT` statement, keeping bind parameters well under
/// every backend's limit.
const POSTINGS_PER_INSERT: usize = 100;

/// What [`post`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    /// The id of the stored transaction (the first one, for a replay).
    pub id: i64,
    /// True when the key was already recorded with the same content and
    /// nothing was posted this time.
    pub replayed: bool,
}

/// One posting to an account, as [`history`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The transaction the posting belongs to.
    pub transaction_id: i64,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its kind, e.g. `settlement`.
    pub kind: String,
    /// Its memo.
    pub memo: String,
    /// The currency of `amount`.
    pub currency: String,
    /// Signed minor units: positive into the account, negative out of it.
    pub amount: i64,
    /// When the transaction was recorded, ms since the epoch.
    pub created_at: i64,
}

/// A transaction as stored, read back by [`transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its id.
    pub id: i64,
    /// The id of the transaction it reverses, if it is a reversal made by
    /// [`reverse`].
    pub reverses: Option<i64>,
    /// The transaction, postings in their original order.
    pub transaction: Transaction,
}

/// One balance change to apply: the account, its code, the currency and
/// the net change.
struct Change {
    account: AccountKind,
    code: String,
    currency: Currency,
    delta: i64,
}

/// Why one attempt of [`post`] did not finish.
enum Attempt {
    /// A concurrent writer inserted the same key (or reversed the same
    /// transaction) first: look again.
    Race,
    /// A final answer.
    Failed(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Failed(e)
    }
}

impl From<sqlx::Error> for Attempt {
    fn from(e: sqlx::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<anyhow::Error> for Attempt {
    fn from(e: anyhow::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

fn invalid(e: LedgerError) -> Error {
    Error::Invalid(e.to_string())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Record `tx` in coop `coop_id`, once.
///
/// The transaction must [`Transaction::validate`] (else
/// [`Error::Invalid`]). If its idempotency key is already recorded in the
/// coop, the same content (same [`Transaction::fingerprint`]) returns the
/// first result with `replayed: true` and posts nothing, and other content
/// is an [`Error::Conflict`] naming the key. Otherwise the transaction, its
/// postings and the balance changes are written in one database
/// transaction; if any account that may not go negative would, nothing is
/// written and the answer is [`Error::Conflict`]
/// (`account X would go negative: balance B, change D`).
pub async fn post(db: &Db, coop_id: i64, tx: &Transaction) -> Result<Posted> {
    post_with(db, coop_id, tx, None).await
}

/// The net balance changes of `tx` in lock order: by code then currency,
/// bytewise on both backends.
fn sorted_changes(tx: &Transaction) -> Result<Vec<Change>> {
    let mut changes: Vec<Change> = tx
        .net_changes()
        .map_err(invalid)?
        .into_iter()
        .map(|(account, currency, delta)| Change {
            code: account.code(),
            account,
            currency,
            delta,
        })
        .collect();
    changes.sort_by(|a, b| {
        (a.code.as_str(), a.currency.as_str()).cmp(&(b.code.as_str(), b.currency.as_str()))
    });
    Ok(changes)
}

async fn post_with(
    db: &Db,
    coop_id: i64,
    tx: &Transaction,
    reverses: Option<i64>,
) -> Result<Posted> {
    tx.validate().map_err(invalid)?;
    let fingerprint = tx.fingerprint();
    let changes = sorted_changes(tx)?;
    for _ in 0..MAX_POST_ATTEMPTS {
        match try_post(db, coop_id, tx, &fingerprint, &changes, reverses).await {
            Ok(posted) => return Ok(posted),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Race) => continue,
        }
    }
    Err(Error::Conflict(format!(
        "idempotency key {:?} is being posted concurrently: retry",
        tx.idempotency_key
    )))
}

async fn try_post(
    db: &Db,
    coop_id: i64,
    tx: &Transaction,
    fingerprint: &str,
    changes: &[Change],
    reverses: Option<i64>,
) -> std::result::Result<Posted, Attempt> {
    let mut dbtx = db.begin_write().await?;
    match post_on(&mut dbtx, coop_id, tx, fingerprint, changes, reverses).await {
        Ok(posted) if !posted.replayed => {
            dbtx.commit().await?;
            Ok(posted)
        }
        other => {
            dbtx.rollback().await?;
            other
        }
    }
}

/// Post a transaction inside a database transaction the caller owns (a
/// plugin call's commit), so the money moves only if everything else the
/// call did commits too. A replay returns the first result; a concurrent
/// post of the same key, an overdraft or a reused key are errors, and the
/// caller drops its transaction.
pub async fn post_in(conn: &mut AnyConnection, coop_id: i64, tx: &Transaction) -> Result<Posted> {
    tx.validate().map_err(invalid)?;
    let fingerprint = tx.fingerprint();
    let changes = sorted_changes(tx)?;
    match post_on(conn, coop_id, tx, &fingerprint, &changes, None).await {
        Ok(posted) => Ok(posted),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::Race) => Err(Error::Conflict(format!(
            "idempotency key {:?} is being posted concurrently: retry",
            tx.idempotency_key
        ))),
    }
}

async fn post_on(
    dbtx: &mut AnyConnection,
    coop_id: i64,
    tx: &Transaction,
    fingerprint: &str,
    changes: &[Change],
    reverses: Option<i64>,
) -> std::result::Result<Posted, Attempt> {
    let existing = sqlx::query(
        "SELECT id, fingerprint FROM ledger_transactions WHERE coop_id = $1 AND idempotency_key = $2",
    )
    .bind(coop_id)
    .bind(&tx.idempotency_key)
    .fetch_optional(&mut *dbtx)
    .await?;
    if let Some(row) = existing {
        let stored: String = row.get(1);
        if stored == fingerprint {
            return Ok(Posted {
                id: row.get(0),
                replayed: true,
            });
        }
        return Err(Attempt::Failed(Error::Conflict(format!(
            "idempotency key {:?} was already used for a different transaction",
            tx.idempotency_key
        ))));
    }
    if let Some(original) = reverses {
        let by = sqlx::query(
            "SELECT idempotency_key FROM ledger_transactions WHERE coop_id = $1 AND reverses = $2",
        )
        .bind(coop_id)
        .bind(original)
        .fetch_optional(&mut *dbtx)
        .await?;
        if let Some(row) = by {
            let by: String = row.get(0);
            return Err(Attempt::Failed(Error::Conflict(format!(
                "transaction {original} was already reversed by {by:?}"
            ))));
        }
    }
    // The key first: a concurrent post of the same key waits here (on
    // PostgreSQL) before either holds a balance row, so no deadlock.
    let inserted = sqlx::query(
        "INSERT INTO ledger_transactions \
         (coop_id, idempotency_key, kind, memo, fingerprint, reverses, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(coop_id)
    .bind(&tx.idempotency_key)
    .bind(&tx.kind)
    .bind(&tx.memo)
    .bind(fingerprint)
    .bind(reverses)
    .bind(tx.created_at)
    .fetch_one(&mut *dbtx)
    .await;
    let id: i64 = match inserted {
        Ok(row) => row.get(0),
        Err(e) if is_unique_violation(&e) => {
            return Err(Attempt::Race);
        }
        Err(e) => return Err(e.into()),
    };
    for change in changes {
        if let Err(e) = apply_change(dbtx, coop_id, change).await {
            return Err(Attempt::Failed(e));
        }
    }
    for (chunk_index, chunk) in tx.postings.chunks(POSTINGS_PER_INSERT).enumerate() {
        insert_postings(dbtx, coop_id, id, chunk_index * POSTINGS_PER_INSERT, chunk).await?;
    }
    Ok(Posted {
        id,
        replayed: false,
    })
}

/// Apply one net change to a balance, creating the account row if needed,
/// or refuse it if it would take the balance below what the account allows.
async fn apply_change(conn: &mut AnyConnection, coop_id: i64, change: &Change) -> Result<()> {
    let delta = change.delta;
    let floor = if change.account.may_go_negative() {
        i128::from(i64::MIN)
    } else {
        0
    };
    // The balance must stay within [floor, i64::MAX] after the change; as a
    // condition on the balance before it, no arithmetic can overflow in SQL.
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let low = clamp(floor - i128::from(delta));
    let high = clamp(i128::from(i64::MAX) - i128::from(delta));
    let refuse = |balance: i64, e: LedgerError| match e {
        LedgerError::InsufficientFunds { .. } => Error::Conflict(format!(
            "account {} would go negative: balance {balance}, change {delta} ({})",
            change.code, change.currency
        )),
        other => Error::Conflict(format!("account {}: {other}", change.code)),
    };
    // A few rounds at most: each retry follows a concurrent commit that made
    // the change possible after the conditional update had refused it.
    for _ in 0..MAX_POST_ATTEMPTS {
        let done = sqlx::query(
            "UPDATE ledger_accounts SET balance = balance + $4 \
             WHERE coop_id = $1 AND code = $2 AND currency = $3 \
             AND balance >= $5 AND balance <= $6",
        )
        .bind(coop_id)
        .bind(&change.code)
        .bind(change.currency.as_str())
        .bind(delta)
        .bind(low)
        .bind(high)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let balance: Option<i64> = sqlx::query(
            "SELECT balance FROM ledger_accounts WHERE coop_id = $1 AND code = $2 AND currency = $3",
        )
        .bind(coop_id)
        .bind(&change.code)
        .bind(change.currency.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.get(0));
        match balance {
            Some(balance) => {
                check_change(&change.account, change.currency, balance, delta)
                    .map_err(|e| refuse(balance, e))?;
            }
            None => {
                let opening = check_change(&change.account, change.currency, 0, delta)
                    .map_err(|e| refuse(0, e))?;
                let created = sqlx::query(
                    "INSERT INTO ledger_accounts (coop_id, code, currency, balance, may_go_negative) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (coop_id, code, currency) DO NOTHING",
                )
                .bind(coop_id)
                .bind(&change.code)
                .bind(change.currency.as_str())
                .bind(opening)
                .bind(i64::from(change.account.may_go_negative()))
                .execute(&mut *conn)
                .await?;
                if created.rows_affected() == 1 {
                    return Ok(());
                }
            }
        }
    }
    Err(Error::Conflict(format!(
        "account {} is changing concurrently: retry",
        change.code
    )))
}

async fn insert_postings(
    conn: &mut AnyConnection,
    coop_id: i64,
    transaction_id: i64,
    first_position: usize,
    postings: &[Posting],
) -> Result<()> {
    let mut sql = String::from(
        "INSERT INTO ledger_postings (transaction_id, position, coop_id, account, currency, amount) VALUES ",
    );
    for i in 0..postings.len() {
        let p = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6
        ));
    }
    let mut query = sqlx::query(&sql);
    for (i, posting) in postings.iter().enumerate() {
        query = query
            .bind(transaction_id)
            .bind((first_position + i) as i64)
            .bind(coop_id)
            .bind(posting.account.code())
            .bind(posting.amount.currency.as_str().to_string())
            .bind(posting.amount.amount);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// The balance of `account` in `currency` in coop `coop_id`; zero if it
/// was never posted to.
pub async fn balance(
    db: &Db,
    coop_id: i64,
    account: &AccountKind,
    currency: &Currency,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT balance FROM ledger_accounts WHERE coop_id = $1 AND code = $2 AND currency = $3",
    )
    .bind(coop_id)
    .bind(account.code())
    .bind(currency.as_str())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| r.get(0)).unwrap_or(0))
}

/// Every account of coop `coop_id` ever posted to, as (code, currency,
/// balance), ordered by code then currency; zero balances included.
pub async fn balances(db: &Db, coop_id: i64) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT code, currency, balance FROM ledger_accounts WHERE coop_id = $1 ORDER BY code, currency",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The postings to `account` in coop `coop_id`, newest first, at most
/// `limit` (capped at [`MAX_HISTORY`]), all currencies.
pub async fn history(
    db: &Db,
    coop_id: i64,
    account: &AccountKind,
    limit: u32,
) -> Result<Vec<HistoryEntry>> {
    let rows = sqlx::query(
        "SELECT t.id, t.idempotency_key, t.kind, t.memo, p.currency, p.amount, t.created_at \
         FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
         WHERE p.coop_id = $1 AND p.account = $2 \
         ORDER BY p.transaction_id DESC, p.position DESC LIMIT $3",
    )
    .bind(coop_id)
    .bind(account.code())
    .bind(i64::from(limit.min(MAX_HISTORY)))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryEntry {
            transaction_id: r.get(0),
            idempotency_key: r.get(1),
            kind: r.get(2),
            memo: r.get(3),
            currency: r.get(4),
            amount: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// The transaction recorded under `idempotency_key` in coop `coop_id`, if
/// any, rebuilt from its rows.
pub async fn transaction(db: &Db, coop_id: i64, idempotency_key: &str) -> Result<Option<Stored>> {
    let Some(row) = sqlx::query(
        "SELECT id, kind, memo, created_at, reverses FROM ledger_transactions \
         WHERE coop_id = $1 AND idempotency_key = $2",
    )
    .bind(coop_id)
    .bind(idempotency_key)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let rows = sqlx::query(
        "SELECT account, currency, amount FROM ledger_postings \
         WHERE transaction_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let corrupt = |e: LedgerError| Error::Internal(anyhow!("ledger transaction {id}: {e}"));
    let postings = rows
        .iter()
        .map(|r| {
            let account = AccountKind::parse(&r.get::<String, _>(0)).map_err(corrupt)?;
            let currency = Currency::parse(&r.get::<String, _>(1)).map_err(corrupt)?;
            Ok(Posting {
                account,
                amount: Money::new(r.get(2), currency),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Stored {
        id,
        reverses: row.get(4),
        transaction: Transaction {
            idempotency_key: idempotency_key.to_string(),
            kind: row.get(1),
            memo: row.get(2),
            postings,
            created_at: row.get(3),
        },
    }))
}

/// Undo the transaction recorded under `original_key` by posting its
/// [`Transaction::reversal`] under `reversal_key`, recorded at `at`.
///
/// [`Error::NotFound`] if there is no such transaction; [`Error::Conflict`]
/// if it was already reversed under another key, or if the reversal would
/// take an account below zero (e.g. the worker was already paid out).
/// Repeating the same call is a replay, like [`post`].
pub async fn reverse(
    db: &Db,
    coop_id: i64,
    original_key: &str,
    reversal_key: &str,
    memo: &str,
    at: i64,
) -> Result<Posted> {
    let original = transaction(db, coop_id, original_key)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!("no ledger transaction with key {original_key:?}"))
        })?;
    let reversal = original
        .transaction
        .reversal(reversal_key, memo, at)
        .map_err(invalid)?;
    post_with(db, coop_id, &reversal, Some(original.id)).await
}

/// Check the books of coop `coop_id`: every transaction has at least two
/// postings summing to zero per currency, every balance equals the sum of
/// its account's postings, each account's `may_go_negative` flag is the
/// one its code implies, and no account that may not go negative is below
/// zero. Any failure is an [`Error::Internal`] describing the first few
/// offenders. Used by tests and for audits.
pub async fn sum_check(db: &Db, coop_id: i64) -> Result<()> {
    let mut problems = Vec::new();
    let unbalanced = sqlx::query(
        "SELECT transaction_id, currency, CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
         WHERE coop_id = $1 GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 \
         ORDER BY transaction_id LIMIT 5",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    for r in &unbalanced {
        let (id, currency, sum): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
        problems.push(format!(
            "transaction {id}: postings in {currency} sum to {sum}"
        ));
    }
    let thin = sqlx::query(
        "SELECT t.id FROM ledger_transactions t WHERE t.coop_id = $1 AND \
         (SELECT COUNT(*) FROM ledger_postings p WHERE p.transaction_id = t.id) < 2 \
         ORDER BY t.id LIMIT 5",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    for r in &thin {
        let id: i64 = r.get(0);
        problems.push(format!("transaction {id}: fewer than two postings"));
    }
    let accounts = sqlx::query(
        "SELECT a.code, a.currency, a.balance, a.may_go_negative, \
         CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) \
         FROM ledger_accounts a LEFT JOIN ledger_postings p \
         ON p.coop_id = a.coop_id AND p.account = a.code AND p.currency = a.currency \
         WHERE a.coop_id = $1 GROUP BY a.code, a.currency, a.balance, a.may_go_negative \
         ORDER BY a.code, a.currency",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    for r in &accounts {
        let code: String = r.get(0);
        let currency: String = r.get(1);
        let balance: i64 = r.get(2);
        let flag: i64 = r.get(3);
        let sum: i64 = r.get(4);
        if balance != sum {
            problems.push(format!(
                "account {code} {currency}: balance {balance} but postings sum to {sum}"
            ));
        }
        match AccountKind::parse(&code) {
            Ok(account) => {
                if flag != i64::from(account.may_go_negative()) {
                    problems.push(format!(
                        "account {code}: may_go_negative is {flag}, expected {}",
                        i64::from(account.may_go_negative())
                    ));
                }
                if balance < 0 && !account.may_go_negative() {
                    problems.push(format!(
                        "account {code} {currency}: negative balance {balance}"
                    ));
                }
            }
            Err(e) => problems.push(format!("account {code}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(10);
        Err(Error::Internal(anyhow!(
            "ledger of coop {coop_id} does not add up: {}",
            problems.join("; ")
        )))
    }
}
