//! "Replay, then follow": the stored events after an id, then the live ones, as one ordered
//! stream without gaps or repeats — what every event stream att serves is made of
//! (`/api/v1/events/stream` resumed with `Last-Event-ID`, a run's `…/runs/{id}/events`).
//!
//! The live subscription is taken *before* the store is read, so an event is either stored in
//! time for the replay or broadcast after the subscription; `seen` (the last id handed out)
//! drops the overlap. "From now" is "after the newest stored event", read before the
//! subscription, so the same holds for it. The replay pages forward from the id ([`PAGE`] events a query) until it
//! is caught up, so a client resuming far behind receives every event, oldest first. A
//! follower that lags behind the live channel fills its gap the same way. The stream ends
//! after an event `end` accepts (a run's final event), when `stop` fires, or when the store
//! cannot be read (said in the log).

use std::future::Future;

use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{Event, EventQuery, EventsHandle};

/// Events read from the store per query while catching up.
pub const PAGE: u32 = 500;

/// Where a followed stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// Only events that happen from now on.
    Now,
    /// Every stored event with an id above this one, then the live ones.
    After(i64),
}

/// The events matching `filter` (its `after_id` and `limit` are ignored), from `from`, in id
/// order; ends after an event `end` accepts, or when `stop` completes.
pub fn follow(
    events: EventsHandle,
    filter: EventQuery,
    from: From,
    end: impl Fn(&Event) -> bool + Send + 'static,
    stop: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = Event> + Send + 'static {
    async_stream::stream! {
        // "Now" is the newest stored event, read *before* subscribing: what is stored after
        // it comes from the replay or the live channel, so nothing between the read and the
        // subscription is lost (an event in both is handed out once, by `seen`).
        let mut seen = match from {
            From::After(id) => id,
            From::Now => {
                let newest = EventQuery { limit: 1, ..EventQuery::default() };
                match events.query(newest).await {
                    Ok(got) => got.last().map_or(0, |e| e.id),
                    Err(e) => {
                        tracing::warn!(error = %e, "an event stream could not read the log; closing it");
                        return;
                    }
                }
            }
        };
        let mut live = events.subscribe();
        let mut behind = true;
        let stop = stop;
        tokio::pin!(stop);
        loop {
            while behind {
                let page = EventQuery {
                    after_id: Some(seen),
                    limit: PAGE,
                    ..filter.clone()
                };
                let got = match events.query(page).await {
                    Ok(got) => got,
                    Err(e) => {
                        tracing::warn!(error = %e, "an event stream could not read the log; closing it");
                        return;
                    }
                };
                behind = got.len() >= PAGE as usize;
                for e in got {
                    seen = e.id;
                    let last = end(&e);
                    yield e;
                    if last {
                        return;
                    }
                }
            }
            let next = tokio::select! {
                () = &mut stop => return,
                next = live.recv() => next,
            };
            match next {
                Ok(e) if e.id > seen && filter.matches(&e) => {
                    seen = e.id;
                    let last = end(&e);
                    yield e;
                    if last {
                        return;
                    }
                }
                Ok(_) => {}
                // Events went by unseen: read them back from the store.
                Err(RecvError::Lagged(_)) => behind = true,
                Err(RecvError::Closed) => return,
            }
        }
    }
}
