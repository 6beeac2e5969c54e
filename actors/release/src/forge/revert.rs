//! A revert on the forge: when a run that shipped a change (`change` + `publish`, merged) is
//! rolled back, the target runs the old release again but the forge's base branch still
//! holds the change. [`revert`] puts that right the way a person would: a commit reverting
//! the shipped one, made on a new branch `att/revert-<run>` from the remote's base as it is
//! now (in the object database only — the working tree is never touched), pushed, and
//! opened as a change request on the same forge, whose CI then runs. It is not merged: a
//! person decides (the change may be fixed forward instead).

use std::path::{Path, PathBuf};

use super::port::PublishSpec;
use super::publish::{PublishOutcome, publish};

/// What a revert needs: how the change was published, and what was shipped.
#[derive(Debug, Clone)]
pub struct RevertJob {
    /// The change's publish request (its remote, forge, CI).
    pub spec: PublishSpec,
    /// The repository the change was made in.
    pub repo: PathBuf,
    /// The branch the change was merged into.
    pub base: String,
    /// The commit the merge put on `base` (the one reverted).
    pub shipped: String,
    /// The change's title.
    pub title: String,
    /// The run that was rolled back (names the branch).
    pub run: String,
}

/// Makes, pushes and opens the revert of `job.shipped`, and waits for its CI within the
/// publish's budget. The outcome's `pr_url` is the revert's change request; a `failure` says
/// what did not happen (a conflict with what `base` holds now, a refused push, red CI).
pub async fn revert(job: &RevertJob) -> PublishOutcome {
    let branch = format!("att/revert-{}", job.run);
    let title = format!("Revert \"{}\"", job.title);
    let (repo, remote, base, shipped, b, t, run) = (
        job.repo.clone(),
        job.spec.remote.clone(),
        job.base.clone(),
        job.shipped.clone(),
        branch.clone(),
        title.clone(),
        job.run.clone(),
    );
    let made = tokio::task::spawn_blocking(move || {
        revert_commit(&repo, &remote, &base, &shipped, &b, &t, &run)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let commit = match made {
        Ok(c) => c,
        Err(e) => {
            return PublishOutcome {
                failure: Some(format!("the revert could not be made: {e}")),
                ..PublishOutcome::default()
            };
        }
    };
    let spec = PublishSpec {
        create_pr: true,
        merge: false,
        ..job.spec.clone()
    };
    publish(&spec, &job.repo, &branch, &job.base, &title, &commit).await
}

/// The revert commit of `shipped` on top of `<remote>/<base>` (fetched first), as branch
/// `branch` (which must not exist); its id.
fn revert_commit(
    repo: &Path,
    remote: &str,
    base: &str,
    shipped: &str,
    branch: &str,
    title: &str,
    run: &str,
) -> Result<String, String> {
    let m = |e: git2::Error| e.message().to_owned();
    let r = git2::Repository::open(repo).map_err(m)?;
    let mut rem = r.find_remote(remote).map_err(m)?;
    let refspec = format!("+refs/heads/{base}:refs/remotes/{remote}/{base}");
    rem.fetch(&[refspec.as_str()], None, None).map_err(m)?;
    let tip = r
        .refname_to_id(&format!("refs/remotes/{remote}/{base}"))
        .map_err(m)?;
    let tip = r.find_commit(tip).map_err(m)?;
    let bad = r
        .find_commit(git2::Oid::from_str(shipped).map_err(m)?)
        .map_err(m)?;
    // A merge commit is reverted against its first parent: the base before the merge.
    let mainline = if bad.parent_count() > 1 { 1 } else { 0 };
    let mut index = r.revert_commit(&bad, &tip, mainline, None).map_err(m)?;
    if index.has_conflicts() {
        return Err(format!(
            "reverting {shipped} conflicts with `{base}` as it is now"
        ));
    }
    let tree = r
        .find_tree(index.write_tree_to(&r).map_err(m)?)
        .map_err(m)?;
    let who = git2::Signature::now("att", "att@localhost").map_err(m)?;
    let message = format!(
        "Revert \"{title}\"\n\nThis reverts commit {shipped}: its release was rolled back by \
         run {run}."
    );
    let commit = r
        .commit(None, &who, &who, &message, &tree, &[&tip])
        .map_err(m)?;
    r.reference(
        &format!("refs/heads/{branch}"),
        commit,
        false,
        "att: revert",
    )
    .map_err(m)?;
    Ok(commit.to_string())
}
