//! The forge port: what a publish asks for ([`PublishSpec`], [`ForgeKind`]), what a forge
//! answers ([`ChangeRequest`], [`CiState`], [`Review`]), and the [`Forge`] trait every
//! adapter implements.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::testrun::TestCommand;

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
    /// Open a change request after the push (default true). Off: the pushed commit is
    /// deployed as it is — no change request, no CI wait, no merge (the reference's
    /// `create_pr=false`, scenario 8).
    #[serde(default = "yes")]
    pub create_pr: bool,
    /// Merge the change request when CI is green (default true). Off: the change request
    /// stays open and the change's commit is deployed (`auto_merge_on_ci_success=false`,
    /// scenario 9).
    #[serde(default = "yes")]
    pub merge: bool,
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn origin() -> String {
    "origin".into()
}
pub(super) fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
pub(super) fn sixty_seconds() -> Duration {
    Duration::from_secs(60)
}
pub(super) fn ten_minutes() -> Duration {
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
