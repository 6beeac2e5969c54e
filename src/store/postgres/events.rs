//! The event log (`events`) on PostgreSQL: appended in multi-row batches, queried
//! newest-first.
//!
//! Ids come from an identity column, and a sequence hands out numbers in the order
//! transactions ask, not in the order they commit: two att processes appending at once
//! could commit id 11 before id 10, and a reader resuming after 11 (`after_id`,
//! `Last-Event-ID`) would never see 10. So an append takes a transaction-scoped advisory
//! lock ([`APPEND_LOCK`]) first: appends across the cluster commit one after another, in id
//! order. Appends are batched by the event writer, so the lock is taken once per batch.
//! Each batch notifies `events` on the change channel once, at commit: every att's follower
//! of the log ([`crate::events_tail`]) reads what was added.

use att_runtime::events::{Event, EventQuery, EventStore, NewEvent, StoreError};
use sqlx::{QueryBuilder, Row};

use super::PgStore;
use crate::store::event_query;
use crate::store::records::{err, payload_field, to_ms};

/// The advisory lock key that orders appends to the event log (`att_events` in ASCII).
const APPEND_LOCK: i64 = 0x6174_745f_6576_7473;

#[async_trait::async_trait]
impl EventStore for PgStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let mut ids = Vec::with_capacity(events.len());
        for chunk in event_query::insert_chunks(events) {
            let mut insert =
                QueryBuilder::new("INSERT INTO events (at_ms, kind, correlation_id, data, node) ");
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(to_ms(e.at))
                    .push_bind(e.kind.clone())
                    .push_bind(e.correlation_id.clone())
                    .push_bind(e.data_text().into_owned())
                    .push_bind(self.node.clone());
            });
            insert.push(" RETURNING id");
            let rows = insert.build().fetch_all(&mut *tx).await.map_err(err)?;
            // Identity values are drawn row by row in VALUES order.
            let mut chunk_ids = rows
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
        }
        // The other atts' followers of the log read it again (delivered at commit; one per
        // batch, whatever its size).
        sqlx::query("SELECT pg_notify($1, 'events')")
            .bind(super::changes::CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(ids)
    }

    fn node(&self) -> Option<String> {
        self.node.clone()
    }

    async fn query_events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{} WHERE TRUE", event_query::COLUMNS));
        event_query::push_filters(&mut sql, q);
        for (key, value) in &q.data {
            // PostgreSQL's JSON functions refuse a document holding the escape `\u0000` (a
            // NUL a caller put in some payload), which would fail every filtered query
            // reading that row: the filter reads the payload with those escapes made
            // U+FFFD. The stored text is untouched.
            sql.push(" AND (replace(data, '\\u0000', '\\ufffd')::json ->> ")
                .push_bind(payload_field(key)?.to_owned())
                .push(") = ")
                .push_bind(value.clone());
        }
        let forward = event_query::push_order(&mut sql, q);
        let mut rows = sql.build().fetch_all(&self.pool).await.map_err(err)?;
        if !forward {
            rows.reverse();
        }
        rows.iter().map(event_query::decode).collect()
    }
}
