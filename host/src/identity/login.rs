//! Logging in: the password step, the second-factor step, and the throttling
//! that slows guessing without letting anyone lock an owner out.
//!
//! Every attempt is counted before its password is checked, with one atomic
//! upsert per key ([`crate::throttle::hit`]), under three keys:
//!
//! - the account from one address (`email ip`): strict steps, so one
//!   address guessing one account soon waits minutes, then hours;
//! - the account from anywhere (`email`): a looser ceiling against guessing
//!   spread over many addresses;
//! - the address (`ip`): against one address trying a few passwords on many
//!   accounts.
//!
//! Only failures stay counted: a right password forgives its own attempt
//! (and clears its `email ip` count), and an attempt refused by a limit is
//! not counted at all, so an attacker hammering a refused key does not
//! extend the wait. The owner, logging in from their own address, is
//! refused only once the account-wide ceiling is reached, which one
//! address alone cannot do (see `ARCHITECTURE.md`, "Login throttling").
//!
//! A device that logged in to the account before shows it with a device
//! proof (a token bound to the email, signed with the host secret, handed
//! out at each right password). Its attempts are counted under that
//! device alone (`email device`, the same steps as one address), not
//! under the account-wide ceiling nor its address: an attack from many
//! addresses, however large, cannot keep the owner out of their own
//! account on a device they used before.
//!
//! Unknown emails are counted and answered exactly like known ones, after
//! an argon2 verification against a dummy hash, so neither the answer nor
//! its timing says whether an account exists.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::Row;

use super::secrets::{hash_token, new_token, verify_password_or_dummy};
use super::{SESSION_TTL_MS, normalise_email, second_factor};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::Error;
use crate::throttle::{self, Rule, Verdict};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Failed logins on one account from one address: five in a row are free
/// (typos), then the wait grows with each step: about a minute after 5,
/// up to a quarter of an hour after 10, hours after 20, a day after 40.
/// One address guessing one account gets at most 40 tries a day.
pub const LOGIN_ACCOUNT_ADDRESS_STEPS: [Rule; 4] = [
    Rule {
        name: "login.account-address.minute",
        limit: 5,
        window_ms: MINUTE_MS,
    },
    Rule {
        name: "login.account-address.quarter",
        limit: 10,
        window_ms: 15 * MINUTE_MS,
    },
    Rule {
        name: "login.account-address.hours",
        limit: 20,
        window_ms: 4 * HOUR_MS,
    },
    Rule {
        name: "login.account-address.day",
        limit: 40,
        window_ms: DAY_MS,
    },
];

/// Failed logins on one account from all addresses together, within an
/// hour. Far above what one address may do (20 in four hours), so only an
/// attack from many addresses reaches it; it then caps guessing at about
/// 2400 a day, and the owner waits at most about an hour (the trade-off: a
/// distributed attacker can delay the owner that long, and no longer).
pub const LOGIN_ACCOUNT_RULE: Rule = Rule {
    name: "login.account",
    limit: 100,
    window_ms: HOUR_MS,
};

/// Failed logins from one address over all accounts: stops one address
/// trying a common password on account after account. Generous enough for
/// a shared office or campus address where people mistype.
pub const LOGIN_ADDRESS_STEPS: [Rule; 2] = [
    Rule {
        name: "login.address.quarter",
        limit: 30,
        window_ms: 15 * MINUTE_MS,
    },
    Rule {
        name: "login.address.day",
        limit: 200,
        window_ms: DAY_MS,
    },
];

/// Failed logins on one account from one device that proved it logged in
/// to it before: the same steps as one address, and nothing else counts
/// against it (see the module's documentation).
pub const LOGIN_DEVICE_STEPS: [Rule; 4] = [
    Rule {
        name: "login.device.minute",
        limit: 5,
        window_ms: MINUTE_MS,
    },
    Rule {
        name: "login.device.quarter",
        limit: 10,
        window_ms: 15 * MINUTE_MS,
    },
    Rule {
        name: "login.device.hours",
        limit: 20,
        window_ms: 4 * HOUR_MS,
    },
    Rule {
        name: "login.device.day",
        limit: 40,
        window_ms: DAY_MS,
    },
];

/// How long a device proof is honoured after the right password that
/// issued it (each right password issues a fresh one).
pub const DEVICE_PROOF_TTL_MS: i64 = 180 * DAY_MS;

fn device_mac(secret: &[u8], email: &str, issued: i64, nonce: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("login-device\0{email}\0{issued}\0{nonce}").as_bytes());
    mac
}

/// A device proof for `email` (normalised), issued at `now`:
/// `chd_<issued>_<nonce>_<mac>`.
pub fn device_proof(secret: &[u8], email: &str, now: i64) -> String {
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let nonce = hex::encode(nonce);
    let mac = hex::encode(
        device_mac(secret, email, now, &nonce)
            .finalize()
            .into_bytes(),
    );
    format!("chd_{now}_{nonce}_{mac}")
}

/// The nonce of a device proof that is valid for `email` at `now`, or
/// `None` (malformed, expired, for another account, or forged).
fn proven_device(secret: &[u8], email: &str, proof: &str, now: i64) -> Option<String> {
    let mut parts = proof.strip_prefix("chd_")?.split('_');
    let issued: i64 = parts.next()?.parse().ok()?;
    let nonce = parts.next()?;
    let mac = hex::decode(parts.next()?).ok()?;
    if parts.next().is_some()
        || nonce.len() != 32
        || issued > now
        || now - issued > DEVICE_PROOF_TTL_MS
    {
        return None;
    }
    device_mac(secret, email, issued, nonce)
        .verify_slice(&mac)
        .ok()
        .map(|()| nonce.to_string())
}

/// Wrong second-factor codes for one account (from any address: whoever
/// tries already knows the password). Three codes are valid at any time
/// out of a million, so a handful of tries per minute, shrinking, keeps
/// guessing hopeless.
pub const SECOND_FACTOR_STEPS: [Rule; 3] = [
    Rule {
        name: "second-factor.minute",
        limit: 5,
        window_ms: MINUTE_MS,
    },
    Rule {
        name: "second-factor.quarter",
        limit: 10,
        window_ms: 15 * MINUTE_MS,
    },
    Rule {
        name: "second-factor.day",
        limit: 30,
        window_ms: DAY_MS,
    },
];

/// How long the challenge of the password step may be exchanged for a
/// session: time to open an authenticator app, not to leave it lying
/// around.
pub const LOGIN_CHALLENGE_TTL_MS: i64 = 5 * MINUTE_MS;
/// Codes tried per challenge before it is spent and the password must be
/// given again.
pub const MAX_CHALLENGE_ATTEMPTS: i64 = 5;

/// Which limit refused an attempt; each has its own error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginLimit {
    /// [`LOGIN_ACCOUNT_ADDRESS_STEPS`].
    AccountFromAddress,
    /// [`LOGIN_ACCOUNT_RULE`].
    Account,
    /// [`LOGIN_ADDRESS_STEPS`].
    Address,
    /// [`SECOND_FACTOR_STEPS`].
    SecondFactor,
    /// [`LOGIN_DEVICE_STEPS`].
    Device,
}

impl LoginLimit {
    /// The API's error code.
    pub fn code(self) -> &'static str {
        match self {
            LoginLimit::AccountFromAddress => "login-throttled",
            LoginLimit::Account => "login-throttled-account",
            LoginLimit::Address => "login-throttled-address",
            LoginLimit::SecondFactor => "second-factor-throttled",
            LoginLimit::Device => "login-throttled-device",
        }
    }

    fn message(self, secs: u64) -> String {
        match self {
            LoginLimit::AccountFromAddress => format!(
                "too many failed logins for this account from your address: wait {secs} s and try again"
            ),
            LoginLimit::Account => format!(
                "too many failed logins for this account from many addresses: wait {secs} s and try again"
            ),
            LoginLimit::Address => {
                format!("too many failed logins from your address: wait {secs} s and try again")
            }
            LoginLimit::SecondFactor => format!(
                "too many wrong second-factor codes for this account: wait {secs} s and try again"
            ),
            LoginLimit::Device => format!(
                "too many failed logins for this account from this device: wait {secs} s and try again"
            ),
        }
    }
}

/// Why logging in (or a second-factor step) failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A limit refused the attempt before anything was checked (429).
    #[error("{message}")]
    Throttled {
        /// Which limit.
        limit: LoginLimit,
        /// What to do.
        message: String,
        /// Seconds until an attempt may be counted again.
        retry_after_secs: u64,
    },
    /// The challenge took [`MAX_CHALLENGE_ATTEMPTS`] wrong codes: log in
    /// again (401).
    #[error("{0}")]
    ChallengeSpent(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Other(e.into())
    }
}

/// What the password step gives.
#[derive(Clone, Debug)]
pub enum LoginOutcome {
    /// A session (no second factor enrolled).
    Session {
        /// The bearer token (`cht_...`).
        token: String,
        /// When it expires, ms since the epoch.
        expires_at: i64,
    },
    /// The account has a second factor: exchange this challenge and a code
    /// for a session ([`login_second_factor`]).
    SecondFactor {
        /// The challenge (`chc_...`).
        challenge: String,
        /// When it expires, ms since the epoch.
        expires_at: i64,
    },
}

/// The keys an attempt is counted under, with their rules.
pub(super) struct Gate {
    keys: Vec<(&'static Rule, LoginLimit, String)>,
}

impl Gate {
    /// The keys of a password attempt: a proven device's own, or the
    /// account from the address, the account, and the address.
    fn password(email: &str, address: &str, device: Option<&str>) -> Gate {
        let mut keys = Vec::new();
        if let Some(nonce) = device {
            for r in &LOGIN_DEVICE_STEPS {
                keys.push((r, LoginLimit::Device, format!("{email} device {nonce}")));
            }
            return Gate { keys };
        }
        for r in &LOGIN_ACCOUNT_ADDRESS_STEPS {
            keys.push((
                r,
                LoginLimit::AccountFromAddress,
                format!("{email} {address}"),
            ));
        }
        keys.push((&LOGIN_ACCOUNT_RULE, LoginLimit::Account, email.to_string()));
        for r in &LOGIN_ADDRESS_STEPS {
            keys.push((r, LoginLimit::Address, address.to_string()));
        }
        Gate { keys }
    }

    pub(super) fn second_factor(user_id: i64) -> Gate {
        Gate {
            keys: SECOND_FACTOR_STEPS
                .iter()
                .map(|r| (r, LoginLimit::SecondFactor, format!("user {user_id}")))
                .collect(),
        }
    }

    fn refusal(refused: &[(LoginLimit, Verdict)]) -> Option<AuthError> {
        let (limit, v) = refused.iter().max_by_key(|(_, v)| v.retry_after_ms)?;
        let secs = v.retry_after_secs();
        Some(AuthError::Throttled {
            limit: *limit,
            message: limit.message(secs),
            retry_after_secs: secs,
        })
    }

    /// Count one attempt under every key, or refuse it. A key already over
    /// its limit refuses without counting anything. Under parallel
    /// attempts, one that loses the race for a key's last place has its
    /// counts taken back and goes no further, so only attempts that go on
    /// to be checked stay counted, and at most a limit's worth of them.
    pub(super) async fn enter(&self, db: &Db, now: i64) -> Result<(), AuthError> {
        let mut refused = Vec::new();
        for (rule, limit, key) in &self.keys {
            let v = throttle::peek(db, rule, key, now).await?;
            if !v.allowed {
                refused.push((*limit, v));
            }
        }
        if let Some(e) = Gate::refusal(&refused) {
            return Err(e);
        }
        for (i, (rule, limit, key)) in self.keys.iter().enumerate() {
            let v = throttle::hit(db, rule, key, now).await?;
            if !v.allowed {
                for (rule, _, key) in &self.keys[..=i] {
                    throttle::forgive(db, rule, key, now).await?;
                }
                return Err(Gate::refusal(&[(*limit, v)]).expect("one refusal"));
            }
        }
        Ok(())
    }

    /// Forget every count of these keys (a right second-factor code).
    pub(super) async fn clear(&self, db: &Db) -> Result<(), AuthError> {
        for (rule, _, key) in &self.keys {
            throttle::clear(db, rule, key).await?;
        }
        Ok(())
    }

    /// Take back the attempt counted by [`Gate::enter`] at `now`.
    async fn forgive(&self, db: &Db, now: i64) -> Result<(), AuthError> {
        for (rule, _, key) in &self.keys {
            throttle::forgive(db, rule, key, now).await?;
        }
        Ok(())
    }
}

/// Check `password` for `email` under the login limits, counted from
/// `address` (the client's IP, see `api::ClientIp`) or from a proven
/// device. The user id and the normalised email if it matches. Every way
/// of failing looks the same from outside.
async fn password_attempt(
    db: &Db,
    now: i64,
    secret: &[u8],
    email: &str,
    password: &str,
    address: &str,
    device: Option<&str>,
) -> Result<(i64, String), AuthError> {
    let bad = || AuthError::Other(Error::Unauthenticated("wrong email or password".into()));
    let Ok(email) = normalise_email(email) else {
        // Not an email address: no account can have it, and no count is
        // worth keeping for it.
        return Err(bad());
    };
    let device = device.and_then(|d| proven_device(secret, &email, d, now));
    let gate = Gate::password(&email, address, device.as_deref());
    gate.enter(db, now).await?;
    let row =
        sqlx::query("SELECT id, password_hash, email_verified_at FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    let (user_id, stored, proven) = match row {
        Some(r) => (
            Some(r.get::<i64, _>(0)),
            Some(r.get::<String, _>(1)),
            r.get::<Option<i64>, _>(2).is_some(),
        ),
        None => (None, None, false),
    };
    if !verify_password_or_dummy(password, stored).await {
        return Err(bad());
    }
    let user_id = user_id.ok_or_else(bad)?;
    // An account whose address was never proven is bound to nobody: its
    // password (chosen by whoever applied) opens nothing.
    if !proven {
        return Err(AuthError::Other(Error::Forbidden(format!(
            "{email} is not confirmed yet: follow the link mailed to it, or ask for a new one with \"forgot password\""
        ))));
    }
    gate.forgive(db, now).await?;
    for rule in &LOGIN_ACCOUNT_ADDRESS_STEPS {
        throttle::clear(db, rule, &format!("{email} {address}")).await?;
    }
    if let Some(nonce) = &device {
        for rule in &LOGIN_DEVICE_STEPS {
            throttle::clear(db, rule, &format!("{email} device {nonce}")).await?;
        }
    }
    Ok((user_id, email))
}

/// Open a session for `user_id`; `second_factor` says whether it was
/// opened with one.
pub(super) async fn open_session(
    db: &Db,
    now: i64,
    user_id: i64,
    second_factor: bool,
) -> Result<(String, i64), Error> {
    let token = new_token("cht");
    let expires = now + SESSION_TTL_MS;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, second_factor) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(now)
    .bind(expires)
    .bind(i64::from(second_factor))
    .execute(&db.pool)
    .await?;
    Ok((token, expires))
}

/// Log in with email and password from `address`, or from a device that
/// gives its proof: a session, or a challenge when the account has a
/// second factor, with a fresh device proof for the next time.
pub async fn login(
    db: &Db,
    clock: &dyn Clock,
    secret: &[u8],
    attempt: LoginAttempt<'_>,
) -> Result<(LoginOutcome, String), AuthError> {
    let now = clock.now_ms();
    let (user_id, email) = password_attempt(
        db,
        now,
        secret,
        attempt.email,
        attempt.password,
        attempt.address,
        attempt.device,
    )
    .await?;
    let proof = device_proof(secret, &email, now);
    if second_factor::enrolled(db, user_id).await? {
        let challenge = new_token("chc");
        let expires_at = now + LOGIN_CHALLENGE_TTL_MS;
        sqlx::query(
            "INSERT INTO login_challenges (challenge_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_token(&challenge))
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&db.pool)
        .await?;
        return Ok((
            LoginOutcome::SecondFactor {
                challenge,
                expires_at,
            },
            proof,
        ));
    }
    let (token, expires_at) = open_session(db, now, user_id, false).await?;
    Ok((LoginOutcome::Session { token, expires_at }, proof))
}

/// What a password step gives.
#[derive(Clone, Copy, Debug)]
pub struct LoginAttempt<'a> {
    /// The account's email.
    pub email: &'a str,
    /// The password tried.
    pub password: &'a str,
    /// The client's address (a throttling key, see `api::ClientIp`).
    pub address: &'a str,
    /// A device proof from an earlier login, if the client kept one.
    pub device: Option<&'a str>,
}

/// Exchange a password step's challenge and a TOTP or recovery code for a
/// session opened with the second factor.
pub async fn login_second_factor(
    db: &Db,
    clock: &dyn Clock,
    secret: &[u8],
    challenge: &str,
    code: &str,
) -> Result<(String, i64), AuthError> {
    let now = clock.now_ms();
    let hash = hash_token(challenge);
    // One attempt counted per code, atomically: parallel codes on one
    // challenge cannot exceed its attempts.
    let row = sqlx::query(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE challenge_hash = $1 AND expires_at > $2 AND attempts < $3 RETURNING user_id",
    )
    .bind(&hash)
    .bind(now)
    .bind(MAX_CHALLENGE_ATTEMPTS)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        let spent = sqlx::query(
            "SELECT attempts FROM login_challenges WHERE challenge_hash = $1 AND expires_at > $2",
        )
        .bind(&hash)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?
        .is_some();
        if spent {
            return Err(AuthError::ChallengeSpent(format!(
                "this login challenge had {MAX_CHALLENGE_ATTEMPTS} wrong codes: log in again with \
                 your password"
            )));
        }
        return Err(Error::Unauthenticated(
            "this login challenge is unknown or has expired: log in again with your password"
                .into(),
        )
        .into());
    };
    let user_id: i64 = row.get(0);
    if !check_code(db, now, secret, user_id, code).await? {
        return Err(Error::Unauthenticated(
            "wrong code: give the 6-digit code your authenticator app shows now, or an unused \
             recovery code"
                .into(),
        )
        .into());
    }
    sqlx::query("DELETE FROM login_challenges WHERE challenge_hash = $1")
        .bind(&hash)
        .execute(&db.pool)
        .await?;
    Ok(open_session(db, now, user_id, true).await?)
}

/// Check a TOTP or recovery code of `user_id` under
/// [`SECOND_FACTOR_STEPS`]: whether it was right. A right code is spent (a
/// TOTP step, or the recovery code) and clears the count.
pub(super) async fn check_code(
    db: &Db,
    now: i64,
    secret: &[u8],
    user_id: i64,
    code: &str,
) -> Result<bool, AuthError> {
    let gate = Gate::second_factor(user_id);
    gate.enter(db, now).await?;
    if second_factor::spend_code(db, now, secret, user_id, code).await? {
        gate.clear(db).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Check the password of a logged-in user again (before enrolling a second
/// factor), under the same limits as logging in.
pub(super) async fn recheck_password(
    db: &Db,
    now: i64,
    secret: &[u8],
    user_id: i64,
    password: &str,
    address: &str,
) -> Result<(), AuthError> {
    let email: String = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?
        .get(0);
    match password_attempt(db, now, secret, &email, password, address, None).await {
        Ok(_) => Ok(()),
        Err(AuthError::Other(Error::Unauthenticated(_))) => Err(Error::Forbidden(
            "wrong password: give your current password to change your second factor".into(),
        )
        .into()),
        Err(e) => Err(e),
    }
}

/// Delete what no longer matters: challenges past their expiry, sessions
/// ended (expired or logged out) more than [`SESSION_KEEP_MS`] ago.
pub async fn purge(db: &Db, now: i64) -> Result<u64, Error> {
    let challenges = sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?
        .rows_affected();
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)",
    )
    .bind(now - SESSION_KEEP_MS)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(challenges + sessions)
}

/// How long an ended session's row is kept: long enough that a client
/// still sending its token is told it expired or was logged out (not just
/// "unknown"), short enough that the table does not grow forever.
pub const SESSION_KEEP_MS: i64 = 30 * DAY_MS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_have_distinct_codes_and_growing_steps() {
        let codes: std::collections::BTreeSet<_> = [
            LoginLimit::AccountFromAddress,
            LoginLimit::Account,
            LoginLimit::Address,
            LoginLimit::SecondFactor,
            LoginLimit::Device,
        ]
        .iter()
        .map(|l| l.code())
        .collect();
        assert_eq!(codes.len(), 5);
        for steps in [
            &LOGIN_ACCOUNT_ADDRESS_STEPS[..],
            &LOGIN_ADDRESS_STEPS[..],
            &SECOND_FACTOR_STEPS[..],
            &LOGIN_DEVICE_STEPS[..],
        ] {
            for w in steps.windows(2) {
                assert!(w[0].limit < w[1].limit && w[0].window_ms < w[1].window_ms);
            }
        }
        // One address alone stays far under the account-wide ceiling (its
        // hours step allows fewer failures in a longer window): the owner
        // elsewhere is never refused because of it.
        let hours = LOGIN_ACCOUNT_ADDRESS_STEPS[2];
        assert!(hours.window_ms >= LOGIN_ACCOUNT_RULE.window_ms);
        assert!(2 * hours.limit < LOGIN_ACCOUNT_RULE.limit);
    }

    #[test]
    fn device_proofs_hold_for_their_account_and_time_only() {
        let secret = b"host secret";
        let proof = device_proof(secret, "ana@example.org", 1_000);
        assert!(proven_device(secret, "ana@example.org", &proof, 2_000).is_some());
        assert!(proven_device(secret, "bob@example.org", &proof, 2_000).is_none());
        assert!(proven_device(b"other host", "ana@example.org", &proof, 2_000).is_none());
        assert!(
            proven_device(
                secret,
                "ana@example.org",
                &proof,
                1_000 + DEVICE_PROOF_TTL_MS + 1
            )
            .is_none()
        );
        // Changing the issue time or the nonce breaks the signature.
        let forged = proof.replacen("chd_1000_", "chd_1500_", 1);
        assert!(proven_device(secret, "ana@example.org", &forged, 2_000).is_none());
        assert!(proven_device(secret, "ana@example.org", "chd_1_2_3", 2_000).is_none());
    }

    #[test]
    fn throttled_messages_say_how_long_to_wait() {
        let e = Gate::refusal(&[
            (
                LoginLimit::Address,
                Verdict {
                    count: 31.0,
                    allowed: false,
                    retry_after_ms: 4_000,
                },
            ),
            (
                LoginLimit::AccountFromAddress,
                Verdict {
                    count: 6.0,
                    allowed: false,
                    retry_after_ms: 59_001,
                },
            ),
        ])
        .unwrap();
        match e {
            AuthError::Throttled {
                limit,
                message,
                retry_after_secs,
            } => {
                assert_eq!(limit, LoginLimit::AccountFromAddress);
                assert_eq!(retry_after_secs, 60);
                assert!(message.contains("wait 60 s"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
