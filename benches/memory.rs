//! Memory per idle HTTP upstream: the RSS of a real `att serve` process before and after
//! 1,000 upstreams are registered, each initialized and health-checked (an open MCP session
//! over streamable HTTP, idle). All sessions go to one fixture process, whose own RSS growth
//! (rmcp's server side of the same sessions) is printed as the baseline.
//!
//! Then the memory per idle `/mcp` client session: 2,000 MCP clients open a session on att's
//! `/mcp` (initialize + initialized, then idle), against the same number opened on the
//! fixture directly (rmcp's own server-side session cost) as the baseline.
//!
//! Run: `cargo bench --bench memory` (numbers go to todo/perf.md); `BENCH_SESSIONS=N` opens N
//! client sessions on each (default 2,000). `BENCH_ATT_BINARY=PATH` runs
//! another att binary instead (an older build, for a before/after); the session bounds are
//! raised only for this one (an older att may not know them).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Opens `n` idle MCP sessions on `url` (16 at a time); returns their ids.
async fn open_sessions(http: &reqwest::Client, url: &str, n: usize) -> Vec<String> {
    use futures_util::StreamExt;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"}}});
    futures_util::stream::iter(0..n)
        .map(|_| async {
            let r = http
                .post(url)
                .header("accept", "application/json, text/event-stream")
                .json(&init)
                .send()
                .await
                .expect("initialize");
            assert!(r.status().is_success(), "initialize: {}", r.status());
            let id = r.headers()["mcp-session-id"]
                .to_str()
                .expect("id")
                .to_owned();
            let _ = r.bytes().await;
            let r = http
                .post(url)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", &id)
                .header("mcp-protocol-version", "2025-11-25")
                .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .send()
                .await
                .expect("initialized");
            assert!(r.status().is_success(), "initialized: {}", r.status());
            id
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Starts `cmd`, returns it and the URL it prints on its first stdout line (last word).
fn start(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("prints its address");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    (child, url)
}

/// Resident set size of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    // `BENCH_UPSTREAMS=0`: the `/mcp` sessions alone.
    let upstreams: usize = std::env::var("BENCH_UPSTREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let sessions: usize = std::env::var("BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (mut fixture, mcp_url) = start(
        Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
            .stderr(Stdio::null())
            .args(["--http", "127.0.0.1:0", "--name", "idle"]),
    );
    let data = tempfile::tempdir().expect("temp dir");
    let other = std::env::var_os("BENCH_ATT_BINARY");
    let mut cmd = Command::new(other.clone().unwrap_or(env!("CARGO_BIN_EXE_att").into()));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .env("ATT_LOG_LEVEL", "error");
    if other.is_none() {
        cmd.env("ATT_HTTP__MCP_MAX_SESSIONS_PER_CLIENT", "100000")
            .env("ATT_HTTP__MCP_MAX_SESSIONS", "100000")
            .env("ATT_HTTP__MCP_MAX_SESSIONS_PER_PRINCIPAL", "100000");
    }
    let (mut att, att_url) = start(&mut cmd);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let api = format!("{att_url}/api/v1/mcp");
        // Let att settle, then take the baselines.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (att0, fixture0) = (rss_kib(att.id()), rss_kib(fixture.id()));

        for i in 0..upstreams {
            let body = json!({"name": format!("u{i:04}"), "url": mcp_url});
            let r = http.post(format!("{api}/servers")).json(&body).send().await.expect("register");
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        }
        // Until every one is initialized and has had its first health check.
        for round in 0.. {
            let v: Value = http.get(format!("{api}/servers")).send().await.expect("list").json().await.expect("json");
            let ready = v["servers"]
                .as_array()
                .expect("servers")
                .iter()
                .filter(|s| s["state"]["initialized"] == true && !s["state"]["last_checked_at"].is_null())
                .count();
            if ready == upstreams {
                break;
            }
            assert!(round < 600, "only {ready} of {upstreams} upstreams became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Idle for a moment (nothing in flight), then measure.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (att1, fixture1) = (rss_kib(att.id()), rss_kib(fixture.id()));
        let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / upstreams as f64;
        println!("| process | RSS before KiB | RSS with {upstreams} idle sessions KiB | per session KiB |");
        println!("|---|---|---|---|");
        println!("| att (client side: actor, rmcp client, HTTP client, catalog) | {att0} | {att1} | {:.1} |", per(att0, att1));
        println!("| fixture (rmcp's server side of the same sessions) | {fixture0} | {fixture1} | {:.1} |", per(fixture0, fixture1));

        if sessions == 0 {
            return;
        }
        // Client sessions on att's /mcp, and on the fixture directly.
        let (att1, fixture1) = (rss_kib(att.id()), rss_kib(fixture.id()));
        let on_att = open_sessions(&http, &format!("{att_url}/mcp"), sessions).await;
        let on_fixture = open_sessions(&http, &mcp_url, sessions).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (att2, fixture2) = (rss_kib(att.id()), rss_kib(fixture.id()));
        let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / sessions as f64;
        println!();
        println!("| server | RSS before KiB | RSS with {sessions} idle client sessions KiB | per session KiB |");
        println!("|---|---|---|---|");
        println!("| att `/mcp` | {att1} | {att2} | {:.1} |", per(att1, att2));
        println!("| fixture (rmcp server, baseline) | {fixture1} | {fixture2} | {:.1} |", per(fixture1, fixture2));
        assert_eq!((on_att.len(), on_fixture.len()), (sessions, sessions));
    });
    // SAFETY: SIGTERM to the att process this bench started.
    unsafe {
        libc::kill(att.id() as i32, libc::SIGTERM);
    }
    let _ = att.wait();
    let _ = fixture.kill();
    let _ = fixture.wait();
}
