//! The store: att's durable state behind ports defined beside what they keep — events in
//! `att-runtime`, upstreams in `att-gateway`, releases in `att-release`, projects
//! (`crate::project`) and test runs (`crate::test_run`) here.
//!
//! Today the adapter is SQLite (a file in the data directory, WAL mode, versioned migrations
//! embedded in the binary). The ports are the seam for the PostgreSQL adapter: callers hold
//! `Arc<dyn EventStore>`, `Arc<dyn ToolStore>` and their siblings, never a SQLite type.

mod sqlite;

pub use sqlite::SqliteStore;

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
