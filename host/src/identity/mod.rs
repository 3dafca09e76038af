//! Identity and tenancy: coops, users, members, sessions, API keys.
//!
//! Passwords are hashed with argon2id; bearer tokens and API keys are random
//! and stored only as SHA-256 hashes, so a database leak gives no working
//! credential. Logging in, its throttling and the second step are in
//! [`login`]; the second factor itself (TOTP, recovery codes) in
//! [`second_factor`]. Plugins never see any of this: they get a per-plugin
//! member id from [`pseudonym`].

pub mod email;
pub mod login;
mod pseudonym;
pub mod second_factor;
pub mod secrets;
pub mod totp;

pub use login::{AuthError, LoginAttempt, LoginLimit, LoginOutcome, login, login_second_factor};
pub use pseudonym::{member_for_pseudonym, pseudonym_for_member, pseudonym_for_service};
pub use secrets::{hash_password, hash_token, new_token, verify_password};

use serde::Serialize;
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

/// How long a login token stays valid.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// Roles every coop knows. Coops may use others; these have meaning to the host.
pub const KNOWN_ROLES: &[&str] = &["admin", "member", "worker"];

/// A coop hosted here.
#[derive(Clone, Debug, Serialize)]
pub struct Coop {
    /// Internal id.
    #[serde(skip)]
    pub id: i64,
    /// URL slug, for example `velo-lyon`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
}

/// A member of one coop.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    /// Internal member id (per coop membership).
    pub id: i64,
    /// The user behind the membership.
    #[serde(skip)]
    pub user_id: i64,
    /// Email, shown to the coop's members and admins only.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Roles in the coop.
    pub roles: Vec<String>,
    /// College, in a multi-stakeholder coop.
    pub college: Option<String>,
    /// `active`, `suspended` or `left`.
    pub status: String,
    /// When they joined, ms since the epoch.
    pub joined_at: i64,
}

/// Who made a request, before choosing a coop.
#[derive(Clone, Debug)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A logged-in person.
    User {
        /// The user id.
        user_id: i64,
        /// Whether they act as operator of this host (distinct from coop
        /// admins): an operator who enrolled a second factor acts as one
        /// only in sessions opened with it.
        is_operator: bool,
        /// Whether the session was opened with a second factor.
        second_factor: bool,
    },
    /// A service account, bound to one coop and role.
    Service {
        /// The key's id.
        key_id: i64,
        /// The only coop it may act in.
        coop_id: i64,
        /// Its single role.
        role: String,
    },
}

/// Who is acting within one coop: what plugins and access checks see.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The coop.
    pub coop_id: i64,
    /// The member, for a person who is a member of the coop.
    pub member_id: Option<i64>,
    /// The service key, for a service account.
    pub service_key: Option<i64>,
    /// Roles in this coop.
    pub roles: Vec<String>,
    /// College, if any.
    pub college: Option<String>,
    /// Whether the actor is the host operator acting in the coop.
    pub operator: bool,
}

impl Actor {
    /// Whether the actor has `role` (admins are not implicitly anything else).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    /// An actor with no credentials.
    pub fn anonymous(coop_id: i64) -> Self {
        Actor {
            coop_id,
            member_id: None,
            service_key: None,
            roles: vec![],
            college: None,
            operator: false,
        }
    }
    /// The host itself (hooks, background work).
    pub fn host(coop_id: i64) -> Self {
        Actor {
            operator: true,
            ..Actor::anonymous(coop_id)
        }
    }
}

fn check_slug(slug: &str) -> Result<()> {
    let ok = (2..=48).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "coop slug {slug:?} must be 2 to 48 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )))
    }
}

/// Normalise and check an email address (enough to catch typos, not RFC 5322).
pub fn normalise_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(Error::Invalid(format!(
            "{email:?} is not a valid email address"
        )))
    }
}

/// Replace a member's roles, in the caller's transaction (governance
/// grants and revokes roles through this).
pub async fn set_roles_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    member_id: i64,
    roles: &[String],
) -> Result<()> {
    check_roles(roles)?;
    let done = sqlx::query("UPDATE members SET roles = $1 WHERE coop_id = $2 AND id = $3")
        .bind(roles.join(","))
        .bind(coop_id)
        .bind(member_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "no member {member_id} in this coop"
        )));
    }
    Ok(())
}

fn check_roles(roles: &[String]) -> Result<()> {
    if roles.is_empty() {
        return Err(Error::Invalid(
            "give at least one role, for example member".into(),
        ));
    }
    for r in roles {
        let ok = (1..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit());
        if !ok {
            return Err(Error::Invalid(format!(
                "role {r:?} must be 1 to 32 characters of a-z, 0-9 and '-'"
            )));
        }
    }
    Ok(())
}

/// Create a coop.
pub async fn create_coop(db: &Db, clock: &dyn Clock, slug: &str, name: &str) -> Result<Coop> {
    check_slug(slug)?;
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::Invalid(
            "coop name must be 1 to 200 characters".into(),
        ));
    }
    if find_coop(db, slug).await.is_ok() {
        return Err(Error::Conflict(format!(
            "a coop with slug {slug:?} already exists"
        )));
    }
    let now = clock.now_ms();
    let row =
        sqlx::query("INSERT INTO coops (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(slug)
            .bind(name)
            .bind(now)
            .fetch_one(&db.pool)
            .await?;
    Ok(Coop {
        id: row.get(0),
        slug: slug.to_string(),
        name: name.to_string(),
        created_at: now,
    })
}

/// The coop with this slug.
pub async fn find_coop(db: &Db, slug: &str) -> Result<Coop> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM coops WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no coop {slug:?}")))?;
    Ok(coop_from_row(&row))
}

/// The coop with this id.
pub async fn find_coop_by_id(db: &Db, id: i64) -> Result<Coop> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM coops WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no coop {id}")))?;
    Ok(coop_from_row(&row))
}

fn coop_from_row(row: &sqlx::any::AnyRow) -> Coop {
    Coop {
        id: row.get(0),
        slug: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
    }
}

/// Every coop (for the operator).
pub async fn list_coops(db: &Db) -> Result<Vec<Coop>> {
    let rows = sqlx::query("SELECT id, slug, name, created_at FROM coops ORDER BY slug")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(coop_from_row).collect())
}

/// The coops a user is a member of.
pub async fn coops_of_user(db: &Db, user_id: i64) -> Result<Vec<Coop>> {
    let rows = sqlx::query(
        "SELECT c.id, c.slug, c.name, c.created_at FROM coops c JOIN members m ON m.coop_id = c.id \
         WHERE m.user_id = $1 ORDER BY c.slug",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(coop_from_row).collect())
}

/// What is needed to add a member.
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NewMember {
    /// Their email (the login).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// A password, required when the email has no account on this host yet.
    pub password: Option<String>,
    /// Roles in the coop.
    pub roles: Vec<String>,
    /// College, if the coop has colleges.
    pub college: Option<String>,
}

/// Who vouches for the address of someone being added to a coop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vouch {
    /// The host's own tools (the operator's CLI, the demo, tests) or a
    /// token that was mailed to the address (an accepted invitation): a new
    /// or unproven account takes the password given and counts as proven.
    Proven,
    /// A coop admin through the API: nobody proved the address, and no
    /// admin chooses or learns a host-wide password. A new or unproven
    /// account gets no usable password; a link to choose one is mailed.
    Mailed,
}

/// Add a member to a coop, creating the user account if the email is new,
/// on the word of the host's own tools ([`Vouch::Proven`]).
pub async fn add_member(db: &Db, clock: &dyn Clock, coop: &Coop, new: NewMember) -> Result<Member> {
    add_member_vouched(db, clock, coop, new, Vouch::Proven).await
}

/// Add a member as [`add_member`] does, vouched for by `vouch`.
pub async fn add_member_vouched(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    new: NewMember,
    vouch: Vouch,
) -> Result<Member> {
    let hash = password_hash_for(&new, vouch).await?;
    let mut tx = db.begin_write().await?;
    let member = add_member_in(&mut tx, clock.now_ms(), coop, new, hash, vouch).await?;
    tx.commit().await?;
    Ok(member)
}

/// The hash of the password given with `new`, for [`add_member_in`]:
/// only the host's own tools ([`Vouch::Proven`]) may give one.
pub async fn password_hash_for(new: &NewMember, vouch: Vouch) -> Result<Option<String>> {
    match (&new.password, vouch) {
        (Some(p), Vouch::Proven) => {
            check_password(p)?;
            Ok(Some(hash_password(p).await?))
        }
        (Some(_), Vouch::Mailed) => Err(Error::Invalid(
            "a coop admin does not choose a member's password: leave out \"password\"; \
             a new account gets a mail with a link to choose one, an existing one keeps its own"
                .into(),
        )),
        (None, _) => Ok(None),
    }
}

/// Add a member in the caller's transaction; `password_hash` is the
/// argon2id hash of the password given (for [`Vouch::Proven`]).
///
/// An account whose address is proven keeps its password whatever is
/// given. An unproven one (someone applied with this address and never
/// confirmed) counts as no account: its password, chosen by whoever
/// applied, is replaced and its sessions revoked.
pub async fn add_member_in(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    coop: &Coop,
    new: NewMember,
    password_hash: Option<String>,
    vouch: Vouch,
) -> Result<Member> {
    let email = normalise_email(&new.email)?;
    check_roles(&new.roles)?;
    let display_name = new.display_name.trim().to_string();
    if display_name.is_empty() || display_name.len() > 200 {
        return Err(Error::Invalid(
            "display_name must be 1 to 200 characters".into(),
        ));
    }
    let account = email::account_in(conn, &email).await?;
    let user_id = match account {
        // A coop admin binds nobody who already has an account here: that
        // person is invited and decides (`api::add_member`; this catches
        // an address proven since that check).
        Some(a) if a.verified && vouch == Vouch::Mailed => {
            return Err(Error::Conflict(format!(
                "{email} has an account on this host: invite it instead (POST .../invitations)"
            )));
        }
        Some(a) if a.verified => a.id,
        unproven => {
            if vouch == Vouch::Proven && password_hash.is_none() {
                return Err(Error::Invalid(format!(
                    "{email} has no account yet: give a password for it"
                )));
            }
            let id = match unproven {
                Some(a) => {
                    // Whoever applied named the account; the one adding
                    // the person names them now.
                    sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
                        .bind(&display_name)
                        .bind(a.id)
                        .execute(&mut *conn)
                        .await?;
                    a.id
                }
                None => email::create_unverified_in(conn, &email, &display_name, now).await?,
            };
            match (vouch, &password_hash) {
                (Vouch::Proven, Some(hash)) => email::claim_in(conn, id, hash, now).await?,
                _ => {
                    email::lock_in(conn, id, now).await?;
                    let token =
                        email::create_token_in(conn, id, email::Purpose::Welcome, None, None, now)
                            .await?;
                    crate::mail::queue_in(
                        conn,
                        Some(coop.id),
                        &email,
                        &crate::mail::Message::Welcome {
                            token,
                            coop: coop.slug.clone(),
                            coop_name: coop.name.clone(),
                        },
                        now,
                    )
                    .await?;
                }
            }
            id
        }
    };
    let exists = sqlx::query("SELECT id FROM members WHERE coop_id = $1 AND user_id = $2")
        .bind(coop.id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(Error::Conflict(format!(
            "{email} is already a member of {}",
            coop.slug
        )));
    }
    let row = sqlx::query(
        "INSERT INTO members (coop_id, user_id, roles, college, status, joined_at) \
         VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
    )
    .bind(coop.id)
    .bind(user_id)
    .bind(new.roles.join(","))
    .bind(new.college.clone())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let display_name: String = sqlx::query("SELECT display_name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?
        .get(0);
    Ok(Member {
        id: row.get(0),
        user_id,
        email,
        display_name,
        roles: new.roles,
        college: new.college,
        status: "active".into(),
        joined_at: now,
    })
}

/// The user id of an email's account on this host, if there is one whose
/// address is proven (an unproven one is bound to nobody yet).
pub async fn find_user_id(db: &Db, email: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT id FROM users WHERE email = $1 AND email_verified_at IS NOT NULL")
            .bind(email)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.get(0)),
    )
}

/// Whether `user_id` has a member row (any status) in `coop_id`.
pub async fn is_member(db: &Db, coop_id: i64, user_id: i64) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM members WHERE coop_id = $1 AND user_id = $2")
            .bind(coop_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Check a password's strength: long enough to resist guessing.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 10 {
        return Err(Error::Invalid(
            "password must be at least 10 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::Invalid("password must be at most 1024 bytes".into()));
    }
    Ok(())
}

/// Create a user account (optionally a host operator), its address proven
/// on the word of the caller: the host's own tools only.
pub async fn create_user(
    db: &Db,
    clock: &dyn Clock,
    email: &str,
    display_name: &str,
    password: &str,
    is_operator: bool,
) -> Result<i64> {
    let email = normalise_email(email)?;
    check_password(password)?;
    let hash = hash_password(password).await?;
    let now = clock.now_ms();
    let mut tx = db.begin_write().await?;
    let id = match email::account_in(&mut tx, &email).await? {
        Some(a) if a.verified => {
            return Err(Error::Conflict(format!(
                "an account for {email} already exists"
            )));
        }
        // Someone applied with this address and never proved it: the
        // operator's word binds it now, with the operator's password.
        Some(a) => {
            email::claim_in(&mut tx, a.id, &hash, now).await?;
            sqlx::query("UPDATE users SET display_name = $1, is_operator = $2 WHERE id = $3")
                .bind(display_name)
                .bind(i64::from(is_operator))
                .bind(a.id)
                .execute(&mut *tx)
                .await?;
            a.id
        }
        None => sqlx::query(
            "INSERT INTO users (email, display_name, password_hash, is_operator, created_at, email_verified_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(&email)
        .bind(display_name)
        .bind(hash)
        .bind(i64::from(is_operator))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .get(0),
    };
    tx.commit().await?;
    Ok(id)
}

/// Make an existing user a host operator.
pub async fn set_operator(db: &Db, email: &str, is_operator: bool) -> Result<()> {
    let email = normalise_email(email)?;
    // Only a proven account: an unproven one may belong to whoever applied.
    let done = sqlx::query(
        "UPDATE users SET is_operator = $1 WHERE email = $2 AND email_verified_at IS NOT NULL",
    )
    .bind(i64::from(is_operator))
    .bind(&email)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "no confirmed account for {email}: give --password to create it"
        )));
    }
    Ok(())
}

fn member_from_row(row: &sqlx::any::AnyRow) -> Member {
    let roles: String = row.get(4);
    Member {
        id: row.get(0),
        user_id: row.get(1),
        email: row.get(2),
        display_name: row.get(3),
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        college: row.get(5),
        status: row.get(6),
        joined_at: row.get(7),
    }
}

const MEMBER_COLUMNS: &str =
    "m.id, m.user_id, u.email, u.display_name, m.roles, m.college, m.status, m.joined_at";

/// Members of a coop, oldest first.
pub async fn list_members(db: &Db, coop_id: i64) -> Result<Vec<Member>> {
    let rows = sqlx::query(&format!(
        "SELECT {MEMBER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.coop_id = $1 ORDER BY m.id"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(member_from_row).collect())
}

/// One member of a coop by internal id.
pub async fn get_member(db: &Db, coop_id: i64, member_id: i64) -> Result<Member> {
    let row = sqlx::query(&format!(
        "SELECT {MEMBER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.coop_id = $1 AND m.id = $2"
    ))
    .bind(coop_id)
    .bind(member_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no member {member_id} in this coop")))?;
    Ok(member_from_row(&row))
}

/// A member's status in a coop (`active`, `suspended`, `removed` or
/// `left`); `None` when there is no such member.
pub async fn member_status(db: &Db, coop_id: i64, member_id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT status FROM members WHERE coop_id = $1 AND id = $2")
            .bind(coop_id)
            .bind(member_id)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.get(0)),
    )
}

/// Revoke a bearer token.
pub async fn logout(db: &Db, clock: &dyn Clock, token: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(clock.now_ms())
        .bind(hash_token(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Resolve a bearer credential: a login token (`cht_...`) or an API key
/// (`chk_...`).
pub async fn authenticate(db: &Db, clock: &dyn Clock, credential: &str) -> Result<Principal> {
    let now = clock.now_ms();
    let hash = hash_token(credential);
    if credential.starts_with("chk_") {
        let row = sqlx::query(
            "SELECT k.id, k.coop_id, k.role, k.revoked_at, k.issued_by, m.status, m.roles \
             FROM api_keys k LEFT JOIN members m ON m.id = k.issued_by WHERE k.key_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::Unauthenticated("unknown API key".into()))?;
        if row.get::<Option<i64>, _>(3).is_some() {
            return Err(Error::Unauthenticated(
                "this API key has been revoked".into(),
            ));
        }
        // A key issued by a member carries at most that member's powers:
        // it stops acting when they are suspended, removed or leave, or
        // stop being an admin, and acts again only if that is undone.
        if row.get::<Option<i64>, _>(4).is_some() {
            let role: String = row.get(2);
            let status: Option<String> = row.get(5);
            let roles: Option<String> = row.get(6);
            if status.as_deref() != Some("active") {
                return Err(Error::Unauthenticated(
                    "the member who issued this API key is no longer active: ask an admin for a new key"
                        .into(),
                ));
            }
            // Only admins issue keys: the issuer must still be one (or
            // hold the key's own role, for a key that grants no more).
            if !roles
                .unwrap_or_default()
                .split(',')
                .any(|r| r == "admin" || r == role)
            {
                return Err(Error::Unauthenticated(
                    "the member who issued this API key is no longer an admin: ask an admin for a new key"
                        .into(),
                ));
            }
        }
        return Ok(Principal::Service {
            key_id: row.get(0),
            coop_id: row.get(1),
            role: row.get(2),
        });
    }
    let row = sqlx::query(
        "SELECT s.user_id, s.expires_at, s.revoked_at, u.is_operator, s.second_factor, \
         (SELECT COUNT(*) FROM second_factors f WHERE f.user_id = s.user_id \
          AND f.confirmed_at IS NOT NULL) \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::Unauthenticated("unknown token: log in again".into()))?;
    if row.get::<Option<i64>, _>(2).is_some() {
        return Err(Error::Unauthenticated(
            "this token was logged out: log in again".into(),
        ));
    }
    if row.get::<i64, _>(1) <= now {
        return Err(Error::Unauthenticated(
            "this token has expired: log in again".into(),
        ));
    }
    let second_factor = row.get::<i64, _>(4) != 0;
    let enrolled = row.get::<i64, _>(5) != 0;
    Ok(Principal::User {
        user_id: row.get(0),
        // Once the operator has a second factor, a session opened before
        // it (or stolen from before it) no longer carries operator powers.
        is_operator: row.get::<i64, _>(3) != 0 && (second_factor || !enrolled),
        second_factor,
    })
}

/// What `principal` may do in `coop`. People who are not members get 403,
/// except the host operator, who acts with the `operator` flag and no coop
/// role; service keys of another coop get 403.
pub async fn actor_in(db: &Db, principal: &Principal, coop: &Coop) -> Result<Actor> {
    match principal {
        Principal::Anonymous => Ok(Actor::anonymous(coop.id)),
        Principal::Service {
            key_id,
            coop_id,
            role,
        } => {
            if *coop_id != coop.id {
                return Err(Error::Forbidden(format!(
                    "this API key belongs to another coop, not {}",
                    coop.slug
                )));
            }
            Ok(Actor {
                coop_id: coop.id,
                member_id: None,
                service_key: Some(*key_id),
                roles: vec![role.clone()],
                college: None,
                operator: false,
            })
        }
        Principal::User {
            user_id,
            is_operator,
            ..
        } => {
            let row = sqlx::query("SELECT id, roles, college, status FROM members WHERE coop_id = $1 AND user_id = $2")
                .bind(coop.id)
                .bind(user_id)
                .fetch_optional(&db.pool)
                .await?;
            match row {
                Some(row) => {
                    let status: String = row.get(3);
                    let roles: String = row.get(1);
                    let roles = if status == "active" {
                        roles
                            .split(',')
                            .filter(|r| !r.is_empty())
                            .map(String::from)
                            .collect()
                    } else {
                        // Suspended or departed members keep read access to
                        // nothing but their own data; they hold no role.
                        vec![]
                    };
                    Ok(Actor {
                        coop_id: coop.id,
                        member_id: Some(row.get(0)),
                        service_key: None,
                        roles,
                        college: row.get(2),
                        operator: *is_operator,
                    })
                }
                None if *is_operator => Ok(Actor {
                    operator: true,
                    ..Actor::anonymous(coop.id)
                }),
                None => Err(Error::Forbidden(format!(
                    "you are not a member of {}",
                    coop.slug
                ))),
            }
        }
    }
}

/// A new API key: the secret is shown once.
#[derive(Debug, Serialize)]
pub struct NewApiKey {
    /// Key id, for revoking.
    pub id: i64,
    /// The secret, `chk_...`; only its hash is kept.
    pub key: String,
    /// Its role.
    pub role: String,
    /// Its name.
    pub name: String,
}

/// Create a service API key for a coop.
pub async fn create_api_key(
    db: &Db,
    clock: &dyn Clock,
    coop: &Coop,
    name: &str,
    role: &str,
    issued_by: Option<i64>,
) -> Result<NewApiKey> {
    let mut conn = db.pool.acquire().await?;
    create_api_key_in(&mut conn, clock.now_ms(), coop, name, role, issued_by).await
}

/// [`create_api_key`] in the caller's transaction; `issued_by` is the
/// member making it (the key acts only while they are an active admin).
pub async fn create_api_key_in(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    coop: &Coop,
    name: &str,
    role: &str,
    issued_by: Option<i64>,
) -> Result<NewApiKey> {
    check_roles(&[role.to_string()])?;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::Invalid(
            "API key name must be 1 to 100 characters".into(),
        ));
    }
    let key = new_token("chk");
    let row = sqlx::query(
        "INSERT INTO api_keys (coop_id, name, role, key_hash, created_at, issued_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(coop.id)
    .bind(name)
    .bind(role)
    .bind(hash_token(&key))
    .bind(now)
    .bind(issued_by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(NewApiKey {
        id: row.get(0),
        key,
        role: role.to_string(),
        name: name.to_string(),
    })
}

/// Revoke an API key of a coop.
pub async fn revoke_api_key(db: &Db, clock: &dyn Clock, coop: &Coop, key_id: i64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND coop_id = $3 AND revoked_at IS NULL",
    )
    .bind(clock.now_ms())
    .bind(key_id)
    .bind(coop.id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!(
            "no active API key {key_id} in {}",
            coop.slug
        )));
    }
    Ok(())
}

/// Basic facts about a logged-in user.
#[derive(Clone, Debug, Serialize)]
pub struct UserInfo {
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Whether they operate this host.
    pub is_operator: bool,
}

/// A user's own account facts.
pub async fn user_info(db: &Db, user_id: i64) -> Result<UserInfo> {
    let row = sqlx::query("SELECT email, display_name, is_operator FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(UserInfo {
        email: row.get(0),
        display_name: row.get(1),
        is_operator: row.get::<i64, _>(2) != 0,
    })
}
