//! att's own MCP resources: `att://projects`, and per project `att://project/{name}/…` —
//! its files, record, latest test run, newest runtime output and newest deploy run.
//!
//! Each is a read-only view of what a tool answers (the same handlers, called with their
//! defaults), rendered as JSON; a project's missing deploy run is `{"run": null}` rather than
//! an error, since "none yet" is an answer a resource reader expects.

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use super::args::{DeployStatusArgs, ListArgs, LogsArgs, NoArgs};
use super::error::internal;
use super::{Caller, InProject, ToolError, Tools, code, deploy, projects, runtime};

impl Tools {
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
        let data = if uri == "att://projects" {
            let caller = Caller::new("resource");
            projects::LIST.run(self, NoArgs {}, &caller).await?.data
        } else if let Some(rest) = uri.strip_prefix("att://project/") {
            let (name, what) = rest
                .split_once('/')
                .ok_or_else(|| ToolError::NotFound(format!("no resource `{uri}`")))?;
            self.project_resource(name, what)
                .await?
                .ok_or_else(|| ToolError::NotFound(format!("no resource `{uri}`")))?
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

    /// `att://project/{name}/{what}`; `None` for no such `what`.
    async fn project_resource(&self, name: &str, what: &str) -> Result<Option<Value>, ToolError> {
        let caller = Caller::new("resource");
        let data = match what {
            "files" => {
                let args = InProject::new(name, ListArgs::default());
                code::LIST.run(self, args, &caller).await?.data
            }
            "config" => serde_json::to_value(self.project(name).await?).map_err(internal)?,
            "tests" => json!({ "latest": self.test_runs(name, 1).await?.into_iter().next() }),
            "logs" => {
                let args = InProject::new(name, LogsArgs::default());
                runtime::LOGS.run(self, args, &caller).await?.data
            }
            "ci" => {
                let args = InProject::new(name, DeployStatusArgs::default());
                match deploy::STATUS.run(self, args, &caller).await {
                    Ok(d) => d.data,
                    Err(ToolError::NotFound(_)) => json!({ "run": null }),
                    Err(e) => return Err(e),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(data))
    }
}
