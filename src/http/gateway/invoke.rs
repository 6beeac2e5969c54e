//! Routed calls: a tool, a resource or a prompt, served by the best server that offers it,
//! failing over only when that is safe. The invoker's outcome becomes the status: the
//! upstream's own "no such method" 404, bad params 422, "may have taken effect" 502, no
//! server could serve it 503 with `Retry-After` (`upstream_busy` when the servers that could
//! were at their `max_concurrent`).

use att_gateway::invoke::{Attempt, Outcome, Request};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use crate::http::middleware::RequestId;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invoke_tool))
        .routes(routes!(invoke_resource))
        .routes(routes!(invoke_prompt))
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
    pub result: Box<att_gateway::answer::Answer>,
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
    // Said only when no server offers it (not built for every call).
    let what = || match &request {
        Request::Tool { name, .. } => format!("unknown tool `{name}`"),
        Request::Resource { uri, .. }
        | Request::Subscribe { uri }
        | Request::Unsubscribe { uri } => {
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
            format!("{}: no servers are registered", what())
        } else {
            format!("{}; servers checked: {}", what(), checked.join(", "))
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
        Outcome::Busy { full, attempts } => Err(ApiError::Detailed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "upstream_busy",
            detail: busy_detail(method, &full, &attempts),
            retry_after: Some(1),
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

/// The detail of an [`Outcome::Busy`]: which servers were full, at what `max_concurrent`.
pub(crate) fn busy_detail(method: &str, full: &[(String, u32)], attempts: &[Attempt]) -> Value {
    let names: Vec<String> = full
        .iter()
        .map(|(s, n)| format!("`{s}` (max_concurrent {n})"))
        .collect();
    json!({
        "message": format!(
            "{} had no free call slot within {} ms: retry shortly",
            names.join(", "),
            att_gateway::upstream::gate::QUEUE_WAIT.as_millis()
        ),
        "method": method,
        "full": full.iter().map(|(s, n)| json!({"server": s, "max_concurrent": n})).collect::<Vec<_>>(),
        "attempts": attempts,
        "retry_after_ms": 1000,
    })
}

/// Calls a tool on the best server that offers it, with safe failover.
#[utoipa::path(post, path = "/api/v1/mcp/invoke/tool", tag = "mcp", request_body = InvokeTool,
    responses((status = 200, description = "the tool's result (also when `isError`)", body = Invoked),
              (status = 404, description = "no server offers the tool", body = ErrorBody),
              (status = 422, description = "bad body, or the upstream said invalid params", body = ErrorBody),
              (status = 502, description = "outcome unknown: failed after sending, not repeatable", body = ErrorBody),
              (status = 429, description = "the principal is past a limit (`[limits]`); `Retry-After` set", body = ErrorBody),
              (status = 503, description = "no server could serve it (`upstream_busy`: all at `max_concurrent`); `Retry-After` set", body = ErrorBody)))]
pub(in crate::http) async fn invoke_tool(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokeTool>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("tool_name", &body.tool_name)?;
    let request = Request::Tool {
        name: body.tool_name,
        arguments: body.arguments,
        resume: None,
    };
    invoke(&state, request, &body.preferred_servers, &request_id).await
}

/// Reads a resource from the best server that offers it (repeatable: fails over).
#[utoipa::path(post, path = "/api/v1/mcp/invoke/resource", tag = "mcp", request_body = InvokeResource,
    responses((status = 200, description = "the resource", body = Invoked),
              (status = 404, description = "no server offers it", body = ErrorBody),
              (status = 503, description = "no server could serve it", body = ErrorBody)))]
pub(in crate::http) async fn invoke_resource(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokeResource>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("uri", &body.uri)?;
    invoke(
        &state,
        Request::Resource {
            uri: body.uri,
            resume: None,
        },
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
pub(in crate::http) async fn invoke_prompt(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<InvokePrompt>,
) -> Result<Json<Invoked>, ApiError> {
    non_empty("name", &body.name)?;
    let request = Request::Prompt {
        name: body.name,
        arguments: body.arguments,
        resume: None,
    };
    invoke(&state, request, &body.preferred_servers, &request_id).await
}
