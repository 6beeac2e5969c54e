//! The live event channel of an att that shares its event log with other atts (PostgreSQL):
//! fed by following the shared log by id, so that an open event stream
//! (`GET /api/v1/events/stream`, a run's events) hears every att's events as they are
//! written — in id order, each once — not only its own.
//!
//! Why not the writer: each att's writer knows only its own events, and merging those with
//! the others' as they arrive would hand out ids out of order (a follower that saw 11 from
//! this att drops 10 from another that arrives later). The log's ids are in commit order
//! across the cluster (appends take one advisory lock, `store/postgres/events.rs`), so
//! reading it forward from the last id handed out never skips one. The writer of such an
//! att feeds nothing (`TreeConfig::live_from_log`); this follower is the only source.
//!
//! Bounded: it reads when woken — each appended batch, on any att, notifies `events` once
//! (one notification per batch, not per event; the wake-ups coalesce), and a reconnect of
//! the listener wakes it to catch up — [`PAGE`] events a query. With no subscriber it reads
//! nothing but the newest id (to start from there when one comes): an idle att does not copy
//! the cluster's traffic. A subscriber's stream is made by `follow` (replay from the store
//! after its last id, then this channel, duplicates dropped by id), so where this follower
//! starts only has to be at or before the newest event stored when the subscriber appeared
//! — which reading the newest id *before* seeing that nobody listens guarantees.
//!
//! Its first position is read before att's actors start ([`start_position`]), so before any
//! subscriber can exist. Read later — when the task first ran — it skipped what was written
//! between a subscriber's replay and that read (a CI run: an event stream opened on an att
//! whose follower's first read was delayed never heard the event written right after it).

use std::sync::Arc;

use att_runtime::events::{Event, EventQuery, EventStore, EventsHandle};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Events read per query.
pub const PAGE: u32 = 500;

/// How often the log is read while a subscriber listens, wake-up or not.
pub const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The last id handed to the live channel: what comes next is after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

impl Cursor {
    /// The events of `page` (ascending ids) not handed out yet; the cursor moves past them.
    pub fn advance(&mut self, page: Vec<Event>) -> Vec<Event> {
        let fresh: Vec<Event> = page.into_iter().filter(|e| e.id > self.0).collect();
        if let Some(last) = fresh.last() {
            self.0 = last.id;
        }
        fresh
    }
}

/// Where the follower of `store`'s log starts: after its newest event. Read before anything
/// can subscribe to the live channel.
pub async fn start_position(
    store: &dyn EventStore,
) -> Result<Cursor, att_runtime::events::StoreError> {
    let newest = EventQuery {
        limit: 1,
        ..EventQuery::default()
    };
    Ok(Cursor(
        store
            .query_events(&newest)
            .await?
            .last()
            .map_or(0, |e| e.id),
    ))
}

/// Feeds `events`' live channel from `store`'s log after `from` each time `wake` fires,
/// until `stop`.
pub fn follow_shared_log(
    store: Arc<dyn EventStore>,
    events: EventsHandle,
    from: Cursor,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut cursor = from;
        loop {
            if let Err(e) = catch_up(store.as_ref(), &events, &mut cursor).await {
                // The next wake-up (a batch, or the listener's reconnect) tries again.
                tracing::warn!(error = %e, "following the shared event log");
            }
            // While someone listens, a look every [`LOOK_EVERY`] besides the wake-ups: a
            // wake-up lost (the listener reconnecting, a notification dropped) costs a
            // subscriber a second, not the event.
            let listening = events.subscribers() > 0;
            tokio::select! {
                () = stop.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(LOOK_EVERY), if listening => {}
            }
        }
    });
}

/// Hands out what was added since `cursor`, or (nobody listening) moves `cursor` to the
/// newest event.
async fn catch_up(
    store: &dyn EventStore,
    events: &EventsHandle,
    cursor: &mut Cursor,
) -> Result<(), att_runtime::events::StoreError> {
    if events.subscribers() == 0 {
        let newest = start_position(store).await?;
        // Read before looking: a subscriber that comes after this look replays the store
        // past `newest` itself.
        if events.subscribers() == 0 {
            *cursor = newest;
            return Ok(());
        }
    }
    loop {
        let page = EventQuery {
            after_id: Some(cursor.0),
            limit: PAGE,
            ..EventQuery::default()
        };
        let got = store.query_events(&page).await?;
        let full = got.len() >= PAGE as usize;
        for e in cursor.advance(got) {
            events.publish(e);
        }
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64) -> Event {
        Event {
            id,
            at: time::OffsetDateTime::UNIX_EPOCH,
            kind: "k".into(),
            correlation_id: None,
            data: serde_json::Value::Null,
            node: None,
        }
    }

    #[test]
    fn the_cursor_hands_out_each_id_once_in_order() {
        let ids = |v: Vec<Event>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
        let mut c = Cursor(10);
        #[rustfmt::skip]
        let rows: &[(&[i64], &[i64], i64)] = &[
            // page read,       handed out,  cursor after
            (&[11, 12, 15],     &[11, 12, 15], 15),
            (&[],               &[],           15),
            (&[14, 15, 16],     &[16],         16), // an overlap is not handed out again
            (&[20],             &[20],         20), // ids may skip (a rolled-back batch)
        ];
        for (page, out, after) in rows {
            let got = c.advance(page.iter().map(|i| event(*i)).collect());
            assert_eq!(ids(got), out.to_vec(), "{page:?}");
            assert_eq!(c, Cursor(*after));
        }
    }
}
