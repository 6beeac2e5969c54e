//! The per-principal limit under load (issue 16): 64 callers with principal `a`'s key call
//! `echo` through `POST /api/v1/mcp/invoke/tool` for ~10 s against
//! `per_principal = { rate = 50, burst = 50 }`, while principal `b` (same limit) calls at
//! 40 calls/s from 4 callers. Twice: `a`'s callers unpaced (each 429 retried at once), then
//! honouring `Retry-After` (each 429 waits that long). Printed: the rate through att for `a` against the limit (raw,
//! and after the first second, once the initial burst is spent), the 429s and whether every
//! one had an integer `Retry-After` ≥ 1, and `b`'s success rate and latency against `b`
//! alone before the load.
//!
//! Run: `cargo bench --bench limits` (numbers go to todo/perf.md). `BENCH_SECONDS=N` changes
//! the load's length.

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use att::config::Config;
use fixture::{CrashMode, Fixture};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

const LIMIT: f64 = 50.0;
const A_CALLERS: usize = 64;
const B_CALLERS: usize = 4;
/// Each of `b`'s callers makes a call every this long (4 × 10/s = 40/s, under the limit).
const B_PERIOD: Duration = Duration::from_millis(100);

/// What one caller saw.
#[derive(Default)]
struct Seen {
    /// When each successful call was answered (since the load began).
    ok_at: Vec<Duration>,
    latencies: Vec<Duration>,
    refused: u64,
    /// 429s whose `Retry-After` was missing, not an integer, or 0.
    bad_retry_after: u64,
    other: u64,
}

fn percentile(lat: &mut [Duration], q: f64) -> Duration {
    if lat.is_empty() {
        return Duration::ZERO;
    }
    lat.sort_unstable();
    lat[((lat.len() as f64 - 1.0) * q) as usize]
}

/// Makes one call; on a 429, its `Retry-After` in seconds.
async fn call(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &str,
    seen: &mut Seen,
    t0: Instant,
) -> Option<u64> {
    let t = Instant::now();
    let r = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("att answers");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    r.bytes().await.expect("body");
    match status {
        200 => {
            seen.ok_at.push(t0.elapsed());
            seen.latencies.push(t.elapsed());
        }
        429 => {
            seen.refused += 1;
            if retry.is_none_or(|s| s < 1) {
                seen.bad_retry_after += 1;
            }
        }
        _ => seen.other += 1,
    }
    if status == 429 { retry } else { None }
}

/// `b`'s paced callers for `length`.
async fn paced(
    http: reqwest::Client,
    url: String,
    key: String,
    body: String,
    length: Duration,
) -> Seen {
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..B_CALLERS)
        .map(|i| {
            let (http, url, key, body) = (http.clone(), url.clone(), key.clone(), body.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                // Spread the callers over the period.
                tokio::time::sleep(B_PERIOD * i as u32 / B_CALLERS as u32).await;
                let mut next = Instant::now();
                while t0.elapsed() < length {
                    let _ = call(&http, &url, &key, &body, &mut seen, t0).await;
                    next += B_PERIOD;
                    tokio::time::sleep_until(next.into()).await;
                }
                seen
            })
        })
        .collect();
    let mut all = Seen::default();
    for t in tasks {
        let s = t.await.expect("b caller");
        all.ok_at.extend(s.ok_at);
        all.latencies.extend(s.latencies);
        all.refused += s.refused;
        all.bad_retry_after += s.bad_retry_after;
        all.other += s.other;
    }
    all
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let length = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
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
        tokio::spawn(async move {
            axum::serve(att::http::listener::with_nodelay(listener), axum::Router::new().nest_service("/mcp", service)).await
        });

        let data = tempfile::tempdir().expect("temp dir");
        let limits: att::config::LimitsConfig =
            toml::from_str(&format!("per_principal = {{ rate = {LIMIT}, burst = {LIMIT} }}")).expect("limits");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_owned(),
            log_level: "warn".into(),
            api_token: Some("bench-token-0123456789abcdef".into()),
            upstreams: vec![serde_json::from_value(json!({"name": "bench", "url": url})).expect("spec")],
            limits,
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let auth = server.auth();
        let a = auth.create("a", att::auth::Role::Operator, None).await.expect("key a").text;
        let b = auth.create("b", att::auth::Role::Operator, None).await.expect("key b").text;
        let invoke = format!("http://{}/api/v1/mcp/invoke/tool", server.local_addr);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client");
        let body = json!({"tool_name": "echo", "arguments": {"text": "x"}}).to_string();
        // Until the upstream is routable (with `b`, paced under its limit).
        for _ in 0..1000 {
            let r = http.post(&invoke).bearer_auth(&b).header("content-type", "application/json").body(body.clone()).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // `b`'s bucket refills before it is measured.
        tokio::time::sleep(Duration::from_secs(2)).await;

        // `b` alone: its baseline.
        let mut alone = paced(http.clone(), invoke.clone(), b.clone(), body.clone(), Duration::from_secs(3)).await;

        println!(
            "per-principal limit: rate {LIMIT}/s, burst {LIMIT}; each load {} s; `b` alone (3 s): {} of {} calls 200, p50 {:.2} ms, p99 {:.2} ms\n",
            length.as_secs(),
            alone.ok_at.len(),
            alone.ok_at.len() as u64 + alone.refused + alone.other,
            percentile(&mut alone.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&mut alone.latencies, 0.99).as_secs_f64() * 1e3,
        );
        println!("| `a`'s {A_CALLERS} callers | calls | 200 | 429 | 429 without `Retry-After` ≥ 1 | other | `a` admitted/s (whole run) | `a` admitted/s after 1 s | `b` calls | `b` 200 | `b` p50 ms | `b` p99 ms |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for honour in [false, true] {
            // `a`'s bucket is full again (50 tokens at 50/s) before each load.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let t0 = Instant::now();
            let attempts = Arc::new(AtomicU64::new(0));
            let a_tasks: Vec<_> = (0..A_CALLERS)
                .map(|_| {
                    let (http, url, key, body, attempts) = (http.clone(), invoke.clone(), a.clone(), body.clone(), attempts.clone());
                    tokio::spawn(async move {
                        let mut seen = Seen::default();
                        while t0.elapsed() < length {
                            let retry = call(&http, &url, &key, &body, &mut seen, t0).await;
                            attempts.fetch_add(1, Ordering::Relaxed);
                            if let Some(secs) = retry.filter(|_| honour) {
                                tokio::time::sleep(Duration::from_secs(secs)).await;
                            }
                        }
                        seen
                    })
                })
                .collect();
            let mut during = paced(http.clone(), invoke.clone(), b.clone(), body.clone(), length).await;
            let mut a_seen = Seen::default();
            for t in a_tasks {
                let s = t.await.expect("a caller");
                a_seen.ok_at.extend(s.ok_at);
                a_seen.latencies.extend(s.latencies);
                a_seen.refused += s.refused;
                a_seen.bad_retry_after += s.bad_retry_after;
                a_seen.other += s.other;
            }
            let wall = t0.elapsed();
            let raw = a_seen.ok_at.len() as f64 / wall.as_secs_f64();
            let settle = Duration::from_secs(1);
            let after = a_seen.ok_at.iter().filter(|t| **t >= settle && **t < length).count();
            let sustained = after as f64 / (length - settle).as_secs_f64();
            let pct = |r: f64| 100.0 * (r / LIMIT - 1.0);
            println!(
                "| {} | {} | {} | {} | {} | {} | {raw:.1} ({:+.1}%) | {sustained:.1} ({:+.1}%) | {} | {} | {:.2} | {:.2} |",
                if honour { "honour `Retry-After`" } else { "unpaced (retry at once)" },
                attempts.load(Ordering::Relaxed),
                a_seen.ok_at.len(),
                a_seen.refused,
                a_seen.bad_retry_after,
                a_seen.other,
                pct(raw),
                pct(sustained),
                during.ok_at.len() as u64 + during.refused + during.other,
                during.ok_at.len(),
                percentile(&mut during.latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&mut during.latencies, 0.99).as_secs_f64() * 1e3,
            );
        }
        server.shutdown().await;
    });
}
