//! Flags: a concern about a member raised by an automated system (a plugin
//! through `coop:host/moderation.flag`, a service account through the API)
//! or by an admin. A flag is recorded with who raised it and why, the
//! admins are told, and nothing else changes: an admin dismisses it or
//! acts on it with a deactivation ([`super::deactivation::deactivate`]).
//!
//! A plugin's flags are part of its call: they are kept only if the call
//! commits (DESIGN invariant 4), so their ids are chosen by the host when
//! the plugin asks (random, below 2^53 so JSON clients keep them exact).

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::{MAX_REASON_BYTES, admins_in, check_reason, human_admin, notify_in};
use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::governance::proposals::DECISIONS;
use crate::identity::Actor;

/// A flag waiting for its plugin call to commit.
#[derive(Clone, Debug)]
pub struct PendingFlag {
    /// Its id, already given to the plugin.
    pub id: i64,
    /// The member it is about.
    pub member_id: i64,
    /// Why, checked.
    pub reason: String,
}

/// A stored flag.
#[derive(Clone, Debug, Serialize)]
pub struct Flag {
    /// Id.
    pub id: i64,
    /// The member it is about.
    pub member: i64,
    /// `plugin`, `service` or `member` (an admin).
    pub source: String,
    /// The plugin that raised it.
    pub plugin: Option<String>,
    /// The service key that raised it.
    pub service_key: Option<i64>,
    /// The admin who raised it.
    pub flagged_by: Option<i64>,
    /// Why.
    pub reason: String,
    /// `open`, `dismissed` or `acted`.
    pub status: String,
    /// When it was raised.
    pub created_at: i64,
    /// The admin who dismissed it or acted on it.
    pub resolved_by: Option<i64>,
    /// When.
    pub resolved_at: Option<i64>,
    /// Why it was dismissed.
    pub resolution: Option<String>,
    /// The decision that acted on it.
    pub decision: Option<i64>,
}

const COLUMNS: &str = "id, member_id, source, plugin, service_key, flagged_by, reason, status, created_at, \
     resolved_by, resolved_at, resolution, decision_id";

fn from_row(r: &sqlx::any::AnyRow) -> Flag {
    Flag {
        id: r.get(0),
        member: r.get(1),
        source: r.get(2),
        plugin: r.get(3),
        service_key: r.get(4),
        flagged_by: r.get(5),
        reason: r.get(6),
        status: r.get(7),
        created_at: r.get(8),
        resolved_by: r.get(9),
        resolved_at: r.get(10),
        resolution: r.get(11),
        decision: r.get(12),
    }
}

/// A flag's reason: not blank, at most [`MAX_REASON_BYTES`]. (An automated
/// reason may be short, "3 missed pickups"; a human decision's may not.)
pub fn check_flag_reason(reason: &str) -> Result<String> {
    super::check_text("a flag's reason", reason, 1, MAX_REASON_BYTES)
}

/// A fresh flag id: random, from 1 to 2^53 - 1.
pub fn new_id() -> i64 {
    ((rand::random::<u64>() >> 11).max(1)) as i64
}

/// Who raised a flag.
enum Source<'a> {
    Plugin(&'a str),
    Service(i64),
    Admin(i64),
}

async fn insert_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    source: &Source<'_>,
    flag: &PendingFlag,
    now: i64,
) -> Result<()> {
    let (kind, plugin, key, by) = match *source {
        Source::Plugin(p) => ("plugin", Some(p), None, None),
        Source::Service(k) => ("service", None, Some(k), None),
        Source::Admin(m) => ("member", None, None, Some(m)),
    };
    let member: Option<String> =
        sqlx::query("SELECT status FROM members WHERE coop_id = $1 AND id = $2")
            .bind(coop_id)
            .bind(flag.member_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.get(0));
    if member.is_none() {
        return Err(Error::NotFound(format!(
            "no member {} in this coop",
            flag.member_id
        )));
    }
    sqlx::query(
        "INSERT INTO member_flags (id, coop_id, member_id, source, plugin, service_key, flagged_by, reason, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9)",
    )
    .bind(flag.id)
    .bind(coop_id)
    .bind(flag.member_id)
    .bind(kind)
    .bind(plugin)
    .bind(key)
    .bind(by)
    .bind(&flag.reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    chain::append_in(
        conn,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "member.flagged".into(),
            body: json!({"flag": flag.id, "member": flag.member_id, "source": kind,
                "plugin": plugin, "service_key": key, "by": by}),
            personal: Some(json!({"reason": flag.reason})),
        },
        now,
    )
    .await?;
    let admins = admins_in(conn, coop_id).await?;
    notify_in(
        conn,
        coop_id,
        &admins,
        "moderation.flagged",
        &json!({"flag": flag.id, "member": flag.member_id, "source": kind, "plugin": plugin,
            "reason": flag.reason,
            "message": "A member was flagged. A flag changes nothing: dismiss it or act on it (POST .../flags/{id}/dismiss or /act)."}),
        now,
    )
    .await?;
    Ok(())
}

/// Record the flags a plugin call raised, in the call's commit
/// transaction.
pub async fn commit_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    plugin: &str,
    flags: &[PendingFlag],
    now: i64,
) -> Result<()> {
    for f in flags {
        insert_in(conn, coop_id, &Source::Plugin(plugin), f, now).await?;
    }
    Ok(())
}

/// Flag `member_id` through the API: a service account (an automated
/// system) or an admin may.
pub async fn raise(
    db: &Db,
    coop_id: i64,
    actor: &Actor,
    member_id: i64,
    reason: &str,
    now: i64,
) -> Result<Flag> {
    let source = match (actor.service_key, actor.member_id) {
        (Some(k), _) => Source::Service(k),
        (None, Some(m)) if actor.has_role("admin") => Source::Admin(m),
        _ => {
            return Err(Error::Forbidden(
                "flags are raised by the coop's automated systems (service accounts, plugins) and its admins"
                    .into(),
            ));
        }
    };
    let flag = PendingFlag {
        id: new_id(),
        member_id,
        reason: check_flag_reason(reason)?,
    };
    let mut tx = db.begin_write().await?;
    insert_in(&mut tx, coop_id, &source, &flag, now).await?;
    tx.commit().await?;
    get(db, coop_id, flag.id).await
}

/// One flag.
pub async fn get(db: &Db, coop_id: i64, id: i64) -> Result<Flag> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM member_flags WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no flag {id} in this coop")))?;
    Ok(from_row(&row))
}

/// The coop's flags, newest first: open ones only, or all.
pub async fn list(db: &Db, coop_id: i64, open_only: bool) -> Result<Vec<Flag>> {
    let filter = if open_only {
        " AND status = 'open'"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM member_flags WHERE coop_id = $1{filter} ORDER BY created_at DESC, id LIMIT 500"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The flags about `member_id`, newest first (the member sees them).
pub async fn for_member(db: &Db, coop_id: i64, member_id: i64) -> Result<Vec<Flag>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM member_flags WHERE coop_id = $1 AND member_id = $2 \
         ORDER BY created_at DESC, id LIMIT 500"
    ))
    .bind(coop_id)
    .bind(member_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Dismiss an open flag, saying why (a person who is an admin).
pub async fn dismiss(
    db: &Db,
    coop_id: i64,
    actor: &Actor,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<Flag> {
    let me = human_admin(actor, "dismiss a flag")?;
    let reason = check_reason(reason)?;
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE member_flags SET status = 'dismissed', resolved_by = $1, resolved_at = $2, resolution = $3 \
         WHERE coop_id = $4 AND id = $5 AND status = 'open'",
    )
    .bind(me)
    .bind(now)
    .bind(&reason)
    .bind(coop_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        drop(tx);
        let f = get(db, coop_id, id).await?;
        return Err(Error::Conflict(format!(
            "flag {id} is already {}",
            f.status
        )));
    }
    chain::append_in(
        &mut tx,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "flag.dismissed".into(),
            body: json!({"flag": id, "by": me}),
            personal: Some(json!({"reason": reason})),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    get(db, coop_id, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_exact_in_json_and_reasons_may_be_short_but_not_blank() {
        for _ in 0..1000 {
            let id = new_id();
            assert!((1..1 << 53).contains(&id), "{id}");
        }
        assert_eq!(
            check_flag_reason(" 3 missed pickups ").unwrap(),
            "3 missed pickups"
        );
        assert!(matches!(check_flag_reason(" \n "), Err(Error::Invalid(_))));
        assert!(matches!(
            check_flag_reason(&"x".repeat(MAX_REASON_BYTES + 1)),
            Err(Error::Invalid(_))
        ));
    }
}
