//! Bank details and SEPA payout runs.
//!
//! A member enters their IBAN (checked mod 97 and for their country's
//! length at entry); the coop enters its own account (IBAN and BIC), the
//! debtor of every file. A payout run moves every positive EUR wallet of a
//! member with bank details into payout clearing, in one balanced
//! transaction, and produces a pain.001.001.09 file. A run is previewed
//! first (nothing moves), executed once per message id (executing the same
//! id again returns the first run), and its file can be downloaded again.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::ledger::iban::{Bic, Iban};
use crate::ledger::money::{Currency, Money};
use crate::ledger::repo;
use crate::ledger::sepa::{Debtor, MAX_ID_LEN, Payout, PayoutRun, pain001};

/// The member id under which the coop's own account is stored.
pub const COOP_ACCOUNT: i64 = 0;

/// Bank details as entered.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BankDetails {
    /// The account holder's name, as the bank knows it.
    pub holder_name: String,
    /// The IBAN, spaces allowed.
    pub iban: String,
    /// The BIC; required for the coop's own account.
    pub bic: Option<String>,
}

/// Bank details as stored and shown.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BankAccount {
    /// The member (0 for the coop's own account).
    pub member_id: i64,
    /// The holder's name.
    pub holder_name: String,
    /// The IBAN, normalised.
    pub iban: String,
    /// The BIC, if given.
    pub bic: Option<String>,
    /// When it was last set.
    pub updated_at: i64,
}

/// Check and store bank details for `member_id` (or [`COOP_ACCOUNT`]).
pub async fn set_bank_account(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    details: &BankDetails,
    now_ms: i64,
) -> Result<BankAccount> {
    let iban = Iban::parse(&details.iban).map_err(|e| Error::Invalid(e.to_string()))?;
    let bic = match details.bic.as_deref().map(str::trim) {
        Some(b) if !b.is_empty() => Some(Bic::parse(b).map_err(|e| Error::Invalid(e.to_string()))?),
        _ => None,
    };
    if member_id == COOP_ACCOUNT && bic.is_none() {
        return Err(Error::Invalid(
            "the coop's payout account needs its bank's bic: it is the debtor of every payout file"
                .into(),
        ));
    }
    let name = details.holder_name.trim();
    if name.is_empty() || name.chars().count() > 140 {
        return Err(Error::Invalid(
            "holder_name must be 1 to 140 characters: the name on the bank account".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO bank_accounts (coop_id, member_id, holder_name, iban, bic, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (coop_id, member_id) DO UPDATE SET \
         holder_name = excluded.holder_name, iban = excluded.iban, bic = excluded.bic, updated_at = excluded.updated_at",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(name)
    .bind(iban.as_str())
    .bind(bic.as_ref().map(|b| b.as_str().to_string()))
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(BankAccount {
        member_id,
        holder_name: name.to_string(),
        iban: iban.as_str().to_string(),
        bic: bic.map(|b| b.as_str().to_string()),
        updated_at: now_ms,
    })
}

/// The bank details of `member_id` (or [`COOP_ACCOUNT`]), if entered.
pub async fn bank_account(db: &Db, coop_id: i64, member_id: i64) -> Result<Option<BankAccount>> {
    let row = sqlx::query(
        "SELECT member_id, holder_name, iban, bic, updated_at FROM bank_accounts \
         WHERE coop_id = $1 AND member_id = $2",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(account_from_row))
}

fn account_from_row(r: &sqlx::any::AnyRow) -> BankAccount {
    BankAccount {
        member_id: r.get(0),
        holder_name: r.get(1),
        iban: r.get(2),
        bic: r.get(3),
        updated_at: r.get(4),
    }
}

/// An IBAN with all but the country and the last four characters hidden.
pub fn mask_iban(iban: &str) -> String {
    let n = iban.len();
    if n <= 8 {
        return iban.to_string();
    }
    format!("{}{}{}", &iban[..2], "*".repeat(n - 6), &iban[n - 4..])
}

/// One transfer a run would make.
#[derive(Clone, Debug, Serialize)]
pub struct Planned {
    /// The member paid.
    pub member_id: i64,
    /// The account holder.
    pub holder_name: String,
    /// The IBAN, masked.
    pub iban: String,
    /// EUR cents.
    pub amount: i64,
}

/// A wallet a run would leave alone, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// The member.
    pub member_id: i64,
    /// The wallet balance, EUR cents.
    pub balance: i64,
    /// Why it is not paid out.
    pub reason: String,
}

/// What a run would do now.
#[derive(Clone, Debug, Serialize)]
pub struct Preview {
    /// A message id not used yet, to execute with.
    pub suggested_msg_id: String,
    /// Always EUR: SEPA credit transfers are in euro.
    pub currency: String,
    /// The transfers.
    pub payouts: Vec<Planned>,
    /// Wallets left alone.
    pub skipped: Vec<Skipped>,
    /// Sum of the transfers, EUR cents.
    pub total: i64,
}

struct Plan {
    payouts: Vec<(BankAccount, i64)>,
    skipped: Vec<Skipped>,
}

async fn plan(conn: &mut AnyConnection, coop_id: i64, min_amount: i64) -> Result<Plan> {
    let wallets: Vec<(String, i64)> = sqlx::query(
        "SELECT code, balance FROM ledger_accounts WHERE coop_id = $1 AND currency = 'EUR' \
         AND code LIKE 'wallet:%' AND balance > 0",
    )
    .bind(coop_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let accounts: Vec<BankAccount> = sqlx::query(
        "SELECT member_id, holder_name, iban, bic, updated_at FROM bank_accounts WHERE coop_id = $1",
    )
    .bind(coop_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(account_from_row)
    .collect();
    let mut wallets: Vec<(i64, i64)> = wallets
        .into_iter()
        .filter_map(|(code, balance)| {
            code.strip_prefix("wallet:")?
                .parse()
                .ok()
                .map(|m| (m, balance))
        })
        .collect();
    wallets.sort_unstable();
    let mut out = Plan {
        payouts: Vec::new(),
        skipped: Vec::new(),
    };
    for (member, balance) in wallets {
        if balance < min_amount {
            out.skipped.push(Skipped {
                member_id: member,
                balance,
                reason: format!("below the run's minimum of {min_amount} cents"),
            });
            continue;
        }
        match accounts.iter().find(|a| a.member_id == member) {
            Some(a) => out.payouts.push((a.clone(), balance)),
            None => out.skipped.push(Skipped {
                member_id: member,
                balance,
                reason: "no bank account entered".into(),
            }),
        }
    }
    Ok(out)
}

async fn next_msg_id(conn: &mut AnyConnection, coop_id: i64, now_ms: i64) -> Result<String> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM payout_runs WHERE coop_id = $1")
        .bind(coop_id)
        .fetch_one(&mut *conn)
        .await?
        .get(0);
    let date = crate::ledger::sepa::iso_date(now_ms).replace('-', "");
    Ok(format!("PAYOUT-{coop_id}-{date}-{}", n + 1))
}

/// What a run would pay now, moving nothing. Wallets under `min_amount`
/// cents or without bank details are listed as skipped.
pub async fn preview(db: &Db, coop_id: i64, min_amount: i64, now_ms: i64) -> Result<Preview> {
    let mut conn = db.pool.acquire().await?;
    let plan = plan(&mut conn, coop_id, min_amount).await?;
    let suggested_msg_id = next_msg_id(&mut conn, coop_id, now_ms).await?;
    let payouts: Vec<Planned> = plan
        .payouts
        .iter()
        .map(|(a, amount)| Planned {
            member_id: a.member_id,
            holder_name: a.holder_name.clone(),
            iban: mask_iban(&a.iban),
            amount: *amount,
        })
        .collect();
    let total = payouts.iter().map(|p| p.amount).sum();
    Ok(Preview {
        suggested_msg_id,
        currency: "EUR".into(),
        payouts,
        skipped: plan.skipped,
        total,
    })
}

/// An executed run as stored.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// Id.
    pub id: i64,
    /// The SEPA message id.
    pub msg_id: String,
    /// Currency (EUR).
    pub currency: String,
    /// Sum of the transfers, cents.
    pub total: i64,
    /// Number of transfers.
    pub payouts: i64,
    /// The ledger transaction that moved the wallets.
    pub transaction_id: i64,
    /// Who executed it.
    pub executed_by: Option<i64>,
    /// When.
    pub executed_at: i64,
    /// The transfers (IBANs masked).
    pub transfers: Vec<Planned>,
}

const RUN_COLUMNS: &str =
    "id, msg_id, currency, total, payouts, transaction_id, executed_by, executed_at, run";

fn run_from_row(r: &sqlx::any::AnyRow) -> RunRecord {
    let run: Option<PayoutRun> = serde_json::from_str(&r.get::<String, _>(8)).ok();
    RunRecord {
        id: r.get(0),
        msg_id: r.get(1),
        currency: r.get(2),
        total: r.get(3),
        payouts: r.get(4),
        transaction_id: r.get(5),
        executed_by: r.get(6),
        executed_at: r.get(7),
        transfers: run
            .map(|run| {
                run.payouts
                    .iter()
                    .map(|p| Planned {
                        member_id: p.member_id,
                        holder_name: p.creditor_name.clone(),
                        iban: mask_iban(p.creditor_iban.as_str()),
                        amount: p.amount.amount,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Execute a run under `msg_id` (1 to 35 SEPA characters, unique per
/// coop). Returns the run and whether it was made now; a message id already
/// used returns that run and moves nothing.
pub async fn execute(
    db: &Db,
    coop_id: i64,
    msg_id: &str,
    execution_date: Option<i64>,
    min_amount: i64,
    executed_by: Option<i64>,
    now_ms: i64,
) -> Result<(RunRecord, bool)> {
    if let Some(run) = run_by_msg_id(db, coop_id, msg_id).await? {
        return Ok((run, false));
    }
    let mut tx = db.begin_write().await?;
    let debtor = sqlx::query(
        "SELECT member_id, holder_name, iban, bic, updated_at FROM bank_accounts \
         WHERE coop_id = $1 AND member_id = $2",
    )
    .bind(coop_id)
    .bind(COOP_ACCOUNT)
    .fetch_optional(&mut *tx)
    .await?
    .as_ref()
    .map(account_from_row)
    .ok_or_else(|| {
        Error::Conflict(
            "the coop has no payout account yet: an admin sets it with PUT /v1/coops/{coop}/payout-account".into(),
        )
    })?;
    let plan = plan(&mut tx, coop_id, min_amount).await?;
    let seq: i64 = sqlx::query("SELECT COUNT(*) FROM payout_runs WHERE coop_id = $1")
        .bind(coop_id)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
    let stored_iban =
        |s: &str| Iban::parse(s).map_err(|e| Error::Internal(anyhow::anyhow!("stored iban: {e}")));
    let mut payouts = Vec::with_capacity(plan.payouts.len());
    for (account, amount) in &plan.payouts {
        payouts.push(Payout {
            member_id: account.member_id,
            end_to_end_id: format!("P{}W{}", seq + 1, account.member_id),
            creditor_name: account.holder_name.clone(),
            creditor_iban: stored_iban(&account.iban)?,
            amount: Money::new(*amount, Currency::EUR),
            remittance: format!("Earnings paid out, run {msg_id}"),
        });
    }
    if payouts.is_empty() {
        return Err(Error::Conflict(
            "nothing to pay out: no member with bank details has a positive EUR wallet".into(),
        ));
    }
    let run = PayoutRun {
        msg_id: msg_id.to_string(),
        created_at: now_ms,
        execution_date: execution_date.unwrap_or(now_ms),
        debtor: Debtor {
            name: debtor.holder_name.clone(),
            iban: stored_iban(&debtor.iban)?,
            bic: Bic::parse(debtor.bic.as_deref().unwrap_or_default())
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored bic: {e}")))?,
        },
        payouts,
    };
    if msg_id.chars().count() > MAX_ID_LEN {
        return Err(Error::Invalid(format!(
            "msg_id must be at most {MAX_ID_LEN} characters"
        )));
    }
    let file = pain001(&run).map_err(|e| Error::Invalid(e.to_string()))?;
    let ledger_tx = run
        .ledger_transaction(now_ms)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let posted = repo::post_in(&mut tx, coop_id, &ledger_tx).await?;
    let total = run.total().map_err(|e| Error::Invalid(e.to_string()))?;
    let row = sqlx::query(&format!(
        "INSERT INTO payout_runs (coop_id, msg_id, currency, total, payouts, run, file, transaction_id, \
         executed_by, executed_at) VALUES ($1, $2, 'EUR', $3, $4, $5, $6, $7, $8, $9) RETURNING {RUN_COLUMNS}"
    ))
    .bind(coop_id)
    .bind(msg_id)
    .bind(total.amount)
    .bind(run.payouts.len() as i64)
    .bind(serde_json::to_string(&run).map_err(|e| Error::Internal(e.into()))?)
    .bind(&file)
    .bind(posted.id)
    .bind(executed_by)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?;
    let record = run_from_row(&row);
    tx.commit().await?;
    Ok((record, true))
}

async fn run_by_msg_id(db: &Db, coop_id: i64, msg_id: &str) -> Result<Option<RunRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM payout_runs WHERE coop_id = $1 AND msg_id = $2"
    ))
    .bind(coop_id)
    .bind(msg_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(run_from_row))
}

/// The coop's runs, newest first.
pub async fn runs(db: &Db, coop_id: i64, limit: i64) -> Result<Vec<RunRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM payout_runs WHERE coop_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(coop_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(run_from_row).collect())
}

/// One run.
pub async fn run(db: &Db, coop_id: i64, id: i64) -> Result<RunRecord> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM payout_runs WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref()
        .map(run_from_row)
        .ok_or_else(|| Error::NotFound(format!("no payout run {id} in this coop")))
}

/// A run's pain.001 file, exactly as first produced.
pub async fn file(db: &Db, coop_id: i64, id: i64) -> Result<(String, String)> {
    let row = sqlx::query("SELECT msg_id, file FROM payout_runs WHERE coop_id = $1 AND id = $2")
        .bind(coop_id)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no payout run {id} in this coop")))?;
    Ok((row.get(0), row.get(1)))
}

/// The payouts made to one member, newest first: (run id, msg id, amount,
/// executed at).
pub async fn member_payouts(
    db: &Db,
    coop_id: i64,
    member_id: i64,
) -> Result<Vec<(i64, String, i64, i64)>> {
    let runs = runs(db, coop_id, 1000).await?;
    Ok(runs
        .into_iter()
        .filter_map(|r| {
            let amount = r
                .transfers
                .iter()
                .find(|t| t.member_id == member_id)?
                .amount;
            Some((r.id, r.msg_id, amount, r.executed_at))
        })
        .collect())
}
