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
    Internal(#[from] anyhow::Error),
}

/// Shorthand for service results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database error"))
    }
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
