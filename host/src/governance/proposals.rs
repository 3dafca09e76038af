//! Proposals, votes and decisions that apply themselves.
//!
//! A member opens a proposal of a [`Kind`] with the change it makes; the
//! voting rules of that kind (method, quorum, threshold, shortest window)
//! are fixed on the proposal when it opens. Members vote and may change
//! their vote until the window closes. At the close the scheduler tallies
//! the recorded votes ([`super::tally`]), records the decision in the
//! hash-chained decision log, notifies every member, and, if it passed,
//! schedules the change at its effective date, when the host applies it
//! and records that too. What a kind covers can otherwise be changed only
//! by admins whose coop's rules still allow it ([`direct_change`]), and
//! such a change is recorded the same way.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

use super::rules::{self, Kind, Rules};
use super::tally::{self, Ballot, Choice, College, Electorate, Tally, VoteRules};
use crate::app::App;
use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ledger::policies::{self, NewFloor, OnShortfall};
use crate::ledger::split::SplitTerms;
use crate::{identity, plugins, scheduler};

/// The decision log's chain name.
pub const DECISIONS: &str = "decisions";
/// Scheduler job: close a proposal's vote.
pub const CLOSE_JOB: &str = "governance.close";
/// Scheduler job: apply a passed proposal at its effective date.
pub const APPLY_JOB: &str = "governance.apply";
const HOUR_MS: i64 = 3_600_000;

/// What a proposal changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Change {
    /// Set a plugin's configuration value.
    SetConfig {
        /// The plugin's name.
        plugin: String,
        /// The parameter, as the plugin's manifest declares it.
        name: String,
        /// The new value.
        value: Value,
    },
    /// Adopt a value split policy.
    SetSplit {
        /// The terms.
        terms: SplitTerms,
    },
    /// Set the hourly earnings floor.
    SetFloor {
        /// Minor units per on-shift hour.
        per_hour: i64,
        /// ISO 4217 code.
        currency: String,
        /// Top up or flag a shortfall.
        #[serde(default)]
        on_shortfall: OnShortfall,
    },
    /// Grant a member a role.
    GrantRole {
        /// The member.
        member: i64,
        /// The role.
        role: String,
    },
    /// Revoke a role from a member.
    RevokeRole {
        /// The member.
        member: i64,
        /// The role.
        role: String,
    },
    /// Replace the governance rules.
    SetRules {
        /// The new rules.
        rules: Rules,
    },
    /// A resolution: recorded, nothing else changes.
    Resolution {},
    /// Install a staged component (`POST .../components`), or upgrade the
    /// plugin of the same name, with the capabilities listed.
    InstallPlugin {
        /// SHA-256 of the staged component.
        sha256: String,
        /// The plugin's manifest (`plugin.toml`), TOML text.
        manifest: String,
        /// The `coop:host` interfaces granted; all it imports when absent.
        grants: Option<Vec<String>>,
        /// What an import not granted does: `refuse` (the default) or `stub`.
        #[serde(default)]
        ungranted: Option<plugins::Ungranted>,
    },
    /// Admit the applicant of a pending application.
    AdmitMember {
        /// The application's id.
        application: i64,
    },
    /// Roll a plugin back to its previous installed version.
    RollbackPlugin {
        /// The plugin's name.
        name: String,
    },
    /// Remove a plugin (its data is kept).
    RemovePlugin {
        /// The plugin's name.
        name: String,
    },
    /// Set a plugin's limit overrides (`{}`: the host's defaults), each at
    /// most the ceiling the host operator set for the coop.
    SetLimits {
        /// The plugin's name.
        plugin: String,
        /// Limit names to positive integers (`deadline_ms`, ...).
        limits: Value,
    },
    /// Publish a new version of the terms of service; it takes effect when
    /// the coop's notice period has run from the day it is applied.
    AdoptTerms {
        /// The full text of the new version.
        text: String,
    },
}

impl Change {
    /// The kind of proposal this change needs.
    pub fn kind(&self) -> Kind {
        match self {
            Change::SetConfig { .. } => Kind::SetConfig,
            Change::SetSplit { .. } => Kind::SetSplit,
            Change::SetFloor { .. } => Kind::SetFloor,
            Change::GrantRole { .. } => Kind::GrantRole,
            Change::RevokeRole { .. } => Kind::RevokeRole,
            Change::SetRules { .. } => Kind::SetRules,
            Change::Resolution {} => Kind::Resolution,
            Change::AdoptTerms { .. } => Kind::AdoptTerms,
            Change::InstallPlugin { .. }
            | Change::RollbackPlugin { .. }
            | Change::RemovePlugin { .. }
            | Change::SetLimits { .. } => Kind::Plugin,
            Change::AdmitMember { .. } => Kind::AdmitMember,
        }
    }

    /// Check the change could apply now (the plugin and parameter exist,
    /// the terms and rules are valid, the member exists), so a proposal
    /// that could never apply is refused when it is opened.
    pub async fn check(&self, db: &Db, coop_id: i64) -> Result<()> {
        match self {
            Change::SetConfig {
                plugin,
                name,
                value,
            } => {
                let installed = plugins::get(db, coop_id, plugin).await?;
                let param = installed.manifest.config.get(name).ok_or_else(|| {
                    Error::Invalid(format!(
                        "plugin {plugin} has no configuration value {name:?}"
                    ))
                })?;
                param.kind.check(name, value)?;
            }
            Change::SetSplit { terms } => {
                crate::ledger::split::SplitPolicy {
                    version: 1,
                    effective_from: 0,
                    terms: terms.clone(),
                }
                .validate()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            }
            Change::SetFloor {
                per_hour, currency, ..
            } => {
                if *per_hour <= 0 {
                    return Err(Error::Invalid("per_hour must be positive".into()));
                }
                crate::ledger::money::Currency::parse(currency)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
            }
            Change::GrantRole { member, .. } | Change::RevokeRole { member, .. } => {
                identity::get_member(db, coop_id, *member).await?;
            }
            Change::SetRules { rules } => rules.validate()?,
            Change::Resolution {} => {}
            Change::InstallPlugin {
                sha256,
                manifest,
                grants,
                ..
            } => {
                // Staged by this coop (or installed in it before): a coop
                // cannot install what another coop uploaded by its hash.
                if !plugins::staging::available_to(db, coop_id, sha256).await? {
                    return Err(Error::Invalid(format!(
                        "no staged component {sha256}: upload it first (POST /v1/coops/{{coop}}/components)"
                    )));
                }
                plugins::manifest::Manifest::parse(manifest)?;
                if let Some(g) = grants
                    && let Some(bad) = g
                        .iter()
                        .find(|i| !crate::runtime::GRANTABLE.contains(&i.as_str()))
                {
                    return Err(Error::Invalid(format!(
                        "{bad:?} is not a grantable interface: {}",
                        crate::runtime::GRANTABLE.join(", ")
                    )));
                }
            }
            Change::RollbackPlugin { name } | Change::RemovePlugin { name } => {
                plugins::get(db, coop_id, name).await?;
            }
            Change::SetLimits { plugin, limits } => {
                plugins::get(db, coop_id, plugin).await?;
                plugins::check_limits(db, coop_id, limits).await?;
            }
            Change::AdmitMember { application } => {
                let r = super::membership::get(db, coop_id, *application).await?;
                if r.kind != "application" || r.status != "pending" {
                    return Err(Error::Invalid(format!(
                        "request {application} is not a pending application"
                    )));
                }
            }
            Change::AdoptTerms { text } => {
                if text.trim().is_empty() || text.len() > super::terms::MAX_TERMS_BYTES {
                    return Err(Error::Invalid(format!(
                        "terms text must be 1 to {} bytes",
                        super::terms::MAX_TERMS_BYTES
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A proposal to open.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProposal {
    /// A short title.
    pub title: String,
    /// The full text: what and why.
    #[serde(default)]
    pub body: String,
    /// What it changes.
    pub change: Change,
    /// Voting window in hours (at least the kind's minimum, which is the
    /// default).
    pub window_hours: Option<u32>,
    /// When the change takes effect if it passes, ms since the epoch (at
    /// the earliest the close plus the kind's minimum delay, the default).
    pub effective_at: Option<i64>,
}

/// A proposal as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Proposal {
    /// Id.
    pub id: i64,
    /// Its kind.
    pub kind: Kind,
    /// Title.
    pub title: String,
    /// Full text.
    pub body: String,
    /// What it changes.
    pub change: Change,
    /// The voting rules fixed when it opened.
    pub rules: VoteRules,
    /// Who opened it.
    pub proposer: i64,
    /// When voting opened.
    pub opens_at: i64,
    /// When voting closes.
    pub closes_at: i64,
    /// When the change takes effect if it passes.
    pub effective_at: i64,
    /// `open`, `passed`, `rejected`, `applied` or `failed`.
    pub status: String,
    /// The tally, once closed.
    pub tally: Option<Tally>,
    /// What applying it did, or why it failed.
    pub outcome: Option<String>,
}

const COLUMNS: &str = "id, kind, title, body, change, rules, proposer, opens_at, closes_at, effective_at, status, tally, outcome";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Proposal> {
    let bad = |e: serde_json::Error| Error::Internal(anyhow::anyhow!("stored proposal: {e}"));
    let kind: Kind = serde_json::from_value(Value::String(r.get(1))).map_err(bad)?;
    Ok(Proposal {
        id: r.get(0),
        kind,
        title: r.get(2),
        body: r.get(3),
        change: serde_json::from_str(&r.get::<String, _>(4)).map_err(bad)?,
        rules: serde_json::from_str(&r.get::<String, _>(5)).map_err(bad)?,
        proposer: r.get(6),
        opens_at: r.get(7),
        closes_at: r.get(8),
        effective_at: r.get(9),
        status: r.get(10),
        tally: r
            .get::<Option<String>, _>(11)
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(bad)?,
        outcome: r.get(12),
    })
}

/// One proposal of coop `coop_id`.
pub async fn get(db: &Db, coop_id: i64, id: i64) -> Result<Proposal> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no proposal {id} in this coop")))?;
    from_row(&row)
}

/// The coop's proposals, newest first.
pub async fn list(db: &Db, coop_id: i64, limit: i64) -> Result<Vec<Proposal>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE coop_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(coop_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

async fn notify_members(
    db: &Db,
    coop_id: i64,
    topic: &str,
    payload: &Value,
    now: i64,
) -> Result<()> {
    let members: Vec<i64> =
        sqlx::query("SELECT id FROM members WHERE coop_id = $1 AND status = 'active'")
            .bind(coop_id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    let text = payload.to_string();
    let mut tx = db.begin_write().await?;
    for m in members {
        sqlx::query(
            "INSERT INTO events (coop_id, plugin, topic, payload, member_id, created_at) \
             VALUES ($1, 'coophost', $2, $3, $4, $5)",
        )
        .bind(coop_id)
        .bind(topic)
        .bind(&text)
        .bind(m)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Refuse unless `member_id` is an active member of the coop: suspended,
/// removed and departed members neither vote nor propose.
async fn require_active(db: &Db, coop_id: i64, member_id: i64, what: &str) -> Result<()> {
    match identity::member_status(db, coop_id, member_id).await? {
        Some(s) if s == "active" => Ok(()),
        Some(s) => Err(Error::Forbidden(format!(
            "member {member_id} is {s}: only active members {what}"
        ))),
        None => Err(Error::NotFound(format!(
            "no member {member_id} in this coop"
        ))),
    }
}

/// Open a proposal by member `proposer` (0: the host itself, for an
/// application put to the vote).
pub async fn open(
    db: &Db,
    coop_id: i64,
    proposer: i64,
    new: &NewProposal,
    now: i64,
) -> Result<Proposal> {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(Error::Invalid("title must be 1 to 200 characters".into()));
    }
    if new.body.len() > 20_000 {
        return Err(Error::Invalid("body must be at most 20000 bytes".into()));
    }
    if proposer != 0 {
        require_active(db, coop_id, proposer, "open a proposal").await?;
    }
    new.change.check(db, coop_id).await?;
    let kind = new.change.kind();
    let (_, rules) = rules::current(db, coop_id).await?;
    let kr = rules.for_kind(kind).clone();
    let window = new.window_hours.unwrap_or(kr.min_window_hours);
    if window < kr.min_window_hours {
        return Err(Error::Invalid(format!(
            "{} proposals stay open at least {} hours; {window} asked",
            kind.name(),
            kr.min_window_hours
        )));
    }
    let closes_at = now + i64::from(window) * HOUR_MS;
    let earliest = closes_at + i64::from(kr.min_delay_hours) * HOUR_MS;
    let effective_at = new.effective_at.unwrap_or(earliest);
    if effective_at < earliest {
        return Err(Error::Invalid(format!(
            "effective_at {effective_at} is before the earliest date this kind allows ({earliest}: the close plus {} hours)",
            kr.min_delay_hours
        )));
    }
    let change = serde_json::to_string(&new.change).map_err(|e| Error::Internal(e.into()))?;
    let vote_rules = serde_json::to_string(&kr.vote).map_err(|e| Error::Internal(e.into()))?;
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO proposals (coop_id, kind, title, body, change, rules, proposer, opens_at, closes_at, \
         effective_at, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $8) RETURNING id",
    )
    .bind(coop_id)
    .bind(kind.name())
    .bind(title)
    .bind(&new.body)
    .bind(&change)
    .bind(&vote_rules)
    .bind(proposer)
    .bind(now)
    .bind(closes_at)
    .bind(effective_at)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "proposal.opened".into(),
            body: json!({"proposal": id, "kind": kind, "title": title, "change": new.change,
                "rules": kr.vote, "proposer": proposer, "closes_at": closes_at, "effective_at": effective_at}),
            personal: None,
        },
        now,
    )
    .await?;
    scheduler::schedule_in(
        &mut tx,
        Some(coop_id),
        CLOSE_JOB,
        Some(&format!("{CLOSE_JOB}:{id}")),
        &json!({"proposal": id}),
        closes_at,
        now,
    )
    .await?;
    tx.commit().await?;
    notify_members(
        db,
        coop_id,
        "governance.proposal-opened",
        &json!({"proposal": id, "title": title, "kind": kind, "closes_at": closes_at}),
        now,
    )
    .await?;
    get(db, coop_id, id).await
}

/// Record (or change) `member`'s vote on an open proposal.
pub async fn vote(
    db: &Db,
    coop_id: i64,
    id: i64,
    member: &identity::Actor,
    choice: Choice,
    reason: &str,
    now: i64,
) -> Result<()> {
    let member_id = member
        .member_id
        .ok_or_else(|| Error::Forbidden("only members vote".into()))?;
    // Checked here as well as by the route: a ballot on record was cast
    // while its member was active, which is what the tally relies on.
    require_active(db, coop_id, member_id, "vote").await?;
    let (_, rules) = super::rules::current(db, coop_id).await?;
    if rules.membership.vote_requires_share
        && super::membership::shares(db, coop_id, member_id)
            .await?
            .shares
            < 1
    {
        return Err(Error::Forbidden(
            "this coop's rules let members vote once they hold at least one share \
             (membership.vote_requires_share): buy one at POST .../me/shares"
                .into(),
        ));
    }
    let p = get(db, coop_id, id).await?;
    if p.status != "open" || now >= p.closes_at {
        return Err(Error::Conflict(format!(
            "proposal {id} is closed for voting (it closed at {})",
            p.closes_at
        )));
    }
    if now < p.opens_at {
        return Err(Error::Conflict(format!("proposal {id} is not open yet")));
    }
    tally::validate_ballot(&p.rules.method, &choice, reason)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if reason.len() > 2_000 {
        return Err(Error::Invalid("reason must be at most 2000 bytes".into()));
    }
    let choice_name = serde_json::to_value(&choice)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO votes (proposal_id, member_id, college, choice, reason, cast_at, changes) \
         VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (proposal_id, member_id) DO UPDATE SET \
         choice = excluded.choice, reason = excluded.reason, cast_at = excluded.cast_at, \
         college = excluded.college, changes = votes.changes + 1",
    )
    .bind(id)
    .bind(member_id)
    .bind(member.college.clone())
    .bind(choice_name)
    .bind(reason.trim())
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The recorded votes of a proposal, by member id.
pub async fn ballots(db: &Db, id: i64) -> Result<Vec<Ballot>> {
    let rows = sqlx::query(
        "SELECT member_id, college, choice, reason FROM votes WHERE proposal_id = $1 ORDER BY member_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let choice: Choice = serde_json::from_value(Value::String(r.get(2)))
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored vote: {e}")))?;
            Ok(Ballot {
                member_id: r.get(0),
                college: r.get(1),
                choice,
                reason: r.get(3),
            })
        })
        .collect()
}

/// Who may vote, per college, now: the active members (holding a share,
/// where the rules require one). (Members whose ballot is on record but
/// who are no longer entitled are added by the tally: see [`tally`]'s
/// "Who counts".)
pub async fn electorate(db: &Db, coop_id: i64, rules: &Rules) -> Result<Electorate> {
    let rows = sqlx::query(
        "SELECT m.id, m.college FROM members m WHERE m.coop_id = $1 AND m.status = 'active' \
         AND ($2 = 0 OR EXISTS (SELECT 1 FROM member_shares s WHERE s.coop_id = m.coop_id \
         AND s.member_id = m.id AND s.shares > 0)) ORDER BY m.id",
    )
    .bind(coop_id)
    .bind(i64::from(rules.membership.vote_requires_share))
    .fetch_all(&db.pool)
    .await?;
    let colleges: Vec<Option<String>> = rows.iter().map(|r| r.get(1)).collect();
    Ok(Electorate {
        members: Some(rows.iter().map(|r| r.get(0)).collect()),
        eligible: colleges.len() as u32,
        colleges: rules
            .colleges
            .iter()
            .map(|c| College {
                name: c.name.clone(),
                weight_bp: c.weight_bp,
                eligible: colleges
                    .iter()
                    .filter(|m| m.as_deref() == Some(c.name.as_str()))
                    .count() as u32,
            })
            .collect(),
    })
}

/// Close a proposal whose window has ended: tally, record, notify, and
/// schedule the change if it passed. Closing a closed proposal returns it.
pub async fn close(db: &Db, coop_id: i64, id: i64, now: i64) -> Result<Proposal> {
    let p = get(db, coop_id, id).await?;
    if p.status != "open" {
        return Ok(p);
    }
    if now < p.closes_at {
        return Err(Error::Conflict(format!(
            "proposal {id} is still open until {}",
            p.closes_at
        )));
    }
    let (_, rules) = rules::current(db, coop_id).await?;
    let electorate = electorate(db, coop_id, &rules).await?;
    let ballots = ballots(db, id).await?;
    let t = match tally::tally(&p.rules, &electorate, &ballots) {
        Ok(t) => t,
        Err(e) => {
            // The votes cannot be counted under the rules in force now (a
            // college was removed while the vote was open): the proposal
            // fails, saying why, rather than staying open for ever.
            let why = format!("the votes could not be counted: {e}");
            let mut tx = db.begin_write().await?;
            let failed = sqlx::query(
                "UPDATE proposals SET status = 'failed', outcome = $1, closed_at = $2 WHERE id = $3 AND status = 'open'",
            )
            .bind(&why)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if failed.rows_affected() == 0 {
                // Another worker closed it meanwhile: its record stands.
                tx.rollback().await?;
                return get(db, coop_id, id).await;
            }
            chain::append_in(
                &mut tx,
                DECISIONS,
                coop_id,
                &NewEntry {
                    kind: "proposal.failed".into(),
                    body: json!({"proposal": id, "kind": p.kind, "outcome": why, "ballots": ballots}),
                    personal: None,
                },
                now,
            )
            .await?;
            tx.commit().await?;
            return get(db, coop_id, id).await;
        }
    };
    let status = if t.passed { "passed" } else { "rejected" };
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE proposals SET status = $1, tally = $2, closed_at = $3 WHERE id = $4 AND status = 'open'",
    )
    .bind(status)
    .bind(serde_json::to_string(&t).map_err(|e| Error::Internal(e.into()))?)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        // Another worker closed it meanwhile: its record stands.
        tx.rollback().await?;
        return get(db, coop_id, id).await;
    }
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "proposal.decided".into(),
            body: json!({"proposal": id, "kind": p.kind, "status": status, "tally": t,
                "ballots": ballots, "effective_at": p.effective_at}),
            personal: None,
        },
        now,
    )
    .await?;
    if t.passed {
        scheduler::schedule_in(
            &mut tx,
            Some(coop_id),
            APPLY_JOB,
            Some(&format!("{APPLY_JOB}:{id}")),
            &json!({"proposal": id}),
            p.effective_at,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    notify_members(
        db,
        coop_id,
        "governance.decided",
        &json!({"proposal": id, "title": p.title, "status": status,
            "explanation": t.explanation, "effective_at": p.effective_at}),
        now,
    )
    .await?;
    get(db, coop_id, id).await
}

/// What applying a change did, and what to announce once it committed.
struct Performed {
    /// A sentence saying what changed.
    outcome: String,
    /// An event for every member (topic, payload), sent after the commit.
    notice: Option<(&'static str, Value)>,
}

impl Performed {
    fn said(outcome: String) -> Performed {
        Performed {
            outcome,
            notice: None,
        }
    }
}

/// Whether `change` is rows of the database only, so that it, its
/// proposal's new status and its decision-log entry commit in one
/// transaction. Plugin changes also compile and swap what the host has
/// loaded, and an admission spans the identity and membership modules'
/// own transactions: those take the other paths of [`apply`].
fn in_one_transaction(change: &Change) -> bool {
    !matches!(
        change,
        Change::InstallPlugin { .. }
            | Change::RollbackPlugin { .. }
            | Change::RemovePlugin { .. }
            | Change::AdmitMember { .. }
    )
}

/// Apply a change that [`in_one_transaction`] inside the caller's
/// transaction.
async fn perform_in(
    app: &App,
    tx: &mut sqlx::AnyConnection,
    coop_id: i64,
    change: &Change,
    why: &str,
    proposal: Option<i64>,
    now: i64,
) -> Result<Performed> {
    let db = &app.db;
    Ok(match change {
        Change::SetConfig {
            plugin,
            name,
            value,
        } => {
            let installed = plugins::get(db, coop_id, plugin).await?;
            plugins::set_config_in(tx, now, coop_id, &installed.manifest, name, value).await?;
            Performed::said(format!("{plugin}.{name} set to {value}"))
        }
        Change::SetSplit { terms } => {
            let r = policies::set_split_in(tx, coop_id, terms.clone(), now, None, why, now).await?;
            Performed::said(format!(
                "split policy version {} in effect",
                r.policy.version
            ))
        }
        Change::SetFloor {
            per_hour,
            currency,
            on_shortfall,
        } => {
            let r = policies::set_floor_in(
                tx,
                coop_id,
                &NewFloor {
                    per_hour: *per_hour,
                    currency: currency.clone(),
                    effective_from: Some(now),
                    on_shortfall: *on_shortfall,
                    reason: why.to_string(),
                },
                None,
                now,
            )
            .await?;
            Performed::said(format!(
                "earnings floor version {} in effect: {per_hour} per hour",
                r.version
            ))
        }
        Change::GrantRole { member, role } | Change::RevokeRole { member, role } => {
            let m = identity::get_member(db, coop_id, *member).await?;
            let mut roles = m.roles.clone();
            let grant = matches!(change, Change::GrantRole { .. });
            if grant && !roles.contains(role) {
                roles.push(role.clone());
            } else if !grant {
                roles.retain(|r| r != role);
            }
            identity::set_roles_in(tx, coop_id, *member, &roles).await?;
            Performed::said(format!(
                "member {member} now has roles {}",
                roles.join(", ")
            ))
        }
        Change::SetRules { rules } => {
            let v = rules::store_in(tx, coop_id, rules, now).await?;
            Performed::said(format!("governance rules version {v} in force"))
        }
        Change::Resolution {} => Performed::said("resolution adopted".to_string()),
        Change::SetLimits { plugin, limits } => {
            plugins::set_limits_in(tx, db, coop_id, plugin, limits).await?;
            Performed::said(format!("{plugin} limits set to {limits}"))
        }
        Change::AdoptTerms { text } => {
            let (_, rules) = rules::current(db, coop_id).await?;
            let v = super::terms::publish_in(
                tx,
                coop_id,
                text,
                rules.terms_notice_days,
                None,
                proposal,
                now,
            )
            .await?;
            // Publishing tells every member (inbox and mail) in the same
            // transaction.
            Performed::said(format!(
                "terms version {} published, in effect from {}",
                v.version, v.effective_at
            ))
        }
        Change::InstallPlugin { .. }
        | Change::RollbackPlugin { .. }
        | Change::RemovePlugin { .. }
        | Change::AdmitMember { .. } => {
            return Err(Error::Internal(anyhow::anyhow!(
                "{} changes do not apply in one transaction",
                change.kind().name()
            )));
        }
    })
}

/// Apply a change that is not [`in_one_transaction`]. A plugin change runs
/// `check` inside the transaction that switches the plugin, so the switch
/// commits only if the check passes (see [`apply`]).
async fn perform_outside(
    app: &App,
    coop_id: i64,
    change: &Change,
    check: Option<plugins::lifecycle::SwitchCheck>,
) -> Result<String> {
    let db = &app.db;
    Ok(match change {
        Change::InstallPlugin {
            sha256,
            manifest,
            grants,
            ungranted,
        } => {
            let coop = identity::find_coop_by_id(db, coop_id).await?;
            let bytes: Vec<u8> = sqlx::query("SELECT bytes FROM components WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&db.pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("component {sha256} is gone")))?
                .get(0);
            let opts = plugins::lifecycle::InstallOptions {
                grants: match grants {
                    None => plugins::Grants::All,
                    Some(g) => plugins::Grants::Only {
                        interfaces: g.clone(),
                        ungranted: ungranted.unwrap_or(plugins::Ungranted::Refuse),
                    },
                },
                ..Default::default()
            };
            let r = plugins::lifecycle::install_checked(app, &coop, &bytes, manifest, &opts, check)
                .await?;
            installed_outcome(&r.plugin.name, r.replaced.as_deref(), &r.plugin.version)
        }
        Change::AdmitMember { application } => {
            let coop = identity::find_coop_by_id(db, coop_id).await?;
            let r = super::membership::admit_by_vote(db, &*app.clock, &coop, *application).await?;
            format!(
                "{} admitted as member {}",
                r.email,
                r.member_id.unwrap_or(0)
            )
        }
        Change::RollbackPlugin { name } => {
            let coop = identity::find_coop_by_id(db, coop_id).await?;
            let p = plugins::lifecycle::rollback_checked(app, &coop, name, check).await?;
            format!("{name} rolled back to {}", p.version)
        }
        Change::RemovePlugin { name } => {
            let coop = identity::find_coop_by_id(db, coop_id).await?;
            plugins::lifecycle::uninstall_checked(app, &coop, name, false, check).await?;
            format!("{name} removed (its data is kept)")
        }
        other => {
            return Err(Error::Internal(anyhow::anyhow!(
                "{} changes apply in one transaction",
                other.kind().name()
            )));
        }
    })
}

fn installed_outcome(name: &str, replaced: Option<&str>, version: &str) -> String {
    match replaced {
        Some(prev) => format!("{name} upgraded from {prev} to {version}"),
        None => format!("{name} {version} installed"),
    }
}

/// Move passed proposal `id` to `applied`, inside the caller's
/// transaction. False when it is no longer `passed`: another worker
/// applied it (or failed to), and the caller must roll back.
async fn mark_applied_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    id: i64,
    outcome: Option<&str>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE proposals SET status = 'applied', outcome = $1, applied_at = $2 \
         WHERE coop_id = $3 AND id = $4 AND status = 'passed'",
    )
    .bind(outcome)
    .bind(now)
    .bind(coop_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The decision-log entry saying what applying proposal `p` did.
async fn record_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    p: &Proposal,
    status: &str,
    outcome: &str,
    now: i64,
) -> Result<()> {
    chain::append_in(
        conn,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: format!("proposal.{status}"),
            body: json!({"proposal": p.id, "kind": p.kind, "change": p.change, "outcome": outcome}),
            personal: None,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Record that proposal `p` could not be applied, if it is still in
/// status `from` (`passed`, or `applied` for an admission that claimed
/// it first). False when another worker settled it meanwhile.
async fn record_failure(
    db: &Db,
    coop_id: i64,
    p: &Proposal,
    from: &str,
    why: &str,
    now: i64,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE proposals SET status = 'failed', outcome = $1, applied_at = $2 \
         WHERE coop_id = $3 AND id = $4 AND status = $5",
    )
    .bind(why)
    .bind(now)
    .bind(coop_id)
    .bind(p.id)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    record_in(&mut tx, coop_id, p, "failed", why, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// What [`apply`] settled: the status, the outcome and the announcement.
type Settled = Option<(&'static str, String, Option<(&'static str, Value)>)>;

/// A database-only change: the status moves from `passed` to `applied`
/// first (on PostgreSQL a second worker waits on that row, then finds it
/// applied), then the change and the decision-log entry, all in one
/// transaction.
async fn apply_in_one_transaction(
    app: &App,
    coop_id: i64,
    p: &Proposal,
    why: &str,
    now: i64,
) -> Result<Settled> {
    let mut tx = app.db.begin_write().await?;
    if !mark_applied_in(&mut tx, coop_id, p.id, None, now).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    match perform_in(app, &mut tx, coop_id, &p.change, why, Some(p.id), now).await {
        Ok(done) => {
            sqlx::query("UPDATE proposals SET outcome = $1 WHERE id = $2")
                .bind(&done.outcome)
                .bind(p.id)
                .execute(&mut *tx)
                .await?;
            record_in(&mut tx, coop_id, p, "applied", &done.outcome, now).await?;
            tx.commit().await?;
            Ok(Some(("applied", done.outcome, done.notice)))
        }
        Err(e) => {
            tx.rollback().await?;
            let why = e.to_string();
            Ok(record_failure(&app.db, coop_id, p, "passed", &why, now)
                .await?
                .then_some(("failed", why, None)))
        }
    }
}

/// A plugin change: the status change and the decision-log entry run
/// inside the transaction that switches the plugin (a
/// [`plugins::lifecycle::SwitchCheck`]), so the switch commits only for
/// the worker that moves the proposal from `passed`.
async fn apply_with_switch(app: &App, coop_id: i64, p: &Proposal, now: i64) -> Result<Settled> {
    let outcome = match &p.change {
        Change::InstallPlugin { manifest, .. } => {
            let m = plugins::manifest::Manifest::parse(manifest)?;
            let previous = match plugins::get(&app.db, coop_id, &m.plugin.name).await {
                Ok(prev) => Some(prev.version),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            installed_outcome(&m.plugin.name, previous.as_deref(), &m.plugin.version)
        }
        Change::RollbackPlugin { name } => {
            let current = plugins::get(&app.db, coop_id, name).await?;
            let to: Option<String> = sqlx::query(
                "SELECT version FROM plugins WHERE coop_id = $1 AND name = $2 AND id < $3 ORDER BY id DESC LIMIT 1",
            )
            .bind(coop_id)
            .bind(name)
            .bind(current.id)
            .fetch_optional(&app.db.pool)
            .await?
            .map(|r| r.get(0));
            format!("{name} rolled back to {}", to.unwrap_or_default())
        }
        Change::RemovePlugin { name } => format!("{name} removed (its data is kept)"),
        _ => String::new(),
    };
    let (proposal, said) = (p.clone(), outcome.clone());
    let check = plugins::lifecycle::switch_check(move |conn| {
        Box::pin(async move {
            if !mark_applied_in(conn, coop_id, proposal.id, Some(&said), now).await? {
                return Err(Error::Conflict(format!(
                    "proposal {} was applied by another worker",
                    proposal.id
                )));
            }
            record_in(conn, coop_id, &proposal, "applied", &said, now).await
        })
    });
    match perform_outside(app, coop_id, &p.change, Some(check)).await {
        Ok(_) => Ok(Some(("applied", outcome, None))),
        Err(e) => {
            let why = e.to_string();
            Ok(record_failure(&app.db, coop_id, p, "passed", &why, now)
                .await?
                .then_some(("failed", why, None)))
        }
    }
}

/// An admission: the proposal moves to `applied` in its own transaction
/// first, so only one worker admits; then the admission, then its
/// outcome (or `failed`). The admission runs in the identity and
/// membership modules' own transactions; a host that stops between the
/// two steps leaves the proposal `applied` without an outcome, never a
/// member admitted twice.
async fn apply_claimed_first(app: &App, coop_id: i64, p: &Proposal, now: i64) -> Result<Settled> {
    let mut tx = app.db.begin_write().await?;
    if !mark_applied_in(&mut tx, coop_id, p.id, None, now).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    match perform_outside(app, coop_id, &p.change, None).await {
        Ok(outcome) => {
            let mut tx = app.db.begin_write().await?;
            sqlx::query("UPDATE proposals SET outcome = $1 WHERE id = $2")
                .bind(&outcome)
                .bind(p.id)
                .execute(&mut *tx)
                .await?;
            record_in(&mut tx, coop_id, p, "applied", &outcome, now).await?;
            tx.commit().await?;
            Ok(Some(("applied", outcome, None)))
        }
        Err(e) => {
            let why = e.to_string();
            Ok(record_failure(&app.db, coop_id, p, "applied", &why, now)
                .await?
                .then_some(("failed", why, None)))
        }
    }
}

/// Apply a passed proposal (the scheduler calls this at its effective
/// date). Applying an applied or failed proposal returns it unchanged.
///
/// At most once, even when two workers run it side by side: the move from
/// `passed` and the change commit together (see [`in_one_transaction`] and
/// the paths below), and only the worker that made the move records the
/// decision and notifies the members.
pub async fn apply(app: &App, coop_id: i64, id: i64, now: i64) -> Result<Proposal> {
    let db = &app.db;
    let p = get(db, coop_id, id).await?;
    if p.status != "passed" {
        return Ok(p);
    }
    if now < p.effective_at {
        return Err(Error::Conflict(format!(
            "proposal {id} takes effect at {}",
            p.effective_at
        )));
    }
    let why = format!("proposal {id}: {}", p.title);
    let settled = if in_one_transaction(&p.change) {
        apply_in_one_transaction(app, coop_id, &p, &why, now).await?
    } else if matches!(p.change, Change::AdmitMember { .. }) {
        apply_claimed_first(app, coop_id, &p, now).await?
    } else {
        apply_with_switch(app, coop_id, &p, now).await?
    };
    if let Some((status, outcome, notice)) = settled {
        // New limits bind the plugin's next call on this host.
        if let Change::SetLimits { plugin, .. } = &p.change
            && let Ok(installed) = plugins::get(db, coop_id, plugin).await
        {
            app.unload(installed.id);
        }
        if let Some((topic, payload)) = notice {
            notify_members(db, coop_id, topic, &payload, now).await?;
        }
        notify_members(
            db,
            coop_id,
            &format!("governance.{status}"),
            &json!({"proposal": id, "title": p.title, "outcome": outcome}),
            now,
        )
        .await?;
    }
    get(db, coop_id, id).await
}

/// Refuse unless `actor` may change what `kind` covers without a vote:
/// an admin (or the host operator) of a coop whose rules still allow it.
pub async fn direct_allowed(
    db: &Db,
    coop_id: i64,
    actor: &identity::Actor,
    kind: Kind,
) -> Result<()> {
    let (_, rules) = rules::current(db, coop_id).await?;
    let is_admin = actor.has_role("admin") || actor.operator;
    if is_admin && rules.admins_may(kind) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "{} is decided by the members under this coop's rules: open a proposal (POST /v1/coops/{{coop}}/proposals)",
            kind.name()
        )))
    }
}

/// Record a change made without a vote in the decision log, like a
/// decision: who, what kind, what exactly.
pub async fn record_direct(
    db: &Db,
    coop_id: i64,
    actor: &identity::Actor,
    kind: Kind,
    what: Value,
    now: i64,
) -> Result<()> {
    chain::append(
        db,
        DECISIONS,
        coop_id,
        &direct_entry(actor, kind, what),
        now,
    )
    .await?;
    Ok(())
}

/// [`record_direct`] inside the caller's transaction, so the change and
/// its entry commit together or not at all.
pub async fn record_direct_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    actor: &identity::Actor,
    kind: Kind,
    what: Value,
    now: i64,
) -> Result<()> {
    chain::append_in(
        conn,
        DECISIONS,
        coop_id,
        &direct_entry(actor, kind, what),
        now,
    )
    .await?;
    Ok(())
}

fn direct_entry(actor: &identity::Actor, kind: Kind, what: Value) -> NewEntry {
    NewEntry {
        kind: "direct-change".into(),
        body: json!({"kind": kind, "change": what, "by": actor.member_id,
            "operator": actor.operator}),
        personal: None,
    }
}

/// Apply `change` without a vote, where [`direct_allowed`], and record it.
/// Returns what changed.
pub async fn direct_change(
    app: &App,
    coop_id: i64,
    actor: &identity::Actor,
    change: &Change,
    reason: &str,
    now: i64,
) -> Result<String> {
    let db = &app.db;
    direct_allowed(db, coop_id, actor, change.kind()).await?;
    change.check(db, coop_id).await?;
    if !in_one_transaction(change) {
        let outcome = perform_outside(app, coop_id, change, None).await?;
        record_direct(
            db,
            coop_id,
            actor,
            change.kind(),
            json!({"change": change, "reason": reason, "outcome": outcome}),
            now,
        )
        .await?;
        return Ok(outcome);
    }
    // The change and its decision-log entry commit together: no change
    // without its entry (a grant of a role, new limits), no entry without
    // its change.
    let mut tx = db.begin_write().await?;
    let done = perform_in(app, &mut tx, coop_id, change, reason, None, now).await?;
    record_direct_in(
        &mut tx,
        coop_id,
        actor,
        change.kind(),
        json!({"change": change, "reason": reason, "outcome": done.outcome}),
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some((topic, payload)) = &done.notice {
        notify_members(db, coop_id, topic, payload, now).await?;
    }
    Ok(done.outcome)
}

/// Recompute a closed proposal's tally from its recorded votes and the
/// current electorate and say whether it matches the published one.
pub async fn recount(db: &Db, coop_id: i64, id: i64) -> Result<(Tally, bool)> {
    let p = get(db, coop_id, id).await?;
    let published = p
        .tally
        .ok_or_else(|| Error::Conflict(format!("proposal {id} is not closed yet")))?;
    let (_, rules) = rules::current(db, coop_id).await?;
    let electorate = electorate(db, coop_id, &rules).await?;
    let t = tally::tally(&p.rules, &electorate, &ballots(db, id).await?)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let same = t == published;
    Ok((t, same))
}

/// Whether [`handle`] runs jobs of `kind`.
pub fn handles(kind: &str) -> bool {
    kind == CLOSE_JOB || kind == APPLY_JOB
}

/// Run a governance job: close a vote or apply a decision.
pub async fn handle(app: &App, job: &scheduler::Job, now: i64) -> Result<()> {
    let db = &app.db;
    let coop_id = job
        .coop_id
        .ok_or_else(|| Error::Invalid(format!("job {} has no coop", job.id)))?;
    let id = job.payload["proposal"]
        .as_i64()
        .ok_or_else(|| Error::Invalid(format!("job {} names no proposal", job.id)))?;
    match job.kind.as_str() {
        CLOSE_JOB => close(db, coop_id, id, now).await.map(|_| ()),
        APPLY_JOB => apply(app, coop_id, id, now).await.map(|_| ()),
        other => Err(Error::Invalid(format!("no handler for job kind {other:?}"))),
    }
}
