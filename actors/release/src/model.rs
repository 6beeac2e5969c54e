//! The release pipeline's records: releases (the registry), run requests, runs and their
//! phases, and the store port that keeps them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::duration::{self, Bounds, OutOfRange};
use crate::policy::{Decision, DeploymentContext, FailureClass, RollbackSwitches};
use crate::process::child::Program;
use crate::store::StoreError;

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    /// Registered (built), never deployed.
    Built,
    /// What the target runs now.
    Live,
    /// Was live, replaced by a later release.
    Retired,
    /// Deployed and failed its gate.
    Failed,
    /// Deployed, failed, and replaced by a rollback.
    RolledBack,
}

/// An immutable, runnable version of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    /// `service:<name>`.
    pub target: String,
    /// A commit id or a name given by the caller.
    pub id: String,
    /// The program the release runs (no shell).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Where its artifact is kept (under the data directory), if it has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub artifact: Option<PathBuf>,
    /// Where it stands.
    pub status: ReleaseStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Release {
    /// The release as att shows it: environment values replaced by
    /// [`crate::secret::REDACTED`], the names kept.
    pub fn redacted(mut self) -> Self {
        self.env = crate::secret::hide_values(&self.env);
        self
    }

    /// What runs the release: its command, arguments and environment, in the service's
    /// working directory (the deploy keeps the spec's).
    pub fn program(&self) -> Program {
        Program::new(self.command.clone(), self.args.iter().cloned()).with_env(self.env.clone())
    }
}

/// A request for a run (`POST /api/v1/bootstrap/runs`), with BOOTSTRAP.md's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// `service:<name>`.
    pub target: String,
    /// The release to deploy: a registered release, or (for a target with a build) a
    /// commit, branch or tag of its repository, built first; empty: the repository's `HEAD`.
    #[serde(default)]
    pub requested_release_id: String,
    /// The release that was live before (second choice for the rollback target).
    #[serde(default)]
    pub previous_release_id: Option<String>,
    /// The release to roll back to (first choice).
    #[serde(default)]
    pub rollback_release_id: Option<String>,
    /// Per-class rollback switches.
    #[serde(flatten)]
    pub switches: RollbackSwitches,
    /// `self_hosted` (default) or `external`.
    #[serde(default)]
    pub deployment_context: DeploymentContext,
    /// Watchdog probes (default 3).
    #[serde(default = "three")]
    pub restart_watchdog_retries: u32,
    /// Between watchdog probes (default 5 s).
    #[serde(default = "five_seconds", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub restart_watchdog_interval: Duration,
    /// Consecutive health passes needed (default 1).
    #[serde(default = "one")]
    pub health_check_passes: u32,
    /// Between health probes (default 1 s).
    #[serde(default = "one_second", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub health_check_interval: Duration,
    /// The health gate's progress deadline (default 120 s).
    #[serde(default = "two_minutes", with = "crate::duration::serde_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub health_deadline: Duration,
    /// How long the release is guarded after its health gate (the `guard` phase; 0: no
    /// guard). Default: the service's `guard_period` (3 min unless it says otherwise).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::bootstrap::guard::serde_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub guard_period: Option<Duration>,
    /// Exits of the release tolerated during the guard. Default: the service's (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_max_restarts: Option<u32>,
    /// Failed probes in a row that fail the guard. Default: the service's (3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_failure_threshold: Option<u32>,
    /// Build the release and register it, deploy nothing (the run ends after `build`;
    /// `deployed_release_id` names the release built).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_only: bool,
    /// A change to make first (the `change` phase): branch, edits, tests, commit; the run
    /// then deploys that commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::change::ChangeSpec>,
    /// Publish the change (the `publish` phase): push, change request, CI, merge; the run
    /// then deploys the merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<crate::forge::PublishSpec>,
    /// Who asked for the run: the principal of the request that started it, set by att
    /// (a value a caller sends is replaced). Named in the run's `bootstrap.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// The most watchdog probes or health passes a run may ask for.
pub const MAX_PROBES: u32 = 1000;

impl RunRequest {
    /// Its durations (and those of its change and publish) with their ranges, by field.
    fn durations(&mut self) -> Vec<(&'static str, Bounds, &mut Duration)> {
        let mut all = vec![
            (
                "restart_watchdog_interval",
                duration::POLL,
                &mut self.restart_watchdog_interval,
            ),
            (
                "health_check_interval",
                duration::POLL,
                &mut self.health_check_interval,
            ),
            ("health_deadline", duration::JOB, &mut self.health_deadline),
        ];
        if let Some(change) = &mut self.change {
            all.push((
                "change.test_timeout",
                duration::JOB,
                &mut change.test_timeout,
            ));
        }
        if let Some(publish) = &mut self.publish {
            all.push((
                "publish.ci_poll_initial",
                duration::POLL,
                &mut publish.ci_poll_initial,
            ));
            all.push((
                "publish.ci_poll_max",
                duration::POLL,
                &mut publish.ci_poll_max,
            ));
            all.push(("publish.ci_budget", duration::JOB, &mut publish.ci_budget));
        }
        all
    }

    /// Whether its durations and probe counts are within their ranges; the first that is
    /// not, named (a request is refused with it).
    pub fn check(&self) -> Result<(), OutOfRange> {
        let mut copy = self.clone();
        for (field, bounds, value) in copy.durations() {
            bounds.check(field, *value)?;
        }
        if let Some(period) = self.guard_period {
            crate::bootstrap::guard::GUARD_PERIOD.check("guard_period", period)?;
        }
        for (field, n, min) in [
            ("restart_watchdog_retries", self.restart_watchdog_retries, 0),
            ("health_check_passes", self.health_check_passes, 0),
            (
                "guard_max_restarts",
                self.guard_max_restarts.unwrap_or(0),
                0,
            ),
            (
                "guard_failure_threshold",
                self.guard_failure_threshold.unwrap_or(1),
                1,
            ),
        ] {
            if n > MAX_PROBES || n < min {
                return Err(OutOfRange {
                    field: field.into(),
                    message: format!("{n} is out of range: allowed from {min} to {MAX_PROBES}"),
                });
            }
        }
        Ok(())
    }

    /// The request with every duration and probe count moved into its range (a stored run
    /// from before the ranges, concluded after a restart).
    pub fn clamped(mut self) -> Self {
        for (field, bounds, value) in self.durations() {
            let (fixed, note) = bounds.clamp(field, *value);
            if let Some(note) = note {
                tracing::error!(%note, "a stored run request is out of range; clamped");
            }
            *value = fixed;
        }
        self.restart_watchdog_retries = self.restart_watchdog_retries.min(MAX_PROBES);
        self.health_check_passes = self.health_check_passes.min(MAX_PROBES);
        if let Some(p) = &mut self.guard_period {
            *p = crate::bootstrap::guard::GUARD_PERIOD
                .clamp("guard_period", *p)
                .0;
        }
        self.guard_max_restarts = self.guard_max_restarts.map(|n| n.min(MAX_PROBES));
        self.guard_failure_threshold = self.guard_failure_threshold.map(|n| n.clamp(1, MAX_PROBES));
        self
    }

    /// How long the restart watchdog may take: every probe's interval.
    pub fn watchdog_span(&self) -> Duration {
        self.restart_watchdog_interval
            .saturating_mul(self.restart_watchdog_retries.max(1))
    }
}

fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn five_seconds() -> Duration {
    Duration::from_secs(5)
}
fn two_minutes() -> Duration {
    Duration::from_secs(120)
}

/// The pipeline's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Decide the deployed and rollback-target release ids.
    Resolve,
    /// Branch, apply the requested edits, run the tests, commit (skipped unless the request
    /// has a `change`).
    Change,
    /// Push, open a change request, wait for CI, merge (skipped unless the request has a
    /// `publish`).
    Publish,
    /// Build the deployed release's artifact from its commit (skipped when it is kept).
    Build,
    /// Stop the live release, start the new one.
    Deploy,
    /// The new process must stay up.
    RestartWatchdog,
    /// The health probe must pass.
    Health,
    /// The post-deploy guard: the live release is watched for `guard_period`.
    Guard,
    /// Go back to the rollback target, verified like a deploy.
    Rollback,
}

/// Where a phase (or a run) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Not reached.
    Pending,
    /// Under way.
    Running,
    /// Done.
    Succeeded,
    /// Failed (see its message).
    Failed,
    /// Not needed by this run.
    Skipped,
}

/// One phase of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhaseRecord {
    /// Which phase.
    pub phase: Phase,
    /// Where it stands.
    pub status: PhaseStatus,
    /// What happened.
    pub message: Option<String>,
    /// When it started.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ended_at: Option<OffsetDateTime>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Asked of an att that does not run the target's service, and stored for the node that
    /// does (its target lock names it), which starts it within a second; a request that
    /// node never starts is concluded `interrupted` ([`crate::bootstrap::step::requested`]).
    Requested,
    /// Under way.
    Running,
    /// The new release is live and watched by the post-deploy guard; the run (and the
    /// target) stays open until the guard ends or the run is promoted.
    Guarding,
    /// The new release is live and healthy.
    Succeeded,
    /// It did not hold (see the result: rolled back or not).
    Failed,
    /// att stopped during the run and could not conclude it.
    Interrupted,
    /// Cancelled on request (rolled back first when something had been deployed).
    Cancelled,
}

impl RunStatus {
    /// Whether the run is still open: `requested`, `running` or `guarding`.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Requested | Self::Running | Self::Guarding)
    }
}

/// A run's result (BOOTSTRAP.md, "The result").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunResult {
    /// Whether the new release is live and healthy.
    pub success: bool,
    /// The release deployed.
    pub deployed_release_id: Option<String>,
    /// The release a rollback would go to.
    pub rollback_target_release_id: Option<String>,
    /// `request`, `registry`, `runtime_logs` or `git`.
    pub release_metadata_source: Option<String>,
    /// `not_run`, `stable`, `unstable`.
    pub restart_watchdog_status: String,
    /// Why.
    pub restart_watchdog_reason: Option<String>,
    /// `not_run`, `healthy`, `unhealthy`.
    pub health_status: String,
    /// `not_run`, `guarding`, `held`, `promoted`, `failed`.
    #[serde(default)]
    pub guard_status: crate::bootstrap::guard::GuardStatus,
    /// Why the guard failed (or how it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_reason: Option<String>,
    /// When the guard ends (kept, so a guard resumed after a restart of att keeps its end).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub guard_until: Option<OffsetDateTime>,
    /// Whether a rollback was done.
    pub rollback_performed: bool,
    /// Whether it held.
    pub rollback_succeeded: Option<bool>,
    /// `not_evaluated`, `allowed`, `denied`.
    pub rollback_policy_status: String,
    /// The policy's reason.
    pub rollback_policy_reason: Option<String>,
    /// Whether the rollback target was valid.
    pub rollback_target_valid: Option<bool>,
    /// The failure that triggered the policy.
    pub rollback_failure_class: Option<FailureClass>,
    /// The request's context.
    pub rollback_deployment_context: DeploymentContext,
    /// The change's branch (when the change phases ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
    /// The change was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<bool>,
    /// The change's commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_commit: Option<String>,
    /// The change's test counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub tests: Option<crate::workspace::parse::Counts>,
    /// The branch reached the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<bool>,
    /// The change request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// `success`, `failure` or `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_status: Option<String>,
    /// The change request was merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<bool>,
    /// The change request reverting the shipped change, opened on the same forge when the
    /// run was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_pr_url: Option<String>,
    /// The revert's CI: `success`, `failure` or `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_ci_status: Option<String>,
    /// What did not happen of the revert, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_failure: Option<String>,
}

impl RunResult {
    /// A result before anything ran.
    pub fn new(context: DeploymentContext) -> Self {
        Self {
            restart_watchdog_status: "not_run".into(),
            health_status: "not_run".into(),
            rollback_policy_status: "not_evaluated".into(),
            rollback_deployment_context: context,
            ..Self::default()
        }
    }

    /// Records the policy's decision for `class`.
    pub fn policy(&mut self, class: FailureClass, d: &Decision) {
        self.rollback_policy_status = if d.allowed { "allowed" } else { "denied" }.into();
        self.rollback_policy_reason = Some(d.reason.clone());
        self.rollback_target_valid = d.target_valid;
        self.rollback_failure_class = Some(class);
    }
}

/// One pass of the pipeline for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRecord {
    /// The run id (also the correlation id of its events).
    pub id: String,
    /// The target.
    pub target: String,
    /// Where it stands.
    pub status: RunStatus,
    /// What was asked.
    pub request: RunRequest,
    /// Its phases, in order.
    pub phases: Vec<PhaseRecord>,
    /// The result so far.
    pub result: RunResult,
    /// What the `change` phase made (its repository, branch, base and commit): kept with
    /// the run so that a rollback concluded by a restarted att can still open the revert of
    /// what the run shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<crate::change::ChangeOutcome>,
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RunRecord {
    /// A new run of `request`, every phase pending.
    /// A run with a change makes it first (`change`, `publish`), then resolves the commit
    /// they produced: the phases are listed in the order they run.
    pub fn new(id: String, request: RunRequest, now: OffsetDateTime) -> Self {
        let first = if request.change.is_some() {
            [Phase::Change, Phase::Publish, Phase::Resolve]
        } else {
            [Phase::Resolve, Phase::Change, Phase::Publish]
        };
        let phases = first
            .into_iter()
            .chain([
                Phase::Build,
                Phase::Deploy,
                Phase::RestartWatchdog,
                Phase::Health,
                Phase::Guard,
                Phase::Rollback,
            ])
            .map(|phase| PhaseRecord {
                phase,
                status: PhaseStatus::Pending,
                message: None,
                started_at: None,
                ended_at: None,
            })
            .collect();
        Self {
            id,
            target: request.target.clone(),
            status: RunStatus::Running,
            result: RunResult::new(request.deployment_context),
            request,
            phases,
            change: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The record of `phase` (added, pending, to a record stored before it existed: a
    /// run of an older att has no `guard`).
    pub fn phase_mut(&mut self, phase: Phase) -> &mut PhaseRecord {
        let i = match self.phases.iter().position(|p| p.phase == phase) {
            Some(i) => i,
            None => {
                let before = self
                    .phases
                    .iter()
                    .position(|p| p.phase == Phase::Rollback)
                    .unwrap_or(self.phases.len());
                self.phases.insert(
                    before,
                    PhaseRecord {
                        phase,
                        status: PhaseStatus::Pending,
                        message: None,
                        started_at: None,
                        ended_at: None,
                    },
                );
                before
            }
        };
        &mut self.phases[i]
    }
}

/// Where releases and runs are kept.
#[async_trait::async_trait]
pub trait ReleaseStore: Send + Sync + 'static {
    /// Inserts or replaces a release.
    async fn save_release(&self, release: &Release) -> Result<(), StoreError>;
    /// Every release of `target`, newest first.
    async fn list_releases(&self, target: &str) -> Result<Vec<Release>, StoreError>;
    /// Inserts or replaces a run.
    async fn save_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// One run.
    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// The newest `limit` runs, newest first.
    async fn list_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError>;
    /// Stores a new run and takes its target's lock for `node`, in one transaction: the one
    /// open run per target across every att sharing the store. `Err(run id)` when another
    /// run holds the target (nothing is stored).
    async fn open_run(&self, run: &RunRecord, node: &str)
    -> Result<Result<(), String>, StoreError>;
    /// Stores a run's last record and lets its target go, in one transaction. The lock is
    /// let go only if `node` holds it for this run (a node that another one presumed dead
    /// cannot free a target that was taken over).
    async fn close_run(&self, run: &RunRecord, node: &str) -> Result<(), StoreError>;
    /// The targets' held locks (at most [`MAX_LOCKS`]), each with its node's last heartbeat.
    async fn target_locks(&self) -> Result<Vec<TargetLock>, StoreError>;
    /// Takes `lock` over for `node` if nobody did since it was read (same generation):
    /// whether it did. Two nodes claiming one lock: exactly one gets `true`.
    async fn claim_lock(&self, lock: &TargetLock, node: &str) -> Result<bool, StoreError>;
}

/// Held target locks [`ReleaseStore::target_locks`] returns at most.
pub const MAX_LOCKS: u32 = 1000;

/// A target's lock: the run that holds it and the node that executes that run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLock {
    /// `service:<name>` or `self`.
    pub target: String,
    /// The open run.
    pub run_id: String,
    /// The node executing it (`""`: unknown, a run left by an att older than the lock).
    pub node: String,
    /// Grows at each take-over.
    pub generation: i64,
    /// The node's last heartbeat; for a node with none yet (an att claims locks as it
    /// starts, before its first heartbeat) or forgotten, when it took this lock. Without
    /// that, a node starting beside another saw the other's fresh claim as a dead node's and
    /// concluded the same run a second time.
    pub heartbeat_at: Option<OffsetDateTime>,
}
