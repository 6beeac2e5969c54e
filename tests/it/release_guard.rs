//! The post-deploy guard (issue 20), with the real `att-fixture-service`: a release that
//! passes its gates and dies a second later is rolled back by the guard (or, with
//! `rollback_on_guard_failure: false`, left failed with the policy's reason); a run is
//! `guarding` and its target busy until the guard ends or the run is promoted; a guard
//! interrupted by a SIGKILL of att resumes after the restart with exactly one service
//! process.

use crate::common;

use std::time::Duration;

use common::{TestAtt, eventually, free_port, phase, post};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

/// The service `web` on `port` (release `r0`), probed at `/health`, guarded for a minute:
/// long enough that a guard only ends early by a failure or a promote.
fn web(port: u16) -> att_release::service::spec::ServiceSpec {
    serde_json::from_value(json!({
        "name": "web", "command": SERVICE, "args": ["--port", port.to_string(), "--release", "r0"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "60s"
    }))
    .expect("spec")
}

fn release_args(port: u16, id: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--release".into(),
        id.into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

async fn release(att: &TestAtt, port: u16, id: &str, extra: &[&str]) {
    let args = release_args(port, id, extra);
    let (status, body) = post(
        att,
        "/api/v1/bootstrap/releases",
        json!({"target": "service:web", "id": id, "command": SERVICE, "args": args}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

fn request(id: &str) -> Value {
    json!({"target": "service:web", "requested_release_id": id,
           "restart_watchdog_retries": 2, "restart_watchdog_interval": "50ms",
           "health_check_interval": "50ms", "health_deadline": "5s"})
}

async fn start(att: &TestAtt, request: Value) -> String {
    let (status, body) = post(att, "/api/v1/bootstrap/runs", request).await;
    assert_eq!(status, 202, "{body}");
    body["run_id"].as_str().expect("run id").to_owned()
}

async fn run_until(att: &TestAtt, id: &str, what: &str, done: fn(&Value) -> bool) -> Value {
    eventually(what, Duration::from_secs(60), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        done(&r).then_some(r)
    })
    .await
}

fn ended(r: &Value) -> bool {
    r["status"] != "running" && r["status"] != "guarding"
}

async fn version(port: u16) -> Option<String> {
    common::service_text(port, "/version").await
}

fn release_statuses(releases: &Value) -> Vec<(String, String)> {
    releases["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_release_that_dies_after_its_health_gate_is_rolled_back_by_the_guard() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    eventually("r0 serving", Duration::from_secs(10), || async {
        (version(port).await.as_deref() == Some("r0")).then_some(())
    })
    .await;

    // r1 holds: the run is `guarding` (the target busy) until it is promoted.
    release(&att, port, "r1", &[]).await;
    let first = start(&att, request("r1")).await;
    let r = run_until(&att, &first, "r1 guarded", |r| r["status"] == "guarding").await;
    assert_eq!(phase(&r, "health")["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "guard")["status"], "running", "{r}");
    assert_eq!(r["result"]["guard_status"], "guarding", "{r}");
    assert!(r["result"]["guard_until"].is_string(), "{r}");
    let (status, busy) = post(&att, "/api/v1/bootstrap/runs", request("r1")).await;
    assert_eq!(status, 409, "a guarded target is busy: {busy}");
    let (status, body) = post(
        &att,
        &format!("/api/v1/bootstrap/runs/{first}/promote"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = att
        .get_json(&format!("/api/v1/bootstrap/runs/{first}"))
        .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["result"]["guard_status"], "promoted", "{r}");
    assert_eq!(phase(&r, "guard")["status"], "succeeded", "{r}");
    let (status, body) = post(
        &att,
        &format!("/api/v1/bootstrap/runs/{first}/promote"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "an ended run cannot be promoted: {body}");
    let (status, _) = post(&att, "/api/v1/bootstrap/runs/run-nope/promote", json!({})).await;
    assert_eq!(status, 404);

    // r2 passes its watchdog and health gate, then dies a second after its first healthy
    // answer: the guard fails it and the policy rolls back to r1, verified.
    release(&att, port, "r2", &["--crash-after-healthy-ms", "1000"]).await;
    let second = start(&att, request("r2")).await;
    let r = run_until(&att, &second, "r2's run ended", ended).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(phase(&r, "restart_watchdog")["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "health")["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "guard")["status"], "failed", "{r}");
    assert_eq!(phase(&r, "rollback")["status"], "succeeded", "{r}");
    let res = &r["result"];
    assert_eq!(res["health_status"], "healthy", "{r}");
    assert_eq!(res["guard_status"], "failed", "{r}");
    assert_eq!(res["guard_reason"], "process_exited:3", "{r}");
    assert_eq!(res["success"], false, "{r}");
    assert_eq!(res["rollback_failure_class"], "guard_failure", "{r}");
    assert_eq!(res["rollback_policy_status"], "allowed", "{r}");
    assert_eq!(res["rollback_policy_reason"], "rollback_target_validated");
    assert_eq!(
        (&res["rollback_performed"], &res["rollback_succeeded"]),
        (&json!(true), &json!(true)),
        "{r}"
    );
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    let service = att.get_json("/api/v1/services/web").await;
    assert_eq!(service["status"]["release"], "r1", "{service}");
    let releases = att
        .get_json("/api/v1/bootstrap/releases?target=service:web")
        .await;
    assert_eq!(
        release_statuses(&releases),
        [
            ("r2".into(), "rolled_back".into()),
            ("r1".into(), "live".into())
        ]
    );

    // r3 dies the same way, with rollback_on_guard_failure off: denied with its reason, left
    // failed, no rollback attempted.
    release(&att, port, "r3", &["--crash-after-healthy-ms", "1000"]).await;
    let mut req = request("r3");
    req["rollback_on_guard_failure"] = json!(false);
    let third = start(&att, req).await;
    let r = run_until(&att, &third, "r3's run ended", ended).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(phase(&r, "guard")["status"], "failed", "{r}");
    assert_eq!(phase(&r, "rollback")["status"], "skipped", "{r}");
    let res = &r["result"];
    assert_eq!(res["rollback_failure_class"], "guard_failure", "{r}");
    assert_eq!(res["rollback_policy_status"], "denied", "{r}");
    assert_eq!(
        res["rollback_policy_reason"],
        "rollback_disabled_for_guard_failure"
    );
    assert_eq!(res["rollback_performed"], false, "{r}");
    let releases = att
        .get_json("/api/v1/bootstrap/releases?target=service:web")
        .await;
    assert_eq!(
        release_statuses(&releases)[0],
        ("r3".into(), "failed".into())
    );
    // Never looping: the target is free and no run was started on its own.
    let runs = att.get_json("/api/v1/bootstrap/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(3), "{runs}");
    att.server.shutdown().await;
}

/// `att serve` killed with SIGKILL while a run guards its release: after the restart the
/// guard resumes (same end, `guarding` again), exactly one service process runs (the
/// orphan the killed att left was replaced, not duplicated), and a promote concludes it.
#[tokio::test]
async fn a_guard_interrupted_by_sigkill_resumes_after_the_restart_with_one_service_process() {
    use common::AttProcess;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = free_port();
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        format!(
            "[[services]]\nname = \"web\"\ncommand = \"{SERVICE}\"\nargs = [\"--port\", \"{port}\", \"--release\", \"r0\"]\n\
             health = {{ kind = \"http\", url = \"http://127.0.0.1:{port}/health\" }}\nstop_grace = \"2s\"\nguard_period = \"10m\"\n"
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let http = reqwest::Client::new();
    let get = |att: &AttProcess, path: String| {
        let r = http.get(att.url(&path)).send();
        async move { r.await.expect("get").json::<Value>().await.expect("json") }
    };
    let ours = |argv: &[String]| {
        argv.first().is_some_and(|a| a == SERVICE) && argv.iter().any(|a| *a == port.to_string())
    };

    let mut att = AttProcess::start(&data, &["--config", &config]);
    let r = http
        .post(att.url("/api/v1/bootstrap/releases"))
        .json(
            &json!({"target": "service:web", "id": "r1", "command": SERVICE,
                      "args": release_args(port, "r1", &[])}),
        )
        .send()
        .await
        .expect("release");
    assert_eq!(r.status(), 201);
    let r: Value = http
        .post(att.url("/api/v1/bootstrap/runs"))
        .json(&request("r1"))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    let id = r["run_id"].as_str().expect("id").to_owned();
    let before = eventually("r1 guarded", Duration::from_secs(30), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{id}"));
        async move {
            let r = r.await;
            (r["status"] == "guarding").then_some(r)
        }
    })
    .await;
    let orphan = get(&att, "/api/v1/services/web".into()).await["status"]["pid"]
        .as_u64()
        .expect("pid");
    att.signal(libc::SIGKILL);
    att.wait_exit(Duration::from_secs(10));
    assert_eq!(
        version(port).await.as_deref(),
        Some("r1"),
        "r1 outlives att"
    );

    let mut att = AttProcess::start(&data, &["--config", &config]);
    // The guard resumed: `guarding` again, its guard phase running, with the same end.
    let after = eventually("the guard resumed", Duration::from_secs(30), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{id}"));
        async move {
            let r = r.await;
            (r["status"] == "guarding" && phase(&r, "guard")["status"] == "running").then_some(r)
        }
    })
    .await;
    assert_eq!(
        after["result"]["guard_until"], before["result"]["guard_until"],
        "a resumed guard keeps its end"
    );
    let service = eventually("the service running again", Duration::from_secs(20), || {
        let s = get(&att, "/api/v1/services/web".into());
        async move {
            let s = s.await;
            (s["status"]["state"] == "running").then_some(s)
        }
    })
    .await;
    assert_eq!(service["status"]["release"], "r1", "{service}");
    assert_ne!(service["status"]["pid"].as_u64(), Some(orphan));
    assert_eq!(
        common::processes(ours),
        [service["status"]["pid"].as_u64().expect("pid")],
        "exactly one service process: the orphan was replaced, not duplicated"
    );

    let r = http
        .post(att.url(&format!("/api/v1/bootstrap/runs/{id}/promote")))
        .send()
        .await
        .expect("promote");
    assert_eq!(r.status(), 200);
    let r = get(&att, format!("/api/v1/bootstrap/runs/{id}")).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["result"]["guard_status"], "promoted", "{r}");
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(20));
}
