//! Suspending or removing a member: a person who is an admin decides, in
//! writing; the member is told why, and how and until when to appeal.
//!
//! `removed` ends someone's membership by the coop's decision; `left` stays
//! the member's own choice. A removal does not refund shares: it may still
//! be overturned on appeal. A removed member who accepts it leaves
//! (`left`), which refunds them per the rules.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::{DAY_MS, appeals, check_reason, human_admin, notify_in, utc};
use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::governance::proposals::DECISIONS;
use crate::governance::{membership, rules};
use crate::identity::{Actor, Coop};

/// A suspension or removal as the member and the admins see it.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// Its id: the status change it made (`GET .../members/{m}/status`).
    pub decision: i64,
    /// The member it is about.
    pub member: i64,
    /// `suspended` or `removed`.
    pub status: String,
    /// The status it replaced (what an overturn gives back).
    pub previous_status: String,
    /// Why, in the decider's words.
    pub reason: String,
    /// The admin who decided.
    pub decided_by: i64,
    /// When.
    pub decided_at: i64,
    /// The flag it acted on, if any.
    pub flag: Option<i64>,
    /// The last moment an appeal is accepted.
    pub appeal_until: i64,
    /// Whether the member may still appeal it now.
    pub can_appeal: bool,
    /// The appeal, once made.
    pub appeal: Option<appeals::Appeal>,
}

const COLUMNS: &str = "decision_id, member_id, status, previous_status, reason, decided_by, decided_at, \
     flag_id, appeal_until";

fn from_row(r: &sqlx::any::AnyRow) -> Decision {
    Decision {
        decision: r.get(0),
        member: r.get(1),
        status: r.get(2),
        previous_status: r.get(3),
        reason: r.get(4),
        decided_by: r.get(5),
        decided_at: r.get(6),
        flag: r.get(7),
        appeal_until: r.get(8),
        can_appeal: false,
        appeal: None,
    }
}

/// Fill in the appeal and whether one may still be made, as of `now`.
async fn complete(db: &Db, coop_id: i64, mut d: Decision, now: i64) -> Result<Decision> {
    d.appeal = appeals::for_decision(db, coop_id, d.decision).await?;
    d.can_appeal = d.appeal.is_none() && now <= d.appeal_until;
    Ok(d)
}

/// One decision.
pub async fn get(db: &Db, coop_id: i64, decision: i64, now: i64) -> Result<Decision> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deactivations WHERE coop_id = $1 AND decision_id = $2"
    ))
    .bind(coop_id)
    .bind(decision)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no suspension or removal {decision} in this coop")))?;
    complete(db, coop_id, from_row(&row), now).await
}

/// The suspensions and removals of `member_id`, newest first, each with
/// its appeal.
pub async fn for_member(db: &Db, coop_id: i64, member_id: i64, now: i64) -> Result<Vec<Decision>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deactivations WHERE coop_id = $1 AND member_id = $2 \
         ORDER BY decision_id DESC LIMIT 200"
    ))
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(complete(db, coop_id, from_row(r), now).await?);
    }
    Ok(out)
}

/// Suspend or remove `member_id` (`status` is `suspended` or `removed`)
/// because of `reason`, as decided by `actor`, who must be a person who is
/// an admin of the coop (an automated system is refused: it can only
/// flag). Acting on an open `flag` about the member links and closes it.
/// The member is told in their inbox why, and how and until when to appeal.
#[allow(clippy::too_many_arguments)]
pub async fn deactivate(
    db: &Db,
    coop: &Coop,
    actor: &Actor,
    member_id: i64,
    status: &str,
    reason: &str,
    flag: Option<i64>,
    now: i64,
) -> Result<Decision> {
    let me = human_admin(actor, "suspend or remove a member")?;
    if !matches!(status, "suspended" | "removed") {
        return Err(Error::Invalid(format!(
            "a deactivation is \"suspended\" or \"removed\", not {status:?}"
        )));
    }
    let reason = check_reason(reason)?;
    if me == member_id {
        return Err(Error::Forbidden(
            "you cannot suspend or remove yourself; to leave, set your own status to \"left\""
                .into(),
        ));
    }
    let (_, rules) = rules::current(db, coop.id).await?;
    let appeal_until = now + i64::from(rules.appeal_days) * DAY_MS;

    let mut tx = db.begin_write().await?;
    let previous: String = sqlx::query("SELECT status FROM members WHERE coop_id = $1 AND id = $2")
        .bind(coop.id)
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no member {member_id} in this coop")))?
        .get(0);
    match previous.as_str() {
        "left" => {
            return Err(Error::Conflict(format!(
                "member {member_id} has left the coop"
            )));
        }
        "removed" => {
            return Err(Error::Conflict(format!(
                "member {member_id} was already removed from the coop"
            )));
        }
        p if p == status => {
            return Err(Error::Conflict(format!(
                "member {member_id} is already {status}"
            )));
        }
        _ => {}
    }
    if let Some(f) = flag {
        let row = sqlx::query(
            "SELECT member_id, status FROM member_flags WHERE coop_id = $1 AND id = $2",
        )
        .bind(coop.id)
        .bind(f)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no flag {f} in this coop")))?;
        if row.get::<i64, _>(0) != member_id {
            return Err(Error::Invalid(format!("flag {f} is about another member")));
        }
        let flag_status: String = row.get(1);
        if flag_status != "open" {
            return Err(Error::Conflict(format!(
                "flag {f} is already {flag_status}"
            )));
        }
    }
    let decision = membership::change_status_in(
        &mut tx,
        coop.id,
        member_id,
        &previous,
        status,
        &reason,
        Some(me),
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO deactivations (decision_id, coop_id, member_id, status, previous_status, reason, \
         decided_by, decided_at, appeal_until, flag_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(decision)
    .bind(coop.id)
    .bind(member_id)
    .bind(status)
    .bind(&previous)
    .bind(&reason)
    .bind(me)
    .bind(now)
    .bind(appeal_until)
    .bind(flag)
    .execute(&mut *tx)
    .await?;
    if let Some(f) = flag {
        sqlx::query(
            "UPDATE member_flags SET status = 'acted', resolved_by = $1, resolved_at = $2, decision_id = $3 \
             WHERE coop_id = $4 AND id = $5 AND status = 'open'",
        )
        .bind(me)
        .bind(now)
        .bind(decision)
        .bind(coop.id)
        .bind(f)
        .execute(&mut *tx)
        .await?;
    }
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop.id,
        &NewEntry {
            kind: "member.deactivated".into(),
            body: json!({"decision": decision, "member": member_id, "status": status,
                "previous_status": previous, "by": me, "flag": flag, "appeal_until": appeal_until}),
            personal: Some(json!({"reason": reason})),
        },
        now,
    )
    .await?;
    let what = if status == "removed" {
        "removed you from the coop"
    } else {
        "suspended you"
    };
    notify_in(
        &mut tx,
        coop.id,
        &[member_id],
        "moderation.deactivated",
        &json!({
            "decision": decision,
            "status": status,
            "reason": reason,
            "decided_at": now,
            "appeal_until": appeal_until,
            "review_days": rules.appeal_review_days,
            "appeal": {
                "method": "POST",
                "path": format!("/v1/coops/{}/me/appeals", coop.slug),
                "body": {"decision": decision, "statement": "why the decision is wrong"},
            },
            "message": format!(
                "An admin of {} {what}: {reason}. You can still log in, read this decision at \
                 GET /v1/coops/{}/me/deactivations and appeal it until {}: another admin will \
                 review your appeal within {} days.",
                coop.slug, coop.slug, utc(appeal_until), rules.appeal_review_days
            ),
        }),
        now,
    )
    .await?;
    // And by mail: a removed or suspended member may not be looking at the
    // inbox of a coop that just shut them out.
    crate::mail::queue_for_members_in(
        &mut tx,
        coop.id,
        &[member_id],
        &crate::mail::Message::Deactivated {
            coop: coop.slug.clone(),
            coop_name: coop.name.clone(),
            status: status.to_string(),
            reason: reason.clone(),
            appeal_until,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop.id, decision, now).await
}

/// Tell a member an admin reactivated them (a reactivation needs no
/// appeal, but the member hears about it like any decision about them).
pub(crate) async fn notify_reactivated(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    previous: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    let mut conn = db.pool.acquire().await?;
    notify_in(
        &mut conn,
        coop_id,
        &[member_id],
        "moderation.reactivated",
        &json!({"previous_status": previous, "reason": reason}),
        now,
    )
    .await
}
