//! "Try it" for the catalog's resources and prompts, as the tools have it
//! ([`super::gateway_catalog::try_page`]): a page per entry with a form, posted to the
//! mirrored invoke route and answered with the result and the attempt trace
//! ([`super::gateway_actions::invoked_view`]).
//!
//! - `/gateway/resources/{uri}`: the resource (or template) and a URI box, filled with its
//!   URI (a template's `{placeholders}` are for the person to fill in); it posts to
//!   `/ui/api/v1/mcp/invoke/resource`, answered by `invoke_resource`.
//! - `/gateway/prompts/{name}`: the prompt and a form of its declared arguments — made by the
//!   tools' schema form from [`prompt_schema`] (each argument a string, `required` as
//!   declared); it posts to `/ui/api/v1/mcp/invoke/prompt`, answered by `invoke_prompt`.
//!
//! Reading and getting need the operator role, as their API routes do; a viewer sees the
//! entry without the form.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::DashSession;
use super::gateway_actions::{field, form_fields, invoked_answer};
use super::layout::{self, Viewer};
use crate::auth::{Principal, Role};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::gateway::{CatalogEntry, InvokePrompt, InvokeResource};
use crate::http::middleware::RequestId;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/gateway/resources/{uri}", get(resource_page))
        .route("/gateway/prompts/{name}", get(prompt_page))
        .route("/ui/api/v1/mcp/invoke/resource", post(try_resource))
        .route("/ui/api/v1/mcp/invoke/prompt", post(try_prompt))
}

/// A JSON Schema for a prompt's declared `arguments` (`[{name, description, required}]`):
/// each a string property, required when it says so. At most 64 arguments are kept (the
/// form shows no more).
pub fn prompt_schema(prompt: &Value) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for a in prompt["arguments"]
        .as_array()
        .into_iter()
        .flatten()
        .take(64)
    {
        let Some(name) = a["name"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let mut p = json!({ "type": "string" });
        if let Some(d) = a["description"].as_str() {
            p["description"] = json!(d);
        }
        properties.insert(name.to_owned(), p);
        if a["required"] == Value::Bool(true) {
            required.push(json!(name));
        }
    }
    json!({ "type": "object", "properties": properties, "required": required })
}

async fn find(state: &AppState, kind: &str, name: &str) -> Option<CatalogEntry> {
    super::gateway_catalog::list(state, kind)
        .await
        .items
        .into_iter()
        .find(|i| i.name == name)
}

fn missing(what: &str) -> Markup {
    html! { (layout::error_note(&format!("No upstream offers {what}."))) p { a href="/gateway" { "Back to the gateway" } } }
}

/// The entry's servers and description, then the "try it" panel (`form` for operators).
fn try_panel(entry: &CatalogEntry, viewer: &Viewer<'_>, form: Markup) -> Markup {
    html! {
        p { "Offered by " (entry.servers.join(", ")) ". " a href="/gateway" { "Back to the gateway" } }
        @if let Some(d) = entry.entry["description"].as_str() { p { (d) } }
        section.panel aria-labelledby="try-h" {
            h2 #try-h { "Try it" }
            @if viewer.may(Role::Operator) {
                (form)
                div #try-result aria-live="polite" {}
            } @else {
                p.muted { "Reading a resource or getting a prompt needs the operator role." }
            }
        }
        section.panel aria-labelledby="entry-h" {
            h2 #entry-h { "Catalog entry" }
            pre { (serde_json::to_string_pretty(&entry.entry).unwrap_or_default()) }
        }
    }
}

/// `GET /gateway/resources/{uri}`.
pub async fn resource_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(uri): Path<String>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let body = match find(&state, "resources", &uri).await {
        None => missing(&format!("a resource `{uri}`")),
        Some(entry) => {
            let template = entry.entry.get("uriTemplate").is_some();
            let form = html! {
                form.stack #try-form hx-post="/ui/api/v1/mcp/invoke/resource" hx-target="#try-result" hx-swap="innerHTML" {
                    label for="try-uri" { "URI" @if template { span.muted { " — fill in the template's {placeholders}" } } }
                    input #try-uri name="uri" value=(entry.name) required maxlength="8192";
                    button type="submit" { "Read" }
                }
            };
            try_panel(&entry, &viewer, form)
        }
    };
    layout::page(&format!("Resource {uri}"), "/gateway", &viewer, body)
}

/// `GET /gateway/prompts/{name}`.
pub async fn prompt_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(name): Path<String>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let body = match find(&state, "prompts", &name).await {
        None => missing(&format!("a prompt called `{name}`")),
        Some(entry) => {
            let fields = super::schema_form::fields(&prompt_schema(&entry.entry));
            let form = html! {
                form.stack #try-form hx-post="/ui/api/v1/mcp/invoke/prompt" hx-target="#try-result" hx-swap="innerHTML" {
                    input type="hidden" name="name" value=(entry.name);
                    (super::schema_form::render(&fields))
                    @if fields.is_empty() { p.muted { "This prompt declares no arguments." } }
                    button type="submit" { "Get " (entry.name) }
                }
            };
            try_panel(&entry, &viewer, form)
        }
    };
    layout::page(&format!("Prompt {name}"), "/gateway", &viewer, body)
}

/// `POST /ui/api/v1/mcp/invoke/resource` (form: `uri`): reads it through the gateway.
async fn try_resource(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let read = InvokeResource {
        uri: field(&fields, "uri").to_owned(),
        preferred_servers: Vec::new(),
    };
    let answer = crate::http::gateway::invoke_resource(
        State(state),
        Extension(request_id.clone()),
        ApiJson(read),
    )
    .await;
    invoked_answer(answer, &request_id).await
}

/// `POST /ui/api/v1/mcp/invoke/prompt` (form: `name` and the prompt's `arg.*` fields).
async fn try_prompt(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let name = field(&fields, "name").to_owned();
    let declared = find(&state, "prompts", &name)
        .await
        .map(|e| prompt_schema(&e.entry))
        .unwrap_or(Value::Null);
    let arguments = match super::schema_form::arguments(&declared, &fields) {
        Ok(a) => a,
        Err(e) => {
            let e = ApiError::invalid(e.field, e.message);
            let status = e.status();
            return layout::fragment(status, layout::error_note(&layout::error_text(e).await));
        }
    };
    let get = InvokePrompt {
        name,
        arguments: Some(arguments),
        preferred_servers: Vec::new(),
    };
    let answer = crate::http::gateway::invoke_prompt(
        State(state),
        Extension(request_id.clone()),
        ApiJson(get),
    )
    .await;
    invoked_answer(answer, &request_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompts_arguments_become_string_fields_required_as_declared() {
        let cases = [
            (json!({"name": "p"}), json!({}), json!([])),
            (
                json!({"arguments": [
                    {"name": "who", "description": "whom to greet", "required": true},
                    {"name": "tone"},
                    {"name": ""},
                    {"description": "no name"}
                ]}),
                json!({"who": {"type": "string", "description": "whom to greet"},
                       "tone": {"type": "string"}}),
                json!(["who"]),
            ),
            (json!({"arguments": "not a list"}), json!({}), json!([])),
        ];
        for (prompt, properties, required) in cases {
            let schema = prompt_schema(&prompt);
            assert_eq!(schema["properties"], properties, "{prompt}");
            assert_eq!(schema["required"], required, "{prompt}");
        }
        let many: Vec<Value> = (0..100).map(|i| json!({"name": format!("a{i}")})).collect();
        let schema = prompt_schema(&json!({ "arguments": many }));
        assert_eq!(schema["properties"].as_object().map(Map::len), Some(64));
    }
}
