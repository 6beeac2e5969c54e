//! `att-mcp-fixture`: a scriptable MCP server for testing gateways (see `fixture.rs` for its
//! tools). `att-mcp-fixture [--name NAME]` speaks MCP on stdin/stdout;
//! `att-mcp-fixture --http 127.0.0.1:0 [--name NAME]` serves streamable HTTP at `/mcp` and
//! prints `fixture listening on http://ADDR/mcp`. `--only-2026-07-28` makes it a server of
//! protocol 2026-07-28 alone (it refuses `initialize`; see `fixture.rs`).

mod fixture;

use std::process::ExitCode;
use std::sync::Arc;

use fixture::{CrashMode, Fixture};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

fn main() -> ExitCode {
    att_gateway::upstream::tls::install_crypto_provider();
    let mut name = "fixture".to_owned();
    let mut http: Option<String> = None;
    let mut newer_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--only-2026-07-28" {
            newer_only = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--name", Some(v)) => name = v,
            ("--http", Some(v)) => http = Some(v),
            _ => {
                eprintln!("usage: att-mcp-fixture [--name NAME] [--http ADDR] [--only-2026-07-28]");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("att-mcp-fixture: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let fixture = Fixture::new(name, CrashMode::ExitProcess);
        fixture
            .state
            .newer_only
            .store(newer_only, std::sync::atomic::Ordering::SeqCst);
        match http {
            Some(addr) => serve_http(fixture, &addr).await,
            None => serve_stdio(fixture).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("att-mcp-fixture: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_stdio(fixture: Fixture) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    eprintln!("fixture {}: serving MCP on stdio", fixture.name);
    let running = fixture.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

async fn serve_http(
    fixture: Fixture,
    addr: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("fixture listening on http://{}/mcp", listener.local_addr()?);
    axum::serve(att::http::listener::with_nodelay(listener), app).await?;
    Ok(())
}
