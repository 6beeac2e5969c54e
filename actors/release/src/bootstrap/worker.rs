//! The phase worker: a short-lived actor linked to the bootstrap actor that runs one phase's
//! work and reports its outcome. A worker that panics is a failed phase, not a dead actor.

use futures_util::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::messages::{BootstrapMsg, PhaseOutcome};
use crate::trace::MessageMeta;

/// The message a phase worker gets once: run the work.
pub struct WorkerGo;

impl MessageMeta for WorkerGo {
    fn kind(&self) -> &'static str {
        "run_phase"
    }
}

/// What a phase worker is started with.
pub struct WorkerArgs {
    pub(super) work: Option<BoxFuture<'static, PhaseOutcome>>,
    pub(super) boss: ActorRef<BootstrapMsg>,
    pub(super) run: String,
    pub(super) token: u64,
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
