//! `GET /.well-known/oauth-protected-resource[/mcp]`: att's protected-resource metadata
//! (RFC 9728) when `[auth.oidc]` is configured — the resource (`/mcp`), the authorization
//! server that issues its tokens, how to present them. Reachable without a credential (a
//! client reads it to learn where to get one); both the bare path and the form suffixed
//! with the resource's path are served, as MCP clients try either. Without `[auth.oidc]`:
//! 404. The document itself is made by [`crate::auth::oidc::resource`].

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::auth::oidc::resource::WELL_KNOWN;

/// The metadata routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(WELL_KNOWN, get(metadata))
        .route(&format!("{WELL_KNOWN}/mcp"), get(metadata))
}

async fn metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let oidc = state.auth.oidc().ok_or_else(|| {
        ApiError::NotFound(
            "att is not an OAuth protected resource here: `[auth.oidc]` is not configured".into(),
        )
    })?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    oidc.resource.document(host).map(Json).ok_or_else(|| {
        ApiError::Status(
            StatusCode::BAD_REQUEST,
            "the request has no Host to name the resource by: set `[auth.oidc] resource`".into(),
        )
    })
}
