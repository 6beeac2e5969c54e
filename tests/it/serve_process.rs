//! `att serve` as a real process: what answers, how it stops, what survives a crash, and how
//! it refuses bad configuration.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::AttProcess;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(p: &AttProcess, path: &str) -> reqwest::Response {
    client().get(p.url(path)).send().await.expect("GET")
}

#[tokio::test]
async fn serve_answers_every_skeleton_route_and_exits_0_promptly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut att = AttProcess::start(&data, &[]);

    let health: Value = get(&att, "/api/v1/health")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let ready = get(&att, "/api/v1/ready").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["checks"], json!({"actors": "ok", "store": "ok"}));
    assert_eq!(ready["peers"], json!([]), "one att on SQLite has no peers");

    let actors: Value = get(&att, "/api/v1/actors")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = actors["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "att",
            "bootstrap",
            "events",
            "router",
            "services",
            "upstreams"
        ]
    );

    let events: Value = get(&att, "/api/v1/events?kind=att.started")
        .await
        .json()
        .await
        .expect("json");
    let started = &events["events"][0];
    assert_eq!(started["data"]["pid"], att.child.id());

    let openapi: Value = get(&att, "/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    for path in [
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/actors",
        "/api/v1/actors/{name}/trace",
        "/api/v1/events",
        "/api/v1/events/stream",
        "/metrics",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }

    let metrics = get(&att, "/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(
            r#"att_http_requests_total{method="GET",route="/api/v1/health",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"att_actor_restarts_total{actor="events"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"att_actor_messages_handled_total{actor="events"}"#),
        "{metrics}"
    );

    att.signal(libc::SIGTERM);
    let status = att.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", att.stderr());
    assert!(
        att.stderr().contains("att stopped"),
        "stderr:\n{}",
        att.stderr()
    );
}

#[tokio::test]
async fn events_acknowledged_before_a_kill_9_are_there_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let att = AttProcess::start(&data, &[]);
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = client()
            .post(att.url("/api/v1/events"))
            .json(&json!({"kind": "test.durable", "correlation_id": "crash-run", "data": {"i": i}}))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201);
        let e: Value = r.json().await.expect("json");
        ids.push(e["id"].as_i64().expect("id"));
    }
    att.signal(libc::SIGKILL);
    drop(att);

    let att = AttProcess::start(&data, &[]);
    let events: Value = get(&att, "/api/v1/events?correlation_id=crash-run&limit=1000")
        .await
        .json()
        .await
        .expect("json");
    let after: Vec<i64> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(after, ids);
    let starts: Value = get(&att, "/api/v1/events?kind=att.started")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(starts["events"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn sigterm_flushes_the_event_log_and_the_stop_is_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut att = AttProcess::start(&data, &[]);
    att.signal(libc::SIGTERM);
    assert_eq!(att.wait_exit(Duration::from_secs(20)).code(), Some(0));
    drop(att);
    let att = AttProcess::start(&data, &[]);
    let stops: Value = get(&att, "/api/v1/events?kind=att.stopping")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stops["events"].as_array().map(Vec::len), Some(1), "{stops}");
}

fn serve_fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_att"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run att");
    assert!(!out.status.success(), "att should refuse to start");
    assert!(
        out.stdout.is_empty(),
        "nothing may start: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_configuration_fails_at_start_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "listen = \"127.0.0.1:0\"\n[http]\nrequest_timout = \"5s\"\n",
    )
    .expect("write");
    let err = serve_fails(
        &[
            "--config",
            unknown.to_str().expect("path"),
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(
        err.contains("http.request_timout") && err.contains("unknown field"),
        "{err}"
    );

    let bad_port = dir.path().join("port.toml");
    std::fs::write(&bad_port, "listen = \"127.0.0.1:70000\"\n").expect("write");
    let err = serve_fails(
        &[
            "--config",
            bad_port.to_str().expect("path"),
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(
        err.contains("`listen`") && err.contains("port from 0 to 65535"),
        "{err}"
    );

    let err = serve_fails(
        &["--data-dir", data],
        &[("ATT_ACTORS__MAX_RESTARTS", "many")],
    );
    assert!(
        err.contains("actors.max_restarts") && err.contains("ATT_ACTORS__MAX_RESTARTS"),
        "{err}"
    );

    // A data directory below a regular file cannot be created, even by root.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let below = file.join("data");
    let err = serve_fails(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            below.to_str().expect("path"),
        ],
        &[],
    );
    assert!(
        err.contains("data directory") && err.contains("plain-file"),
        "{err}"
    );

    let err = serve_fails(&["--listen", "0.0.0.0:0", "--data-dir", data], &[]);
    assert!(err.contains("api_token"), "{err}");
}

/// `--mcp-config` imports a client's remote entries (with `${VAR}` expanded from att's
/// environment; `"type": "sse"` as a legacy SSE upstream) beside its local ones, and says on
/// stderr which entries it left out and why.
#[tokio::test]
async fn mcp_config_imports_remote_servers_and_names_the_entries_it_skips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("claude_desktop_config.json");
    std::fs::write(
        &file,
        r#"{"mcpServers": {
            "remote": {"type": "http", "url": "http://127.0.0.1:9/mcp",
                       "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN}"}},
            "local": {"command": "/bin/cat", "args": ["${MCP_TEST_ARG:-x}"]},
            "old": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
            "weird": {"type": "websocket", "url": "ws://127.0.0.1:9"},
            "unset": {"url": "http://127.0.0.1:9/mcp", "headers": {"X-Key": "${MCP_TEST_UNSET_VAR}"}}
        }}"#,
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let att = AttProcess::start_with_env(
        &dir.path().join("data"),
        &["--mcp-config", path],
        &[("MCP_TEST_TOKEN", "s3cret-token")],
    );
    let servers: Value = get(&att, "/api/v1/mcp/servers")
        .await
        .json()
        .await
        .expect("json");
    let list = servers["servers"].as_array().expect("servers");
    let mut names: Vec<&str> = list.iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["local", "old", "remote"], "{servers}");
    let old = list.iter().find(|s| s["name"] == "old").expect("old");
    assert_eq!(
        (&old["url"], &old["transport"]),
        (&json!("http://127.0.0.1:9/sse"), &json!("sse")),
        "{old}"
    );
    let remote = list.iter().find(|s| s["name"] == "remote").expect("remote");
    assert_eq!(remote["url"], "http://127.0.0.1:9/mcp", "{remote}");
    let stderr = att.stderr();
    assert!(
        stderr.contains("skipped `weird`: `type`: unknown transport `websocket`"),
        "{stderr}"
    );
    assert!(!stderr.contains("skipped `old`"), "{stderr}");
    assert!(
        stderr.contains(
            "skipped `unset`: `headers`: environment variable `MCP_TEST_UNSET_VAR` is not set"
        ),
        "{stderr}"
    );
    assert!(!servers.to_string().contains("s3cret-token"), "{servers}");
    assert!(!stderr.contains("s3cret-token"), "{stderr}");
}
