//! Calls on `/mcp` that att's door answers itself (`http::mcp_endpoint::direct`): the same
//! answers as rmcp's session gives, a client's cancel reaches the upstream, and a session used
//! only that way stays open.
//!
//! Raw sessions, as the official SDK clients make them: one whose client declared no
//! capability (its calls are answered by the door, as JSON) and one that declared `roots`
//! (an upstream could ask it something during a call: rmcp answers, on an event stream).

use crate::common::{TestAtt, eventually, serve_fixture};
use crate::federated_mcp::register;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

/// A started session of a client with `capabilities`: its id.
async fn session(att: &TestAtt, capabilities: Value) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities,
        "clientInfo": {"name": "raw", "version": "0"}}});
    let r = post(att, None, &init).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["mcp-session-id"]
        .to_str()
        .expect("session id")
        .to_owned();
    let _ = r.bytes().await;
    let started = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post(att, Some(&id), &started).await;
    assert!(r.status().is_success(), "{}", r.status());
    id
}

async fn post(att: &TestAtt, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(id) = session {
        req = req.header("mcp-session-id", id);
    }
    req.send().await.expect("POST /mcp")
}

/// The answer to `body` on `session`: its content type and the JSON-RPC message that
/// answers the request (from a JSON body, or the event stream's message with an `id`).
async fn call(att: &TestAtt, session: &str, body: &Value) -> (String, Value) {
    let r = post(att, Some(session), body).await;
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    let text = r.text().await.expect("body");
    let message = if kind.starts_with("application/json") {
        serde_json::from_str(&text).expect("a JSON body")
    } else {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or_else(|| panic!("no answer in {text}"))
    };
    (kind, message)
}

#[tokio::test]
async fn the_door_answers_a_plain_session_s_calls_as_rmcp_answers_them() {
    let upstream = serve_fixture("fx").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "fx", "url": upstream.url})).await;
    let plain = session(&att, json!({})).await;
    let asked = session(&att, json!({"roots": {}})).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    eventually("the federated tools", Duration::from_secs(10), || async {
        let (_, m) = call(&att, &plain, &list).await;
        m.to_string().contains("\"echo\"").then_some(())
    })
    .await;

    let requests = [
        json!({"method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}),
        json!({"method": "tools/call", "params": {"name": "no-such-tool", "arguments": {}}}),
        json!({"method": "tools/call", "params": {"name": "echo", "arguments": {"text": 5}}}),
        json!({"method": "resources/read", "params": {"uri": "fixture://greeting"}}),
        json!({"method": "resources/read", "params": {"uri": "fixture://no-such"}}),
        json!({"method": "prompts/get", "params": {"name": "greet", "arguments": {"name": "Ada"}}}),
        json!({"method": "prompts/get", "params": {"name": "no-such-prompt"}}),
    ];
    for (n, request) in requests.iter().enumerate() {
        let mut body = request.clone();
        body["jsonrpc"] = json!("2.0");
        body["id"] = json!(format!("r{n}"));
        let (door, by_door) = call(&att, &plain, &body).await;
        let (rmcp, by_rmcp) = call(&att, &asked, &body).await;
        assert_eq!(door, "application/json", "{request}: {by_door}");
        assert!(rmcp.starts_with("text/event-stream"), "{request}: {rmcp}");
        assert_eq!(by_door, by_rmcp, "{request}");
    }

    // A call that wants progress is rmcp's: progress goes on the request's stream.
    let progress = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": "p"}, "_meta": {"progressToken": "t"}}});
    let (kind, m) = call(&att, &plain, &progress).await;
    assert!(kind.starts_with("text/event-stream"), "{kind}: {m}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_call_the_door_answers_is_cancelled_upstream_when_the_client_cancels_it() {
    let upstream = serve_fixture("slowpoke").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "slowpoke", "url": upstream.url})).await;
    let plain = session(&att, json!({})).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    eventually("the federated tools", Duration::from_secs(10), || async {
        let (_, m) = call(&att, &plain, &list).await;
        m.to_string().contains("\"hang\"").then_some(())
    })
    .await;
    let calls_before = upstream.fixture.state.calls.load(Ordering::SeqCst);
    let hang = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "hang", "arguments": {}}});
    let held = {
        let (att, plain) = (&att, plain.clone());
        async move { call(att, &plain, &hang).await }
    };
    let cancel = async {
        eventually(
            "the call reached the upstream",
            Duration::from_secs(10),
            || async {
                (upstream.fixture.state.calls.load(Ordering::SeqCst) > calls_before).then_some(())
            },
        )
        .await;
        let cancelled = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 7, "reason": "changed my mind"}});
        let r = post(&att, Some(&plain), &cancelled).await;
        assert!(r.status().is_success(), "{}", r.status());
        eventually(
            "the upstream saw the cancel",
            Duration::from_secs(10),
            || async {
                (upstream.fixture.state.cancelled.load(Ordering::SeqCst) == 1).then_some(())
            },
        )
        .await;
    };
    let ((kind, answer), ()) = tokio::join!(held, cancel);
    assert_eq!(kind, "application/json");
    assert_eq!(answer["id"], 7, "{answer}");
    assert!(answer.get("error").is_some(), "{answer}");
    // The session still serves.
    let echo = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "on"}}});
    let (_, m) = call(&att, &plain, &echo).await;
    assert_eq!(m["result"]["structuredContent"]["text"], "on", "{m}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_session_whose_calls_the_door_answers_stays_open_while_it_is_used() {
    let upstream = serve_fixture("fx").await;
    let att = TestAtt::start_with(|c| c.http.mcp_session_idle = Duration::from_secs(1)).await;
    register(&att, json!({"name": "fx", "url": upstream.url})).await;
    let plain = session(&att, json!({})).await;
    let echo = |n: u32| {
        json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x"}}})
    };
    eventually("the federated tools", Duration::from_secs(10), || async {
        let (_, m) = call(&att, &plain, &echo(0)).await;
        m.get("result").map(|_| ())
    })
    .await;
    // Three idle times of calls answered by the door alone: rmcp's worker hears of none of
    // them, and would end the session after one idle time.
    for n in 1..=15 {
        let (kind, m) = call(&att, &plain, &echo(n)).await;
        assert_eq!(kind, "application/json", "{m}");
        assert!(m.get("result").is_some(), "call {n}: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    att.server.shutdown().await;
}
