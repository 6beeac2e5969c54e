//! The `change` phase (BOOTSTRAP.md, WORKSPACE.md): a branch made from the repository's
//! current branch, the requested edits applied (new files too), the tests run, and a commit —
//! all in a linked worktree of att's own (`<data_dir>/changes/<run>`), so the user's working
//! tree is never touched. Red tests (or any failure) remove the worktree and the branch:
//! nothing is left behind (the original left the edit on a dangling branch).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::parse::Counts;
use crate::workspace::testrun::{self, TestCommand};
use crate::workspace::{code, git};

/// One edit: a file's whole new content (created when missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The file, relative to the repository.
    pub path: String,
    /// Its new text.
    pub content: String,
}

/// What the `change` phase is asked to do (`change` in a run request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeSpec {
    /// The repository to change (default: the target's build repository).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub repo: Option<PathBuf>,
    /// A workspace project whose directory is the repository (att's API turns it into
    /// `repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The branch to create (default `att/<run id>`); it must not exist.
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit message.
    pub message: String,
    /// The edits.
    pub edits: Vec<Edit>,
    /// How the tests run (default: detected from the repository's files).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub test: Option<TestCommand>,
    /// Commit without running the tests (default false).
    #[serde(default)]
    pub skip_tests: bool,
    /// The tests' timeout (default 10 min).
    #[serde(default = "ten_minutes", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub test_timeout: Duration,
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

/// What the `change` phase did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeOutcome {
    /// The repository changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub repo: PathBuf,
    /// The branch made.
    pub branch: String,
    /// The branch it was made from.
    pub base: String,
    /// The commit.
    pub commit: String,
    /// The tests' counts (none when skipped).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub tests: Option<Counts>,
}

/// Why the change phase failed, with what is known by then.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFailure {
    /// What went wrong.
    pub reason: String,
    /// The tests' counts, when they ran.
    pub tests: Option<Counts>,
}

impl From<String> for ChangeFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            tests: None,
        }
    }
}

/// Where run `run`'s change worktree lives.
pub fn worktree_dir(data_dir: &Path, run: &str) -> PathBuf {
    data_dir.join("changes").join(run)
}

fn g(what: &str, e: git2::Error) -> String {
    format!("{what}: {}", e.message())
}

/// Removes the change worktree of `run` (and its registration), and the branch when
/// `drop_branch`. Best effort: used on every way out.
pub fn cleanup(repo: &Path, data_dir: &Path, run: &str, branch: Option<&str>) {
    let dir = worktree_dir(data_dir, run);
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(main) = git2::Repository::open(repo) {
        if let Ok(wt) = main.find_worktree(&worktree_name(run)) {
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(true).working_tree(true);
            let _ = wt.prune(Some(&mut opts));
        }
        if let Some(b) = branch
            && let Ok(mut b) = main.find_branch(b, git2::BranchType::Local)
        {
            let _ = b.delete();
        }
    }
}

/// Cleans up after a `change` phase that did not finish (att stopped, or the run was
/// cancelled): the worktree names its repository; the worktree and `branch` go.
pub fn cleanup_orphan(data_dir: &Path, run: &str, branch: &str) {
    let dir = worktree_dir(data_dir, run);
    let common = git2::Repository::open(&dir)
        .ok()
        .map(|wt| wt.commondir().to_path_buf());
    match common {
        Some(repo) => cleanup(&repo, data_dir, run, Some(branch)),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The branch a change of run `run` makes.
pub fn branch_of(spec: &ChangeSpec, run: &str) -> String {
    spec.branch.clone().unwrap_or_else(|| format!("att/{run}"))
}

fn worktree_name(run: &str) -> String {
    let safe: String = run
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("att-change-{safe}")
}

/// Creates `branch` at the current branch's head and a worktree on it; answers the worktree
/// and the base branch.
fn prepare(
    repo: &Path,
    data_dir: &Path,
    run: &str,
    branch: &str,
) -> Result<(PathBuf, String), String> {
    if branch.starts_with('-') || !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Err(format!("`{branch}` is not a valid branch name"));
    }
    let main = git2::Repository::open(repo)
        .map_err(|e| g(&format!("`{}` is not a git repository", repo.display()), e))?;
    let head = main
        .head()
        .map_err(|e| g("the repository has no commit to change", e))?;
    let base = head
        .shorthand()
        .ok()
        .filter(|_| head.is_branch())
        .ok_or("the repository's HEAD is detached: check out the branch to change")?
        .to_owned();
    let commit = head
        .peel_to_commit()
        .map_err(|e| g("the repository has no commit to change", e))?;
    if main.find_branch(branch, git2::BranchType::Local).is_ok() {
        return Err(format!("branch `{branch}` exists already"));
    }
    let created = main
        .branch(branch, &commit, false)
        .map_err(|e| g(&format!("could not create branch `{branch}`"), e))?;
    let dir = worktree_dir(data_dir, run);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("could not create `{}`: {e}", parent.display()))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let reference = created.into_reference();
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    if let Err(e) = main.worktree(&worktree_name(run), &dir, Some(&opts)) {
        drop(reference);
        if let Ok(mut b) = main.find_branch(branch, git2::BranchType::Local) {
            let _ = b.delete();
        }
        return Err(g("could not add the change worktree", e));
    }
    Ok((dir, base))
}

/// The `change` phase for run `run`: branch, edits, tests, commit.
pub async fn change(
    spec: &ChangeSpec,
    repo: &Path,
    data_dir: &Path,
    run: &str,
) -> Result<ChangeOutcome, ChangeFailure> {
    if spec.edits.is_empty() {
        return Err("the change has no edits".to_owned().into());
    }
    if spec.message.trim().is_empty() {
        return Err("the change's commit message is empty".to_owned().into());
    }
    let branch = branch_of(spec, run);
    let (r, d, id, b) = (
        repo.to_owned(),
        data_dir.to_owned(),
        run.to_owned(),
        branch.clone(),
    );
    let (worktree, base) = tokio::task::spawn_blocking(move || prepare(&r, &d, &id, &b))
        .await
        .map_err(|e| format!("the branch could not be made: {e}"))??;
    let cargo_target = cargo_target_dir(data_dir, repo);
    let result = apply_test_commit(spec, &worktree, &branch, &cargo_target).await;
    let (r, d, id) = (repo.to_owned(), data_dir.to_owned(), run.to_owned());
    let drop_branch = result.is_err().then(|| branch.clone());
    let _ = tokio::task::spawn_blocking(move || cleanup(&r, &d, &id, drop_branch.as_deref())).await;
    let (commit, tests) = result?;
    Ok(ChangeOutcome {
        repo: repo.to_owned(),
        branch,
        base,
        commit,
        tests,
    })
}

/// Where cargo builds the tests of `repo`'s changes: kept between runs (each change has a
/// fresh worktree, and a cold build per change would cost minutes for a real crate).
fn cargo_target_dir(data_dir: &Path, repo: &Path) -> PathBuf {
    let real = std::fs::canonicalize(repo).unwrap_or_else(|_| repo.to_owned());
    let name: String = real
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let base = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    base.join("changes")
        .join("cargo-target")
        .join(name.trim_matches('-'))
}

async fn apply_test_commit(
    spec: &ChangeSpec,
    worktree: &Path,
    branch: &str,
    cargo_target: &Path,
) -> Result<(String, Option<Counts>), ChangeFailure> {
    let (wt, edits) = (worktree.to_owned(), spec.edits.clone());
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        for e in &edits {
            code::write(&wt, &e.path, &e.content)
                .map_err(|err| format!("edit of `{}` refused: {err}", e.path))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("the edits did not finish: {e}"))??;
    let mut tests = None;
    if !spec.skip_tests {
        let command = spec
            .test
            .clone()
            .or_else(|| testrun::detect(worktree))
            .ok_or_else(|| {
                "no test command: name one in `change.test` (or set `skip_tests`)".to_owned()
            })?
            .with_cargo_target(cargo_target);
        let outcome = testrun::run(worktree, &command, None, spec.test_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let counts = outcome.counts.clone();
        let red =
            outcome.returncode != 0 || outcome.timed_out || counts.failed > 0 || counts.errors > 0;
        if red {
            let tail: Vec<&str> = outcome.output.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(ChangeFailure {
                reason: format!(
                    "the tests failed ({} passed, {} failed, {} errors, exit {}{}): nothing \
                     was committed or deployed; their last output:\n{}",
                    counts.passed,
                    counts.failed,
                    counts.errors,
                    outcome.returncode,
                    if outcome.timed_out { ", timed out" } else { "" },
                    tail.join("\n")
                ),
                tests: Some(counts),
            });
        }
        tests = Some(counts);
    }
    let (wt, message, paths) = (
        worktree.to_owned(),
        spec.message.clone(),
        spec.edits
            .iter()
            .map(|e| e.path.clone())
            .collect::<Vec<_>>(),
    );
    let made = tokio::task::spawn_blocking(move || git::commit(&wt, &message, Some(&paths)))
        .await
        .map_err(|e| format!("the commit did not finish: {e}"))?
        .map_err(|e| ChangeFailure {
            reason: format!("the commit on `{branch}` failed: {e}"),
            tests: tests.clone(),
        })?;
    Ok((made.id, tests))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, git2::Repository) {
        let dir = tempfile::tempdir().expect("dir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        let mut index = repo.index().expect("index");
        for (p, t) in files {
            std::fs::write(dir.path().join(p), t).expect("write");
            index.add_path(Path::new(p)).expect("add");
        }
        index.write().expect("write index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let who = git2::Signature::now("t", "t@example.com").expect("sig");
        repo.commit(Some("HEAD"), &who, &who, "first", &tree, &[])
            .expect("commit");
        drop(tree);
        (dir, repo)
    }

    fn spec(content: &str) -> ChangeSpec {
        ChangeSpec {
            repo: None,
            project: None,
            branch: None,
            message: "change it".into(),
            edits: vec![
                Edit {
                    path: "msg".into(),
                    content: content.into(),
                },
                Edit {
                    path: "new/file.txt".into(),
                    content: "new\n".into(),
                },
            ],
            test: Some(TestCommand {
                argv: vec!["sh".into(), "test.sh".into()],
                runner: crate::workspace::parse::Runner::Plain,
                junit: None,
                env: Default::default(),
            }),
            skip_tests: false,
            test_timeout: Duration::from_secs(60),
        }
    }

    const TEST: &str = "if grep -q bad msg; then echo '0 passed, 1 failed'; exit 1; fi\necho '1 passed, 0 failed'\n";

    #[tokio::test]
    async fn a_green_change_is_committed_on_its_branch_and_the_tree_is_untouched() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let data = tempfile::tempdir().expect("data");
        let out = change(&spec("good\n"), dir.path(), data.path(), "run-1")
            .await
            .expect("green");
        assert_eq!(
            (out.branch.as_str(), out.base.as_str()),
            ("att/run-1", "master")
        );
        assert_eq!(out.tests.as_ref().map(|t| t.passed), Some(1));
        let c = repo
            .find_commit(git2::Oid::from_str(&out.commit).expect("oid"))
            .expect("commit");
        let tree = c.tree().expect("tree");
        assert!(tree.get_path(Path::new("new/file.txt")).is_ok());
        let b = repo
            .find_branch("att/run-1", git2::BranchType::Local)
            .expect("branch");
        assert_eq!(b.get().target().map(|o| o.to_string()), Some(out.commit));
        // The user's tree and branch are as they were; no worktree is left.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("msg")).expect("msg"),
            "old\n"
        );
        assert!(!dir.path().join("new").exists());
        assert_eq!(repo.head().expect("head").shorthand().ok(), Some("master"));
        assert!(repo.worktrees().expect("worktrees").is_empty());
        assert!(!worktree_dir(data.path(), "run-1").exists());
    }

    #[tokio::test]
    async fn red_tests_leave_no_branch_no_worktree_and_no_edit() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let data = tempfile::tempdir().expect("data");
        let e = change(&spec("bad\n"), dir.path(), data.path(), "run-2")
            .await
            .expect_err("red");
        assert!(e.reason.contains("the tests failed"), "{}", e.reason);
        assert_eq!(e.tests.map(|t| t.failed), Some(1));
        assert!(
            repo.find_branch("att/run-2", git2::BranchType::Local)
                .is_err()
        );
        assert!(repo.worktrees().expect("worktrees").is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("msg")).expect("msg"),
            "old\n"
        );
        let statuses = repo.statuses(None).expect("status");
        assert!(statuses.is_empty(), "the tree is clean");
    }

    #[tokio::test]
    async fn edits_outside_the_repository_and_existing_branches_are_refused() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let data = tempfile::tempdir().expect("data");
        let mut s = spec("good\n");
        s.edits.push(Edit {
            path: "../escape".into(),
            content: "x".into(),
        });
        let e = change(&s, dir.path(), data.path(), "run-3")
            .await
            .expect_err("refused");
        assert!(e.reason.contains("outside"), "{}", e.reason);
        assert!(!dir.path().parent().expect("parent").join("escape").exists());
        assert!(
            repo.find_branch("att/run-3", git2::BranchType::Local)
                .is_err()
        );
        let mut s = spec("good\n");
        s.branch = Some("master".into());
        let e = change(&s, dir.path(), data.path(), "run-4")
            .await
            .expect_err("exists");
        assert!(e.reason.contains("exists"), "{}", e.reason);
    }

    /// The repository itself carries the link (committed, so the change's fresh worktree
    /// checks it out): at the name att once used for an edit's temporary file, pointing out.
    #[tokio::test]
    async fn a_link_the_repository_plants_at_a_temporary_name_does_not_redirect_an_edit() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let outside = tempfile::tempdir().expect("outside");
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched\n").expect("victim");
        let planted = format!(".msg.att-write-{}", std::process::id());
        std::os::unix::fs::symlink(&victim, dir.path().join(&planted)).expect("plant");
        let mut index = repo.index().expect("index");
        index.add_path(Path::new(&planted)).expect("add link");
        index.write().expect("index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let head = repo.head().expect("head").peel_to_commit().expect("head");
        let who = git2::Signature::now("t", "t@example.com").expect("sig");
        repo.commit(Some("HEAD"), &who, &who, "plant", &tree, &[&head])
            .expect("commit");
        let data = tempfile::tempdir().expect("data");
        let out = change(&spec("good\n"), dir.path(), data.path(), "run-6")
            .await
            .expect("green");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "untouched\n"
        );
        let c = repo
            .find_commit(git2::Oid::from_str(&out.commit).expect("oid"))
            .expect("commit");
        let msg = c
            .tree()
            .expect("tree")
            .get_path(Path::new("msg"))
            .expect("msg");
        let blob = repo.find_blob(msg.id()).expect("blob");
        assert_eq!(blob.content(), b"good\n");
    }

    #[tokio::test]
    async fn edits_into_any_git_directory_are_refused() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let data = tempfile::tempdir().expect("data");
        for (run, path) in [("run-7", ".git"), ("run-8", "vendor/.git/config")] {
            let mut s = spec("good\n");
            s.edits.push(Edit {
                path: path.into(),
                content: "[core]\n".into(),
            });
            let e = change(&s, dir.path(), data.path(), run)
                .await
                .expect_err("refused");
            assert!(e.reason.contains(".git"), "{}", e.reason);
            assert!(
                repo.find_branch(&format!("att/{run}"), git2::BranchType::Local)
                    .is_err()
            );
        }
    }

    #[tokio::test]
    async fn an_unfinished_change_is_cleaned_up_from_its_worktree_alone() {
        let (dir, repo) = repo_with(&[("msg", "old\n"), ("test.sh", TEST)]);
        let data = tempfile::tempdir().expect("data");
        let (wt, _) = prepare(dir.path(), data.path(), "run-5", "att/run-5").expect("prepare");
        std::fs::write(wt.join("msg"), "half done\n").expect("edit");
        cleanup_orphan(data.path(), "run-5", "att/run-5");
        assert!(!wt.exists());
        assert!(repo.worktrees().expect("worktrees").is_empty());
        assert!(
            repo.find_branch("att/run-5", git2::BranchType::Local)
                .is_err()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("msg")).expect("msg"),
            "old\n"
        );
    }
}
