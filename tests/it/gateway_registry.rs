//! Concurrent registrations and removals of one upstream name: whatever order they land in,
//! the registry, the store and the running actors agree afterwards (the gateway serializes
//! them; `todo/decisions.md`).

use crate::common;

use common::serve_fixture;
use serde_json::{Value, json};

/// The registration of `racy` (its URL) and whether its actor runs.
async fn state(
    http: &reqwest::Client,
    base: &str,
    url_a: &str,
    url_b: &str,
) -> (Option<String>, bool) {
    let r = http
        .get(format!("{base}/api/v1/mcp/servers/racy"))
        .send()
        .await
        .expect("get");
    let registered = if r.status() == 404 {
        None
    } else {
        let v: Value = r.json().await.expect("json");
        let url = v["url"].as_str().unwrap_or_default().to_owned();
        assert!(url == url_a || url == url_b, "{v}");
        Some(url)
    };
    let actors: Value = http
        .get(format!("{base}/api/v1/actors"))
        .send()
        .await
        .expect("actors")
        .json()
        .await
        .expect("json");
    let running = actors["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .any(|a| a["name"] == "upstream:racy" && a["status"] == "running");
    (registered, running)
}

#[tokio::test]
async fn concurrent_registrations_and_removals_of_one_name_leave_registry_store_and_actors_agreeing()
 {
    let (a, b) = (serve_fixture("a").await, serve_fixture("b").await);
    let data = tempfile::tempdir().expect("temp dir");
    let config = || att::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..att::config::Config::default()
    };
    let http = reqwest::Client::new();
    for round in 0..5 {
        let server = att::server::start(config()).await.expect("att starts");
        let base = format!("http://{}", server.local_addr);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (http, base) = (http.clone(), base.clone());
            let url = if i % 2 == 0 {
                a.url.clone()
            } else {
                b.url.clone()
            };
            tasks.push(tokio::spawn(async move {
                if (i + round) % 3 == 2 {
                    http.delete(format!("{base}/api/v1/mcp/servers/racy"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                } else {
                    http.post(format!("{base}/api/v1/mcp/servers"))
                        .json(&json!({"name": "racy", "url": url}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                }
            }));
        }
        for t in tasks {
            let status = t.await.expect("join").expect("request");
            assert!([201, 204, 404].contains(&status), "status {status}");
        }
        // Registered ⇔ its actor runs.
        let (registered, running) = state(&http, &base, &a.url, &b.url).await;
        assert_eq!(
            registered.is_some(),
            running,
            "round {round}: {registered:?} running={running}"
        );
        // The store says the same: after a restart the same registration comes back.
        server.shutdown().await;
        let server = att::server::start(config())
            .await
            .expect("att starts again");
        let base = format!("http://{}", server.local_addr);
        let (after, running) = state(&http, &base, &a.url, &b.url).await;
        assert_eq!(
            after, registered,
            "round {round}: the store disagrees with the registry"
        );
        assert_eq!(after.is_some(), running);
        server.shutdown().await;
    }
}
