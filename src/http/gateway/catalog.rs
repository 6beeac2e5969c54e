//! The federated catalog: every tool, resource and prompt of every upstream, each with the
//! servers that offer it, read from the router's published snapshot.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tools))
        .routes(routes!(list_resources))
        .routes(routes!(list_prompts))
}

/// One catalog entry and the servers that offer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogEntry {
    /// Name (tools, prompts) or URI / URI template (resources).
    pub name: String,
    /// Servers offering it, by name.
    pub servers: Vec<String>,
    /// The entry as the first of those servers describes it.
    #[schema(value_type = Object)]
    pub entry: Value,
}

/// A federated catalog list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogList {
    /// Entries by name.
    pub items: Vec<CatalogEntry>,
}

#[derive(Clone, Copy)]
enum Kind {
    Tools,
    Resources,
    Prompts,
}

/// The registry's catalog: every entry of every upstream's last fetched catalog (an
/// unreachable one's too: this is the registry's view; `/mcp` lists only usable servers),
/// read from the published snapshot, by name.
async fn federated(state: &AppState, kind: Kind) -> Json<CatalogList> {
    let mut by_name: std::collections::BTreeMap<String, CatalogEntry> =
        std::collections::BTreeMap::new();
    let snapshot = state.gateway.router().snapshot();
    let mut views: Vec<&att_gateway::router::ServerView> =
        snapshot.servers.iter().map(AsRef::as_ref).collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    for view in views {
        let Some(catalog) = &view.entries else {
            continue;
        };
        let entries: Vec<(String, Value)> = match kind {
            Kind::Tools => catalog
                .tools
                .iter()
                .map(|t| (t.name.to_string(), json!(t)))
                .collect(),
            Kind::Prompts => catalog
                .prompts
                .iter()
                .map(|p| (p.name.clone(), json!(p)))
                .collect(),
            Kind::Resources => catalog
                .resources
                .iter()
                .map(|r| (r.uri.clone(), json!(r)))
                .chain(
                    catalog
                        .resource_templates
                        .iter()
                        .map(|t| (t.uri_template.clone(), json!(t))),
                )
                .collect(),
        };
        for (name, entry) in entries {
            by_name
                .entry(name.clone())
                .or_insert_with(|| CatalogEntry {
                    name,
                    servers: Vec::new(),
                    entry,
                })
                .servers
                .push(view.name.clone());
        }
    }
    Json(CatalogList {
        items: by_name.into_values().collect(),
    })
}

/// Every tool of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/tools", tag = "mcp",
    responses((status = 200, description = "the federated tools", body = CatalogList)))]
pub(in crate::http) async fn list_tools(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Tools).await
}

/// Every resource and resource template of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/resources", tag = "mcp",
    responses((status = 200, description = "the federated resources", body = CatalogList)))]
pub(in crate::http) async fn list_resources(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Resources).await
}

/// Every prompt of every upstream, with the servers offering it.
#[utoipa::path(get, path = "/api/v1/mcp/prompts", tag = "mcp",
    responses((status = 200, description = "the federated prompts", body = CatalogList)))]
pub(in crate::http) async fn list_prompts(State(state): State<AppState>) -> Json<CatalogList> {
    federated(&state, Kind::Prompts).await
}
