//! The event log over HTTP: query, append, and a live server-sent-event stream.

use std::convert::Infallible;
use std::time::Duration;

use att_runtime::events::{Event, EventQuery, EventsError, NewEvent, follow};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::actors::limit_param;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::middleware::RequestId;
use crate::auth::{Principal, Role, audit};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query, append))
        .routes(routes!(stream))
}

impl From<EventsError> for ApiError {
    fn from(e: EventsError) -> Self {
        ApiError::Unavailable {
            detail: serde_json::Value::String(format!("event log unavailable: {e}")),
            retry_after: Some(1),
        }
    }
}

/// Filters of an event query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only this kind; `prefix.*` for a family of kinds (`actor.*`).
    pub kind: Option<String>,
    /// Only events of this request or run.
    pub correlation_id: Option<String>,
    /// Only events at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// How many of the newest matching events (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// Events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub events: Vec<Event>,
}

pub(super) fn parse_since(since: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    since
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
                ApiError::invalid(
                    "since",
                    format!("expected an RFC 3339 time such as 2026-01-31T12:00:00Z: {e}"),
                )
            })
        })
        .transpose()
}

fn check_kind(field: &str, kind: &str, allow_wildcard: bool) -> Result<(), ApiError> {
    let body = if allow_wildcard {
        kind.strip_suffix(".*").unwrap_or(kind)
    } else {
        kind
    };
    let ok = !body.is_empty()
        && body.len() <= 64
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("`{kind}` is not an event kind: use 1 to 64 of a-z, 0-9, `.`, `_`, `-`"),
        ))
    }
}

/// The newest matching events, oldest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses((status = 200, description = "events, oldest first", body = EventList),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
async fn query(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiQuery(p): ApiQuery<EventParams>,
) -> Result<Json<EventList>, ApiError> {
    if let Some(k) = &p.kind {
        check_kind("kind", k, true)?;
    }
    let limit = limit_param(p.limit, 100, 1000)?;
    let q = EventQuery {
        kind: p.kind,
        correlation_id: p.correlation_id,
        since: parse_since(p.since.as_deref())?,
        after_id: None,
        data: Vec::new(),
        limit: u32::try_from(limit).unwrap_or(1000),
        except_kinds: hidden_from(principal.as_deref()),
    };
    Ok(Json(EventList {
        events: state.events.query(q).await?,
    }))
}

/// An event to record (an annotation such as a deploy marker).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendEvent {
    /// Dotted kind: 1 to 64 of a-z, 0-9, `.`, `_`, `-`.
    pub kind: String,
    /// The request or run it belongs to; defaults to this request's id.
    pub correlation_id: Option<String>,
    /// Any JSON payload.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Records an event; answers once it is durably stored.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = AppendEvent,
    responses((status = 201, description = "stored", body = Event),
              (status = 422, description = "bad body", body = ErrorBody),
              (status = 413, description = "body too large", body = ErrorBody)))]
async fn append(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<AppendEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    check_kind("kind", &body.kind, false)?;
    if body.kind == audit::KIND {
        return Err(ApiError::invalid(
            "kind",
            "`audit` is att's own: entries are recorded by att, never appended",
        ));
    }
    if body
        .correlation_id
        .as_ref()
        .is_some_and(|c| c.is_empty() || c.len() > 128)
    {
        return Err(ApiError::invalid(
            "correlation_id",
            "must be 1 to 128 characters",
        ));
    }
    let cid = body
        .correlation_id
        .unwrap_or_else(|| request_id.0.to_string());
    let event = NewEvent::new(body.kind, body.data).correlated(cid);
    Ok((StatusCode::CREATED, Json(state.events.append(event).await?)))
}

/// Filters of a live stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Only this kind; `prefix.*` for a family.
    pub kind: Option<String>,
    /// Only events of this request or run.
    pub correlation_id: Option<String>,
    /// Replay stored events after this id first (as the `Last-Event-ID` header does).
    pub after_id: Option<i64>,
}

/// Live events as server-sent events (`id:` is the event id, `data:` the event as JSON).
/// Resumes after `Last-Event-ID` (or `after_id`) from the store, then follows live.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamParams),
    responses((status = 200, description = "an SSE stream of events", content_type = "text/event-stream", body = String),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
pub(super) async fn stream(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    if let Some(k) = &p.kind {
        check_kind("kind", k, true)?;
    }
    let last_id = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "expected an event id"))?,
        ),
        None => p.after_id,
    };
    let filter = EventQuery {
        kind: p.kind,
        correlation_id: p.correlation_id,
        except_kinds: hidden_from(principal.as_deref()),
        ..EventQuery::default()
    };
    // "From now" is now, as the request is answered — not when the body is first read (after
    // the client has its headers and may already have written the event it waits for).
    let from = match last_id {
        Some(id) => follow::From::After(id),
        None => {
            let newest = EventQuery {
                limit: 1,
                ..EventQuery::default()
            };
            match state.events.query(newest).await {
                Ok(got) => follow::From::After(got.last().map_or(0, |e| e.id)),
                Err(_) => follow::From::Now,
            }
        }
    };
    let shutdown = state.shutdown.clone();
    let events = follow::follow(state.events.clone(), filter, from, |_| false, async move {
        shutdown.cancelled().await;
    });
    Ok(sse_stream(events))
}

/// The kinds of event `principal` may not read: the audit log is the admin's
/// (`GET /api/v1/audit`).
fn hidden_from(principal: Option<&Principal>) -> Vec<String> {
    if principal.is_some_and(|p| p.may(Role::Admin)) {
        Vec::new()
    } else {
        vec![audit::KIND.to_owned()]
    }
}

/// Events as server-sent events (`id:` the event id, `data:` the event), kept alive.
pub(super) fn sse_stream(
    events: impl Stream<Item = Event> + Send + 'static,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    use futures_util::StreamExt;
    Sse::new(events.map(|e| Ok(to_sse(&e))))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn to_sse(e: &Event) -> sse::Event {
    sse::Event::default()
        .id(e.id.to_string())
        .data(serde_json::to_string(e).unwrap_or_else(|_| "{}".into()))
}
