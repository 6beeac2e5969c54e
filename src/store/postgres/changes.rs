//! Change notifications between the att processes sharing a PostgreSQL database: a write to
//! a registration table (`upstreams`, `services`, `projects`) is followed by
//! `pg_notify('att_changes', '<table>')`, and each att LISTENs on that channel
//! ([`PgStore::watch`]) and re-reads what changed.
//!
//! A notification is a hint, never the data: the watcher re-reads the whole table, so
//! notifications may coalesce (a [`Notify`] keeps one pending wake-up) and a lost one costs
//! nothing once the next arrives. None is lost unseen: when the listening connection drops,
//! notifications sent meanwhile are gone, so the watcher is woken on every (re)connect — a
//! catch-up read — as well as on each notification.

use std::sync::Arc;
use std::time::Duration;

use att_runtime::events::StoreError;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
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

    /// Wakes the returned [`Notify`] whenever `table` may have changed — a notification for
    /// it, or a (re)connect of the listener — until `stop`. The listener holds one pooled
    /// connection.
    pub fn watch(&self, table: &'static str, stop: CancellationToken) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let (pool, woken) = (self.pool.clone(), wake.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    why = listen(&pool, table, &woken) => {
                        tracing::warn!(error = %why, "listening for changes from other att processes: retrying");
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        });
        wake
    }
}

/// Listens until the listener fails; the error.
async fn listen(pool: &sqlx::PgPool, table: &str, wake: &Notify) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        return e;
    }
    loop {
        // (Re)connected: what was missed is read again.
        wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() == table => wake.notify_one(),
                Ok(Some(_)) => {}
                // The connection was lost; the next `try_recv` reconnects and listens again.
                Ok(None) => break,
                Err(e) => return e,
            }
        }
    }
}
