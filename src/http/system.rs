//! Liveness, readiness and metrics.

use att_gateway::tree;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when att answers.
    pub status: &'static str,
    /// att's version.
    pub version: &'static str,
    /// Seconds since this process began serving.
    pub uptime_seconds: u64,
    /// This process.
    pub pid: u32,
    /// The release of att it runs, when `att launch` started it with one.
    pub release: Option<String>,
}

/// Liveness: att answers HTTP. Never requires a token.
#[utoipa::path(get, path = "/api/v1/health", tag = "system",
    responses((status = 200, description = "att is alive", body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        pid: std::process::id(),
        release: state.release.as_deref().map(str::to_owned),
    })
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// True when every check passes.
    pub ready: bool,
    /// `ok` or what is wrong, per check (`actors`, `store`).
    pub checks: serde_json::Map<String, serde_json::Value>,
    /// The other att nodes sharing the database whose heartbeat is recent (`id@address`;
    /// `GET /api/v1/cluster` has the details). Empty on SQLite.
    pub peers: Vec<String>,
}

/// Readiness: the actor tree is up and the store answers.
#[utoipa::path(get, path = "/api/v1/ready", tag = "system",
    responses((status = 200, description = "ready", body = Ready),
              (status = 503, description = "not ready; `detail` says which check failed", body = ErrorBody)))]
pub(super) async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let mut checks = serde_json::Map::new();
    let actors_up = tree::is_up(&state.directory);
    checks.insert(
        "actors".into(),
        json!(if actors_up {
            "ok".to_owned()
        } else {
            down_actors(&state)
        }),
    );
    let store = state.store_health.ping().await;
    checks.insert(
        "store".into(),
        json!(match &store {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }),
    );
    if actors_up && store.is_ok() {
        Ok(Json(Ready {
            ready: true,
            checks,
            peers: live_peers(&state).await,
        }))
    } else {
        Err(ApiError::Unavailable {
            detail: json!({ "ready": false, "checks": checks }),
            retry_after: Some(1),
        })
    }
}

/// The other nodes heard from recently; none when the listing fails (readiness is the
/// store check's to decide).
async fn live_peers(state: &AppState) -> Vec<String> {
    let cluster = &state.cluster;
    let nodes = cluster
        .store
        .list_nodes(crate::cluster::MAX_NODES)
        .await
        .unwrap_or_default();
    crate::cluster::view(&nodes, &cluster.node.id, time::OffsetDateTime::now_utc())
        .into_iter()
        .filter(|n| n.live && !n.this)
        .map(|n| format!("{}@{}", n.id, n.address))
        .collect()
}

fn down_actors(state: &AppState) -> String {
    let down: Vec<String> = tree::FIXED
        .iter()
        .filter_map(|n| match state.directory.get(n) {
            Some(i) if i.status == att_runtime::directory::ActorState::Running => None,
            Some(i) => Some(format!("{n} is {:?}", i.status).to_lowercase()),
            None => Some(format!("{n} is missing")),
        })
        .collect();
    down.join(", ")
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "metrics in OpenMetrics text format", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.scrape().await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("cannot render metrics: {e}")).into_response(),
    }
}
