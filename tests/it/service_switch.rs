//! Zero-downtime switches (issue 20): a service with `listen` gets att's listening socket by
//! socket activation, and a deploy or a rollback starts the new release on it while the old
//! one still serves, retiring the old one (drained) only once the new one passed its gates.
//! A client sending a request every 5 ms through 20 alternating deploys and rollbacks sees
//! no failure; the same service without `listen` (stop, then start) does. With
//! `probe_socket`, the health gate probes the new release alone: an unhealthy one is
//! rolled back every time, never passed on the answers of the release still serving.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{TestAtt, eventually, free_port, post};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

fn web(port: u16, listen: bool) -> att_release::service::spec::ServiceSpec {
    let mut spec = json!({
        "name": "web", "command": SERVICE, "args": ["--port", port.to_string(), "--release", "r0"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s", "drain": "100ms"
    });
    if listen {
        spec["listen"] = json!(format!("127.0.0.1:{port}"));
    }
    serde_json::from_value(spec).expect("spec")
}

/// An unhealthy release (`/health` answers 503) deployed over a healthy one, both serving the
/// shared socket during the switch: the gate's probes go to the new process's private probe
/// socket, so every one of six deploys is rolled back — one probe answered by the old
/// release would pass the gate (`health_check_passes: 1`).
#[tokio::test]
async fn an_unhealthy_release_switched_in_with_listen_is_always_rolled_back_by_its_gate() {
    let port = free_port();
    let mut spec = web(port, true);
    spec.probe_socket = true;
    let att = TestAtt::start_with(|c| c.services = vec![spec]).await;
    for (id, extra) in [("r1", None), ("bad", Some("503"))] {
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--release".into(),
            id.into(),
        ];
        args.extend(
            extra
                .map(|code| ["--health-status".to_owned(), code.to_owned()])
                .into_iter()
                .flatten(),
        );
        let (status, body) = post(
            &att,
            "/api/v1/bootstrap/releases",
            json!({"target": "service:web", "id": id, "command": SERVICE, "args": args}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let r = common::run_to_end(&att, deploy("r1"), Duration::from_secs(60)).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    for n in 0..6 {
        let mut request = deploy("bad");
        request["health_check_passes"] = json!(1);
        request["health_deadline"] = json!("1s");
        let r = common::run_to_end(&att, request, Duration::from_secs(60)).await;
        let res = &r["result"];
        assert_eq!(
            (
                &r["status"],
                &res["health_status"],
                &res["rollback_performed"],
                &res["rollback_succeeded"]
            ),
            (
                &json!("failed"),
                &json!("unhealthy"),
                &json!(true),
                &json!(true)
            ),
            "deploy {n} of the unhealthy release: {r:#}"
        );
        // The new release's 503 (or, on a loaded machine, a last probe cut short by the
        // deadline) — never a pass.
        let why = common::phase(&r, "health")["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            matches!(why, "http_status:503" | "http_error:timeout"),
            "{r:#}"
        );
        // The bad release drains (serves `drain` more), then goes: r1 alone serves.
        let bad = |argv: &[String]| {
            argv.first().is_some_and(|a| a == SERVICE) && argv.iter().any(|a| a == "bad")
        };
        eventually("the bad release gone", Duration::from_secs(20), || async {
            common::processes(bad).is_empty().then_some(())
        })
        .await;
        assert_eq!(
            common::service_text(port, "/version").await.as_deref(),
            Some("r1"),
            "deploy {n}"
        );
        // A run that succeeds ends the streak of automatic rollbacks (the policy allows a few
        // in a row per target).
        let r = common::run_to_end(&att, deploy("r1"), Duration::from_secs(60)).await;
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    att.server.shutdown().await;
}

/// A client sending `GET /version` every 5 ms, each on a new connection (what a refused
/// connection would show), counting answers and failures until stopped.
struct Client {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Client {
    fn start(port: u16) -> Self {
        let (ok, failed, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (o, f, s) = (ok.clone(), failed.clone(), stop.clone());
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let task = tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while !s.load(Ordering::SeqCst) {
                tick.tick().await;
                let r = http
                    .get(format!("http://127.0.0.1:{port}/version"))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        f.fetch_add(1, Ordering::SeqCst);
                        errors.push(format!("status {}", r.status()));
                    }
                    Err(e) => {
                        f.fetch_add(1, Ordering::SeqCst);
                        errors.push(format!("{e:?}"));
                    }
                }
            }
            errors
        });
        Self {
            ok,
            failed,
            stop,
            task,
        }
    }

    async fn stop(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let errors = self.task.await.expect("client");
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            errors,
        )
    }
}

/// att with `web` (with `listen` or not), releases r1 and r2 registered, r1 deployed.
async fn setup(listen: bool) -> (TestAtt, u16) {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port, listen)]).await;
    for id in ["r1", "r2"] {
        let (status, body) = post(
            &att,
            "/api/v1/bootstrap/releases",
            json!({"target": "service:web", "id": id, "command": SERVICE,
                   "args": ["--port", port.to_string(), "--release", id]}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let r = common::run_to_end(&att, deploy("r1"), Duration::from_secs(60)).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    (att, port)
}

fn deploy(id: &str) -> Value {
    json!({"target": "service:web", "requested_release_id": id,
           "restart_watchdog_retries": 2, "restart_watchdog_interval": "50ms",
           "health_check_interval": "50ms", "health_deadline": "10s"})
}

/// Switch `n`: even ones deploy r2, odd ones go back to r1 (a rollback is a run deploying
/// the earlier release, as `POST …/targets/{t}/rollback` starts — here with the test's short
/// watch windows).
async fn switch(att: &TestAtt, n: usize) -> Value {
    let to = if n.is_multiple_of(2) { "r2" } else { "r1" };
    let (status, body) = post(att, "/api/v1/bootstrap/runs", deploy(to)).await;
    assert_eq!(status, 202, "{body}");
    let id = body["run_id"].as_str().expect("id").to_owned();
    eventually("the switch's end", Duration::from_secs(60), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (r["status"] != "running" && r["status"] != "guarding").then_some(r)
    })
    .await
}

#[tokio::test]
async fn a_service_with_listen_switches_releases_without_a_failed_request() {
    let (att, port) = setup(true).await;
    let client = Client::start(port);
    for n in 0..20 {
        let r = switch(&att, n).await;
        assert_eq!(r["status"], "succeeded", "switch {n}: {r}");
        let want = if n.is_multiple_of(2) { "r2" } else { "r1" };
        assert_eq!(r["result"]["deployed_release_id"], want, "{r}");
    }
    let (ok, failed, errors) = client.stop().await;
    assert_eq!(failed, 0, "{ok} answered, {failed} failed: {errors:?}");
    assert!(ok > 0, "the client was answered");
    // The replaced releases were retired: one service process serves.
    let service = att.get_json("/api/v1/services/web").await;
    assert_eq!(service["status"]["release"], "r1", "{service}");
    let ours = |argv: &[String]| {
        argv.first().is_some_and(|a| a == SERVICE) && argv.iter().any(|a| *a == port.to_string())
    };
    eventually("one service process", Duration::from_secs(20), || async {
        (common::processes(ours).len() == 1).then_some(())
    })
    .await;
    att.server.shutdown().await;
}

/// The same client against the same service without `listen` (stop, then start): the
/// switches it sees refuse connections. Proves the test above can fail.
#[tokio::test]
async fn without_listen_the_same_switches_fail_requests() {
    let (att, port) = setup(false).await;
    let client = Client::start(port);
    let failed = client.failed.clone();
    for n in 0..20 {
        let r = switch(&att, n).await;
        assert_eq!(r["status"], "succeeded", "switch {n}: {r}");
        if failed.load(Ordering::SeqCst) > 0 {
            break;
        }
    }
    let (_, failed, _) = client.stop().await;
    assert!(
        failed > 0,
        "stop-then-start refused no request in 20 switches"
    );
    att.server.shutdown().await;
}
