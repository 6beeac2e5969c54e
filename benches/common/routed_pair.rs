//! Shared by the benches that compare two kinds of upstream through att (`tls`: plain vs
//! HTTPS, `sse`: streamable HTTP vs legacy SSE): att started with both, each waited for until
//! it is routable, then three alternating rounds of the p50 of a routed `echo` on each.

use std::path::Path;
use std::time::{Duration, Instant};

use att::config::Config;
use serde_json::{Value, json};

/// The p50 of `calls` routed `echo` calls preferring `server`, in µs.
async fn p50_micros(http: &reqwest::Client, url: &str, server: &str, calls: usize) -> u128 {
    let body =
        json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": [server]});
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = http.post(url).json(&body).send().await.expect("call");
        let v: Value = r.json().await.expect("body");
        assert_eq!(v["server"], server, "{v}");
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    lat[lat.len() / 2].as_micros()
}

/// Starts att (data in `dir`) with the upstreams `a` and `b` (specs with a `name`) and prints
/// a table of their routed p50s, headed `| round | <a_label> p50 µs | <b_label> p50 µs |`.
pub async fn compare(dir: &Path, a: Value, b: Value, a_label: &str, b_label: &str) {
    let names = [
        a["name"].as_str().expect("a name").to_owned(),
        b["name"].as_str().expect("b name").to_owned(),
    ];
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.join("data"),
        log_level: "warn".into(),
        upstreams: vec![
            serde_json::from_value(a).expect("spec"),
            serde_json::from_value(b).expect("spec"),
        ],
        ..Config::default()
    };
    let server = att::server::start(config).await.expect("att starts");
    let url = format!("http://{}/api/v1/mcp/invoke/tool", server.local_addr);
    let http = reqwest::Client::new();
    // Both routable (catalogs arrive after start).
    for name in &names {
        let body =
            json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": [name]});
        for _ in 0..1000 {
            let r = http.post(&url).json(&body).send().await.expect("call");
            let v: Value = r.json().await.unwrap_or_default();
            if v["server"] == name.as_str() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!("| round | {a_label} p50 µs | {b_label} p50 µs | ratio |");
    println!("|---|---|---|---|");
    for round in 1..=3 {
        let x = p50_micros(&http, &url, &names[0], 1000).await;
        let y = p50_micros(&http, &url, &names[1], 1000).await;
        println!(
            "| {round} | {x} | {y} | {:.2} |",
            y as f64 / x.max(1) as f64
        );
    }
    server.shutdown().await;
}
