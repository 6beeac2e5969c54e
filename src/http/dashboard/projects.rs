//! The projects pages: the registered projects (`/projects`) and one project
//! (`/projects/{name}`): its test runs, runtime and deploys with their actions
//! ([`super::project_actions`]), git status and log, and its files (a directory at a time; a
//! text file opens as `?file=`) — the `/api/v1/projects` handlers' answers (the workspace
//! tools).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::DashSession;
use super::layout::{self, Viewer, badge};
use crate::auth::Principal;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, By};
use crate::http::projects as api;

/// Which directory and file of the project to show.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectView {
    /// A directory inside the project (default: its root).
    pub dir: Option<String>,
    /// A text file to show.
    pub file: Option<String>,
    /// A test run whose output to show.
    pub test: Option<String>,
    /// The byte offset of the runtime log page to show (default: its newest lines).
    pub log: Option<u64>,
}

/// A table of `rows` (JSON objects) with `columns`; a string cell is shown as it is, any
/// other value as JSON.
fn table(rows: &[Value], columns: &[&str], link: impl Fn(&Value) -> Option<String>) -> Markup {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    html! {
        div.scroll { table {
            thead { tr { @for c in columns { th scope="col" { (c) } } } }
            tbody {
                @for r in rows.iter().take(layout::PAGE_SIZE) {
                    tr {
                        @for (i, c) in columns.iter().enumerate() {
                            td.err {
                                @match (i, link(r)) {
                                    (0, Some(href)) => { a href=(href) { (cell(&r[*c])) } }
                                    _ => { (super::overview::truncate(&cell(&r[*c]), 300)) }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan=(columns.len()) .muted { "None." } } }
            }
        } }
        @if rows.len() > layout::PAGE_SIZE { p.muted { "First " (layout::PAGE_SIZE) " of " (rows.len()) "." } }
    }
}

/// A section from a handler's answer: `render` on success, the error's text otherwise.
async fn section(
    title: &str,
    answer: Result<Json<Value>, ApiError>,
    render: impl FnOnce(&Value) -> Markup,
) -> Markup {
    let inner = match answer {
        Ok(Json(v)) => render(&v),
        Err(e) => layout::error_note(&layout::error_text(e).await),
    };
    html! { section.panel { h2 { (title) } (inner) } }
}

/// `GET /projects`.
pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    by: By,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let answer = api::list_projects(State(state), by).await;
    let body = section("Projects", answer, |v| {
        let rows = v["projects"].as_array().cloned().unwrap_or_default();
        table(&rows, &["name", "path"], |r| {
            r["name"]
                .as_str()
                .map(|n| format!("/projects/{}", layout::q(n)))
        })
    })
    .await;
    layout::page("Projects", "/projects", &viewer, body)
}

/// `GET /projects/{name}`.
pub async fn project_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Extension(request_id): Extension<crate::http::middleware::RequestId>,
    Path(name): Path<String>,
    ApiQuery(view): ApiQuery<ProjectView>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    // Who acts, as the `By` extractor of the API names it.
    let by =
        || By(crate::tools::Caller::new(format!("http:{}", request_id.0)).by(Some(&principal)));
    let s = || State(state.clone());
    let p = || Path(name.clone());
    let base = format!("/projects/{}", layout::q(&name));
    let file = match &view.file {
        Some(path) => {
            let args = crate::tools::args::ReadArgs {
                path: path.clone(),
                limit: Some(256 * 1024),
            };
            let answer = api::read_file(s(), by(), p(), api::ToolQuery(args)).await;
            Some(
                section(&format!("File {path}"), answer, |v| {
                    html! { pre #file { (v["content"].as_str().unwrap_or_default()) } }
                })
                .await,
            )
        }
        None => None,
    };
    let dir = view.dir.clone().unwrap_or_default();
    let list = crate::tools::args::ListArgs {
        dir: dir.clone(),
        limit: Some(1000),
    };
    let files = section(
        &format!("Files in /{dir}"),
        api::list_files(s(), by(), p(), api::ToolQuery(list)).await,
        |v| {
            let rows = v["entries"].as_array().cloned().unwrap_or_default();
            table(&rows, &["path", "kind", "size"], |r| {
                let path = layout::q(r["path"].as_str()?);
                Some(match r["kind"].as_str() {
                    Some("dir") => format!("{base}?dir={path}"),
                    _ => format!("{base}?dir={}&file={path}", layout::q(&dir)),
                })
            })
        },
    )
    .await;
    let status = section("Git status", api::git_status(s(), by(), p()).await, |v| {
        let files = v["files"].as_array().cloned().unwrap_or_default();
        html! {
            p { "Branch " code { (v["branch"].as_str().unwrap_or("?")) } " · HEAD "
                code { (v["head"].as_str().unwrap_or("?")) } " · "
                (badge(if v["clean"] == Value::Bool(true) { "ok" } else { "warn" }))
                (if v["clean"] == Value::Bool(true) { " clean" } else { " changed" }) }
            (table(&files, &["path", "status"], |_| None))
        }
    })
    .await;
    let log_args = crate::tools::args::LogArgs { limit: Some(20) };
    let log = section(
        "Git log",
        api::git_log(s(), by(), p(), api::ToolQuery(log_args)).await,
        |v| {
            let rows = v["commits"].as_array().cloned().unwrap_or_default();
            table(&rows, &["id", "summary", "author"], |_| None)
        },
    )
    .await;
    let shown = super::project_actions::Shown {
        test: view.test.as_deref(),
        log: view.log,
    };
    let tests = super::project_actions::tests_panel(&state, by, &name, &viewer, shown).await;
    let runtime = super::project_actions::runtime_panel(&state, by, &name, &viewer, shown).await;
    let deploy = super::project_actions::deploy_panel(&state, by, &name, &viewer).await;
    let body = html! {
        p { a href="/projects" { "All projects" } }
        @if let Some(f) = file { (f) }
        (tests)
        (runtime)
        (deploy)
        div.grid { (status) (log) }
        (files)
    };
    layout::page(&format!("Project {name}"), "/projects", &viewer, body)
}
