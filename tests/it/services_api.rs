//! `/api/v1/services`: managed services as real child processes (`att-fixture-service`),
//! declared in config or over the API.

use crate::common;

use std::time::Duration;

use common::{TestAtt, alive, eventually, free_port};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

async fn service(att: &TestAtt, name: &str) -> Value {
    att.get_json(&format!("/api/v1/services/{name}")).await
}

async fn running_pid(att: &TestAtt, name: &str) -> u64 {
    eventually("the service running", Duration::from_secs(10), || async {
        let s = service(att, name).await;
        (s["status"]["state"] == "running").then(|| s["status"]["pid"].as_u64())?
    })
    .await
}

async fn post(att: &TestAtt, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = att.http.post(att.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_configured_service_runs_with_att_and_is_stopped_started_and_restarted() {
    let port = free_port();
    let spec: att_release::service::spec::ServiceSpec = serde_json::from_value(json!({
        "name": "web", "command": SERVICE,
        "args": ["--port", port.to_string(), "--release", "r1"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s"
    }))
    .expect("spec");
    let att = TestAtt::start_with(|c| c.services = vec![spec]).await;
    let pid = running_pid(&att, "web").await;
    let s = service(&att, "web").await;
    assert_eq!(s["source"], "config");
    assert_eq!(s["spec"]["health"]["kind"], "http");

    // Its output is captured.
    let logs = eventually("its first lines", Duration::from_secs(10), || async {
        let l = att.get_json("/api/v1/services/web/logs?tail=10").await;
        let lines: Vec<String> = serde_json::from_value(l["lines"].clone()).ok()?;
        lines
            .iter()
            .any(|l| l.starts_with("listening on"))
            .then_some(lines)
    })
    .await;
    assert!(
        logs.contains(&"release_id=r1 previous_release_id=".to_owned()),
        "{logs:?}"
    );
    let r = att
        .http
        .get(att.url("/api/v1/services/web/logs?tail=oops"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 422);

    // Start while running: the same process.
    let (status, body) = post(&att, "/api/v1/services/web/start", None).await;
    assert_eq!((status, body["pid"].as_u64()), (200, Some(pid)));
    // Stop: the process is gone, and it stays stopped.
    let (status, body) = post(&att, "/api/v1/services/web/stop", None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("stopped")));
    assert_eq!(body["last_exit"]["signal"], 15, "{body}");
    assert!(!alive(pid));
    // Start: a new process; restart: another.
    let (status, body) = post(&att, "/api/v1/services/web/start", None).await;
    assert_eq!(status, 200, "{body}");
    let second = body["pid"].as_u64().expect("pid");
    assert_ne!(second, pid);
    let (status, body) = post(&att, "/api/v1/services/web/restart", None).await;
    assert_eq!(status, 200, "{body}");
    let third = body["pid"].as_u64().expect("pid");
    assert!(third != second && !alive(second));

    let r = att
        .http
        .get(att.url("/api/v1/services/nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let (status, _) = post(&att, "/api/v1/services/nope/stop", None).await;
    assert_eq!(status, 404);

    // att's shutdown stops its services.
    att.server.shutdown().await;
    assert!(!alive(third), "the service outlived att");
}

#[tokio::test]
async fn a_crashing_service_is_restarted_with_back_off_until_a_crash_loop_stops_it() {
    let att = TestAtt::start().await;
    let (status, body) = post(
        &att,
        "/api/v1/services",
        Some(json!({"name": "crashy", "command": SERVICE,
                    "args": ["--crash-after-ms", "50"],
                    "crash_exits": 3, "crash_window": "60s"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "api");
    let s = eventually("the crash loop", Duration::from_secs(20), || async {
        let s = service(&att, "crashy").await;
        (s["status"]["state"] == "crash_loop").then_some(s)
    })
    .await;
    // Three exits: the first two were restarted (200 ms, then 400 ms later), the third is
    // the loop.
    assert_eq!(s["status"]["restarts"], 2, "{s}");
    assert_eq!(s["status"]["last_exit"]["code"], 3);
    assert!(s["status"]["pid"].is_null());
    let events = eventually("the events", Duration::from_secs(10), || async {
        let e = att.get_json("/api/v1/events?kind=service.*").await;
        let kinds: Vec<String> = e["events"]
            .as_array()?
            .iter()
            .filter_map(|e| e["kind"].as_str().map(str::to_owned))
            .collect();
        kinds
            .iter()
            .any(|k| k == "service.crash_loop")
            .then_some(kinds)
    })
    .await;
    assert_eq!(
        events.iter().filter(|k| *k == "service.started").count(),
        3,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|k| *k == "service.exited").count(),
        2,
        "{events:?}"
    );

    // Bad definitions are refused with the reason; a missing program fails at start.
    let (status, body) = post(
        &att,
        "/api/v1/services",
        Some(json!({"name": "a b", "command": "x"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("service name"), "{body}");
    let (status, body) = post(
        &att,
        "/api/v1/services",
        Some(json!({"name": "x", "command": "y", "colour": 1})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("colour"), "{body}");
    let (status, _) = post(
        &att,
        "/api/v1/services",
        Some(json!({"name": "ghost", "command": "/nonexistent/program"})),
    )
    .await;
    assert_eq!(status, 201);
    let s = service(&att, "ghost").await;
    assert_eq!(s["status"]["state"], "failed_to_start", "{s}");
    assert!(
        s["status"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("/nonexistent/program")
    );
    let (status, body) = post(&att, "/api/v1/services/ghost/start", None).await;
    assert_eq!(status, 409, "{body}");

    let r = att
        .http
        .delete(att.url("/api/v1/services/crashy"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = att
        .http
        .get(att.url("/api/v1/services/crashy"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    att.server.shutdown().await;
}

#[tokio::test]
async fn an_api_registered_service_is_stored_and_runs_again_after_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = || att::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..att::config::Config::default()
    };
    let server = att::server::start(config()).await.expect("att starts");
    let base = format!("http://{}", server.local_addr);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/services"))
        .json(&json!({"name": "kept", "command": SERVICE, "args": ["--release", "k1"]}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.expect("json");
    let first_pid = first["status"]["pid"].as_u64().expect("pid");
    server.shutdown().await;
    assert!(!alive(first_pid));

    let server = att::server::start(config())
        .await
        .expect("att starts again");
    let base = format!("http://{}", server.local_addr);
    let s: Value = http
        .get(format!("{base}/api/v1/services/kept"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(s["source"], "api");
    assert_eq!(s["status"]["state"], "running", "{s}");
    assert_ne!(s["status"]["pid"].as_u64(), Some(first_pid));

    // Stopped on request, it stays stopped across a restart of att until started again.
    let r = http
        .post(format!("{base}/api/v1/services/kept/stop"))
        .send()
        .await
        .expect("stop");
    assert!(r.status().is_success(), "{}", r.status());
    server.shutdown().await;
    let server = att::server::start(config())
        .await
        .expect("att starts a third time");
    let base = format!("http://{}", server.local_addr);
    let get = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/api/v1/services/kept"))
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let s = get(base.clone()).await;
    assert_eq!(s["status"]["state"], "stopped", "{s}");
    let r = http
        .post(format!("{base}/api/v1/services/kept/start"))
        .send()
        .await
        .expect("start");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(get(base.clone()).await["status"]["state"], "running");
    server.shutdown().await;
}

/// The one live process whose arguments include `arg`, once there is exactly one.
async fn the_process_with(arg: &str) -> u64 {
    eventually(
        &format!("one process with argument {arg:?}"),
        Duration::from_secs(20),
        || async {
            match common::processes(|argv| argv.iter().any(|a| a == arg)).as_slice() {
                [pid] => Some(*pid),
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test]
async fn after_att_is_killed_the_next_one_stops_what_it_left_and_each_service_runs_once() {
    // Programs found through PATH that become another program: `sh` execs `sleep`, and
    // `python3` is (on a pyenv machine) a shim that execs the interpreter by its full path.
    let services = [
        ("shelled", "sh", "exec sleep 3001", "exec sleep 3001"),
        (
            "python",
            "python3",
            "import time; time.sleep(3002)",
            "import time; time.sleep(3002)",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let att = common::AttProcess::start(&data, &[]);
    let client = reqwest::Client::new();
    let mut before = Vec::new();
    for (name, program, script, _) in services {
        let r = client
            .post(att.url("/api/v1/services"))
            .json(&json!({"name": name, "command": program, "args": ["-c", script]}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    for (name, program, _, unique) in services {
        // `sh -c 'exec sleep 3001'` ends up as `sleep 3001`.
        let arg = if program == "sh" { "3001" } else { unique };
        let pid = the_process_with(arg).await;
        let s: Value = client
            .get(att.url(&format!("/api/v1/services/{name}")))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(s["status"]["pid"].as_u64(), Some(pid), "{s}");
        before.push((name, arg, pid));
    }
    att.signal(libc::SIGKILL);
    drop(att);
    for (_, _, pid) in &before {
        assert!(alive(*pid), "a SIGKILLed att leaves its services running");
    }

    let mut att = common::AttProcess::start(&data, &[]);
    let mut after = Vec::new();
    for (name, arg, old) in before {
        let new = eventually(
            &format!("{name} running again"),
            Duration::from_secs(20),
            || async {
                let s: Value = client
                    .get(att.url(&format!("/api/v1/services/{name}")))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                (s["status"]["state"] == "running").then(|| s["status"]["pid"].as_u64())?
            },
        )
        .await;
        assert_ne!(new, old, "{name}");
        common::wait_dead(old).await;
        assert_eq!(
            the_process_with(arg).await,
            new,
            "{name}: exactly one, the new one"
        );
        after.push(new);
    }
    // A graceful stop takes them along (a SIGKILLed att would leave them to the next one).
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(30));
    for pid in after {
        common::wait_dead(pid).await;
    }
}

#[tokio::test]
async fn service_and_release_environment_values_are_never_shown() {
    let att = TestAtt::start().await;
    let secret = "s3cret-service-token";
    let (status, posted) = post(
        &att,
        "/api/v1/services",
        Some(
            json!({"name": "hush", "command": SERVICE, "args": ["--release", "h1"],
                    "env": {"SERVICE_TOKEN": secret}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    let listed: Value = att
        .http
        .get(att.url("/api/v1/services"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let one = service(&att, "hush").await;
    for shown in [&posted, &listed, &one] {
        assert!(!shown.to_string().contains(secret), "{shown}");
    }
    assert_eq!(posted["spec"]["env"]["SERVICE_TOKEN"], "•••", "{posted}");
    assert_eq!(one["spec"]["env"]["SERVICE_TOKEN"], "•••", "{one}");

    let (status, release) = post(
        &att,
        "/api/v1/bootstrap/releases",
        Some(
            json!({"target": "service:hush", "id": "r1", "command": SERVICE,
                    "env": {"RELEASE_TOKEN": secret}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{release}");
    let releases: Value = att
        .http
        .get(att.url("/api/v1/bootstrap/releases?target=service:hush"))
        .send()
        .await
        .expect("releases")
        .json()
        .await
        .expect("json");
    for shown in [&release, &releases] {
        assert!(!shown.to_string().contains(secret), "{shown}");
    }
    assert_eq!(
        releases["releases"][0]["env"]["RELEASE_TOKEN"], "•••",
        "{releases}"
    );
    att.server.shutdown().await;
}
