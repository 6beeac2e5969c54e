//! The store: att's durable state behind ports, one per table family, each defined beside
//! what it keeps — `EventStore` in `att-runtime`, `UpstreamStore` in `att-gateway`,
//! `ReleaseStore` in `att-release`, and in this crate [`crate::project::ProjectStore`],
//! [`crate::test_run::TestRunStore`], [`crate::services::ServiceStore`],
//! [`crate::auth::KeyStore`], [`crate::http::dashboard::session::SessionStore`] and
//! [`StoreHealth`].
//!
//! Two adapters implement every port: SQLite ([`SqliteStore`], a file in the data
//! directory, the embedded default) and PostgreSQL ([`PgStore`], chosen by
//! `database_url = "postgres://…"`, shared by the att processes of a cluster). Each has its
//! versioned migrations (`migrations/sqlite`, `migrations/postgres`, the same schema
//! semantics) embedded in the binary. What both do to a record — sealing its secrets,
//! decoding it, naming it in errors — is written once ([`records`]), and so is the SQL both
//! engines read alike ([`ports`]); each adapter keeps only its connection set-up and its
//! event log.
//!
//! Callers hold `Arc<dyn …>` of a port (or of [`Store`], all of them), never an adapter
//! type; only `server.rs` opens the store ([`open`]) and hands it out.

mod event_query;
mod ports;
pub mod postgres;
mod records;
pub mod seal;
mod sqlite;
#[cfg(test)]
mod suite;

use std::path::Path;
use std::sync::Arc;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use att_runtime::store::StoreError;

use crate::config::DatabaseUrl;

/// Whether the store answers: what readiness (`GET /api/v1/ready`) asks of it.
#[async_trait::async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Runs a trivial query; the error says why the store did not answer.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Every port of the store, in one object: what an adapter is. (`ToolStore` is projects,
/// test runs and releases.)
#[async_trait::async_trait]
pub trait Store:
    att_runtime::events::EventStore
    + att_gateway::upstream::UpstreamStore
    + crate::services::ServiceStore
    + crate::tools::ToolStore
    + crate::auth::KeyStore
    + crate::cluster::ClusterStore
    + crate::http::dashboard::session::SessionStore
    + StoreHealth
{
    /// The seal of this store, if its secrets are sealed.
    fn seal(&self) -> Option<Arc<seal::Seal>>;
    /// Closes the pool, waiting for connections to finish.
    async fn close(&self);
    /// Wakes a table's `Notify` in the returned [`Changes`] whenever another att sharing the
    /// database may have changed it, until `stop`; `None` when no other att can (SQLite).
    fn watch(&self, _stop: tokio_util::sync::CancellationToken) -> Option<Changes> {
        None
    }
    /// Where the `/mcp` sessions of the att processes sharing the database are kept; `None`
    /// when no other att can serve them (SQLite).
    fn mcp_sessions(&self) -> Option<Arc<dyn crate::http::mcp_shared::McpSessionStore>> {
        None
    }
}

/// The tables other att processes sharing the database write, and that each att follows
/// ([`Store::watch`]): the registrations, the shared `/mcp` sessions, the dashboard
/// sessions (a logout on one att ends the session on all), the event log (each batch
/// appended, [`crate::events_tail`]) and the target locks (a run asked of one att for another
/// node's service: that node starts it).
pub const TABLES: [&str; 7] = [
    "upstreams",
    "services",
    "projects",
    "mcp_sessions",
    "dashboard_sessions",
    "events",
    "target_locks",
];

/// One wake-up per table of [`TABLES`]: woken when the table may have changed; and the
/// messages other atts send this one through the database (the clients' answers they
/// forward, [`crate::http::mcp_answers`]). Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Changes(Arc<ChangesInner>);

#[derive(Debug)]
struct ChangesInner {
    tables: [Arc<tokio::sync::Notify>; TABLES.len()],
    answers: tokio::sync::broadcast::Sender<Arc<str>>,
}

/// Forwarded answers kept for a slow follower at most (the oldest are lost beyond, and said).
pub const FORWARDED_BACKLOG: usize = 256;

impl Changes {
    fn new() -> Self {
        Self(Arc::new(ChangesInner {
            tables: std::array::from_fn(|_| Arc::new(tokio::sync::Notify::new())),
            answers: tokio::sync::broadcast::channel(FORWARDED_BACKLOG).0,
        }))
    }

    /// The wake-up of `table` (one of [`TABLES`]); `None` for another name.
    pub fn of(&self, table: &str) -> Option<Arc<tokio::sync::Notify>> {
        let i = TABLES.iter().position(|t| *t == table)?;
        Some(self.0.tables[i].clone())
    }

    /// The answers other atts forward from now on, as they sent them.
    pub fn answers(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.0.answers.subscribe()
    }

    /// Wakes `table`'s watcher (nothing for a table not followed).
    fn wake(&self, table: &str) {
        if let Some(n) = self.of(table) {
            n.notify_one();
        }
    }

    /// Passes a forwarded answer on to its followers (none: it is dropped).
    fn answered(&self, payload: &str) {
        let _ = self.0.answers.send(Arc::from(payload));
    }

    /// Wakes every table's watcher (after the listener reconnected: anything may have
    /// changed).
    fn wake_all(&self) {
        for n in &self.0.tables {
            n.notify_one();
        }
    }
}

/// Opens the store att is configured with — PostgreSQL at `database_url` when set, else
/// SQLite in `data_dir` — applies pending migrations, seals secrets with `seal` and names
/// `node` as the writer of its events.
pub async fn open(
    database_url: Option<&DatabaseUrl>,
    data_dir: &Path,
    seal: Arc<seal::Seal>,
    node: String,
) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match database_url {
        Some(url) => Arc::new(
            PgStore::open(url.options())
                .await?
                .sealed_with(seal)
                .on_node(node),
        ),
        None => Arc::new(
            SqliteStore::open(&data_dir.join("att.db"))
                .await?
                .sealed_with(seal)
                .on_node(node),
        ),
    })
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened or created.
    #[error("cannot open the database `{database}`: {source}")]
    Open {
        /// The database file, or the PostgreSQL server and database (never a password).
        database: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The TLS handshake with the PostgreSQL server failed, or the server offers none.
    #[error("cannot open the database `{database}` over TLS (sslmode={mode}): {cause}; {hint}")]
    Tls {
        /// The server and database (never a password).
        database: String,
        /// `require`, `verify-ca` or `verify-full`.
        mode: &'static str,
        /// The TLS library's words.
        cause: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A migration failed.
    #[error("cannot migrate the database `{database}`: {source}")]
    Migrate {
        /// The database file, or the PostgreSQL server and database.
        database: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
}
