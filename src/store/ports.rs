//! The ports whose SQL is the same on SQLite and PostgreSQL, written once:
//! [`record_ports!`] implements them for an adapter type with a `pool` (an sqlx pool) and a
//! `sealing` ([`super::records::Sealing`]) field. Upstreams, services and projects kept by
//! name as JSON; releases and runs; test runs; API keys; node heartbeats; dashboard sessions.
//!
//! A write to a registration table is followed by the adapter's `changed(table)` (a
//! PostgreSQL notification to the other att processes; nothing on SQLite).
//!
//! The statements use `$n` parameters (both engines read them) and `ON CONFLICT …
//! excluded` upserts (both engines have them). What differs is passed in: the column that
//! orders rows written in the same millisecond by insertion (`rowid` in SQLite, an identity
//! column `seq` in PostgreSQL). The event log is written per engine (`events.rs` in each
//! adapter): its id allocation and JSON filters differ.

/// Implements `UpstreamStore`, `ServiceStore`, `ProjectStore`, `ReleaseStore`,
/// `TestRunStore`, `KeyStore`, `ClusterStore` and `SessionStore` for `$store`, ordering same-millisecond rows by `$seq`.
macro_rules! record_ports {
    ($store:ty, seq = $seq:literal) => {
        impl $store {
            async fn save_named<T: serde::Serialize>(
                &self,
                kind: $crate::store::records::Named,
                name: &str,
                spec: &T,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let json = self.sealing.seal_json(&kind.scope(name), spec)?;
                let query = sqlx::query(kind.upsert_sql())
                    .bind(name)
                    .bind(json)
                    .bind(to_ms(time::OffsetDateTime::now_utc()));
                let query = match kind {
                    // A service belongs to the node that registers it.
                    $crate::store::records::Named::Services => {
                        query.bind(self.node.clone().unwrap_or_default())
                    }
                    _ => query,
                };
                query
                    .execute(&self.pool)
                    .await
                    .map_err(err)?;
                self.changed(kind.table()).await
            }

            async fn delete_named(
                &self,
                kind: $crate::store::records::Named,
                name: &str,
            ) -> Result<bool, att_runtime::events::StoreError> {
                let done = sqlx::query(kind.delete_sql())
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::records::err)?;
                if done.rows_affected() > 0 {
                    self.changed(kind.table()).await?;
                }
                Ok(done.rows_affected() > 0)
            }

            /// Every stored row of `kind`, each read by `read`; rows stored in the clear
            /// are sealed and written back.
            async fn read_named<T>(
                &self,
                kind: $crate::store::records::Named,
                read: impl Fn(&str) -> Result<T, String>,
            ) -> Result<Vec<T>, att_runtime::events::StoreError> {
                use $crate::store::records::err;
                let query = sqlx::query_as(kind.list_sql());
                let query = match kind {
                    $crate::store::records::Named::Services => {
                        query.bind(self.node.clone().unwrap_or_default())
                    }
                    _ => query,
                };
                let rows: Vec<(String, String)> = query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(err)?;
                let (out, reseal) = self.sealing.read_named(kind, rows, read)?;
                for (name, sealed) in reseal {
                    sqlx::query(kind.reseal_sql())
                        .bind(sealed)
                        .bind(name)
                        .execute(&self.pool)
                        .await
                        .map_err(err)?;
                }
                Ok(out)
            }
        }

        #[async_trait::async_trait]
        impl att_gateway::upstream::UpstreamStore for $store {
            async fn save_upstream(
                &self,
                spec: &att_gateway::upstream::UpstreamSpec,
            ) -> Result<(), att_runtime::events::StoreError> {
                self.save_named($crate::store::records::Named::Upstreams, &spec.name, spec)
                    .await
            }

            async fn delete_upstream(
                &self,
                name: &str,
            ) -> Result<bool, att_runtime::events::StoreError> {
                self.delete_named($crate::store::records::Named::Upstreams, name)
                    .await
            }

            async fn list_upstreams(
                &self,
            ) -> Result<Vec<att_gateway::upstream::UpstreamSpec>, att_runtime::events::StoreError>
            {
                self.read_named(
                    $crate::store::records::Named::Upstreams,
                    $crate::store::records::read_upstream,
                )
                .await
            }
        }

        /// Managed services registered over the API (config-file services are not stored), each
        /// with the node that registered it; a store on a node lists that node's.
        #[async_trait::async_trait]
        impl $crate::services::ServiceStore for $store {
            async fn save_service(
                &self,
                spec: &att_release::service::spec::ServiceSpec,
            ) -> Result<(), att_runtime::events::StoreError> {
                self.save_named($crate::store::records::Named::Services, &spec.name, spec)
                    .await
            }

            async fn delete_service(
                &self,
                name: &str,
            ) -> Result<bool, att_runtime::events::StoreError> {
                self.delete_named($crate::store::records::Named::Services, name)
                    .await
            }

            async fn list_services(
                &self,
            ) -> Result<Vec<att_release::service::spec::ServiceSpec>, att_runtime::events::StoreError>
            {
                self.read_named(
                    $crate::store::records::Named::Services,
                    $crate::store::records::read_service,
                )
                .await
            }

            async fn service_node(
                &self,
                name: &str,
            ) -> Result<Option<String>, att_runtime::events::StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT node FROM services WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::records::err)?;
                Ok(row.map(|(n,)| n))
            }

            async fn services_elsewhere(
                &self,
            ) -> Result<
                Vec<(att_release::service::spec::ServiceSpec, String)>,
                att_runtime::events::StoreError,
            > {
                use $crate::store::records::{Named, err, read_service};
                let Some(node) = self.node.clone().filter(|n| !n.is_empty()) else {
                    return Ok(Vec::new());
                };
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT name, spec, node FROM services WHERE node <> $1 AND node <> '' \
                     ORDER BY name LIMIT $2",
                )
                .bind(node)
                .bind(i64::from($crate::services::MAX_ELSEWHERE))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                // Read only: a row stored in the clear is sealed again by its own node.
                rows.into_iter()
                    .map(|(name, stored, node)| {
                        let unreadable = |e: String| {
                            att_runtime::events::StoreError(format!(
                                "stored service `{name}` is unreadable: {e}"
                            ))
                        };
                        let (text, _) = self
                            .sealing
                            .open_json(&Named::Services.scope(&name), &stored)
                            .map_err(unreadable)?;
                        Ok((read_service(&text).map_err(unreadable)?, node))
                    })
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::project::ProjectStore for $store {
            async fn save_project(
                &self,
                project: &$crate::project::Project,
            ) -> Result<(), att_runtime::events::StoreError> {
                self.save_named(
                    $crate::store::records::Named::Projects,
                    &project.name,
                    project,
                )
                .await
            }

            async fn delete_project(
                &self,
                name: &str,
            ) -> Result<bool, att_runtime::events::StoreError> {
                self.delete_named($crate::store::records::Named::Projects, name)
                    .await
            }

            async fn list_projects(
                &self,
            ) -> Result<Vec<$crate::project::Project>, att_runtime::events::StoreError> {
                self.read_named(
                    $crate::store::records::Named::Projects,
                    $crate::store::records::read_project,
                )
                .await
            }
        }

        #[async_trait::async_trait]
        impl att_release::model::ReleaseStore for $store {
            async fn save_release(
                &self,
                release: &att_release::model::Release,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{err, release_scope, to_ms};
                let json = self
                    .sealing
                    .seal_json(&release_scope(&release.target, &release.id), release)?;
                sqlx::query(
                    "INSERT INTO releases (target, id, created_at_ms, data) VALUES ($1, $2, $3, $4) \
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

            /// A release stored in the clear (before sealing) is sealed when next saved.
            async fn list_releases(
                &self,
                target: &str,
            ) -> Result<Vec<att_release::model::Release>, att_runtime::events::StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as(concat!(
                    "SELECT id, data FROM releases WHERE target = $1 ORDER BY created_at_ms DESC, ",
                    $seq,
                    " DESC"
                ))
                .bind(target)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::records::err)?;
                rows.into_iter()
                    .map(|(id, d)| self.sealing.read_release(target, &id, &d))
                    .collect()
            }

            async fn save_run(
                &self,
                run: &att_release::model::RunRecord,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{RunRow, SAVE_RUN, err};
                let row = RunRow::of(run)?;
                sqlx::query(SAVE_RUN)
                    .bind(&row.id)
                    .bind(&row.target)
                    .bind(&row.status)
                    .bind(row.created_at_ms)
                    .bind(&row.data)
                    .execute(&self.pool)
                    .await
                    .map_err(err)?;
                Ok(())
            }

            async fn open_run(
                &self,
                run: &att_release::model::RunRecord,
                node: &str,
            ) -> Result<Result<(), String>, att_runtime::events::StoreError> {
                use $crate::store::records::{RunRow, SAVE_RUN, err, to_ms};
                let row = RunRow::of(run)?;
                // A holder that ends between the insert and the look-up: try again.
                for _ in 0..3 {
                    let mut tx = self.pool.begin().await.map_err(err)?;
                    let taken = sqlx::query(
                        "INSERT INTO target_locks (target, run_id, node, generation, taken_at_ms) \
                         VALUES ($1, $2, $3, 0, $4) ON CONFLICT (target) DO NOTHING",
                    )
                    .bind(&run.target)
                    .bind(&run.id)
                    .bind(node)
                    .bind(to_ms(time::OffsetDateTime::now_utc()))
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                    if taken.rows_affected() == 1 {
                        sqlx::query(SAVE_RUN)
                            .bind(&row.id)
                            .bind(&row.target)
                            .bind(&row.status)
                            .bind(row.created_at_ms)
                            .bind(&row.data)
                            .execute(&mut *tx)
                            .await
                            .map_err(err)?;
                        tx.commit().await.map_err(err)?;
                        // A run asked for another node: that node hears of it at once (or
                        // at its next sweep, if this notification is lost).
                        if run.status == att_release::model::RunStatus::Requested
                            && let Err(e) = self.changed("target_locks").await
                        {
                            tracing::warn!(run = %run.id, error = %e.0, "a run request was not announced");
                        }
                        return Ok(Ok(()));
                    }
                    let holder: Option<(String,)> =
                        sqlx::query_as("SELECT run_id FROM target_locks WHERE target = $1")
                            .bind(&run.target)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(err)?;
                    tx.rollback().await.map_err(err)?;
                    if let Some((holder,)) = holder {
                        return Ok(Err(holder));
                    }
                }
                Err(att_runtime::events::StoreError(format!(
                    "the lock of `{}` kept changing hands",
                    run.target
                )))
            }

            async fn close_run(
                &self,
                run: &att_release::model::RunRecord,
                node: &str,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{RunRow, SAVE_RUN, err};
                let row = RunRow::of(run)?;
                let mut tx = self.pool.begin().await.map_err(err)?;
                sqlx::query(SAVE_RUN)
                    .bind(&row.id)
                    .bind(&row.target)
                    .bind(&row.status)
                    .bind(row.created_at_ms)
                    .bind(&row.data)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                sqlx::query(
                    "DELETE FROM target_locks WHERE target = $1 AND run_id = $2 AND node = $3",
                )
                .bind(&run.target)
                .bind(&run.id)
                .bind(node)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                tx.commit().await.map_err(err)
            }

            async fn target_locks(
                &self,
            ) -> Result<Vec<att_release::model::TargetLock>, att_runtime::events::StoreError>
            {
                use $crate::store::records::{err, from_ms};
                let rows: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
                    // A holder with no heartbeat yet is as alive as its taking of the lock:
                    // an att sweeps (and claims) at start, before its first heartbeat.
                    "SELECT l.target, l.run_id, l.node, l.generation, \
                     COALESCE(n.heartbeat_at_ms, l.taken_at_ms) \
                     FROM target_locks l LEFT JOIN nodes n ON n.id = l.node \
                     ORDER BY l.taken_at_ms, l.target LIMIT $1",
                )
                .bind(i64::from(att_release::model::MAX_LOCKS))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                Ok(rows
                    .into_iter()
                    .map(|(target, run_id, node, generation, beat)| {
                        att_release::model::TargetLock {
                            target,
                            run_id,
                            node,
                            generation,
                            heartbeat_at: beat.map(from_ms),
                        }
                    })
                    .collect())
            }

            async fn claim_lock(
                &self,
                lock: &att_release::model::TargetLock,
                node: &str,
            ) -> Result<bool, att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let done = sqlx::query(
                    "UPDATE target_locks SET node = $1, generation = generation + 1, \
                     taken_at_ms = $2 WHERE target = $3 AND run_id = $4 AND generation = $5",
                )
                .bind(node)
                .bind(to_ms(time::OffsetDateTime::now_utc()))
                .bind(&lock.target)
                .bind(&lock.run_id)
                .bind(lock.generation)
                .execute(&self.pool)
                .await
                .map_err(err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_run(
                &self,
                id: &str,
            ) -> Result<Option<att_release::model::RunRecord>, att_runtime::events::StoreError>
            {
                let row: Option<(String,)> = sqlx::query_as("SELECT data FROM runs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::records::err)?;
                row.map(|(d,)| $crate::store::records::decode("run", &d))
                    .transpose()
            }

            async fn list_runs(
                &self,
                limit: u32,
            ) -> Result<Vec<att_release::model::RunRecord>, att_runtime::events::StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(concat!(
                    "SELECT data FROM runs ORDER BY created_at_ms DESC, ",
                    $seq,
                    " DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::records::err)?;
                rows.iter()
                    .map(|(d,)| $crate::store::records::decode("run", d))
                    .collect()
            }
        }

        /// Test runs: the record's JSON in `data`, beside the columns they are looked up by.
        #[async_trait::async_trait]
        impl $crate::test_run::TestRunStore for $store {
            async fn save_test_run(
                &self,
                run: &$crate::test_run::TestRunRecord,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{encode, err, to_ms};
                sqlx::query(
                    "INSERT INTO test_runs (id, project, status, created_at_ms, data) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
                )
                .bind(&run.id)
                .bind(&run.project)
                .bind(&run.status)
                .bind(to_ms(run.started_at))
                .bind(encode("test run", run)?)
                .execute(&self.pool)
                .await
                .map_err(err)?;
                Ok(())
            }

            async fn get_test_run(
                &self,
                id: &str,
            ) -> Result<Option<$crate::test_run::TestRunRecord>, att_runtime::events::StoreError>
            {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT data FROM test_runs WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::records::err)?;
                row.map(|(d,)| $crate::store::records::decode("test run", &d))
                    .transpose()
            }

            async fn running_test_runs(
                &self,
            ) -> Result<Vec<$crate::test_run::TestRunRecord>, att_runtime::events::StoreError>
            {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT data FROM test_runs WHERE status = 'running'")
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::store::records::err)?;
                rows.iter()
                    .map(|(d,)| $crate::store::records::decode("test run", d))
                    .collect()
            }

            async fn list_test_runs(
                &self,
                project: &str,
                limit: u32,
            ) -> Result<Vec<$crate::test_run::TestRunRecord>, att_runtime::events::StoreError>
            {
                let rows: Vec<(String,)> = sqlx::query_as(concat!(
                    "SELECT data FROM test_runs WHERE project = $1 ORDER BY created_at_ms DESC, ",
                    $seq,
                    " DESC LIMIT $2"
                ))
                .bind(project)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::records::err)?;
                rows.iter()
                    .map(|(d,)| $crate::store::records::decode("test run", d))
                    .collect()
            }
        }

        /// API keys (`api_keys`): only each key's hash is stored.
        #[async_trait::async_trait]
        impl $crate::auth::KeyStore for $store {
            async fn insert_key(
                &self,
                key: &$crate::auth::KeyRecord,
            ) -> Result<bool, att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let done = sqlx::query(
                    "INSERT INTO api_keys (id, name, role, hash, created_at_ms, expires_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
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

            async fn revoke_key(
                &self,
                name: &str,
                at: time::OffsetDateTime,
            ) -> Result<bool, att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL",
                )
                .bind(to_ms(at))
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn list_keys(
                &self,
            ) -> Result<Vec<$crate::auth::KeyRecord>, att_runtime::events::StoreError> {
                use sqlx::Row;
                use $crate::store::records::{KeyRow, err};
                let rows = sqlx::query(
                    "SELECT id, name, role, hash, created_at_ms, expires_at_ms, revoked_at_ms \
                     FROM api_keys ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                rows.iter()
                    .map(|r| {
                        KeyRow {
                            id: r.try_get("id").map_err(err)?,
                            name: r.try_get("name").map_err(err)?,
                            role: r.try_get("role").map_err(err)?,
                            hash: r.try_get("hash").map_err(err)?,
                            created_at_ms: r.try_get("created_at_ms").map_err(err)?,
                            expires_at_ms: r.try_get("expires_at_ms").map_err(err)?,
                            revoked_at_ms: r.try_get("revoked_at_ms").map_err(err)?,
                        }
                        .into_record()
                    })
                    .collect()
            }
        }

        /// Node heartbeats (`nodes`).
        #[async_trait::async_trait]
        impl $crate::cluster::ClusterStore for $store {
            async fn heartbeat(
                &self,
                node: &$crate::cluster::NodeRecord,
                forget_before: time::OffsetDateTime,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let mut tx = self.pool.begin().await.map_err(err)?;
                sqlx::query(
                    "INSERT INTO nodes (id, address, version, started_at_ms, heartbeat_at_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                     address = excluded.address, version = excluded.version, \
                     started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms",
                )
                .bind(&node.id)
                .bind(&node.address)
                .bind(&node.version)
                .bind(to_ms(node.started_at))
                .bind(to_ms(node.heartbeat_at))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                sqlx::query("DELETE FROM nodes WHERE heartbeat_at_ms < $1")
                    .bind(to_ms(forget_before))
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                tx.commit().await.map_err(err)
            }

            async fn list_nodes(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::cluster::NodeRecord>, att_runtime::events::StoreError> {
                use $crate::store::records::{err, from_ms};
                let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT id, address, version, started_at_ms, heartbeat_at_ms FROM nodes \
                     ORDER BY heartbeat_at_ms DESC, id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, address, version, started, beat)| $crate::cluster::NodeRecord {
                        id,
                        address,
                        version,
                        started_at: from_ms(started),
                        heartbeat_at: from_ms(beat),
                    })
                    .collect())
            }
        }

        /// Dashboard sessions (`dashboard_sessions`): the id's hash, the credential sealed.
        #[async_trait::async_trait]
        impl $crate::http::dashboard::session::SessionStore for $store {
            async fn save_session(
                &self,
                s: &$crate::http::dashboard::session::StoredSession,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{err, session_scope, to_ms};
                let credential = s
                    .credential
                    .as_deref()
                    .map(|c| self.sealing.seal_text(&session_scope(&s.id_hash), c))
                    .transpose()?;
                sqlx::query(
                    "INSERT INTO dashboard_sessions (id_hash, credential, csrf, opened_at_ms, seen_at_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_hash) DO UPDATE SET \
                     credential = excluded.credential, csrf = excluded.csrf, \
                     opened_at_ms = excluded.opened_at_ms, seen_at_ms = excluded.seen_at_ms",
                )
                .bind(&s.id_hash[..])
                .bind(credential)
                .bind(&s.csrf)
                .bind(to_ms(s.opened_at))
                .bind(to_ms(s.seen_at))
                .execute(&self.pool)
                .await
                .map_err(err)?;
                Ok(())
            }

            async fn touch_session(
                &self,
                id_hash: &[u8; 32],
                seen_at: time::OffsetDateTime,
            ) -> Result<(), att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                sqlx::query("UPDATE dashboard_sessions SET seen_at_ms = $1 WHERE id_hash = $2")
                    .bind(to_ms(seen_at))
                    .bind(&id_hash[..])
                    .execute(&self.pool)
                    .await
                    .map_err(err)?;
                Ok(())
            }

            async fn delete_session(
                &self,
                id_hash: &[u8; 32],
            ) -> Result<(), att_runtime::events::StoreError> {
                let done = sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
                    .bind(&id_hash[..])
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::records::err)?;
                // The other atts holding a copy drop it (a logout ends it everywhere).
                if done.rows_affected() > 0 {
                    self.changed("dashboard_sessions").await?;
                }
                Ok(())
            }

            async fn find_session(
                &self,
                id_hash: &[u8; 32],
            ) -> Result<
                Option<$crate::http::dashboard::session::StoredSession>,
                att_runtime::events::StoreError,
            > {
                use $crate::store::records::{SessionRow, err, read_session};
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT id_hash, credential, csrf, opened_at_ms, seen_at_ms \
                     FROM dashboard_sessions WHERE id_hash = $1",
                )
                .bind(&id_hash[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
                row.map(|r| read_session(&self.sealing, r)).transpose()
            }

            async fn session_hashes(
                &self,
                limit: u32,
            ) -> Result<Vec<[u8; 32]>, att_runtime::events::StoreError> {
                use $crate::store::records::err;
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT id_hash FROM dashboard_sessions ORDER BY seen_at_ms DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(h,)| <[u8; 32]>::try_from(h).ok())
                    .collect())
            }

            async fn prune_sessions(
                &self,
                opened_before: time::OffsetDateTime,
                seen_before: time::OffsetDateTime,
            ) -> Result<u64, att_runtime::events::StoreError> {
                use $crate::store::records::{err, to_ms};
                let done = sqlx::query(
                    "DELETE FROM dashboard_sessions WHERE opened_at_ms < $1 OR seen_at_ms < $2",
                )
                .bind(to_ms(opened_before))
                .bind(to_ms(seen_before))
                .execute(&self.pool)
                .await
                .map_err(err)?;
                Ok(done.rows_affected())
            }

            async fn list_sessions(
                &self,
                limit: u32,
            ) -> Result<
                Vec<$crate::http::dashboard::session::StoredSession>,
                att_runtime::events::StoreError,
            > {
                use $crate::store::records::{SessionRow, err, read_session};
                let rows: Vec<SessionRow> = sqlx::query_as(
                    "SELECT id_hash, credential, csrf, opened_at_ms, seen_at_ms \
                     FROM dashboard_sessions ORDER BY seen_at_ms DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                rows.into_iter()
                    .map(|r| read_session(&self.sealing, r))
                    .collect()
            }
        }
    };
}

pub(super) use record_ports;
