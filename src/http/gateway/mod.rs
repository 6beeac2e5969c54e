//! `/api/v1/mcp`: the upstream registry and routed invocation over HTTP (GATEWAY.md).
//!
//! Registrations are shown redacted (header and environment values as `•••`): the store
//! keeps them as posted, nothing att answers or logs repeats them. Listings read the state
//! the upstreams published (one snapshot, whatever their number); an action on one upstream
//! answers with the state its actor reports afterwards.
//!
//! Here: the registry (list, register, read, remove). Beside it: routed calls ([`invoke`]),
//! checks, handshakes and sessions of one or every server ([`sessions`]), the federated
//! catalog ([`catalog`]), and the connection and invocation events ([`events`]).

mod catalog;
mod events;
pub(crate) mod invoke;
mod sessions;

use att_gateway::upstream::UpstreamSpec;
use att_gateway::upstream::actor::UpstreamStatus;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use catalog::{CatalogEntry, CatalogList};
pub(in crate::http) use catalog::{list_prompts, list_resources, list_tools};
pub(in crate::http) use events::invocation_events;
pub use events::{ConnectionEventParams, GatewayEvents, InvocationEventParams};
pub use invoke::{InvokePrompt, InvokeResource, InvokeTool, Invoked};
pub(in crate::http) use invoke::{invoke_prompt, invoke_resource, invoke_tool};
pub(in crate::http) use sessions::{check_one, invalidate_session};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, refuse_from_env};
use crate::registry::Source;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, add_server))
        .routes(routes!(get_server, delete_server))
        .merge(invoke::routes())
        .merge(sessions::routes())
        .merge(catalog::routes())
        .merge(events::routes())
}

/// A registered server: its registration and its live state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerRecord {
    /// The registration (as posted, header and environment values redacted), with defaults
    /// filled in.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub spec: UpstreamSpec,
    /// `config` or `api`.
    #[schema(value_type = String)]
    pub source: Source,
    /// Health, handshake and catalog summary; null while its actor restarts.
    #[schema(value_type = Object)]
    pub state: Option<UpstreamStatus>,
}

/// Every registered server.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerList {
    /// By name.
    pub servers: Vec<ServerRecord>,
}

impl ServerRecord {
    /// The record of `spec` (shown redacted) with `state`.
    fn new(spec: &UpstreamSpec, source: Source, state: Option<UpstreamStatus>) -> Self {
        Self {
            spec: spec.redacted(),
            source,
            state,
        }
    }
}

/// The record of one upstream with the state its actor reports now (after an action).
async fn record(state: &AppState, spec: UpstreamSpec, source: Source) -> ServerRecord {
    let live = state.gateway.status(&spec.name).await;
    ServerRecord::new(&spec, source, live)
}

/// Every registered upstream with its published live state.
#[utoipa::path(get, path = "/api/v1/mcp/servers", tag = "mcp",
    responses((status = 200, description = "registered servers", body = ServerList)))]
pub(in crate::http) async fn list_servers(State(state): State<AppState>) -> Json<ServerList> {
    let mut published = state.gateway.published();
    let servers = state
        .gateway
        .list()
        .into_iter()
        .map(|(spec, source)| {
            let live = published.remove(&spec.name);
            ServerRecord::new(&spec, source, live)
        })
        .collect();
    Json(ServerList { servers })
}

/// Registers (or replaces) an upstream; it is stored and survives restarts.
#[utoipa::path(post, path = "/api/v1/mcp/servers", tag = "mcp",
    request_body(content = Object, description = "`{name, url, headers?}` or `{name, command, args?, env?, cwd?}` plus options"),
    responses((status = 201, description = "registered", body = ServerRecord),
              (status = 409, description = "`[gateway] max_upstreams` upstreams are registered", body = ErrorBody),
              (status = 422, description = "bad registration, naming the field", body = ErrorBody)))]
pub(in crate::http) async fn add_server(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<ServerRecord>), ApiError> {
    refuse_from_env(&body)?;
    let spec: UpstreamSpec = serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        match text.split_once(": ") {
            Some((field, message)) if !field.contains(' ') => ApiError::invalid(field, message),
            _ => ApiError::Invalid {
                field: None,
                message: text,
            },
        }
    })?;
    // The files of a `tls` table are read now: a wrong path is the caller's mistake.
    att_gateway::upstream::tls::check(&spec).map_err(|e| ApiError::invalid(e.field, e.message))?;
    state.gateway.register(spec.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(record(&state, spec, Source::Api).await),
    ))
}

fn not_found() -> ApiError {
    ApiError::NotFound("server not found".into())
}

/// One upstream with its live state.
#[utoipa::path(get, path = "/api/v1/mcp/servers/{name}", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 200, description = "the server", body = ServerRecord),
              (status = 404, description = "server not found", body = ErrorBody)))]
async fn get_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServerRecord>, ApiError> {
    let (spec, source) = state.gateway.get(&name).ok_or_else(not_found)?;
    let live = state.gateway.published().remove(&name);
    Ok(Json(ServerRecord::new(&spec, source, live)))
}

/// Removes an upstream: its actor stops (session closed, child reaped) and it is forgotten.
#[utoipa::path(delete, path = "/api/v1/mcp/servers/{name}", tag = "mcp",
    params(("name" = String, Path, description = "server name")),
    responses((status = 204, description = "removed"),
              (status = 404, description = "server not found", body = ErrorBody)))]
pub(in crate::http) async fn delete_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.gateway.remove(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
