//! Registrations kept by name as JSON: `upstreams`, `services`, `projects` (one set of
//! statements, [`Named`], for the three tables).

use att_gateway::upstream::{UpstreamSpec, UpstreamStore};
use att_release::service::spec::ServiceSpec;
use att_runtime::events::StoreError;
use time::OffsetDateTime;

use super::{SqliteStore, err, to_ms};
use crate::project::{Project, ProjectStore};
use crate::services::ServiceStore;

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

    fn reseal(self) -> &'static str {
        match self {
            Self::Upstreams => "UPDATE upstreams SET spec = ? WHERE name = ?",
            Self::Services => "UPDATE services SET spec = ? WHERE name = ?",
            Self::Projects => "UPDATE projects SET spec = ? WHERE name = ?",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Upstreams => "upstreams",
            Self::Services => "services",
            Self::Projects => "projects",
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
        let json = self.seal_json(&format!("{}/{name}", kind.table()), spec)?;
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
        let mut out = Vec::with_capacity(rows.len());
        for (name, stored) in rows {
            let unreadable = |e: String| {
                StoreError(format!(
                    "stored {} `{name}` is unreadable: {e}",
                    kind.what()
                ))
            };
            let scope = format!("{}/{name}", kind.table());
            let (text, clear) = self.open_json(&scope, &stored).map_err(unreadable)?;
            out.push(read(&text).map_err(unreadable)?);
            if clear {
                // Stored before secrets were sealed: sealed now.
                let tree: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
                let sealed = self.seal_json(&scope, &tree)?;
                sqlx::query(kind.reseal())
                    .bind(sealed)
                    .bind(&name)
                    .execute(&self.pool)
                    .await
                    .map_err(err)?;
            }
        }
        Ok(out)
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
