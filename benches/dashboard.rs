//! The dashboard's pages with 1,000 upstreams registered (issue 18): time to first byte
//! (p50 and p95 of sequential requests) and page weight (the HTML's bytes; the three assets
//! are fetched once and cached for a year), against `GET /api/v1/health` as the floor.
//!
//! One upstream is a real fixture (its catalog feeds the catalog and "try it" pages); the
//! other 999 point at a closed port, so they fail, back off and write status events, as a
//! large, partly broken fleet does.
//!
//! Also a project (a git repository of 20 commits) for the projects pages, and the try-it
//! pages of a resource and a prompt.
//!
//! Run: `cargo bench --bench dashboard` (numbers go to todo/perf.md). `BENCH_REQUESTS=N`
//! changes the requests per page (default 50).

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;

use std::time::{Duration, Instant};

use att::config::Config;
use fixture::{CrashMode, Fixture};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

const UPSTREAMS: usize = 1000;

async fn serve_fixture() -> String {
    let fixture = Fixture::new("fixture-0", CrashMode::Flag);
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        std::sync::Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).await;
    });
    url
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Registers project `bench` at `dir`: a git repository of 20 commits.
async fn project(http: &reqwest::Client, base: &str, dir: &std::path::Path) {
    let repo = git2::Repository::init(dir).expect("git init");
    let sig = git2::Signature::now("bench", "bench@example.com").expect("signature");
    let mut parent: Option<git2::Oid> = None;
    for i in 0..20 {
        std::fs::write(dir.join(format!("file-{i}.txt")), format!("line {i}\n")).expect("write");
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.write().expect("index write");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let parents: Vec<git2::Commit<'_>> = parent
            .map(|p| repo.find_commit(p).expect("parent"))
            .into_iter()
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = repo
            .commit(
                Some("HEAD"),
                &sig,
                &sig,
                &format!("commit {i}"),
                &tree,
                &refs,
            )
            .expect("commit");
        parent = Some(id);
    }
    let r = http
        .post(format!("{base}/api/v1/projects"))
        .json(&json!({"name": "bench", "path": dir}))
        .send()
        .await
        .expect("project");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

fn percentile(v: &mut [Duration], q: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * q) as usize]
}

/// p50 and p95 time to first byte, and the body's bytes.
async fn measure(http: &reqwest::Client, url: &str, n: usize) -> (Duration, Duration, usize) {
    let mut ttfb = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t0 = Instant::now();
        let r = http.get(url).send().await.expect("GET");
        ttfb.push(t0.elapsed());
        assert!(r.status().is_success(), "{url}: {}", r.status());
        bytes = r.bytes().await.expect("body").len();
    }
    (
        percentile(&mut ttfb, 0.5),
        percentile(&mut ttfb, 0.95),
        bytes,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let n: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let data = tempfile::tempdir().expect("data dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    let server = att::server::start(config).await.expect("att starts");
    let base = format!("http://{}", server.local_addr);
    let http = reqwest::Client::new();
    let fixture = serve_fixture().await;
    let dead = format!("http://127.0.0.1:{}/mcp", closed_port());
    let t0 = Instant::now();
    for i in 0..UPSTREAMS {
        let url = if i == 0 { &fixture } else { &dead };
        let r = http
            .post(format!("{base}/api/v1/mcp/servers"))
            .json(&json!({"name": format!("up-{i:04}"), "url": url}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
    }
    println!("registered {UPSTREAMS} upstreams in {:?}", t0.elapsed());
    // Let the fleet settle: the fixture's catalog is in, the dead ones have failed once.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tools: serde_json::Value = http
            .get(format!("{base}/api/v1/mcp/tools"))
            .send()
            .await
            .expect("tools")
            .json()
            .await
            .expect("json");
        if tools["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fixture's catalog never came"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events: serde_json::Value = http
        .get(format!("{base}/api/v1/events?limit=1000"))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    println!(
        "events in the log (newest 1000 counted): {}",
        events["events"].as_array().map_or(0, Vec::len)
    );
    // A project with a git history, for the projects pages.
    let repo_dir = tempfile::tempdir().expect("repo dir");
    project(&http, &base, repo_dir.path()).await;

    let pages = [
        ("GET /api/v1/health (floor)", "/api/v1/health"),
        ("GET /api/v1/actors (the tree as JSON)", "/api/v1/actors"),
        ("overview /", "/"),
        ("gateway /gateway", "/gateway"),
        ("gateway page 20", "/gateway?page=20"),
        ("gateway, name search", "/gateway?q=up-09&status="),
        (
            "upstreams fragment (live refresh)",
            "/ui/fragments/upstreams?page=1",
        ),
        (
            "catalog search fragment",
            "/ui/fragments/catalog?kind=tools&q=e",
        ),
        ("try it /gateway/tools/echo", "/gateway/tools/echo"),
        (
            "try a resource /gateway/resources/…",
            "/gateway/resources/fixture%3A%2F%2Fgreeting",
        ),
        (
            "try a prompt /gateway/prompts/greet",
            "/gateway/prompts/greet",
        ),
        ("actors /actors", "/actors"),
        ("actor trace /actors/events", "/actors/events"),
        ("releases /releases", "/releases"),
        ("services /services", "/services"),
        ("projects /projects", "/projects"),
        ("project /projects/bench (20 commits)", "/projects/bench"),
    ];
    // Warm every page once (first-touch allocations, connection).
    for (_, path) in pages {
        measure(&http, &format!("{base}{path}"), 1).await;
    }
    let mut floor = Duration::ZERO;
    println!("\n| page | TTFB p50 | TTFB p95 | × health p50 | HTML bytes |\n|---|---|---|---|---|");
    for (label, path) in pages {
        let (p50, p95, bytes) = measure(&http, &format!("{base}{path}"), n).await;
        if floor.is_zero() {
            floor = p50;
        }
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.1} | {bytes} |",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            p50.as_secs_f64() / floor.as_secs_f64()
        );
    }
    let mut assets = 0;
    for a in ["htmx.min.js", "dashboard.js", "dashboard.css"] {
        let r = http
            .get(format!("{base}/assets/{a}"))
            .send()
            .await
            .expect("asset");
        assets += r.bytes().await.expect("body").len();
    }
    println!("\nassets (once, cached a year): {assets} bytes");
    server.shutdown().await;
}
