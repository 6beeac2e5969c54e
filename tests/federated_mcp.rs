//! att's own MCP endpoint `/mcp`, used by a real rmcp client, over real upstreams.

mod common;

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
struct Watcher(mpsc::UnboundedSender<String>);

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

async fn client(
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

async fn register(att: &TestAtt, body: serde_json::Value) {
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
async fn mcp_refuses_a_foreign_host_header_and_an_unknown_session() {
    let att = TestAtt::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let post = |host: Option<&'static str>| {
        let mut r = att
            .http
            .post(att.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(h) = host {
            r = r.header("host", h);
        }
        r.send()
    };
    // DNS rebinding: a page on evil.example that resolves to 127.0.0.1.
    let r = post(Some("evil.example")).await.expect("post");
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = post(None).await.expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("mcp-session-id"));
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
