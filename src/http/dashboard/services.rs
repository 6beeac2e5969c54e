//! The services page (`/services`): each managed service's state, pid, restarts, release
//! and last exit, with start / stop / restart (operators) and its newest log lines — the
//! `/api/v1/services` handlers' answers, live on `service.*` events.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use maud::html;
use serde::Deserialize;

use super::DashSession;
use super::layout::{self, Viewer, badge, label};
use crate::auth::{Principal, Role};
use crate::http::AppState;
use crate::http::extract::ApiQuery;
use crate::http::services::LogParams;

/// Log lines shown per service.
const LOG_LINES: usize = 20;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/ui/api/v1/services/{name}/{action}", post(act))
}

/// Filters of the page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFilter {
    /// 1-based page.
    pub page: Option<usize>,
}

/// `GET /services`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    ApiQuery(filter): ApiQuery<ServiceFilter>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let all = crate::http::services::own_services(&state).await;
    let (page, range) = layout::slice(all.len(), filter.page.unwrap_or(1));
    let shown = &all[range];
    let mut logs = Vec::with_capacity(shown.len());
    for s in shown {
        let params = LogParams {
            tail: Some(LOG_LINES),
        };
        let lines = crate::http::services::service_logs(
            State(state.clone()),
            Path(s.spec.name.clone()),
            ApiQuery(params),
        )
        .await
        .map(|l| l.0.lines)
        .unwrap_or_default();
        logs.push(lines);
    }
    let body = html! {
        div #action-result aria-live="polite" {}
        div #services hx-get={"/services?page=" (page)} hx-select="#services" hx-swap="outerHTML"
            hx-trigger="live" hx-disinherit="*" data-live="service." {
            @if all.is_empty() { p.muted { "No managed services." } }
            @for (s, lines) in shown.iter().zip(&logs) {
                @let name = layout::q(&s.spec.name);
                section.panel data-service=(s.spec.name) {
                    h2 { (s.spec.name) " "
                        @match &s.status {
                            Some(st) => { span.state { (badge(&label(&st.state))) } }
                            None => { (badge("starting")) }
                        }
                    }
                    @if let Some(st) = &s.status {
                        p { "pid " (st.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()))
                            " · " (st.restarts) " restarts"
                            @if let Some(r) = &st.release { " · release " code { (r) } }
                            @if let Some(e) = &st.last_exit { " · last exit " code { (serde_json::to_string(e).unwrap_or_default()) } }
                            @if let Some(e) = &st.error { " · " span.st-bad { (e) } } }
                    }
                    @if viewer.may(Role::Operator) {
                        @for action in ["start", "stop", "restart"] {
                            button.secondary type="button" hx-post={"/ui/api/v1/services/" (name) "/" (action)}
                                hx-target="#action-result" hx-confirm={"" (action) " " (s.spec.name) "?"} { (action) }
                            " "
                        }
                    }
                    details {
                        summary { "Newest " (LOG_LINES) " log lines" }
                        pre.logs { @for l in lines { (l) "\n" } }
                    }
                }
            }
            (layout::pager(all.len(), page, |p| format!("/services?page={p}")))
        }
    };
    layout::page("Services", "/services", &viewer, body)
}

/// `POST /ui/api/v1/services/{name}/{start|stop|restart}`.
async fn act(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    use crate::http::services::{restart_service, start_service, stop_service};
    let s = State(state);
    let p = Path(name.clone());
    let answer = match action.as_str() {
        "start" => start_service(s, p).await,
        "stop" => stop_service(s, p).await,
        "restart" => restart_service(s, p).await,
        _ => {
            return layout::fragment(
                StatusCode::NOT_FOUND,
                layout::error_note("the actions are start, stop and restart"),
            );
        }
    };
    match answer {
        Ok(Json(st)) => layout::fragment(
            StatusCode::OK,
            html! { p.note.st-ok role="status" { (name) ": " (label(&st.state)) } },
        ),
        Err(e) => {
            let status = e.status();
            layout::fragment(status, layout::error_note(&layout::error_text(e).await))
        }
    }
}
