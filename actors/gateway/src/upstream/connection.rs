//! One live MCP session with an upstream, over streamable HTTP or a stdio child process.
//!
//! The upstream actor owns a [`Connection`] and hands clones of its peer to callers; this
//! module is the only place that knows rmcp's types. Every request carries a deadline (rmcp
//! has none by default), and every failure is translated into a [`CallFailure`] that says
//! whether the request was sent — the question failover depends on.
//!
//! rmcp settings chosen here, each for a pitfall (see `todo/rmcp-notes.md`):
//! protocol pinned to 2025-11-25 (the newest with `initialize`); the client response cache
//! off (it can hide errors behind stale data); no silent re-initialize on an expired HTTP
//! session (the server may have changed); bounded SSE reconnects. A stdio child runs in its
//! own process group ([`crate::process`]), its stderr is kept as a bounded tail, and the
//! group is killed when the session closes or is dropped — and when the handshake does not
//! complete, whether it fails or its future is dropped (the actor stopping mid-handshake).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    ClientRequest, ClientResult, CompleteRequest, CompleteRequestParams, CompleteResult,
    ElicitRequest, ElicitRequestParams, ElicitResult, ErrorCode, GetExtensions, GetPromptRequest,
    GetPromptRequestParams, GetPromptResult, Implementation, JsonObject, ListPromptsRequest,
    ListResourceTemplatesRequest, ListResourcesRequest, ListToolsRequest, PaginatedRequestParams,
    PingRequest, ProgressNotificationParam, ProgressToken, ProtocolVersion, ReadResourceRequest,
    ReadResourceRequestParams, ReadResourceResult, RequestId, ServerRequest, ServerResult,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
// Deprecated by SEP-2577 / the 2026-07-28 protocol; the protocol att speaks upstream
// (2025-11-25) has them.
#[allow(deprecated)]
use rmcp::model::{
    CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ListRootsRequest,
    ListRootsResult, SubscribeRequest, UnsubscribeRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, PeerRequestOptions,
    RequestContext, RunningService, ServiceRole,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{
    ClientCacheConfig, ClientHandler, ErrorData, Peer, RoleClient, RoleServer, ServiceError,
    ServiceExt,
};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::outcome::CallFailure;
use super::spec::{Transport, UpstreamSpec};
use super::subscriptions::Subscriptions;
use crate::catalog::Catalog;
use crate::health::ErrorCategory;

/// Something an upstream told att outside of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `notifications/tools/list_changed`.
    ToolsChanged,
    /// `notifications/resources/list_changed`.
    ResourcesChanged,
    /// `notifications/prompts/list_changed`.
    PromptsChanged,
    /// The stdio child with this pid has exited (the status is in the connection).
    Exited(u32),
}

/// What the handshake established.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// The server's `serverInfo`.
    pub server_info: Value,
    /// The server's capabilities.
    pub capabilities: Value,
    /// When the handshake completed.
    pub captured_at: OffsetDateTime,
}

/// The client a call is made for (a session on att's own MCP endpoint): what the upstream
/// says about the call while it runs — progress, log messages — goes to it, and what the
/// upstream asks during the call — sampling, elicitation, roots — is asked of it.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The calling client.
    pub peer: Peer<RoleServer>,
    /// The progress token the client gave its request, if it wants progress.
    pub progress_token: Option<ProgressToken>,
    /// The client's request on att's endpoint: a request the upstream makes during the call
    /// is sent to the client as part of it (on that request's response stream).
    pub request_id: Option<RequestId>,
    /// The least severe log message the client wants (`logging/setLevel`); all when `None`.
    #[allow(deprecated)]
    pub log_level: Option<rmcp::model::LoggingLevel>,
}

/// The rank of a log level, least severe first (RFC 5424 order, as MCP uses it).
#[allow(deprecated)]
fn severity(level: rmcp::model::LoggingLevel) -> u8 {
    use rmcp::model::LoggingLevel as L;
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

/// What a relayed call passes on to its client, in the order the upstream sent it.
#[allow(deprecated)] // logging: deprecated by SEP-2577, still used by 2025-11-25 clients
enum Outgoing {
    Progress(ProgressNotificationParam),
    Log(rmcp::model::LoggingMessageNotificationParam),
    /// Everything before this has been passed on.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// A call in flight on behalf of a client.
struct Relayed {
    /// The ordered outbox of its forwarding task, started by the first message to pass on
    /// (most calls have none: no task, no flush).
    outbox: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Its client.
    relay: Relay,
    /// att's request id upstream.
    upstream_id: RequestId,
}

impl Relayed {
    fn outbox(&mut self) -> &mpsc::UnboundedSender<Outgoing> {
        self.outbox
            .get_or_insert_with(|| forward_to(self.relay.clone()))
    }
}

/// Calls in flight that have a [`Relay`], by the progress token rmcp gave them upstream.
type Relays = Arc<Mutex<HashMap<ProgressToken, Relayed>>>;

/// Sees every message from the upstream in arrival order, before rmcp does, and puts the
/// progress and log messages of relayed calls in their outboxes. rmcp itself handles each
/// notification in a task of its own and hands a response over at once, so its handlers
/// could pass notifications on out of order or after the call's reply (found by the
/// interop script's SDK clients); queued here, they keep the upstream's order and a call
/// flushes its outbox before it answers.
struct Tap<T> {
    inner: T,
    relays: Relays,
    subscriptions: Arc<Subscriptions>,
}

impl<T: rmcp::transport::Transport<RoleClient>> rmcp::transport::Transport<RoleClient> for Tap<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: rmcp::service::TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    // The trait's signature asks for a `Send` future; spelled out to keep that visible.
    #[allow(clippy::manual_async_fn)]
    fn receive(
        &mut self,
    ) -> impl Future<Output = Option<rmcp::service::RxJsonRpcMessage<RoleClient>>> + Send {
        async move {
            let message = self.inner.receive().await?;
            if let rmcp::model::JsonRpcMessage::Notification(n) = &message {
                self.tap(&n.notification);
            }
            Some(message)
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl<T> Tap<T> {
    #[allow(deprecated)]
    fn tap(&self, notification: &rmcp::model::ServerNotification) {
        use rmcp::model::ServerNotification as N;
        if let N::ResourceUpdatedNotification(u) = notification {
            self.subscriptions.publish(&u.params.uri);
            return;
        }
        let mut relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        match notification {
            N::ProgressNotification(p) => {
                if let Some(call) = relays.get_mut(&p.params.progress_token) {
                    let _ = call.outbox().send(Outgoing::Progress(p.params.clone()));
                }
            }
            // MCP log messages carry no request id: every relayed call on this session
            // whose client wants the level gets them.
            N::LoggingMessageNotification(l) => {
                for call in relays.values_mut() {
                    if call
                        .relay
                        .log_level
                        .is_none_or(|min| severity(l.params.level) >= severity(min))
                    {
                        let _ = call.outbox().send(Outgoing::Log(l.params.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}

/// att's side of the session: identifies att, forwards list changes, and asks the client
/// of a relayed call what the upstream asks during it.
#[derive(Clone)]
struct AttClient {
    notices: mpsc::UnboundedSender<Notice>,
    relays: Relays,
}

/// A capability of att's clients that an upstream's request needs.
#[derive(Clone, Copy)]
enum Asks {
    Sampling,
    Elicitation,
    Roots,
}

impl Asks {
    fn name(self) -> &'static str {
        match self {
            Self::Sampling => "sampling",
            Self::Elicitation => "elicitation",
            Self::Roots => "roots",
        }
    }

    fn offered_by(self, client: &ClientCapabilities) -> bool {
        match self {
            Self::Sampling => client.sampling.is_some(),
            Self::Elicitation => client.elicitation.is_some(),
            Self::Roots => client.roots.is_some(),
        }
    }
}

impl AttClient {
    /// The client of the relayed call an upstream request belongs to: the call whose
    /// response stream it arrived on (streamable HTTP), or else the only relayed call in
    /// flight on the session (stdio has one stream; a guess among several would send a
    /// question to a stranger).
    fn caller(&self, context: &RequestContext<RoleClient>) -> Result<Relay, String> {
        let relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(InboundStreamOrigin::OutboundRequest(id)) =
            context.extensions.get::<InboundStreamOrigin>()
            && let Some(call) = relays.values().find(|c| &c.upstream_id == id)
        {
            return Ok(call.relay.clone());
        }
        let mut calls = relays.values();
        match (calls.next(), calls.next()) {
            (Some(only), None) => Ok(only.relay.clone()),
            (None, _) => Err("no client call is in flight on this session".into()),
            (Some(_), Some(_)) => Err(format!(
                "{} client calls are in flight on this session and the request names none of them",
                relays.len()
            )),
        }
    }

    /// Asks the calling client `request` and returns its answer. A cancel from the upstream
    /// cancels the question at the client.
    async fn ask(
        &self,
        asks: Asks,
        mut request: ServerRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        let no_client = |why: String| {
            ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("att cannot relay this {} request: {why}", asks.name()),
                None,
            )
        };
        let relay = self.caller(&context).map_err(no_client)?;
        let offered = relay
            .peer
            .peer_info()
            .is_some_and(|info| asks.offered_by(&info.capabilities));
        if !offered {
            return Err(no_client(format!(
                "the calling client does not offer {}",
                asks.name()
            )));
        }
        if let Some(id) = &relay.request_id {
            request
                .extensions_mut()
                .insert(OriginatingRequestId(id.clone()));
        }
        let handle = relay
            .peer
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
            .map_err(client_failed)?;
        let mut abandon = CancelOnDrop(Some((relay.peer.clone(), handle.id.clone())));
        tokio::select! {
            reply = handle.await_response() => {
                abandon.0 = None;
                reply.map_err(client_failed)
            }
            // Dropping `abandon` tells the client.
            () = context.ct.cancelled() => Err(ErrorData::internal_error(
                "cancelled by the server",
                None,
            )),
        }
    }
}

/// The client's failure to answer, as the upstream should see it: its own error as it is.
fn client_failed(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
    }
}

/// Starts the task that passes a relayed call's outbox on to its client, in order.
#[allow(deprecated)]
fn forward_to(relay: Relay) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            match item {
                Outgoing::Progress(mut p) => {
                    if let Some(token) = &relay.progress_token {
                        p.progress_token = token.clone();
                        let _ = relay.peer.notify_progress(p).await;
                    }
                }
                Outgoing::Log(l) => {
                    let _ = relay.peer.notify_logging_message(l).await;
                }
                Outgoing::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}

/// Sends `notifications/cancelled` for a request whose caller stopped waiting.
struct CancelOnDrop<R: ServiceRole>(Option<(Peer<R>, RequestId)>)
where
    R::Not: From<rmcp::model::CancelledNotification>;

impl<R: ServiceRole> Drop for CancelOnDrop<R>
where
    R::Not: From<rmcp::model::CancelledNotification>,
{
    fn drop(&mut self) {
        if let Some((peer, id)) = self.0.take() {
            let note = rmcp::model::CancelledNotification::new(
                rmcp::model::CancelledNotificationParam::new(
                    Some(id),
                    Some("request abandoned by the caller".into()),
                ),
            );
            tokio::spawn(async move {
                let _ = peer.send_notification(note.into()).await;
            });
        }
    }
}

/// Removes a relayed call's entry when the call ends (or is dropped).
struct RelayGuard(Relays, ProgressToken);

impl RelayGuard {
    /// Ends the relay; returns the call's outbox if anything was passed on.
    fn finish(self) -> Option<mpsc::UnboundedSender<Outgoing>> {
        let entry = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
        entry.and_then(|e| e.outbox)
    }
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

impl ClientHandler for AttClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            offered_capabilities(),
            Implementation::new("att", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    #[allow(deprecated)] // sampling: deprecated by SEP-2577, used by 2025-11-25 servers
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.ask(Asks::Sampling, request, context).await? {
            ClientResult::CreateMessageResult(r) => Ok(*r),
            other => Err(unexpected_answer(&other)),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.ask(Asks::Elicitation, request, context).await? {
            ClientResult::ElicitResult(r) => Ok(r),
            other => Err(unexpected_answer(&other)),
        }
    }

    #[allow(deprecated)] // roots: deprecated by SEP-2577, used by 2025-11-25 servers
    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        // Outside a client's call there is no client to ask: att itself has no roots.
        if self.caller(&context).is_err() {
            return Ok(ListRootsResult::default());
        }
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.ask(Asks::Roots, request, context).await? {
            ClientResult::ListRootsResult(r) => Ok(r),
            other => Err(unexpected_answer(&other)),
        }
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ToolsChanged);
    }

    async fn on_resource_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ResourcesChanged);
    }

    async fn on_prompt_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::PromptsChanged);
    }
}

/// What att offers its upstreams: what its clients may offer (sampling, elicitation, roots),
/// relayed to the client of the call during which the upstream asks.
fn offered_capabilities() -> ClientCapabilities {
    serde_json::from_value(serde_json::json!({
        "sampling": { "tools": {}, "context": {} },
        "elicitation": { "form": {}, "url": {} },
        "roots": {},
    }))
    .unwrap_or_default()
}

fn unexpected_answer(answer: &ClientResult) -> ErrorData {
    ErrorData::internal_error(format!("the client answered with {answer:?}"), None)
}

/// What att knows of a stdio child beyond its pipes: the last lines it wrote to stderr (at
/// most [`STDERR_LINES`]) and, once it has exited, how (`"exited with status 3"`).
#[derive(Debug)]
pub struct ChildWatch {
    tail: Mutex<VecDeque<String>>,
    exit: tokio::sync::watch::Sender<Option<String>>,
}

const STDERR_LINES: usize = 40;
const STDERR_LINE_BYTES: usize = 512;
/// How long a failure that may be the child's death waits for the exit to be known, and
/// how long the stderr tail is read after the exit (a grandchild may hold it open).
const EXIT_GRACE: Duration = Duration::from_millis(500);

impl Default for ChildWatch {
    fn default() -> Self {
        Self {
            tail: Mutex::new(VecDeque::new()),
            exit: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl ChildWatch {
    fn push(&self, mut line: String) {
        if line.len() > STDERR_LINE_BYTES {
            let mut cut = STDERR_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    /// The kept lines, joined.
    pub fn text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How the child ended, once it has.
    pub fn exit(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Waits up to `grace` for the child's end to be known.
    async fn exit_within(&self, grace: Duration) -> Option<String> {
        let mut rx = self.exit.subscribe();
        match tokio::time::timeout(grace, rx.wait_for(Option::is_some)).await {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }

    /// "the server process N exited with status 3; stderr: …", once the child has exited.
    pub fn reason(&self, pid: u32) -> Option<String> {
        let how = self.exit()?;
        let tail = self.text();
        Some(if tail.is_empty() {
            format!("the server process {pid} {how}")
        } else {
            format!("the server process {pid} {how}; stderr: {tail}")
        })
    }
}

/// A stdio child just started: its group (killed when the guard is dropped) and its pipes.
struct Spawned {
    pid: u32,
    group: crate::process::GroupGuard,
    stdout: tokio::process::ChildStdout,
    stdin: tokio::process::ChildStdin,
}

/// Starts `cmd` in its own process group with piped stdio. A task reaps it: it keeps the
/// stderr tail, records how the child ended, then sends [`Notice::Exited`]. From here on the
/// returned guard owns the group: whoever drops it kills the child.
fn spawn_child(
    mut cmd: tokio::process::Command,
    watch: Arc<ChildWatch>,
    notices: mpsc::UnboundedSender<Notice>,
) -> std::io::Result<Spawned> {
    use std::process::Stdio;
    crate::process::in_own_group(&mut cmd, &crate::process::new_instance());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (Some(pid), Some(stdin), Some(stdout), Some(stderr)) = (
        child.id(),
        child.stdin.take(),
        child.stdout.take(),
        child.stderr.take(),
    ) else {
        let _ = child.start_kill();
        return Err(std::io::Error::other("the child's pipes are missing"));
    };
    let group = crate::process::GroupGuard::new(pid);
    tokio::spawn(async move {
        let tail = watch.clone();
        let mut drain = tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tail.push(line);
            }
        });
        let status = child.wait().await;
        // The exit is known; let the last stderr lines arrive before reporting it.
        if tokio::time::timeout(EXIT_GRACE, &mut drain).await.is_err() {
            drain.abort();
        }
        watch
            .exit
            .send_replace(Some(crate::process::child::describe_exit(&status)));
        let _ = notices.send(Notice::Exited(pid));
    });
    Ok(Spawned {
        pid,
        group,
        stdout,
        stdin,
    })
}

/// A live session with one upstream.
pub struct Connection {
    service: RunningService<RoleClient, AttClient>,
    /// What the handshake established.
    pub handshake: Handshake,
    http: bool,
    /// The stdio child's pid and its group, killed when the connection goes.
    process: Option<(u32, crate::process::GroupGuard)>,
    child: Arc<ChildWatch>,
    relays: Relays,
}

/// Opens a session with `spec`'s server and performs the handshake within its
/// `init_timeout`. List-change notifications go to `notices`.
pub async fn connect(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
) -> Result<Connection, CallFailure> {
    connect_with(spec, notices, Arc::default()).await
}

/// [`connect`] for an att instance whose clients hold `subscriptions`: the session
/// subscribes to what its server holds, and the server's resource updates are published
/// there.
pub async fn connect_with(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: Arc<Subscriptions>,
) -> Result<Connection, CallFailure> {
    let relays = Relays::default();
    let handler = AttClient {
        notices,
        relays: relays.clone(),
    };
    let child = Arc::new(ChildWatch::default());
    let deadline = spec.init_timeout;
    let (service, http, process) = match &spec.transport {
        Transport::Http { url, headers } => {
            let mut map = HashMap::with_capacity(headers.len());
            for (k, v) in headers {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                    not_sent(format!("header `{k}`: {e}"), ErrorCategory::InitializeError)
                })?;
                let value = reqwest::header::HeaderValue::from_str(v).map_err(|e| {
                    not_sent(format!("header `{k}`: {e}"), ErrorCategory::InitializeError)
                })?;
                map.insert(name, value);
            }
            let mut retry = ExponentialBackoff::default();
            retry.max_times = Some(3);
            retry.max_delay = Some(Duration::from_secs(5));
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone())
                .custom_headers(map)
                .reinit_on_expired_session(false);
            config.retry_config = Arc::new(retry);
            let client = super::tls::http_client(&spec.name, spec.tls.as_ref())
                .map_err(|e| not_sent(e.to_string(), ErrorCategory::Tls))?;
            let transport = StreamableHttpClientTransport::with_client(client, config);
            let transport = Tap {
                inner: transport,
                relays: relays.clone(),
                subscriptions: subscriptions.clone(),
            };
            let service = handshake(handler.serve(transport), deadline, true).await?;
            (service, true, None)
        }
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            let Spawned {
                pid,
                group,
                stdout,
                stdin,
            } = spawn_child(cmd, child.clone(), handler.notices.clone()).map_err(|e| {
                not_sent(
                    format!("cannot start `{command}`: {e}"),
                    ErrorCategory::TransportError,
                )
            })?;
            let transport = Tap {
                inner: rmcp::transport::IntoTransport::<
                    RoleClient,
                    std::io::Error,
                    rmcp::transport::async_rw::TransportAdapterAsyncRW,
                >::into_transport((stdout, stdin)),
                relays: relays.clone(),
                subscriptions: subscriptions.clone(),
            };
            // `group` lives in this future: if it is dropped mid-handshake, the child dies.
            match handshake(handler.serve(transport), deadline, false).await {
                Ok(service) => (service, false, Some((pid, group))),
                Err(e) => {
                    drop(group);
                    return Err(died(e, pid, &child).await);
                }
            }
        }
    };
    service
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    let info = service.peer().peer_info();
    let handshake = Handshake {
        protocol_version: info
            .as_ref()
            .map(|i| i.protocol_version.to_string())
            .unwrap_or_default(),
        server_info: info
            .as_ref()
            .and_then(|i| serde_json::to_value(&i.server_info).ok())
            .unwrap_or(Value::Null),
        capabilities: info
            .as_ref()
            .and_then(|i| serde_json::to_value(&i.capabilities).ok())
            .unwrap_or(Value::Null),
        captured_at: OffsetDateTime::now_utc(),
    };
    let connection = Connection {
        service,
        handshake,
        http,
        process,
        child,
        relays,
    };
    // A new session holds nothing upstream: subscribe again to what the clients hold here.
    for uri in subscriptions.held_on(&spec.name) {
        if let Err(e) = connection.subscribe(&uri, spec.call_timeout).await {
            tracing::warn!(upstream = %spec.name, %uri, error = %e.message(), "re-subscribing failed");
        }
    }
    Ok(connection)
}

async fn handshake<F, E>(
    serve: F,
    deadline: Duration,
    http: bool,
) -> Result<RunningService<RoleClient, AttClient>, CallFailure>
where
    F: Future<Output = Result<RunningService<RoleClient, AttClient>, E>>,
    E: std::error::Error + 'static,
{
    match tokio::time::timeout(deadline, serve).await {
        Ok(Ok(service)) => Ok(service),
        Ok(Err(e)) if let Some(why) = super::tls::diagnose(&e) => Err(not_sent(
            format!("initialize failed: {why}"),
            ErrorCategory::Tls,
        )),
        Ok(Err(e)) => {
            let text = e.to_string();
            let category = if text.contains("JSON-RPC") || text.contains("json-rpc") {
                ErrorCategory::RpcError
            } else if http || text.contains("transport") || text.contains("closed") {
                ErrorCategory::TransportError
            } else {
                ErrorCategory::InitializeError
            };
            Err(not_sent(format!("initialize failed: {text}"), category))
        }
        Err(_) => Err(not_sent(
            format!(
                "did not answer initialize within {} ms",
                deadline.as_millis()
            ),
            ErrorCategory::NetworkTimeout,
        )),
    }
}

fn not_sent(message: String, category: ErrorCategory) -> CallFailure {
    CallFailure::NotSent { message, category }
}

/// A failure of a stdio child's session: if the child has exited (waiting briefly for its
/// end to be known), the message says how, with its stderr tail; a failure that was not
/// sent stays not sent, anything else on a dead child is a lost connection.
async fn died(failure: CallFailure, pid: u32, child: &ChildWatch) -> CallFailure {
    let Some(reason) = (match child.exit() {
        Some(_) => child.reason(pid),
        None => {
            child.exit_within(EXIT_GRACE).await;
            child.reason(pid)
        }
    }) else {
        return failure;
    };
    match failure {
        CallFailure::NotSent { message, category } => CallFailure::NotSent {
            message: format!("{message}: {reason}"),
            category,
        },
        CallFailure::ConnectionLost(_) => CallFailure::ConnectionLost(reason),
        other => other,
    }
}

impl Connection {
    /// A handle for making requests on this session (cheap to clone).
    pub fn peer(&self) -> Peer<RoleClient> {
        self.service.peer().clone()
    }

    /// The stdio child's pid (`None` for HTTP).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|(pid, _)| *pid)
    }

    /// Kills the stdio child's process group now, though others may still hold the
    /// session (their calls then fail); nothing for HTTP.
    pub fn kill(&self) {
        if let Some((_, group)) = &self.process {
            group.kill();
        }
    }

    /// Whether the session is over (the child exited, the worker quit).
    pub fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    /// "the server process N exited with status 3; stderr: …" once the stdio child has
    /// exited; `None` while it runs, and for HTTP.
    pub fn exit_reason(&self) -> Option<String> {
        self.child.reason(self.pid()?)
    }

    /// The last lines the stdio child wrote to stderr (empty for HTTP).
    pub fn stderr_tail(&self) -> String {
        self.child.text()
    }

    /// `ping`, within `deadline`.
    pub async fn ping(&self, deadline: Duration) -> Result<(), CallFailure> {
        let request = ClientRequest::PingRequest(PingRequest::default());
        match self.request(request, deadline).await? {
            ServerResult::EmptyResult(_) => Ok(()),
            other => Err(CallFailure::Malformed(format!(
                "unexpected reply to ping: {other:?}"
            ))),
        }
    }

    /// `tools/call`, within `deadline`. Dropping the future (the caller went away) or the
    /// deadline passing sends `notifications/cancelled` upstream.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        deadline: Duration,
    ) -> Result<CallToolResult, CallFailure> {
        self.call_tool_for(name, arguments, deadline, None).await
    }

    /// [`Self::call_tool`] on behalf of a client: what the upstream says and asks during the
    /// call goes to `relay` (see [`Relay`]).
    pub async fn call_tool_for(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<CallToolResult, CallFailure> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.exchange(request, deadline, relay).await? {
            ServerResult::CallToolResult(r) => Ok(r),
            other => Err(unexpected("tools/call", &other)),
        }
    }

    /// `completion/complete`, within `deadline`, on behalf of `relay`'s client.
    pub async fn complete(
        &self,
        params: CompleteRequestParams,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<CompleteResult, CallFailure> {
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(params));
        match self.exchange(request, deadline, relay).await? {
            ServerResult::CompleteResult(r) => Ok(r),
            other => Err(unexpected("completion/complete", &other)),
        }
    }

    /// `resources/read`, within `deadline`, on behalf of `relay`'s client.
    pub async fn read_resource(
        &self,
        uri: &str,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<ReadResourceResult, CallFailure> {
        let params = ReadResourceRequestParams::new(uri);
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params));
        match self.exchange(request, deadline, relay).await? {
            ServerResult::ReadResourceResult(r) => Ok(r),
            other => Err(unexpected("resources/read", &other)),
        }
    }

    /// `prompts/get`, within `deadline`, on behalf of `relay`'s client.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<GetPromptResult, CallFailure> {
        let mut params = GetPromptRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(params));
        match self.exchange(request, deadline, relay).await? {
            ServerResult::GetPromptResult(r) => Ok(r),
            other => Err(unexpected("prompts/get", &other)),
        }
    }

    /// `resources/subscribe`, within `deadline`.
    #[allow(deprecated)] // legacy-only in 2026-07-28; the protocol att speaks upstream has it
    pub async fn subscribe(&self, uri: &str, deadline: Duration) -> Result<(), CallFailure> {
        let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
            SubscribeRequestParams::new(uri),
        ));
        self.exchange(request, deadline, None).await.map(drop)
    }

    /// `resources/unsubscribe`, within `deadline`.
    #[allow(deprecated)]
    pub async fn unsubscribe(&self, uri: &str, deadline: Duration) -> Result<(), CallFailure> {
        let request = ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(
            UnsubscribeRequestParams::new(uri),
        ));
        self.exchange(request, deadline, None).await.map(drop)
    }

    /// Sends `request` and waits for its reply within `deadline`; the deadline passing or
    /// the future being dropped (a caller that went away) sends `notifications/cancelled`
    /// upstream. With a `relay`, the upstream's progress and log messages during the request
    /// go to its client, in the upstream's order and before the reply is returned, and the
    /// requests the upstream makes meanwhile are asked of that client.
    async fn exchange(
        &self,
        request: ClientRequest,
        deadline: Duration,
        relay: Option<&Relay>,
    ) -> Result<ServerResult, CallFailure> {
        if self.is_closed() {
            return Err(self
                .failed(not_sent(
                    "the session is closed".into(),
                    ErrorCategory::TransportError,
                ))
                .await);
        }
        let sent = self
            .service
            .peer()
            .send_cancellable_request(request, PeerRequestOptions::with_timeout(deadline))
            .await;
        let handle = match sent {
            Ok(h) => h,
            Err(e) => return Err(self.failed(self.classify(e)).await),
        };
        // rmcp puts its own progress token on every request; the handle says which, so the
        // upstream's progress for it can be found and sent on under the client's token.
        let relayed = relay.map(|relay| {
            self.relays
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    handle.progress_token.clone(),
                    Relayed {
                        outbox: None,
                        relay: relay.clone(),
                        upstream_id: handle.id.clone(),
                    },
                );
            RelayGuard(self.relays.clone(), handle.progress_token.clone())
        });
        // A raw handle sends no cancel when dropped (a caller that went away): this does.
        let mut abandon = CancelOnDrop(Some((self.service.peer().clone(), handle.id.clone())));
        let reply = handle.await_response().await;
        abandon.0 = None;
        // What the upstream sent before its reply reaches the client before att's reply.
        if let Some(outbox) = relayed.and_then(RelayGuard::finish) {
            let (done, flushed) = tokio::sync::oneshot::channel();
            if outbox.send(Outgoing::Flush(done)).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), flushed).await;
            }
        }
        match reply {
            Ok(r) => Ok(r),
            Err(e) => Err(self.failed(self.classify(e)).await),
        }
    }

    /// The whole catalog: every page of each list the server's capabilities announce, each
    /// request within `deadline`.
    pub async fn list_catalog(&self, deadline: Duration) -> Result<Catalog, CallFailure> {
        let caps = &self.handshake.capabilities;
        let has = |k: &str| caps.get(k).is_some_and(|v| !v.is_null());
        let mut catalog = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if has("tools") {
            catalog.0 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListToolsRequest(ListToolsRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListToolsResult(l) => Some((l.tools, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
        }
        if has("resources") {
            catalog.1 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListResourcesRequest(ListResourcesRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListResourcesResult(l) => Some((l.resources, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
            catalog.2 = self
                .all_pages(
                    deadline,
                    |p| {
                        ClientRequest::ListResourceTemplatesRequest(
                            ListResourceTemplatesRequest::with_param(p),
                        )
                    },
                    |r| match r {
                        ServerResult::ListResourceTemplatesResult(l) => {
                            Some((l.resource_templates, l.next_cursor))
                        }
                        _ => None,
                    },
                )
                .await?;
        }
        if has("prompts") {
            catalog.3 = self
                .all_pages(
                    deadline,
                    |p| ClientRequest::ListPromptsRequest(ListPromptsRequest::with_param(p)),
                    |r| match r {
                        ServerResult::ListPromptsResult(l) => Some((l.prompts, l.next_cursor)),
                        _ => None,
                    },
                )
                .await?;
        }
        Ok(Catalog::new(catalog.0, catalog.1, catalog.2, catalog.3))
    }

    /// Follows `nextCursor` to the last page; `split` takes a page's items and cursor.
    async fn all_pages<T>(
        &self,
        deadline: Duration,
        build: impl Fn(PaginatedRequestParams) -> ClientRequest,
        split: impl Fn(ServerResult) -> Option<(Vec<T>, Option<String>)>,
    ) -> Result<Vec<T>, CallFailure> {
        // Guards against a server whose cursors never end.
        const MAX_PAGES: usize = 1000;
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.take());
            let reply = self.request(build(params), deadline).await?;
            let (page, next) = split(reply).ok_or_else(|| {
                CallFailure::Malformed("unexpected reply to a list request".into())
            })?;
            items.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(CallFailure::Malformed(format!(
            "more than {MAX_PAGES} pages of results"
        )))
    }

    async fn request(
        &self,
        request: ClientRequest,
        deadline: Duration,
    ) -> Result<ServerResult, CallFailure> {
        self.exchange(request, deadline, None).await
    }

    fn classify(&self, e: ServiceError) -> CallFailure {
        classify(e, self.http)
    }

    /// A transport failure on a stdio session is usually the child's death: say so, with
    /// its exit status and stderr tail, whichever noticed it first.
    async fn failed(&self, failure: CallFailure) -> CallFailure {
        let transport = matches!(
            failure,
            CallFailure::ConnectionLost(_)
                | CallFailure::NotSent {
                    category: ErrorCategory::TransportError,
                    ..
                }
        );
        match self.pid() {
            Some(pid) if transport => died(failure, pid, &self.child).await,
            _ => failure,
        }
    }

    /// Ends the session: closes it (a stdio child gets EOF, then signals), then kills the
    /// child's whole process group so no grandchild survives (dropping the connection does
    /// that too).
    pub async fn close(mut self) {
        let _ = self
            .service
            .close_with_timeout(Duration::from_secs(2))
            .await;
        self.kill();
    }
}

fn unexpected(method: &str, reply: &ServerResult) -> CallFailure {
    CallFailure::Malformed(format!("unexpected reply to {method}: {reply:?}"))
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
        ServiceError::TransportSend(err) if let Some(why) = super::tls::diagnose(&*err.error) => {
            not_sent(why, ErrorCategory::Tls)
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
