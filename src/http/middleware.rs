//! Cross-cutting request handling: request ids and spans, authorization, metrics, and the
//! rewrite of framework-made error responses into the one error shape.
//!
//! The layers that need the application state share one `Arc<AppState>`: axum clones a
//! layer's state for every request, and `AppState` is a dozen reference counts.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::error::ApiError;

/// The id of one HTTP request: the caller's `X-Request-Id` when sane, else a new
/// time-ordered UUID ([`att_runtime::events::correlation_id`]).
/// It is the correlation id of everything the request causes.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

const REQUEST_ID: &str = "x-request-id";

/// The span of one HTTP request, on the request for work that runs elsewhere: rmcp handles
/// a `/mcp` request in its session's task, outside the request's future, and nests its work
/// under this span explicitly.
#[derive(Clone, Debug)]
pub struct RequestSpan(pub tracing::Span);

/// Assigns the request id, runs the request in a span, and echoes the id back.
///
/// The span (`http`) carries the method, the route template and the status, and the
/// caller's `traceparent`/`tracestate` headers as they came: the telemetry layer continues
/// a valid caller trace and ignores anything else (see `telemetry::otlp_spans`).
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id: Arc<str> = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(att_runtime::events::correlation_id()));
    req.extensions_mut().insert(RequestId(id.clone()));
    // Whatever reads the header downstream (audit `caller`s) sees the id att uses, never a
    // caller's raw value.
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    // Owned, and the borrow ends here: a `&Request` may not live across the await.
    let (traceparent, tracestate) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        (header("traceparent"), header("tracestate"))
    };
    // Known once routing has answered (`note_route`): recorded then.
    let span = tracing::info_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        route = tracing::field::Empty,
        request_id = %id,
        status = tracing::field::Empty,
        traceparent = (!traceparent.is_empty()).then_some(traceparent.as_str()),
        tracestate = (!tracestate.is_empty()).then_some(tracestate.as_str()),
    );
    req.extensions_mut().insert(RequestSpan(span.clone()));
    let mut response = next.run(req).instrument(span.clone()).await;
    span.record("route", route_of(&response));
    span.record("status", response.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// Refuses requests the browser policy does not allow (DNS rebinding, cross-site pages), on
/// every route: see [`super::origin`].
pub async fn browser_policy(
    State(policy): State<Arc<super::origin::BrowserPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    match policy.check(req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::warn!(%refusal, path = req.uri().path(), "refused a browser request");
            ApiError::Status(axum::http::StatusCode::FORBIDDEN, refusal.to_string()).into_response()
        }
    }
}

/// Who is calling ([`crate::auth::Auth`]) and whether they may: the route's role
/// ([`crate::auth::route_role`]) against the principal's. A missing or refused credential is
/// 401 saying why, a role too low is 403 naming the role needed; both are audit entries
/// ([`crate::auth::audit`]), as is every state-changing request let through, with its
/// status. The principal rides on the request for the handlers (`/mcp` checks and audits
/// each call by what it does).
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    use crate::auth::audit::{Entry, Outcome, Surface, changes_state};
    let needs = crate::auth::route_role(req.method(), req.uri().path());
    let crate::auth::Needs::Role(needs) = needs else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    let mcp = path == "/mcp" || path.starts_with("/mcp/");
    let surface = Surface::of_request(&path, req.headers());
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let entry = |principal, outcome, status: axum::http::StatusCode| Entry {
        principal,
        surface,
        action: method.as_str(),
        target: &path,
        outcome,
        status: Some(status.as_u16()),
        request_id: request_id.as_deref(),
    };
    // Owned: a borrow of the request may not live across the await (a body is not `Sync`).
    let mut presented: Option<String> = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_owned);
    // The dashboard's pages may present a session (cookie) instead of a bearer header.
    let dashboard = super::dashboard::is_dashboard_path(&path);
    let mut set_cookie = None;
    if dashboard {
        // A session opened on another att of the cluster is read from the store first.
        let cookie = super::dashboard::session::cookie_id(req.headers()).map(str::to_owned);
        if let Some(id) = cookie {
            state.sessions.read_through(&id).await;
        }
        match super::dashboard::gate(&state, &req, presented.take()) {
            super::dashboard::Gate::Let {
                credential,
                session,
                set_cookie: cookie,
            } => {
                presented = credential;
                set_cookie = cookie;
                if let Some(s) = session {
                    req.extensions_mut().insert(s);
                }
            }
            super::dashboard::Gate::Answer(response) => return response,
        }
    }
    let principal = match state.auth.authenticate(presented.as_deref()).await {
        Ok(p) => p,
        Err(refused) => {
            let why = refused.to_string();
            let status = axum::http::StatusCode::UNAUTHORIZED;
            entry(None, Outcome::Refused(why.clone()), status).record(&state.events);
            if dashboard {
                return super::dashboard::to_login(&req);
            }
            let mut response = ApiError::Unauthorized(why).into_response();
            let presented = presented.as_ref().map(|_| &refused);
            if let Some(challenge) = mcp_challenge(&state, &req, presented) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
            }
            return response;
        }
    };
    if !principal.may(needs) {
        let why = format!(
            "{method} {path} needs the role `{needs}`; `{}` is {}",
            principal.name, principal.role
        );
        let status = axum::http::StatusCode::FORBIDDEN;
        entry(Some(&principal), Outcome::Refused(why.clone()), status).record(&state.events);
        return ApiError::Status(status, why).into_response();
    }
    req.extensions_mut().insert(principal.clone());
    let mut response = next.run(req).await;
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    if !mcp && changes_state(&method) {
        let status = response.status();
        entry(Some(&principal), Outcome::of_status(status), status).record(&state.events);
    }
    if principal.key || principal.expires_at.is_some() {
        end_streams_on(&state.auth, &principal, response)
    } else {
        response
    }
}

/// With `[auth.oidc]`, a refused `/mcp` request's `WWW-Authenticate` names att's
/// protected-resource metadata (and why a presented credential was refused): that is how an
/// MCP client finds where to get a token. `/api` keeps the plain `Bearer` challenge.
fn mcp_challenge(
    state: &AppState,
    req: &Request,
    refused: Option<&crate::auth::Refused>,
) -> Option<HeaderValue> {
    let path = req.uri().path();
    if path != "/mcp" && !path.starts_with("/mcp/") {
        return None;
    }
    let oidc = state.auth.oidc()?;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let why = refused.map(ToString::to_string);
    HeaderValue::from_str(&oidc.resource.challenge(host, why.as_deref())).ok()
}

/// Per-principal limits ([`crate::limits`]) on every `/api/v1` request but health: the
/// request is refused with 429 and `Retry-After`, naming the limit, when its principal is
/// past its rate or its calls in flight. An answer counts as in flight until its handler
/// returns (an event stream, once open, holds no place). `/mcp` counts its calls itself, by
/// method ([`super::mcp_endpoint`]).
pub async fn limit(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") || path == "/api/v1/health" {
        return next.run(req).await;
    }
    let Some(principal) = req.extensions().get::<crate::auth::Principal>() else {
        return next.run(req).await;
    };
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match state.limits.admit(principal, client) {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(refused) => ApiError::from(refused).into_response(),
    }
}

/// An event stream (`text/event-stream`: `/api/v1/events/stream`, run events, `/mcp`'s
/// streams) opened with an API key ends when the key is revoked, and one opened with a
/// credential that expires (a key with an expiry, an access token) ends when it expires: it
/// keeps nothing open. Other answers are finished before that could matter and pass as they
/// are.
fn end_streams_on(
    auth: &crate::auth::Auth,
    principal: &crate::auth::Principal,
    response: Response,
) -> Response {
    use futures_util::StreamExt;
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streaming {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().take_until(auth.ended(principal));
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// The credentials of a `Bearer` authorization (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Reads a request's whole body (at most `limit` bytes: 413 past it) before the handler
/// runs. A handler that does not want the body (an unknown server, a route that takes none)
/// then still leaves the connection clean for the next request; hyper would otherwise close
/// a kept-alive connection whose body it could not drain, and a client reusing it would see
/// its next request fail.
pub async fn read_body(State(limit): State<usize>, req: Request, next: Next) -> Response {
    // The rest of an oversize body is not read: the connection cannot be reused, and the
    // client is told so.
    let too_large = || {
        let mut r = ApiError::Status(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes ([http] body_limit)"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                too_large()
            } else {
                ApiError::Status(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {e}"),
                )
                .into_response()
            }
        }
    }
}

/// Counts each request by method, route template and status.
pub async fn record_metrics(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let t0 = Instant::now();
    let method = crate::metrics::method_label(req.method());
    let response = next.run(req).await;
    state.metrics.observe_request(
        method,
        route_of(&response),
        response.status().as_u16(),
        t0.elapsed(),
    );
    response
}

/// Inside routing, around every route: puts the route that answered on the response, for
/// the layers that wrap the router from outside ([`request_context`], [`record_metrics`]),
/// which run before routing and so never see the request's [`MatchedPath`].
pub async fn note_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// The route that answered `response` (its pattern, `/api/v1/events/{id}`), or `unmatched`.
fn route_of(response: &Response) -> &str {
    response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// Rewrites error responses that are not JSON (made by axum or tower layers: 405, 408, 413 …)
/// into the error shape, keeping their status and headers such as `Allow`.
pub async fn uniform_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON is the error shape already; HTML is a dashboard page saying what went wrong.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut rewritten = ApiError::Status(status, text).into_response();
    // What the response carried for the layers outside (the route that answered).
    *rewritten.extensions_mut() = parts.extensions;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}
