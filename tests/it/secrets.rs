//! Secrets at rest: header and environment values of registrations are sealed in the store —
//! no file of the data directory holds them in the clear, even a record stored before
//! sealing — and open again when att restarts (the upstream still gets its header). A data
//! directory read with another key refuses to start, naming the record.

use crate::common;

use std::path::Path;
use std::time::Duration;

use att::config::Config;
use att_gateway::upstream::{UpstreamSpec, UpstreamStore};
use common::eventually;
use serde_json::{Value, json};

const HEADER_SECRET: &str = "ghp_planted_header_secret_0123";
const ENV_SECRET: &str = "planted_env_secret_4567";
const OLD_SECRET: &str = "stored_in_the_clear_before_8910";

/// A fixture upstream that answers only requests carrying `Authorization: Bearer
/// HEADER_SECRET` (401 otherwise).
async fn guarded_fixture() -> String {
    common::serve_guarded_fixture("guarded", |h| {
        let want = format!("Bearer {HEADER_SECRET}");
        h.get("authorization")
            .is_some_and(|v| v.as_bytes() == want.as_bytes())
    })
    .await
}

async fn start(data: &Path) -> att::server::Server {
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.to_owned(),
        ..Config::default()
    };
    att::server::start(config).await.expect("att starts")
}

/// Calls `echo` on `server` through att until it answers (the upstream's first handshake).
async fn echo_through(att: &att::server::Server, server: &str) -> Value {
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/mcp/invoke/tool", att.local_addr);
    eventually("a routed echo", Duration::from_secs(15), || async {
        let r = http
            .post(&url)
            .json(&json!({"tool_name": "echo", "arguments": {"text": "hi"}, "preferred_servers": [server]}))
            .send()
            .await
            .ok()?;
        let ok = r.status().is_success();
        let body: Value = r.json().await.ok()?;
        (ok && body.to_string().contains(server)).then_some(body)
    })
    .await
}

/// Every byte of every file under `dir`, as text (lossy).
fn everything_in(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            all.push_str(&everything_in(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    all
}

#[tokio::test]
async fn header_and_env_values_are_sealed_at_rest_and_open_after_a_restart() {
    let url = guarded_fixture().await;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // A record stored in the clear, as an att before sealing left it.
    {
        let store = att::store::SqliteStore::open(&data.join("att.db"))
            .await
            .expect("store");
        let old: UpstreamSpec = serde_json::from_value(json!({
            "name": "old", "url": "http://127.0.0.1:9/mcp",
            "headers": {"Authorization": format!("Bearer {OLD_SECRET}")}
        }))
        .expect("spec");
        store.save_upstream(&old).await.expect("save");
        store.close().await;
        assert!(
            everything_in(&data).contains(OLD_SECRET),
            "the seed is in the clear"
        );
    }
    let att = start(&data).await;
    let http = reqwest::Client::new();
    let fixture_bin = env!("CARGO_BIN_EXE_att-mcp-fixture");
    for spec in [
        json!({"name": "guarded", "url": url, "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")}}),
        json!({"name": "local", "command": fixture_bin, "args": ["--name", "local"], "env": {"FIXTURE_TOKEN": ENV_SECRET}}),
    ] {
        let r = http
            .post(format!("http://{}/api/v1/mcp/servers", att.local_addr))
            .json(&spec)
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
    }
    echo_through(&att, "guarded").await;
    echo_through(&att, "local").await;
    att.shutdown().await;

    let at_rest = everything_in(&data);
    for secret in [HEADER_SECRET, ENV_SECRET, OLD_SECRET] {
        assert!(
            !at_rest.contains(secret),
            "`{secret}` is stored in the clear"
        );
    }
    assert!(at_rest.contains("Authorization") && at_rest.contains("FIXTURE_TOKEN"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(data.join("secret.key")).expect("the key file");
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }

    // Restarted on the same data: the values open, the upstream gets its header again.
    let att = start(&data).await;
    echo_through(&att, "guarded").await;
    att.shutdown().await;

    // Another key cannot read them: att refuses to start, naming the record.
    std::fs::write(
        data.join("secret.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .expect("other key");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.clone(),
        ..Config::default()
    };
    let e = match att::server::start(config).await {
        Ok(_) => panic!("att started with another key"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("another key") && e.contains("upstreams/"), "{e}");
    assert!(!e.contains(HEADER_SECRET) && !e.contains(OLD_SECRET));
}

/// `{ from_env = "NAME" }` in the configuration file: the header comes from att's
/// environment (the file holds no secret), and is shown redacted; an API registration may
/// not say it (422 naming the field), so no caller can read att's environment.
#[tokio::test]
async fn a_configured_header_from_atts_environment_reaches_the_upstream_and_the_api_refuses_the_form()
 {
    use common::AttProcess;
    let url = guarded_fixture().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        format!(
            "[[upstreams]]\nname = \"guarded\"\nurl = \"{url}\"\nheaders = {{ Authorization = {{ from_env = \"GUARD_TOKEN\" }} }}\n"
        ),
    )
    .expect("config");
    let file = std::fs::read_to_string(&config).expect("read");
    assert!(!file.contains(HEADER_SECRET));
    let att = AttProcess::start_with_env(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf-8")],
        &[("GUARD_TOKEN", &format!("Bearer {HEADER_SECRET}"))],
    );
    let http = reqwest::Client::new();
    eventually("a routed echo", Duration::from_secs(15), || async {
        let r = http
            .post(att.url("/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": "hi"}}))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let shown = http
        .get(att.url("/api/v1/mcp/servers/guarded"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(
        shown.contains("•••") && !shown.contains(HEADER_SECRET),
        "{shown}"
    );
    for (path, body, field) in [
        (
            "/api/v1/mcp/servers",
            json!({"name": "x", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": {"from_env": "GUARD_TOKEN"}}}),
            "headers.Authorization",
        ),
        (
            "/api/v1/services",
            json!({"name": "s", "command": "true", "env": {"T": {"from_env": "GUARD_TOKEN"}}}),
            "env.T",
        ),
    ] {
        let r = http
            .post(att.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 422, "{path}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["field"], field, "{e}");
    }
    // An unset variable stops att before anything starts, naming it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_att"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data2"))
        .env_remove("GUARD_TOKEN")
        .output()
        .expect("att");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GUARD_TOKEN"), "{stderr}");
}
