//! The SQLite adapter: one file per group of tables ([`events`]; [`named`]: upstreams,
//! services and projects, kept by name as JSON; [`releases`]; [`test_runs`]; [`keys`]).
//!
//! WAL journal with `synchronous = NORMAL`: a committed transaction survives a crash of the
//! att process (the case `kill -9` tests); only a power loss may take the last commits.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use att_runtime::events::StoreError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;

use super::{OpenError, StoreHealth};

mod events;
mod keys;
mod named;
mod releases;
mod test_runs;
#[cfg(test)]
mod tests;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// Seals the secret values of registrations ([`super::seal`]); none: kept in the clear.
    seal: Option<std::sync::Arc<super::seal::Seal>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| OpenError::Open {
                path: path.to_owned(),
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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| OpenError::Open {
                path: path.to_owned(),
                source,
            })?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            pool,
            path: path.to_owned(),
            seal: None,
        })
    }

    /// This store, sealing the values of every `headers` and `env` map it writes and
    /// opening them when it reads ([`super::seal`]).
    #[must_use]
    pub fn sealed_with(mut self, seal: std::sync::Arc<super::seal::Seal>) -> Self {
        self.seal = Some(seal);
        self
    }

    /// The seal of this store, if its secrets are sealed.
    pub fn seal(&self) -> Option<std::sync::Arc<super::seal::Seal>> {
        self.seal.clone()
    }

    /// `record` as JSON, its secret values sealed for `scope` (`upstreams/<name>`).
    pub(super) fn seal_json<T: serde::Serialize>(
        &self,
        scope: &str,
        record: &T,
    ) -> Result<String, StoreError> {
        let mut tree = serde_json::to_value(record)
            .map_err(|e| StoreError(format!("cannot encode {scope}: {e}")))?;
        if let Some(seal) = &self.seal {
            seal.seal_tree(scope, &mut tree)
                .map_err(|e| StoreError(e.to_string()))?;
        }
        Ok(tree.to_string())
    }

    /// Stored JSON with its secret values opened, and whether one was stored in the clear
    /// (and should be written again, sealed).
    pub(super) fn open_json(&self, scope: &str, text: &str) -> Result<(String, bool), String> {
        let Some(seal) = &self.seal else {
            return Ok((text.to_owned(), false));
        };
        let mut tree: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let clear = seal
            .open_tree(scope, &mut tree)
            .map_err(|e| e.to_string())?;
        Ok((tree.to_string(), clear))
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

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
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

pub(super) fn err(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

pub(super) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(super) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
