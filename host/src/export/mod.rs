//! A member's data: everything the host and the plugins hold about them as
//! one JSON archive, and erasure of what the law does not require to keep.
//!
//! Erasure deletes the plugins' records tagged with the member, their
//! notifications, ratings about them, consents and bank details, erases the
//! personal fields of decision-log entries about them (the chain keeps
//! verifying: it covers commitments, not the fields), and pseudonymises
//! their account (no email, no name, no password, sessions ended) unless
//! they are still a member of another coop on this host. Ledger entries,
//! shifts and votes stay, linked only to a number: accounting and labour
//! law require the first two, and published tallies the third.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::chain;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::governance::{membership, proposals::DECISIONS};
use crate::identity;
use crate::ledger::account::AccountKind;
use crate::ledger::repo;

/// The phrase a member sends to confirm erasure.
pub const CONFIRM: &str = "erase my data";

/// Whether a decision-log entry's public body is about `member_id`.
pub fn entry_is_about(body: &Value, member_id: i64) -> bool {
    [
        "member",
        "worker",
        "applicant",
        "subject",
        "by",
        "voter",
        "proposer",
    ]
    .iter()
    .any(|k| body.get(*k).and_then(Value::as_i64) == Some(member_id))
}

async fn decision_entries_about(
    db: &Db,
    coop_id: i64,
    member_id: i64,
) -> Result<Vec<chain::Entry>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = chain::list(db, DECISIONS, coop_id, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(
            page.into_iter()
                .filter(|e| entry_is_about(&e.body, member_id)),
        );
    }
    Ok(out)
}

/// Everything about `member_id` in coop `coop_id`, as one JSON document.
pub async fn archive(db: &Db, coop_id: i64, member_id: i64, now_ms: i64) -> Result<Value> {
    let member = identity::get_member(db, coop_id, member_id).await?;
    let wallet = AccountKind::MemberWallet(member_id);
    let ledger: Vec<Value> = repo::history(db, coop_id, &wallet, 100_000)
        .await?
        .into_iter()
        .map(|e| {
            json!({"transaction_id": e.transaction_id, "idempotency_key": e.idempotency_key,
                "kind": e.kind, "memo": e.memo, "currency": e.currency, "amount": e.amount,
                "created_at": e.created_at})
        })
        .collect();
    let shifts: Vec<Value> = sqlx::query(
        "SELECT id, started_at, ended_at FROM shifts WHERE coop_id = $1 AND member_id = $2 ORDER BY id",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| json!({"id": r.get::<i64, _>(0), "started_at": r.get::<i64, _>(1), "ended_at": r.get::<Option<i64>, _>(2)}))
    .collect();
    let months: Vec<Value> = sqlx::query(
        "SELECT period_start, currency, on_shift_ms, earned, floor_owed, topped_up, subscription_fee \
         FROM floor_results WHERE coop_id = $1 AND member_id = $2 ORDER BY period_start",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        json!({"period_start": r.get::<i64, _>(0), "currency": r.get::<String, _>(1),
            "on_shift_ms": r.get::<i64, _>(2), "earned": r.get::<i64, _>(3),
            "floor_owed": r.get::<i64, _>(4), "topped_up": r.get::<i64, _>(5),
            "subscription_fee": r.get::<i64, _>(6)})
    })
    .collect();
    let votes: Vec<Value> = sqlx::query(
        "SELECT proposal_id, choice, reason, cast_at FROM votes WHERE member_id = $1 \
         AND proposal_id IN (SELECT id FROM proposals WHERE coop_id = $2) ORDER BY proposal_id",
    )
    .bind(member_id)
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        json!({"proposal": r.get::<i64, _>(0), "choice": r.get::<String, _>(1),
            "reason": r.get::<String, _>(2), "at": r.get::<i64, _>(3)})
    })
    .collect();
    let notifications: Vec<Value> = sqlx::query(
        "SELECT id, plugin, topic, payload, created_at FROM events WHERE coop_id = $1 AND member_id = $2 ORDER BY id",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        let payload: String = r.get(3);
        json!({"id": r.get::<i64, _>(0), "source": r.get::<String, _>(1), "topic": r.get::<String, _>(2),
            "payload": serde_json::from_str::<Value>(&payload).unwrap_or(Value::String(payload)),
            "at": r.get::<i64, _>(4)})
    })
    .collect();
    let records: Vec<Value> = sqlx::query(
        "SELECT plugin, key, value, version, updated_at FROM kv WHERE coop_id = $1 AND member_id = $2 \
         ORDER BY plugin, key",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        let bytes: Vec<u8> = r.get(2);
        let value = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => v,
            Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        };
        json!({"plugin": r.get::<String, _>(0), "key": r.get::<String, _>(1), "value": value,
            "version": r.get::<i64, _>(3), "updated_at": r.get::<i64, _>(4)})
    })
    .collect();
    let decisions: Vec<Value> = decision_entries_about(db, coop_id, member_id)
        .await?
        .into_iter()
        .map(|e| json!({"seq": e.seq, "kind": e.kind, "at": e.at, "body": e.body, "personal": e.personal}))
        .collect();
    Ok(json!({
        "format": "coophost-member-export/1",
        "exported_at": now_ms,
        "member": member,
        "status_history": membership::status_history(db, coop_id, member_id).await?,
        "shares": membership::shares(db, coop_id, member_id).await?,
        "shifts": shifts,
        "wallet": ledger,
        "monthly_pay": months,
        "votes": votes,
        "consents": crate::consent::history(db, coop_id, member_id).await?,
        "ratings": crate::ratings::for_worker(db, coop_id, member_id, now_ms).await?,
        "deactivations": crate::moderation::deactivation::for_member(db, coop_id, member_id, now_ms).await?,
        "data_access": crate::payments::access::about(db, coop_id, member_id, 100_000).await?,
        "notifications": notifications,
        "plugin_records": records,
        "decisions_about_me": decisions,
    }))
}

/// What an erasure did, for the member.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ErasureReport {
    /// Plugin records tagged with the member, deleted.
    pub plugin_records_deleted: u64,
    /// Notifications deleted.
    pub notifications_deleted: u64,
    /// Ratings about the member deleted.
    pub ratings_deleted: u64,
    /// Consent decisions deleted.
    pub consents_deleted: u64,
    /// Bank details deleted.
    pub bank_details_deleted: u64,
    /// Decision-log entries whose personal fields were erased.
    pub decision_entries_erased: u64,
    /// Whether the account was pseudonymised (false: still a member of
    /// another coop on this host, which keeps it).
    pub account_pseudonymised: bool,
    /// What was kept, and why.
    pub kept: Vec<String>,
}

/// Erase what the law does not require to keep about `member_id`.
/// Refused while their wallet holds money (it must be paid out first, to
/// the bank details erasure deletes).
pub async fn erase(db: &Db, coop_id: i64, member_id: i64, now_ms: i64) -> Result<ErasureReport> {
    for (code, currency, balance) in repo::balances(db, coop_id).await? {
        if code == AccountKind::MemberWallet(member_id).code() && balance != 0 {
            return Err(Error::Conflict(format!(
                "your wallet holds {balance} minor units of {currency}: have it paid out before erasing your data"
            )));
        }
    }
    let user_id: i64 = sqlx::query("SELECT user_id FROM members WHERE coop_id = $1 AND id = $2")
        .bind(coop_id)
        .bind(member_id)
        .fetch_one(&db.pool)
        .await?
        .get(0);
    let entries = decision_entries_about(db, coop_id, member_id).await?;
    // The plugins' records first, each namespace under its own lock with
    // its quota counter brought down (the store owns both). Erasing again
    // after a failure below finds them gone and finishes the rest.
    let plugin_records_deleted = crate::store::erase_member(db, coop_id, member_id).await?;
    let mut tx = db.begin_write().await?;
    let run = |sql: &'static str| sqlx::query(sql).bind(coop_id).bind(member_id);
    let notifications_deleted = run("DELETE FROM events WHERE coop_id = $1 AND member_id = $2")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let ratings_deleted = run("DELETE FROM ratings WHERE coop_id = $1 AND worker_id = $2")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let consents_deleted = run("DELETE FROM consents WHERE coop_id = $1 AND member_id = $2")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let bank_details_deleted =
        run("DELETE FROM bank_accounts WHERE coop_id = $1 AND member_id = $2")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    // Ballots stay (tallies must stay reproducible), without the reasons
    // the member wrote.
    sqlx::query(
        "UPDATE votes SET reason = '' WHERE member_id = $1 AND proposal_id IN (SELECT id FROM proposals WHERE coop_id = $2)",
    )
    .bind(member_id)
    .bind(coop_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE members SET status = 'left', roles = '', college = NULL WHERE coop_id = $1 AND id = $2")
        .bind(coop_id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
    let elsewhere: i64 = sqlx::query(
        "SELECT COUNT(*) FROM members WHERE user_id = $1 AND coop_id <> $2 AND status <> 'left'",
    )
    .bind(user_id)
    .bind(coop_id)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    let account_pseudonymised = elsewhere == 0;
    if account_pseudonymised {
        // Mail queued to the address and links mailed to it go with it.
        let address: String = sqlx::query("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        crate::mail::forget_in(&mut tx, &address).await?;
        sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            // '!' is no argon2 hash: no password ever matches it.
            "UPDATE users SET email = $1, display_name = $2, password_hash = '!' WHERE id = $3",
        )
        .bind(format!("erased-{user_id}@erased.invalid"))
        .bind(format!("Erased member {member_id}"))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        crate::identity::second_factor::forget_in(&mut tx, user_id).await?;
    }
    tx.commit().await?;
    let mut decision_entries_erased = 0;
    for e in entries {
        if chain::erase_personal(db, DECISIONS, coop_id, e.seq).await? {
            decision_entries_erased += 1;
        }
    }
    chain::append(
        db,
        DECISIONS,
        coop_id,
        &chain::NewEntry {
            kind: "member.erased".into(),
            body: json!({"member": member_id}),
            personal: None,
        },
        now_ms,
    )
    .await?;
    Ok(ErasureReport {
        plugin_records_deleted,
        notifications_deleted,
        ratings_deleted,
        consents_deleted,
        bank_details_deleted,
        decision_entries_erased,
        account_pseudonymised,
        kept: vec![
            "ledger entries (accounting law), linked only to your member number".into(),
            "shift times (labour law: the earnings floor was computed from them)".into(),
            "your ballots, without your name or reasons (published tallies must stay reproducible)"
                .into(),
            "decision-log entries without their personal fields (the chain must keep verifying)"
                .into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_about_a_member_are_found_by_their_fields() {
        assert!(entry_is_about(&json!({"member": 7, "status": "left"}), 7));
        assert!(entry_is_about(&json!({"rating": 3, "worker": 7}), 7));
        assert!(!entry_is_about(&json!({"member": 8, "by": 9}), 7));
        assert!(!entry_is_about(&json!({"proposal": 7}), 7));
    }
}
