//! A warm request on a streamable-HTTP session, made by att itself: one POST, its reply
//! read in the task that waits for it.
//!
//! rmcp's client passes a request through four tasks — the caller's, the session's service
//! loop, the transport worker, one per response stream — and the reply back through three:
//! each hop is a wake-up and an allocation, about a fifth of att's CPU per routed call
//! (todo/perf.md). Once a session is initialized, its route — the URL, the session id, the
//! negotiated protocol's header and the operator's headers, noted by
//! [`super::propagate::TracedHttp`] when rmcp posts `notifications/initialized` — is all a
//! request needs, so [`Connection::exchange`] posts it itself.
//!
//! rmcp still owns the session: the handshake, the standalone GET stream, the close, and
//! everything the upstream sends that is not this request's reply. What arrives on the
//! request's response stream before the reply — progress, log messages, the upstream's own
//! requests (sampling, elicitation, roots), cancellations — is first seen here, in order, as
//! the session's [`super::relay::Tap`] would see it (so a relayed call's progress is queued
//! before its reply is returned), then handed to the session's loop through the tap's inbox,
//! a request tagged with the stream it came on as rmcp tags it. rmcp then handles it exactly
//! as if it had read it: a question is asked of the call's client and answered upstream.
//!
//! A response stream that ends before the reply is resumed with `Last-Event-ID` when the
//! server numbered its events — at most [`RESUMES`] times, after the delay the server asked
//! for (at most [`MAX_RESUME_DELAY`]) — as rmcp's reader does. Failures say whether the
//! request was sent, as [`super::classify`] says for rmcp's.
//!
//! Only sessions of the handshake era (up to 2025-11-25) have a route: a 2026-07-28 session
//! has no session id and headers that vary per request; it stays with rmcp.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rmcp::model::{
    CallToolResult, ClientNotification, JsonRpcMessage, JsonRpcVersion2_0, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_client::StreamableHttpResponseLimits;
use serde_json::value::RawValue;

use super::sse::events::EventReader;
use super::*;

/// Resumes of one response stream that ended before its reply.
pub(super) const RESUMES: u32 = 3;

/// The longest wait before a resume, whatever the server asks.
pub(super) const MAX_RESUME_DELAY: Duration = Duration::from_secs(5);

/// Messages handed to the session's loop and not yet taken: past this, reading the
/// upstream's stream waits (a flood waits in the upstream's socket, not in att's memory).
pub(super) const INBOX: usize = 64;

/// A message on its way to the session's loop, boxed: a tokio channel allocates its first
/// block of 32 slots when it is made, and 32 messages inline were 12 KiB of every idle HTTP
/// upstream's memory (todo/perf.md); a box is made only for what is sent.
pub(super) type Inboxed = Box<ServerJsonRpcMessage>;

/// The first id of att's own requests, above every id rmcp's counter (a `u32`) gives.
const FIRST_ID: i64 = 1 << 40;

/// A stream that ends this soon after its reply is read to its end, so that its
/// connection goes back to the pool; one that takes longer is closed.
const DRAIN: Duration = Duration::from_millis(50);

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// Where a session's requests go and what they carry.
#[derive(Debug)]
pub(super) struct Route {
    /// Parsed once: parsing it for every request was 2% of att's instructions per call.
    url: reqwest::Url,
    /// The same, for att's own plain-HTTP client ([`super::plain`]), when the URL is
    /// `http://`.
    plain: Option<http::Uri>,
    /// Cleared when a POST through the plain client was redirected: reqwest follows.
    plain_ok: AtomicBool,
    /// The session id, the protocol version, the operator's headers, the bearer token.
    headers: HeaderMap,
}

/// A response, from reqwest or from the plain client.
type Reply = http::Response<reqwest::Body>;

impl Route {
    /// The route of the session `session` at `uri`, with the headers rmcp gives its POSTs
    /// (`None` when the session id cannot be a header or `uri` is no URL: rmcp could not
    /// post either).
    pub(super) fn new(
        uri: &str,
        session: &str,
        auth: Option<&str>,
        custom: &HashMap<HeaderName, HeaderValue>,
    ) -> Option<Self> {
        let mut headers = HeaderMap::with_capacity(custom.len() + 2);
        for (name, value) in custom {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(token) = auth {
            headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
            );
        }
        headers.insert(SESSION_ID, HeaderValue::from_str(session).ok()?);
        let url = reqwest::Url::parse(uri).ok()?;
        let plain = (url.scheme() == "http")
            .then(|| url.as_str().parse::<http::Uri>().ok())
            .flatten();
        Some(Self {
            url,
            plain,
            plain_ok: AtomicBool::new(true),
            headers,
        })
    }

    /// Where the plain client posts, unless this route's POSTs go through reqwest.
    fn plain(&self) -> Option<&http::Uri> {
        self.plain
            .as_ref()
            .filter(|_| self.plain_ok.load(Ordering::Relaxed))
    }
}

/// Whether posting `message` means the session is ready for requests
/// (`notifications/initialized`): its route is noted then.
pub(super) fn opens_route(message: &ClientJsonRpcMessage) -> bool {
    matches!(
        message,
        JsonRpcMessage::Notification(n)
            if matches!(n.notification, ClientNotification::InitializedNotification(_))
    )
}

/// `message` as the bytes posted. A `tools/call` is written straight from its typed
/// parameters: rmcp's own encoding of a request copies the parameters into a `Value` tree
/// first (to merge `_meta` from two places), ~2% of att's instructions per routed call.
/// Anything else, or a call with `_meta` in both places, is written as rmcp writes it (the
/// same JSON, table-tested).
pub(super) fn encode(message: &ClientJsonRpcMessage) -> serde_json::Result<Vec<u8>> {
    use rmcp::model::{CallToolRequestParams, GetExtensions, MetaObject, RequestMetaObject};

    #[derive(serde::Serialize)]
    struct Call<'a> {
        jsonrpc: &'static str,
        id: &'a RequestId,
        method: &'static str,
        params: Params<'a>,
    }
    #[derive(serde::Serialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
        meta: Option<&'a RequestMetaObject>,
        #[serde(flatten)]
        params: &'a CallToolRequestParams,
    }
    if let JsonRpcMessage::Request(r) = message
        && let ClientRequest::CallToolRequest(call) = &r.request
        && call.params.meta.is_none()
        && call.extensions().get::<MetaObject>().is_none()
    {
        return serde_json::to_vec(&Call {
            jsonrpc: "2.0",
            id: &r.id,
            method: "tools/call",
            params: Params {
                meta: call.extensions().get::<RequestMetaObject>(),
                params: &call.params,
            },
        });
    }
    serde_json::to_vec(message)
}

/// What a session needs to make its own requests.
pub(super) struct Direct {
    client: reqwest::Client,
    route: Arc<OnceLock<Route>>,
    /// Into the session's [`super::relay::Tap`]: what the upstream sent that rmcp handles.
    inbox: mpsc::Sender<Inboxed>,
    /// What the tap shares (relayed calls, subscriptions).
    parts: TapParts,
    next_id: AtomicI64,
}

impl Direct {
    pub(super) fn new(
        client: reqwest::Client,
        route: Arc<OnceLock<Route>>,
        inbox: mpsc::Sender<Inboxed>,
        parts: TapParts,
    ) -> Self {
        Self {
            client,
            route,
            inbox,
            parts,
            next_id: AtomicI64::new(FIRST_ID),
        }
    }

    /// The session's route, once rmcp has initialized it.
    pub(super) fn route(&self) -> Option<&Route> {
        self.route.get()
    }

    /// A fresh request id.
    pub(super) fn next_id(&self) -> RequestId {
        RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Posts `message` (a request with id `id`) on `route` and reads its reply.
    pub(super) async fn exchange(
        &self,
        route: &Route,
        message: &ClientJsonRpcMessage,
        id: &RequestId,
    ) -> Result<ServerResult, CallFailure> {
        let limits = StreamableHttpResponseLimits::default();
        let tool_call = matches!(
            message,
            JsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::CallToolRequest(_))
        );
        let body = encode(message).map_err(|e| {
            not_sent(
                format!("cannot encode the request: {e}"),
                ErrorCategory::InvalidPayload,
            )
        })?;
        let body = Bytes::from(body);
        let response = self.post(route, message, body).await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(CallFailure::SessionExpired);
        }
        let kind = media_type(&response);
        if !status.is_success() {
            // A JSON-RPC error sent with an error status is the answer.
            if kind == Some(JSON)
                && let Ok(body) = read_body(response, limits.max_error_response_size).await
                && let Ok(message) = serde_json::from_slice::<ServerJsonRpcMessage>(&body)
                && let Some(Err(failure)) = reply_to(message, id).ok()
            {
                return Err(failure);
            }
            return Err(CallFailure::HttpStatus(status.as_u16()));
        }
        match kind {
            Some(JSON) => {
                let body = read_body(response, limits.max_json_response_size).await?;
                let text = std::str::from_utf8(&body)
                    .map_err(|e| CallFailure::Malformed(format!("the reply is not MCP: {e}")))?;
                match read(text, id, tool_call) {
                    Ok(Read::Reply(reply)) => reply,
                    Ok(Read::Other(other)) => Err(CallFailure::Malformed(format!(
                        "the reply is not the request's: {}",
                        kind_of(&other)
                    ))),
                    Err(e) => Err(CallFailure::Malformed(format!("the reply is not MCP: {e}"))),
                }
            }
            Some(EVENT_STREAM) => {
                self.read_stream(route, response, id, tool_call, &limits)
                    .await
            }
            _ if status == reqwest::StatusCode::ACCEPTED
                || status == reqwest::StatusCode::NO_CONTENT =>
            {
                Err(CallFailure::Malformed(
                    "the upstream accepted the request without replying to it".into(),
                ))
            }
            other => Err(CallFailure::Malformed(format!(
                "the reply's content type is {}",
                other.unwrap_or("missing")
            ))),
        }
    }

    /// POSTs `message` (encoded as `body`) on `route`: through att's plain client to an `http://`
    /// upstream ([`super::plain`]), else, or when that POST was redirected, through reqwest.
    async fn post(
        &self,
        route: &Route,
        message: &ClientJsonRpcMessage,
        body: Bytes,
    ) -> Result<Reply, CallFailure> {
        if let (Some(uri), Some(client)) = (route.plain(), super::plain::client()) {
            let mut request = http::Request::new(http_body_util::Full::new(body.clone()));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = post_headers(route, message);
            let response = client.request(request).await.map_err(plain_failed)?;
            if !response.status().is_redirection() {
                return Ok(response.map(reqwest::Body::wrap));
            }
            // Not served: sent again through reqwest, which follows it within the origin.
            route.plain_ok.store(false, Ordering::Relaxed);
        }
        let response = self
            .client
            .post(route.url.clone())
            .headers(post_headers(route, message))
            .body(body)
            .send()
            .await
            .map_err(send_failed)?;
        Ok(response.into())
    }

    /// Reads `response`, the request's event stream, until the reply, resuming it when it
    /// ends first and the server numbered its events.
    async fn read_stream(
        &self,
        route: &Route,
        mut response: Reply,
        id: &RequestId,
        tool_call: bool,
        limits: &StreamableHttpResponseLimits,
    ) -> Result<ServerResult, CallFailure> {
        let mut reader = EventReader::new(limits.max_sse_event_size);
        let mut events = Vec::new();
        let mut resumes = 0;
        loop {
            let ended = loop {
                match chunk(response.body_mut()).await {
                    Ok(Some(chunk)) => {
                        reader
                            .feed(&chunk, &mut events)
                            .map_err(|e| CallFailure::Malformed(e.to_string()))?;
                        for event in events.drain(..) {
                            if let Some(reply) = self.on_event(&event.data, id, tool_call).await {
                                finish(response);
                                return reply;
                            }
                        }
                    }
                    Ok(None) => break "the response stream ended before the reply".to_owned(),
                    Err(e) => break format!("the response stream broke before the reply: {e}"),
                }
            };
            let Some(last) = reader.last_id() else {
                return Err(CallFailure::ConnectionLost(ended));
            };
            if resumes == RESUMES {
                return Err(CallFailure::ConnectionLost(format!(
                    "{ended}, and {RESUMES} resumes did not bring it"
                )));
            }
            let delay = reader
                .retry_ms()
                .map_or(Duration::from_secs(1 << resumes), Duration::from_millis);
            tokio::time::sleep(delay.min(MAX_RESUME_DELAY)).await;
            resumes += 1;
            response = self.resume(route, last).await?;
            reader.next_stream();
        }
    }

    /// The request's event stream again, from after event `last`.
    async fn resume(&self, route: &Route, last: &str) -> Result<Reply, CallFailure> {
        let lost = |why: String| CallFailure::ConnectionLost(format!("resuming the reply: {why}"));
        let last = HeaderValue::from_str(last).map_err(|e| lost(e.to_string()))?;
        let response = self
            .client
            .get(route.url.clone())
            .headers(route.headers.clone())
            .header(ACCEPT, EVENT_STREAM)
            .header(LAST_EVENT_ID, last)
            .send()
            .await
            .map_err(|e| lost(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(CallFailure::SessionExpired);
        }
        let response = Reply::from(response);
        if !response.status().is_success() || media_type(&response) != Some(EVENT_STREAM) {
            return Err(lost(format!("the server answered {}", response.status())));
        }
        Ok(response)
    }

    /// One event of the request's stream: the reply, or a message handed on (`None`).
    async fn on_event(
        &self,
        data: &str,
        id: &RequestId,
        tool_call: bool,
    ) -> Option<Result<ServerResult, CallFailure>> {
        if data.trim().is_empty() {
            return None;
        }
        let message = match read(data, id, tool_call) {
            Ok(Read::Reply(reply)) => return Some(reply),
            Ok(Read::Other(other)) => other,
            Err(e) if names(data, id) => {
                return Some(Err(CallFailure::Malformed(format!(
                    "the reply is not MCP: {e}"
                ))));
            }
            Err(e) => {
                tracing::warn!(error = %e, "an upstream message that is not MCP was skipped");
                return None;
            }
        };
        let mut other = message;
        match &mut other {
            JsonRpcMessage::Notification(n) => self.parts.observe(&n.notification),
            // As rmcp's reader marks it: the request belongs to this call.
            JsonRpcMessage::Request(r) => {
                r.request
                    .extensions_mut()
                    .insert(InboundStreamOrigin::OutboundRequest(id.clone()));
            }
            _ => {}
        }
        // A session whose loop is gone takes nothing; the reply may still come.
        let _ = self.inbox.send(Box::new(other)).await;
        None
    }
}

/// One message on a request's response, to that request.
enum Read {
    /// Its reply: the result, or its error.
    Reply(Result<ServerResult, CallFailure>),
    /// Something else, for the session's loop.
    Other(ServerJsonRpcMessage),
}

/// Reads `text`, a message on the response to request `id` (a `tools/call` when
/// `tool_call`). A reply is read straight from its `result`, and a `tools/call`'s as a
/// [`CallToolResult`]: rmcp's untagged message type first copies the whole message into an
/// intermediate tree, then tries the result as each kind of result in turn — fifteen before
/// a tool's — which was a third of the CPU att spent on a routed call's reply. A result that
/// is not of its method's type, and every other message, is read as rmcp reads it.
fn read(text: &str, id: &RequestId, tool_call: bool) -> Result<Read, serde_json::Error> {
    /// What tells a reply from the rest, borrowed from the text.
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[allow(dead_code)] // checked: a message that is not JSON-RPC 2.0 is not a reply
        jsonrpc: JsonRpcVersion2_0,
        id: Option<RequestId>,
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        #[serde(borrow)]
        method: Option<&'a RawValue>,
    }
    if let Ok(Envelope {
        id: Some(got),
        result: Some(result),
        method: None,
        ..
    }) = serde_json::from_str::<Envelope>(text)
        && &got == id
    {
        if tool_call && let Ok(r) = serde_json::from_str::<CallToolResult>(result.get()) {
            return Ok(Read::Reply(Ok(ServerResult::CallToolResult(r))));
        }
        if let Ok(r) = serde_json::from_str::<ServerResult>(result.get()) {
            return Ok(Read::Reply(Ok(r)));
        }
    }
    let message = serde_json::from_str::<ServerJsonRpcMessage>(text)?;
    Ok(match reply_to(message, id) {
        Ok(reply) => Read::Reply(reply),
        Err(other) => Read::Other(other),
    })
}

/// `message` as the reply to request `id`, or back as it came when it is something else.
/// An error without an id on the request's own stream is about the request.
#[allow(clippy::result_large_err)] // a message handed on, not an error
fn reply_to(
    message: ServerJsonRpcMessage,
    id: &RequestId,
) -> Result<Result<ServerResult, CallFailure>, ServerJsonRpcMessage> {
    match message {
        JsonRpcMessage::Response(r) if &r.id == id => Ok(Ok(r.result)),
        JsonRpcMessage::Error(e) if e.id.as_ref().is_none_or(|e| e == id) => {
            Ok(Err(CallFailure::Rpc {
                code: i64::from(e.error.code.0),
                message: e.error.message.into_owned(),
            }))
        }
        other => Err(other),
    }
}

/// Whether `data`, which is not an MCP message, carries request `id` (then it was meant as
/// the reply, and the reply is malformed).
fn names(data: &str, id: &RequestId) -> bool {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<RequestId>,
    }
    serde_json::from_str::<Id>(data).is_ok_and(|m| m.id.as_ref() == Some(id))
}

/// What kind of message `message` is, for an error.
fn kind_of(message: &ServerJsonRpcMessage) -> &'static str {
    match message {
        JsonRpcMessage::Request(_) => "a request",
        JsonRpcMessage::Response(_) => "the reply to another request",
        JsonRpcMessage::Notification(_) => "a notification",
        JsonRpcMessage::Error(_) => "the error of another request",
    }
}

/// The headers of `message`'s POST on `route`: the session's, the transport's, and the
/// trace context `message` carries. Built once per send (a redirected POST is sent twice).
fn post_headers(route: &Route, message: &ClientJsonRpcMessage) -> HeaderMap {
    let mut headers = route.headers.clone();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    for (name, value) in super::propagate::headers_of(message) {
        headers.insert(name, value);
    }
    headers
}

/// The media type of `response`'s body, when it is one this module reads.
fn media_type(response: &Reply) -> Option<&'static str> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    [JSON, EVENT_STREAM]
        .into_iter()
        .find(|t| essence.eq_ignore_ascii_case(t))
}

/// The next piece of `body`'s data (trailers are skipped); `None` at its end.
async fn chunk(body: &mut reqwest::Body) -> Result<Option<Bytes>, reqwest::Error> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// `response`'s body, refused past `limit` bytes.
async fn read_body(mut response: Reply, limit: usize) -> Result<Vec<u8>, CallFailure> {
    let too_large = || CallFailure::Malformed(format!("the reply is over {limit} bytes"));
    let declared = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = chunk(response.body_mut())
        .await
        .map_err(|e| CallFailure::ConnectionLost(format!("reading the reply: {e}")))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads what is left of a stream whose reply came, so its connection can be kept: at once
/// when its end is already here (usual: the server ends it with the reply), else in a task
/// for at most [`DRAIN`].
fn finish(mut response: Reply) {
    match chunk(response.body_mut()).now_or_never() {
        Some(Ok(None) | Err(_)) => {}
        _ => {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(DRAIN, async {
                    while let Ok(Some(_)) = chunk(response.body_mut()).await {}
                })
                .await;
            });
        }
    }
}

/// A POST through reqwest that failed: whether it was sent, as [`super::classify`] says for
/// rmcp's.
fn send_failed(e: reqwest::Error) -> CallFailure {
    if let Some(why) = super::super::tls::diagnose(&e) {
        return not_sent(why, ErrorCategory::Tls);
    }
    if e.is_connect() {
        not_sent(
            format!("cannot connect: {e}"),
            ErrorCategory::TransportError,
        )
    } else if e.is_timeout() {
        CallFailure::Timeout { after_ms: 0 }
    } else {
        CallFailure::ConnectionLost(e.to_string())
    }
}

/// A POST through the plain client that failed: not sent when no connection was made.
fn plain_failed(e: hyper_util::client::legacy::Error) -> CallFailure {
    // The error's own text is "client error (Connect)"; its cause says what happened.
    let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), |c| c.to_string());
    if e.is_connect() {
        not_sent(
            format!("cannot connect: {why}"),
            ErrorCategory::TransportError,
        )
    } else {
        CallFailure::ConnectionLost(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> ServerJsonRpcMessage {
        serde_json::from_str(text).expect("a message")
    }

    #[test]
    fn only_a_plain_http_route_goes_through_att_s_own_client_until_redirected() {
        let none = HashMap::new();
        let route = |url: &str| Route::new(url, "s1", None, &none).expect("a route");
        let plain = route("http://127.0.0.1:9/mcp?x=1");
        assert_eq!(
            plain.plain().map(ToString::to_string).as_deref(),
            Some("http://127.0.0.1:9/mcp?x=1")
        );
        assert!(route("https://127.0.0.1:9/mcp").plain().is_none());
        plain.plain_ok.store(false, Ordering::Relaxed);
        assert!(
            plain.plain().is_none(),
            "a redirected route stays with reqwest"
        );
    }

    #[test]
    fn a_request_is_posted_as_the_json_rmcp_writes() {
        use rmcp::model::{
            CallToolRequest, CallToolRequestParams, GetExtensions, GetMeta, MetaObject, PingRequest,
        };
        use serde_json::json;
        let args = |v: serde_json::Value| v.as_object().cloned().expect("an object");
        let call = |params: CallToolRequestParams| {
            ClientRequest::CallToolRequest(CallToolRequest::new(params))
        };
        let plain = call(CallToolRequestParams::new("echo"));
        let with_args =
            call(CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "x\"y"}))));
        let mut progress = with_args.clone();
        progress
            .get_meta_mut()
            .set_progress_token(rmcp::model::ProgressToken(RequestId::Number(3)));
        let mut both = progress.clone();
        if let ClientRequest::CallToolRequest(c) = &mut both {
            c.params.meta = Some(Default::default());
        }
        let mut legacy = with_args.clone();
        legacy
            .extensions_mut()
            .insert(MetaObject(args(json!({"trace": "t"}))));
        let resumed = call(
            CallToolRequestParams::new("ask")
                .with_arguments(args(json!({"n": 1})))
                .with_request_state("s".to_owned()),
        );
        let ping = ClientRequest::PingRequest(PingRequest::default());
        for (n, request) in [plain, with_args, progress, both, legacy, resumed, ping]
            .into_iter()
            .enumerate()
        {
            let message = ClientJsonRpcMessage::request(request, RequestId::Number(FIRST_ID));
            let ours: serde_json::Value =
                serde_json::from_slice(&encode(&message).expect("encoded")).expect("json");
            let rmcp = serde_json::to_value(&message).expect("rmcp's");
            assert_eq!(ours, rmcp, "request {n}");
        }
    }

    #[test]
    fn the_reply_is_told_from_what_else_the_stream_carries() {
        let id = RequestId::Number(FIRST_ID);
        let reply = r#"{"jsonrpc":"2.0","id":1099511627776,"result":{"content":[]}}"#;
        let other = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#;
        let error =
            r#"{"jsonrpc":"2.0","id":1099511627776,"error":{"code":-32602,"message":"no"}}"#;
        let anonymous = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse"}}"#;
        let foreign = r#"{"jsonrpc":"2.0","id":8,"error":{"code":-32602,"message":"no"}}"#;
        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1099511627776,"progress":1}}"#;
        let ask = r#"{"jsonrpc":"2.0","id":"s1","method":"roots/list"}"#;
        // A message and what it is to request `id`: the reply (`Some(Ok)`), its error
        // (`Some(Err(code))`), or something to hand on (`None`).
        let table: [(&str, Option<Result<(), i64>>); 7] = [
            (reply, Some(Ok(()))),
            (other, None),
            (error, Some(Err(-32602))),
            (anonymous, Some(Err(-32700))),
            (foreign, None),
            (progress, None),
            (ask, None),
        ];
        for (text, want) in table {
            let got = match reply_to(message(text), &id) {
                Ok(Ok(ServerResult::CallToolResult(_))) => Some(Ok(())),
                Ok(Ok(other)) => panic!("{text}: {other:?}"),
                Ok(Err(CallFailure::Rpc { code, .. })) => Some(Err(code)),
                Ok(Err(other)) => panic!("{text}: {other:?}"),
                Err(_) => None,
            };
            assert_eq!(got, want, "{text}");
        }
    }

    /// What `read` made of a reply: the result's kind and JSON, or the error's code.
    fn outcome(read: Result<Read, serde_json::Error>) -> String {
        match read {
            Ok(Read::Reply(Ok(r))) => {
                let json = serde_json::to_string(&r).expect("prints");
                let kind = format!("{r:?}");
                format!("{} {json}", kind.split('(').next().unwrap_or(""))
            }
            Ok(Read::Reply(Err(e))) => format!("error {e:?}"),
            Ok(Read::Other(m)) => format!("other {}", kind_of(&m)),
            Err(_) => "not MCP".into(),
        }
    }

    /// rmcp's reading of the same text.
    fn rmcp_reads(text: &str, id: &RequestId) -> Result<Read, serde_json::Error> {
        let message = serde_json::from_str::<ServerJsonRpcMessage>(text)?;
        Ok(match reply_to(message, id) {
            Ok(reply) => Read::Reply(reply),
            Err(other) => Read::Other(other),
        })
    }

    #[test]
    fn a_reply_is_read_as_rmcp_reads_it_only_faster() {
        let id = RequestId::Number(9);
        let results = [
            r#"{"content":[{"type":"text","text":"x"}],"structuredContent":{"a":1},"isError":false}"#,
            r#"{"content":[{"type":"image","data":"aGk=","mimeType":"image/png"},{"type":"resource_link","uri":"f://x","name":"x"}]}"#,
            r#"{"structuredContent":null}"#,
            r#"{"isError":true,"content":[]}"#,
            r#"{"_meta":{"k":1},"content":[]}"#,
            r#"{}"#,
            r#"{"contents":[{"uri":"f://x","text":"t"}]}"#,
            r#"{"messages":[]}"#,
            r#"{"content":"not a list"}"#,
            r#"{"content":[],"resultType":"input_required","inputRequests":{}}"#,
            r#"7"#,
            r#"null"#,
        ];
        for result in results {
            for tool_call in [true, false] {
                let text = format!(r#"{{"jsonrpc":"2.0","id":9,"result":{result}}}"#);
                assert_eq!(
                    outcome(read(&text, &id, tool_call)),
                    outcome(rmcp_reads(&text, &id)),
                    "{text} (tools/call: {tool_call})"
                );
            }
        }
        // Not replies: read as rmcp reads them.
        for text in [
            r#"{"jsonrpc":"2.0","id":8,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":9,"progress":1}}"#,
            r#"{"jsonrpc":"2.0","id":9,"method":"roots/list"}"#,
            r#"{"jsonrpc":"1.0","id":9,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":9,"id":9,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":"9","result":{"content":[]}}"#,
        ] {
            assert_eq!(
                outcome(read(text, &id, true)),
                outcome(rmcp_reads(text, &id)),
                "{text}"
            );
        }
        // The one difference, on purpose: the method says what its result is. rmcp's guess
        // takes a tool's result that also has a resource's `contents` for a resource.
        let both = r#"{"jsonrpc":"2.0","id":9,"result":{"content":[],"contents":[]}}"#;
        assert!(outcome(read(both, &id, true)).starts_with("CallToolResult"));
        assert!(outcome(rmcp_reads(both, &id)).starts_with("ReadResourceResult"));
    }

    #[test]
    fn text_that_is_not_mcp_is_the_reply_only_when_it_names_the_request() {
        let id = RequestId::Number(5);
        let table = [
            (r#"{"jsonrpc":"2.0","id":5,"result":7}"#, true),
            (r#"{"id":5}"#, true),
            (r#"{"id":"5"}"#, false),
            (r#"{"id":6,"result":7}"#, false),
            (r#"{"result":7}"#, false),
            ("not json", false),
        ];
        for (text, want) in table {
            assert_eq!(names(text, &id), want, "{text}");
        }
    }

    #[test]
    fn only_the_initialized_notification_opens_the_route() {
        let initialized: ClientJsonRpcMessage =
            serde_json::from_str(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .expect("a message");
        let ping: ClientJsonRpcMessage =
            serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).expect("a message");
        assert!(opens_route(&initialized));
        assert!(!opens_route(&ping));
    }

    #[test]
    fn a_route_carries_the_session_the_token_and_the_operator_s_headers() {
        let custom = HashMap::from([(
            HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::from_static("2025-11-25"),
        )]);
        let route =
            Route::new("http://127.0.0.1:1/mcp", "s-1", Some("t"), &custom).expect("a valid route");
        let header = |name: &str| route.headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("mcp-session-id"), Some("s-1"));
        assert_eq!(header("authorization"), Some("Bearer t"));
        assert_eq!(header("mcp-protocol-version"), Some("2025-11-25"));
        assert!(Route::new("http://127.0.0.1:1/mcp", "bad\nid", None, &custom).is_none());
        assert!(Route::new("not a url", "s-1", None, &custom).is_none());
    }
}
