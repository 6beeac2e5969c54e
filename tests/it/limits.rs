//! Rate limits and quotas from outside: a principal past its burst or its calls in flight
//! gets 429 with `Retry-After` and the error shape naming the limit, on `/api`, and the
//! JSON-RPC error with `retry_after_ms` on `/mcp`; another principal is unaffected; an
//! upstream's `max_concurrent` holds (the fixture counts the calls it has at once), a call
//! past it goes to a replica with room, and with none is refused as busy.
//!
//! No test depends on timing: rates are so slow that no token comes back during a test
//! (`rate = 0.01`: one call per 100 s), and calls in flight are held by the fixture's `hold`
//! tool until the test releases them.

use crate::common;

use std::time::Duration;

use att::auth::Role;
use common::{ServedFixture, TestAtt, eventually, serve_fixture};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use serde_json::{Value, json};

const TOKEN: &str = "bootstrap-admin-token-0123456789";

/// An att with a token, the limits of `limits` (TOML, the `[limits]` table) and `upstreams`.
async fn att_with(limits: &str, upstreams: Vec<Value>) -> TestAtt {
    let limits: att::config::LimitsConfig = toml::from_str(limits).expect("limits");
    TestAtt::start_with(move |c| {
        c.api_token = Some(TOKEN.into());
        c.limits = limits;
        c.upstreams = upstreams
            .into_iter()
            .map(|u| serde_json::from_value(u).expect("upstream spec"))
            .collect();
    })
    .await
}

async fn key(att: &TestAtt, name: &str) -> String {
    att.server
        .auth()
        .create(name, Role::Operator, None)
        .await
        .expect("key")
        .text
}

async fn get(att: &TestAtt, path: &str, key: &str) -> reqwest::Response {
    att.http
        .get(att.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET")
}

async fn invoke(att: &TestAtt, key: &str, tool: &str) -> (u16, Option<String>, Value) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/invoke/tool"))
        .bearer_auth(key)
        .json(&json!({"tool_name": tool, "arguments": {"text": "x"}}))
        .send()
        .await
        .expect("invoke");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), retry, r.json().await.expect("JSON"))
}

/// Until `tool` is routable through att for `key`.
async fn routable(att: &TestAtt, key: &str) {
    eventually(
        "the upstream to be routable",
        Duration::from_secs(10),
        || async { (invoke(att, key, "echo").await.0 == 200).then_some(()) },
    )
    .await;
}

async fn metrics(att: &TestAtt) -> String {
    let r = get(att, "/metrics", TOKEN).await;
    assert_eq!(r.status(), 200);
    r.text().await.expect("metrics text")
}

async fn in_flight(f: &ServedFixture, n: u64) {
    eventually(
        &format!("{n} calls in flight at the fixture"),
        Duration::from_secs(10),
        || async {
            (f.fixture
                .state
                .in_flight
                .load(std::sync::atomic::Ordering::SeqCst)
                == n)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_principal_past_its_burst_gets_429_with_retry_after_and_others_are_unaffected() {
    let att = att_with("per_principal = { rate = 0.01, burst = 3 }", vec![]).await;
    let (a, b) = (key(&att, "a").await, key(&att, "b").await);
    for i in 0..3 {
        let r = get(&att, "/api/v1/mcp/servers", &a).await;
        assert_eq!(r.status(), 200, "a's call {i} is within its burst");
    }
    let r = get(&att, "/api/v1/mcp/servers", &a).await;
    assert_eq!(r.status(), 429, "a's fourth call is past its burst");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("an integer Retry-After");
    // One call per 100 s: the next token is ~100 s away.
    assert!((90..=100).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.expect("error body");
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["detail"]["limit"], "rate", "{body}");
    assert_eq!(body["detail"]["key"], "limits.per_principal.rate", "{body}");
    assert_eq!(body["detail"]["principal"], "a", "{body}");
    assert!(
        body["detail"]["retry_after_ms"].as_u64() > Some(90_000),
        "{body}"
    );
    // Another principal has its own burst; health is never limited.
    for i in 0..3 {
        let r = get(&att, "/api/v1/mcp/servers", &b).await;
        assert_eq!(r.status(), 200, "b's call {i}");
    }
    for _ in 0..10 {
        assert_eq!(get(&att, "/api/v1/health", &a).await.status(), 200);
    }
    let text = metrics(&att).await;
    assert!(
        text.contains(r#"att_limit_refusals_total{limit="rate",principal="a"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_principal_at_its_concurrent_calls_is_refused_until_one_ends() {
    let f = serve_fixture("f").await;
    let att = att_with(
        "per_principal = { concurrent = 2 }",
        vec![json!({"name": "f", "url": f.url})],
    )
    .await;
    let (a, b) = (key(&att, "a").await, key(&att, "b").await);
    routable(&att, &a).await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, a) = (
                att.http.clone(),
                att.url("/api/v1/mcp/invoke/tool"),
                a.clone(),
            );
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(a)
                    .json(&json!({"tool_name": "hold"}))
                    .send()
                    .await
                    .expect("hold")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    in_flight(&f, 2).await;
    let (status, retry, body) = invoke(&att, &a, "echo").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["detail"]["limit"], "concurrent", "{body}");
    assert_eq!(
        body["detail"]["key"], "limits.per_principal.concurrent",
        "{body}"
    );
    let text = metrics(&att).await;
    assert!(
        text.contains(r#"att_limit_calls_in_flight{principal="a"} 2"#),
        "{text}"
    );
    // b is not a's: its call goes through while a's two are held.
    let (status, _, body) = invoke(&att, &b, "echo").await;
    assert_eq!(status, 200, "{body}");
    f.fixture.state.release();
    for h in held {
        assert_eq!(h.await.expect("held call"), 200);
    }
    let (status, _, body) = invoke(&att, &a, "echo").await;
    assert_eq!(status, 200, "a's calls ended: {body}");
}

#[tokio::test]
async fn an_upstream_never_has_more_than_max_concurrent_calls_and_the_excess_is_refused_as_busy() {
    let f = serve_fixture("f").await;
    let att = att_with(
        "",
        vec![json!({"name": "f", "url": f.url, "max_concurrent": 2})],
    )
    .await;
    routable(&att, TOKEN).await;
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (http, url) = (att.http.clone(), att.url("/api/v1/mcp/invoke/tool"));
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"tool_name": "hold"}))
                    .send()
                    .await
                    .expect("hold");
                let retry = r.headers().get("retry-after").cloned();
                (
                    r.status().as_u16(),
                    retry,
                    r.json::<Value>().await.expect("JSON"),
                )
            })
        })
        .collect();
    in_flight(&f, 2).await;
    // Two are held at the fixture and answer only once released; the other two wait for room
    // (at most the queue wait) and are refused.
    let mut pending = calls;
    let mut busy = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while busy.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "two calls were not refused as busy"
        );
        let mut still = Vec::new();
        for c in pending {
            if c.is_finished() {
                busy.push(c.await.expect("call"));
            } else {
                still.push(c);
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut refused = 0;
    for (status, retry, body) in &busy {
        refused += 1;
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["code"], "upstream_busy", "{body}");
        assert_eq!(
            body["detail"]["full"],
            json!([{"server": "f", "max_concurrent": 2}]),
            "{body}"
        );
        assert!(
            body["detail"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("max_concurrent 2")),
            "{body}"
        );
        assert_eq!(retry.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
    }
    assert_eq!((refused, pending.len()), (2, 2));
    let text = metrics(&att).await;
    for line in [
        r#"att_upstream_calls_in_flight{upstream="f"} 2"#,
        r#"att_upstream_max_concurrent{upstream="f"} 2"#,
        r#"att_upstream_busy_refusals_total{upstream="f"} 2"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    f.fixture.state.release();
    for c in pending {
        let (status, _, body) = c.await.expect("held call");
        assert_eq!(status, 200, "{body}");
    }
    let max = f
        .fixture
        .state
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(max, 2, "the upstream saw {max} calls at once");
}

#[tokio::test]
async fn a_call_past_an_upstreams_max_concurrent_goes_to_a_replica_with_room() {
    let (f, g) = (serve_fixture("f").await, serve_fixture("g").await);
    let att = att_with(
        "",
        vec![
            json!({"name": "f", "url": f.url, "priority": 1, "max_concurrent": 1}),
            json!({"name": "g", "url": g.url, "priority": 2}),
        ],
    )
    .await;
    // Until both are routable: `f` is preferred, so a held call there makes the next one go
    // to `g` only once `g` is known.
    eventually(
        "both upstreams routable",
        Duration::from_secs(10),
        || async {
            let v = att.get_json_with("/api/v1/mcp/servers", TOKEN).await;
            let ready = v["servers"].as_array().is_some_and(|s| {
                s.iter()
                    .filter(|s| s["state"]["initialized"] == true)
                    .count()
                    == 2
            });
            ready.then_some(())
        },
    )
    .await;
    let first = {
        let (http, url) = (att.http.clone(), att.url("/api/v1/mcp/invoke/tool"));
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"tool_name": "hold"}))
                .send()
                .await
                .expect("hold");
            r.json::<Value>().await.expect("JSON")
        })
    };
    in_flight(&f, 1).await;
    let (status, _, body) = invoke(&att, TOKEN, "echo").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["server"], "g", "f is full: the call goes to g: {body}");
    f.fixture.state.release();
    assert_eq!(first.await.expect("held call")["server"], "f");
}

async fn mcp_client(att: &TestAtt, key: &str) -> RunningService<RoleClient, ()> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(att.url("/mcp")).auth_header(key.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connects")
}

#[tokio::test]
async fn an_mcp_call_past_the_limit_is_a_json_rpc_error_with_the_retry_hint() {
    let f = serve_fixture("f").await;
    let att = att_with(
        "per_principal = { rate = 0.01, burst = 2 }",
        vec![json!({"name": "f", "url": f.url})],
    )
    .await;
    let (a, b) = (key(&att, "a").await, key(&att, "b").await);
    let (ca, cb) = (mcp_client(&att, &a).await, mcp_client(&att, &b).await);
    // Listing is not a call: it never uses up the burst.
    eventually("echo listed on /mcp", Duration::from_secs(10), || async {
        let tools = ca.peer().list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "echo").then_some(())
    })
    .await;
    let echo = || {
        CallToolRequestParams::new("echo")
            .with_arguments(json!({"text": "x"}).as_object().cloned().expect("object"))
    };
    for i in 0..2 {
        let r = ca.peer().call_tool(echo()).await.expect("within the burst");
        assert_ne!(r.is_error, Some(true), "call {i}: {r:?}");
    }
    let e = ca
        .peer()
        .call_tool(echo())
        .await
        .expect_err("past the burst");
    let rmcp::ServiceError::McpError(e) = e else {
        panic!("expected a JSON-RPC error, got {e:?}");
    };
    assert_eq!(e.code.0, -32029, "{e:?}");
    let data = e.data.expect("error data");
    assert_eq!(data["limit"], "rate", "{data}");
    assert_eq!(data["principal"], "a", "{data}");
    assert!(data["retry_after_ms"].as_u64() > Some(90_000), "{data}");
    // Listing is still fine; b is unaffected.
    assert!(ca.peer().list_all_tools().await.is_ok());
    let r = cb.peer().call_tool(echo()).await.expect("b's call");
    assert_ne!(r.is_error, Some(true), "{r:?}");
}

#[tokio::test]
async fn an_open_att_limits_each_client_address_apart_and_labels_none_of_them() {
    let limits: att::config::LimitsConfig =
        toml::from_str("per_principal = { rate = 0.01, burst = 1 }").expect("limits");
    let att = TestAtt::start_with(move |c| c.limits = limits).await;
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .expect("client")
    };
    let (one, two) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let status = |c: &reqwest::Client| {
        let request = c.get(att.url("/api/v1/mcp/servers")).send();
        async move { request.await.expect("GET").status().as_u16() }
    };
    assert_eq!(status(&one).await, 200, "127.0.0.1's first call");
    let r = one
        .get(att.url("/api/v1/mcp/servers"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 429, "127.0.0.1's second call");
    let body: Value = r.json().await.expect("error body");
    assert_eq!(body["detail"]["principal"], "anonymous", "{body}");
    assert_eq!(
        status(&two).await,
        200,
        "127.0.0.2 is a principal of its own"
    );
    let text = one
        .get(att.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"att_limit_refusals_total{limit="rate",principal="anonymous"} 1"#),
        "{text}"
    );
    assert!(!text.contains("127.0.0."), "no address is a label:\n{text}");
}
