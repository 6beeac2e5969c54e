//! What the fixture does differently as a server of protocol 2026-07-28 alone
//! (`--only-2026-07-28`, [`super::FixtureState::newer_only`]), where a server has no
//! back-channel and no session-wide settings:
//! - log messages are sent only when the request's `_meta` asks for them
//!   (`io.modelcontextprotocol/logLevel`), at that level or above ([`wants_log`]);
//! - `ask` cannot send the client a request: it answers `resultType: "input_required"` with
//!   the question under the key `answer` and a `requestState`, and completes when the client
//!   retries with `inputResponses.answer` and the state echoed ([`ask`]);
//! - `touch` reaches the `subscriptions/listen` streams whose filter names the URI
//!   ([`touch_listeners`]), there being no `resources/subscribe`.

#![allow(dead_code)]

use rmcp::ErrorData;
#[allow(deprecated)]
// sampling and roots: deprecated by SEP-2577, still in MRTR's input requests
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InputRequest,
    InputRequests, InputRequiredResult, LoggingLevel, RequestMetaObject,
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification,
    ServerRequest,
};
use serde_json::json;

/// The rank of a log level, least severe first (RFC 5424 order).
#[allow(deprecated)]
fn rank(level: LoggingLevel) -> u8 {
    use LoggingLevel as L;
    match level {
        L::Debug => 0,
        L::Info => 1,
        L::Notice => 2,
        L::Warning => 3,
        L::Error => 4,
        L::Critical => 5,
        L::Alert => 6,
        L::Emergency => 7,
    }
}

/// Whether a request with `meta` asked for log messages of `level`.
#[allow(deprecated)]
pub fn wants_log(meta: &RequestMetaObject, level: LoggingLevel) -> bool {
    meta.log_level().is_some_and(|min| rank(level) >= rank(min))
}

/// The state `ask` seals into its `input_required` answer (a real server would sign it).
fn state(kind: &str) -> String {
    format!("asked {kind}")
}

/// `ask {kind}` of a 2026-07-28 server: the question `request` as an `input_required`
/// result, or — on the retry that carries the answer and the state — the answer.
pub fn ask(
    server: &str,
    kind: &str,
    request: ServerRequest,
    call: &CallToolRequestParams,
) -> Result<CallToolResponse, ErrorData> {
    let answer = call.input_responses.as_ref().and_then(|r| r.get("answer"));
    if let Some(answer) = answer {
        if call.request_state.as_deref() != Some(state(kind).as_str()) {
            return Err(ErrorData::invalid_params(
                format!("`requestState` must echo `{}`", state(kind)),
                None,
            ));
        }
        let body = json!({"server": server, "answer": answer});
        let mut result = CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
        result.structured_content = Some(body);
        return Ok(result.into());
    }
    #[allow(deprecated)]
    let question = match request {
        ServerRequest::CreateMessageRequest(r) => InputRequest::CreateMessage(r),
        ServerRequest::ElicitRequest(r) => InputRequest::Elicitation(r),
        ServerRequest::ListRootsRequest(r) => InputRequest::ListRoots(r),
        other => {
            return Err(ErrorData::internal_error(
                format!("not an input request: {other:?}"),
                None,
            ));
        }
    };
    let mut asked = InputRequests::new();
    asked.insert("answer".to_owned(), question);
    Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
        Some(asked),
        Some(state(kind)),
    )))
}

/// Sends `notifications/resources/updated` for `uri` on every listen stream whose filter
/// names it; how many took it.
pub async fn touch_listeners(sinks: &[rmcp::service::SubscriptionSink], uri: &str) -> usize {
    let mut sent = 0;
    for sink in sinks {
        let names_it = sink
            .accepted()
            .resource_subscriptions
            .as_ref()
            .is_some_and(|uris| uris.iter().any(|u| u == uri));
        if !names_it {
            continue;
        }
        let update = ServerNotification::ResourceUpdatedNotification(
            ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(uri)),
        );
        if sink.send(update).await.is_ok() {
            sent += 1;
        }
    }
    sent
}
