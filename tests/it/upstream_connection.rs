//! An upstream connection against the real fixture server, over both transports: results,
//! failure classification (the question failover depends on), and process hygiene.

use crate::common;

use std::time::Duration;

use att_gateway::upstream::connection::{self, Notice};
use att_gateway::upstream::{CallFailure, Decision, ErrorCategory, UpstreamSpec, decide};
use rmcp::model::{GetPromptResult, ReadResourceResult};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const FIXTURE: &str = env!("CARGO_BIN_EXE_att-mcp-fixture");

fn spec(v: Value) -> UpstreamSpec {
    serde_json::from_value(v).expect("valid spec")
}

fn args(v: Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

/// An in-process HTTP fixture; returns its MCP URL and the server task.
async fn http_fixture(name: &str) -> (String, tokio::task::JoinHandle<()>) {
    let served = common::serve_fixture(name).await;
    (served.url, served.task)
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn http_connection_calls_and_classifies_every_outcome() {
    let (url, server) = http_fixture("h1").await;
    let (tx, mut notices) = mpsc::unbounded_channel();
    let c = connection::connect(
        &spec(json!({"name": "h1", "url": url, "headers": {"X-Test": "1"}})),
        tx,
    )
    .await
    .expect("connects");
    assert_eq!(c.handshake.protocol_version, "2025-11-25");
    assert_eq!(c.handshake.server_info["name"], "h1");
    c.ping(SECOND).await.expect("ping");

    let r = c
        .call_tool("echo", args(json!({"text": "x"})), SECOND * 5)
        .await
        .expect("echo");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "h1", "text": "x"}))
    );
    let tool_error = c
        .call_tool("fail_tool", None, SECOND * 5)
        .await
        .expect("a tool error is a result");
    assert_eq!(tool_error.is_error, Some(true));

    let invalid = c
        .call_tool("echo", args(json!({})), SECOND * 5)
        .await
        .expect_err("invalid params");
    assert!(
        matches!(invalid, CallFailure::Rpc { code: -32602, .. }),
        "{invalid:?}"
    );
    assert_eq!(decide(&invalid, false), Decision::CallerError);

    let server_error = c
        .call_tool("fail_rpc", None, SECOND * 5)
        .await
        .expect_err("rpc error");
    assert!(
        matches!(server_error, CallFailure::Rpc { code: -32603, .. }),
        "{server_error:?}"
    );
    assert_eq!(decide(&server_error, false), Decision::OutcomeUnknown);
    assert_eq!(decide(&server_error, true), Decision::FailOver);

    let timeout = c
        .call_tool("hang", None, Duration::from_millis(150))
        .await
        .expect_err("deadline");
    assert!(
        matches!(timeout, CallFailure::Timeout { after_ms: 150 }),
        "{timeout:?}"
    );
    assert_eq!(timeout.category(), ErrorCategory::NetworkTimeout);

    let read = c
        .read_resource("fixture://greeting", None, SECOND * 5, None)
        .await
        .map(ReadResourceResult::try_from)
        .expect("read")
        .expect("a resource");
    assert_eq!(read.contents.len(), 1);
    let prompt = c
        .get_prompt(
            "greet",
            args(json!({"name": "ann"})),
            None,
            SECOND * 5,
            None,
        )
        .await
        .map(GetPromptResult::try_from)
        .expect("prompt")
        .expect("a prompt");
    assert_eq!(prompt.messages.len(), 1);

    let before = c.list_catalog(SECOND * 5).await.expect("catalog");
    let names = before.names();
    assert_eq!(
        names.tools.len(),
        13,
        "every page of tools: {:?}",
        names.tools
    );
    assert_eq!(names.resources, ["fixture://greeting"]);
    assert_eq!(names.resource_templates, ["fixture://items/{id}"]);
    assert_eq!(names.prompts, ["greet"]);
    assert!(before.tool_is_repeatable("read_only"));
    assert!(!before.tool_is_repeatable("echo"));
    assert_eq!(
        c.list_catalog(SECOND * 5).await.expect("catalog").hash,
        before.hash,
        "unchanged catalog, same hash"
    );

    c.call_tool("flip", None, SECOND * 5).await.expect("flip");
    let after = c.list_catalog(SECOND * 5).await.expect("catalog");
    assert_ne!(after.hash, before.hash);
    assert!(after.names().tools.contains(&"extra".to_owned()));
    let notice = tokio::time::timeout(SECOND * 10, notices.recv())
        .await
        .expect("notice arrives");
    assert_eq!(notice, Some(Notice::ToolsChanged));

    // The server goes away: the next call could not be sent, so failing over is safe.
    server.abort();
    let _ = server.await;
    let gone = c
        .call_tool("echo", args(json!({"text": "x"})), SECOND * 5)
        .await
        .expect_err("server gone");
    assert!(matches!(gone, CallFailure::NotSent { .. }), "{gone:?}");
    assert_eq!(decide(&gone, false), Decision::FailOver);
    c.close().await;
}

#[tokio::test]
async fn connecting_to_nothing_is_a_failure_before_sending() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let (tx, _rx) = mpsc::unbounded_channel();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let err = connection::connect(
        &spec(json!({"name": "none", "url": url, "init_timeout": 5})),
        tx,
    )
    .await
    .err()
    .expect("nothing listens");
    assert!(matches!(err, CallFailure::NotSent { .. }), "{err:?}");
}

use common::wait_dead;

fn alive(pid: u32) -> bool {
    common::alive(u64::from(pid))
}

#[tokio::test]
async fn stdio_connection_calls_reports_crashes_with_stderr_and_leaves_no_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    // A grandchild in the child's process group, to prove the whole group is killed.
    let script = format!(
        "sleep 1000 & echo $! > {}; exec {FIXTURE} --name s1",
        pidfile.display()
    );
    let s = spec(json!({"name": "s1", "command": "sh", "args": ["-c", script]}));
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = connection::connect(&s, tx).await.expect("connects");
    let r = c
        .call_tool("echo", args(json!({"text": "y"})), SECOND * 5)
        .await
        .expect("echo");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "s1", "text": "y"}))
    );
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(alive(grandchild));
    c.close().await;
    wait_dead(u64::from(grandchild)).await;

    // A crash mid-call: the outcome is unknown, the session is closed, stderr says why.
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = connection::connect(
        &spec(json!({"name": "s2", "command": FIXTURE, "args": ["--name", "s2"]})),
        tx,
    )
    .await
    .expect("connects");
    let crash = c
        .call_tool("crash", None, SECOND * 5)
        .await
        .expect_err("crashes");
    // The call that noticed the death carries the exit status and the stderr tail.
    let pid = c.pid().expect("stdio pid");
    match &crash {
        CallFailure::ConnectionLost(m) => assert!(
            m.contains(&format!("process {pid} exited with status 3"))
                && m.contains("crashing on request"),
            "{m}"
        ),
        other => panic!("expected a lost connection, got {other:?}"),
    }
    assert_eq!(decide(&crash, false), Decision::OutcomeUnknown);
    assert!(c.exit_reason().is_some_and(|r| r.contains("status 3")));
    for _ in 0..500 {
        if c.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.is_closed());
    let after = c
        .call_tool("echo", args(json!({"text": "z"})), SECOND)
        .await
        .expect_err("closed");
    match after {
        CallFailure::NotSent { message, .. } => assert!(
            message.contains("exited with status 3") && message.contains("crashing on request"),
            "{message}"
        ),
        other => panic!("expected not-sent, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stdio_server_that_never_answers_initialize_times_out_and_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("silent.pid");
    let script = format!(
        "echo $$ > {}; echo 'starting up' >&2; exec sleep 1000",
        pidfile.display()
    );
    let s = spec(
        json!({"name": "silent", "command": "sh", "args": ["-c", script], "init_timeout": 0.3}),
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = connection::connect(&s, tx).await.err().expect("times out");
    match &err {
        CallFailure::NotSent { message, category } => {
            assert_eq!(*category, ErrorCategory::NetworkTimeout);
            assert!(message.contains("initialize"), "{message}");
        }
        other => panic!("expected not-sent, got {other:?}"),
    }
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    wait_dead(u64::from(pid)).await;
}

/// A server may end a request's event stream before the reply (after a priming event with
/// an id and a `retry` delay) and let the client resume it with `Last-Event-ID`: the call gets
/// its reply from the resumed stream, and the session goes on serving.
#[tokio::test]
async fn a_reply_stream_the_server_ends_early_is_resumed_from_its_last_event() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    // The fixture, with the resumes it has answered counted (once a resume's response is
    // out, the resumed stream is attached: what the server sends then goes on it).
    let resumed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = resumed.clone();
    let served = common::serve_fixture_with("polled", |app| {
        app.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counter = counter.clone();
                async move {
                    let resume = request.headers().contains_key("last-event-id");
                    let response = next.run(request).await;
                    if resume {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    response
                }
            },
        ))
    })
    .await;
    let (url, sessions) = (served.url.clone(), served.sessions.clone());
    let (tx, _notices) = mpsc::unbounded_channel();
    let c = connection::connect(&spec(json!({"name": "polled", "url": url})), tx)
        .await
        .expect("connects");
    let state = served.fixture.state.clone();
    let call = c.call_tool("hold", None, SECOND * 30);
    let end_then_release = async {
        common::eventually("the call is held", SECOND * 10, || async {
            (state.in_flight.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        let open = sessions.sessions.read().await;
        assert_eq!(open.len(), 1, "one session");
        for session in open.values() {
            // The held call's stream is the only one open (the server numbers them from 0).
            for stream in 0..16 {
                let _ = session
                    .close_sse_stream(stream, Some(Duration::from_millis(20)))
                    .await;
            }
        }
        drop(open);
        common::eventually("the stream is resumed", SECOND * 10, || async {
            (resumed.load(Ordering::SeqCst) > 0).then_some(())
        })
        .await;
        state.release();
    };
    let (held, ()) = tokio::join!(call, end_then_release);
    let held = held.expect("the reply, from the resumed stream");
    assert_eq!(
        held.structured_content,
        Some(json!({"server": "polled", "text": "released"}))
    );
    let after = c
        .call_tool("echo", args(json!({"text": "after"})), SECOND * 5)
        .await
        .expect("the session still serves");
    assert_eq!(
        after.structured_content,
        Some(json!({"server": "polled", "text": "after"}))
    );
    c.close().await;
}

/// An upstream whose endpoint moved: `POST /old` answers `307` to `/mcp` (as a server mounted
/// at a path with a trailing slash does). rmcp's requests follow it (reqwest); att's own warm
/// requests go through its plain-HTTP client, which does not follow redirects: the redirected
/// call was not served, so it is sent again through reqwest, and the session's later calls go
/// that way too. Every call is answered once.
#[tokio::test]
async fn a_session_whose_posts_are_redirected_is_served_through_the_redirect() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let redirected = Arc::new(AtomicUsize::new(0));
    let counter = redirected.clone();
    let served = common::serve_fixture_with("moved", move |app| {
        app.route(
            "/old",
            axum::routing::any(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        axum::http::StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, "/mcp")],
                    )
                }
            }),
        )
    })
    .await;
    let url = served.url.replace("/mcp", "/old");
    let (tx, _notices) = mpsc::unbounded_channel();
    let c = connection::connect(&spec(json!({"name": "moved", "url": url})), tx)
        .await
        .expect("connects through the redirect");
    let calls_before = served.fixture.state.calls.load(Ordering::SeqCst);
    for text in ["a", "b", "c"] {
        let r = c
            .call_tool("echo", args(json!({"text": text})), SECOND * 5)
            .await
            .expect("echo through the redirect");
        assert_eq!(
            r.structured_content,
            Some(json!({"server": "moved", "text": text}))
        );
    }
    assert_eq!(
        served.fixture.state.calls.load(Ordering::SeqCst) - calls_before,
        3,
        "each call served once"
    );
    assert!(redirected.load(Ordering::SeqCst) > 0);
}
