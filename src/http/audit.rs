//! `GET /api/v1/audit`: the audit log ([`crate::auth::audit`]) — who did what, through which
//! surface, to what, and how it ended — filtered, oldest first, for admins.
//!
//! It reads the event log's `audit` entries: the same store, paging (`after_id`) and
//! retention as every event.

use att_runtime::events::{Event, EventQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::actors::limit_param;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use crate::auth::audit;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters of the audit log (each an exact match).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this principal (a key's name, `token`, `anonymous`, or `-` for no credential).
    pub principal: Option<String>,
    /// Only this surface: `http`, `mcp`, `cli` or `dashboard`.
    pub surface: Option<String>,
    /// Only this outcome: `ok`, `refused` or `failed`.
    pub outcome: Option<String>,
    /// Only this action: an HTTP method (`POST`) or an MCP method (`tools/call`).
    pub action: Option<String>,
    /// Only this target: a path, a tool's name, a resource's URI.
    pub target: Option<String>,
    /// Only entries at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// Only entries after this id, the oldest first (to page forward).
    pub after_id: Option<i64>,
    /// How many (1 to 1000, default 100): the newest, or the first after `after_id`.
    pub limit: Option<i64>,
}

/// One entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Its position in the event log (page forward with `after_id`).
    pub id: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: a key's name, `token`, `anonymous`, or `-` when no credential was accepted.
    pub principal: String,
    /// Their role, when known.
    pub role: Option<String>,
    /// `http`, `mcp`, `cli` or `dashboard`.
    pub surface: String,
    /// An HTTP method or an MCP method.
    pub action: String,
    /// A path, a tool's name, a resource's URI.
    pub target: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// The HTTP status, when there is one.
    pub status: Option<u16>,
    /// Why it was refused or failed.
    pub why: Option<String>,
    /// The request (HTTP) or session (MCP) it belongs to.
    pub request_id: Option<String>,
}

impl AuditEntry {
    fn of(e: Event) -> Self {
        let text = |k: &str| e.data.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            id: e.id,
            at: e.at,
            principal: text("principal").unwrap_or_else(|| "-".into()),
            role: text("role"),
            surface: text("surface").unwrap_or_default(),
            action: text("action").unwrap_or_default(),
            target: text("target").unwrap_or_default(),
            outcome: text("outcome").unwrap_or_default(),
            status: e
                .data
                .get("status")
                .and_then(serde_json::Value::as_u64)
                .and_then(|s| u16::try_from(s).ok()),
            why: text("why"),
            request_id: e.correlation_id,
        }
    }
}

/// The audit log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    /// The entries.
    pub entries: Vec<AuditEntry>,
}

/// Checks a filter that has a fixed set of values.
fn one_of(
    field: &str,
    value: Option<String>,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::invalid(
            field,
            format!("`{v}` is not one of {}", allowed.join(", ")),
        )),
        v => Ok(v),
    }
}

/// The newest matching entries (or the first after `after_id`), oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "auth", params(AuditParams),
    responses((status = 200, description = "entries, oldest first", body = AuditLog),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = limit_param(p.limit, 100, 1000)?;
    let surface = one_of("surface", p.surface, &audit::Surface::NAMES)?;
    let outcome = one_of("outcome", p.outcome, &["ok", "refused", "failed"])?;
    let data = [
        ("principal", p.principal),
        ("surface", surface),
        ("outcome", outcome),
        ("action", p.action),
        ("target", p.target),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect();
    let q = EventQuery {
        kind: Some(audit::KIND.into()),
        since: super::events::parse_since(p.since.as_deref())?,
        after_id: p.after_id,
        data,
        limit: u32::try_from(limit).unwrap_or(1000),
        ..EventQuery::default()
    };
    let entries = state.events.query(q).await?;
    Ok(Json(AuditLog {
        entries: entries.into_iter().map(AuditEntry::of).collect(),
    }))
}
