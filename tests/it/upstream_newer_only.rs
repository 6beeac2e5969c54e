//! Upstreams that speak only MCP 2026-07-28 (the fixture with `newer_only`: `initialize`
//! refused with `-32022`, `server/discover` and per-request metadata the way in), over
//! streamable HTTP and as a stdio child: att opens their sessions with `server/discover`,
//! lists their tools, routes calls to them, health-checks them and hears their list changes
//! on `subscriptions/listen` — and a server of the handshake era next to them keeps its
//! `initialize` session.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, TestAtt, eventually};

const LIMIT: Duration = Duration::from_secs(10);

/// `echo` through att, `preferred` first, until it answers; the answer.
async fn echo_via(att: &TestAtt, preferred: &str, text: &str) -> Value {
    let body =
        json!({"tool_name": "echo", "arguments": {"text": text}, "preferred_servers": [preferred]});
    eventually("echo is routable", LIMIT, || async {
        let (status, v) = common::post(att, "/api/v1/mcp/invoke/tool", body.clone()).await;
        (status == 200).then_some(v)
    })
    .await
}

#[tokio::test]
async fn an_http_upstream_of_2026_07_28_only_is_discovered_routed_and_health_checked() {
    let modern = common::serve_fixture("modern").await;
    modern
        .fixture
        .state
        .newer_only
        .store(true, Ordering::SeqCst);
    let classic = common::serve_fixture("classic").await;
    let att = TestAtt::start().await;
    for (name, url) in [("modern", &modern.url), ("classic", &classic.url)] {
        let (status, v) = common::post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": name, "url": url}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let v = echo_via(&att, "modern", "per request").await;
    assert_eq!(v["server"], "modern", "{v}");
    assert_eq!(
        v["result"]["structuredContent"],
        json!({"server": "modern", "text": "per request"}),
        "{v}"
    );
    let (status, v) =
        common::post(&att, "/api/v1/mcp/servers/modern/health-check", json!({})).await;
    assert_eq!(
        (status, &v["state"]["status"]),
        (200, &json!("healthy")),
        "{v}"
    );
    assert_eq!(v["state"]["protocol_version"], "2026-07-28", "{v}");
    assert!(
        modern.fixture.state.handshakes.load(Ordering::SeqCst) >= 1,
        "att discovered the server"
    );
    let tools = att.get_json("/api/v1/mcp/tools").await;
    let echo = tools["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["name"] == "echo"))
        .cloned()
        .unwrap_or(Value::Null);
    let servers = echo["servers"].as_array().cloned().unwrap_or_default();
    assert!(
        servers.contains(&json!("modern")) && servers.contains(&json!("classic")),
        "{tools}"
    );
    // Its list changes reach att on the `subscriptions/listen` stream att opened.
    let body = json!({"tool_name": "flip", "arguments": {}, "preferred_servers": ["modern"]});
    let (status, v) = common::post(&att, "/api/v1/mcp/invoke/tool", body).await;
    assert_eq!((status, &v["server"]), (200, &json!("modern")), "{v}");
    eventually(
        "`extra` of the modern server in att's catalog",
        LIMIT,
        || async {
            let tools = att.get_json("/api/v1/mcp/tools").await;
            tools["items"]
                .as_array()?
                .iter()
                .any(|t| t["name"] == "extra" && t["servers"] == json!(["modern"]))
                .then_some(())
        },
    )
    .await;
    // The handshake-era server keeps its `initialize` session.
    let v = echo_via(&att, "classic", "handshake").await;
    assert_eq!(v["server"], "classic", "{v}");
    let v = att.get_json("/api/v1/mcp/servers/classic").await;
    assert_eq!(v["state"]["protocol_version"], "2025-11-25", "{v}");
}

#[tokio::test]
async fn a_stdio_upstream_of_2026_07_28_only_is_discovered_and_routed() {
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "modern-child", "command": env!("CARGO_BIN_EXE_att-mcp-fixture"),
               "args": ["--name", "modern-child", "--only-2026-07-28"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v = echo_via(&att, "modern-child", "over stdio").await;
    assert_eq!(v["server"], "modern-child", "{v}");
    // 2026-07-28 has no `ping`: the check asks `server/discover`.
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers/modern-child/health-check",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &v["state"]["status"]),
        (200, &json!("healthy")),
        "{v}"
    );
    assert_eq!(v["state"]["protocol_version"], "2026-07-28", "{v}");
}
