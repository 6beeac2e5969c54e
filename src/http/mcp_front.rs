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
    limits: SessionLimits,
    owners: Mutex<Owners>,
}

/// Who opened a session: the client's address and, when authenticated, the principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Owner {
    addr: IpAddr,
    principal: Option<Arc<str>>,
}

#[derive(Default)]
struct Owners {
    /// Session id → who opened it (pruned of ended sessions at each opening).
    by_session: HashMap<Arc<str>, Owner>,
    /// `initialize` requests on their way, per owner (counted against the limits too).
    opening: HashMap<Owner, usize>,
}

impl Owners {
    /// Sessions held and being opened by owners `of` picks.
    fn count(&self, of: impl Fn(&Owner) -> bool) -> usize {
        self.by_session.values().filter(|o| of(o)).count()
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
    pub fn new(sessions: Arc<LocalSessionManager>, limits: SessionLimits) -> Arc<Self> {
        Arc::new(Self {
            sessions,
            limits,
            owners: Mutex::new(Owners::default()),
        })
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, Owners> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves room for one more session of `client`, or says which limit is reached.
    async fn reserve(&self, client: &Owner) -> Result<(), Refused> {
        let live: std::collections::HashSet<Arc<str>> = self
            .sessions
            .sessions
            .read()
            .await
            .keys()
            .map(|id| Arc::from(id.as_ref()))
            .collect();
        let mut owners = self.owners();
        owners.by_session.retain(|id, _| live.contains(id));
        let opening: usize = owners.opening.values().sum();
        if live.len() + opening >= self.limits.max {
            return Err(Refused::Full(self.limits.max));
        }
        if owners.count(|o| o.addr == client.addr) >= self.limits.per_client {
            return Err(Refused::ClientFull(self.limits.per_client));
        }
        if let Some(principal) = &client.principal
            && owners.count(|o| o.principal.as_ref() == Some(principal))
                >= self.limits.per_principal
        {
            return Err(Refused::PrincipalFull(self.limits.per_principal));
        }
        *owners.opening.entry(client.clone()).or_default() += 1;
        Ok(())
    }

    /// The reservation ended; `session` is the session it made, if any.
    fn settle(&self, client: Owner, session: Option<&str>) {
        let mut owners = self.owners();
        if let Some(n) = owners.opening.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                owners.opening.remove(&client);
            }
        }
        if let Some(id) = session {
            owners.by_session.insert(Arc::from(id), client);
        }
    }
}

/// Why a new session was not opened.
enum Refused {
    Full(usize),
    ClientFull(usize),
    PrincipalFull(usize),
}

/// A JSON-RPC error response outside any session (`id` null unless known).
fn jsonrpc_error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// The middleware: see the module header.
pub async fn front(State(front): State<Arc<McpFront>>, req: Request, next: Next) -> Response {
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
    if req.method() == Method::DELETE {
        return end_session(&front, session, req, next).await;
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
    let message = match check_message(&bytes) {
        Ok(m) => m,
        Err(malformed) => return malformed.into_response(),
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let is_initialize = matches!(
        &message,
        ClientJsonRpcMessage::Request(r)
            if matches!(r.request, rmcp::model::ClientRequest::InitializeRequest(_))
    );
    if session.is_some() || !is_initialize {
        return next.run(req).await;
    }
    let client = Owner {
        addr: peer.map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip()),
        // An open att's callers are all `anonymous`: bounded by address alone.
        principal: principal.filter(|p| p.as_ref() != "anonymous"),
    };
    if let Err(refused) = front.reserve(&client).await {
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
        };
        let id = match &message {
            ClientJsonRpcMessage::Request(r) => serde_json::to_value(&r.id).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let mut response = jsonrpc_error(status, id, -32000, text);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    }
    let response = next.run(req).await;
    let opened = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok());
    front.settle(client, opened);
    response
}

async fn end_session(
    front: &McpFront,
    session: Option<String>,
    req: Request,
    next: Next,
) -> Response {
    let Some(id) = session else {
        return next.run(req).await;
    };
    let known = front
        .sessions
        .has_session(&Arc::<str>::from(id.as_str()))
        .await
        .unwrap_or(false);
    if !known {
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

/// Parses a POSTed message, or says what is malformed about it.
fn check_message(bytes: &[u8]) -> Result<ClientJsonRpcMessage, Malformed> {
    let bad = |code: i64, message: String| {
        Err(Malformed {
            id: Value::Null,
            code,
            message,
        })
    };
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return bad(-32700, format!("parse error: the body is not JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return bad(
            -32600,
            "invalid request: expected one JSON-RPC message (an object); batches are not supported"
                .into(),
        );
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return bad(-32600, "invalid request: `jsonrpc` must be \"2.0\"".into());
    }
    let id = object.get("id").cloned();
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return bad(
            -32600,
            "invalid request: `id` must be a string or an integer".into(),
        );
    }
    let method = object
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // From the parsed value, not a copy of it (one allocation-heavy clone per call less).
    let message = match <ClientJsonRpcMessage as serde::Deserialize>::deserialize(&value) {
        Ok(m) => m,
        Err(e) => return bad(-32600, format!("invalid request: {e}")),
    };
    // rmcp takes a known method whose parameters do not fit as an unknown ("custom") one.
    if let (ClientJsonRpcMessage::Request(r), Some(method), Some(id)) = (&message, &method, id)
        && matches!(r.request, rmcp::model::ClientRequest::CustomRequest(_))
        && let Some(problem) = params_problem(method, object.get("params"))
    {
        return Err(Malformed {
            id,
            code: -32602,
            message: format!("invalid params for `{method}`: {problem}"),
        });
    }
    Ok(message)
}

/// What is wrong with `params` for a method att serves, if it is one.
fn params_problem(method: &str, params: Option<&Value>) -> Option<String> {
    use rmcp::model as m;
    fn check<T: serde::de::DeserializeOwned>(
        method: &str,
        params: Option<&Value>,
    ) -> Option<String> {
        let request = json!({"method": method, "params": params.cloned().unwrap_or(Value::Null)});
        serde_json::from_value::<T>(request)
            .err()
            .map(|e| e.to_string())
    }
    #[allow(deprecated)] // logging and subscriptions: used by 2025-11-25 clients
    let problem = match method {
        "initialize" => check::<m::InitializeRequest>(method, params),
        "tools/call" => check::<m::CallToolRequest>(method, params),
        "tools/list" => check::<m::ListToolsRequest>(method, params),
        "resources/read" => check::<m::ReadResourceRequest>(method, params),
        "resources/list" => check::<m::ListResourcesRequest>(method, params),
        "resources/templates/list" => check::<m::ListResourceTemplatesRequest>(method, params),
        "resources/subscribe" => check::<m::SubscribeRequest>(method, params),
        "resources/unsubscribe" => check::<m::UnsubscribeRequest>(method, params),
        "prompts/get" => check::<m::GetPromptRequest>(method, params),
        "prompts/list" => check::<m::ListPromptsRequest>(method, params),
        "completion/complete" => check::<m::CompleteRequest>(method, params),
        "logging/setLevel" => check::<m::SetLevelRequest>(method, params),
        _ => None,
    };
    problem
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
        ];
        for (body, want) in rows {
            assert_eq!(code(body), *want, "{body}");
        }
    }
}
