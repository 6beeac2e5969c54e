//! The HTTP façade (axum): thin handlers over actor handles, one error shape, an OpenAPI
//! document generated from the handlers, limits, timeouts and bearer auth.

pub mod actors;
pub mod audit;
pub mod bootstrap;
pub mod cluster;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod extract;
pub mod gateway;
pub mod keys;
pub mod lanes;
pub mod listener;
pub mod mcp_answers;
pub mod mcp_changes;
pub mod mcp_endpoint;
pub mod mcp_front;
pub mod mcp_profiles;
pub mod mcp_shared;
pub mod middleware;
pub mod origin;
pub mod projects;
pub mod protected_resource;
pub mod services;
pub mod system;
pub mod tls;

use std::sync::Arc;
use std::time::Instant;

use att_release::model::ReleaseStore;
use att_runtime::directory::ActorDirectory;
use att_runtime::events::EventsHandle;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::store::StoreHealth;
use error::ApiError;

/// What every handler can reach: one shared [`AppStateParts`]. axum's `State` extractor
/// and each middleware layer clone the state per request, so it is one reference count —
/// not a count per field and a lock for the shutdown token (1–2% of att's CPU per routed
/// call in a profile, todo/perf.md).
#[derive(Clone)]
pub struct AppState(Arc<AppStateParts>);

impl AppState {
    /// The state of a router made of `parts`.
    pub fn new(parts: AppStateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;

    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppStateParts {
    /// The workspace tools (served on `/mcp` and under `/api/v1/projects`).
    pub tools: Arc<crate::tools::Tools>,
    /// The upstream registry and invoker.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// The managed services.
    pub services: Arc<crate::services::Services>,
    /// The actor directory of this instance.
    pub directory: ActorDirectory,
    /// The event log.
    pub events: EventsHandle,
    /// Releases and runs of the release pipeline.
    pub releases: Arc<dyn ReleaseStore>,
    /// Whether the store answers (readiness).
    pub store_health: Arc<dyn StoreHealth>,
    /// Where the cluster's `/mcp` sessions are kept; `None` on a lone att (SQLite).
    pub mcp_sessions: Option<Arc<dyn mcp_shared::McpSessionStore>>,
    /// This node and the cluster's heartbeats ([`crate::cluster`]).
    pub cluster: Arc<crate::cluster::Cluster>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Who may call ([`crate::auth`]).
    pub auth: Arc<crate::auth::Auth>,
    /// The dashboard's browser sessions ([`dashboard::session`]).
    pub sessions: Arc<dashboard::session::Sessions>,
    /// Failed dashboard logins, limited ([`dashboard::login_limit`]).
    pub login_limit: Arc<dashboard::login_limit::LoginLimit>,
    /// Per-principal call limits ([`crate::limits`]).
    pub limits: Arc<crate::limits::Limits>,
    /// Fires when att begins to shut down; long-lived streams end on it.
    pub shutdown: CancellationToken,
    /// When this process started serving.
    pub started: Instant,
    /// The release of att this process runs (`att launch`).
    pub release: Option<Arc<str>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "att",
        description = "att: a control plane for agent tooling built on MCP"
    ),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// The complete router of att's HTTP API.
pub fn router(
    state: AppState,
    http: &HttpConfig,
    tool_prefix: att_gateway::federation::PrefixMode,
    profiles: &[crate::auth::profile::Profile],
) -> Router {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::routes())
        .merge(actors::routes())
        .merge(events::routes())
        .merge(gateway::routes())
        .merge(services::routes())
        .merge(bootstrap::routes())
        .merge(projects::routes())
        .merge(keys::routes())
        .merge(audit::routes())
        .merge(cluster::routes())
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let doc = Arc::new(doc);
    // One state for the middleware layers (cloned per request: a count, not a dozen).
    let layers_state = Arc::new(state.clone());
    // Checked when the configuration was loaded; a bad entry here means none is accepted.
    let browser = origin::BrowserPolicy::new(&http.allowed_hosts, &http.allowed_origins)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "browser policy: ignoring the configured exceptions");
            origin::BrowserPolicy::default()
        });
    let sessions = mcp_front::session_manager(http.mcp_session_idle);
    state.metrics.sessions.watch(sessions.clone());
    let shared = state.mcp_sessions.clone().map(|store| {
        let shared =
            mcp_shared::SharedSessions::new(store, sessions.clone(), http.mcp_session_idle);
        shared.start(state.shutdown.clone());
        shared
    });
    let direct = mcp_endpoint::DirectSessions::new(
        sessions.clone(),
        http.mcp_session_idle,
        http.request_timeout,
    );
    let endpoint = |view| {
        crate::http::mcp_endpoint::service(
            state.gateway.clone(),
            state.tools.clone(),
            sessions.clone(),
            shared.clone(),
            tool_prefix,
            state.limits.clone(),
            state.shutdown.clone(),
            view,
            direct.clone(),
        )
    };
    let mcp = endpoint(None);
    let profiles =
        mcp_profiles::Profiles::new(profiles, state.events.clone(), |p| endpoint(Some(p)));
    let front = mcp_front::McpFront::new(
        sessions,
        shared,
        mcp_front::SessionLimits {
            max: http.mcp_max_sessions,
            per_client: http.mcp_max_sessions_per_client,
            per_principal: http.mcp_max_sessions_per_principal,
        },
        state.metrics.sessions.clone(),
        direct,
    );
    let mcp = Router::new()
        .route_service("/mcp", mcp)
        .route(
            "/mcp/{profile}",
            axum::routing::any(mcp_profiles::serve).with_state(profiles),
        )
        .layer(axum::middleware::from_fn_with_state(
            front,
            mcp_front::front,
        ));

    let routes = api
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(mcp)
        .merge(protected_resource::routes())
        .merge(dashboard::routes())
        // The one layer inside routing (around each route and its 405 answer): it tells the
        // layers outside which route answered.
        .layer(axum::middleware::from_fn(middleware::note_route))
        .fallback(not_found)
        .with_state(state);
    // The layers wrap the router once, outside routing. `Router::layer` would wrap every
    // route in each of them, boxed at each level, and axum clones a route's whole stack per
    // request (and again in each layer's call): ~n² allocations a request for n layers, a
    // few percent of att's CPU on a routed call (todo/perf.md). Here a request clones plain
    // structs and the router's `Arc`.
    // The first layer is the outermost: the error-shape rewrite sees what the limit and
    // timeout layers answer.
    let layered = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(middleware::request_context))
        // Outside every check that may answer early (the policy, the token): the body is
        // read (bounded) before any answer, so no answer leaves an unread body on the
        // connection.
        .layer(axum::middleware::from_fn_with_state(
            http.body_limit,
            middleware::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(browser),
            middleware::browser_policy,
        ))
        .layer(axum::middleware::from_fn_with_state(
            layers_state.clone(),
            middleware::record_metrics,
        ))
        .layer(axum::middleware::from_fn_with_state(
            layers_state.clone(),
            middleware::authorize,
        ))
        // Inside authorization: limits are per principal.
        .layer(axum::middleware::from_fn_with_state(
            layers_state,
            middleware::limit,
        ))
        .layer(axum::middleware::from_fn(middleware::uniform_errors))
        .layer(DefaultBodyLimit::max(http.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            http.request_timeout,
        ))
        .service(routes);
    Router::new().fallback_service(layered)
}

async fn not_found(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}
