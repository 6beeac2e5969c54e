//! Upstreams that speak only MCP 2026-07-28 (the fixture with `newer_only`: `initialize`
//! refused with `-32022`, `server/discover` and per-request metadata the way in), over
//! streamable HTTP and as a stdio child: att opens their sessions with `server/discover`,
//! lists their tools, routes calls to them, health-checks them and hears their list changes
//! on `subscriptions/listen` — and a server of the handshake era next to them keeps its
//! `initialize` session. What that version does per request reaches att's `/mcp` clients as
//! a handshake-era server's would: log messages asked for at the client's level (`_meta`
//! `logLevel`), `input_required` questions asked of the calling client and the call sent
//! again with its answers (passed on to a 2026-07-28 client, for `tools/call`, `prompts/get`
//! and `resources/read`, which retries with them), and the updates of subscribed resources (on att's
//! `subscriptions/listen`, followed again on a renewed session).

use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{self, TestAtt, eventually};

const LIMIT: Duration = Duration::from_secs(10);

/// `echo` through att, `preferred` first, until it answers; the answer.
async fn echo_via(att: &TestAtt, preferred: &str, text: &str) -> Value {
    let body =
        json!({"tool_name": "echo", "arguments": {"text": text}, "preferred_servers": [preferred]});
    eventually("echo is routable", LIMIT, || async {
        let (status, v) = common::post(att, "/api/v1/mcp/invoke/tool", body.clone()).await;
        (status == 200).then_some(v)
    })
    .await
}

#[tokio::test]
async fn an_http_upstream_of_2026_07_28_only_is_discovered_routed_and_health_checked() {
    let modern = common::serve_fixture("modern").await;
    modern
        .fixture
        .state
        .newer_only
        .store(true, Ordering::SeqCst);
    let classic = common::serve_fixture("classic").await;
    let att = TestAtt::start().await;
    for (name, url) in [("modern", &modern.url), ("classic", &classic.url)] {
        let (status, v) = common::post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": name, "url": url}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let v = echo_via(&att, "modern", "per request").await;
    assert_eq!(v["server"], "modern", "{v}");
    assert_eq!(
        v["result"]["structuredContent"],
        json!({"server": "modern", "text": "per request"}),
        "{v}"
    );
    let (status, v) =
        common::post(&att, "/api/v1/mcp/servers/modern/health-check", json!({})).await;
    assert_eq!(
        (status, &v["state"]["status"]),
        (200, &json!("healthy")),
        "{v}"
    );
    assert_eq!(v["state"]["protocol_version"], "2026-07-28", "{v}");
    assert!(
        modern.fixture.state.handshakes.load(Ordering::SeqCst) >= 1,
        "att discovered the server"
    );
    // Both servers' catalogs: the classic one's may still be on its way.
    eventually("`echo` listed for both servers", LIMIT, || async {
        let tools = att.get_json("/api/v1/mcp/tools").await;
        let echo = tools["items"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "echo")?
            .clone();
        let servers = echo["servers"].as_array()?.clone();
        (servers.contains(&json!("modern")) && servers.contains(&json!("classic"))).then_some(())
    })
    .await;
    // Its list changes reach att on the `subscriptions/listen` stream att opened.
    let body = json!({"tool_name": "flip", "arguments": {}, "preferred_servers": ["modern"]});
    let (status, v) = common::post(&att, "/api/v1/mcp/invoke/tool", body).await;
    assert_eq!((status, &v["server"]), (200, &json!("modern")), "{v}");
    eventually(
        "`extra` of the modern server in att's catalog",
        LIMIT,
        || async {
            let tools = att.get_json("/api/v1/mcp/tools").await;
            tools["items"]
                .as_array()?
                .iter()
                .any(|t| t["name"] == "extra" && t["servers"] == json!(["modern"]))
                .then_some(())
        },
    )
    .await;
    // The handshake-era server keeps its `initialize` session.
    let v = echo_via(&att, "classic", "handshake").await;
    assert_eq!(v["server"], "classic", "{v}");
    let v = att.get_json("/api/v1/mcp/servers/classic").await;
    assert_eq!(v["state"]["protocol_version"], "2025-11-25", "{v}");
}

#[tokio::test]
async fn a_stdio_upstream_of_2026_07_28_only_is_discovered_and_routed() {
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "modern-child", "command": env!("CARGO_BIN_EXE_att-mcp-fixture"),
               "args": ["--name", "modern-child", "--only-2026-07-28"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v = echo_via(&att, "modern-child", "over stdio").await;
    assert_eq!(v["server"], "modern-child", "{v}");
    // 2026-07-28 has no `ping`: the check asks `server/discover`.
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers/modern-child/health-check",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &v["state"]["status"]),
        (200, &json!("healthy")),
        "{v}"
    );
    assert_eq!(v["state"]["protocol_version"], "2026-07-28", "{v}");
}

/// A handshake-era client of att's `/mcp` that reports what it hears ("log DATA",
/// "updated URI", "asked elicitation") and answers elicitations when `answers`.
#[derive(Clone)]
struct Heard {
    heard: mpsc::UnboundedSender<String>,
    answers: bool,
}

impl ClientHandler for Heard {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities = if self.answers {
            serde_json::from_value(json!({"elicitation": {"form": {}}})).expect("capabilities")
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("heard", "0"))
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        p: rmcp::model::LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.heard.send(format!("log {}", p.data));
    }

    #[allow(deprecated)]
    async fn on_resource_updated(
        &self,
        p: rmcp::model::ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.heard.send(format!("updated {}", p.uri));
    }

    async fn create_elicitation(
        &self,
        params: rmcp::model::ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let message = serde_json::to_value(&params).unwrap_or_default()["message"].clone();
        let _ = self.heard.send(format!("asked elicitation {message}"));
        Ok(
            serde_json::from_value(json!({"action": "accept", "content": {"name": "ada"}}))
                .expect("result"),
        )
    }
}

/// A `/mcp` client of `att` once `tool` is listed there.
async fn heard(
    att: &TestAtt,
    answers: bool,
    tool: &str,
) -> (
    RunningService<RoleClient, Heard>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(att.url("/mcp"));
    let c = Heard { heard: tx, answers }
        .serve(transport)
        .await
        .expect("connects to att's /mcp");
    eventually("the federated tools", LIMIT, || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == tool).then_some(())
    })
    .await;
    (c, rx)
}

/// The next thing heard that starts with `kind`.
async fn next_heard(rx: &mut mpsc::UnboundedReceiver<String>, kind: &str) -> String {
    loop {
        match tokio::time::timeout(LIMIT, rx.recv()).await {
            Ok(Some(h)) if h.starts_with(kind) => return h,
            Ok(Some(_)) => {}
            _ => panic!("nothing heard while waiting for {kind}"),
        }
    }
}

/// `tool` with `arguments` on `/mcp`.
async fn call(
    c: &RunningService<RoleClient, Heard>,
    tool: &str,
    arguments: Value,
) -> Result<rmcp::model::CallToolResult, rmcp::ServiceError> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    c.peer()
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

/// A fixture of 2026-07-28 only, over HTTP, registered on a new att as `modern`.
async fn modern_upstream() -> (common::ServedFixture, TestAtt) {
    let modern = common::serve_fixture("modern").await;
    modern
        .fixture
        .state
        .newer_only
        .store(true, Ordering::SeqCst);
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "modern", "url": modern.url}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    (modern, att)
}

#[tokio::test]
async fn a_2026_only_upstream_is_asked_for_log_messages_at_the_calling_clients_level() {
    #[allow(deprecated)]
    use rmcp::model::{LoggingLevel, SetLevelRequestParams};

    let (_modern, att) = modern_upstream().await;
    let (c, mut heard) = heard(&att, false, "slow").await;
    // No level set: all of them, as a handshake-era server sends them.
    call(&c, "slow", json!({"ms": 20})).await.expect("slow");
    assert_eq!(
        next_heard(&mut heard, "log").await,
        "log \"modern is sleeping 20 ms\""
    );
    // The fixture logs at `info`: with `warning` it is not asked for, with `info` it is. The
    // log messages share one stream, so the first heard after both calls tells which came.
    #[allow(deprecated)]
    for (level, ms) in [(LoggingLevel::Warning, 21), (LoggingLevel::Info, 22)] {
        c.set_level(SetLevelRequestParams::new(level))
            .await
            .expect("setLevel");
        call(&c, "slow", json!({"ms": ms})).await.expect("slow");
    }
    assert_eq!(
        next_heard(&mut heard, "log").await,
        "log \"modern is sleeping 22 ms\""
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_2026_only_upstreams_input_required_is_asked_of_the_calling_client_and_the_call_sent_again()
 {
    let (modern, att) = modern_upstream().await;
    let (c, mut heard) = heard(&att, true, "ask").await;
    let before = modern.fixture.state.calls.load(Ordering::SeqCst);
    let r = call(&c, "ask", json!({"kind": "elicitation"}))
        .await
        .expect("ask");
    assert_eq!(
        next_heard(&mut heard, "asked").await,
        "asked elicitation \"modern needs a name\""
    );
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "modern",
                    "answer": {"action": "accept", "content": {"name": "ada"}}})),
        "{r:?}"
    );
    assert_eq!(
        modern.fixture.state.calls.load(Ordering::SeqCst) - before,
        2,
        "the call, then the call with the answer"
    );
    // A client that does not answer elicitations is not asked; the call says why.
    let (mute, _) = heard_again(&att).await;
    let e = call(&mute, "ask", json!({"kind": "elicitation"}))
        .await
        .expect_err("nobody to answer");
    assert!(e.to_string().contains("does not offer elicitation"), "{e}");
    // Through the HTTP API there is no client to ask.
    let body = json!({"tool_name": "ask", "arguments": {"kind": "elicitation"}});
    let (status, v) = common::post(&att, "/api/v1/mcp/invoke/tool", body).await;
    assert_ne!(status, 200, "{v}");
    assert!(v.to_string().contains("no client to ask"), "{v}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_2026_client_gets_the_upstreams_input_required_and_completes_the_call_by_retrying() {
    let (modern, att) = modern_upstream().await;
    let (c, mut heard) = discovered(&att).await;
    // Discovery answers with att's own server info and capabilities.
    let info = c.peer_info().expect("discovered");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("att")
    );
    let caps = serde_json::to_value(&info.capabilities).expect("json");
    assert_eq!(caps["resources"]["subscribe"], true, "{caps}");
    assert_eq!(caps["tools"]["listChanged"], true, "{caps}");
    eventually("the federated tools", LIMIT, || async {
        let tools = c.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "ask").then_some(())
    })
    .await;
    // List changes reach it on `subscriptions/listen`.
    let filter = rmcp::model::SubscriptionFilter::builder()
        .tools_list_changed()
        .build();
    let mut changes = c.peer().listen(filter).await.expect("listen");
    call_2026(&c, "flip").await;
    let change = tokio::time::timeout(LIMIT, changes.next())
        .await
        .expect("a list change within the limit")
        .expect("the stream");
    assert!(
        matches!(
            change,
            Some(rmcp::model::ServerNotification::ToolListChangedNotification(_))
        ),
        "{change:?}"
    );
    let before = modern.fixture.state.calls.load(Ordering::SeqCst);
    // rmcp's client fulfils `input_required` itself (its handler answers) and calls again.
    let arguments = json!({"kind": "elicitation"}).as_object().cloned();
    let r = c
        .call_tool(CallToolRequestParams::new("ask").with_arguments(arguments.unwrap_or_default()))
        .await
        .expect("ask, answered and retried by the client");
    assert_eq!(
        next_heard(&mut heard, "asked").await,
        "asked elicitation \"modern needs a name\""
    );
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "modern",
                    "answer": {"action": "accept", "content": {"name": "ada"}}})),
        "{r:?}"
    );
    assert_eq!(
        modern.fixture.state.calls.load(Ordering::SeqCst) - before,
        2
    );
    att.server.shutdown().await;
}

/// A client of 2026-07-28 alone on att's `/mcp` (it discovers att), that answers elicitations.
async fn discovered(
    att: &TestAtt,
) -> (
    RunningService<RoleClient, Heard>,
    mpsc::UnboundedReceiver<String>,
) {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};

    let (tx, heard) = mpsc::unbounded_channel();
    let c = Heard {
        heard: tx,
        answers: true,
    }
    .serve_with_lifecycle(
        StreamableHttpClientTransport::from_uri(att.url("/mcp")),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("discovers att's /mcp");
    (c, heard)
}

/// An `input_required` as att passes it on: the upstream's question under `answer`, and
/// att's own state (not the upstream's); the answers and state to retry with.
fn retry_with(asked: &rmcp::model::InputRequiredResult) -> (rmcp::model::InputResponses, String) {
    let v = serde_json::to_value(asked).expect("json");
    assert_eq!(v["resultType"], "input_required", "{v}");
    assert_eq!(
        v["inputRequests"]["answer"]["params"]["message"], "modern needs a name",
        "{v}"
    );
    let state = asked.request_state.clone().expect("a requestState");
    assert!(
        state.starts_with("att1."),
        "att's state, not the upstream's: {state}"
    );
    let answer = json!({"action": "accept", "content": {"name": "ada"}});
    ([("answer".to_owned(), answer)].into(), state)
}

#[tokio::test]
async fn a_2026_client_gets_input_required_for_prompts_get_and_resources_read_and_completes_them_by_retrying()
 {
    use rmcp::model::{
        GetPromptRequestParams, GetPromptResponse, ReadResourceRequestParams, ReadResourceResponse,
    };

    let (_modern, att) = modern_upstream().await;
    let (c, _heard) = discovered(&att).await;
    eventually("the prompt and the resource that ask", LIMIT, || async {
        let prompts = c.list_all_prompts().await.ok()?;
        let resources = c.list_all_resources().await.ok()?;
        (prompts.iter().any(|p| p.name == "ask")
            && resources.iter().any(|r| r.uri == "fixture://asked"))
        .then_some(())
    })
    .await;

    // prompts/get: the question, then — retried with the answer and the state — the prompt.
    let first = c
        .peer()
        .get_prompt_once(GetPromptRequestParams::new("ask"))
        .await
        .expect("prompts/get");
    let GetPromptResponse::InputRequired(asked) = first else {
        panic!("not input_required: {first:?}");
    };
    let (answers, state) = retry_with(&asked);
    let mut again = GetPromptRequestParams::new("ask");
    again.input_responses = Some(answers.clone());
    again.request_state = Some(state);
    let done = c.peer().get_prompt_once(again).await.expect("the retry");
    let GetPromptResponse::Complete(prompt) = done else {
        panic!("not the prompt: {done:?}");
    };
    let text = serde_json::to_string(&prompt.messages).expect("json");
    assert!(text.contains("Hello, ada, from modern"), "{text}");

    // resources/read: the same.
    let first = c
        .peer()
        .read_resource_once(ReadResourceRequestParams::new("fixture://asked"))
        .await
        .expect("resources/read");
    let ReadResourceResponse::InputRequired(asked) = first else {
        panic!("not input_required: {first:?}");
    };
    let (answers, state) = retry_with(&asked);
    let mut again = ReadResourceRequestParams::new("fixture://asked");
    again.input_responses = Some(answers);
    again.request_state = Some(state);
    let done = c.peer().read_resource_once(again).await.expect("the retry");
    let ReadResourceResponse::Complete(read) = done else {
        panic!("not the resource: {done:?}");
    };
    let text = serde_json::to_string(&read.contents).expect("json");
    assert!(text.contains("asked ada from modern"), "{text}");

    // A state att did not give (the upstream's own, say) is refused, not routed.
    let mut forged = GetPromptRequestParams::new("ask");
    forged.request_state = Some("asked prompt".to_owned());
    let e = c
        .peer()
        .get_prompt_once(forged)
        .await
        .expect_err("not att's state");
    assert!(e.to_string().contains("not one att gave"), "{e}");
    att.server.shutdown().await;
}

/// `tool` without arguments, by a client of any era.
async fn call_2026<S: rmcp::Service<RoleClient>>(c: &RunningService<RoleClient, S>, tool: &str) {
    c.peer()
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .expect("the call");
}

/// A client that offers nothing.
async fn heard_again(
    att: &TestAtt,
) -> (
    RunningService<RoleClient, Heard>,
    mpsc::UnboundedReceiver<String>,
) {
    heard(att, false, "ask").await
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe: what a handshake-era client of att says
async fn subscribed_resources_of_a_2026_only_upstream_are_updated_also_on_its_next_session() {
    use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
    const URI: &str = "fixture://greeting";

    // A stdio child: its next session is a new process, with no listen stream of the old.
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "modern-child", "command": env!("CARGO_BIN_EXE_att-mcp-fixture"),
               "args": ["--name", "modern-child", "--only-2026-07-28"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (c, mut heard) = heard(&att, false, "touch").await;
    c.subscribe(SubscribeRequestParams::new(URI))
        .await
        .expect("subscribes");
    let r = call(&c, "touch", json!({"uri": URI})).await.expect("touch");
    assert_eq!(r.structured_content.expect("structured")["notified"], 1);
    assert_eq!(
        next_heard(&mut heard, "updated").await,
        format!("updated {URI}")
    );
    let pid =
        |r: rmcp::model::CallToolResult| r.structured_content.unwrap_or_default()["pid"].clone();
    let first = pid(call(&c, "stats", json!({})).await.expect("stats"));
    // The child goes; the next session (a new child) follows the URI again.
    let _ = call(&c, "crash", json!({})).await;
    let r = eventually("a new child following the URI", LIMIT, || async {
        let r = call(&c, "touch", json!({"uri": URI})).await.ok()?;
        let s = r.structured_content?;
        (s["notified"] == 1).then_some(s)
    })
    .await;
    assert_eq!(r["server"], "modern-child");
    assert_ne!(
        pid(call(&c, "stats", json!({})).await.expect("stats")),
        first
    );
    assert_eq!(
        next_heard(&mut heard, "updated").await,
        format!("updated {URI}")
    );
    // Released, it is followed no more.
    c.unsubscribe(UnsubscribeRequestParams::new(URI))
        .await
        .expect("unsubscribes");
    let r = call(&c, "touch", json!({"uri": URI})).await.expect("touch");
    assert_eq!(r.structured_content.expect("structured")["notified"], 0);
    att.server.shutdown().await;
}
