//! One-for-one supervision for att's actors.
//!
//! A [`Supervisor`] starts children from [`ChildSpec`]s (a spec can start its child again, as
//! ractor's `Arguments` cannot be cloned), restarts a child that fails or exits with an
//! exponential back-off, and gives up on a child that exceeds its meltdown budget — recording
//! why in the [`ActorDirectory`] and in the event log. It never stops itself because a child
//! died (ractor's default). On stop it stops its children one by one, newest first, and waits
//! for each: children-first shutdown.
//!
//! Hand-written rather than `ractor-supervisor`: see `todo/decisions.md`.

mod budget;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use serde_json::json;

pub use budget::{RestartBudget, RestartDecision, RestartPolicy};

use crate::directory::{ActorDirectory, ActorState};
use crate::events::{EventSink, NewEvent};
use crate::mailbox::{self, MailboxError};
use crate::trace::{self, MessageMeta};

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always: after a failure and after a normal exit.
    Permanent,
    /// Only after a failure.
    Transient,
    /// Never.
    Temporary,
}

/// Where a child is being started: the parent it links to and the directory it lives in.
pub struct StartContext {
    /// The directory of this att instance.
    pub directory: ActorDirectory,
    /// The child's name.
    pub name: String,
    /// The supervisor's name.
    pub parent_name: String,
    /// The supervisor's cell, to link the child to.
    pub parent: ActorCell,
}

type StartFn =
    Arc<dyn Fn(StartContext) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;

/// How to (re)start one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// The child's unique name in this att instance.
    pub name: String,
    /// When to restart it.
    pub restart: Restart,
    /// Back-off and meltdown budget.
    pub policy: RestartPolicy,
    start: StartFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent child made by `make`, which is called again for every restart.
    pub fn new<A, F>(name: impl Into<String>, policy: RestartPolicy, make: F) -> Self
    where
        A: Actor,
        A::Msg: MessageMeta,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let start: StartFn = Arc::new(move |ctx: StartContext| {
            let (actor, args) = make();
            Box::pin(async move {
                let parent = Some((ctx.parent_name.as_str(), ctx.parent));
                trace::spawn(&ctx.directory, &ctx.name, parent, actor, args)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        });
        Self {
            name: name.into(),
            restart: Restart::Permanent,
            policy,
            start,
        }
    }

    /// The same spec with another restart kind.
    pub fn with_restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }
}

/// Errors a supervisor reports to the caller of its handle.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The child's `pre_start` failed.
    #[error("could not start `{name}`: {reason}")]
    StartFailed {
        /// The child.
        name: String,
        /// Why.
        reason: String,
    },
    /// The supervisor could not be reached.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
}

/// Messages a supervisor handles.
pub enum SupervisorMsg {
    /// Start a child; a running child of the same name is stopped first (replaced).
    StartChild(ChildSpec, RpcReplyPort<Result<(), String>>),
    /// Stop a child for good and forget it; answers whether it existed.
    StopChild(String, RpcReplyPort<bool>),
    /// Back-off elapsed: start the child again (if it is still the same generation).
    Restart {
        /// The child.
        name: String,
        /// Guards against a stale timer restarting a replaced child.
        generation: u64,
    },
}

impl MessageMeta for SupervisorMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::StartChild(..) => "start_child",
            Self::StopChild(..) => "stop_child",
            Self::Restart { .. } => "restart",
        }
    }
}

/// What a supervisor is started with.
pub struct SupervisorArgs {
    /// This supervisor's name (for its children's `parent`).
    pub name: String,
    /// The directory of this att instance.
    pub directory: ActorDirectory,
    /// Where restarts and meltdowns are reported.
    pub events: Arc<dyn EventSink>,
    /// Children started in order before the supervisor runs; a failure fails its start.
    pub children: Vec<ChildSpec>,
    /// How long each child gets to stop during shutdown before it is killed.
    pub stop_timeout: Duration,
    /// The children started at run time, kept outside the actor so that a restarted
    /// supervisor starts them again (pass the same value to every incarnation).
    pub kept: KeptChildren,
}

/// The specs of a supervisor's running children, by name, in start order. It outlives the
/// supervisor actor: ractor stops a supervisor's children with it, and without this a
/// restarted `upstreams` supervisor would come back empty while the gateway still lists its
/// upstreams. Only the supervisor itself writes it.
#[derive(Clone, Default)]
pub struct KeptChildren(Arc<std::sync::Mutex<Vec<ChildSpec>>>);

impl std::fmt::Debug for KeptChildren {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl KeptChildren {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ChildSpec>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn keep(&self, spec: &ChildSpec) {
        let mut kept = self.lock();
        kept.retain(|s| s.name != spec.name);
        kept.push(spec.clone());
    }

    fn forget(&self, name: &str) {
        self.lock().retain(|s| s.name != name);
    }

    fn specs(&self) -> Vec<ChildSpec> {
        self.lock().clone()
    }

    /// The kept children's names, in start order.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|s| s.name.clone()).collect()
    }
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    budget: RestartBudget,
    generation: u64,
    removal: Option<Removal>,
}

enum Removal {
    /// Stopped for good; answer the caller when it is gone.
    Stop(RpcReplyPort<bool>),
    /// Stopped to be replaced by a new spec.
    Replace(ChildSpec, RpcReplyPort<Result<(), String>>),
}

/// The supervisor's state.
pub struct SupervisorState {
    name: String,
    directory: ActorDirectory,
    events: Arc<dyn EventSink>,
    children: Vec<Child>,
    stop_timeout: Duration,
    next_generation: u64,
    kept: KeptChildren,
}

/// The supervisor actor.
pub struct Supervisor;

impl SupervisorState {
    fn index_of_cell(&self, cell: &ActorCell) -> Option<usize> {
        let id = cell.get_id();
        self.children
            .iter()
            .position(|c| c.cell.as_ref().is_some_and(|x| x.get_id() == id))
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.name == name)
    }

    async fn spawn(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        spec: &ChildSpec,
    ) -> Result<ActorCell, String> {
        let ctx = StartContext {
            directory: self.directory.clone(),
            name: spec.name.clone(),
            parent_name: self.name.clone(),
            parent: myself.get_cell(),
        };
        (spec.start)(ctx).await.map_err(|e| e.to_string())
    }

    async fn start_new(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<(), String> {
        match self.spawn(myself, &spec).await {
            Ok(cell) => {
                self.next_generation += 1;
                self.kept.keep(&spec);
                self.children.push(Child {
                    spec,
                    cell: Some(cell),
                    budget: RestartBudget::default(),
                    generation: self.next_generation,
                    removal: None,
                });
                Ok(())
            }
            Err(reason) => {
                self.directory
                    .failed(&spec.name, &reason, ActorState::Stopped);
                Err(reason)
            }
        }
    }

    /// A child exited or failed on its own: restart it after a back-off, or give up.
    fn on_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        idx: usize,
        reason: String,
        failed: bool,
    ) {
        let child = &mut self.children[idx];
        child.cell = None;
        let name = child.spec.name.clone();
        let wanted = match child.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => failed,
            Restart::Temporary => false,
        };
        if !wanted {
            self.directory.set_state(&name, ActorState::Stopped);
            self.kept.forget(&name);
            self.children.remove(idx);
            return;
        }
        match child.budget.on_exit(Instant::now(), &child.spec.policy) {
            RestartDecision::Restart { delay, attempt } => {
                self.directory
                    .failed(&name, &reason, ActorState::Restarting);
                tracing::warn!(actor = %name, %reason, ?delay, "child exited; restarting after back-off");
                self.events.emit(NewEvent::new(
                    "actor.failed",
                    json!({
                        "actor": name, "supervisor": self.name, "reason": reason,
                        "restart_in_ms": delay.as_millis() as u64, "attempt": attempt,
                    }),
                ));
                let generation = child.generation;
                myself.send_after(delay, move || SupervisorMsg::Restart { name, generation });
            }
            RestartDecision::Meltdown { exits } => {
                let window = child.spec.policy.window;
                let why = format!(
                    "meltdown: {exits} exits within {window:?} exceed the budget of {}; not restarting. Last: {reason}",
                    child.spec.policy.max_restarts
                );
                tracing::error!(actor = %name, %why, "child melted down");
                self.directory.failed(&name, &why, ActorState::Failed);
                self.events.emit(NewEvent::new(
                    "actor.meltdown",
                    json!({
                        "actor": name, "supervisor": self.name, "reason": reason,
                        "exits": exits, "window_ms": window.as_millis() as u64,
                        "max_restarts": child.spec.policy.max_restarts,
                    }),
                ));
            }
        }
    }

    /// A child we asked to stop is gone: forget it, answer, maybe start its replacement.
    async fn on_removed(&mut self, myself: &ActorRef<SupervisorMsg>, idx: usize) {
        let child = self.children.remove(idx);
        match child.removal {
            Some(Removal::Stop(reply)) => {
                self.kept.forget(&child.spec.name);
                self.directory.remove(&child.spec.name);
                let _ = reply.send(true);
            }
            Some(Removal::Replace(spec, reply)) => {
                let result = self.start_new(myself, spec).await;
                let _ = reply.send(result);
            }
            None => {}
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            name: args.name,
            directory: args.directory,
            events: args.events,
            children: Vec::new(),
            stop_timeout: args.stop_timeout,
            next_generation: 0,
            kept: args.kept,
        };
        // Started here rather than in post_start so that the tree is complete when the
        // spawn of this supervisor returns. A failure stops the children started so far.
        for spec in args.children {
            let name = spec.name.clone();
            if let Err(reason) = state.start_new(&myself, spec).await {
                for child in state.children.iter().rev() {
                    if let Some(cell) = &child.cell {
                        let _ = cell.stop_and_wait(None, Some(state.stop_timeout)).await;
                    }
                }
                return Err(format!("could not start `{name}`: {reason}").into());
            }
        }
        // After a restart: the children started at run time come back. One that cannot
        // start is recorded as failed; it does not fail the supervisor.
        for spec in state.kept.specs() {
            if state.index_of(&spec.name).is_some() {
                continue;
            }
            let name = spec.name.clone();
            match state.start_new(&myself, spec).await {
                Ok(()) => tracing::info!(actor = %name, supervisor = %state.name, "child restored"),
                Err(reason) => {
                    state.kept.forget(&name);
                    tracing::error!(actor = %name, %reason, "could not restore child");
                }
            }
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Newest first, each waited for: the event log (started first) stops last.
        for child in state.children.iter().rev() {
            let Some(cell) = &child.cell else { continue };
            let stopped = cell
                .stop_and_wait(Some("shutdown".into()), Some(state.stop_timeout))
                .await;
            if stopped.is_err() {
                tracing::warn!(actor = %child.spec.name, "did not stop in time; killing it");
                cell.kill();
            }
            state
                .directory
                .set_state(&child.spec.name, ActorState::Stopped);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartChild(spec, reply) => match state.index_of(&spec.name) {
                Some(idx) if state.children[idx].cell.is_some() => {
                    let child = &mut state.children[idx];
                    if let Some(cell) = &child.cell {
                        cell.stop(Some("replaced".into()));
                    }
                    // A second replacement while the first is pending wins; the first caller
                    // learns it was superseded.
                    if let Some(Removal::Replace(_, old)) =
                        child.removal.replace(Removal::Replace(spec, reply))
                    {
                        let _ = old.send(Err("superseded by a newer registration".into()));
                    }
                }
                Some(idx) => {
                    // Waiting for a restart or melted down: the new spec simply takes over.
                    state.children.remove(idx);
                    let result = state.start_new(&myself, spec).await;
                    let _ = reply.send(result);
                }
                None => {
                    let result = state.start_new(&myself, spec).await;
                    let _ = reply.send(result);
                }
            },
            SupervisorMsg::StopChild(name, reply) => match state.index_of(&name) {
                Some(idx) if state.children[idx].cell.is_some() => {
                    let child = &mut state.children[idx];
                    if let Some(cell) = &child.cell {
                        cell.stop(Some("removed".into()));
                    }
                    child.removal = Some(Removal::Stop(reply));
                }
                Some(idx) => {
                    state.children.remove(idx);
                    state.kept.forget(&name);
                    state.directory.remove(&name);
                    let _ = reply.send(true);
                }
                None => {
                    let _ = reply.send(false);
                }
            },
            SupervisorMsg::Restart { name, generation } => {
                let Some(idx) = state.index_of(&name) else {
                    return Ok(());
                };
                let child = &state.children[idx];
                if child.generation != generation || child.cell.is_some() || child.removal.is_some()
                {
                    return Ok(());
                }
                let spec = child.spec.clone();
                match state.spawn(&myself, &spec).await {
                    Ok(cell) => {
                        state.children[idx].cell = Some(cell);
                        let count = state.directory.restarted(&name);
                        tracing::info!(actor = %name, restart_count = count, "child restarted");
                        state.events.emit(NewEvent::new(
                            "actor.restarted",
                            json!({"actor": name, "supervisor": state.name, "restart_count": count}),
                        ));
                    }
                    Err(reason) => {
                        state.on_exit(&myself, idx, format!("restart failed: {reason}"), true)
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason, failed) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string(), true),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("exited: {}", reason.as_deref().unwrap_or("no reason given")),
                false,
            ),
            _ => return Ok(()),
        };
        let Some(idx) = state.index_of_cell(&cell) else {
            return Ok(());
        };
        if state.children[idx].removal.is_some() {
            state.on_removed(&myself, idx).await;
        } else {
            state.on_exit(&myself, idx, reason, failed);
        }
        Ok(())
    }
}

/// A typed handle to a supervisor, found by name in the directory.
#[derive(Clone, Debug)]
pub struct SupervisorHandle {
    directory: ActorDirectory,
    name: String,
}

const HANDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl SupervisorHandle {
    /// A handle to the supervisor called `name`.
    pub fn new(directory: ActorDirectory, name: impl Into<String>) -> Self {
        Self {
            directory,
            name: name.into(),
        }
    }

    /// Starts (or replaces) a child and waits until it runs.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<(), SupervisorError> {
        let name = spec.name.clone();
        mailbox::call(&self.directory, &self.name, HANDLE_TIMEOUT, |r| {
            SupervisorMsg::StartChild(spec, r)
        })
        .await?
        .map_err(|reason| SupervisorError::StartFailed { name, reason })
    }

    /// Stops a child for good; `false` when there was no such child.
    pub async fn stop_child(&self, name: &str) -> Result<bool, SupervisorError> {
        let name = name.to_owned();
        Ok(
            mailbox::call(&self.directory, &self.name, HANDLE_TIMEOUT, |r| {
                SupervisorMsg::StopChild(name, r)
            })
            .await?,
        )
    }
}
