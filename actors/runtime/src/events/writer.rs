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
//!
//! A small batch made only of records (nobody waits on them: a routed call's invocation
//! record, an audit entry) lingers up to [`LINGER`] for more before it is written, so that
//! one transaction carries the records of many calls: a commit (its WAL frames, the
//! database thread woken for begin, insert and commit) was paid per call or two at a
//! steady load (todo/perf.md). Whatever comes meanwhile is taken without waiting again, so
//! an acknowledged append or a barrier arriving then waits at most [`LINGER`].

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

/// How long a small batch of records waits for more.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// A batch of this many queued items or more is written at once.
const LINGER_BELOW: usize = 64;

/// Whether `batch` is small and made only of records nobody waits on.
fn may_linger(batch: &[Queued]) -> bool {
    batch.len() < LINGER_BELOW && batch.iter().all(|q| matches!(q, Queued::Record(_)))
}

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
        if may_linger(&batch) {
            tokio::time::sleep(LINGER).await;
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(queued) => batch.push(queued),
                    Err(_) => break,
                }
            }
        }
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
                    // Nobody listening is fine: then an unacknowledged event is not even made
                    // a stored event (a printed payload stays text). A subscriber that comes
                    // later reads it from the store, where it already is.
                    let listening = live.receiver_count() > 0;
                    if ack.is_none() && !listening {
                        continue;
                    }
                    let mut event = event.stored(id);
                    event.node.clone_from(&node);
                    match ack {
                        Some(ack) => {
                            if listening {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::events::EventQuery;

    /// Remembers the size of each batch it was asked to write.
    #[derive(Default)]
    struct Batches(Mutex<Vec<usize>>);

    #[async_trait::async_trait]
    impl EventStore for Batches {
        async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
            let mut batches = self.0.lock().expect("lock");
            batches.push(events.len());
            let first = batches.iter().sum::<usize>() - events.len();
            Ok((first..first + events.len())
                .map(|i| i64::try_from(i).expect("small"))
                .collect())
        }

        async fn query_events(&self, _: &EventQuery) -> Result<Vec<Event>, StoreError> {
            Ok(Vec::new())
        }
    }

    struct OneEvent;

    impl Record for OneEvent {
        fn into_events(self: Box<Self>, out: &mut Vec<NewEvent>) {
            out.push(NewEvent::new("test.record", serde_json::Value::Null));
        }
    }

    fn writer() -> (Arc<Batches>, mpsc::Sender<Queued>) {
        let store = Arc::new(Batches::default());
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(store.clone(), rx, broadcast::channel(16).0));
        (store, tx)
    }

    // The clock is paused: it moves only when every task waits on a timer, so the records
    // sent one task-switch apart all arrive while the first lingers.
    #[tokio::test(start_paused = true)]
    async fn records_sent_one_after_another_are_written_in_one_transaction() {
        let (store, tx) = writer();
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            tx.send(Queued::Record(Box::new(OneEvent)))
                .await
                .expect("send");
            tokio::task::yield_now().await;
        }
        let (done, written) = oneshot::channel();
        tx.send(Queued::Barrier(done)).await.expect("send");
        written.await.expect("barrier answered");
        assert_eq!(*store.0.lock().expect("lock"), vec![10], "one batch of ten");
        assert_eq!(start.elapsed(), LINGER, "the batch waited once");
    }

    #[tokio::test(start_paused = true)]
    async fn an_acknowledged_append_and_a_barrier_do_not_wait() {
        let (store, tx) = writer();
        let start = tokio::time::Instant::now();
        let (ack, stored) = oneshot::channel();
        tx.send(Queued::Append(Append {
            event: NewEvent::new("test.append", serde_json::Value::Null),
            ack: Some(ack.into()),
        }))
        .await
        .expect("send");
        stored.await.expect("acknowledged").expect("stored");
        let (done, written) = oneshot::channel();
        tx.send(Queued::Barrier(done)).await.expect("send");
        written.await.expect("barrier answered");
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        assert_eq!(*store.0.lock().expect("lock"), vec![1]);
    }
}
