//! The HTTP skeleton's contract: one error shape, limits, auth, the live event stream.

mod common;

use std::time::Duration;

use common::{TestAtt, eventually};
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn error_body(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json"),
        "error responses are JSON"
    );
    let body: Value = r.json().await.expect("json");
    assert!(
        body["code"].is_string() && !body["detail"].is_null(),
        "error shape: {body}"
    );
    body
}

#[tokio::test]
async fn malformed_invalid_and_oversize_bodies_get_the_error_shape() {
    let att = TestAtt::start_with(|c| c.http.body_limit = 4096).await;
    let post = |body: String| {
        att.http
            .post(att.url("/api/v1/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let body = error_body(post("{\"kind\": ".into()).await.expect("POST"), 422).await;
    assert_eq!(body["code"], "invalid_input");
    assert!(
        body["detail"]
            .as_str()
            .expect("text")
            .contains("malformed JSON"),
        "{body}"
    );

    let body = error_body(post("{\"data\": 1}".into()).await.expect("POST"), 422).await;
    assert_eq!(body["field"], "kind");
    let body = error_body(
        post("{\"kind\": \"Bad Kind\"}".into()).await.expect("POST"),
        422,
    )
    .await;
    assert_eq!(body["field"], "kind");
    let body = error_body(
        post("{\"kind\": \"a.b\", \"extra\": 1}".into())
            .await
            .expect("POST"),
        422,
    )
    .await;
    assert_eq!(body["field"], "extra");

    let huge = json!({"kind": "a.b", "data": "x".repeat(10_000)}).to_string();
    let body = error_body(post(huge).await.expect("POST"), 413).await;
    assert_eq!(body["code"], "payload_too_large");

    let r = att
        .http
        .post(att.url("/api/v1/events"))
        .body("{\"kind\": \"a.b\"}")
        .send()
        .await
        .expect("POST");
    error_body(r, 415).await;

    let r = att
        .http
        .delete(att.url("/api/v1/health"))
        .send()
        .await
        .expect("DELETE");
    assert!(r.headers().contains_key("allow"));
    let body = error_body(r, 405).await;
    assert_eq!(body["code"], "method_not_allowed");

    let body = error_body(
        att.http
            .get(att.url("/api/v2/nothing"))
            .send()
            .await
            .expect("GET"),
        404,
    )
    .await;
    assert_eq!(body["code"], "not_found");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("since=yesterday", "since"),
        ("kind=NOPE", "kind"),
        ("bogus=1", "bogus"),
    ] {
        let r = att
            .http
            .get(att.url(&format!("/api/v1/events?{query}")))
            .send()
            .await
            .expect("GET");
        let body = error_body(r, 422).await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    att.server.shutdown().await;
}

#[tokio::test]
async fn events_query_returns_the_newest_n_oldest_first_with_filters() {
    let att = TestAtt::start().await;
    for i in 0..5 {
        let kind = if i % 2 == 0 { "test.even" } else { "test.odd" };
        let r = att
            .http
            .post(att.url("/api/v1/events"))
            .json(&json!({"kind": kind, "correlation_id": "q", "data": {"i": i}}))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201);
    }
    let is = |v: Value| -> Vec<i64> {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["data"]["i"].as_i64().expect("i"))
            .collect()
    };
    assert_eq!(
        is(att
            .get_json("/api/v1/events?correlation_id=q&limit=2")
            .await),
        [3, 4]
    );
    assert_eq!(
        is(att.get_json("/api/v1/events?kind=test.even").await),
        [0, 2, 4]
    );
    assert_eq!(
        is(att.get_json("/api/v1/events?kind=test.*&limit=3").await),
        [2, 3, 4]
    );
    assert_eq!(
        is(att
            .get_json("/api/v1/events?since=2999-01-01T00:00:00Z")
            .await),
        Vec::<i64>::new()
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn with_a_token_every_api_route_but_health_needs_the_bearer() {
    let token = "s3cret-token-0123456789";
    let att = TestAtt::start_with(|c| c.api_token = Some(token.into())).await;
    let r = att
        .http
        .get(att.url("/api/v1/health"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    for path in [
        "/api/v1/actors",
        "/api/v1/ready",
        "/api/v1/events",
        "/metrics",
    ] {
        let r = att.http.get(att.url(path)).send().await.expect("GET");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        error_body(r, 401).await;
        let r = att
            .http
            .get(att.url(path))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .expect("GET");
        error_body(r, 401).await;
        let r = att
            .http
            .get(att.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "{path}");
    }
    att.server.shutdown().await;
}

/// Reads SSE `data:` payloads from a response until `n` have arrived.
async fn read_sse(r: reqwest::Response, n: usize) -> Vec<Value> {
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an SSE chunk within the bound")
            .expect("stream open")
            .expect("chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(serde_json::from_str(data.trim()).expect("event JSON"));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_event_stream_delivers_live_events_and_resumes_after_last_event_id() {
    let att = TestAtt::start().await;
    let post = |kind: &'static str, i: i64| {
        att.http
            .post(att.url("/api/v1/events"))
            .json(&json!({"kind": kind, "data": {"i": i}}))
            .send()
    };
    let first: Value = post("test.stream", 0)
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");

    let live = att
        .http
        .get(att.url("/api/v1/events/stream?kind=test.stream"))
        .send()
        .await
        .expect("GET stream");
    assert_eq!(live.status(), 200);
    assert!(
        live.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    post("test.other", 1).await.expect("POST");
    post("test.stream", 2).await.expect("POST");
    let got = read_sse(live, 1).await;
    assert_eq!(got[0]["data"]["i"], 2, "filtered by kind, live only");

    let resumed = att
        .http
        .get(att.url("/api/v1/events/stream?kind=test.stream"))
        .header("last-event-id", first["id"].to_string())
        .send()
        .await
        .expect("GET stream");
    post("test.stream", 3).await.expect("POST");
    let got = read_sse(resumed, 2).await;
    let is: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(is, [2, 3], "replay after Last-Event-ID, then live");

    // A stream ends when att shuts down, so shutdown is not held up by it.
    let open = att
        .http
        .get(att.url("/api/v1/events/stream"))
        .send()
        .await
        .expect("GET stream");
    let reader = tokio::spawn(async move {
        let mut s = open.bytes_stream();
        while let Some(Ok(_)) = s.next().await {}
    });
    tokio::time::timeout(Duration::from_secs(20), att.server.shutdown())
        .await
        .expect("shutdown is not held up by an open stream");
    eventually("stream closed", Duration::from_secs(5), || async {
        reader.is_finished().then_some(())
    })
    .await;
}
