//! `/mcp` sessions bounded per authenticated principal: one API key's sessions are counted
//! across every address it connects from (`[http] mcp_max_sessions_per_principal`), and one
//! principal at its bound does not hold up another.

use crate::common::TestAtt;
use crate::federated_mcp::open_session;

use serde_json::json;

#[tokio::test]
async fn mcp_sessions_are_bounded_per_principal_across_addresses() {
    const TOKEN: &str = "per-principal-admin-token-0123456789";
    let att = TestAtt::start_with(|c| {
        c.api_token = Some(TOKEN.into());
        c.http.mcp_max_sessions_per_principal = 2;
    })
    .await;
    let key = |name: &'static str| {
        let att = &att;
        async move {
            let r = att
                .http
                .post(att.url("/api/v1/keys"))
                .bearer_auth(TOKEN)
                .json(&json!({"name": name, "role": "operator"}))
                .send()
                .await
                .expect("POST /api/v1/keys");
            assert_eq!(r.status(), 201);
            let v: serde_json::Value = r.json().await.expect("json");
            v["key"].as_str().expect("key").to_owned()
        }
    };
    let (alice, bob) = (key("alice").await, key("bob").await);
    // One principal from two addresses: the bound is the principal's, not the address's.
    let from = |ip: [u8; 4], key: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer {key}").parse().expect("header"),
        );
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .default_headers(headers)
            .build()
            .expect("client")
    };
    for ip in [[127, 0, 0, 1], [127, 0, 0, 2]] {
        let (status, session, body) = open_session(&att, &from(ip, &alice)).await;
        assert_eq!(status, 200, "{body}");
        assert!(session.is_some());
    }
    let (status, session, body) = open_session(&att, &from([127, 0, 0, 3], &alice)).await;
    assert_eq!((status, session), (429, None), "{body}");
    assert!(
        body.contains("mcp_max_sessions_per_principal") && body.contains("-32000"),
        "{body}"
    );
    // Another principal on the same address is not affected.
    let (status, _, body) = open_session(&att, &from([127, 0, 0, 1], &bob)).await;
    assert_eq!(status, 200, "{body}");
    att.server.shutdown().await;
}
