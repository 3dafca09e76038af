//! The error every service returns. Each kind says who is at fault; the
//! API maps kinds to HTTP statuses and never shows the text of `Internal`.

/// A service error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it, or a concurrent change won (409).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but unacceptable input (422).
    #[error("{0}")]
    Invalid(String),
    /// Too many attempts; retry after the given seconds (429).
    #[error("{message}")]
    TooManyRequests {
        /// What was throttled.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A bug or an outage; details go to the log only (500).
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// Shorthand for service results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match unique_violation(&e) {
            Some(what) => Error::Conflict(what),
            None => Error::Internal(anyhow::Error::new(e).context("database error")),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match conflict_in(&e) {
            Some(what) => Error::Conflict(what),
            None => Error::Internal(e),
        }
    }
}

/// What already exists, when `e` (or what caused it) is a unique
/// violation: two requests created the same thing at once and this one
/// lost. The check before an insert cannot see a concurrent insert, so
/// the constraint is what decides; the loser hears what exists (409),
/// not that the host failed.
pub fn conflict_in(e: &anyhow::Error) -> Option<String> {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .find_map(unique_violation)
}

/// A unique violation (PostgreSQL 23505, SQLite 2067 and 1555) said as
/// what already exists; `None` for any other error.
pub fn unique_violation(e: &sqlx::Error) -> Option<String> {
    let d = e.as_database_error()?;
    if !d.is_unique_violation() {
        return None;
    }
    let (table, columns) = violated_key(d);
    Some(what_exists(&table, &columns))
}

/// The table and columns of the violated key: PostgreSQL names them in
/// the error's fields (`Key (a, b)=(..)`, whose values are left out),
/// SQLite in its message (`UNIQUE constraint failed: t.a, t.b`).
fn violated_key(d: &(dyn sqlx::error::DatabaseError + 'static)) -> (String, Vec<String>) {
    if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let table = pg.table().unwrap_or_default().to_string();
        let columns = pg
            .detail()
            .and_then(|detail| detail.strip_prefix("Key ("))
            .and_then(|rest| rest.split_once(")="))
            .map(|(cols, _)| cols.split(", ").map(str::to_string).collect())
            .unwrap_or_default();
        return (table, columns);
    }
    let message = d.message();
    let keys = message.split_once("failed: ").map(|(_, k)| k).unwrap_or("");
    let mut table = String::new();
    let mut columns = Vec::new();
    for key in keys.split(", ") {
        if let Some((t, c)) = key.split_once('.') {
            table = t.to_string();
            columns.push(c.to_string());
        }
    }
    (table, columns)
}

/// What a unique key names, in words a caller understands.
fn what_exists(table: &str, columns: &[String]) -> String {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let what = match (table, columns.as_slice()) {
        ("coops", ["slug"]) => "a coop with this slug already exists".to_string(),
        ("users", ["email"]) => "an account with this email address already exists".to_string(),
        ("members", _) => "this person is already a member of this coop".to_string(),
        ("plugins", _) => "a plugin with this name is already installed in this coop".to_string(),
        ("bindings", _) => "another plugin already serves this interface in this coop".to_string(),
        ("votes", _) => "this member has already voted on this proposal".to_string(),
        ("shifts", _) => "this member already has a shift open".to_string(),
        ("", _) => "this already exists".to_string(),
        (table, []) => format!("a {table} record with the same key already exists"),
        (table, columns) => format!(
            "a {table} record with the same {} already exists",
            columns.join(", ")
        ),
    };
    format!("{what} (a concurrent request may have created it)")
}

impl Error {
    /// The error's code, as the API names it (`access-denied`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad-request",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "access-denied",
            Error::NotFound(_) => "not-found",
            Error::Conflict(_) => "conflict",
            Error::Invalid(_) => "invalid",
            Error::TooManyRequests { .. } => "too-many-requests",
            Error::Internal(_) => "internal",
        }
    }
}
