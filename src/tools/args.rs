//! The tools' arguments: one type per argument shape, each `Deserialize` (unknown fields
//! refused) and `JsonSchema` (the tool's input schema on `/mcp`), and — where an HTTP route
//! takes them — `ToSchema` (a body) or `IntoParams` (a query), so both surfaces document the
//! same fields with the same words.
//!
//! None of them names the project: a tool that works inside one takes
//! [`InProject<A>`](super::InProject), which adds `project` on `/mcp` and takes it from the
//! path over HTTP. The doc comments here are the user-facing documentation of each field.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// No arguments (beyond the project, for a tool inside one).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A project to register: an existing directory, or a clone of `git_remote`.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// `[A-Za-z0-9_-]{1,64}`.
    pub name: String,
    /// Its directory (absolute). It must exist, unless `git_remote` is given: then the
    /// remote is cloned there.
    pub path: String,
    /// A repository to clone into `path` (a local path or `file://` URL through git2; other
    /// URLs through the `git` command line with your own credentials).
    #[serde(default)]
    pub git_remote: Option<String>,
    /// How its tests run: `{"argv": [...], "runner": "cargo_test|cargo_nextest|pytest|junit|plain", "junit": "report.xml"?}` (default: detected from its files).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    #[schema(value_type = Option<Object>)]
    pub test: Option<Value>,
    /// How it runs: `{"command", "args"?, "env"?, "health"?: {"kind": "http", "url"}, "build"?: {"command": [...], "artifact"}}`.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    #[schema(value_type = Option<Object>)]
    pub runtime: Option<Value>,
    /// Its forge for change requests: `"local"` (default: a bare `origin`) or `{"github": {"repo": "owner/name"}}`.
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    pub forge: Option<Value>,
}

/// How large an archive of a project may be handed over.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadArgs {
    /// The largest archive handed over on MCP (default and most 8 MiB); over HTTP,
    /// `GET /api/v1/projects/{name}/download` streams any size.
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// Which of a project's files to list.
#[derive(Debug, Default, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// A directory inside the project (default: its root).
    #[serde(default)]
    pub dir: String,
    /// Most entries (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A text file of a project to read.
#[derive(Debug, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadArgs {
    /// The file, relative to the project.
    pub path: String,
    /// Most bytes returned (default 1 MiB, at most 8 MiB).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A text file of a project to write, and its new text.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// The file, relative to the project (parents are created).
    pub path: String,
    /// Its new text.
    pub content: String,
}

/// What to look for in a project's text files.
#[derive(Debug, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for.
    pub pattern: String,
    /// `pattern` is a regular expression (default: literal text).
    #[serde(default)]
    pub regex: bool,
    /// Most matches (default 200, at most 5000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What to diff: a project's working tree against HEAD, or two texts.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeDiffArgs {
    /// The project whose working tree is compared with HEAD (when no texts are given).
    #[serde(default)]
    #[schema(ignore)]
    pub project: Option<String>,
    /// The old text (with `modified`: the two texts are compared instead).
    #[serde(default)]
    pub original: Option<String>,
    /// The new text.
    #[serde(default)]
    pub modified: Option<String>,
    /// The name shown for the texts (default `text`).
    #[serde(default)]
    pub name: Option<String>,
}

/// A branch to switch to, or to create.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchArgs {
    /// The branch.
    pub name: String,
    /// Create it at HEAD first (default: switch to an existing one).
    #[serde(default)]
    pub create: bool,
}

/// A commit to make: its message and files.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitArgs {
    /// The commit message.
    pub message: String,
    /// The files to commit (new, changed or deleted); default: every change to tracked
    /// files (untracked files are never swept in).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

/// How many commits to show.
#[derive(Debug, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogArgs {
    /// Most commits (default 20, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What to push where: a branch and a remote.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushArgs {
    /// The remote (default `origin`).
    #[serde(default)]
    pub remote: Option<String>,
    /// The branch (default: the current one).
    #[serde(default)]
    pub branch: Option<String>,
}

/// A change request to open: its branch, base, title and description.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenChangeArgs {
    /// The branch to propose (default: the current one); it is pushed first.
    #[serde(default)]
    pub branch: Option<String>,
    /// The branch to merge into.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Its description.
    #[serde(default)]
    pub body: Option<String>,
    /// The remote (default `origin`).
    #[serde(default)]
    pub remote: Option<String>,
}

/// A change request on the project's forge.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeArgs {
    /// The change request's id (as `att.git.open_change` answered).
    pub change: String,
    /// The remote (default `origin`).
    #[serde(default)]
    pub remote: Option<String>,
}

/// Which tests to run, and for how long at most.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRunArgs {
    /// Only the tests matching this (cargo: a name filter; pytest: `-k`).
    #[serde(default)]
    pub filter: Option<String>,
    /// Seconds before the run's process group is killed (default 600, at most 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Which stored test runs to show.
#[derive(Debug, Default, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TestResultsArgs {
    /// One run by id (default: the newest runs).
    #[serde(default)]
    pub id: Option<String>,
    /// Most runs (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Which page of a runtime's output to show.
#[derive(Debug, Default, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// Where to continue (the `next_cursor` of the previous page; default: the last `limit`
    /// lines).
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Most lines (default 200, at most 5000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// What to ship (or build): a release and the run's options.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRunArgs {
    /// The release: a commit, branch or tag of the project (default: its HEAD), or a
    /// registered release.
    #[serde(default)]
    pub release: Option<String>,
    /// Further run options (BOOTSTRAP.md: watchdog, health, rollback switches; `change` and
    /// `publish` to make and publish a change first — the repository defaults to the
    /// project).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
}

/// Which deploy run to show.
#[derive(Debug, Default, Deserialize, JsonSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeployStatusArgs {
    /// One run (default: the project's newest).
    #[serde(default)]
    pub run_id: Option<String>,
}
