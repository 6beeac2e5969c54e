//! The release pipeline for a `service:<name>` target, with the real `att-fixture-service`:
//! deploy → restart watchdog → health → live; a release that crashes in the watch window and
//! one that answers 500 are rolled back to the previous release, which is verified and serves.

use crate::common;

use std::time::Duration;

use common::{TestAtt, eventually, expect_phases, free_port, phase, post};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

/// The service `web`: the fixture service on `port` (release `r0`), probed at `/health`.
pub(crate) fn web(port: u16) -> att_release::service::spec::ServiceSpec {
    serde_json::from_value(json!({
        "name": "web", "command": SERVICE, "args": ["--port", port.to_string(), "--release", "r0"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s"
    }))
    .expect("spec")
}

pub(crate) async fn release(att: &TestAtt, port: u16, id: &str, extra: &[&str]) {
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--release".into(),
        id.into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let (status, body) = post(
        att,
        "/api/v1/bootstrap/releases",
        json!({"target": "service:web", "id": id, "command": SERVICE, "args": args}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Runs `request` to its end; the final record.
async fn run(att: &TestAtt, request: Value) -> Value {
    common::run_to_end(att, request, Duration::from_secs(60)).await
}

pub(crate) async fn version(port: u16) -> Option<String> {
    common::service_text(port, "/version").await
}

#[tokio::test]
async fn releases_go_live_and_failing_ones_are_rolled_back_to_a_verified_previous_release() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    eventually("r0 serving", Duration::from_secs(10), || async {
        (version(port).await.as_deref() == Some("r0")).then_some(())
    })
    .await;
    let fast = json!({"restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
                      "health_check_interval": "50ms", "health_deadline": "2s"});
    let request = |id: &str| {
        let mut r = fast.clone();
        r["target"] = json!("service:web");
        r["requested_release_id"] = json!(id);
        r
    };

    // r1: deploy → watchdog → health → live.
    release(&att, port, "r1", &[]).await;
    let r = run(&att, request("r1")).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    expect_phases(
        &r,
        &[
            ("resolve", "succeeded"),
            ("change", "skipped"),
            ("publish", "skipped"),
            ("build", "skipped"),
            ("deploy", "succeeded"),
            ("restart_watchdog", "succeeded"),
            ("health", "succeeded"),
            ("guard", "skipped"),
            ("rollback", "skipped"),
        ],
    );
    let res = &r["result"];
    assert_eq!(
        (
            res["success"].as_bool(),
            res["deployed_release_id"].as_str()
        ),
        (Some(true), Some("r1"))
    );
    assert_eq!(res["restart_watchdog_status"], "stable");
    assert_eq!(res["health_status"], "healthy");
    assert_eq!(res["rollback_policy_status"], "not_evaluated");
    assert_eq!(version(port).await.as_deref(), Some("r1"));

    // r2 crashes 150 ms after it starts: restart_watchdog_failure, rolled back to r1 (the
    // registry's live release), which is verified and serves.
    release(&att, port, "r2", &["--crash-after-ms", "150"]).await;
    let r = run(&att, request("r2")).await;
    assert_eq!(r["status"], "failed", "{r}");
    expect_phases(
        &r,
        &[
            ("resolve", "succeeded"),
            ("change", "skipped"),
            ("publish", "skipped"),
            ("build", "skipped"),
            ("deploy", "succeeded"),
            ("restart_watchdog", "failed"),
            ("health", "skipped"),
            ("guard", "skipped"),
            ("rollback", "succeeded"),
        ],
    );
    let res = &r["result"];
    assert_eq!(res["restart_watchdog_status"], "unstable");
    assert_eq!(res["restart_watchdog_reason"], "process_exited:3");
    assert_eq!(res["rollback_failure_class"], "restart_watchdog_failure");
    assert_eq!(res["rollback_policy_status"], "allowed");
    assert_eq!(res["rollback_policy_reason"], "rollback_target_validated");
    assert_eq!(res["rollback_target_release_id"], "r1");
    assert_eq!(res["release_metadata_source"], "registry");
    assert_eq!(
        (
            res["rollback_performed"].as_bool(),
            res["rollback_succeeded"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(version(port).await.as_deref(), Some("r1"));

    // r3 answers 500: health_failure, rolled back to r1 again.
    release(&att, port, "r3", &["--health-status", "500"]).await;
    let r = run(&att, request("r3")).await;
    assert_eq!(r["status"], "failed", "{r}");
    expect_phases(
        &r,
        &[
            ("resolve", "succeeded"),
            ("change", "skipped"),
            ("publish", "skipped"),
            ("build", "skipped"),
            ("deploy", "succeeded"),
            ("restart_watchdog", "succeeded"),
            ("health", "failed"),
            ("guard", "skipped"),
            ("rollback", "succeeded"),
        ],
    );
    let res = &r["result"];
    assert_eq!(res["health_status"], "unhealthy");
    assert_eq!(res["rollback_failure_class"], "health_failure");
    assert_eq!(res["rollback_succeeded"], true);
    let health = phase(&r, "health")["message"].as_str().unwrap_or_default();
    assert_eq!(health, "http_status:500");
    assert_eq!(version(port).await.as_deref(), Some("r1"));

    // The registry: r1 live, the failed ones rolled back.
    let releases = att
        .get_json("/api/v1/bootstrap/releases?target=service:web")
        .await;
    let statuses: Vec<(String, String)> = releases["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("r3".into(), "rolled_back".into()),
            ("r2".into(), "rolled_back".into()),
            ("r1".into(), "live".into())
        ]
    );

    // With the watchdog switch off, a crashing release is not rolled back: the policy says why.
    release(&att, port, "r4", &["--crash-after-ms", "100"]).await;
    let mut req = request("r4");
    req["rollback_on_restart_watchdog_failure"] = json!(false);
    let r = run(&att, req).await;
    let res = &r["result"];
    assert_eq!(res["rollback_policy_status"], "denied", "{r}");
    assert_eq!(
        res["rollback_policy_reason"],
        "rollback_disabled_for_restart_watchdog_failure"
    );
    assert_eq!(res["rollback_performed"], false);

    // Events: one per phase transition, correlated by run id.
    let id = r["id"].as_str().expect("id");
    // Events are written by the log's writer after the fact: wait for the run's last one.
    let kinds = eventually("the run's events", Duration::from_secs(10), || async {
        let events = att
            .get_json(&format!("/api/v1/events?correlation_id={id}"))
            .await;
        let kinds: Vec<(String, String)> = events["events"]
            .as_array()?
            .iter()
            .filter_map(|e| {
                let principal = e["data"]["principal"].as_str().unwrap_or("?").to_owned();
                e["kind"].as_str().map(|k| (k.to_owned(), principal))
            })
            .collect();
        kinds
            .iter()
            .any(|(k, _)| k == "bootstrap.run")
            .then_some(kinds)
    })
    .await;
    assert!(
        kinds.iter().any(|(k, _)| k == "bootstrap.phase")
            && kinds.iter().any(|(k, _)| k == "bootstrap.rollback_policy"),
        "{kinds:?}"
    );
    // The run's events name who asked for it (att is open here: `anonymous`).
    assert!(
        kinds
            .iter()
            .filter(|(k, _)| k == "bootstrap.run" || k == "bootstrap.phase")
            .all(|(_, p)| p == "anonymous"),
        "{kinds:?}"
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn one_run_per_target_and_bad_requests_are_refused() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    release(&att, port, "slow", &["--health-status", "503"]).await;
    let req = json!({"target": "service:web", "requested_release_id": "slow",
                     "health_check_interval": "50ms", "health_deadline": "3s",
                     "rollback_on_health_failure": false});
    let (status, first) = post(&att, "/api/v1/bootstrap/runs", req.clone()).await;
    assert_eq!(status, 202, "{first}");
    let (status, busy) = post(&att, "/api/v1/bootstrap/runs", req).await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["detail"]["run_id"], first["run_id"], "{busy}");

    let (status, body) = post(
        &att,
        "/api/v1/bootstrap/runs",
        json!({"target": "web", "requested_release_id": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(
        &att,
        "/api/v1/bootstrap/runs",
        json!({"target": "service:web", "requested_release_id": "x", "colour": 1}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // An unregistered release fails at resolve, before anything is deployed.
    let id = first["run_id"].as_str().expect("id").to_owned();
    eventually("the first run's end", Duration::from_secs(30), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (r["status"] != "running").then_some(())
    })
    .await;
    let r = run(
        &att,
        json!({"target": "service:web", "requested_release_id": "nope"}),
    )
    .await;
    assert_eq!(r["status"], "failed");
    expect_phases(
        &r,
        &[
            ("resolve", "failed"),
            ("change", "skipped"),
            ("publish", "skipped"),
            ("build", "skipped"),
            ("deploy", "skipped"),
            ("restart_watchdog", "skipped"),
            ("health", "skipped"),
            ("guard", "skipped"),
            ("rollback", "skipped"),
        ],
    );
    assert!(
        phase(&r, "resolve")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`nope`"),
        "{r}"
    );
    let r = att
        .http
        .get(att.url("/api/v1/bootstrap/runs/nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let runs = att.get_json("/api/v1/bootstrap/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2));
    att.server.shutdown().await;
}

/// `att serve` killed with SIGKILL in the middle of a run: after the restart the run is
/// concluded and the service is on the new release (healthy) or back on the old one, never
/// neither. Both ways: killed during a good release's watch window (it goes live), and
/// during a bad release's health gate (it is rolled back). The service's process group that
/// the killed att left behind is stopped, not duplicated.
#[tokio::test]
async fn a_run_interrupted_by_sigkill_is_concluded_after_the_restart() {
    use common::AttProcess;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = free_port();
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        format!(
            "[[services]]\nname = \"web\"\ncommand = \"{SERVICE}\"\nargs = [\"--port\", \"{port}\", \"--release\", \"r0\"]\n\
             health = {{ kind = \"http\", url = \"http://127.0.0.1:{port}/health\" }}\nstop_grace = \"2s\"\nguard_period = \"0s\"\n"
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let http = reqwest::Client::new();
    let post =
        |att: &AttProcess, path: &str, body: Value| http.post(att.url(path)).json(&body).send();
    let get = |att: &AttProcess, path: String| {
        let r = http.get(att.url(&path)).send();
        async move { r.await.expect("get").json::<Value>().await.expect("json") }
    };

    let mut att = AttProcess::start(&data, &["--config", &config]);
    for (id, extra) in [("r1", vec![]), ("r2", vec!["--health-status", "500"])] {
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--release".into(),
            id.into(),
        ];
        args.extend(extra.into_iter().map(str::to_owned));
        let r = post(
            &att,
            "/api/v1/bootstrap/releases",
            json!({"target": "service:web", "id": id, "command": SERVICE, "args": args}),
        )
        .await
        .expect("release");
        assert_eq!(r.status(), 201);
    }

    // 1. Killed while r1 is being watched (a long window): after the restart, r1 is checked
    //    again and goes live.
    let r: Value = post(
        &att,
        "/api/v1/bootstrap/runs",
        json!({
        "target": "service:web", "requested_release_id": "r1",
        "restart_watchdog_retries": 3, "restart_watchdog_interval": "10s",
        "health_check_interval": "50ms", "health_deadline": "5s"}),
    )
    .await
    .expect("run")
    .json()
    .await
    .expect("json");
    let first = r["run_id"].as_str().expect("id").to_owned();
    eventually("r1 in its watch window", Duration::from_secs(20), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{first}"));
        async move { (phase(&r.await, "restart_watchdog")["status"] == "running").then_some(()) }
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
        "the service outlives a killed att"
    );

    let mut att = AttProcess::start(&data, &["--config", &config]);
    let r = eventually("the first run concluded", Duration::from_secs(30), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{first}"));
        async move {
            let r = r.await;
            (r["status"] != "running").then_some(r)
        }
    })
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        phase(&r, "restart_watchdog")["message"],
        "interrupted by a restart of att",
        "{r}"
    );
    assert_eq!(phase(&r, "health")["status"], "succeeded", "{r}");
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    let now = get(&att, "/api/v1/services/web".into()).await;
    assert_eq!(now["status"]["release"], "r1", "{now}");
    assert_ne!(
        now["status"]["pid"].as_u64(),
        Some(orphan),
        "the orphan was replaced"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{orphan}")).exists()
            || std::fs::read_to_string(format!("/proc/{orphan}/stat"))
                .unwrap_or_default()
                .contains(") Z"),
        "the orphaned process group was stopped"
    );

    // 2. Killed while r2 (answers 500) fails its health gate: after the restart, the gate
    //    runs again, fails, and the policy rolls back to r1, which serves.
    let r: Value = post(
        &att,
        "/api/v1/bootstrap/runs",
        json!({
        "target": "service:web", "requested_release_id": "r2",
        "restart_watchdog_retries": 2, "restart_watchdog_interval": "50ms",
        "health_check_interval": "50ms", "health_deadline": "4s"}),
    )
    .await
    .expect("run")
    .json()
    .await
    .expect("json");
    let second = r["run_id"].as_str().expect("id").to_owned();
    eventually("r2 in its health gate", Duration::from_secs(20), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{second}"));
        async move { (phase(&r.await, "health")["status"] == "running").then_some(()) }
    })
    .await;
    att.signal(libc::SIGKILL);
    att.wait_exit(Duration::from_secs(10));

    let mut att = AttProcess::start(&data, &["--config", &config]);
    let r = eventually("the second run concluded", Duration::from_secs(40), || {
        let r = get(&att, format!("/api/v1/bootstrap/runs/{second}"));
        async move {
            let r = r.await;
            (r["status"] != "running").then_some(r)
        }
    })
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["result"]["health_status"], "unhealthy", "{r}");
    assert_eq!(r["result"]["rollback_succeeded"], true, "{r}");
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(20));
}

/// The run's events as SSE (ending with the run), a manual rollback to the previous live
/// release, and `att bootstrap run|rollback|releases|status` following runs from the CLI.
#[tokio::test]
async fn run_events_stream_manual_rollback_and_the_cli() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    for id in ["a", "b"] {
        release(&att, port, id, &[]).await;
    }
    release(&att, port, "sick", &["--health-status", "500"]).await;
    let base = att.url("");
    let cli = |args: Vec<&'static str>| {
        let base = base.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"))
                .arg("bootstrap")
                .args(args)
                .args(["--att-url", &base])
                .output()
                .await
                .expect("att bootstrap");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    // Fast probes for every run through the API; the CLI uses the defaults (3 × 5 s watch), so
    // it deploys with `--no-wait` where speed matters and follows the quick ones.
    let fast = |id: &str| {
        json!({"target": "service:web", "requested_release_id": id,
        "restart_watchdog_retries": 2, "restart_watchdog_interval": "50ms",
        "health_check_interval": "50ms", "health_deadline": "1s"})
    };

    let r = run(&att, fast("a")).await;
    assert_eq!(r["status"], "succeeded");
    // The stream of a finished run replays its events and ends.
    let id = r["id"].as_str().expect("id");
    let text = att
        .http
        .get(att.url(&format!("/api/v1/bootstrap/runs/{id}/events")))
        .send()
        .await
        .expect("sse")
        .text()
        .await
        .expect("ends");
    let kinds: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap_or(""),
                e["data"]["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("bootstrap.phase resolve"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("bootstrap.run "),
        "{kinds:?}"
    );
    let r = att
        .http
        .get(att.url("/api/v1/bootstrap/runs/nope/events"))
        .send()
        .await
        .expect("sse");
    assert_eq!(r.status(), 404);

    let r = run(&att, fast("b")).await;
    assert_eq!(r["status"], "succeeded");
    assert_eq!(version(port).await.as_deref(), Some("b"));
    // Manual rollback: back to the previous live release (a), verified like any run.
    let (status, body) = post(
        &att,
        "/api/v1/bootstrap/targets/service:web/rollback",
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["run_id"].as_str().expect("id").to_owned();
    let r = eventually("the rollback run", Duration::from_secs(60), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (r["status"] != "running").then_some(r)
    })
    .await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["request"]["requested_release_id"].as_str()
        ),
        (Some("succeeded"), Some("a")),
        "{r}"
    );
    assert_eq!(version(port).await.as_deref(), Some("a"));
    let (status, _) = post(
        &att,
        "/api/v1/bootstrap/targets/service:nothing/rollback",
        json!({}),
    )
    .await;
    assert_eq!(status, 422);

    // The CLI: releases, a run it follows to the end (a failing release exits 1 and says
    // why), a run it does not follow, the runs, and one run in detail.
    let (code, out) = cli(vec!["releases", "--target", "service:web"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("a ") && l.contains("live")),
        "{out}"
    );
    let quick = [
        "--watchdog-retries",
        "2",
        "--watchdog-interval",
        "50ms",
        "--health-interval",
        "50ms",
    ];
    let mut args = vec![
        "run",
        "--target",
        "service:web",
        "--release",
        "sick",
        "--health-deadline",
        "1s",
    ];
    args.extend(quick);
    let (code, out) = cli(args).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("health             failed  (http_status:500)"),
        "{out}"
    );
    assert!(
        out.contains("rollback: allowed (rollback_target_validated) — back on a"),
        "{out}"
    );
    // A run started without following it; a second one for the target is refused meanwhile.
    let mut args = vec![
        "run",
        "--target",
        "service:web",
        "--release",
        "sick",
        "--health-deadline",
        "3s",
        "--no-wait",
    ];
    args.extend(quick);
    let (code, out) = cli(args).await;
    assert_eq!(code, Some(0), "{out}");
    let sick: &'static str = Box::leak(out.trim().to_owned().into_boxed_str());
    assert!(sick.starts_with("run-"), "{out}");
    let (code, _) = cli(vec![
        "run",
        "--target",
        "service:web",
        "--release",
        "b",
        "--no-wait",
    ])
    .await;
    assert_eq!(code, Some(1), "the target is busy");
    let (code, out) = cli(vec!["status"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains(sick), "{out}");
    let (code, out) = eventually(
        "the second sick run's end",
        Duration::from_secs(60),
        || async move {
            let (code, out) = cli(vec!["status", sick]).await;
            (!out.contains(" — running")).then_some((code, out))
        },
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("did not go live"), "{out}");
    assert_eq!(version(port).await.as_deref(), Some("a"));
    att.server.shutdown().await;
}

/// Cancelling a run in its health gate stops it and rolls the target back to the release it
/// ran before; a finished run cannot be cancelled.
#[tokio::test]
async fn a_cancelled_run_rolls_the_target_back_and_ends_cancelled() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    release(&att, port, "good", &[]).await;
    release(&att, port, "sick", &["--health-status", "503"]).await;
    let quick = |id: &str, deadline: &str| {
        json!({"target": "service:web", "requested_release_id": id,
        "restart_watchdog_retries": 2, "restart_watchdog_interval": "50ms",
        "health_check_interval": "50ms", "health_deadline": deadline})
    };
    let r = run(&att, quick("good", "5s")).await;
    assert_eq!(r["status"], "succeeded");

    let (status, body) = post(&att, "/api/v1/bootstrap/runs", quick("sick", "60s")).await;
    assert_eq!(status, 202);
    let id = body["run_id"].as_str().expect("id").to_owned();
    eventually("the health gate", Duration::from_secs(20), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (phase(&r, "health")["status"] == "running").then_some(())
    })
    .await;
    let (status, body) = post(
        &att,
        &format!("/api/v1/bootstrap/runs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let r = eventually(
        "the cancelled run's end",
        Duration::from_secs(30),
        || async {
            let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
            (r["status"] != "running").then_some(r)
        },
    )
    .await;
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(phase(&r, "health")["message"], "cancelled", "{r}");
    assert_eq!(phase(&r, "rollback")["status"], "succeeded", "{r}");
    assert_eq!(version(port).await.as_deref(), Some("good"));

    let (status, _) = post(
        &att,
        &format!("/api/v1/bootstrap/runs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = post(&att, "/api/v1/bootstrap/runs/nope/cancel", json!({})).await;
    assert_eq!(status, 404);
    att.server.shutdown().await;
}

const BUILD_OK: &str = "mkdir -p out && cp \"$FIXTURE\" out/service && echo built\n";

#[tokio::test]
async fn releases_are_built_from_commits_in_a_worktree_and_their_artifacts_kept() {
    let port = free_port();
    let repo_dir = tempfile::tempdir().expect("repo dir");
    let repo = git2::Repository::init(repo_dir.path()).expect("init");
    let c0 = common::commit(&repo, &[("build.sh", BUILD_OK), ("VERSION", "0")], "zero");
    let c1 = common::commit(&repo, &[("VERSION", "1")], "one");
    let spec: att_release::service::spec::ServiceSpec = serde_json::from_value(json!({
        "name": "web", "command": "{artifact}",
        "args": ["--port", port.to_string(), "--release", "{release}"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s",
        "build": {"repo": repo_dir.path(), "command": ["sh", "build.sh"],
                  "artifact": "out/service", "env": {"FIXTURE": SERVICE}}
    }))
    .expect("spec");
    let att = TestAtt::start_with(|c| c.services = vec![spec]).await;
    // Nothing is deployed yet: the service says how to get a release.
    let s = att.get_json("/api/v1/services/web").await;
    assert_eq!(s["status"]["state"], "failed_to_start", "{s}");
    assert!(
        s["status"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("att bootstrap run"),
        "{s}"
    );
    let fast = json!({"target": "service:web", "restart_watchdog_retries": 2,
                      "restart_watchdog_interval": "50ms", "health_check_interval": "50ms",
                      "health_deadline": "5s"});

    // No release named: HEAD is built in the worktree, deployed and goes live.
    let r = run(&att, fast.clone()).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "build")["status"], "succeeded", "{r}");
    assert_eq!(r["result"]["deployed_release_id"], c1.as_str(), "{r}");
    // Nothing was live and the log names no release: git names the parent commit.
    assert_eq!(r["result"]["release_metadata_source"], "git", "{r}");
    assert_eq!(
        r["result"]["rollback_target_release_id"],
        c0.as_str(),
        "{r}"
    );
    assert_eq!(version(port).await.as_deref(), Some(c1.as_str()));
    let run_id = r["id"].as_str().expect("id").to_owned();
    eventually(
        "the build's output as events",
        Duration::from_secs(10),
        || async {
            let e = att
                .get_json(&format!(
                    "/api/v1/events?kind=bootstrap.build_output&correlation_id={run_id}"
                ))
                .await;
            e.to_string().contains("built").then_some(())
        },
    )
    .await;

    // A second commit: built and deployed; the first is the rollback target.
    let c2 = common::commit(&repo, &[("VERSION", "2")], "two");
    let r = run(&att, fast.clone()).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        r["result"]["rollback_target_release_id"],
        c1.as_str(),
        "{r}"
    );
    assert_eq!(version(port).await.as_deref(), Some(c2.as_str()));
    // Redeploying a kept release skips the build.
    let mut again = fast.clone();
    again["requested_release_id"] = json!(&c1[..10]);
    let r = run(&att, again).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "build")["status"], "skipped", "{r}");
    assert_eq!(version(port).await.as_deref(), Some(c1.as_str()));

    // A commit that does not build: the run fails in `build`, nothing is deployed.
    let c3 = common::commit(
        &repo,
        &[(
            "build.sh",
            "echo 'error: it does not compile' >&2; exit 3\n",
        )],
        "three",
    );
    let r = run(&att, fast.clone()).await;
    assert_eq!(r["status"], "failed", "{r}");
    let build = phase(&r, "build");
    assert_eq!(build["status"], "failed", "{r}");
    let why = build["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("exit") && why.contains("it does not compile"),
        "{why}"
    );
    assert_eq!(phase(&r, "deploy")["status"], "skipped", "{r}");
    assert_eq!(r["result"]["deployed_release_id"], c3.as_str());
    assert_eq!(version(port).await.as_deref(), Some(c1.as_str()));
    // A name that is neither a release nor a commit fails at resolve.
    let mut bad = fast.clone();
    bad["requested_release_id"] = json!("no-such-branch");
    let r = run(&att, bad).await;
    let why = phase(&r, "resolve")["message"].as_str().unwrap_or_default();
    assert!(why.contains("`no-such-branch` is not a commit"), "{r}");

    // Five more releases: only the newest five keep their artifacts.
    let mut ids = vec![c1.clone(), c2.clone()];
    for n in 4..9 {
        let c = common::commit(
            &repo,
            &[("build.sh", BUILD_OK), ("VERSION", &n.to_string())],
            "more",
        );
        let r = run(&att, fast.clone()).await;
        assert_eq!(r["status"], "succeeded", "{r}");
        ids.push(c);
    }
    let releases = att
        .get_json("/api/v1/bootstrap/releases?target=service:web")
        .await;
    let kept: Vec<&str> = releases["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .filter(|r| !r["artifact"].is_null())
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kept.len(), 5, "{releases}");
    let data_dir = att.data.path().to_path_buf();
    for (i, id) in ids.iter().enumerate() {
        let dir = data_dir.join("releases/service-web").join(id);
        assert_eq!(dir.exists(), i >= 2, "{id}: {releases}");
        assert_eq!(kept.contains(&id.as_str()), i >= 2, "{id}");
    }

    // The live tree was never touched: no build output, no extra branch.
    let statuses = repo.statuses(None).expect("statuses");
    assert_eq!(statuses.len(), 0, "the repository's own tree changed");
    let branches: Vec<String> = repo
        .branches(None)
        .expect("branches")
        .filter_map(|b| b.ok()?.0.name().ok()?.map(str::to_owned))
        .collect();
    assert_eq!(branches.len(), 1, "{branches:?}");

    // Going back to a release whose artifact was pruned builds it again.
    let (status, body) = post(
        &att,
        "/api/v1/bootstrap/targets/service:web/rollback",
        json!({"release_id": c1}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["run_id"].as_str().expect("run id").to_owned();
    let r = eventually(
        "the rollback run's end",
        Duration::from_secs(60),
        || async {
            let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
            (r["status"] != "running").then_some(r)
        },
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(phase(&r, "build")["status"], "succeeded", "{r}");
    assert_eq!(version(port).await.as_deref(), Some(c1.as_str()));
    att.server.shutdown().await;
}
