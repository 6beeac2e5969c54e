//! What a failed upstream call means (GATEWAY.md, "Invocation", the outcome table).
//!
//! | outcome | counts against the server | next candidate? | to the caller |
//! |---|---|---|---|
//! | result (also a tool result with `isError`) | no: proof of service | stop | 200 |
//! | JSON-RPC -32601 / -32602 | no | stop | 4xx with the upstream's error |
//! | could not connect / failed before sending | yes | yes | — |
//! | timeout, connection lost, HTTP 5xx, other JSON-RPC error, malformed reply (after sending) | yes | only if safe to repeat | if not safe: 502 `outcome_unknown` |
//!
//! Transports turn their errors into a [`CallFailure`]; [`decide`] applies the table.

use crate::health::ErrorCategory;

/// JSON-RPC "method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC "invalid params".
pub const INVALID_PARAMS: i64 = -32602;

/// How one upstream call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The request never left att: connection refused, handshake failed, process not running.
    NotSent {
        /// What happened.
        message: String,
        /// Its category.
        category: ErrorCategory,
    },
    /// The deadline passed after the request was sent.
    Timeout {
        /// The deadline, for the message.
        after_ms: u64,
    },
    /// The connection broke after the request was sent.
    ConnectionLost(String),
    /// The server answered with an HTTP error status.
    HttpStatus(u16),
    /// The server answered with a JSON-RPC error.
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The reply was not valid MCP.
    Malformed(String),
    /// The server no longer knows the session (HTTP 404 on its session id: it restarted or
    /// expired it). The request was not processed; a new session is all it takes.
    SessionExpired,
}

impl CallFailure {
    /// The error category the attempt trace and the health record carry.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::NotSent { category, .. } => *category,
            Self::Timeout { .. } => ErrorCategory::NetworkTimeout,
            Self::ConnectionLost(_) => ErrorCategory::TransportError,
            Self::HttpStatus(_) => ErrorCategory::HttpStatus,
            Self::Rpc { .. } => ErrorCategory::RpcError,
            Self::Malformed(_) => ErrorCategory::InvalidPayload,
            Self::SessionExpired => ErrorCategory::TransportError,
        }
    }

    /// The error text of the attempt trace.
    pub fn message(&self) -> String {
        match self {
            Self::NotSent { message, .. } => message.clone(),
            Self::Timeout { after_ms } => format!("no answer within {after_ms} ms"),
            Self::ConnectionLost(m) => format!("connection lost: {m}"),
            Self::HttpStatus(s) => format!("http status {s}"),
            Self::Rpc { message, .. } => format!("rpc error: {message}"),
            Self::Malformed(m) => format!("invalid reply: {m}"),
            Self::SessionExpired => "the server no longer knows this session".into(),
        }
    }

    /// Whether the failure is the caller's (it would fail on every server alike).
    pub fn is_caller_error(&self) -> bool {
        matches!(self, Self::Rpc { code, .. } if *code == METHOD_NOT_FOUND || *code == INVALID_PARAMS)
    }
}

/// What the invocation loop does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Return the upstream's error to the caller now; the server is not blamed.
    CallerError,
    /// Blame the server and try the next candidate.
    FailOver,
    /// Blame the server and stop: the call may have taken effect (502 `outcome_unknown`).
    OutcomeUnknown,
}

impl Decision {
    /// Whether the failure counts against the server's health.
    pub fn counts_against_server(self) -> bool {
        !matches!(self, Self::CallerError)
    }
}

/// Applies the outcome table. `safe_to_repeat` is true for `resources/read`, `prompts/get`,
/// and tools listed in `idempotent_tools` or annotated `readOnlyHint`/`idempotentHint`.
pub fn decide(failure: &CallFailure, safe_to_repeat: bool) -> Decision {
    match failure {
        f if f.is_caller_error() => Decision::CallerError,
        CallFailure::NotSent { .. } | CallFailure::SessionExpired => Decision::FailOver,
        _ if safe_to_repeat => Decision::FailOver,
        _ => Decision::OutcomeUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_table() {
        let not_sent = CallFailure::NotSent {
            message: "connection refused".into(),
            category: ErrorCategory::TransportError,
        };
        let rpc = |code| CallFailure::Rpc {
            code,
            message: "m".into(),
        };
        use Decision::*;
        // (failure, decision when not safe to repeat, decision when safe, category)
        let table = [
            (
                rpc(METHOD_NOT_FOUND),
                CallerError,
                CallerError,
                ErrorCategory::RpcError,
            ),
            (
                rpc(INVALID_PARAMS),
                CallerError,
                CallerError,
                ErrorCategory::RpcError,
            ),
            (not_sent, FailOver, FailOver, ErrorCategory::TransportError),
            (
                CallFailure::Timeout { after_ms: 5 },
                OutcomeUnknown,
                FailOver,
                ErrorCategory::NetworkTimeout,
            ),
            (
                CallFailure::ConnectionLost("reset".into()),
                OutcomeUnknown,
                FailOver,
                ErrorCategory::TransportError,
            ),
            (
                CallFailure::HttpStatus(502),
                OutcomeUnknown,
                FailOver,
                ErrorCategory::HttpStatus,
            ),
            (
                rpc(-32603),
                OutcomeUnknown,
                FailOver,
                ErrorCategory::RpcError,
            ),
            (
                rpc(-32000),
                OutcomeUnknown,
                FailOver,
                ErrorCategory::RpcError,
            ),
            (
                CallFailure::Malformed("not JSON".into()),
                OutcomeUnknown,
                FailOver,
                ErrorCategory::InvalidPayload,
            ),
        ];
        for (failure, unsafe_decision, safe_decision, category) in table {
            assert_eq!(
                decide(&failure, false),
                unsafe_decision,
                "{failure:?}, not safe"
            );
            assert_eq!(decide(&failure, true), safe_decision, "{failure:?}, safe");
            assert_eq!(failure.category(), category, "{failure:?}");
            assert_eq!(
                unsafe_decision.counts_against_server(),
                !failure.is_caller_error(),
                "caller errors never count against a server"
            );
        }
    }

    #[test]
    fn messages_follow_the_original_vocabulary() {
        assert_eq!(CallFailure::HttpStatus(503).message(), "http status 503");
        assert_eq!(
            CallFailure::Rpc {
                code: -32000,
                message: "boom".into()
            }
            .message(),
            "rpc error: boom"
        );
    }
}
