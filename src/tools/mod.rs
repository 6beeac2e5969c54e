//! att's own MCP tools (WORKSPACE.md) as one implementation behind two surfaces: every
//! capability is a tool `att.<area>.<verb>` with a typed, schema'd argument object; `/mcp`
//! lists and calls the tools by name, and the HTTP routes under `/api/v1/projects` run the
//! same tools with the project taken from the path.
//!
//! Each tool is defined once, as a [`ToolSpec`] `static` beside its handler, in the file of
//! its area ([`projects`], [`code`], [`git`], [`change`], [`testruns`], [`runtime`],
//! [`deploy`]); [`ALL`] lists them. The MCP tool list, the dispatch by name ([`Tools::call`])
//! and the HTTP routes' typed bodies all come from those definitions (see [`spec`]).
//!
//! Errors say whose they are ([`ToolError`]). The tools keep projects and test runs, and read
//! the release pipeline's runs, through ports ([`ToolStore`]): nothing here knows which
//! database is behind them.

pub mod args;
pub mod change;
pub mod code;
pub mod deploy;
mod error;
pub mod git;
pub mod names;
pub mod projects;
mod resources;
pub mod runtime;
pub mod spec;
pub mod testruns;

use std::collections::BTreeMap;
use std::sync::Arc;

use att_release::bootstrap::BootstrapHandle;
use att_release::model::ReleaseStore;
use att_runtime::events::{EventSink, EventsHandle, NewEvent};
use rmcp::model::{ResourceContents, Tool};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::config::WorkspaceConfig;
use crate::project::{Project, ProjectStore};
use crate::services::Services;
use crate::test_run::TestRunStore;
use error::internal;

pub use error::ToolError;
pub use names::ToolNames;
pub use spec::{AnyTool, InProject, ToolSpec, parse_args};

/// Every tool, in the order `/mcp` lists them.
pub static ALL: &[&dyn AnyTool] = &[
    &projects::CREATE,
    &projects::LIST,
    &projects::STATUS,
    &projects::DELETE,
    &projects::DOWNLOAD,
    &code::LIST,
    &code::READ,
    &code::WRITE,
    &code::SEARCH,
    &code::DIFF,
    &git::STATUS,
    &git::BRANCH,
    &git::COMMIT,
    &git::LOG,
    &git::DIFF,
    &git::PUSH,
    &change::OPEN,
    &change::CI_STATUS,
    &change::MERGE,
    &change::REVIEWS,
    &testruns::RUN,
    &testruns::RESULTS,
    &runtime::START,
    &runtime::STOP,
    &runtime::RESTART,
    &runtime::STATUS,
    &runtime::LOGS,
    &deploy::RUN,
    &deploy::BUILD,
    &deploy::STATUS,
];

/// What the tools keep and read back: projects, their test runs, and the release pipeline's
/// runs (`att.deploy.status`). One adapter implements all three ports.
pub trait ToolStore: ProjectStore + TestRunStore + ReleaseStore {}

impl<T: ProjectStore + TestRunStore + ReleaseStore> ToolStore for T {}

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

/// Who asked (recorded with test runs and commits): the request (`http:<request id>` or
/// `mcp:<session>`) and the principal; and where progress of long work goes, if anywhere.
#[derive(Clone)]
pub struct Caller {
    /// The request.
    pub who: String,
    /// The principal's name (`-` when none is known).
    pub principal: String,
    /// Hears progress (MCP: `notifications/progress` to the calling client).
    pub progress: Option<Progress>,
}

impl Caller {
    /// A caller that hears no progress, on behalf of nobody known yet.
    pub fn new(who: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            principal: "-".into(),
            progress: None,
        }
    }

    /// This caller, on behalf of `principal`.
    pub fn by(mut self, principal: Option<&crate::auth::Principal>) -> Self {
        if let Some(p) = principal {
            self.principal.clone_from(&p.name);
        }
        self
    }
}

/// The workspace tools and what they reach.
pub struct Tools {
    store: Arc<dyn ToolStore>,
    events: EventsHandle,
    services: Arc<Services>,
    bootstrap: BootstrapHandle,
    /// The nodes' heartbeats: a deploy of another node's service goes there if it is live
    /// ([`crate::run_route`]).
    cluster: Arc<dyn crate::cluster::ClusterStore>,
    /// [`ALL`] as `/mcp` lists it (built once: the schemas do not change).
    listing: Vec<Tool>,
    /// Where projects may live, how long a clone may take.
    config: WorkspaceConfig,
    /// The projects as stored, read once and written through (see [`projects`]).
    projects: tokio::sync::RwLock<Option<BTreeMap<String, Project>>>,
    /// Fires when att begins to stop: test runs in progress are stopped and recorded
    /// `interrupted` (their process group killed), so none outlives att.
    stopping: CancellationToken,
}

impl Tools {
    /// The tools over `store`, reaching the services and the pipeline.
    pub fn new(
        store: Arc<dyn ToolStore>,
        events: EventsHandle,
        services: Arc<Services>,
        bootstrap: BootstrapHandle,
        cluster: Arc<dyn crate::cluster::ClusterStore>,
        config: WorkspaceConfig,
        stopping: CancellationToken,
    ) -> Self {
        let listing = ALL.iter().map(|t| t.listing(config.tool_names)).collect();
        Self {
            stopping,
            config,
            store,
            events,
            services,
            bootstrap,
            cluster,
            listing,
            projects: tokio::sync::RwLock::new(None),
        }
    }

    /// Every tool, with its input schema.
    pub fn tools(&self) -> &[Tool] {
        &self.listing
    }

    /// Whether `name` is one of att's tools (either spelling: see [`names`]).
    pub fn has_tool(&self, name: &str) -> bool {
        ALL.iter().any(|t| names::names(t.name(), name))
    }

    /// The role tool `name` needs (either spelling); `None` if it is not one of att's.
    pub fn role(&self, name: &str) -> Option<crate::auth::Role> {
        ALL.iter()
            .find(|t| names::names(t.name(), name))
            .map(|t| t.role())
    }

    /// Calls tool `name` with `arguments` (a JSON object) for `caller`.
    pub async fn call(
        &self,
        name: &str,
        arguments: Value,
        caller: &Caller,
    ) -> Result<Done, ToolError> {
        let tool = ALL
            .iter()
            .find(|t| names::names(t.name(), name))
            .ok_or_else(|| ToolError::NotFound(format!("unknown tool `{name}`")))?;
        tool.call(self, arguments, caller).await
    }

    fn emit(&self, kind: &str, correlation: Option<String>, data: Value) {
        self.events.emit(NewEvent {
            at: OffsetDateTime::now_utc(),
            kind: kind.to_owned(),
            correlation_id: correlation,
            data,
            printed: None,
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_tool_has_an_object_schema_and_a_unique_dotted_name() {
        let tools: Vec<Tool> = ALL.iter().map(|t| t.listing(ToolNames::Dotted)).collect();
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
}
