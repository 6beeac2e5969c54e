//! The step of a release run: given the phase that just ended, whether it succeeded, and
//! what the run asked for, what comes next — start another phase, finish the run, or hand a
//! failure to the rollback [`policy`](crate::policy). Pure (no actor, no I/O): the bootstrap
//! actor records the outcome, asks [`next`], and does what it says.
//!
//! ```text
//! change ─▶ [publish] ─▶ resolve ─▶ [build] ─▶ deploy ─▶ watchdog ─▶ health ─▶ [guard] ─▶ ok
//!   │           │           │          │   (build_only: ok)         │          │        │
//!   └───────────┴───────────┴──────────┴─▶ failed  deploy/watchdog/health/guard failure ─▶ policy
//! rollback ─▶ failed (cancelled when the run was cancelled)
//! ```
//!
//! Two more decisions live here for the same reason: what a cancelled run does
//! ([`on_cancel`]: roll back once something was deployed and a target is known, else end),
//! and what a run a previous att left `running` becomes ([`recover`]) — and which such runs
//! a node of a cluster takes on ([`holder`], [`concludes`]):
//!
//! | who holds the run's target lock           | concluded here?                        |
//! |-------------------------------------------|----------------------------------------|
//! | this node (its run before a restart)      | yes, by [`recover`]                    |
//! | an unknown node (an older att's run)      | yes, by [`recover`]                    |
//! | a live node                               | no: it is running it                   |
//! | a dead node, deploy not begun             | yes: `interrupted`, nothing of it ran  |
//! | a dead node, deploy begun                 | no: left to that node's return, the    |
//! |                                           | only one that sees what its target runs|
//!
//! A run asked of an att that does not run the target's service is stored `requested`, its
//! lock naming the node that does; who does what with it is [`requested`]'s table:
//!
//! | who holds a `requested` run's lock        | here                                   |
//! |-------------------------------------------|----------------------------------------|
//! | this node                                 | it is started (it was asked of us)     |
//! | a live node, asked within `pickup_within` | nothing: that node starts it           |
//! | a live node, asked longer ago             | concluded `interrupted`: never started |
//! | a dead or unknown node                    | concluded `interrupted`: nothing ran   |

use std::time::Duration;

use time::OffsetDateTime;

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
    /// The run guards its release after the health gate (`guard_period` > 0, a service).
    pub guard: bool,
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
    /// The live release is watched for the guard period.
    Guard,
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
        (Health, true) if facts.guard => Next::Start(Start::Guard),
        (Health, true) => Next::Finish(RunStatus::Succeeded),
        (Health, false) => Next::Fail(FailureClass::HealthFailure),
        (Guard, true) => Next::Finish(RunStatus::Succeeded),
        (Guard, false) => Next::Fail(FailureClass::GuardFailure),
        // A failed rollback leaves the target failed; it is never retried.
        (Rollback, _) if facts.cancelled => Next::Finish(RunStatus::Cancelled),
        (Rollback, _) => Next::Finish(RunStatus::Failed),
    }
}

/// What a cancelled run does once its worker is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCancel {
    /// Something was deployed and a rollback target is known: roll back (verified).
    RollBack,
    /// End the run `cancelled`: nothing was deployed, or there is nothing to go back to.
    End,
}

/// What follows cancelling a run during `phase`, when a rollback target is known or not.
pub fn on_cancel(phase: Phase, rollback_known: bool) -> OnCancel {
    use Phase::*;
    match phase {
        // Before `deploy` the live release was never touched.
        Change | Publish | Resolve | Build => OnCancel::End,
        Deploy | RestartWatchdog | Health | Guard | Rollback if rollback_known => {
            OnCancel::RollBack
        }
        Deploy | RestartWatchdog | Health | Guard | Rollback => OnCancel::End,
    }
}

/// What is known of a run a previous att left `running` (it was killed mid-run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    /// The phase that was running when att went away.
    pub interrupted: Option<Phase>,
    /// The `deploy` phase had started.
    pub deploy_begun: bool,
    /// The release it deploys is registered.
    pub deployed_known: bool,
    /// The release it would roll back to is registered.
    pub rollback_known: bool,
    /// The target runs the deployed release now.
    pub runs_deployed: bool,
}

/// What a run left `running` becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// End it `interrupted`: the old release still runs.
    Interrupted,
    /// Run `health` again; the policy applies to its outcome.
    Health,
    /// Run the rollback it was killed in again.
    Rollback,
    /// Resume the guard it was killed in, for what is left of it (at least one look).
    Guard,
    /// It was guarding, and the target no longer runs the deployed release: a guard
    /// failure, handed to the policy.
    GuardFailed,
}

/// The fate of a run a previous att left `running` (or `guarding`): a deploy that never
/// began or never took effect leaves the old release running (`interrupted`); a rollback
/// that was under way is done again; a guard that was under way resumes while the target
/// runs the deployed release, and has failed when it does not; otherwise
/// the deployed release runs and must pass `health`.
pub fn recover(left: Left) -> Recovery {
    if !(left.deploy_begun && left.deployed_known) {
        return Recovery::Interrupted;
    }
    if left.interrupted == Some(Phase::Rollback) && left.rollback_known {
        return Recovery::Rollback;
    }
    if left.interrupted == Some(Phase::Guard) {
        return if left.runs_deployed {
            Recovery::Guard
        } else {
            Recovery::GuardFailed
        };
    }
    if left.runs_deployed {
        Recovery::Health
    } else {
        Recovery::Interrupted
    }
}

/// Who holds the lock of a run this node does not execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// This node: its run, left by a previous att on it (a restart).
    ThisNode,
    /// No node is named: a run left by an att older than the locks.
    Unknown,
    /// A node heard within `live_within`: it runs the run.
    Live,
    /// A node not heard within `live_within` (or never).
    Dead,
}

/// Who `node` (a lock's holder, last heard at `heartbeat`) is to node `me` at `now`.
pub fn holder(
    node: &str,
    heartbeat: Option<OffsetDateTime>,
    me: &str,
    now: OffsetDateTime,
    live_within: Duration,
) -> Holder {
    if node == me {
        return Holder::ThisNode;
    }
    if node.is_empty() {
        return Holder::Unknown;
    }
    match heartbeat {
        Some(beat) if now - beat <= live_within => Holder::Live,
        _ => Holder::Dead,
    }
}

/// What a node does with a `requested` run (the second table in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// It was asked of this node: start it.
    Start,
    /// Another live node starts it.
    Wait,
    /// Nobody will start it: end it `interrupted` (after claiming its lock).
    Conclude,
}

/// What this node does with a run `requested` of `holder` `age` ago: a live holder gets
/// `pickup_within` to start it (it picks requests up within a second, and at every sweep).
pub fn requested(holder: Holder, age: Duration, pickup_within: Duration) -> Request {
    match holder {
        Holder::ThisNode => Request::Start,
        Holder::Live if age <= pickup_within => Request::Wait,
        Holder::Live | Holder::Dead | Holder::Unknown => Request::Conclude,
    }
}

/// Whether this node concludes a run whose lock `holder` holds (the table in the header).
pub fn concludes(holder: Holder, deploy_begun: bool) -> bool {
    match holder {
        Holder::ThisNode | Holder::Unknown => true,
        Holder::Live => false,
        Holder::Dead => !deploy_begun,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn a_node_concludes_its_own_runs_and_a_dead_nodes_runs_that_deployed_nothing() {
        let now = datetime!(2026-01-01 12:00:00 UTC);
        let within = Duration::from_secs(15);
        let ago = |s: i64| Some(now - time::Duration::seconds(s));
        let table = [
            // (holder node, heartbeat, who it is, concluded if deploy not begun / begun)
            ("node-me", ago(3600), Holder::ThisNode, true, true),
            ("node-me", None, Holder::ThisNode, true, true),
            ("", None, Holder::Unknown, true, true),
            ("node-b", ago(0), Holder::Live, false, false),
            ("node-b", ago(15), Holder::Live, false, false),
            // A clock ahead of ours.
            ("node-b", ago(-5), Holder::Live, false, false),
            ("node-b", ago(16), Holder::Dead, true, false),
            ("node-b", None, Holder::Dead, true, false),
        ];
        for (node, beat, who, before_deploy, after_deploy) in table {
            let h = holder(node, beat, "node-me", now, within);
            assert_eq!(h, who, "{node} {beat:?}");
            assert_eq!(concludes(h, false), before_deploy, "{who:?} before deploy");
            assert_eq!(concludes(h, true), after_deploy, "{who:?} after deploy");
        }
    }

    use super::*;

    #[test]
    fn a_requested_run_is_started_by_its_node_and_concluded_when_nobody_will() {
        let within = Duration::from_secs(30);
        let table = [
            (Holder::ThisNode, 0, Request::Start),
            // Asked of this node long ago (it was down): started now.
            (Holder::ThisNode, 3600, Request::Start),
            (Holder::Live, 0, Request::Wait),
            (Holder::Live, 30, Request::Wait),
            (Holder::Live, 31, Request::Conclude),
            (Holder::Dead, 0, Request::Conclude),
            (Holder::Unknown, 0, Request::Conclude),
        ];
        for (holder, age, want) in table {
            let got = requested(holder, Duration::from_secs(age), within);
            assert_eq!(got, want, "{holder:?} asked {age}s ago");
        }
    }

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
        let guard = Facts {
            guard: true,
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
            (Health, true, guard, Next::Start(Start::Guard)),
            (
                Health,
                false,
                guard,
                Next::Fail(FailureClass::HealthFailure),
            ),
            (Guard, true, guard, Next::Finish(RunStatus::Succeeded)),
            (Guard, false, guard, Next::Fail(FailureClass::GuardFailure)),
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

    #[test]
    fn a_cancelled_run_rolls_back_only_once_something_was_deployed_and_a_target_is_known() {
        use Phase::*;
        let table = [
            (Change, true, OnCancel::End),
            (Publish, true, OnCancel::End),
            (Resolve, true, OnCancel::End),
            (Build, true, OnCancel::End),
            (Deploy, true, OnCancel::RollBack),
            (RestartWatchdog, true, OnCancel::RollBack),
            (Health, true, OnCancel::RollBack),
            (Guard, true, OnCancel::RollBack),
            (Guard, false, OnCancel::End),
            (Deploy, false, OnCancel::End),
            (RestartWatchdog, false, OnCancel::End),
            (Health, false, OnCancel::End),
        ];
        for (phase, known, want) in table {
            assert_eq!(on_cancel(phase, known), want, "{phase:?} known={known}");
        }
    }

    #[test]
    fn a_run_left_running_is_interrupted_unless_its_deploy_took_effect_or_it_was_rolling_back() {
        let took = Left {
            interrupted: Some(Phase::Health),
            deploy_begun: true,
            deployed_known: true,
            rollback_known: true,
            runs_deployed: true,
        };
        let rolling = Left {
            interrupted: Some(Phase::Rollback),
            runs_deployed: false,
            ..took
        };
        let table = [
            (took, Recovery::Health),
            (
                Left {
                    interrupted: Some(Phase::Build),
                    deploy_begun: false,
                    ..took
                },
                Recovery::Interrupted,
            ),
            (
                Left {
                    deployed_known: false,
                    ..took
                },
                Recovery::Interrupted,
            ),
            (
                Left {
                    runs_deployed: false,
                    ..took
                },
                Recovery::Interrupted,
            ),
            (
                Left {
                    interrupted: Some(Phase::Deploy),
                    ..took
                },
                Recovery::Health,
            ),
            (rolling, Recovery::Rollback),
            (
                Left {
                    runs_deployed: true,
                    ..rolling
                },
                Recovery::Rollback,
            ),
            (
                Left {
                    rollback_known: false,
                    ..rolling
                },
                Recovery::Interrupted,
            ),
            (
                Left {
                    rollback_known: false,
                    runs_deployed: true,
                    ..rolling
                },
                Recovery::Health,
            ),
            (
                Left {
                    deploy_begun: false,
                    ..rolling
                },
                Recovery::Interrupted,
            ),
            (Left::default(), Recovery::Interrupted),
            // Killed while guarding: the guard resumes; a target that no longer runs the
            // release is a guard failure (for the policy), not an `interrupted` shrug.
            (
                Left {
                    interrupted: Some(Phase::Guard),
                    ..took
                },
                Recovery::Guard,
            ),
            (
                Left {
                    interrupted: Some(Phase::Guard),
                    runs_deployed: false,
                    ..took
                },
                Recovery::GuardFailed,
            ),
            (
                Left {
                    interrupted: Some(Phase::Guard),
                    deployed_known: false,
                    ..took
                },
                Recovery::Interrupted,
            ),
        ];
        for (left, want) in table {
            assert_eq!(recover(left), want, "{left:?}");
        }
    }
}
