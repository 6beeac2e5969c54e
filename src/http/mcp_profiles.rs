//! `/mcp/{profile}`: each profile ([`crate::auth::profile`]) is an MCP endpoint of its own —
//! the same federated server as `/mcp`, built with the profile as its view — behind one
//! route that picks it by name and lets in only the principals the profile admits.
//!
//! Sessions are kept by the one session manager of `/mcp` (so `[http] mcp_max_sessions`
//! counts them all); a session is bound to the view it was opened on.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tower::ServiceExt;

use super::error::ApiError;
use super::mcp_endpoint::FederatedServer;
use super::middleware::RequestId;
use crate::auth::Principal;
use crate::auth::audit::{Entry, Outcome, Surface};
use crate::auth::profile::Profile;

/// One profile's endpoint.
struct Endpoint {
    profile: Arc<Profile>,
    service: StreamableHttpService<FederatedServer, LocalSessionManager>,
}

/// The profiles' endpoints, by name.
#[derive(Clone)]
pub struct Profiles {
    by_name: Arc<HashMap<String, Endpoint>>,
    events: att_runtime::events::EventsHandle,
}

impl Profiles {
    /// The endpoints of `profiles`, each made by `service` for its view.
    pub fn new(
        profiles: &[Profile],
        events: att_runtime::events::EventsHandle,
        service: impl Fn(Arc<Profile>) -> StreamableHttpService<FederatedServer, LocalSessionManager>,
    ) -> Self {
        let by_name = profiles
            .iter()
            .map(|p| {
                let profile = Arc::new(p.clone());
                let endpoint = Endpoint {
                    service: service(profile.clone()),
                    profile,
                };
                (p.name.clone(), endpoint)
            })
            .collect();
        Self {
            by_name: Arc::new(by_name),
            events,
        }
    }
}

/// Hands the request to the profile's endpoint: 404 for an unknown profile, 403 (and an
/// audit entry) for a principal it does not admit.
pub async fn serve(
    State(profiles): State<Profiles>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Some(endpoint) = profiles.by_name.get(&name) else {
        return ApiError::NotFound(format!("no profile `{name}`")).into_response();
    };
    let principal = req.extensions().get::<Principal>();
    if !principal.is_some_and(|p| endpoint.profile.admits(p)) {
        let who = principal.map_or("-", |p| p.name.as_str());
        let why = format!("the profile `{name}` does not admit `{who}`");
        let target = req.uri().path().to_owned();
        Entry {
            principal,
            surface: Surface::Mcp,
            action: req.method().as_str(),
            target: &target,
            outcome: Outcome::Refused(why.clone()),
            status: Some(StatusCode::FORBIDDEN.as_u16()),
            request_id: req.extensions().get::<RequestId>().map(|r| &*r.0),
        }
        .record(&profiles.events);
        return ApiError::Status(StatusCode::FORBIDDEN, why).into_response();
    }
    match endpoint.service.clone().oneshot(req).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}
