//! OAuth client credentials towards an upstream: att gets a token from a real token
//! endpoint (HTTP Basic, `client_credentials`) and sends it; the token is reused across calls
//! and sessions while it stays valid; a refused client is a state naming the endpoint and its
//! status, never the secret; the secret is shown redacted and kept sealed.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use common::{TestAtt, eventually};
use serde_json::{Value, json};

const SECRET: &str = "client-secret-planted-5150";

/// The token endpoint: tokens for `att:SECRET` (HTTP Basic), counted; the tokens it issued.
#[derive(Clone, Default)]
struct Issuer {
    issued: Arc<Mutex<HashSet<String>>>,
    asked: Arc<AtomicUsize>,
}

async fn token_endpoint(issuer: Issuer) -> String {
    use base64::Engine;
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let issuer = issuer.clone();
            async move {
                issuer.asked.fetch_add(1, Ordering::SeqCst);
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("att:{SECRET}"))
                );
                let authorized = headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == want.as_bytes());
                if !authorized || !body.contains("grant_type=client_credentials") {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": "invalid_client"})),
                    )
                        .into_response();
                }
                let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
                issuer.issued.lock().expect("lock").insert(token.clone());
                axum::Json(
                    json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
                )
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
    });
    url
}

/// A fixture upstream that answers only bearer tokens `issuer` issued (401 otherwise), and
/// counts the requests it refused.
async fn guarded(issuer: Issuer, refused: Arc<AtomicUsize>) -> String {
    common::serve_guarded_fixture("guarded", move |h| {
        let ok = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| issuer.issued.lock().expect("lock").contains(t));
        if !ok {
            refused.fetch_add(1, Ordering::SeqCst);
        }
        ok
    })
    .await
}

#[tokio::test]
async fn att_fetches_reuses_and_sends_an_upstreams_oauth_token() {
    let issuer = Issuer::default();
    let token_url = token_endpoint(issuer.clone()).await;
    let refused = Arc::new(AtomicUsize::new(0));
    let url = guarded(issuer.clone(), refused.clone()).await;
    let att = TestAtt::start().await;
    let register = |name: &str, secret: &str| {
        att.http
            .post(att.url("/api/v1/mcp/servers"))
            .json(
                &json!({"name": name, "url": url, "max_init_age": "1s", "oauth": {
                "token_url": token_url, "client_id": "att", "client_secret": secret}}),
            )
            .send()
    };
    let r = register("guarded", SECRET).await.expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let call = || async {
        let r = att
            .http
            .post(att.url("/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": "hi"}, "preferred_servers": ["guarded"]}))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    };
    eventually("a routed echo", Duration::from_secs(15), call).await;
    // More calls, and new sessions (max_init_age 1 s): still the one token.
    for _ in 0..3 {
        eventually("a routed echo", Duration::from_secs(15), call).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(
        issuer.asked.load(Ordering::SeqCst),
        1,
        "the token was reused"
    );
    assert_eq!(issuer.issued.lock().expect("lock").len(), 1);
    assert_eq!(
        refused.load(Ordering::SeqCst),
        0,
        "every request carried the token"
    );

    // Shown redacted.
    let shown = att
        .get_json("/api/v1/mcp/servers/guarded")
        .await
        .to_string();
    assert!(shown.contains("•••") && !shown.contains(SECRET), "{shown}");

    // A client the endpoint refuses: the state names the endpoint and its answer.
    let r = register("wrong", "not-the-secret").await.expect("register");
    assert_eq!(r.status(), 201);
    let state = eventually(
        "the refused client's state",
        Duration::from_secs(15),
        || async {
            let s = att.get_json("/api/v1/mcp/servers/wrong").await;
            let text = s.to_string();
            text.contains("invalid_client").then_some(text)
        },
    )
    .await;
    assert!(
        state.contains("token endpoint")
            && state.contains("401")
            && !state.contains("not-the-secret"),
        "{state}"
    );
    // Bad tables are the caller's mistake, naming the field.
    for (body, field) in [
        (
            json!({"name": "x", "url": url, "oauth": {"token_url": "http://id.example.com/t", "client_id": "a", "client_secret": "s"}}),
            "oauth.token_url",
        ),
        (
            json!({"name": "x", "url": url, "headers": {"Authorization": "Bearer x"}, "oauth": {"token_url": token_url, "client_id": "a", "client_secret": "s"}}),
            "oauth",
        ),
        (
            json!({"name": "x", "command": "true", "oauth": {"token_url": token_url, "client_id": "a", "client_secret": "s"}}),
            "oauth",
        ),
    ] {
        let r = att
            .http
            .post(att.url("/api/v1/mcp/servers"))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 422, "{body}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["field"], field, "{e}");
    }
    att.server.shutdown().await;
    // Sealed at rest.
    let mut at_rest = String::new();
    for entry in std::fs::read_dir(att.data.path()).expect("data dir") {
        if let Ok(bytes) = std::fs::read(entry.expect("entry").path()) {
            at_rest.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(
        !at_rest.contains(SECRET),
        "the client secret is stored in the clear"
    );
}
