//! API errors: who is at fault, mapped to HTTP once (here) and to the JSON
//! body `{"error": {"code", "message", "field"}}`. Codes use AWS's names
//! where AWS has one (`NoSuchEntity`, `EntityAlreadyExists`,
//! `LimitExceeded`, `MalformedPolicyDocument`, `AccessDenied`,
//! `SignatureDoesNotMatch`, …) so that people and tools recognise them.
//! Nothing here ever yields a 5xx for bad input: `Internal` is reserved for
//! faults of ward itself, and its message never reaches the client.

use std::fmt;

use axum::http::StatusCode;

/// An API failure. (Variant fields are self-describing: code, message, field.)
#[allow(missing_docs)]
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed: 400. `field` names the offending input.
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// No such entity: 404.
    NotFound { code: &'static str, message: String },
    /// Conflicts with existing state: 409.
    Conflict { code: &'static str, message: String },
    /// A quota or limit: 409 (AWS's LimitExceeded is a 409).
    Limit { message: String },
    /// The caller could not be authenticated: 401 (403 for AWS's
    /// signature errors, which AWS sends as 403).
    Unauthenticated {
        code: &'static str,
        message: String,
        status: StatusCode,
    },
    /// `SignatureDoesNotMatch` (403) with what ward signed: the canonical
    /// request and the string to sign it computed (session tokens
    /// redacted), as AWS puts them in its error body, so a caller can diff
    /// them against its signer's. Never the secret or the signing key.
    SignatureMismatch {
        message: String,
        canonical_request: String,
        string_to_sign: String,
    },
    /// Authenticated but not allowed: 403, with the policy explanation.
    Denied { message: String },
    /// Too many attempts: 429.
    Throttled { message: String },
    /// Refused for now, to be retried after `retry_after` seconds: 429
    /// with a `Retry-After` header (lockouts, saturated password checks).
    RetryLater { message: String, retry_after: u64 },
    /// Body too large: 413.
    TooLarge { message: String },
    /// The request body did not arrive in time: 408 (field `body`).
    Timeout { message: String },
    /// The route exists but does not take this method: 405.
    MethodNotAllowed,
    /// ward-ca could not reach its store: 503.
    Unavailable { message: String },
    /// A bug or an unexpected store error: 500. The detail is logged, not sent.
    Internal { detail: String },
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code: "ValidationError",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A 400 with a specific code.
    pub fn invalid_code(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A 404 `NoSuchEntity`.
    pub fn no_such(what: &str, name: &str) -> ApiError {
        ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!("{what} {name} does not exist"),
        }
    }

    /// A 409 `EntityAlreadyExists`.
    pub fn exists(what: &str, name: &str) -> ApiError {
        ApiError::Conflict {
            code: "EntityAlreadyExists",
            message: format!("{what} {name} already exists"),
        }
    }

    /// A 409 `LimitExceeded` naming the limit.
    pub fn limit(message: impl Into<String>) -> ApiError {
        ApiError::Limit {
            message: message.into(),
        }
    }

    /// A 500 whose detail is only logged.
    pub fn internal(detail: impl fmt::Display) -> ApiError {
        ApiError::Internal {
            detail: detail.to_string(),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Limit { .. } => StatusCode::CONFLICT,
            ApiError::Unauthenticated { status, .. } => *status,
            ApiError::Denied { .. } | ApiError::SignatureMismatch { .. } => StatusCode::FORBIDDEN,
            ApiError::Throttled { .. } | ApiError::RetryLater { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unauthenticated { code, .. } => code,
            ApiError::Limit { .. } => "LimitExceeded",
            ApiError::Denied { .. } => "AccessDenied",
            ApiError::SignatureMismatch { .. } => "SignatureDoesNotMatch",
            ApiError::Throttled { .. } | ApiError::RetryLater { .. } => "Throttling",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Timeout { .. } => "RequestTimeout",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Unavailable { .. } => "ServiceUnavailable",
            ApiError::Internal { .. } => "InternalFailure",
        }
    }

    /// The message for the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::Invalid { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::Limit { message }
            | ApiError::Unauthenticated { message, .. }
            | ApiError::Denied { message }
            | ApiError::SignatureMismatch { message, .. }
            | ApiError::Throttled { message }
            | ApiError::RetryLater { message, .. }
            | ApiError::TooLarge { message }
            | ApiError::Timeout { message }
            | ApiError::Unavailable { message } => message.clone(),
            ApiError::MethodNotAllowed => "this API route does not take this method".into(),
            ApiError::Internal { .. } => "internal error; see the ward-ca log".into(),
        }
    }

    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } => field.as_deref(),
            ApiError::Timeout { .. } => Some("body"),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl From<ward_authz::InvalidName> for ApiError {
    fn from(e: ward_authz::InvalidName) -> ApiError {
        ApiError::invalid(e.field, e.message)
    }
}

/// `Retry-After` seconds on a 503.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;
