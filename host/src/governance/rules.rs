//! A coop's governance rules: which kinds of change need a vote, how each
//! kind is voted (method, quorum, threshold), the colleges and their
//! weights within bounds, and what admins may still change directly.
//!
//! Rules are versioned like every governed setting. A new coop starts in
//! bootstrap mode: admins may change everything directly (each change is
//! recorded in the decision log), so founders can set the first split,
//! floor and rules; the founding assembly then adopts rules that take the
//! direct path away (a `set-rules` proposal, or one last direct change).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::tally::{EmptyCollege, Method, VoteRules};
use crate::db::Db;
use crate::error::{Error, Result};

/// The kinds of proposal, i.e. the kinds of change governance covers.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Set a plugin configuration value (e.g. the price per km).
    SetConfig,
    /// Adopt a new value split policy.
    SetSplit,
    /// Set the hourly earnings floor.
    SetFloor,
    /// Grant a member a role.
    GrantRole,
    /// Revoke a role from a member.
    RevokeRole,
    /// Change these rules (methods, quorums, colleges, direct powers).
    SetRules,
    /// A free-text resolution: recorded, nothing else changes.
    Resolution,
    /// Adopt a new version of the terms of service.
    AdoptTerms,
    /// Install, upgrade, roll back or remove a plugin, with the
    /// capabilities it gets.
    Plugin,
    /// Admit an applicant (when the rules put applications to a vote).
    AdmitMember,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 10] = [
        Kind::SetConfig,
        Kind::SetSplit,
        Kind::SetFloor,
        Kind::GrantRole,
        Kind::RevokeRole,
        Kind::SetRules,
        Kind::Resolution,
        Kind::AdoptTerms,
        Kind::Plugin,
        Kind::AdmitMember,
    ];

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SetConfig => "set-config",
            Kind::SetSplit => "set-split",
            Kind::SetFloor => "set-floor",
            Kind::GrantRole => "grant-role",
            Kind::RevokeRole => "revoke-role",
            Kind::SetRules => "set-rules",
            Kind::Resolution => "resolution",
            Kind::AdoptTerms => "adopt-terms",
            Kind::Plugin => "plugin",
            Kind::AdmitMember => "admit-member",
        }
    }
}

/// Bounds every college weight must respect, in basis points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Smallest weight of a college.
    pub min_bp: u32,
    /// Largest weight of a college.
    pub max_bp: u32,
}

/// A college of the coop and its vote weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollegeWeight {
    /// Its name, e.g. `workers`; members carry it.
    pub name: String,
    /// Its weight, basis points; all weights sum to 10000.
    pub weight_bp: u32,
}

/// How one kind of proposal is voted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KindRules {
    /// Method, quorum and threshold.
    pub vote: VoteRules,
    /// Shortest voting window, hours.
    pub min_window_hours: u32,
    /// Shortest time between the close and the change taking effect, hours.
    pub min_delay_hours: u32,
}

/// The coop's governance rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Bounds on college weights (the SCIC's: each college 10 % to 50 %).
    pub college_bounds: Bounds,
    /// The colleges; empty for a coop without colleges.
    pub colleges: Vec<CollegeWeight>,
    /// Voting rules per kind; a kind not listed uses `default_vote`.
    pub kinds: BTreeMap<Kind, KindRules>,
    /// Voting rules of kinds not listed in `kinds`.
    pub default_vote: KindRules,
    /// Kinds admins may still change directly (recorded in the decision
    /// log like a decision). Empty means everything goes through a vote.
    pub admins_may: Vec<Kind>,
    /// Days between publishing new terms and their taking effect; at least
    /// [`super::terms::MIN_NOTICE_DAYS`].
    #[serde(default = "default_notice_days")]
    pub terms_notice_days: u32,
    /// How people join and leave, and the coop's shares.
    #[serde(default)]
    pub membership: MembershipRules,
    /// Days a worker has to appeal a suspension or removal, counted from
    /// the decision; at least [`crate::moderation::MIN_APPEAL_DAYS`].
    #[serde(default = "default_appeal_days")]
    pub appeal_days: u32,
    /// Days within which another admin must review an appeal, counted from
    /// the appeal; at most [`crate::moderation::MAX_REVIEW_DAYS`].
    #[serde(default = "default_appeal_review_days")]
    pub appeal_review_days: u32,
    /// Days a rating of a worker is used (summaries, credentials, plugins);
    /// older ratings stay visible to the worker but count for nothing.
    /// At least [`crate::ratings::MIN_RETENTION_DAYS`].
    #[serde(default = "default_rating_retention_days")]
    pub rating_retention_days: u32,
    /// The open-data threshold k: a cell counted from fewer distinct
    /// workers is suppressed. At least [`crate::opendata::MIN_K`].
    #[serde(default = "default_open_data_k")]
    pub open_data_k: u32,
    /// What the coop requires to keep accounts safe.
    #[serde(default)]
    pub security: SecurityRules,
    /// Free plugins only (on by default), and the open data's licence.
    #[serde(default)]
    pub commons: super::commons::CommonsRules,
}

/// What the coop requires to keep accounts safe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityRules {
    /// Admins act as admins only in sessions opened with a second factor
    /// (TOTP or a recovery code); otherwise they act as plain members and
    /// are told to enrol or to log in with their code.
    pub admin_second_factor: bool,
}

fn default_open_data_k() -> u32 {
    crate::opendata::DEFAULT_K
}

fn default_rating_retention_days() -> u32 {
    crate::ratings::DEFAULT_RETENTION_DAYS
}

/// How people join and leave, and the coop's shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MembershipRules {
    /// Whether people may apply; invitations always work.
    pub applications: bool,
    /// Who admits an applicant: `admins`, or `vote` (each application
    /// opens an `admit-member` proposal voted under the rules of that
    /// kind).
    pub approval: Approval,
    /// Nominal value of one share, minor units (0: the coop has no shares).
    pub share_nominal: i64,
    /// Currency of the shares.
    pub share_currency: String,
    /// Whether a leaving member's shares are refunded at nominal value to
    /// their wallet (paid out with the next run).
    pub refund_on_leave: bool,
    /// Only members holding at least one share vote (and count in the
    /// electorate). Needs shares (`share_nominal` above 0).
    pub vote_requires_share: bool,
}

/// Who admits applicants.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// An admin approves or rejects.
    #[default]
    Admins,
    /// The members vote (an `admit-member` proposal).
    Vote,
}

impl Default for MembershipRules {
    fn default() -> MembershipRules {
        MembershipRules {
            applications: true,
            approval: Approval::Admins,
            share_nominal: 0,
            share_currency: "EUR".into(),
            refund_on_leave: true,
            vote_requires_share: false,
        }
    }
}

fn default_appeal_days() -> u32 {
    crate::moderation::DEFAULT_APPEAL_DAYS
}

fn default_appeal_review_days() -> u32 {
    crate::moderation::DEFAULT_REVIEW_DAYS
}

fn default_notice_days() -> u32 {
    super::terms::MIN_NOTICE_DAYS
}

impl Default for Rules {
    /// Bootstrap rules: one member one vote, quorum 20 %, majority, a
    /// 3-day window; admins may change everything directly until the coop
    /// adopts its own rules.
    fn default() -> Rules {
        Rules {
            college_bounds: Bounds {
                min_bp: 1_000,
                max_bp: 5_000,
            },
            colleges: Vec::new(),
            kinds: BTreeMap::new(),
            default_vote: KindRules {
                vote: VoteRules {
                    method: Method::OneMemberOneVote,
                    quorum_bp: 2_000,
                    threshold_bp: 5_000,
                    empty_college: EmptyCollege::Exclude,
                },
                min_window_hours: 72,
                min_delay_hours: 0,
            },
            admins_may: Kind::ALL.to_vec(),
            terms_notice_days: default_notice_days(),
            membership: MembershipRules::default(),
            appeal_days: default_appeal_days(),
            appeal_review_days: default_appeal_review_days(),
            rating_retention_days: default_rating_retention_days(),
            open_data_k: default_open_data_k(),
            security: SecurityRules::default(),
            commons: super::commons::CommonsRules::default(),
        }
    }
}

impl Rules {
    /// The voting rules of `kind`.
    pub fn for_kind(&self, kind: Kind) -> &KindRules {
        self.kinds.get(&kind).unwrap_or(&self.default_vote)
    }

    /// Whether the coop's admins need a session opened with a second
    /// factor to act as admins.
    pub fn admins_need_second_factor(&self) -> bool {
        self.security.admin_second_factor
    }

    /// Whether admins may change what `kind` covers without a vote.
    pub fn admins_may(&self, kind: Kind) -> bool {
        self.admins_may.contains(&kind)
    }

    /// Check the rules hold together: bounds within 0..=10000 and ordered,
    /// college names unique and non-empty, weights within the bounds and
    /// summing to 10000, a college-weighted kind only with colleges, vote
    /// rules valid.
    pub fn validate(&self) -> Result<()> {
        let b = self.college_bounds;
        if b.min_bp > b.max_bp || b.max_bp > 10_000 {
            return Err(Error::Invalid(format!(
                "college bounds {}..{} bp must satisfy min <= max <= 10000",
                b.min_bp, b.max_bp
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        for c in &self.colleges {
            if c.name.trim().is_empty() || c.name.len() > 64 {
                return Err(Error::Invalid(
                    "a college name must be 1 to 64 characters".into(),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "college {:?} is listed twice",
                    c.name
                )));
            }
            if c.weight_bp < b.min_bp || c.weight_bp > b.max_bp {
                return Err(Error::Invalid(format!(
                    "college {:?} weighs {} bp, outside the bounds {}..{} bp",
                    c.name, c.weight_bp, b.min_bp, b.max_bp
                )));
            }
        }
        if self.terms_notice_days < super::terms::MIN_NOTICE_DAYS {
            return Err(Error::Invalid(format!(
                "terms_notice_days is {}: members get at least {} days' notice of new terms",
                self.terms_notice_days,
                super::terms::MIN_NOTICE_DAYS
            )));
        }
        if self.open_data_k < crate::opendata::MIN_K {
            return Err(Error::Invalid(format!(
                "open_data_k is {}: cells of fewer than {} workers are never published",
                self.open_data_k,
                crate::opendata::MIN_K
            )));
        }
        if !(crate::ratings::MIN_RETENTION_DAYS..=crate::ratings::MAX_RETENTION_DAYS)
            .contains(&self.rating_retention_days)
        {
            return Err(Error::Invalid(format!(
                "rating_retention_days is {}: it must be {} to {} days",
                self.rating_retention_days,
                crate::ratings::MIN_RETENTION_DAYS,
                crate::ratings::MAX_RETENTION_DAYS
            )));
        }
        crate::moderation::check_appeal_rules(self.appeal_days, self.appeal_review_days)?;
        self.commons.validate()?;
        if self.membership.share_nominal < 0 {
            return Err(Error::Invalid("share_nominal cannot be negative".into()));
        }
        if self.membership.vote_requires_share && self.membership.share_nominal == 0 {
            return Err(Error::Invalid(
                "vote_requires_share needs shares: set share_nominal above 0".into(),
            ));
        }
        crate::ledger::money::Currency::parse(&self.membership.share_currency)
            .map_err(|e| Error::Invalid(format!("share_currency: {e}")))?;
        let sum: u32 = self.colleges.iter().map(|c| c.weight_bp).sum();
        if !self.colleges.is_empty() && sum != 10_000 {
            return Err(Error::Invalid(format!(
                "college weights sum to {sum} bp; they must sum to 10000 bp (100 %)"
            )));
        }
        for (kind, rules) in self
            .kinds
            .iter()
            .map(|(k, r)| (k.name(), r))
            .chain(std::iter::once(("default", &self.default_vote)))
        {
            rules
                .vote
                .validate()
                .map_err(|e| Error::Invalid(format!("{kind}: {e}")))?;
            if rules.vote.method == Method::CollegeWeighted && self.colleges.is_empty() {
                return Err(Error::Invalid(format!(
                    "{kind} is voted by college but the coop has no colleges"
                )));
            }
            if rules.min_window_hours == 0 {
                return Err(Error::Invalid(format!(
                    "{kind}: a voting window of at least one hour is needed"
                )));
            }
        }
        Ok(())
    }
}

/// The rules in force for coop `coop_id` (the defaults if it never set any).
pub async fn current(db: &Db, coop_id: i64) -> Result<(i64, Rules)> {
    let row = sqlx::query(
        "SELECT version, rules FROM governance_rules WHERE coop_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(coop_id)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        None => Ok((0, Rules::default())),
        Some(r) => {
            let rules = serde_json::from_str(&r.get::<String, _>(1))
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored governance rules: {e}")))?;
            Ok((r.get(0), rules))
        }
    }
}

/// Record `rules` as the next version, in the caller's transaction.
pub async fn store_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    rules: &Rules,
    now_ms: i64,
) -> Result<i64> {
    rules.validate()?;
    let version: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM governance_rules WHERE coop_id = $1",
    )
    .bind(coop_id)
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    sqlx::query(
        "INSERT INTO governance_rules (coop_id, version, rules, set_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(coop_id)
    .bind(version)
    .bind(serde_json::to_string(rules).map_err(|e| Error::Internal(e.into()))?)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(version)
}
