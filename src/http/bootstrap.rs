//! `/api/v1/bootstrap`: the release pipeline — releases of `service:<name>` targets and runs
//! (BOOTSTRAP.md, "HTTP API").

use att_release::bootstrap::{BootstrapHandle, Refused};
use att_release::model::{Release, ReleaseStatus, RunRecord, RunRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, By, OptionalApiJson};
use crate::tools::Caller;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs, start_run))
        .routes(routes!(get_run))
        .routes(routes!(run_events))
        .routes(routes!(cancel_run))
        .routes(routes!(promote_run))
        .routes(routes!(list_releases, add_release))
        .routes(routes!(rollback_target))
}

/// `202` for a started run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    /// The run's id: `GET /api/v1/bootstrap/runs/{run_id}` follows it.
    pub run_id: String,
}

fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid {
        field: None,
        message: e.to_string(),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// Asks the bootstrap actor for a run: 202 with its id, 409 when the target is busy (on any
/// att sharing the store). A run of another node's service is stored for that node, which
/// starts it ([`crate::run_route`]); 503 naming the node when it is not live.
async fn start(
    state: &AppState,
    mut request: RunRequest,
    by: &Caller,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    use crate::run_route::{RunRoute, owner_dead, route_run};
    request.requested_by = Some(by.principal.clone());
    let bootstrap = BootstrapHandle::new(state.directory.clone());
    let route = route_run(&state.services, &*state.cluster.store, &request.target)
        .await
        .map_err(internal)?;
    let answer = match route {
        RunRoute::Here => bootstrap.start(request).await,
        RunRoute::Forward(node) => bootstrap.request(request, node).await,
        RunRoute::OwnerDead(node) => {
            return Err(ApiError::Unavailable {
                detail: json!({"message": owner_dead(&request.target, &node), "node": node}),
                retry_after: Some(crate::cluster::HEARTBEAT.as_secs()),
            });
        }
    };
    match answer.map_err(internal)? {
        Ok(run_id) => Ok((StatusCode::ACCEPTED, Json(RunStarted { run_id }))),
        Err(Refused::Busy(run_id)) => Err(ApiError::Conflict(json!({
            "message": "a run for this target is in progress", "run_id": run_id
        }))),
        Err(Refused::Invalid(m)) => Err(invalid(m)),
        Err(Refused::Store(m)) => Err(ApiError::Unavailable {
            detail: json!({"message": format!("the run could not be stored: {m}")}),
            retry_after: Some(1),
        }),
    }
}

/// Starts a run: resolve, deploy, restart watchdog, health, and rollback when the policy
/// allows it. Answers at once; the run goes on in the background.
#[utoipa::path(post, path = "/api/v1/bootstrap/runs", tag = "bootstrap", request_body = RunRequest,
    responses((status = 202, description = "started (or, for another node's service, stored `requested` for that node to start)", body = RunStarted),
              (status = 409, description = "a run for the target is in progress (its `run_id` in `detail`)", body = ErrorBody),
              (status = 422, description = "bad request, naming the problem", body = ErrorBody),
              (status = 503, description = "the target's service belongs to a node that is not live (`node` in `detail`)", body = ErrorBody)))]
pub(super) async fn start_run(
    State(state): State<AppState>,
    By(by): By,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let mut request: RunRequest = serde_path_to_error::deserialize(body).map_err(|e| {
        let message = e.inner().to_string();
        ApiError::Invalid {
            field: super::extract::field_of(&e.path().to_string(), &message),
            message,
        }
    })?;
    request
        .check()
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    state.tools.resolve_change(&mut request).await?;
    start(&state, request, &by).await
}

/// `GET /runs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// At most this many, newest first (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/bootstrap/runs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunRecord>,
}

/// The newest runs, as stored after their last transition.
#[utoipa::path(get, path = "/api/v1/bootstrap/runs", tag = "bootstrap", params(RunsParams),
    responses((status = 200, description = "runs", body = RunList)))]
pub(super) async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<RunsParams>,
) -> Result<Json<RunList>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let runs = state.releases.list_runs(limit).await.map_err(internal)?;
    Ok(Json(RunList { runs }))
}

/// One run: its phases and its result so far.
#[utoipa::path(get, path = "/api/v1/bootstrap/runs/{id}", tag = "bootstrap",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, description = "the run", body = RunRecord),
              (status = 404, description = "no such run", body = ErrorBody)))]
pub(super) async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunRecord>, ApiError> {
    if let Ok(Some(live)) = BootstrapHandle::new(state.directory.clone())
        .active(&id)
        .await
    {
        return Ok(Json(live));
    }
    state
        .releases
        .get_run(&id)
        .await
        .map_err(internal)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such run".into()))
}

/// The run's events as server-sent events (`id:` the event id, `data:` the event as JSON):
/// every event of the run so far, then live ones; the stream ends with the run's
/// `bootstrap.run` event.
#[utoipa::path(get, path = "/api/v1/bootstrap/runs/{id}/events", tag = "bootstrap",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, description = "an SSE stream of the run's events", content_type = "text/event-stream", body = String),
              (status = 404, description = "no such run", body = ErrorBody)))]
async fn run_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use att_runtime::events::{EventQuery, follow};

    let Some(known) = state.releases.get_run(&id).await.map_err(internal)? else {
        return Err(ApiError::NotFound("no such run".into()));
    };
    let filter = EventQuery {
        correlation_id: Some(id.clone()),
        ..EventQuery::default()
    };
    let finished = !known.status.is_open();
    let shutdown = state.shutdown.clone();
    // The stream ends with the run's final event. A run that had ended when the stream began
    // may have its last events still on their way to the log: they are waited for a little.
    let stop = async move {
        if finished {
            let grace = tokio::time::sleep(std::time::Duration::from_secs(2));
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = grace => {}
            }
        } else {
            shutdown.cancelled().await;
        }
    };
    let events = follow::follow(
        state.events.clone(),
        filter,
        follow::From::After(0),
        |e| e.kind == "bootstrap.run",
        stop,
    );
    Ok(super::events::sse_stream(events))
}

/// Cancels a run in progress: its phase stops; if a deploy had begun and a rollback target
/// is known, the target is rolled back (verified) before the run ends `cancelled`.
#[utoipa::path(post, path = "/api/v1/bootstrap/runs/{id}/cancel", tag = "bootstrap",
    params(("id" = String, Path, description = "run id")),
    responses((status = 202, description = "cancelling (follow the run)", body = RunStarted),
              (status = 404, description = "no such run", body = ErrorBody),
              (status = 409, description = "the run is not in progress, or is rolling back", body = ErrorBody)))]
pub(super) async fn cancel_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    use att_release::bootstrap::CancelRefused;
    match BootstrapHandle::new(state.directory.clone())
        .cancel(&id)
        .await
        .map_err(internal)?
    {
        Ok(()) => Ok((StatusCode::ACCEPTED, Json(RunStarted { run_id: id }))),
        Err(CancelRefused::RollingBack) => Err(ApiError::Conflict(json!({
            "message": "the run is rolling back; that cannot be cancelled", "run_id": id
        }))),
        Err(CancelRefused::NotRunning) => {
            if state
                .releases
                .get_run(&id)
                .await
                .map_err(internal)?
                .is_some()
            {
                Err(ApiError::Conflict(
                    json!({"message": "the run has ended", "run_id": id}),
                ))
            } else {
                Err(ApiError::NotFound("no such run".into()))
            }
        }
    }
}

/// Ends a run's post-deploy guard now: the release is declared good, the run succeeds and
/// the target is free for the next run.
#[utoipa::path(post, path = "/api/v1/bootstrap/runs/{id}/promote", tag = "bootstrap",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, description = "promoted: the run succeeded", body = RunStarted),
              (status = 404, description = "no such run", body = ErrorBody),
              (status = 409, description = "the run is not guarding", body = ErrorBody)))]
async fn promote_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunStarted>, ApiError> {
    use att_release::bootstrap::PromoteRefused;
    match BootstrapHandle::new(state.directory.clone())
        .promote(&id)
        .await
        .map_err(internal)?
    {
        Ok(()) => Ok(Json(RunStarted { run_id: id })),
        Err(PromoteRefused::NotGuarding(phase)) => Err(ApiError::Conflict(json!({
            "message": format!("the run is not guarding (it is in `{phase}`)"), "run_id": id
        }))),
        Err(PromoteRefused::NotRunning) => {
            if state
                .releases
                .get_run(&id)
                .await
                .map_err(internal)?
                .is_some()
            {
                Err(ApiError::Conflict(
                    json!({"message": "the run has ended", "run_id": id}),
                ))
            } else {
                Err(ApiError::NotFound("no such run".into()))
            }
        }
    }
}

/// `POST /targets/{target}/rollback`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualRollback {
    /// The release to go back to (default: the newest `retired` one — the previous live).
    #[serde(default)]
    pub release_id: Option<String>,
}

/// Rolls a target back now: a run that deploys the named (or the previous live) release,
/// verified by the restart watchdog and the health gate like any run.
#[utoipa::path(post, path = "/api/v1/bootstrap/targets/{target}/rollback", tag = "bootstrap",
    params(("target" = String, Path, description = "`service:<name>`")),
    request_body(content = ManualRollback, description = "optional: `{release_id}`"),
    responses((status = 202, description = "the rollback run started", body = RunStarted),
              (status = 409, description = "a run for the target is in progress", body = ErrorBody),
              (status = 422, description = "no release to go back to", body = ErrorBody)))]
pub(super) async fn rollback_target(
    State(state): State<AppState>,
    By(by): By,
    Path(target): Path<String>,
    OptionalApiJson(body): OptionalApiJson<ManualRollback>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let wanted = body.release_id;
    let releases = state
        .releases
        .list_releases(&target)
        .await
        .map_err(internal)?;
    let to = match wanted {
        Some(id) => releases.iter().find(|r| r.id == id),
        None => releases.iter().find(|r| r.status == ReleaseStatus::Retired),
    }
    .ok_or_else(|| {
        ApiError::invalid(
            "release_id",
            "no such release of the target (and no earlier live release to go back to)",
        )
    })?;
    let request: RunRequest = serde_json::from_value(json!({
        "target": target, "requested_release_id": to.id,
    }))
    .map_err(invalid)?;
    start(&state, request, &by).await
}

/// `POST /releases`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    /// `service:<name>`, or `self` (a release of att: `command` is its binary).
    pub target: String,
    /// Its id (a commit id, a version name).
    pub id: String,
    /// The program it runs (no shell).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// Registers a release of a service target (status `built`).
#[utoipa::path(post, path = "/api/v1/bootstrap/releases", tag = "bootstrap", request_body = NewRelease,
    responses((status = 201, description = "registered", body = Release),
              (status = 409, description = "the id is taken for this target", body = ErrorBody),
              (status = 422, description = "bad release", body = ErrorBody)))]
async fn add_release(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let new: NewRelease = serde_json::from_value(body).map_err(invalid)?;
    let name = new.target.strip_prefix("service:").unwrap_or_default();
    let itself = new.target == att_release::bootstrap::SELF;
    if !itself && !att_gateway::upstream::valid_name(name) {
        return Err(ApiError::invalid(
            "target",
            "must be `service:<name>` or `self`",
        ));
    }
    if itself && !std::path::Path::new(&new.command).is_absolute() {
        return Err(ApiError::invalid(
            "command",
            "a release of `self` runs an att binary given by its absolute path",
        ));
    }
    if new.id.is_empty() || new.id.len() > 128 || new.id.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("id", "1-128 characters, no spaces"));
    }
    if new.command.trim().is_empty() {
        return Err(ApiError::invalid("command", "must not be empty"));
    }
    let existing = state
        .releases
        .list_releases(&new.target)
        .await
        .map_err(internal)?;
    if existing.iter().any(|r| r.id == new.id) {
        return Err(ApiError::Conflict(json!({
            "message": "a release with this id exists for the target (releases are immutable)"
        })));
    }
    let release = Release {
        target: new.target,
        id: new.id,
        command: new.command,
        args: new.args,
        env: new.env,
        artifact: None,
        status: ReleaseStatus::Built,
        created_at: time::OffsetDateTime::now_utc(),
    };
    state
        .releases
        .save_release(&release)
        .await
        .map_err(internal)?;
    Ok((StatusCode::CREATED, Json(release.redacted())))
}

/// `GET /releases` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReleasesParams {
    /// `service:<name>`.
    pub target: String,
}

/// `GET /api/v1/bootstrap/releases`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList {
    /// Newest first.
    pub releases: Vec<Release>,
}

/// A target's releases, newest first, with their status (`live`, `retired`, …).
#[utoipa::path(get, path = "/api/v1/bootstrap/releases", tag = "bootstrap", params(ReleasesParams),
    responses((status = 200, description = "releases", body = ReleaseList),
              (status = 422, description = "no target given", body = ErrorBody)))]
pub(super) async fn list_releases(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ReleasesParams>,
) -> Result<Json<ReleaseList>, ApiError> {
    let releases = state
        .releases
        .list_releases(&p.target)
        .await
        .map_err(internal)?
        .into_iter()
        .map(Release::redacted)
        .collect();
    Ok(Json(ReleaseList { releases }))
}
