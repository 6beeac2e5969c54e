//! Profiles (`/mcp/{profile}`) from outside, with a real rmcp client: a profile of two tools
//! lists exactly those, refuses a third, admits only its principals, and when an upstream
//! adds a matching tool its clients hear `list_changed` and see it.

use crate::common;

use std::time::Duration;

use common::{TestAtt, eventually, serve_fixture};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TOKEN: &str = "profiles-admin-token-0123456789";

/// A client that reports each `tools/list_changed`.
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<()>);

impl ClientHandler for Watcher {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("profile-client", "0"),
        )
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.0.send(());
    }
}

async fn key(att: &TestAtt, name: &str, role: &str) -> String {
    let r = att
        .http
        .post(att.url("/api/v1/keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": name, "role": role}))
        .send()
        .await
        .expect("POST /api/v1/keys");
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.expect("json")["key"]
        .as_str()
        .expect("key")
        .to_owned()
}

async fn names(c: &RunningService<RoleClient, Watcher>) -> Vec<String> {
    let mut names: Vec<String> = c
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

async fn call(c: &RunningService<RoleClient, Watcher>, tool: &str, args: Value) -> (bool, String) {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let r = c.peer().call_tool(params).await.expect("tools/call");
    (
        r.is_error != Some(true),
        serde_json::to_string(&r.content).unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_profile_shows_and_serves_only_its_tools_and_follows_its_own_changes() {
    let upstream = serve_fixture("up").await;
    let att = TestAtt::start_with(|c| {
        c.api_token = Some(TOKEN.into());
        c.profiles = vec![
            toml::from_str(
                "name = \"two\"\ntools = [\"echo\", \"read_*\", \"ext*\"]\nroles = [\"operator\"]",
            )
            .expect("profile"),
        ];
    })
    .await;
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "up", "url": upstream.url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let operator = key(&att, "op", "operator").await;
    let viewer = key(&att, "view", "viewer").await;

    let (tx, mut heard) = mpsc::unbounded_channel();
    let config = StreamableHttpClientTransportConfig::with_uri(att.url("/mcp/two"))
        .auth_header(operator.clone());
    let client = Watcher(tx)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connects to /mcp/two");
    // Exactly the profile's two tools: none of att's, none of the upstream's others.
    let listed = eventually("the upstream's tools", Duration::from_secs(10), || async {
        let n = names(&client).await;
        (!n.is_empty()).then_some(n)
    })
    .await;
    assert_eq!(listed, ["echo", "read_only"]);
    let (ok, text) = call(&client, "echo", json!({"text": "hi"})).await;
    assert!(ok && text.contains("hi"), "{text}");
    // A third tool is refused, though the upstream has it and the role would allow it.
    let (ok, text) = call(&client, "stats", json!({})).await;
    assert!(!ok && text.contains("not in the profile `two`"), "{text}");
    let (ok, text) = call(&client, "att_project_list", json!({})).await;
    assert!(!ok && text.contains("not in the profile"), "{text}");

    // The upstream adds `extra` (matching `ext*`): the profile's client hears it and sees it.
    while heard.try_recv().is_ok() {}
    let r = att
        .http
        .post(att.url("/api/v1/mcp/invoke/tool"))
        .bearer_auth(TOKEN)
        .json(&json!({"tool_name": "flip", "arguments": {}}))
        .send()
        .await
        .expect("flip");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("tools/list_changed on the profile's session")
        .expect("the client is up");
    assert_eq!(names(&client).await, ["echo", "extra", "read_only"]);

    // Only the principals the profile admits; no such profile is a 404.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "x", "version": "0"}}});
    for (path, credential, status) in [
        ("/mcp/two", &viewer, 403),
        ("/mcp/nope", &operator, 404),
        ("/mcp/two", &TOKEN.to_owned(), 200),
    ] {
        let r = att
            .http
            .post(att.url(path))
            .bearer_auth(credential)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .expect("initialize");
        assert_eq!(r.status(), status, "{path}");
    }
    // Refusals are in the audit log.
    let audit = att
        .get_json_with("/api/v1/audit?outcome=refused&limit=1000", TOKEN)
        .await;
    let text = audit.to_string();
    assert!(
        text.contains("`stats` is not in the profile `two`")
            && text.contains("does not admit `view`"),
        "{text}"
    );
    client.cancel().await.ok();
    att.server.shutdown().await;
}
