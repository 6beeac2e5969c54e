//! The event log (`events`): appended in multi-row batches, queried newest-first.

use att_runtime::events::{Event, EventQuery, EventStore, NewEvent, StoreError};
use sqlx::{QueryBuilder, Row};

use super::SqliteStore;
use crate::store::records::{err, from_ms, kind_prefix_pattern, payload_field, to_ms};

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        // One multi-row INSERT per chunk: sqlx's per-statement cost, not SQLite's, dominated
        // row-at-a-time writes (see todo/perf.md). In this single-writer transaction the
        // AUTOINCREMENT ids of one statement are consecutive, in VALUES order, ending at
        // last_insert_rowid.
        const ROWS_PER_STATEMENT: usize = 200;
        let mut tx = self.pool.begin().await.map_err(err)?;
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO events (at_ms, kind, correlation_id, data, node) ");
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(to_ms(e.at))
                    .push_bind(e.kind.clone())
                    .push_bind(e.correlation_id.clone())
                    .push_bind(e.data.to_string())
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
        self.node.clone()
    }

    async fn query_events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut sql = QueryBuilder::new(
            "SELECT id, at_ms, kind, correlation_id, data, node FROM events WHERE 1 = 1",
        );
        match q.kind.as_deref().map(|k| (k, k.strip_suffix(".*"))) {
            Some((_, Some(prefix))) => {
                sql.push(" AND kind LIKE ")
                    .push_bind(kind_prefix_pattern(prefix))
                    .push(" ESCAPE '\\'");
            }
            Some((k, None)) => {
                sql.push(" AND kind = ").push_bind(k.to_owned());
            }
            None => {}
        }
        if let Some(c) = &q.correlation_id {
            sql.push(" AND correlation_id = ").push_bind(c.clone());
        }
        for kind in &q.except_kinds {
            sql.push(" AND kind <> ").push_bind(kind.clone());
        }
        if let Some(s) = q.since {
            sql.push(" AND at_ms >= ").push_bind(to_ms(s));
        }
        if let Some(a) = q.after_id {
            sql.push(" AND id > ").push_bind(a);
        }
        for (key, value) in &q.data {
            let key = payload_field(key)?;
            sql.push(" AND json_extract(data, ")
                .push_bind(format!("$.{key}"))
                .push(") = ")
                .push_bind(value.clone());
        }
        // Resuming pages forward from `after_id`; otherwise the newest events are wanted.
        let forward = q.after_id.is_some();
        sql.push(if forward {
            " ORDER BY id ASC LIMIT "
        } else {
            " ORDER BY id DESC LIMIT "
        })
        .push_bind(i64::from(q.limit));
        let mut rows = sql.build().fetch_all(&self.pool).await.map_err(err)?;
        if !forward {
            rows.reverse();
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let data: String = row.try_get("data").map_err(err)?;
            out.push(Event {
                id: row.try_get("id").map_err(err)?,
                at: from_ms(row.try_get("at_ms").map_err(err)?),
                kind: row.try_get("kind").map_err(err)?,
                correlation_id: row.try_get("correlation_id").map_err(err)?,
                data: serde_json::from_str(&data)
                    .map_err(|e| StoreError(format!("bad event data: {e}")))?,
                node: row.try_get("node").map_err(err)?,
            });
        }
        Ok(out)
    }
}
