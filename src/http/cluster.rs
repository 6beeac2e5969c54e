//! `GET /api/v1/cluster`: the att nodes sharing this database, with their last heartbeat
//! ([`crate::cluster`]).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::cluster::{MAX_NODES, NodeView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cluster))
}

/// The cluster as this node sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// The id of the node that answers.
    pub node: String,
    /// Every node heard from (the most recent first, at most 1000).
    pub nodes: Vec<NodeView>,
}

/// The nodes sharing this database, with their last heartbeat and whether it is recent.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "system",
    responses((status = 200, description = "the nodes", body = ClusterView),
              (status = 503, description = "the database did not answer", body = ErrorBody)))]
async fn cluster(State(state): State<AppState>) -> Result<Json<ClusterView>, ApiError> {
    let nodes = state
        .cluster
        .store
        .list_nodes(MAX_NODES)
        .await
        .map_err(|e| ApiError::Unavailable {
            detail: serde_json::json!(format!("the database did not answer: {}", e.0)),
            retry_after: Some(1),
        })?;
    let this = &state.cluster.node.id;
    Ok(Json(ClusterView {
        node: this.clone(),
        nodes: crate::cluster::view(&nodes, this, time::OffsetDateTime::now_utc()),
    }))
}
