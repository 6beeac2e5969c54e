//! The fixture MCP server works as the gateway tests need it to: over stdio as a child
//! process and in-process over streamable HTTP, with every scripted behaviour.

use crate::common;

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
    ReadResourceRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Clone)]
struct Client {
    changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("att-test", "0"),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.changed.send(());
    }
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn call(
    c: &RunningService<RoleClient, Client>,
    tool: &str,
    a: Value,
) -> Result<rmcp::model::CallToolResult, ServiceError> {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args(a));
    tokio::time::timeout(Duration::from_secs(10), c.call_tool(params))
        .await
        .expect("the fixture answers within the bound")
}

fn rpc_code(e: ServiceError) -> i32 {
    match e {
        ServiceError::McpError(data) => data.code.0,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Every scripted tool but `crash` (which ends the server).
async fn exercise(
    c: &RunningService<RoleClient, Client>,
    changed: &mut mpsc::UnboundedReceiver<()>,
    name: &str,
) {
    let tools: Vec<String> = c
        .list_all_tools()
        .await
        .expect("tools")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    for t in [
        "echo",
        "fail_rpc",
        "fail_tool",
        "slow",
        "hang",
        "crash",
        "flip",
        "stats",
        "read_only",
    ] {
        assert!(tools.contains(&t.to_owned()), "{t} missing from {tools:?}");
    }
    let echo = call(c, "echo", json!({"text": "hi"})).await.expect("echo");
    assert_eq!(
        echo.structured_content,
        Some(json!({"server": name, "text": "hi"}))
    );
    assert_eq!(
        rpc_code(call(c, "echo", json!({})).await.expect_err("no text")),
        -32602
    );
    assert_eq!(
        rpc_code(call(c, "nope", json!({})).await.expect_err("unknown")),
        -32602
    );
    assert_eq!(
        rpc_code(call(c, "fail_rpc", json!({})).await.expect_err("rpc error")),
        -32603
    );
    assert_eq!(
        call(c, "fail_tool", json!({}))
            .await
            .expect("tool error")
            .is_error,
        Some(true)
    );
    let slow = call(c, "slow", json!({"ms": 20})).await.expect("slow");
    assert_eq!(
        slow.structured_content.expect("structured")["text"],
        "slept 20 ms"
    );

    let hang = CallToolRequestParams::new("hang");
    let hung = tokio::time::timeout(Duration::from_millis(200), c.call_tool(hang)).await;
    assert!(hung.is_err(), "hang must not answer");

    let flip = call(c, "flip", json!({})).await.expect("flip");
    assert_eq!(
        flip.structured_content.expect("structured")["extra_present"],
        true
    );
    tokio::time::timeout(Duration::from_secs(10), changed.recv())
        .await
        .expect("tools/list_changed arrives")
        .expect("channel open");
    let tools = c.list_all_tools().await.expect("tools");
    assert!(tools.iter().any(|t| t.name == "extra"));

    let read = c
        .read_resource(ReadResourceRequestParams::new("fixture://items/42"))
        .await
        .expect("template resource");
    assert_eq!(read.contents.len(), 1);
    let stats = call(c, "stats", json!({})).await.expect("stats");
    assert_eq!(
        stats.structured_content.expect("structured")["handshakes"],
        1
    );
}

/// Connects the test client over `transport`, within a bound.
async fn connect<T, E, A>(
    transport: T,
) -> (
    RunningService<RoleClient, Client>,
    mpsc::UnboundedReceiver<()>,
)
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let client = tokio::time::timeout(
        Duration::from_secs(20),
        Client { changed: tx }.serve(transport),
    )
    .await
    .expect("handshake within the bound")
    .expect("handshake");
    (client, rx)
}

#[tokio::test]
async fn fixture_over_stdio_does_everything_and_crash_ends_the_process() {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"));
    cmd.args(["--name", "stdio-one"]);
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn fixture");
    let (client, mut rx) = connect(transport).await;
    exercise(&client, &mut rx, "stdio-one").await;

    let crashed = call(&client, "crash", json!({}))
        .await
        .expect_err("the process is gone");
    assert!(
        matches!(crashed, ServiceError::TransportClosed),
        "{crashed:?}"
    );
}

#[tokio::test]
async fn fixture_in_process_over_http_does_everything() {
    let served = common::serve_fixture("http-one").await;
    let config = StreamableHttpClientTransportConfig::with_uri(served.url.clone());
    let (client, mut rx) = connect(StreamableHttpClientTransport::from_config(config)).await;
    exercise(&client, &mut rx, "http-one").await;
    served.task.abort();
}
