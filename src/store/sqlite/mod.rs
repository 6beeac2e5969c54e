//! The SQLite adapter: the event log ([`events`]) and, through [`super::ports`], the
//! tables whose SQL both engines share (upstreams, services, projects, releases, runs, test
//! runs, API keys).
//!
//! WAL journal with `synchronous = NORMAL`: a committed transaction survives a crash of the
//! att process (the case `kill -9` tests); only a power loss may take the last commits.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use att_runtime::events::StoreError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::records::{Sealing, err};
use super::{OpenError, StoreHealth};

mod events;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (two pools).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The event log's appends, on a connection of their own: SQLite's page cache is per
    /// connection and is dropped when another connection wrote, so appends spread over the
    /// pool's connections (it hands out the one idle longest) re-read the pages they were
    /// about to change from the file (~1.2 `pread`s per routed call; todo/perf.md). On their
    /// own connection the pages they grow stay cached between batches.
    appends: SqlitePool,
    path: PathBuf,
    /// Seals the secret values of registrations ([`super::seal`]).
    sealing: Sealing,
    /// The node whose events this store writes ([`crate::cluster`]).
    node: Option<std::sync::Arc<str>>,
}

super::ports::record_ports!(SqliteStore, seq = "rowid");

impl SqliteStore {
    /// One process writes a SQLite file: nobody to tell of a change.
    #[allow(clippy::unused_async)]
    async fn changed(&self, _table: &'static str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| OpenError::Open {
                database: path.display().to_string(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // What a record held before an update (a secret stored in the clear by an
            // earlier att, say) does not linger in the page it left.
            .pragma("secure_delete", "fast")
            // Statement journals and sort files in memory: on disk, each event batch created,
            // truncated and deleted a temporary file (a third of SQLite's time; todo/perf.md).
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(5));
        let open_error = |source| OpenError::Open {
            database: path.display().to_string(),
            source,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate {
                database: path.display().to_string(),
                source,
            })?;
        // Opened after the migrations: the schema it caches is the current one. Kept open (a
        // reopened connection starts with an empty cache).
        let appends = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        Ok(Self {
            pool,
            appends,
            path: path.to_owned(),
            sealing: Sealing::default(),
            node: None,
        })
    }

    /// This store, sealing the values of every `headers` and `env` map it writes and
    /// opening them when it reads ([`super::seal`]).
    #[must_use]
    pub fn sealed_with(mut self, seal: std::sync::Arc<super::seal::Seal>) -> Self {
        self.sealing = Sealing::with(seal);
        self
    }

    /// This store, naming `node` as the writer of every event it appends.
    #[must_use]
    pub fn on_node(mut self, node: String) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The seal of this store, if its secrets are sealed.
    pub fn seal(&self) -> Option<std::sync::Arc<super::seal::Seal>> {
        self.sealing.seal()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
        Ok(v.unwrap_or(0))
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.appends.close().await;
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl super::Store for SqliteStore {
    fn seal(&self) -> Option<std::sync::Arc<super::seal::Seal>> {
        self.sealing.seal()
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}

#[async_trait::async_trait]
impl StoreHealth for SqliteStore {
    /// Whether the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
