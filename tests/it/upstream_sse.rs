//! Upstreams that speak only the legacy HTTP+SSE transport (protocol 2024-11-05), against a
//! real legacy server ([`common::legacy_sse`]): registered through att's API, listed and
//! called through `/mcp` and `/api/v1/mcp/tools`, reconnected after a restart; and the
//! transport's refusals — an endpoint on another origin, an endpoint that never comes, a
//! POST the server refuses — with the words a user sees, and garbage on the stream skipped.

use crate::common::{self, TestAtt, eventually, legacy_sse};

use std::sync::atomic::Ordering;
use std::time::Duration;

use att_gateway::upstream::connection::{self, Connection};
use att_gateway::upstream::{CallFailure, ErrorCategory, UpstreamSpec};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECOND: Duration = Duration::from_secs(1);

fn spec(v: Value) -> UpstreamSpec {
    serde_json::from_value(v).expect("valid spec")
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().expect("object")
}

/// Opens a session, failing the test if the open outlives 10 s whatever its `init_timeout`.
async fn connect(v: Value) -> Result<Connection, CallFailure> {
    let (tx, _notices) = mpsc::unbounded_channel();
    tokio::time::timeout(SECOND * 10, connection::connect(&spec(v), tx))
        .await
        .expect("the open ends within 10 s")
}

fn message(failure: &CallFailure) -> String {
    match failure {
        CallFailure::NotSent { message, .. } => message.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn an_sse_session_speaks_2024_11_05_and_a_post_the_server_refuses_fails_with_its_status() {
    let server = legacy_sse::serve("old", legacy_sse::Options::default()).await;
    let c = connect(json!({"name": "old", "url": server.url, "transport": "sse"}))
        .await
        .expect("connects");
    assert_eq!(c.handshake.protocol_version, "2024-11-05");
    assert_eq!(c.handshake.server_info["name"], "old");
    let r = c
        .call_tool("echo", Some(args(json!({"text": "x"}))), SECOND * 5)
        .await
        .expect("echo");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "old", "text": "x"}))
    );
    let names = c.list_catalog(SECOND * 5).await.expect("catalog").names();
    assert_eq!(names.tools.len(), 13, "every page: {:?}", names.tools);

    // The stream stays, the session is gone: the server answers the POST 404.
    server.forget_sessions();
    let refused = c
        .call_tool("echo", Some(args(json!({"text": "x"}))), SECOND * 5)
        .await
        .expect_err("the server refuses the POST");
    assert!(
        matches!(refused, CallFailure::HttpStatus(404)),
        "{refused:?}"
    );
    assert!(!c.is_closed());

    // The stream ends: the session is over.
    server.restart();
    eventually("the session closes", SECOND * 5, || async {
        c.is_closed().then_some(())
    })
    .await;
    let gone = c
        .call_tool("echo", Some(args(json!({"text": "x"}))), SECOND * 5)
        .await
        .expect_err("closed");
    assert_eq!(gone.category(), ErrorCategory::TransportError, "{gone:?}");
    c.close().await;
}

#[tokio::test]
async fn an_endpoint_event_that_never_comes_fails_the_open_at_init_timeout_naming_it() {
    let server = legacy_sse::serve(
        "mute",
        legacy_sse::Options {
            endpoint: legacy_sse::Endpoint::Never,
            ..Default::default()
        },
    )
    .await;
    let failure = connect(
        json!({"name": "mute", "url": server.url, "transport": "sse", "init_timeout": "300ms"}),
    )
    .await
    .err()
    .expect("no endpoint, no session");
    assert_eq!(failure.category(), ErrorCategory::NetworkTimeout);
    assert_eq!(
        message(&failure),
        "the SSE stream did not send its `endpoint` event within 300 ms"
    );
}

#[tokio::test]
async fn garbage_on_the_stream_is_skipped_and_the_session_works() {
    let server = legacy_sse::serve(
        "noisy",
        legacy_sse::Options {
            garbage: true,
            ..Default::default()
        },
    )
    .await;
    let c = connect(json!({"name": "noisy", "url": server.url, "transport": "sse"}))
        .await
        .expect("connects through the garbage");
    let r = c
        .call_tool("echo", Some(args(json!({"text": "y"}))), SECOND * 5)
        .await
        .expect("echo");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "noisy", "text": "y"}))
    );
    c.ping(SECOND).await.expect("ping");
    assert!(!c.is_closed());
    c.close().await;
}

#[tokio::test]
async fn a_streamable_http_endpoint_registered_as_sse_is_refused_saying_what_it_answered() {
    let served = common::serve_fixture("modern").await;
    let failure = connect(json!({"name": "modern", "url": served.url, "transport": "sse"}))
        .await
        .err()
        .expect("not an event stream");
    let text = message(&failure);
    assert!(
        text.starts_with("the SSE endpoint answered GET with HTTP 4")
            || text.contains("not `text/event-stream`"),
        "{text}"
    );
}

async fn register(att: &TestAtt, body: Value) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

#[tokio::test]
async fn a_registered_sse_upstream_is_listed_and_called_through_att_and_reconnected_after_a_restart()
 {
    let server = legacy_sse::serve("legacy", legacy_sse::Options::default()).await;
    let att = TestAtt::start().await;
    register(
        &att,
        json!({"name": "legacy", "url": server.url, "transport": "sse", "headers": {"X-Key": "k3y-value"}}),
    )
    .await;
    let shown = att.get_json("/api/v1/mcp/servers/legacy").await;
    assert_eq!(shown["transport"], "sse", "{shown}");
    assert_eq!(shown["headers"]["X-Key"], "•••", "{shown}");

    let tools = eventually("the SSE upstream's tools", SECOND * 10, || async {
        let tools = att.get_json("/api/v1/mcp/tools").await;
        let echo = tools["items"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "echo")?
            .clone();
        Some(echo)
    })
    .await;
    assert_eq!(tools["servers"], json!(["legacy"]));

    let client =
        ().serve(StreamableHttpClientTransport::from_uri(att.url("/mcp")))
            .await
            .expect("connects to att's /mcp");
    let listed = client.list_all_tools().await.expect("tools through att");
    assert!(listed.iter().any(|t| t.name == "echo"), "{listed:?}");
    let call = || async {
        client
            .call_tool(
                CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "hi"}))),
            )
            .await
    };
    let r = call().await.expect("echo through att");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "legacy", "text": "hi"}))
    );
    assert_eq!(server.fixture.state.handshakes.load(Ordering::SeqCst), 1);

    // The server restarts: its stream ends, and the next call opens a new session.
    server.restart();
    let r = eventually("a call after the restart", SECOND * 10, || async {
        call().await.ok()
    })
    .await;
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "legacy", "text": "hi"}))
    );
    assert_eq!(server.fixture.state.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(server.sessions(), 1);
    let _ = client.cancel().await;
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused_and_the_upstream_state_says_why() {
    // Another server on another port has a session 1 open; the hostile stream names it.
    let honest = legacy_sse::serve("honest", legacy_sse::Options::default()).await;
    let open_session = reqwest::get(&honest.url)
        .await
        .expect("a session on the other server");
    assert_eq!(honest.sessions(), 1);
    let origin = honest.url.trim_end_matches("/sse").to_owned();
    let server = legacy_sse::serve(
        "hostile",
        legacy_sse::Options {
            endpoint: legacy_sse::Endpoint::OtherOrigin(origin.clone()),
            ..Default::default()
        },
    )
    .await;
    let att = TestAtt::start().await;
    register(
        &att,
        json!({"name": "hostile", "url": server.url, "transport": "sse", "headers": {"Authorization": "Bearer t0ken-value"}}),
    )
    .await;
    let state = eventually(
        "the refusal in the upstream's state",
        SECOND * 10,
        || async {
            let v = att.get_json("/api/v1/mcp/servers/hostile").await;
            let text = v["state"].to_string();
            text.contains("another origin").then_some(v)
        },
    )
    .await;
    let error = state["state"]["last_error"].as_str().expect("last_error");
    assert!(
        error.contains(&format!("`{origin}/messages?session_id=1`")) && error.contains("refused"),
        "{error}"
    );
    assert_eq!(state["state"]["initialized"], false, "{state}");
    assert_eq!(
        honest.fixture.state.handshakes.load(Ordering::SeqCst),
        0,
        "no POST reached the other origin"
    );
    assert_eq!(server.fixture.state.handshakes.load(Ordering::SeqCst), 0);
    drop(open_session);
}

/// `att mcp …` with `args`, run off the runtime's threads (the legacy server runs on them).
async fn att_mcp(att_url: String, args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_att"))
            .arg("mcp")
            .args(["--att-url", &att_url])
            .args(&args)
            .env_remove("ATT_API_TOKEN")
            .output()
            .expect("run att mcp")
    })
    .await
    .expect("att mcp ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn att_mcp_add_with_transport_sse_registers_a_legacy_server_the_cli_can_call() {
    let server = legacy_sse::serve("cli-sse", legacy_sse::Options::default()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let att = common::AttProcess::start(&dir.path().join("data"), &[]);
    let base = att.url("");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

    let out = att_mcp(
        base.clone(),
        &["add", "old", "--url", &server.url, "--transport", "sse"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = att_mcp(
        base.clone(),
        &["add", "x", "--url", &server.url, "--transport", "ws"],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ws"), "{}", text(&out.stderr));

    let result = eventually("a call through the CLI", SECOND * 10, || {
        let base = base.clone();
        async move {
            let out = att_mcp(base, &["call", "echo", "--args", r#"{"text": "cli"}"#]).await;
            out.status
                .success()
                .then(|| serde_json::from_slice::<Value>(&out.stdout).expect("JSON result"))
        }
    })
    .await;
    assert_eq!(
        result["structuredContent"],
        json!({"server": "cli-sse", "text": "cli"})
    );
    let out = att_mcp(base, &["servers"]).await;
    let listing = text(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("old") && l.contains("sse") && l.contains(&server.url)),
        "{listing}"
    );
}

#[tokio::test]
async fn an_sse_endpoint_nobody_listens_on_is_a_transport_error_saying_why() {
    let port = common::free_port();
    let failure = connect(
        json!({"name": "nobody", "url": format!("http://127.0.0.1:{port}/sse"), "transport": "sse"}),
    )
    .await
    .err()
    .expect("nothing listens");
    assert_eq!(failure.category(), ErrorCategory::TransportError);
    let text = message(&failure);
    assert!(
        text.starts_with("cannot open the SSE stream: ") && text.contains("refused"),
        "{text}"
    );
}
