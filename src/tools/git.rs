//! `att.git.*` on a project's repository: status, branch, commit, log, diff and push.
//!
//! The work is `att_workspace::git` (git2, with the `git` command line for remotes
//! git2 cannot reach); here are the defaults (`origin`, the current branch), the limits, the
//! text rendering, and the `workspace.commit` event that records who committed what.

use crate::auth::Role;
use att_workspace::git;
use serde_json::json;

use super::args::{BranchArgs, CommitArgs, LogArgs, NoArgs, PushArgs};
use super::{Caller, Done, InProject, ToolError, ToolSpec, Tools, blocking};

/// `att.git.status`.
pub static STATUS: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.git.status",
    "Branch, HEAD and changed files of a project.",
    |tools, a, _| Box::pin(tools.git_status(a.project)),
)
.role(Role::Viewer);

/// `att.git.branch`.
pub static BRANCH: ToolSpec<InProject<BranchArgs>> = ToolSpec::in_project(
    "att.git.branch",
    "Switches to a branch, creating it at HEAD first with `create` (refuses to overwrite local changes).",
    |tools, a, _| Box::pin(tools.branch(a)),
);

/// `att.git.commit`.
pub static COMMIT: ToolSpec<InProject<CommitArgs>> = ToolSpec::in_project(
    "att.git.commit",
    "Commits the named paths, or every change to tracked files (never untracked files).",
    |tools, a, caller| Box::pin(tools.commit(a, caller)),
);

/// `att.git.log`.
pub static LOG: ToolSpec<InProject<LogArgs>> = ToolSpec::in_project(
    "att.git.log",
    "The newest commits reachable from HEAD.",
    |tools, a, _| Box::pin(tools.log(a)),
)
.role(Role::Viewer);

/// `att.git.diff`.
pub static DIFF: ToolSpec<InProject<NoArgs>> = ToolSpec::in_project(
    "att.git.diff",
    "The patch of the working tree (staged and not, untracked included) against HEAD.",
    |tools, a, _| Box::pin(tools.git_diff(a.project)),
)
.role(Role::Viewer);

/// `att.git.push`.
pub static PUSH: ToolSpec<InProject<PushArgs>> = ToolSpec::in_project(
    "att.git.push",
    "Pushes a branch to a remote (local and file:// remotes; not-fast-forward refused).",
    |tools, a, _| Box::pin(tools.push(a)),
);

/// The first 12 characters of a commit id.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The branch `root` is on; a detached HEAD is the caller's to resolve by naming one.
pub(super) async fn current_branch(root: &std::path::Path) -> Result<String, ToolError> {
    let root = root.to_owned();
    blocking(move || git::status(&root))
        .await?
        .branch
        .ok_or_else(|| ToolError::Conflict("HEAD is detached: name the branch".into()))
}

impl Tools {
    async fn git_status(&self, project: String) -> Result<Done, ToolError> {
        let root = self.root(&project).await?;
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

    async fn branch(&self, a: InProject<BranchArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let BranchArgs { name, create } = a.args;
        let b = blocking(move || git::branch(&root, &name, create)).await?;
        Done::new(
            format!("on branch {b}"),
            json!({ "branch": b, "created": create }),
        )
    }

    async fn commit(&self, a: InProject<CommitArgs>, caller: &Caller) -> Result<Done, ToolError> {
        let project = self.project(&a.project).await?;
        let root = project.path.clone();
        let CommitArgs { message, paths } = a.args;
        let c = blocking(move || git::commit(&root, &message, paths.as_deref())).await?;
        self.emit(
            "workspace.commit",
            None,
            json!({ "project": project.name, "caller": caller.who, "principal": caller.principal,
                    "commit": c.id,
                    "files": c.files }),
        );
        Done::new(format!("committed {} {}", short(&c.id), c.summary), c)
    }

    async fn log(&self, a: InProject<LogArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let limit = a.args.limit.unwrap_or(20).clamp(1, 1000);
        let commits = blocking(move || git::log(&root, limit)).await?;
        let text = commits
            .iter()
            .map(|c| format!("{} {}", short(&c.id), c.summary))
            .collect::<Vec<_>>()
            .join("\n");
        Done::new(text, json!({ "commits": commits }))
    }

    async fn git_diff(&self, project: String) -> Result<Done, ToolError> {
        let root = self.root(&project).await?;
        let patch = blocking(move || git::diff(&root)).await?;
        Done::new(patch.clone(), json!({ "diff": patch }))
    }

    async fn push(&self, a: InProject<PushArgs>) -> Result<Done, ToolError> {
        let root = self.root(&a.project).await?;
        let remote = a.args.remote.unwrap_or_else(|| "origin".into());
        let branch = match a.args.branch {
            Some(b) => b,
            None => current_branch(&root).await?,
        };
        git::push(&root, &remote, &branch).await?;
        Done::new(
            format!("pushed {branch} to {remote}"),
            json!({ "remote": remote, "branch": branch, "pushed": true }),
        )
    }
}
