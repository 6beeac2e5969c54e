//! The step of a release run: given the phase that just ended, whether it succeeded, and
//! what the run asked for, what comes next — start another phase, finish the run, or hand a
//! failure to the rollback [`policy`](crate::policy). Pure (no actor, no I/O): the bootstrap
//! actor records the outcome, asks [`next`], and does what it says.
//!
//! ```text
//! change ─▶ [publish] ─▶ resolve ─▶ [build] ─▶ deploy ─▶ watchdog ─▶ health ─▶ succeeded
//!   │           │           │          │   (build_only: succeeded)  │          │
//!   └───────────┴───────────┴──────────┴─▶ failed      deploy/watchdog/health failure ─▶ policy
//! rollback ─▶ failed (cancelled when the run was cancelled)
//! ```

use crate::model::{Phase, RunStatus};
use crate::policy::FailureClass;

/// What the run asked for (and found) that the next step depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The request has a `publish` part (push, change request, CI, merge after `change`).
    pub publish: bool,
    /// The request builds without deploying.
    pub build_only: bool,
    /// The release to deploy has an artifact to build first.
    pub needs_build: bool,
    /// The run was cancelled on request.
    pub cancelled: bool,
}

/// A phase that follows another one (`change` and `rollback` are started otherwise: by the
/// request and by the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Push, open a change request, wait for CI, merge.
    Publish,
    /// Decide the deployed and rollback-target releases.
    Resolve,
    /// Build the deployed release's artifact.
    Build,
    /// Stop the live release, start the new one.
    Deploy,
    /// The new process must stay up.
    RestartWatchdog,
    /// The health probe must pass.
    Health,
}

/// What follows a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start this phase.
    Start(Start),
    /// End the run with this status.
    Finish(RunStatus),
    /// Something was deployed and failed: the policy decides whether to roll back.
    Fail(FailureClass),
}

/// What follows `ended` having succeeded (`ok`) or not.
pub fn next(ended: Phase, ok: bool, facts: Facts) -> Next {
    use Phase::*;
    match (ended, ok) {
        (Change, true) if facts.publish => Next::Start(Start::Publish),
        (Change | Publish, true) => Next::Start(Start::Resolve),
        (Resolve, true) if facts.needs_build => Next::Start(Start::Build),
        (Resolve | Build, true) if facts.build_only => Next::Finish(RunStatus::Succeeded),
        (Resolve | Build, true) => Next::Start(Start::Deploy),
        // Nothing was deployed yet: the live release runs on.
        (Change | Publish | Resolve | Build, false) => Next::Finish(RunStatus::Failed),
        (Deploy, true) => Next::Start(Start::RestartWatchdog),
        (Deploy, false) => Next::Fail(FailureClass::DeployFailure),
        (RestartWatchdog, true) => Next::Start(Start::Health),
        (RestartWatchdog, false) => Next::Fail(FailureClass::RestartWatchdogFailure),
        (Health, true) => Next::Finish(RunStatus::Succeeded),
        (Health, false) => Next::Fail(FailureClass::HealthFailure),
        // A failed rollback leaves the target failed; it is never retried.
        (Rollback, _) if facts.cancelled => Next::Finish(RunStatus::Cancelled),
        (Rollback, _) => Next::Finish(RunStatus::Failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_outcome_leads_where_the_pipeline_says() {
        let plain = Facts::default();
        let publish = Facts {
            publish: true,
            ..plain
        };
        let build = Facts {
            needs_build: true,
            ..plain
        };
        let build_only = Facts {
            build_only: true,
            ..plain
        };
        let both = Facts {
            build_only: true,
            needs_build: true,
            ..plain
        };
        let cancelled = Facts {
            cancelled: true,
            ..plain
        };
        use Phase::*;
        let table = [
            (Change, true, plain, Next::Start(Start::Resolve)),
            (Change, true, publish, Next::Start(Start::Publish)),
            (Change, false, publish, Next::Finish(RunStatus::Failed)),
            (Publish, true, publish, Next::Start(Start::Resolve)),
            (Publish, false, publish, Next::Finish(RunStatus::Failed)),
            (Resolve, true, plain, Next::Start(Start::Deploy)),
            (Resolve, true, build, Next::Start(Start::Build)),
            (
                Resolve,
                true,
                build_only,
                Next::Finish(RunStatus::Succeeded),
            ),
            (Resolve, true, both, Next::Start(Start::Build)),
            (Resolve, false, plain, Next::Finish(RunStatus::Failed)),
            (Build, true, build, Next::Start(Start::Deploy)),
            (Build, true, both, Next::Finish(RunStatus::Succeeded)),
            (Build, false, both, Next::Finish(RunStatus::Failed)),
            (Deploy, true, plain, Next::Start(Start::RestartWatchdog)),
            (
                Deploy,
                false,
                plain,
                Next::Fail(FailureClass::DeployFailure),
            ),
            (RestartWatchdog, true, plain, Next::Start(Start::Health)),
            (
                RestartWatchdog,
                false,
                plain,
                Next::Fail(FailureClass::RestartWatchdogFailure),
            ),
            (Health, true, plain, Next::Finish(RunStatus::Succeeded)),
            (
                Health,
                false,
                plain,
                Next::Fail(FailureClass::HealthFailure),
            ),
            (Rollback, true, plain, Next::Finish(RunStatus::Failed)),
            (Rollback, false, plain, Next::Finish(RunStatus::Failed)),
            (
                Rollback,
                true,
                cancelled,
                Next::Finish(RunStatus::Cancelled),
            ),
            (
                Rollback,
                false,
                cancelled,
                Next::Finish(RunStatus::Cancelled),
            ),
        ];
        for (ended, ok, facts, want) in table {
            assert_eq!(next(ended, ok, facts), want, "{ended:?} ok={ok} {facts:?}");
        }
    }
}
