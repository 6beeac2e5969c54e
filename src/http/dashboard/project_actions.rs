//! A project's actions on its page: run its tests (the typed counts and output, live),
//! start / stop / restart its runtime and read its logs a page at a time, deploy it.
//!
//! Each panel reads, and each button posts to `/ui` + the API route it mirrors, answered by
//! that `/api/v1/projects` handler — the workspace tools — so the roles are the API's
//! (tests and runtime: operator; deploy: admin). The panels are live regions: the tests one
//! re-renders on `workspace.test_run` events (a run started here shows `running`, then its
//! counts), the runtime one on `service.*` events (the runtime is a managed service), the
//! deploy one on `bootstrap.run` events. An action's answer is a note outside its region,
//! so a refresh does not wipe it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use maud::{Markup, html};
use serde_json::Value;

use super::gateway_actions::{field, form_fields};
use super::layout::{self, Viewer, badge};
use crate::auth::Role;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::By;
use crate::http::projects as api;
use crate::tools::args::{DeployRunArgs, DeployStatusArgs, LogsArgs, TestResultsArgs, TestRunArgs};

/// Runtime log lines per page.
pub const LOG_PAGE: usize = 100;
/// Test runs listed.
const RUNS: u32 = 10;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/ui/api/v1/projects/{name}/tests", post(run_tests))
        .route(
            "/ui/api/v1/projects/{name}/runtime/{action}",
            post(runtime_action),
        )
        .route("/ui/api/v1/projects/{name}/deploy", post(deploy))
}

/// What the page shows of the panels: one test run's output, a page of the runtime's log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Shown<'a> {
    /// The test run whose output is open.
    pub test: Option<&'a str>,
    /// The byte offset of the log page shown (none: the newest lines).
    pub log: Option<u64>,
}

/// The page's address with `shown` (what the live regions re-fetch).
fn link(name: &str, shown: Shown<'_>) -> String {
    let mut url = format!("/projects/{}?", layout::q(name));
    if let Some(t) = shown.test {
        url.push_str(&format!("test={}&", layout::q(t)));
    }
    if let Some(c) = shown.log {
        url.push_str(&format!("log={c}&"));
    }
    url.pop();
    url
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn note(status: StatusCode, markup: Markup) -> Response {
    layout::fragment(status, markup)
}

async fn error_answer(e: ApiError) -> Response {
    let status = e.status();
    note(status, layout::error_note(&layout::error_text(e).await))
}

/// The test runs panel: a "run tests" form, the newest runs with their typed counts, and
/// the output of the one `shown.test` names.
pub async fn tests_panel(
    state: &AppState,
    by: impl Fn() -> By,
    name: &str,
    viewer: &Viewer<'_>,
    shown: Shown<'_>,
) -> Markup {
    let q = layout::q(name);
    let args = TestResultsArgs {
        id: None,
        limit: Some(RUNS),
    };
    let listed = api::list_tests(
        State(state.clone()),
        by(),
        Path(name.to_owned()),
        api::ToolQuery(args),
    )
    .await;
    let open = match shown.test {
        Some(id) => {
            let one = TestResultsArgs {
                id: Some(id.to_owned()),
                limit: None,
            };
            let got = api::list_tests(
                State(state.clone()),
                by(),
                Path(name.to_owned()),
                api::ToolQuery(one),
            )
            .await;
            Some(got.map(|Json(v)| v))
        }
        None => None,
    };
    let counts = ["passed", "failed", "skipped", "errors"];
    let inner = match listed {
        Err(e) => layout::error_note(&layout::error_text(e).await),
        Ok(Json(v)) => {
            let runs = v["runs"].as_array().cloned().unwrap_or_default();
            html! {
                div.scroll { table #test-runs {
                    thead { tr { th scope="col" { "Run" } th scope="col" { "Status" } th scope="col" { "Filter" }
                        @for c in counts { th scope="col" { (c) } }
                        th scope="col" { "Time" } } }
                    tbody {
                        @for r in &runs {
                            @let id = r["id"].as_str().unwrap_or_default();
                            tr data-run=(id) {
                                td.wrap { a href={(link(name, Shown { test: Some(id), ..shown })) "#test-output"} { code { (id) } } }
                                td.status { (badge(r["status"].as_str().unwrap_or("?")))
                                    @if r["timed_out"] == Value::Bool(true) { " " (badge("timed_out")) } }
                                td { (text(&r["suite"])) }
                                @for c in counts { td.count data-count=(c) { (text(&r[c])) } }
                                td { @if let Some(s) = r["duration_seconds"].as_f64() { (format!("{s:.1} s")) } }
                            }
                        }
                        @if runs.is_empty() { tr { td colspan="8" .muted { "No test runs yet." } } }
                    }
                } }
            }
        }
    };
    let output = match open {
        None => html! {},
        Some(Err(e)) => layout::error_note(&layout::error_text(e).await),
        Some(Ok(run)) => html! {
            h3 { "Output of " code { (text(&run["id"])) } " · " (badge(run["status"].as_str().unwrap_or("?"))) }
            @if let Some(e) = run["error"].as_str() { (layout::error_note(e)) }
            @if run["output_truncated"] == Value::Bool(true) { p.muted { "Earlier output was dropped." } }
            pre #test-output .logs { (text(&run["output"])) }
        },
    };
    html! {
        div #tests hx-get=(link(name, shown)) hx-select="#tests" hx-swap="outerHTML" hx-trigger="live"
            hx-disinherit="*" data-live="workspace.test_run" {
            section.panel aria-labelledby="tests-h" {
                h2 #tests-h { "Test runs" }
                (inner)
                (output)
            }
        }
        @if viewer.may(Role::Operator) {
            form.row #run-tests hx-post={"/ui/api/v1/projects/" (q) "/tests"} hx-target="#tests-result" {
                label { "Filter " input name="filter" maxlength="256" placeholder="all tests"; }
                button type="submit" { "Run tests" }
            }
        }
        div #tests-result aria-live="polite" {}
    }
}

/// The runtime panel: its state, pid and health probe, start / stop / restart, and a page of
/// its log (the newest lines, or [`LOG_PAGE`] lines from `shown.log`).
pub async fn runtime_panel(
    state: &AppState,
    by: impl Fn() -> By,
    name: &str,
    viewer: &Viewer<'_>,
    shown: Shown<'_>,
) -> Markup {
    let q = layout::q(name);
    let status = match api::runtime_status(State(state.clone()), by(), Path(name.to_owned())).await
    {
        Ok(Json(status)) => status,
        Err(e) => {
            // No runtime (the error says so): nothing to act on.
            let why = layout::error_text(e).await;
            return html! { section.panel #runtime aria-labelledby="runtime-h" { h2 #runtime-h { "Runtime" } p.muted { (why) } } };
        }
    };
    let logs = LogsArgs {
        cursor: shown.log,
        limit: Some(LOG_PAGE),
    };
    let page = api::runtime_logs(
        State(state.clone()),
        by(),
        Path(name.to_owned()),
        api::ToolQuery(logs),
    )
    .await;
    let log = match page {
        Err(e) => {
            let why = layout::error_text(e).await;
            html! { p.muted { (why) } }
        }
        Ok(Json(p)) => {
            let lines = p["lines"].as_array().cloned().unwrap_or_default();
            let next = p["next_cursor"].as_u64();
            html! {
                pre #runtime-log .logs { @for l in &lines { (text(l)) "\n" } }
                nav.pager aria-label="Log pages" {
                    a href=(link(name, Shown { log: Some(0), ..shown })) { "From the start" }
                    @if shown.log.is_some() && p["more"] == Value::Bool(true) {
                        a href=(link(name, Shown { log: next, ..shown })) { "Next " (LOG_PAGE) " →" }
                    }
                    a href=(link(name, Shown { log: None, ..shown })) { "Newest" }
                }
            }
        }
    };
    let state_name = status["state"].as_str().unwrap_or("?").to_owned();
    let health = &status["health_check"];
    html! {
        div #runtime hx-get=(link(name, shown)) hx-select="#runtime" hx-swap="outerHTML" hx-trigger="live"
            hx-disinherit="*" data-live="service." {
            section.panel aria-labelledby="runtime-h" {
                h2 #runtime-h { "Runtime " span #runtime-state { (badge(&state_name)) } }
                p { "pid " (status["pid"].as_u64().map_or_else(|| "—".to_owned(), |p| p.to_string()))
                    @if let Some(r) = status["restarts"].as_u64() { " · " (r) " restarts" }
                    @if health.is_object() { " · health " (badge(if health["healthy"] == Value::Bool(true) { "healthy" } else { "unhealthy" })) }
                    @if let Some(e) = status["error"].as_str() { " · " span.st-bad { (e) } } }
                @if viewer.may(Role::Operator) {
                    div.row {
                        @for action in ["start", "stop", "restart"] {
                            button.secondary type="button" hx-post={"/ui/api/v1/projects/" (q) "/runtime/" (action)}
                                hx-target="#runtime-result" hx-confirm={(action) " the runtime of " (name) "?"} { (action) }
                        }
                    }
                }
                h3 { "Log" }
                (log)
            }
        }
        div #runtime-result aria-live="polite" {}
    }
}

/// The deploy panel: the project's newest run and a form to ship a release (admins).
pub async fn deploy_panel(
    state: &AppState,
    by: impl Fn() -> By,
    name: &str,
    viewer: &Viewer<'_>,
) -> Markup {
    let q = layout::q(name);
    let newest = api::deploy_status(
        State(state.clone()),
        by(),
        Path(name.to_owned()),
        api::ToolQuery(DeployStatusArgs::default()),
    )
    .await;
    html! {
        div #deploy hx-get=(link(name, Shown::default())) hx-select="#deploy" hx-swap="outerHTML" hx-trigger="live"
            hx-disinherit="*" data-live="bootstrap.run" {
            section.panel aria-labelledby="deploy-h" {
                h2 #deploy-h { "Deploy" }
                @match &newest {
                    Ok(Json(run)) => {
                        @let id = text(&run["id"]);
                        p { "Newest run " a href={"/releases/runs/" (layout::q(&id))} { code { (id) } }
                            " · release " code { (text(&run["request"]["requested_release_id"])) }
                            " · " (badge(&text(&run["status"]))) }
                    }
                    Err(_) => { p.muted { "No deploy run yet." } }
                }
                @if viewer.may(Role::Admin) {
                    form.row #deploy-form hx-post={"/ui/api/v1/projects/" (q) "/deploy"} hx-target="#deploy-result"
                        hx-confirm={"Deploy " (name) "?"} {
                        label { "Release " input name="release" maxlength="256" placeholder="HEAD"; }
                        button type="submit" { "Deploy" }
                    }
                }
            }
        }
        div #deploy-result aria-live="polite" {}
    }
}

/// `POST /ui/api/v1/projects/{name}/tests` (form: `filter`): starts a test run.
async fn run_tests(
    State(state): State<AppState>,
    by: By,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let filter = Some(field(&fields, "filter").to_owned()).filter(|f| !f.is_empty());
    let args = TestRunArgs {
        filter,
        timeout_seconds: None,
    };
    match api::run_tests(State(state), by, Path(name.clone()), api::ToolBody(args)).await {
        Ok((status, Json(run))) => {
            let id = text(&run["id"]);
            let href = link(
                &name,
                Shown {
                    test: Some(&id),
                    log: None,
                },
            );
            note(
                status,
                html! { p.note.st-ok role="status" { "Test run " a href={(href) "#test-output"} { code { (id) } } " started; its counts show in the table when it ends." } },
            )
        }
        Err(e) => error_answer(e).await,
    }
}

/// `POST /ui/api/v1/projects/{name}/runtime/{start|stop|restart}`.
async fn runtime_action(
    State(state): State<AppState>,
    by: By,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    match api::runtime_action(State(state), by, Path((name.clone(), action))).await {
        Ok(Json(s)) => note(
            StatusCode::OK,
            html! { p.note.st-ok role="status" { "Runtime of " (name) ": " (text(&s["state"])) } },
        ),
        Err(e) => error_answer(e).await,
    }
}

/// `POST /ui/api/v1/projects/{name}/deploy` (form: `release`): ships a release.
async fn deploy(
    State(state): State<AppState>,
    by: By,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let args = DeployRunArgs {
        release: Some(field(&fields, "release").to_owned()).filter(|r| !r.is_empty()),
        options: None,
    };
    match api::deploy_run(State(state), by, Path(name), api::ToolBody(args)).await {
        Ok((status, Json(run))) => {
            let id = text(&run["run_id"]);
            note(
                status,
                html! { p.note.st-ok role="status" { "Run " a href={"/releases/runs/" (layout::q(&id))} { code { (id) } } " started." } },
            )
        }
        Err(e) => error_answer(e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_link_keeps_what_is_shown() {
        let cases = [
            (Shown::default(), "/projects/my%20app"),
            (
                Shown {
                    test: Some("t-1"),
                    log: None,
                },
                "/projects/my%20app?test=t-1",
            ),
            (
                Shown {
                    test: Some("a&b"),
                    log: Some(42),
                },
                "/projects/my%20app?test=a%26b&log=42",
            ),
            (
                Shown {
                    test: None,
                    log: Some(0),
                },
                "/projects/my%20app?log=0",
            ),
        ];
        for (shown, expected) in cases {
            assert_eq!(link("my app", shown), expected);
        }
    }
}
