//! Joining and leaving: invitations (by admins, accepted with a token),
//! applications (approved or rejected by admins, if the coop's rules allow
//! applying), member status changes with dates and reasons, cooperative
//! shares bought and refunded through the ledger.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::rules::{self, MembershipRules};
use crate::chain::{self, NewEntry};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::{self, Actor, Coop, NewMember};
use crate::ledger::account::AccountKind;
use crate::ledger::money::Currency;
use crate::ledger::repo;
use crate::ledger::transaction::{Posting, Transaction};
use crate::mail::{self, Message};
use crate::throttle::Rule;

/// How long an invitation stays valid.
pub const INVITATION_TTL_MS: i64 = 14 * 86_400_000;
/// Applications per address: each mails a link there, so a stranger must
/// not be able to flood someone's inbox through a coop.
pub const APPLY_PER_ADDRESS: Rule = Rule {
    name: "apply.address",
    limit: 3,
    window_ms: 3_600_000,
};
/// Applications per client address: a household or an office applying to
/// a few coops, not a script creating accounts by the hundred.
pub const APPLY_PER_IP: Rule = Rule {
    name: "apply.ip",
    limit: 10,
    window_ms: 3_600_000,
};

/// An invitation or application.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    /// Id.
    pub id: i64,
    /// `invitation` or `application`.
    pub kind: String,
    /// Email of the person.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// Roles they get.
    pub roles: Vec<String>,
    /// Their college.
    pub college: Option<String>,
    /// Their message (applications).
    pub message: String,
    /// `unverified` (an application whose address is not confirmed yet),
    /// `pending`, `accepted`, `rejected`, `withdrawn` (an unconfirmed
    /// application superseded by a confirmed one).
    pub status: String,
    /// When made.
    pub created_at: i64,
    /// The member created, once accepted.
    pub member_id: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, email, display_name, roles, college, message, status, created_at, member_id";

fn from_row(r: &sqlx::any::AnyRow) -> Request {
    let roles: String = r.get(4);
    Request {
        id: r.get(0),
        kind: r.get(1),
        email: r.get(2),
        display_name: r.get(3),
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        college: r.get(5),
        message: r.get(6),
        status: r.get(7),
        created_at: r.get(8),
        member_id: r.get(9),
    }
}

fn check_college(rules: &rules::Rules, college: &Option<String>) -> Result<()> {
    if let Some(c) = college
        && !rules.colleges.iter().any(|x| &x.name == c)
        && !rules.colleges.is_empty()
    {
        return Err(Error::Invalid(format!(
            "college {c:?} is not one of this coop's colleges: {}",
            rules
                .colleges
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// An invitation to make.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Who.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// Roles they will have.
    pub roles: Vec<String>,
    /// Their college.
    pub college: Option<String>,
}

/// Invite someone: the one-time token is mailed to them. Returns the
/// request and the token (the API does not pass it on to the admin: see
/// `api::governance::invite`; the operator's CLI prints it).
pub async fn invite(
    db: &Db,
    coop_id: i64,
    by: &Actor,
    inv: &NewInvitation,
    now: i64,
) -> Result<(Request, String)> {
    // Roles beyond plain membership are a grant-role decision (issue 16).
    super::grants::check(db, coop_id, by, &inv.roles).await?;
    let email = identity::normalise_email(&inv.email)?;
    let (_, rules) = rules::current(db, coop_id).await?;
    check_college(&rules, &inv.college)?;
    if inv.roles.is_empty() {
        return Err(Error::Invalid("give at least one role".into()));
    }
    let token = identity::secrets::new_token("inv");
    let coop = identity::find_coop_by_id(db, coop_id).await?;
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO membership_requests (coop_id, kind, email, display_name, roles, college, message, token_hash, \
         status, created_by, created_at, expires_at) \
         VALUES ($1, 'invitation', $2, $3, $4, $5, '', $6, 'pending', $7, $8, $9) RETURNING id",
    )
    .bind(coop_id)
    .bind(&email)
    .bind(inv.display_name.trim())
    .bind(inv.roles.join(","))
    .bind(inv.college.clone())
    .bind(identity::secrets::hash_token(&token))
    .bind(by.member_id)
    .bind(now)
    .bind(now + INVITATION_TTL_MS)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    // The token goes to the address, and only there: accepting it is what
    // proves the invitee controls the address.
    mail::queue_in(
        &mut tx,
        Some(coop_id),
        &email,
        &Message::Invitation {
            token: token.clone(),
            coop: coop.slug,
            coop_name: coop.name,
            roles: inv.roles.clone(),
            expires_at: now + INVITATION_TTL_MS,
        },
        now,
    )
    .await?;
    super::grants::record_in(
        &mut tx,
        coop_id,
        by,
        json!({"invitation": id, "roles": inv.roles, "college": inv.college}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((get(db, coop_id, id).await?, token))
}

/// One request.
pub async fn get(db: &Db, coop_id: i64, id: i64) -> Result<Request> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM membership_requests WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no membership request {id} in this coop")))?;
    Ok(from_row(&row))
}

/// Requests of a coop, newest first: applications only once their
/// address is confirmed (an unconfirmed one may be anybody's, and is not
/// the coop's to spend attention on).
pub async fn list(db: &Db, coop_id: i64) -> Result<Vec<Request>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM membership_requests WHERE coop_id = $1 \
         AND status NOT IN ('unverified', 'withdrawn') ORDER BY id DESC LIMIT 500"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Make the person of `req` a member, in one transaction with marking the
/// request accepted (a request accepted meanwhile is a conflict).
/// `password` is for a new or unproven account (an invitation's).
async fn join(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    req: &Request,
    password: Option<String>,
    decided_by: Option<&Actor>,
) -> Result<identity::Member> {
    let hash = match password {
        Some(p) => {
            identity::check_password(&p)?;
            Some(identity::hash_password(&p).await?)
        }
        None => None,
    };
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let member = identity::add_member_in(
        &mut tx,
        now,
        coop,
        NewMember {
            email: req.email.clone(),
            display_name: req.display_name.clone(),
            password: None,
            roles: req.roles.clone(),
            college: req.college.clone(),
        },
        hash,
        identity::Vouch::Proven,
    )
    .await?;
    let done = sqlx::query(
        "UPDATE membership_requests SET status = 'accepted', decided_by = $1, decided_at = $2, member_id = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(decided_by.and_then(|a| a.member_id))
    .bind(now)
    .bind(member.id)
    .bind(req.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "this {} was decided meanwhile",
            req.kind
        )));
    }
    sqlx::query(
        "INSERT INTO member_status_history (coop_id, member_id, status, reason, changed_by, at) \
         VALUES ($1, $2, 'active', $3, $4, $5)",
    )
    .bind(coop.id)
    .bind(member.id)
    .bind(format!("joined by {}", req.kind))
    .bind(decided_by.and_then(|a| a.member_id))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // An admission decided by someone (not a vote, not an invitation
    // whose grant was recorded when it was made) is their grant.
    if let Some(by) = decided_by {
        super::grants::record_in(
            &mut tx,
            coop.id,
            by,
            json!({"application": req.id, "member_added": member.id, "roles": member.roles,
                "college": member.college}),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(member)
}

/// Accept an invitation with its token (and a password for a new account).
/// The token was mailed to the address, so holding it proves the address:
/// an account someone else opened there without proving it takes the
/// password given here, and its sessions end. A proven account keeps its
/// password.
pub async fn accept_invitation(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    token: &str,
    password: Option<String>,
) -> Result<identity::Member> {
    let now = clock.now_ms();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, expires_at FROM membership_requests WHERE coop_id = $1 AND kind = 'invitation' \
         AND token_hash = $2"
    ))
    .bind(coop.id)
    .bind(identity::secrets::hash_token(token))
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound("no such invitation: check the link".into()))?;
    let req = from_row(&row);
    let expires: Option<i64> = row.get(10);
    if req.status != "pending" {
        return Err(Error::Conflict(format!(
            "this invitation was already {}",
            req.status
        )));
    }
    if expires.is_some_and(|e| e < now) {
        return Err(Error::Conflict(
            "this invitation has expired: ask the coop for a new one".into(),
        ));
    }
    join(db, clock, coop, &req, password, None).await
}

/// An application to join.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    /// Email (the login).
    pub email: String,
    /// Name.
    pub display_name: String,
    /// The password the account takes once the address is confirmed (kept
    /// only as its hash, with the confirmation link). Required.
    pub password: Option<String>,
    /// The college applied to.
    pub college: Option<String>,
    /// Why they want to join.
    #[serde(default)]
    pub message: String,
}

/// Apply to join, if the coop's rules allow applications.
///
/// Nothing reaches the coop until the applicant proves the address: the
/// application is `unverified`, a link is mailed to the address, and
/// [`confirm_application`] (the link plus the password given here) makes it
/// `pending`, where admins or the members' vote decide. A new address gets
/// an unproven account that no password opens until then, and that is
/// deleted with the application if nobody confirms within
/// [`identity::email::UNVERIFIED_ACCOUNT_TTL_MS`]. The answer is the same
/// whether or not the address has an account, is a member or has applied.
pub async fn apply(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    app: &NewApplication,
) -> Result<Request> {
    let now = clock.now_ms();
    let (_, rules) = rules::current(db, coop.id).await?;
    if !rules.membership.applications {
        return Err(Error::Forbidden(format!(
            "{} takes new members by invitation only",
            coop.slug
        )));
    }
    check_college(&rules, &app.college)?;
    let email = identity::normalise_email(&app.email)?;
    let display_name = app.display_name.trim();
    if display_name.is_empty() || display_name.len() > 200 {
        return Err(Error::Invalid(
            "display_name must be 1 to 200 characters".into(),
        ));
    }
    if app.message.len() > 5_000 {
        return Err(Error::Invalid("message must be at most 5000 bytes".into()));
    }
    let password = app.password.as_deref().ok_or_else(|| {
        Error::Invalid(
            "give a password: your account takes it once you confirm your address".into(),
        )
    })?;
    identity::check_password(password)?;
    let hash = identity::hash_password(password).await?;
    let mut tx = db.begin_write().await?;
    let user_id = match identity::email::account_in(&mut tx, &email).await? {
        Some(a) => a.id,
        None => identity::email::create_unverified_in(&mut tx, &email, display_name, now).await?,
    };
    let id: i64 = sqlx::query(
        "INSERT INTO membership_requests (coop_id, kind, email, display_name, roles, college, message, status, created_at) \
         VALUES ($1, 'application', $2, $3, 'member', $4, $5, 'unverified', $6) RETURNING id",
    )
    .bind(coop.id)
    .bind(&email)
    .bind(display_name)
    .bind(app.college.clone())
    .bind(app.message.trim())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    let token = identity::email::create_token_in(
        &mut tx,
        user_id,
        identity::email::Purpose::Verify,
        Some(&hash),
        Some(id),
        now,
    )
    .await?;
    mail::queue_in(
        &mut tx,
        Some(coop.id),
        &email,
        &Message::VerifyApplication {
            token,
            coop: coop.slug.clone(),
            coop_name: coop.name.clone(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop.id, id).await
}

/// Confirm an application's address with the mailed link and the password
/// given with the application: the account is bound to this person (it
/// takes that password if its address was unproven), and the application
/// reaches the coop (`pending`, or an `admit-member` vote where the rules
/// say so). Other unconfirmed applications to the same coop from the same
/// address are withdrawn.
///
/// The password is asked because the link alone proves only the address:
/// someone who applied with another person's address must not gain their
/// account when that person, puzzled, clicks the link.
pub async fn confirm_application(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
    password: &str,
) -> Result<(Coop, Request)> {
    use identity::email::{self as mailbox, Purpose};
    let now = clock.now_ms();
    let link = mailbox::find_link(db, token, &[Purpose::Verify], now).await?;
    let (Some(applied_with), Some(request_id)) = (link.password_hash.clone(), link.request_id)
    else {
        return Err(Error::Internal(anyhow::anyhow!(
            "verification link without its application"
        )));
    };
    let wrong = || {
        Error::Unauthenticated(
            "that is not the password given with this application: enter the one you chose when applying"
                .into(),
        )
    };
    if !identity::verify_password(password, &applied_with).await {
        return Err(wrong());
    }
    let row = sqlx::query("SELECT coop_id FROM membership_requests WHERE id = $1")
        .bind(request_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::Conflict("this application no longer exists: apply again".into()))?;
    let coop = identity::find_coop_by_id(db, row.get(0)).await?;
    let req = get(db, coop.id, request_id).await?;
    let mut tx = db.begin_write().await?;
    let account = mailbox::account_in(&mut tx, &req.email)
        .await?
        .filter(|a| a.id == link.user_id)
        .ok_or_else(|| Error::Conflict("this account no longer exists: apply again".into()))?;
    // A proven account is its owner's: the one confirming must be them.
    if account.verified
        && account.password_hash != applied_with
        && !identity::verify_password(password, &account.password_hash).await
    {
        return Err(wrong());
    }
    let member = sqlx::query("SELECT 1 FROM members WHERE coop_id = $1 AND user_id = $2")
        .bind(coop.id)
        .bind(account.id)
        .fetch_optional(&mut *tx)
        .await?;
    if member.is_some() {
        return Err(Error::Conflict(format!(
            "{} is already a member of {}",
            req.email, coop.slug
        )));
    }
    let pending = sqlx::query(
        "SELECT id FROM membership_requests WHERE coop_id = $1 AND email = $2 AND status = 'pending'",
    )
    .bind(coop.id)
    .bind(&req.email)
    .fetch_optional(&mut *tx)
    .await?;
    if pending.is_some() {
        return Err(Error::Conflict(format!(
            "{} already has a pending request to join {}",
            req.email, coop.slug
        )));
    }
    mailbox::use_link_in(&mut tx, &link, now).await?;
    if !account.verified {
        mailbox::claim_in(&mut tx, account.id, &applied_with, now).await?;
    }
    let done = sqlx::query(
        "UPDATE membership_requests SET status = 'pending' WHERE id = $1 AND status = 'unverified'",
    )
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(
            "this application was withdrawn or has expired: apply again".into(),
        ));
    }
    sqlx::query(
        "UPDATE membership_requests SET status = 'withdrawn' WHERE coop_id = $1 AND email = $2 \
         AND kind = 'application' AND status = 'unverified'",
    )
    .bind(coop.id)
    .bind(&req.email)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let (_, rules) = rules::current(db, coop.id).await?;
    if rules.membership.approval == rules::Approval::Vote {
        // The members decide: an admit-member proposal, opened by the host
        // (proposer 0), voted under that kind's rules.
        super::proposals::open(
            db,
            coop.id,
            0,
            &super::proposals::NewProposal {
                title: format!("Admit {}", req.display_name),
                body: req.message.clone(),
                change: super::proposals::Change::AdmitMember {
                    application: req.id,
                },
                window_hours: None,
                effective_at: None,
            },
            now,
        )
        .await?;
    }
    let req = get(db, coop.id, request_id).await?;
    Ok((coop, req))
}

/// Delete applications never confirmed within
/// [`identity::email::UNVERIFIED_ACCOUNT_TTL_MS`], then the unproven
/// accounts and expired links they leave (scheduler tick). Returns how many
/// accounts went.
pub async fn purge_unverified(db: &Db, now: i64) -> Result<u64> {
    sqlx::query(
        "DELETE FROM membership_requests WHERE kind = 'application' AND status IN ('unverified', 'withdrawn') \
         AND created_at <= $1",
    )
    .bind(now - identity::email::UNVERIFIED_ACCOUNT_TTL_MS)
    .execute(&db.pool)
    .await?;
    identity::email::purge(db, now).await
}

/// Admit the applicant of a pending application because the members voted
/// so (an `admit-member` proposal that passed).
pub(super) async fn admit_by_vote(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    id: i64,
) -> Result<Request> {
    let req = get(db, coop.id, id).await?;
    if req.kind != "application" || req.status != "pending" {
        return Err(Error::Conflict(format!(
            "request {id} is a {} that is {}, not a pending application",
            req.kind, req.status
        )));
    }
    join(db, clock, coop, &req, None, None).await?;
    get(db, coop.id, id).await
}

/// Approve or reject a pending application (admins, where the rules do not
/// put applications to a vote).
pub async fn decide(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    id: i64,
    approve: bool,
    by: &Actor,
) -> Result<Request> {
    let req = get(db, coop.id, id).await?;
    let (_, rules) = rules::current(db, coop.id).await?;
    if rules.membership.approval == rules::Approval::Vote {
        return Err(Error::Forbidden(
            "applications to this coop are decided by the members' vote (an admit-member proposal)"
                .into(),
        ));
    }
    if req.kind != "application" || req.status != "pending" {
        return Err(Error::Conflict(format!(
            "request {id} is a {} that is {}, not a pending application",
            req.kind, req.status
        )));
    }
    if approve {
        join(db, clock, coop, &req, None, Some(by)).await?;
    } else {
        sqlx::query(
            "UPDATE membership_requests SET status = 'rejected', decided_by = $1, decided_at = $2 WHERE id = $3",
        )
        .bind(by.member_id)
        .bind(clock.now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    }
    get(db, coop.id, id).await
}

async fn record_status(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    status: &str,
    reason: &str,
    by: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_status_history (coop_id, member_id, status, reason, changed_by, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(status)
    .bind(reason)
    .bind(by)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Change `member_id`'s status from `from` to `to` and date it, in the
/// caller's transaction. Returns the change's id (a deactivation's decision
/// id). A member whose status is no longer `from` (a concurrent change won)
/// is a conflict.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn change_status_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    member_id: i64,
    from: &str,
    to: &str,
    reason: &str,
    by: Option<i64>,
    now: i64,
) -> Result<i64> {
    let updated = sqlx::query(
        "UPDATE members SET status = $1 WHERE coop_id = $2 AND id = $3 AND status = $4",
    )
    .bind(to)
    .bind(coop_id)
    .bind(member_id)
    .bind(from)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(format!(
            "member {member_id}'s status changed meanwhile (it was {from}): look again and retry"
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO member_status_history (coop_id, member_id, status, reason, changed_by, at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(to)
    .bind(reason)
    .bind(by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    Ok(id)
}

/// A dated status change.
#[derive(Clone, Debug, Serialize)]
pub struct StatusChange {
    /// Its id; for a suspension or removal, the decision a member appeals.
    pub id: i64,
    /// The new status.
    pub status: String,
    /// Why.
    pub reason: String,
    /// Who changed it (none for the member themself or the host).
    pub changed_by: Option<i64>,
    /// When.
    pub at: i64,
}

/// A member's status history, oldest first.
pub async fn status_history(db: &Db, coop_id: i64, member_id: i64) -> Result<Vec<StatusChange>> {
    let rows = sqlx::query(
        "SELECT id, status, reason, changed_by, at FROM member_status_history WHERE coop_id = $1 AND member_id = $2 ORDER BY id",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| StatusChange {
            id: r.get(0),
            status: r.get(1),
            reason: r.get(2),
            changed_by: r.get(3),
            at: r.get(4),
        })
        .collect())
}

/// Reactivate a member (`active`: admins) or leave (`left`: the member
/// themself), with a reason, dated and recorded in the decision log.
/// Leaving refunds shares per the rules. Suspending and removing are
/// deactivations, decided through [`crate::moderation::deactivation`]
/// with their appeal; "left" is only ever the member's own choice.
pub async fn set_status(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    status: &str,
    reason: &str,
    by: &Actor,
    now: i64,
) -> Result<Option<i64>> {
    match status {
        "active" | "left" => {}
        "suspended" | "removed" => {
            return Err(Error::Invalid(format!(
                "{status} is a deactivation: decide it with crate::moderation::deactivation::deactivate"
            )));
        }
        _ => {
            return Err(Error::Invalid(format!(
                "status {status:?} is not active, suspended, removed or left"
            )));
        }
    }
    if by.service_key.is_some() {
        return Err(Error::Forbidden(
            crate::moderation::AUTOMATED_REFUSAL.into(),
        ));
    }
    if status == "left" && by.member_id != Some(member_id) {
        return Err(Error::Forbidden(
            "\"left\" is a member's own choice: to end someone's membership, remove them (status \"removed\", with a reason they can appeal)".into(),
        ));
    }
    if reason.trim().is_empty() || reason.len() > 2_000 {
        return Err(Error::Invalid(
            "give a reason of 1 to 2000 characters".into(),
        ));
    }
    let m = identity::get_member(db, coop_id, member_id).await?;
    if m.status == "left" {
        return Err(Error::Conflict(format!(
            "member {member_id} has left the coop"
        )));
    }
    if m.status == status {
        return Err(Error::Conflict(format!(
            "member {member_id} is already {status}"
        )));
    }
    sqlx::query("UPDATE members SET status = $1 WHERE coop_id = $2 AND id = $3")
        .bind(status)
        .bind(coop_id)
        .bind(member_id)
        .execute(&db.pool)
        .await?;
    record_status(
        db,
        coop_id,
        member_id,
        status,
        reason.trim(),
        by.member_id,
        now,
    )
    .await?;
    let mut refunded = None;
    if status == "left" {
        let (_, rules) = rules::current(db, coop_id).await?;
        if rules.membership.refund_on_leave {
            refunded = refund_shares(db, coop_id, member_id, now).await?;
        }
    }
    chain::append(
        db,
        super::proposals::DECISIONS,
        coop_id,
        &NewEntry {
            kind: "member.status".into(),
            body: json!({"member": member_id, "status": status, "by": by.member_id,
                "refunded": refunded}),
            personal: Some(json!({"reason": reason.trim()})),
        },
        now,
    )
    .await?;
    if status == "active" {
        crate::moderation::deactivation::notify_reactivated(
            db,
            coop_id,
            member_id,
            &m.status,
            reason.trim(),
            now,
        )
        .await?;
    }
    Ok(refunded)
}

/// A member's shares.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Shares {
    /// How many.
    pub shares: i64,
    /// Nominal value each, minor units.
    pub nominal: i64,
    /// Currency.
    pub currency: String,
}

/// The shares `member_id` holds.
pub async fn shares(db: &Db, coop_id: i64, member_id: i64) -> Result<Shares> {
    let row = sqlx::query(
        "SELECT shares, nominal, currency FROM member_shares WHERE coop_id = $1 AND member_id = $2",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => Shares {
            shares: r.get(0),
            nominal: r.get(1),
            currency: r.get(2),
        },
        None => Shares {
            shares: 0,
            nominal: 0,
            currency: "EUR".into(),
        },
    })
}

/// Record `count` shares bought by `member_id` at the coop's nominal value,
/// paid from outside (card or transfer) into the share capital, under
/// `payment_ref` (one purchase per reference).
pub async fn buy_shares(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    count: i64,
    payment_ref: &str,
    now: i64,
) -> Result<Shares> {
    let (_, rules) = rules::current(db, coop_id).await?;
    let MembershipRules {
        share_nominal,
        share_currency,
        ..
    } = rules.membership;
    if share_nominal <= 0 {
        return Err(Error::Conflict(
            "this coop has no shares (share_nominal is 0)".into(),
        ));
    }
    if !(1..=10_000).contains(&count) {
        return Err(Error::Invalid("buy 1 to 10000 shares at a time".into()));
    }
    let currency = Currency::parse(&share_currency).map_err(|e| Error::Invalid(e.to_string()))?;
    let held = shares(db, coop_id, member_id).await?;
    if held.shares > 0 && held.nominal != share_nominal {
        return Err(Error::Conflict(
            "the share's nominal value changed since this member's first shares: refund and buy again".into(),
        ));
    }
    let amount = share_nominal
        .checked_mul(count)
        .ok_or_else(|| Error::Invalid("too many shares".into()))?;
    let tx = Transaction {
        idempotency_key: format!("shares:{member_id}:{payment_ref}"),
        kind: "shares.buy".into(),
        memo: format!("member {member_id} buys {count} share(s) of {share_nominal}"),
        postings: vec![
            Posting::new(AccountKind::ExternalClearing, -amount, currency),
            Posting::new(AccountKind::ShareCapital, amount, currency),
        ],
        created_at: now,
    };
    let mut dbtx = db.begin_write().await?;
    let posted = repo::post_in(&mut dbtx, coop_id, &tx).await?;
    if !posted.replayed {
        sqlx::query(
            "INSERT INTO member_shares (coop_id, member_id, shares, nominal, currency, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (coop_id, member_id) DO UPDATE SET \
             shares = member_shares.shares + excluded.shares, nominal = excluded.nominal, \
             currency = excluded.currency, updated_at = excluded.updated_at",
        )
        .bind(coop_id)
        .bind(member_id)
        .bind(count)
        .bind(share_nominal)
        .bind(currency.as_str())
        .bind(now)
        .execute(&mut *dbtx)
        .await?;
    }
    dbtx.commit().await?;
    shares(db, coop_id, member_id).await
}

/// Refund all of a member's shares at nominal value into their wallet.
/// Returns the amount, or `None` without shares.
async fn refund_shares(db: &Db, coop_id: i64, member_id: i64, now: i64) -> Result<Option<i64>> {
    let held = shares(db, coop_id, member_id).await?;
    if held.shares <= 0 {
        return Ok(None);
    }
    let currency = Currency::parse(&held.currency).map_err(|e| Error::Internal(e.into()))?;
    let amount = held.shares * held.nominal;
    let tx = Transaction {
        idempotency_key: format!("shares-refund:{member_id}:{now}"),
        kind: "shares.refund".into(),
        memo: format!("member {member_id} left: {} share(s) refunded", held.shares),
        postings: vec![
            Posting::new(AccountKind::ShareCapital, -amount, currency),
            Posting::new(AccountKind::MemberWallet(member_id), amount, currency),
        ],
        created_at: now,
    };
    let mut dbtx = db.begin_write().await?;
    repo::post_in(&mut dbtx, coop_id, &tx).await?;
    sqlx::query("UPDATE member_shares SET shares = 0, updated_at = $1 WHERE coop_id = $2 AND member_id = $3")
        .bind(now)
        .bind(coop_id)
        .bind(member_id)
        .execute(&mut *dbtx)
        .await?;
    dbtx.commit().await?;
    Ok(Some(amount))
}
