//! The group-commit writer behind the events actor.
//!
//! Appends queue on a bounded channel; the writer takes everything queued (up to a batch
//! size), writes it in one transaction, then acknowledges each append and fans the stored
//! events out to live subscribers. An append is acknowledged only after its transaction
//! committed, so a crash loses nothing that was acknowledged. When every sender is gone the
//! writer drains what is queued and ends — that is the flush at shutdown.
//!
//! A [`Queued::Record`] is turned into its events here, in the writer's task: whoever emitted
//! it did not wait for their JSON to be built.
//!
//! A [`Queued::Barrier`] is answered once everything queued before it has been written: a
//! query waits for one first, so it sees every event emitted before it was asked (an audit
//! entry recorded while a call was answered is in the log its caller reads next).

use std::sync::Arc;

use ractor::RpcReplyPort;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{Event, EventStore, NewEvent, Record, StoreError};

/// One queued append.
pub(crate) struct Append {
    pub(crate) event: NewEvent,
    pub(crate) ack: Option<RpcReplyPort<Result<Event, StoreError>>>,
}

/// What waits on the writer's queue.
pub(crate) enum Queued {
    /// An event to store.
    Append(Append),
    /// Events still to be built from their typed record (never acknowledged).
    Record(Box<dyn Record>),
    /// Answered after everything queued before it was written (or failed to be).
    Barrier(oneshot::Sender<()>),
}

impl From<Append> for Queued {
    fn from(append: Append) -> Self {
        Self::Append(append)
    }
}

/// Writes at most this many events per transaction.
const MAX_BATCH: usize = 512;

pub(crate) async fn run(
    store: Arc<dyn EventStore>,
    mut queue: mpsc::Receiver<Queued>,
    live: broadcast::Sender<Event>,
) {
    let node = store.node();
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    let (mut events, mut acks) = (Vec::with_capacity(MAX_BATCH), Vec::with_capacity(MAX_BATCH));
    let mut barriers = Vec::new();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Moved, not cloned: an event's payload is copied only for a live subscriber that
        // also needs it beside an acknowledgement.
        for queued in batch.drain(..) {
            match queued {
                Queued::Append(append) => {
                    events.push(append.event);
                    acks.push(append.ack);
                }
                Queued::Record(record) => {
                    let before = events.len();
                    record.into_events(&mut events);
                    acks.resize_with(events.len().max(before), || None);
                }
                Queued::Barrier(done) => barriers.push(done),
            }
        }
        if events.is_empty() {
            for done in barriers.drain(..) {
                let _ = done.send(());
            }
            continue;
        }
        match store.append_events(&events).await {
            Ok(ids) => {
                for ((event, ack), id) in events.drain(..).zip(acks.drain(..)).zip(ids) {
                    let mut event = event.stored(id);
                    event.node.clone_from(&node);
                    // Nobody listening is fine.
                    match ack {
                        Some(ack) => {
                            if live.receiver_count() > 0 {
                                let _ = live.send(event.clone());
                            }
                            let _ = ack.send(Ok(event));
                        }
                        None => {
                            let _ = live.send(event);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, lost = events.len(), "could not write events");
                events.clear();
                for ack in acks.drain(..).flatten() {
                    let _ = ack.send(Err(e.clone()));
                }
            }
        }
        for done in barriers.drain(..) {
            let _ = done.send(());
        }
    }
}
