//! The bootstrap actor: runs the release pipeline for `service:<name>` targets and `self`,
//! one run per target at a time (BOOTSTRAP.md, "Phases"). This file is the thin shell — the
//! arguments, the state, and `handle()`, which hands each message to one method of the state
//! ([`run`](super::run), [`recover`](super::recover)).
//!
//! One run per target across the cluster: a run is opened by storing it together with its
//! target's lock ([`ReleaseStore::open_run`](crate::model::ReleaseStore::open_run)), which a
//! second run of the target — on this att or any other sharing the store — finds taken, and
//! its end lets the lock go in the same transaction as its last record. A run of a target
//! another node executes is opened the same way, `requested`, the lock in that node's name
//! (`BootstrapMsg::Request`); that node's sweep starts it.
//!
//! A run is a sequence of phase messages. Each phase's work runs in a worker actor linked to
//! the bootstrap actor, under a deadline: a worker that panics, fails or overruns is a failure
//! of that phase, and the bootstrap actor goes on with the next run. Every transition is
//! stored (the run record) and written to the event log with the run id as correlation id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use time::OffsetDateTime;

use super::launcher::Launcher;
use super::messages::{BootstrapMsg, failed_outcome};
use super::resolve::Resolution;
use super::worker::WorkerGo;
use crate::build::BuildSpec;
use crate::directory::ActorDirectory;
use crate::events::EventSink;
use crate::model::{Phase, ReleaseStore, RunRecord};
use crate::policy::RollbackLimit;

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
    /// This att's node id: the holder of the target locks its runs take (the store keeps
    /// one open run per target across every att sharing it).
    pub node: String,
    /// A node whose last heartbeat is older than this is dead: another node concludes its
    /// runs ([`recover`](super::recover)).
    pub live_within: Duration,
}

/// The target that is att itself.
pub const SELF: &str = "self";

/// A run under way.
pub(super) struct ActiveRun {
    pub(super) record: RunRecord,
    pub(super) resolution: Option<Resolution>,
    /// Cancelled on request: it ends `cancelled`.
    pub(super) cancelled: bool,
    pub(super) phase: Phase,
    pub(super) token: u64,
    pub(super) worker: Option<ActorRef<WorkerGo>>,
    /// The current phase's span (`release_phase`), open from its start to its end.
    pub(super) phase_span: Option<tracing::Span>,
    /// For `self`: the candidate's probe address once deployed.
    pub(super) candidate: Option<String>,
}

/// The bootstrap actor's state.
pub struct BootstrapState {
    pub(super) args: BootstrapArgs,
    /// The runs this node executes, by id. One run per target is the store's rule (its
    /// target locks), not this map's: it holds across every att sharing the store.
    pub(super) runs: HashMap<String, ActiveRun>,
    pub(super) workers: HashMap<ActorId, (String, u64)>,
    pub(super) next_token: u64,
}

/// The bootstrap actor.
pub struct BootstrapActor;

/// The service a `service:<name>` target names, when the name is valid.
pub(super) fn service_name(target: &str) -> Option<&str> {
    target
        .strip_prefix("service:")
        .filter(|n| att_gateway::upstream::valid_name(n))
}

/// A phase as events and records spell it.
pub(super) fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Resolve => "resolve",
        Phase::Change => "change",
        Phase::Publish => "publish",
        Phase::Build => "build",
        Phase::Deploy => "deploy",
        Phase::RestartWatchdog => "restart_watchdog",
        Phase::Health => "health",
        Phase::Guard => "guard",
        Phase::Rollback => "rollback",
    }
}

/// How long a deploy (a stop and a start) may take.
pub(super) const DEPLOY_DEADLINE: Duration = Duration::from_secs(60);
/// Room for the work around a phase's own waiting.
pub(super) const SLACK: Duration = Duration::from_secs(30);

/// A run just opened (or recovered), before any phase ran.
pub(super) fn active_run(record: RunRecord, resolution: Option<Resolution>) -> ActiveRun {
    ActiveRun {
        record,
        resolution,
        cancelled: false,
        phase: Phase::Resolve,
        token: 0,
        worker: None,
        phase_span: None,
        candidate: None,
    }
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
                state.open(&myself, *request, None, reply).await;
            }
            BootstrapMsg::Request(request, node, reply) => {
                state.open(&myself, *request, Some(node), reply).await;
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
                state.cancel(&myself, run, reply).await;
            }
            BootstrapMsg::Promote(run, reply) => {
                let _ = reply.send(state.promote(&run).await);
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

/// A run id: unique enough for one att, without a dependency.
pub(super) fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(OffsetDateTime::now_utc().unix_timestamp_nanos() as u128);
    let a = h.finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a);
    format!("run-{a:016x}{:08x}", h.finish() as u32)
}
