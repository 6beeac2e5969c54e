//! Throughput of `/api` and `/mcp` calls through 1, 2 and 3 att replicas on one PostgreSQL
//! database behind HAProxy, against one att on SQLite called directly, in one run, as ratios
//! (issue 19).
//!
//! Real processes throughout: `att serve` ×4 (one on SQLite, three on PostgreSQL in a schema
//! of their own), one `att-mcp-fixture` upstream, one HAProxy per replica count (and one in
//! front of the SQLite att, to tell the balancer's cost from the database's)
//! (`tests/it/common/haproxy.rs`: round-robin, no stickiness). The callers are tasks of this
//! process, each with its own keep-alive connection and, on `/mcp`, its own session
//! (initialize once, then `tools/call echo`); with a balancer a caller's calls land on every
//! replica in turn, so `/mcp` figures include sessions re-created from the shared record.
//! Rounds alternate between configurations so a drifting machine hurts all alike.
//!
//! On a 2-core machine, replicas do not add cores: the ratios show what the balancer and
//! the shared database cost, not how far att scales on more machines.
//!
//! Run: `cargo bench --bench replicas` (`BENCH_CALLERS`, default 16; `BENCH_CALLS` per caller
//! per round, default 100; `BENCH_ROUNDS`, default 3). Needs PostgreSQL
//! (`ATT_TEST_DATABASE_URL`, else 127.0.0.1:5432) and `/usr/sbin/haproxy`; says so and
//! exits without them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use att::store::postgres::test_database::TestDatabase;
use serde_json::json;

#[path = "../tests/it/common/haproxy.rs"]
#[allow(dead_code)]
mod haproxy;

#[path = "common/caller.rs"]
mod caller;

use caller::{Caller, Kind};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and reads the URL it prints on its first line.
fn start(cmd: &mut Command) -> (Proc, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("prints its address");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    (Proc(child), url)
}

fn att(data: &std::path::Path, database_url: Option<&str>) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_att"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("ATT_LOG_LEVEL", "error")
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("ATT_DATABASE_URL", url);
    }
    start(&mut cmd)
}

/// Calls per second: `callers` callers making `calls` calls each to `base`.
async fn measure(base: &str, mcp: bool, callers: usize, calls: usize) -> f64 {
    let mut opened = Vec::with_capacity(callers);
    for _ in 0..callers {
        let c = if mcp {
            Caller::open(&format!("{base}/mcp"), Kind::Mcp, false).await
        } else {
            Caller::open(&format!("{base}/api/v1/mcp/invoke/tool"), Kind::Api, false).await
        };
        c.call(0).await;
        opened.push(c);
    }
    let started = Instant::now();
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|c| {
            tokio::spawn(async move {
                for i in 1..=calls {
                    c.call(i as u64).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller");
    }
    (callers * calls) as f64 / started.elapsed().as_secs_f64()
}

async fn wait_routable(base: &str) {
    let http = reqwest::Client::new();
    for attempt in 0.. {
        let r = http
            .post(format!("{base}/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": "x"}}))
            .send()
            .await
            .expect("invoke");
        if r.status() == 200 {
            return;
        }
        assert!(
            attempt < 500,
            "echo never became routable at {base}: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let Some(db) = TestDatabase::create("bench replicas").await else {
        return;
    };
    if !haproxy::Haproxy::available("bench replicas") {
        return;
    }
    let (callers, calls, rounds) = (
        env_or("BENCH_CALLERS", 16),
        env_or("BENCH_CALLS", 100),
        env_or("BENCH_ROUNDS", 3),
    );
    let (_fixture, upstream) = start(
        Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
            .stderr(Stdio::null())
            .args(["--http", "127.0.0.1:0", "--name", "fx"]),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (_sqlite, sqlite_url) = att(&dir.path().join("sqlite"), None);
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(att(&dir.path().join(format!("pg{i}")), Some(&db.url())));
    }
    let http = reqwest::Client::new();
    for base in [&sqlite_url, &replicas[0].1] {
        let r = http
            .post(format!("{base}/api/v1/mcp/servers"))
            .json(&json!({"name": "fx", "url": upstream}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
    }
    wait_routable(&sqlite_url).await;
    for (_, base) in &replicas {
        wait_routable(base).await;
    }
    let addrs: Vec<SocketAddr> = replicas
        .iter()
        .map(|(_, u)| u.trim_start_matches("http://").parse().expect("address"))
        .collect();
    let balancers: Vec<haproxy::Haproxy> = (1..=3)
        .map(|n| haproxy::Haproxy::start("bench replicas", &addrs[..n]).expect("haproxy"))
        .collect();
    // The balancer's own cost, apart from PostgreSQL's: the SQLite att behind HAProxy.
    let sqlite_addr: SocketAddr = sqlite_url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let sqlite_lb = haproxy::Haproxy::start("bench replicas", &[sqlite_addr]).expect("haproxy");
    let mut configs: Vec<(String, String)> = vec![
        ("SQLite, 1 att".into(), sqlite_url.clone()),
        ("SQLite, 1 behind HAProxy".into(), sqlite_lb.url("")),
    ];
    for (n, lb) in balancers.iter().enumerate() {
        configs.push((format!("PostgreSQL, {} behind HAProxy", n + 1), lb.url("")));
    }
    // calls/s per configuration and door, summed over rounds.
    let mut sums = vec![[0.0f64; 2]; configs.len()];
    for _ in 0..rounds {
        for (i, (_, base)) in configs.iter().enumerate() {
            for (d, mcp) in [false, true].into_iter().enumerate() {
                sums[i][d] += measure(base, mcp, callers, calls).await;
            }
        }
    }
    println!("callers {callers}, calls per caller per round {calls}, rounds {rounds}");
    println!("| configuration | /api calls/s | ratio | /mcp calls/s | ratio |");
    println!("|---|---|---|---|---|");
    let base = sums[0];
    for ((name, _), s) in configs.iter().zip(&sums) {
        let r = |d: usize| s[d] / rounds as f64;
        println!(
            "| {name} | {:.0} | {:.2} | {:.0} | {:.2} |",
            r(0),
            s[0] / base[0],
            r(1),
            s[1] / base[1]
        );
    }
}
