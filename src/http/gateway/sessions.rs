//! Checks, handshakes and sessions, on one server or on every server: each answers with
//! the state the server's actor reports afterwards, so that a caller sees its own effect.

use att_gateway::upstream::UpstreamSpec;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};

use super::{ServerList, ServerRecord, not_found, record};
use crate::registry::Source;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_one))
        .routes(routes!(check_all))
        .routes(routes!(initialize_one))
        .routes(routes!(initialize_all))
        .routes(routes!(connect_one))
        .routes(routes!(connect_all))
        .routes(routes!(invalidate_session))
        .routes(routes!(refresh_session))
}

fn known(state: &AppState, name: &str) -> Result<(UpstreamSpec, Source), ApiError> {
    state.gateway.get(name).ok_or_else(not_found)
}

/// What a check/initialize/connect does to one server.
#[derive(Clone, Copy)]
enum Action {
    Check,
    Initialize,
    Connect,
    Refresh,
}

async fn act(state: &AppState, name: &str, action: Action) -> Result<ServerRecord, ApiError> {
    let (spec, source) = known(state, name)?;
    let handle = state.gateway.handle(name);
    let budget = crate::gateway::Gateway::READY_BUDGET;
    match action {
        Action::Check => {
            let _ = handle.check_now(budget).await;
        }
        Action::Initialize => {
            let _ = handle.ensure_ready(None, false, budget).await;
        }
        Action::Refresh => {
            let _ = handle.ensure_ready(None, true, budget).await;
        }
        Action::Connect => {
            let checked = handle.check_now(budget).await;
            if checked.is_ok_and(|s| s.health.status != att_gateway::upstream::Status::Unreachable)
            {
                let _ = handle.ensure_ready(None, false, budget).await;
            }
        }
    }
    Ok(record(state, spec, source).await)
}

/// How many servers the "every server" routes act on at once: a slow server costs its own
/// time, not everyone's in turn.
const ALL_AT_ONCE: usize = 32;

async fn act_all(state: &AppState, action: Action) -> Result<Json<ServerList>, ApiError> {
    use futures_util::StreamExt;
    let names: Vec<String> = state
        .gateway
        .list()
        .into_iter()
        .map(|(spec, _)| spec.name)
        .collect();
    let servers = futures_util::stream::iter(names)
        // A server deleted meanwhile is left out of the answer.
        .map(|name| async move { act(state, &name, action).await.ok() })
        .buffered(ALL_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await;
    Ok(Json(ServerList { servers }))
}

/// Checks one server now (ping, after a handshake if needed); nothing inside a closed window.
#[utoipa::path(post, path = "/api/v1/mcp/servers/{name}/health-check", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server after the check", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
pub(in crate::http) async fn check_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    Ok(Json(act(&state, &name, Action::Check).await?))
}

/// Checks every server now, by name.
#[utoipa::path(post, path = "/api/v1/mcp/servers/health-check", tag = "mcp",
    responses((status = 200, description = "every server after its check", body = ServerList)))]
async fn check_all(State(state): State<AppState>) -> Result<Json<ServerList>, ApiError> {
    act_all(&state, Action::Check).await
}

/// Handshakes with one server if it has no fresh session.
#[utoipa::path(post, path = "/api/v1/mcp/servers/{name}/initialize", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server afterwards", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
async fn initialize_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    Ok(Json(act(&state, &name, Action::Initialize).await?))
}

/// Handshakes with every server that needs it.
#[utoipa::path(post, path = "/api/v1/mcp/servers/initialize", tag = "mcp",
    responses((status = 200, description = "every server afterwards", body = ServerList)))]
async fn initialize_all(State(state): State<AppState>) -> Result<Json<ServerList>, ApiError> {
    act_all(&state, Action::Initialize).await
}

/// Checks one server, then handshakes unless it is unreachable.
#[utoipa::path(post, path = "/api/v1/mcp/servers/{name}/connect", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server afterwards", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
async fn connect_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    Ok(Json(act(&state, &name, Action::Connect).await?))
}

/// Connects every server.
#[utoipa::path(post, path = "/api/v1/mcp/servers/connect", tag = "mcp",
    responses((status = 200, description = "every server afterwards", body = ServerList)))]
async fn connect_all(State(state): State<AppState>) -> Result<Json<ServerList>, ApiError> {
    act_all(&state, Action::Connect).await
}

/// Drops one server's session; the next use handshakes again.
#[utoipa::path(post, path = "/api/v1/mcp/servers/{name}/session/invalidate", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server afterwards", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
pub(in crate::http) async fn invalidate_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    let (spec, source) = known(&state, &name)?;
    let _ = state.gateway.handle(&name).invalidate();
    Ok(Json(record(&state, spec, source).await))
}

/// Drops one server's session and handshakes again.
#[utoipa::path(post, path = "/api/v1/mcp/servers/{name}/session/refresh", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server afterwards", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
async fn refresh_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    Ok(Json(act(&state, &name, Action::Refresh).await?))
}
