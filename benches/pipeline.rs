//! The release pipeline's timings for the fixture service (`att-fixture-service`, built by
//! cargo for this bench): a deploy→healthy cycle (a run from its request to `succeeded`:
//! resolve, stop the live release, start the new one, restart watchdog, health gate), and a
//! rollback from the failing health probe to a healthy old release (the rollback phase: the
//! policy, stopping the failed release, starting the old one, its watchdog and health gate).
//! Baseline in the same run: starting the service's process and waiting for its first healthy
//! answer, without att.
//!
//! Run: `cargo bench --bench pipeline` (numbers go to todo/perf.md). The watchdog is set to
//! 3 probes 100 ms apart and the health probe to 50 ms, so the floor of a cycle is ~200 ms of
//! watching by design.

use std::time::{Duration, Instant};

use att::config::Config;
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");
const ATT: &str = env!("CARGO_BIN_EXE_att");

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn healthy(http: &reqwest::Client, port: u16) -> bool {
    http.get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let http = reqwest::Client::new();

        // Baseline: the process alone, from spawn to its first healthy answer.
        let mut baseline = Vec::new();
        for _ in 0..10 {
            let t0 = Instant::now();
            let mut child = std::process::Command::new(SERVICE)
                .args(["--port", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            while !healthy(&http, port).await {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            baseline.push(t0.elapsed());
            child.kill().expect("kill");
            child.wait().expect("reap");
        }

        let data = tempfile::tempdir().expect("temp dir");
        let spec = serde_json::from_value(json!({
            "name": "web", "command": SERVICE, "args": ["--port", port.to_string(), "--release", "r0"],
            "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
            "stop_grace": "2s", "guard_period": "0s"
        }))
        .expect("spec");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_owned(),
            log_level: "warn".into(),
            services: vec![spec],
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let base = format!("http://{}/api/v1/bootstrap", server.local_addr);
        let register = |id: String, extra: Vec<&'static str>| {
            let mut args = vec!["--port".to_owned(), port.to_string(), "--release".into(), id.clone()];
            args.extend(extra.into_iter().map(str::to_owned));
            json!({"target": "service:web", "id": id, "command": SERVICE, "args": args})
        };
        let run = |id: String| {
            json!({"target": "service:web", "requested_release_id": id,
                   "restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
                   "health_check_interval": "50ms", "health_deadline": "2s"})
        };
        let wait = |id: String| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                loop {
                    let r: Value = http.get(format!("{base}/runs/{id}")).send().await.expect("get").json().await.expect("json");
                    if r["status"] != "running" {
                        return r;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };

        let (mut cycles, mut rollbacks) = (Vec::new(), Vec::new());
        for i in 0..10 {
            // A good release: the whole run, measured by the caller.
            let good = format!("good-{i}");
            let r = http.post(format!("{base}/releases")).json(&register(good.clone(), vec![])).send().await.expect("release");
            assert_eq!(r.status(), 201);
            let t0 = Instant::now();
            let r: Value = http.post(format!("{base}/runs")).json(&run(good)).send().await.expect("run").json().await.expect("json");
            let done = wait(r["run_id"].as_str().expect("id").to_owned()).await;
            cycles.push(t0.elapsed());
            assert_eq!(done["status"], "succeeded", "{done}");

            // A bad one (answers 500): the rollback phase's own duration.
            let bad = format!("bad-{i}");
            let r = http.post(format!("{base}/releases")).json(&register(bad.clone(), vec!["--health-status", "500"])).send().await.expect("release");
            assert_eq!(r.status(), 201);
            let r: Value = http.post(format!("{base}/runs")).json(&run(bad)).send().await.expect("run").json().await.expect("json");
            let done = wait(r["run_id"].as_str().expect("id").to_owned()).await;
            assert_eq!(done["result"]["rollback_succeeded"], true, "{done}");
            rollbacks.push(took(phase(&done, "rollback")));
        }
        println!("| pipeline (fixture service) | runs | p50 ms |");
        println!("|---|---|---|");
        println!("| baseline: spawn → first healthy answer, no att | 10 | {} |", p50(baseline).as_millis());
        println!("| deploy → healthy (whole run, request to `succeeded`) | 10 | {} |", p50(cycles).as_millis());
        println!("| rollback phase (after the failing probe → old release healthy) | 10 | {} |", p50(rollbacks).as_millis());
        server.shutdown().await;

        // Issue 20: the same service with `listen` (att owns the socket; a switch starts the
        // new release beside the old one and retires the old one after the gates) against
        // stop-then-start, in one run. The bad release crashes in the watch window (a
        // health probe through a shared socket may reach the old release).
        println!();
        println!("| switch (fixture service, crash-in-watch rollback) | runs | deploy → healthy p50 ms | rollback phase p50 ms |");
        println!("|---|---|---|---|");
        for listen in [false, true] {
            let (cycles, rollbacks) = switches(&http, listen).await;
            let name = if listen { "`listen` (socket activation, overlap)" } else { "stop-then-start" };
            println!("| {name} | 10 | {} | {} |", p50(cycles).as_millis(), p50(rollbacks).as_millis());
        }

        // att itself under `att launch`: a `self` run to a registered release (the same
        // binary under a new id), from the request to the new process answering /health (a
        // client that keeps its connection: the old att closes it after an answer once it
        // drains). Each switch starts once the previous old att has drained and exited.
        // Baseline: `att serve` from spawn to its first healthy answer.
        let att_health = |base: String| {
            let http = http.clone();
            async move {
                let r = http.get(format!("{base}/api/v1/health")).send().await.ok()?;
                r.json::<Value>().await.ok()
            }
        };
        let mut serve_baseline = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let t0 = Instant::now();
            let mut child = std::process::Command::new(ATT)
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path())
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("att serve");
            let addr = first_address(&mut child);
            while att_health(format!("http://{addr}")).await.is_none() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            serve_baseline.push(t0.elapsed());
            child.kill().expect("kill");
            child.wait().expect("reap");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut launcher = std::process::Command::new(ATT)
            .args(["launch", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("att launch");
        let addr = first_address(&mut launcher);
        let base = format!("http://{addr}");
        while att_health(base.clone()).await.is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut switches = Vec::new();
        for i in 0..5 {
            let id = format!("self-{i}");
            let r = http.post(format!("{base}/api/v1/bootstrap/releases"))
                .json(&json!({"target": "self", "id": id, "command": ATT}))
                .send().await.expect("release");
            assert_eq!(r.status(), 201);
            // The previous switch is over (its old att drained and gone) before this one.
            let before = att_health(base.clone()).await.expect("health")["pid"].as_u64().expect("pid");
            let t0 = Instant::now();
            let r = http.post(format!("{base}/api/v1/bootstrap/runs"))
                .json(&json!({"target": "self", "requested_release_id": id,
                              "restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
                              "health_check_interval": "50ms", "health_deadline": "10s"}))
                .send().await.expect("run");
            assert_eq!(r.status(), 202);
            loop {
                if att_health(base.clone()).await.is_some_and(|h| h["release"] == id.as_str()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            switches.push(t0.elapsed());
            while std::path::Path::new(&format!("/proc/{before}")).exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        println!("| baseline: `att serve` spawn → first healthy answer | 5 | {} |", p50(serve_baseline).as_millis());
        println!("| `self` switch under `att launch` (request → new release answering) | 5 | {} |", p50(switches).as_millis());
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(launcher.id() as i32, libc::SIGTERM) };
        launcher.wait().expect("launcher exit");
    });
}

/// The record of phase `name` in a run.
fn phase<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["phases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["phase"] == name))
        .unwrap_or(&Value::Null)
}

/// The phase's duration, from its record.
fn took(v: &Value) -> Duration {
    let t = |s: &Value| {
        time::OffsetDateTime::parse(
            s.as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time")
    };
    Duration::try_from(t(&v["ended_at"]) - t(&v["started_at"])).unwrap_or_default()
}

/// 10 deploy → healthy runs and 10 rollbacks (a release crashing 150 ms after its start)
/// of the fixture service, with `listen` or without.
async fn switches(http: &reqwest::Client, listen: bool) -> (Vec<Duration>, Vec<Duration>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let data = tempfile::tempdir().expect("temp dir");
    let mut spec = json!({
        "name": "web", "command": SERVICE, "args": ["--port", port.to_string(), "--release", "r0"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s", "drain": "100ms"
    });
    if listen {
        spec["listen"] = json!(format!("127.0.0.1:{port}"));
    }
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        log_level: "warn".into(),
        services: vec![serde_json::from_value(spec).expect("spec")],
        ..Config::default()
    };
    let server = att::server::start(config).await.expect("att starts");
    let base = format!("http://{}/api/v1/bootstrap", server.local_addr);
    let (mut cycles, mut rollbacks) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let (t, done) = one_run(http, &base, port, &format!("good-{i}")).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        cycles.push(t);
        let (_, done) = one_run(http, &base, port, &format!("bad-{i}")).await;
        assert_eq!(done["result"]["rollback_succeeded"], true, "{done}");
        rollbacks.push(took(phase(&done, "rollback")));
    }
    server.shutdown().await;
    (cycles, rollbacks)
}

/// One run of release `id` (registered first) of the fixture service on `port`: how long from
/// the request to its end, and the final record.
async fn one_run(http: &reqwest::Client, base: &str, port: u16, id: &str) -> (Duration, Value) {
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--release".into(),
        id.to_owned(),
    ];
    if id.starts_with("bad") {
        args.extend(["--crash-after-ms".to_owned(), "150".to_owned()]);
    }
    let r = http
        .post(format!("{base}/releases"))
        .json(&json!({"target": "service:web", "id": id, "command": SERVICE, "args": args}))
        .send()
        .await
        .expect("release");
    assert_eq!(r.status(), 201);
    let t0 = Instant::now();
    let r: Value = http
        .post(format!("{base}/runs"))
        .json(&json!({"target": "service:web", "requested_release_id": id,
                          "restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
                          "health_check_interval": "50ms", "health_deadline": "2s"}))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    let id = r["run_id"].as_str().expect("id").to_owned();
    loop {
        let r: Value = http
            .get(format!("{base}/runs/{id}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if r["status"] != "running" {
            return (t0.elapsed(), r);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The address from `att listening on http://…`, the first line on stdout.
fn first_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    line.trim()
        .trim_start_matches("att listening on http://")
        .to_owned()
}
