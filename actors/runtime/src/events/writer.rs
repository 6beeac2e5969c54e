//! The group-commit writer behind the events actor.
//!
//! Appends queue on a bounded channel; the writer takes everything queued (up to a batch
//! size), writes it in one transaction, then acknowledges each append and fans the stored
//! events out to live subscribers. An append is acknowledged only after its transaction
//! committed, so a crash loses nothing that was acknowledged. When every sender is gone the
//! writer drains what is queued and ends — that is the flush at shutdown.

use std::sync::Arc;

use ractor::RpcReplyPort;
use tokio::sync::{broadcast, mpsc};

use super::{Event, EventStore, NewEvent, StoreError};

/// One queued append.
pub(crate) struct Append {
    pub(crate) event: NewEvent,
    pub(crate) ack: Option<RpcReplyPort<Result<Event, StoreError>>>,
}

/// Writes at most this many events per transaction.
const MAX_BATCH: usize = 512;

pub(crate) async fn run(
    store: Arc<dyn EventStore>,
    mut queue: mpsc::Receiver<Append>,
    live: broadcast::Sender<Event>,
) {
    let node = store.node();
    let mut batch: Vec<Append> = Vec::with_capacity(MAX_BATCH);
    let (mut events, mut acks) = (Vec::with_capacity(MAX_BATCH), Vec::with_capacity(MAX_BATCH));
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Moved, not cloned: an event's payload is copied only for a live subscriber that
        // also needs it beside an acknowledgement.
        for append in batch.drain(..) {
            events.push(append.event);
            acks.push(append.ack);
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
    }
}
