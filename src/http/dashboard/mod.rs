//! The web dashboard: att's state as pages, served at `/` on the API's listener.
//!
//! Server-rendered HTML ([`maud`]) with a small vendored script (htmx, `assets/`) and no
//! front-end build. Pages read what the API handlers read — often by calling those handlers
//! — and every action posts to `/ui` + the API path it mirrors (`POST
//! /ui/api/v1/mcp/servers/x/health-check`), answered by that API handler and rendered as an
//! HTML fragment; so a page's action needs exactly the role its API route needs
//! ([`crate::auth::route_role`]). Live updates: `dashboard.js` follows `/ui/events` (the
//! event stream of `/api/v1/events/stream`) and asks htmx to re-fetch the regions that listen
//! for the event's kind. A live region sets `hx-disinherit="*"`: the buttons inside it must
//! not inherit its `hx-select`/`hx-swap` (htmx inherits attributes by default).
//!
//! Security: the Host/Origin policy applies as on every route; a browser logs in once with
//! its token and then carries a session cookie, honoured only on these paths ([`session`]);
//! state-changing requests need the session's CSRF token; every page forbids framing and
//! inline script (CSP). Pages are paged and bounded (50 rows, searches on the server).

pub mod actors;
pub mod assets;
pub mod build_output;
pub mod gateway;
pub mod gateway_actions;
pub mod gateway_catalog;
pub mod gateway_try;
pub mod layout;
pub mod login;
pub mod login_limit;
pub mod overview;
pub mod project_actions;
pub mod projects;
pub mod releases;
pub mod request;
pub mod schema_form;
pub mod services;
pub mod session;
pub mod sparkline;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;

/// The first path segments the dashboard owns (besides `/` itself).
const SECTIONS: [&str; 10] = [
    "gateway",
    "projects",
    "actors",
    "releases",
    "services",
    "login",
    "logout",
    "assets",
    "ui",
    "dashboard",
];

/// Whether `path` is one of the dashboard's (pages, fragments, actions, assets, login).
pub fn is_dashboard_path(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    SECTIONS.contains(&first)
}

/// The dashboard's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/gateway", get(gateway::page))
        .route("/gateway/tools/{name}", get(gateway_catalog::try_page))
        .route("/gateway/requests/{id}", get(request::page))
        .route("/actors", get(actors::page))
        .route("/actors/{name}", get(actors::trace_page))
        .route("/releases", get(releases::page))
        .route("/releases/runs/{id}", get(releases::run_page))
        .route("/services", get(services::page))
        .route("/projects", get(projects::page))
        .route("/projects/{name}", get(projects::project_page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets/{file}", get(assets::serve))
        .route("/ui/events", get(super::events::stream))
        .route("/ui/fragments/upstreams", get(gateway::upstreams_fragment))
        .route("/ui/fragments/catalog", get(gateway_catalog::fragment))
        .route("/ui/fragments/history", get(gateway::history_fragment))
        .merge(gateway_actions::routes())
        .merge(gateway_try::routes())
        .merge(releases::routes())
        .merge(services::routes())
        .merge(project_actions::routes())
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers of every dashboard answer: no framing, no inline or foreign script, no sniffing,
/// no referrer to other sites; pages are never cached (assets set their own caching).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it a browser sends `Origin: null` on a form post, which the
    // browser policy refuses (rightly: `null` is also what sandboxed foreign pages send).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The session a dashboard request came with (none when it presented a bearer credential):
/// pages embed its CSRF token, `/logout` ends it.
#[derive(Clone, Debug)]
pub struct DashSession {
    /// The session id (the cookie's value).
    pub id: String,
    /// Its CSRF token.
    pub csrf: Arc<str>,
}

/// What [`gate`] decided for a dashboard request.
pub enum Gate {
    /// Authenticate this credential (`None`: anonymous, when att is open); insert the
    /// session (if any) for the handlers; set the cookie (if any) on the answer.
    Let {
        credential: Option<String>,
        session: Option<DashSession>,
        set_cookie: Option<HeaderValue>,
    },
    /// Answer this now (the login form, a CSRF refusal, 401).
    Answer(Response),
}

/// The dashboard's half of authorization ([`super::middleware::authorize`] does the rest):
/// picks the credential a dashboard request presents — its bearer header, or its session's
/// — by [`session::decide`].
pub fn gate(state: &AppState, req: &Request, bearer: Option<String>) -> Gate {
    use session::Access;
    let found = session::cookie_id(req.headers())
        .and_then(|id| state.sessions.get(id).map(|s| (id.to_owned(), s)));
    let csrf = req
        .headers()
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    let access = session::decide(
        req.method(),
        bearer.is_some(),
        found.as_ref().map(|(_, s)| &*s.csrf),
        csrf,
        state.auth.open(),
    );
    match access {
        Access::Bearer => Gate::Let {
            credential: bearer,
            session: None,
            set_cookie: None,
        },
        Access::Session => {
            // `decide` answers `Session` only when there is one; otherwise ask for a login.
            let Some((id, s)) = found else {
                return Gate::Answer(to_login(req));
            };
            Gate::Let {
                credential: s.credential.as_deref().map(str::to_owned),
                session: Some(DashSession { id, csrf: s.csrf }),
                set_cookie: None,
            }
        }
        Access::OpenAnonymous => {
            let (id, s, cookie) = state.sessions.open(None);
            Gate::Let {
                credential: None,
                session: Some(DashSession { id, csrf: s.csrf }),
                set_cookie: Some(cookie),
            }
        }
        Access::Login => Gate::Answer(to_login(req)),
        Access::CsrfRefused => Gate::Answer(
            (
                StatusCode::FORBIDDEN,
                "the request lacks this session's CSRF token (X-CSRF-Token): reload the page",
            )
                .into_response(),
        ),
        Access::Unauthenticated => {
            Gate::Answer((StatusCode::UNAUTHORIZED, "log in first: GET /login").into_response())
        }
    }
}

/// Where a dashboard read without a usable credential goes: the login page (htmx requests
/// are told to navigate there with `HX-Redirect`).
pub fn to_login(req: &Request) -> Response {
    if req.headers().contains_key("hx-request") {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/login"));
        return r;
    }
    if *req.method() == Method::GET {
        Redirect::to("/login").into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}
