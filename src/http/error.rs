//! The one error shape of att's HTTP API, and the only place that picks error status codes.
//!
//! Every error body is `{"code": "...", "detail": <text or object>}`, with `field` added when
//! the error is about one input field. `detail` follows the original system's FastAPI shape,
//! so `{"detail": "server not found"}` clients keep working.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// An error an HTTP handler returns.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// Bad input: the caller must change the request. `field` names the culprit when known.
    Invalid {
        /// Dotted path of the bad field, when one field is to blame.
        field: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// No such thing (route, actor, server, …).
    NotFound(String),
    /// Missing or wrong bearer token.
    Unauthorized(String),
    /// The request conflicts with the current state (e.g. a run already in progress).
    Conflict(Value),
    /// att (or a part it needs) cannot serve this now.
    Unavailable {
        /// What is unavailable.
        detail: Value,
        /// Seconds after which a retry may succeed.
        retry_after: Option<u64>,
    },
    /// Something broke inside att; the text is logged and returned.
    Internal(String),
    /// A status chosen by the framework (405, 408, 413, 415 …) with its text.
    Status(StatusCode, String),
    /// Any status with a structured `detail` and a specific code (gateway outcomes).
    Detailed {
        /// The status.
        status: StatusCode,
        /// The machine-readable code.
        code: &'static str,
        /// The payload.
        detail: Value,
        /// Seconds for `Retry-After`.
        retry_after: Option<u64>,
    },
}

impl ApiError {
    /// Bad input about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Status(s, _) => *s,
            Self::Detailed { status, .. } => *status,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Conflict(_) => "conflict",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
            Self::Status(s, _) => status_code_name(*s),
            Self::Detailed { code, .. } => code,
        }
    }
}

/// A registry change that failed (`/api/v1/mcp/servers`, `/api/v1/services`): a bad spec is
/// the caller's to fix (422), a full registry a conflict naming the key that sets its cap
/// (409); anything else is att's.
impl From<crate::registry::RegistryError> for ApiError {
    fn from(e: crate::registry::RegistryError) -> Self {
        use crate::registry::RegistryError;
        match e {
            RegistryError::Invalid(message) => ApiError::Invalid {
                field: None,
                message,
            },
            RegistryError::Full { limit, key, .. } => ApiError::Conflict(serde_json::json!({
                "message": e.to_string(), "limit": limit, "key": key,
            })),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A call past a per-principal limit: 429 `rate_limited` with `Retry-After`, the detail
/// naming the limit, its configuration key and the principal.
impl From<crate::limits::Refused> for ApiError {
    fn from(r: crate::limits::Refused) -> Self {
        ApiError::Detailed {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited",
            detail: r.detail(),
            retry_after: Some(r.retry_after_secs()),
        }
    }
}

/// A stable machine-readable code for a framework-chosen status.
pub fn status_code_name(s: StatusCode) -> &'static str {
    match s {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// The body every error response carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable error code (`invalid_input`, `not_found`, …).
    pub code: String,
    /// Human-readable text, or a structured object for errors that carry data.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// The input field the error is about, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code().to_owned();
        let mut retry = None;
        let (detail, field) = match self {
            Self::Invalid { field, message } => (Value::String(message), field),
            Self::NotFound(m) | Self::Internal(m) | Self::Status(_, m) => (Value::String(m), None),
            Self::Unauthorized(why) => (Value::String(why), None),
            Self::Conflict(v) => (v, None),
            Self::Unavailable {
                detail,
                retry_after,
            }
            | Self::Detailed {
                detail,
                retry_after,
                ..
            } => {
                retry = retry_after;
                (detail, None)
            }
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%status, %detail, "request failed");
        }
        let mut response = (
            status,
            axum::Json(ErrorBody {
                code,
                detail,
                field,
            }),
        )
            .into_response();
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
