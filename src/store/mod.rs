//! The store: att's durable state behind ports, one per table family, each defined beside
//! what it keeps — `EventStore` in `att-runtime`, `UpstreamStore` in `att-gateway`,
//! `ReleaseStore` in `att-release`, and in this crate [`crate::project::ProjectStore`],
//! [`crate::test_run::TestRunStore`], [`crate::services::ServiceStore`] and [`StoreHealth`].
//!
//! Today the adapter is SQLite (a file in the data directory, WAL mode, versioned migrations
//! embedded in the binary). The ports are the seam for the PostgreSQL adapter: callers hold
//! `Arc<dyn …>` of a port, never a SQLite type; only `server.rs` opens the adapter and hands
//! it out.

pub mod seal;
mod sqlite;

pub use sqlite::SqliteStore;

use att_runtime::store::StoreError;

/// Whether the store answers: what readiness (`GET /api/v1/ready`) asks of it.
#[async_trait::async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Runs a trivial query; the error says why the store did not answer.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened or created.
    #[error("cannot open the database `{path}`: {source}")]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("cannot migrate the database `{path}`: {source}")]
    Migrate {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
}
