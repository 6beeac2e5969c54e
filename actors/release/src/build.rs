//! The `build` phase: a release's artifact produced from its commit, in a worktree of its own
//! (the live tree is never touched), and kept under the data directory so that a rollback
//! never needs a rebuild (BOOTSTRAP.md, "Phases").
//!
//! Layout under the data directory, per target (`service:web` → `service-web`):
//! - `builds/<target>/` — a linked git worktree (git2), detached at the commit being built;
//!   kept between builds so that build caches (`target/`, `node_modules/`) survive;
//! - `builds/<target>.log` — the build output (rotated);
//! - `releases/<target>/<release id>/<artifact name>` — the artifact of each kept release.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::child::{self, Program};
use crate::process::log::RotatingLog;

/// How a target's releases are built (`[services.build]`, `[self_build]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The git repository the releases are built from (its commits are the release ids).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub repo: PathBuf,
    /// The build command as an argument vector (no shell), run in the worktree.
    pub command: Vec<String>,
    /// What the build produces, a file or a directory, relative to the worktree.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub artifact: PathBuf,
    /// Extra environment variables for the build (in the configuration file a value may be
    /// `{ from_env = "NAME" }`).
    #[serde(default, deserialize_with = "crate::secret::values")]
    pub env: BTreeMap<String, String>,
    /// How long a build may take (default 30 min); then its process group is killed.
    #[serde(default = "thirty_minutes", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub timeout: Duration,
}

fn thirty_minutes() -> Duration {
    Duration::from_secs(30 * 60)
}

/// Releases per target that keep their artifacts.
pub const KEEP_ARTIFACTS: usize = 5;

impl BuildSpec {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.command.is_empty() || self.command[0].trim().is_empty() {
            return Err("build `command` is empty".into());
        }
        crate::duration::JOB
            .check("timeout", self.timeout)
            .map_err(|e| format!("build {e}"))?;
        if !contained(&self.artifact) {
            return Err(format!(
                "build `artifact` `{}` must be a relative path inside the worktree",
                self.artifact.display()
            ));
        }
        Ok(())
    }
}

/// A relative path without `..`: it stays inside whatever it is joined to.
fn contained(p: &Path) -> bool {
    !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `service:web` → `service-web`: a file name.
pub fn target_dir_name(target: &str) -> String {
    target.replace(':', "-")
}

/// Where `target`'s release artifacts are kept.
pub fn releases_dir(data_dir: &Path, target: &str) -> PathBuf {
    data_dir.join("releases").join(target_dir_name(target))
}

/// A commit of the build repository: its full id and its first parent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The commit id (40 hex digits).
    pub commit: String,
    /// Its first parent, if it has one.
    pub parent: Option<String>,
}

/// Resolves `rev` (a commit id, a short id, a branch, a tag, `HEAD`) in `repo` to a commit.
pub fn resolve_revision(repo: &Path, rev: &str) -> Result<Revision, String> {
    let r = git2::Repository::open(repo).map_err(|e| {
        format!(
            "`{}` is not a git repository: {}",
            repo.display(),
            e.message()
        )
    })?;
    let object = r.revparse_single(rev).map_err(|e| {
        format!(
            "`{rev}` is not a commit in `{}`: {}",
            repo.display(),
            e.message()
        )
    })?;
    let commit = object.peel_to_commit().map_err(|e| {
        format!(
            "`{rev}` is not a commit in `{}`: {}",
            repo.display(),
            e.message()
        )
    })?;
    Ok(Revision {
        commit: commit.id().to_string(),
        parent: commit.parent_ids().next().map(|p| p.to_string()),
    })
}

/// The worktree for `target`, detached at `commit` with its files checked out (tracked files
/// as in the commit; untracked ones — build caches — left alone).
fn checkout(repo: &Path, worktree: &Path, target: &str, commit: &str) -> Result<(), String> {
    let git = |what: &str, e: git2::Error| format!("{what}: {}", e.message());
    let main = git2::Repository::open(repo)
        .map_err(|e| git(&format!("`{}` is not a git repository", repo.display()), e))?;
    let oid = git2::Oid::from_str(commit).map_err(|e| git("bad commit id", e))?;
    main.find_commit(oid)
        .map_err(|e| git(&format!("commit {commit} is not in the repository"), e))?;
    let name = format!("att-build-{}", target_dir_name(target));
    let opened = git2::Repository::open(worktree)
        .ok()
        .filter(|w| w.is_worktree() && w.path().starts_with(main.path()));
    let wt = match opened {
        Some(wt) => wt,
        None => {
            // A stale registration (its directory was removed) or a stray directory.
            if let Ok(old) = main.find_worktree(&name) {
                let mut opts = git2::WorktreePruneOptions::new();
                opts.valid(true).working_tree(true);
                let _ = old.prune(Some(&mut opts));
            }
            if worktree.exists() {
                std::fs::remove_dir_all(worktree)
                    .map_err(|e| format!("could not clear `{}`: {e}", worktree.display()))?;
            }
            if let Some(parent) = worktree.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("could not create `{}`: {e}", parent.display()))?;
            }
            // git2 adds a worktree on a new branch named after it; it is detached below and
            // the branch deleted, so nothing is left in the user's branch list.
            main.worktree(&name, worktree, None)
                .map_err(|e| git("could not add the build worktree", e))?;
            git2::Repository::open(worktree).map_err(|e| git("could not open the worktree", e))?
        }
    };
    wt.set_head_detached(oid)
        .map_err(|e| git("could not detach the worktree", e))?;
    wt.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .map_err(|e| git(&format!("could not check out {commit}"), e))?;
    if let Ok(mut branch) = main.find_branch(&name, git2::BranchType::Local) {
        let _ = branch.delete();
    }
    Ok(())
}

/// Copies `from` (a file or a directory tree) to `to`, keeping permissions.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.file_type().is_symlink() {
        let link = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(link, to)
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// What a build reports while it runs: the newest output lines.
pub type Progress = Arc<dyn Fn(Vec<String>) + Send + Sync>;

/// Builds `commit` of `target`: checks it out in the target's worktree, runs the build
/// command there under the timeout, and copies the artifact to
/// `releases/<target>/<commit>/`. Answers the artifact's stored path. On failure, the
/// error ends with the build's last output lines.
pub async fn build(
    spec: &BuildSpec,
    data_dir: &Path,
    target: &str,
    commit: &str,
    progress: Progress,
) -> Result<PathBuf, String> {
    let worktree = data_dir.join("builds").join(target_dir_name(target));
    {
        let (repo, worktree, target, commit) = (
            spec.repo.clone(),
            worktree.clone(),
            target.to_owned(),
            commit.to_owned(),
        );
        tokio::task::spawn_blocking(move || checkout(&repo, &worktree, &target, &commit))
            .await
            .map_err(|e| format!("the checkout did not finish: {e}"))??;
    }
    let log_path = data_dir
        .join("builds")
        .join(format!("{}.log", target_dir_name(target)));
    let log = Arc::new(RotatingLog::new(log_path, 10 * 1024 * 1024, 2));
    let _ = log
        .append(&format!("# att: building {target} at {commit}"))
        .await;
    let command = Program {
        program: spec.command[0].clone(),
        args: spec.command[1..].to_vec(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cwd: Some(worktree.clone()),
    };
    let child = child::spawn(&command, log.clone()).map_err(|e| {
        format!(
            "the build command `{}` could not start: {e}",
            command.program
        )
    })?;
    let watcher = {
        let (log, progress) = (log.clone(), progress.clone());
        tokio::spawn(async move {
            let mut last: Vec<String> = Vec::new();
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let tail = log.tail(5).await;
                if tail != last {
                    progress(tail.clone());
                    last = tail;
                }
            }
        })
    };
    let exit = child.wait_for(spec.timeout).await;
    watcher.abort();
    progress(log.tail(5).await);
    let tail = || async { log.tail(20).await.join("\n") };
    let exit = match exit {
        Some(exit) => exit,
        None => {
            child.stop(Duration::from_secs(5)).await;
            return Err(format!(
                "the build timed out after {}; its last output:\n{}",
                humantime::format_duration(spec.timeout),
                tail().await
            ));
        }
    };
    if exit.code != Some(0) {
        return Err(format!(
            "the build {}; its last output:\n{}",
            exit.description,
            tail().await
        ));
    }
    let produced = worktree.join(&spec.artifact);
    if !produced.exists() {
        return Err(format!(
            "the build succeeded but produced no `{}`",
            spec.artifact.display()
        ));
    }
    let dir = releases_dir(data_dir, target);
    let name = spec
        .artifact
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("artifact"));
    let (staging, kept) = (dir.join(format!(".{commit}.partial")), dir.join(commit));
    tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        copy_tree(&produced, &staging.join(&name))?;
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::rename(&staging, &kept)?;
        Ok(kept.join(name))
    })
    .await
    .map_err(|e| format!("the artifact copy did not finish: {e}"))?
    .map_err(|e| format!("could not keep the artifact: {e}"))
}

/// Removes the artifact directories of `target`'s releases beyond the newest `keep` ones —
/// never those in `protect` (the live release, the rollback target) — and answers the ids
/// whose artifacts were removed. `releases` are newest first.
pub fn prune(
    data_dir: &Path,
    target: &str,
    releases: &[(String, Option<PathBuf>)],
    keep: usize,
    protect: &[&str],
) -> Vec<String> {
    let dir = releases_dir(data_dir, target);
    let mut removed = Vec::new();
    for (id, artifact) in releases.iter().filter(|(_, a)| a.is_some()).skip(keep) {
        if protect.contains(&id.as_str()) {
            continue;
        }
        // Only what lives in this target's releases directory is ours to remove.
        let Some(artifact) = artifact else { continue };
        if !artifact.starts_with(&dir) || !contained(Path::new(id)) {
            continue;
        }
        let _ = std::fs::remove_dir_all(dir.join(id));
        removed.push(id.clone());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_must_stay_inside_the_worktree() {
        let spec = |artifact: &str| BuildSpec {
            repo: "/r".into(),
            command: vec!["make".into()],
            artifact: artifact.into(),
            env: BTreeMap::new(),
            timeout: thirty_minutes(),
        };
        assert!(spec("target/release/web").validate().is_ok());
        for bad in ["", "/etc/passwd", "../out", "a/../../b", "./x/.."] {
            assert!(spec(bad).validate().is_err(), "{bad}");
        }
        let mut empty = spec("x");
        empty.command.clear();
        assert!(empty.validate().unwrap_err().contains("command"));
    }
}
