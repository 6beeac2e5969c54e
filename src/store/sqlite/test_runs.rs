//! Test runs of workspace projects (`test_runs`).

use att_runtime::events::StoreError;

use super::{SqliteStore, err, to_ms};
use crate::test_run::{TestRunRecord, TestRunStore};

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
