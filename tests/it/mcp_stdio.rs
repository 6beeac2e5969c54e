//! `att mcp stdio` spawned the way a desktop MCP client spawns it: an rmcp client on its
//! stdin/stdout, a real att process behind it, a real upstream behind att — and att
//! restarted under the bridge.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{AttProcess, eventually, serve_fixture};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest,
    Implementation, ProtocolVersion, ServerResult,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A desktop client: reports progress ("progress N"), log messages ("log …") and resource
/// updates ("updated URI"), and answers elicitations.
#[derive(Clone)]
struct Desktop(mpsc::UnboundedSender<String>);

impl ClientHandler for Desktop {
    fn get_info(&self) -> ClientConfig {
        let caps: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {"form": {}}})).expect("capabilities");
        ClientConfig::new(caps, Implementation::new("desktop", "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_progress(
        &self,
        p: rmcp::model::ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("progress {}", p.progress));
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        p: rmcp::model::LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("log {}", p.data));
    }

    async fn on_resource_updated(
        &self,
        p: rmcp::model::ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("updated {}", p.uri));
    }

    async fn create_elicitation(
        &self,
        _params: rmcp::model::ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let _ = self.0.send("asked elicitation".into());
        Ok(
            serde_json::from_value(json!({"action": "accept", "content": {"name": "desktop"}}))
                .expect("result"),
        )
    }
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().expect("object")
}

async fn call(
    c: &RunningService<RoleClient, Desktop>,
    tool: &'static str,
    arguments: Value,
) -> Result<Value, String> {
    let params = CallToolRequestParams::new(tool).with_arguments(args(arguments));
    let r = c
        .peer()
        .call_tool(params)
        .await
        .map_err(|e| e.to_string())?;
    Ok(r.structured_content.unwrap_or(Value::Null))
}

const URI: &str = "fixture://greeting";

/// The upstream touches [`URI`]; the client hears of it (bounded wait).
async fn updated(
    c: &RunningService<RoleClient, Desktop>,
    heard: &mut mpsc::UnboundedReceiver<String>,
) {
    while heard.try_recv().is_ok() {}
    let r = call(c, "touch", json!({"uri": URI})).await.expect("touch");
    assert!(r["notified"].as_u64() >= Some(1), "{r}");
    let want = format!("updated {URI}");
    loop {
        match tokio::time::timeout(Duration::from_secs(10), heard.recv()).await {
            Ok(Some(h)) if h == want => return,
            Ok(Some(_)) => {}
            _ => panic!("the client did not hear that {URI} changed"),
        }
    }
}

#[tokio::test]
async fn a_desktop_client_uses_att_through_mcp_stdio_and_survives_an_att_restart() {
    let upstream = serve_fixture("up").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        json!({"mcpServers": {"up": {"url": upstream.url}}}).to_string(),
    )
    .expect("write");
    let config = config.to_str().expect("utf-8").to_owned();
    let data = dir.path().join("data");
    let mut att = AttProcess::start(&data, &["--mcp-config", &config]);
    let base = att.url("");

    let mut bridge = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"));
    bridge
        .args(["mcp", "stdio", "--att-url", &base])
        .env_remove("RUST_LOG")
        .stderr(Stdio::inherit());
    let (transport, _stderr) = TokioChildProcess::builder(bridge)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn att mcp stdio");
    let (tx, mut heard) = mpsc::unbounded_channel();
    let c = Desktop(tx).serve(transport).await.expect("initialized");
    let info = c.peer().peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("att")
    );

    // att's tools and the upstream's, as on /mcp.
    let tools = eventually("the upstream's tools", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "slow").then_some(tools)
    })
    .await;
    assert!(tools.iter().any(|t| t.name == "att_project_list"));
    assert_eq!(
        call(&c, "echo", json!({"text": "hi"})).await,
        Ok(json!({"server": "up", "text": "hi"}))
    );

    // Progress and a log message of a call reach the client through the bridge.
    while heard.try_recv().is_ok() {}
    let params = CallToolRequestParams::new("slow").with_arguments(args(json!({"ms": 20})));
    let handle = c
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    let reply = handle.await_response().await.expect("slow");
    assert!(
        matches!(reply, ServerResult::CallToolResult(_)),
        "{reply:?}"
    );
    let mut got = Vec::new();
    while !(got.iter().any(|h: &String| h.starts_with("progress"))
        && got.iter().any(|h| h.starts_with("log")))
    {
        match tokio::time::timeout(Duration::from_secs(10), heard.recv()).await {
            Ok(Some(h)) => got.push(h),
            _ => panic!("heard only {got:?}"),
        }
    }

    // An elicitation att relays from the upstream is answered by the client.
    let r = call(&c, "ask", json!({"kind": "elicitation"}))
        .await
        .expect("ask");
    assert!(r.to_string().contains("desktop"), "{r}");

    // A subscription made through the bridge.
    #[allow(deprecated)]
    c.subscribe(rmcp::model::SubscribeRequestParams::new(URI))
        .await
        .expect("subscribes");
    updated(&c, &mut heard).await;

    // att restarts on the same address; the client's next call works on the new att, and
    // the subscription was made again.
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(30));
    drop(att);
    let listen = base.trim_start_matches("http://").to_owned();
    let _att = AttProcess::start_listening(&data, &listen, &["--mcp-config", &config], &[]);
    let after = eventually(
        "the upstream's tools on the new att",
        Duration::from_secs(10),
        || async {
            let r = reqwest::get(format!("{base}/api/v1/mcp/tools"))
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            body["items"]
                .as_array()?
                .iter()
                .any(|t| t["name"] == "echo")
                .then_some(())
        },
    );
    after.await;
    assert_eq!(
        call(&c, "echo", json!({"text": "again"})).await,
        Ok(json!({"server": "up", "text": "again"}))
    );
    updated(&c, &mut heard).await;
    c.cancel().await.expect("closes");
}

/// `att mcp stdio --profile NAME` serves the profile's view (`/mcp/NAME`), and a name that
/// cannot be a profile's is refused before anything is sent.
#[tokio::test]
async fn the_bridge_serves_a_profile_when_asked() {
    let upstream = serve_fixture("up").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("att.toml");
    std::fs::write(
        &file,
        format!(
            "[[upstreams]]\nname = \"up\"\nurl = \"{}\"\n[[profiles]]\nname = \"echo-only\"\ntools = [\"echo\"]\n",
            upstream.url
        ),
    )
    .expect("write");
    let att = AttProcess::start(
        &dir.path().join("data"),
        &["--config", file.to_str().expect("utf-8")],
    );
    let base = att.url("");
    let mut bridge = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"));
    bridge
        .args(["mcp", "stdio", "--profile", "echo-only", "--att-url", &base])
        .env_remove("RUST_LOG");
    let (transport, _stderr) = TokioChildProcess::builder(bridge)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn att mcp stdio --profile");
    let (tx, _heard) = mpsc::unbounded_channel();
    let c = Desktop(tx).serve(transport).await.expect("initialized");
    let tools = eventually("the profile's tool", Duration::from_secs(10), || async {
        let tools = c.list_all_tools().await.ok()?;
        (!tools.is_empty()).then_some(tools)
    })
    .await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo"]);
    c.cancel().await.ok();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_att"))
        .args(["mcp", "stdio", "--profile", "../keys", "--att-url", &base])
        .stdin(Stdio::null())
        .output()
        .expect("att");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a profile name"));
    assert!(out.stdout.is_empty(), "nothing but protocol on stdout");
}
