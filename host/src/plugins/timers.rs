//! Plugin timers (`coop:host/timers`) on the durable scheduler: what a
//! call asked for is applied when the call commits, and the scheduler
//! calls the plugin's `on-timer` hook when a timer is due.
//!
//! A time in the past means "now": it is stored as the setting call's
//! commit time, so a timer that re-arms itself for `at = 0` waits its
//! turn behind every job already due instead of sorting first for ever.
//! A timer's call commits together with the job's completion
//! ([`scheduler::complete_in`]): if two hosts ever ran the same timer (one
//! stalled past its lease), only the call of the host holding the job
//! commits, so the plugin's effects happen once.

use serde_json::json;
use sqlx::Row;

use crate::app::App;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::runtime;
use crate::scheduler::{self, Job};

/// The scheduler job kind of a plugin timer.
pub const TIMER_JOB: &str = "plugin.timer";
/// The interface plugins export to receive timers.
pub const HANDLER_INTERFACE: &str = "coop:host/timer-handler";
/// Most timers one plugin may have pending in a coop.
pub const MAX_PENDING_TIMERS: i64 = 1_000;
/// How long a host's claim on a due timer lasts before its heartbeat
/// renews it: the default call deadline plus the scheduler's margin.
pub const TIMER_LEASE_MS: i64 =
    runtime::limits::DEFAULT_DEADLINE_MS as i64 + scheduler::LEASE_MARGIN_MS;
/// Largest timer payload, bytes.
pub const MAX_TIMER_PAYLOAD: usize = 16 * 1024;

/// A timer operation a call asked for, applied at commit.
#[derive(Clone, Debug)]
pub enum TimerOp {
    /// Set timer `id` for `at`.
    Set {
        /// The id returned to the plugin.
        id: u64,
        /// When, ms since the epoch.
        at: i64,
        /// The plugin's payload.
        payload: String,
    },
    /// Cancel timer `id`.
    Cancel {
        /// The timer.
        id: u64,
    },
}

/// The scheduler key of a plugin's timer.
pub fn key(coop_id: i64, plugin: &str, id: u64) -> String {
    format!("{TIMER_JOB}:{coop_id}:{plugin}:{id}")
}

/// Timers of `plugin` in coop `coop_id` not yet run or cancelled.
pub async fn pending(conn: &mut sqlx::AnyConnection, coop_id: i64, plugin: &str) -> Result<i64> {
    let prefix = format!("{TIMER_JOB}:{coop_id}:{plugin}:");
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM jobs WHERE coop_id = $1 AND kind = $2 AND status IN ('pending', 'running') \
         AND unique_key >= $3 AND unique_key < $4",
    )
    .bind(coop_id)
    .bind(TIMER_JOB)
    .bind(&prefix)
    .bind(format!("{prefix}\u{10FFFF}"))
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    Ok(n)
}

/// Timers of every plugin of coop `coop_id` not yet run or cancelled.
pub async fn coop_pending(conn: &mut sqlx::AnyConnection, coop_id: i64) -> Result<i64> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM jobs WHERE coop_id = $1 AND kind = $2 AND status IN ('pending', 'running')",
    )
    .bind(coop_id)
    .bind(TIMER_JOB)
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    Ok(n)
}

/// What a plugin call may still arm: the plugin's pending timers, the
/// coop's, and the coop's ceiling (`timers`, set by the host operator).
#[derive(Clone, Copy, Debug)]
pub struct Room {
    /// The plugin's timers pending.
    pub plugin: i64,
    /// All the coop's plugins' timers pending.
    pub coop: i64,
    /// The most the coop's plugins may have pending together.
    pub coop_cap: i64,
}

impl Room {
    /// Read it for `plugin` of coop `coop_id`.
    pub async fn read(conn: &mut sqlx::AnyConnection, coop_id: i64, plugin: &str) -> Result<Room> {
        Ok(Room {
            plugin: pending(conn, coop_id, plugin).await?,
            coop: coop_pending(conn, coop_id).await?,
            coop_cap: super::ceilings::get_in(conn, coop_id).await?.timers,
        })
    }

    /// Why `more` new timers do not fit, if they do not.
    pub fn refuse(&self, more: i64) -> Option<String> {
        if self.plugin + more > MAX_PENDING_TIMERS {
            Some(format!(
                "timer limit: this plugin would have {} timers pending, the most is {MAX_PENDING_TIMERS}",
                self.plugin + more
            ))
        } else if self.coop + more > self.coop_cap {
            Some(format!(
                "timer limit: this coop's plugins would have {} timers pending together, the most the host operator allows is {}; cancel timers or let them run",
                self.coop + more,
                self.coop_cap
            ))
        } else {
            None
        }
    }
}

/// Apply a call's timer operations in its transaction. Fails with a
/// conflict naming the limit when the plugin would have more than
/// [`MAX_PENDING_TIMERS`] pending, or its coop more than its ceiling.
pub async fn commit_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    plugin: &str,
    ops: &[TimerOp],
    now: i64,
) -> Result<()> {
    for op in ops {
        match op {
            TimerOp::Set { id, at, payload } => {
                scheduler::schedule_in(
                    conn,
                    Some(coop_id),
                    TIMER_JOB,
                    Some(&key(coop_id, plugin, *id)),
                    &json!({"plugin": plugin, "id": id.to_string(), "payload": payload}),
                    (*at).max(now),
                    now,
                )
                .await?;
            }
            TimerOp::Cancel { id } => {
                sqlx::query(
                    "UPDATE jobs SET status = 'cancelled', finished_at = $1 WHERE unique_key = $2 AND status = 'pending'",
                )
                .bind(now)
                .bind(key(coop_id, plugin, *id))
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    if ops.iter().any(|o| matches!(o, TimerOp::Set { .. })) {
        // Counted after the call's own timers are in: what the call adds
        // is already there, so no more may come.
        if let Some(why) = Room::read(conn, coop_id, plugin).await?.refuse(0) {
            return Err(Error::Conflict(why));
        }
    }
    Ok(())
}

/// Whether a cancel of timer `id` would find it pending.
pub async fn is_pending(db: &crate::db::Db, coop_id: i64, plugin: &str, id: u64) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM jobs WHERE unique_key = $1 AND status = 'pending'")
            .bind(key(coop_id, plugin, id))
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Run a due timer: call the plugin's `on-timer` (its active installation)
/// as the host. An error makes the scheduler retry with back-off.
pub async fn run(app: &App, job: &Job) -> Result<()> {
    let coop_id = job
        .coop_id
        .ok_or_else(|| Error::Invalid(format!("timer job {} has no coop", job.id)))?;
    let plugin = job.payload["plugin"].as_str().unwrap_or_default();
    let installed = super::get(&app.db, coop_id, plugin).await?;
    let loaded = app.plugin(installed.id).await?;
    if !loaded.has_function(HANDLER_INTERFACE, "on-timer") {
        return Err(Error::Invalid(format!(
            "{plugin} set a timer but exports no coop:host/timer-handler.on-timer"
        )));
    }
    let coop = crate::identity::find_coop_by_id(&app.db, coop_id).await?;
    let mut scope = app.scope(&coop, &loaded, Actor::host(coop_id));
    scope.job = scheduler::JobClaim::of(job);
    let started = std::time::Instant::now();
    let outcome = runtime::call(
        &app.engine,
        &loaded,
        scope,
        HANDLER_INTERFACE,
        "on-timer",
        &json!({"id": job.payload["id"], "payload": job.payload["payload"]}),
    )
    .await;
    app.audit_call(crate::audit::Call {
        coop_id,
        plugin: Some(plugin),
        interface: HANDLER_INTERFACE,
        function: "on-timer",
        outcome: outcome.as_ref().map_or_else(|e| e.label(), |_| "ok"),
        started,
        caller: "host",
        member_id: None,
    });
    outcome.map_err(|e| Error::Conflict(format!("on-timer of {plugin} failed: {e}")))?;
    Ok(())
}
