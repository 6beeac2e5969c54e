//! att's own MCP endpoint `/mcp`, used by a real rmcp client, over real upstreams.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestAtt, eventually, serve_fixture};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
    ReadResourceRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceError, ServiceExt};
use serde_json::json;
use tokio::sync::mpsc;

/// A client that reports `tools/list_changed` ("tools"), progress ("progress TOKEN VALUE")
/// and log messages ("log DATA").
#[derive(Clone)]
pub(crate) struct Watcher(mpsc::UnboundedSender<String>);

impl ClientHandler for Watcher {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("test-client", "0"),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.0.send("tools".into());
    }

    async fn on_progress(
        &self,
        p: rmcp::model::ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let token = serde_json::to_value(&p.progress_token).unwrap_or_default();
        let _ = self.0.send(format!("progress {token} {}", p.progress));
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        p: rmcp::model::LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("log {}", p.data));
    }
}

pub(crate) async fn client(
    att: &TestAtt,
) -> (
    RunningService<RoleClient, Watcher>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(att.url("/mcp"));
    let c = Watcher(tx)
        .serve(transport)
        .await
        .expect("connects to att's /mcp");
    (c, rx)
}

pub(crate) async fn register(att: &TestAtt, body: serde_json::Value) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().expect("object")
}

#[tokio::test]
async fn a_client_on_mcp_lists_the_union_calls_through_failover_and_hears_list_changes() {
    let (primary, backup) = (
        serve_fixture("primary").await,
        serve_fixture("backup").await,
    );
    let att = TestAtt::start().await;
    register(
        &att,
        json!({"name": "primary", "url": primary.url, "priority": 1}),
    )
    .await;
    register(
        &att,
        json!({"name": "backup", "url": backup.url, "priority": 2}),
    )
    .await;
    let (c, mut changes) = client(&att).await;
    let info = c.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("att")
    );

    // The union: the two fixtures offer the same tools with the same schemas, so each is
    // one entry (replicas), routed by priority.
    let tools = eventually("the federated tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        (tools.iter().any(|t| t.name == "echo")).then_some(tools)
    })
    .await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "echo").count(),
        1,
        "replicas are one entry: {names:?}"
    );
    assert!(!names.contains(&"extra"));
    let r = c
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "hi"}))))
        .await
        .expect("echo through att");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "primary", "text": "hi"}))
    );

    // Failover: the primary fails every call; a read-only tool moves on to the backup.
    primary.fixture.state.sick.store(true, Ordering::SeqCst);
    let r = c
        .call_tool(
            CallToolRequestParams::new("read_only").with_arguments(args(json!({"text": "ro"}))),
        )
        .await
        .expect("read_only fails over");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "backup", "text": "ro"}))
    );
    // A caller's mistake comes back as the upstream's error, at once.
    let e = c
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("unknown tool");
    assert!(
        matches!(e, ServiceError::McpError(ref d) if d.code.0 == -32602),
        "{e:?}"
    );
    // Completion goes to a server owning the prompt: the backup, healthy, before the primary,
    // degraded by the failure above.
    let done = c
        .complete(rmcp::model::CompleteRequestParams::new(
            rmcp::model::Reference::for_prompt("greet"),
            rmcp::model::ArgumentInfo::new("name", "al"),
        ))
        .await
        .expect("completion through att");
    assert_eq!(done.completion.values, ["alice@backup", "albert@backup"]);
    // Resources route too.
    let read = c
        .read_resource(ReadResourceRequestParams::new("fixture://items/42"))
        .await;
    assert!(read.is_ok(), "{read:?}");

    // A tool list change upstream reaches the client as `tools/list_changed`, and the new
    // tool is listed and callable.
    primary.fixture.state.sick.store(false, Ordering::SeqCst);
    backup.fixture.state.sick.store(false, Ordering::SeqCst);
    // (Catalogs that arrived after the client connected were changes too: forget those.)
    while changes.try_recv().is_ok() {}
    c.call_tool(CallToolRequestParams::new("flip"))
        .await
        .expect("flip");
    // Each notification is followed by a look at the list: the one for the flip must come
    // (a late catalog of the backup may come first).
    loop {
        let heard = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await;
        let heard = heard.ok().flatten();
        if heard.as_deref().is_some_and(|h| h != "tools") {
            continue;
        }
        assert_eq!(heard.as_deref(), Some("tools"), "no tools/list_changed");
        let tools = c.list_all_tools().await.expect("list");
        if tools.iter().any(|t| t.name == "extra") {
            break;
        }
    }
    let r = c
        .call_tool(CallToolRequestParams::new("extra"))
        .await
        .expect("the new tool is callable");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    c.cancel().await.expect("close");
    att.server.shutdown().await;
}

#[tokio::test]
async fn mcp_refuses_foreign_hosts_and_origins_and_unknown_or_ended_sessions() {
    let att = TestAtt::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let post = |header: Option<(&'static str, &'static str)>| {
        let mut r = att
            .http
            .post(att.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some((name, value)) = header {
            r = r.header(name, value);
        }
        r.send()
    };
    // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 — by its Host, or by
    // its Origin when the browser keeps a loopback Host.
    let r = post(Some(("host", "evil.example"))).await.expect("post");
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = post(Some(("origin", "http://evil.example")))
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // A page served from loopback, and a client that sends no Origin, are welcome.
    let r = post(Some(("origin", "http://localhost:3000")))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let r = post(None).await.expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("mcp-session-id"));
    let session = r.headers()["mcp-session-id"]
        .to_str()
        .expect("id")
        .to_owned();
    // Ending a session answers 200 (SDK clients expect 200 or 204), then it is unknown.
    let r = att
        .http
        .delete(att.url("/mcp"))
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    let r = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
    // A session att never issued.
    let ping = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", "no-such-session")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .send()
        .await
        .expect("post");
    assert_eq!(ping.status(), 404);
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_call_the_client_cancels_on_mcp_is_cancelled_upstream() {
    use rmcp::model::ClientRequest;
    use rmcp::service::PeerRequestOptions;

    let upstream = serve_fixture("slowpoke").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "slowpoke", "url": upstream.url})).await;
    let (c, _changes) = client(&att).await;
    eventually("the federated tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "hang").then_some(())
    })
    .await;
    let calls_before = upstream.fixture.state.calls.load(Ordering::SeqCst);
    let handle = c
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
                CallToolRequestParams::new("hang"),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    // Once the upstream has the call, the client gives up on it.
    eventually(
        "the call reached the upstream",
        Duration::from_secs(10),
        || async {
            (upstream.fixture.state.calls.load(Ordering::SeqCst) > calls_before).then_some(())
        },
    )
    .await;
    handle
        .cancel(Some("changed my mind".into()))
        .await
        .expect("cancel sent");
    eventually(
        "the upstream saw the cancel",
        Duration::from_secs(10),
        || async { (upstream.fixture.state.cancelled.load(Ordering::SeqCst) == 1).then_some(()) },
    )
    .await;
    // The session still serves.
    let r = c
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "on"}))))
        .await
        .expect("echo after a cancel");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "slowpoke", "text": "on"}))
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn progress_and_log_messages_of_a_call_reach_the_client_that_made_it() {
    use rmcp::model::{CallToolRequest, ClientRequest, ServerResult};

    let upstream = serve_fixture("chatty").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "chatty", "url": upstream.url})).await;
    let (c, mut heard) = client(&att).await;
    eventually("the federated tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "slow").then_some(())
    })
    .await;
    while heard.try_recv().is_ok() {}
    // rmcp gives the request a progress token of its own; the handle says which.
    let params = CallToolRequestParams::new("slow").with_arguments(args(json!({"ms": 20})));
    let handle = c
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    let mine = serde_json::to_value(&handle.progress_token).expect("token");
    let reply = handle.await_response().await.expect("slow through att");
    let ServerResult::CallToolResult(r) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "chatty", "text": "slept 20 ms"}))
    );
    // Both arrive (in either order): the progress under the client's own token.
    let mut got = Vec::new();
    while got.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(10), heard.recv()).await;
        match next.ok().flatten() {
            Some(h) if h == "tools" => {}
            Some(h) => got.push(h),
            None => panic!("only {got:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            "log \"chatty is sleeping 20 ms\"".to_owned(),
            format!("progress {mine} 0.5")
        ]
    );
    att.server.shutdown().await;
}

/// A client that offers sampling, elicitation and roots, answering each with a canned reply
/// that names itself; every question it is asked is reported ("asked sampling", …).
#[derive(Clone)]
pub(crate) struct Answerer {
    name: &'static str,
    asked: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Answerer {
    fn get_info(&self) -> ClientConfig {
        let caps: ClientCapabilities = serde_json::from_value(json!({
            "sampling": {}, "elicitation": {"form": {}}, "roots": {}
        }))
        .expect("capabilities");
        ClientConfig::new(caps, Implementation::new(self.name, "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _ctx: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        let _ = self.asked.send("asked sampling".into());
        let question = serde_json::to_value(&params.messages).unwrap_or_default();
        Ok(serde_json::from_value(json!({
            "role": "assistant",
            "content": {"type": "text", "text": format!("{} answers {}", self.name, question[0]["content"]["text"])},
            "model": "test-model",
            "stopReason": "endTurn",
        }))
        .expect("result"))
    }

    async fn create_elicitation(
        &self,
        _params: rmcp::model::ElicitRequestParams,
        _ctx: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let _ = self.asked.send("asked elicitation".into());
        Ok(
            serde_json::from_value(json!({"action": "accept", "content": {"name": self.name}}))
                .expect("result"),
        )
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _ctx: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        let _ = self.asked.send("asked roots".into());
        Ok(serde_json::from_value(
            json!({"roots": [{"uri": format!("file:///{}", self.name), "name": self.name}]}),
        )
        .expect("result"))
    }

    #[allow(deprecated)]
    async fn on_resource_updated(
        &self,
        p: rmcp::model::ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.asked.send(format!("updated {}", p.uri));
    }
}

pub(crate) async fn answerer(
    att: &TestAtt,
    name: &'static str,
) -> (
    RunningService<RoleClient, Answerer>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(att.url("/mcp"));
    let c = Answerer { name, asked: tx }
        .serve(transport)
        .await
        .expect("connects to att's /mcp");
    (c, rx)
}

pub(crate) async fn call(
    peer: &rmcp::Peer<RoleClient>,
    tool: &str,
    arguments: serde_json::Value,
) -> rmcp::model::CallToolResult {
    peer.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// Sampling, elicitation and roots requests an upstream makes during a call reach the client
/// that made the call — over HTTP (the request rides the call's stream) and over stdio (the
/// only call in flight) — and its answers go back; a client that does not offer the
/// capability is not asked, and the upstream hears why.
#[tokio::test]
async fn requests_an_upstream_makes_during_a_call_are_asked_of_the_calling_client() {
    let http = serve_fixture("web").await;
    let att = TestAtt::start().await;
    let (alice, mut alice_asked) = answerer(&att, "alice").await;
    let (bob, mut bob_asked) = answerer(&att, "bob").await;
    let stdio = json!({"name": "local", "command": env!("CARGO_BIN_EXE_att-mcp-fixture"), "args": ["--name", "local"]});
    for (server, registration) in [
        ("web", json!({"name": "web", "url": http.url})),
        ("local", stdio),
    ] {
        // One upstream at a time, so that it is the one asking.
        for old in ["web", "local"] {
            let _ = att
                .http
                .delete(att.url(&format!("/api/v1/mcp/servers/{old}")))
                .send()
                .await;
        }
        register(&att, registration).await;
        eventually("the upstream's `ask`", Duration::from_secs(20), || async {
            let r = alice
                .peer()
                .call_tool(CallToolRequestParams::new("stats").with_arguments(args(json!({}))))
                .await
                .ok()?;
            (r.structured_content?["server"] == server).then_some(())
        })
        .await;
        for (who, peer, asked) in [
            ("alice", alice.peer(), &mut alice_asked),
            ("bob", bob.peer(), &mut bob_asked),
        ] {
            let r = call(peer, "ask", json!({"kind": "sampling"})).await;
            assert_ne!(r.is_error, Some(true), "{server}: {r:?}");
            let body = r.structured_content.as_ref().expect("structured");
            assert_eq!(body["server"], server);
            assert_eq!(body["answer"]["model"], "test-model");
            let text = body["answer"]["content"]["text"]
                .as_str()
                .unwrap_or_default();
            assert_eq!(text, format!("{who} answers \"a question from {server}\""));
            assert_eq!(asked.try_recv().ok().as_deref(), Some("asked sampling"));

            let r = call(peer, "ask", json!({"kind": "elicitation"})).await;
            let answer = &r.structured_content.as_ref().expect("structured")["answer"];
            assert_eq!(answer["action"], "accept", "{server}: {r:?}");
            assert_eq!(answer["content"]["name"], who);
            assert_eq!(asked.try_recv().ok().as_deref(), Some("asked elicitation"));

            let r = call(peer, "ask", json!({"kind": "roots"})).await;
            let answer = &r.structured_content.as_ref().expect("structured")["answer"];
            assert_eq!(answer["roots"][0]["name"], who, "{server}: {r:?}");
            assert_eq!(asked.try_recv().ok().as_deref(), Some("asked roots"));
        }

        // With bob's call in flight on the same upstream session, alice's call asks: over
        // HTTP the question rides alice's call's stream, so it reaches alice; over stdio
        // nothing says whose call it belongs to, and att does not guess.
        let stats = || async {
            let r = call(alice.peer(), "stats", json!({})).await;
            r.structured_content.expect("structured")["calls"]
                .as_u64()
                .expect("calls")
        };
        let before = stats().await;
        let bob_peer = bob.peer().clone();
        let hanging = tokio::spawn(async move { call(&bob_peer, "hang", json!({})).await });
        let mut polls = 0;
        eventually("bob's call upstream", Duration::from_secs(10), || {
            polls += 1;
            let polled = polls;
            async move { (stats().await > before + polled).then_some(()) }
        })
        .await;
        let r = call(alice.peer(), "ask", json!({"kind": "sampling"})).await;
        if server == "web" {
            assert_ne!(r.is_error, Some(true), "{r:?}");
            let text =
                r.structured_content.as_ref().expect("structured")["answer"]["content"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            assert!(text.starts_with("alice answers"), "{text}");
            assert_eq!(
                alice_asked.try_recv().ok().as_deref(),
                Some("asked sampling")
            );
        } else {
            assert_eq!(r.is_error, Some(true), "{r:?}");
            let text = serde_json::to_string(&r.content).unwrap_or_default();
            assert!(text.contains("2 client calls are in flight"), "{text}");
        }
        assert!(bob_asked.try_recv().is_err(), "bob was asked");
        hanging.abort();
    }

    // A client without the capabilities is not asked; the upstream gets att's reason.
    let (plain, _heard) = client(&att).await;
    let r = call(plain.peer(), "ask", json!({"kind": "sampling"})).await;
    assert_eq!(r.is_error, Some(true));
    let text = serde_json::to_string(&r.content).unwrap_or_default();
    assert!(
        text.contains("the calling client does not offer sampling"),
        "{text}"
    );
    att.server.shutdown().await;
}

/// The next thing heard that starts with `kind` (others are skipped).
async fn next_heard(rx: &mut mpsc::UnboundedReceiver<String>, kind: &str) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(h)) if h.starts_with(kind) => return h,
            Ok(Some(_)) => {}
            _ => panic!("nothing heard while waiting for {kind}"),
        }
    }
}

/// Clients subscribe through att: att holds one subscription upstream however many clients
/// want the resource, passes the upstream's updates to each subscribed client, subscribes
/// again on a new upstream session, and unsubscribes upstream when the last client leaves —
/// by `resources/unsubscribe` or by ending its session.
#[tokio::test]
#[allow(deprecated)] // resources/subscribe: legacy-only in 2026-07-28, current in 2025-11-25
async fn resource_subscriptions_are_held_upstream_once_and_updates_reach_the_subscribers() {
    use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
    const URI: &str = "fixture://greeting";

    let upstream = serve_fixture("res").await;
    let held = || {
        upstream
            .fixture
            .state
            .subscribers
            .lock()
            .map(|s| s.len())
            .unwrap_or(99)
    };
    let att = TestAtt::start().await;
    register(&att, json!({"name": "res", "url": upstream.url})).await;
    let (alice, mut alice_heard) = answerer(&att, "alice").await;
    let (bob, mut bob_heard) = answerer(&att, "bob").await;
    eventually(
        "the federated resources",
        Duration::from_secs(10),
        || async {
            let r = alice.list_all_resources().await.ok()?;
            r.iter().any(|r| r.uri == URI).then_some(())
        },
    )
    .await;

    alice
        .subscribe(SubscribeRequestParams::new(URI))
        .await
        .expect("alice subscribes");
    bob.subscribe(SubscribeRequestParams::new(URI))
        .await
        .expect("bob subscribes");
    bob.subscribe(SubscribeRequestParams::new(URI))
        .await
        .expect("bob subscribes twice");
    assert_eq!(held(), 1, "one subscription upstream for both clients");

    let r = call(alice.peer(), "touch", json!({"uri": URI})).await;
    assert_eq!(r.structured_content.expect("structured")["notified"], 1);
    assert_eq!(
        next_heard(&mut alice_heard, "updated").await,
        format!("updated {URI}")
    );
    assert_eq!(
        next_heard(&mut bob_heard, "updated").await,
        format!("updated {URI}")
    );

    // A new upstream session (a refresh) subscribes again.
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers/res/session/refresh"))
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), 200);
    call(alice.peer(), "touch", json!({"uri": URI})).await;
    assert_eq!(
        next_heard(&mut alice_heard, "updated").await,
        format!("updated {URI}")
    );
    // What the fixture holds now: the new session's subscription (the old one's went with it).
    upstream
        .fixture
        .state
        .subscribers
        .lock()
        .expect("lock")
        .retain(|(_, peer)| !peer.is_transport_closed());
    assert_eq!(held(), 1);

    // Bob leaves by unsubscribing: alice still holds it. Alice leaves by ending her session:
    // nobody holds it, and att unsubscribes upstream.
    bob.unsubscribe(UnsubscribeRequestParams::new(URI))
        .await
        .expect("bob unsubscribes");
    assert_eq!(held(), 1);
    alice.cancel().await.expect("alice's session ends");
    eventually(
        "the upstream unsubscribed",
        Duration::from_secs(10),
        || async { (held() == 0).then_some(()) },
    )
    .await;
    att.server.shutdown().await;
}

/// Every content type, `structuredContent` and `_meta` come through `/mcp` exactly as the
/// upstream sent them.
#[tokio::test]
async fn every_content_type_passes_through_unchanged() {
    let upstream = serve_fixture("rich").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "rich", "url": upstream.url})).await;
    let direct = ()
        .serve(StreamableHttpClientTransport::from_uri(
            upstream.url.clone(),
        ))
        .await
        .expect("direct client");
    let (via, _heard) = client(&att).await;
    let expected = call(direct.peer(), "all_content", json!({})).await;
    let got = eventually("the tool through att", Duration::from_secs(10), || async {
        via.peer()
            .call_tool(CallToolRequestParams::new("all_content").with_arguments(args(json!({}))))
            .await
            .ok()
    })
    .await;
    let (expected, got) = (
        serde_json::to_value(&expected).expect("json"),
        serde_json::to_value(&got).expect("json"),
    );
    assert_eq!(expected["content"].as_array().map(Vec::len), Some(6));
    assert_eq!(got, expected);
    att.server.shutdown().await;
}

/// `logging/setLevel` on `/mcp` filters the log messages relayed to that client.
#[tokio::test]
async fn a_client_log_level_filters_the_relayed_log_messages() {
    #[allow(deprecated)]
    use rmcp::model::{LoggingLevel, SetLevelRequestParams};

    let upstream = serve_fixture("chatty").await;
    let att = TestAtt::start().await;
    register(&att, json!({"name": "chatty", "url": upstream.url})).await;
    let (c, mut heard) = client(&att).await;
    eventually("the federated tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "slow").then_some(())
    })
    .await;
    // The fixture logs at `info`: with `warning` nothing is relayed, with `info` it is. The
    // log messages share one stream, so the first heard after both calls tells which were
    // sent.
    #[allow(deprecated)]
    for (level, ms) in [(LoggingLevel::Warning, 21), (LoggingLevel::Info, 22)] {
        c.set_level(SetLevelRequestParams::new(level))
            .await
            .expect("setLevel");
        call(c.peer(), "slow", json!({"ms": ms})).await;
    }
    assert_eq!(
        next_heard(&mut heard, "log").await,
        "log \"chatty is sleeping 22 ms\""
    );
    att.server.shutdown().await;
}

/// `[gateway] tool_prefix`: `always` exposes every tool as `<server>__<name>`, pinned to its
/// server; `never` refuses to start while two upstreams offer one name with different schemas,
/// and starts when the names are unique.
#[tokio::test]
async fn tool_prefix_always_pins_every_tool_and_never_refuses_conflicting_names() {
    use att::config::Config;
    use att_gateway::federation::PrefixMode;

    let (one, two) = (serve_fixture("one").await, serve_fixture("two").await);
    let spec = |name: &str, url: &str| -> att_gateway::upstream::UpstreamSpec {
        serde_json::from_value(json!({"name": name, "url": url})).expect("spec")
    };
    let att = TestAtt::start_with(|c| {
        c.gateway.tool_prefix = PrefixMode::Always;
        c.upstreams = vec![spec("one", &one.url), spec("two", &two.url)];
    })
    .await;
    let (c, _heard) = client(&att).await;
    let tools = eventually("both servers' tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        (tools.iter().filter(|t| t.name.ends_with("__echo")).count() == 2).then_some(tools)
    })
    .await;
    // Every name on the list is valid for the strictest model APIs
    // (`^[a-zA-Z0-9_-]{1,64}$`): att's own tools and every prefixed upstream name.
    let strict = |n: &str| {
        (1..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let bad: Vec<&str> = tools
        .iter()
        .map(|t| t.name.as_ref())
        .filter(|n| !strict(n))
        .collect();
    assert!(bad.is_empty(), "names a strict client refuses: {bad:?}");
    assert!(tools.iter().any(|t| t.name == "att_code_read"));
    // Every upstream tool is pinned; att's own tools (`att_*`) are att's, never prefixed.
    assert!(
        tools
            .iter()
            .filter(|t| !t.name.starts_with("att_"))
            .all(|t| t.name.starts_with("one__") || t.name.starts_with("two__")),
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    let r = call(c.peer(), "two__echo", json!({"text": "hi"})).await;
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "two", "text": "hi"}))
    );
    att.server.shutdown().await;

    // `never`: the same name with another schema on `two` stops att before it listens.
    two.fixture.state.alt_schema.store(true, Ordering::SeqCst);
    let data = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        upstreams: vec![spec("one", &one.url), spec("two", &two.url)],
        gateway: att::config::GatewayConfig {
            tool_prefix: PrefixMode::Never,
            ..Default::default()
        },
        ..Config::default()
    };
    let err = att::server::start(config.clone())
        .await
        .err()
        .expect("att refuses to start");
    assert_eq!(
        err.to_string(),
        "tool_prefix = \"never\" needs unique tool names, but: tool `echo` has different input schemas on one and two"
    );
    // Unique again: it starts, with plain names.
    two.fixture.state.alt_schema.store(false, Ordering::SeqCst);
    let att = att::server::start(config).await.expect("att starts");
    att.shutdown().await;
}

/// Opens a raw MCP session from `client` (a reqwest client, bound to some loopback address);
/// the status, the session id (if one was made) and the body.
pub(crate) async fn open_session(
    att: &TestAtt,
    client: &reqwest::Client,
) -> (u16, Option<String>, String) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let r = client
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .expect("POST /mcp");
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, session, r.text().await.expect("body"))
}

/// Posts `body` to `/mcp` on `session`: the status and the body.
async fn post_mcp(att: &TestAtt, session: Option<&str>, body: &str) -> (u16, String) {
    let mut req = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_owned());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let r = req.send().await.expect("POST /mcp");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test]
async fn mcp_sessions_are_bounded_per_client_and_in_all_and_idle_ones_end() {
    let att = TestAtt::start_with(|c| {
        c.http.mcp_max_sessions = 5;
        c.http.mcp_max_sessions_per_client = 3;
        c.http.mcp_session_idle = Duration::from_secs(1);
    })
    .await;
    let client = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .expect("client")
    };
    let (a, b) = (client([127, 0, 0, 1]), client([127, 0, 0, 2]));
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, session, body) = open_session(&att, &a).await;
        assert_eq!(status, 200, "{body}");
        held.push(session.expect("a session id"));
    }
    let (status, session, body) = open_session(&att, &a).await;
    assert_eq!((status, session), (429, None), "{body}");
    assert!(
        body.contains("mcp_max_sessions_per_client") && body.contains("-32000"),
        "{body}"
    );
    for _ in 0..2 {
        let (status, _, body) = open_session(&att, &b).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = open_session(&att, &b).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("mcp_max_sessions"), "{body}");

    // Ending a session frees its room; ending one that is not there is a 404.
    let end = |id: String| {
        att.http
            .delete(att.url("/mcp"))
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
    };
    assert_eq!(end(held[0].clone()).await.expect("DELETE").status(), 200);
    assert_eq!(end(held[0].clone()).await.expect("DELETE").status(), 404);
    assert_eq!(
        end("no-such-session".into())
            .await
            .expect("DELETE")
            .status(),
        404
    );
    let (status, _, body) = open_session(&att, &a).await;
    assert_eq!(status, 200, "{body}");

    // Idle sessions end, and their room comes back (touching a session would keep it alive,
    // so the wait only tries to open a new one).
    eventually("idle sessions ended", Duration::from_secs(20), || async {
        let (status, _, _) = open_session(&att, &b).await;
        (status == 200).then_some(())
    })
    .await;
    let (status, _) = post_mcp(
        &att,
        Some(&held[1]),
        r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
    )
    .await;
    assert_eq!(status, 404, "an idle session ended");
    att.server.shutdown().await;
}

#[tokio::test]
async fn malformed_mcp_messages_get_json_rpc_errors_not_http_ones() {
    let att = TestAtt::start().await;
    let (status, body) = post_mcp(&att, None, "{not json").await;
    assert_eq!(status, 400);
    assert!(body.contains("-32700"), "{body}");
    let (status, body) =
        post_mcp(&att, None, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("-32600"), "{body}");

    let (status, session, body) = open_session(&att, &att.http).await;
    assert_eq!(status, 200, "{body}");
    let session = session.expect("session");
    post_mcp(
        &att,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    for (request, what) in [
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":5}}"#,
            "tools/call",
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
            "tools/call",
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"logging/setLevel","params":{"level":"loudest"}}"#,
            "logging/setLevel",
        ),
    ] {
        let (status, body) = post_mcp(&att, Some(&session), request).await;
        assert_eq!(status, 200, "{request}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON-RPC answer");
        assert_eq!(answer["id"], 5, "{body}");
        assert_eq!(answer["error"]["code"], -32602, "{body}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(what)),
            "{body}"
        );
    }
    att.server.shutdown().await;
}

/// `att-mcp-fixture --http ADDR` as a real process; its endpoint URL.
fn fixture_process(name: &str, addr: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
        .args(["--name", name, "--http", addr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn fixture");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .trim()
        .strip_prefix("fixture listening on ")
        .unwrap_or_else(|| panic!("fixture did not start: {line:?}"))
        .to_owned();
    (child, url)
}

#[tokio::test]
async fn an_unreachable_upstream_leaves_the_mcp_tool_list_and_returns_when_it_is_back() {
    let (mut fixture, url) = fixture_process("flaky", "127.0.0.1:0");
    let addr = url
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix("/mcp"))
        .expect("address")
        .to_owned();
    // Short windows and checks every second: the fixture's absence is noticed in seconds.
    let att = TestAtt::start_with(|c| {
        c.gateway.retry_backoff = Duration::from_millis(50);
        c.gateway.retry_backoff_cap = Duration::from_millis(200);
    })
    .await;
    register(
        &att,
        json!({"name": "flaky", "url": url, "health_interval": "1s"}),
    )
    .await;
    let (c, mut changes) = client(&att).await;
    let has_echo = |listed: bool| {
        let c = &c;
        move || async move {
            let tools = c.list_all_tools().await.ok()?;
            (tools.iter().any(|t| t.name == "echo") == listed).then_some(())
        }
    };
    eventually("echo listed", Duration::from_secs(10), has_echo(true)).await;
    while changes.try_recv().is_ok() {}

    // Killed: after `unreachable_after` failed checks its tools leave the list, and the
    // client hears it.
    fixture.kill().expect("kill");
    fixture.wait().expect("reaped");
    eventually("echo gone", Duration::from_secs(20), has_echo(false)).await;
    assert_eq!(next_heard(&mut changes, "tools").await, "tools");
    let (_, v) = common::post(&att, "/api/v1/mcp/servers/flaky/health-check", json!({})).await;
    assert_eq!(v["state"]["status"], "unreachable", "{v}");

    // Back on the same address: listed again, and the client hears it.
    while changes.try_recv().is_ok() {}
    let (mut again, _) = fixture_process("flaky", &addr);
    eventually("echo back", Duration::from_secs(20), has_echo(true)).await;
    assert_eq!(next_heard(&mut changes, "tools").await, "tools");
    let r = c
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args(json!({"text": "back"}))))
        .await
        .expect("echo after the return");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "flaky", "text": "back"}))
    );
    c.cancel().await.expect("close");
    let _ = again.kill();
    let _ = again.wait();
    att.server.shutdown().await;
}
