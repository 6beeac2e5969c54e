//! The gateway's views of the event log: connection events (status changes of upstreams)
//! and invocation events (each step of each routed call), filtered, oldest first.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connection_events))
        .routes(routes!(invocation_events))
}

/// Filters of the connection-event view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEventParams {
    /// Only this server.
    pub server: Option<String>,
    /// Only events caused by this request.
    pub correlation_id: Option<String>,
    /// Keep the newest N (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// Filters of the invocation-event view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvocationEventParams {
    /// Only this server.
    pub server: Option<String>,
    /// Only this method (`tools/call`, `resources/read`, `prompts/get`).
    pub method: Option<String>,
    /// Only this request.
    pub request_id: Option<String>,
    /// Keep the newest N (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// Events, oldest first: the stored event's payload plus its `timestamp`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayEvents {
    /// The events.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

async fn gateway_events(
    state: &AppState,
    kind: &str,
    correlation_id: Option<String>,
    data: Vec<(String, String)>,
    limit: Option<i64>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let limit = crate::http::actors::limit_param(limit, 100, 1000)?;
    let query = att_runtime::events::EventQuery {
        kind: Some(kind.into()),
        correlation_id,
        data,
        limit: u32::try_from(limit).unwrap_or(1000),
        ..Default::default()
    };
    let events = state.events.query(query).await?;
    let events = events
        .into_iter()
        .map(|e| {
            let mut v = e.data;
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "timestamp".into(),
                    json!(
                        e.at.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    ),
                );
                o.insert("correlation_id".into(), json!(e.correlation_id));
            }
            v
        })
        .collect();
    Ok(Json(GatewayEvents { events }))
}

/// Connection events (status changes): `{server, from_status, to_status, reason, correlation_id, timestamp}`.
#[utoipa::path(get, path = "/api/v1/mcp/events", tag = "mcp", params(ConnectionEventParams),
    responses((status = 200, description = "connection events, oldest first", body = GatewayEvents),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
async fn connection_events(
    State(state): State<AppState>,
    crate::http::extract::ApiQuery(p): crate::http::extract::ApiQuery<ConnectionEventParams>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let data = p
        .server
        .map(|s| vec![("server".to_owned(), s)])
        .unwrap_or_default();
    gateway_events(&state, "upstream.status", p.correlation_id, data, p.limit).await
}

/// Invocation events: `{server, method, request_id, phase, error, error_category, timestamp}`.
#[utoipa::path(get, path = "/api/v1/mcp/invocation-events", tag = "mcp", params(InvocationEventParams),
    responses((status = 200, description = "invocation events, oldest first", body = GatewayEvents),
              (status = 422, description = "bad parameter", body = ErrorBody)))]
pub(in crate::http) async fn invocation_events(
    State(state): State<AppState>,
    crate::http::extract::ApiQuery(p): crate::http::extract::ApiQuery<InvocationEventParams>,
) -> Result<Json<GatewayEvents>, ApiError> {
    let mut data = Vec::new();
    if let Some(s) = p.server {
        data.push(("server".to_owned(), s));
    }
    if let Some(m) = p.method {
        data.push(("method".to_owned(), m));
    }
    gateway_events(&state, "invocation", p.request_id, data, p.limit).await
}
