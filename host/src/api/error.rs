//! One error type for every route: 4xx say what was wrong, 5xx say nothing
//! and log everything.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::CallFailure;
use crate::error::Error;
use crate::runtime::{CallError, LimitHit};

/// What `Retry-After` says when a coop's calls in flight, or the host's
/// memory for calls, are full: calls last seconds at most, so one second
/// later a slot has most likely been freed.
pub const RETRY_AFTER_BUSY_SECS: u64 = 1;

/// An error answered as JSON: `{"error": {"code": .., "message": ..}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// A 4xx with a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    /// With a `Retry-After` header of `secs` seconds (a 429).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl ApiError {
    /// A 429 for one throttling rule: its own `code`, and `Retry-After`.
    pub fn throttled(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::BadRequest(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad-request", m),
            Error::Unauthenticated(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
            }
            Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", m),
            Error::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not-found", m),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            Error::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            Error::TooManyRequests {
                message,
                retry_after_secs,
            } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", message)
            },
            // Built as `Internal` by hand around a database error: a
            // unique violation is still a lost race, not a host failure.
            Error::Internal(e) if crate::error::conflict_in(&e).is_some() => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                crate::error::conflict_in(&e).unwrap_or_default(),
            ),
            Error::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the host's log",
                )
            }
        }
    }
}

impl From<CallFailure> for ApiError {
    fn from(e: CallFailure) -> Self {
        match e {
            CallFailure::Service(e) => e.into(),
            CallFailure::Call(e) => e.into(),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        let msg = e.to_string();
        match e {
            CallError::NoSuchFunction(m) => ApiError::new(StatusCode::NOT_FOUND, "not-found", m),
            CallError::BadArguments(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad-arguments", m)
            }
            CallError::PluginError {
                status,
                error,
                message,
            } => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                let code = match status.as_u16() {
                    403 => "access-denied",
                    404 => "not-found",
                    409 => "conflict",
                    500 => "internal",
                    507 => "quota-exceeded",
                    _ => "invalid",
                };
                ApiError {
                    detail: (!error.is_null()).then_some(error),
                    ..ApiError::new(status, code, message)
                }
            }
            CallError::Trap(_) => ApiError::new(StatusCode::BAD_GATEWAY, "plugin-trapped", msg),
            // Not the plugin's doing: the host is full for now; retry.
            CallError::Limit(LimitHit::HostMemory) => ApiError {
                retry_after: Some(RETRY_AFTER_BUSY_SECS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "host-memory-busy", msg)
            },
            CallError::Limit(hit) => {
                let code = match hit {
                    LimitHit::Memory => "memory-limit",
                    LimitHit::HostCalls => "host-call-limit",
                    LimitHit::LogVolume => "log-limit",
                    LimitHit::CallBytes => "call-memory-limit",
                    LimitHit::HostMemory => "host-memory-busy",
                };
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, code, msg)
            }
            CallError::CoopBusy { .. } => ApiError {
                retry_after: Some(RETRY_AFTER_BUSY_SECS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "coop-busy", msg)
            },
            CallError::ResultTooLarge { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "result-too-large", msg)
            }
            CallError::StoreQuota(_) => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "store-quota", msg)
            }
            CallError::NotGranted(_) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", msg),
            CallError::Deadline(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "deadline-exceeded", msg)
            }
            CallError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            CallError::Internal(e) => Error::Internal(e).into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.detail {
            body["error"]["detail"] = d;
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
