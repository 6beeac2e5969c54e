//! What every adapter does to a record on its way in and out, written once: times as Unix
//! milliseconds, registrations and releases as JSON with their secrets sealed
//! ([`Sealing`]), stored records decoded with an error that names them, durations out of
//! range clamped (with an error logged) rather than refused. The adapters keep only what
//! differs between engines: the SQL and how rows are fetched.

use std::sync::Arc;

use att_runtime::events::StoreError;
use time::OffsetDateTime;

use super::seal::Seal;
use crate::auth::{KeyRecord, Role};

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

/// A record read in the clear and sealed now, to be written back: `(name, sealed JSON)`.
pub(super) type Resealed = (String, String);

/// Seals the values of every `headers` and `env` map a record carries when it is written and
/// opens them when it is read ([`super::seal`]); without a seal, records are kept in the
/// clear.
#[derive(Clone, Debug, Default)]
pub(super) struct Sealing(Option<Arc<Seal>>);

impl Sealing {
    pub(super) fn with(seal: Arc<Seal>) -> Self {
        Self(Some(seal))
    }

    pub(super) fn seal(&self) -> Option<Arc<Seal>> {
        self.0.clone()
    }

    /// `record` as JSON, its secret values sealed for `scope` (`upstreams/<name>`).
    pub(super) fn seal_json<T: serde::Serialize>(
        &self,
        scope: &str,
        record: &T,
    ) -> Result<String, StoreError> {
        let mut tree = serde_json::to_value(record)
            .map_err(|e| StoreError(format!("cannot encode {scope}: {e}")))?;
        if let Some(seal) = &self.0 {
            seal.seal_tree(scope, &mut tree)
                .map_err(|e| StoreError(e.to_string()))?;
        }
        Ok(tree.to_string())
    }

    /// One secret value (a dashboard session's credential) sealed for `aad`; in the clear
    /// without a seal.
    pub(super) fn seal_text(&self, aad: &str, plain: &str) -> Result<String, StoreError> {
        match &self.0 {
            Some(seal) => seal.seal(aad, plain).map_err(|e| StoreError(e.to_string())),
            None => Ok(plain.to_owned()),
        }
    }

    /// What [`Sealing::seal_text`] stored, opened (a value stored in the clear as it is).
    pub(super) fn open_text(&self, aad: &str, text: &str) -> Result<String, StoreError> {
        match &self.0 {
            Some(seal) => match seal.open(aad, text) {
                Ok(Some(plain)) => Ok(plain),
                Ok(None) => Ok(text.to_owned()),
                Err(e) => Err(StoreError(e.to_string())),
            },
            None => Ok(text.to_owned()),
        }
    }

    /// Stored JSON with its secret values opened, and whether one was stored in the clear
    /// (and should be written again, sealed).
    pub(super) fn open_json(&self, scope: &str, text: &str) -> Result<(String, bool), String> {
        let Some(seal) = &self.0 else {
            return Ok((text.to_owned(), false));
        };
        let mut tree: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let clear = seal
            .open_tree(scope, &mut tree)
            .map_err(|e| e.to_string())?;
        Ok((tree.to_string(), clear))
    }

    /// Stored rows of `kind` (`(name, stored JSON)`), each opened and read by `read` (its
    /// error names the row); beside them, the rows stored in the clear, sealed now, for the
    /// adapter to write back (`(name, sealed JSON)`).
    pub(super) fn read_named<T>(
        &self,
        kind: Named,
        rows: Vec<(String, String)>,
        read: impl Fn(&str) -> Result<T, String>,
    ) -> Result<(Vec<T>, Vec<Resealed>), StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        let mut reseal = Vec::new();
        for (name, stored) in rows {
            let unreadable = |e: String| {
                StoreError(format!(
                    "stored {} `{name}` is unreadable: {e}",
                    kind.what()
                ))
            };
            let scope = kind.scope(&name);
            let (text, clear) = self.open_json(&scope, &stored).map_err(unreadable)?;
            out.push(read(&text).map_err(unreadable)?);
            if clear {
                // Stored before secrets were sealed: sealed now.
                let tree: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
                reseal.push((name, self.seal_json(&scope, &tree)?));
            }
        }
        Ok((out, reseal))
    }

    /// A stored release, opened.
    pub(super) fn read_release(
        &self,
        target: &str,
        id: &str,
        data: &str,
    ) -> Result<att_release::model::Release, StoreError> {
        let unreadable =
            |e: String| StoreError(format!("stored release `{id}` is unreadable: {e}"));
        let (text, _) = self
            .open_json(&release_scope(target, id), data)
            .map_err(unreadable)?;
        serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
    }
}

/// The scope a release's secrets are sealed for.
pub(super) fn release_scope(target: &str, id: &str) -> String {
    format!("releases/{target}/{id}")
}

/// The tables that keep API registrations by name as JSON (`upstreams`, `services`,
/// `projects`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Named {
    Upstreams,
    Services,
    Projects,
}

impl Named {
    /// The table (also the first part of its records' sealing scope).
    pub(super) fn table(self) -> &'static str {
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

    /// Inserts or replaces a record: `$1` name, `$2` JSON, `$3` now (ms). The SQL is the
    /// same for both engines (`$n` parameters, `ON CONFLICT … excluded`).
    pub(super) fn upsert_sql(self) -> &'static str {
        macro_rules! upsert {
            ($table:literal) => {
                concat!(
                    "INSERT INTO ",
                    $table,
                    " (name, spec, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $3) \
                     ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms"
                )
            };
        }
        match self {
            Self::Upstreams => upsert!("upstreams"),
            // `$4`: the node it belongs to.
            Self::Services => {
                "INSERT INTO services (name, spec, created_at_ms, updated_at_ms, node) \
                 VALUES ($1, $2, $3, $3, $4) ON CONFLICT (name) DO UPDATE SET \
                 spec = excluded.spec, updated_at_ms = excluded.updated_at_ms, node = excluded.node"
            }
            Self::Projects => upsert!("projects"),
        }
    }

    /// Deletes the record `$1`.
    pub(super) fn delete_sql(self) -> &'static str {
        match self {
            Self::Upstreams => "DELETE FROM upstreams WHERE name = $1",
            Self::Services => "DELETE FROM services WHERE name = $1",
            Self::Projects => "DELETE FROM projects WHERE name = $1",
        }
    }

    /// Every record, `(name, spec)`, by name — for services, those of the node `$1` (and
    /// those of no node; all when `$1` is empty).
    pub(super) fn list_sql(self) -> &'static str {
        match self {
            Self::Upstreams => "SELECT name, spec FROM upstreams ORDER BY name",
            Self::Services => {
                "SELECT name, spec FROM services WHERE node = $1 OR node = '' OR $1 = '' \
                 ORDER BY name"
            }
            Self::Projects => "SELECT name, spec FROM projects ORDER BY name",
        }
    }

    /// Writes the record `$2` again (sealed) as `$1`.
    pub(super) fn reseal_sql(self) -> &'static str {
        match self {
            Self::Upstreams => "UPDATE upstreams SET spec = $1 WHERE name = $2",
            Self::Services => "UPDATE services SET spec = $1 WHERE name = $2",
            Self::Projects => "UPDATE projects SET spec = $1 WHERE name = $2",
        }
    }

    /// The scope the secrets of the record `name` are sealed for.
    pub(super) fn scope(self, name: &str) -> String {
        format!("{}/{name}", self.table())
    }
}

/// A stored upstream; a duration outside its range (stored before the ranges existed) is
/// clamped into it, with an error logged, rather than stopping att or melting down the
/// upstream's actor.
pub(super) fn read_upstream(text: &str) -> Result<att_gateway::upstream::UpstreamSpec, String> {
    let (spec, clamped) =
        att_gateway::upstream::UpstreamSpec::from_stored(text).map_err(|e| e.to_string())?;
    log_clamped("upstream", &spec.name, &clamped);
    Ok(spec)
}

/// A stored service; durations outside their ranges are clamped, with an error logged.
pub(super) fn read_service(text: &str) -> Result<att_release::service::spec::ServiceSpec, String> {
    let spec: att_release::service::spec::ServiceSpec =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    let (spec, clamped) = spec.clamped();
    log_clamped("service", &spec.name, &clamped);
    Ok(spec)
}

/// A stored project.
pub(super) fn read_project(text: &str) -> Result<crate::project::Project, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Logs the durations of a stored record that were out of range and were clamped.
fn log_clamped(what: &str, name: &str, clamped: &[att_runtime::duration::OutOfRange]) {
    for c in clamped {
        tracing::error!(
            "stored {what} `{name}`: {c}; using the nearest allowed value (register it again to fix the record)"
        );
    }
}

/// `record` as JSON (`what` names it in the error).
pub(super) fn encode<T: serde::Serialize>(what: &str, record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError(format!("cannot encode {what}: {e}")))
}

/// A stored JSON record (`what` names it in the error: `run`, `test run`).
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    data: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(data).map_err(|e| StoreError(format!("stored {what} is unreadable: {e}")))
}

/// The status column of a release run: its status's wire name.
/// Inserts or replaces a run: `$1..$5` are a [`RunRow`]'s fields in order.
pub(super) const SAVE_RUN: &str = "INSERT INTO runs (id, target, status, created_at_ms, data) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data";

/// The columns of a stored run.
pub(super) struct RunRow {
    pub id: String,
    pub target: String,
    pub status: String,
    pub created_at_ms: i64,
    pub data: String,
}

impl RunRow {
    pub(super) fn of(run: &att_release::model::RunRecord) -> Result<Self, StoreError> {
        Ok(Self {
            id: run.id.clone(),
            target: run.target.clone(),
            status: run_status(run),
            created_at_ms: to_ms(run.created_at),
            data: encode("run", run)?,
        })
    }
}

pub(super) fn run_status(run: &att_release::model::RunRecord) -> String {
    serde_json::to_value(run.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The columns of a stored API key.
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub hash: Vec<u8>,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

impl KeyRow {
    pub(super) fn into_record(self) -> Result<KeyRecord, StoreError> {
        let role = self.role;
        Ok(KeyRecord {
            id: self.id,
            name: self.name,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError(format!("stored key has role `{role}`")))?,
            hash: self
                .hash
                .try_into()
                .map_err(|_| StoreError("stored key hash is not 32 bytes".into()))?,
            created_at: from_ms(self.created_at_ms),
            expires_at: self.expires_at_ms.map(from_ms),
            revoked_at: self.revoked_at_ms.map(from_ms),
        })
    }
}

/// Validates the payload field names of an event query (`[a-z_]+`, so that they can be
/// spliced into a JSON path).
pub(super) fn payload_field(key: &str) -> Result<&str, StoreError> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(StoreError(format!("`{key}` is not a payload field name")));
    }
    Ok(key)
}

/// The `LIKE` pattern for a kind prefix (`actor.*` → `actor.%`). `kind` values are
/// restricted to `[a-z0-9._-]`, so no escaping is needed beyond `_`, which is escaped with
/// `\`.
pub(super) fn kind_prefix_pattern(prefix: &str) -> String {
    format!("{}.%", prefix.replace('_', "\\_"))
}

/// The sealing scope of a dashboard session's credential.
pub(super) fn session_scope(id_hash: &[u8; 32]) -> String {
    let hex: String = id_hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("dashboard_sessions/{hex}/credential")
}

/// A `dashboard_sessions` row: `(id_hash, credential, csrf, opened_at_ms, seen_at_ms)`.
pub(super) type SessionRow = (Vec<u8>, Option<String>, String, i64, i64);

/// A stored session from its row, its credential opened.
pub(super) fn read_session(
    sealing: &Sealing,
    (hash, credential, csrf, opened, seen): SessionRow,
) -> Result<crate::http::dashboard::session::StoredSession, StoreError> {
    let id_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError("a dashboard session's id hash is not 32 bytes".into()))?;
    let credential = credential
        .map(|c| sealing.open_text(&session_scope(&id_hash), &c))
        .transpose()?;
    Ok(crate::http::dashboard::session::StoredSession {
        id_hash,
        credential,
        csrf,
        opened_at: from_ms(opened),
        seen_at: from_ms(seen),
    })
}
