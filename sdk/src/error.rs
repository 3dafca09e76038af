//! Constructors and accessors for the host's error type.

pub use crate::wit::coop::host::types::Error;

impl Error {
    /// The caller or the plugin lacks a role, a grant or a consent (HTTP 403).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::AccessDenied(message.into())
    }

    /// The thing asked for does not exist (HTTP 404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The data changed under the caller, or the state does not allow the
    /// action now (HTTP 409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// The input is well-formed but not acceptable (HTTP 422).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// A quota or limit was reached (HTTP 507).
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        Self::QuotaExceeded(message.into())
    }

    /// Something failed that is not the caller's fault (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The message for people, whatever the case.
    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Invalid(m)
            | Self::QuotaExceeded(m)
            | Self::Internal(m) => m,
        }
    }

    /// The WIT name of the case, for example `not-found`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "access-denied",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Invalid(_) => "invalid",
            Self::QuotaExceeded(_) => "quota-exceeded",
            Self::Internal(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_pick_the_case_and_keep_the_message() {
        let cases = [
            (Error::access_denied("a"), "access-denied"),
            (Error::not_found("a"), "not-found"),
            (Error::conflict("a"), "conflict"),
            (Error::invalid("a"), "invalid"),
            (Error::quota_exceeded("a"), "quota-exceeded"),
            (Error::internal("a"), "internal"),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind);
            assert_eq!(error.message(), "a");
        }
        assert_eq!(Error::invalid("bad"), Error::Invalid("bad".to_string()));
    }
}
