//! The event log's query, written once for both engines: the filters of an [`EventQuery`]
//! (kind or kind prefix, correlation id, kinds left out, since, after an id), the order and
//! limit (forward from `after_id` when resuming, else the newest), and a row decoded into an
//! [`Event`]. An adapter adds only what its engine spells differently: the payload-field
//! filter (`json_extract` on SQLite, `->>` on PostgreSQL).

use att_runtime::events::{Event, EventQuery, StoreError};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::records::{err, from_ms, kind_prefix_pattern, to_ms};

/// The most rows one INSERT of an append writes (5 parameters each: far below SQLite's
/// 32,766 and PostgreSQL's 65,535).
pub(super) const MAX_ROWS_PER_INSERT: usize = 128;

/// `events` cut into the row counts of the INSERTs an append writes them with: powers of two,
/// largest first, at most [`MAX_ROWS_PER_INSERT`]. A statement's text depends only on its row
/// count, so these eight statements stay in each connection's cache of prepared statements:
/// with one statement per batch, whatever its size (1 to 200), a batch was parsed and planned
/// again almost every time (the SQLite parser and planner were 6% of att's instructions per
/// routed call). A batch takes one statement per bit of its size (40 rows: 32 + 8).
pub(super) fn insert_chunks<T>(events: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= MAX_ROWS_PER_INSERT {
            MAX_ROWS_PER_INSERT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, after) = rest.split_at(size);
        rest = after;
        Some(chunk)
    })
}

/// The columns a query selects, in the order [`decode`] reads them.
pub(super) const COLUMNS: &str = "SELECT id, at_ms, kind, correlation_id, data, node FROM events";

/// Appends ` AND …` for every filter of `q` but its payload fields (`q.data`).
pub(super) fn push_filters<DB>(sql: &mut QueryBuilder<DB>, q: &EventQuery)
where
    DB: Database,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
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
}

/// Appends the order and limit; true when the rows come oldest first (resuming after an
/// id), false when they come newest first and the caller reverses them.
pub(super) fn push_order<DB>(sql: &mut QueryBuilder<DB>, q: &EventQuery) -> bool
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let forward = q.after_id.is_some();
    sql.push(if forward {
        " ORDER BY id ASC LIMIT "
    } else {
        " ORDER BY id DESC LIMIT "
    })
    .push_bind(i64::from(q.limit));
    forward
}

/// One row of [`COLUMNS`] as an event.
pub(super) fn decode<R>(row: &R) -> Result<Event, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let data: String = row.try_get("data").map_err(err)?;
    Ok(Event {
        id: row.try_get("id").map_err(err)?,
        at: from_ms(row.try_get("at_ms").map_err(err)?),
        kind: row.try_get("kind").map_err(err)?,
        correlation_id: row.try_get("correlation_id").map_err(err)?,
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError(format!("bad event data: {e}")))?,
        node: row.try_get("node").map_err(err)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_is_cut_into_power_of_two_inserts_largest_first() {
        let table: &[(usize, &[usize])] = &[
            (0, &[]),
            (1, &[1]),
            (2, &[2]),
            (3, &[2, 1]),
            (40, &[32, 8]),
            (127, &[64, 32, 16, 8, 4, 2, 1]),
            (128, &[128]),
            (200, &[128, 64, 8]),
            (300, &[128, 128, 32, 8, 4]),
        ];
        for (n, want) in table {
            let events: Vec<usize> = (0..*n).collect();
            let chunks: Vec<&[usize]> = insert_chunks(&events).collect();
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(&sizes, want, "{n} events");
            // Every event once, in order.
            assert_eq!(chunks.concat(), events, "{n} events");
        }
    }
}
