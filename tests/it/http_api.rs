//! The HTTP skeleton's contract: one error shape, limits, auth, the live event stream.

use crate::common;

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
    for (method, path) in [
        ("GET", "/api/v1/actors"),
        ("GET", "/api/v1/ready"),
        ("GET", "/api/v1/events"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/mcp/servers"),
        ("POST", "/api/v1/mcp/servers"),
        ("POST", "/api/v1/mcp/tools/call"),
        ("GET", "/api/v1/projects"),
        ("POST", "/api/v1/projects"),
        ("PUT", "/api/v1/projects/p/file"),
        ("GET", "/api/v1/services"),
        ("POST", "/api/v1/bootstrap/runs"),
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("DELETE", "/mcp"),
    ] {
        let send = |auth: Option<&str>| {
            let mut req = att
                .http
                .request(method.parse().expect("method"), att.url(path))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            req.send()
        };
        let r = send(None).await.expect("request");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{method} {path}");
        error_body(r, 401).await;
        let r = send(Some("Bearer wrong-token-0123456789"))
            .await
            .expect("request");
        error_body(r, 401).await;
        let r = send(Some(&format!("Basic {token}")))
            .await
            .expect("request");
        error_body(r, 401).await;
        // The scheme is case-insensitive (RFC 9110).
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let r = send(Some(&format!("{scheme} {token}")))
                .await
                .expect("request");
            assert!(
                ![401, 403].contains(&r.status().as_u16()),
                "{method} {path} with `{scheme}`: {}",
                r.status()
            );
        }
    }
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_puts_query_parameters_in_the_query() {
    let att = TestAtt::start().await;
    let doc = att.get_json("/api/v1/openapi.json").await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().expect("name");
                let in_path = path.contains(&format!("{{{name}}}"));
                let said = p["in"].as_str().expect("in");
                assert_eq!(
                    said,
                    if in_path { "path" } else { "query" },
                    "{method} {path}: parameter `{name}`"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked} parameters checked");
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

#[tokio::test]
async fn a_resumed_stream_replays_every_event_after_its_id_not_only_the_newest_page() {
    let att = TestAtt::start().await;
    let mut ids = Vec::new();
    for chunk in 0..30 {
        let posts = (0..50).map(|i| {
            att.http
                .post(att.url("/api/v1/events"))
                .json(&json!({"kind": "test.resume", "data": {"i": chunk * 50 + i}}))
                .send()
        });
        for r in futures_util::future::join_all(posts).await {
            let e: Value = r.expect("POST").json().await.expect("json");
            ids.push(e["id"].as_i64().expect("id"));
        }
    }
    ids.sort_unstable();
    assert_eq!(ids.len(), 1500);
    let resumed = att
        .http
        .get(att.url("/api/v1/events/stream?kind=test.resume"))
        .header("last-event-id", ids[10].to_string())
        .send()
        .await
        .expect("GET stream");
    let got: Vec<i64> = read_sse(resumed, 1489)
        .await
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(got, ids[11..], "every event after the id, in order");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_follower_that_lags_behind_the_live_channel_misses_nothing_and_sees_the_end() {
    use att_runtime::events::{EventQuery, NewEvent, follow};
    let (tree, _dir) = common::tree_with(att_gateway::tree::TreeConfig {
        live_capacity: 2,
        ..Default::default()
    })
    .await;
    let stream = follow::follow(
        tree.events.clone(),
        EventQuery {
            correlation_id: Some("run-1".into()),
            ..EventQuery::default()
        },
        follow::From::Now,
        |e| e.kind == "bootstrap.run",
        std::future::pending(),
    );
    let mut stream = Box::pin(stream);
    // Polled until it has read where "now" is and subscribed: it waits for live events.
    let before = tree.events.subscribers();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        assert!(
            futures_util::poll!(stream.next()).is_pending(),
            "nothing to deliver yet"
        );
        if tree.events.subscribers() > before {
            break;
        }
        // Its query runs on another task (behind the writer's barrier): give it time.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        tree.events.subscribers() > before,
        "the follower subscribed"
    );
    // Far more events than the live channel holds arrive before the follower reads again.
    for i in 0..20 {
        let kind = if i == 19 {
            "bootstrap.run"
        } else {
            "bootstrap.phase"
        };
        tree.events
            .append(NewEvent::new(kind, json!({ "i": i })).correlated("run-1"))
            .await
            .expect("append");
        tree.events
            .append(NewEvent::new("other", json!({})).correlated("run-2"))
            .await
            .expect("append");
    }
    let mut got = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream goes on until its end")
    {
        got.push(e.data["i"].as_i64().expect("i"));
    }
    assert_eq!(
        got,
        (0..20).collect::<Vec<_>>(),
        "every event, the final one last"
    );
    tree.shutdown().await;
}

/// One request of each route family, as a DNS-rebinding page or a cross-site page would send it.
const ROUTE_FAMILIES: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/ready"),
    ("GET", "/api/v1/actors"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/events/stream"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/mcp/servers"),
    ("GET", "/api/v1/mcp/servers"),
    ("POST", "/api/v1/services"),
    ("POST", "/api/v1/bootstrap/runs"),
    ("POST", "/api/v1/projects"),
    ("PUT", "/api/v1/projects/p/file"),
    ("POST", "/mcp"),
    ("GET", "/mcp"),
    ("GET", "/"),
];

#[tokio::test]
async fn dns_rebinding_and_cross_site_pages_are_refused_on_every_route_family() {
    let att = TestAtt::start().await;
    let port = att.server.local_addr.port();
    let marker = att.data.path().join("pwned");
    // The attack from the hostile run: a page whose name rebinds to 127.0.0.1 registers a
    // stdio upstream, which att would spawn.
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .header("host", format!("attacker.example:{port}"))
        .header("origin", format!("http://attacker.example:{port}"))
        .json(&json!({"name": "rb", "command": "sh", "args": ["-c", format!("touch {}", marker.display())]}))
        .send()
        .await
        .expect("POST");
    let body = error_body(r, 403).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("text")
            .contains("allowed_hosts"),
        "{body}"
    );
    let servers = att.get_json("/api/v1/mcp/servers").await;
    assert_eq!(
        servers["servers"].as_array().map(Vec::len),
        Some(0),
        "{servers}"
    );
    assert!(!marker.exists());

    let send = |method: &str, path: &str, headers: Vec<(&'static str, String)>| {
        let mut req = att
            .http
            .request(method.parse().expect("method"), att.url(path))
            .header("content-type", "application/json")
            .body("{}");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    for (method, path) in ROUTE_FAMILIES {
        let rebinding = vec![("host", format!("attacker.example:{port}"))];
        let r = send(method, path, rebinding).await.expect("request");
        assert_eq!(r.status(), 403, "{method} {path} with a rebound Host");
        let cross = vec![("origin", "http://evil.example".to_owned())];
        let r = send(method, path, cross).await.expect("request");
        assert_eq!(r.status(), 403, "{method} {path} from a cross-site page");
        // The same request from a program (no Origin, an IP Host) is not refused for it.
        let r = send(method, path, vec![]).await.expect("request");
        assert_ne!(r.status(), 403, "{method} {path} from a program");
    }
    // A state-changing request a browser marks cross-site is refused without an Origin too;
    // one from a loopback page is served.
    let r = send(
        "POST",
        "/api/v1/events",
        vec![("sec-fetch-site", "cross-site".into())],
    )
    .await
    .expect("POST");
    assert_eq!(r.status(), 403);
    let r = att
        .http
        .post(att.url("/api/v1/events"))
        .header("origin", "http://localhost:5173")
        .json(&json!({"kind": "test.page"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    att.server.shutdown().await;
}

#[tokio::test]
async fn names_listed_in_allowed_hosts_are_served() {
    let att = TestAtt::start_with(|c| c.http.allowed_hosts = vec!["att.example.com".into()]).await;
    let r = att
        .http
        .get(att.url("/api/v1/health"))
        .header("host", "att.example.com")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let r = att
        .http
        .get(att.url("/api/v1/health"))
        .header("host", "other.example.com")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    att.server.shutdown().await;
}

/// Reads from `tcp` until the peer closes it (bounded); returns what it sent.
async fn read_until_closed(tcp: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(limit, tcp.read_to_end(&mut got))
        .await
        .expect("the server closes the connection within the bound")
        .expect("read");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn connections_past_the_cap_are_answered_503_and_closed_and_the_cap_frees_up() {
    use tokio::io::AsyncWriteExt;
    let att = TestAtt::start_with(|c| c.http.max_connections = 4).await;
    let addr = att.server.local_addr;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    // The held connections are served: one of them asks for health.
    idle[0]
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut extra = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let answer = read_until_closed(&mut extra, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("max_connections"), "{answer}");
    drop(idle.pop());
    let ok = eventually("a freed slot is used", Duration::from_secs(10), || async {
        let r = att.http.get(att.url("/api/v1/health")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert_eq!(ok, ());
    att.server.shutdown().await;
}

#[tokio::test]
async fn trickled_headers_and_idle_kept_alive_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let att =
        TestAtt::start_with(|c| c.http.header_read_timeout = Duration::from_millis(500)).await;
    let addr = att.server.local_addr;
    // Slowloris: a request line, then nothing.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-a: ")
        .await
        .expect("write");
    let got = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(!got.contains("200 OK"), "{got}");
    // A connection that never sends anything.
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    read_until_closed(&mut silent, Duration::from_secs(10)).await;
    // A kept-alive connection: the first request is answered, then the idle connection closes.
    let mut kept = tokio::net::TcpStream::connect(addr).await.expect("connect");
    kept.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let got = read_until_closed(&mut kept, Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    att.server.shutdown().await;
}

/// Read your writes: a query sees every event emitted (fire and forget) before it was asked,
/// even while the writer is still committing them. Without the writer's barrier the query
/// raced the group commit and saw only part of them.
#[tokio::test]
async fn a_query_sees_every_event_emitted_before_it() {
    use att_runtime::events::{EventQuery, EventSink, NewEvent};
    let (tree, _dir) = common::tree_with(att_gateway::tree::TreeConfig::default()).await;
    for round in 0..20 {
        let id = format!("round-{round}");
        for i in 0..50 {
            tree.events
                .emit(NewEvent::new("emitted", json!({ "i": i })).correlated(&id));
        }
        let seen = tree
            .events
            .query(EventQuery {
                correlation_id: Some(id.clone()),
                limit: 1000,
                ..EventQuery::default()
            })
            .await
            .expect("query");
        assert_eq!(seen.len(), 50, "{id}");
    }
}
