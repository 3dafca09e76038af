//! Appeals: the worker asks for a suspension or removal to be reviewed;
//! an admin who did not make the decision upholds or overturns it, within
//! the coop's review deadline. The scheduler watches the deadline
//! ([`DEADLINE_JOB`]): an appeal nobody reviewed in time becomes
//! `overdue`, everyone concerned is told, and it stays open for review,
//! visibly late.
//!
//! An overdue appeal does not reinstate the worker by itself: reinstating
//! would undo a decision no second person looked at, and a coop that wants
//! it can overturn as soon as a reviewer is found. What the host guarantees
//! is that the lateness is recorded, dated and seen by every admin and by
//! the worker.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::deactivation::{self, Decision};
use super::{
    DAY_MS, MAX_STATEMENT_BYTES, Outcome, admins_in, check_reason, check_text, is_unique_violation,
    notify_in, reviewer, utc,
};
use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::governance::proposals::DECISIONS;
use crate::governance::{membership, rules};
use crate::identity::{Actor, Coop};
use crate::scheduler;

/// The scheduler job that marks an unreviewed appeal overdue.
pub const DEADLINE_JOB: &str = "appeal.deadline";

/// An appeal.
#[derive(Clone, Debug, Serialize)]
pub struct Appeal {
    /// Id.
    pub id: i64,
    /// The decision appealed.
    pub decision: i64,
    /// The member who appealed.
    pub member: i64,
    /// What they say.
    pub statement: String,
    /// `open`, `overdue`, `upheld` or `overturned`.
    pub status: String,
    /// When they appealed.
    pub created_at: i64,
    /// When the review is due.
    pub review_due_at: i64,
    /// When it was found overdue.
    pub overdue_at: Option<i64>,
    /// The admin who reviewed it.
    pub reviewed_by: Option<i64>,
    /// When.
    pub reviewed_at: Option<i64>,
    /// The reviewer's reason.
    pub review_reason: Option<String>,
    /// The status the member got back, when overturned.
    pub restored_status: Option<String>,
}

const COLUMNS: &str = "id, decision_id, member_id, statement, status, created_at, review_due_at, overdue_at, \
     reviewed_by, reviewed_at, review_reason, restored_status";

fn from_row(r: &sqlx::any::AnyRow) -> Appeal {
    Appeal {
        id: r.get(0),
        decision: r.get(1),
        member: r.get(2),
        statement: r.get(3),
        status: r.get(4),
        created_at: r.get(5),
        review_due_at: r.get(6),
        overdue_at: r.get(7),
        reviewed_by: r.get(8),
        reviewed_at: r.get(9),
        review_reason: r.get(10),
        restored_status: r.get(11),
    }
}

/// One appeal.
pub async fn get(db: &Db, coop_id: i64, id: i64) -> Result<Appeal> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM appeals WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no appeal {id} in this coop")))?;
    Ok(from_row(&row))
}

/// The appeal of a decision, if one was made.
pub async fn for_decision(db: &Db, coop_id: i64, decision: i64) -> Result<Option<Appeal>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM appeals WHERE coop_id = $1 AND decision_id = $2"
    ))
    .bind(coop_id)
    .bind(decision)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// An appeal with the decision it is about, for the admins' list.
#[derive(Clone, Debug, Serialize)]
pub struct AppealWithDecision {
    /// The appeal.
    pub appeal: Appeal,
    /// The decision (its `appeal` field left empty: it is this one).
    pub decision: Decision,
}

/// The coop's appeals, newest first; only those awaiting review (open or
/// overdue) with `pending_only`.
pub async fn list(
    db: &Db,
    coop_id: i64,
    pending_only: bool,
    now: i64,
) -> Result<Vec<AppealWithDecision>> {
    let filter = if pending_only {
        " AND status IN ('open', 'overdue')"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM appeals WHERE coop_id = $1{filter} ORDER BY id DESC LIMIT 500"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let appeal = from_row(r);
        let mut decision = deactivation::get(db, coop_id, appeal.decision, now).await?;
        decision.appeal = None;
        out.push(AppealWithDecision { appeal, decision });
    }
    Ok(out)
}

/// `member_id` appeals their `decision` with `statement`, within the
/// decision's appeal period. One appeal per decision.
pub async fn open(
    db: &Db,
    coop: &Coop,
    member_id: i64,
    decision: i64,
    statement: &str,
    now: i64,
) -> Result<Appeal> {
    let statement = check_text("the statement", statement, 1, MAX_STATEMENT_BYTES)?;
    let d = match deactivation::get(db, coop.id, decision, now).await {
        Ok(d) if d.member == member_id => d,
        // Someone else's decision is as unknown to the caller as a missing one.
        Ok(_) | Err(Error::NotFound(_)) => {
            return Err(Error::NotFound(format!(
                "no suspension or removal {decision} of yours: see GET .../me/deactivations"
            )));
        }
        Err(e) => return Err(e),
    };
    if let Some(a) = &d.appeal {
        return Err(Error::Conflict(format!(
            "you already appealed decision {decision} (appeal {}, {})",
            a.id, a.status
        )));
    }
    if now > d.appeal_until {
        return Err(Error::Conflict(format!(
            "the appeal period of decision {decision} closed on {} ({} days after it was made)",
            utc(d.appeal_until),
            (d.appeal_until - d.decided_at) / DAY_MS
        )));
    }
    let (_, rules) = rules::current(db, coop.id).await?;
    let review_due_at = now + i64::from(rules.appeal_review_days) * DAY_MS;
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO appeals (coop_id, decision_id, member_id, statement, status, created_at, review_due_at) \
         VALUES ($1, $2, $3, $4, 'open', $5, $6) RETURNING id",
    )
    .bind(coop.id)
    .bind(decision)
    .bind(member_id)
    .bind(&statement)
    .bind(now)
    .bind(review_due_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict(format!("you already appealed decision {decision}"))
        } else {
            e.into()
        }
    })?
    .get(0);
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop.id,
        &NewEntry {
            kind: "appeal.opened".into(),
            body: json!({"appeal": id, "decision": decision, "member": member_id,
                "review_due_at": review_due_at}),
            personal: Some(json!({"statement": statement})),
        },
        now,
    )
    .await?;
    scheduler::schedule_in(
        &mut tx,
        Some(coop.id),
        DEADLINE_JOB,
        Some(&format!("{DEADLINE_JOB}:{}:{id}", coop.id)),
        &json!({"appeal": id}),
        review_due_at,
        now,
    )
    .await?;
    let mut admins = admins_in(&mut tx, coop.id).await?;
    admins.retain(|a| *a != member_id);
    notify_in(
        &mut tx,
        coop.id,
        &admins,
        "moderation.appealed",
        &json!({"appeal": id, "decision": decision, "member": member_id,
            "decided_by": d.decided_by, "review_due_at": review_due_at,
            "message": format!(
                "Member {member_id} appealed decision {decision}. An admin other than the one who made it must review it by {}.",
                utc(review_due_at)
            )}),
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop.id, id).await
}

/// `actor` reviews appeal `id`: upholds or overturns the decision with a
/// written reason. The reviewer is a person who is an admin and did not
/// make the decision. Overturning gives the member back the status the
/// decision replaced, if the decision is still what holds them.
pub async fn review(
    db: &Db,
    coop: &Coop,
    actor: &Actor,
    id: i64,
    outcome: Outcome,
    reason: &str,
    now: i64,
) -> Result<Appeal> {
    let a = get(db, coop.id, id).await?;
    let d = deactivation::get(db, coop.id, a.decision, now).await?;
    let me = reviewer(actor, d.decided_by, a.member)?;
    let reason = check_reason(reason)?;
    if !matches!(a.status.as_str(), "open" | "overdue") {
        return Err(Error::Conflict(format!(
            "appeal {id} was already reviewed: {}",
            a.status
        )));
    }
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE appeals SET status = $1, reviewed_by = $2, reviewed_at = $3, review_reason = $4 \
         WHERE coop_id = $5 AND id = $6 AND status IN ('open', 'overdue')",
    )
    .bind(outcome.name())
    .bind(me)
    .bind(now)
    .bind(&reason)
    .bind(coop.id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "appeal {id} was reviewed meanwhile"
        )));
    }
    let mut restored = None;
    if outcome == Outcome::Overturned {
        let current: String =
            sqlx::query("SELECT status FROM members WHERE coop_id = $1 AND id = $2")
                .bind(coop.id)
                .bind(a.member)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
        // Only undo what this decision did: a member since reactivated,
        // or who left, keeps their status.
        if current == d.status {
            membership::change_status_in(
                &mut tx,
                coop.id,
                a.member,
                &d.status,
                &d.previous_status,
                &format!(
                    "decision {} overturned on appeal {id}: {reason}",
                    d.decision
                ),
                Some(me),
                now,
            )
            .await?;
            sqlx::query("UPDATE appeals SET restored_status = $1 WHERE id = $2")
                .bind(&d.previous_status)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            restored = Some(d.previous_status.clone());
        }
    }
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop.id,
        &NewEntry {
            kind: "appeal.reviewed".into(),
            body: json!({"appeal": id, "decision": d.decision, "member": a.member,
                "outcome": outcome, "by": me, "restored_status": restored,
                "late": now > a.review_due_at}),
            personal: Some(json!({"reason": reason})),
        },
        now,
    )
    .await?;
    let message = match (outcome, &restored) {
        (Outcome::Upheld, _) => {
            format!("Your appeal {id} was reviewed: the decision stands. {reason}")
        }
        (Outcome::Overturned, Some(s)) => {
            format!(
                "Your appeal {id} was reviewed: the decision is overturned and you are {s} again. {reason}"
            )
        }
        (Outcome::Overturned, None) => format!(
            "Your appeal {id} was reviewed: the decision is overturned (your status had already changed since). {reason}"
        ),
    };
    notify_in(
        &mut tx,
        coop.id,
        &[a.member, d.decided_by],
        "moderation.appeal-reviewed",
        &json!({"appeal": id, "decision": d.decision, "outcome": outcome, "reason": reason,
            "restored_status": restored, "message": message}),
        now,
    )
    .await?;
    // The member also hears by mail (the decider reads it in the inbox).
    crate::mail::queue_for_members_in(
        &mut tx,
        coop.id,
        &[a.member],
        &crate::mail::Message::AppealReviewed {
            coop: coop.slug.clone(),
            coop_name: coop.name.clone(),
            appeal: id,
            outcome: outcome.name().to_string(),
            reason: reason.clone(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop.id, id).await
}

/// Mark appeal `id` overdue if nobody reviewed it by its deadline: record
/// it and tell every admin and the worker. Reviewed appeals are left alone.
pub async fn mark_overdue(db: &Db, coop_id: i64, id: i64, now: i64) -> Result<Appeal> {
    let a = get(db, coop_id, id).await?;
    if a.status != "open" {
        return Ok(a);
    }
    if now < a.review_due_at {
        return Err(Error::Conflict(format!(
            "appeal {id} is not due for review until {}",
            utc(a.review_due_at)
        )));
    }
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE appeals SET status = 'overdue', overdue_at = $1 WHERE coop_id = $2 AND id = $3 AND status = 'open'",
    )
    .bind(now)
    .bind(coop_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        drop(tx);
        return get(db, coop_id, id).await;
    }
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "appeal.overdue".into(),
            body: json!({"appeal": id, "decision": a.decision, "member": a.member,
                "review_due_at": a.review_due_at}),
            personal: None,
        },
        now,
    )
    .await?;
    let mut told = admins_in(&mut tx, coop_id).await?;
    told.push(a.member);
    notify_in(
        &mut tx,
        coop_id,
        &told,
        "moderation.appeal-overdue",
        &json!({"appeal": id, "decision": a.decision, "member": a.member,
            "review_due_at": a.review_due_at,
            "message": format!(
                "Appeal {id} against decision {} was due for review by {} and nobody has reviewed it. It stays open: an admin who did not make the decision must review it now.",
                a.decision, utc(a.review_due_at)
            )}),
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop_id, id).await
}

/// Whether [`handle`] runs jobs of `kind`.
pub fn handles(kind: &str) -> bool {
    kind == DEADLINE_JOB
}

/// Run an appeal job: the review deadline passed.
pub async fn handle(db: &Db, job: &scheduler::Job, now: i64) -> Result<()> {
    let coop_id = job
        .coop_id
        .ok_or_else(|| Error::Invalid(format!("job {} has no coop", job.id)))?;
    let id = job.payload["appeal"]
        .as_i64()
        .ok_or_else(|| Error::Invalid(format!("job {} names no appeal", job.id)))?;
    mark_overdue(db, coop_id, id, now).await.map(|_| ())
}
