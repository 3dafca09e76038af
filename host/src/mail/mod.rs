//! Mail: an outbox in the database, sent in the background through the
//! operator's SMTP server.
//!
//! What causes a mail queues it with [`queue_in`] in its own transaction
//! (an application and its verification link, a deactivation and its
//! notice), so a mail exists exactly when what it reports happened. A
//! [`Mailer`] (one per host, started by `coophost serve`) claims due mails
//! under a lease, so several hosts on one database send each once, and
//! sends them; a failure is retried with exponential back-off, a permanent
//! refusal or [`MAX_ATTEMPTS`] failures mark the mail `failed`, kept in the
//! outbox where `coophost mail list` shows it. Nothing a person does waits
//! for SMTP or fails because of it.
//!
//! Without an SMTP server (the demo), mails stay `pending` in the outbox and
//! each is logged once as "not sent: no SMTP configured" with its recipient
//! and subject (never its body: it may hold a one-time link); `coophost mail
//! list` prints them whole. Configured later, the server gets the ones
//! younger than [`MAX_AGE_MS`].

mod message;
mod smtp;

pub use message::{Message, SecurityChange};
pub use smtp::{SMTP_TIMEOUT, Security, SmtpUrl};

use std::sync::Arc;

use lettre::AsyncTransport;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::{Error, Result};

/// How often a host's mailer looks for due mail.
pub const MAIL_TICK: std::time::Duration = std::time::Duration::from_secs(5);
/// Mails one pass claims: a pass stays short, and the next tick takes more.
pub const MAILS_PER_PASS: i64 = 20;
/// How long a claimed mail is this host's to send: well past
/// [`SMTP_TIMEOUT`], so another host does not send it meanwhile, and short
/// enough that a host that died mid-send delays it only a little.
pub const LEASE_MS: i64 = 120_000;
/// The first retry's delay; each further failure doubles it.
pub const RETRY_BASE_MS: i64 = 60_000;
/// The longest delay between two attempts.
pub const RETRY_MAX_MS: i64 = 6 * 3_600_000;
/// Attempts before a mail is marked `failed`: with the doubling capped at
/// [`RETRY_MAX_MS`], about two days of outage.
pub const MAX_ATTEMPTS: i64 = 16;
/// A mail not sent within this time is marked `expired` instead: its links
/// have long expired and its notice is stale (the inbox still has it).
pub const MAX_AGE_MS: i64 = 7 * 86_400_000;
/// Sent, failed and expired mails are deleted after this time.
pub const RETENTION_MS: i64 = 30 * 86_400_000;

/// Queue `message` for `to` (a normalised address), in the caller's
/// transaction. Addresses under `.invalid` (erased members) get nothing.
pub async fn queue_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: Option<i64>,
    to: &str,
    message: &Message,
    now: i64,
) -> Result<Option<i64>> {
    if to.ends_with(".invalid") {
        return Ok(None);
    }
    let body = serde_json::to_string(message).map_err(|e| Error::Internal(e.into()))?;
    let id: i64 = sqlx::query(
        "INSERT INTO mail_outbox (coop_id, to_addr, kind, subject, message, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) RETURNING id",
    )
    .bind(coop_id)
    .bind(to)
    .bind(message.kind())
    .bind(message.subject())
    .bind(body)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    Ok(Some(id))
}

/// Queue one mail per member of `coop_id` in `members`, to their account's
/// address, in the caller's transaction.
pub async fn queue_for_members_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    members: &[i64],
    message: &Message,
    now: i64,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for m in members.iter().filter(|m| seen.insert(**m)) {
        let to: Option<String> = sqlx::query(
            "SELECT u.email FROM members m JOIN users u ON u.id = m.user_id WHERE m.coop_id = $1 AND m.id = $2",
        )
        .bind(coop_id)
        .bind(*m)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.get(0));
        if let Some(to) = to {
            queue_in(conn, Some(coop_id), &to, message, now).await?;
        }
    }
    Ok(())
}

/// Queue one mail per active member of `coop_id` (a notice to everyone),
/// in one statement in the caller's transaction.
pub async fn queue_for_active_members_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    message: &Message,
    now: i64,
) -> Result<u64> {
    let body = serde_json::to_string(message).map_err(|e| Error::Internal(e.into()))?;
    Ok(sqlx::query(
        "INSERT INTO mail_outbox (coop_id, to_addr, kind, subject, message, status, attempts, \
         next_attempt_at, created_at) \
         SELECT $1, u.email, $2, $3, $4, 'pending', 0, $5, $5 FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.coop_id = $1 AND m.status = 'active' AND u.email NOT LIKE '%.invalid' ORDER BY m.id",
    )
    .bind(coop_id)
    .bind(message.kind())
    .bind(message.subject())
    .bind(body)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Forget the mails to `address` (a member's erasure), in the caller's
/// transaction.
pub async fn forget_in(conn: &mut sqlx::AnyConnection, address: &str) -> Result<()> {
    sqlx::query("DELETE FROM mail_outbox WHERE to_addr = $1")
        .bind(address)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A mail in the outbox, as `coophost mail list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Queued {
    /// Id.
    pub id: i64,
    /// Recipient.
    pub to: String,
    /// `verify-application`, `invitation`, ...
    pub kind: String,
    /// Subject line.
    pub subject: String,
    /// `pending`, `sent`, `failed` or `expired`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When queued.
    pub created_at: i64,
    /// When sent.
    pub sent_at: Option<i64>,
    /// What the body is rendered from; `None` once sent (its one-time
    /// links are not kept).
    pub message: Option<Message>,
}

/// The outbox, newest first, optionally only mails to `to` or with
/// `status`.
pub async fn list(
    db: &Db,
    to: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Queued>> {
    let rows = sqlx::query(
        "SELECT id, to_addr, kind, subject, status, attempts, last_error, created_at, sent_at, message \
         FROM mail_outbox WHERE ($1 IS NULL OR to_addr = $1) AND ($2 IS NULL OR status = $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(to)
    .bind(status)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Queued {
            id: r.get(0),
            to: r.get(1),
            kind: r.get(2),
            subject: r.get(3),
            status: r.get(4),
            attempts: r.get(5),
            last_error: r.get(6),
            created_at: r.get(7),
            sent_at: r.get(8),
            message: serde_json::from_str(&r.get::<String, _>(9)).ok(),
        })
        .collect())
}

/// Put failed or expired mail back in the queue (after fixing the SMTP
/// settings, say); returns how many.
pub async fn retry(db: &Db, id: Option<i64>, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, created_at = $1, \
         last_error = NULL WHERE status IN ('failed', 'expired') AND ($2 IS NULL OR id = $2)",
    )
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Delete sent, failed and expired mail older than [`RETENTION_MS`], and
/// mark pending mail older than [`MAX_AGE_MS`] expired. Returns how many
/// were deleted.
pub async fn purge(db: &Db, now: i64) -> Result<u64> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'expired', message = '{}', lease_owner = NULL, lease_until = NULL \
         WHERE status = 'pending' AND created_at <= $1",
    )
    .bind(now - MAX_AGE_MS)
    .execute(&db.pool)
    .await?;
    Ok(sqlx::query(
        "DELETE FROM mail_outbox WHERE status IN ('sent', 'failed', 'expired') AND created_at <= $1",
    )
    .bind(now - RETENTION_MS)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// The delay before attempt `attempts + 1`, after `attempts` failures.
pub fn backoff_ms(attempts: i64) -> i64 {
    let shift = attempts.clamp(1, 20) - 1;
    RETRY_BASE_MS.saturating_mul(1 << shift).min(RETRY_MAX_MS)
}

/// How the host sends mail.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The SMTP server; `None` keeps mail in the outbox.
    pub smtp: Option<SmtpUrl>,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    /// The host's public URL, under which mails link to its pages.
    pub public_url: String,
}

/// What one pass of the mailer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Mails the server accepted.
    pub sent: usize,
    /// Attempts that failed (retried later, or marked failed).
    pub failed: usize,
    /// Mails logged as not sent (no SMTP server).
    pub held: usize,
}

/// Sends the outbox: one per host process.
pub struct Mailer {
    transport: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
    from: Mailbox,
    public_url: String,
    owner: String,
}

impl Mailer {
    /// A mailer for `settings`; a bad sender address or SMTP URL is an
    /// error that says what to fix.
    pub fn new(settings: &MailSettings) -> anyhow::Result<Mailer> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            anyhow::anyhow!(
                "the mail sender {:?} is not an address such as \"Coop host <noreply@coops.example>\": {e}",
                settings.from
            )
        })?;
        let transport = match &settings.smtp {
            Some(url) => Some(url.transport().map_err(anyhow::Error::msg)?),
            None => None,
        };
        let mut tag = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut tag);
        Ok(Mailer {
            transport,
            from,
            public_url: settings.public_url.trim_end_matches('/').to_string(),
            owner: format!("mailer:{}:{}", std::process::id(), hex::encode(tag)),
        })
    }

    /// Send (or, without SMTP, log) what is due at `now`, once.
    pub async fn send_due(&self, db: &Db, now: i64) -> Result<Pass> {
        let Some(transport) = &self.transport else {
            return self.log_held(db, now).await;
        };
        let mut pass = Pass::default();
        for id in self.claim(db, now).await? {
            let row = sqlx::query(
                "SELECT to_addr, subject, message, attempts FROM mail_outbox WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(&self.owner)
            .fetch_optional(&db.pool)
            .await?;
            let Some(row) = row else { continue };
            let to: String = row.get(0);
            let subject: String = row.get(1);
            let attempts: i64 = row.get(3);
            let outcome = match serde_json::from_str::<Message>(&row.get::<String, _>(2)) {
                Ok(message) => self.send_one(transport, &to, &subject, &message).await,
                Err(e) => Err((true, format!("unreadable outbox entry: {e}"))),
            };
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
                         message = '{}', last_error = NULL, lease_owner = NULL, lease_until = NULL \
                         WHERE id = $2 AND lease_owner = $3",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(&self.owner)
                    .execute(&db.pool)
                    .await?;
                    tracing::info!(mail = id, %to, %subject, "mail sent");
                    pass.sent += 1;
                }
                Err((permanent, error)) => {
                    let attempts = attempts + 1;
                    let give_up = permanent || attempts >= MAX_ATTEMPTS;
                    sqlx::query(
                        "UPDATE mail_outbox SET status = $1, attempts = $2, next_attempt_at = $3, \
                         last_error = $4, lease_owner = NULL, lease_until = NULL WHERE id = $5 AND lease_owner = $6",
                    )
                    .bind(if give_up { "failed" } else { "pending" })
                    .bind(attempts)
                    .bind(now + backoff_ms(attempts))
                    .bind(&error)
                    .bind(id)
                    .bind(&self.owner)
                    .execute(&db.pool)
                    .await?;
                    if give_up {
                        tracing::error!(mail = id, %to, %subject, attempts, %error,
                            "mail not sent, given up: see coophost mail list --status failed");
                    } else {
                        tracing::warn!(mail = id, %to, %subject, attempts, %error, "mail not sent, will retry");
                    }
                    pass.failed += 1;
                }
            }
        }
        Ok(pass)
    }

    /// Claim up to [`MAILS_PER_PASS`] due mails, each with one guarded
    /// update, so two hosts never claim the same one.
    async fn claim(&self, db: &Db, now: i64) -> Result<Vec<i64>> {
        let due: Vec<i64> = sqlx::query(
            "SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND created_at > $2 AND (lease_until IS NULL OR lease_until <= $1) \
             ORDER BY next_attempt_at, id LIMIT $3",
        )
        .bind(now)
        .bind(now - MAX_AGE_MS)
        .bind(MAILS_PER_PASS)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        let mut claimed = Vec::with_capacity(due.len());
        for id in due {
            let done = sqlx::query(
                "UPDATE mail_outbox SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
                 AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $4)",
            )
            .bind(&self.owner)
            .bind(now + LEASE_MS)
            .bind(id)
            .bind(now)
            .execute(&db.pool)
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(id);
            }
        }
        Ok(claimed)
    }

    /// One SMTP conversation. The error says whether retrying is useless
    /// (the server refused for good) and what went wrong.
    async fn send_one(
        &self,
        transport: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        to: &str,
        subject: &str,
        message: &Message,
    ) -> std::result::Result<(), (bool, String)> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| (true, format!("bad recipient address: {e}")))?;
        let mail = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(message.body(&self.public_url))
            .map_err(|e| (true, format!("cannot build the mail: {e}")))?;
        transport
            .send(mail)
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string()))
    }

    /// Without SMTP: log each pending mail once, keep it in the outbox.
    async fn log_held(&self, db: &Db, now: i64) -> Result<Pass> {
        let rows = sqlx::query(
            "SELECT id, to_addr, subject FROM mail_outbox WHERE status = 'pending' AND logged_at IS NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(MAILS_PER_PASS)
        .fetch_all(&db.pool)
        .await?;
        for r in &rows {
            let (id, to, subject): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
            tracing::info!(mail = id, %to, %subject,
                "mail not sent: no SMTP configured (coophost mail list shows it whole)");
            sqlx::query("UPDATE mail_outbox SET logged_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&db.pool)
                .await?;
        }
        Ok(Pass {
            held: rows.len(),
            ..Pass::default()
        })
    }

    /// Send in the background for as long as the process lives: every
    /// [`MAIL_TICK`], or again at once while full passes keep coming.
    pub fn spawn(self: Arc<Self>, db: Db, clock: SharedClock) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.send_due(&db, clock.now_ms()).await {
                    Ok(p) if (p.sent + p.failed) as i64 >= MAILS_PER_PASS => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mail pass failed"),
                }
                tokio::time::sleep(MAIL_TICK).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_its_cap() {
        assert_eq!(backoff_ms(1), RETRY_BASE_MS);
        assert_eq!(backoff_ms(2), 2 * RETRY_BASE_MS);
        assert_eq!(backoff_ms(5), 16 * RETRY_BASE_MS);
        assert_eq!(backoff_ms(MAX_ATTEMPTS), RETRY_MAX_MS);
        let total: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!(
            total > 36 * 3_600_000,
            "retries cover a long outage: {total}"
        );
    }
}
