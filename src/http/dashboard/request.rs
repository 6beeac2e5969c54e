//! One request's timeline (`/gateway/requests/{id}`): everything a request id caused, on one
//! time axis — its events (invocation phases, status changes, audit entries for admins) and
//! the messages actors handled for it (with their outcomes and panic text).
//!
//! Both are bounded: the newest 500 events of the correlation id, and at most 100 trace
//! records per actor (each actor keeps a ring of its newest messages anyway).

use att_runtime::events::EventQuery;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use maud::html;
use time::OffsetDateTime;

use super::DashSession;
use super::layout::{self, Viewer, badge};
use crate::auth::{Principal, Role};
use crate::http::AppState;

const EVENTS: u32 = 500;
const PER_ACTOR: usize = 100;

/// One line of the timeline.
struct Entry {
    at: OffsetDateTime,
    source: String,
    what: String,
    outcome: &'static str,
    detail: String,
}

/// `GET /gateway/requests/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(id): Path<String>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let mut entries = Vec::new();
    let except_kinds = if principal.may(Role::Admin) {
        Vec::new()
    } else {
        vec![crate::auth::audit::KIND.to_owned()]
    };
    let query = EventQuery {
        correlation_id: Some(id.clone()),
        limit: EVENTS,
        except_kinds,
        ..EventQuery::default()
    };
    let failed = match state.events.query(query).await {
        Ok(events) => {
            for e in events {
                let said = e.data["phase"].as_str().or(e.data["outcome"].as_str());
                let outcome = match said {
                    Some(s) if ["fail", "refused", "error"].iter().any(|w| s.contains(w)) => {
                        "failed"
                    }
                    _ => "ok",
                };
                entries.push(Entry {
                    at: e.at,
                    source: "event".into(),
                    what: e.kind,
                    outcome,
                    detail: super::overview::truncate(&e.data.to_string(), 300),
                });
            }
            None
        }
        Err(e) => Some(format!("the event log failed: {e}")),
    };
    for actor in state.directory.list() {
        let records = state
            .directory
            .trace(&actor.name, Some(&id), PER_ACTOR)
            .unwrap_or_default();
        for r in records {
            let (outcome, detail) = match &r.outcome {
                att_runtime::directory::TraceOutcome::Ok => ("ok", String::new()),
                att_runtime::directory::TraceOutcome::Error { error } => ("error", error.clone()),
                att_runtime::directory::TraceOutcome::Panic { error } => ("panic", error.clone()),
            };
            entries.push(Entry {
                at: r.started_at,
                source: format!("actor {}", r.actor),
                what: r.kind,
                outcome,
                detail: format!("{} µs {detail}", r.duration_us),
            });
        }
    }
    entries.sort_by_key(|e| e.at);
    let body = html! {
        @if let Some(f) = &failed { (layout::error_note(f)) }
        p { (entries.len()) " entries. " a href="/gateway" { "Back to the gateway" } }
        div.scroll { table #request-timeline {
            thead { tr { th scope="col" { "When" } th scope="col" { "Source" } th scope="col" { "What" }
                th scope="col" { "Outcome" } th scope="col" { "Detail" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) }
                        td { (e.source) }
                        td { code { (e.what) } }
                        td { (badge(e.outcome)) }
                        td.err { (e.detail) }
                    }
                }
                @if entries.is_empty() { tr { td colspan="5" .muted { "Nothing recorded for this id." } } }
            }
        } }
    };
    layout::page(&format!("Request {id}"), "/gateway", &viewer, body)
}
