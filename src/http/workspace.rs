//! `/api/v1/projects`: workspace projects and their files (WORKSPACE.md). Every path a caller
//! names is contained to the project's root; a refused path is a 422 naming `path`, never a
//! 500. The file work is blocking and runs off the async workers.

use att_actors::workspace::Project;
use att_actors::workspace::code::{self, CodeError, FileText, Listing, Match, Written};
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
use super::extract::{ApiJson, ApiQuery};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, add_project))
        .routes(routes!(get_project, delete_project))
        .routes(routes!(list_files))
        .routes(routes!(read_file, write_file))
        .routes(routes!(search_files))
}

/// `GET /api/v1/projects`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    /// Every project, by name.
    pub projects: Vec<Project>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::NotFound(p) => ApiError::NotFound(format!("`{p}` does not exist")),
            e if e.is_callers() => ApiError::invalid("path", e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

async fn project(state: &AppState, name: &str) -> Result<Project, ApiError> {
    state
        .store
        .list_projects()
        .await
        .map_err(internal)?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no project `{name}`")))
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(internal)?
        .map_err(ApiError::from)
}

/// Lists the projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "workspace",
    responses((status = 200, description = "every project", body = ProjectList)))]
async fn list_projects(State(state): State<AppState>) -> Result<Json<ProjectList>, ApiError> {
    let projects = state.store.list_projects().await.map_err(internal)?;
    Ok(Json(ProjectList { projects }))
}

/// Registers (or replaces) a project: an existing directory.
#[utoipa::path(post, path = "/api/v1/projects", tag = "workspace", request_body = Project,
    responses((status = 201, description = "registered", body = Project),
              (status = 422, description = "bad project", body = ErrorBody)))]
async fn add_project(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project: Project =
        serde_json::from_value(body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    project
        .validate()
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    state.store.save_project(&project).await.map_err(internal)?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{name}", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "the project", body = Project),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn get_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(project(&state, &name).await?))
}

/// Forgets a project (its files are left as they are).
#[utoipa::path(delete, path = "/api/v1/projects/{name}", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 204, description = "forgotten"),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn delete_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_project(&name).await.map_err(internal)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no project `{name}`")))
    }
}

/// `GET …/files` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// A directory inside the project (default: its root).
    #[serde(default)]
    pub dir: String,
    /// Most entries (default 1000, at most 10000).
    pub limit: Option<usize>,
}

/// Lists a project's files (`.git` and build output skipped, links not followed).
#[utoipa::path(get, path = "/api/v1/projects/{name}/files", tag = "workspace",
    params(("name" = String, Path, description = "project name"), ListParams),
    responses((status = 200, description = "the entries", body = Listing),
              (status = 404, description = "no such project or directory", body = ErrorBody),
              (status = 422, description = "the path is refused", body = ErrorBody)))]
async fn list_files(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Listing>, ApiError> {
    let root = project(&state, &name).await?.path;
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    Ok(Json(
        blocking(move || code::list(&root, &p.dir, limit)).await?,
    ))
}

/// `GET …/file` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// The file, relative to the project.
    pub path: String,
    /// Most bytes returned (default 1 MiB, at most 8 MiB).
    pub limit: Option<usize>,
}

/// Reads a text file of a project.
#[utoipa::path(get, path = "/api/v1/projects/{name}/file", tag = "workspace",
    params(("name" = String, Path, description = "project name"), ReadParams),
    responses((status = 200, description = "its text", body = FileText),
              (status = 404, description = "no such project or file", body = ErrorBody),
              (status = 422, description = "the path is refused, or not a text file", body = ErrorBody)))]
async fn read_file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<FileText>, ApiError> {
    let root = project(&state, &name).await?.path;
    let limit = p.limit.unwrap_or(1 << 20).clamp(1, 8 << 20);
    Ok(Json(
        blocking(move || code::read(&root, &p.path, limit)).await?,
    ))
}

/// `PUT …/file`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// The file, relative to the project (parents are created).
    pub path: String,
    /// Its new text.
    pub content: String,
}

/// Writes a text file of a project (atomically; parents created; `.git` refused).
#[utoipa::path(put, path = "/api/v1/projects/{name}/file", tag = "workspace", request_body = WriteFile,
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "written", body = Written),
              (status = 404, description = "no such project", body = ErrorBody),
              (status = 422, description = "the path is refused", body = ErrorBody)))]
async fn write_file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Written>, ApiError> {
    let w: WriteFile =
        serde_json::from_value(body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let root = project(&state, &name).await?.path;
    Ok(Json(
        blocking(move || code::write(&root, &w.path, &w.content)).await?,
    ))
}

/// `GET …/search` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for.
    pub pattern: String,
    /// `pattern` is a regular expression (default: literal text).
    #[serde(default)]
    pub regex: bool,
    /// Most matches (default 200, at most 5000).
    pub limit: Option<usize>,
}

/// `GET …/search`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    /// Matching lines, files in path order.
    pub matches: Vec<Match>,
    /// More matches than `limit` exist.
    pub truncated: bool,
}

/// Searches a project's text files.
#[utoipa::path(get, path = "/api/v1/projects/{name}/search", tag = "workspace",
    params(("name" = String, Path, description = "project name"), SearchParams),
    responses((status = 200, description = "matching lines", body = SearchResult),
              (status = 404, description = "no such project", body = ErrorBody),
              (status = 422, description = "bad pattern", body = ErrorBody)))]
async fn search_files(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchResult>, ApiError> {
    if p.pattern.is_empty() {
        return Err(ApiError::invalid("pattern", "must not be empty"));
    }
    let root = project(&state, &name).await?.path;
    let limit = p.limit.unwrap_or(200).clamp(1, 5000);
    let (matches, truncated) =
        tokio::task::spawn_blocking(move || code::search(&root, &p.pattern, p.regex, limit))
            .await
            .map_err(internal)?
            .map_err(|e| match e {
                CodeError::BadPattern(m) => ApiError::invalid("pattern", m),
                other => ApiError::from(other),
            })?;
    Ok(Json(SearchResult { matches, truncated }))
}
