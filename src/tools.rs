//! att's own MCP tools (WORKSPACE.md) as one implementation behind two surfaces: every
//! capability is a tool `att.<area>.<verb>` with a typed, schema'd argument object; `/mcp`
//! lists and calls the tools, and the HTTP routes under `/api/v1/projects` call the same
//! tools with the project taken from the path.
//!
//! Errors say whose they are ([`ToolError`]): a caller's mistake (bad arguments, a refused path)
//! is an invalid-params error on MCP and a 422 over HTTP, never a 500; a domain failure (no such
//! project, nothing to commit, a branch that exists) is a tool result with `isError: true` and
//! a 404/409 over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::project::{Project, Runtime};
use att_release::bootstrap::actor::{BootstrapHandle, Refused};
use att_release::model::{ReleaseStore, RunRequest};
use att_release::service::spec::ServiceSpec;
use att_runtime::events::{EventSink, EventsHandle, NewEvent};
use att_workspace::code::{self, CodeError};
use att_workspace::git::{self, GitError};
use att_workspace::testrun::{self, RunError, TestCommand};
use rmcp::model::{Resource, ResourceContents, ResourceTemplate, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::WorkspaceConfig;
use crate::services::Services;
use crate::store::SqliteStore;

/// Why a tool call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The caller's mistake: bad arguments, a refused path. `field` names the culprit.
    Invalid {
        /// The argument to blame, when one is.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such project, file, run or tool.
    NotFound(String),
    /// The request conflicts with the state (nothing to commit, a branch that exists, a run
    /// in progress, not a git repository).
    Conflict(String),
    /// Something att had to reach failed (a git remote that refused or could not be
    /// reached): neither the caller's fault nor att's.
    Remote(String),
    /// att failed (I/O, the store).
    Internal(String),
}

impl ToolError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid { message, .. } => message,
            Self::NotFound(m) | Self::Conflict(m) | Self::Remote(m) | Self::Internal(m) => m,
        }
    }

    /// A machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Remote(_) => "bad_gateway",
            Self::Internal(_) => "internal",
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ToolError {
    ToolError::Internal(e.to_string())
}

impl From<CodeError> for ToolError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::NotFound(p) => Self::NotFound(format!("`{p}` does not exist")),
            CodeError::BadPattern(m) => Self::invalid("pattern", m),
            e if e.is_callers() => Self::invalid("path", e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<GitError> for ToolError {
    fn from(e: GitError) -> Self {
        match e {
            GitError::Path(p) if p.is_callers() => Self::invalid("path", p.to_string()),
            GitError::BadName(m) => Self::Invalid {
                field: None,
                message: m,
            },
            GitError::NothingToCommit(_) | GitError::Conflict(_) | GitError::NotARepo(_) => {
                Self::Conflict(e.to_string())
            }
            GitError::Remote(m) => Self::Remote(m),
            e => Self::Internal(e.to_string()),
        }
    }
}

/// What a tool produced: a text rendering and the structured result.
#[derive(Debug, Clone)]
pub struct Done {
    /// For people (and models) reading the result.
    pub text: String,
    /// The typed result (`structuredContent`, the HTTP body).
    pub data: Value,
    /// A file to hand over as well (MCP: an embedded blob resource).
    pub blob: Option<ResourceContents>,
}

impl Done {
    fn new(text: impl Into<String>, data: impl serde::Serialize) -> Result<Self, ToolError> {
        Ok(Self {
            text: text.into(),
            data: serde_json::to_value(data).map_err(internal)?,
            blob: None,
        })
    }
}

/// Reports progress of long work: (lines of output so far, the newest line).
pub type Progress = Arc<dyn Fn(u64, String) + Send + Sync>;

/// Who asked (recorded with test runs and commits): `http:<request id>` or
/// `mcp:<session>`; and where progress of long work goes, if anywhere.
#[derive(Clone)]
pub struct Caller {
    /// Who.
    pub who: String,
    /// Hears progress (MCP: `notifications/progress` to the calling client).
    pub progress: Option<Progress>,
}

impl Caller {
    /// A caller that hears no progress.
    pub fn new(who: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            progress: None,
        }
    }
}

/// The workspace tools and what they reach.
pub struct Tools {
    store: SqliteStore,
    events: EventsHandle,
    services: Arc<Services>,
    bootstrap: BootstrapHandle,
    tools: Vec<Tool>,
    /// Where projects may live, how long a clone may take.
    config: WorkspaceConfig,
    /// The projects as stored, read once and written through (every tool call looks one up;
    /// this att is the only writer of its store).
    projects: tokio::sync::RwLock<Option<BTreeMap<String, Project>>>,
    /// Fires when att begins to stop: test runs in progress are stopped and recorded
    /// `interrupted` (their process group killed), so none outlives att.
    stopping: tokio_util::sync::CancellationToken,
}

// ---- the tools' arguments ----

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProjectArgs {
    /// The project's name.
    project: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    /// `[A-Za-z0-9_-]{1,64}`.
    name: String,
    /// Its directory (absolute). It must exist, unless `git_remote` is given: then the
    /// remote is cloned there.
    path: String,
    /// A repository to clone into `path` (a local path or `file://` URL through git2; other
    /// URLs through the `git` command line with your own credentials).
    #[serde(default)]
    git_remote: Option<String>,
    /// How its tests run: `{"argv": [...], "runner": "cargo_test|cargo_nextest|pytest|junit|plain", "junit": "report.xml"?}` (default: detected from its files).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    test: Option<Value>,
    /// How it runs: `{"command", "args"?, "env"?, "health"?: {"kind": "http", "url"}, "build"?: {"command": [...], "artifact"}}`.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    runtime: Option<Value>,
    /// Its forge for change requests: `"local"` (default: a bare `origin`) or `{"github": {"repo": "owner/name"}}`.
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    forge: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DownloadArgs {
    project: String,
    /// The largest archive handed over on MCP (default and most 8 MiB); over HTTP,
    /// `GET /api/v1/projects/{name}/download` streams any size.
    #[serde(default)]
    max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    project: String,
    /// A directory inside the project (default: its root).
    #[serde(default)]
    dir: String,
    /// Most entries (default 1000, at most 10000).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    project: String,
    /// The file, relative to the project.
    path: String,
    /// Most bytes returned (default 1 MiB, at most 8 MiB).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    project: String,
    /// The file, relative to the project (parents are created).
    path: String,
    /// Its new text.
    content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    project: String,
    /// What to look for.
    pattern: String,
    /// `pattern` is a regular expression (default: literal text).
    #[serde(default)]
    regex: bool,
    /// Most matches (default 200, at most 5000).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CodeDiffArgs {
    /// The project whose working tree is compared with HEAD (when no texts are given).
    #[serde(default)]
    project: Option<String>,
    /// The old text (with `modified`: the two texts are compared instead).
    #[serde(default)]
    original: Option<String>,
    /// The new text.
    #[serde(default)]
    modified: Option<String>,
    /// The name shown for the texts (default `text`).
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BranchArgs {
    project: String,
    /// The branch.
    name: String,
    /// Create it at HEAD first (default: switch to an existing one).
    #[serde(default)]
    create: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CommitArgs {
    project: String,
    /// The commit message.
    message: String,
    /// The files to commit (new, changed or deleted); default: every change to tracked
    /// files (untracked files are never swept in).
    #[serde(default)]
    paths: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    project: String,
    /// Most commits (default 20, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PushArgs {
    project: String,
    /// The remote (default `origin`).
    #[serde(default)]
    remote: Option<String>,
    /// The branch (default: the current one).
    #[serde(default)]
    branch: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OpenChangeArgs {
    project: String,
    /// The branch to propose (default: the current one); it is pushed first.
    #[serde(default)]
    branch: Option<String>,
    /// The branch to merge into.
    base: String,
    /// Its title.
    title: String,
    /// Its description.
    #[serde(default)]
    body: Option<String>,
    /// The remote (default `origin`).
    #[serde(default)]
    remote: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChangeArgs {
    project: String,
    /// The change request's id (as `att.git.open_change` answered).
    change: String,
    /// The remote (default `origin`).
    #[serde(default)]
    remote: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestRunArgs {
    project: String,
    /// Only the tests matching this (cargo: a name filter; pytest: `-k`).
    #[serde(default)]
    filter: Option<String>,
    /// Seconds before the run's process group is killed (default 600, at most 3600).
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestResultsArgs {
    project: String,
    /// One run by id (default: the newest runs).
    #[serde(default)]
    id: Option<String>,
    /// Most runs (default 10, at most 100).
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogsArgs {
    project: String,
    /// Where to continue (the `next_cursor` of the previous page; default: the last `limit`
    /// lines).
    #[serde(default)]
    cursor: Option<u64>,
    /// Most lines (default 200, at most 5000).
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeployRunArgs {
    project: String,
    /// The release: a commit, branch or tag of the project (default: its HEAD), or a
    /// registered release.
    #[serde(default)]
    release: Option<String>,
    /// Further run options (BOOTSTRAP.md: watchdog, health, rollback switches; `change` and
    /// `publish` to make and publish a change first — the repository defaults to the
    /// project).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    options: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeployStatusArgs {
    project: String,
    /// One run (default: the project's newest).
    #[serde(default)]
    run_id: Option<String>,
}

fn schema<T: JsonSchema>() -> Arc<serde_json::Map<String, Value>> {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        o.entry("type").or_insert_with(|| json!("object"));
    }
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn tool<T: JsonSchema>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema::<T>())
}

fn tool_list() -> Vec<Tool> {
    vec![
        tool::<CreateArgs>(
            "att.project.create",
            "Registers a project (an existing directory) or clones `git_remote` into `path`.",
        ),
        tool::<NoArgs>("att.project.list", "Lists the projects."),
        tool::<ProjectArgs>(
            "att.project.status",
            "A project's record and status (created, cloned, running, stopped, error), its git state and latest test run.",
        ),
        tool::<ProjectArgs>(
            "att.project.delete",
            "Forgets a project (its files are left as they are; its runtime is stopped).",
        ),
        tool::<DownloadArgs>(
            "att.project.download",
            "The project's files as a tar.gz (an embedded blob; .git and build output left out, links kept as links).",
        ),
        tool::<ListArgs>(
            "att.code.list",
            "Lists a project's files (sorted; .git and build output skipped; links listed, not followed).",
        ),
        tool::<ReadArgs>("att.code.read", "Reads a text file of a project."),
        tool::<WriteArgs>(
            "att.code.write",
            "Writes a text file of a project (atomically; parents created; .git refused).",
        ),
        tool::<SearchArgs>(
            "att.code.search",
            "Searches a project's text files (literal or regex) with line numbers.",
        ),
        tool::<CodeDiffArgs>(
            "att.code.diff",
            "A unified diff: a project's working tree against HEAD, or two texts.",
        ),
        tool::<ProjectArgs>(
            "att.git.status",
            "Branch, HEAD and changed files of a project.",
        ),
        tool::<BranchArgs>(
            "att.git.branch",
            "Switches to a branch, creating it at HEAD first with `create` (refuses to overwrite local changes).",
        ),
        tool::<CommitArgs>(
            "att.git.commit",
            "Commits the named paths, or every change to tracked files (never untracked files).",
        ),
        tool::<LogArgs>("att.git.log", "The newest commits reachable from HEAD."),
        tool::<ProjectArgs>(
            "att.git.diff",
            "The patch of the working tree (staged and not, untracked included) against HEAD.",
        ),
        tool::<PushArgs>(
            "att.git.push",
            "Pushes a branch to a remote (local and file:// remotes; not-fast-forward refused).",
        ),
        tool::<OpenChangeArgs>(
            "att.git.open_change",
            "Pushes a branch and opens a change request on the project's forge (the local forge of a bare `origin`, or GitHub).",
        ),
        tool::<ChangeArgs>(
            "att.git.ci_status",
            "The CI state of a change request: pending, success or failure (with why).",
        ),
        tool::<ChangeArgs>(
            "att.git.merge_change",
            "Merges a change request; answers the base branch's new head.",
        ),
        tool::<ChangeArgs>("att.git.reviews", "The reviews of a change request."),
        tool::<TestRunArgs>(
            "att.test.run",
            "Runs a project's tests (no shell, own process group, timeout) and answers the typed counts; the run is stored.",
        ),
        tool::<TestResultsArgs>(
            "att.test.results",
            "Stored test runs of a project: one by id, or the newest.",
        ),
        tool::<ProjectArgs>(
            "att.runtime.start",
            "Starts the project's runtime (a managed service in the project directory).",
        ),
        tool::<ProjectArgs>("att.runtime.stop", "Stops the project's runtime."),
        tool::<ProjectArgs>("att.runtime.restart", "Restarts the project's runtime."),
        tool::<ProjectArgs>(
            "att.runtime.status",
            "The runtime's process state and a health probe now.",
        ),
        tool::<LogsArgs>(
            "att.runtime.logs",
            "The runtime's output, a page at a time (pass `next_cursor` back for more).",
        ),
        tool::<DeployRunArgs>(
            "att.deploy.run",
            "Ships a release of the project through the release pipeline (build, deploy, watchdog, health, rollback by policy).",
        ),
        tool::<DeployRunArgs>(
            "att.deploy.build",
            "Builds a release of the project (its HEAD, or a commit, branch or tag) and registers it, deploying nothing.",
        ),
        tool::<DeployStatusArgs>(
            "att.deploy.status",
            "A deploy run of the project: its phases and result.",
        ),
    ]
}

/// Parses a tool's arguments; a mismatch names the argument.
fn args<T: DeserializeOwned>(v: Value) -> Result<T, ToolError> {
    let v = if v.is_null() { json!({}) } else { v };
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = crate::http::extract::field_of(&path, &message);
        let message = match &field {
            Some(f) if !message.contains(&format!("`{f}`")) => format!("`{f}`: {message}"),
            _ => message,
        };
        ToolError::Invalid { field, message }
    })
}

/// Runs blocking file or git work off the async workers.
async fn blocking<T: Send + 'static, E: Into<ToolError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(internal)?
        .map_err(Into::into)
}

/// A stored test run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TestRunRecord {
    /// Its id.
    pub id: String,
    /// The project.
    pub project: String,
    /// Who asked.
    pub caller: String,
    /// The filter, if any.
    pub suite: Option<String>,
    /// `running`, `completed`, `interrupted` (att stopped during the run) or `error` (the
    /// command could not start).
    pub status: String,
    /// Why it is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While running: its pid (the leader of its process group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// While running: who its process is, so that an att restarted after a crash stops
    /// what the crashed one left running (and nothing else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<att_runtime::process::Identity>,
    /// The program it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ended_at: Option<OffsetDateTime>,
    /// What ran and how it went (once it has ended).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<testrun::TestOutcome>,
}

/// A test run that has been checked and recorded as `running`, ready to run.
struct PreparedRun {
    project: Project,
    command: TestCommand,
    timeout: Duration,
    record: TestRunRecord,
}

const TIMEOUT_DEFAULT: u64 = 600;
/// The largest archive `att.project.download` hands over on MCP.
const DOWNLOAD_MAX: usize = 8 << 20;
const TIMEOUT_MAX: u64 = 3600;

impl Tools {
    /// The tools over `store`, reaching the services and the pipeline.
    pub fn new(
        store: SqliteStore,
        events: EventsHandle,
        services: Arc<Services>,
        bootstrap: BootstrapHandle,
        config: WorkspaceConfig,
        stopping: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            stopping,
            config,
            store,
            events,
            services,
            bootstrap,
            tools: tool_list(),
            projects: tokio::sync::RwLock::new(None),
        }
    }

    /// Every tool, with its input schema.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Whether `name` is one of att's tools.
    pub fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.name == name)
    }

    fn emit(&self, kind: &str, correlation: Option<String>, data: Value) {
        self.events.emit(NewEvent {
            at: OffsetDateTime::now_utc(),
            kind: kind.to_owned(),
            correlation_id: correlation,
            data,
        });
    }

    /// The projects, loaded from the store on first use.
    async fn projects(
        &self,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, Option<BTreeMap<String, Project>>>, ToolError>
    {
        {
            let known = self.projects.read().await;
            if known.is_some() {
                return Ok(known);
            }
        }
        let mut known = self.projects.write().await;
        if known.is_none() {
            let stored = self.store.list_projects().await.map_err(internal)?;
            *known = Some(stored.into_iter().map(|p| (p.name.clone(), p)).collect());
        }
        Ok(known.downgrade())
    }

    /// The project called `name`.
    pub async fn project(&self, name: &str) -> Result<Project, ToolError> {
        self.projects()
            .await?
            .as_ref()
            .and_then(|m| m.get(name).cloned())
            .ok_or_else(|| ToolError::NotFound(format!("no project `{name}`")))
    }

    /// Refuses a project directory outside `[workspace] roots` (when any are set): its real
    /// path (for a clone target, its parent's) must be inside one.
    fn check_roots(&self, path: &Path) -> Result<(), ToolError> {
        let roots = &self.config.roots;
        if roots.is_empty() {
            return Ok(());
        }
        let real = std::fs::canonicalize(path).or_else(|_| {
            let parent = path.parent().unwrap_or(path);
            std::fs::canonicalize(parent).map(|p| p.join(path.file_name().unwrap_or_default()))
        });
        let inside = real.is_ok_and(|real| {
            roots
                .iter()
                .any(|root| std::fs::canonicalize(root).is_ok_and(|root| real.starts_with(root)))
        });
        if inside {
            Ok(())
        } else {
            Err(ToolError::invalid(
                "path",
                format!(
                    "`{}` is outside the workspace roots ({}): projects must live inside one",
                    path.display(),
                    roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    /// The directory of project `name`, which must still be there.
    async fn root(&self, name: &str) -> Result<PathBuf, ToolError> {
        let p = self.project(name).await?;
        if !p.path.is_dir() {
            return Err(ToolError::Conflict(format!(
                "project `{name}`'s directory `{}` is gone: register it again",
                p.path.display()
            )));
        }
        Ok(p.path)
    }

    /// Stores `project` (insert or replace), then remembers it.
    async fn save_project(&self, project: &Project) -> Result<(), ToolError> {
        let _ = self.projects().await?;
        let mut known = self.projects.write().await;
        self.store.save_project(project).await.map_err(internal)?;
        if let Some(m) = known.as_mut() {
            m.insert(project.name.clone(), project.clone());
        }
        Ok(())
    }

    /// Forgets `name` in the store and here.
    async fn forget_project(&self, name: &str) -> Result<(), ToolError> {
        let _ = self.projects().await?;
        let mut known = self.projects.write().await;
        self.store.delete_project(name).await.map_err(internal)?;
        if let Some(m) = known.as_mut() {
            m.remove(name);
        }
        Ok(())
    }

    /// Calls tool `name` with `arguments` for `caller`.
    pub async fn call(
        &self,
        name: &str,
        arguments: Value,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        match name {
            "att.project.create" => self.create(args(arguments)?).await,
            "att.project.list" => {
                let _: NoArgs = args(arguments)?;
                let projects: Vec<Project> = self
                    .projects()
                    .await?
                    .as_ref()
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
                Done::new(
                    format!("{} projects: {}", names.len(), names.join(", ")),
                    json!({ "projects": projects }),
                )
            }
            "att.project.status" => {
                let a: ProjectArgs = args(arguments)?;
                self.status(&a.project).await
            }
            "att.project.delete" => {
                let a: ProjectArgs = args(arguments)?;
                let p = self.project(&a.project).await?;
                if self.services.get(&p.service_name()).is_some() {
                    self.services
                        .remove(&p.service_name())
                        .await
                        .map_err(internal)?;
                }
                self.forget_project(&p.name).await?;
                Done::new(
                    format!("forgot project `{}` (its files are untouched)", p.name),
                    json!({ "deleted": p.name }),
                )
            }
            "att.project.download" => {
                let a: DownloadArgs = args(arguments)?;
                let p = self.project(&a.project).await?;
                let max = a.max_bytes.unwrap_or(DOWNLOAD_MAX).clamp(1, DOWNLOAD_MAX);
                let (root, name) = (p.path.clone(), p.name.clone());
                let (info, bytes) =
                    blocking(move || code::archive(&root, &name, Vec::new())).await?;
                if bytes.len() > max {
                    return Err(ToolError::Conflict(format!(
                        "the archive is {} bytes, more than {max}: download it over HTTP at \
                         /api/v1/projects/{}/download",
                        bytes.len(),
                        p.name
                    )));
                }
                use base64::Engine as _;
                let uri = format!("att://project/{}/download", p.name);
                let mut blob = ResourceContents::blob(
                    base64::engine::general_purpose::STANDARD.encode(&bytes),
                    uri.clone(),
                );
                if let ResourceContents::BlobResourceContents { mime_type, .. } = &mut blob {
                    *mime_type = Some("application/gzip".into());
                }
                let mut done = Done::new(
                    format!(
                        "{}.tar.gz: {} files, {} links, {} bytes compressed",
                        p.name,
                        info.files,
                        info.links,
                        bytes.len()
                    ),
                    json!({ "uri": uri, "format": "tar.gz", "compressed_bytes": bytes.len(),
                            "files": info.files, "bytes": info.bytes, "links": info.links }),
                )?;
                done.blob = Some(blob);
                Ok(done)
            }
            "att.code.list" => {
                let a: ListArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let limit = a.limit.unwrap_or(1000).clamp(1, 10_000);
                let listing = blocking(move || code::list(&root, &a.dir, limit)).await?;
                let text = listing
                    .entries
                    .iter()
                    .map(|e| format!("{} {}", e.kind, e.path))
                    .collect::<Vec<_>>()
                    .join("\n");
                Done::new(text, listing)
            }
            "att.code.read" => {
                let a: ReadArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let limit = a.limit.unwrap_or(1 << 20).clamp(1, 8 << 20);
                let file = blocking(move || code::read(&root, &a.path, limit)).await?;
                Done::new(file.content.clone(), file)
            }
            "att.code.write" => {
                let a: WriteArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let w = blocking(move || code::write(&root, &a.path, &a.content)).await?;
                Done::new(format!("wrote {} bytes to {}", w.bytes, w.path), w)
            }
            "att.code.search" => {
                let a: SearchArgs = args(arguments)?;
                if a.pattern.is_empty() {
                    return Err(ToolError::invalid("pattern", "must not be empty"));
                }
                let root = self.root(&a.project).await?;
                let limit = a.limit.unwrap_or(200).clamp(1, 5000);
                let (matches, truncated) =
                    blocking(move || code::search(&root, &a.pattern, a.regex, limit)).await?;
                let text = matches
                    .iter()
                    .map(|m| format!("{}:{}: {}", m.path, m.line, m.text))
                    .collect::<Vec<_>>()
                    .join("\n");
                Done::new(text, json!({ "matches": matches, "truncated": truncated }))
            }
            "att.code.diff" => {
                let a: CodeDiffArgs = args(arguments)?;
                let patch = match (a.original, a.modified, a.project) {
                    (Some(old), Some(new), _) => {
                        let name = a.name.unwrap_or_else(|| "text".into());
                        blocking(move || {
                            code::diff_texts(&old, &new, &format!("a/{name}"), &format!("b/{name}"))
                        })
                        .await?
                    }
                    (None, None, Some(project)) => {
                        let root = self.root(&project).await?;
                        blocking(move || git::diff(&root)).await?
                    }
                    _ => {
                        return Err(ToolError::Invalid {
                            field: None,
                            message: "give `project` (its working tree against HEAD) or both \
                                      `original` and `modified`"
                                .into(),
                        });
                    }
                };
                Done::new(patch.clone(), json!({ "diff": patch }))
            }
            "att.git.status" => {
                let a: ProjectArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let s = blocking(move || git::status(&root)).await?;
                let text = format!(
                    "on {} at {}: {}",
                    s.branch.as_deref().unwrap_or("(detached)"),
                    s.head.as_deref().unwrap_or("(no commit)"),
                    if s.clean {
                        "clean".to_owned()
                    } else {
                        format!("{} changed files", s.files.len())
                    }
                );
                Done::new(text, s)
            }
            "att.git.branch" => {
                let a: BranchArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let (name, create) = (a.name, a.create);
                let b = blocking(move || git::branch(&root, &name, create)).await?;
                Done::new(
                    format!("on branch {b}"),
                    json!({ "branch": b, "created": create }),
                )
            }
            "att.git.commit" => {
                let a: CommitArgs = args(arguments)?;
                let project = self.project(&a.project).await?;
                let root = project.path.clone();
                let (message, paths) = (a.message, a.paths);
                let c = blocking(move || git::commit(&root, &message, paths.as_deref())).await?;
                self.emit(
                    "workspace.commit",
                    None,
                    json!({ "project": project.name, "caller": caller.who, "commit": c.id,
                            "files": c.files }),
                );
                Done::new(
                    format!("committed {} {}", &c.id[..c.id.len().min(12)], c.summary),
                    c,
                )
            }
            "att.git.log" => {
                let a: LogArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let limit = a.limit.unwrap_or(20).clamp(1, 1000);
                let commits = blocking(move || git::log(&root, limit)).await?;
                let text = commits
                    .iter()
                    .map(|c| format!("{} {}", &c.id[..c.id.len().min(12)], c.summary))
                    .collect::<Vec<_>>()
                    .join("\n");
                Done::new(text, json!({ "commits": commits }))
            }
            "att.git.diff" => {
                let a: ProjectArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let patch = blocking(move || git::diff(&root)).await?;
                Done::new(patch.clone(), json!({ "diff": patch }))
            }
            "att.git.push" => {
                let a: PushArgs = args(arguments)?;
                let root = self.root(&a.project).await?;
                let remote = a.remote.unwrap_or_else(|| "origin".into());
                let branch = match a.branch {
                    Some(b) => b,
                    None => {
                        let r = root.clone();
                        blocking(move || git::status(&r))
                            .await?
                            .branch
                            .ok_or_else(|| {
                                ToolError::Conflict("HEAD is detached: name the branch".into())
                            })?
                    }
                };
                git::push(&root, &remote, &branch).await?;
                Done::new(
                    format!("pushed {branch} to {remote}"),
                    json!({ "remote": remote, "branch": branch, "pushed": true }),
                )
            }
            "att.git.open_change" => self.open_change(args(arguments)?).await,
            "att.git.ci_status" | "att.git.merge_change" | "att.git.reviews" => {
                self.on_change(name, args(arguments)?).await
            }
            "att.test.run" => self.test_run(args(arguments)?, caller).await,
            "att.test.results" => {
                let a: TestResultsArgs = args(arguments)?;
                let project = self.project(&a.project).await?;
                match a.id {
                    Some(id) => {
                        let run = self
                            .test_run_by_id(&id)
                            .await?
                            .filter(|r| r.project == project.name)
                            .ok_or_else(|| ToolError::NotFound(format!("no test run `{id}`")))?;
                        Done::new(summary(&run), run)
                    }
                    None => {
                        let runs = self
                            .test_runs(&project.name, a.limit.unwrap_or(10).clamp(1, 100))
                            .await?;
                        let text = runs.iter().map(summary).collect::<Vec<_>>().join("\n");
                        Done::new(text, json!({ "runs": runs }))
                    }
                }
            }
            "att.runtime.start" | "att.runtime.stop" | "att.runtime.restart" => {
                let a: ProjectArgs = args(arguments)?;
                let verb = name.rsplit('.').next().unwrap_or_default();
                self.runtime(&a.project, verb).await
            }
            "att.runtime.status" => {
                let a: ProjectArgs = args(arguments)?;
                self.runtime_status(&a.project).await
            }
            "att.runtime.logs" => self.runtime_logs(args(arguments)?).await,
            "att.deploy.run" => self.deploy_run(args(arguments)?, false).await,
            "att.deploy.build" => self.deploy_run(args(arguments)?, true).await,
            "att.deploy.status" => self.deploy_status(args(arguments)?).await,
            other => Err(ToolError::NotFound(format!("unknown tool `{other}`"))),
        }
    }

    async fn create(&self, a: CreateArgs) -> Result<Done, ToolError> {
        let test: Option<TestCommand> = match a.test {
            Some(v) => Some(
                serde_path_to_error::deserialize(v)
                    .map_err(|e| ToolError::invalid("test", e.to_string()))?,
            ),
            None => None,
        };
        let runtime: Option<Runtime> = match a.runtime {
            Some(v) => Some(
                serde_path_to_error::deserialize(v)
                    .map_err(|e| ToolError::invalid("runtime", e.to_string()))?,
            ),
            None => None,
        };
        let forge = match a.forge {
            Some(v) => Some(
                serde_path_to_error::deserialize(v)
                    .map_err(|e| ToolError::invalid("forge", e.to_string()))?,
            ),
            None => None,
        };
        let path = PathBuf::from(&a.path);
        // Everything is checked before anything is cloned: a refused request leaves nothing
        // on disk.
        let clone_from = a.git_remote.clone().filter(|_| !path.exists());
        let mut project = Project {
            name: a.name,
            path,
            test,
            git_remote: a.git_remote,
            cloned: false,
            runtime,
            forge,
        };
        project
            .validate_plan()
            .map_err(|(field, message)| ToolError::invalid(field, message))?;
        self.check_roots(&project.path)?;
        if let Some(rt) = &project.runtime {
            service_spec(&project, rt)
                .and_then(|s| s.validate())
                .map_err(|m| ToolError::invalid("runtime", m))?;
        }
        if let Some(remote) = &clone_from {
            git::check_remote(remote).map_err(|m| ToolError::invalid("git_remote", m))?;
            git::clone(remote, &project.path, self.config.clone_timeout)
                .await
                .map_err(|e| ToolError::invalid("git_remote", e.to_string()))?;
            project.cloned = true;
        }
        // What att cloned goes again if the project is not kept after all.
        let kept = async {
            project
                .validate()
                .map_err(|(field, message)| ToolError::invalid(field, message))?;
            self.save_project(&project).await
        }
        .await;
        if let Err(e) = kept {
            if project.cloned {
                let path = project.path.clone();
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(path)).await;
            }
            return Err(e);
        }
        Done::new(
            format!(
                "{} project `{}` at {}",
                if project.cloned {
                    "cloned"
                } else {
                    "registered"
                },
                project.name,
                project.path.display()
            ),
            project,
        )
    }

    /// The forge of `project`'s `remote`.
    fn forge(
        &self,
        project: &Project,
        remote: &str,
    ) -> Result<Box<dyn att_release::forge::Forge>, ToolError> {
        let kind = project.forge.clone().unwrap_or_default();
        let ci = project.test.clone();
        att_release::forge::forge_for(
            &project.path,
            remote,
            &kind,
            ci,
            Duration::from_secs(TIMEOUT_DEFAULT),
        )
        .map_err(ToolError::Conflict)
    }

    async fn open_change(&self, a: OpenChangeArgs) -> Result<Done, ToolError> {
        let p = self.project(&a.project).await?;
        let remote = a.remote.unwrap_or_else(|| "origin".into());
        let branch = match a.branch {
            Some(b) => b,
            None => {
                let r = p.path.clone();
                blocking(move || git::status(&r))
                    .await?
                    .branch
                    .ok_or_else(|| {
                        ToolError::Conflict("HEAD is detached: name the branch".into())
                    })?
            }
        };
        git::push(&p.path, &remote, &branch).await?;
        let forge = self.forge(&p, &remote)?;
        let cr = forge
            .open(
                &branch,
                &a.base,
                &a.title,
                a.body.as_deref().unwrap_or_default(),
            )
            .await
            .map_err(ToolError::Conflict)?;
        Done::new(
            format!("opened change {} ({branch} into {})", cr.url, a.base),
            json!({ "change": cr.id, "url": cr.url, "branch": branch, "base": a.base }),
        )
    }

    async fn on_change(&self, tool: &str, a: ChangeArgs) -> Result<Done, ToolError> {
        use att_release::forge::CiState;
        let p = self.project(&a.project).await?;
        let forge = self.forge(&p, a.remote.as_deref().unwrap_or("origin"))?;
        match tool {
            "att.git.ci_status" => {
                let (state, reason) =
                    match forge.ci(&a.change).await.map_err(ToolError::Conflict)? {
                        CiState::Pending => ("pending", None),
                        CiState::Success => ("success", None),
                        CiState::Failure(why) => ("failure", Some(why)),
                    };
                Done::new(
                    format!("CI of {}: {state}", a.change),
                    json!({ "change": a.change, "state": state, "reason": reason }),
                )
            }
            "att.git.merge_change" => {
                let commit = forge.merge(&a.change).await.map_err(ToolError::Conflict)?;
                Done::new(
                    format!("merged {} as {commit}", a.change),
                    json!({ "change": a.change, "merged": true, "commit": commit }),
                )
            }
            _ => {
                let reviews = forge
                    .reviews(&a.change)
                    .await
                    .map_err(ToolError::Conflict)?;
                Done::new(
                    format!("{} reviews of {}", reviews.len(), a.change),
                    json!({ "change": a.change, "reviews": reviews }),
                )
            }
        }
    }

    async fn project_status(&self, p: &Project) -> &'static str {
        if !p.path.is_dir() {
            return "error";
        }
        if self.services.get(&p.service_name()).is_some() {
            let s = self.services.handle(&p.service_name()).status().await;
            return match s.map(|s| s.state) {
                Ok(att_release::service::actor::ServiceState::Running) => "running",
                _ => "stopped",
            };
        }
        if p.cloned { "cloned" } else { "created" }
    }

    async fn status(&self, name: &str) -> Result<Done, ToolError> {
        let p = self.project(name).await?;
        let status = self.project_status(&p).await;
        let root = p.path.clone();
        let git = tokio::task::spawn_blocking(move || git::status(&root))
            .await
            .map_err(internal)?
            .ok();
        let latest = self.test_runs(&p.name, 1).await?.into_iter().next();
        let text = format!(
            "project `{}` ({status}) at {}{}",
            p.name,
            p.path.display(),
            latest
                .as_ref()
                .map(|r| format!("; latest tests: {}", summary(r)))
                .unwrap_or_default()
        );
        Done::new(
            text,
            json!({ "project": p, "status": status, "git": git, "latest_test_run": latest }),
        )
    }

    async fn test_run(&self, a: TestRunArgs, caller: &Caller) -> Result<Done, ToolError> {
        let prepared = self.prepare_test_run(a, caller).await?;
        let record = self
            .complete_test_run(prepared, caller.progress.clone())
            .await?;
        Done::new(summary(&record), record)
    }

    /// Starts a test run in the background (the HTTP surface: a run may outlast a request);
    /// answers the `running` record at once — `att.test.results` shows how it ends.
    pub async fn start_test_run(
        self: &Arc<Self>,
        arguments: Value,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        let prepared = self.prepare_test_run(args(arguments)?, caller).await?;
        let record = prepared.record.clone();
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.complete_test_run(prepared, None).await {
                tracing::error!(error = e.message(), "a test run could not be recorded");
            }
        });
        Done::new(format!("{}: running", record.id), record)
    }

    /// Checks a test run's arguments and records it as `running`.
    async fn prepare_test_run(
        &self,
        a: TestRunArgs,
        caller: &Caller,
    ) -> Result<PreparedRun, ToolError> {
        let project = self.project(&a.project).await?;
        let timeout = a.timeout_seconds.unwrap_or(TIMEOUT_DEFAULT);
        if timeout == 0 || timeout > TIMEOUT_MAX {
            return Err(ToolError::invalid(
                "timeout_seconds",
                format!("must be 1 to {TIMEOUT_MAX}"),
            ));
        }
        let command = match project.test.clone() {
            Some(c) => c,
            None => testrun::detect(&project.path).ok_or_else(|| {
                ToolError::Conflict(format!(
                    "project `{}` has no test command and none could be detected from its \
                     files: register it with `test`",
                    project.name
                ))
            })?,
        };
        testrun::with_filter(&command, a.filter.as_deref()).map_err(|e| match e {
            RunError::BadFilter(m) => ToolError::invalid("filter", m),
            other => ToolError::Conflict(other.to_string()),
        })?;
        let record = TestRunRecord {
            id: format!("test-{}", uuid::Uuid::new_v4().simple()),
            project: project.name.clone(),
            caller: caller.who.clone(),
            suite: a.filter,
            status: "running".into(),
            error: None,
            pid: None,
            process: None,
            program: command.argv.first().cloned(),
            started_at: OffsetDateTime::now_utc(),
            ended_at: None,
            outcome: None,
        };
        self.save_test_run(&record).await?;
        self.emit(
            "workspace.test_run",
            Some(record.id.clone()),
            json!({ "project": project.name, "caller": caller.who, "phase": "started",
                    "command": command.argv, "filter": record.suite }),
        );
        Ok(PreparedRun {
            project,
            command,
            timeout: Duration::from_secs(timeout),
            record,
        })
    }

    async fn save_test_run(&self, record: &TestRunRecord) -> Result<(), ToolError> {
        let data = serde_json::to_string(record).map_err(internal)?;
        self.store
            .save_test_run(
                &record.id,
                &record.project,
                record.started_at,
                &record.status,
                &data,
            )
            .await
            .map_err(internal)
    }

    /// Runs a prepared test run to its end and records how it went.
    async fn complete_test_run(
        &self,
        p: PreparedRun,
        progress: Option<Progress>,
    ) -> Result<TestRunRecord, ToolError> {
        // Progress: the count of output lines and the newest, at most every 200 ms.
        let sink: Option<testrun::LineSink> = progress.map(|progress| {
            let state = std::sync::Mutex::new((0u64, None::<std::time::Instant>));
            Arc::new(move |line: &str| {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.0 += 1;
                if s.1
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(200))
                {
                    s.1 = Some(std::time::Instant::now());
                    progress(s.0, line.chars().take(200).collect());
                }
            }) as testrun::LineSink
        });
        // The pid is recorded as soon as the run starts.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started: testrun::Started = Box::new(move |identity| {
            let _ = tx.send(identity);
        });
        let run = testrun::run_with(
            &p.project.path,
            &p.command,
            p.record.suite.as_deref(),
            p.timeout,
            sink,
            Some(started),
        );
        let mut running = p.record.clone();
        let note_pid = async {
            if let Ok(identity) = rx.await {
                running.pid = Some(identity.pid);
                running.process = Some(identity);
                if let Err(e) = self.save_test_run(&running).await {
                    tracing::warn!(error = e.message(), "could not record a test run's pid");
                }
            }
        };
        // A stopping att ends the run: dropping it kills its process group.
        let ran = tokio::select! {
            (ran, ()) = async { tokio::join!(run, note_pid) } => Some(ran),
            () = self.stopping.cancelled() => None,
        };
        let mut record = p.record;
        record.ended_at = Some(OffsetDateTime::now_utc());
        let Some(ran) = ran else {
            record.status = "interrupted".into();
            record.error = Some("att stopped during the run".into());
            self.save_test_run(&record).await?;
            return Err(ToolError::Conflict("att stopped during the run".into()));
        };
        let failed = match ran {
            Ok(outcome) => {
                record.status = "completed".into();
                record.outcome = Some(outcome);
                None
            }
            Err(e) => {
                record.status = "error".into();
                record.error = Some(e.to_string());
                Some(ToolError::Conflict(e.to_string()))
            }
        };
        self.save_test_run(&record).await?;
        let o = record.outcome.as_ref();
        self.emit(
            "workspace.test_run",
            Some(record.id.clone()),
            json!({ "project": record.project, "caller": record.caller, "phase": "ended",
                    "status": record.status, "error": record.error,
                    "returncode": o.map(|o| o.returncode),
                    "passed": o.map(|o| o.counts.passed),
                    "failed": o.map(|o| o.counts.failed),
                    "timed_out": o.map(|o| o.timed_out) }),
        );
        match failed {
            Some(e) => Err(e),
            None => Ok(record),
        }
    }

    /// Concludes the test runs a previous att left `running` (they were killed with it);
    /// answers how many.
    pub async fn recover_test_runs(&self) -> Result<usize, ToolError> {
        let left = self.store.running_test_runs().await.map_err(internal)?;
        for data in &left {
            let mut record: TestRunRecord = serde_json::from_str(data).map_err(internal)?;
            if let Some(identity) = &record.process {
                att_runtime::process::stop_orphan(identity, Duration::from_secs(2)).await;
            }
            record.process = None;
            record.status = "interrupted".into();
            record.ended_at = Some(OffsetDateTime::now_utc());
            self.save_test_run(&record).await?;
        }
        Ok(left.len())
    }

    async fn test_run_by_id(&self, id: &str) -> Result<Option<TestRunRecord>, ToolError> {
        self.store
            .get_test_run(id)
            .await
            .map_err(internal)?
            .map(|d| serde_json::from_str(&d).map_err(internal))
            .transpose()
    }

    /// The newest `limit` test runs of `project`, newest first.
    pub async fn test_runs(
        &self,
        project: &str,
        limit: u32,
    ) -> Result<Vec<TestRunRecord>, ToolError> {
        self.store
            .list_test_runs(project, limit)
            .await
            .map_err(internal)?
            .iter()
            .map(|d| serde_json::from_str(d).map_err(internal))
            .collect()
    }

    async fn runtime_project(&self, name: &str) -> Result<(Project, Runtime), ToolError> {
        let p = self.project(name).await?;
        let rt = p.runtime.clone().ok_or_else(|| {
            ToolError::Conflict(format!(
                "project `{name}` has no runtime: register it with `runtime`"
            ))
        })?;
        Ok((p, rt))
    }

    async fn runtime(&self, name: &str, verb: &str) -> Result<Done, ToolError> {
        let (p, rt) = self.runtime_project(name).await?;
        let service = p.service_name();
        let spec = service_spec(&p, &rt).map_err(|m| ToolError::invalid("runtime", m))?;
        let registered = self.services.get(&service);
        let handle = self.services.handle(&service);
        let status = match verb {
            "start" | "restart" => {
                if registered.as_ref().is_none_or(|(s, _)| *s != spec) {
                    // Registering (re)starts it with the project's current runtime.
                    self.services
                        .register(spec)
                        .await
                        .map_err(|e| ToolError::Conflict(e.to_string()))?;
                    handle.status().await.map_err(internal)?
                } else if verb == "start" {
                    handle
                        .start(Services::stop_limit(&spec))
                        .await
                        .map_err(internal)?
                        .map_err(ToolError::Conflict)?
                } else {
                    handle
                        .restart(Services::stop_limit(&spec))
                        .await
                        .map_err(internal)?
                        .map_err(ToolError::Conflict)?
                }
            }
            _ => {
                if registered.is_none() {
                    return Err(ToolError::Conflict(format!(
                        "project `{name}`'s runtime is not running"
                    )));
                }
                handle
                    .stop(Services::stop_limit(&spec))
                    .await
                    .map_err(internal)?
            }
        };
        Done::new(
            format!("runtime of `{name}`: {:?}", status.state).to_lowercase(),
            status,
        )
    }

    async fn runtime_status(&self, name: &str) -> Result<Done, ToolError> {
        let (p, rt) = self.runtime_project(name).await?;
        let service = p.service_name();
        if self.services.get(&service).is_none() {
            return Done::new(
                format!("runtime of `{name}`: not started"),
                json!({ "state": "not_started", "health": null }),
            );
        }
        let status = self
            .services
            .handle(&service)
            .status()
            .await
            .map_err(internal)?;
        let health = match &rt.health {
            Some(probe) => {
                Some(att_release::service::probe::check(probe, Duration::from_secs(5)).await)
            }
            None => None,
        };
        let mut data = serde_json::to_value(&status).map_err(internal)?;
        data["health_check"] = serde_json::to_value(&health).map_err(internal)?;
        Done::new(
            format!("runtime of `{name}`: {:?}", status.state).to_lowercase(),
            data,
        )
    }

    async fn runtime_logs(&self, a: LogsArgs) -> Result<Done, ToolError> {
        let (p, _) = self.runtime_project(&a.project).await?;
        let service = p.service_name();
        let Some((spec, _)) = self.services.get(&service) else {
            return Err(ToolError::Conflict(format!(
                "project `{}`'s runtime has not been started",
                a.project
            )));
        };
        let status = self
            .services
            .handle(&spec.name)
            .status()
            .await
            .map_err(internal)?;
        let limit = a.limit.unwrap_or(200).clamp(1, 5000);
        let file = status.log_file.clone();
        let page = blocking(move || log_page(&file, a.cursor, limit)).await?;
        Done::new(page.lines.join("\n"), page)
    }

    async fn deploy_run(&self, a: DeployRunArgs, build_only: bool) -> Result<Done, ToolError> {
        let (p, _) = self.runtime_project(&a.project).await?;
        let service = p.service_name();
        if self.services.get(&service).is_none() {
            let spec = service_spec(&p, p.runtime.as_ref().ok_or_else(|| internal("runtime"))?)
                .map_err(|m| ToolError::invalid("runtime", m))?;
            self.services
                .register(spec)
                .await
                .map_err(|e| ToolError::Conflict(e.to_string()))?;
        }
        let mut request = a.options.unwrap_or_else(|| json!({}));
        if !request.is_object() {
            return Err(ToolError::invalid("options", "must be an object"));
        }
        request["target"] = json!(format!("service:{service}"));
        if let Some(r) = a.release {
            request["requested_release_id"] = json!(r);
        }
        if build_only {
            if p.runtime.as_ref().is_none_or(|r| r.build.is_none()) {
                return Err(ToolError::Conflict(format!(
                    "project `{}` has no `runtime.build`: nothing to build",
                    p.name
                )));
            }
            request["build_only"] = json!(true);
        }
        let mut request: RunRequest = serde_path_to_error::deserialize(request).map_err(|e| {
            ToolError::invalid(&format!("options.{}", e.path()), e.into_inner().to_string())
        })?;
        request
            .check()
            .map_err(|e| ToolError::invalid(&format!("options.{}", e.field), e.message))?;
        self.resolve_change(&mut request).await?;
        match self.bootstrap.start(request).await.map_err(internal)? {
            Ok(run) => Done::new(
                format!("deploy run {run} started for `{}`", p.name),
                json!({ "run_id": run, "target": format!("service:{service}") }),
            ),
            Err(Refused::Busy(id)) => Err(ToolError::Conflict(format!(
                "a run for `{}` is in progress: {id}",
                p.name
            ))),
            Err(Refused::Invalid(m)) => Err(ToolError::Invalid {
                field: None,
                message: m,
            }),
        }
    }

    /// Checks a run request's change phases: `publish` needs a `change`, and a change that
    /// names a workspace project gets its directory as the repository.
    pub async fn resolve_change(&self, request: &mut RunRequest) -> Result<(), ToolError> {
        if request.publish.is_some() && request.change.is_none() {
            return Err(ToolError::invalid(
                "publish",
                "`publish` publishes a `change`: the request has none",
            ));
        }
        if let Some(change) = request.change.as_mut()
            && let Some(name) = change.project.clone()
        {
            if change.repo.is_some() {
                return Err(ToolError::invalid(
                    "change.project",
                    "name `change.project` or `change.repo`, not both",
                ));
            }
            let project = self
                .project(&name)
                .await
                .map_err(|e| ToolError::invalid("change.project", e.message()))?;
            change.repo = Some(project.path);
        }
        Ok(())
    }

    async fn deploy_status(&self, a: DeployStatusArgs) -> Result<Done, ToolError> {
        let p = self.project(&a.project).await?;
        let target = format!("service:{}", p.service_name());
        let run = match a.run_id {
            Some(id) => {
                let live = self.bootstrap.active(&id).await.ok().flatten();
                match live {
                    Some(r) => Some(r),
                    None => self.store.get_run(&id).await.map_err(internal)?,
                }
                .filter(|r| r.target == target)
            }
            None => self
                .store
                .list_runs(200)
                .await
                .map_err(internal)?
                .into_iter()
                .find(|r| r.target == target),
        };
        let run =
            run.ok_or_else(|| ToolError::NotFound(format!("no deploy run of `{}`", p.name)))?;
        let text = format!("run {} of `{}`: {:?}", run.id, p.name, run.status).to_lowercase();
        Done::new(text, run)
    }

    // ---- resources ----

    /// `att://projects`.
    pub fn resources(&self) -> Vec<Resource> {
        let mut r = Resource::new("att://projects", "att projects");
        r.description = Some("Every project att works in (JSON).".into());
        r.mime_type = Some("application/json".into());
        vec![r]
    }

    /// The per-project resource templates.
    pub fn resource_templates(&self) -> Vec<ResourceTemplate> {
        [
            ("files", "A project's file listing"),
            (
                "config",
                "A project's record: directory, test command, runtime",
            ),
            ("tests", "A project's latest test run"),
            ("logs", "The newest lines of a project's runtime output"),
            ("ci", "A project's newest deploy run"),
        ]
        .into_iter()
        .map(|(what, description)| {
            let mut t = ResourceTemplate::new(
                format!("att://project/{{name}}/{what}"),
                format!("project {what}"),
            );
            t.description = Some(description.into());
            t.mime_type = Some("application/json".into());
            t
        })
        .collect()
    }

    /// Reads an `att://` resource.
    pub async fn read_resource(&self, uri: &str) -> Result<ResourceContents, ToolError> {
        let caller = Caller::new("resource");
        let data = if uri == "att://projects" {
            self.call("att.project.list", json!({}), &caller)
                .await?
                .data
        } else if let Some(rest) = uri.strip_prefix("att://project/") {
            let (name, what) = rest
                .split_once('/')
                .ok_or_else(|| ToolError::NotFound(format!("no resource `{uri}`")))?;
            let project = json!({ "project": name });
            match what {
                "files" => self.call("att.code.list", project, &caller).await?.data,
                "config" => serde_json::to_value(self.project(name).await?).map_err(internal)?,
                "tests" => json!({ "latest": self.test_runs(name, 1).await?.into_iter().next() }),
                "logs" => self.call("att.runtime.logs", project, &caller).await?.data,
                "ci" => match self.call("att.deploy.status", project, &caller).await {
                    Ok(d) => d.data,
                    Err(ToolError::NotFound(_)) => json!({ "run": null }),
                    Err(e) => return Err(e),
                },
                _ => return Err(ToolError::NotFound(format!("no resource `{uri}`"))),
            }
        } else {
            return Err(ToolError::NotFound(format!("no resource `{uri}`")));
        };
        let text = serde_json::to_string_pretty(&data).map_err(internal)?;
        let mut contents = ResourceContents::text(text, uri);
        if let ResourceContents::TextResourceContents { mime_type, .. } = &mut contents {
            *mime_type = Some("application/json".into());
        }
        Ok(contents)
    }
}

fn summary(r: &TestRunRecord) -> String {
    let Some(o) = &r.outcome else {
        return format!(
            "{}: {}{}",
            r.id,
            r.status,
            r.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    };
    let c = &o.counts;
    let mut s = format!(
        "{}: {} passed, {} failed, {} skipped, {} errors (exit {}{}, {:.1}s)",
        r.id,
        c.passed,
        c.failed,
        c.skipped,
        c.errors,
        o.returncode,
        if o.timed_out { ", timed out" } else { "" },
        o.duration_seconds
    );
    if c.no_tests_collected {
        s.push_str("; no tests collected");
    }
    s
}

/// The managed service that runs `project`.
fn service_spec(project: &Project, rt: &Runtime) -> Result<ServiceSpec, String> {
    let mut spec = json!({
        "name": project.service_name(),
        "command": rt.command,
        "args": rt.args,
        "env": rt.env,
        "cwd": project.path,
        "health": rt.health,
        "stop_grace": "5s",
    });
    if let Some(b) = &rt.build {
        spec["build"] = json!({
            "repo": project.path, "command": b.command, "artifact": b.artifact, "env": b.env,
        });
    }
    let spec: ServiceSpec = serde_json::from_value(spec).map_err(|e| e.to_string())?;
    spec.validate()?;
    Ok(spec)
}

/// A page of a log file.
#[derive(Debug, serde::Serialize)]
pub struct LogPage {
    /// The lines.
    pub lines: Vec<String>,
    /// Pass this back as `cursor` for the lines after these.
    pub next_cursor: u64,
    /// More lines follow already.
    pub more: bool,
}

/// Lines from byte offset `cursor` (none: the last `limit` lines); the cursor of a log that
/// was rotated since (shorter than the cursor) starts over.
fn log_page(file: &Path, cursor: Option<u64>, limit: usize) -> Result<LogPage, ToolError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogPage {
                lines: Vec::new(),
                next_cursor: 0,
                more: false,
            });
        }
        Err(e) => return Err(internal(e)),
    };
    let len = f.metadata().map_err(internal)?.len();
    let Some(mut at) = cursor.map(|c| if c > len { 0 } else { c }) else {
        // The tail: the last `limit` lines.
        let start = len.saturating_sub(256 * 1024);
        f.seek(SeekFrom::Start(start)).map_err(internal)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(internal)?;
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // a partial first line
        }
        let skip = lines.len().saturating_sub(limit);
        return Ok(LogPage {
            lines: lines.split_off(skip),
            next_cursor: len,
            more: false,
        });
    };
    f.seek(SeekFrom::Start(at)).map_err(internal)?;
    let mut reader = std::io::BufReader::new(f);
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while lines.len() < limit {
        line.clear();
        let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(internal)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break; // the end, or a line still being written
        }
        at += n as u64;
        lines.push(String::from_utf8_lossy(&line[..n - 1]).into_owned());
    }
    Ok(LogPage {
        lines,
        next_cursor: at,
        more: at < len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_and_a_unique_dotted_name() {
        let tools = tool_list();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len());
        for t in &tools {
            assert!(
                t.name.starts_with("att.") && t.name.matches('.').count() == 2,
                "{}",
                t.name
            );
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
        }
        let commit = tools
            .iter()
            .find(|t| t.name == "att.git.commit")
            .expect("commit");
        let required = commit
            .input_schema
            .get("required")
            .cloned()
            .unwrap_or_default();
        assert_eq!(required, json!(["project", "message"]));
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let e = args::<ReadArgs>(json!({"project": "p", "path": 3})).expect_err("bad");
        assert!(
            matches!(e, ToolError::Invalid { field: Some(ref f), .. } if f == "path"),
            "{e:?}"
        );
        let e =
            args::<ReadArgs>(json!({"project": "p", "path": "a", "extra": 1})).expect_err("bad");
        assert!(e.message().contains("extra"), "{e:?}");
    }

    #[test]
    fn log_pages_follow_the_cursor_and_skip_a_partial_line() {
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("log");
        std::fs::write(&f, "one\ntwo\nthree\npart").expect("write");
        let p = log_page(&f, Some(0), 2).expect("page");
        assert_eq!(
            (p.lines.clone(), p.more),
            (vec!["one".into(), "two".into()], true)
        );
        let p = log_page(&f, Some(p.next_cursor), 10).expect("page");
        assert_eq!(p.lines, vec!["three".to_owned()]);
        let tail = log_page(&f, None, 2).expect("tail");
        assert_eq!(tail.lines, vec!["three".to_owned(), "part".to_owned()]);
        assert!(
            log_page(&dir.path().join("none"), None, 5)
                .expect("none")
                .lines
                .is_empty()
        );
    }
}
