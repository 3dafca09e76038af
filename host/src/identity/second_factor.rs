//! A person's second factor: a TOTP secret (sealed under the host secret,
//! shown once at enrolment) and single-use recovery codes (stored hashed,
//! shown once when made).
//!
//! Enrolment is two steps: [`start`] (after the password is given again)
//! makes a pending secret; [`confirm`] with a code from the app makes it
//! active, returns the recovery codes and marks the session it was done in
//! as opened with the second factor. From then on logging in takes a code.
//! [`disable`] and [`regenerate_codes`] take a current code (TOTP or
//! recovery), so a stolen session alone can neither turn the factor off
//! nor read new codes.

use serde::Serialize;
use sqlx::Row;

use super::login::{AuthError, Gate, check_code, recheck_password};
use super::secrets::{hash_token, new_token};
use super::totp;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::Error;
use crate::mail::{Message, SecurityChange};

/// Recovery codes made at a time: enough for years of lost phones, few
/// enough to print.
pub const RECOVERY_CODES: usize = 10;
/// Base32 characters per recovery code: 80 random bits, out of reach of
/// guessing online and of brute force on a leaked SHA-256 hash.
pub const RECOVERY_CODE_CHARS: usize = 16;

/// Derivation label of the key sealing TOTP secrets: changing it orphans
/// every enrolment.
const SEAL_LABEL: &[u8] = b"coophost totp secrets v1";

fn aad(user_id: i64) -> String {
    format!("user {user_id} totp")
}

/// What a person sees of their second factor.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// A confirmed second factor: logging in takes a code.
    pub enrolled: bool,
    /// When it was confirmed, ms since the epoch.
    pub enrolled_at: Option<i64>,
    /// An enrolment started and not confirmed yet.
    pub pending: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
}

/// A started enrolment: the secret to put in an authenticator app. It is
/// never shown again.
#[derive(Clone, Debug, Serialize)]
pub struct Enrolment {
    /// The secret, base32 (type it in, or use the URI).
    pub secret: String,
    /// `otpauth://totp/...`, what a QR code would carry.
    pub otpauth_uri: String,
}

/// Whether `user_id` has a confirmed second factor.
pub async fn enrolled(db: &Db, user_id: i64) -> Result<bool, Error> {
    Ok(
        sqlx::query("SELECT 1 FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// The second factor of `user_id`, as they see it.
pub async fn status(db: &Db, user_id: i64) -> Result<Status, Error> {
    let row = sqlx::query("SELECT confirmed_at FROM second_factors WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    let confirmed: Option<i64> = row.as_ref().and_then(|r| r.get(0));
    let left: i64 =
        sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(&db.pool)
            .await?
            .get(0);
    Ok(Status {
        enrolled: confirmed.is_some(),
        enrolled_at: confirmed,
        pending: row.is_some() && confirmed.is_none(),
        recovery_codes_left: if confirmed.is_some() { left } else { 0 },
    })
}

/// Start enrolling: check the password again, make a new secret (replacing
/// an unconfirmed one) and return it once. `issuer` names this host in the
/// app.
pub async fn start(
    db: &Db,
    clock: &dyn Clock,
    host_secret: &[u8],
    user_id: i64,
    password: &str,
    address: &str,
    issuer: &str,
) -> Result<Enrolment, AuthError> {
    let now = clock.now_ms();
    if enrolled(db, user_id).await? {
        return Err(Error::Conflict(
            "a second factor is already active: disable it first (with a current code) to \
             enrol another"
                .into(),
        )
        .into());
    }
    recheck_password(db, now, host_secret, user_id, password, address).await?;
    let secret = totp::new_secret();
    let sealed = crate::sealed::seal(host_secret, SEAL_LABEL, &aad(user_id), &secret)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("failed to seal a TOTP secret")))?;
    // Only a pending enrolment is replaced: a concurrent confirm wins.
    sqlx::query(
        "INSERT INTO second_factors (user_id, sealed_secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
         created_at = excluded.created_at, last_step = 0 \
         WHERE second_factors.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(&sealed)
    .bind(now)
    .execute(&db.pool)
    .await?;
    let email: String = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?
        .get(0);
    Ok(Enrolment {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(issuer, &email, &secret),
    })
}

async fn load_secret(
    db: &Db,
    host_secret: &[u8],
    user_id: i64,
) -> Result<Option<(Vec<u8>, i64, bool)>, Error> {
    let Some(row) = sqlx::query(
        "SELECT sealed_secret, last_step, confirmed_at FROM second_factors WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    let sealed: String = row.get(0);
    let secret =
        crate::sealed::open(host_secret, SEAL_LABEL, &aad(user_id), &sealed).map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "the TOTP secret of user {user_id} cannot be opened ({}): was the host secret \
                 changed? the user can log in with a recovery code and enrol again",
                e.why()
            ))
        })?;
    Ok(Some((
        secret,
        row.get(1),
        row.get::<Option<i64>, _>(2).is_some(),
    )))
}

/// Spend a TOTP code (its time step, atomically, so it works once) or a
/// recovery code of `user_id`; whether it was right. A pending (not
/// confirmed) secret's codes only count when `pending` is asked for.
async fn spend(
    db: &Db,
    now: i64,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
    pending: bool,
) -> Result<bool, Error> {
    if totp::looks_like_code(code) {
        let Some((secret, last_step, confirmed)) = load_secret(db, host_secret, user_id).await?
        else {
            return Ok(false);
        };
        if confirmed == pending {
            return Ok(false);
        }
        let Some(step) = totp::verify(&secret, code, now, last_step) else {
            return Ok(false);
        };
        // Two requests with the same code: only one moves last_step.
        let done = sqlx::query(
            "UPDATE second_factors SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(&db.pool)
        .await?;
        return Ok(done.rows_affected() == 1);
    }
    if pending {
        return Ok(false);
    }
    let Some(normalised) = normalise_recovery_code(code) else {
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(hash_token(&normalised))
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spend a code of an active second factor (see [`spend`]).
pub(super) async fn spend_code(
    db: &Db,
    now: i64,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
) -> Result<bool, Error> {
    spend(db, now, host_secret, user_id, code, false).await
}

/// Confirm a started enrolment with a code from the app: the second factor
/// becomes active, the session `token` counts as opened with it, and the
/// recovery codes are returned (shown once).
pub async fn confirm(
    db: &Db,
    clock: &dyn Clock,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
    token: &str,
) -> Result<Vec<String>, AuthError> {
    let now = clock.now_ms();
    match load_secret(db, host_secret, user_id).await? {
        None => {
            return Err(Error::Conflict(
                "no enrolment was started: start one first (POST /v1/me/second-factor)".into(),
            )
            .into());
        }
        Some((_, _, true)) => {
            return Err(Error::Conflict("this second factor is already active".into()).into());
        }
        Some(_) => {}
    }
    check_pending_code(db, now, host_secret, user_id, code).await?;
    let done = sqlx::query(
        "UPDATE second_factors SET confirmed_at = $1 WHERE user_id = $2 AND confirmed_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict("this second factor is already active".into()).into());
    }
    sqlx::query("UPDATE sessions SET second_factor = 1 WHERE token_hash = $1 AND user_id = $2")
        .bind(hash_token(token))
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    let codes = replace_codes(db, now, user_id).await?;
    let mut tx = db.begin_write().await.map_err(Error::from)?;
    tell_owner_in(&mut tx, user_id, SecurityChange::SecondFactorOn, now).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Check a code of the pending secret under the second-factor limits.
async fn check_pending_code(
    db: &Db,
    now: i64,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
) -> Result<(), AuthError> {
    let gate = Gate::second_factor(user_id);
    gate.enter(db, now).await?;
    if spend(db, now, host_secret, user_id, code, true).await? {
        gate.clear(db).await?;
        return Ok(());
    }
    Err(Error::Invalid(
        "wrong code: give the 6-digit code your authenticator app shows for this account now \
         (check the phone's clock)"
            .into(),
    )
    .into())
}

fn wrong_code() -> AuthError {
    Error::Forbidden(
        "wrong code: give the 6-digit code your authenticator app shows now, or an unused \
         recovery code"
            .into(),
    )
    .into()
}

/// Turn the second factor off, with a current TOTP or recovery code.
pub async fn disable(
    db: &Db,
    clock: &dyn Clock,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
) -> Result<(), AuthError> {
    if !enrolled(db, user_id).await? {
        return Err(Error::Conflict("no second factor is active on this account".into()).into());
    }
    if !check_code(db, clock.now_ms(), host_secret, user_id, code).await? {
        return Err(wrong_code());
    }
    let mut tx = db.pool.begin().await?;
    forget_in(&mut tx, user_id).await?;
    tell_owner_in(
        &mut tx,
        user_id,
        SecurityChange::SecondFactorOff,
        clock.now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Mail the owner of `user_id` that `change` happened, in the caller's
/// transaction (so the mail exists exactly when the change does).
async fn tell_owner_in(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    change: SecurityChange,
    now: i64,
) -> Result<(), Error> {
    let email: Option<String> = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.get(0));
    if let Some(email) = email {
        crate::mail::queue_in(conn, None, &email, &Message::SecurityChange { change }, now).await?;
    }
    Ok(())
}

/// The host operator removes the second factor of the account `email`
/// (its owner lost the device and the recovery codes, and proved who they
/// are out of band): the factor and its codes go, every session of the
/// account is logged out, and the owner is told by mail. Whether the
/// account had one.
pub async fn reset_by_operator(db: &Db, clock: &dyn Clock, email: &str) -> Result<bool, Error> {
    let email = super::normalise_email(email)?;
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let Some(user_id) = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get::<i64, _>(0))
    else {
        return Err(Error::NotFound(format!(
            "no account with the address {email}"
        )));
    };
    let had: i64 = sqlx::query("SELECT COUNT(*) FROM second_factors WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
    forget_in(&mut tx, user_id).await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if had > 0 {
        tell_owner_in(
            &mut tx,
            user_id,
            SecurityChange::SecondFactorResetByOperator,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(had > 0)
}

/// Replace the recovery codes with new ones, with a current TOTP or
/// recovery code; the new codes are returned (shown once).
pub async fn regenerate_codes(
    db: &Db,
    clock: &dyn Clock,
    host_secret: &[u8],
    user_id: i64,
    code: &str,
) -> Result<Vec<String>, AuthError> {
    if !enrolled(db, user_id).await? {
        return Err(Error::Conflict(
            "no second factor is active on this account: enrol first".into(),
        )
        .into());
    }
    let now = clock.now_ms();
    if !check_code(db, now, host_secret, user_id, code).await? {
        return Err(wrong_code());
    }
    let codes = replace_codes(db, now, user_id).await?;
    let mut tx = db.begin_write().await.map_err(Error::from)?;
    tell_owner_in(&mut tx, user_id, SecurityChange::RecoveryCodesReplaced, now).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Delete a user's second factor and recovery codes, in the caller's
/// transaction (disabling, or erasing the account).
pub async fn forget_in(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<(), Error> {
    for table in ["recovery_codes", "second_factors", "login_challenges"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn replace_codes(db: &Db, now: i64, user_id: i64) -> Result<Vec<String>, Error> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for c in &codes {
        let normalised = normalise_recovery_code(c).expect("a new code is well formed");
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash_token(&normalised))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(codes)
}

/// A new recovery code: 16 base32 characters, lower case, in groups of
/// four (`abcd-efgh-ijkl-mnop`).
fn new_recovery_code() -> String {
    let random = new_token("r");
    let bytes = hex::decode(&random[2..]).expect("tokens are hex");
    let chars: String = totp::base32(&bytes[..10]).to_lowercase();
    chars
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join("-")
}

/// A recovery code as typed (any case, dashes and spaces anywhere) in the
/// form it is hashed in; `None` if it cannot be one.
fn normalise_recovery_code(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == RECOVERY_CODE_CHARS && totp::base32_decode(&s).is_some()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_long_random_and_forgiving_to_type() {
        let a = new_recovery_code();
        let b = new_recovery_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), RECOVERY_CODE_CHARS + 3);
        assert_eq!(a.matches('-').count(), 3);
        let typed = a.to_uppercase().replace('-', " ");
        assert_eq!(normalise_recovery_code(&typed), normalise_recovery_code(&a));
        assert!(normalise_recovery_code(&a).is_some());
        // A TOTP code is never taken for a recovery code.
        assert!(normalise_recovery_code("123456").is_none());
        assert!(!totp::looks_like_code(&a));
    }
}
