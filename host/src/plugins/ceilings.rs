//! What the host operator allows each coop: ceilings over the per-plugin
//! limits a coop's admins (or its votes) may choose, and the coop's share
//! of the instance pool (calls in flight at once). A coop admin can lower
//! a limit or raise it up to its ceiling, never past it; only the operator
//! moves the ceilings (`PUT /v1/coops/{coop}/limit-ceilings`, `coophost
//! coop limits`).

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::runtime::limits::{Limits, MAX_MEMORY_BYTES};
use crate::runtime::{DEFAULT_COOP_INSTANCES, POOL_INSTANCES};

/// A coop's ceilings as in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoopCeilings {
    /// The most each limit may be set to.
    pub limits: Limits,
    /// The most plugin calls the coop may have in flight at once.
    pub instances: u32,
    /// The most timers the coop's plugins may have pending together.
    pub timers: i64,
    /// What the operator set (limit names and `instances`); the rest are
    /// the host's defaults.
    pub set: serde_json::Value,
}

impl Default for CoopCeilings {
    fn default() -> Self {
        CoopCeilings {
            limits: Limits::default_ceilings(),
            instances: DEFAULT_COOP_INSTANCES,
            timers: DEFAULT_COOP_TIMERS,
            set: serde_json::json!({}),
        }
    }
}

/// Timers a coop's plugins may have pending together unless the operator
/// sets another ceiling (`timers`): five plugins at their own limit
/// ([`crate::plugins::timers::MAX_PENDING_TIMERS`]). A plugin arming
/// timers in a loop fills the shared jobs table that every coop's hold
/// expiries and vote closes wait in; the ceiling bounds what one coop can
/// put there.
pub const DEFAULT_COOP_TIMERS: i64 = 5_000;
/// The highest timer ceiling an operator may set.
pub const MAX_COOP_TIMERS: i64 = 1_000_000;

/// Check what an operator asks: limit names with positive integers
/// (memory at most the pool's slot), `instances` from 1 to the pool's
/// size, and `timers` from 1 to [`MAX_COOP_TIMERS`]. Returns the ceilings
/// it makes.
pub fn parse(set: &serde_json::Value) -> Result<CoopCeilings> {
    let Some(obj) = set.as_object() else {
        return Err(Error::Invalid(
            "ceilings must be a JSON object of limit names (and \"instances\") to numbers".into(),
        ));
    };
    let mut limits_part = obj.clone();
    let instances = match limits_part.remove("instances") {
        None => DEFAULT_COOP_INSTANCES,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=u64::from(POOL_INSTANCES)).contains(&n) => n as u32,
            _ => {
                return Err(Error::Invalid(format!(
                    "instances must be a whole number from 1 to {POOL_INSTANCES} (the host's instance pool), got {v}"
                )));
            }
        },
    };
    let timers = match limits_part.remove("timers") {
        None => DEFAULT_COOP_TIMERS,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=MAX_COOP_TIMERS).contains(&n) => n,
            _ => {
                return Err(Error::Invalid(format!(
                    "timers must be a whole number from 1 to {MAX_COOP_TIMERS}, got {v}"
                )));
            }
        },
    };
    let limits = Limits::default_ceilings()
        .with_overrides(&serde_json::Value::Object(limits_part))
        .map_err(|e| {
            Error::Invalid(if e.starts_with("limit memory_bytes") {
                format!(
                    "{e}; a ceiling above {MAX_MEMORY_BYTES} could never be reached, the pool reserves no more per instance"
                )
            } else {
                e
            })
        })?;
    Ok(CoopCeilings {
        limits,
        instances,
        timers,
        set: set.clone(),
    })
}

/// The ceilings of coop `coop_id`.
pub async fn get(db: &Db, coop_id: i64) -> Result<CoopCeilings> {
    let mut conn = db.pool.acquire().await?;
    get_in(&mut conn, coop_id).await
}

/// [`get`] on the caller's connection (a call's commit).
pub async fn get_in(conn: &mut sqlx::AnyConnection, coop_id: i64) -> Result<CoopCeilings> {
    let row = sqlx::query("SELECT ceilings, instances FROM coop_limit_ceilings WHERE coop_id = $1")
        .bind(coop_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(CoopCeilings::default());
    };
    let mut set: serde_json::Value =
        serde_json::from_str(&row.get::<String, _>(0)).unwrap_or(serde_json::json!({}));
    if let Some(n) = row.get::<Option<i64>, _>(1) {
        set["instances"] = serde_json::json!(n);
    }
    parse(&set).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "stored ceilings of coop {coop_id} are invalid: {e}"
        ))
    })
}

/// Set the ceilings of coop `coop_id` (`{}` restores the host's defaults).
/// Limits the coop chose above a new ceiling are not rewritten: calls get
/// the ceiling instead ([`Limits::capped`]), and the coop's own value
/// applies again if the ceiling is raised later.
pub async fn set(
    db: &Db,
    coop_id: i64,
    set: &serde_json::Value,
    now_ms: i64,
) -> Result<CoopCeilings> {
    let ceilings = parse(set)?;
    let mut limits_part = set.as_object().cloned().unwrap_or_default();
    let instances = limits_part.remove("instances").and_then(|v| v.as_i64());
    sqlx::query(
        "INSERT INTO coop_limit_ceilings (coop_id, ceilings, instances, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (coop_id) DO UPDATE SET ceilings = excluded.ceilings, instances = excluded.instances, \
         updated_at = excluded.updated_at",
    )
    .bind(coop_id)
    .bind(serde_json::Value::Object(limits_part).to_string())
    .bind(instances)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(ceilings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_set_ceilings_within_the_host() {
        let c = parse(&serde_json::json!({"deadline_ms": 10_000, "instances": 8, "timers": 50}))
            .unwrap();
        assert_eq!(
            (c.limits.deadline_ms, c.instances, c.timers),
            (10_000, 8, 50)
        );
        assert_eq!(c.limits.log_bytes, Limits::default_ceilings().log_bytes);
        let d = parse(&serde_json::json!({})).unwrap();
        assert_eq!(d.instances, DEFAULT_COOP_INSTANCES);
        for bad in [
            serde_json::json!({"instances": 0}),
            serde_json::json!({"timers": 0}),
            serde_json::json!({"timers": MAX_COOP_TIMERS + 1}),
            serde_json::json!({"instances": POOL_INSTANCES + 1}),
            serde_json::json!({"memory_bytes": MAX_MEMORY_BYTES + 1}),
            serde_json::json!({"cpu": 1}),
            serde_json::json!({"deadline_ms": 0}),
            serde_json::json!([]),
        ] {
            assert!(parse(&bad).is_err(), "{bad} was accepted");
        }
    }
}
