//! What an MCP endpoint answers: a routed call's outcome as an MCP result or error (with its
//! attempt trace), a workspace tool's result or error, and `resultType` set on relayed
//! results for 2026-07-28 clients.

use att_gateway::answer::Answer;
use att_gateway::invoke::{Attempt, Outcome};
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, CompleteResult, ErrorCode, GetPromptResult, ReadResourceResult};
use serde_json::{Value, json};

use crate::tools::ToolError;

/// The attempt trace as error data.
fn attempts_data(attempts: &[Attempt]) -> Value {
    json!({ "attempts": attempts })
}

/// Maps an invocation outcome to an MCP result or error.
/// A result passed through from an upstream that spoke 2025-11-25 has no `resultType`; a
/// client on 2026-07-28 requires one (`"complete"`: att relays only finished results). rmcp
/// strips it again for a client on an older version, so it is set for every client.
pub(super) trait Complete {
    fn completed(self) -> Self;
}

macro_rules! complete {
    ($($t:ty),*) => {$(
        impl Complete for $t {
            fn completed(mut self) -> Self {
                self.result_type.get_or_insert(rmcp::model::ResultType::COMPLETE);
                self
            }
        }
    )*};
}

complete!(
    CallToolResult,
    ReadResourceResult,
    GetPromptResult,
    CompleteResult
);

pub(super) fn outcome<T: TryFrom<Answer, Error = Answer>>(
    what: &str,
    o: Outcome,
) -> Result<T, ErrorData> {
    match o {
        // The answer is the method's own (the invoker called that method); anything else is
        // att's bug, said as such rather than a panic.
        Outcome::Success { result, .. } => T::try_from(*result).map_err(|other| {
            ErrorData::internal_error(
                format!(
                    "the upstream's {what} result came as a {} result",
                    other.kind()
                ),
                None,
            )
        }),
        Outcome::CallerError { code, message, .. } => Err(ErrorData::new(
            ErrorCode(i32::try_from(code).unwrap_or(ErrorCode::INTERNAL_ERROR.0)),
            message,
            None,
        )),
        Outcome::Unknown { checked } => Err(ErrorData::invalid_params(
            format!("unknown {what}"),
            Some(json!({ "checked": checked })),
        )),
        Outcome::OutcomeUnknown { attempts } => Err(ErrorData::internal_error(
            "outcome unknown: the upstream failed after receiving the call, which is not safe to repeat",
            Some(attempts_data(&attempts)),
        )),
        Outcome::Busy { full, attempts } => Err(ErrorData::internal_error(
            "the upstreams that could serve the call are at their max_concurrent",
            Some(crate::http::gateway::invoke::busy_detail(
                what, &full, &attempts,
            )),
        )),
        Outcome::Unavailable {
            attempts,
            retry_after,
        } => Err(ErrorData::internal_error(
            "no upstream could serve the call",
            Some(json!({ "attempts": attempts, "retry_after": retry_after })),
        )),
    }
}

/// A workspace error that is not a tool result: the caller's mistake is invalid params.
pub(super) fn ws_error(e: ToolError) -> ErrorData {
    match e {
        ToolError::Invalid { field, message } => {
            ErrorData::invalid_params(message, field.map(|f| json!({ "field": f })))
        }
        ToolError::Internal(m) => ErrorData::internal_error(m, None),
        other => ErrorData::invalid_request(other.message().to_owned(), None),
    }
}

/// A workspace tool's outcome as MCP: the result with text and `structuredContent`; a
/// domain failure as a tool error; a malformed call as invalid params.
pub(super) fn tool_result(
    done: Result<crate::tools::Done, ToolError>,
) -> Result<CallToolResult, ErrorData> {
    match done {
        Ok(d) => {
            let mut r = CallToolResult::structured(d.data);
            r.content = vec![rmcp::model::ContentBlock::text(d.text)];
            if let Some(blob) = d.blob {
                r.content.push(rmcp::model::ContentBlock::resource(blob));
            }
            Ok(r)
        }
        Err(e @ (ToolError::NotFound(_) | ToolError::Conflict(_) | ToolError::Remote(_))) => {
            let mut r = CallToolResult::structured_error(
                json!({ "code": e.code(), "message": e.message() }),
            );
            r.content = vec![rmcp::model::ContentBlock::text(e.message().to_owned())];
            Ok(r)
        }
        Err(e) => Err(ws_error(e)),
    }
}
