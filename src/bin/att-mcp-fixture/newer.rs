//! What the fixture does differently as a server of protocol 2026-07-28 alone
//! (`--only-2026-07-28`, [`super::FixtureState::newer_only`]), where a server has no
//! back-channel and no session-wide settings:
//! - log messages are sent only when the request's `_meta` asks for them
//!   (`io.modelcontextprotocol/logLevel`), at that level or above ([`wants_log`]);
//! - `ask` cannot send the client a request: it answers `resultType: "input_required"` with
//!   the question under the key `answer` and a `requestState`, and completes when the client
//!   retries with `inputResponses.answer` and the state echoed ([`ask`]); the prompt `ask`
//!   ([`ask_prompt`]) and the resource `fixture://asked` ([`ask_resource`]), listed in this
//!   mode alone, do the same with an elicitation and complete with the answer;
//! - `touch` reaches the `subscriptions/listen` streams whose filter names the URI
//!   ([`touch_listeners`]), there being no `resources/subscribe`.

#![allow(dead_code)]

use rmcp::ErrorData;
#[allow(deprecated)]
// sampling and roots: deprecated by SEP-2577, still in MRTR's input requests
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, InputRequest, InputRequests, InputRequiredResult,
    InputResponses, LoggingLevel, Prompt, PromptMessage, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, RequestMetaObject, Resource, ResourceContents,
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, Role, ServerNotification,
    ServerRequest,
};
use serde_json::{Value, json};

/// The prompt that asks first (this mode alone).
pub const PROMPT: &str = "ask";
/// The resource that asks first (this mode alone).
pub const RESOURCE: &str = "fixture://asked";

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
    let answer = match answered(
        kind,
        request,
        call.input_responses.as_ref(),
        call.request_state.as_deref(),
    )? {
        Ok(answer) => answer,
        Err(asked) => return Ok(CallToolResponse::InputRequired(asked)),
    };
    let body = json!({"server": server, "answer": answer});
    let mut result = CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
    result.structured_content = Some(body);
    Ok(result.into())
}

/// The prompt [`PROMPT`], as listed.
pub fn prompt() -> Prompt {
    Prompt::new(PROMPT, Some("Asks for a name first"), None)
}

/// The resource [`RESOURCE`], as listed.
pub fn resource() -> Resource {
    Resource::new(RESOURCE, "asked")
}

/// `prompts/get` of [`PROMPT`]: asks `question` (an elicitation) first, then greets the name
/// answered.
pub fn ask_prompt(
    server: &str,
    question: ServerRequest,
    call: &GetPromptRequestParams,
) -> Result<GetPromptResponse, ErrorData> {
    let answer = match answered(
        "prompt",
        question,
        call.input_responses.as_ref(),
        call.request_state.as_deref(),
    )? {
        Ok(answer) => answer,
        Err(asked) => return Ok(GetPromptResponse::InputRequired(asked)),
    };
    let text = format!("Hello, {}, from {server}", named(&answer));
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
}

/// `resources/read` of [`RESOURCE`]: asks `question` (an elicitation) first, then reads as
/// the name answered.
pub fn ask_resource(
    server: &str,
    question: ServerRequest,
    call: &ReadResourceRequestParams,
) -> Result<ReadResourceResponse, ErrorData> {
    let answer = match answered(
        "resource",
        question,
        call.input_responses.as_ref(),
        call.request_state.as_deref(),
    )? {
        Ok(answer) => answer,
        Err(asked) => return Ok(ReadResourceResponse::InputRequired(asked)),
    };
    let text = format!("asked {} from {server}", named(&answer));
    Ok(ReadResourceResult::new(vec![ResourceContents::text(text, RESOURCE)]).into())
}

/// The name in an elicitation's answer (`-` when there is none).
fn named(answer: &Value) -> &str {
    answer["content"]["name"].as_str().unwrap_or("-")
}

/// A request that asks `request` first: the answer, once the retry carries it (`responses`)
/// with the state echoed; else the question, as `input_required` with the state for `kind`.
fn answered(
    kind: &str,
    request: ServerRequest,
    responses: Option<&InputResponses>,
    echoed: Option<&str>,
) -> Result<Result<Value, InputRequiredResult>, ErrorData> {
    if let Some(answer) = responses.and_then(|r| r.get("answer")) {
        if echoed != Some(state(kind).as_str()) {
            return Err(ErrorData::invalid_params(
                format!("`requestState` must echo `{}`", state(kind)),
                None,
            ));
        }
        return Ok(Ok(answer.clone()));
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
    Ok(Err(InputRequiredResult::new(
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
