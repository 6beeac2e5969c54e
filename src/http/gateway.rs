//! `/api/v1/mcp`: the upstream registry and routed invocation over HTTP (GATEWAY.md).
//!
//! Registrations are shown redacted (header and environment values as `•••`): the store
//! keeps them as posted, nothing att answers or logs repeats them. Listings read the state
//! the upstreams published (one snapshot, whatever their number); an action on one upstream
//! answers with the state its actor reports afterwards.

use att_gateway::invoke::{Attempt, Outcome, Request};
use att_gateway::upstream::UpstreamSpec;
use att_gateway::upstream::actor::UpstreamStatus;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::middleware::RequestId;
use crate::gateway::{GatewayError, Source};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, add_server))
        .routes(routes!(get_server, delete_server))
        .routes(routes!(invoke_tool))
        .routes(routes!(invoke_resource))
        .routes(routes!(invoke_prompt))
        .routes(routes!(check_one))
        .routes(routes!(check_all))
        .routes(routes!(initialize_one))
        .routes(routes!(initialize_all))
        .routes(routes!(connect_one))
        .routes(routes!(connect_all))
        .routes(routes!(invalidate_session))
        .routes(routes!(refresh_session))
        .routes(routes!(list_tools))
        .routes(routes!(list_resources))
        .routes(routes!(list_prompts))
        .routes(routes!(connection_events))
        .routes(routes!(invocation_events))
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Full { limit } => ApiError::Conflict(json!({
                "message": e.to_string(), "limit": limit, "key": "gateway.max_upstreams",
            })),
            other => ApiError::Internal(other.to_string()),
        }
    }
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
async fn list_servers(State(state): State<AppState>) -> Json<ServerList> {
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
async fn add_server(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<ServerRecord>), ApiError> {
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
async fn delete_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.gateway.remove(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// `POST /invoke/tool`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeTool {
    /// The tool.
    pub tool_name: String,
    /// Its arguments (an object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Option<serde_json::Map<String, Value>>,
    /// Servers to try first, in this order (others remain fallbacks).
    #[serde(default)]
    pub preferred_servers: Vec<String>,
}

/// `POST /invoke/resource`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeResource {
    /// The resource URI.
    pub uri: String,
    /// Servers to try first.
    #[serde(default)]
    pub preferred_servers: Vec<String>,
}

/// `POST /invoke/prompt`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokePrompt {
    /// The prompt.
    pub name: String,
    /// Its arguments.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Option<serde_json::Map<String, Value>>,
    /// Servers to try first.
    #[serde(default)]
    pub preferred_servers: Vec<String>,
}

/// A successful invocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invoked {
    /// The server that answered.
    pub server: String,
    /// The MCP method.
    pub method: String,
    /// This request's id (the correlation id of its events).
    pub request_id: String,
    /// The upstream's result, unchanged.
    #[schema(value_type = Object)]
    pub result: Value,
    /// Every step, in order.
    pub attempts: Vec<Attempt>,
}

fn non_empty(field: &str, v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        Err(ApiError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

async fn invoke(
    state: &AppState,
    request: Request,
    preferred: &[String],
    request_id: &RequestId,
) -> Result<Json<Invoked>, ApiError> {
    let method = request.method();
    let what = match &request {
        Request::Tool { name, .. } => format!("unknown tool `{name}`"),
        Request::Resource { uri } | Request::Subscribe { uri } | Request::Unsubscribe { uri } => {
            format!("unknown resource `{uri}`")
        }
        Request::Prompt { name, .. } => format!("unknown prompt `{name}`"),
        Request::Complete(_) => "nothing to complete".to_owned(),
    };
    match state
        .gateway
        .invoker
        .invoke(&request, preferred, &request_id.0)
        .await
    {
        Outcome::Success {
            server,
            result,
            attempts,
        } => Ok(Json(Invoked {
            server,
            method: method.into(),
            request_id: request_id.0.to_string(),
            result,
            attempts,
        })),
        Outcome::CallerError {
            server,
            code,
            message,
            attempts,
        } => Err(ApiError::Detailed {
            status: if code == -32601 {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            code: if code == -32601 {
                "method_not_found"
            } else {
                "invalid_params"
            },
            detail: json!({"message": message, "method": method, "server": server, "rpc_code": code, "attempts": attempts}),
            retry_after: None,
        }),
        Outcome::Unknown { checked } => Err(ApiError::NotFound(if checked.is_empty() {
            format!("{what}: no servers are registered")
        } else {
            format!("{what}; servers checked: {}", checked.join(", "))
        })),
        Outcome::OutcomeUnknown { attempts } => Err(ApiError::Detailed {
            status: StatusCode::BAD_GATEWAY,
            code: "outcome_unknown",
            detail: json!({
                "message": "the call failed after it was sent and is not safe to repeat: it may or may not have taken effect",
                "method": method, "attempts": attempts,
            }),
            retry_after: None,
        }),
        Outcome::Unavailable {
            attempts,
            retry_after,
        } => Err(ApiError::Detailed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            detail: json!({
                "message": if attempts.is_empty() { "No reachable MCP servers are currently available" } else { "Invocation failed across servers" },
                "method": method, "attempts": attempts,
            }),
            retry_after,
        }),
    }
}

/// Calls a tool on the best server that offers it, with safe failover.
#[utoipa::path(post, path = "/api/v1/mcp/invoke/tool", tag = "mcp", request_body = InvokeTool,
    responses((status = 200, description = "the tool's result (also when `isError`)", body = Invoked),
              (status = 404, description = "no server offers the tool", body = ErrorBody),
              (status = 422, description = "bad body, or the upstream said invalid params", body = ErrorBody),
              (status = 502, description = "outcome unknown: failed after sending, not repeatable", body = ErrorBody),
              (status = 503, description = "no server could serve it; `Retry-After` set", body = ErrorBody)))]
async fn invoke_tool(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokeTool>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("tool_name", &body.tool_name)?;
    let request = Request::Tool {
        name: body.tool_name,
        arguments: body.arguments,
    };
    invoke(&state, request, &body.preferred_servers, &request_id).await
}

/// Reads a resource from the best server that offers it (repeatable: fails over).
#[utoipa::path(post, path = "/api/v1/mcp/invoke/resource", tag = "mcp", request_body = InvokeResource,
    responses((status = 200, description = "the resource", body = Invoked),
              (status = 404, description = "no server offers it", body = ErrorBody),
              (status = 503, description = "no server could serve it", body = ErrorBody)))]
async fn invoke_resource(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokeResource>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("uri", &body.uri)?;
    invoke(
        &state,
        Request::Resource { uri: body.uri },
        &body.preferred_servers,
        &request_id,
    )
    .await
}

/// Gets a prompt from the best server that offers it (repeatable: fails over).
#[utoipa::path(post, path = "/api/v1/mcp/invoke/prompt", tag = "mcp", request_body = InvokePrompt,
    responses((status = 200, description = "the prompt", body = Invoked),
              (status = 404, description = "no server offers it", body = ErrorBody),
              (status = 503, description = "no server could serve it", body = ErrorBody)))]
async fn invoke_prompt(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokePrompt>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("name", &body.name)?;
    let request = Request::Prompt {
        name: body.name,
        arguments: body.arguments,
    };
    invoke(&state, request, &body.preferred_servers, &request_id).await
}

// ---- checks, handshakes and sessions -------------------------------------------------

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
async fn check_one(
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
async fn invalidate_session(
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

// ---- the federated catalog ------------------------------------------------------------

/// One catalog entry and the servers that offer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogEntry {
    /// Name (tools, prompts) or URI / URI template (resources).
    pub name: String,
    /// Servers offering it, by name.
    pub servers: Vec<String>,
    /// The entry as the first of those servers describes it.
    #[schema(value_type = Object)]
    pub entry: Value,
}

/// A federated catalog list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogList {
    /// Entries by name.
    pub items: Vec<CatalogEntry>,
}

#[derive(Clone, Copy)]
enum Kind {
    Tools,
    Resources,
    Prompts,
}

/// The registry's catalog: every entry of every upstream's last fetched catalog (an
/// unreachable one's too: this is the registry's view; `/mcp` lists only usable servers),
/// read from the published snapshot, by name.
async fn federated(state: &AppState, kind: Kind) -> Json<CatalogList> {
    let mut by_name: std::collections::BTreeMap<String, CatalogEntry> =
        std::collections::BTreeMap::new();
    let snapshot = state.gateway.router().snapshot();
    let mut views: Vec<&att_gateway::router::ServerView> =
        snapshot.servers.iter().map(AsRef::as_ref).collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    for view in views {
        let Some(catalog) = &view.entries else {
            continue;
        };
        let entries: Vec<(String, Value)> = match kind {
            Kind::Tools => catalog
                .tools
                .iter()
                .map(|t| (t.name.to_string(), json!(t)))
                .collect(),
            Kind::Prompts => catalog
                .prompts
                .iter()
                .map(|p| (p.name.clone(), json!(p)))
                .collect(),
            Kind::Resources => catalog
                .resources
                .iter()
                .map(|r| (r.uri.clone(), json!(r)))
                .chain(
                    catalog
                        .resource_templates
                        .iter()
                        .map(|t| (t.uri_template.clone(), json!(t))),
                )
                .collect(),
        };
        for (name, entry) in entries {
            by_name
                .entry(name.clone())
                .or_insert_with(|| CatalogEntry {
                    name,
                    servers: Vec::new(),
                    entry,
                })
                .servers
                .push(view.name.clone());
        }
    }
    Json(CatalogList {
        items: by_name.into_values().collect(),
    })
}

/// Every tool of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/tools", tag = "mcp",
    responses((status = 200, description = "the federated tools", body = CatalogList)))]
async fn list_tools(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Tools).await
}

/// Every resource and resource template of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/resources", tag = "mcp",
    responses((status = 200, description = "the federated resources", body = CatalogList)))]
async fn list_resources(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Resources).await
}

/// Every prompt of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/prompts", tag = "mcp",
    responses((status = 200, description = "the federated prompts", body = CatalogList)))]
async fn list_prompts(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Prompts).await
}

// ---- events ---------------------------------------------------------------------------

/// Filters of the connection-event view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEventParams {
    /// Only this server.
    pub server: Option<String>,
    /// Only events caused by this request.
    pub correlation_id: Option<String>,
    /// Keep the newest N (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// Filters of the invocation-event view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvocationEventParams {
    /// Only this server.
    pub server: Option<String>,
    /// Only this method (`tools/call`, `resources/read`, `prompts/get`).
    pub method: Option<String>,
    /// Only this request.
    pub request_id: Option<String>,
    /// Keep the newest N (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// Events, oldest first: the stored event's payload plus its `timestamp`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayEvents {
    /// The events.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

async fn gateway_events(
    state: &AppState,
    kind: &str,
    correlation_id: Option<String>,
    data: Vec<(String, String)>,
    limit: Option<i64>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let limit = super::actors::limit_param(limit, 100, 1000)?;
    let query = att_runtime::events::EventQuery {
        kind: Some(kind.into()),
        correlation_id,
        data,
        limit: u32::try_from(limit).unwrap_or(1000),
        ..Default::default()
    };
    let events = state.events.query(query).await?;
    let events = events
        .into_iter()
        .map(|e| {
            let mut v = e.data;
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "timestamp".into(),
                    json!(
                        e.at.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    ),
                );
                o.insert("correlation_id".into(), json!(e.correlation_id));
            }
            v
        })
        .collect();
    Ok(Json(GatewayEvents { events }))
}

/// Connection events (status changes): `{server, from_status, to_status, reason, correlation_id, timestamp}`.
#[utoipa::path(get, path = "/api/v1/mcp/events", tag = "mcp", params(ConnectionEventParams),
    responses((status = 200, description = "connection events, oldest first", body = GatewayEvents),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
async fn connection_events(
    State(state): State<AppState>,
    super::extract::ApiQuery(p): super::extract::ApiQuery<ConnectionEventParams>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let data = p
        .server
        .map(|s| vec![("server".to_owned(), s)])
        .unwrap_or_default();
    gateway_events(&state, "upstream.status", p.correlation_id, data, p.limit).await
}

/// Invocation events: `{server, method, request_id, phase, error, error_category, timestamp}`.
#[utoipa::path(get, path = "/api/v1/mcp/invocation-events", tag = "mcp", params(InvocationEventParams),
    responses((status = 200, description = "invocation events, oldest first", body = GatewayEvents),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
async fn invocation_events(
    State(state): State<AppState>,
    super::extract::ApiQuery(p): super::extract::ApiQuery<InvocationEventParams>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let mut data = Vec::new();
    if let Some(s) = p.server {
        data.push(("server".to_owned(), s));
    }
    if let Some(m) = p.method {
        data.push(("method".to_owned(), m));
    }
    gateway_events(&state, "invocation", p.request_id, data, p.limit).await
}
