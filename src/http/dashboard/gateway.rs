//! The gateway page (`/gateway`): the upstreams with their live state, a form to register
//! one, the federated catalog ([`super::gateway_catalog`]) and the invocation history.
//!
//! The upstream table is the `GET /api/v1/mcp/servers` handler's list, filtered and paged
//! here ([`layout::PAGE_SIZE`] rows); it re-renders itself (`/ui/fragments/upstreams`) when an
//! `upstream.*` event arrives, so a status change shows without a reload. Its buttons post
//! to the mirrored API routes ([`super::gateway_actions`]), which answer with the new row.

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::DashSession;
use super::layout::{self, Viewer, badge, label};
use crate::auth::{Principal, Role};
use crate::http::AppState;
use crate::http::extract::ApiQuery;
use crate::http::gateway::ServerRecord;

/// Filters of the upstream table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFilter {
    /// 1-based page.
    pub page: Option<usize>,
    /// Only names containing this.
    pub q: Option<String>,
    /// Only this status (`healthy`, `degraded`, `unreachable`).
    pub status: Option<String>,
}

impl UpstreamFilter {
    fn link(&self, page: usize) -> String {
        format!(
            "/gateway?page={page}&q={}&status={}",
            layout::q(self.q.as_deref().unwrap_or_default()),
            layout::q(self.status.as_deref().unwrap_or_default())
        )
    }
}

/// Filters of the invocation history.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFilter {
    pub server: Option<String>,
    pub method: Option<String>,
    pub request_id: Option<String>,
}

/// `GET /gateway`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    ApiQuery(filter): ApiQuery<UpstreamFilter>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let body = html! {
        section.panel aria-labelledby="ups-h" {
            h2 #ups-h { "Upstreams" }
            form.row method="get" action="/gateway" role="search" {
                label { "Name contains " input type="search" name="q" value=(filter.q.as_deref().unwrap_or_default()) maxlength="128"; }
                label { "Status "
                    select name="status" {
                        @for s in ["", "healthy", "degraded", "unreachable"] {
                            option value=(s) selected[filter.status.as_deref().unwrap_or_default() == s] {
                                (if s.is_empty() { "any" } else { s })
                            }
                        }
                    }
                }
                button.secondary type="submit" { "Filter" }
            }
            (upstreams(&state, &viewer, &filter).await)
        }
        @if viewer.may(Role::Admin) {
            section.panel aria-labelledby="reg-h" {
                h2 #reg-h { "Register an upstream" }
                (super::gateway_actions::register_form())
            }
        }
        section.panel aria-labelledby="cat-h" {
            h2 #cat-h { "Federated catalog" }
            (super::gateway_catalog::search_form())
            (super::gateway_catalog::catalog(&state, &Default::default()).await)
        }
        section.panel aria-labelledby="hist-h" {
            h2 #hist-h { "Invocation history" }
            form.row hx-get="/ui/fragments/history" hx-target="#history" hx-swap="outerHTML" role="search" {
                label { "Server " input name="server" maxlength="128"; }
                label { "Method "
                    select name="method" {
                        option value="" { "any" }
                        @for m in ["tools/call", "resources/read", "prompts/get"] { option value=(m) { (m) } }
                    }
                }
                label { "Request id " input name="request_id" maxlength="128"; }
                button.secondary type="submit" { "Filter" }
            }
            (history(&state, HistoryFilter::default()).await)
        }
    };
    layout::page("Gateway", "/gateway", &viewer, body)
}

/// `GET /ui/fragments/upstreams`: the table alone (live refresh, paging).
pub async fn upstreams_fragment(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(filter): ApiQuery<UpstreamFilter>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: None,
    };
    layout::fragment(StatusCode::OK, upstreams(&state, &viewer, &filter).await)
}

async fn upstreams(state: &AppState, viewer: &Viewer<'_>, filter: &UpstreamFilter) -> Markup {
    let all = crate::http::gateway::list_servers(State(state.clone()))
        .await
        .0;
    let needle = filter.q.as_deref().unwrap_or_default().to_lowercase();
    let status = filter.status.as_deref().unwrap_or_default();
    let rows: Vec<&ServerRecord> = all
        .servers
        .iter()
        .filter(|r| needle.is_empty() || r.spec.name.to_lowercase().contains(&needle))
        .filter(|r| {
            status.is_empty()
                || r.state
                    .as_ref()
                    .is_some_and(|s| label(&s.health.status) == status)
        })
        .collect();
    let (page, range) = layout::slice(rows.len(), filter.page.unwrap_or(1));
    let now = OffsetDateTime::now_utc();
    let latency = super::sparkline::of_all(state).await;
    let refresh = format!(
        "/ui/fragments/upstreams?page={page}&q={}&status={}",
        layout::q(&needle),
        layout::q(status)
    );
    html! {
        div #upstreams hx-get=(refresh) hx-trigger="live, upstreams-changed from:body" hx-swap="outerHTML" hx-disinherit="*" data-live="upstream.,invocation" {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Endpoint" } th scope="col" { "Status" }
                        th scope="col" { "Retry window" } th scope="col" { "Last error" } th scope="col" { "Handshake" }
                        th scope="col" { "Catalog" } th scope="col" { "Latency" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for r in &rows[range] {
                            (row(r, viewer, now, latency.get(&r.spec.name).map(Vec::as_slice)))
                        }
                        @if rows.is_empty() {
                            tr { td colspan="9" .muted { "No upstream matches." } }
                        }
                    }
                }
            }
            (layout::pager(rows.len(), page, |p| filter.link(p)))
        }
    }
}

/// One upstream's row (also the answer of an action on it).
pub fn row(
    r: &ServerRecord,
    viewer: &Viewer<'_>,
    now: OffsetDateTime,
    latency: Option<&[f64]>,
) -> Markup {
    let spec = serde_json::to_value(&r.spec).unwrap_or_default();
    let endpoint = spec["url"]
        .as_str()
        .or_else(|| spec["command"].as_str())
        .unwrap_or("?")
        .to_owned();
    let name = layout::q(&r.spec.name);
    html! {
        tr data-upstream=(r.spec.name) {
            th scope="row" { (r.spec.name) }
            td.wrap { code { (endpoint) } }
            @match &r.state {
                None => { td.status { (badge("starting")) } td {} td {} td {} td {} }
                Some(s) => {
                    td.status { (badge(&label(&s.health.status))) }
                    td { @if let Some(at) = s.health.next_retry_at.filter(|at| *at > now) { (layout::countdown(at, now)) } }
                    td.err {
                        @if let Some(e) = &s.health.last_error {
                            (super::overview::truncate(e, 300))
                            @if let Some(c) = &s.health.last_error_category { " " span.badge.st-warn { (label(c)) } }
                        }
                    }
                    td { @if let Some(at) = s.last_initialized_at { (layout::relative(at, now)) } @else { span.muted { "none" } } }
                    td { @if let Some(c) = &s.catalog { (catalog_counts(c)) } }
                }
            }
            td { (super::sparkline::svg(latency.unwrap_or_default())) }
            td {
                @if viewer.may(Role::Operator) {
                    button.secondary type="button" hx-post={"/ui/api/v1/mcp/servers/" (name) "/health-check"}
                        hx-target="closest tr" hx-swap="outerHTML" { "Check" }
                    " "
                    button.secondary type="button" hx-post={"/ui/api/v1/mcp/servers/" (name) "/session/invalidate"}
                        hx-target="closest tr" hx-swap="outerHTML" { "Invalidate" }
                }
                @if viewer.may(Role::Admin) {
                    " "
                    button.danger type="button" hx-delete={"/ui/api/v1/mcp/servers/" (name)}
                        hx-confirm={"Remove upstream " (r.spec.name) "?"} hx-target="closest tr" hx-swap="outerHTML" { "Remove" }
                }
            }
        }
    }
}

fn catalog_counts(c: &serde_json::Value) -> Markup {
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    html! { (n("tools")) " tools · " (n("resources")) " resources · " (n("prompts")) " prompts" }
}

/// `GET /ui/fragments/history`: the invocation history, filtered.
pub async fn history_fragment(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<HistoryFilter>,
) -> Response {
    layout::fragment(StatusCode::OK, history(&state, filter).await)
}

/// The newest invocations (at most [`layout::PAGE_SIZE`]) as the
/// `GET /api/v1/mcp/invocation-events` handler answers them.
async fn history(state: &AppState, f: HistoryFilter) -> Markup {
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let params = crate::http::gateway::InvocationEventParams {
        server: nonempty(f.server),
        method: nonempty(f.method),
        request_id: nonempty(f.request_id),
        limit: Some(layout::PAGE_SIZE as i64),
    };
    let answer =
        crate::http::gateway::invocation_events(State(state.clone()), ApiQuery(params)).await;
    html! {
        div #history hx-get="/ui/fragments/history" hx-trigger="live" hx-swap="outerHTML" hx-disinherit="*" data-live="invocation" {
            @match answer {
                Err(e) => { (layout::error_note(&layout::error_text(e).await)) }
                Ok(list) => {
                    div.scroll { table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Server" } th scope="col" { "Method" }
                            th scope="col" { "Request" } th scope="col" { "Phase" } th scope="col" { "Error" } } }
                        tbody {
                            @for e in list.0.events.iter().rev() {
                                tr {
                                    td { (e["timestamp"].as_str().unwrap_or_default()) }
                                    td { (e["server"].as_str().unwrap_or_default()) }
                                    td { (e["method"].as_str().unwrap_or_default()) }
                                    td.wrap { @let rid = e["request_id"].as_str().unwrap_or_default();
                                        a href={"/gateway/requests/" (layout::q(rid))} { code { (rid) } } }
                                    td { (badge(e["phase"].as_str().unwrap_or("unknown"))) }
                                    td.err { (e["error"].as_str().unwrap_or_default()) }
                                }
                            }
                            @if list.0.events.is_empty() { tr { td colspan="6" .muted { "No invocations." } } }
                        }
                    } }
                }
            }
        }
    }
}
