//! The event log (`events`): appended in multi-row batches, queried newest-first.

use att_runtime::events::{Event, EventQuery, EventStore, NewEvent, StoreError};
use std::sync::Arc;

use sqlx::QueryBuilder;

use super::SqliteStore;
use crate::store::event_query;
use crate::store::records::{err, payload_field, to_ms};

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        // Multi-row INSERTs of a few fixed sizes (`insert_chunks`): sqlx's per-statement cost,
        // not SQLite's, dominated row-at-a-time writes (see todo/perf.md). In this
        // single-writer transaction the AUTOINCREMENT ids of one statement are consecutive,
        // in VALUES order, ending at last_insert_rowid.
        //
        // `OR FAIL`: under the default (`ABORT`) a multi-row INSERT in a transaction opens a
        // statement journal — each page it changes copied first, so that a failing row undoes
        // only its statement. Here any failure returns the error and drops `tx`, which rolls
        // the whole batch back, so the journal bought nothing: it was 13 allocations and as
        // many page copies per routed call (todo/perf.md).
        let mut tx = self.appends.begin().await.map_err(err)?;
        let mut ids = Vec::with_capacity(events.len());
        for chunk in event_query::insert_chunks(events) {
            let mut insert = QueryBuilder::new(
                "INSERT OR FAIL INTO events (at_ms, kind, correlation_id, data, node) ",
            );
            // Texts bound as `Arc<str>`: sqlx keeps every text argument behind an `Arc`, and
            // a `String` bound would be copied, then boxed again (two allocations per text,
            // eight per row); the node's name is one `Arc` for all rows.
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(to_ms(e.at))
                    .push_bind(Arc::<str>::from(e.kind.as_str()))
                    .push_bind(e.correlation_id.as_deref().map(Arc::<str>::from))
                    .push_bind(Arc::<str>::from(e.data_text()))
                    .push_bind(self.node.clone());
            });
            let done = insert.build().execute(&mut *tx).await.map_err(err)?;
            let last = done.last_insert_rowid();
            let first =
                last + 1 - i64::try_from(chunk.len()).map_err(|e| StoreError(e.to_string()))?;
            ids.extend(first..=last);
        }
        tx.commit().await.map_err(err)?;
        Ok(ids)
    }

    fn node(&self) -> Option<String> {
        self.node.as_deref().map(str::to_owned)
    }

    async fn query_events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{} WHERE 1 = 1", event_query::COLUMNS));
        event_query::push_filters(&mut sql, q);
        for (key, value) in &q.data {
            let key = payload_field(key)?;
            sql.push(" AND json_extract(data, ")
                .push_bind(format!("$.{key}"))
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
