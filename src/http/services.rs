//! `/api/v1/services`: managed services (`service:<name>` targets) — register, list, start,
//! stop, restart, remove, and read their logs.

use att_release::service::actor::ServiceStatus;
use att_release::service::spec::ServiceSpec;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, refuse_from_env};
use crate::registry::Source;
use crate::services::Services;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, add_service))
        .routes(routes!(get_service, delete_service))
        .routes(routes!(start_service))
        .routes(routes!(stop_service))
        .routes(routes!(restart_service))
        .routes(routes!(service_logs))
}

/// A service: its definition, where it came from, and its live state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceRecord {
    /// The definition.
    pub spec: ServiceSpec,
    /// `config` or `api`.
    #[schema(value_type = String)]
    pub source: Source,
    /// The live state (absent if its actor is not running here).
    pub status: Option<ServiceStatus>,
    /// The node that runs it (`GET /api/v1/cluster` lists the nodes).
    pub node: String,
    /// Whether that node is the one answering: `false` for another node's service, listed
    /// for the record (its `status` is that node's to tell; its runs go there).
    pub here: bool,
}

/// `GET /api/v1/services`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    /// Every service, by name.
    pub services: Vec<ServiceRecord>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("service not found".into())
}

async fn record(state: &AppState, spec: ServiceSpec, source: Source) -> ServiceRecord {
    let status = state.services.handle(&spec.name).status().await.ok();
    ServiceRecord {
        spec: spec.redacted(),
        source,
        status,
        node: state.cluster.node.id.clone(),
        here: true,
    }
}

/// Every service this node runs, with its live state.
pub(crate) async fn own_services(state: &AppState) -> Vec<ServiceRecord> {
    let mut services = Vec::new();
    for (spec, source) in state.services.list() {
        services.push(record(state, spec, source).await);
    }
    services
}

/// Every service this node runs, with its live state; then the other nodes' services
/// (`here: false`, with their `node`), by name.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, description = "the services", body = ServiceList)))]
pub(super) async fn list_services(
    State(state): State<AppState>,
) -> Result<Json<ServiceList>, ApiError> {
    let mut services = own_services(&state).await;
    let elsewhere = state
        .services
        .elsewhere()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for (spec, node) in elsewhere {
        // Once: a name this node runs too (from its config file) is listed as its own.
        if state.services.get(&spec.name).is_none() {
            services.push(ServiceRecord {
                spec: spec.redacted(),
                source: Source::Api,
                status: None,
                node,
                here: false,
            });
        }
    }
    Ok(Json(ServiceList { services }))
}

/// Registers (or replaces) a service and starts it; it is stored and survives restarts.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = ServiceSpec,
    responses((status = 201, description = "registered and started", body = ServiceRecord),
              (status = 422, description = "bad definition, naming the field", body = ErrorBody)))]
async fn add_service(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<ServiceRecord>), ApiError> {
    refuse_from_env(&body)?;
    let spec: ServiceSpec = serde_path_to_error::deserialize(body).map_err(|e| {
        let message = e.inner().to_string();
        ApiError::Invalid {
            field: super::extract::field_of(&e.path().to_string(), &message),
            message,
        }
    })?;
    spec.check_durations()
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    state.services.register(spec.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(record(&state, spec, Source::Api).await),
    ))
}

/// One service with its live state.
#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "service name")),
    responses((status = 200, description = "the service", body = ServiceRecord),
              (status = 404, description = "service not found", body = ErrorBody)))]
async fn get_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceRecord>, ApiError> {
    let (spec, source) = state.services.get(&name).ok_or_else(not_found)?;
    Ok(Json(record(&state, spec, source).await))
}

/// Stops a service (its whole process group) and forgets it.
#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "service name")),
    responses((status = 204, description = "removed"),
              (status = 404, description = "service not found", body = ErrorBody)))]
async fn delete_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.services.remove(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("the service's actor did not answer: {e}"))
}

/// Starts a service (a no-op when it runs; a crash loop is cleared).
#[utoipa::path(post, path = "/api/v1/services/{name}/start", tag = "services",
    params(("name" = String, Path, description = "service name")),
    responses((status = 200, description = "running", body = ServiceStatus),
              (status = 404, description = "service not found", body = ErrorBody),
              (status = 409, description = "it could not be started", body = ErrorBody)))]
pub(super) async fn start_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceStatus>, ApiError> {
    let (spec, _) = state.services.get(&name).ok_or_else(not_found)?;
    let handle = state.services.handle(&name);
    match handle.start(Services::stop_limit(&spec)).await {
        Ok(Ok(status)) => Ok(Json(status)),
        Ok(Err(e)) => Err(ApiError::Conflict(serde_json::json!({ "error": e }))),
        Err(e) => Err(unavailable(e)),
    }
}

/// Stops a service (SIGTERM to its group, SIGKILL after its `stop_grace`).
#[utoipa::path(post, path = "/api/v1/services/{name}/stop", tag = "services",
    params(("name" = String, Path, description = "service name")),
    responses((status = 200, description = "stopped", body = ServiceStatus),
              (status = 404, description = "service not found", body = ErrorBody)))]
pub(super) async fn stop_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceStatus>, ApiError> {
    let (spec, _) = state.services.get(&name).ok_or_else(not_found)?;
    let handle = state.services.handle(&name);
    handle
        .stop(Services::stop_limit(&spec))
        .await
        .map(Json)
        .map_err(unavailable)
}

/// Stops, then starts a service.
#[utoipa::path(post, path = "/api/v1/services/{name}/restart", tag = "services",
    params(("name" = String, Path, description = "service name")),
    responses((status = 200, description = "running again", body = ServiceStatus),
              (status = 404, description = "service not found", body = ErrorBody),
              (status = 409, description = "it could not be started", body = ErrorBody)))]
pub(super) async fn restart_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceStatus>, ApiError> {
    let (spec, _) = state.services.get(&name).ok_or_else(not_found)?;
    let handle = state.services.handle(&name);
    match handle.restart(Services::stop_limit(&spec)).await {
        Ok(Ok(status)) => Ok(Json(status)),
        Ok(Err(e)) => Err(ApiError::Conflict(serde_json::json!({ "error": e }))),
        Err(e) => Err(unavailable(e)),
    }
}

/// `GET /logs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Lines from the end (default 100, at most 10000).
    pub tail: Option<usize>,
}

/// `GET /api/v1/services/{name}/logs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLogs {
    /// The last lines of its output, oldest first (stderr lines start with `stderr: `).
    pub lines: Vec<String>,
}

/// The last lines of a service's captured output (rotated files included).
#[utoipa::path(get, path = "/api/v1/services/{name}/logs", tag = "services",
    params(("name" = String, Path, description = "service name"), LogParams),
    responses((status = 200, description = "its output", body = ServiceLogs),
              (status = 404, description = "service not found", body = ErrorBody),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
pub(super) async fn service_logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<ServiceLogs>, ApiError> {
    state.services.get(&name).ok_or_else(not_found)?;
    let tail = params.tail.unwrap_or(100);
    if tail > 10_000 {
        return Err(ApiError::invalid("tail", "at most 10000 lines"));
    }
    let lines = state
        .services
        .handle(&name)
        .logs(tail)
        .await
        .map_err(unavailable)?;
    Ok(Json(ServiceLogs { lines }))
}
