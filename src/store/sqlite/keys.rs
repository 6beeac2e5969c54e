//! API keys (`api_keys`): only each key's hash is stored.

use att_runtime::events::StoreError;
use sqlx::Row;
use time::OffsetDateTime;

use super::{SqliteStore, err, from_ms, to_ms};
use crate::auth::{KeyRecord, KeyStore, Role};

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO api_keys (id, name, role, hash, created_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.hash[..])
        .bind(to_ms(key.created_at))
        .bind(key.expires_at.map(to_ms))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_key(&self, name: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = ? WHERE name = ? AND revoked_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, role, hash, created_at_ms, expires_at_ms, revoked_at_ms \
             FROM api_keys ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                let role: String = r.get("role");
                let hash: Vec<u8> = r.get("hash");
                Ok(KeyRecord {
                    id: r.get("id"),
                    name: r.get("name"),
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError(format!("stored key has role `{role}`")))?,
                    hash: hash
                        .try_into()
                        .map_err(|_| StoreError("stored key hash is not 32 bytes".into()))?,
                    created_at: from_ms(r.get("created_at_ms")),
                    expires_at: r.get::<Option<i64>, _>("expires_at_ms").map(from_ms),
                    revoked_at: r.get::<Option<i64>, _>("revoked_at_ms").map(from_ms),
                })
            })
            .collect()
    }
}
