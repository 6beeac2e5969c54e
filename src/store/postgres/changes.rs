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
//!
//! The same connection listens on a second channel, [`ANSWERS`]: a client's answer to a
//! request another att relayed, forwarded to that att ([`crate::http::mcp_answers`]). That
//! payload is the data (a notification at most [`MAX_PAYLOAD`] bytes): it is passed on
//! as it came, and one missed while the listener reconnects is lost (the call waiting for it
//! ends with its timeout).

use std::time::Duration;

use crate::store::Changes;

use att_runtime::events::StoreError;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::PgStore;
use crate::store::records::err;

/// The channel att notifies and listens on.
pub const CHANNEL: &str = "att_changes";
/// The channel of the clients' answers forwarded between atts.
pub const ANSWERS: &str = "att_answers";
/// The largest payload a notification carries (PostgreSQL refuses 8000 bytes and more).
pub const MAX_PAYLOAD: usize = 7900;
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

    /// Sends `payload` (at most [`MAX_PAYLOAD`] bytes) to every att's [`Changes::answers`].
    pub(super) async fn send_answer(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(StoreError(format!(
                "a forwarded answer of {} bytes is over the {MAX_PAYLOAD} bytes a notification carries",
                payload.len()
            )));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ANSWERS)
            .bind(payload)
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
    if let Err(e) = listener.listen_all([CHANNEL, ANSWERS]).await {
        return e;
    }
    loop {
        // (Re)connected: what was missed is read again.
        changes.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == ANSWERS => changes.answered(n.payload()),
                Ok(Some(n)) => changes.wake(n.payload()),
                // The connection was lost; the next `try_recv` reconnects and listens again.
                Ok(None) => break,
                Err(e) => return e,
            }
        }
    }
}
