//! Message tracing: every message an att actor handles runs in a `tracing` span and leaves a
//! record in the actor's bounded ring.
//!
//! The ring (in the [`crate::directory`]) keeps a compact [`Handled`] (the message kind as a static name, no copy of the
//! actor's name, nothing allocated unless there is a correlation id or an error): with
//! thousands of upstream actors × `trace_capacity` records, the rings are most of an idle
//! att's memory. Readers get full [`TraceRecord`]s.
//!
//! Actors are written as plain `ractor::Actor`s whose message type implements
//! [`MessageMeta`]; [`spawn`] wraps them in [`Traced`], which is the only place that knows
//! about spans, rings and panics. ractor already instruments each handler with the *sender's*
//! span (`message_span_propogation`), so the span opened here nests under the HTTP request
//! (or actor) that sent the message.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use time::OffsetDateTime;
use tracing::Instrument;

use crate::directory::{ActorDirectory, ActorState, ActorStats, Handled, TraceOutcome};

/// What the tracing wrapper needs to know about a message.
pub trait MessageMeta {
    /// A short, stable name for the message variant (`append`, `query`, `start_child`).
    fn kind(&self) -> &'static str;
    /// The request or run this message belongs to, when it belongs to one.
    fn correlation_id(&self) -> Option<&str> {
        None
    }
}

/// Wraps an actor so that each handled message is spanned, recorded, and panic-safe.
pub struct Traced<A> {
    inner: A,
    name: String,
    directory: ActorDirectory,
    stats: Arc<ActorStats>,
}

/// Spawns `actor` under `supervisor` as `name` in `directory`, traced.
///
/// The actor gets no ractor-registry name (see [`crate::directory`]); handles find it through
/// the directory.
pub async fn spawn<A>(
    directory: &ActorDirectory,
    name: &str,
    parent: Option<(&str, ActorCell)>,
    actor: A,
    args: A::Arguments,
) -> Result<(ActorRef<A::Msg>, JoinHandle<()>), SpawnErr>
where
    A: Actor,
    A::Msg: MessageMeta,
{
    let stats = directory.declare(name, parent.as_ref().map(|(n, _)| *n));
    let traced = Traced {
        inner: actor,
        name: name.to_owned(),
        directory: directory.clone(),
        stats,
    };
    match parent {
        Some((_, cell)) => Actor::spawn_linked(None, traced, args, cell).await,
        None => Actor::spawn(None, traced, args).await,
    }
}

impl<A> Traced<A>
where
    A: Actor,
{
    async fn traced<F>(
        &self,
        kind: &'static str,
        correlation_id: Option<Box<str>>,
        work: F,
    ) -> F::Output
    where
        F: Future<Output = Result<(), ActorProcessingErr>>,
    {
        let span = tracing::info_span!(
            "actor_message",
            actor = %self.name,
            kind,
            correlation_id = correlation_id.as_deref()
        );
        let started_at = OffsetDateTime::now_utc();
        let t0 = Instant::now();
        let result = AssertUnwindSafe(work.instrument(span)).catch_unwind().await;
        let (outcome, ret) = match result {
            Ok(Ok(())) => (TraceOutcome::Ok, Ok(())),
            Ok(Err(e)) => (
                TraceOutcome::Error {
                    error: e.to_string(),
                },
                Err(e),
            ),
            Err(panic) => {
                let text = panic_text(panic.as_ref());
                (
                    TraceOutcome::Panic {
                        error: text.clone(),
                    },
                    Err(format!("panicked: {text}").into()),
                )
            }
        };
        self.stats.record(Handled {
            kind,
            correlation_id,
            started_at,
            duration_us: u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX),
            outcome,
        });
        ret
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

impl<A> Actor for Traced<A>
where
    A: Actor,
    A::Msg: MessageMeta,
{
    type Msg = A::Msg;
    type State = A::State;
    type Arguments = A::Arguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let cell = myself.get_cell();
        let state = self.inner.pre_start(myself, args).await?;
        // Reachable from here on: ractor queues messages until the actor runs.
        self.directory.running(&self.name, cell);
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.inner.post_start(myself, state).await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let result = self.inner.post_stop(myself, state).await;
        self.directory.set_state(&self.name, ActorState::Stopped);
        result
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let kind = message.kind();
        let correlation_id = message.correlation_id().map(Box::from);
        self.traced(
            kind,
            correlation_id,
            self.inner.handle(myself, message, state),
        )
        .await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let kind = match &event {
            SupervisionEvent::ActorStarted(_) => "supervision:actor_started",
            SupervisionEvent::ActorTerminated(..) => "supervision:actor_terminated",
            SupervisionEvent::ActorFailed(..) => "supervision:actor_failed",
            _ => "supervision:other",
        };
        self.traced(
            kind,
            None,
            self.inner.handle_supervisor_evt(myself, event, state),
        )
        .await
    }
}
