//! Driving a run: a phase started in a worker under a deadline, ended and recorded, the
//! next step taken as [`step::next`](super::step::next) says, a failure handed to the
//! rollback policy, a run finished or cancelled.

use std::time::Duration;

use futures_util::future::BoxFuture;
use ractor::{ActorRef, RpcReplyPort};
use serde_json::json;
use time::OffsetDateTime;
use tracing::Instrument;

use super::actor::{
    BootstrapState, DEPLOY_DEADLINE, NAME, SELF, SLACK, active_run, phase_name, service_name,
    uuid_like,
};
use super::build_job::BuildJob;
use super::exec::{Exec, change_work, deploy_work, health_work, rollback_work, watchdog_work};
use super::messages::{BootstrapMsg, CancelRefused, PhaseOutcome, Refused, failed_outcome};
use super::resolve::{Itself, resolve_work};
use super::step;
use super::worker::{PhaseWorker, WorkerArgs};
use crate::change;
use crate::duration;
use crate::events::NewEvent;
use crate::forge::{self, RevertJob};
use crate::model::{Phase, PhaseStatus, Release, ReleaseStatus, RunRecord, RunRequest, RunStatus};
use crate::policy::{self, FailureClass, PolicyInput};
use crate::service::actor::ServiceHandle;
use crate::trace;

impl BootstrapState {
    pub(super) fn exec(&self) -> Exec {
        Exec {
            directory: self.args.directory.clone(),
            launcher: self.args.launcher.clone(),
        }
    }

    /// A `bootstrap.phase` event: `phase` of `run` is now `status`; an ended phase says how
    /// long it took (`elapsed_ms`, which the phase-duration metric reads).
    pub(super) fn event(&self, run: &RunRecord, phase: Phase, status: &str, reason: Option<&str>) {
        let elapsed_ms = run
            .phases
            .iter()
            .find(|p| p.phase == phase)
            .and_then(|p| Some(p.ended_at? - p.started_at?))
            .map(|d| i64::try_from(d.whole_milliseconds().max(0)).unwrap_or(i64::MAX));
        self.args.events.emit(
            NewEvent::new(
                "bootstrap.phase",
                json!({
                    "run_id": run.id, "target": run.target, "phase": phase_name(phase),
                    "status": status, "reason": reason, "principal": run.request.requested_by,
                    "elapsed_ms": elapsed_ms,
                    "deployed_release_id": run.result.deployed_release_id,
                    "rollback_target_release_id": run.result.rollback_target_release_id,
                }),
            )
            .correlated(&run.id),
        );
    }

    pub(super) async fn save(&self, record: &RunRecord) {
        if let Err(e) = self.args.store.save_run(record).await {
            tracing::error!(run = %record.id, error = %e, "could not store the run");
        }
    }

    /// Starts `phase` of `run` in a worker under `deadline`.
    pub(super) async fn begin(
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
        // Nested under what started the phase (the request that opened the run, or the
        // previous phase's end); the worker's messages nest under it.
        let span = tracing::info_span!(
            "release_phase",
            run = %run,
            target = %active.record.target,
            phase = phase_name(phase),
            status = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        active.phase_span = Some(span.clone());
        active.record.status = if phase == Phase::Guard {
            RunStatus::Guarding
        } else {
            RunStatus::Running
        };
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
        match trace::spawn(&self.args.directory, &name, parent, PhaseWorker, args)
            .instrument(span)
            .await
        {
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
    pub(super) fn end_phase(
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
        if let Some(span) = active.phase_span.take() {
            span.record(
                "status",
                format!("{status:?}").to_ascii_lowercase().as_str(),
            );
            if let Some(m) = message.as_deref().filter(|_| status == PhaseStatus::Failed) {
                span.record("error", m);
            }
        }
        let p = active.record.phase_mut(phase);
        p.status = status;
        p.message = message;
        p.ended_at = Some(now);
        active.record.updated_at = now;
        Some(active.record.clone())
    }

    /// Ends the current phase of `run` (succeeded or failed, with `message`) and says so in
    /// a `bootstrap.phase` event.
    pub(super) fn close_phase(&mut self, run: &str, ok: bool, message: Option<String>) {
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
    pub(super) async fn finish(&mut self, run: &str, status: RunStatus) {
        let Some(mut active) = self.runs.remove(run) else {
            return;
        };
        if let Some(name) = service_name(&active.record.target) {
            // Whatever the outcome, what runs now is what stays: a replaced release still
            // serving beside it (a service with `listen`) goes.
            let service = ServiceHandle::new(self.args.directory.clone(), name);
            tokio::spawn(async move {
                let _ = service.retire().await;
            });
        }
        for p in &mut active.record.phases {
            if p.status == PhaseStatus::Pending {
                p.status = PhaseStatus::Skipped;
            }
        }
        active.record.status = status;
        active.record.updated_at = OffsetDateTime::now_utc();
        // The last record and the target's release, in one transaction.
        if let Err(e) = self
            .args
            .store
            .close_run(&active.record, &self.args.node)
            .await
        {
            tracing::error!(run = %active.record.id, error = %e, "could not store the run's end");
        }
        self.args.events.emit(
            NewEvent::new(
                "bootstrap.run",
                json!({"run_id": active.record.id, "target": active.record.target,
                       "status": status, "result": active.record.result,
                       "principal": active.record.request.requested_by}),
            )
            .correlated(&active.record.id),
        );
    }

    pub(super) async fn set_release(&self, release: &Release, status: ReleaseStatus) {
        let mut r = release.clone();
        r.status = status;
        if let Err(e) = self.args.store.save_release(&r).await {
            tracing::error!(release = %r.id, error = %e, "could not store the release");
        }
    }

    /// The build of `release` for `run`, when its target builds releases and the artifact
    /// is not kept.
    pub(super) fn build_job(&self, run: &str, release: &Release) -> Option<BuildJob> {
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

    /// The revert of the change `run` shipped, when it shipped one (merged on the forge).
    pub(super) fn revert_job(&self, run: &str) -> Option<RevertJob> {
        let active = self.runs.get(run)?;
        let made = active.record.change.as_ref()?;
        if active.record.result.merged != Some(true) {
            return None;
        }
        let request = &active.record.request;
        let mut spec = request.publish.clone()?;
        if spec.ci.is_none() {
            spec.ci = request.change.as_ref().and_then(|c| c.test.clone());
        }
        Some(RevertJob {
            spec,
            repo: made.repo.clone(),
            base: made.base.clone(),
            // Set to the merge by `publish`.
            shipped: request.requested_release_id.clone(),
            title: change_title(request),
            run: run.to_owned(),
        })
    }

    /// Automatic rollbacks of `target` since its last successful run.
    pub(super) async fn consecutive_rollbacks(&self, target: &str) -> u32 {
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
    pub(super) async fn failed(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: &str,
        class: FailureClass,
    ) {
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
        let revert = self.revert_job(run);
        let deadline = duration::sum(&[
            DEPLOY_DEADLINE,
            request.watchdog_span(),
            request.health_deadline,
            job.as_ref().map_or(Duration::ZERO, |j| j.spec.timeout),
            revert_span(revert.as_ref()),
            SLACK,
        ]);
        let work = rollback_work(self.exec(), request, to, job, revert);
        self.begin(myself, run, Phase::Rollback, deadline, work)
            .await;
    }

    /// Starts `resolve` for `run`.
    pub(super) async fn begin_resolve(
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
    pub(super) fn facts(&self, run: &str) -> step::Facts {
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
            guard: request.target != SELF
                && active
                    .resolution
                    .as_ref()
                    .is_some_and(|r| !r.guard.period.is_zero()),
        }
    }

    /// Handles a phase's outcome: records it (the run's result, the phase's end), then does
    /// what [`step::next`] says follows.
    pub(super) async fn advance(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: &str,
        outcome: PhaseOutcome,
    ) {
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

    /// Ends `run` as failed when what `phase` needs from the earlier phases is missing (a bug:
    /// [`step::next`] starts a phase only after the one that provides it).
    pub(super) async fn lost(&mut self, run: &str, phase: &str) {
        tracing::error!(
            run,
            phase,
            "the earlier phases left nothing to start this phase with"
        );
        self.finish(run, RunStatus::Failed).await;
    }

    /// Starts `phase` of `run` with what the earlier phases left in it.
    pub(super) async fn start(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: &str,
        phase: step::Start,
    ) {
        let Some(active) = self.runs.get(run) else {
            return;
        };
        let request = active.record.request.clone();
        let exec = self.exec();
        match phase {
            step::Start::Publish => {
                let (Some(mut spec), Some(made)) =
                    (request.publish.clone(), active.record.change.clone())
                else {
                    return self.lost(run, "publish").await;
                };
                // The local forge's CI runs the change's own tests unless told.
                if spec.ci.is_none() {
                    spec.ci = request.change.as_ref().and_then(|c| c.test.clone());
                }
                let deadline = duration::sum(&[spec.ci_budget, DEPLOY_DEADLINE * 2, SLACK]);
                let title = change_title(&request);
                let work: BoxFuture<'static, PhaseOutcome> = Box::pin(async move {
                    let out = forge::publish(
                        &spec,
                        &made.repo,
                        &made.branch,
                        &made.base,
                        &title,
                        &made.commit,
                    )
                    .await;
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
            step::Start::Guard => self.begin_guard(myself, run).await,
        }
    }

    /// Opens a run for `request` (refused when it is invalid or its target is busy) and
    /// starts its first phase: `change` when it asks for one, else `resolve`.
    /// Opens a run of `request`: checked, stored with its target's lock (refused `Busy` when
    /// another run holds it, on any att), and started here — or, for `owner` (another node,
    /// the one that runs the target's service), stored `requested` with the lock in that
    /// node's name, for it to start ([`BootstrapState::start_requested`]).
    pub(super) async fn open(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        request: RunRequest,
        owner: Option<String>,
        reply: RpcReplyPort<Result<String, Refused>>,
    ) {
        if let Err(e) = request.check() {
            let _ = reply.send(Err(Refused::Invalid(e.to_string())));
            return;
        }
        if request.target == SELF && self.args.launcher.is_none() {
            let _ = reply.send(Err(Refused::Invalid(
                "target `self` needs att to run under `att launch`, which performs \
                 the switch"
                    .into(),
            )));
            return;
        }
        if request.target != SELF && service_name(&request.target).is_none() {
            let _ = reply.send(Err(Refused::Invalid(format!(
                "target `{}` must be `service:<name>` or `self`",
                request.target
            ))));
            return;
        }
        let id = uuid_like();
        let mut record = RunRecord::new(id.clone(), request.clone(), OffsetDateTime::now_utc());
        if owner.is_some() {
            record.status = RunStatus::Requested;
        }
        let holder = owner.as_deref().unwrap_or(&self.args.node);
        match self.args.store.open_run(&record, holder).await {
            Ok(Ok(())) => {}
            Ok(Err(holder)) => {
                let _ = reply.send(Err(Refused::Busy(holder)));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(Refused::Store(e.to_string())));
                return;
            }
        }
        if let Some(node) = owner {
            let _ = reply.send(Ok(id.clone()));
            self.args.events.emit(
                NewEvent::new(
                    "bootstrap.requested",
                    json!({"run_id": id, "target": record.target, "node": node,
                           "principal": record.request.requested_by}),
                )
                .correlated(&id),
            );
            return;
        }
        self.runs.insert(id.clone(), active_run(record, None));
        let _ = reply.send(Ok(id.clone()));
        self.launch(myself, &id, request).await;
    }

    /// Starts a run asked of another att for this node (stored `requested`, its lock in this
    /// node's name): from now on it is this node's, as if asked here.
    pub(super) async fn start_requested(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        mut record: RunRecord,
    ) {
        record.status = RunStatus::Running;
        record.updated_at = OffsetDateTime::now_utc();
        let (id, request) = (record.id.clone(), record.request.clone());
        tracing::info!(run = %id, target = %record.target, "starting a run asked of another att");
        self.save(&record).await;
        self.runs.insert(id.clone(), active_run(record, None));
        self.launch(myself, &id, request).await;
    }

    /// Begins an opened run's first phase: `change` when it makes one, else `resolve`.
    async fn launch(&mut self, myself: &ActorRef<BootstrapMsg>, id: &str, request: RunRequest) {
        let id = id.to_owned();
        match request.change.clone() {
            Some(spec) => {
                let deadline = duration::sum(&[spec.test_timeout, DEPLOY_DEADLINE, SLACK]);
                let work = change_work(
                    self.args.data_dir.clone(),
                    self.args.directory.clone(),
                    self.args.self_build.clone(),
                    request,
                    id.clone(),
                );
                self.begin(myself, &id, Phase::Change, deadline, work).await;
            }
            None => self.begin_resolve(myself, &id, request).await,
        }
    }

    /// Cancels `run`: its worker is stopped; a run whose deploy had begun is rolled back
    /// (verified) when a rollback target is known, else it ends `cancelled`.
    pub(super) async fn cancel(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        run: String,
        reply: RpcReplyPort<Result<(), CancelRefused>>,
    ) {
        let Some(active) = self.runs.get_mut(&run) else {
            let _ = reply.send(Err(CancelRefused::NotRunning));
            return;
        };
        if active.phase == Phase::Rollback {
            let _ = reply.send(Err(CancelRefused::RollingBack));
            return;
        }
        active.cancelled = true;
        if let Some(w) = active.worker.take() {
            self.workers.remove(&w.get_id());
            w.kill();
        }
        let phase = active.phase;
        if phase == Phase::Change
            && let Some(spec) = active.record.request.change.clone()
        {
            let (data, run) = (self.args.data_dir.clone(), run.clone());
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
        let rollback = active
            .resolution
            .as_ref()
            .and_then(|r| r.rollback_to.clone());
        let then = step::on_cancel(phase, rollback.is_some());
        let request = active.record.request.clone();
        let _ = reply.send(Ok(()));
        if let Some(r) = self.end_phase(&run, PhaseStatus::Failed, Some("cancelled".into())) {
            self.event(&r, phase, "cancelled", None);
        }
        match rollback.filter(|_| then == step::OnCancel::RollBack) {
            Some(to) => {
                let job = self.build_job(&run, &to);
                let revert = self.revert_job(&run);
                let deadline = duration::sum(&[
                    DEPLOY_DEADLINE,
                    job.as_ref().map_or(Duration::ZERO, |j| j.spec.timeout),
                    request.watchdog_span(),
                    request.health_deadline,
                    revert_span(revert.as_ref()),
                    SLACK,
                ]);
                let work = rollback_work(self.exec(), request, to, job, revert);
                self.begin(myself, &run, Phase::Rollback, deadline, work)
                    .await;
            }
            None => self.finish(&run, RunStatus::Cancelled).await,
        }
    }
}

/// A change's title: its commit message's first line.
fn change_title(request: &RunRequest) -> String {
    request
        .change
        .as_ref()
        .map(|c| c.message.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// How long a revert may add to a rollback: a push and its CI wait.
pub(super) fn revert_span(revert: Option<&RevertJob>) -> Duration {
    revert.map_or(Duration::ZERO, |j| {
        duration::sum(&[j.spec.ci_budget, DEPLOY_DEADLINE])
    })
}
