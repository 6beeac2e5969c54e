//! Three att replicas on one PostgreSQL database behind a real HAProxy (round-robin, no
//! stickiness): a `/mcp` client keeps one session while its requests land on every replica,
//! an upstream registered through one replica is used through the others, a session is
//! bound to its principal on every replica, and a replica killed under load costs only the
//! calls in flight on it. Skipped (with a message) without PostgreSQL or haproxy.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use att::config::DatabaseUrl;
use att::store::postgres::test_database::TestDatabase;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::haproxy::Haproxy;
use crate::common::{AttProcess, TestAtt, eventually, serve_fixture};

const URI: &str = "fixture://greeting";

/// A client that reports `tools/list_changed` ("tools") and resource updates ("updated URI").
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<String>);

impl ClientHandler for Watcher {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("replica-client", "0"),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        let _ = self.0.send("tools".into());
    }

    #[allow(deprecated)]
    async fn on_resource_updated(
        &self,
        p: rmcp::model::ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("updated {}", p.uri));
    }
}

async fn watcher(
    url: String,
) -> (
    RunningService<RoleClient, Watcher>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let c = Watcher(tx)
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .expect("connects to /mcp through the balancer");
    (c, rx)
}

async fn replica(db: &TestDatabase, adjust: impl FnOnce(&mut att::config::Config)) -> TestAtt {
    let url = DatabaseUrl::try_from(db.url()).expect("database_url");
    TestAtt::start_with(move |c| {
        c.database_url = Some(url);
        adjust(c);
    })
    .await
}

fn addr(att: &TestAtt) -> SocketAddr {
    att.server.local_addr
}

async fn register(base: &str, name: &str, url: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/mcp/servers"))
        .json(&json!({"name": name, "url": url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

async fn echo(
    c: &RunningService<RoleClient, Watcher>,
    text: &str,
) -> Result<Value, rmcp::ServiceError> {
    let args = json!({"text": text})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let r = c
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await?;
    Ok(r.structured_content.unwrap_or_default())
}

async fn call(c: &RunningService<RoleClient, Watcher>, tool: &str, args: Value) -> Value {
    let args = args.as_object().cloned().unwrap_or_default();
    let r = c
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    r.structured_content.unwrap_or_default()
}

/// Waits (bounded) for the client to hear `what`.
async fn heard(rx: &mut mpsc::UnboundedReceiver<String>, what: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(h)) if h == what => return true,
            Ok(Some(_)) => {}
            _ => return false,
        }
    }
}

/// The nodes that wrote the newest invocation events (each event names its node).
async fn invoking_nodes(att: &TestAtt) -> BTreeSet<String> {
    let events = att
        .get_json("/api/v1/events?kind=invocation&limit=1000")
        .await;
    events["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["node"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// In-process replicas: a runtime whose workers serve them while HAProxy starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)] // resources/subscribe: current in 2025-11-25
async fn a_client_keeps_its_mcp_session_while_haproxy_spreads_it_over_three_replicas() {
    const TEST: &str =
        "replicas::a_client_keeps_its_mcp_session_while_haproxy_spreads_it_over_three_replicas";
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    if !Haproxy::available(TEST) {
        return;
    }
    let first = serve_fixture("first").await;
    let second = serve_fixture("second").await;
    let atts = [
        replica(&db, |_| {}).await,
        replica(&db, |_| {}).await,
        replica(&db, |_| {}).await,
    ];
    register(&atts[0].base, "first", &first.url).await;
    let lb = Haproxy::start(TEST, &atts.iter().map(addr).collect::<Vec<_>>()).expect("haproxy");
    let (client, mut heard_rx) = watcher(lb.url("/mcp")).await;
    eventually(
        "echo listed through the balancer",
        Duration::from_secs(20),
        || async {
            let tools = client.list_all_tools().await.ok()?;
            tools.iter().any(|t| t.name == "echo").then_some(())
        },
    )
    .await;
    // Every replica serves `echo` before the count starts (each has its own upstream session).
    for att in &atts {
        eventually("echo on each replica", Duration::from_secs(20), || async {
            let r = att
                .http
                .post(att.url("/api/v1/mcp/invoke/tool"))
                .json(&json!({"tool_name": "echo", "arguments": {"text": "ready"}}))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    }

    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(URI))
        .await
        .expect("subscribes through the balancer");

    // 1,000 calls and a listing every 50, each request balanced on its own: not one error.
    let mut errors = Vec::new();
    for i in 0..1000 {
        match echo(&client, &format!("call {i}")).await {
            Ok(v) if v["text"] == format!("call {i}") => {}
            Ok(v) => errors.push(format!("call {i}: {v}")),
            Err(e) => errors.push(format!("call {i}: {e}")),
        }
        if i % 50 == 0
            && let Err(e) = client.list_all_tools().await
        {
            errors.push(format!("list {i}: {e}"));
        }
    }
    assert!(
        errors.is_empty(),
        "{} session errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    let nodes = invoking_nodes(&atts[0]).await;
    assert_eq!(
        nodes.len(),
        3,
        "the calls were served by every replica: {nodes:?}"
    );

    // `list_changed` reaches the client's GET stream, wherever it is held: the upstream
    // changes its tools (each replica hears it on its own upstream session).
    call(&client, "flip", json!({})).await;
    assert!(
        heard(&mut heard_rx, "tools", Duration::from_secs(20)).await,
        "tools/list_changed reached the client"
    );
    // The subscription made through one replica is followed by the others: an update reaches
    // the client whichever replica holds its stream (an update sent before every replica
    // followed the record may be missed: touched until heard, bounded).
    let update = format!("updated {URI}");
    let mut delivered = false;
    for _ in 0..20 {
        call(&client, "touch", json!({"uri": URI})).await;
        if heard(&mut heard_rx, &update, Duration::from_millis(500)).await {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "the resource update reached the subscribed client"
    );

    // An upstream registered through one replica is used through the others.
    let registered = Instant::now();
    register(&atts[1].base, "second", &second.url).await;
    for att in [&atts[0], &atts[2]] {
        eventually("second used through another replica", Duration::from_secs(10), || async {
            let r = att
                .http
                .post(att.url("/api/v1/mcp/invoke/tool"))
                .json(&json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": ["second"]}))
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            (v["server"] == "second").then_some(())
        })
        .await;
    }
    eprintln!(
        "{TEST}: an upstream registered on one replica was used through both others after {:?}",
        registered.elapsed()
    );

    client.cancel().await.expect("session ends");
    drop(lb);
    for att in atts {
        att.server.shutdown().await;
    }
}

/// A raw MCP client: one reqwest client (keep-alive), an optional bearer key.
struct Raw {
    http: reqwest::Client,
    key: Option<String>,
}

impl Raw {
    fn new(key: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            key: key.map(str::to_owned),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        session: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        req
    }

    /// Opens a session at `url` (initialize + initialized); its id.
    async fn open(&self, url: &str) -> String {
        let id = self.initialize(url).await;
        self.initialized(url, &id).await;
        id
    }

    /// Sends `initialize` to `url`; the new session's id.
    async fn initialize(&self, url: &str) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}});
        let r = self
            .request(reqwest::Method::POST, url, None)
            .json(&init)
            .send()
            .await
            .expect("initialize");
        assert_eq!(r.status(), 200, "initialize");
        let id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("a session id");
        let _ = r.text().await;
        id
    }

    /// Sends session `id`'s `notifications/initialized` to `url`.
    async fn initialized(&self, url: &str, id: &str) {
        let r = self
            .request(reqwest::Method::POST, url, Some(id))
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .expect("initialized");
        assert_eq!(r.status(), 202, "initialized");
    }

    /// `tools/list` on `session` at `url`: the status and the body.
    async fn list(&self, url: &str, session: &str) -> (u16, String) {
        let r = self
            .request(reqwest::Method::POST, url, Some(session))
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .send()
            .await
            .expect("tools/list");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }
}

/// A session is its principal's on every replica: another principal presenting its id is
/// refused wherever it lands, the owner is served by a replica that never saw the session
/// before, and a `DELETE` through one replica ends it on all.
#[tokio::test]
async fn a_session_is_bound_to_its_principal_and_ends_on_every_replica() {
    const TEST: &str = "replicas::a_session_is_bound_to_its_principal_and_ends_on_every_replica";
    const TOKEN: &str = "bootstrap-admin-token-0123456789";
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    let a = replica(&db, |c| c.api_token = Some(TOKEN.into())).await;
    let mut keys = Vec::new();
    for name in ["alice", "mallory"] {
        let r = a
            .http
            .post(a.url("/api/v1/keys"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": name, "role": "operator"}))
            .send()
            .await
            .expect("POST /api/v1/keys");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        keys.push(v["key"].as_str().expect("key").to_owned());
    }
    let b = replica(&db, |c| c.api_token = Some(TOKEN.into())).await;
    let (alice, mallory) = (Raw::new(Some(&keys[0])), Raw::new(Some(&keys[1])));

    let id = alice.open(&a.url("/mcp")).await;
    for att in [&a, &b] {
        let (status, body) = mallory.list(&att.url("/mcp"), &id).await;
        assert_eq!(status, 403, "another principal is refused: {body}");
        assert!(body.contains("another principal"), "{body}");
    }
    let (status, body) = alice.list(&b.url("/mcp"), &id).await;
    assert_eq!(
        status, 200,
        "the owner is served by the other replica: {body}"
    );
    assert!(body.contains("\"tools\""), "{body}");

    let r = alice
        .request(reqwest::Method::DELETE, &b.url("/mcp"), Some(&id))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    for att in [&a, &b] {
        eventually(
            "the session is gone on each replica",
            Duration::from_secs(10),
            || async {
                let (status, _) = alice.list(&att.url("/mcp"), &id).await;
                (status == 404).then_some(())
            },
        )
        .await;
    }
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// The att that answered a client's `initialize` starts the session even when the client's
/// `notifications/initialized` went to another att (rmcp starts a session only on that
/// notification): a GET stream the client then holds on the first att hears list changes.
#[tokio::test]
async fn a_session_started_on_another_replica_hears_changes_where_it_was_opened() {
    const TEST: &str =
        "replicas::a_session_started_on_another_replica_hears_changes_where_it_was_opened";
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    let fixture = serve_fixture("first").await;
    let a = replica(&db, |_| {}).await;
    let b = replica(&db, |_| {}).await;
    register(&a.base, "first", &fixture.url).await;
    eventually("echo routable on a", Duration::from_secs(20), || async {
        let r = a
            .http
            .post(a.url("/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": "ready"}}))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let raw = Raw::new(None);
    let id = raw.initialize(&a.url("/mcp")).await;
    raw.initialized(&b.url("/mcp"), &id).await;
    let mut stream = raw
        .request(reqwest::Method::GET, &a.url("/mcp"), Some(&id))
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(stream.status(), 200, "the GET stream on the first att");
    let r = a
        .http
        .post(a.url("/api/v1/mcp/invoke/tool"))
        .json(&json!({"tool_name": "flip", "arguments": {}}))
        .send()
        .await
        .expect("flip");
    assert_eq!(r.status(), 200);
    hear_all(
        &mut stream,
        &["notifications/tools/list_changed"],
        "the GET stream held where the session was opened",
    )
    .await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// A client whose GET stream moves to another att (its att died, or the balancer sent the
/// reconnection elsewhere) resumes it there with `Last-Event-ID`: that att cannot replay
/// the first one's events, so the client is told to read again what may have changed (every
/// list, each subscribed resource) instead of silently missing it.
#[tokio::test]
async fn a_stream_resumed_on_another_replica_tells_the_client_what_to_read_again() {
    const TEST: &str =
        "replicas::a_stream_resumed_on_another_replica_tells_the_client_what_to_read_again";
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    let a = replica(&db, |_| {}).await;
    let b = replica(&db, |_| {}).await;
    let raw = Raw::new(None);
    let id = raw.open(&a.url("/mcp")).await;
    let mut first = raw
        .request(reqwest::Method::GET, &a.url("/mcp"), Some(&id))
        .send()
        .await
        .expect("GET /mcp on a");
    assert_eq!(first.status(), 200, "the GET stream on a");
    let _ = tokio::time::timeout(Duration::from_secs(5), first.chunk()).await;
    drop(first);
    let mut resumed = raw
        .request(reqwest::Method::GET, &b.url("/mcp"), Some(&id))
        .header("last-event-id", "3")
        .send()
        .await
        .expect("GET /mcp on b");
    assert_eq!(resumed.status(), 200, "the resumed stream on b");
    hear_all(
        &mut resumed,
        &[
            "notifications/tools/list_changed",
            "notifications/resources/list_changed",
            "notifications/prompts/list_changed",
        ],
        "the resumed stream on b",
    )
    .await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// One of three replicas is killed (SIGKILL) while four workers call through the balancer —
/// events posted, tools invoked, and a `/mcp` session calling: every call succeeds but those
/// in flight on the dead replica (at most one per worker), the `/mcp` session goes on through
/// the survivors, and every event the cluster acknowledged (201 with its id) is in the log.
#[tokio::test]
async fn a_replica_killed_under_load_costs_only_the_calls_in_flight_on_it() {
    const TEST: &str = "replicas::a_replica_killed_under_load_costs_only_the_calls_in_flight_on_it";
    const WORKERS: usize = 4;
    const PER_WORKER: usize = 150;
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    if !Haproxy::available(TEST) {
        return;
    }
    let upstream = serve_fixture("kill").await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let env = [("ATT_DATABASE_URL", db.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut atts: Vec<AttProcess> = dirs
        .iter()
        .map(|d| AttProcess::start_with_env(&d.path().join("data"), &[], &env))
        .collect();
    register(&format!("http://{}", atts[0].addr), "kill", &upstream.url).await;
    let lb =
        Haproxy::start(TEST, &atts.iter().map(|a| a.addr).collect::<Vec<_>>()).expect("haproxy");
    let http = reqwest::Client::new();
    for att in &atts {
        eventually("echo on each replica", Duration::from_secs(20), || async {
            let r = http
                .post(att.url("/api/v1/mcp/invoke/tool"))
                .json(&json!({"tool_name": "echo", "arguments": {"text": "ready"}}))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    }
    let (client, _heard) = watcher(lb.url("/mcp")).await;

    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (http, base, done) = (http.clone(), lb.url(""), done.clone());
        workers.push(tokio::spawn(async move {
            // (acknowledged event ids, failures)
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            for i in 0..PER_WORKER {
                let outcome = if i % 2 == 0 {
                    http.post(format!("{base}/api/v1/events"))
                        .json(&json!({"kind": "test.load", "correlation_id": "kill-run", "data": {"w": w, "i": i}}))
                        .send()
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| if r.status() == 201 { Ok(Some(r)) } else { Err(r.status().to_string()) })
                } else {
                    http.post(format!("{base}/api/v1/mcp/invoke/tool"))
                        .json(&json!({"tool_name": "echo", "arguments": {"text": "load"}}))
                        .send()
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| if r.status() == 200 { Ok(None) } else { Err(r.status().to_string()) })
                };
                match outcome {
                    Ok(Some(r)) => {
                        let v: Value = r.json().await.unwrap_or_default();
                        acked.push(v["id"].as_i64().expect("an acknowledged event has an id"));
                    }
                    Ok(None) => {}
                    Err(e) => failed.push(format!("worker {w} call {i}: {e}")),
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (acked, failed)
        }));
    }
    // The `/mcp` client calls meanwhile; the replica dies a third of the way through.
    let mut mcp_failed = Vec::new();
    let mut killed = false;
    let mut i = 0;
    while done.load(std::sync::atomic::Ordering::SeqCst) < WORKERS * PER_WORKER {
        if !killed && done.load(std::sync::atomic::Ordering::SeqCst) >= WORKERS * PER_WORKER / 3 {
            atts[2].signal(libc::SIGKILL);
            killed = true;
        }
        if let Err(e) = echo(&client, "mcp").await {
            mcp_failed.push(format!("mcp call {i}: {e}"));
        }
        i += 1;
    }
    assert!(killed, "the replica was killed under load");
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    for w in workers {
        let (a, f) = w.await.expect("worker");
        acked.extend(a);
        failed.extend(f);
    }
    eprintln!(
        "{TEST}: {} worker calls failed of {}, {} /mcp calls failed of {i}: {:?} {:?}",
        failed.len(),
        WORKERS * PER_WORKER,
        mcp_failed.len(),
        &failed[..failed.len().min(5)],
        &mcp_failed[..mcp_failed.len().min(5)],
    );
    assert!(
        failed.len() <= WORKERS,
        "only calls in flight on the dead replica fail"
    );
    assert!(
        mcp_failed.len() <= 1,
        "the /mcp session goes on through the survivors"
    );
    // Every acknowledged event is in the log, read through a survivor.
    let events: Value = http
        .get(atts[0].url("/api/v1/events?correlation_id=kill-run&limit=1000"))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let logged: BTreeSet<i64> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    let lost: Vec<&i64> = acked.iter().filter(|id| !logged.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    assert!(acked.len() >= WORKERS * PER_WORKER / 2 - WORKERS);
    client.cancel().await.ok();
    drop(lb);
    atts.truncate(2);
}

/// Reads the SSE `stream` until every one of `wanted` was in it (within 20 s); panics naming
/// `what` and what it heard otherwise.
async fn hear_all(stream: &mut reqwest::Response, wanted: &[&str], what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !wanted.iter().all(|w| seen.contains(w)) {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("{what} did not carry all of {wanted:?}; heard: {seen:?}"),
        }
    }
}
