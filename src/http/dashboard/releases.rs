//! The releases pages: the newest runs and each target's releases (`/releases`), and one
//! run's phases as a timeline (`/releases/runs/{id}`), live while it runs, with its build
//! output ([`super::build_output`]) — with a form to start a run for any target and release,
//! buttons to deploy a listed release, roll a target back and cancel a run, each behind a
//! confirmation.
//!
//! Everything is read and done by the `/api/v1/bootstrap` handlers (`list_runs`, `get_run`,
//! `list_releases`, `start_run`, `rollback_target`, `cancel_run`), mirrored at `/ui/...`.
//! The timeline is an SVG (bar widths are attributes: the CSP allows no inline style).

use std::collections::BTreeSet;

use att_release::model::RunRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use maud::{Markup, html};
use serde_json::json;
use time::OffsetDateTime;

use super::DashSession;
use super::layout::{self, Viewer, badge, label};
use crate::auth::{Principal, Role};
use crate::http::AppState;
use crate::http::bootstrap::{ReleasesParams, RunsParams};
use crate::http::extract::{ApiJson, ApiQuery, By, OptionalApiJson};

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/ui/api/v1/bootstrap/runs", post(deploy))
        .route("/ui/api/v1/bootstrap/runs/{id}/cancel", post(cancel))
        .route(
            "/ui/api/v1/bootstrap/targets/{target}/rollback",
            post(rollback),
        )
}

/// `GET /releases`.
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
    let params = RunsParams {
        limit: Some(layout::PAGE_SIZE as u32),
    };
    let runs = match crate::http::bootstrap::list_runs(State(state.clone()), ApiQuery(params)).await
    {
        Ok(Json(list)) => list.runs,
        Err(e) => {
            let note = layout::error_note(&layout::error_text(e).await);
            return layout::page("Releases", "/releases", &viewer, note);
        }
    };
    let targets: BTreeSet<&str> = runs.iter().map(|r| r.target.as_str()).collect();
    // What a run may name: the targets of recent runs and every managed service.
    let services = crate::http::services::own_services(&state).await;
    let known: BTreeSet<String> = targets
        .iter()
        .map(|t| (*t).to_owned())
        .chain(services.iter().map(|s| format!("service:{}", s.spec.name)))
        .collect();
    let mut per_target = Vec::new();
    for t in targets {
        let p = ReleasesParams {
            target: t.to_owned(),
        };
        let list = crate::http::bootstrap::list_releases(State(state.clone()), ApiQuery(p)).await;
        per_target.push((t, list.map(|l| l.0.releases).unwrap_or_default()));
    }
    let body = html! {
        @if viewer.may(Role::Admin) { (start_form(&known)) }
        // Outside the live region: a refresh does not wipe an action's answer.
        div #action-result aria-live="polite" {}
        div #releases hx-get="/releases" hx-select="#releases" hx-swap="outerHTML" hx-trigger="live" hx-disinherit="*" data-live="bootstrap.run" {
            section.panel aria-labelledby="runs-h" {
                h2 #runs-h { "Runs (newest " (layout::PAGE_SIZE) ")" }
                div.scroll { table {
                    thead { tr { th scope="col" { "Run" } th scope="col" { "Target" } th scope="col" { "Release" }
                        th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "Rollback" } } }
                    tbody {
                        @for r in &runs {
                            tr {
                                td.wrap { a href={"/releases/runs/" (layout::q(&r.id))} { code { (r.id) } } }
                                td { (r.target) }
                                td { code { (r.request.requested_release_id) } }
                                td { (badge(&label(&r.status))) }
                                td { (layout::relative(r.created_at, now)) }
                                td { @if r.result.rollback_performed {
                                    (badge(if r.result.rollback_succeeded == Some(true) { "ok" } else { "failed" })) } }
                            }
                        }
                        @if runs.is_empty() { tr { td colspan="6" .muted { "No runs yet." } } }
                    }
                } }
            }
            @for (target, releases) in &per_target {
                section.panel {
                    h2 { "Releases of " code { (target) } }
                    @if viewer.may(Role::Admin) {
                        button.danger type="button" hx-post={"/ui/api/v1/bootstrap/targets/" (layout::q(target)) "/rollback"}
                            hx-confirm={"Roll " (target) " back to its previous live release?"}
                            hx-target="#action-result" { "Roll back" }
                    }
                    div.scroll { table {
                        thead { tr { th scope="col" { "Release" } th scope="col" { "Status" } th scope="col" { "Command" }
                            th scope="col" { "Registered" } th scope="col" { "" } } }
                        tbody {
                            @for rel in releases.iter().take(layout::PAGE_SIZE) {
                                tr {
                                    td { code { (rel.id) } }
                                    td { (badge(&label(&rel.status))) }
                                    td.wrap { code { (rel.command) } }
                                    td { (layout::relative(rel.created_at, now)) }
                                    td { @if viewer.may(Role::Admin) {
                                        form.inline hx-post="/ui/api/v1/bootstrap/runs" hx-target="#action-result"
                                            hx-confirm={"Deploy " (rel.id) " to " (target) "?"} {
                                            input type="hidden" name="target" value=(target);
                                            input type="hidden" name="release" value=(rel.id);
                                            input name="restart_watchdog_interval" size="5" maxlength="16"
                                                placeholder="5s" aria-label="watchdog interval" title="restart watchdog interval (default 5s)";
                                            button.secondary type="submit" { "Deploy" }
                                        }
                                    } }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    layout::page("Releases", "/releases", &viewer, body)
}

/// The form that starts a run of any target (`known` are offered) and release.
fn start_form(known: &BTreeSet<String>) -> Markup {
    html! {
        section.panel aria-labelledby="start-h" {
            h2 #start-h { "Start a run" }
            form.row #start-run hx-post="/ui/api/v1/bootstrap/runs" hx-target="#action-result"
                hx-confirm="Start a run? It deploys the release to the target (and rolls back if the policy says so)." {
                label { "Target " input name="target" list="known-targets" required maxlength="128" placeholder="service:web"; }
                datalist #known-targets { @for t in known.iter().take(layout::PAGE_SIZE) { option value=(t) {} } }
                label { "Release " input name="release" maxlength="256" placeholder="newest (a target that builds: HEAD)"; }
                label { "Watchdog " input name="restart_watchdog_interval" size="5" maxlength="16" placeholder="5s"; }
                button type="submit" { "Run" }
            }
        }
    }
}

/// `GET /releases/runs/{id}`.
pub async fn run_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(id): Path<String>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let run = match crate::http::bootstrap::get_run(State(state.clone()), Path(id.clone())).await {
        Ok(Json(run)) => run,
        Err(e) => {
            let status = e.status();
            let note = layout::error_note(&layout::error_text(e).await);
            let page = layout::page(&format!("Run {id}"), "/releases", &viewer, note);
            return (status, page).into_response();
        }
    };
    let running = label(&run.status) == "running";
    let build = super::build_output::lines(&state, &id).await;
    let body = html! {
        div #action-result aria-live="polite" {}
        div #run hx-get={"/releases/runs/" (layout::q(&id))} hx-select="#run" hx-swap="outerHTML"
            hx-trigger="live" hx-disinherit="*" data-live="bootstrap." {
            p { "Target " code { (run.target) } " · release " code { (run.request.requested_release_id) }
                " · " span #run-status { (badge(&label(&run.status))) } }
            @if running && viewer.may(Role::Admin) {
                button.danger type="button" hx-post={"/ui/api/v1/bootstrap/runs/" (layout::q(&id)) "/cancel"}
                    hx-confirm="Cancel this run? A deploy in progress is rolled back." hx-target="#action-result" { "Cancel run" }
            }
            section.panel aria-labelledby="tl-h" {
                h2 #tl-h { "Timeline" }
                (timeline(&run))
            }
            (super::build_output::panel(&build, running))
            section.panel aria-labelledby="res-h" {
                h2 #res-h { "Decision" }
                (decision(&run))
            }
        }
    };
    layout::page(&format!("Run {id}"), "/releases", &viewer, body)
}

/// The phases as bars on one time axis, then as a table (status, duration, message).
fn timeline(run: &RunRecord) -> Markup {
    let now = OffsetDateTime::now_utc();
    let start = run.created_at;
    let end_of = |p: &att_release::model::PhaseRecord| p.ended_at.or(p.started_at.map(|_| now));
    let span = run
        .phases
        .iter()
        .filter_map(end_of)
        .max()
        .map_or(1.0, |e| (e - start).as_seconds_f64().max(0.001));
    // Labels in the first 200 units, bars in the 1,000 after them; a row per phase begun.
    let x = |t: OffsetDateTime| {
        200.0 + ((t - start).as_seconds_f64() / span * 1000.0).clamp(0.0, 1000.0)
    };
    let begun: Vec<_> = run
        .phases
        .iter()
        .filter_map(|p| Some((p, p.started_at?, end_of(p)?)))
        .collect();
    html! {
        svg.timeline viewBox={"0 0 1200 " (begun.len().max(1) * 24)} width="100%" role="img"
            aria-label="phase timeline" {
            @for (i, (p, s, e)) in begun.iter().enumerate() {
                @let (x0, x1) = (x(*s), x(*e));
                text x="4" y=(i * 24 + 17) { (label(&p.phase)) }
                rect class={"bar st-" (label(&p.status))} x=(format!("{x0:.1}")) y=(i * 24 + 4)
                    width=(format!("{:.1}", (x1 - x0).max(3.0))) height="16" rx="3" {
                    title { (label(&p.phase)) ": " (label(&p.status)) }
                }
            }
        }
        div.scroll { table #phases {
            thead { tr { th scope="col" { "Phase" } th scope="col" { "Status" } th scope="col" { "Duration" } th scope="col" { "Message" } } }
            tbody {
                @for p in &run.phases {
                    tr {
                        td { (label(&p.phase)) }
                        td { (badge(&label(&p.status))) }
                        td { @if let (Some(s), Some(e)) = (p.started_at, end_of(p)) {
                            (format!("{:.2} s", (e - s).as_seconds_f64())) } }
                        td.err { (p.message.as_deref().unwrap_or_default()) }
                    }
                }
            }
        } }
    }
}

fn decision(run: &RunRecord) -> Markup {
    let r = &run.result;
    html! {
        ul #decision {
            li { "Success: " (badge(if r.success { "ok" } else { "failed" })) }
            li { "Restart watchdog: " (r.restart_watchdog_status) @if let Some(w) = &r.restart_watchdog_reason { " — " (w) } }
            li { "Health: " (r.health_status) }
            li { "Rollback policy: " strong { (r.rollback_policy_status) }
                @if let Some(why) = &r.rollback_policy_reason { " — " (why) } }
            li { "Rollback: " @if r.rollback_performed {
                    "performed, " (badge(if r.rollback_succeeded == Some(true) { "verified" } else { "failed" }))
                    @if let Some(to) = &r.rollback_target_release_id { " to " code { (to) } }
                } @else { "not performed" } }
        }
    }
}

async fn answer(
    result: Result<
        (StatusCode, Json<crate::http::bootstrap::RunStarted>),
        crate::http::error::ApiError,
    >,
) -> Response {
    match result {
        Ok((status, Json(started))) => layout::fragment(
            status,
            html! { p.note.st-ok role="status" { "Run " a href={"/releases/runs/" (layout::q(&started.run_id))} { code { (started.run_id) } } " started." } },
        ),
        Err(e) => {
            let status = e.status();
            layout::fragment(status, layout::error_note(&layout::error_text(e).await))
        }
    }
}

/// `POST /ui/api/v1/bootstrap/runs` (form: `target`, `release`, optionally
/// `restart_watchdog_interval`): starts a run.
async fn deploy(State(state): State<AppState>, by: By, body: Bytes) -> Response {
    let fields = super::gateway_actions::form_fields(&body);
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut request = json!({ "target": get("target").trim() });
    // No release named: the run resolves one (a target that builds builds its HEAD).
    let release = get("release").trim();
    if !release.is_empty() {
        request["requested_release_id"] = json!(release);
    }
    let interval = get("restart_watchdog_interval").trim();
    if !interval.is_empty() {
        request["restart_watchdog_interval"] = json!(interval);
    }
    answer(crate::http::bootstrap::start_run(State(state), by, ApiJson(request)).await).await
}

async fn rollback(State(state): State<AppState>, by: By, Path(target): Path<String>) -> Response {
    let body = OptionalApiJson(Default::default());
    answer(crate::http::bootstrap::rollback_target(State(state), by, Path(target), body).await)
        .await
}

async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    answer(crate::http::bootstrap::cancel_run(State(state), Path(id)).await).await
}
