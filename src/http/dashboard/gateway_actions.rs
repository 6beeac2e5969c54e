//! The gateway page's actions: register, check, invalidate, remove, and a tool's "try it"
//! (the answer view is shared with resources and prompts, [`super::gateway_try`]).
//!
//! Each is served at `/ui` + the API route it mirrors and answered by that API handler; the
//! form fields become the handler's JSON body here, and its answer (or error, with the field
//! it names) becomes HTML: a table row for an action on one upstream, a note for a
//! registration, the result and attempt trace for a call. The roles are the API routes'
//! ([`crate::auth::route_role`] maps `/ui/api/...` to `/api/...`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post};
use maud::{Markup, html};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::layout::{self, Viewer, badge, label};
use crate::auth::Principal;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::gateway::{InvokeTool, Invoked, ServerRecord};
use crate::http::middleware::RequestId;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/ui/api/v1/mcp/servers", post(register))
        .route("/ui/api/v1/mcp/servers/{name}", delete(remove))
        .route("/ui/api/v1/mcp/servers/{name}/health-check", post(check))
        .route(
            "/ui/api/v1/mcp/servers/{name}/session/invalidate",
            post(invalidate),
        )
        .route("/ui/api/v1/mcp/invoke/tool", post(try_tool))
}

/// The form's fields, in order (a repeated name keeps its first value).
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .take(256)
        .collect()
}

/// The trimmed value of the form field `name` (empty when absent).
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// The registration form (admins see it).
pub fn register_form() -> Markup {
    html! {
        form.stack hx-post="/ui/api/v1/mcp/servers" hx-target="#register-result" hx-swap="innerHTML" {
            label { "Name" input name="name" required maxlength="64" pattern="[A-Za-z0-9_.\\-]+"; }
            label { "URL (streamable HTTP)" input name="url" type="url" placeholder="http://127.0.0.1:9000/mcp" maxlength="2048"; }
            label { "…or command (stdio)" input name="command" maxlength="1024"; }
            label { "Arguments, one per line" textarea name="args" rows="2" maxlength="8192" {} }
            button type="submit" { "Register" }
            div #register-result aria-live="polite" {}
        }
    }
}

/// The JSON body of `POST /api/v1/mcp/servers` from the form.
pub fn registration(fields: &[(String, String)]) -> Value {
    let mut body = json!({ "name": field(fields, "name") });
    let (url, command) = (field(fields, "url"), field(fields, "command"));
    if !url.is_empty() {
        body["url"] = json!(url);
    }
    if !command.is_empty() {
        body["command"] = json!(command);
        let args: Vec<&str> = field(fields, "args")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        body["args"] = json!(args);
    }
    body
}

async fn register(State(state): State<AppState>, body: Bytes) -> Response {
    let body = registration(&form_fields(&body));
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    match crate::http::gateway::add_server(State(state), ApiJson(body)).await {
        Ok(_) => {
            let mut r = layout::fragment(
                StatusCode::CREATED,
                html! { p.note.st-ok role="status" { "Registered " strong { (name) } "; its status shows in the table." } },
            );
            // The upstream table fetches itself again (it shows the new row at once).
            r.headers_mut()
                .insert("hx-trigger", HeaderValue::from_static("upstreams-changed"));
            r
        }
        Err(e) => error_fragment(e).await,
    }
}

async fn error_fragment(e: ApiError) -> Response {
    let status = e.status();
    layout::fragment(status, layout::error_note(&layout::error_text(e).await))
}

/// An action's answer for one row: the row again, or the error in its place.
async fn row_answer(
    principal: &Principal,
    answer: Result<Json<ServerRecord>, ApiError>,
) -> Response {
    let viewer = Viewer {
        principal,
        session: None,
    };
    match answer {
        Ok(Json(record)) => layout::fragment(
            StatusCode::OK,
            super::gateway::row(&record, &viewer, OffsetDateTime::now_utc(), None),
        ),
        Err(e) => {
            let status = e.status();
            let text = layout::error_text(e).await;
            layout::fragment(
                status,
                html! { tr { td colspan="9" { (layout::error_note(&text)) } } },
            )
        }
    }
}

async fn check(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let answer = crate::http::gateway::check_one(State(state), Path(name)).await;
    row_answer(&principal, answer).await
}

async fn invalidate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let answer = crate::http::gateway::invalidate_session(State(state), Path(name)).await;
    row_answer(&principal, answer).await
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match crate::http::gateway::delete_server(State(state), Path(name)).await {
        // An empty answer: htmx swaps the row away.
        Ok(_) => layout::fragment(StatusCode::OK, html! {}),
        Err(e) => error_fragment(e).await,
    }
}

/// `POST /ui/api/v1/mcp/invoke/tool` (form: `tool_name` and the tool's fields): calls the
/// tool through the gateway and shows the result and every attempt.
async fn try_tool(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let tool = field(&fields, "tool_name").to_owned();
    let schema = super::gateway_catalog::input_schema(&state, &tool).await;
    let arguments = match super::schema_form::arguments(&schema, &fields) {
        Ok(a) => a,
        Err(e) => return error_fragment(ApiError::invalid(e.field, e.message)).await,
    };
    let call = InvokeTool {
        tool_name: tool,
        arguments: Some(arguments),
        preferred_servers: Vec::new(),
    };
    let answer = crate::http::gateway::invoke_tool(
        State(state),
        Extension(request_id.clone()),
        ApiJson(call),
    )
    .await;
    invoked_answer(answer, &request_id).await
}

/// A "try it" answer: the result and every attempt, or the error and the request's id.
pub(super) async fn invoked_answer(
    answer: Result<Json<Invoked>, ApiError>,
    request_id: &RequestId,
) -> Response {
    match answer {
        Ok(Json(invoked)) => layout::fragment(StatusCode::OK, invoked_view(&invoked)),
        Err(e) => {
            let status = e.status();
            let text = layout::error_text(e).await;
            layout::fragment(
                status,
                html! {
                    (layout::error_note(&text))
                    p.muted { "Request " code { (request_id.0) } }
                },
            )
        }
    }
}

fn invoked_view(invoked: &Invoked) -> Markup {
    let result = serde_json::to_string_pretty(&invoked.result).unwrap_or_default();
    html! {
        div #try-result-body {
            p { "Answered by " strong.server { (invoked.server) } " · request " a.request href={"/gateway/requests/" (layout::q(&invoked.request_id))} { code { (invoked.request_id) } } }
            h3 { "Result" }
            pre.result { (super::overview::truncate(&result, 20_000)) }
            h3 { "Attempts" }
            div.scroll { table.attempts {
                thead { tr { th scope="col" { "Server" } th scope="col" { "Stage" } th scope="col" { "Outcome" }
                    th scope="col" { "Time" } th scope="col" { "Error" } } }
                tbody {
                    @for a in &invoked.attempts {
                        tr {
                            td { (a.server) } td { (a.stage) }
                            td { (badge(if a.success { "ok" } else { "failed" })) }
                            td { (a.elapsed_ms) " ms" }
                            td.err { (a.error.as_deref().unwrap_or_default())
                                @if let Some(c) = &a.error_category { " " (label(c)) } }
                        }
                    }
                }
            } }
        }
    }
}
