//! Recovery after a restart of att: the runs a previous att left `running` are concluded.
//! What happens to each is decided by [`step::recover`](super::step::recover); this module
//! gathers the facts (the stored run, the releases, what the target runs now) and acts.

use ractor::ActorRef;
use time::OffsetDateTime;

use super::actor::{BootstrapState, DEPLOY_DEADLINE, SELF, SLACK, active_run, service_name};
use super::exec::{health_work, rollback_work};
use super::guard::GuardSettings;
use super::messages::BootstrapMsg;
use super::resolve::Resolution;
use super::step::{self, Recovery};
use crate::change;
use crate::duration;
use crate::model::{Phase, PhaseStatus, ReleaseStatus, RunRecord, RunStatus};
use crate::service::actor::ServiceHandle;

impl BootstrapState {
    /// Concludes the runs a previous att left `running` or `guarding` (it was killed
    /// mid-run). A run whose deploy had not begun, or did not take effect (the service does
    /// not run the deployed release), is `interrupted`: the old release still runs. Otherwise
    /// the health phase is run again and the policy applies to its outcome; a run killed
    /// during its rollback does the rollback again; a run killed while guarding resumes its
    /// guard until the stored `guard_until`. Either way the target ends on a verified
    /// release or `failed`.
    pub(super) async fn recover(&mut self, myself: &ActorRef<BootstrapMsg>) -> usize {
        let runs = match self.args.store.list_runs(1000).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the runs to recover");
                return 0;
            }
        };
        let left: Vec<RunRecord> = runs
            .into_iter()
            .filter(|r| r.status.is_open() && !self.runs.contains_key(&r.id))
            .collect();
        let found = left.len();
        for record in left {
            self.recover_one(myself, record).await;
        }
        found
    }

    /// Concludes one run left `running`: the facts gathered, [`step::recover`] decides.
    async fn recover_one(&mut self, myself: &ActorRef<BootstrapMsg>, mut record: RunRecord) {
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
        let running_release = self.running_release(&target).await;
        let deploy_begun = record
            .phases
            .iter()
            .any(|p| p.phase == Phase::Deploy && p.status != PhaseStatus::Pending);
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
            p.message = Some("interrupted by a restart of att".into());
            p.ended_at = Some(OffsetDateTime::now_utc());
        }
        self.busy.insert(target.clone(), id.clone());
        let fate = step::recover(step::Left {
            interrupted,
            deploy_begun,
            deployed_known: deployed.is_some(),
            rollback_known: rollback_to.is_some(),
            runs_deployed: deployed
                .as_ref()
                .is_some_and(|d| running_release.as_deref() == Some(d.id.as_str())),
        });
        let (
            Some(deployed),
            Recovery::Health | Recovery::Rollback | Recovery::Guard | Recovery::GuardFailed,
        ) = (deployed, fate)
        else {
            // The deploy never began or never took effect: the old release still runs.
            self.runs.insert(id.clone(), active_run(record, None));
            return self.finish(&id, RunStatus::Interrupted).await;
        };
        let live_before = releases
            .iter()
            .find(|r| r.status == ReleaseStatus::Live && r.id != deployed.id)
            .cloned();
        // Stored before durations had ranges, maybe: clamped, so a phase cannot hang.
        let request = record.request.clone().clamped();
        let spec = match service_name(&target) {
            Some(name) => ServiceHandle::new(self.args.directory.clone(), name)
                .spec()
                .await
                .ok(),
            None => None,
        };
        let resolution = Resolution {
            deployed,
            rollback_to: rollback_to.clone(),
            source: "registry",
            live_before,
            service: None,
            guard: GuardSettings::effective(
                request.guard_period,
                request.guard_max_restarts,
                request.guard_failure_threshold,
                spec.as_ref(),
            ),
        };
        self.runs
            .insert(id.clone(), active_run(record, Some(resolution)));
        match (fate, rollback_to) {
            (Recovery::Rollback, Some(to)) => {
                // The change the run shipped is in its record: its revert is opened as a
                // rollback in one piece would have.
                let revert = self.revert_job(&id);
                let deadline = duration::sum(&[
                    DEPLOY_DEADLINE,
                    request.watchdog_span(),
                    request.health_deadline,
                    super::run::revert_span(revert.as_ref()),
                    SLACK,
                ]);
                let work = rollback_work(self.exec(), request, to, None, revert);
                self.begin(myself, &id, Phase::Rollback, deadline, work)
                    .await;
            }
            (Recovery::Guard, _) => self.begin_guard(myself, &id).await,
            (Recovery::GuardFailed, _) => self.guard_lost(myself, &id).await,
            _ => {
                let deadline = request.health_deadline.saturating_add(SLACK);
                let work = health_work(self.exec(), request, None);
                self.begin(myself, &id, Phase::Health, deadline, work).await;
            }
        }
    }

    /// The release `target` runs now, as its service (or for `self`, the launcher) says.
    async fn running_release(&self, target: &str) -> Option<String> {
        if target == SELF {
            return self.args.launcher.as_ref().and_then(|l| l.release.clone());
        }
        ServiceHandle::new(
            self.args.directory.clone(),
            service_name(target).unwrap_or_default(),
        )
        .status()
        .await
        .ok()
        .and_then(|s| s.release)
    }
}
