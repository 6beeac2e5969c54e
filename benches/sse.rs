//! The cost of the legacy HTTP+SSE transport towards an upstream: the same `echo` routed by
//! att (`POST /api/v1/mcp/invoke/tool`) to one fixture handler served over streamable HTTP and
//! to the same handler served by the tests' legacy SSE server (`tests/it/common/legacy_sse.rs`:
//! a `POST` per message answered 202, the reply as an event on the session's stream), one
//! caller, in one run; the ratio is SSE over streamable HTTP.
//!
//! Run: `cargo bench --bench sse` (prints a table; numbers go to todo/perf.md).

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;

#[allow(dead_code)]
#[path = "../tests/it/common/legacy_sse.rs"]
mod legacy_sse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use att::config::Config;
use fixture::{CrashMode, Fixture};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

/// Serves the fixture over streamable HTTP; returns its URL.
async fn serve_streamable() -> String {
    let fixture = Fixture::new("http", CrashMode::Flag);
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        Arc::new(LocalSessionManager::default()),
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

async fn p50_micros(http: &reqwest::Client, url: &str, server: &str, calls: usize) -> u128 {
    let body =
        json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": [server]});
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = http.post(url).json(&body).send().await.expect("call");
        let v: serde_json::Value = r.json().await.expect("body");
        assert_eq!(v["server"], server, "{v}");
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    lat[lat.len() / 2].as_micros()
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let streamable = serve_streamable().await;
        let legacy = legacy_sse::serve("sse", legacy_sse::Options::default()).await;
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().join("data"),
            log_level: "warn".into(),
            upstreams: vec![
                serde_json::from_value(json!({"name": "http", "url": streamable})).expect("spec"),
                serde_json::from_value(json!({"name": "sse", "url": legacy.url, "transport": "sse"}))
                    .expect("spec"),
            ],
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let url = format!("http://{}/api/v1/mcp/invoke/tool", server.local_addr);
        let http = reqwest::Client::new();
        // Both routable (catalogs arrive after start).
        for name in ["http", "sse"] {
            let body = json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": [name]});
            for _ in 0..1000 {
                let r = http.post(&url).json(&body).send().await.expect("call");
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if v["server"] == name {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        println!("| round | streamable HTTP p50 µs | legacy SSE p50 µs | ratio |");
        println!("|---|---|---|---|");
        for round in 1..=3 {
            let h = p50_micros(&http, &url, "http", 1000).await;
            let s = p50_micros(&http, &url, "sse", 1000).await;
            println!("| {round} | {h} | {s} | {:.2} |", s as f64 / h.max(1) as f64);
        }
        server.shutdown().await;
    });
}
