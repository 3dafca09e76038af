//! The coop's value split and earnings floor as stored: versioned, dated,
//! never edited, each change recorded with who made it and why. Until the
//! governance issue lands, admins set them; governance will become the
//! only path.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::floor::FloorRate;
use super::money::{Currency, Money};
use super::split::{SplitPolicy, SplitTerms};
use crate::db::Db;
use crate::error::{Error, Result};

/// A stored split policy and its record.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyRecord {
    /// The policy (version, effective date, terms).
    pub policy: SplitPolicy,
    /// The member who set it, if a member did.
    pub set_by: Option<i64>,
    /// Why.
    pub reason: String,
    /// When it was recorded.
    pub set_at: i64,
}

/// What the host does when a worker's period earnings fall short of the
/// floor.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum OnShortfall {
    /// Pay the difference from the solidarity fund (a normal balanced
    /// transaction); what the fund cannot cover is flagged.
    #[default]
    TopUp,
    /// Publish the shortfall (the coop's public floor report) and pay
    /// nothing automatically.
    Flag,
}

impl OnShortfall {
    /// The stored and JSON name.
    pub fn name(self) -> &'static str {
        match self {
            OnShortfall::TopUp => "top-up",
            OnShortfall::Flag => "flag",
        }
    }

    fn parse(s: &str) -> OnShortfall {
        if s == "flag" {
            OnShortfall::Flag
        } else {
            OnShortfall::TopUp
        }
    }
}

/// A floor rate to record.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFloor {
    /// Minor units of `currency` per on-shift hour, positive.
    pub per_hour: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// From when, ms since the epoch; now if absent.
    pub effective_from: Option<i64>,
    /// Top up or flag a shortfall; top up if absent.
    #[serde(default)]
    pub on_shortfall: OnShortfall,
    /// Why (published).
    pub reason: String,
}

/// A stored floor rate and its record.
#[derive(Clone, Debug, Serialize)]
pub struct FloorRecord {
    /// Version, from 1.
    pub version: i64,
    /// The rate.
    pub rate: FloorRate,
    /// Currency of the rate.
    pub currency: String,
    /// What a shortfall under this rate leads to.
    pub on_shortfall: OnShortfall,
    /// The member who set it, if a member did.
    pub set_by: Option<i64>,
    /// Why.
    pub reason: String,
    /// When it was recorded.
    pub set_at: i64,
}

fn check_change(effective_from: i64, now_ms: i64, reason: &str) -> Result<()> {
    if effective_from < now_ms {
        return Err(Error::Invalid(
            "effective_from is in the past: a change applies from now on, never to settlements already made".into(),
        ));
    }
    if reason.trim().is_empty() || reason.len() > 2000 {
        return Err(Error::Invalid(
            "give a reason of 1 to 2000 characters: changes are published".into(),
        ));
    }
    Ok(())
}

/// Record a new split policy version taking effect at `effective_from`.
pub async fn set_split(
    db: &Db,
    coop_id: i64,
    terms: SplitTerms,
    effective_from: i64,
    set_by: Option<i64>,
    reason: &str,
    now_ms: i64,
) -> Result<PolicyRecord> {
    let mut tx = db.begin_write().await?;
    let r = set_split_in(
        &mut tx,
        coop_id,
        terms,
        effective_from,
        set_by,
        reason,
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

/// [`set_split`] inside the caller's transaction (a governed change
/// commits with its decision).
pub async fn set_split_in(
    tx: &mut sqlx::AnyConnection,
    coop_id: i64,
    terms: SplitTerms,
    effective_from: i64,
    set_by: Option<i64>,
    reason: &str,
    now_ms: i64,
) -> Result<PolicyRecord> {
    check_change(effective_from, now_ms, reason)?;
    let version: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 FROM split_policies WHERE coop_id = $1")
            .bind(coop_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
    let policy = SplitPolicy {
        version: u32::try_from(version).map_err(|e| Error::Internal(e.into()))?,
        effective_from,
        terms,
    };
    policy
        .validate()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO split_policies (coop_id, version, effective_from, terms, set_by, reason, set_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(coop_id)
    .bind(version)
    .bind(effective_from)
    .bind(serde_json::to_string(&policy.terms).map_err(|e| Error::Internal(e.into()))?)
    .bind(set_by)
    .bind(reason.trim())
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    Ok(PolicyRecord {
        policy,
        set_by,
        reason: reason.trim().to_string(),
        set_at: now_ms,
    })
}

/// Every split policy version of a coop, oldest first.
pub async fn split_history(db: &Db, coop_id: i64) -> Result<Vec<PolicyRecord>> {
    let rows = sqlx::query(
        "SELECT version, effective_from, terms, set_by, reason, set_at FROM split_policies \
         WHERE coop_id = $1 ORDER BY version",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PolicyRecord {
                policy: SplitPolicy {
                    version: u32::try_from(r.get::<i64, _>(0))
                        .map_err(|e| Error::Internal(e.into()))?,
                    effective_from: r.get(1),
                    terms: serde_json::from_str(&r.get::<String, _>(2))
                        .map_err(|e| Error::Internal(e.into()))?,
                },
                set_by: r.get(3),
                reason: r.get(4),
                set_at: r.get(5),
            })
        })
        .collect()
}

/// The split policy in effect at `at`, if any.
pub async fn split_in_effect(db: &Db, coop_id: i64, at: i64) -> Result<Option<SplitPolicy>> {
    let all: Vec<SplitPolicy> = split_history(db, coop_id)
        .await?
        .into_iter()
        .map(|r| r.policy)
        .collect();
    Ok(SplitPolicy::in_effect(&all, at).cloned())
}

/// Record a new hourly floor, in minor units of `currency` per on-shift
/// hour, set by member `set_by` (if a member set it).
pub async fn set_floor(
    db: &Db,
    coop_id: i64,
    new: &NewFloor,
    set_by: Option<i64>,
    now_ms: i64,
) -> Result<FloorRecord> {
    let mut tx = db.begin_write().await?;
    let r = set_floor_in(&mut tx, coop_id, new, set_by, now_ms).await?;
    tx.commit().await?;
    Ok(r)
}

/// [`set_floor`] inside the caller's transaction (a governed change
/// commits with its decision).
pub async fn set_floor_in(
    tx: &mut sqlx::AnyConnection,
    coop_id: i64,
    new: &NewFloor,
    set_by: Option<i64>,
    now_ms: i64,
) -> Result<FloorRecord> {
    let effective_from = new.effective_from.unwrap_or(now_ms);
    check_change(effective_from, now_ms, &new.reason)?;
    let currency = Currency::parse(&new.currency).map_err(|e| Error::Invalid(e.to_string()))?;
    if new.per_hour <= 0 {
        return Err(Error::Invalid(
            "per_hour must be a positive amount in minor units".into(),
        ));
    }
    // Never below the legal minimum in force where and when it applies.
    let refs = super::legal_minimum::for_coop(tx, coop_id, currency.as_str()).await?;
    if let Some(law) = super::legal_minimum::in_force(&refs, effective_from)
        && new.per_hour < law.per_hour
    {
        return Err(Error::Invalid(format!(
            "a floor of {} {cur} per hour is below the legal minimum reference in force ({}, {} \
             {cur} per hour in {}): the floor may be higher, never lower",
            Money::new(new.per_hour, currency).decimal(),
            law.label,
            Money::new(law.per_hour, currency).decimal(),
            law.country,
            cur = currency.as_str(),
        )));
    }
    let version: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 FROM floor_rates WHERE coop_id = $1")
            .bind(coop_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
    sqlx::query(
        "INSERT INTO floor_rates (coop_id, version, effective_from, per_hour, currency, set_by, reason, set_at, on_shortfall) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(coop_id)
    .bind(version)
    .bind(effective_from)
    .bind(new.per_hour)
    .bind(currency.as_str())
    .bind(set_by)
    .bind(new.reason.trim())
    .bind(now_ms)
    .bind(new.on_shortfall.name())
    .execute(&mut *tx)
    .await?;
    Ok(FloorRecord {
        version,
        rate: FloorRate {
            effective_from,
            per_hour: new.per_hour,
        },
        currency: currency.as_str().to_string(),
        on_shortfall: new.on_shortfall,
        set_by,
        reason: new.reason.trim().to_string(),
        set_at: now_ms,
    })
}

/// Every floor rate of a coop, oldest first.
pub async fn floor_history(db: &Db, coop_id: i64) -> Result<Vec<FloorRecord>> {
    let rows = sqlx::query(
        "SELECT version, effective_from, per_hour, currency, set_by, reason, set_at, on_shortfall FROM floor_rates \
         WHERE coop_id = $1 ORDER BY version",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| FloorRecord {
            version: r.get(0),
            rate: FloorRate {
                effective_from: r.get(1),
                per_hour: r.get(2),
            },
            currency: r.get(3),
            on_shortfall: OnShortfall::parse(&r.get::<String, _>(7)),
            set_by: r.get(4),
            reason: r.get(5),
            set_at: r.get(6),
        })
        .collect())
}
