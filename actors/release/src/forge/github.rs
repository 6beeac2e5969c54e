//! [`GithubForge`]: GitHub through the `gh` command line, with the user's own login; every
//! call is `gh` with arguments (no shell).

use std::process::Stdio;

use super::port::{ChangeRequest, CiState, Forge, Review};
use crate::process::{self, child::Program};

/// GitHub through the `gh` command line (its own login; arguments without a shell).
pub struct GithubForge {
    /// `owner/name`.
    pub repo: String,
    /// The `gh` program.
    pub gh: String,
}

impl GithubForge {
    /// Runs `gh` with `args` in a process group of its own, its output captured. The group
    /// is killed when the future is dropped (a publish past its deadline), so nothing `gh`
    /// started outlives it.
    async fn output(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let child = Program::new(self.gh.clone(), args.iter().copied())
            .command(&process::new_instance())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run `{}`: {e}", self.gh))?;
        let _group = child.id().map(process::GroupGuard::new);
        child
            .wait_with_output()
            .await
            .map_err(|e| format!("cannot run `{}`: {e}", self.gh))
    }

    async fn gh(&self, args: &[&str]) -> Result<String, String> {
        let out = self.output(args).await?;
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
        let out = self
            .output(&[
                "pr",
                "checks",
                id,
                "--repo",
                &self.repo,
                "--json",
                "name,bucket",
            ])
            .await?;
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
