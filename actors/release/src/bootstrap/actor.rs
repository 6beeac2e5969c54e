//! The bootstrap actor: runs the release pipeline for `service:<name>` targets, one run per
//! target at a time (BOOTSTRAP.md, "Phases").
//!
//! A run is a sequence of phase messages. Each phase's work runs in a worker actor linked to
//! the bootstrap actor, under a deadline: a worker that panics, fails or overruns is a failure
//! of that phase, and the bootstrap actor goes on with the next run. Every transition is
//! stored (the run record) and written to the event log with the run id as correlation id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use time::OffsetDateTime;

use super::launcher::{Launcher, Request as LaunchRequest};
use super::step;
use crate::build::{self, BuildSpec};
use crate::change::{self, ChangeFailure, ChangeOutcome};
use crate::directory::ActorDirectory;
use crate::duration;
use crate::events::{EventSink, NewEvent};
use crate::forge::{self, PublishOutcome};
use crate::mailbox::{self, MailboxError};
use crate::model::{
    Phase, PhaseStatus, Release, ReleaseStatus, ReleaseStore, RunRecord, RunRequest, RunStatus,
};
use crate::policy::{self, FailureClass, PolicyInput, RollbackLimit};
use crate::process::child::Program;
use crate::service::actor::ServiceHandle;
use crate::service::probe::Probe;
use crate::service::probe::{self, HealthGate, Watchdog};
use crate::service::spec::ServiceSpec;
use crate::trace::{self, MessageMeta};

/// The actor's name.
pub const NAME: &str = "bootstrap";

/// What the bootstrap actor is started with.
#[derive(Clone)]
pub struct BootstrapArgs {
    /// Releases and runs.
    pub store: Arc<dyn ReleaseStore>,
    /// Where the service actors (and the phase workers) are listed.
    pub directory: ActorDirectory,
    /// Where phase events go.
    pub events: Arc<dyn EventSink>,
    /// Consecutive automatic rollbacks allowed per target.
    pub limit: RollbackLimit,
    /// att's data directory: build worktrees and kept artifacts live under it.
    pub data_dir: PathBuf,
    /// The launcher att runs under (`att launch`), which makes the `self` target possible.
    pub launcher: Option<Launcher>,
    /// How releases of att itself are built (`[launch.build]`).
    pub self_build: Option<BuildSpec>,
}

/// The target that is att itself.
pub const SELF: &str = "self";

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A run for the target is in progress (its id).
    Busy(String),
    /// The request cannot be run (no such service, say).
    Invalid(String),
}

/// What `resolve` decided.
pub struct Resolution {
    deployed: Release,
    rollback_to: Option<Release>,
    source: &'static str,
    live_before: Option<Release>,
    /// The target's spec, when its releases are built: then `deployed` is built first
    /// unless its artifact is kept.
    service: Option<ServiceSpec>,
}

impl Resolution {
    /// The build that must run before `release` can run, if any.
    fn needs_build(&self, release: &Release) -> Option<BuildSpec> {
        let build = self.service.as_ref()?.build.clone()?;
        let kept = release.artifact.as_ref().is_some_and(|a| a.exists());
        (!kept).then_some(build)
    }
}

/// What a phase's work produced.
pub enum PhaseOutcome {
    /// `resolve`.
    Resolved(Result<Box<Resolution>, String>),
    /// `build`: the registered release.
    Built(Result<Box<Release>, String>),
    /// `deploy`: for `self`, the candidate's probe address.
    Deployed(Result<Option<String>, String>),
    /// `restart_watchdog`.
    Watched(Watchdog),
    /// `health`.
    Checked(HealthGate),
    /// `rollback`: verified healthy, or why not.
    RolledBack(Result<(), String>),
    /// `change`: the commit made, or why not.
    Changed(Result<Box<ChangeOutcome>, ChangeFailure>),
    /// `publish`: what happened (a `failure` stops the run).
    Published(Box<PublishOutcome>),
}

/// Messages of the bootstrap actor.
pub enum BootstrapMsg {
    /// Start a run; answers its id.
    Start(Box<RunRequest>, RpcReplyPort<Result<String, Refused>>),
    /// A phase's worker finished.
    PhaseDone {
        /// The run.
        run: String,
        /// The phase attempt it was started as.
        token: u64,
        /// Its outcome.
        outcome: PhaseOutcome,
    },
    /// A phase's deadline passed (ignored unless `token` is still running).
    PhaseDeadline {
        /// The run.
        run: String,
        /// The phase attempt.
        token: u64,
    },
    /// A run in progress, by id.
    Active(String, RpcReplyPort<Option<RunRecord>>),
    /// Conclude the runs a previous att left `running`; answers how many were found.
    Recover(RpcReplyPort<usize>),
    /// Cancel a run: its phase's worker is stopped; if a deploy had begun, the target is
    /// rolled back (verified) when a rollback target is known.
    Cancel(String, RpcReplyPort<Result<(), CancelRefused>>),
}

/// Why a cancel was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRefused {
    /// No run with that id is in progress.
    NotRunning,
    /// It is rolling back; that finishes.
    RollingBack,
}

impl MessageMeta for BootstrapMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::Start(..) => "start",
            Self::PhaseDone { .. } => "phase_done",
            Self::PhaseDeadline { .. } => "phase_deadline",
            Self::Active(..) => "active",
            Self::Recover(_) => "recover",
            Self::Cancel(..) => "cancel",
        }
    }

    fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::PhaseDone { run, .. } | Self::PhaseDeadline { run, .. } => Some(run),
            Self::Active(run, _) | Self::Cancel(run, _) => Some(run),
            Self::Start(..) | Self::Recover(_) => None,
        }
    }
}

/// A run under way.
struct ActiveRun {
    record: RunRecord,
    resolution: Option<Resolution>,
    /// Cancelled on request: it ends `cancelled`.
    cancelled: bool,
    phase: Phase,
    token: u64,
    worker: Option<ActorRef<WorkerGo>>,
    /// For `self`: the candidate's probe address once deployed.
    candidate: Option<String>,
    /// What the `change` phase made.
    change: Option<ChangeOutcome>,
}

/// The bootstrap actor's state.
pub struct BootstrapState {
    args: BootstrapArgs,
    runs: HashMap<String, ActiveRun>,
    /// Run id by target, for the one-run-per-target rule.
    busy: HashMap<String, String>,
    workers: HashMap<ActorId, (String, u64)>,
    next_token: u64,
}

/// The bootstrap actor.
pub struct BootstrapActor;

fn service_name(target: &str) -> Option<&str> {
    target
        .strip_prefix("service:")
        .filter(|n| att_gateway::upstream::valid_name(n))
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Resolve => "resolve",
        Phase::Change => "change",
        Phase::Publish => "publish",
        Phase::Build => "build",
        Phase::Deploy => "deploy",
        Phase::RestartWatchdog => "restart_watchdog",
        Phase::Health => "health",
        Phase::Rollback => "rollback",
    }
}

fn command_of(r: &Release) -> Program {
    Program {
        program: r.command.clone(),
        args: r.args.clone(),
        env: r.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        cwd: None,
    }
}

/// How long a deploy (a stop and a start) may take.
const DEPLOY_DEADLINE: Duration = Duration::from_secs(60);
/// Room for the work around a phase's own waiting.
const SLACK: Duration = Duration::from_secs(30);

impl BootstrapState {
    fn exec(&self) -> Exec {
        Exec {
            directory: self.args.directory.clone(),
            launcher: self.args.launcher.clone(),
        }
    }

    fn event(&self, run: &RunRecord, phase: Phase, status: &str, reason: Option<&str>) {
        self.args.events.emit(
            NewEvent::new(
                "bootstrap.phase",
                json!({
                    "run_id": run.id, "target": run.target, "phase": phase_name(phase),
                    "status": status, "reason": reason,
                    "deployed_release_id": run.result.deployed_release_id,
                    "rollback_target_release_id": run.result.rollback_target_release_id,
                }),
            )
            .correlated(&run.id),
        );
    }

    async fn save(&self, record: &RunRecord) {
        if let Err(e) = self.args.store.save_run(record).await {
            tracing::error!(run = %record.id, error = %e, "could not store the run");
        }
    }

    /// Starts `phase` of `run` in a worker under `deadline`.
    async fn begin(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: &str,
        phase: Phase,
        deadline: Duration,
        work: BoxFuture<'static, PhaseOutcome>,
    ) {
        self.next_token += 1;
        let token = self.next_token;
        let Some(active) = self.runs.get_mut(run) else {
            return;
        };
        active.phase = phase;
        active.token = token;
        let now = OffsetDateTime::now_utc();
        let p = active.record.phase_mut(phase);
        p.status = PhaseStatus::Running;
        p.started_at = Some(now);
        active.record.updated_at = now;
        let record = active.record.clone();
        self.event(&record, phase, "running", None);
        self.save(&record).await;
        let name = format!("{NAME}/{run}/{}", phase_name(phase));
        let args = WorkerArgs {
            work: Some(work),
            boss: myself.clone(),
            run: run.to_owned(),
            token,
        };
        let parent = Some((NAME, myself.get_cell()));
        match trace::spawn(&self.args.directory, &name, parent, PhaseWorker, args).await {
            Ok((worker, _)) => {
                self.workers
                    .insert(worker.get_id(), (run.to_owned(), token));
                if let Some(active) = self.runs.get_mut(run) {
                    active.worker = Some(worker);
                }
                let (me, run) = (myself.clone(), run.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(deadline).await;
                    let _ = me.send_message(BootstrapMsg::PhaseDeadline { run, token });
                });
            }
            Err(e) => {
                let outcome =
                    failed_outcome(phase, format!("the phase's worker did not start: {e}"));
                let _ = myself.send_message(BootstrapMsg::PhaseDone {
                    run: run.to_owned(),
                    token,
                    outcome,
                });
            }
        }
    }

    /// Marks the current phase of `run` ended.
    fn end_phase(
        &mut self,
        run: &str,
        status: PhaseStatus,
        message: Option<String>,
    ) -> Option<RunRecord> {
        let active = self.runs.get_mut(run)?;
        if let Some(worker) = active.worker.take() {
            self.workers.remove(&worker.get_id());
        }
        let now = OffsetDateTime::now_utc();
        let phase = active.phase;
        let p = active.record.phase_mut(phase);
        p.status = status;
        p.message = message;
        p.ended_at = Some(now);
        active.record.updated_at = now;
        Some(active.record.clone())
    }

    /// Ends the current phase of `run` (succeeded or failed, with `message`) and says so in
    /// a `bootstrap.phase` event.
    fn close_phase(&mut self, run: &str, ok: bool, message: Option<String>) {
        let status = if ok {
            PhaseStatus::Succeeded
        } else {
            PhaseStatus::Failed
        };
        if let Some(r) = self.end_phase(run, status, message.clone()) {
            let phase = self.runs.get(run).map_or(Phase::Resolve, |a| a.phase);
            let text = if ok { "succeeded" } else { "failed" };
            self.event(&r, phase, text, message.as_deref());
        }
    }

    /// Ends `run` with `status`; the skipped phases are marked so.
    async fn finish(&mut self, run: &str, status: RunStatus) {
        let Some(mut active) = self.runs.remove(run) else {
            return;
        };
        self.busy.remove(&active.record.target);
        for p in &mut active.record.phases {
            if p.status == PhaseStatus::Pending {
                p.status = PhaseStatus::Skipped;
            }
        }
        active.record.status = status;
        active.record.updated_at = OffsetDateTime::now_utc();
        self.args.events.emit(
            NewEvent::new(
                "bootstrap.run",
                json!({"run_id": active.record.id, "target": active.record.target,
                       "status": status, "result": active.record.result}),
            )
            .correlated(&active.record.id),
        );
        self.save(&active.record).await;
    }

    async fn set_release(&self, release: &Release, status: ReleaseStatus) {
        let mut r = release.clone();
        r.status = status;
        if let Err(e) = self.args.store.save_release(&r).await {
            tracing::error!(release = %r.id, error = %e, "could not store the release");
        }
    }

    /// The build of `release` for `run`, when its target builds releases and the artifact
    /// is not kept.
    fn build_job(&self, run: &str, release: &Release) -> Option<BuildJob> {
        let resolution = self.runs.get(run)?.resolution.as_ref()?;
        let spec = resolution.needs_build(release)?;
        let protect = [&resolution.live_before, &resolution.rollback_to]
            .into_iter()
            .flatten()
            .map(|r| r.id.clone())
            .collect();
        Some(BuildJob {
            target: self.runs.get(run)?.record.target.clone(),
            store: self.args.store.clone(),
            data_dir: self.args.data_dir.clone(),
            events: self.args.events.clone(),
            run: run.to_owned(),
            service: resolution.service.clone()?,
            spec,
            protect,
        })
    }

    /// Automatic rollbacks of `target` since its last successful run.
    async fn consecutive_rollbacks(&self, target: &str) -> u32 {
        let runs = self.args.store.list_runs(200).await.unwrap_or_default();
        let mut n = 0;
        for r in runs.iter().filter(|r| r.target == target) {
            if r.status == RunStatus::Succeeded {
                break;
            }
            if r.result.rollback_performed {
                n += 1;
            }
        }
        n
    }

    /// A phase failed with `class`: the policy decides; a rollback runs or the run ends.
    async fn failed(&mut self, myself: &ActorRef<BootstrapMsg>, run: &str, class: FailureClass) {
        let Some(active) = self.runs.get(run) else {
            return;
        };
        let request = active.record.request.clone();
        let target = active.record.target.clone();
        let (deployed, rollback_to) = match &active.resolution {
            Some(r) => (Some(r.deployed.clone()), r.rollback_to.clone()),
            None => (None, None),
        };
        let decision = policy::evaluate(&PolicyInput {
            failure: class,
            switches: request.switches,
            executor: true,
            context: request.deployment_context,
            deployed: deployed.as_ref().map(|r| r.id.as_str()),
            target: rollback_to.as_ref().map(|r| r.id.as_str()),
        });
        let decision = self
            .args
            .limit
            .apply(decision, self.consecutive_rollbacks(&target).await);
        if let Some(d) = &deployed {
            self.set_release(d, ReleaseStatus::Failed).await;
        }
        let Some(active) = self.runs.get_mut(run) else {
            return;
        };
        active.record.result.policy(class, &decision);
        let record = active.record.clone();
        let candidate = active.candidate.is_some();
        if !decision.allowed {
            if target == SELF && candidate {
                // The candidate never served: without a rollback it is stopped all the same,
                // and the att that runs this serves on.
                let exec = self.exec();
                tokio::spawn(async move {
                    if let Err(e) = exec.abort().await {
                        tracing::warn!(error = %e, "could not stop the candidate release");
                    }
                });
            }
            self.args.events.emit(
                NewEvent::new(
                    "bootstrap.rollback_policy",
                    json!({"run_id": run, "target": target, "allowed": false,
                           "reason": decision.reason, "target_valid": decision.target_valid,
                           "failure_class": class}),
                )
                .correlated(run),
            );
            self.finish(run, RunStatus::Failed).await;
            return;
        }
        let Some(to) = rollback_to else {
            // Self-hosted without a known release to go back to: nothing to restart.
            if let Some(active) = self.runs.get_mut(run) {
                active.phase = Phase::Rollback;
                let p = active.record.phase_mut(Phase::Rollback);
                p.status = PhaseStatus::Failed;
                p.message = Some("no earlier release of the target is known".into());
                active.record.result.rollback_performed = false;
            }
            self.event(
                &record,
                Phase::Rollback,
                "failed",
                Some("no earlier release of the target is known"),
            );
            self.finish(run, RunStatus::Failed).await;
            return;
        };
        let job = self.build_job(run, &to);
        let deadline = duration::sum(&[
            DEPLOY_DEADLINE,
            request.watchdog_span(),
            request.health_deadline,
            job.as_ref().map_or(Duration::ZERO, |j| j.spec.timeout),
            SLACK,
        ]);
        let work = rollback_work(self.exec(), request, to, job);
        self.begin(myself, run, Phase::Rollback, deadline, work)
            .await;
    }

    /// Concludes the runs a previous att left `running` (it was killed mid-run). A run whose
    /// deploy had not begun, or did not take effect (the service does not run the deployed
    /// release), is `interrupted`: the old release still runs. Otherwise the health phase is
    /// run again and the policy applies to its outcome; a run killed during its rollback
    /// does the rollback again. Either way the target ends on a verified release or `failed`.
    async fn recover(&mut self, myself: &ActorRef<BootstrapMsg>) -> usize {
        let runs = match self.args.store.list_runs(1000).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the runs to recover");
                return 0;
            }
        };
        let left: Vec<RunRecord> = runs
            .into_iter()
            .filter(|r| r.status == RunStatus::Running && !self.runs.contains_key(&r.id))
            .collect();
        let found = left.len();
        for mut record in left {
            let id = record.id.clone();
            let target = record.target.clone();
            let interrupted = record
                .phases
                .iter()
                .find(|p| p.status == PhaseStatus::Running)
                .map(|p| p.phase);
            let releases = self
                .args
                .store
                .list_releases(&target)
                .await
                .unwrap_or_default();
            let find = |id: &Option<String>| {
                id.as_ref()
                    .and_then(|id| releases.iter().find(|r| &r.id == id).cloned())
            };
            let deployed = find(&record.result.deployed_release_id);
            let rollback_to = find(&record.result.rollback_target_release_id);
            let running_release = if target == SELF {
                self.args.launcher.as_ref().and_then(|l| l.release.clone())
            } else {
                ServiceHandle::new(
                    self.args.directory.clone(),
                    service_name(&target).unwrap_or_default(),
                )
                .status()
                .await
                .ok()
                .and_then(|s| s.release)
            };
            let deploy_begun = record
                .phases
                .iter()
                .any(|p| p.phase == Phase::Deploy && p.status != PhaseStatus::Pending);
            let note = "interrupted by a restart of att";
            if interrupted == Some(Phase::Change)
                && let Some(spec) = record.request.change.clone()
            {
                let (data, run) = (self.args.data_dir.clone(), id.clone());
                let branch = change::branch_of(&spec, &run);
                let _ = tokio::task::spawn_blocking(move || {
                    change::cleanup_orphan(&data, &run, &branch);
                })
                .await;
            }
            if let Some(phase) = interrupted {
                let p = record.phase_mut(phase);
                p.status = PhaseStatus::Skipped;
                p.message = Some(note.into());
                p.ended_at = Some(OffsetDateTime::now_utc());
            }
            self.busy.insert(target.clone(), id.clone());
            let Some(deployed) = deployed.filter(|_| deploy_begun) else {
                self.runs.insert(id.clone(), active_run(record, None));
                self.finish(&id, RunStatus::Interrupted).await;
                continue;
            };
            let live_before = releases
                .iter()
                .find(|r| r.status == ReleaseStatus::Live && r.id != deployed.id)
                .cloned();
            let on_deployed = running_release.as_deref() == Some(deployed.id.as_str());
            let resolution = Resolution {
                deployed: deployed.clone(),
                rollback_to: rollback_to.clone(),
                source: "registry",
                live_before,
                service: None,
            };
            // Stored before durations had ranges, maybe: clamped, so a phase cannot hang.
            let request = record.request.clone().clamped();
            self.runs
                .insert(id.clone(), active_run(record, Some(resolution)));
            if interrupted == Some(Phase::Rollback)
                && let Some(to) = rollback_to
            {
                let deadline = duration::sum(&[DEPLOY_DEADLINE, request.health_deadline, SLACK]);
                let work = rollback_work(self.exec(), request, to, None);
                self.begin(myself, &id, Phase::Rollback, deadline, work)
                    .await;
                continue;
            }
            if on_deployed {
                let deadline = request.health_deadline.saturating_add(SLACK);
                let work = health_work(self.exec(), request, None);
                self.begin(myself, &id, Phase::Health, deadline, work).await;
            } else {
                // The deploy never took effect: the old release still runs.
                self.finish(&id, RunStatus::Interrupted).await;
            }
        }
        found
    }

    /// Starts `resolve` for `run`.
    async fn begin_resolve(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: &str,
        request: RunRequest,
    ) {
        let itself = (request.target == SELF).then(|| Itself {
            build: self.args.self_build.clone(),
            running: self.args.launcher.as_ref().and_then(|l| l.release.clone()),
        });
        let work = resolve_work(
            self.args.store.clone(),
            self.args.directory.clone(),
            request,
            itself,
        );
        self.begin(myself, run, Phase::Resolve, Duration::from_secs(30), work)
            .await;
    }

    /// What the next step of `run` depends on ([`step::Facts`]).
    fn facts(&self, run: &str) -> step::Facts {
        let Some(active) = self.runs.get(run) else {
            return step::Facts::default();
        };
        let request = &active.record.request;
        step::Facts {
            publish: request.publish.is_some(),
            build_only: request.build_only,
            needs_build: active
                .resolution
                .as_ref()
                .is_some_and(|r| self.build_job(run, &r.deployed).is_some()),
            cancelled: active.cancelled,
        }
    }

    /// Handles a phase's outcome: records it (the run's result, the phase's end), then does
    /// what [`step::next`] says follows.
    async fn advance(&mut self, myself: &ActorRef<BootstrapMsg>, run: &str, outcome: PhaseOutcome) {
        if !self.runs.contains_key(run) {
            return;
        }
        let (ended, ok) = self.record_outcome(run, outcome).await;
        let next = step::next(ended, ok, self.facts(run));
        match next {
            step::Next::Start(phase) => self.start(myself, run, phase).await,
            step::Next::Finish(status) => self.finish(run, status).await,
            step::Next::Fail(class) => self.failed(myself, run, class).await,
        }
    }

    /// Writes a phase's outcome into the run (its result fields, what the next phases need,
    /// the releases' statuses) and ends the phase; answers which phase ended and whether it
    /// succeeded.
    async fn record_outcome(&mut self, run: &str, outcome: PhaseOutcome) -> (Phase, bool) {
        let Some(active) = self.runs.get_mut(run) else {
            return (Phase::Resolve, false);
        };
        let result = &mut active.record.result;
        match outcome {
            PhaseOutcome::Changed(Err(failure)) => {
                result.committed = Some(false);
                result.tests = failure.tests.clone();
                self.close_phase(run, false, Some(failure.reason));
                (Phase::Change, false)
            }
            PhaseOutcome::Changed(Ok(made)) => {
                let made = *made;
                result.branch_name = Some(made.branch.clone());
                result.committed = Some(true);
                result.change_commit = Some(made.commit.clone());
                result.tests = made.tests.clone();
                let message = format!("committed {} on `{}`", made.commit, made.branch);
                // Without `publish`, the run goes on to deploy this commit.
                if active.record.request.publish.is_none() {
                    active.record.request.requested_release_id = made.commit.clone();
                }
                active.change = Some(made);
                self.close_phase(run, true, Some(message));
                (Phase::Change, true)
            }
            PhaseOutcome::Published(out) => {
                let out = *out;
                result.pushed = Some(out.pushed);
                result.pr_url = out.pr_url.clone();
                result.ci_status = out.ci_status.clone();
                result.merged = Some(out.merged);
                match (out.failure, out.commit) {
                    (None, Some(commit)) => {
                        // The merge is what gets deployed.
                        active.record.request.requested_release_id = commit;
                        let message = format!(
                            "merged {}",
                            out.pr_url.as_deref().unwrap_or("the change request")
                        );
                        self.close_phase(run, true, Some(message));
                        (Phase::Publish, true)
                    }
                    (failure, _) => {
                        let why = failure.unwrap_or_else(|| "the merge made no commit".into());
                        self.close_phase(run, false, Some(why));
                        (Phase::Publish, false)
                    }
                }
            }
            PhaseOutcome::Resolved(Err(e)) => {
                self.close_phase(run, false, Some(e));
                (Phase::Resolve, false)
            }
            PhaseOutcome::Resolved(Ok(resolution)) => {
                let resolution = *resolution;
                result.deployed_release_id = Some(resolution.deployed.id.clone());
                result.rollback_target_release_id =
                    resolution.rollback_to.as_ref().map(|r| r.id.clone());
                result.release_metadata_source = Some(resolution.source.to_owned());
                active.resolution = Some(resolution);
                self.close_phase(run, true, None);
                (Phase::Resolve, true)
            }
            PhaseOutcome::Built(Err(e)) => {
                // Nothing was deployed: the live release runs on.
                self.close_phase(run, false, Some(e));
                (Phase::Build, false)
            }
            PhaseOutcome::Built(Ok(release)) => {
                let release = *release;
                let message = release
                    .artifact
                    .as_ref()
                    .map(|a| format!("artifact kept at {}", a.display()));
                if let Some(res) = active.resolution.as_mut() {
                    res.deployed = release;
                }
                self.close_phase(run, true, message);
                (Phase::Build, true)
            }
            PhaseOutcome::Deployed(Err(e)) => {
                self.close_phase(run, false, Some(e));
                (Phase::Deploy, false)
            }
            PhaseOutcome::Deployed(Ok(candidate)) => {
                active.candidate = candidate;
                self.close_phase(run, true, None);
                (Phase::Deploy, true)
            }
            PhaseOutcome::Watched(w) => {
                result.restart_watchdog_status =
                    if w.stable { "stable" } else { "unstable" }.into();
                result.restart_watchdog_reason = Some(w.reason.clone());
                self.close_phase(run, w.stable, Some(w.reason));
                (Phase::RestartWatchdog, w.stable)
            }
            PhaseOutcome::Checked(gate) => {
                let healthy = gate.healthy;
                self.record_health(run, gate).await;
                (Phase::Health, healthy)
            }
            PhaseOutcome::RolledBack(outcome) => {
                let ok = outcome.is_ok();
                self.record_rollback(run, outcome).await;
                (Phase::Rollback, ok)
            }
        }
    }

    /// The health gate's verdict: the result, and on success the deployed release live
    /// (the one it replaced retired).
    async fn record_health(&mut self, run: &str, gate: HealthGate) {
        let Some(active) = self.runs.get_mut(run) else {
            return;
        };
        let result = &mut active.record.result;
        let reason = gate.last.as_ref().map(|l| l.reason.clone());
        result.health_status = if gate.healthy { "healthy" } else { "unhealthy" }.into();
        result.success = gate.healthy;
        let releases = active
            .resolution
            .as_ref()
            .map(|r| (r.deployed.clone(), r.live_before.clone()));
        self.close_phase(run, gate.healthy, reason);
        if gate.healthy
            && let Some((deployed, before)) = releases
        {
            if let Some(b) = before.filter(|b| b.id != deployed.id) {
                self.set_release(&b, ReleaseStatus::Retired).await;
            }
            self.set_release(&deployed, ReleaseStatus::Live).await;
        }
    }

    /// A rollback's end: the result, and the releases' statuses (the target live again, or
    /// failed when the rollback failed).
    async fn record_rollback(&mut self, run: &str, outcome: Result<(), String>) {
        let Some(active) = self.runs.get_mut(run) else {
            return;
        };
        let ok = outcome.is_ok();
        active.record.result.rollback_performed = true;
        active.record.result.rollback_succeeded = Some(ok);
        let releases = active
            .resolution
            .as_ref()
            .map(|r| (r.deployed.clone(), r.rollback_to.clone()));
        self.close_phase(run, ok, outcome.err());
        if let Some((deployed, Some(to))) = releases {
            if ok {
                self.set_release(&deployed, ReleaseStatus::RolledBack).await;
                self.set_release(&to, ReleaseStatus::Live).await;
            } else {
                self.set_release(&to, ReleaseStatus::Failed).await;
            }
        }
    }

    /// Ends `run` as failed when what `phase` needs from the earlier phases is missing (a bug:
    /// [`step::next`] starts a phase only after the one that provides it).
    async fn lost(&mut self, run: &str, phase: &str) {
        tracing::error!(
            run,
            phase,
            "the earlier phases left nothing to start this phase with"
        );
        self.finish(run, RunStatus::Failed).await;
    }

    /// Starts `phase` of `run` with what the earlier phases left in it.
    async fn start(&mut self, myself: &ActorRef<BootstrapMsg>, run: &str, phase: step::Start) {
        let Some(active) = self.runs.get(run) else {
            return;
        };
        let request = active.record.request.clone();
        let exec = self.exec();
        match phase {
            step::Start::Publish => {
                let (Some(mut spec), Some(made)) = (request.publish.clone(), active.change.clone())
                else {
                    return self.lost(run, "publish").await;
                };
                // The local forge's CI runs the change's own tests unless told.
                if spec.ci.is_none() {
                    spec.ci = request.change.as_ref().and_then(|c| c.test.clone());
                }
                let deadline = duration::sum(&[spec.ci_budget, DEPLOY_DEADLINE * 2, SLACK]);
                let title = request
                    .change
                    .as_ref()
                    .map(|c| c.message.lines().next().unwrap_or_default().to_owned())
                    .unwrap_or_default();
                let work: BoxFuture<'static, PhaseOutcome> = Box::pin(async move {
                    let out =
                        forge::publish(&spec, &made.repo, &made.branch, &made.base, &title).await;
                    PhaseOutcome::Published(Box::new(out))
                });
                self.begin(myself, run, Phase::Publish, deadline, work)
                    .await;
            }
            step::Start::Resolve => self.begin_resolve(myself, run, request).await,
            step::Start::Build => {
                let job = active
                    .resolution
                    .as_ref()
                    .and_then(|r| Some((self.build_job(run, &r.deployed)?, r.deployed.id.clone())));
                let Some((job, commit)) = job else {
                    return self.lost(run, "build").await;
                };
                let deadline = job.spec.timeout.saturating_add(SLACK);
                let work: BoxFuture<'static, PhaseOutcome> =
                    Box::pin(
                        async move { PhaseOutcome::Built(job.run(&commit).await.map(Box::new)) },
                    );
                self.begin(myself, run, Phase::Build, deadline, work).await;
            }
            step::Start::Deploy => {
                let Some(release) = active.resolution.as_ref().map(|r| r.deployed.clone()) else {
                    return self.lost(run, "deploy").await;
                };
                let work = deploy_work(exec, request.target.clone(), release);
                self.begin(myself, run, Phase::Deploy, DEPLOY_DEADLINE, work)
                    .await;
            }
            step::Start::RestartWatchdog => {
                let deadline = request.watchdog_span().saturating_add(SLACK);
                let work = watchdog_work(exec, request);
                self.begin(myself, run, Phase::RestartWatchdog, deadline, work)
                    .await;
            }
            step::Start::Health => {
                let deadline = request.health_deadline.saturating_add(SLACK);
                let work = health_work(exec, request, active.candidate.clone());
                self.begin(myself, run, Phase::Health, deadline, work).await;
            }
        }
    }
}

fn active_run(record: RunRecord, resolution: Option<Resolution>) -> ActiveRun {
    ActiveRun {
        record,
        resolution,
        cancelled: false,
        phase: Phase::Resolve,
        token: 0,
        worker: None,
        candidate: None,
        change: None,
    }
}

/// The outcome standing for a phase whose worker failed, panicked or overran.
fn failed_outcome(phase: Phase, why: String) -> PhaseOutcome {
    match phase {
        Phase::Resolve => PhaseOutcome::Resolved(Err(why)),
        // Not started by any run yet (the workspace tools add them): nothing to undo.
        Phase::Change => PhaseOutcome::Changed(Err(why.into())),
        Phase::Publish => PhaseOutcome::Published(Box::new(PublishOutcome {
            failure: Some(why),
            ..PublishOutcome::default()
        })),
        Phase::Build => PhaseOutcome::Built(Err(why)),
        Phase::Deploy => PhaseOutcome::Deployed(Err(why)),
        Phase::RestartWatchdog => PhaseOutcome::Watched(Watchdog {
            stable: false,
            reason: why,
            probes: 0,
        }),
        Phase::Health => PhaseOutcome::Checked(HealthGate {
            healthy: false,
            last: Some(probe::ProbeResult {
                healthy: false,
                reason: why,
                http_status: None,
            }),
            attempts: 0,
        }),
        Phase::Rollback => PhaseOutcome::RolledBack(Err(why)),
    }
}

/// The `change` phase's work: the repository is the request's, else the target's build
/// repository.
fn change_work(
    data_dir: PathBuf,
    directory: ActorDirectory,
    self_build: Option<BuildSpec>,
    request: RunRequest,
    run: String,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let Some(spec) = request.change.clone() else {
            return PhaseOutcome::Changed(Err("the request has no change".to_owned().into()));
        };
        let repo = match (&spec.repo, request.target.as_str()) {
            (Some(r), _) => Ok(r.clone()),
            (None, SELF) => self_build
                .map(|b| b.repo)
                .ok_or_else(|| "name `change.repo`: att has no [launch.build]".to_owned()),
            (None, target) => {
                let name = service_name(target).unwrap_or_default();
                match ServiceHandle::new(directory, name).spec().await {
                    Ok(s) => s.build.map(|b| b.repo).ok_or_else(|| {
                        format!("name `change.repo`: `{target}` has no build repository")
                    }),
                    Err(e) => Err(format!(
                        "service `{name}` is not running as a managed service: {e}"
                    )),
                }
            }
        };
        let outcome = match repo {
            Ok(repo) => change::change(&spec, &repo, &data_dir, &run)
                .await
                .map(Box::new),
            Err(e) => Err(e.into()),
        };
        PhaseOutcome::Changed(outcome)
    })
}

fn resolve_work(
    store: Arc<dyn ReleaseStore>,
    directory: ActorDirectory,
    request: RunRequest,
    itself: Option<Itself>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let resolved = match itself {
            Some(itself) => resolve_self(store, request, itself).await,
            None => resolve(store, directory, request).await,
        };
        PhaseOutcome::Resolved(resolved.map(Box::new))
    })
}

/// What `resolve` knows of att itself, for the `self` target.
struct Itself {
    build: Option<BuildSpec>,
    /// The release this att runs, as the launcher started it.
    running: Option<String>,
}

/// The spec att's own releases are built from: the artifact is the att binary.
fn self_spec(build: Option<BuildSpec>) -> ServiceSpec {
    let mut spec: ServiceSpec =
        serde_json::from_value(json!({"name": SELF, "command": crate::service::spec::ARTIFACT}))
            .unwrap_or_else(|_| unreachable!("a fixed, valid spec"));
    spec.build = build;
    spec
}

/// `resolve` for `self`: the deployed release as for a service; the rollback target is the
/// release att runs now (the request's, else the registry's live one, else the running
/// binary): rolling back keeps it.
async fn resolve_self(
    store: Arc<dyn ReleaseStore>,
    request: RunRequest,
    itself: Itself,
) -> Result<Resolution, String> {
    let spec = self_spec(itself.build);
    let releases = store.list_releases(SELF).await.map_err(|e| e.to_string())?;
    let deployed = deployed_release(&spec, SELF, &releases, &request).await?;
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let (live_before, named) = live_and_named(&releases, &request);
    let (rollback_to, source) =
        match (named, &live_before) {
            (Some(id), _) => (
                Some(find(&id).ok_or_else(|| {
                    format!("rollback release `{id}` of `self` is not registered")
                })?),
                "request",
            ),
            (None, Some(live)) => (Some(live.clone()), "registry"),
            (None, None) => {
                let id = itself
                    .running
                    .unwrap_or_else(|| format!("att-{}", env!("CARGO_PKG_VERSION")));
                let program = std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let mut running = spec.built_release(SELF, &id, None);
                running.command = program;
                (Some(find(&id).unwrap_or(running)), "launcher")
            }
        };
    Ok(Resolution {
        deployed,
        rollback_to,
        source,
        live_before,
        service: Some(spec).filter(|s| s.build.is_some()),
    })
}

/// The target's live release, and the rollback release the request names (an explicit
/// rollback id beats the previous id).
fn live_and_named(releases: &[Release], request: &RunRequest) -> (Option<Release>, Option<String>) {
    let live = releases
        .iter()
        .find(|r| r.status == ReleaseStatus::Live)
        .cloned();
    let named = request
        .rollback_release_id
        .clone()
        .or(request.previous_release_id.clone())
        .filter(|id| !id.is_empty());
    (live, named)
}

/// The release a run deploys: registered under the requested id, else (for a target with a
/// build) the commit the id names, `HEAD` when none is named.
async fn deployed_release(
    spec: &ServiceSpec,
    target: &str,
    releases: &[Release],
    request: &RunRequest,
) -> Result<Release, String> {
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let requested = request.requested_release_id.trim();
    match (
        find(requested).filter(|_| !requested.is_empty()),
        &spec.build,
    ) {
        (Some(r), _) => Ok(r),
        (None, Some(b)) => {
            let rev = if requested.is_empty() {
                "HEAD"
            } else {
                requested
            };
            let commit = revision(b, rev).await?.commit;
            Ok(find(&commit).unwrap_or_else(|| spec.built_release(target, &commit, None)))
        }
        (None, None) if requested.is_empty() => Err(format!(
            "`requested_release_id` is required: `{target}` has no build to make a release from"
        )),
        (None, None) => Err(format!(
            "release `{requested}` of `{target}` is not registered"
        )),
    }
}

/// `resolve`: the deployed release from the request — a registered release, or for a target
/// with a build the commit it names (`HEAD` when none is named), to be built; the rollback
/// target from the request, else the registry (the target's live release), else the
/// service's own log (`release_id=…`), else git (the deployed commit's parent).
async fn resolve(
    store: Arc<dyn ReleaseStore>,
    directory: ActorDirectory,
    request: RunRequest,
) -> Result<Resolution, String> {
    let name = service_name(&request.target).unwrap_or_default().to_owned();
    let service = ServiceHandle::new(directory, &name);
    let spec = service
        .spec()
        .await
        .map_err(|e| format!("service `{name}` is not running as a managed service: {e}"))?;
    let releases = store
        .list_releases(&request.target)
        .await
        .map_err(|e| e.to_string())?;
    let find = |id: &str| releases.iter().find(|r| r.id == id).cloned();
    let deployed = deployed_release(&spec, &request.target, &releases, &request).await?;
    let (live_before, named) = live_and_named(&releases, &request);
    let (rollback_to, source) = if let Some(id) = named {
        let r = find(&id).ok_or_else(|| {
            format!(
                "rollback release `{id}` of `{}` is not registered",
                request.target
            )
        })?;
        (Some(r), "request")
    } else if let Some(live) = live_before.clone() {
        (Some(live), "registry")
    } else {
        // The newest `release_id=` its own log names, if registered.
        let lines = service.logs(500).await.unwrap_or_default();
        let from_log = lines.iter().rev().find_map(|l| {
            l.split_whitespace()
                .find_map(|t| t.strip_prefix("release_id="))
                .filter(|id| !id.is_empty() && *id != deployed.id)
                .and_then(find)
        });
        // Else the deployed commit's parent (built when the rollback needs it).
        let parent = match (&from_log, &spec.build) {
            (None, Some(b)) => revision(b, &deployed.id).await.ok().and_then(|r| r.parent),
            _ => None,
        };
        match (from_log, parent) {
            (Some(r), _) => (Some(r), "runtime_logs"),
            (None, Some(p)) => (
                Some(find(&p).unwrap_or_else(|| spec.built_release(&request.target, &p, None))),
                "git",
            ),
            (None, None) => (None, "request"),
        }
    };
    Ok(Resolution {
        deployed,
        rollback_to,
        source,
        live_before,
        service: Some(spec).filter(|s| s.build.is_some()),
    })
}

/// `rev` resolved to a commit of the build's repository (git2 is blocking).
async fn revision(build: &BuildSpec, rev: &str) -> Result<build::Revision, String> {
    let (repo, rev) = (build.repo.clone(), rev.to_owned());
    tokio::task::spawn_blocking(move || build::resolve_revision(&repo, &rev))
        .await
        .map_err(|e| format!("the revision lookup did not finish: {e}"))?
}

/// A build to run: the `build` phase's work, or a rollback's to a release whose artifact
/// is no longer kept.
struct BuildJob {
    target: String,
    store: Arc<dyn ReleaseStore>,
    data_dir: PathBuf,
    events: Arc<dyn EventSink>,
    run: String,
    service: ServiceSpec,
    spec: BuildSpec,
    /// Releases whose artifacts pruning must keep (the live one, the rollback target).
    protect: Vec<String>,
}

impl BuildJob {
    /// Builds `commit`, registers the release (`built`), and removes the artifacts of the
    /// target's releases beyond the newest [`build::KEEP_ARTIFACTS`].
    async fn run(self, commit: &str) -> Result<Release, String> {
        let target = self.target.clone();
        let (events, run, t) = (self.events.clone(), self.run.clone(), target.clone());
        let progress: build::Progress = Arc::new(move |lines| {
            events.emit(
                NewEvent::new(
                    "bootstrap.build_output",
                    json!({"run_id": run, "target": t, "lines": lines}),
                )
                .correlated(&run),
            );
        });
        let artifact = build::build(&self.spec, &self.data_dir, &target, commit, progress).await?;
        let release = self.service.built_release(&target, commit, Some(&artifact));
        self.store
            .save_release(&release)
            .await
            .map_err(|e| format!("could not register the release: {e}"))?;
        let releases = self.store.list_releases(&target).await.unwrap_or_default();
        let kept: Vec<(String, Option<PathBuf>)> = releases
            .iter()
            .map(|r| (r.id.clone(), r.artifact.clone()))
            .collect();
        let mut protect: Vec<&str> = self.protect.iter().map(String::as_str).collect();
        protect.push(commit);
        let removed = build::prune(
            &self.data_dir,
            &target,
            &kept,
            build::KEEP_ARTIFACTS,
            &protect,
        );
        for r in releases.iter().filter(|r| removed.contains(&r.id)) {
            let mut r = r.clone();
            r.artifact = None;
            let _ = self.store.save_release(&r).await;
        }
        Ok(release)
    }
}

/// Where a phase's work acts: the service actors, or (target `self`) the launcher.
#[derive(Clone)]
struct Exec {
    directory: ActorDirectory,
    launcher: Option<Launcher>,
}

/// How long a launcher request other than `watch` may take.
const LAUNCHER_LIMIT: Duration = Duration::from_secs(60);

impl Exec {
    fn launcher(&self) -> Result<&Launcher, String> {
        self.launcher
            .as_ref()
            .ok_or_else(|| "att does not run under `att launch`".to_owned())
    }

    /// `deploy`: switches the service to `release`; for `self`, starts the candidate and
    /// answers its probe address.
    async fn deploy(&self, target: &str, release: &Release) -> Result<Option<String>, String> {
        if target == SELF {
            let request = LaunchRequest::Start {
                program: release.command.clone(),
                release: release.id.clone(),
            };
            let reply = self.launcher()?.call(&request, LAUNCHER_LIMIT).await?;
            return match (reply.ok, reply.probe) {
                (true, Some(probe)) => Ok(Some(probe)),
                (_, _) => Err(reply
                    .error
                    .unwrap_or_else(|| "the launcher did not start the release".into())),
            };
        }
        let name = service_name(target).unwrap_or_default();
        let service = ServiceHandle::new(self.directory.clone(), name);
        match service
            .deploy(command_of(release), &release.id, DEPLOY_DEADLINE)
            .await
        {
            Ok(Ok(_)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("the service did not answer: {e}")),
        }
    }

    /// `restart_watchdog`.
    async fn watch(&self, request: &RunRequest) -> Watchdog {
        if request.target == SELF {
            let launcher = match self.launcher() {
                Ok(l) => l,
                Err(e) => return unstable(e),
            };
            let interval = request.restart_watchdog_interval;
            let probes = request.restart_watchdog_retries.max(1);
            let ask = LaunchRequest::Watch {
                probes,
                interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            };
            return match launcher
                .call(
                    &ask,
                    interval
                        .saturating_mul(probes)
                        .saturating_add(LAUNCHER_LIMIT),
                )
                .await
            {
                Ok(r) => Watchdog {
                    stable: r.ok,
                    reason: r.reason.or(r.error).unwrap_or_default(),
                    probes,
                },
                Err(e) => unstable(e),
            };
        }
        let name = service_name(&request.target).unwrap_or_default();
        match ServiceHandle::new(self.directory.clone(), name)
            .process()
            .await
        {
            Ok(Some(p)) => {
                probe::watchdog(
                    &p,
                    request.restart_watchdog_retries,
                    request.restart_watchdog_interval,
                )
                .await
            }
            _ => unstable("process_not_running".into()),
        }
    }

    /// `health`. For `self`: the candidate's `/api/v1/health` at its probe address, then the
    /// launcher's switch to it; without a candidate (a run concluded after a restart), the
    /// att answering is the release.
    async fn health(&self, request: &RunRequest, candidate: Option<&str>) -> HealthGate {
        if request.target == SELF {
            let Some(addr) = candidate else {
                return HealthGate {
                    healthy: true,
                    last: None,
                    attempts: 0,
                };
            };
            let probe = Probe::Http {
                url: format!("http://{addr}/api/v1/health"),
            };
            let gate = probe::health_gate(
                &probe,
                None,
                request.health_check_passes,
                request.health_check_interval,
                request.health_deadline,
            )
            .await;
            if !gate.healthy {
                return gate;
            }
            let promoted = match self.launcher() {
                Ok(l) => l.call(&LaunchRequest::Promote, LAUNCHER_LIMIT).await,
                Err(e) => Err(e),
            };
            return match promoted {
                Ok(r) if r.ok => gate,
                Ok(r) => failed_gate(&format!(
                    "the launcher did not switch: {}",
                    r.error.unwrap_or_default()
                )),
                Err(e) => failed_gate(&format!("the launcher did not switch: {e}")),
            };
        }
        let name = service_name(&request.target).unwrap_or_default();
        let service = ServiceHandle::new(self.directory.clone(), name);
        let (status, process) = match (service.status().await, service.process().await) {
            (Ok(s), Ok(p)) => (s, p),
            _ => return failed_gate("the service did not answer"),
        };
        let Some(process) = process else {
            return failed_gate("process_not_running");
        };
        match status.health {
            Some(probe) => {
                probe::health_gate(
                    &probe,
                    Some(&process),
                    request.health_check_passes,
                    request.health_check_interval,
                    request.health_deadline,
                )
                .await
            }
            // No probe: running is healthy.
            None => HealthGate {
                healthy: process.exited().is_none(),
                last: None,
                attempts: 1,
            },
        }
    }

    /// For `self`: stops the candidate (the running att serves on).
    async fn abort(&self) -> Result<(), String> {
        let reply = self
            .launcher()?
            .call(&LaunchRequest::Abort, LAUNCHER_LIMIT)
            .await?;
        if reply.ok {
            Ok(())
        } else {
            Err(reply.error.unwrap_or_default())
        }
    }
}

fn unstable(reason: String) -> Watchdog {
    Watchdog {
        stable: false,
        reason,
        probes: 1,
    }
}

fn deploy_work(exec: Exec, target: String, release: Release) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move { PhaseOutcome::Deployed(exec.deploy(&target, &release).await) })
}

fn watchdog_work(exec: Exec, request: RunRequest) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move { PhaseOutcome::Watched(exec.watch(&request).await) })
}

fn health_work(
    exec: Exec,
    request: RunRequest,
    candidate: Option<String>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(
        async move { PhaseOutcome::Checked(exec.health(&request, candidate.as_deref()).await) },
    )
}

fn failed_gate(reason: &str) -> HealthGate {
    HealthGate {
        healthy: false,
        last: Some(probe::ProbeResult {
            healthy: false,
            reason: reason.to_owned(),
            http_status: None,
        }),
        attempts: 0,
    }
}

/// `rollback`: the rollback target deployed (built first if its artifact is gone) and
/// verified like a deploy. For `self`, the candidate is stopped: the att that runs this is
/// the release rolled back to, and it is up.
fn rollback_work(
    exec: Exec,
    request: RunRequest,
    to: Release,
    build: Option<BuildJob>,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let result = async {
            if request.target == SELF {
                return exec.abort().await;
            }
            let to = match build {
                Some(job) => job
                    .run(&to.id)
                    .await
                    .map_err(|e| format!("the rollback release could not be built: {e}"))?,
                None => to,
            };
            exec.deploy(&request.target, &to).await?;
            let w = exec.watch(&request).await;
            if !w.stable {
                return Err(format!(
                    "the rollback release did not stay up: {}",
                    w.reason
                ));
            }
            let gate = exec.health(&request, None).await;
            if !gate.healthy {
                let why = gate.last.map(|l| l.reason).unwrap_or_default();
                return Err(format!("the rollback release is not healthy: {why}"));
            }
            Ok(())
        }
        .await;
        PhaseOutcome::RolledBack(result)
    })
}

impl Actor for BootstrapActor {
    type Msg = BootstrapMsg;
    type State = BootstrapState;
    type Arguments = BootstrapArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<BootstrapMsg>,
        args: BootstrapArgs,
    ) -> Result<BootstrapState, ActorProcessingErr> {
        Ok(BootstrapState {
            args,
            runs: HashMap::new(),
            busy: HashMap::new(),
            workers: HashMap::new(),
            next_token: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<BootstrapMsg>,
        msg: BootstrapMsg,
        state: &mut BootstrapState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BootstrapMsg::Start(request, reply) => {
                let request = *request;
                if let Err(e) = request.check() {
                    let _ = reply.send(Err(Refused::Invalid(e.to_string())));
                    return Ok(());
                }
                if request.target == SELF && state.args.launcher.is_none() {
                    let _ = reply.send(Err(Refused::Invalid(
                        "target `self` needs att to run under `att launch`, which performs \
                         the switch"
                            .into(),
                    )));
                    return Ok(());
                }
                if request.target != SELF && service_name(&request.target).is_none() {
                    let _ = reply.send(Err(Refused::Invalid(format!(
                        "target `{}` must be `service:<name>` or `self`",
                        request.target
                    ))));
                    return Ok(());
                }
                if let Some(running) = state.busy.get(&request.target) {
                    let _ = reply.send(Err(Refused::Busy(running.clone())));
                    return Ok(());
                }
                let id = uuid_like();
                let record = RunRecord::new(id.clone(), request.clone(), OffsetDateTime::now_utc());
                state.busy.insert(request.target.clone(), id.clone());
                state.runs.insert(id.clone(), active_run(record, None));
                let _ = reply.send(Ok(id.clone()));
                match request.change.clone() {
                    Some(spec) => {
                        let deadline = duration::sum(&[spec.test_timeout, DEPLOY_DEADLINE, SLACK]);
                        let work = change_work(
                            state.args.data_dir.clone(),
                            state.args.directory.clone(),
                            state.args.self_build.clone(),
                            request,
                            id.clone(),
                        );
                        state
                            .begin(&myself, &id, Phase::Change, deadline, work)
                            .await;
                    }
                    None => state.begin_resolve(&myself, &id, request).await,
                }
            }
            BootstrapMsg::PhaseDone {
                run,
                token,
                outcome,
            } => {
                if state.runs.get(&run).is_some_and(|a| a.token == token) {
                    state.advance(&myself, &run, outcome).await;
                }
            }
            BootstrapMsg::PhaseDeadline { run, token } => {
                let Some(active) = state.runs.get(&run).filter(|a| a.token == token) else {
                    return Ok(());
                };
                let phase = active.phase;
                if let Some(w) = &active.worker {
                    w.kill();
                }
                let outcome = failed_outcome(
                    phase,
                    format!("the {} phase overran its deadline", phase_name(phase)),
                );
                state.advance(&myself, &run, outcome).await;
            }
            BootstrapMsg::Active(run, reply) => {
                let _ = reply.send(state.runs.get(&run).map(|a| a.record.clone()));
            }
            BootstrapMsg::Cancel(run, reply) => {
                let Some(active) = state.runs.get_mut(&run) else {
                    let _ = reply.send(Err(CancelRefused::NotRunning));
                    return Ok(());
                };
                if active.phase == Phase::Rollback {
                    let _ = reply.send(Err(CancelRefused::RollingBack));
                    return Ok(());
                }
                active.cancelled = true;
                if let Some(w) = active.worker.take() {
                    state.workers.remove(&w.get_id());
                    w.kill();
                }
                let phase = active.phase;
                if phase == Phase::Change
                    && let Some(spec) = active.record.request.change.clone()
                {
                    let (data, run) = (state.args.data_dir.clone(), run.clone());
                    let branch = change::branch_of(&spec, &run);
                    // After the killed worker's test run is gone (its process group goes
                    // with the worker's future).
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let _ = tokio::task::spawn_blocking(move || {
                            change::cleanup_orphan(&data, &run, &branch);
                        })
                        .await;
                    });
                }
                let deployed = !matches!(
                    phase,
                    Phase::Resolve | Phase::Change | Phase::Publish | Phase::Build
                );
                let rollback = active
                    .resolution
                    .as_ref()
                    .and_then(|r| r.rollback_to.clone());
                let request = active.record.request.clone();
                let _ = reply.send(Ok(()));
                if let Some(r) =
                    state.end_phase(&run, PhaseStatus::Failed, Some("cancelled".into()))
                {
                    state.event(&r, phase, "cancelled", None);
                }
                match rollback.filter(|_| deployed) {
                    Some(to) => {
                        let job = state.build_job(&run, &to);
                        let deadline = duration::sum(&[
                            DEPLOY_DEADLINE,
                            job.as_ref().map_or(Duration::ZERO, |j| j.spec.timeout),
                            request.watchdog_span(),
                            request.health_deadline,
                            SLACK,
                        ]);
                        let work = rollback_work(state.exec(), request, to, job);
                        state
                            .begin(&myself, &run, Phase::Rollback, deadline, work)
                            .await;
                    }
                    None => state.finish(&run, RunStatus::Cancelled).await,
                }
            }
            BootstrapMsg::Recover(reply) => {
                let found = state.recover(&myself).await;
                let _ = reply.send(found);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<BootstrapMsg>,
        event: SupervisionEvent,
        state: &mut BootstrapState,
    ) -> Result<(), ActorProcessingErr> {
        // A worker that failed (a panic included) fails its phase; the actor goes on.
        if let SupervisionEvent::ActorFailed(cell, error) = event
            && let Some((run, token)) = state.workers.remove(&cell.get_id())
            && let Some(active) = state.runs.get(&run).filter(|a| a.token == token)
        {
            let phase = active.phase;
            let outcome = failed_outcome(
                phase,
                format!("the {} phase's worker failed: {error}", phase_name(phase)),
            );
            state.advance(&myself, &run, outcome).await;
        }
        Ok(())
    }
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(OffsetDateTime::now_utc().unix_timestamp_nanos() as u128);
    let a = h.finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a);
    format!("run-{a:016x}{:08x}", h.finish() as u32)
}

/// The message a phase worker gets once: run the work.
pub struct WorkerGo;

impl MessageMeta for WorkerGo {
    fn kind(&self) -> &'static str {
        "run_phase"
    }
}

/// What a phase worker is started with.
pub struct WorkerArgs {
    work: Option<BoxFuture<'static, PhaseOutcome>>,
    boss: ActorRef<BootstrapMsg>,
    run: String,
    token: u64,
}

/// Runs one phase's work and reports it to the bootstrap actor, then stops.
pub struct PhaseWorker;

impl Actor for PhaseWorker {
    type Msg = WorkerGo;
    type State = WorkerArgs;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkerGo>,
        args: WorkerArgs,
    ) -> Result<WorkerArgs, ActorProcessingErr> {
        myself.send_message(WorkerGo)?;
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerGo>,
        _msg: WorkerGo,
        state: &mut WorkerArgs,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(work) = state.work.take() {
            let outcome = work.await;
            let _ = state.boss.send_message(BootstrapMsg::PhaseDone {
                run: state.run.clone(),
                token: state.token,
                outcome,
            });
        }
        myself.stop(None);
        Ok(())
    }
}

/// A typed handle to the bootstrap actor.
#[derive(Clone, Debug)]
pub struct BootstrapHandle {
    directory: ActorDirectory,
}

impl BootstrapHandle {
    /// A handle through `directory`.
    pub fn new(directory: ActorDirectory) -> Self {
        Self { directory }
    }

    /// Starts a run; its id, or why not.
    pub async fn start(
        &self,
        request: RunRequest,
    ) -> Result<Result<String, Refused>, MailboxError> {
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Start(Box::new(request), r)
        })
        .await
    }

    /// Cancels a run in progress.
    pub async fn cancel(&self, run: &str) -> Result<Result<(), CancelRefused>, MailboxError> {
        let run = run.to_owned();
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Cancel(run, r)
        })
        .await
    }

    /// Concludes the runs a previous att left `running`; how many there were.
    pub async fn recover(&self) -> Result<usize, MailboxError> {
        mailbox::call(
            &self.directory,
            NAME,
            Duration::from_secs(30),
            BootstrapMsg::Recover,
        )
        .await
    }

    /// A run in progress (its live record).
    pub async fn active(&self, run: &str) -> Result<Option<RunRecord>, MailboxError> {
        let run = run.to_owned();
        mailbox::call(&self.directory, NAME, Duration::from_secs(10), |r| {
            BootstrapMsg::Active(run, r)
        })
        .await
    }
}
