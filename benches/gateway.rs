//! The gateway benchmark: the same `tools/call` (fixture `echo`) made directly with an rmcp
//! client, through att's `POST /api/v1/mcp/invoke/tool`, and by an rmcp client on att's own
//! `/mcp` endpoint, at 1 and 32 concurrent callers,
//! in one run against one fixture upstream over loopback HTTP.
//!
//! Also: `tools/list` on `/mcp` with 20 upstreams × 50 tools (the cached federated catalog)
//! against one direct `tools/list` of a 50-tool upstream; and failover to a backup.
//!
//! Run: `cargo bench --bench gateway` (prints a table; numbers go to todo/perf.md);
//! `BENCH_ROUTED_ONLY=1` stops after the routed-call tables.

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;

use std::sync::Arc;
use std::time::{Duration, Instant};

use att::config::Config;
use fixture::{CrashMode, Fixture};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

/// An upstream with 50 tools: 25 every such server offers (`shared_N`, one schema: replicas)
/// and 25 of its own (`sK_own_N`); counts the `tools/list` requests it answers.
#[derive(Clone)]
struct ManyTools {
    server: usize,
    lists: Arc<std::sync::atomic::AtomicU64>,
}

impl rmcp::ServerHandler for ManyTools {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _ctx: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let schema = json!({"type": "object", "properties": {"q": {"type": "string", "description": "what to look for"}, "limit": {"type": "integer"}}, "required": ["q"]});
        let schema = schema.as_object().cloned().unwrap_or_default();
        let tools = (0..50)
            .map(|n| {
                let name = if n < 25 {
                    format!("shared_{n}")
                } else {
                    format!("s{}_own_{n}", self.server)
                };
                rmcp::model::Tool::new(
                    name,
                    "A tool of the 20 × 50 benchmark, described in a sentence.",
                    schema.clone(),
                )
            })
            .collect();
        Ok(rmcp::model::ListToolsResult::with_all_items(tools))
    }
}

async fn serve_many_tools(server: usize, lists: Arc<std::sync::atomic::AtomicU64>) -> String {
    let handler = ManyTools { server, lists };
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(
            axum::serve::ListenerExt::tap_io(listener, |t| {
                let _ = t.set_nodelay(true);
            }),
            axum::Router::new().nest_service("/mcp", service),
        )
        .await
    });
    url
}

struct Stats {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn stats(mut lat: Vec<Duration>, wall: Duration) -> Stats {
    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        per_sec: lat.len() as f64 / wall.as_secs_f64(),
    }
}

/// Runs `calls` calls spread over `callers` tasks; each call is `f()`.
async fn run<F, Fut>(callers: usize, calls: usize, f: F) -> Stats
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(calls / callers);
                for _ in 0..calls / callers {
                    let t = Instant::now();
                    f().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::with_capacity(calls);
    for t in tasks {
        all.extend(t.await.expect("bench task"));
    }
    stats(all, t0.elapsed())
}

/// Starts the fixture binary over HTTP; returns the process and its URL.
fn spawn_fixture(name: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
        .args(["--http", "127.0.0.1:0", "--name", name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("fixture starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("fixture prints its address");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    (child, url)
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The upstream.
        let fixture = Fixture::new("bench", CrashMode::Flag);
        let service = StreamableHttpService::new(
            move || Ok(fixture.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(axum::serve::ListenerExt::tap_io(listener, |t| { let _ = t.set_nodelay(true); }), axum::Router::new().nest_service("/mcp", service)).await });

        // att, with the upstream registered. `BENCH_AUTH=key`: with a token configured and every
        // call made with an operator's API key; `BENCH_AUTH=jwt`: with `[auth.oidc]` (a local
        // issuer's JWK Set) and every call made with an operator's ES256 access token — to
        // compare with the default (open).
        let mode = std::env::var("BENCH_AUTH").unwrap_or_default();
        let (with_key, with_jwt) = (mode == "key", mode == "jwt");
        let issuer = match with_jwt {
            true => Some(BenchIssuer::start().await),
            false => None,
        };
        let data = tempfile::tempdir().expect("temp dir");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_owned(),
            log_level: "warn".into(),
            upstreams: vec![serde_json::from_value(json!({"name": "bench", "url": url})).expect("spec")],
            api_token: with_key.then(|| "bench-token-0123456789abcdef".into()),
            auth: att::config::AuthConfig { oidc: issuer.as_ref().map(BenchIssuer::config) },
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let key = match (with_key, &issuer) {
            (true, _) => Some(server.auth().create("bench", att::auth::Role::Operator, None).await.expect("key").text),
            (_, Some(issuer)) => Some(issuer.token()),
            _ => None,
        };
        let authed = key.is_some();
        println!(
            "auth: {}",
            match (with_key, with_jwt) {
                (true, _) => "on (an operator's API key on every call)",
                (_, true) => "on (an operator's JWT access token, ES256, on every call)",
                _ => "off (open, loopback)",
            }
        );
        let bearer = format!("Bearer {}", key.clone().unwrap_or_default());
        let authorized = move |r: reqwest::RequestBuilder| if authed { r.header("authorization", bearer.clone()) } else { r };
        let invoke_url = format!("http://{}/api/v1/mcp/invoke/tool", server.local_addr);
        let http = reqwest::Client::new();
        let body = json!({"tool_name": "echo", "arguments": {"text": "x"}}).to_string();
        // Wait until the upstream's catalog is routable.
        for _ in 0..1000 {
            let r = authorized(http.post(&invoke_url)).header("content-type", "application/json").body(body.clone()).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // The direct client.
        let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench", "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        let direct = Arc::new(
            info.serve(StreamableHttpClientTransport::from_config(StreamableHttpClientTransportConfig::with_uri(url.clone())))
                .await
                .expect("direct client"),
        );
        let args = json!({"text": "x"}).as_object().cloned().expect("object");
        // (c) an rmcp client on att's own MCP endpoint.
        let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench-mcp", "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        let via_mcp = Arc::new(
            info.serve(StreamableHttpClientTransport::from_config({
                let config = StreamableHttpClientTransportConfig::with_uri(format!("http://{}/mcp", server.local_addr));
                match &key {
                    Some(k) => config.auth_header(k.clone()),
                    None => config,
                }
            }))
            .await
            .expect("client on att's /mcp"),
        );

        // `BENCH_PROFILE=mcp`: only calls through /mcp at 32 callers for ~20 s (to profile).
        if std::env::var("BENCH_PROFILE").as_deref() == Ok("mcp") {
            let (m, a) = (via_mcp.clone(), args.clone());
            let s = run(32, 30000, move || {
                let (m, a) = (m.clone(), a.clone());
                async move {
                    m.call_tool(CallToolRequestParams::new("echo").with_arguments(a)).await.expect("call via /mcp");
                }
            })
            .await;
            println!("profile: /mcp at 32 callers: p50 {} µs, {:.0} calls/s", s.p50.as_micros(), s.per_sec);
            server.shutdown().await;
            return;
        }
        // The upstream actor's handled messages, from att's actor directory: a warm routed
        // call should cost it one (the outcome report), not a round trip as well.
        let actors_url = format!("http://{}/api/v1/actors", server.local_addr);
        let upstream_handled = || {
            let (h, u, auth) = (http.clone(), actors_url.clone(), authorized.clone());
            async move {
                let list: serde_json::Value = auth(h.get(&u)).send().await.expect("actors").json().await.expect("actors json");
                list["actors"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["name"] == "upstream:bench"))
                    .and_then(|x| x["messages_handled"].as_u64())
                    .expect("upstream:bench is listed")
            }
        };
        let handled_before = upstream_handled().await;
        let mut routed_calls = 0;
        println!("| callers | path | calls | p50 µs | p99 µs | calls/s |");
        println!("|---|---|---|---|---|---|");
        // Three rounds, alternating, so that the machine's drift shows as spread rather than bias.
        for (callers, calls) in [(1usize, 2000usize), (32, 8000)].repeat(3) {
            let d = direct.clone();
            let a = args.clone();
            let direct_stats = run(callers, calls, move || {
                let (d, a) = (d.clone(), a.clone());
                async move {
                    d.call_tool(CallToolRequestParams::new("echo").with_arguments(a)).await.expect("direct call");
                }
            })
            .await;
            let (h, u, b, auth) = (http.clone(), invoke_url.clone(), body.clone(), authorized.clone());
            let att_stats = run(callers, calls, move || {
                let (h, u, b, auth) = (h.clone(), u.clone(), b.clone(), auth.clone());
                async move {
                    let r = auth(h.post(&u)).header("content-type", "application/json").body(b).send().await.expect("att call");
                    assert!(r.status().is_success(), "{}", r.status());
                    r.bytes().await.expect("body");
                }
            })
            .await;
            let (m, a) = (via_mcp.clone(), args.clone());
            let mcp_stats = run(callers, calls, move || {
                let (m, a) = (m.clone(), a.clone());
                async move {
                    m.call_tool(CallToolRequestParams::new("echo").with_arguments(a)).await.expect("call via /mcp");
                }
            })
            .await;
            for (path, s) in [("direct", &direct_stats), ("via att /api", &att_stats), ("via att /mcp", &mcp_stats)] {
                println!(
                    "| {callers} | {path} | {calls} | {} | {} | {:.0} |",
                    s.p50.as_micros(),
                    s.p99.as_micros(),
                    s.per_sec
                );
            }
            let added = att_stats.p50.saturating_sub(direct_stats.p50);
            println!(
                "|   | **att adds (p50)** |   | {} ({:.2}× a direct p50) |   | throughput {:.0}% of direct |",
                added.as_micros(),
                added.as_secs_f64() / direct_stats.p50.as_secs_f64(),
                100.0 * att_stats.per_sec / direct_stats.per_sec
            );
            routed_calls += 2 * calls as u64;
            let added = mcp_stats.p50.saturating_sub(direct_stats.p50);
            println!(
                "|   | **att /mcp adds (p50)** |   | {} ({:.2}× a direct p50) |   | throughput {:.0}% of direct |",
                added.as_micros(),
                added.as_secs_f64() / direct_stats.p50.as_secs_f64(),
                100.0 * mcp_stats.per_sec / direct_stats.per_sec
            );
        }

        // Reports are casts: give the last ones a moment to be handled (bounded).
        let mut handled = upstream_handled().await - handled_before;
        for _ in 0..100 {
            if handled >= routed_calls {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            handled = upstream_handled().await - handled_before;
        }
        println!();
        println!(
            "upstream actor messages per routed call: {:.2} ({handled} for {routed_calls} calls via /api and /mcp)",
            handled as f64 / routed_calls as f64
        );

        // `BENCH_ROUTED_ONLY=1`: the routed-call tables alone (e.g. for the auth comparison).
        if std::env::var_os("BENCH_ROUTED_ONLY").is_some() {
            server.shutdown().await;
            return;
        }
        // tools/list on /mcp answers from the cached federated catalog.
        let t0 = Instant::now();
        let rounds = 200;
        for _ in 0..rounds {
            via_mcp.list_all_tools().await.expect("list");
        }
        let list_mcp = t0.elapsed() / rounds;
        let t0 = Instant::now();
        for _ in 0..rounds {
            direct.list_all_tools().await.expect("list");
        }
        let list_direct = t0.elapsed() / rounds;
        println!();
        println!("| tools/list (1 upstream) | mean µs |");
        println!("|---|---|");
        println!("| direct | {} |", list_direct.as_micros());
        println!("| via att /mcp (cached federated catalog) | {} |", list_mcp.as_micros());
        server.shutdown().await;

        // tools/list on /mcp with 20 upstreams × 50 tools: att answers from the cached
        // federated catalog; no upstream sees a `tools/list` while it is measured.
        let lists = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut upstreams = Vec::new();
        for i in 0..20 {
            let url = serve_many_tools(i, lists.clone()).await;
            upstreams.push(serde_json::from_value(json!({"name": format!("s{i}"), "url": url})).expect("spec"));
        }
        let data3 = tempfile::tempdir().expect("temp dir");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data3.path().to_owned(),
            log_level: "warn".into(),
            upstreams,
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench-list", "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        let many = info
            .serve(StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", server.local_addr)))
            .await
            .expect("client on att's /mcp");
        // The upstreams connect in the background: until every catalog is in. att lists its
        // own `att_*` tools beside the federated ones, so only the upstreams' are counted
        // (25 shared names, deduplicated, plus 25 of each server's own) and the total the
        // measured listing must return is whatever that full list holds then.
        let upstream_tools = 25 + 20 * 25;
        let mut waited = 0;
        let expected = loop {
            let tools = many.list_all_tools().await.expect("list");
            let theirs = tools.iter().filter(|t| !t.name.starts_with("att_")).count();
            if theirs == upstream_tools {
                break tools.len();
            }
            waited += 1;
            assert!(
                waited < 3000,
                "the federated catalog never reached {upstream_tools} upstream tools: {theirs} of {} listed, such as {:?}",
                tools.len(),
                tools.iter().take(5).map(|t| t.name.as_ref()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let one = serve_many_tools(99, Arc::new(std::sync::atomic::AtomicU64::new(0))).await;
        let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench-list", "0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        let direct_one = info.serve(StreamableHttpClientTransport::from_uri(one)).await.expect("direct client");
        let before = lists.load(std::sync::atomic::Ordering::SeqCst);
        let (mut via, mut direct_lat) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let t0 = Instant::now();
            let n = many.list_all_tools().await.expect("list").len();
            via.push(t0.elapsed());
            assert_eq!(n, expected);
            let t0 = Instant::now();
            direct_one.list_all_tools().await.expect("list");
            direct_lat.push(t0.elapsed());
        }
        let upstream_lists = lists.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(upstream_lists, 0, "tools/list on /mcp reached an upstream");
        let (v, d) = (stats(via, Duration::from_secs(1)), stats(direct_lat, Duration::from_secs(1)));
        println!();
        println!("| tools/list | tools | p50 µs | p99 µs |");
        println!("|---|---|---|---|");
        println!("| direct, one upstream of 50 tools | 50 | {} | {} |", d.p50.as_micros(), d.p99.as_micros());
        println!("| via att /mcp, 20 upstreams × 50 tools (cached; 0 upstream requests) | {expected} | {} | {} |", v.p50.as_micros(), v.p99.as_micros());
        server.shutdown().await;

        // Failover: a second att with two upstreams: `preferred` (priority 1), a fixture
        // process killed right before each measured call, so that its port refuses
        // connections while att still holds it healthy and initialized; and `backup`
        // (priority 2), the in-process fixture. Each measured call tries `preferred` first,
        // fails to connect, and completes on `backup`. Baseline: a direct call to `backup`,
        // made just before it.
        let data2 = tempfile::tempdir().expect("temp dir");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data2.path().to_owned(),
            log_level: "error".into(),
            upstreams: vec![serde_json::from_value(json!({"name": "backup", "url": url, "priority": 2})).expect("spec")],
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let base = format!("http://{}/api/v1/mcp", server.local_addr);
        let invoke_url = format!("{base}/invoke/tool");
        let rounds = 100;
        let (mut direct_lat, mut failover_lat) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (mut child, preferred) = spawn_fixture("preferred");
            let reg = json!({"name": "preferred", "url": preferred, "priority": 1, "idempotent_tools": ["echo"]});
            let r = http.post(format!("{base}/servers")).json(&reg).send().await.expect("register");
            assert_eq!(r.status(), 201);
            // Until att holds it healthy, initialized, checked and routable.
            for i in 0.. {
                let v: serde_json::Value =
                    http.get(format!("{base}/servers/preferred")).send().await.expect("get").json().await.expect("json");
                let st = &v["state"];
                if st["initialized"] == true
                    && st["status"] == "healthy"
                    && st["catalog"]["tools"].as_u64() > Some(0)
                    // its first health check (a ping right after the handshake) is done
                    && !st["last_checked_at"].is_null() {
                    break;
                }
                assert!(i < 2000, "preferred never became ready: {v}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            child.kill().expect("kill");
            child.wait().expect("reaped");

            let t0 = Instant::now();
            direct.call_tool(CallToolRequestParams::new("echo").with_arguments(args.clone())).await.expect("direct call");
            direct_lat.push(t0.elapsed());

            let t0 = Instant::now();
            let r = http.post(&invoke_url).header("content-type", "application/json").body(body.clone()).send().await.expect("att call");
            assert!(r.status().is_success(), "{}", r.status());
            let v: serde_json::Value = r.json().await.expect("json");
            failover_lat.push(t0.elapsed());
            assert_eq!(v["server"], "backup", "{v}");
            if v["attempts"][0]["server"] != "preferred" {
                let p: serde_json::Value =
                    http.get(format!("{base}/servers/preferred")).send().await.expect("get").json().await.expect("json");
                let e: serde_json::Value =
                    http.get(format!("{base}/events?limit=10")).send().await.expect("get").json().await.expect("json");
                panic!("preferred not tried: {v}\n{p}\n{e}");
            }
            assert_eq!(v["attempts"][0]["success"], false, "{v}");
        }
        let (d, f) = (stats(direct_lat, Duration::from_secs(1)), stats(failover_lat, Duration::from_secs(1)));
        println!();
        println!("| failover (1 caller) | rounds | p50 µs | p99 µs |");
        println!("|---|---|---|---|");
        println!("| direct to the backup | {rounds} | {} | {} |", d.p50.as_micros(), d.p99.as_micros());
        println!("| through att: preferred refuses, completed on the backup | {rounds} | {} | {} |", f.p50.as_micros(), f.p99.as_micros());
        println!("| **failover through att adds over direct (p50)** |   | {} |   |", f.p50.saturating_sub(d.p50).as_micros());
        server.shutdown().await;
    });
}

/// A local OAuth issuer for `BENCH_AUTH=jwt`: one ES256 key, its JWK Set served on 127.0.0.1.
struct BenchIssuer {
    url: String,
    key: ring::signature::EcdsaKeyPair,
}

impl BenchIssuer {
    const AUDIENCE: &'static str = "https://att.bench/mcp";

    async fn start() -> Self {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ALG, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ALG, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref(), &rng).expect("key pair");
        let p = key.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
                                    "x": b64(&p[1..33]), "y": b64(&p[33..])}]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        tokio::spawn(
            async move { axum::serve(att::http::listener::with_nodelay(listener), app).await },
        );
        Self { url, key }
    }

    fn config(&self) -> att::config::OidcConfig {
        att::config::OidcConfig {
            audience: Some(Self::AUDIENCE.into()),
            jwks_url: Some(format!("{}/jwks", self.url)),
            ..att::config::OidcConfig::new(self.url.clone())
        }
    }

    /// An operator's token, valid for an hour.
    fn token(&self) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"});
        let claims = json!({"iss": self.url, "aud": Self::AUDIENCE, "sub": "bench",
                            "att_role": "operator", "iat": now, "nbf": now - 5, "exp": now + 3600});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
