//! Releases and runs of the release pipeline (`releases`, `runs`).

use att_runtime::events::StoreError;

use super::{SqliteStore, err, to_ms};

#[async_trait::async_trait]
impl att_release::model::ReleaseStore for SqliteStore {
    async fn save_release(&self, release: &att_release::model::Release) -> Result<(), StoreError> {
        let json = self.seal_json(
            &format!("releases/{}/{}", release.target, release.id),
            release,
        )?;
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
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, data FROM releases WHERE target = ? ORDER BY created_at_ms DESC, rowid DESC",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        // A release stored in the clear (before sealing) is sealed when it is next saved.
        rows.into_iter()
            .map(|(id, d)| {
                let unreadable =
                    |e: String| StoreError(format!("stored release `{id}` is unreadable: {e}"));
                let (text, _) = self
                    .open_json(&format!("releases/{target}/{id}"), &d)
                    .map_err(unreadable)?;
                serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
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
