//! git for the workspace tools, through git2 (WORKSPACE.md, "Capabilities"): status, branch
//! (create or switch), commit (explicit paths, or the tracked changes — never stray files),
//! log, diff, and push to local and file remotes; clones and pushes that need the user's own
//! credentials go through the hardened, time-bounded git command line ([`crate::gitcli`]).
//! The git2 functions block: call them from a blocking task; [`clone`] and [`push`] are async.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gitcli;
use crate::paths::{self, PathError};

/// Why a git operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// The project is not a git repository.
    #[error("`{0}` is not a git repository")]
    NotARepo(String),
    /// A path the caller named is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Nothing is staged for the commit.
    #[error("nothing to commit: {0}")]
    NothingToCommit(String),
    /// A name (branch, remote) the caller gave is not valid or not there.
    #[error("{0}")]
    BadName(String),
    /// The operation would lose or clobber work (a switch over local changes, a push that is
    /// not a fast-forward).
    #[error("{0}")]
    Conflict(String),
    /// The remote refused or could not be reached (not the caller's fault, nor att's).
    #[error("{0}")]
    Remote(String),
    /// git itself failed.
    #[error("git: {0}")]
    Git(String),
}

impl GitError {
    /// Whether the caller is to blame (a 4xx), as opposed to the repository or the system.
    pub fn is_callers(&self) -> bool {
        match self {
            Self::Path(p) => p.is_callers(),
            Self::Git(_) | Self::Remote(_) => false,
            _ => true,
        }
    }
}

fn git(e: git2::Error) -> GitError {
    if e.code() == git2::ErrorCode::Locked {
        // Another operation (att's own, or the user's git) holds the index or a ref.
        return GitError::Conflict(format!(
            "the repository is busy (another git operation holds its lock); retry: {}",
            e.message()
        ));
    }
    GitError::Git(e.message().to_owned())
}

fn open(root: &Path) -> Result<git2::Repository, GitError> {
    git2::Repository::open(root).map_err(|_| GitError::NotARepo(root.display().to_string()))
}

/// The longest a `git push` through the command line may take.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a clone did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloneError {
    /// The remote is refused before anything runs (an option, a transport att does not run).
    #[error("{0}")]
    Refused(String),
    /// The clone failed (git's own words); nothing is left at the target.
    #[error("{0}")]
    Failed(String),
    /// The clone ran out of time and was stopped; nothing is left at the target.
    #[error("cloning `{0}` timed out after {1:?}: it was stopped and its directory removed")]
    TimedOut(String, Duration),
}

/// Refuses a remote that is not a plain location: one read as an option, or one naming a
/// remote helper (`<transport>::<address>`: `ext::` runs a command, `fd::` talks over an
/// inherited descriptor).
pub fn check_remote(remote: &str) -> Result<(), String> {
    if remote.starts_with('-') {
        return Err(format!("`{remote}` would be read as an option"));
    }
    // git's own rule: a run of URL scheme characters at the start, then `::`.
    let scheme = remote
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(remote.len());
    if scheme > 0 && remote[scheme..].starts_with("::") {
        return Err(format!(
            "`{remote}` names a git remote helper: att clones and pushes over local paths, \
             file://, git://, http(s):// and ssh only"
        ));
    }
    Ok(())
}

/// Removes a clone target att made, when dropped armed: a clone that failed, timed out, or
/// was abandoned (its caller went away, att stopped) leaves nothing behind.
struct CloneTarget<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for CloneTarget<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(self.path);
        }
    }
}

/// Clones `remote` into `path` (which must not exist yet): git2 for local paths and `file://`,
/// else the hardened git command line (with the user's own credential setup, its arguments
/// after `--`) for at most `timeout`. Whatever way it fails, `path` is removed.
pub async fn clone(remote: &str, path: &Path, timeout: Duration) -> Result<(), CloneError> {
    check_remote(remote).map_err(CloneError::Refused)?;
    if path.exists() {
        return Err(CloneError::Refused(format!(
            "`{}` exists already",
            path.display()
        )));
    }
    let mut target = CloneTarget { path, armed: true };
    if remote.starts_with('/') || remote.starts_with("file://") {
        let (r, p) = (remote.to_owned(), path.to_owned());
        tokio::task::spawn_blocking(move || git2::Repository::clone(&r, &p).map(drop))
            .await
            .map_err(|e| CloneError::Failed(format!("the clone did not finish: {e}")))?
            .map_err(|e| CloneError::Failed(format!("cannot clone `{remote}`: {}", e.message())))?;
        target.armed = false;
        return Ok(());
    }
    let mut cmd = gitcli::command(None);
    cmd.args(["clone", "--quiet", "--"]).arg(remote).arg(path);
    let out = gitcli::run(cmd, "clone", timeout)
        .await
        .map_err(|e| match e {
            gitcli::CliError::TimedOut(..) => CloneError::TimedOut(remote.to_owned(), timeout),
            other => CloneError::Failed(other.to_string()),
        })?;
    if !out.status.success() {
        return Err(CloneError::Failed(format!(
            "git clone `{remote}` failed: {}",
            gitcli::said(&out)
        )));
    }
    target.armed = false;
    Ok(())
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileStatus {
    /// Relative to the project.
    pub path: String,
    /// `new`, `modified`, `deleted`, `renamed`, `typechange` or `conflicted`.
    pub change: String,
    /// Staged (in the index) rather than only in the working tree.
    pub staged: bool,
    /// Not tracked by git.
    pub untracked: bool,
}

/// A repository's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// The current branch (`None`: detached or no commit yet).
    pub branch: Option<String>,
    /// The commit HEAD points at.
    pub head: Option<String>,
    /// Changed and untracked files (ignored ones left out).
    pub files: Vec<FileStatus>,
    /// No change at all.
    pub clean: bool,
}

/// The repository's branch, HEAD and changed files.
pub fn status(root: &Path) -> Result<Status, GitError> {
    let repo = open(root)?;
    let head = repo.head().ok();
    let branch = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_owned))
        .or_else(|| unborn_branch(&repo));
    let head_id = head
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut opts)).map_err(git)?;
    let mut files = Vec::new();
    for entry in statuses.iter() {
        let s = entry.status();
        let Ok(path) = entry.path() else { continue };
        let staged = s.intersects(
            git2::Status::INDEX_NEW
                | git2::Status::INDEX_MODIFIED
                | git2::Status::INDEX_DELETED
                | git2::Status::INDEX_RENAMED
                | git2::Status::INDEX_TYPECHANGE,
        );
        let change = if s.is_conflicted() {
            "conflicted"
        } else if s.intersects(git2::Status::INDEX_NEW | git2::Status::WT_NEW) {
            "new"
        } else if s.intersects(git2::Status::INDEX_DELETED | git2::Status::WT_DELETED) {
            "deleted"
        } else if s.intersects(git2::Status::INDEX_RENAMED | git2::Status::WT_RENAMED) {
            "renamed"
        } else if s.intersects(git2::Status::INDEX_TYPECHANGE | git2::Status::WT_TYPECHANGE) {
            "typechange"
        } else {
            "modified"
        };
        files.push(FileStatus {
            path: path.to_owned(),
            change: change.to_owned(),
            staged,
            untracked: s.contains(git2::Status::WT_NEW) && !staged,
        });
    }
    Ok(Status {
        clean: files.is_empty(),
        branch,
        head: head_id,
        files,
    })
}

/// The branch HEAD names when it has no commit yet.
fn unborn_branch(repo: &git2::Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok().flatten()?;
    target.strip_prefix("refs/heads/").map(str::to_owned)
}

/// Switches to branch `name`, creating it at HEAD first when `create`. Local changes that the
/// switch would overwrite make it refuse (nothing is lost).
pub fn branch(root: &Path, name: &str, create: bool) -> Result<String, GitError> {
    if name.starts_with('-') || !git2::Branch::name_is_valid(name).unwrap_or(false) {
        return Err(GitError::BadName(format!(
            "`{name}` is not a valid branch name"
        )));
    }
    let repo = open(root)?;
    if create {
        let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(|_| {
            GitError::Conflict("the repository has no commit to branch from".into())
        })?;
        repo.branch(name, &head, false).map_err(|e| {
            if e.code() == git2::ErrorCode::Exists {
                GitError::Conflict(format!("branch `{name}` exists already"))
            } else {
                git(e)
            }
        })?;
    }
    let reference = format!("refs/heads/{name}");
    let target = repo
        .find_reference(&reference)
        .map_err(|_| GitError::BadName(format!("no branch `{name}`")))?;
    let tree = target.peel_to_tree().map_err(git)?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.safe();
    repo.checkout_tree(tree.as_object(), Some(&mut checkout))
        .map_err(|e| {
            if e.code() == git2::ErrorCode::Conflict {
                GitError::Conflict(format!(
                    "switching to `{name}` would overwrite local changes: commit them first"
                ))
            } else {
                git(e)
            }
        })?;
    repo.set_head(&reference).map_err(git)?;
    Ok(name.to_owned())
}

/// A commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitInfo {
    /// Its id.
    pub id: String,
    /// Its first line.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// `Name <email>`.
    pub author: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// The files it changed against its first parent (for a commit just made).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

fn info(c: &git2::Commit<'_>) -> CommitInfo {
    let author = c.author();
    CommitInfo {
        id: c.id().to_string(),
        summary: c.summary().ok().flatten().unwrap_or_default().to_owned(),
        message: c.message().unwrap_or_default().to_owned(),
        author: format!(
            "{} <{}>",
            author.name().unwrap_or_default(),
            author.email().unwrap_or_default()
        ),
        time: c.time().seconds(),
        files: Vec::new(),
    }
}

/// Commits: `paths` exactly (new, changed or deleted files — each contained to the project),
/// or with `None` every change to *tracked* files (untracked files are never swept in).
/// The author is the repository's configured identity, else `att <att@localhost>`.
pub fn commit(
    root: &Path,
    message: &str,
    paths: Option<&[String]>,
) -> Result<CommitInfo, GitError> {
    if message.trim().is_empty() {
        return Err(GitError::BadName("the commit message is empty".into()));
    }
    let repo = open(root)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| GitError::NotARepo(format!("{} (bare)", root.display())))?
        .to_owned();
    let real_workdir = std::fs::canonicalize(&workdir).map_err(|e| GitError::Git(e.to_string()))?;
    let mut index = repo.index().map_err(git)?;
    match paths {
        Some(list) => {
            if list.is_empty() {
                return Err(GitError::NothingToCommit("no paths were named".into()));
            }
            for p in list {
                let real = paths::contain_for_write(&workdir, p)?;
                let relative = real
                    .strip_prefix(&real_workdir)
                    .map_err(|_| PathError::Outside(p.clone()))?;
                let kind = std::fs::symlink_metadata(&real).ok().map(|m| m.file_type());
                if kind.is_some_and(|k| k.is_dir()) {
                    return Err(GitError::BadName(format!(
                        "`{p}` is a directory: name the files"
                    )));
                }
                // git would read a FIFO until a writer came: only files and links are content.
                if kind.is_some_and(|k| !k.is_file() && !k.is_symlink()) {
                    return Err(GitError::BadName(format!(
                        "`{p}` is not a regular file (a FIFO, a device or a socket)"
                    )));
                }
                if kind.is_some() {
                    index.add_path(relative).map_err(git)?;
                } else if index.get_path(relative, 0).is_some() {
                    index.remove_path(relative).map_err(git)?;
                } else {
                    return Err(GitError::BadName(format!(
                        "`{p}` neither exists nor is tracked"
                    )));
                }
            }
        }
        None => {
            index.update_all(["*"], None).map_err(git)?;
        }
    }
    index.write().map_err(git)?;
    let tree_id = index.write_tree().map_err(git)?;
    let tree = repo.find_tree(tree_id).map_err(git)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
        return Err(GitError::NothingToCommit(
            "the staged tree equals HEAD's".into(),
        ));
    }
    let who = repo
        .signature()
        .or_else(|_| git2::Signature::now("att", "att@localhost"))
        .map_err(git)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repo
        .commit(Some("HEAD"), &who, &who, message, &tree, &parents)
        .map_err(git)?;
    let made = repo.find_commit(id).map_err(git)?;
    let mut result = info(&made);
    let diff = repo
        .diff_tree_to_tree(
            parent.and_then(|p| p.tree().ok()).as_ref(),
            Some(&tree),
            None,
        )
        .map_err(git)?;
    result.files = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or(d.old_file().path()))
        .map(|p| p.display().to_string())
        .collect();
    Ok(result)
}

/// The newest `limit` commits reachable from HEAD, newest first.
pub fn log(root: &Path, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
    let repo = open(root)?;
    if repo.head().is_err() {
        return Ok(Vec::new());
    }
    let mut walk = repo.revwalk().map_err(git)?;
    walk.push_head().map_err(git)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
        .map_err(git)?;
    let mut out = Vec::new();
    for id in walk.take(limit) {
        let id = id.map_err(git)?;
        out.push(info(&repo.find_commit(id).map_err(git)?));
    }
    Ok(out)
}

/// The largest file whose lines a diff shows (bigger ones are shown as binary).
pub const DIFF_FILE_LIMIT: i64 = 8 * 1024 * 1024;

/// The patch of the working tree (staged and not) against HEAD, untracked files included
/// (files over [`DIFF_FILE_LIMIT`] as binary).
pub fn diff(root: &Path) -> Result<String, GitError> {
    let repo = open(root)?;
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let mut opts = git2::DiffOptions::new();
    // Bigger files show as binary: the patch stays a size a caller can take.
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .max_size(DIFF_FILE_LIMIT);
    let diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut opts))
        .map_err(git)?;
    let mut text = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .map_err(git)?;
    Ok(text)
}

/// Pushes `branch` to `remote`, a configured remote: through git2 when its URL is a local
/// path or `file://`, else through the hardened `git` command line ([`gitcli`]), which uses
/// the user's own credential setup (helpers, SSH agent) and is stopped after
/// [`PUSH_TIMEOUT`]. A push that is not a fast-forward is refused; so is a remote whose URL
/// names a remote helper (`ext::`, `fd::`).
pub async fn push(root: &Path, remote: &str, branch: &str) -> Result<(), GitError> {
    if branch.starts_with('-') || !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Err(GitError::BadName(format!(
            "`{branch}` is not a valid branch name"
        )));
    }
    let (r, rem, b) = (root.to_owned(), remote.to_owned(), branch.to_owned());
    let pushed = tokio::task::spawn_blocking(move || push_local(&r, &rem, &b))
        .await
        .map_err(|e| GitError::Git(format!("the push did not finish: {e}")))??;
    match pushed {
        Pushed::Done => Ok(()),
        Pushed::NeedsCli(url) => {
            check_remote(&url)
                .map_err(|why| GitError::BadName(format!("remote `{remote}` is refused: {why}")))?;
            push_with_cli(root, remote, branch, PUSH_TIMEOUT).await
        }
    }
}

/// What [`push_local`] did.
enum Pushed {
    Done,
    /// The remote is not local: its URL, for the command line.
    NeedsCli(String),
}

/// Pushes through git2 when `remote`'s URL is local; else answers the URL.
fn push_local(root: &Path, remote: &str, branch: &str) -> Result<Pushed, GitError> {
    let repo = open(root)?;
    if repo.find_branch(branch, git2::BranchType::Local).is_err() {
        return Err(GitError::BadName(format!("no branch `{branch}` to push")));
    }
    let mut r = repo
        .find_remote(remote)
        .map_err(|_| GitError::BadName(format!("no remote `{remote}`")))?;
    // A push goes to the push URL when one is set (as rewritten by the config, like git).
    let url = r
        .pushurl()
        .ok()
        .flatten()
        .or(r.url().ok())
        .unwrap_or_default()
        .to_owned();
    if !(url.starts_with('/') || url.starts_with("file://")) {
        return Ok(Pushed::NeedsCli(url));
    }
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let rejected = std::cell::RefCell::new(None::<String>);
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.push_update_reference(|name, status| {
        if let Some(why) = status {
            *rejected.borrow_mut() = Some(format!("{name}: {why}"));
        }
        Ok(())
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(callbacks);
    r.push(&[refspec.as_str()], Some(&mut opts)).map_err(|e| {
        if e.class() == git2::ErrorClass::Reference || e.message().contains("fast-forward") {
            GitError::Conflict(format!("the push was refused: {}", e.message()))
        } else if e.code() == git2::ErrorCode::Locked || e.message().contains("failed to lock") {
            GitError::Conflict(format!(
                "the repository is busy (another git operation holds its lock); retry: {}",
                e.message()
            ))
        } else {
            GitError::Remote(format!("the push to `{remote}` failed: {}", e.message()))
        }
    })?;
    drop(opts);
    match rejected.into_inner() {
        Some(why) => Err(GitError::Conflict(format!("the push was refused: {why}"))),
        None => Ok(Pushed::Done),
    }
}

/// `git push` for remotes that need credentials: no shell, the remote a configured name and
/// the branch validated (neither can be read as an option), hardened and bounded
/// ([`gitcli`]).
async fn push_with_cli(
    root: &Path,
    remote: &str,
    branch: &str,
    timeout: Duration,
) -> Result<(), GitError> {
    if remote.starts_with('-') {
        return Err(GitError::BadName(format!(
            "`{remote}` is not a remote name"
        )));
    }
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let mut cmd = gitcli::command(Some(root));
    cmd.args(["push", "--porcelain", remote, &refspec]);
    let out = gitcli::run(cmd, "push", timeout)
        .await
        .map_err(|e| GitError::Remote(format!("the push did not complete: {e}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return Ok(());
    }
    if text.contains("[rejected]") || text.contains("non-fast-forward") {
        return Err(GitError::Conflict(format!(
            "the push was refused: {}",
            text.trim()
        )));
    }
    Err(GitError::Remote(format!(
        "the push to `{remote}` failed: {}",
        text.trim()
    )))
}

#[cfg(test)]
mod tests;
