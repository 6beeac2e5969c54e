//! The overview (`/`): is att ready, what its actors are doing, how many upstreams are in
//! each status, which release each target runs, and the newest events — live.
//!
//! Readiness is the `GET /api/v1/ready` handler's answer; the actor tree is the directory's
//! list (`GET /api/v1/actors`); counts come from the published upstream states (one
//! snapshot, however many upstreams); releases from the release store, for the targets of
//! the newest runs.

use std::collections::{BTreeMap, BTreeSet};

use att_runtime::events::EventQuery;
use axum::extract::{Extension, State};
use axum::response::Response;
use maud::{Markup, html};
use time::OffsetDateTime;

use super::DashSession;
use super::layout::{self, Viewer, badge, label};
use crate::auth::Principal;
use crate::http::AppState;

/// Newest events shown (then the live stream prepends).
const EVENTS_SHOWN: u32 = 20;
/// Runs whose targets are shown.
const RUNS_SCANNED: u32 = 50;

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let now = OffsetDateTime::now_utc();
    let body = html! {
        div.grid {
            (readiness(&state).await)
            (upstream_counts(&state))
            (releases(&state).await)
        }
        section.panel aria-labelledby="actors-h" {
            h2 #actors-h { "Actors" }
            (super::actors::actor_tree(&state.directory.list(), now, 1, |p| format!("/actors?page={p}")))
        }
        section.panel aria-labelledby="events-h" {
            h2 #events-h { "Newest events" }
            (events(&state).await)
        }
    };
    layout::page("Overview", "/", &viewer, body)
}

async fn readiness(state: &AppState) -> Markup {
    let (ready, checks) = match crate::http::system::ready(State(state.clone())).await {
        Ok(r) => (r.0.ready, serde_json::Value::Object(r.0.checks)),
        Err(crate::http::error::ApiError::Unavailable { detail, .. }) => {
            (false, detail["checks"].clone())
        }
        Err(e) => (
            false,
            serde_json::json!({ "ready": layout::error_text(e).await }),
        ),
    };
    html! {
        section.panel aria-labelledby="ready-h" {
            h2 #ready-h { "Readiness " (badge(if ready { "ok" } else { "bad" })) }
            @if let Some(checks) = checks.as_object() {
                ul {
                    @for (name, v) in checks {
                        @let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        li { (name) ": " span class={"badge st-" (if text == "ok" { "ok" } else { "bad" })} { (text) } }
                    }
                }
            }
        }
    }
}

fn upstream_counts(state: &AppState) -> Markup {
    let registered = state.gateway.list().len();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for status in state.gateway.published().values() {
        *counts.entry(label(&status.health.status)).or_default() += 1;
    }
    let known: usize = counts.values().sum();
    html! {
        section.panel aria-labelledby="up-h" #upstream-counts hx-get="/" hx-select="#upstream-counts"
            hx-swap="outerHTML" hx-trigger="live" hx-disinherit="*" data-live="upstream." {
            h2 #up-h { a href="/gateway" { "Upstreams" } " (" (registered) ")" }
            ul.counts {
                @for (status, n) in &counts {
                    li class={"st-" (status)} { (n) " " (status) }
                }
                @if registered > known {
                    li.st-unknown { (registered - known) " starting" }
                }
                @if registered == 0 {
                    li.muted { "none registered" }
                }
            }
        }
    }
}

async fn releases(state: &AppState) -> Markup {
    let runs = state.releases.list_runs(RUNS_SCANNED).await;
    let targets: BTreeSet<String> = runs
        .as_ref()
        .map(|runs| runs.iter().map(|r| r.target.clone()).collect())
        .unwrap_or_default();
    let mut live = Vec::new();
    for target in &targets {
        let current = state
            .releases
            .list_releases(target)
            .await
            .ok()
            .and_then(|rs| {
                rs.into_iter()
                    .find(|r| r.status == att_release::model::ReleaseStatus::Live)
            });
        live.push((target, current));
    }
    html! {
        section.panel aria-labelledby="rel-h" {
            h2 #rel-h { "Live releases" }
            @if let Err(e) = &runs {
                (layout::error_note(&format!("the release store failed: {e}")))
            }
            @if live.is_empty() {
                p.muted { "No release runs yet." }
            }
            ul {
                @for (target, current) in &live {
                    li { strong { (target) } ": "
                        @match current {
                            Some(r) => { code { (r.id) } " " (badge("live")) }
                            None => { span.muted { "no live release" } }
                        }
                    }
                }
            }
        }
    }
}

async fn events(state: &AppState) -> Markup {
    let q = EventQuery {
        limit: EVENTS_SHOWN,
        except_kinds: vec![crate::auth::audit::KIND.to_owned()],
        ..EventQuery::default()
    };
    let events = state.events.query(q).await;
    html! {
        @match events {
            Ok(events) => {
                ol.events #live-events aria-live="off" {
                    @for e in events.iter().rev() {
                        li {
                            (e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default())
                            "  " (e.kind)
                            @if let Some(c) = &e.correlation_id { "  [" (c) "]" }
                            "  " (truncate(&e.data.to_string(), 200))
                        }
                    }
                }
            }
            Err(e) => { (layout::error_note(&format!("the event log failed: {e}"))) }
        }
    }
}

/// At most `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
