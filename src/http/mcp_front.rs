//! The door in front of `/mcp`: what att checks before rmcp's streamable-HTTP server sees a
//! request.
//!
//! - **Bounded sessions.** A session costs memory for as long as it lives, and any client can
//!   open one per `initialize`. A new session is refused when att holds
//!   `[http] mcp_max_sessions` (503), when the client's address holds
//!   `mcp_max_sessions_per_client`, or when the authenticated principal (an API key, a token's
//!   subject) holds `mcp_max_sessions_per_principal` from any address (429); every answer is a
//!   JSON-RPC error saying which limit and what to do, with `Retry-After`. An open att's
//!   callers (all `anonymous`) are bounded by address only. Idle sessions end after
//!   `[http] mcp_session_idle`.
//! - **JSON-RPC errors for malformed messages.** A body that is not JSON is a parse error
//!   (-32700), one that is not a JSON-RPC message an invalid request (-32600), and a known
//!   method with parameters of the wrong shape (a tool name that is a number, a log level
//!   that does not exist) invalid params (-32602) naming what is wrong — rather than rmcp's
//!   415 or "method not found".
//! - **Ending a session.** `DELETE /mcp` answers 200 when the session existed and 404 when it
//!   did not (rmcp answers 202 either way).
//! - **A session is its opener's.** A request naming a session must come from the principal
//!   that opened it, on the endpoint it was opened on (`/mcp` or `/mcp/{profile}`); another
//!   principal's request is refused (403) whatever att it reaches.
//! - **Calls answered at the door.** A `tools/call`, `resources/read` or `prompts/get` of a
//!   session held here, whose answer is all its client can be sent, is answered by the door
//!   itself with the session's own handler ([`super::mcp_endpoint::direct`]); the door also
//!   hands such a call the client's `notifications/cancelled`.
//! - **Sessions across a cluster** ([`super::mcp_shared`]): a new session is recorded in the
//!   shared database; a request for a session this att does not hold is checked against its
//!   record, then rmcp re-creates it here; the per-principal limit counts the principal's
//!   live sessions on every att (a count read at each `initialize`: atts opening sessions for
//!   one principal at the same instant may each pass it once); a client's answer to a
//!   question relayed from an upstream is forwarded to the other atts, one of which may be
//!   waiting for it ([`super::mcp_answers`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::{Value, json};

use super::mcp_endpoint::DirectSessions;
use super::mcp_shared::SharedSessions;

const SESSION_HEADER: &str = "mcp-session-id";

/// How many sessions att keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Sessions at most, across all clients.
    pub max: usize,
    /// Sessions at most per client address.
    pub per_client: usize,
    /// Sessions at most per authenticated principal.
    pub per_principal: usize,
}

/// The state of the door: rmcp's session manager (to count and look up sessions) and which
/// client address opened each session.
pub struct McpFront {
    sessions: Arc<LocalSessionManager>,
    /// The cluster's sessions, when att shares them with other atts.
    shared: Option<Arc<SharedSessions>>,
    limits: SessionLimits,
    owners: Mutex<Owners>,
    /// Sessions opened, ended and refused, for the metrics.
    metrics: Arc<crate::metrics::sessions::SessionMetrics>,
    /// The sessions whose calls the door answers itself.
    direct: Arc<DirectSessions>,
}

/// Who opened a session: the client's address and, when authenticated, the principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Owner {
    addr: IpAddr,
    principal: Option<Arc<str>>,
}

/// A session this att holds: who opened it, where, and whether here.
#[derive(Debug, Clone)]
struct Held {
    owner: Owner,
    endpoint: Arc<str>,
    /// Opened on this att (counted against its limits), not re-created from the record.
    here: bool,
    /// A GET stream of it was opened here: a `Last-Event-ID` may name this att's events.
    streamed: bool,
}

#[derive(Default)]
struct Owners {
    /// Session id → who opened it (pruned of ended sessions at each opening).
    by_session: HashMap<Arc<str>, Held>,
    /// `initialize` requests on their way, per owner (counted against the limits too).
    opening: HashMap<Owner, usize>,
}

impl Owners {
    /// Sessions held and being opened by owners `of` picks.
    fn count(&self, of: impl Fn(&Owner) -> bool) -> usize {
        self.by_session
            .values()
            .filter(|h| h.here && of(&h.owner))
            .count()
            + self
                .opening
                .iter()
                .filter(|(o, _)| of(o))
                .map(|(_, n)| n)
                .sum::<usize>()
    }
}

impl McpFront {
    /// The door for the sessions `sessions` keeps.
    pub fn new(
        sessions: Arc<LocalSessionManager>,
        shared: Option<Arc<SharedSessions>>,
        limits: SessionLimits,
        metrics: Arc<crate::metrics::sessions::SessionMetrics>,
        direct: Arc<DirectSessions>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sessions,
            shared,
            limits,
            owners: Mutex::new(Owners::default()),
            metrics,
            direct,
        })
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, Owners> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves room for one more session of `client`, or says which limit is reached.
    async fn reserve(&self, client: &Owner) -> Result<(), Refused> {
        // On a cluster the principal's sessions are counted on every att.
        let cluster_held = match (&self.shared, &client.principal) {
            (Some(shared), Some(principal)) => Some(
                shared
                    .count_live(principal)
                    .await
                    .map_err(|e| Refused::Store(e.0))?,
            ),
            _ => None,
        };
        // Looked up in rmcp's map in place: no copy of every session id per `initialize`.
        let live = self.sessions.sessions.read().await;
        let mut owners = self.owners();
        owners.by_session.retain(|id, _| live.contains_key(id));
        let live = {
            let n = live.len();
            drop(live);
            n
        };
        let opening: usize = owners.opening.values().sum();
        if live + opening >= self.limits.max {
            return Err(Refused::Full(self.limits.max));
        }
        if owners.count(|o| o.addr == client.addr) >= self.limits.per_client {
            return Err(Refused::ClientFull(self.limits.per_client));
        }
        let mine = |o: &Owner| o.principal.is_some() && o.principal == client.principal;
        let held = match cluster_held {
            Some(n) => {
                n + owners
                    .opening
                    .iter()
                    .filter(|(o, _)| mine(o))
                    .map(|(_, n)| n)
                    .sum::<usize>()
            }
            None => owners.count(mine),
        };
        if client.principal.is_some() && held >= self.limits.per_principal {
            return Err(Refused::PrincipalFull(self.limits.per_principal));
        }
        *owners.opening.entry(client.clone()).or_default() += 1;
        Ok(())
    }

    /// The reservation ended; `session` is the session it made on `endpoint`, if any.
    fn settle(&self, client: Owner, endpoint: &str, session: Option<&str>) {
        let mut owners = self.owners();
        if let Some(n) = owners.opening.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                owners.opening.remove(&client);
            }
        }
        if let Some(id) = session {
            let held = Held {
                owner: client,
                endpoint: Arc::from(endpoint),
                here: true,
                streamed: false,
            };
            owners.by_session.insert(Arc::from(id), held);
        }
    }

    /// Where session `id` lives, if `client` may use it on `endpoint`; a refusal otherwise.
    async fn locate(&self, id: &str, client: &Owner, endpoint: &str) -> Result<Found, Response> {
        let local = self
            .sessions
            .has_session(&Arc::<str>::from(id))
            .await
            .unwrap_or(false);
        if local {
            let held = self.owners().by_session.get(id).cloned();
            if let Some(held) = held {
                check_owner(&held.owner, held.endpoint.as_ref(), client, endpoint)
                    .map_err(|n| n.into_response(endpoint))?;
            }
            return Ok(Found::Here);
        }
        let Some(shared) = &self.shared else {
            return Ok(Found::Nowhere);
        };
        let record = match shared.record(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(Found::Nowhere),
            Err(e) => {
                return Err(jsonrpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Value::Null,
                    -32000,
                    format!(
                        "the session could not be looked up in the cluster's database ({e}): retry"
                    ),
                ));
            }
        };
        let owner = Owner {
            addr: client.addr,
            principal: record.principal.as_deref().map(Arc::from),
        };
        check_owner(&owner, &record.endpoint, client, endpoint)
            .map_err(|n| n.into_response(endpoint))?;
        let held = Held {
            owner,
            endpoint: Arc::from(record.endpoint.as_str()),
            here: false,
            streamed: false,
        };
        self.owners().by_session.insert(Arc::from(id), held);
        Ok(Found::Cluster)
    }
}

/// Where a session named by a request lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// This att holds it.
    Here,
    /// Another att opened it; rmcp re-creates it here from its record.
    Cluster,
    /// It ended or never existed.
    Nowhere,
}

/// Why a request may not use the session it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotYours {
    /// Another principal opened it.
    Principal,
    /// It was opened on another endpoint (`/mcp` vs `/mcp/{profile}`).
    Endpoint,
}

impl NotYours {
    /// The answer: 403 for another principal's session (whose, it does not say), 404 for a
    /// session of another endpoint (it does not exist here).
    fn into_response(self, endpoint: &str) -> Response {
        match self {
            Self::Principal => jsonrpc_error(
                StatusCode::FORBIDDEN,
                Value::Null,
                -32000,
                "this session belongs to another principal: open a session of your own (initialize)"
                    .into(),
            ),
            Self::Endpoint => jsonrpc_error(
                StatusCode::NOT_FOUND,
                Value::Null,
                -32001,
                format!("no such session on {endpoint}: it was opened on another endpoint"),
            ),
        }
    }
}

/// Refuses `client` a session `owner` opened on `opened_on`, unless it is the same principal
/// on the same endpoint.
fn check_owner(
    owner: &Owner,
    opened_on: &str,
    client: &Owner,
    endpoint: &str,
) -> Result<(), NotYours> {
    if owner.principal != client.principal {
        return Err(NotYours::Principal);
    }
    if opened_on != endpoint {
        return Err(NotYours::Endpoint);
    }
    Ok(())
}

/// Why a new session was not opened.
enum Refused {
    Full(usize),
    ClientFull(usize),
    PrincipalFull(usize),
    /// The cluster's count could not be read.
    Store(String),
}

impl Refused {
    fn metric(&self) -> crate::metrics::sessions::SessionRefusal {
        use crate::metrics::sessions::SessionRefusal as R;
        match self {
            Self::Full(_) => R::Sessions,
            Self::ClientFull(_) => R::PerClient,
            Self::PrincipalFull(_) => R::PerPrincipal,
            Self::Store(_) => R::Store,
        }
    }
}

/// A JSON-RPC error response outside any session (`id` null unless known).
fn jsonrpc_error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// The middleware: see the module header.
impl McpFront {
    /// Notes a GET stream of session `id` opened here; whether it is the first (then a
    /// `Last-Event-ID` it carries names another att's events, which rmcp here cannot replay).
    fn first_stream_here(&self, id: &str) -> bool {
        self.owners()
            .by_session
            .get_mut(id)
            .is_some_and(|held| !std::mem::replace(&mut held.streamed, true))
    }

    /// On a cluster, the client's `notifications/initialized` may reach another att than the
    /// one that answered its `initialize`: that att re-creates the session and starts it, but
    /// this one's session would never start (rmcp runs `on_initialized` only for the
    /// notification, and the client's GET stream may land here: it would hear nothing). So the
    /// door hands this session the notification itself; a second one (the client's, if it
    /// comes here) changes nothing.
    async fn started_here(&self, id: &str) {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        if let Ok(value) = HeaderValue::from_str(id) {
            parts.headers.insert(SESSION_HEADER, value);
        }
        let mut initialized = ClientJsonRpcMessage::notification(
            rmcp::model::ClientNotification::InitializedNotification(
                rmcp::model::InitializedNotification::default(),
            ),
        );
        initialized.insert_extension(parts);
        let id: rmcp::transport::streamable_http_server::session::SessionId = id.into();
        if let Err(e) = self.sessions.accept_message(&id, initialized).await {
            tracing::warn!(error = %e, "starting a new /mcp session shared with the cluster");
        }
    }
}

/// The header a client resumes an SSE stream with.
const LAST_EVENT_ID: &str = "last-event-id";

/// Whether `headers` resume the session's standing (GET) stream: a `Last-Event-ID` that is
/// an event index alone (a request's stream is `index/request`, and stays on its att).
fn resumes_the_standing_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.parse::<u64>().is_ok())
}

pub async fn front(State(front): State<Arc<McpFront>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let principal: Option<Arc<str>> = req
        .extensions()
        .get::<crate::auth::Principal>()
        .map(|p| Arc::from(p.name.as_str()));
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let endpoint = req.uri().path().to_owned();
    let client = Owner {
        addr: peer.map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip()),
        // An open att's callers are all `anonymous`: bounded by address alone.
        principal: principal.filter(|p| p.as_ref() != "anonymous"),
    };
    let found = match &session {
        Some(id) => match front.locate(id, &client, &endpoint).await {
            Ok(found) => Some(found),
            Err(refused) => return refused,
        },
        None => None,
    };
    if req.method() == Method::DELETE {
        return end_session(&front, session, found, req, next).await;
    }
    if req.method() == Method::GET
        && let (Some(id), Some(Found::Here | Found::Cluster), Some(shared)) =
            (&session, found, &front.shared)
        && front.first_stream_here(id)
        && resumes_the_standing_stream(req.headers())
    {
        // The client resumes a stream another att served (the balancer moved it): rmcp here
        // would replay nothing and say nothing. A fresh stream, and the client is told to
        // read again whatever may have changed meanwhile.
        req.headers_mut().remove(LAST_EVENT_ID);
        shared.resumed_here(id).await;
        return next.run(req).await;
    }
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The body limit layer has already bounded it; this reads what it let through.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                format!("the request body could not be read: {e}"),
            );
        }
    };
    let mut checked = match check_message(&bytes) {
        Ok(m) => m,
        Err(malformed) => return malformed.into_response(),
    };
    // An answer to a question relayed from an upstream: the att waiting for it may be another.
    if let (Some(shared), Some(id), Some(message)) = (&front.shared, &session, &checked.message) {
        shared.answers().forward(id, message, bytes.len()).await;
    }
    // A call of a session held here may be answered by the door itself (`mcp_endpoint::direct`).
    if let (Some(id), Some(Found::Here)) = (&session, found) {
        if let Some(cancelled) = &checked.cancelled {
            front.direct.cancel(id, cancelled);
        }
        if let Some((request_id, request)) = checked.call.take()
            && let Some(ready) = front.direct.ready(id, &parts, &request)
        {
            return ready
                .answer(request_id, request, parts, front.direct.patience)
                .await;
        }
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    if session.is_some() || !checked.is_initialize {
        return next.run(req).await;
    }
    if let Err(refused) = front.reserve(&client).await {
        front.metrics.refused(refused.metric());
        let (status, text) = match refused {
            Refused::Full(n) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "att holds the most MCP sessions it allows ({n}, [http] mcp_max_sessions): end idle sessions (DELETE /mcp) or retry later"
                ),
            ),
            Refused::ClientFull(n) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this client holds the most MCP sessions one client may ({n}, [http] mcp_max_sessions_per_client): end idle sessions (DELETE /mcp) first"
                ),
            ),
            Refused::PrincipalFull(n) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this principal holds the most MCP sessions one principal may ({n}, [http] mcp_max_sessions_per_principal): end idle sessions (DELETE /mcp) first"
                ),
            ),
            Refused::Store(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this principal's sessions could not be counted in the cluster's database ({e}): retry later"
                ),
            ),
        };
        let mut response = jsonrpc_error(status, checked.id.unwrap_or(Value::Null), -32000, text);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    }
    let params = match &checked.message {
        Some(ClientJsonRpcMessage::Request(r)) => match &r.request {
            rmcp::model::ClientRequest::InitializeRequest(i) => Some(i.params.clone()),
            _ => None,
        },
        _ => None,
    };
    let response = next.run(req).await;
    let opened = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok());
    let principal = client.principal.clone();
    front.settle(client, &endpoint, opened);
    // Every so many openings, finds the sessions that ended since the last look.
    if let Some(id) = opened
        && front.metrics.opened(id)
    {
        front.metrics.refresh().await;
    }
    if let (Some(shared), Some(id), Some(params)) = (&front.shared, opened, params)
        && let Err(e) = shared
            .open(id, principal.as_deref(), &endpoint, &params)
            .await
    {
        // The session serves here; another att would not find it (and it is closed at the
        // next change followed).
        tracing::warn!(error = %e.0, "recording a new /mcp session for the cluster");
    }
    if front.shared.is_some()
        && let Some(id) = opened
    {
        front.started_here(id).await;
    }
    response
}

async fn end_session(
    front: &McpFront,
    session: Option<String>,
    found: Option<Found>,
    req: Request,
    next: Next,
) -> Response {
    let Some(id) = session else {
        return next.run(req).await;
    };
    if let (Some(Found::Cluster), Some(shared)) = (found, &front.shared) {
        // Opened on another att: the record goes, and every copy with it.
        return match shared.end(&id).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(e) => jsonrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                Value::Null,
                -32000,
                format!("the session could not be ended in the cluster's database ({e}): retry"),
            ),
        };
    }
    if found != Some(Found::Here) {
        return jsonrpc_error(
            StatusCode::NOT_FOUND,
            Value::Null,
            -32001,
            "no such session: it ended or never existed".into(),
        );
    }
    let mut response = next.run(req).await;
    // The session is gone when the answer is sent; the SDK clients expect 200 or 204.
    if response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// A message att will not hand to rmcp, and the JSON-RPC error that says why.
#[derive(Debug)]
struct Malformed {
    /// The request's id, when it has a usable one.
    id: Value,
    /// -32700, -32600 or -32602.
    code: i64,
    message: String,
}

impl Malformed {
    /// A message that is not a request att can read is a bad HTTP request; a request with
    /// bad parameters gets its JSON-RPC error as its answer.
    fn into_response(self) -> Response {
        let status = if self.code == -32602 {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        jsonrpc_error(status, self.id, self.code, self.message)
    }
}

/// What the door reads of a POSTed message.
#[derive(Debug)]
struct Checked {
    /// The request's id, when it is a request.
    id: Option<Value>,
    /// Whether it is an `initialize` request.
    is_initialize: bool,
    /// The typed message, read only where the door needs more than its envelope: an answer
    /// (forwarded to the att that asked, in a cluster), `initialize` (its parameters are
    /// recorded) and the unusual shapes. A call is parsed once more by rmcp, not twice here.
    message: Option<ClientJsonRpcMessage>,
    /// A request of a method the door may answer itself, read into its type (with its id).
    call: Option<(rmcp::model::RequestId, rmcp::model::ClientRequest)>,
    /// The request a `notifications/cancelled` names.
    cancelled: Option<rmcp::model::RequestId>,
}

/// The top-level fields of a message, read without building the rest (`params` stays text).
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default, deserialize_with = "present")]
    jsonrpc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Value>,
    #[serde(default, borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

/// A field that is there, `null` included (an absent one is `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// Checks a POSTed message, or says what is malformed about it.
fn check_message(bytes: &[u8]) -> Result<Checked, Malformed> {
    let bad = |code: i64, message: String| {
        Err(Malformed {
            id: Value::Null,
            code,
            message,
        })
    };
    let envelope: Result<Envelope, _> = serde_json::from_slice(bytes);
    if let Err(e) = &envelope
        && (e.is_syntax() || e.is_eof())
    {
        return bad(-32700, format!("parse error: the body is not JSON: {e}"));
    }
    // Valid JSON from here. A struct also reads from an array: the first byte says which.
    let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !object {
        return bad(
            -32600,
            "invalid request: expected one JSON-RPC message (an object); batches are not supported"
                .into(),
        );
    }
    let envelope = match envelope {
        Ok(e) => e,
        Err(e) => return bad(-32600, format!("invalid request: {e}")),
    };
    if envelope.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return bad(-32600, "invalid request: `jsonrpc` must be \"2.0\"".into());
    }
    if let Some(id) = &envelope.id
        && !(id.is_string() || id.is_i64())
    {
        return bad(
            -32600,
            "invalid request: `id` must be a string or an integer".into(),
        );
    }
    let method = envelope.method.as_ref().and_then(Value::as_str);
    let params_object = envelope
        .params
        .is_none_or(|p| p.get().trim_start().starts_with('{'));
    let is_initialize = method == Some("initialize") && envelope.id.is_some();
    let (Some(method), true, false) = (method, params_object, is_initialize) else {
        // An answer, `initialize`, or an unusual shape: read whole, as rmcp will.
        let message = match serde_json::from_slice::<ClientJsonRpcMessage>(bytes) {
            Ok(m) => m,
            Err(e) => return bad(-32600, format!("invalid request: {e}")),
        };
        // rmcp takes a known method whose parameters do not fit as an unknown ("custom") one.
        if let (ClientJsonRpcMessage::Request(r), Some(method), Some(id)) =
            (&message, method, &envelope.id)
            && matches!(r.request, rmcp::model::ClientRequest::CustomRequest(_))
            && let Some(problem) = params_problem(method, envelope.params)
        {
            return Err(Malformed {
                id: id.clone(),
                code: -32602,
                message: format!("invalid params for `{method}`: {problem}"),
            });
        }
        return Ok(Checked {
            id: envelope.id,
            is_initialize,
            message: Some(message),
            call: None,
            cancelled: None,
        });
    };
    // A request's parameters are checked against its method's type here: rmcp would take a
    // known method whose parameters do not fit as an unknown ("custom") one.
    let mut call = None;
    if let Some(id) = &envelope.id {
        match read_params(method, envelope.params) {
            Err(problem) => {
                return Err(Malformed {
                    id: id.clone(),
                    code: -32602,
                    message: format!("invalid params for `{method}`: {problem}"),
                });
            }
            Ok(request) => call = request.zip(request_id(id)).map(|(r, id)| (id, r)),
        }
    }
    let cancelled = match (method, &envelope.id) {
        ("notifications/cancelled", None) => envelope
            .params
            .and_then(|p| serde_json::from_str::<Cancelled>(p.get()).ok())
            .map(|c| c.request_id),
        _ => None,
    };
    Ok(Checked {
        id: envelope.id,
        is_initialize,
        message: None,
        call,
        cancelled,
    })
}

/// The part of `notifications/cancelled` the door reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cancelled {
    request_id: rmcp::model::RequestId,
}

/// A request id the door checked (a string or an integer) as rmcp types it.
fn request_id(id: &Value) -> Option<rmcp::model::RequestId> {
    match id {
        Value::String(s) => Some(rmcp::model::NumberOrString::String(Arc::from(s.as_str()))),
        Value::Number(n) => n.as_i64().map(rmcp::model::NumberOrString::Number),
        _ => None,
    }
}

/// What is wrong with `params` for a method att serves, if it is one.
fn params_problem(method: &str, params: Option<&serde_json::value::RawValue>) -> Option<String> {
    read_params(method, params).err()
}

/// `params` read as `method`'s request, as rmcp types it: what is wrong with them, or the
/// request when the door may answer it itself (`tools/call`, `resources/read`,
/// `prompts/get`; others are checked only).
fn read_params(
    method: &str,
    params: Option<&serde_json::value::RawValue>,
) -> Result<Option<rmcp::model::ClientRequest>, String> {
    use rmcp::model as m;
    use rmcp::model::ClientRequest as R;
    fn read<T: serde::de::DeserializeOwned>(
        method: &'static str,
        params: Option<&serde_json::value::RawValue>,
    ) -> Result<T, String> {
        // The request as rmcp types it, from the method and the parameters' own text.
        let params = params.map_or("null", serde_json::value::RawValue::get);
        let request = format!(r#"{{"method":"{method}","params":{params}}}"#);
        serde_json::from_str::<T>(&request).map_err(|e| {
            // The position is in this text, not the caller's: left out.
            let text = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            text.strip_suffix(&at).map_or(text.clone(), str::to_owned)
        })
    }
    fn check<T: serde::de::DeserializeOwned>(
        method: &'static str,
        params: Option<&serde_json::value::RawValue>,
    ) -> Result<Option<R>, String> {
        read::<T>(method, params).map(|_| None)
    }
    #[allow(deprecated)] // logging and subscriptions: used by 2025-11-25 clients
    match method {
        "initialize" => check::<m::InitializeRequest>("initialize", params),
        "tools/call" => read("tools/call", params).map(|r| Some(R::CallToolRequest(r))),
        "tools/list" => check::<m::ListToolsRequest>("tools/list", params),
        "resources/read" => read("resources/read", params).map(|r| Some(R::ReadResourceRequest(r))),
        "resources/list" => check::<m::ListResourcesRequest>("resources/list", params),
        "resources/templates/list" => {
            check::<m::ListResourceTemplatesRequest>("resources/templates/list", params)
        }
        "resources/subscribe" => check::<m::SubscribeRequest>("resources/subscribe", params),
        "resources/unsubscribe" => check::<m::UnsubscribeRequest>("resources/unsubscribe", params),
        "prompts/get" => read("prompts/get", params).map(|r| Some(R::GetPromptRequest(r))),
        "prompts/list" => check::<m::ListPromptsRequest>("prompts/list", params),
        "completion/complete" => check::<m::CompleteRequest>("completion/complete", params),
        "logging/setLevel" => check::<m::SetLevelRequest>("logging/setLevel", params),
        _ => Ok(None),
    }
}

/// The idle time after which rmcp ends a session, as its session manager wants it.
pub fn session_manager(idle: Duration) -> Arc<LocalSessionManager> {
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(idle);
    Arc::new(manager)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(bytes: &str) -> Option<i64> {
        check_message(bytes.as_bytes()).err().map(|m| m.code)
    }

    #[test]
    fn a_session_serves_only_its_principal_on_its_endpoint() {
        let who = |p: Option<&str>| Owner {
            addr: IpAddr::from([127, 0, 0, 1]),
            principal: p.map(Arc::from),
        };
        use NotYours::{Endpoint, Principal};
        type Row<'a> = (
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<NotYours>,
        );
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // opener,      opened on,  caller,        endpoint,   refusal
            (Some("alice"), "/mcp",     Some("alice"), "/mcp",     None),
            (Some("alice"), "/mcp",     Some("bob"),   "/mcp",     Some(Principal)),
            (Some("alice"), "/mcp",     None,          "/mcp",     Some(Principal)),
            (None,          "/mcp",     Some("bob"),   "/mcp",     Some(Principal)),
            (None,          "/mcp",     None,          "/mcp",     None),
            (Some("alice"), "/mcp/ro",  Some("alice"), "/mcp",     Some(Endpoint)),
            (Some("alice"), "/mcp",     Some("alice"), "/mcp/ro",  Some(Endpoint)),
            (Some("alice"), "/mcp/ro",  Some("alice"), "/mcp/ro",  None),
            (Some("bob"),   "/mcp/ro",  Some("alice"), "/mcp",     Some(Principal)),
        ];
        for (opener, opened_on, caller, endpoint, want) in rows {
            let got = check_owner(&who(*opener), opened_on, &who(*caller), endpoint).err();
            assert_eq!(
                got, *want,
                "{opener:?} on {opened_on}, {caller:?} on {endpoint}"
            );
        }
        assert_eq!(
            NotYours::Principal.into_response("/mcp").status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            NotYours::Endpoint.into_response("/mcp").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn malformed_messages_get_the_json_rpc_error_that_fits() {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        #[rustfmt::skip]
        let rows: &[(&str, Option<i64>)] = &[
            (init, None),
            (r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, None),
            (r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}"#, None),
            (r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, None),
            (r#"{"jsonrpc":"2.0","id":9,"method":"vendor/thing","params":{"a":[1]}}"#, None),
            (r#"{"jsonrpc":"2.0","id":9,"method":"vendor/thing","params":[1]}"#, Some(-32600)),
            ("not json", Some(-32700)),
            (r#"{"jsonrpc":"2.0","id":1,"method":"#, Some(-32700)),
            ("[]", Some(-32600)),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, Some(-32600)),
            (r#"{"id":1,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":"x"}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"loudest"}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"p","arguments":[1]}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"tools/call"}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":null}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":[1]}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#, Some(-32602)),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","method":7}"#, Some(-32600)),
            (r#"5"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":1} trailing"#, Some(-32700)),
            (r#"{"jsonrpc":"2.0","id":1}"#, Some(-32600)),
            (r#"{"jsonrpc":"2.0","id":4,"result":{}}"#, None),
            (r#"{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}"#, None),
            (r#" {"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo"}}"#, None),
        ];
        for (body, want) in rows {
            assert_eq!(code(body), *want, "{body}");
        }
        // What the door reads: the id, whether it opens a session, and the typed message only
        // where it is needed (an answer, `initialize`).
        let call = check_message(rows[2].0.as_bytes()).expect("a call");
        assert_eq!(
            (call.id, call.is_initialize, call.message.is_none()),
            (Some(json!(2)), false, true)
        );
        let opening = check_message(init.as_bytes()).expect("initialize");
        assert!(opening.is_initialize && opening.message.is_some());
        let answer = check_message(br#"{"jsonrpc":"2.0","id":4,"result":{}}"#).expect("answer");
        assert!(answer.message.is_some() && !answer.is_initialize);
        // A parameters error names the caller's mistake, not a position in att's own text.
        let wrong =
            check_message(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#)
                .expect_err("a bad name");
        assert!(!wrong.message.contains("line 1"), "{}", wrong.message);
        assert_eq!(wrong.id, json!(3));
    }
}
