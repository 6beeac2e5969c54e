//! The cost of the legacy HTTP+SSE transport towards an upstream: the same `echo` routed by
//! att (`POST /api/v1/mcp/invoke/tool`) to one fixture handler served over streamable HTTP and
//! to the same handler served by the tests' legacy SSE server (`tests/it/common/legacy_sse.rs`:
//! a `POST` per message answered 202, the reply as an event on the session's stream), one
//! caller, in one run; the ratio is SSE over streamable HTTP.
//!
//! Run: `cargo bench --bench sse` (prints a table; numbers go to todo/perf.md).

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;
#[path = "common/routed_pair.rs"]
mod routed_pair;

#[allow(dead_code)]
#[path = "../tests/it/common/legacy_sse.rs"]
mod legacy_sse;

use std::sync::Arc;

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
        let _ = axum::serve(
            att::http::listener::with_nodelay(listener),
            axum::Router::new().nest_service("/mcp", service),
        )
        .await;
    });
    url
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
        routed_pair::compare(
            dir.path(),
            json!({"name": "http", "url": streamable}),
            json!({"name": "sse", "url": legacy.url, "transport": "sse"}),
            "streamable HTTP",
            "legacy SSE",
        )
        .await;
    });
}
