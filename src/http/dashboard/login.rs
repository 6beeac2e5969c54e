//! `/login` and `/logout`: a browser presents att's token (or an API key) once and gets a
//! session cookie ([`super::session`]). The token is checked exactly as a bearer header is
//! ([`crate::auth::Auth::authenticate`]) and each attempt is an audit entry (surface
//! `dashboard`); the form never echoes what was typed. Wrong tokens are limited per client
//! address and overall ([`super::login_limit`]): past the limit the answer is 429 with
//! `Retry-After`, and the token is not checked.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::DashSession;
use crate::auth::audit::{Entry, Outcome, Surface};
use crate::http::AppState;
use crate::http::middleware::RequestId;

/// The login form's fields.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

fn login_page(message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "att · log in" }
                link rel="stylesheet" href=(super::assets::url("dashboard.css"));
            }
            body {
                main #main {
                    h1 { "Log in to att" }
                    @if let Some(m) = message {
                        p.note.st-bad role="alert" { (m) }
                    }
                    form.stack method="post" action="/login" {
                        label {
                            "Token or API key"
                            input #token type="password" name="token" autocomplete="current-password"
                                required autofocus maxlength="4096";
                        }
                        button type="submit" { "Log in" }
                    }
                    p.muted { "The token is att's " code { "api_token" } " or an API key (" code { "att keys create" } "). "
                        "The browser then keeps a session cookie; the token is not stored in the page." }
                }
            }
        }
    }
}

/// `GET /login`.
pub async fn form() -> Response {
    Html(login_page(None).into_string()).into_response()
}

/// `POST /login` (form: `token`): opens a session and goes to the overview, or says why not.
pub async fn submit(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let client = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let token = serde_urlencoded::from_bytes::<LoginForm>(&body)
        .map(|f| f.token.trim().to_owned())
        .unwrap_or_default();
    let refuse = |status: StatusCode, why: &str| {
        (status, Html(login_page(Some(why)).into_string())).into_response()
    };
    if token.is_empty() || token.len() > 4096 {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "token: enter att's token or an API key",
        );
    }
    let entry = |principal, outcome, status: StatusCode| Entry {
        principal,
        surface: Surface::Dashboard,
        action: "POST",
        target: "/login",
        outcome,
        status: Some(status.as_u16()),
        request_id: Some(&request_id.0),
    };
    if let Err(limited) = state.login_limit.check(client, Instant::now()) {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let why = limited.to_string();
        entry(None, Outcome::Refused(why.clone()), status).record(&state.events);
        let mut r = refuse(status, &format!("Not logged in: {why}."));
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(limited.retry_after.as_secs()),
        );
        return r;
    }
    match state.auth.authenticate(Some(&token)).await {
        Ok(principal) => {
            entry(Some(&principal), Outcome::Ok, StatusCode::SEE_OTHER).record(&state.events);
            let (_, _, cookie) = state.sessions.open_stored(&token).await;
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(refused) => {
            state.login_limit.failed(client, Instant::now());
            let why = refused.to_string();
            let status = StatusCode::UNAUTHORIZED;
            entry(None, Outcome::Refused(why.clone()), status).record(&state.events);
            refuse(status, &format!("Not logged in: {why}."))
        }
    }
}

/// `POST /logout`: ends the session and goes to the login form.
pub async fn logout(
    State(state): State<AppState>,
    session: Option<Extension<DashSession>>,
) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(Extension(s)) = session {
        r.headers_mut()
            .insert(header::SET_COOKIE, state.sessions.close(&s.id).await);
    }
    r.headers_mut()
        .insert("hx-redirect", HeaderValue::from_static("/login"));
    r
}
