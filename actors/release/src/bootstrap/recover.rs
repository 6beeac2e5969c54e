//! Recovery: the runs a previous att left `running` — this node before a restart, or a node
//! of the cluster that died — are concluded; and the runs other atts stored `requested` for
//! this node are started here ([`step::requested`](super::step::requested): a request
//! nobody will start is concluded too). Which runs this node may take on is decided by
//! [`step::holder`](super::step::holder) and [`step::concludes`](super::step::concludes),
//! what happens to each by [`step::recover`](super::step::recover); this module gathers
//! the facts (the target locks, the stored run, the releases, what the target runs now),
//! claims the run's lock and acts.

use ractor::ActorRef;
use time::OffsetDateTime;

use super::actor::{BootstrapState, DEPLOY_DEADLINE, SELF, SLACK, active_run, service_name};
use super::exec::{health_work, rollback_work};
use super::guard::GuardSettings;
use super::messages::BootstrapMsg;
use super::resolve::Resolution;
use super::step::{self, Holder, Recovery, Request};
use crate::change;
use crate::duration;
use crate::model::{Phase, PhaseStatus, ReleaseStatus, RunRecord, RunStatus, TargetLock};
use crate::service::actor::ServiceHandle;

impl BootstrapState {
    /// Concludes the runs whose target lock this node may take ([`step::concludes`]): its
    /// own runs a previous att left `running` or `guarding` (it was killed mid-run), runs of
    /// an unknown node (left by an att older than the locks), and the runs of a dead node
    /// whose deploy had not begun. Each lock is claimed before its run is touched
    /// ([`ReleaseStore::claim_lock`](crate::model::ReleaseStore::claim_lock)), so that of
    /// the nodes sweeping at once exactly one concludes a run. Called at start and then
    /// periodically (a node can die any time); how many runs it took on.
    ///
    /// Under today's rules ([`step::recover`]): a run whose deploy had not begun, or did
    /// not take effect (the service does not run the deployed release), is `interrupted`:
    /// the old release still runs. Otherwise the health phase is run again and the policy
    /// applies to its outcome; a run killed during its rollback does the rollback again; a
    /// run killed while guarding resumes its guard until the stored `guard_until`. Either
    /// way the target ends on a verified release or `failed`.
    pub(super) async fn recover(&mut self, myself: &ActorRef<BootstrapMsg>) -> usize {
        let locks = match self.args.store.target_locks().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "could not read the target locks to recover runs");
                return 0;
            }
        };
        let now = OffsetDateTime::now_utc();
        let mut found = 0;
        for lock in locks {
            if self.runs.contains_key(&lock.run_id) {
                continue;
            }
            let holder = step::holder(
                &lock.node,
                lock.heartbeat_at,
                &self.args.node,
                now,
                self.args.live_within,
            );
            let record = match self.args.store.get_run(&lock.run_id).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    tracing::warn!(run = %lock.run_id, target = %lock.target, "a target is locked by a run that is not stored");
                    continue;
                }
                Err(e) => {
                    tracing::error!(run = %lock.run_id, error = %e, "could not read a run to recover");
                    continue;
                }
            };
            if record.status == RunStatus::Requested {
                found += self.requested(myself, record, &lock, holder, now).await;
                continue;
            }
            if !step::concludes(holder, deploy_begun(&record)) {
                continue;
            }
            match self.args.store.claim_lock(&lock, &self.args.node).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(run = %lock.run_id, error = %e, "could not claim a run to recover");
                    continue;
                }
            }
            found += 1;
            if !record.status.is_open() {
                // Ended but its lock was left: let the target go.
                if let Err(e) = self.args.store.close_run(&record, &self.args.node).await {
                    tracing::error!(run = %record.id, error = %e, "could not let the target go");
                }
                continue;
            }
            let dead = (holder == Holder::Dead).then(|| lock.node.clone());
            self.recover_one(myself, record, dead).await;
        }
        found
    }

    /// A run `requested` of the node holding `lock` ([`step::requested`]): started when it
    /// is this node's, concluded `interrupted` when nobody will start it (its lock claimed
    /// first, so exactly once), left alone while its live node may still start it. 1 when
    /// it was concluded here.
    async fn requested(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        mut record: RunRecord,
        lock: &TargetLock,
        holder: Holder,
        now: OffsetDateTime,
    ) -> usize {
        let age: std::time::Duration = (now - record.created_at).try_into().unwrap_or_default();
        let pickup_within = self.args.live_within.saturating_mul(2);
        let fate = step::requested(holder, age, pickup_within);
        if fate == Request::Wait {
            return 0;
        }
        match self.args.store.claim_lock(lock, &self.args.node).await {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(e) => {
                tracing::error!(run = %lock.run_id, error = %e, "could not claim a requested run");
                return 0;
            }
        }
        if fate == Request::Start {
            self.start_requested(myself, record).await;
            return 0;
        }
        let why = if holder == Holder::Live {
            format!(
                "requested of node `{}`, which did not start it within {}s; concluded by node `{}`",
                lock.node,
                pickup_within.as_secs(),
                self.args.node
            )
        } else {
            format!(
                "requested of node `{}`, which stopped answering before starting it; concluded \
                 by node `{}`",
                lock.node, self.args.node
            )
        };
        let first = record.phases.first().map_or(Phase::Resolve, |p| p.phase);
        let p = record.phase_mut(first);
        p.status = PhaseStatus::Skipped;
        p.message = Some(why);
        p.ended_at = Some(now);
        let id = record.id.clone();
        self.runs.insert(id.clone(), active_run(record, None));
        self.finish(&id, RunStatus::Interrupted).await;
        1
    }

    /// Concludes one run left `running` (by this node, or by `dead`, a node that stopped
    /// answering): the facts gathered, [`step::recover`] decides.
    async fn recover_one(
        &mut self,
        myself: &ActorRef<BootstrapMsg>,
        mut record: RunRecord,
        dead: Option<String>,
    ) {
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
        let deploy_begun = deploy_begun(&record);
        if interrupted == Some(Phase::Change)
            && dead.is_none()
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
            p.message = Some(match &dead {
                Some(node) => format!(
                    "interrupted: node `{node}`, which ran it, stopped answering; concluded by \
                     node `{}`",
                    self.args.node
                ),
                None => "interrupted by a restart of att".into(),
            });
            p.ended_at = Some(OffsetDateTime::now_utc());
        }
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

/// Whether `record`'s deploy had begun.
fn deploy_begun(record: &RunRecord) -> bool {
    record
        .phases
        .iter()
        .any(|p| p.phase == Phase::Deploy && p.status != PhaseStatus::Pending)
}
