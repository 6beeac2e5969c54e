//! The `publish` phase itself, forge-agnostic: push the branch, open a change request, wait
//! for CI with back-off inside a budget ([`wait_for_ci`]), merge on green, and make the
//! local base branch follow the merge. [`forge_for`] picks the adapter from the remote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::github::GithubForge;
use super::local::LocalForge;
use super::port::{CiState, Forge, ForgeKind, PublishSpec};
use crate::workspace::git;
use crate::workspace::testrun::TestCommand;

/// How a CI wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiWait {
    /// `success`, `failure` or `timeout`.
    pub status: &'static str,
    /// Why (for failure and timeout).
    pub reason: Option<String>,
    /// How often CI was asked.
    pub polls: u32,
}

/// Waits for `id`'s CI: asks at once, then after `initial`, doubling up to `max`, until
/// `budget` is spent (a zero budget asks once). Time is tokio's (tests pause and advance it).
pub async fn wait_for_ci(
    forge: &dyn Forge,
    id: &str,
    initial: Duration,
    max: Duration,
    budget: Duration,
) -> Result<CiWait, String> {
    let start = tokio::time::Instant::now();
    let mut wait = initial.max(Duration::from_millis(1));
    let mut polls = 0;
    loop {
        polls += 1;
        match forge.ci(id).await? {
            CiState::Success => {
                return Ok(CiWait {
                    status: "success",
                    reason: None,
                    polls,
                });
            }
            CiState::Failure(why) => {
                return Ok(CiWait {
                    status: "failure",
                    reason: Some(why),
                    polls,
                });
            }
            CiState::Pending => {}
        }
        let spent = start.elapsed();
        if spent >= budget {
            return Ok(CiWait {
                status: "timeout",
                reason: Some(format!(
                    "ci_timeout: CI did not finish within {} ({polls} polls)",
                    humantime::format_duration(budget)
                )),
                polls,
            });
        }
        tokio::time::sleep(wait.min(budget - spent)).await;
        wait = (wait * 2).min(max.max(initial));
    }
}

/// What the `publish` phase did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishOutcome {
    /// The branch reached the remote.
    pub pushed: bool,
    /// The change request.
    pub pr_url: Option<String>,
    /// `success`, `failure`, `timeout` (or none before CI).
    pub ci_status: Option<String>,
    /// It was merged.
    pub merged: bool,
    /// The base branch's head after the merge: the commit to deploy.
    pub commit: Option<String>,
    /// Why it stopped, when it did not merge.
    pub failure: Option<String>,
}

/// The remote's URL as a local path, when it is one.
pub(super) fn local_path(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    path.starts_with('/').then(|| PathBuf::from(path))
}

pub(super) fn remote_url(repo: &Path, remote: &str) -> Result<String, String> {
    let r = git2::Repository::open(repo).map_err(|e| e.message().to_owned())?;
    let found = r
        .find_remote(remote)
        .map_err(|_| format!("the repository has no remote `{remote}`"))?;
    Ok(found.url().unwrap_or_default().to_owned())
}

/// The `publish` phase: push `branch` (whose head is `commit`), open a change request into
/// `base`, wait for CI, merge, and bring the merge back into `repo` (`<remote>/<base>`
/// updated; the local `base` branch fast-forwarded when that is safe). Answers what happened
/// (a red CI is an outcome with a `failure`, not an error). Without `create_pr` it stops
/// after the push, without `merge` after a green CI: then `commit` is what gets deployed.
pub async fn publish(
    spec: &PublishSpec,
    repo: &Path,
    branch: &str,
    base: &str,
    title: &str,
    commit: &str,
) -> PublishOutcome {
    let mut out = PublishOutcome::default();
    let fail = |mut out: PublishOutcome, why: String| {
        out.failure = Some(why);
        out
    };
    if let Err(e) = git::push(repo, &spec.remote, branch).await {
        return fail(out, format!("push of `{branch}` failed: {e}"));
    }
    out.pushed = true;
    if !spec.create_pr {
        out.ci_status = Some("not_run".into());
        out.commit = Some(commit.to_owned());
        return out;
    }
    let forge = match forge_for(
        repo,
        &spec.remote,
        &spec.forge,
        spec.ci.clone(),
        spec.ci_budget,
    ) {
        Ok(f) => f,
        Err(e) => return fail(out, e),
    };
    let cr = match forge
        .open(branch, base, title, "Opened by att's release pipeline.")
        .await
    {
        Ok(cr) => cr,
        Err(e) => return fail(out, format!("the change request could not be opened: {e}")),
    };
    out.pr_url = Some(cr.url.clone());
    let waited = wait_for_ci(
        forge.as_ref(),
        &cr.id,
        spec.ci_poll_initial,
        spec.ci_poll_max,
        spec.ci_budget,
    )
    .await;
    let waited = match waited {
        Ok(w) => w,
        Err(e) => return fail(out, format!("CI could not be read: {e}")),
    };
    out.ci_status = Some(waited.status.to_owned());
    if waited.status != "success" {
        let why = waited.reason.unwrap_or_default();
        return fail(
            out,
            format!(
                "CI is not green ({}): {why}; nothing was merged or deployed",
                waited.status
            ),
        );
    }
    if !spec.merge {
        out.commit = Some(commit.to_owned());
        return out;
    }
    let merged = match forge.merge(&cr.id).await {
        Ok(c) => c,
        Err(e) => return fail(out, format!("the merge failed: {e}")),
    };
    out.merged = true;
    out.commit = Some(merged.clone());
    let (r, remote, b, m) = (
        repo.to_owned(),
        spec.remote.clone(),
        base.to_owned(),
        merged,
    );
    let followed = tokio::task::spawn_blocking(move || follow(&r, &remote, &b, &m))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    if let Err(e) = followed {
        return fail(out, format!("the merge could not be fetched back: {e}"));
    }
    out
}

/// The forge of `repo`'s `remote`: for the local forge, the remote must be a local bare
/// repository; its CI runs `ci` (default: detected) for at most `ci_timeout`.
pub fn forge_for(
    repo: &Path,
    remote: &str,
    kind: &ForgeKind,
    ci: Option<TestCommand>,
    ci_timeout: Duration,
) -> Result<Box<dyn Forge>, String> {
    Ok(match kind {
        ForgeKind::Local => {
            let url = remote_url(repo, remote)?;
            let bare = local_path(&url)
                .ok_or_else(|| format!("the local forge needs a local remote, not `{url}`"))?;
            Box::new(LocalForge {
                bare,
                ci,
                ci_timeout,
            })
        }
        ForgeKind::Github { repo: name, gh } => Box::new(GithubForge {
            repo: name.clone(),
            gh: gh.clone().unwrap_or_else(|| "gh".into()),
        }),
    })
}

/// Fetches `base` from `remote` into `repo` and fast-forwards the local `base` to `merged`
/// when it is an ancestor and — if it is checked out — the tree is clean (otherwise only
/// `<remote>/<base>` moves).
pub(super) fn follow(repo: &Path, remote: &str, base: &str, merged: &str) -> Result<(), String> {
    let m = |e: git2::Error| e.message().to_owned();
    let r = git2::Repository::open(repo).map_err(m)?;
    let mut rem = r.find_remote(remote).map_err(m)?;
    let refspec = format!("+refs/heads/{base}:refs/remotes/{remote}/{base}");
    rem.fetch(&[refspec.as_str()], None, None).map_err(m)?;
    let target = git2::Oid::from_str(merged).map_err(m)?;
    let local = format!("refs/heads/{base}");
    let Ok(current) = r.refname_to_id(&local) else {
        return Ok(());
    };
    if current == target || !r.graph_descendant_of(target, current).map_err(m)? {
        return Ok(());
    }
    let checked_out =
        r.head().ok().and_then(|h| h.name().ok().map(str::to_owned)) == Some(local.clone());
    if checked_out {
        let clean = r
            .statuses(Some(git2::StatusOptions::new().include_untracked(false)))
            .map_err(m)?
            .is_empty();
        if !clean {
            return Ok(());
        }
        let commit = r.find_commit(target).map_err(m)?;
        r.checkout_tree(
            commit.as_object(),
            Some(git2::build::CheckoutBuilder::new().safe()),
        )
        .map_err(m)?;
    }
    r.reference(
        &local,
        target,
        true,
        "att: fast-forward to the merged change",
    )
    .map_err(m)?;
    Ok(())
}

// ---- the local forge ----
