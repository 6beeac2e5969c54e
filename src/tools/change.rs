//! `att.git.open_change`, `ci_status`, `merge_change`, `reviews`: change requests on a
//! project's forge.
//!
//! The forge is the project's own setting (default: the local forge of a bare `origin`, which
//! runs the project's tests as its CI; or GitHub) reached through
//! `att_release::forge`, the same forges the release pipeline's `change` and
//! `publish` phases use. A forge's refusal is a conflict: the request met the forge's state.

use crate::auth::Role;
use std::time::Duration;

use att_release::forge::{CiState, Forge, forge_for};
use serde_json::json;

use super::args::{ChangeArgs, OpenChangeArgs};
use super::git::current_branch;
use super::testruns::TIMEOUT_DEFAULT;
use super::{Done, InProject, ToolError, ToolSpec, Tools};
use crate::project::Project;

/// `att.git.open_change`.
pub static OPEN: ToolSpec<InProject<OpenChangeArgs>> = ToolSpec::in_project(
    "att.git.open_change",
    "Pushes a branch and opens a change request on the project's forge (the local forge of a bare `origin`, or GitHub).",
    |tools, a, _| Box::pin(tools.open_change(a)),
);

/// `att.git.ci_status`.
pub static CI_STATUS: ToolSpec<InProject<ChangeArgs>> = ToolSpec::in_project(
    "att.git.ci_status",
    "The CI state of a change request: pending, success or failure (with why).",
    |tools, a, _| Box::pin(tools.ci_status(a)),
)
.role(Role::Viewer);

/// `att.git.merge_change`.
pub static MERGE: ToolSpec<InProject<ChangeArgs>> = ToolSpec::in_project(
    "att.git.merge_change",
    "Merges a change request; answers the base branch's new head.",
    |tools, a, _| Box::pin(tools.merge_change(a)),
);

/// `att.git.reviews`.
pub static REVIEWS: ToolSpec<InProject<ChangeArgs>> = ToolSpec::in_project(
    "att.git.reviews",
    "The reviews of a change request.",
    |tools, a, _| Box::pin(tools.reviews(a)),
)
.role(Role::Viewer);

impl Tools {
    /// The forge of `project`'s `remote`.
    fn forge(&self, project: &Project, remote: &str) -> Result<Box<dyn Forge>, ToolError> {
        let kind = project.forge.clone().unwrap_or_default();
        let ci = project.test.clone();
        forge_for(
            &project.path,
            remote,
            &kind,
            ci,
            Duration::from_secs(TIMEOUT_DEFAULT),
        )
        .map_err(ToolError::Conflict)
    }

    /// The forge a change request lives on.
    async fn forge_of(&self, a: &InProject<ChangeArgs>) -> Result<Box<dyn Forge>, ToolError> {
        let p = self.project(&a.project).await?;
        self.forge(&p, a.args.remote.as_deref().unwrap_or("origin"))
    }

    async fn open_change(&self, a: InProject<OpenChangeArgs>) -> Result<Done, ToolError> {
        let p = self.project(&a.project).await?;
        let a = a.args;
        let remote = a.remote.unwrap_or_else(|| "origin".into());
        let branch = match a.branch {
            Some(b) => b,
            None => current_branch(&p.path).await?,
        };
        att_workspace::git::push(&p.path, &remote, &branch).await?;
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

    async fn ci_status(&self, a: InProject<ChangeArgs>) -> Result<Done, ToolError> {
        let forge = self.forge_of(&a).await?;
        let change = a.args.change;
        let (state, reason) = match forge.ci(&change).await.map_err(ToolError::Conflict)? {
            CiState::Pending => ("pending", None),
            CiState::Success => ("success", None),
            CiState::Failure(why) => ("failure", Some(why)),
        };
        Done::new(
            format!("CI of {change}: {state}"),
            json!({ "change": change, "state": state, "reason": reason }),
        )
    }

    async fn merge_change(&self, a: InProject<ChangeArgs>) -> Result<Done, ToolError> {
        let forge = self.forge_of(&a).await?;
        let change = a.args.change;
        let commit = forge.merge(&change).await.map_err(ToolError::Conflict)?;
        Done::new(
            format!("merged {change} as {commit}"),
            json!({ "change": change, "merged": true, "commit": commit }),
        )
    }

    async fn reviews(&self, a: InProject<ChangeArgs>) -> Result<Done, ToolError> {
        let forge = self.forge_of(&a).await?;
        let change = a.args.change;
        let reviews = forge.reviews(&change).await.map_err(ToolError::Conflict)?;
        Done::new(
            format!("{} reviews of {change}", reviews.len()),
            json!({ "change": change, "reviews": reviews }),
        )
    }
}
