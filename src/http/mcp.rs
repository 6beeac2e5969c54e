//! `/api/v1/mcp`: the upstream registry and routed invocation over HTTP (GATEWAY.md).

use att_actors::invoke::{Attempt, Outcome, Request};
use att_actors::upstream::UpstreamSpec;
use att_actors::upstream::actor::UpstreamStatus;
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
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// A registered server: its registration and its live state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerRecord {
    /// The registration (as posted), with defaults filled in.
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

async fn record(state: &AppState, spec: UpstreamSpec, source: Source) -> ServerRecord {
    let live = state.gateway.status(&spec.name).await;
    ServerRecord {
        spec,
        source,
        state: live,
    }
}

/// Every registered upstream with its live state.
#[utoipa::path(get, path = "/api/v1/mcp/servers", tag = "mcp",
    responses((status = 200, description = "registered servers", body = ServerList)))]
async fn list_servers(State(state): State<AppState>) -> Json<ServerList> {
    let mut servers = Vec::new();
    for (spec, source) in state.gateway.list() {
        servers.push(record(&state, spec, source).await);
    }
    Json(ServerList { servers })
}

/// Registers (or replaces) an upstream; it is stored and survives restarts.
#[utoipa::path(post, path = "/api/v1/mcp/servers", tag = "mcp",
    request_body(content = Object, description = "`{name, url, headers?}` or `{name, command, args?, env?, cwd?}` plus options"),
    responses((status = 201, description = "registered", body = ServerRecord),
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
    Ok(Json(record(&state, spec, source).await))
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
        Request::Resource { uri } => format!("unknown resource `{uri}`"),
        Request::Prompt { name, .. } => format!("unknown prompt `{name}`"),
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
