//! `/api/v1/projects`: the workspace tools over HTTP. Each route runs the same tool as `/mcp`
//! (its [`ToolSpec`]) with the project from the path and the tool's own arguments from the
//! body or the query, typed as the tool's argument type — so the OpenAPI document shows the
//! fields of the tool's MCP schema. The arguments are parsed by the tools' own parser
//! ([`parse_args`]): a bad one is a 422 naming it, worded as on `/mcp`; a refused path is a
//! 422 naming `path`, never a 500.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, By};
use crate::tools::args::{
    BranchArgs, CodeDiffArgs, CommitArgs, CreateArgs, DeployRunArgs, DeployStatusArgs, ListArgs,
    LogArgs, LogsArgs, NoArgs, PushArgs, ReadArgs, SearchArgs, TestResultsArgs, TestRunArgs,
    WriteArgs,
};
use crate::tools::{
    Caller, InProject, ToolError, ToolSpec, code, deploy, git, parse_args, projects, runtime,
    testruns,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, add_project))
        .routes(routes!(get_project, delete_project))
        .routes(routes!(project_status))
        .routes(routes!(download))
        .routes(routes!(list_files))
        .routes(routes!(read_file, write_file))
        .routes(routes!(search_files))
        .routes(routes!(diff))
        .routes(routes!(git_status))
        .routes(routes!(git_branch))
        .routes(routes!(git_commit))
        .routes(routes!(git_log))
        .routes(routes!(git_diff))
        .routes(routes!(git_push))
        .routes(routes!(run_tests, list_tests))
        .routes(routes!(get_test))
        .routes(routes!(runtime_status))
        .routes(routes!(runtime_action))
        .routes(routes!(runtime_logs))
        .routes(routes!(deploy_run, deploy_status))
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Invalid { field, message } => ApiError::Invalid { field, message },
            ToolError::NotFound(m) => ApiError::NotFound(m),
            ToolError::Conflict(m) => ApiError::Conflict(Value::String(m)),
            ToolError::Remote(m) => ApiError::Detailed {
                status: StatusCode::BAD_GATEWAY,
                code: "bad_gateway",
                detail: Value::String(m),
                retry_after: None,
            },
            ToolError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Runs `tool` on `args` for this request's caller; answers the tool's structured result.
async fn run<A>(
    s: &AppState,
    caller: &Caller,
    tool: &ToolSpec<A>,
    args: A,
) -> Result<Json<Value>, ApiError> {
    let done = tool.run(&s.tools, args, caller).await?;
    Ok(Json(done.data))
}

/// A JSON body as the object of a tool's arguments (`null`: none).
fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(ApiError::invalid("body", "must be a JSON object")),
    }
}

/// A tool's own arguments on a route whose path names the project: any `project` among them
/// is dropped (the path decides), the rest parsed as `A`.
fn own_args<A: DeserializeOwned>(mut args: Map<String, Value>) -> Result<A, ApiError> {
    args.remove("project");
    Ok(parse_args(Value::Object(args))?)
}

/// A tool's own arguments from the JSON body (see [`own_args`]).
pub(super) struct ToolBody<A>(pub(super) A);

impl<S: Send + Sync, A: DeserializeOwned> FromRequest<S> for ToolBody<A> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ApiJson(body) = ApiJson::<Value>::from_request(req, state).await?;
        own_args(object(body)?).map(ToolBody)
    }
}

/// A tool's own arguments from the query string (see [`own_args`] and [`query_args`]).
pub(super) struct ToolQuery<A>(pub(super) A);

impl<S: Send + Sync, A: DeserializeOwned> FromRequestParts<S> for ToolQuery<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ApiQuery(q) =
            ApiQuery::<BTreeMap<String, String>>::from_request_parts(parts, state).await?;
        own_args(query_args(q)).map(ToolQuery)
    }
}

/// Query parameters as a JSON object: the numeric and boolean ones as such (a value that is
/// not one is passed on as text, and the tool's argument check names it).
fn query_args(q: BTreeMap<String, String>) -> Map<String, Value> {
    q.into_iter()
        .map(|(k, s)| {
            let v = match k.as_str() {
                "limit" | "cursor" | "timeout_seconds" => {
                    s.parse::<u64>().map_or(Value::String(s), |n| json!(n))
                }
                "regex" | "create" => match s.as_str() {
                    "true" | "1" => json!(true),
                    "false" | "0" => json!(false),
                    _ => Value::String(s),
                },
                _ => Value::String(s),
            };
            (k, v)
        })
        .collect()
}

/// Lists the projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "workspace",
    responses((status = 200, description = "every project (`projects`)")))]
pub(super) async fn list_projects(
    State(s): State<AppState>,
    By(caller): By,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &projects::LIST, NoArgs {}).await
}

/// Registers (or replaces) a project: an existing directory, or a clone of `git_remote`.
#[utoipa::path(post, path = "/api/v1/projects", tag = "workspace",
    request_body = CreateArgs,
    responses((status = 201, description = "registered"),
              (status = 422, description = "bad project", body = ErrorBody)))]
async fn add_project(
    State(s): State<AppState>,
    By(caller): By,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let args: CreateArgs = parse_args(Value::Object(object(body)?))?;
    let r = run(&s, &caller, &projects::CREATE, args).await?;
    Ok((StatusCode::CREATED, r))
}

/// One project's record.
#[utoipa::path(get, path = "/api/v1/projects/{name}", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "the project"),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn get_project(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = s.tools.project(&name).await?;
    Ok(Json(
        serde_json::to_value(p).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// Forgets a project (its files are left as they are; its runtime is stopped).
#[utoipa::path(delete, path = "/api/v1/projects/{name}", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 204, description = "forgotten"),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn delete_project(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let _ = run(
        &s,
        &caller,
        &projects::DELETE,
        InProject::new(name, NoArgs {}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A project's status, git state and latest test run.
#[utoipa::path(get, path = "/api/v1/projects/{name}/status", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "`{project, status, git, latest_test_run}`"),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn project_status(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    run(
        &s,
        &caller,
        &projects::STATUS,
        InProject::new(name, NoArgs {}),
    )
    .await
}

/// Writes what an archive produces into a channel, in chunks (the HTTP body reads it).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The project's files as a `tar.gz` stream (`.git` and build output left out, links kept as
/// links and never followed).
#[utoipa::path(get, path = "/api/v1/projects/{name}/download", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "the archive", content_type = "application/gzip"),
              (status = 404, description = "no such project", body = ErrorBody)))]
async fn download(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    let p = s.tools.project(&name).await?;
    if !p.path.is_dir() {
        return Err(ApiError::Conflict(Value::String(format!(
            "the project directory `{}` is gone",
            p.path.display()
        ))));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (root, prefix) = (p.path.clone(), p.name.clone());
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        match att_workspace::code::archive(&root, &prefix, writer) {
            Ok((_, mut w)) => {
                let _ = std::io::Write::flush(&mut w);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a project download failed midway");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    axum::response::Response::builder()
        .header(header::CONTENT_TYPE, "application/gzip")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.tar.gz\""),
        )
        .body(axum::body::Body::from_stream(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Lists a project's files (`.git` and build output skipped, links not followed).
#[utoipa::path(get, path = "/api/v1/projects/{name}/files", tag = "workspace",
    params(("name" = String, Path, description = "project name"), ListArgs),
    responses((status = 200, description = "`{entries, truncated}`"),
              (status = 404, description = "no such project or directory", body = ErrorBody),
              (status = 422, description = "the path is refused", body = ErrorBody)))]
pub(super) async fn list_files(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<ListArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &code::LIST, InProject::new(name, args)).await
}

/// Reads a text file of a project.
#[utoipa::path(get, path = "/api/v1/projects/{name}/file", tag = "workspace",
    params(("name" = String, Path, description = "project name"), ReadArgs),
    responses((status = 200, description = "`{path, content, size, truncated}`"),
              (status = 404, description = "no such project or file", body = ErrorBody),
              (status = 422, description = "the path is refused, or not a text file", body = ErrorBody)))]
pub(super) async fn read_file(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<ReadArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &code::READ, InProject::new(name, args)).await
}

/// Writes a text file of a project (atomic; parents created; `.git` refused).
#[utoipa::path(put, path = "/api/v1/projects/{name}/file", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = WriteArgs,
    responses((status = 200, description = "`{path, bytes, created}`"),
              (status = 404, description = "no such project", body = ErrorBody),
              (status = 422, description = "the path is refused", body = ErrorBody)))]
async fn write_file(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<WriteArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &code::WRITE, InProject::new(name, args)).await
}

/// Searches a project's text files.
#[utoipa::path(get, path = "/api/v1/projects/{name}/search", tag = "workspace",
    params(("name" = String, Path, description = "project name"), SearchArgs),
    responses((status = 200, description = "`{matches, truncated}`"),
              (status = 404, description = "no such project", body = ErrorBody),
              (status = 422, description = "bad pattern", body = ErrorBody)))]
async fn search_files(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<SearchArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &code::SEARCH, InProject::new(name, args)).await
}

/// A diff: the working tree against HEAD (`{}`), or two texts (`{original, modified}`; the
/// project must exist all the same).
#[utoipa::path(post, path = "/api/v1/projects/{name}/diff", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = CodeDiffArgs,
    responses((status = 200, description = "`{diff}`")))]
async fn diff(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(mut args): ToolBody<CodeDiffArgs>,
) -> Result<Json<Value>, ApiError> {
    if args.original.is_some() || args.modified.is_some() {
        s.tools.project(&name).await?;
    } else {
        args.project = Some(name);
    }
    run(&s, &caller, &code::DIFF, args).await
}

/// Branch, HEAD and changed files.
#[utoipa::path(get, path = "/api/v1/projects/{name}/git/status", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "`{branch, head, files, clean}`"),
              (status = 409, description = "not a git repository", body = ErrorBody)))]
pub(super) async fn git_status(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::STATUS, InProject::new(name, NoArgs {})).await
}

/// Switches to a branch.
#[utoipa::path(post, path = "/api/v1/projects/{name}/git/branch", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = BranchArgs,
    responses((status = 200, description = "`{branch, created}`"),
              (status = 409, description = "exists, or would overwrite local changes", body = ErrorBody)))]
async fn git_branch(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<BranchArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::BRANCH, InProject::new(name, args)).await
}

/// Commits.
#[utoipa::path(post, path = "/api/v1/projects/{name}/git/commit", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = CommitArgs,
    responses((status = 200, description = "the commit"),
              (status = 409, description = "nothing to commit", body = ErrorBody),
              (status = 422, description = "a path is refused", body = ErrorBody)))]
async fn git_commit(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<CommitArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::COMMIT, InProject::new(name, args)).await
}

/// The newest commits.
#[utoipa::path(get, path = "/api/v1/projects/{name}/git/log", tag = "workspace",
    params(("name" = String, Path, description = "project name"), LogArgs),
    responses((status = 200, description = "`{commits}`")))]
pub(super) async fn git_log(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<LogArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::LOG, InProject::new(name, args)).await
}

/// The working tree's patch against HEAD.
#[utoipa::path(get, path = "/api/v1/projects/{name}/git/diff", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "`{diff}`")))]
async fn git_diff(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::DIFF, InProject::new(name, NoArgs {})).await
}

/// Pushes.
#[utoipa::path(post, path = "/api/v1/projects/{name}/git/push", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = PushArgs,
    responses((status = 200, description = "`{remote, branch, pushed}`"),
              (status = 409, description = "not a fast-forward", body = ErrorBody)))]
async fn git_push(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<PushArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &git::PUSH, InProject::new(name, args)).await
}

/// Starts a test run and answers at once with its `running` record; `GET …/tests/{id}`
/// shows how it ends (the typed counts), since a run may take longer than any request
/// should.
#[utoipa::path(post, path = "/api/v1/projects/{name}/tests", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = TestRunArgs,
    responses((status = 202, description = "the run, `running`"),
              (status = 409, description = "no test command", body = ErrorBody),
              (status = 422, description = "a bad filter or timeout", body = ErrorBody)))]
pub(super) async fn run_tests(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<TestRunArgs>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let done = s
        .tools
        .start_test_run(InProject::new(name, args), &caller)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(done.data)))
}

/// The newest test runs (or the one with `id`).
#[utoipa::path(get, path = "/api/v1/projects/{name}/tests", tag = "workspace",
    params(("name" = String, Path, description = "project name"), TestResultsArgs),
    responses((status = 200, description = "`{runs}`, newest first")))]
pub(super) async fn list_tests(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<TestResultsArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &testruns::RESULTS, InProject::new(name, args)).await
}

/// One test run.
#[utoipa::path(get, path = "/api/v1/projects/{name}/tests/{id}", tag = "workspace",
    params(("name" = String, Path, description = "project name"),
           ("id" = String, Path, description = "test run id")),
    responses((status = 200, description = "the test run"),
              (status = 404, description = "no such run", body = ErrorBody)))]
pub(super) async fn get_test(
    State(s): State<AppState>,
    By(caller): By,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let args = TestResultsArgs {
        id: Some(id),
        limit: None,
    };
    run(&s, &caller, &testruns::RESULTS, InProject::new(name, args)).await
}

/// The runtime's state and a health probe now.
#[utoipa::path(get, path = "/api/v1/projects/{name}/runtime", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    responses((status = 200, description = "its status")))]
pub(super) async fn runtime_status(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    run(
        &s,
        &caller,
        &runtime::STATUS,
        InProject::new(name, NoArgs {}),
    )
    .await
}

/// Starts, stops or restarts the runtime.
#[utoipa::path(post, path = "/api/v1/projects/{name}/runtime/{action}", tag = "workspace",
    params(("name" = String, Path, description = "project name"),
           ("action" = String, Path, description = "start, stop or restart")),
    responses((status = 200, description = "its status"),
              (status = 409, description = "no runtime", body = ErrorBody)))]
pub(super) async fn runtime_action(
    State(s): State<AppState>,
    By(caller): By,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tool = match action.as_str() {
        "start" => &runtime::START,
        "stop" => &runtime::STOP,
        "restart" => &runtime::RESTART,
        _ => {
            return Err(ApiError::NotFound(format!(
                "no runtime action `{action}`: start, stop or restart"
            )));
        }
    };
    run(&s, &caller, tool, InProject::new(name, NoArgs {})).await
}

/// The runtime's output, a page at a time.
#[utoipa::path(get, path = "/api/v1/projects/{name}/runtime/logs", tag = "workspace",
    params(("name" = String, Path, description = "project name"), LogsArgs),
    responses((status = 200, description = "`{lines, next_cursor, more}`")))]
pub(super) async fn runtime_logs(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<LogsArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &runtime::LOGS, InProject::new(name, args)).await
}

/// Ships a release of the project.
#[utoipa::path(post, path = "/api/v1/projects/{name}/deploy", tag = "workspace",
    params(("name" = String, Path, description = "project name")),
    request_body = DeployRunArgs,
    responses((status = 202, description = "`{run_id, target}`"),
              (status = 409, description = "a run is in progress", body = ErrorBody)))]
pub(super) async fn deploy_run(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolBody(args): ToolBody<DeployRunArgs>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let r = run(&s, &caller, &deploy::RUN, InProject::new(name, args)).await?;
    Ok((StatusCode::ACCEPTED, r))
}

/// The project's newest deploy run (or `run_id`).
#[utoipa::path(get, path = "/api/v1/projects/{name}/deploy", tag = "workspace",
    params(("name" = String, Path, description = "project name"), DeployStatusArgs),
    responses((status = 200, description = "the run")))]
pub(super) async fn deploy_status(
    State(s): State<AppState>,
    By(caller): By,
    Path(name): Path<String>,
    ToolQuery(args): ToolQuery<DeployStatusArgs>,
) -> Result<Json<Value>, ApiError> {
    run(&s, &caller, &deploy::STATUS, InProject::new(name, args)).await
}
