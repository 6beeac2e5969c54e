//! The store port for the event log; the `att` crate provides SQLite (and later PostgreSQL).

use super::{Event, EventQuery, NewEvent};
pub use crate::store::StoreError;

/// Durable storage for events.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Writes `events` atomically (all or none) and returns their ids, in order. Times are
    /// kept to the millisecond (see [`NewEvent::stored_at`]).
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError>;
    /// The newest `query.limit` matching events, oldest first.
    async fn query_events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError>;
    /// The node whose events this store writes (each stored event names it); `None` when
    /// att is not a cluster.
    fn node(&self) -> Option<String> {
        None
    }
}
