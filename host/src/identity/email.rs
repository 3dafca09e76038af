//! Proving an account's email address, and the one-time links mailed to
//! it: verification of an application's address, password reset, and the
//! first password of someone an admin added.
//!
//! An account is bound to a person only once its address is proven
//! (`users.email_verified_at`): by a link mailed there, by accepting an
//! invitation (its token was mailed there), or because the host's own tools
//! vouch (the operator's CLI, the demo). Until then it cannot log in, is
//! not reused when someone adds or invites the address (whoever proves the
//! address next sets its password), and it is deleted after
//! [`UNVERIFIED_ACCOUNT_TTL_MS`] unless an admin made it a member.
//!
//! Links are random 256-bit tokens stored as SHA-256 hashes, used once,
//! short-lived. A link is followed by a POST from the page it opens, never
//! by the GET itself, so a mail scanner fetching it consumes nothing.

use sqlx::Row;

use super::{hash_token, new_token, normalise_email};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::mail::{self, Message};
use crate::throttle::Rule;

/// How long an account whose address is unproven is kept: long enough to
/// find the mail, short enough that an address claimed by someone else is
/// free again soon.
pub const UNVERIFIED_ACCOUNT_TTL_MS: i64 = 48 * 3_600_000;
/// How long a verification link works (re-applying sends a new one while
/// the account waits).
pub const VERIFY_TOKEN_TTL_MS: i64 = 24 * 3_600_000;
/// How long a password-reset link works: a mailbox is read within the
/// hour, and a stolen old mail is then useless.
pub const RESET_TOKEN_TTL_MS: i64 = 3_600_000;
/// How long the first-password link of a member an admin added works (like
/// an invitation, it may wait for a few days; a new one is a password
/// reset away).
pub const WELCOME_TOKEN_TTL_MS: i64 = 7 * 86_400_000;
/// Unverified accounts deleted per clean-up pass (the next pass takes the
/// rest), so one pass stays short.
pub const PURGE_BATCH: i64 = 500;

/// Password-reset requests per address: a few tries for someone whose
/// mail is slow, not a way to flood an inbox.
pub const RESET_PER_ADDRESS: Rule = Rule {
    name: "password-reset.address",
    limit: 3,
    window_ms: 3_600_000,
};
/// Password-reset requests per client address: one person forgets a few
/// passwords, not hundreds.
pub const RESET_PER_IP: Rule = Rule {
    name: "password-reset.ip",
    limit: 10,
    window_ms: 3_600_000,
};
/// Attempts to confirm an address per client address: a confirmation
/// checks the password given with the application, which must not be
/// guessable by trying.
pub const CONFIRM_PER_IP: Rule = Rule {
    name: "verify-email.ip",
    limit: 20,
    window_ms: 15 * 60_000,
};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the address an application gave.
    Verify,
    /// Choose a new password.
    Reset,
    /// Choose a first password (an admin added the address).
    Welcome,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
            Purpose::Welcome => "welcome",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Purpose::Verify => "ver",
            Purpose::Reset | Purpose::Welcome => "pwd",
        }
    }

    fn ttl_ms(self) -> i64 {
        match self {
            Purpose::Verify => VERIFY_TOKEN_TTL_MS,
            Purpose::Reset => RESET_TOKEN_TTL_MS,
            Purpose::Welcome => WELCOME_TOKEN_TTL_MS,
        }
    }
}

/// An account as this module sees it.
#[derive(Clone, Debug)]
pub struct Account {
    /// User id.
    pub id: i64,
    /// Normalised address.
    pub email: String,
    /// argon2id hash, or `!` (no password works).
    pub password_hash: String,
    /// Whether its address is proven.
    pub verified: bool,
}

/// The account of `email` (normalised), proven or not.
pub async fn account_in(conn: &mut sqlx::AnyConnection, email: &str) -> Result<Option<Account>> {
    Ok(sqlx::query(
        "SELECT id, email, password_hash, email_verified_at FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| Account {
        id: r.get(0),
        email: r.get(1),
        password_hash: r.get(2),
        verified: r.get::<Option<i64>, _>(3).is_some(),
    }))
}

/// Create an account whose address is not proven yet: no password works
/// until it is.
pub async fn create_unverified_in(
    conn: &mut sqlx::AnyConnection,
    email: &str,
    display_name: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, is_operator, created_at) \
         VALUES ($1, $2, '!', 0, $3) RETURNING id",
    )
    .bind(email)
    .bind(display_name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .get(0))
}

/// Revoke every session of `user_id`; returns how many were open.
pub async fn revoke_sessions_in(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<u64> {
    Ok(
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    )
}

/// Bind `user_id` to whoever just proved its address: it takes
/// `password_hash`, is marked verified (if it was not), every session is
/// revoked and every outstanding password link voided.
pub async fn claim_in(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    password_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    revoke_sessions_in(conn, user_id, now).await?;
    sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose IN ('reset', 'welcome') \
         AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Leave an unproven account with no usable password (someone an admin
/// adds must choose their own) and revoke its sessions.
pub async fn lock_in(conn: &mut sqlx::AnyConnection, user_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = '!' WHERE id = $1 AND email_verified_at IS NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    revoke_sessions_in(conn, user_id, now).await?;
    Ok(())
}

/// Store a new link for `user_id` and return its token (shown only in the
/// mail).
pub async fn create_token_in(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    purpose: Purpose,
    password_hash: Option<&str>,
    request_id: Option<i64>,
    now: i64,
) -> Result<String> {
    let token = new_token(purpose.prefix());
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, password_hash, request_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(password_hash)
    .bind(request_id)
    .bind(now)
    .bind(now + purpose.ttl_ms())
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// A link found by its token, not used and not expired.
#[derive(Clone, Debug)]
pub struct Link {
    /// The token's hash (its key).
    pub token_hash: String,
    /// The account.
    pub user_id: i64,
    /// For a verification: the password given with the application.
    pub password_hash: Option<String>,
    /// For a verification: the application.
    pub request_id: Option<i64>,
}

/// The live link of `token` for one of `purposes`; what is wrong otherwise.
pub async fn find_link(db: &Db, token: &str, purposes: &[Purpose], now: i64) -> Result<Link> {
    let row = sqlx::query(
        "SELECT token_hash, user_id, purpose, password_hash, request_id, expires_at, used_at \
         FROM email_tokens WHERE token_hash = $1",
    )
    .bind(hash_token(token.trim()))
    .fetch_optional(&db.pool)
    .await?;
    let unknown = || {
        Error::NotFound(
            "this link is not valid: check that it was copied whole, or ask for a new one".into(),
        )
    };
    let row = row.ok_or_else(unknown)?;
    let purpose: String = row.get(2);
    if !purposes.iter().any(|p| p.as_str() == purpose) {
        return Err(unknown());
    }
    if row.get::<Option<i64>, _>(6).is_some() {
        return Err(Error::Conflict(
            "this link was already used (a link works once): ask for a new one if you need to"
                .into(),
        ));
    }
    if row.get::<i64, _>(5) <= now {
        return Err(Error::Conflict(
            "this link has expired: ask for a new one (apply again, or use \"forgot password\")"
                .into(),
        ));
    }
    Ok(Link {
        token_hash: row.get(0),
        user_id: row.get(1),
        password_hash: row.get(3),
        request_id: row.get(4),
    })
}

/// Mark a link used, in the caller's transaction; a link used meanwhile
/// (two clicks at once) is a conflict.
pub async fn use_link_in(conn: &mut sqlx::AnyConnection, link: &Link, now: i64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&link.token_hash)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(
            "this link was already used (a link works once)".into(),
        ));
    }
    Ok(())
}

/// Mail a password-reset link to `email` if it has an account. The answer
/// is the same either way, so nobody learns which addresses have accounts.
/// A reset also proves an unproven address: that is how its owner takes
/// back an address someone else applied with.
pub async fn request_password_reset(db: &Db, clock: &dyn Clock, email: &str) -> Result<()> {
    let email = normalise_email(email)?;
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let Some(account) = account_in(&mut tx, &email).await? else {
        return Ok(());
    };
    let token = create_token_in(&mut tx, account.id, Purpose::Reset, None, None, now).await?;
    mail::queue_in(
        &mut tx,
        None,
        &account.email,
        &Message::PasswordReset { token },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Set a new password with a reset (or first-password) link: the link is
/// used up, the address counts as proven, every session of the account is
/// revoked. Returns the account's address.
pub async fn confirm_password_reset(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
    password: &str,
) -> Result<String> {
    super::check_password(password)?;
    let now = clock.now_ms();
    let link = find_link(db, token, &[Purpose::Reset, Purpose::Welcome], now).await?;
    let hash = super::hash_password(password).await?;
    let mut tx = db.begin_write().await?;
    use_link_in(&mut tx, &link, now).await?;
    claim_in(&mut tx, link.user_id, &hash, now).await?;
    let email: String = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(link.user_id)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
    tx.commit().await?;
    Ok(email)
}

/// Delete links past their expiry, and accounts whose address was never
/// proven within [`UNVERIFIED_ACCOUNT_TTL_MS`] and that nobody made a
/// member or an operator (with their sessions and links). Returns how many
/// accounts went.
pub async fn purge(db: &Db, now: i64) -> Result<u64> {
    sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    let ids: Vec<i64> = sqlx::query(
        "SELECT u.id FROM users u WHERE u.email_verified_at IS NULL AND u.created_at <= $1 \
         AND u.is_operator = 0 AND NOT EXISTS (SELECT 1 FROM members m WHERE m.user_id = u.id) \
         ORDER BY u.id LIMIT $2",
    )
    .bind(now - UNVERIFIED_ACCOUNT_TTL_MS)
    .bind(PURGE_BATCH)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut deleted = 0;
    for id in ids {
        let mut tx = db.begin_write().await?;
        // Still unproven and joined nowhere (a concurrent proof or addition wins).
        let still = sqlx::query(
            "SELECT 1 FROM users u WHERE u.id = $1 AND u.email_verified_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM members m WHERE m.user_id = u.id)",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if still.is_none() {
            continue;
        }
        for table in ["email_tokens", "sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        deleted += sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
    }
    Ok(deleted)
}
