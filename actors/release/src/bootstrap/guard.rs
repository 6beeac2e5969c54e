//! The post-deploy guard: protection after the run's gates. A release that passed its
//! restart watchdog and health gate is live, but it may still die a second later — every
//! watch window can be outlasted. The `guard` phase keeps watching it for `guard_period`
//! (default 3 min) while the run stays open (status `guarding`, the target busy):
//!
//! | seen during the guard | counts | the guard fails when |
//! |---|---|---|
//! | the process exited | exits | exits > `guard_max_restarts` (default 0) |
//! | the service gave up restarting (crash loop) | — | at once: `crash_loop` |
//! | the service stopped and will not restart | — | at once: its last exit |
//! | the health probe failed | misses in a row | misses ≥ `guard_failure_threshold` (default 3) |
//! | the health probe passed | misses reset to 0 | — |
//! | `guard_period` is over | — | never: the guard held |
//!
//! A failed guard is failure class `guard_failure`, handed to the rollback policy like any
//! other (switch `rollback_on_guard_failure`, default true). `POST …/runs/{id}/promote` ends
//! a guard early, successfully. The guard's end is stored in the run (`guard_until`), so a
//! guard interrupted by a killed att resumes for what is left of it, or, when that is
//! nothing, looks once and concludes.
//!
//! [`Watch`] is the table above as a pure state machine; `guard_work` is the loop that
//! feeds it what the service actor and the probe say. Settings come from the run request,
//! else the service's spec ([`GuardSettings::effective`]); `self` has no guard (the launcher
//! owns att's own switch).

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use ractor::ActorRef;
use time::OffsetDateTime;

use super::actor::{BootstrapState, SLACK, service_name};
use super::messages::{BootstrapMsg, PhaseOutcome, PromoteRefused};
use crate::directory::ActorDirectory;
use crate::duration::{self, Bounds};
use crate::model::{Phase, PhaseStatus, RunStatus};
use crate::policy::FailureClass;
use crate::service::actor::{ServiceHandle, ServiceState};
use crate::service::probe;
use crate::service::spec::ServiceSpec;

/// The range of `guard_period`: 0 (no guard) to a day.
pub const GUARD_PERIOD: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(24 * 3600));
/// The default `guard_period`.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(180);
/// The default `guard_failure_threshold`.
pub const DEFAULT_THRESHOLD: u32 = 3;
/// The most `guard_max_restarts` or `guard_failure_threshold` may be.
pub const MAX_COUNT: u32 = 1000;
/// The longest one probe of the guard may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// The guard a run applies, once the request and the target's spec are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// How long the release is watched after its health gate (zero: no guard).
    pub period: Duration,
    /// Exits of the release tolerated during the guard (the service restarts it).
    pub max_restarts: u32,
    /// Failed probes in a row that fail the guard.
    pub failure_threshold: u32,
}

impl GuardSettings {
    /// The request's settings, else the spec's (`None`: the target has no spec — `self`,
    /// which has no guard).
    pub fn effective(
        period: Option<Duration>,
        max_restarts: Option<u32>,
        failure_threshold: Option<u32>,
        spec: Option<&ServiceSpec>,
    ) -> Self {
        let Some(spec) = spec else {
            return Self {
                period: Duration::ZERO,
                max_restarts: 0,
                failure_threshold: DEFAULT_THRESHOLD,
            };
        };
        Self {
            period: period.unwrap_or(spec.guard_period),
            max_restarts: max_restarts.unwrap_or(spec.guard_max_restarts),
            failure_threshold: failure_threshold
                .unwrap_or(spec.guard_failure_threshold)
                .max(1),
        }
    }
}

/// What the guard saw once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The process runs (no probe configured, or none due).
    Alive,
    /// The health probe passed.
    ProbePassed,
    /// The health probe failed, with its reason.
    ProbeFailed(String),
    /// The process exited (`process_exited:3`, …).
    Exited(String),
    /// The service stopped restarting it: too many exits in its crash window.
    CrashLoop,
    /// The service is stopped and will not restart it (why).
    Stopped(String),
    /// The guard period is over.
    Over,
}

/// Where the guard stands after what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep watching.
    Watching,
    /// The period passed and the release held.
    Held,
    /// The release did not hold (the reason).
    Failed(String),
}

/// The guard's state: the module's table.
#[derive(Debug, Clone)]
pub struct Watch {
    settings: GuardSettings,
    exits: u32,
    misses: u32,
}

impl Watch {
    /// A guard with nothing seen yet.
    pub fn new(settings: GuardSettings) -> Self {
        Self {
            settings,
            exits: 0,
            misses: 0,
        }
    }

    /// Takes in what was seen; the verdict so far.
    pub fn see(&mut self, seen: Seen) -> Verdict {
        match seen {
            Seen::Alive => Verdict::Watching,
            Seen::ProbePassed => {
                self.misses = 0;
                Verdict::Watching
            }
            Seen::ProbeFailed(why) => {
                self.misses += 1;
                if self.misses >= self.settings.failure_threshold.max(1) {
                    Verdict::Failed(format!("probe_failed_{}_times:{why}", self.misses))
                } else {
                    Verdict::Watching
                }
            }
            Seen::Exited(why) => {
                self.exits += 1;
                if self.exits > self.settings.max_restarts {
                    Verdict::Failed(why)
                } else {
                    Verdict::Watching
                }
            }
            Seen::CrashLoop => Verdict::Failed("crash_loop".into()),
            Seen::Stopped(why) => Verdict::Failed(why),
            Seen::Over => Verdict::Held,
        }
    }
}

/// The `guard` phase's work for service `name`: watches it for `remaining` (at least one
/// look, so a guard resumed with nothing left still checks before it concludes), probing
/// every `interval`. `Ok(reason)` when it held, `Err(reason)` when not.
pub(super) fn guard_work(
    directory: ActorDirectory,
    name: String,
    settings: GuardSettings,
    interval: Duration,
    remaining: Duration,
) -> BoxFuture<'static, PhaseOutcome> {
    Box::pin(async move {
        let service = ServiceHandle::new(directory, &name);
        let verdict = watch(&service, settings, interval, remaining).await;
        PhaseOutcome::Guarded(match verdict {
            Verdict::Failed(why) => Err(why),
            _ => Ok("held".into()),
        })
    })
}

async fn watch(
    service: &ServiceHandle,
    settings: GuardSettings,
    interval: Duration,
    remaining: Duration,
) -> Verdict {
    let until = duration::deadline(tokio::time::Instant::now(), remaining);
    let mut state = Watch::new(settings);
    // The process watched and the probe that reaches it (its private probe socket, when it
    // has one), taken together: a restarted process comes with its own.
    let mut running = service.running().await.ok().flatten();
    // The pid whose exit was counted: the service may still hand it out until it has
    // seen the exit itself.
    let mut counted: Option<u32> = None;
    loop {
        let seen = match &running {
            Some(r) => match r.process.exited() {
                Some(exit) => {
                    counted = Some(r.process.pid());
                    running = None;
                    Seen::Exited(exit.reason())
                }
                None => match &r.health {
                    Some(h) => {
                        let limit = PROBE_LIMIT.min(interval.max(Duration::from_secs(1)));
                        let r = probe::check(h, limit).await;
                        if r.healthy {
                            Seen::ProbePassed
                        } else {
                            Seen::ProbeFailed(r.reason)
                        }
                    }
                    None => Seen::Alive,
                },
            },
            None => match service.status().await {
                Ok(s) => match s.state {
                    ServiceState::CrashLoop => Seen::CrashLoop,
                    ServiceState::Stopped | ServiceState::FailedToStart => Seen::Stopped(
                        s.last_exit
                            .map(|e| e.reason())
                            .or(s.error)
                            .unwrap_or_else(|| "process_not_running".into()),
                    ),
                    ServiceState::Running | ServiceState::Restarting => {
                        running = service
                            .running()
                            .await
                            .ok()
                            .flatten()
                            .filter(|r| Some(r.process.pid()) != counted);
                        Seen::Alive
                    }
                },
                Err(e) => Seen::Stopped(format!("the service did not answer: {e}")),
            },
        };
        let verdict = state.see(seen);
        if verdict != Verdict::Watching {
            return verdict;
        }
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return state.see(Seen::Over);
        }
        let pause = interval.min(left);
        match &running {
            // An exit ends the pause at once; it is counted by the next look.
            Some(r) => {
                let _ = r.process.wait_for(pause).await;
            }
            None => tokio::time::sleep(pause).await,
        }
    }
}

impl BootstrapState {
    /// Starts (or, after a restart of att, resumes) the guard of `run`: until the stored
    /// `guard_until`, set now when the guard first begins.
    pub(super) async fn begin_guard(&mut self, myself: &ActorRef<BootstrapMsg>, run: &str) {
        let Some(active) = self.runs.get_mut(run) else {
            return;
        };
        let Some(settings) = active.resolution.as_ref().map(|r| r.guard) else {
            return self.lost(run, "guard").await;
        };
        let now = OffsetDateTime::now_utc();
        let result = &mut active.record.result;
        let until = *result
            .guard_until
            .get_or_insert_with(|| duration::later(now, settings.period));
        // Past its end (att was down through it): one look, then the guard concludes.
        let remaining = Duration::try_from(until - now).unwrap_or(Duration::ZERO);
        result.guard_status = GuardStatus::Guarding;
        let request = &active.record.request;
        let name = service_name(&request.target).unwrap_or_default().to_owned();
        let interval = request.health_check_interval;
        let deadline = duration::sum(&[remaining, PROBE_LIMIT, SLACK]);
        let work = guard_work(
            self.args.directory.clone(),
            name,
            settings,
            interval,
            remaining,
        );
        self.begin(myself, run, Phase::Guard, deadline, work).await;
    }

    /// A guard found broken after a restart of att: the target no longer runs the guarded
    /// release. A guard failure, handed to the policy.
    pub(super) async fn guard_lost(&mut self, myself: &ActorRef<BootstrapMsg>, run: &str) {
        let why = "the target no longer runs the guarded release";
        if let Some(active) = self.runs.get_mut(run) {
            active.phase = Phase::Guard;
            let result = &mut active.record.result;
            result.guard_status = GuardStatus::Failed;
            result.guard_reason = Some(why.into());
            result.success = false;
            let p = active.record.phase_mut(Phase::Guard);
            p.status = PhaseStatus::Failed;
            p.message = Some(why.into());
        }
        self.failed(myself, run, FailureClass::GuardFailure).await;
    }

    /// Ends the guard of `run` now, successfully (`POST …/promote`): the release stays
    /// live, the run succeeds, the target is free.
    pub(super) async fn promote(&mut self, run: &str) -> Result<(), PromoteRefused> {
        let Some(active) = self.runs.get_mut(run) else {
            return Err(PromoteRefused::NotRunning);
        };
        if active.phase != Phase::Guard
            || active.record.phase_mut(Phase::Guard).status != PhaseStatus::Running
        {
            return Err(PromoteRefused::NotGuarding(super::actor::phase_name(
                active.phase,
            )));
        }
        if let Some(w) = active.worker.take() {
            self.workers.remove(&w.get_id());
            w.kill();
        }
        active.record.result.guard_status = GuardStatus::Promoted;
        active.record.result.guard_reason = Some("promoted".into());
        let message = Some("promoted: the guard was ended early".to_owned());
        if let Some(r) = self.end_phase(run, PhaseStatus::Succeeded, message) {
            self.event(&r, Phase::Guard, "succeeded", Some("promoted"));
        }
        self.finish(run, RunStatus::Succeeded).await;
        Ok(())
    }
}

/// `#[serde(with = "…::serde_opt")]`: an optional duration as `"30s"`-style text.
pub mod serde_opt {
    use super::*;

    /// Writes `d` as text, or nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&duration::text(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads text, or nothing.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| duration::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What the guard's end is recorded as in the run's result (`guard_status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GuardStatus {
    /// Not reached (or no guard: `guard_period` 0, or the `self` target).
    #[default]
    NotRun,
    /// Watching now.
    Guarding,
    /// The period passed and the release held.
    Held,
    /// Ended early by `POST …/promote`.
    Promoted,
    /// The release did not hold (see `guard_reason`).
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_restarts: u32, failure_threshold: u32) -> GuardSettings {
        GuardSettings {
            period: Duration::from_secs(60),
            max_restarts,
            failure_threshold,
        }
    }

    #[test]
    fn the_guard_fails_on_what_its_table_says_and_holds_otherwise() {
        use Seen::*;
        let fail = |s: &str| Verdict::Failed(s.to_owned());
        let exit = || Exited("process_exited:3".into());
        let miss = || ProbeFailed("http_status:500".into());
        // (settings, what was seen in order, the verdict after the last)
        let table: Vec<(GuardSettings, Vec<Seen>, Verdict)> = vec![
            (
                settings(0, 3),
                vec![Alive, ProbePassed, Over],
                Verdict::Held,
            ),
            (
                settings(0, 3),
                vec![ProbePassed, exit()],
                fail("process_exited:3"),
            ),
            (settings(1, 3), vec![exit()], Verdict::Watching),
            (
                settings(1, 3),
                vec![exit(), Alive, exit()],
                fail("process_exited:3"),
            ),
            (settings(2, 3), vec![exit(), exit(), Over], Verdict::Held),
            (settings(5, 3), vec![exit(), CrashLoop], fail("crash_loop")),
            (
                settings(5, 3),
                vec![Stopped("process_exited:0".into())],
                fail("process_exited:0"),
            ),
            (settings(0, 3), vec![miss(), miss()], Verdict::Watching),
            (
                settings(0, 3),
                vec![miss(), miss(), miss()],
                fail("probe_failed_3_times:http_status:500"),
            ),
            // A pass in between resets the count: failures must be consecutive.
            (
                settings(0, 3),
                vec![miss(), miss(), ProbePassed, miss(), miss()],
                Verdict::Watching,
            ),
            (
                settings(0, 1),
                vec![miss()],
                fail("probe_failed_1_times:http_status:500"),
            ),
            // A threshold of 0 is read as 1: a failed probe is never ignored outright.
            (
                settings(0, 0),
                vec![miss()],
                fail("probe_failed_1_times:http_status:500"),
            ),
        ];
        for (settings, seen, want) in table {
            let mut w = Watch::new(settings);
            let label = format!("{settings:?} {seen:?}");
            let mut last = Verdict::Watching;
            for s in seen {
                last = w.see(s);
            }
            assert_eq!(last, want, "{label}");
        }
    }

    #[test]
    fn the_request_beats_the_spec_and_self_has_no_guard() {
        let spec: ServiceSpec =
            serde_json::from_value(serde_json::json!({"name": "web", "command": "x"}))
                .expect("spec");
        let defaults = GuardSettings::effective(None, None, None, Some(&spec));
        assert_eq!(
            defaults,
            GuardSettings {
                period: DEFAULT_PERIOD,
                max_restarts: 0,
                failure_threshold: DEFAULT_THRESHOLD
            }
        );
        let asked =
            GuardSettings::effective(Some(Duration::from_secs(5)), Some(2), Some(4), Some(&spec));
        assert_eq!(
            (asked.period, asked.max_restarts, asked.failure_threshold),
            (Duration::from_secs(5), 2, 4)
        );
        let itself = GuardSettings::effective(Some(Duration::from_secs(5)), None, None, None);
        assert_eq!(itself.period, Duration::ZERO);
    }
}
