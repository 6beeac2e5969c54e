//! The federated catalog on the gateway page (tools, resources, prompts with the servers
//! offering each; searched and paged on the server) and a tool's "try it" page, whose form
//! is made from the tool's input schema ([`super::schema_form`]); resources and prompts have
//! theirs in [`super::gateway_try`].
//!
//! The entries are the `GET /api/v1/mcp/{tools,resources,prompts}` handlers' lists.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::DashSession;
use super::layout::{self, Viewer};
use crate::auth::{Principal, Role};
use crate::http::AppState;
use crate::http::extract::ApiQuery;
use crate::http::gateway::CatalogList;

/// Filters of the catalog.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFilter {
    /// `tools` (default), `resources` or `prompts`.
    pub kind: Option<String>,
    /// Only names (or descriptions) containing this.
    pub q: Option<String>,
    /// 1-based page.
    pub page: Option<usize>,
}

/// The search form; its results replace `#catalog`.
pub fn search_form() -> Markup {
    html! {
        form.row hx-get="/ui/fragments/catalog" hx-target="#catalog" hx-swap="outerHTML" role="search" {
            label { "Search " input type="search" name="q" maxlength="128"; }
            label { "Kind "
                select name="kind" { option value="tools" { "tools" } option value="resources" { "resources" } option value="prompts" { "prompts" } }
            }
            button.secondary type="submit" { "Search" }
        }
    }
}

/// The federated list of `kind` (`tools`, `resources`, `prompts`), as the API answers it.
pub(super) async fn list(state: &AppState, kind: &str) -> CatalogList {
    let s = State(state.clone());
    match kind {
        "resources" => crate::http::gateway::list_resources(s).await.0,
        "prompts" => crate::http::gateway::list_prompts(s).await.0,
        _ => crate::http::gateway::list_tools(s).await.0,
    }
}

/// The catalog region for `filter`.
pub async fn catalog(state: &AppState, filter: &CatalogFilter) -> Markup {
    let kind = match filter.kind.as_deref() {
        Some("resources") => "resources",
        Some("prompts") => "prompts",
        _ => "tools",
    };
    let needle = filter
        .q
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let all = list(state, kind).await;
    let items: Vec<_> = all
        .items
        .iter()
        .filter(|i| {
            needle.is_empty()
                || i.name.to_lowercase().contains(&needle)
                || i.entry["description"]
                    .as_str()
                    .is_some_and(|d| d.to_lowercase().contains(&needle))
        })
        .collect();
    let (page, range) = layout::slice(items.len(), filter.page.unwrap_or(1));
    let link = |p: usize| {
        format!(
            "/ui/fragments/catalog?kind={kind}&q={}&page={p}",
            layout::q(&needle)
        )
    };
    html! {
        div #catalog {
            div.scroll { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Servers" } th scope="col" { "Description" } } }
                tbody {
                    @for i in &items[range] {
                        tr {
                            th scope="row" {
                                a href={"/gateway/" (kind) "/" (layout::q(&i.name))} { (i.name) }
                            }
                            td { (i.servers.join(", ")) }
                            td.err { (super::overview::truncate(i.entry["description"].as_str().unwrap_or_default(), 200)) }
                        }
                    }
                    @if items.is_empty() { tr { td colspan="3" .muted { "Nothing matches." } } }
                }
            } }
            // Pages of a search are fetched in place.
            nav.pager aria-label="Catalog pages" {
                @if page > 1 { a href="#catalog" hx-get=(link(page - 1)) hx-target="#catalog" hx-swap="outerHTML" { "← Previous" } }
                span { (kind) " · page " (page) " of " (items.len().div_ceil(layout::PAGE_SIZE).max(1)) " · " (items.len()) " entries" }
                @if range_end(page, items.len()) { a href="#catalog" hx-get=(link(page + 1)) hx-target="#catalog" hx-swap="outerHTML" { "Next →" } }
            }
        }
    }
}

fn range_end(page: usize, total: usize) -> bool {
    page * layout::PAGE_SIZE < total
}

/// `GET /ui/fragments/catalog`.
pub async fn fragment(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<CatalogFilter>,
) -> Response {
    layout::fragment(StatusCode::OK, catalog(&state, &filter).await)
}

/// The input schema of `tool` as the catalog has it (`{}` when unknown).
pub async fn input_schema(state: &AppState, tool: &str) -> Value {
    list(state, "tools")
        .await
        .items
        .into_iter()
        .find(|i| i.name == tool)
        .map(|i| i.entry["inputSchema"].clone())
        .unwrap_or(Value::Null)
}

/// `GET /gateway/tools/{name}`: the tool, its servers and a form that calls it.
pub async fn try_page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    session: Option<Extension<DashSession>>,
    Path(name): Path<String>,
) -> Response {
    let viewer = Viewer {
        principal: &principal,
        session: session.as_deref(),
    };
    let entry = list(&state, "tools")
        .await
        .items
        .into_iter()
        .find(|i| i.name == name);
    let body = match entry {
        None => {
            html! { (layout::error_note(&format!("No upstream offers a tool called `{name}`."))) p { a href="/gateway" { "Back to the gateway" } } }
        }
        Some(entry) => {
            let fields = super::schema_form::fields(&entry.entry["inputSchema"]);
            html! {
                p { "Offered by " (entry.servers.join(", ")) ". " a href="/gateway" { "Back to the gateway" } }
                @if let Some(d) = entry.entry["description"].as_str() { p { (d) } }
                section.panel aria-labelledby="try-h" {
                    h2 #try-h { "Try it" }
                    @if viewer.may(Role::Operator) {
                        form.stack #try-form hx-post="/ui/api/v1/mcp/invoke/tool" hx-target="#try-result" hx-swap="innerHTML" {
                            input type="hidden" name="tool_name" value=(entry.name);
                            (super::schema_form::render(&fields))
                            button type="submit" { "Call " (entry.name) }
                        }
                        div #try-result aria-live="polite" {}
                    } @else {
                        p.muted { "Calling a tool needs the operator role." }
                    }
                }
                section.panel aria-labelledby="schema-h" {
                    h2 #schema-h { "Input schema" }
                    pre { (serde_json::to_string_pretty(&entry.entry["inputSchema"]).unwrap_or_default()) }
                }
            }
        }
    };
    layout::page(&format!("Tool {name}"), "/gateway", &viewer, body)
}
