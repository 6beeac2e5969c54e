//! `GET /api/v1/actors` (the tree) and `GET /api/v1/actors/{name}/trace` (one actor's ring).

use att_runtime::directory::{ActorInfo, TraceRecord};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(trace))
}

/// The actor tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorList {
    /// Every actor, parents before children.
    pub actors: Vec<ActorInfo>,
}

/// Every actor of this att: parent, status, restarts, last failure, messages handled.
#[utoipa::path(get, path = "/api/v1/actors", tag = "actors",
    responses((status = 200, description = "the actor tree", body = ActorList)))]
async fn list(State(state): State<AppState>) -> Json<ActorList> {
    Json(ActorList {
        actors: state.directory.list(),
    })
}

/// Filters of a trace query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TraceParams {
    /// Only messages of this request or run.
    pub correlation_id: Option<String>,
    /// How many of the newest records (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// One actor's recent messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trace {
    /// The actor.
    pub actor: String,
    /// Its newest handled messages, oldest first.
    pub records: Vec<TraceRecord>,
}

/// The newest messages an actor handled, oldest first.
#[utoipa::path(get, path = "/api/v1/actors/{name}/trace", tag = "actors",
    params(("name" = String, Path, description = "actor name, e.g. `events` or `upstream:github`"), TraceParams),
    responses((status = 200, description = "the actor's trace ring", body = Trace),
              (status = 404, description = "no such actor", body = ErrorBody),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
pub(super) async fn trace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<TraceParams>,
) -> Result<Json<Trace>, ApiError> {
    let limit = limit_param(params.limit, 100, 1000)?;
    let records = state
        .directory
        .trace(&name, params.correlation_id.as_deref(), limit)
        .ok_or_else(|| ApiError::NotFound(format!("actor `{name}` not found")))?;
    Ok(Json(Trace {
        actor: name,
        records,
    }))
}

/// Checks a `limit` query parameter: at least 1, at most `max`, `default` when absent.
pub(super) fn limit_param(
    limit: Option<i64>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(l) if l >= 1 && usize::try_from(l).is_ok_and(|l| l <= max) => {
            Ok(usize::try_from(l).unwrap_or(max))
        }
        Some(l) => Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {max}, got {l}"),
        )),
    }
}
