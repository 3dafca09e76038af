//! Delivering events to plugins that export `coop:host/subscriber`.
//!
//! The `events` table is the outbox: rows are written in the emitting
//! call's transaction, so only committed events exist. Each subscribing
//! plugin installation has a cursor (`event_cursors`): the last event id it
//! handled. A delivery pass sends each plugin, in id order, the events of
//! its coop after its cursor that it subscribed to, one `on-event` call
//! each (its own transaction), and moves the cursor after each success. A
//! failure stops that plugin's pass and is retried with back-off; after
//! [`MAX_DELIVERY_ATTEMPTS`] the event is recorded in `event_dead_letters`
//! and skipped.
//!
//! What a plugin receives: events of its coop matching its manifest's
//! `[events] subscribe`, excluding notices the host addresses to single
//! members; plus, always, the host's `config.changed` events about its own
//! configuration.

use serde_json::{Value, json};
use sqlx::Row;

use crate::app::App;
use crate::error::Result;
use crate::identity::{self, Actor};
use crate::plugins::manifest::EventsSection;
use crate::runtime;

/// The interface plugins export to receive events.
pub const SUBSCRIBER_INTERFACE: &str = "coop:host/subscriber";
/// Events a plugin is sent per pass.
pub const EVENTS_PER_PASS: i64 = 50;
/// Failed attempts before an event is skipped.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 5;
/// First retry delay after a failed delivery; doubles per attempt.
pub const RETRY_BASE_MS: i64 = 1_000;
/// The source name of the host's own events.
pub const HOST_SOURCE: &str = "coophost";

fn wanted(
    events: &Option<EventsSection>,
    plugin: &str,
    source: &str,
    topic: &str,
    payload: &Value,
) -> bool {
    if source == HOST_SOURCE && topic == "config.changed" {
        return payload["plugin"] == plugin;
    }
    events.as_ref().is_some_and(|e| e.wants(topic))
}

/// One delivery pass over every subscribing plugin. Returns how many
/// events were delivered.
pub async fn deliver(app: &App) -> Result<usize> {
    let plugins: Vec<(i64, i64)> =
        sqlx::query("SELECT id, coop_id FROM plugins WHERE active = 1 ORDER BY id")
            .fetch_all(&app.db.pool)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    let mut delivered = 0;
    for (plugin_id, coop_id) in plugins {
        let loaded = app.plugin(plugin_id).await?;
        if !loaded.has_function(SUBSCRIBER_INTERFACE, "on-event") {
            continue;
        }
        delivered += deliver_to(app, plugin_id, coop_id).await?;
    }
    Ok(delivered)
}

/// Start `plugin_id`'s cursor at the newest event, so a plugin receives
/// what happens after it is installed, not the coop's history.
pub async fn start_cursor(app: &App, plugin_id: i64) -> Result<()> {
    let now = app.clock.now_ms();
    sqlx::query(
        "INSERT INTO event_cursors (plugin_id, last_event_id, updated_at) \
         SELECT $1, COALESCE(MAX(id), 0), $2 FROM events WHERE 1 = 1 ON CONFLICT (plugin_id) DO NOTHING",
    )
    .bind(plugin_id)
    .bind(now)
    .execute(&app.db.pool)
    .await?;
    Ok(())
}

async fn deliver_to(app: &App, plugin_id: i64, coop_id: i64) -> Result<usize> {
    let now = app.clock.now_ms();
    start_cursor(app, plugin_id).await?;
    let row = sqlx::query(
        "SELECT last_event_id, attempts, retry_at FROM event_cursors WHERE plugin_id = $1",
    )
    .bind(plugin_id)
    .fetch_one(&app.db.pool)
    .await?;
    let (mut cursor, mut attempts, retry_at): (i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    if retry_at > now {
        return Ok(0);
    }
    let loaded = app.plugin(plugin_id).await?;
    let coop = identity::find_coop_by_id(&app.db, coop_id).await?;
    let rows = sqlx::query(
        "SELECT id, plugin, topic, payload, member_id, created_at FROM events \
         WHERE coop_id = $1 AND id > $2 AND NOT (plugin = $3 AND member_id IS NOT NULL) \
         ORDER BY id LIMIT $4",
    )
    .bind(coop_id)
    .bind(cursor)
    .bind(HOST_SOURCE)
    .bind(EVENTS_PER_PASS)
    .fetch_all(&app.db.pool)
    .await?;
    let mut delivered = 0;
    for r in rows {
        let (id, source, topic, payload_text, member, at): (
            i64,
            String,
            String,
            String,
            Option<i64>,
            i64,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let payload: Value = serde_json::from_str(&payload_text).unwrap_or(Value::Null);
        if wanted(
            &loaded.manifest.events,
            &loaded.name,
            &source,
            &topic,
            &payload,
        ) {
            let member = match member {
                Some(m) => Some(
                    identity::pseudonym_for_member(&app.db, &app.secret, coop_id, &loaded.name, m)
                        .await?,
                ),
                None => None,
            };
            let args = json!({"event": {"id": id, "source": source, "topic": topic,
                "payload": payload_text, "member": member, "at": at}});
            let scope = app.scope(&coop, &loaded, Actor::host(coop_id));
            let started = std::time::Instant::now();
            let outcome = runtime::call(
                &app.engine,
                &loaded,
                scope,
                SUBSCRIBER_INTERFACE,
                "on-event",
                &args,
            )
            .await;
            app.audit_call(crate::audit::Call {
                coop_id,
                plugin: Some(&loaded.name),
                interface: SUBSCRIBER_INTERFACE,
                function: "on-event",
                outcome: outcome.as_ref().map_or_else(|e| e.label(), |_| "ok"),
                started,
                caller: "host",
                member_id: None,
            });
            if let Err(e) = outcome {
                attempts += 1;
                let message: String = e.to_string().chars().take(2000).collect();
                if attempts >= MAX_DELIVERY_ATTEMPTS {
                    sqlx::query(
                        "INSERT INTO event_dead_letters (plugin_id, event_id, error, at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (plugin_id, event_id) DO NOTHING",
                    )
                    .bind(plugin_id)
                    .bind(id)
                    .bind(&message)
                    .bind(now)
                    .execute(&app.db.pool)
                    .await?;
                    tracing::warn!(plugin = %loaded.name, event = id, error = %message, "event skipped after repeated failures");
                    cursor = id;
                    attempts = 0;
                    save(app, plugin_id, cursor, 0, None, 0, now).await?;
                    continue;
                }
                let backoff = RETRY_BASE_MS.saturating_mul(1 << (attempts - 1).min(20));
                save(
                    app,
                    plugin_id,
                    cursor,
                    attempts,
                    Some(&message),
                    now + backoff,
                    now,
                )
                .await?;
                return Ok(delivered);
            }
            delivered += 1;
        }
        cursor = id;
        attempts = 0;
        save(app, plugin_id, cursor, 0, None, 0, now).await?;
    }
    Ok(delivered)
}

async fn save(
    app: &App,
    plugin_id: i64,
    cursor: i64,
    attempts: i64,
    error: Option<&str>,
    retry_at: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE event_cursors SET last_event_id = $1, attempts = $2, last_error = $3, retry_at = $4, updated_at = $5 \
         WHERE plugin_id = $6",
    )
    .bind(cursor)
    .bind(attempts)
    .bind(error)
    .bind(retry_at)
    .bind(now)
    .bind(plugin_id)
    .execute(&app.db.pool)
    .await?;
    Ok(())
}

/// Events skipped for `plugin_id` after repeated failures: (event id,
/// error, when).
pub async fn dead_letters(app: &App, plugin_id: i64) -> Result<Vec<(i64, String, i64)>> {
    let rows = sqlx::query(
        "SELECT event_id, error, at FROM event_dead_letters WHERE plugin_id = $1 ORDER BY event_id",
    )
    .bind(plugin_id)
    .fetch_all(&app.db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}
