//! Concurrent registrations and removals of one service name: whatever order they land in,
//! the registry, the store, the running actors and the child processes agree afterwards
//! (the registry serializes them, as it does the gateway's upstreams; `att::registry`).

use crate::common;

use std::time::Duration;

use common::eventually;
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

/// The release `racy` is registered with, and whether its actor runs.
async fn state(http: &reqwest::Client, base: &str, releases: &[String]) -> (Option<String>, bool) {
    let r = http
        .get(format!("{base}/api/v1/services/racy"))
        .send()
        .await
        .expect("get");
    let registered = if r.status() == 404 {
        None
    } else {
        let v: Value = r.json().await.expect("json");
        let release = v["spec"]["args"][1].as_str().unwrap_or_default().to_owned();
        assert!(releases.contains(&release), "{v}");
        Some(release)
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
        .any(|a| a["name"] == "service:racy" && a["status"] == "running");
    (registered, running)
}

/// Waits until the only processes of this test are one of `registered` (or none).
async fn processes_match(releases: &[String], registered: Option<&String>) {
    let want: Vec<&String> = registered.into_iter().collect();
    eventually(
        "the processes to match the registration",
        Duration::from_secs(10),
        || async {
            let mut found = Vec::new();
            for release in releases {
                let pids = common::processes(|argv| argv.iter().any(|a| a == release));
                found.extend(pids.iter().map(|_| release));
            }
            (found == want).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_registrations_and_removals_of_one_service_leave_registry_store_actors_and_processes_agreeing()
 {
    let marker = format!("racy-{}", std::process::id());
    let releases = [format!("{marker}-a"), format!("{marker}-b")];
    let data = tempfile::tempdir().expect("temp dir");
    let config = || att::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..att::config::Config::default()
    };
    let http = reqwest::Client::new();
    for round in 0..4 {
        let server = att::server::start(config()).await.expect("att starts");
        let base = format!("http://{}", server.local_addr);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (http, base) = (http.clone(), base.clone());
            let release = releases[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                if (i + round) % 3 == 2 {
                    http.delete(format!("{base}/api/v1/services/racy"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                } else {
                    http.post(format!("{base}/api/v1/services"))
                        .json(&json!({
                            "name": "racy", "command": SERVICE,
                            "args": ["--release", release], "stop_grace": "2s",
                        }))
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
        // Registered ⇔ its actor runs ⇔ its one process runs.
        let (registered, running) = state(&http, &base, &releases).await;
        assert_eq!(
            registered.is_some(),
            running,
            "round {round}: {registered:?} running={running}"
        );
        processes_match(&releases, registered.as_ref()).await;
        // The store says the same: after a restart the same registration comes back.
        server.shutdown().await;
        processes_match(&releases, None).await;
        let server = att::server::start(config())
            .await
            .expect("att starts again");
        let base = format!("http://{}", server.local_addr);
        let (after, running) = state(&http, &base, &releases).await;
        assert_eq!(
            after, registered,
            "round {round}: the store disagrees with the registry"
        );
        assert_eq!(after.is_some(), running);
        processes_match(&releases, after.as_ref()).await;
        server.shutdown().await;
    }
}
