//! [`LocalForge`]: a bare repository as the remote, change requests kept beside its refs in
//! `att-forge/<n>.json`, CI run in a clean clone of the change's head. For tests, and for
//! people without a hosted forge.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::port::{ChangeRequest, CiState, Forge, Review};
use crate::workspace::testrun::{self, TestCommand};

/// A change request of the local forge, as kept in `<bare>/att-forge/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LocalChange {
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
pub(super) fn merge_in_bare(
    bare: &Path,
    head: &str,
    base: &str,
    title: &str,
) -> Result<String, String> {
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
