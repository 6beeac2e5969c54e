//! The cluster's `/mcp` sessions (`mcp_sessions`) on PostgreSQL: the port
//! [`crate::http::mcp_shared::McpSessionStore`]. Every write that another att must follow
//! (log level, subscriptions, end) is followed by a notification on the change channel
//! ([`super::changes`], table `mcp_sessions`); subscriptions change with array operations in
//! one statement, so two atts adding at once both land.

use std::sync::Arc;

use att_runtime::events::StoreError;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::PgStore;
use crate::http::mcp_shared::{McpSessionStore, SharedSession};
use crate::store::records::{err, to_ms};

/// The table, as the change channel names it.
const TABLE: &str = "mcp_sessions";
const COLUMNS: &str = "id, principal, endpoint, initialize, log_level, subscriptions";

fn decode(row: &PgRow) -> Result<SharedSession, StoreError> {
    Ok(SharedSession {
        id: row.try_get("id").map_err(err)?,
        principal: row.try_get("principal").map_err(err)?,
        endpoint: row.try_get("endpoint").map_err(err)?,
        initialize: row.try_get("initialize").map_err(err)?,
        log_level: row.try_get("log_level").map_err(err)?,
        subscriptions: row.try_get("subscriptions").map_err(err)?,
    })
}

#[async_trait::async_trait]
impl McpSessionStore for PgStore {
    async fn open_session(
        &self,
        session: &SharedSession,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mcp_sessions (id, principal, endpoint, initialize, log_level, \
             subscriptions, created_at_ms, seen_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&session.id)
        .bind(&session.principal)
        .bind(&session.endpoint)
        .bind(&session.initialize)
        .bind(&session.log_level)
        .bind(&session.subscriptions)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn session(
        &self,
        id: &str,
        live_after: OffsetDateTime,
    ) -> Result<Option<SharedSession>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_sessions WHERE id = $1 AND seen_at_ms > $2"
        )))
        .bind(id)
        .bind(to_ms(live_after))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.as_ref().map(decode).transpose()
    }

    async fn sessions(
        &self,
        ids: &[String],
        live_after: OffsetDateTime,
    ) -> Result<Vec<SharedSession>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_sessions WHERE id = ANY($1) AND seen_at_ms > $2"
        )))
        .bind(ids)
        .bind(to_ms(live_after))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(decode).collect()
    }

    async fn count_live(
        &self,
        principal: &str,
        live_after: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mcp_sessions WHERE principal = $1 AND seen_at_ms > $2",
        )
        .bind(principal)
        .bind(to_ms(live_after))
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn touch(&self, ids: &[String], now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mcp_sessions SET seen_at_ms = GREATEST(seen_at_ms, $2) WHERE id = ANY($1)",
        )
        .bind(ids)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn set_log_level(&self, id: &str, level: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mcp_sessions SET log_level = $2 WHERE id = $1")
            .bind(id)
            .bind(level)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        self.changed(TABLE).await
    }

    async fn add_subscription(&self, id: &str, uri: &str, max: usize) -> Result<bool, StoreError> {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        let held: Option<bool> = sqlx::query_scalar(
            "UPDATE mcp_sessions SET subscriptions = CASE \
               WHEN $2 = ANY(subscriptions) OR cardinality(subscriptions) >= $3 THEN subscriptions \
               ELSE array_append(subscriptions, $2) END \
             WHERE id = $1 RETURNING $2 = ANY(subscriptions)",
        )
        .bind(id)
        .bind(uri)
        .bind(max)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        self.changed(TABLE).await?;
        Ok(held.unwrap_or(false))
    }

    async fn remove_subscription(&self, id: &str, uri: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mcp_sessions SET subscriptions = array_remove(subscriptions, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(uri)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        self.changed(TABLE).await
    }

    async fn end_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        self.changed(TABLE).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn forget_expired(&self, live_after: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_sessions WHERE seen_at_ms <= $1")
            .bind(to_ms(live_after))
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected())
    }

    async fn forward_answer(&self, payload: &str) -> Result<(), StoreError> {
        self.send_answer(payload).await
    }

    fn forwarded_answers(
        &self,
        stop: CancellationToken,
    ) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        PgStore::watch(self, stop).answers()
    }

    fn watch(&self, stop: CancellationToken) -> Arc<Notify> {
        PgStore::watch(self, stop)
            .of(TABLE)
            .unwrap_or_else(|| Arc::new(Notify::new()))
    }
}
