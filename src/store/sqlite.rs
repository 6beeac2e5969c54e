//! The SQLite adapter.
//!
//! WAL journal with `synchronous = NORMAL`: a committed transaction survives a crash of the
//! att process (the case `kill -9` tests); only a power loss may take the last commits.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use att_gateway::upstream::{UpstreamSpec, UpstreamStore};
use att_release::service::spec::ServiceSpec;
use att_runtime::events::{Event, EventQuery, EventStore, NewEvent, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use time::OffsetDateTime;

use super::{OpenError, StoreHealth};
use crate::project::{Project, ProjectStore};
use crate::services::ServiceStore;
use crate::test_run::{TestRunRecord, TestRunStore};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
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
        })
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

fn err(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        // One multi-row INSERT per chunk: sqlx's per-statement cost, not SQLite's, dominated
        // row-at-a-time writes (see todo/perf.md). In this single-writer transaction the
        // AUTOINCREMENT ids of one statement are consecutive, in VALUES order, ending at
        // last_insert_rowid.
        const ROWS_PER_STATEMENT: usize = 200;
        let mut tx = self.pool.begin().await.map_err(err)?;
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO events (at_ms, kind, correlation_id, data) ");
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(to_ms(e.at))
                    .push_bind(e.kind.clone())
                    .push_bind(e.correlation_id.clone())
                    .push_bind(e.data.to_string());
            });
            let done = insert.build().execute(&mut *tx).await.map_err(err)?;
            let last = done.last_insert_rowid();
            let first =
                last + 1 - i64::try_from(chunk.len()).map_err(|e| StoreError(e.to_string()))?;
            ids.extend(first..=last);
        }
        tx.commit().await.map_err(err)?;
        Ok(ids)
    }

    async fn query_events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut sql = QueryBuilder::new(
            "SELECT id, at_ms, kind, correlation_id, data FROM events WHERE 1 = 1",
        );
        match q.kind.as_deref().map(|k| (k, k.strip_suffix(".*"))) {
            Some((_, Some(prefix))) => {
                // `kind` values are restricted to [a-z0-9._-], so no LIKE escaping is needed
                // beyond `_`, which we escape.
                let pattern = format!("{}.%", prefix.replace('_', "\\_"));
                sql.push(" AND kind LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\'");
            }
            Some((k, None)) => {
                sql.push(" AND kind = ").push_bind(k.to_owned());
            }
            None => {}
        }
        if let Some(c) = &q.correlation_id {
            sql.push(" AND correlation_id = ").push_bind(c.clone());
        }
        if let Some(s) = q.since {
            sql.push(" AND at_ms >= ").push_bind(to_ms(s));
        }
        if let Some(a) = q.after_id {
            sql.push(" AND id > ").push_bind(a);
        }
        for (key, value) in &q.data {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(StoreError(format!("`{key}` is not a payload field name")));
            }
            sql.push(" AND json_extract(data, ")
                .push_bind(format!("$.{key}"))
                .push(") = ")
                .push_bind(value.clone());
        }
        // Resuming pages forward from `after_id`; otherwise the newest events are wanted.
        let forward = q.after_id.is_some();
        sql.push(if forward {
            " ORDER BY id ASC LIMIT "
        } else {
            " ORDER BY id DESC LIMIT "
        })
        .push_bind(i64::from(q.limit));
        let mut rows = sql.build().fetch_all(&self.pool).await.map_err(err)?;
        if !forward {
            rows.reverse();
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let data: String = row.try_get("data").map_err(err)?;
            out.push(Event {
                id: row.try_get("id").map_err(err)?,
                at: from_ms(row.try_get("at_ms").map_err(err)?),
                kind: row.try_get("kind").map_err(err)?,
                correlation_id: row.try_get("correlation_id").map_err(err)?,
                data: serde_json::from_str(&data)
                    .map_err(|e| StoreError(format!("bad event data: {e}")))?,
            });
        }
        Ok(out)
    }
}

/// The tables that keep API registrations by name as JSON (`upstreams`, `services`,
/// `projects`).
#[derive(Clone, Copy)]
enum Named {
    Upstreams,
    Services,
    Projects,
}

impl Named {
    fn upsert(self) -> &'static str {
        match self {
            Self::Upstreams => {
                "INSERT INTO upstreams (name, spec, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms"
            }
            Self::Services => {
                "INSERT INTO services (name, spec, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms"
            }
            Self::Projects => {
                "INSERT INTO projects (name, spec, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Self::Upstreams => "DELETE FROM upstreams WHERE name = ?",
            Self::Services => "DELETE FROM services WHERE name = ?",
            Self::Projects => "DELETE FROM projects WHERE name = ?",
        }
    }

    fn list(self) -> &'static str {
        match self {
            Self::Upstreams => "SELECT name, spec FROM upstreams ORDER BY name",
            Self::Services => "SELECT name, spec FROM services ORDER BY name",
            Self::Projects => "SELECT name, spec FROM projects ORDER BY name",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Upstreams => "upstream",
            Self::Services => "service",
            Self::Projects => "project",
        }
    }
}

/// Logs the durations of a stored record that were out of range and were clamped.
fn log_clamped(what: &str, name: &str, clamped: &[att_runtime::duration::OutOfRange]) {
    for c in clamped {
        tracing::error!(
            "stored {what} `{name}`: {c}; using the nearest allowed value (register it again to fix the record)"
        );
    }
}

impl SqliteStore {
    async fn save_named<T: serde::Serialize>(
        &self,
        kind: Named,
        name: &str,
        spec: &T,
    ) -> Result<(), StoreError> {
        let now = to_ms(OffsetDateTime::now_utc());
        let json = serde_json::to_string(spec)
            .map_err(|e| StoreError(format!("cannot encode {}: {e}", kind.what())))?;
        sqlx::query(kind.upsert())
            .bind(name)
            .bind(json)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_named(&self, kind: Named, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(kind.delete())
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_named<T: serde::de::DeserializeOwned>(
        &self,
        kind: Named,
    ) -> Result<Vec<T>, StoreError> {
        self.read_named(kind, |text| {
            serde_json::from_str(text).map_err(|e| e.to_string())
        })
        .await
    }

    /// Every stored row of `kind`, each read by `read` (its error names the row).
    async fn read_named<T>(
        &self,
        kind: Named,
        read: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(kind.list())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.into_iter()
            .map(|(name, spec)| {
                read(&spec).map_err(|e| {
                    StoreError(format!(
                        "stored {} `{name}` is unreadable: {e}",
                        kind.what()
                    ))
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl UpstreamStore for SqliteStore {
    async fn save_upstream(&self, spec: &UpstreamSpec) -> Result<(), StoreError> {
        self.save_named(Named::Upstreams, &spec.name, spec).await
    }

    async fn delete_upstream(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named(Named::Upstreams, name).await
    }

    /// Stored upstreams; a duration outside its range (stored before the ranges existed) is
    /// clamped into it, with an error logged, rather than stopping att or melting down the
    /// upstream's actor.
    async fn list_upstreams(&self) -> Result<Vec<UpstreamSpec>, StoreError> {
        self.read_named(Named::Upstreams, |text| {
            let (spec, clamped) = UpstreamSpec::from_stored(text).map_err(|e| e.to_string())?;
            log_clamped("upstream", &spec.name, &clamped);
            Ok(spec)
        })
        .await
    }
}

#[async_trait::async_trait]
impl att_release::model::ReleaseStore for SqliteStore {
    async fn save_release(&self, release: &att_release::model::Release) -> Result<(), StoreError> {
        let json = serde_json::to_string(release)
            .map_err(|e| StoreError(format!("cannot encode release: {e}")))?;
        sqlx::query(
            "INSERT INTO releases (target, id, created_at_ms, data) VALUES (?, ?, ?, ?) \
             ON CONFLICT (target, id) DO UPDATE SET data = excluded.data",
        )
        .bind(&release.target)
        .bind(&release.id)
        .bind(to_ms(release.created_at))
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn list_releases(
        &self,
        target: &str,
    ) -> Result<Vec<att_release::model::Release>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT data FROM releases WHERE target = ? ORDER BY created_at_ms DESC, rowid DESC",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.into_iter()
            .map(|(d,)| {
                serde_json::from_str(&d)
                    .map_err(|e| StoreError(format!("stored release is unreadable: {e}")))
            })
            .collect()
    }

    async fn save_run(&self, run: &att_release::model::RunRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(run)
            .map_err(|e| StoreError(format!("cannot encode run: {e}")))?;
        let status = serde_json::to_value(run.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO runs (id, target, status, created_at_ms, data) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
        )
        .bind(&run.id)
        .bind(&run.target)
        .bind(status)
        .bind(to_ms(run.created_at))
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_run(&self, id: &str) -> Result<Option<att_release::model::RunRecord>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT data FROM runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|(d,)| {
            serde_json::from_str(&d)
                .map_err(|e| StoreError(format!("stored run is unreadable: {e}")))
        })
        .transpose()
    }

    async fn list_runs(
        &self,
        limit: u32,
    ) -> Result<Vec<att_release::model::RunRecord>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT data FROM runs ORDER BY created_at_ms DESC, rowid DESC LIMIT ?")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        rows.into_iter()
            .map(|(d,)| {
                serde_json::from_str(&d)
                    .map_err(|e| StoreError(format!("stored run is unreadable: {e}")))
            })
            .collect()
    }
}

/// Managed services registered over the API (config-file services are not stored).
#[async_trait::async_trait]
impl ServiceStore for SqliteStore {
    async fn save_service(&self, spec: &ServiceSpec) -> Result<(), StoreError> {
        self.save_named(Named::Services, &spec.name, spec).await
    }

    async fn delete_service(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named(Named::Services, name).await
    }

    /// Stored services; durations outside their ranges are clamped, with an error logged.
    async fn list_services(&self) -> Result<Vec<ServiceSpec>, StoreError> {
        self.read_named(Named::Services, |text| {
            let spec: ServiceSpec = serde_json::from_str(text).map_err(|e| e.to_string())?;
            let (spec, clamped) = spec.clamped();
            log_clamped("service", &spec.name, &clamped);
            Ok(spec)
        })
        .await
    }
}

#[async_trait::async_trait]
impl ProjectStore for SqliteStore {
    async fn save_project(&self, project: &Project) -> Result<(), StoreError> {
        self.save_named(Named::Projects, &project.name, project)
            .await
    }

    async fn delete_project(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_named(Named::Projects, name).await
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        self.list_named(Named::Projects).await
    }
}

/// Test runs: the record's JSON in `data`, beside the columns they are looked up by.
#[async_trait::async_trait]
impl TestRunStore for SqliteStore {
    async fn save_test_run(&self, run: &TestRunRecord) -> Result<(), StoreError> {
        let data = serde_json::to_string(run)
            .map_err(|e| StoreError(format!("cannot encode test run: {e}")))?;
        sqlx::query(
            "INSERT INTO test_runs (id, project, status, created_at_ms, data) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
        )
        .bind(&run.id)
        .bind(&run.project)
        .bind(&run.status)
        .bind(to_ms(run.started_at))
        .bind(data)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_test_run(&self, id: &str) -> Result<Option<TestRunRecord>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT data FROM test_runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|(d,)| test_run(&d)).transpose()
    }

    async fn running_test_runs(&self) -> Result<Vec<TestRunRecord>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT data FROM test_runs WHERE status = 'running'")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        rows.iter().map(|(d,)| test_run(d)).collect()
    }

    async fn list_test_runs(
        &self,
        project: &str,
        limit: u32,
    ) -> Result<Vec<TestRunRecord>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT data FROM test_runs WHERE project = ? \
             ORDER BY created_at_ms DESC, rowid DESC LIMIT ?",
        )
        .bind(project)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(|(d,)| test_run(d)).collect()
    }
}

fn test_run(data: &str) -> Result<TestRunRecord, StoreError> {
    serde_json::from_str(data)
        .map_err(|e| StoreError(format!("stored test run is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = SqliteStore::open(&dir.path().join("att.db"))
            .await
            .expect("open");
        (dir, s)
    }

    #[tokio::test]
    async fn appended_events_come_back_newest_n_oldest_first_with_filters() {
        let (_d, s) = store().await;
        let mut batch = Vec::new();
        for i in 0..6 {
            let kind = if i % 2 == 0 {
                "actor.restarted"
            } else {
                "upstream.status"
            };
            let mut e = NewEvent::new(kind, json!({ "i": i }));
            if i >= 3 {
                e = e.correlated("req-1");
            }
            batch.push(e);
        }
        let stored = s.append_events(&batch).await.expect("append");
        assert!(stored.windows(2).all(|w| w[0] < w[1]));

        let q = |kind: Option<&str>, cid: Option<&str>, limit| EventQuery {
            kind: kind.map(Into::into),
            correlation_id: cid.map(Into::into),
            limit,
            ..Default::default()
        };
        let ids = |v: Vec<Event>| {
            v.into_iter()
                .map(|e| e.data["i"].as_i64().unwrap_or(-1))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(s.query_events(&q(None, None, 3)).await.expect("q")),
            [3, 4, 5]
        );
        assert_eq!(
            ids(s
                .query_events(&q(Some("actor.restarted"), None, 10))
                .await
                .expect("q")),
            [0, 2, 4]
        );
        assert_eq!(
            ids(s
                .query_events(&q(Some("actor.*"), None, 10))
                .await
                .expect("q")),
            [0, 2, 4]
        );
        assert_eq!(
            ids(s.query_events(&q(None, Some("req-1"), 2)).await.expect("q")),
            [4, 5]
        );
        let after = EventQuery {
            after_id: Some(stored[4]),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(ids(s.query_events(&after).await.expect("q")), [5]);
        // After an id, a limit takes the oldest ones: a page forward, not the newest.
        let page = EventQuery {
            after_id: Some(stored[0]),
            limit: 2,
            ..Default::default()
        };
        assert_eq!(ids(s.query_events(&page).await.expect("q")), [1, 2]);
    }

    #[tokio::test]
    async fn upstreams_are_saved_replaced_listed_and_deleted_across_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("att.db");
        let spec = |name: &str, url: &str| -> UpstreamSpec {
            serde_json::from_value(json!({"name": name, "url": url, "priority": 7})).expect("spec")
        };
        let s = SqliteStore::open(&path).await.expect("open");
        s.save_upstream(&spec("b", "http://127.0.0.1:1/mcp"))
            .await
            .expect("save");
        s.save_upstream(&spec("a", "http://127.0.0.1:2/mcp"))
            .await
            .expect("save");
        s.save_upstream(&spec("b", "http://127.0.0.1:3/mcp"))
            .await
            .expect("replace");
        s.close().await;
        let s = SqliteStore::open(&path).await.expect("reopen");
        let all = s.list_upstreams().await.expect("list");
        assert_eq!(
            all,
            vec![
                spec("a", "http://127.0.0.1:2/mcp"),
                spec("b", "http://127.0.0.1:3/mcp")
            ]
        );
        assert!(s.delete_upstream("a").await.expect("delete"));
        assert!(!s.delete_upstream("a").await.expect("delete again"));
        assert_eq!(s.list_upstreams().await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn test_runs_are_updated_in_place_and_listed_newest_first_per_project() {
        let (_d, s) = store().await;
        let run = |id: &str, project: &str, minute: u8, status: &str| TestRunRecord {
            id: id.into(),
            project: project.into(),
            caller: "test".into(),
            suite: None,
            status: status.into(),
            error: None,
            pid: None,
            process: None,
            program: Some("true".into()),
            started_at: time::macros::datetime!(2024-01-01 00:00 UTC)
                + time::Duration::minutes(minute.into()),
            ended_at: None,
            outcome: None,
        };
        s.save_test_run(&run("t1", "p", 1, "running"))
            .await
            .expect("save");
        s.save_test_run(&run("t2", "p", 2, "running"))
            .await
            .expect("save");
        s.save_test_run(&run("t3", "q", 3, "completed"))
            .await
            .expect("save");
        s.save_test_run(&run("t1", "p", 1, "interrupted"))
            .await
            .expect("update");
        let ids = |runs: Vec<TestRunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.list_test_runs("p", 10).await.expect("list")),
            ["t2", "t1"]
        );
        assert_eq!(ids(s.list_test_runs("p", 1).await.expect("list")), ["t2"]);
        assert_eq!(ids(s.running_test_runs().await.expect("running")), ["t2"]);
        let t1 = s.get_test_run("t1").await.expect("get").expect("t1");
        assert_eq!(
            (t1.status.as_str(), t1.started_at),
            ("interrupted", run("t1", "p", 1, "").started_at)
        );
        assert!(s.get_test_run("none").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn reopening_keeps_events_and_schema_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("att.db");
        let s = SqliteStore::open(&path).await.expect("open");
        s.append_events(&[NewEvent::new("x.y", json!(null))])
            .await
            .expect("append");
        let v = s.schema_version().await.expect("version");
        assert!(v >= 1);
        s.close().await;
        let s = SqliteStore::open(&path).await.expect("reopen");
        let all = s
            .query_events(&EventQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(all.len(), 1);
        assert_eq!(s.schema_version().await.expect("version"), v);
    }
}
