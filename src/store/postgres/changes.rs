//! Change notifications between the att processes sharing a PostgreSQL database: a write to
//! a followed table ([`TABLES`]: `upstreams`, `services`, `projects`, `mcp_sessions`,
//! `target_locks` when a run is requested for another node) is followed by
//! `pg_notify('att_changes', '<table>')`, and each att LISTENs on that channel — one
//! connection for every table ([`PgStore::watch`]) — and re-reads what changed.
//!
//! A notification is a hint, never the data: the watcher re-reads the whole table, so
//! notifications may coalesce (a [`Notify`] keeps one pending wake-up) and a lost one costs
//! nothing once the next arrives. None is lost unseen: when the listening connection drops,
//! notifications sent meanwhile are gone, so every table's watcher is woken on every
//! (re)connect — a catch-up read — as well as on each notification for its table.

use std::time::Duration;

use crate::store::Changes;

use att_runtime::events::StoreError;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::PgStore;
use crate::store::records::err;

/// The channel att notifies and listens on.
pub const CHANNEL: &str = "att_changes";
/// How long to wait before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

impl PgStore {
    /// Tells the other att processes that `table` changed.
    pub(super) async fn changed(&self, table: &'static str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(table)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Wakes each table's [`Notify`] of the returned [`Changes`] whenever that table may
    /// have changed — a notification for it, or a (re)connect of the listener — until
    /// `stop`. The listener holds one pooled connection, and there is one per store: a later
    /// call gets the first one's [`Changes`] (its `stop` is the first caller's).
    pub fn watch(&self, stop: CancellationToken) -> Changes {
        self.changes
            .get_or_init(|| self.listen_for_changes(stop))
            .clone()
    }

    fn listen_for_changes(&self, stop: CancellationToken) -> Changes {
        let changes = Changes::new();
        let (pool, woken) = (self.pool.clone(), changes.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    why = listen(&pool, &woken) => {
                        tracing::warn!(error = %why, "listening for changes from other att processes: retrying");
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        });
        changes
    }
}

/// Listens until the listener fails; the error.
async fn listen(pool: &sqlx::PgPool, changes: &Changes) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        return e;
    }
    loop {
        // (Re)connected: what was missed is read again.
        changes.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => changes.wake(n.payload()),
                // The connection was lost; the next `try_recv` reconnects and listens again.
                Ok(None) => break,
                Err(e) => return e,
            }
        }
    }
}
