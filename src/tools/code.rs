//! `att.code.*`: a project's files — listed, read, written, searched, and diffed.
//!
//! The work is `att_workspace::code` (path containment at the moment of each use,
//! atomic writes, `.git` refused); here are the limits a caller may ask for and their
//! ceilings, the text rendering of each result, and the blocking work moved off the async
//! workers.

use crate::auth::Role;
use att_workspace::code;
use att_workspace::git;
use serde_json::json;

use super::args::{CodeDiffArgs, ListArgs, ReadArgs, SearchArgs, WriteArgs};
use super::{Done, InProject, ToolError, ToolSpec, Tools, blocking};

/// `att.code.list`.
pub static LIST: ToolSpec<InProject<ListArgs>> = ToolSpec::in_project(
    "att.code.list",
    "Lists a project's files (sorted; .git and build output skipped; links listed, not followed).",
    |tools, a, _| Box::pin(tools.list_files(a)),
)
.role(Role::Viewer);

/// `att.code.read`.
pub static READ: ToolSpec<InProject<ReadArgs>> = ToolSpec::in_project(
    "att.code.read",
    "Reads a text file of a project.",
    |tools, a, _| Box::pin(tools.read_file(a)),
)
.role(Role::Viewer);

/// `att.code.write`.
pub static WRITE: ToolSpec<InProject<WriteArgs>> = ToolSpec::in_project(
    "att.code.write",
    "Writes a text file of a project (atomically; parents created; .git refused).",
    |tools, a, _| Box::pin(tools.write_file(a)),
);

/// `att.code.search`.
pub static SEARCH: ToolSpec<InProject<SearchArgs>> = ToolSpec::in_project(
    "att.code.search",
    "Searches a project's text files (literal or regex) with line numbers.",
    |tools, a, _| Box::pin(tools.search(a)),
)
.role(Role::Viewer);

/// `att.code.diff`: not inside a project when it compares two texts.
pub static DIFF: ToolSpec<CodeDiffArgs> = ToolSpec::new(
    "att.code.diff",
    "A unified diff: a project's working tree against HEAD, or two texts.",
    |tools, a, _| Box::pin(tools.diff(a)),
)
.role(Role::Viewer);

impl Tools {
    async fn list_files(&self, a: InProject<ListArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let ListArgs { dir, limit } = a.args;
        let limit = limit.unwrap_or(1000).clamp(1, 10_000);
        let listing = blocking(move || code::list(&root, &dir, limit)).await?;
        let text = listing
            .entries
            .iter()
            .map(|e| format!("{} {}", e.kind, e.path))
            .collect::<Vec<_>>()
            .join("\n");
        Done::new(text, listing)
    }

    async fn read_file(&self, a: InProject<ReadArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let ReadArgs { path, limit } = a.args;
        let limit = limit.unwrap_or(1 << 20).clamp(1, 8 << 20);
        let file = blocking(move || code::read(&root, &path, limit)).await?;
        Done::new(file.content.clone(), file)
    }

    async fn write_file(&self, a: InProject<WriteArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let WriteArgs { path, content } = a.args;
        let w = blocking(move || code::write(&root, &path, &content)).await?;
        Done::new(format!("wrote {} bytes to {}", w.bytes, w.path), w)
    }

    async fn search(&self, a: InProject<SearchArgs>) -> Result<Done, ToolError> {
        let SearchArgs {
            pattern,
            regex,
            limit,
        } = a.args;
        if pattern.is_empty() {
            return Err(ToolError::invalid("pattern", "must not be empty"));
        }
        let root = self.root(&a.project).await?;
        let limit = limit.unwrap_or(200).clamp(1, 5000);
        let (matches, truncated) =
            blocking(move || code::search(&root, &pattern, regex, limit)).await?;
        let text = matches
            .iter()
            .map(|m| format!("{}:{}: {}", m.path, m.line, m.text))
            .collect::<Vec<_>>()
            .join("\n");
        Done::new(text, json!({ "matches": matches, "truncated": truncated }))
    }

    async fn diff(&self, a: CodeDiffArgs) -> Result<Done, ToolError> {
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
}
