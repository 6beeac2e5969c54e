//! The event log: an actor that batches events into the store, answers queries, and fans
//! stored events out to live subscribers.
//!
//! Writes go through a group-commit [`writer`] task owned by the actor; queries run in
//! spawned tasks so a slow query never holds up appends. A hot path hands the writer a typed
//! [`Record`] instead of events: the writer turns it into its events (builds their JSON), so
//! the request that caused them pays for one queue send and no serialization. The live fan-out channel is created
//! once per att instance and handed to every incarnation of the actor, so subscribers keep
//! their stream across a restart of the actor.

pub mod follow;
mod model;
mod port;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

pub use model::{Event, EventQuery, NewEvent, Record, correlation_id};
pub use port::{EventStore, StoreError};

use crate::directory::ActorDirectory;
use crate::mailbox::{self, MailboxError};
use crate::trace::MessageMeta;
use writer::{Append, Queued};

/// Something that takes events without waiting for them to be stored.
pub trait EventSink: Send + Sync + 'static {
    /// Queues `event` for the log; failures are logged, never returned.
    fn emit(&self, event: NewEvent);

    /// Queues the events `record` stands for. The default builds them here; the event log's
    /// handle passes the record to its writer, which builds them off the caller's path.
    fn emit_record(&self, record: Box<dyn Record>) {
        let mut events = Vec::new();
        record.into_events(&mut events);
        for event in events {
            self.emit(event);
        }
    }
}

/// Messages the events actor handles.
pub enum EventsMsg {
    /// Store an event; the reply (if asked for) comes after it is committed.
    Append(NewEvent, Option<RpcReplyPort<Result<Event, StoreError>>>),
    /// Answer a query from the store.
    Query(EventQuery, RpcReplyPort<Result<Vec<Event>, StoreError>>),
}

impl MessageMeta for EventsMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::Append(..) => "append",
            Self::Query(..) => "query",
        }
    }

    fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::Append(e, _) => e.correlation_id.as_deref(),
            Self::Query(q, _) => q.correlation_id.as_deref(),
        }
    }
}

/// What the events actor is started with (built anew for each restart).
pub struct EventsArgs {
    /// Where events are kept.
    pub store: Arc<dyn EventStore>,
    /// The instance-wide live channel.
    pub live: broadcast::Sender<Event>,
    /// How many appends may wait for the writer before senders wait.
    pub queue_capacity: usize,
    /// Where the actor publishes its writer queue for [`EventsHandle`]'s fast path.
    pub intake: Intake,
}

/// The writer queue of the running events actor, shared with its handles so that
/// fire-and-forget events ([`EventSink::emit`]) go straight to the writer instead of through
/// the actor's mailbox (the mailbox hop cost a fifth of gateway throughput; todo/perf.md).
/// Empty while the actor is not running; a full queue falls back to the mailbox, which waits
/// for room (back-pressure).
#[derive(Clone, Default)]
pub struct Intake(Arc<ArcSwapOption<mpsc::Sender<Queued>>>);

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("open", &self.0.load().is_some())
            .finish()
    }
}

/// The events actor's state.
pub struct EventsState {
    store: Arc<dyn EventStore>,
    queue: Option<mpsc::Sender<Queued>>,
    writer: Option<JoinHandle<()>>,
    intake: Intake,
}

/// The events actor.
pub struct EventsActor;

impl Actor for EventsActor {
    type Msg = EventsMsg;
    type State = EventsState;
    type Arguments = EventsArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<EventsMsg>,
        args: EventsArgs,
    ) -> Result<EventsState, ActorProcessingErr> {
        let (tx, rx) = mpsc::channel(args.queue_capacity.max(1));
        let writer = tokio::spawn(writer::run(args.store.clone(), rx, args.live));
        // Replacing a dead predecessor's queue lets its writer drain and end.
        args.intake.0.store(Some(Arc::new(tx.clone())));
        Ok(EventsState {
            store: args.store,
            queue: Some(tx),
            writer: Some(writer),
            intake: args.intake,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<EventsMsg>,
        state: &mut EventsState,
    ) -> Result<(), ActorProcessingErr> {
        // Closing the queue makes the writer drain what is queued and end: the flush.
        state.intake.0.store(None);
        state.queue = None;
        if let Some(writer) = state.writer.take() {
            writer.await?;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<EventsMsg>,
        msg: EventsMsg,
        state: &mut EventsState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EventsMsg::Append(event, ack) => {
                let queue = state.queue.as_ref().ok_or("event queue closed")?;
                // Waiting here is back-pressure from the writer, not I/O.
                queue
                    .send(Append { event, ack }.into())
                    .await
                    .map_err(|_| "the event writer has stopped")?;
            }
            EventsMsg::Query(query, reply) => {
                let store = state.store.clone();
                let queue = state.queue.clone();
                tokio::spawn(async move {
                    // Read your writes: what was emitted before the query is written first.
                    if let Some(queue) = queue {
                        let (done, written) = tokio::sync::oneshot::channel();
                        if queue.send(Queued::Barrier(done)).await.is_ok() {
                            let _ = written.await;
                        }
                    }
                    if !reply.is_closed() {
                        let _ = reply.send(store.query_events(&query).await);
                    }
                });
            }
        }
        Ok(())
    }
}

/// Why an event operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventsError {
    /// The events actor could not be reached.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A typed handle to the event log. Cheap to clone; survives restarts of the actor.
#[derive(Clone, Debug)]
pub struct EventsHandle {
    directory: ActorDirectory,
    actor: String,
    live: broadcast::Sender<Event>,
    intake: Intake,
}

const APPEND_TIMEOUT: Duration = Duration::from_secs(10);
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

impl EventsHandle {
    /// A handle to the events actor called `actor`, with the instance's live channel.
    pub fn new(
        directory: ActorDirectory,
        actor: impl Into<String>,
        live: broadcast::Sender<Event>,
    ) -> Self {
        Self {
            directory,
            actor: actor.into(),
            live,
            intake: Intake::default(),
        }
    }

    /// The queue slot the events actor fills when it runs (pass it in [`EventsArgs`]).
    pub fn intake(&self) -> Intake {
        self.intake.clone()
    }

    /// Stores an event and returns it once it is committed.
    pub async fn append(&self, event: NewEvent) -> Result<Event, EventsError> {
        Ok(
            mailbox::call(&self.directory, &self.actor, APPEND_TIMEOUT, |r| {
                EventsMsg::Append(event, Some(r))
            })
            .await??,
        )
    }

    /// The newest `query.limit` matching events, oldest first.
    pub async fn query(&self, query: EventQuery) -> Result<Vec<Event>, EventsError> {
        Ok(
            mailbox::call(&self.directory, &self.actor, QUERY_TIMEOUT, |r| {
                EventsMsg::Query(query, r)
            })
            .await??,
        )
    }

    /// Every event stored from now on. A subscriber that falls behind by more than the
    /// channel's capacity gets `Lagged` and should re-query from the last id it saw.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// How many live subscribers there are (open event streams, run followers).
    pub fn subscribers(&self) -> usize {
        self.live.receiver_count()
    }

    /// Hands `event` to the live subscribers: for the follower of a log other processes
    /// write too, when it feeds the live channel instead of the writer (`live_from_log`).
    pub fn publish(&self, event: Event) {
        let _ = self.live.send(event);
    }
}

impl EventSink for EventsHandle {
    fn emit_record(&self, record: Box<dyn Record>) {
        let record = match self.intake.0.load().as_deref() {
            Some(queue) => match queue.try_send(Queued::Record(record)) {
                Ok(()) => return,
                Err(
                    mpsc::error::TrySendError::Full(Queued::Record(r))
                    | mpsc::error::TrySendError::Closed(Queued::Record(r)),
                ) => r,
                // Only a record was sent, so only a record comes back.
                Err(_) => return,
            },
            None => record,
        };
        // No room on the writer's queue: the mailbox, one event at a time (back-pressure).
        let mut events = Vec::new();
        record.into_events(&mut events);
        for event in events {
            self.emit(event);
        }
    }

    fn emit(&self, event: NewEvent) {
        let event = match self.intake.0.load().as_deref() {
            Some(queue) => match queue.try_send(Append { event, ack: None }.into()) {
                Ok(()) => return,
                Err(
                    mpsc::error::TrySendError::Full(Queued::Append(a))
                    | mpsc::error::TrySendError::Closed(Queued::Append(a)),
                ) => a.event,
                // Only an append was sent, so only an append comes back.
                Err(_) => return,
            },
            None => event,
        };
        if let Err(e) = mailbox::cast(&self.directory, &self.actor, EventsMsg::Append(event, None))
        {
            tracing::warn!(error = %e, "event dropped");
        }
    }
}
