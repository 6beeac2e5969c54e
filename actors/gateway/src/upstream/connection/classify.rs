//! rmcp's errors translated into [`CallFailure`]s: above all, whether the request was sent,
//! the question failover depends on.

use super::*;

/// Whether a transport's failure to send means the message never left att: no connection
/// was made, or a legacy SSE session's stream had ended before it was posted.
pub(super) fn never_sent(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(sse) = e.downcast_ref::<SseError>() {
        return match sse {
            SseError::Post(e) => e.is_connect(),
            SseError::Ended => true,
            SseError::Encode(_) => true,
            SseError::Status { .. } => false,
        };
    }
    matches!(
        e.downcast_ref::<StreamableHttpError<reqwest::Error>>(),
        Some(StreamableHttpError::Client(c)) if c.is_connect()
    )
}

/// Translates an rmcp error into a [`CallFailure`].
pub fn classify(e: ServiceError, http: bool) -> CallFailure {
    match e {
        ServiceError::McpError(data) => CallFailure::Rpc {
            code: i64::from(data.code.0),
            message: data.message.into_owned(),
        },
        ServiceError::Timeout { timeout } => CallFailure::Timeout {
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        },
        ServiceError::TransportSend(err)
            if let Some(why) = super::super::tls::diagnose(&*err.error) =>
        {
            not_sent(why, ErrorCategory::Tls)
        }
        ServiceError::TransportSend(ref err)
            if let Some(sse) = err.error.downcast_ref::<SseError>() =>
        {
            match sse {
                SseError::Status { status, .. } => CallFailure::HttpStatus(*status),
                SseError::Post(e) if e.is_connect() => not_sent(
                    format!("cannot connect: {e}"),
                    ErrorCategory::TransportError,
                ),
                SseError::Post(e) if e.is_timeout() => CallFailure::Timeout { after_ms: 0 },
                SseError::Post(e) => CallFailure::ConnectionLost(e.to_string()),
                SseError::Encode(e) => CallFailure::Malformed(e.to_string()),
                SseError::Ended => not_sent(sse.to_string(), ErrorCategory::TransportError),
            }
        }
        ServiceError::TransportSend(err) => {
            let http_error = err
                .error
                .downcast_ref::<StreamableHttpError<reqwest::Error>>();
            match http_error {
                Some(StreamableHttpError::Client(c)) if c.is_connect() => not_sent(
                    format!("cannot connect: {c}"),
                    ErrorCategory::TransportError,
                ),
                Some(StreamableHttpError::HttpStatus(s)) => CallFailure::HttpStatus(s.status),
                Some(StreamableHttpError::Client(c)) if c.is_timeout() => {
                    CallFailure::Timeout { after_ms: 0 }
                }
                Some(StreamableHttpError::Deserialize(d)) => CallFailure::Malformed(d.to_string()),
                Some(StreamableHttpError::SessionExpired) => CallFailure::SessionExpired,
                Some(other) => CallFailure::ConnectionLost(other.to_string()),
                // A stdio write that failed never reached the child.
                None if !http => not_sent(
                    format!("cannot write to the process: {}", err.error),
                    ErrorCategory::TransportError,
                ),
                None => CallFailure::ConnectionLost(err.error.to_string()),
            }
        }
        ServiceError::TransportClosed => {
            CallFailure::ConnectionLost("the connection closed".into())
        }
        ServiceError::Cancelled { reason } => CallFailure::ConnectionLost(format!(
            "cancelled: {}",
            reason.unwrap_or_else(|| "no reason".into())
        )),
        ServiceError::UnexpectedResponse => {
            CallFailure::Malformed("unexpected response type".into())
        }
        other => CallFailure::Malformed(other.to_string()),
    }
}
