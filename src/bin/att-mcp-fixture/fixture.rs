//! The fixture MCP server's behaviour, shared by the binary and (via `#[path]`) the tests
//! that run it in-process over HTTP.
//!
//! Tools:
//! - `echo {text}`: `{server, text}` as text and structured content; missing `text` is
//!   invalid params (-32602);
//! - `fail_rpc`: a JSON-RPC internal error (-32603);
//! - `fail_tool`: a tool result with `isError: true`;
//! - `slow {ms}`: answers after `ms` milliseconds (a progress notification and a log
//!   message first);
//! - `hang`: never answers (until cancelled);
//! - `hold`: answers when the server's holds are released ([`FixtureState::release`]) or the
//!   call is cancelled;
//! - `crash`: the process exits with status 3 (stdio) / the server stops answering (HTTP);
//! - `flip`: adds or removes the tool `extra` and notifies `tools/list_changed`;
//! - `stats`: how many handshakes and tool calls this server has seen, and the most tool calls
//!   it has had in flight at once;
//! - `read_only {text}`: like echo, annotated `readOnlyHint`;
//! - `ask {kind}`: during the call, asks the client for `sampling`, `elicitation` or `roots`
//!   and answers with the client's reply as structured content `{answer}` (a client error
//!   becomes a tool error carrying its message);
//! - `touch {uri}`: sends `notifications/resources/updated` to the sessions subscribed to it;
//! - `all_content`: one block of each content type, with `_meta` and structured content.
//!
//! Resources can be subscribed to (`stats` counts the subscriptions held).
//!
//! With [`FixtureState::newer_only`] (`--only-2026-07-28`) the server speaks only protocol
//! 2026-07-28: `initialize` is refused with `-32022` (unsupported protocol version, listing
//! 2026-07-28), and a client comes in with `server/discover` and per-request metadata
//! (`stats` counts the discoveries as handshakes); list changes reach such a client on its
//! `subscriptions/listen` streams, and log messages, `ask` and `touch` work the way that
//! version has them ([`newer`]), which adds a prompt `ask` and a resource `fixture://asked`
//! that answer `input_required` first.
//!
//! Also a resource `fixture://greeting`, a template `fixture://items/{id}`, a prompt `greet`
//! (its `name` argument completes from alice, albert, bob).
//! `tools/list` pages four tools at a time.

#![allow(dead_code)]

// By path: this file is also included by path (tests, benches), where a plain `mod` would
// look for `fixture/newer.rs`.
#[path = "newer.rs"]
mod newer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, DiscoverResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    InitializeRequestParams, InitializeResult, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, Prompt, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::json;

/// What happens on `crash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Exit the process with status 3.
    ExitProcess,
    /// Set the `crashed` flag; the HTTP host stops serving when it sees it.
    Flag,
}

/// Counters and switches shared by every session of one fixture server.
#[derive(Debug, Default)]
pub struct FixtureState {
    pub handshakes: AtomicU64,
    pub calls: AtomicU64,
    pub flipped: AtomicBool,
    pub crashed: AtomicBool,
    /// Calls the client cancelled (`hang` counts them).
    pub cancelled: AtomicU64,
    /// When set, every tool call fails with a JSON-RPC internal error after being received.
    pub sick: AtomicBool,
    /// When set, the server speaks only 2026-07-28 (see the module header).
    pub newer_only: AtomicBool,
    /// When set, `echo`'s input schema has an extra property `loud` (`--alt-schema`): the
    /// same tool name with a different schema than other fixtures.
    pub alt_schema: AtomicBool,
    pub peers: Mutex<Vec<Peer<RoleServer>>>,
    /// The `subscriptions/listen` streams open (2026-07-28 clients).
    pub listeners: Mutex<Vec<rmcp::service::SubscriptionSink>>,
    /// Listen streams accepted (so acknowledged: rmcp acknowledges before it calls
    /// `listen`) but not yet in `listeners`; `touch` waits for them, bounded, so that an
    /// update right after the client heard the acknowledgment reaches its stream.
    pub listens_opening: AtomicU64,
    /// Told when a listen stream joins `listeners`.
    pub listen_opened: tokio::sync::Notify,
    /// Resource subscriptions: (URI, the session's peer).
    pub subscribers: Mutex<Vec<(String, Peer<RoleServer>)>>,
    pub crash_notify: tokio::sync::Notify,
    /// Tool calls in flight now, and the most at once so far.
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    /// Bumped by [`FixtureState::release`]: `hold` calls answer.
    pub releases: tokio::sync::watch::Sender<u64>,
    /// The trace context of the latest tool calls (at most [`TRACES_KEPT`]), as received.
    pub traces: Mutex<Vec<TraceSeen>>,
}

/// How many tool calls' trace contexts the fixture keeps.
pub const TRACES_KEPT: usize = 64;

/// The trace context a tool call arrived with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSeen {
    /// The tool.
    pub tool: String,
    /// `params._meta.traceparent`.
    pub meta: Option<String>,
    /// The `traceparent` header of the HTTP request that carried it (HTTP transports).
    pub header: Option<String>,
}

impl FixtureState {
    /// Answers every `hold` call in flight.
    pub fn release(&self) {
        self.releases.send_modify(|n| *n += 1);
    }
}

/// Counts a tool call in flight while it lives.
struct InFlight<'a>(&'a FixtureState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a FixtureState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One fixture server; cloned per session.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: String,
    pub state: Arc<FixtureState>,
    pub crash: CrashMode,
}

fn obj(v: serde_json::Value) -> JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

fn tool(name: &'static str, description: &'static str, schema: serde_json::Value) -> Tool {
    Tool::new(name, description, obj(schema))
}

fn text_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
}

impl Fixture {
    pub fn new(name: impl Into<String>, crash: CrashMode) -> Self {
        Self {
            name: name.into(),
            state: Arc::default(),
            crash,
        }
    }

    fn tools(&self) -> Vec<Tool> {
        let empty = json!({"type": "object", "properties": {}});
        let mut tools = vec![
            tool(
                "echo",
                "Echo `text` back with the server's name",
                if self.state.alt_schema.load(Ordering::SeqCst) {
                    json!({"type": "object", "properties": {"text": {"type": "string"}, "loud": {"type": "boolean"}}, "required": ["text"]})
                } else {
                    text_schema()
                },
            ),
            tool(
                "fail_rpc",
                "Answer with a JSON-RPC internal error",
                empty.clone(),
            ),
            tool(
                "fail_tool",
                "Answer with a tool error (isError: true)",
                empty.clone(),
            ),
            tool(
                "slow",
                "Answer after `ms` milliseconds",
                json!({"type": "object", "properties": {"ms": {"type": "integer"}}}),
            ),
            tool("hang", "Never answer", empty.clone()),
            tool(
                "hold",
                "Answer when the server's holds are released",
                empty.clone(),
            ),
            tool("crash", "Crash the server", empty.clone()),
            tool(
                "flip",
                "Add or remove the tool `extra` and notify",
                empty.clone(),
            ),
            tool("stats", "Handshakes and calls seen", empty.clone()),
            tool("read_only", "Echo, annotated read-only", text_schema())
                .with_annotations(ToolAnnotations::new().read_only(true)),
            tool(
                "ask",
                "Ask the client for sampling, elicitation or roots during the call",
                json!({"type": "object", "properties": {"kind": {"type": "string", "enum": ["sampling", "elicitation", "roots"]}}, "required": ["kind"]}),
            ),
            tool(
                "touch",
                "Notify the subscribers of `uri` that it was updated",
                json!({"type": "object", "properties": {"uri": {"type": "string"}}, "required": ["uri"]}),
            ),
            tool(
                "all_content",
                "One block of each content type",
                empty.clone(),
            ),
        ];
        if self.state.flipped.load(Ordering::SeqCst) {
            tools.push(tool("extra", "Present only after a flip", empty));
        }
        tools
    }

    fn echo(&self, args: Option<&JsonObject>) -> Result<CallToolResponse, ErrorData> {
        let text = args
            .and_then(|a| a.get("text"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| ErrorData::invalid_params("`text` (a string) is required", None))?;
        let body = json!({"server": self.name, "text": text});
        let mut result = CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
        result.structured_content = Some(body);
        Ok(result.into())
    }

    /// The request `ask {kind}` makes of the client.
    #[allow(deprecated)] // sampling and roots: deprecated by SEP-2577, still in 2025-11-25
    fn question(&self, kind: &str) -> Result<rmcp::model::ServerRequest, ErrorData> {
        use rmcp::model::ServerRequest;
        Ok(match kind {
            "sampling" => ServerRequest::CreateMessageRequest(rmcp::model::CreateMessageRequest::new(
                serde_json::from_value(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": format!("a question from {}", self.name)}}],
                    "maxTokens": 50,
                }))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            )),
            "elicitation" => ServerRequest::ElicitRequest(rmcp::model::ElicitRequest::new(
                serde_json::from_value(json!({
                    "mode": "form",
                    "message": format!("{} needs a name", self.name),
                    "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                }))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            )),
            "roots" => ServerRequest::ListRootsRequest(rmcp::model::ListRootsRequest::default()),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("`kind` must be sampling, elicitation or roots, not `{other}`"),
                    None,
                ));
            }
        })
    }

    /// Asks the client of this call (the request rides the call's response stream).
    #[allow(deprecated)] // sampling and roots: deprecated by SEP-2577, still in 2025-11-25
    async fn ask(
        &self,
        call: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let kind = call
            .arguments
            .as_ref()
            .and_then(|a| a.get("kind"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        use rmcp::model::ClientResult;
        let request = self.question(kind)?;
        if self.state.newer_only.load(Ordering::SeqCst) {
            return newer::ask(&self.name, kind, request, call);
        }
        // Sent from this handler's task, so rmcp rides it on the call's response stream.
        let answer = ctx.peer.send_request(request).await.map(|r| {
            match r {
                ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
                ClientResult::ElicitResult(r) => serde_json::to_value(r),
                ClientResult::ListRootsResult(r) => serde_json::to_value(r),
                other => serde_json::to_value(format!("{other:?}")),
            }
            .unwrap_or_default()
        });
        Ok(match answer {
            Ok(answer) => {
                let body = json!({"server": self.name, "answer": answer});
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
                result.structured_content = Some(body);
                result
            }
            Err(e) => {
                CallToolResult::error(vec![ContentBlock::text(format!("the client failed: {e}"))])
            }
        }
        .into())
    }

    /// Sends `notifications/resources/updated` for `uri` to its subscribers; says how many.
    async fn touch(&self, args: Option<&JsonObject>) -> Result<CallToolResponse, ErrorData> {
        let uri = args
            .and_then(|a| a.get("uri"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| ErrorData::invalid_params("`uri` (a string) is required", None))?;
        let peers: Vec<Peer<RoleServer>> = self
            .state
            .subscribers
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(u, _)| u == uri)
                    .map(|(_, p)| p.clone())
                    .collect()
            })
            .unwrap_or_default();
        for peer in &peers {
            let _ = peer
                .notify_resource_updated(rmcp::model::ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
        // A listen stream acknowledged a moment ago may not be in `listeners` yet.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                let opened = self.state.listen_opened.notified();
                if self.state.listens_opening.load(Ordering::SeqCst) == 0 {
                    return;
                }
                opened.await;
            }
        })
        .await;
        let sinks = self
            .state
            .listeners
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        let listening = newer::touch_listeners(&sinks, uri).await;
        let body = json!({"server": self.name, "notified": peers.len() + listening});
        let mut result = CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
        result.structured_content = Some(body);
        Ok(result.into())
    }

    /// Every content type, with `_meta` on the result and on a block.
    fn all_content(&self) -> Result<CallToolResponse, ErrorData> {
        let result: CallToolResult = serde_json::from_value(json!({
            "content": [
                {"type": "text", "text": "plain", "_meta": {"fixture/block": 1}},
                {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
                {"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav"},
                {"type": "resource_link", "uri": "fixture://greeting", "name": "greeting", "mimeType": "text/plain"},
                {"type": "resource", "resource": {"uri": "fixture://items/1", "mimeType": "text/plain", "text": "item 1"}},
                {"type": "resource", "resource": {"uri": "fixture://blob", "mimeType": "application/octet-stream", "blob": "AAEC"}},
            ],
            "structuredContent": {"server": self.name, "kinds": 6},
            "_meta": {"fixture/result": {"nested": [1, 2, 3]}},
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(result.into())
    }

    async fn notify_all_tools_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = self
            .state
            .peers
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        for peer in peers {
            let _ = peer.notify_tool_list_changed().await;
        }
        let sinks = self
            .state
            .listeners
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        for sink in sinks {
            let changed = rmcp::model::NotificationNoParam {
                method: Default::default(),
                extensions: Default::default(),
            };
            let _ = sink
                .send(rmcp::model::ServerNotification::ToolListChangedNotification(changed))
                .await;
        }
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new(self.name.clone(), "0.0.1"))
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        const NEWER_ONLY: &[ProtocolVersion] = &[ProtocolVersion::V_2026_07_28];
        if self.state.newer_only.load(Ordering::SeqCst) {
            std::borrow::Cow::Borrowed(NEWER_ONLY)
        } else {
            std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        self.state.listens_opening.fetch_add(1, Ordering::SeqCst);
        Some(requested.clone())
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        if let Ok(mut l) = self.state.listeners.lock() {
            l.push(context.sink().clone());
        }
        let _ = self
            .state
            .listens_opening
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.state.listen_opened.notify_waiters();
        context.cancelled().await;
        Ok(())
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.state.handshakes.fetch_add(1, Ordering::SeqCst);
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        if self.state.newer_only.load(Ordering::SeqCst) {
            return Err(ErrorData::unsupported_protocol_version(
                request.protocol_version,
                &self.supported_protocol_versions(),
            ));
        }
        self.state.handshakes.fetch_add(1, Ordering::SeqCst);
        if context.peer.peer_info().is_none() {
            context.peer.set_peer_info(request);
        }
        Ok(self.get_info())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Ok(mut peers) = self.state.peers.lock() {
            peers.push(context.peer);
        }
    }

    /// Four tools per page, so that clients must follow `nextCursor`.
    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        const PAGE: usize = 4;
        let tools = self.tools();
        let start = match request.and_then(|r| r.cursor) {
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| ErrorData::invalid_params(format!("bad cursor `{c}`"), None))?,
            None => 0,
        };
        let end = (start + PAGE).min(tools.len());
        let mut page = ListToolsResult::with_all_items(tools[start.min(end)..end].to_vec());
        if end < tools.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        {
            let seen = TraceSeen {
                tool: request.name.to_string(),
                meta: ctx.meta.get_traceparent().map(str::to_owned),
                header: ctx
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|p| p.headers.get("traceparent"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let mut traces = self.state.traces.lock().unwrap_or_else(|p| p.into_inner());
            if traces.len() == TRACES_KEPT {
                traces.remove(0);
            }
            traces.push(seen);
        }
        // Before the call counts as in flight: a release seen after that reaches a `hold`.
        let mut releases = self.state.releases.subscribe();
        let _in_flight = InFlight::enter(&self.state);
        if self.state.sick.load(Ordering::SeqCst) {
            return Err(ErrorData::internal_error(
                format!("{} is sick", self.name),
                None,
            ));
        }
        let args = request.arguments.as_ref();
        match request.name.as_ref() {
            "echo" | "read_only" => self.echo(args),
            "fail_rpc" => Err(ErrorData::internal_error(
                "fixture failure on purpose",
                None,
            )),
            "fail_tool" => Ok(CallToolResult::error(vec![ContentBlock::text(
                "tool failed on purpose",
            )])
            .into()),
            "slow" => {
                let ms = args
                    .and_then(|a| a.get("ms"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(100);
                if let Some(token) = ctx.meta.get_progress_token() {
                    let _ = ctx
                        .peer
                        .notify_progress(ProgressNotificationParam::new(token, 0.5))
                        .await;
                }
                // A 2026-07-28 server logs only what the request's `_meta` asks for.
                #[allow(deprecated)]
                let level = rmcp::model::LoggingLevel::Info;
                if !self.state.newer_only.load(Ordering::SeqCst)
                    || newer::wants_log(&ctx.meta, level)
                {
                    #[allow(deprecated)]
                    let message = rmcp::model::LoggingMessageNotificationParam::new(
                        level,
                        json!(format!("{} is sleeping {ms} ms", self.name)),
                    );
                    #[allow(deprecated)]
                    let _ = ctx.peer.notify_logging_message(message).await;
                }
                tokio::select! {
                    () = ctx.ct.cancelled() => Err(ErrorData::internal_error("cancelled", None)),
                    () = tokio::time::sleep(Duration::from_millis(ms)) => self.echo(Some(&obj(json!({"text": format!("slept {ms} ms")})))),
                }
            }
            "hold" => {
                tokio::select! {
                    () = ctx.ct.cancelled() => Err(ErrorData::internal_error("cancelled", None)),
                    _ = releases.changed() => self.echo(Some(&obj(json!({"text": "released"})))),
                }
            }
            "hang" => {
                ctx.ct.cancelled().await;
                self.state.cancelled.fetch_add(1, Ordering::SeqCst);
                Err(ErrorData::internal_error("cancelled", None))
            }
            "crash" => match self.crash {
                CrashMode::ExitProcess => {
                    eprintln!("fixture {}: crashing on request", self.name);
                    std::process::exit(3)
                }
                CrashMode::Flag => {
                    self.state.crashed.store(true, Ordering::SeqCst);
                    self.state.crash_notify.notify_waiters();
                    ctx.ct.cancelled().await;
                    Err(ErrorData::internal_error("crashed", None))
                }
            },
            "flip" => {
                let now = !self.state.flipped.fetch_xor(true, Ordering::SeqCst);
                self.notify_all_tools_changed().await;
                let body = json!({"extra_present": now});
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
                result.structured_content = Some(body);
                Ok(result.into())
            }
            "stats" => {
                let body = json!({
                    "server": self.name,
                    "pid": std::process::id(),
                    "handshakes": self.state.handshakes.load(Ordering::SeqCst),
                    "calls": self.state.calls.load(Ordering::SeqCst),
                    "max_in_flight": self.state.max_in_flight.load(Ordering::SeqCst),
                    "subscriptions": self.state.subscribers.lock().map(|s| s.len()).unwrap_or_default(),
                });
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(body.to_string())]);
                result.structured_content = Some(body);
                Ok(result.into())
            }
            "ask" => self.ask(&request, &ctx).await,
            "touch" => self.touch(args).await,
            "all_content" => self.all_content(),
            "extra" if self.state.flipped.load(Ordering::SeqCst) => {
                self.echo(Some(&obj(json!({"text": "extra"}))))
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
        }
    }

    #[allow(deprecated)] // legacy-only in 2026-07-28; 2025-11-25 clients use it
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut s) = self.state.subscribers.lock() {
            s.push((request.uri, ctx.peer));
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut s) = self.state.subscribers.lock()
            && let Some(i) = s.iter().position(|(u, _)| *u == request.uri)
        {
            s.remove(i);
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut items = vec![Resource::new("fixture://greeting", "greeting")];
        if self.state.newer_only.load(Ordering::SeqCst) {
            items.push(newer::resource());
        }
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let items = ResourceTemplate::new("fixture://items/{id}", "item");
        Ok(ListResourceTemplatesResult::with_all_items(vec![items]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri == newer::RESOURCE && self.state.newer_only.load(Ordering::SeqCst) {
            return newer::ask_resource(&self.name, self.question("elicitation")?, &request);
        }
        let uri = request.uri;
        let text = if uri == "fixture://greeting" {
            format!("hello from {}", self.name)
        } else if let Some(id) = uri.strip_prefix("fixture://items/") {
            format!("item {id} from {}", self.name)
        } else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {uri}"),
                None,
            ));
        };
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri)]).into())
    }

    /// Completes `greet`'s `name` from a fixed list, tagged with the server's name.
    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, ErrorData> {
        let values: Vec<String> = ["alice", "albert", "bob"]
            .iter()
            .filter(|v| v.starts_with(request.argument.value.as_str()))
            .map(|v| format!("{v}@{}", self.name))
            .collect();
        let info = rmcp::model::CompletionInfo::new(values)
            .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(rmcp::model::CompleteResult::new(info))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let who = rmcp::model::PromptArgument::new("name").with_description("whom to greet");
        let mut items = vec![Prompt::new("greet", Some("Greet someone"), Some(vec![who]))];
        if self.state.newer_only.load(Ordering::SeqCst) {
            items.push(newer::prompt());
        }
        Ok(ListPromptsResult::with_all_items(items))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name == newer::PROMPT && self.state.newer_only.load(Ordering::SeqCst) {
            return newer::ask_prompt(&self.name, self.question("elicitation")?, &request);
        }
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        }
        let who = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("world")
            .to_owned();
        let message =
            PromptMessage::new_text(Role::User, format!("Hello, {who}, from {}", self.name));
        Ok(GetPromptResult::new(vec![message]).into())
    }
}
