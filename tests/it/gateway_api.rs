//! The gateway end to end: a real `att serve`, real fixture servers (HTTP processes and a
//! stdio child), the `/api/v1/mcp` routes, persistence across a restart, process hygiene.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{AttProcess, alive, wait_dead};
use serde_json::{Value, json};

const FIXTURE: &str = env!("CARGO_BIN_EXE_att-mcp-fixture");

struct FixtureProcess {
    child: Child,
    url: String,
}

impl FixtureProcess {
    fn start(name: &str) -> Self {
        let mut child = Command::new(FIXTURE)
            .args(["--name", name, "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fixture");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let url = line
            .trim()
            .strip_prefix("fixture listening on ")
            .expect("address line")
            .to_owned();
        Self { child, url }
    }
}

impl Drop for FixtureProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(att: &AttProcess, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(att.url(path))
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(att: &AttProcess, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(att.url(path))
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Invokes until the tool is routable (catalogs arrive asynchronously after registration).
async fn invoke_when_known(att: &AttProcess, body: Value) -> (u16, Value) {
    for _ in 0..500 {
        let (status, v) = post(att, "/api/v1/mcp/invoke/tool", body.clone()).await;
        if status != 404 {
            return (status, v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tool never became routable");
}

#[tokio::test]
async fn registered_servers_serve_calls_survive_a_restart_and_leave_no_processes() {
    let (primary, backup) = (
        FixtureProcess::start("primary"),
        FixtureProcess::start("backup"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        format!("[[upstreams]]\nname = \"local\"\ncommand = \"{FIXTURE}\"\nargs = [\"--name\", \"local\"]\npriority = 50\n"),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8").to_owned();
    let mut att = AttProcess::start(&data, &["--config", &config]);

    for (name, url, priority) in [("primary", &primary.url, 10), ("backup", &backup.url, 20)] {
        let (status, v) = post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": name, "url": url, "priority": priority}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["source"], "api");
    }
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "bad name", "url": "http://h/mcp"}),
    )
    .await;
    assert_eq!((status, v["field"].as_str()), (422, Some("name")), "{v}");
    let (status, v) = post(&att, "/api/v1/mcp/servers", json!({"name": "x"})).await;
    assert_eq!((status, v["field"].as_str()), (422, Some("url")), "{v}");

    let (status, v) = invoke_when_known(
        &att,
        json!({"tool_name": "echo", "arguments": {"text": "hi"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["server"], "primary", "priority 10 beats 20 and 50");
    assert_eq!(
        v["result"]["structuredContent"],
        json!({"server": "primary", "text": "hi"})
    );
    assert!(v["request_id"].is_string() && v["attempts"].is_array());

    let (status, v) = post(
        &att,
        "/api/v1/mcp/invoke/tool",
        json!({"tool_name": "echo", "arguments": {"text": "x"}, "preferred_servers": ["local"]}),
    )
    .await;
    assert_eq!((status, v["server"].as_str()), (200, Some("local")), "{v}");
    let (status, v) = post(
        &att,
        "/api/v1/mcp/invoke/tool",
        json!({"tool_name": "stats", "preferred_servers": ["local"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let local_pid = v["result"]["structuredContent"]["pid"]
        .as_u64()
        .expect("pid");
    assert!(alive(local_pid));

    let (status, v) = post(
        &att,
        "/api/v1/mcp/invoke/tool",
        json!({"tool_name": "echo", "arguments": {}}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("invalid_params")),
        "{v}"
    );
    // A tool is unknown for sure only once every server's catalog is known: until then (a
    // slow handshake under load) the answer is 503 with Retry-After.
    let (status, v) = loop {
        let (status, v) = post(
            &att,
            "/api/v1/mcp/invoke/tool",
            json!({"tool_name": "nope"}),
        )
        .await;
        if status != 503 {
            break (status, v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, 404, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .expect("text")
            .contains("unknown tool `nope`"),
        "{v}"
    );
    let (status, v) = post(&att, "/api/v1/mcp/invoke/tool", json!({"tool_name": ""})).await;
    assert_eq!(
        (status, v["field"].as_str()),
        (422, Some("tool_name")),
        "{v}"
    );
    let (status, v) = post(
        &att,
        "/api/v1/mcp/invoke/resource",
        json!({"uri": "fixture://items/7"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    let (status, v) = get(&att, "/api/v1/mcp/servers/nobody").await;
    assert_eq!((status, &v["detail"]), (404, &json!("server not found")));
    let (status, v) = get(&att, "/api/v1/mcp/servers/primary").await;
    assert_eq!(status, 200);
    assert_eq!(v["state"]["status"], "healthy", "{v}");
    assert!(
        v["state"]["catalog"]["tools"]
            .as_u64()
            .is_some_and(|n| n >= 9),
        "{v}"
    );

    // Restart: API-registered servers (and the configured one) are back.
    att.signal(libc::SIGTERM);
    assert_eq!(
        att.wait_exit(Duration::from_secs(30)).code(),
        Some(0),
        "{}",
        att.stderr()
    );
    wait_dead(local_pid).await;
    drop(att);
    let att = AttProcess::start(&data, &["--config", &config]);
    let (_, v) = get(&att, "/api/v1/mcp/servers").await;
    let names: Vec<(String, String)> = v["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_owned(),
                s["source"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("backup".into(), "api".into()),
            ("local".into(), "config".into()),
            ("primary".into(), "api".into())
        ]
    );
    let (status, v) = invoke_when_known(
        &att,
        json!({"tool_name": "echo", "arguments": {"text": "again"}}),
    )
    .await;
    assert_eq!(
        (status, v["server"].as_str()),
        (200, Some("primary")),
        "{v}"
    );

    // Deleting the stdio upstream stops its process.
    let (_, v) = post(
        &att,
        "/api/v1/mcp/invoke/tool",
        json!({"tool_name": "stats", "preferred_servers": ["local"]}),
    )
    .await;
    let local_pid = v["result"]["structuredContent"]["pid"]
        .as_u64()
        .expect("pid");
    let r = reqwest::Client::new()
        .delete(att.url("/api/v1/mcp/servers/local"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    wait_dead(local_pid).await;
    let r = reqwest::Client::new()
        .delete(att.url("/api/v1/mcp/servers/primary"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    let (_, v) = get(&att, "/api/v1/mcp/servers").await;
    let left: Vec<&str> = v["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(left, ["backup"]);
}

#[tokio::test]
async fn catalog_views_session_routes_checks_and_event_views_work_on_a_live_server() {
    let primary = FixtureProcess::start("primary");
    let dir = tempfile::tempdir().expect("temp dir");
    let att = AttProcess::start(&dir.path().join("data"), &[]);
    let (status, _) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "primary", "url": primary.url}),
    )
    .await;
    assert_eq!(status, 201);
    invoke_when_known(
        &att,
        json!({"tool_name": "echo", "arguments": {"text": "warm"}}),
    )
    .await;

    let (_, tools) = get(&att, "/api/v1/mcp/tools").await;
    let echo = tools["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["name"] == "echo")
        .cloned()
        .expect("echo");
    assert_eq!(echo["servers"], json!(["primary"]));
    assert!(echo["entry"]["inputSchema"].is_object(), "{echo}");
    let (_, resources) = get(&att, "/api/v1/mcp/resources").await;
    let uris: Vec<&str> = resources["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(uris, ["fixture://greeting", "fixture://items/{id}"]);
    let (_, prompts) = get(&att, "/api/v1/mcp/prompts").await;
    assert_eq!(prompts["items"][0]["name"], "greet");

    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers/primary/session/invalidate",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &v["state"]["initialized"]),
        (200, &json!(false)),
        "{v}"
    );
    let handshakes = v["state"]["handshakes"].as_u64().expect("count");
    let (_, v) = post(
        &att,
        "/api/v1/mcp/servers/primary/session/refresh",
        json!({}),
    )
    .await;
    assert_eq!(v["state"]["initialized"], true, "{v}");
    assert_eq!(v["state"]["handshakes"].as_u64(), Some(handshakes + 1));
    let (status, v) = post(&att, "/api/v1/mcp/servers/primary/health-check", json!({})).await;
    assert_eq!(
        (status, &v["state"]["status"]),
        (200, &json!("healthy")),
        "{v}"
    );
    assert!(v["state"]["last_checked_at"].is_string(), "{v}");
    for all in ["health-check", "initialize", "connect"] {
        let (status, v) = post(&att, &format!("/api/v1/mcp/servers/{all}"), json!({})).await;
        assert_eq!(
            (status, v["servers"].as_array().map(Vec::len)),
            (200, Some(1)),
            "{all}: {v}"
        );
    }
    for route in [
        "health-check",
        "initialize",
        "connect",
        "session/refresh",
        "session/invalidate",
    ] {
        let (status, _) = post(
            &att,
            &format!("/api/v1/mcp/servers/nobody/{route}"),
            json!({}),
        )
        .await;
        assert_eq!(status, 404, "{route}");
    }

    // A non-repeatable tool failing after it was sent: 502, and the status change and the
    // invocation phases are filed under this request's id.
    let r = reqwest::Client::new()
        .post(att.url("/api/v1/mcp/invoke/tool"))
        .header("x-request-id", "req-502")
        .json(&json!({"tool_name": "fail_rpc"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "outcome_unknown");
    assert_eq!(v["detail"]["attempts"][0]["error_category"], "rpc_error");
    let mut events = Value::Null;
    for _ in 0..500 {
        events = get(&att, "/api/v1/mcp/events?server=primary").await.1;
        if events["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let e = &events["events"][0];
    assert_eq!(
        (e["from_status"].as_str(), e["to_status"].as_str()),
        (Some("healthy"), Some("degraded")),
        "{events}"
    );
    assert_eq!(e["correlation_id"], "req-502");
    let (_, none) = get(&att, "/api/v1/mcp/events?server=other").await;
    assert_eq!(none["events"], json!([]));
    let (_, inv) = get(
        &att,
        "/api/v1/mcp/invocation-events?request_id=req-502&method=tools/call",
    )
    .await;
    let phases: Vec<&str> = inv["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        ["invoke_start", "invoke_failure"],
        "the handshake was reused: {inv}"
    );
    let (status, v) = get(&att, "/api/v1/mcp/events?limit=0").await;
    assert_eq!((status, v["field"].as_str()), (422, Some("limit")));
}

async fn delete(att: &AttProcess, path: &str) -> u16 {
    reqwest::Client::new()
        .delete(att.url(path))
        .send()
        .await
        .expect("DELETE")
        .status()
        .as_u16()
}

/// Waits (bounded) until exactly one live process runs `argv`; its pid.
async fn the_process_running(argv: &[&str]) -> u64 {
    common::eventually(
        &format!("one process running {argv:?}"),
        Duration::from_secs(20),
        || async {
            match common::processes(|a| a == argv).as_slice() {
                [pid] => Some(*pid),
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test]
async fn durations_out_of_range_are_refused_naming_the_field_and_the_longest_allowed_work() {
    let fixture = FixtureProcess::start("slow");
    let dir = tempfile::tempdir().expect("temp dir");
    let att = AttProcess::start(&dir.path().join("data"), &[]);
    // The hostile run's case: stored with 201, then every connect panicked the actor.
    for (field, value) in [
        ("max_init_age", json!("99999999999h")),
        ("health_interval", json!("1ns")),
        ("call_timeout", json!("2h")),
        ("init_timeout", json!(0)),
    ] {
        let mut body = json!({"name": "huge", "url": fixture.url});
        body[field] = value.clone();
        let (status, v) = post(&att, "/api/v1/mcp/servers", body).await;
        assert_eq!(
            (status, v["field"].as_str()),
            (422, Some(field)),
            "{field} = {value}: {v}"
        );
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| d.contains("allowed from")),
            "{v}"
        );
    }
    let (status, v) = get(&att, "/api/v1/mcp/servers/huge").await;
    assert_eq!(status, 404, "nothing was stored: {v}");
    let (status, v) = post(
        &att,
        "/api/v1/services",
        json!({"name": "svc", "command": "true", "stop_grace": "99999999999h"}),
    )
    .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (422, Some("stop_grace")),
        "{v}"
    );
    let (status, v) = post(
        &att,
        "/api/v1/bootstrap/runs",
        json!({"target": "service:svc", "requested_release_id": "r1", "health_deadline": "99999999999h"}),
    )
    .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (422, Some("health_deadline")),
        "{v}"
    );

    // The longest durations allowed: registered, connected, initialized, healthy.
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "longest", "url": fixture.url, "call_timeout": "1h",
               "init_timeout": "1h", "health_interval": "24h", "max_init_age": "30days"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["max_init_age"], "30days", "{v}");
    let (status, v) = post(&att, "/api/v1/mcp/servers/longest/connect", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["state"]["status"], &v["state"]["initialized"]),
        (&json!("healthy"), &json!(true)),
        "{v}"
    );
    let (status, _) = get(&att, "/api/v1/ready").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_stored_registration_out_of_range_is_clamped_at_start_and_connects() {
    let fixture = FixtureProcess::start("old");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    {
        // A record written before the ranges existed (the store keeps what it is given).
        let store = att::store::SqliteStore::open(&data.join("att.db"))
            .await
            .expect("store");
        let mut spec: att_gateway::upstream::UpstreamSpec =
            serde_json::from_value(json!({"name": "old", "url": fixture.url})).expect("spec");
        spec.max_init_age = Duration::from_secs(99_999_999_999 * 3600);
        spec.health_interval = Duration::from_nanos(1);
        use att_gateway::upstream::UpstreamStore;
        store.save_upstream(&spec).await.expect("saved");
        store.close().await;
    }
    let mut att = AttProcess::start(&data, &[]);
    let (status, v) = post(&att, "/api/v1/mcp/servers/old/connect", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"]["initialized"], true, "{v}");
    assert_eq!(
        (&v["max_init_age"], &v["health_interval"]),
        (&json!("30days"), &json!("1s")),
        "clamped into range: {v}"
    );
    let (_, actors) = get(&att, "/api/v1/actors").await;
    let old = actors["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .find(|a| a["name"] == "upstream:old")
        .cloned()
        .expect("the upstream's actor");
    assert_eq!(
        (&old["status"], &old["restart_count"]),
        (&json!("running"), &json!(0)),
        "{old}"
    );
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(30));
    let log = att.stderr();
    assert!(
        log.contains("stored upstream `old`: max_init_age:") && log.contains("nearest allowed"),
        "the clamp is logged: {log}"
    );
}

#[tokio::test]
async fn upstream_urls_are_parsed_and_bad_ones_refused_naming_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let att = AttProcess::start(&dir.path().join("data"), &[]);
    for url in [
        "http://127.0.0.1:9/mcp\r\nX-Injected: 1",
        "http://127.0.0.1:99999/mcp",
        "http://[::1/mcp",
        "ftp://127.0.0.1/mcp",
        "http://exa mple.com/mcp",
    ] {
        let (status, v) = post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": "u", "url": url}),
        )
        .await;
        assert_eq!(
            (status, v["field"].as_str()),
            (422, Some("url")),
            "{url:?}: {v}"
        );
    }
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "u", "url": "http://[::1]:9/mcp"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn a_stdio_child_still_in_its_handshake_dies_on_delete_replace_and_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut att = AttProcess::start(&dir.path().join("data"), &[]);
    // `exec sleep` never answers `initialize`; init_timeout 1 h keeps it in its handshake.
    let stdio = |secs: &str| {
        json!({"name": "mute", "command": "sh", "args": ["-c", format!("exec sleep {secs}")],
               "init_timeout": "1h"})
    };
    let (status, v) = post(&att, "/api/v1/mcp/servers", stdio("2931")).await;
    assert_eq!(status, 201, "{v}");
    let first = the_process_running(&["sleep", "2931"]).await;
    assert_eq!(delete(&att, "/api/v1/mcp/servers/mute").await, 204);
    wait_dead(first).await;

    // Replaced by a new registration of the same name: the old child goes.
    let (status, _) = post(&att, "/api/v1/mcp/servers", stdio("2932")).await;
    assert_eq!(status, 201);
    let second = the_process_running(&["sleep", "2932"]).await;
    let (status, _) = post(&att, "/api/v1/mcp/servers", stdio("2934")).await;
    assert_eq!(status, 201);
    wait_dead(second).await;
    let third = the_process_running(&["sleep", "2934"]).await;

    // att's graceful stop.
    att.signal(libc::SIGTERM);
    assert_eq!(
        att.wait_exit(Duration::from_secs(30)).code(),
        Some(0),
        "{}",
        att.stderr()
    );
    wait_dead(third).await;
}

#[tokio::test]
async fn hundreds_of_unreachable_upstreams_are_listed_and_the_limit_is_enforced() {
    const N: usize = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let limit = N.to_string();
    let att = AttProcess::start_with_env(
        &dir.path().join("data"),
        &[],
        &[("ATT_GATEWAY__MAX_UPSTREAMS", &limit)],
    );
    let client = reqwest::Client::new();
    let register = |i: usize| {
        let (client, url) = (client.clone(), att.url("/api/v1/mcp/servers"));
        async move {
            client
                .post(url)
                .json(&json!({"name": format!("down{i:03}"), "url": "http://127.0.0.1:9/mcp"}))
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        }
    };
    for chunk in (0..N).collect::<Vec<_>>().chunks(25) {
        let statuses = futures_util::future::join_all(chunk.iter().map(|i| register(*i))).await;
        assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    }
    // Let them all fail at least once, then list them.
    let listed = common::eventually(
        "every upstream failed once",
        Duration::from_secs(60),
        || async {
            let (status, v) = get(&att, "/api/v1/mcp/servers").await;
            assert_eq!(status, 200, "{v}");
            let servers = v["servers"].as_array()?.clone();
            (servers.len() == N
                && servers
                    .iter()
                    .all(|s| s["state"]["retry_count"].as_u64() >= Some(1)))
            .then_some(servers)
        },
    )
    .await;
    assert_eq!(listed[0]["name"], "down000");
    assert_eq!(listed[N - 1]["name"], format!("down{:03}", N - 1));

    // One more is refused, saying the limit and how to raise it; a replacement is not.
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "one-too-many", "url": "http://127.0.0.1:9/mcp"}),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    let message = v["detail"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("{N} upstreams")) && message.contains("max_upstreams"),
        "{v}"
    );
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "down000", "url": "http://127.0.0.1:9/other"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(delete(&att, "/api/v1/mcp/servers/down001").await, 204);
    let (status, _) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "one-too-many", "url": "http://127.0.0.1:9/mcp"}),
    )
    .await;
    assert_eq!(status, 201, "a freed place can be taken");
}

#[tokio::test]
async fn header_and_env_values_appear_in_no_answer_event_or_log_line() {
    const HEADER_SECRET: &str = "ghp_PLANTEDheaderSECRET4711";
    const ENV_SECRET: &str = "PLANTEDenvSECRET0815";
    let dir = tempfile::tempdir().expect("temp dir");
    let mut att =
        AttProcess::start_with_env(&dir.path().join("data"), &[], &[("ATT_LOG_LEVEL", "debug")]);
    let (status, posted_http) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "gh", "url": "http://127.0.0.1:9/mcp",
               "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")}}),
    )
    .await;
    assert_eq!(status, 201, "{posted_http}");
    assert_eq!(posted_http["headers"]["Authorization"], "•••");
    let (status, posted_stdio) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "local", "command": FIXTURE, "args": ["--name", "local"],
               "env": {"SECRET_TOKEN": ENV_SECRET}}),
    )
    .await;
    assert_eq!(status, 201, "{posted_stdio}");
    assert_eq!(posted_stdio["env"]["SECRET_TOKEN"], "•••");
    let (status, v) = post(&att, "/api/v1/mcp/servers/local/connect", json!({})).await;
    assert_eq!(
        (status, &v["state"]["initialized"]),
        (200, &json!(true)),
        "{v}"
    );
    // The secret did reach the child: it is redacted, not dropped.
    let (_, v) = post(
        &att,
        "/api/v1/mcp/invoke/tool",
        json!({"tool_name": "stats", "preferred_servers": ["local"]}),
    )
    .await;
    let pid = v["result"]["structuredContent"]["pid"]
        .as_u64()
        .expect("pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(String::from_utf8_lossy(&environ).contains(&format!("SECRET_TOKEN={ENV_SECRET}")));
    let (_, _) = post(&att, "/api/v1/mcp/servers/gh/connect", json!({})).await;

    let mut seen = vec![posted_http.to_string(), posted_stdio.to_string()];
    for path in [
        "/api/v1/mcp/servers",
        "/api/v1/mcp/servers/gh",
        "/api/v1/mcp/servers/local",
        "/api/v1/events?limit=1000",
        "/api/v1/mcp/events",
        "/api/v1/actors/upstream:gh/trace",
    ] {
        let (status, v) = get(&att, path).await;
        assert_eq!(status, 200, "{path}: {v}");
        seen.push(v.to_string());
    }
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(30));
    let log = att.stderr();
    assert!(
        log.contains("upstream"),
        "the log has lines about upstreams: {log}"
    );
    seen.push(log);
    for text in &seen {
        assert!(
            !text.contains(HEADER_SECRET) && !text.contains(ENV_SECRET),
            "a secret leaked: {text}"
        );
    }
}
