//! A project: a directory att works in for its callers (WORKSPACE.md, "Projects") — its
//! name, directory, test command, where it was cloned from, how it runs (a managed service
//! `project-<name>`) and its forge. The tools (`crate::tools`) use the project's directory
//! through `att_workspace` (files, git, tests); this is only the record, kept
//! through [`ProjectStore`] and shown by `/api/v1/projects`.

use std::path::PathBuf;

use att_runtime::store::StoreError;
use serde::{Deserialize, Serialize};

/// A project: a directory att works in for its callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// `[A-Za-z0-9_-]{1,64}`; also its id.
    pub name: String,
    /// Its directory (absolute, existing).
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// How its tests run (default: detected from its files).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub test: Option<att_workspace::testrun::TestCommand>,
    /// The repository it was cloned from, when att cloned it (`project create` with a
    /// `git_remote` and a `path` that did not exist yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_remote: Option<String>,
    /// att cloned it (as opposed to registering an existing directory).
    #[serde(default)]
    pub cloned: bool,
    /// How it runs (the runtime tools): a managed service `project-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub runtime: Option<Runtime>,
    /// Its forge, for change requests (default: the local forge of its `origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub forge: Option<att_release::forge::ForgeKind>,
}

/// How a project runs: the managed service `project-<name>`, in the project's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// The program (no shell; relative to the project, or on `PATH`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Its health probe (none: running is healthy).
    #[serde(default)]
    pub health: Option<att_release::service::probe::Probe>,
    /// How its releases are built from the project's commits (`deploy` tools); the
    /// repository is the project itself.
    #[serde(default)]
    pub build: Option<RuntimeBuild>,
}

/// A project's build: like `[services.build]` with the project as the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeBuild {
    /// The build command (no shell).
    pub command: Vec<String>,
    /// What it produces, relative to the checkout.
    pub artifact: String,
    /// Extra environment variables of the build.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

impl Project {
    /// The name of its runtime's managed service.
    pub fn service_name(&self) -> String {
        format!("project-{}", self.name)
    }

    /// Checks what can be checked before its directory exists (a clone target): the name, an
    /// absolute path that is not a git directory nor inside one, a test command.
    pub fn validate_plan(&self) -> Result<(), (&'static str, String)> {
        if !att_gateway::upstream::valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "project name `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                    self.name
                ),
            ));
        }
        if !self.path.is_absolute() {
            return Err((
                "path",
                "the project directory must be an absolute path".into(),
            ));
        }
        if let Some(git_dir) = att_workspace::paths::enclosing_git_dir(&self.path) {
            return Err((
                "path",
                format!(
                    "`{}` is in the git directory `{}`: a project is a working tree, and a \
                     repository's own files (config, hooks) are not for the file tools",
                    self.path.display(),
                    git_dir.display()
                ),
            ));
        }
        if self.test.as_ref().is_some_and(|t| t.argv.is_empty()) {
            return Err(("test.argv", "the test command is empty".into()));
        }
        Ok(())
    }

    /// [`Project::validate_plan`], and its directory exists.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.validate_plan()?;
        if !self.path.is_dir() {
            return Err((
                "path",
                format!("`{}` is not an existing directory", self.path.display()),
            ));
        }
        Ok(())
    }
}

/// Where projects are kept: registrations only — forgetting one never touches its files.
#[async_trait::async_trait]
pub trait ProjectStore: Send + Sync + 'static {
    /// Inserts or replaces the project called `project.name`.
    async fn save_project(&self, project: &Project) -> Result<(), StoreError>;
    /// Removes its record; `false` when there was none.
    async fn delete_project(&self, name: &str) -> Result<bool, StoreError>;
    /// Every project, by name.
    async fn list_projects(&self) -> Result<Vec<Project>, StoreError>;
}
