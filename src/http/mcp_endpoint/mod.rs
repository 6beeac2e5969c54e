//! att's own MCP endpoint, `/mcp`: the federated catalog of every upstream, served over
//! rmcp's streamable HTTP server, with every call routed through the same plan and invoker
//! as `/api/v1/mcp` (failover included).
//!
//! Listing answers from the cached federated catalog ([`FederationCache`]): no upstream round
//! trip. A broken upstream's entries are simply absent until it comes back. Clients hear of
//! changes ([`super::mcp_changes`]) the way their protocol version says: a 2025-11-25 session
//! gets `notifications/*/list_changed` on its standing stream; a 2026-07-28 client (which
//! discovers att with `server/discover` instead of `initialize`) opens `subscriptions/listen`.
//!
//! Results relayed from an upstream get `resultType` if they lack it (a 2026-07-28 client
//! requires it; rmcp strips it again for older ones).
//!
//! Each call that does work (`tools/call`, `resources/read`, `prompts/get`,
//! `completion/complete`, `resources/subscribe`) is admitted under its principal's limits
//! ([`crate::limits`]) first; one past a limit is the JSON-RPC error [`RATE_LIMITED`] whose
//! `data` names the limit and carries `retry_after_ms` — for `tools/call` too: the tool never
//! ran, so it is not a tool's result for the model to read but the client's to retry.
//!
//! An upstream's `input_required` is asked of a 2025-11-25 client by att (it has a
//! back-channel) and passed on to a 2026-07-28 client to fulfil and retry (`input`).
//!
//! Per session, att keeps the client's log level (`logging/setLevel`: relayed log messages
//! below it are not sent) and its resource subscriptions (held upstream through
//! `att_gateway::upstream::subscriptions`, released when the session ends). On a cluster both
//! are written to the shared record of the session as well, and every att holding a copy of
//! the session follows them ([`super::mcp_shared`]).
//!
//! The same server with a profile as its `view` is `/mcp/{profile}` ([`super::mcp_profiles`]).
//! Who may do what, what a view shows, and the audit entry of each call are in `guard`; how
//! outcomes become MCP results and errors is in `results`.

pub mod direct;
mod fanout;
mod guard;
mod input;
mod results;
mod session;

use guard::{principal, session_id};
use results::{Complete, outcome, tool_result, ws_error};
use std::sync::Arc;
use tracing::Instrument;

use att_gateway::federation::{Federated, FederationCache};
use att_gateway::invoke::{Outcome, Request};
use att_gateway::upstream::connection::Relay;
#[allow(deprecated)] // logging: deprecated by SEP-2577, used by 2025-11-25 clients
use rmcp::model::SetLevelRequestParams;
use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ErrorCode, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Reference, ServerCapabilities, ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, SubscriptionContext, SubscriptionSendError,
};
use rmcp::transport::streamable_http_server::session::SessionRestoreMarker;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::Value;

use super::mcp_changes::{Change, ChangeFeed};
use super::mcp_shared::{SessionCopy, SharedSessions};
use crate::auth::Role;
use crate::auth::profile::Profile;
use crate::gateway::Gateway;
use crate::tools::{Caller, ToolError, Tools};
pub use direct::DirectSessions;
use fanout::ChangeFanout;
use session::{ClientSession, held_upstream, release, unshared};

/// The JSON-RPC error code of a call refused by a per-principal limit (an
/// implementation-defined server error, -32000 to -32099; 429 in its last digits).
pub const RATE_LIMITED: ErrorCode = ErrorCode(-32029);

/// One MCP session's handler (rmcp builds one per session): the shared gateway and catalog,
/// and the session's own state.
#[derive(Clone)]
pub struct FederatedServer {
    limits: Arc<crate::limits::Limits>,
    gateway: Arc<Gateway>,
    tools: Arc<Tools>,
    catalog: Arc<FederationCache>,
    session: Arc<ClientSession>,
    /// The profile this endpoint serves (`/mcp/{profile}`); none: the full view (`/mcp`).
    view: Option<Arc<Profile>>,
    /// Tells this endpoint's sessions of changes.
    fanout: Arc<ChangeFanout>,
    /// What the endpoint's sessions share (the door answers a session's calls from it).
    endpoint: Arc<Endpoint>,
}

/// The `/mcp` service (or, with `view`, a profile's `/mcp/{profile}`), to be nested into the
/// HTTP router.
#[allow(clippy::too_many_arguments)] // one call site, which names each
pub fn service(
    gateway: Arc<Gateway>,
    tools: Arc<Tools>,
    sessions: Arc<LocalSessionManager>,
    shared: Option<Arc<SharedSessions>>,
    tool_prefix: att_gateway::federation::PrefixMode,
    limits: Arc<crate::limits::Limits>,
    shutdown: tokio_util::sync::CancellationToken,
    view: Option<Arc<Profile>>,
    direct: Arc<DirectSessions>,
) -> StreamableHttpService<FederatedServer, LocalSessionManager> {
    let catalog = Arc::new(FederationCache::new(gateway.router(), tool_prefix));
    let fanout = ChangeFanout::new(catalog.clone(), view.clone(), gateway.clone());
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = shutdown;
    // `Host` and `Origin` are checked for every route of the listener, `/mcp` included, by
    // `http::origin` (DNS-rebinding protection): one policy, one place.
    config = config.disable_allowed_hosts().disable_allowed_origins();
    // On a cluster, a session another att opened is re-created here from its record.
    config.session_store = shared.as_ref().map(SharedSessions::rmcp_store);
    let endpoint = Arc::new(Endpoint {
        limits,
        gateway,
        tools,
        catalog,
        view,
        fanout,
        shared,
        direct,
    });
    StreamableHttpService::new(
        move || Ok(endpoint.server(Arc::new(ClientSession::new(&endpoint)))),
        sessions,
        config,
    )
}

/// What every session of one endpoint shares: a session's handler is this and the
/// session's own state ([`Endpoint::server`]).
pub(crate) struct Endpoint {
    limits: Arc<crate::limits::Limits>,
    gateway: Arc<Gateway>,
    tools: Arc<Tools>,
    catalog: Arc<FederationCache>,
    view: Option<Arc<Profile>>,
    fanout: Arc<ChangeFanout>,
    shared: Option<Arc<SharedSessions>>,
    /// The sessions whose calls the door answers itself.
    direct: Arc<DirectSessions>,
}

impl Endpoint {
    /// The handler of `session`.
    fn server(self: &Arc<Self>, session: Arc<ClientSession>) -> FederatedServer {
        FederatedServer {
            limits: self.limits.clone(),
            gateway: self.gateway.clone(),
            tools: self.tools.clone(),
            catalog: self.catalog.clone(),
            view: self.view.clone(),
            fanout: self.fanout.clone(),
            endpoint: self.clone(),
            session,
        }
    }
}

impl FederatedServer {
    fn current(&self) -> Arc<Federated> {
        self.catalog.get()
    }

    /// A `tools/call` the caller may make: one of att's tools, or routed upstream.
    async fn run_tool(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.tools.has_tool(&request.name) {
            let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
            let mut caller = Caller::new(format!("mcp:{}", session_id(context).unwrap_or("-")))
                .by(principal(context));
            if let Some(token) = context.meta.get_progress_token() {
                // Sent in order by one task: progress must only grow.
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, String)>();
                let peer = context.peer.clone();
                tokio::spawn(async move {
                    while let Some((n, line)) = rx.recv().await {
                        let p =
                            rmcp::model::ProgressNotificationParam::new(token.clone(), n as f64)
                                .with_message(line);
                        if peer.notify_progress(p).await.is_err() {
                            break;
                        }
                    }
                });
                caller.progress = Some(Arc::new(move |n, line| {
                    let _ = tx.send((n, line));
                }));
            }
            let done = self.tools.call(&request.name, args, &caller).await;
            return tool_result(done).map(Into::into);
        }
        let federated = self.current();
        let Some(route) = federated.tool(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        // A 2026-07-28 client's retry after `input_required` goes to the server that asked.
        let (resume, asked_by) = input::resumed(
            request.input_responses.as_ref(),
            request.request_state.as_deref(),
        )?;
        let only = input::route(asked_by, route.only.as_deref())?;
        let call = Request::Tool {
            name: route.name.clone(),
            arguments: request.arguments,
            resume,
        };
        let o = self.invoke(call, only.as_deref(), context).await?;
        if let Some(asked) = input::asked(&o) {
            return Ok(CallToolResponse::InputRequired(asked));
        }
        outcome::<CallToolResult>("tool", o)
            .map(Complete::completed)
            .map(Into::into)
    }

    /// Invokes `call` unless the client cancels it first; a cancel drops the upstream call,
    /// which sends `notifications/cancelled` upstream.
    async fn invoke(
        &self,
        call: Request,
        only: Option<&str>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Outcome, ErrorData> {
        let id = att_runtime::events::correlation_id();
        let relay = Relay {
            peer: context.peer.clone(),
            progress_token: context.meta.get_progress_token(),
            request_id: Some(context.id.clone()),
            // No back-channel in 2026-07-28: an upstream's questions are the client's answer.
            passes_input: context
                .protocol_version()
                .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28),
            // A 2026-07-28 client asks per request (`_meta`); an older one per session.
            log_level: context.meta.log_level().or(*self
                .session
                .log_level
                .lock()
                .unwrap_or_else(|p| p.into_inner())),
            counts: self.gateway.relay_counts().clone(),
        };
        // rmcp runs this in the session's task: the HTTP request's span is put back as the
        // parent, so the upstream calls nest under the request that asked for them.
        let span = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<crate::http::middleware::RequestSpan>())
            .map_or_else(tracing::Span::current, |s| s.0.clone());
        let work = self
            .gateway
            .invoker
            .invoke_on(&call, &[], only, Some(&relay), &id)
            .instrument(span);
        tokio::select! {
            o = work => Ok(o),
            () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the client", None)),
        }
    }

    /// `peer` hears of the federated catalog's changes and of the resources it subscribed
    /// to, until the session ends (a 2025-11-25 session; a 2026-07-28 client listens instead:
    /// [`FederatedServer::listen`]). No task of its own: the endpoint's [`ChangeFanout`].
    fn watch_changes(&self, peer: Peer<RoleServer>) {
        let listening = self.fanout.listen(peer, Arc::downgrade(&self.session));
        // A second registration (not expected: `started` guards it) would be dropped here.
        let _ = self.session.listening.set(listening);
    }

    /// The server holding `uri`'s subscription upstream: joined if another client holds it,
    /// else subscribed through the invoker (failover included).
    async fn hold_upstream(
        &self,
        uri: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let subscriptions = self.gateway.subscriptions();
        // Held upstream already (for another client): counted, no round trip.
        if let Some(server) = subscriptions.join(uri) {
            return Ok(server);
        }
        let call = Request::Subscribe {
            uri: uri.to_owned(),
        };
        let o = self.invoke(call, None, context).await?;
        held_upstream(&self.gateway, uri, o)
    }
}

/// The most resources one `subscriptions/listen` may follow; more are not acknowledged.
const MAX_LISTEN_RESOURCES: usize = 256;

/// The handlers that do work run boxed (`Box::pin(async move { … }).await`): rmcp awaits the
/// handler of `initialize` inside the session's task, so that task is allocated for the
/// largest handler future of all (a routed `tools/call`: several KiB) and keeps it for the
/// session's whole life. Boxed, each handler's state lives on the heap only while it runs,
/// and an idle session's task holds a pointer.
impl ServerHandler for FederatedServer {
    #[allow(deprecated)] // logging: deprecated by SEP-2577, used by 2025-11-25 clients
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_logging()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new("att", env!("CARGO_PKG_VERSION")))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self
            .session
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        // A copy re-created from the record (rmcp marks the replayed handshake) takes the
        // log level and subscriptions from it at once.
        let restored = context
            .extensions
            .get::<SessionRestoreMarker>()
            .map(|m| m.id.to_string());
        let id = restored.clone().or_else(|| {
            context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get("mcp-session-id"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        if let Some(id) = &id
            && let Some(registered) =
                self.endpoint
                    .direct
                    .register(id, &self.endpoint, &self.session, &context.peer)
        {
            let _ = self.session.direct.set(registered);
        }
        if let (Some(shared), Some(id)) = (&self.session.shared, id) {
            let _ = self.session.id.set(id.clone());
            let copy: Arc<dyn SessionCopy> = self.session.clone();
            shared
                .hold(&id, Arc::downgrade(&copy), restored.is_some())
                .await;
            self.watch_changes(context.peer);
            // Re-created for a stream resumed here: the client is told what to re-read.
            if shared.take_missed(&id) {
                copy.missed().await;
            }
            return;
        }
        self.watch_changes(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = requested.clone();
        if let Some(uris) = &mut accepted.resource_subscriptions {
            uris.truncate(MAX_LISTEN_RESOURCES);
        }
        Some(accepted)
    }

    /// A 2026-07-28 client's `subscriptions/listen`: the changes it asked for, on this
    /// request's stream, until it cancels the request or the session ends. The resources it
    /// follows are held upstream meanwhile, like `resources/subscribe`'s.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        Box::pin(async move {
            let mut uris = context
                .accepted()
                .resource_subscriptions
                .clone()
                .unwrap_or_default();
            if !uris.is_empty()
                && self
                    .allowed(
                        context.request_context(),
                        Role::Operator,
                        "subscriptions/listen",
                        "resources",
                    )
                    .is_err()
            {
                uris.clear();
            }
            uris.retain(|uri| self.shows_resource(uri));
            let mut held = Vec::with_capacity(uris.len());
            for uri in uris {
                match self.hold_upstream(&uri, context.request_context()).await {
                    Ok(server) => held.push((server, uri)),
                    Err(e) => tracing::debug!(%uri, error = %e.message, "cannot follow a resource"),
                }
            }
            let wanted: std::collections::BTreeSet<&str> =
                held.iter().map(|(_, uri)| uri.as_str()).collect();
            let mut feed = ChangeFeed::new(
                self.catalog.clone(),
                self.view.clone(),
                self.gateway.subscriptions().updates(),
            );
            let sink = context.sink();
            loop {
                let change = tokio::select! {
                    () = context.cancelled() => break,
                    change = feed.next() => match change {
                        Some(change) => change,
                        None => break,
                    },
                };
                let sent = match change {
                    Change::Tools => sink.notify_tool_list_changed().await,
                    Change::Resources => sink.notify_resource_list_changed().await,
                    Change::Prompts => sink.notify_prompt_list_changed().await,
                    Change::ResourceUpdated(uri) if wanted.contains(uri.as_str()) => {
                        sink.notify_resource_updated(uri).await
                    }
                    Change::ResourceUpdated(_) => Ok(()),
                };
                match sent {
                    Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                    Err(_) => break,
                }
            }
            for (server, uri) in held {
                release(&self.gateway, server, uri).await;
            }
            Ok(())
        })
        .await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // att's own tools first; an upstream tool with one of their names is shadowed.
        let mut tools: Vec<_> = self
            .tools
            .tools()
            .iter()
            .filter(|t| self.lists_att_tool(self.tools.role(&t.name).unwrap_or(Role::Admin)))
            .cloned()
            .collect();
        let federated = self.current();
        let view = self.view.as_deref();
        tools.extend(
            federated
                .tools
                .iter()
                .filter(|t| !self.tools.has_tool(&t.name) && view.is_none_or(|v| v.tool(&t.name)))
                .cloned(),
        );
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Box::pin(async move {
            let needs = self.tools.role(&request.name).unwrap_or(Role::Operator);
            let name = request.name.clone();
            let own = self.tools.has_tool(&name);
            let shown = self.in_view(&context, "tools/call", &name, |v| {
                if own {
                    v.att_tool(needs)
                } else {
                    v.tool(&name)
                }
            });
            if let Err(why) =
                shown.and_then(|()| self.allowed(&context, needs, "tools/call", &name))
            {
                return Ok(
                    CallToolResult::error(vec![rmcp::model::ContentBlock::text(why)]).into(),
                );
            }
            let _permit = self.admit(&context)?;
            let result = self.run_tool(request, &context).await;
            self.audited(&context, "tools/call", &name, result, |r| match r {
                CallToolResponse::Complete(r) if r.is_error == Some(true) => Some(
                    r.content
                        .iter()
                        .find_map(|c| c.as_text().map(|t| t.text.clone()))
                        .unwrap_or_else(|| "the tool reported an error".into()),
                ),
                _ => None,
            })
        })
        .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let mut resources = self.tools.resources();
        resources.extend(self.current().resources.iter().cloned());
        resources.retain(|r| self.shows_resource(&r.uri));
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let mut templates = self.tools.resource_templates();
        templates.extend(self.current().resource_templates.iter().cloned());
        templates.retain(|t| self.shows_resource(&t.uri_template));
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Box::pin(async move {
            let uri = request.uri.clone();
            self.in_view(&context, "resources/read", &uri, |_| {
                self.shows_resource(&uri)
            })
            .map_err(|why| ErrorData::resource_not_found(why, None))?;
            if request.uri.starts_with("att://") {
                let _permit = self.admit(&context)?;
                return match self.tools.read_resource(&request.uri).await {
                    Ok(contents) => Ok(ReadResourceResult::new(vec![contents]).into()),
                    Err(ToolError::NotFound(m)) => Err(ErrorData::resource_not_found(m, None)),
                    Err(e) => Err(ws_error(e)),
                };
            }
            let uri = request.uri;
            self.allowed(&context, Role::Operator, "resources/read", &uri)
                .map_err(|why| ErrorData::invalid_request(why, None))?;
            let _permit = self.admit(&context)?;
            let (resume, asked_by) = input::resumed(
                request.input_responses.as_ref(),
                request.request_state.as_deref(),
            )?;
            let only = input::route(asked_by, None)?;
            let call = Request::Resource {
                uri: uri.clone(),
                resume,
            };
            let result = match self.invoke(call, only.as_deref(), &context).await {
                Ok(o) => match input::asked(&o) {
                    Some(asked) => Ok(ReadResourceResponse::InputRequired(asked)),
                    None => outcome::<ReadResourceResult>("resource", o)
                        .map(Complete::completed)
                        .map(Into::into),
                },
                Err(e) => Err(e),
            };
            self.audited(&context, "resources/read", &uri, result, |_| None)
        })
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Box::pin(async move {
            let target = match &request.r#ref {
                Reference::Prompt(p) => p.name.clone(),
                Reference::Resource(r) => r.uri.clone(),
                _ => "-".to_owned(),
            };
            let prompt = matches!(request.r#ref, Reference::Prompt(_));
            self.in_view(&context, "completion/complete", &target, |v| {
                if prompt {
                    v.prompt(&target)
                } else {
                    v.resource(&target)
                }
            })
            .and_then(|()| self.allowed(&context, Role::Operator, "completion/complete", &target))
            .map_err(|why| ErrorData::invalid_request(why, None))?;
            let _permit = self.admit(&context)?;
            let result = match self
                .invoke(Request::Complete(Box::new(request)), None, &context)
                .await
            {
                Ok(o) => outcome::<CompleteResult>("prompt or resource to complete", o),
                Err(e) => Err(e),
            };
            self.audited(&context, "completion/complete", &target, result, |_| None)
                .map(Complete::completed)
        })
        .await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let view = self.view.as_deref();
        Ok(ListPromptsResult::with_all_items(
            self.current()
                .prompts
                .iter()
                .filter(|p| view.is_none_or(|v| v.prompt(&p.name)))
                .cloned()
                .collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Box::pin(async move {
            let name = request.name;
            self.in_view(&context, "prompts/get", &name, |v| v.prompt(&name))
                .and_then(|()| self.allowed(&context, Role::Operator, "prompts/get", &name))
                .map_err(|why| ErrorData::invalid_request(why, None))?;
            let _permit = self.admit(&context)?;
            let (resume, asked_by) = input::resumed(
                request.input_responses.as_ref(),
                request.request_state.as_deref(),
            )?;
            let only = input::route(asked_by, None)?;
            let call = Request::Prompt {
                name: name.clone(),
                arguments: request.arguments,
                resume,
            };
            let result = match self.invoke(call, only.as_deref(), &context).await {
                Ok(o) => match input::asked(&o) {
                    Some(asked) => Ok(GetPromptResponse::InputRequired(asked)),
                    None => outcome::<GetPromptResult>("prompt", o)
                        .map(Complete::completed)
                        .map(Into::into),
                },
                Err(e) => Err(e),
            };
            self.audited(&context, "prompts/get", &name, result, |_| None)
        })
        .await
    }

    #[allow(deprecated)] // logging: deprecated by SEP-2577, used by 2025-11-25 clients
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(async move {
            *self
                .session
                .log_level
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(request.level);
            if let Some((shared, id)) = self.session.shared(&context) {
                let level = serde_json::to_value(request.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                shared
                    .set_log_level(&id, &level)
                    .await
                    .map_err(|e| unshared("the log level", &e))?;
            }
            Ok(())
        })
        .await
    }

    #[allow(deprecated)] // legacy-only in 2026-07-28; 2025-11-25 clients use it
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(async move {
        let uri = request.uri.clone();
        self.in_view(&context, "resources/subscribe", &uri, |_| {
            self.shows_resource(&uri)
        })
        .and_then(|()| self.allowed(&context, Role::Operator, "resources/subscribe", &uri))
        .map_err(|why| ErrorData::invalid_request(why, None))?;
        let _permit = self.admit(&context)?;
        let uri = request.uri;
        if self.session.subscribed().contains_key(&uri) {
            return Ok(());
        }
        // On a cluster the record comes first: a copy following it meanwhile holds the
        // subscription too, rather than releasing one it does not know of yet.
        let shared = self.session.shared(&context);
        if let Some((shared, id)) = &shared {
            match shared.subscribe(id, &uri).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(ErrorData::invalid_request(
                        format!(
                            "this session holds the most resource subscriptions one session may ({}): unsubscribe from some first",
                            super::mcp_shared::MAX_SUBSCRIPTIONS
                        ),
                        None,
                    ));
                }
                Err(e) => return Err(unshared("the subscription", &e)),
            }
        }
        let server = match self.hold_upstream(&uri, &context).await {
            Ok(server) => server,
            Err(e) => {
                if let Some((shared, id)) = &shared
                    && let Err(e) = shared.unsubscribe(id, &uri).await
                {
                    tracing::warn!(error = %e.0, %uri, "undoing a failed subscription's record");
                }
                return Err(e);
            }
        };
        self.session.keep(uri, server).await;
        Ok(())
        })
        .await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Box::pin(async move {
            if let Some((shared, id)) = self.session.shared(&context) {
                shared
                    .unsubscribe(&id, &request.uri)
                    .await
                    .map_err(|e| unshared("the unsubscription", &e))?;
            }
            let held = self.session.subscribed().remove(&request.uri);
            if let Some(server) = held {
                release(&self.gateway, server, request.uri).await;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::Service;
    use rmcp::model::ClientRequest;

    /// The size of what `make` returns, without calling it.
    fn size_of_returned<F>(_make: impl FnOnce() -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// A handler with rmcp's defaults only: the least `handle_request` can hold.
    struct Defaults;
    impl ServerHandler for Defaults {}

    /// rmcp awaits the `initialize` handler inside each session's task, so the task is
    /// allocated for the largest future `handle_request` can be, and keeps that allocation
    /// while the session lives. With att's handlers boxed it is about what rmcp's dispatch
    /// holds for a handler with rmcp's defaults — not a routed call's state.
    #[test]
    #[allow(unreachable_code, unused_variables, clippy::diverging_sub_expression)]
    fn a_session_task_does_not_hold_the_largest_handler_inline() {
        let att = size_of_returned(|| {
            let server: &'static FederatedServer = unreachable!("only the type is used");
            let request: ClientRequest = unreachable!("only the type is used");
            let context: RequestContext<RoleServer> = unreachable!("only the type is used");
            server.handle_request(request, context)
        });
        let floor = size_of_returned(|| {
            let server: &'static Defaults = unreachable!("only the type is used");
            let request: ClientRequest = unreachable!("only the type is used");
            let context: RequestContext<RoleServer> = unreachable!("only the type is used");
            server.handle_request(request, context)
        });
        eprintln!("handle_request's future: att {att} bytes, rmcp's defaults {floor} bytes");
        // Room for a handler's arguments and a pointer, not for a handler's state.
        let bound = floor + 1024;
        assert!(
            att <= bound,
            "handle_request's future is {att} bytes (rmcp's defaults: {floor}): a handler runs unboxed and every idle session pays for it"
        );
    }
}
