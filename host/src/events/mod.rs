//! Events emitted by plugins, written in the emitting call's transaction
//! (an outbox: an event exists only if its call committed).

pub mod delivery;

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

/// Most events one call may emit.
pub const MAX_EVENTS_PER_CALL: usize = 100;
/// Largest event payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// An event waiting for its call to commit.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    /// Topic, e.g. `shift.claimed`.
    pub topic: String,
    /// JSON payload.
    pub payload: String,
    /// The member it is addressed to, if any.
    pub member_id: Option<i64>,
}

/// A stored event.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Sequence number within the host.
    pub id: i64,
    /// The emitting plugin.
    pub plugin: String,
    /// Topic.
    pub topic: String,
    /// JSON payload.
    pub payload: serde_json::Value,
    /// When it was emitted.
    pub created_at: i64,
}

/// Check a topic and payload before buffering.
pub fn check(topic: &str, payload: &str) -> Result<()> {
    let topic_ok = (1..=128).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    if !topic_ok {
        return Err(Error::Invalid(format!(
            "event topic {topic:?} must be 1 to 128 characters of a-z, 0-9, '.', '-', '_' and '/'"
        )));
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::Invalid(format!(
            "event payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    serde_json::from_str::<serde_json::Value>(payload)
        .map_err(|e| Error::Invalid(format!("event payload is not valid JSON: {e}")))?;
    Ok(())
}

/// Insert events in an open transaction.
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    plugin: &str,
    events: &[PendingEvent],
    now_ms: i64,
) -> Result<()> {
    for e in events {
        sqlx::query(
            "INSERT INTO events (coop_id, plugin, topic, payload, member_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(coop_id)
        .bind(plugin)
        .bind(&e.topic)
        .bind(&e.payload)
        .bind(e.member_id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Event {
    Event {
        id: r.get(0),
        plugin: r.get(1),
        topic: r.get(2),
        payload: serde_json::from_str(&r.get::<String, _>(3)).unwrap_or(serde_json::Value::Null),
        created_at: r.get(4),
    }
}

/// Events addressed to a member, newest first.
pub async fn for_member(db: &Db, coop_id: i64, member_id: i64, limit: i64) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, plugin, topic, payload, created_at FROM events WHERE coop_id = $1 AND member_id = $2 \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(event_from_row).collect())
}

/// Every event of a coop's plugin (admins and tests), oldest first.
pub async fn for_plugin(db: &Db, coop_id: i64, plugin: &str) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, plugin, topic, payload, created_at FROM events WHERE coop_id = $1 AND plugin = $2 ORDER BY id",
    )
    .bind(coop_id)
    .bind(plugin)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(event_from_row).collect())
}

/// A notification in a member's inbox: an event addressed to them, and
/// whether they have read it.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// Whether the member marked it read.
    pub read: bool,
}

/// A member's inbox, newest first; only unread ones with `unread_only`.
pub async fn inbox(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    unread_only: bool,
    limit: i64,
) -> Result<Vec<Notification>> {
    let filter = if unread_only {
        " AND r.event_id IS NULL"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT e.id, e.plugin, e.topic, e.payload, e.created_at, \
         CASE WHEN r.event_id IS NULL THEN 0 ELSE 1 END \
         FROM events e LEFT JOIN notification_reads r ON r.event_id = e.id AND r.member_id = e.member_id \
         WHERE e.coop_id = $1 AND e.member_id = $2{filter} ORDER BY e.id DESC LIMIT $3"
    ))
    .bind(coop_id)
    .bind(member_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Notification {
            event: event_from_row(r),
            read: r.get::<i64, _>(5) != 0,
        })
        .collect())
}

/// Notifications of a member newer than `after_id`, oldest first (for the
/// live stream).
pub async fn inbox_after(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, plugin, topic, payload, created_at FROM events WHERE coop_id = $1 AND member_id = $2 \
         AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(event_from_row).collect())
}

/// Mark notifications read: the given ids, or all of the member's with
/// `None`. Ids that are not the member's are ignored. Returns how many were
/// newly marked.
pub async fn mark_read(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    ids: Option<&[i64]>,
    now_ms: i64,
) -> Result<u64> {
    let mut marked = 0;
    let targets: Vec<i64> = match ids {
        Some(ids) => ids.to_vec(),
        None => sqlx::query(
            "SELECT e.id FROM events e LEFT JOIN notification_reads r ON r.event_id = e.id AND r.member_id = e.member_id \
             WHERE e.coop_id = $1 AND e.member_id = $2 AND r.event_id IS NULL",
        )
        .bind(coop_id)
        .bind(member_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect(),
    };
    for id in targets {
        let done = sqlx::query(
            "INSERT INTO notification_reads (event_id, member_id, read_at) \
             SELECT id, member_id, $1 FROM events WHERE id = $2 AND coop_id = $3 AND member_id = $4 \
             ON CONFLICT (event_id, member_id) DO NOTHING",
        )
        .bind(now_ms)
        .bind(id)
        .bind(coop_id)
        .bind(member_id)
        .execute(&db.pool)
        .await?;
        marked += done.rows_affected();
    }
    Ok(marked)
}

/// Put a notice from the host in the inbox of each of `members` (once
/// each), in the caller's transaction.
pub async fn notify_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    members: &[i64],
    topic: &str,
    payload: &serde_json::Value,
    now: i64,
) -> Result<()> {
    let text = payload.to_string();
    let mut seen = std::collections::BTreeSet::new();
    for m in members.iter().filter(|m| seen.insert(**m)) {
        sqlx::query(
            "INSERT INTO events (coop_id, plugin, topic, payload, member_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(coop_id)
        .bind(delivery::HOST_SOURCE)
        .bind(topic)
        .bind(&text)
        .bind(*m)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The active admins of a coop (who are told about flags, appeals and
/// contested ratings).
pub async fn admins_in(conn: &mut sqlx::AnyConnection, coop_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT id, roles FROM members WHERE coop_id = $1 AND status = 'active' ORDER BY id",
    )
    .bind(coop_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<String, _>(1).split(',').any(|x| x == "admin"))
        .map(|r| r.get(0))
        .collect())
}
