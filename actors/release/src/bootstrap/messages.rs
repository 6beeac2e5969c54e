//! The bootstrap actor's vocabulary: the messages it handles, the replies a caller can get
//! ([`Refused`], [`CancelRefused`]), and [`PhaseOutcome`] — what a phase's worker reports,
//! including the outcome that stands for a worker that failed or overran.

use ractor::RpcReplyPort;

use super::resolve::Resolution;
use crate::change::{ChangeFailure, ChangeOutcome};
use crate::forge::PublishOutcome;
use crate::model::{Phase, Release, RunRecord, RunRequest};
use crate::service::probe::{self, HealthGate, Watchdog};
use crate::trace::MessageMeta;

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A run for the target is in progress (its id).
    Busy(String),
    /// The request cannot be run (no such service, say).
    Invalid(String),
    /// The store could not open the run (why).
    Store(String),
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
    /// `guard`: held (how), or why not.
    Guarded(Result<String, String>),
    /// `rollback`: verified healthy, or why not; and the revert of a shipped change, when
    /// the run shipped one.
    RolledBack(Result<(), String>, Option<Box<PublishOutcome>>),
    /// `change`: the commit made, or why not.
    Changed(Result<Box<ChangeOutcome>, ChangeFailure>),
    /// `publish`: what happened (a `failure` stops the run).
    Published(Box<PublishOutcome>),
}

/// Messages of the bootstrap actor.
pub enum BootstrapMsg {
    /// Start a run; answers its id.
    Start(Box<RunRequest>, RpcReplyPort<Result<String, Refused>>),
    /// Store a run for another node, the one that runs its target's service, which starts it
    /// (it is `requested` until then); answers its id.
    Request(
        Box<RunRequest>,
        String,
        RpcReplyPort<Result<String, Refused>>,
    ),
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
    /// End a run's guard now, successfully: the release is declared good.
    Promote(String, RpcReplyPort<Result<(), PromoteRefused>>),
}

/// Why a promote was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteRefused {
    /// No run with that id is in progress.
    NotRunning,
    /// The run is in progress but not guarding (its phase).
    NotGuarding(&'static str),
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
            Self::Request(..) => "request",
            Self::PhaseDone { .. } => "phase_done",
            Self::PhaseDeadline { .. } => "phase_deadline",
            Self::Active(..) => "active",
            Self::Recover(_) => "recover",
            Self::Cancel(..) => "cancel",
            Self::Promote(..) => "promote",
        }
    }

    fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::PhaseDone { run, .. } | Self::PhaseDeadline { run, .. } => Some(run),
            Self::Active(run, _) | Self::Cancel(run, _) | Self::Promote(run, _) => Some(run),
            Self::Start(..) | Self::Request(..) | Self::Recover(_) => None,
        }
    }
}

/// The outcome standing for a phase whose worker failed, panicked or overran.
pub(super) fn failed_outcome(phase: Phase, why: String) -> PhaseOutcome {
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
        Phase::Guard => PhaseOutcome::Guarded(Err(why)),
        Phase::Rollback => PhaseOutcome::RolledBack(Err(why), None),
    }
}
