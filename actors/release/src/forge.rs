//! The `publish` phase (BOOTSTRAP.md): the change's branch pushed, a change request opened on
//! the forge, its CI waited for with back-off (10 s doubling to 60 s, within a 600 s budget),
//! and merged when green; the repository's base branch then follows the merge.
//!
//! Forges are adapters behind [`Forge`]:
//! - [`LocalForge`]: a bare repository (the remote) and change requests kept beside its refs
//!   in `att-forge/<n>.json`; its CI checks out the change's head in a clean clone and runs
//!   the CI command there. For tests, and for people without a hosted forge.
//! - [`GithubForge`]: GitHub through the `gh` command line (the user's own login).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::git;
use crate::workspace::testrun::{self, TestCommand};

/// Which forge a publish uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ForgeKind {
    /// The remote is a bare repository on this machine: the local forge.
    #[default]
    Local,
    /// GitHub, through the `gh` command line.
    Github {
        /// `owner/name`.
        repo: String,
        /// The `gh` program (default `gh` on `PATH`).
        #[serde(default)]
        gh: Option<String>,
    },
}

/// What the `publish` phase is asked to do (`publish` in a run request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// The remote to push to (default `origin`).
    #[serde(default = "origin")]
    pub remote: String,
    /// The forge (default `local`).
    #[serde(default)]
    pub forge: ForgeKind,
    /// The local forge's CI command, run in a clean checkout of the change (default: the
    /// change's test command, else the one detected from the checkout's files).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub ci: Option<TestCommand>,
    /// The first wait before CI is asked (default 10 s); it doubles after each answer of
    /// "pending"…
    #[serde(default = "ten_seconds", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ci_poll_initial: Duration,
    /// …up to this (default 60 s)…
    #[serde(default = "sixty_seconds", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ci_poll_max: Duration,
    /// …within this budget (default 600 s): then the run fails with `ci_timeout`.
    #[serde(default = "ten_minutes", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ci_budget: Duration,
}

fn origin() -> String {
    "origin".into()
}
fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn sixty_seconds() -> Duration {
    Duration::from_secs(60)
}
fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

/// An opened change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequest {
    /// The forge's id for it.
    pub id: String,
    /// Where people see it.
    pub url: String,
}

/// What CI says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiState {
    /// Not done yet.
    Pending,
    /// Green.
    Success,
    /// Red, and why.
    Failure(String),
}

/// A review of a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who.
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, …
    pub state: String,
    /// What they wrote.
    pub body: String,
}

/// A forge: change requests, their CI, merges.
#[async_trait::async_trait]
pub trait Forge: Send + Sync {
    /// The reviews of a change request (the local forge has no reviewers: none).
    async fn reviews(&self, id: &str) -> Result<Vec<Review>, String>;
    /// Opens a change request merging `head` into `base`.
    async fn open(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<ChangeRequest, String>;
    /// Its CI state now.
    async fn ci(&self, id: &str) -> Result<CiState, String>;
    /// Merges it; answers the base branch's new head commit.
    async fn merge(&self, id: &str) -> Result<String, String>;
}

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
fn local_path(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    path.starts_with('/').then(|| PathBuf::from(path))
}

fn remote_url(repo: &Path, remote: &str) -> Result<String, String> {
    let r = git2::Repository::open(repo).map_err(|e| e.message().to_owned())?;
    let found = r
        .find_remote(remote)
        .map_err(|_| format!("the repository has no remote `{remote}`"))?;
    Ok(found.url().unwrap_or_default().to_owned())
}

/// The `publish` phase: push `branch`, open a change request into `base`, wait for CI, merge,
/// and bring the merge back into `repo` (`<remote>/<base>` updated; the local `base` branch
/// fast-forwarded when that is safe). Answers what happened (a red CI is an outcome with a
/// `failure`, not an error).
pub async fn publish(
    spec: &PublishSpec,
    repo: &Path,
    branch: &str,
    base: &str,
    title: &str,
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
fn follow(repo: &Path, remote: &str, base: &str, merged: &str) -> Result<(), String> {
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

/// A change request of the local forge, as kept in `<bare>/att-forge/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LocalChange {
    id: u64,
    head: String,
    base: String,
    head_commit: String,
    title: String,
    /// `open` or `merged`.
    state: String,
    /// `pending`, `success` or `failure`.
    ci: String,
    ci_output: Option<String>,
    merge_commit: Option<String>,
}

/// Change requests in a bare repository (see the module's documentation).
pub struct LocalForge {
    /// The bare repository.
    pub bare: PathBuf,
    /// The CI command (default: detected from the checkout).
    pub ci: Option<TestCommand>,
    /// How long one CI run may take.
    pub ci_timeout: Duration,
}

impl LocalForge {
    fn dir(&self) -> PathBuf {
        self.bare.join("att-forge")
    }

    fn file(&self, id: u64) -> PathBuf {
        self.dir().join(format!("{id}.json"))
    }

    fn load(&self, id: &str) -> Result<LocalChange, String> {
        let n: u64 = id
            .parse()
            .map_err(|_| format!("no change request `{id}`"))?;
        let text = std::fs::read_to_string(self.file(n))
            .map_err(|e| format!("change request {id}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("change request {id}: {e}"))
    }

    fn save(&self, c: &LocalChange) -> Result<(), String> {
        let text = serde_json::to_string_pretty(c).map_err(|e| e.to_string())?;
        let tmp = self.dir().join(format!(".{}.json.tmp", c.id));
        std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, self.file(c.id)).map_err(|e| e.to_string())
    }

    /// Runs CI for change `c`: a clean clone of the bare repository at the head commit, the
    /// CI command there; the verdict is written back.
    async fn run_ci(&self, mut c: LocalChange) {
        let checkout = self.dir().join(format!("ci-{}", c.id));
        let (bare, dir, commit) = (self.bare.clone(), checkout.clone(), c.head_commit.clone());
        let prepared = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let m = |e: git2::Error| e.message().to_owned();
            let _ = std::fs::remove_dir_all(&dir);
            let r = git2::Repository::clone(&bare.display().to_string(), &dir).map_err(m)?;
            let oid = git2::Oid::from_str(&commit).map_err(m)?;
            r.set_head_detached(oid).map_err(m)?;
            r.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
                .map_err(m)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let verdict = match prepared {
            Err(e) => Err(format!("the CI checkout failed: {e}")),
            Ok(()) => match self
                .ci
                .clone()
                .or_else(|| testrun::detect(&checkout))
                .map(|c| c.with_cargo_target(&self.dir().join("cargo-target")))
            {
                None => Err("no CI command: the checkout has no test command to run".into()),
                Some(cmd) => match testrun::run(&checkout, &cmd, None, self.ci_timeout).await {
                    Err(e) => Err(e.to_string()),
                    Ok(o) => {
                        let tail: Vec<&str> = o.output.lines().rev().take(20).collect();
                        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                        if o.returncode == 0 && !o.timed_out && o.counts.failed == 0 {
                            Ok(tail)
                        } else {
                            Err(format!(
                                "{} passed, {} failed (exit {}): {tail}",
                                o.counts.passed, o.counts.failed, o.returncode
                            ))
                        }
                    }
                },
            },
        };
        let _ = std::fs::remove_dir_all(&checkout);
        match verdict {
            Ok(out) => {
                c.ci = "success".into();
                c.ci_output = Some(out);
            }
            Err(why) => {
                c.ci = "failure".into();
                c.ci_output = Some(why);
            }
        }
        if let Err(e) = self.save(&c) {
            tracing::warn!(error = %e, "the local forge could not record a CI verdict");
        }
    }
}

#[async_trait::async_trait]
impl Forge for LocalForge {
    async fn reviews(&self, id: &str) -> Result<Vec<Review>, String> {
        self.load(id).map(|_| Vec::new())
    }

    async fn open(
        &self,
        head: &str,
        base: &str,
        title: &str,
        _body: &str,
    ) -> Result<ChangeRequest, String> {
        let m = |e: git2::Error| e.message().to_owned();
        let bare = git2::Repository::open_bare(&self.bare).map_err(|e| {
            format!(
                "`{}` is not a bare repository: {}",
                self.bare.display(),
                m(e)
            )
        })?;
        let head_commit = bare
            .refname_to_id(&format!("refs/heads/{head}"))
            .map_err(|_| format!("the forge has no branch `{head}`"))?;
        bare.refname_to_id(&format!("refs/heads/{base}"))
            .map_err(|_| format!("the forge has no base branch `{base}`"))?;
        std::fs::create_dir_all(self.dir()).map_err(|e| e.to_string())?;
        let id = std::fs::read_dir(self.dir())
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .max()
            .unwrap_or(0)
            + 1;
        let c = LocalChange {
            id,
            head: head.to_owned(),
            base: base.to_owned(),
            head_commit: head_commit.to_string(),
            title: title.to_owned(),
            state: "open".into(),
            ci: "pending".into(),
            ci_output: None,
            merge_commit: None,
        };
        self.save(&c)?;
        let forge = LocalForge {
            bare: self.bare.clone(),
            ci: self.ci.clone(),
            ci_timeout: self.ci_timeout,
        };
        tokio::spawn(async move { forge.run_ci(c).await });
        Ok(ChangeRequest {
            id: id.to_string(),
            url: format!("file://{}#change-{id}", self.bare.display()),
        })
    }

    async fn ci(&self, id: &str) -> Result<CiState, String> {
        let c = self.load(id)?;
        Ok(match c.ci.as_str() {
            "success" => CiState::Success,
            "failure" => CiState::Failure(c.ci_output.unwrap_or_default()),
            _ => CiState::Pending,
        })
    }

    async fn merge(&self, id: &str) -> Result<String, String> {
        let mut c = self.load(id)?;
        if c.state == "merged" {
            return c
                .merge_commit
                .ok_or_else(|| "merged without a commit".into());
        }
        let bare = self.bare.clone();
        let (head, base, title) = (c.head_commit.clone(), c.base.clone(), c.title.clone());
        let merged =
            tokio::task::spawn_blocking(move || merge_in_bare(&bare, &head, &base, &title))
                .await
                .map_err(|e| e.to_string())??;
        c.state = "merged".into();
        c.merge_commit = Some(merged.clone());
        self.save(&c)?;
        Ok(merged)
    }
}

/// Merges `head` into branch `base` of a bare repository: a fast-forward when possible, else
/// a merge commit (refused on conflicts).
fn merge_in_bare(bare: &Path, head: &str, base: &str, title: &str) -> Result<String, String> {
    let m = |e: git2::Error| e.message().to_owned();
    let r = git2::Repository::open_bare(bare).map_err(m)?;
    let base_ref = format!("refs/heads/{base}");
    let base_id = r.refname_to_id(&base_ref).map_err(m)?;
    let head_id = git2::Oid::from_str(head).map_err(m)?;
    let result = if base_id == head_id || r.graph_descendant_of(head_id, base_id).map_err(m)? {
        head_id
    } else {
        let (ours, theirs) = (
            r.find_commit(base_id).map_err(m)?,
            r.find_commit(head_id).map_err(m)?,
        );
        let mut index = r.merge_commits(&ours, &theirs, None).map_err(m)?;
        if index.has_conflicts() {
            return Err(format!("the change conflicts with `{base}`: rebase it"));
        }
        let tree = r
            .find_tree(index.write_tree_to(&r).map_err(m)?)
            .map_err(m)?;
        let who = git2::Signature::now("att", "att@localhost").map_err(m)?;
        r.commit(
            None,
            &who,
            &who,
            &format!("Merge: {title}"),
            &tree,
            &[&ours, &theirs],
        )
        .map_err(m)?
    };
    r.reference(&base_ref, result, true, "att local forge: merge")
        .map_err(m)?;
    Ok(result.to_string())
}

// ---- GitHub, through `gh` ----

/// GitHub through the `gh` command line (its own login; arguments without a shell).
pub struct GithubForge {
    /// `owner/name`.
    pub repo: String,
    /// The `gh` program.
    pub gh: String,
}

impl GithubForge {
    async fn gh(&self, args: &[&str]) -> Result<String, String> {
        let out = tokio::process::Command::new(&self.gh)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot run `{}`: {e}", self.gh))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "`{} {}` failed: {}",
                self.gh,
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

#[async_trait::async_trait]
impl Forge for GithubForge {
    async fn reviews(&self, id: &str) -> Result<Vec<Review>, String> {
        let v = self
            .gh(&["pr", "view", id, "--repo", &self.repo, "--json", "reviews"])
            .await?;
        let v: serde_json::Value =
            serde_json::from_str(&v).map_err(|e| format!("unreadable `gh pr view`: {e}"))?;
        Ok(v["reviews"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Review {
                author: r["author"]["login"].as_str().unwrap_or_default().to_owned(),
                state: r["state"].as_str().unwrap_or_default().to_owned(),
                body: r["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    async fn open(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<ChangeRequest, String> {
        let url = self
            .gh(&[
                "pr", "create", "--repo", &self.repo, "--head", head, "--base", base, "--title",
                title, "--body", body,
            ])
            .await?;
        let url = url.lines().last().unwrap_or_default().to_owned();
        Ok(ChangeRequest {
            id: url.clone(),
            url,
        })
    }

    async fn ci(&self, id: &str) -> Result<CiState, String> {
        // `gh pr checks` exits non-zero while checks fail or are pending: read its JSON.
        let out = tokio::process::Command::new(&self.gh)
            .args([
                "pr",
                "checks",
                id,
                "--repo",
                &self.repo,
                "--json",
                "name,bucket",
            ])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot run `{}`: {e}", self.gh))?;
        let checks: Vec<serde_json::Value> = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            // "no checks reported" (yet): pending.
            Err(_) if !out.status.success() => return Ok(CiState::Pending),
            Err(e) => return Err(format!("unreadable `gh pr checks` output: {e}")),
        };
        let bucket = |b: &'static str| checks.iter().filter(move |c| c["bucket"] == b);
        let failed: Vec<String> = bucket("fail")
            .chain(bucket("cancel"))
            .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
            .collect();
        Ok(if !failed.is_empty() {
            CiState::Failure(format!("failed checks: {}", failed.join(", ")))
        } else if checks.is_empty() || bucket("pending").next().is_some() {
            CiState::Pending
        } else {
            CiState::Success
        })
    }

    async fn merge(&self, id: &str) -> Result<String, String> {
        self.gh(&["pr", "merge", id, "--repo", &self.repo, "--merge"])
            .await?;
        let v = self
            .gh(&[
                "pr",
                "view",
                id,
                "--repo",
                &self.repo,
                "--json",
                "mergeCommit",
            ])
            .await?;
        let v: serde_json::Value =
            serde_json::from_str(&v).map_err(|e| format!("unreadable `gh pr view`: {e}"))?;
        v["mergeCommit"]["oid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "GitHub reports no merge commit".into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// CI that answers `pending` a number of times, then a verdict; records when it was asked.
    struct Scripted {
        pending: Mutex<u32>,
        verdict: CiState,
        asked: Mutex<Vec<Duration>>,
        start: tokio::time::Instant,
    }

    #[async_trait::async_trait]
    impl Forge for Scripted {
        async fn reviews(&self, _: &str) -> Result<Vec<Review>, String> {
            unreachable!()
        }
        async fn open(&self, _: &str, _: &str, _: &str, _: &str) -> Result<ChangeRequest, String> {
            unreachable!()
        }
        async fn ci(&self, _: &str) -> Result<CiState, String> {
            self.asked.lock().expect("lock").push(self.start.elapsed());
            let mut p = self.pending.lock().expect("lock");
            if *p == 0 {
                return Ok(self.verdict.clone());
            }
            *p -= 1;
            Ok(CiState::Pending)
        }
        async fn merge(&self, _: &str) -> Result<String, String> {
            unreachable!()
        }
    }

    impl Scripted {
        /// When CI was asked, in whole seconds since the start.
        fn asked_secs(&self) -> Vec<u64> {
            self.asked
                .lock()
                .expect("lock")
                .iter()
                .map(|d| d.as_secs())
                .collect()
        }
    }

    fn scripted(pending: u32, verdict: CiState) -> Scripted {
        Scripted {
            pending: Mutex::new(pending),
            verdict,
            asked: Mutex::new(Vec::new()),
            start: tokio::time::Instant::now(),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[tokio::test(start_paused = true)]
    async fn ci_is_polled_at_once_then_after_10_s_doubling_to_60_s() {
        let f = scripted(5, CiState::Success);
        let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
            .await
            .expect("wait");
        assert_eq!((w.status, w.polls), ("success", 6));
        let asked = f.asked_secs();
        assert_eq!(asked, vec![0, 10, 30, 70, 130, 190]);
    }

    /// The original's scenarios: pending, pending, success with 1 s doubling to 4 s sleeps
    /// 1 s then 2 s; a zero budget asks once and never sleeps.
    #[tokio::test(start_paused = true)]
    async fn the_reference_schedules_hold() {
        let f = scripted(2, CiState::Success);
        let w = wait_for_ci(&f, "1", S(1), S(4), S(600))
            .await
            .expect("wait");
        assert_eq!(w.status, "success");
        let asked = f.asked_secs();
        assert_eq!(asked, vec![0, 1, 3]);
        let f = scripted(u32::MAX, CiState::Success);
        let w = wait_for_ci(&f, "1", S(1), S(4), S(0)).await.expect("wait");
        assert_eq!((w.status, w.polls), ("timeout", 1));
        assert_eq!(f.start.elapsed(), Duration::ZERO, "no sleep");
    }

    #[tokio::test(start_paused = true)]
    async fn ci_that_never_finishes_times_out_at_the_budget() {
        let f = scripted(u32::MAX, CiState::Success);
        let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
            .await
            .expect("wait");
        assert_eq!(w.status, "timeout");
        assert!(
            w.reason
                .as_deref()
                .unwrap_or_default()
                .starts_with("ci_timeout")
        );
        let asked = f.asked.lock().expect("lock").clone();
        assert_eq!(asked.last().map(|d| d.as_secs()), Some(600), "{asked:?}");
        assert_eq!(asked.len(), 13); // 0 10 30 70 130 190 … 550 600
    }

    #[tokio::test(start_paused = true)]
    async fn red_ci_is_a_failure_with_its_reason() {
        let f = scripted(1, CiState::Failure("2 failed".into()));
        let w = wait_for_ci(&f, "1", S(10), S(60), S(600))
            .await
            .expect("wait");
        assert_eq!(
            (w.status, w.reason.as_deref()),
            ("failure", Some("2 failed"))
        );
    }

    /// A `gh` stand-in (GitHub cannot be reached from here): a script answering the three
    /// commands the adapter runs.
    #[tokio::test]
    async fn the_github_adapter_reads_gh_output() {
        let dir = tempfile::tempdir().expect("dir");
        let gh = dir.path().join("gh");
        std::fs::write(
            &gh,
            "#!/bin/sh\ncase \"$1 $2\" in\n\
             'pr create') echo 'https://github.com/o/r/pull/7' ;;\n\
             'pr checks') echo '[{\"name\":\"test\",\"bucket\":\"pass\"},{\"name\":\"lint\",\"bucket\":\"fail\"}]'; exit 1 ;;\n\
             'pr merge') ;;\n\
             'pr view') echo '{\"mergeCommit\":{\"oid\":\"abc123\"},\"reviews\":[{\"author\":{\"login\":\"ana\"},\"state\":\"APPROVED\",\"body\":\"ok\"}]}' ;;\n\
             esac\n",
        )
        .expect("script");
        std::process::Command::new("chmod")
            .args(["+x"])
            .arg(&gh)
            .status()
            .expect("chmod");
        let f = GithubForge {
            repo: "o/r".into(),
            gh: gh.display().to_string(),
        };
        let cr = f.open("b", "main", "t", "x").await.expect("open");
        assert_eq!(cr.url, "https://github.com/o/r/pull/7");
        assert_eq!(
            f.ci(&cr.id).await.expect("ci"),
            CiState::Failure("failed checks: lint".into())
        );
        assert_eq!(f.merge(&cr.id).await.expect("merge"), "abc123");
        let reviews = f.reviews(&cr.id).await.expect("reviews");
        assert_eq!(
            reviews,
            vec![Review {
                author: "ana".into(),
                state: "APPROVED".into(),
                body: "ok".into()
            }]
        );
    }
}
