//! The port suite: one set of test bodies run against both adapters. Each body takes a
//! [`Harness`] (a fresh, empty database and the store open on it); [`both_engines!`] makes
//! a `sqlite::<body>` and a `postgres::<body>` test of each. Without a PostgreSQL server the
//! `postgres::` tests print why they were skipped and pass ([`TestDatabase`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::postgres::test_database::TestDatabase;
use super::seal::Seal;
use super::{PgStore, SqliteStore, Store};

mod events;
mod locks;
mod records;
mod sessions;

/// Where a test's database lives.
enum Engine {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres(TestDatabase),
}

/// A fresh database of one engine, and the store open on it.
pub(super) struct Harness {
    engine: Engine,
    pub store: Arc<dyn Store>,
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("att.db");
        Self {
            store: Arc::new(SqliteStore::open(&path).await.expect("open")),
            engine: Engine::Sqlite { _dir: dir, path },
        }
    }

    async fn postgres(test: &str) -> Option<Self> {
        let db = TestDatabase::create(test).await?;
        let store = Arc::new(PgStore::open(db.options()).await.expect("open"));
        Some(Self {
            engine: Engine::Postgres(db),
            store,
        })
    }

    /// Another store on the same database (a restarted att, or another replica), its
    /// secrets sealed with `seal` when given.
    pub async fn open(&self, seal: Option<Arc<Seal>>) -> Arc<dyn Store> {
        match (&self.engine, seal) {
            (Engine::Sqlite { path, .. }, None) => {
                Arc::new(SqliteStore::open(path).await.expect("open"))
            }
            (Engine::Sqlite { path, .. }, Some(s)) => {
                Arc::new(SqliteStore::open(path).await.expect("open").sealed_with(s))
            }
            (Engine::Postgres(db), None) => {
                Arc::new(PgStore::open(db.options()).await.expect("open"))
            }
            (Engine::Postgres(db), Some(s)) => Arc::new(
                PgStore::open(db.options())
                    .await
                    .expect("open")
                    .sealed_with(s),
            ),
        }
    }

    /// Another store on the same database whose events name `node` as their writer.
    pub async fn open_on_node(&self, node: &str) -> Arc<dyn Store> {
        match &self.engine {
            Engine::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path)
                    .await
                    .expect("open")
                    .on_node(node.into()),
            ),
            Engine::Postgres(db) => Arc::new(
                PgStore::open(db.options())
                    .await
                    .expect("open")
                    .on_node(node.into()),
            ),
        }
    }

    /// Runs `sql` (`$1`… bound to `args`) on the database directly, past the store; the
    /// first column of each row, as text.
    pub async fn raw(&self, sql: &'static str, args: &[&str]) -> Vec<String> {
        use sqlx::Row;
        match &self.engine {
            Engine::Sqlite { path, .. } => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .expect("raw connect");
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                let rows = q.fetch_all(&pool).await.expect("raw query");
                pool.close().await;
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Engine::Postgres(db) => {
                let pool = sqlx::PgPool::connect_with(db.options())
                    .await
                    .expect("raw connect");
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                let rows = q.fetch_all(&pool).await.expect("raw query");
                pool.close().await;
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }
}

/// A seal with a fixed key (`n` picks which).
pub(super) fn seal(n: u8) -> Arc<Seal> {
    Arc::new(Seal::from_bytes(&[n; 32]).expect("key"))
}

/// `sqlite::<body>` and `postgres::<body>` tests of each body (`async fn(Harness)` in the
/// invoking module).
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::store::suite::Harness::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(h) = crate::store::suite::Harness::postgres(concat!(
                        module_path!(), "::", stringify!($name)
                    ))
                    .await
                    else {
                        return;
                    };
                    super::$name(h).await;
                }
            )*
        }
    };
}
use both_engines;
