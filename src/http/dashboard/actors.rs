//! The actors pages: the tree (`/actors`, paged) and one actor's message trace (`/actors/{name}`):
//! kind, correlation id, duration and outcome of each handled message, panic text included
//! — the `GET /api/v1/actors/{name}/trace` handler's records, newest first.

use std::collections::HashMap;

use att_runtime::directory::ActorInfo;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::DashSession;
use super::layout::{self, Viewer, badge};
use crate::auth::Principal;
use crate::http::AppState;
use crate::http::extract::ApiQuery;

/// The tree, parents before children, indented by depth, a page of [`layout::PAGE_SIZE`]
/// rows at a time (an att with 1,000 upstreams has over 1,000 actors).
pub fn actor_tree(
    actors: &[ActorInfo],
    now: OffsetDateTime,
    page: usize,
    link: impl Fn(usize) -> String,
) -> Markup {
    let parents: HashMap<&str, Option<&str>> = actors
        .iter()
        .map(|a| (a.name.as_str(), a.parent.as_deref()))
        .collect();
    let depth = |a: &ActorInfo| {
        let mut d = 0;
        let mut parent = a.parent.as_deref();
        while let Some(p) = parent
            && d < 3
        {
            d += 1;
            parent = parents.get(p).copied().flatten();
        }
        d
    };
    let (page, range) = layout::slice(actors.len(), page);
    html! {
        div.scroll {
            table {
                thead { tr { th scope="col" { "Actor" } th scope="col" { "Status" } th scope="col" { "Restarts" }
                    th scope="col" { "Messages" } th scope="col" { "Last failure" } } }
                tbody {
                    @for a in &actors[range] {
                        tr {
                            td class={"indent-" (depth(a))} { a href={"/actors/" (layout::q(&a.name))} { (a.name) } }
                            td { (badge(&layout::label(&a.status))) }
                            td { (a.restart_count) }
                            td { (a.messages_handled) }
                            td.err {
                                @if let Some(f) = &a.last_failure {
                                    (f.reason) " · " (layout::relative(f.at, now))
                                }
                            }
                        }
                    }
                }
            }
        }
        (layout::pager(actors.len(), page, link))
    }
}

/// Which page of the tree.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreePage {
    /// 1-based page.
    pub page: Option<usize>,
}

/// `GET /actors`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    ApiQuery(p): ApiQuery<TreePage>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let now = OffsetDateTime::now_utc();
    let page = p.page.unwrap_or(1);
    let body = html! {
        section.panel #actor-tree hx-get={"/actors?page=" (page)} hx-select="#actor-tree" hx-swap="outerHTML"
            hx-trigger="live" hx-disinherit="*" data-live="actor." {
            (actor_tree(&state.directory.list(), now, page, |p| format!("/actors?page={p}")))
        }
    };
    layout::page("Actors", "/actors", &viewer, body)
}

/// Filters of a trace page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFilter {
    /// Only messages of this request or run.
    pub correlation_id: Option<String>,
}

/// `GET /actors/{name}`.
pub async fn trace_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(name): Path<String>,
    ApiQuery(filter): ApiQuery<TraceFilter>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let correlation = filter.correlation_id.filter(|c| !c.trim().is_empty());
    let params = crate::http::actors::TraceParams {
        correlation_id: correlation.clone(),
        limit: Some(1000),
    };
    let trace = match crate::http::actors::trace(
        State(state.clone()),
        Path(name.clone()),
        ApiQuery(params),
    )
    .await
    {
        Ok(t) => t.0,
        Err(e) => {
            let text = layout::error_text(e).await;
            let page = layout::page(
                &format!("Actor {name}"),
                "/actors",
                &viewer,
                layout::error_note(&text),
            );
            return (StatusCode::NOT_FOUND, page).into_response();
        }
    };
    let info = state.directory.get(&name);
    let now = OffsetDateTime::now_utc();
    let body = html! {
        @if let Some(info) = &info {
            p { (badge(&layout::label(&info.status))) " · " (info.restart_count) " restarts · "
                (info.messages_handled) " messages handled"
                @if let Some(f) = &info.last_failure { " · last failure: " strong.panic-text { (f.reason) } " (" (layout::relative(f.at, now)) ")" } }
        }
        form.row method="get" role="search" {
            label { "Correlation id " input name="correlation_id" maxlength="128" value=(correlation.as_deref().unwrap_or_default()); }
            button.secondary type="submit" { "Filter" }
        }
        div.scroll { table #trace {
            thead { tr { th scope="col" { "Started" } th scope="col" { "Kind" } th scope="col" { "Correlation" }
                th scope="col" { "Duration" } th scope="col" { "Outcome" } } }
            tbody {
                @for r in trace.records.iter().rev() {
                    @let (outcome, text) = outcome(&r.outcome);
                    tr {
                        td { (layout::relative(r.started_at, now)) }
                        td { code { (r.kind) } }
                        td.wrap { @if let Some(c) = &r.correlation_id { code { (c) } } }
                        td { (r.duration_us) " µs" }
                        td.err { (badge(outcome)) @if let Some(t) = text { " " span.panic-text { (t) } } }
                    }
                }
                @if trace.records.is_empty() { tr { td colspan="5" .muted { "No messages recorded." } } }
            }
        } }
    };
    layout::page(&format!("Actor {name}"), "/actors", &viewer, body)
}

fn outcome(o: &att_runtime::directory::TraceOutcome) -> (&'static str, Option<&str>) {
    use att_runtime::directory::TraceOutcome;
    match o {
        TraceOutcome::Ok => ("ok", None),
        TraceOutcome::Error { error } => ("error", Some(error)),
        TraceOutcome::Panic { error } => ("panic", Some(error)),
    }
}
