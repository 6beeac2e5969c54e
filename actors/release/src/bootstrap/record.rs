//! Recording a phase's outcome: what each [`PhaseOutcome`](super::messages::PhaseOutcome)
//! writes into the run's result, what it leaves for the next phases, and the releases'
//! statuses it changes. The decision of what follows is not made here but in
//! [`step`](super::step).

use super::actor::BootstrapState;
use super::guard::GuardStatus;
use super::messages::PhaseOutcome;
use crate::model::{Phase, ReleaseStatus};
use crate::service::probe::HealthGate;

impl BootstrapState {
    /// Writes a phase's outcome into the run (its result fields, what the next phases need,
    /// the releases' statuses) and ends the phase; answers which phase ended and whether it
    /// succeeded.
    pub(super) async fn record_outcome(
        &mut self,
        run: &str,
        outcome: PhaseOutcome,
    ) -> (Phase, bool) {
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
                active.record.change = Some(made);
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
                        let message = match (&out.pr_url, out.merged) {
                            (Some(url), true) => format!("merged {url}"),
                            (Some(url), false) => format!("opened {url}; not merged"),
                            (None, _) => "pushed; no change request".to_owned(),
                        };
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
                // The guard as the run applies it, kept with the request: a run concluded
                // after a restart of att guards the same way.
                let request = &mut active.record.request;
                request.guard_period = Some(resolution.guard.period);
                request.guard_max_restarts = Some(resolution.guard.max_restarts);
                request.guard_failure_threshold = Some(resolution.guard.failure_threshold);
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
            PhaseOutcome::Guarded(outcome) => {
                let ok = outcome.is_ok();
                result.guard_status = if ok {
                    GuardStatus::Held
                } else {
                    GuardStatus::Failed
                };
                let reason = match outcome {
                    Ok(r) | Err(r) => r,
                };
                result.guard_reason = Some(reason.clone());
                result.success = ok;
                self.close_phase(run, ok, Some(reason));
                (Phase::Guard, ok)
            }
            PhaseOutcome::RolledBack(outcome, revert) => {
                if let Some(revert) = revert {
                    result.revert_pr_url = revert.pr_url;
                    result.revert_ci_status = revert.ci_status;
                    result.revert_failure = revert.failure;
                }
                let ok = outcome.is_ok();
                self.record_rollback(run, outcome).await;
                (Phase::Rollback, ok)
            }
        }
    }

    /// The health gate's verdict: the result, and on success the deployed release live
    /// (the one it replaced retired).
    pub(super) async fn record_health(&mut self, run: &str, gate: HealthGate) {
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
    pub(super) async fn record_rollback(&mut self, run: &str, outcome: Result<(), String>) {
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
}
