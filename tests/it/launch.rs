//! `att launch` and the `self` target, with real processes: att upgrades itself to a release
//! built from a git commit (a copy of the att binary) while `/api/v1/health` is polled the
//! whole time, and keeps the running release when the new one hangs or exits at start.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::eventually;
use serde_json::{Value, json};

const ATT: &str = env!("CARGO_BIN_EXE_att");

struct Launcher {
    child: Child,
    base: String,
    stderr: std::path::PathBuf,
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn launch(data: &std::path::Path, config: &std::path::Path) -> Launcher {
    let stderr = data.with_extension("launch-stderr.log");
    let mut child = Command::new(ATT)
        .arg("launch")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("att launch");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("att listening on http://")
        .unwrap_or_else(|| panic!("att launch printed {line:?}"))
        .to_owned();
    Launcher {
        child,
        base: format!("http://{addr}"),
        stderr,
    }
}

async fn health(http: &reqwest::Client, base: &str) -> Option<Value> {
    let r = http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

async fn run_to_end(http: &reqwest::Client, base: &str, request: Value) -> Value {
    let r = http
        .post(format!("{base}/api/v1/bootstrap/runs"))
        .json(&request)
        .send()
        .await
        .expect("POST run");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    eventually("the run's end", Duration::from_secs(120), || async {
        let r: Value = http
            .get(format!("{base}/api/v1/bootstrap/runs/{id}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["status"] != "running" && r["status"].is_string()).then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn att_launch_upgrades_att_without_a_failed_request_and_keeps_it_when_the_new_one_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let repo_dir = dir.path().join("repo");
    let repo = git2::Repository::init(&repo_dir).expect("repo");
    let good = common::commit(
        &repo,
        &[("build.sh", "mkdir -p out && cp \"$ATT_BIN\" out/att\n")],
        "change",
    );
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        format!(
            "[launch]\nswitch_grace = \"120s\"\n[launch.build]\nrepo = {:?}\ncommand = [\"sh\", \"build.sh\"]\nartifact = \"out/att\"\nenv = {{ ATT_BIN = {ATT:?} }}\n",
            repo_dir.display().to_string()
        ),
    )
    .expect("config");
    let launcher = launch(&data, &config);
    let base = launcher.base.clone();
    let http = reqwest::Client::new();
    let first = eventually("att up", Duration::from_secs(30), || health(&http, &base)).await;
    assert_eq!(first["release"], Value::Null, "{first}");

    // Poll the health endpoint for the whole test, from a client of its own.
    let polling = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let poller = {
        let (polling, ok, failed, errors, base) = (
            polling.clone(),
            ok.clone(),
            failed.clone(),
            errors.clone(),
            base.clone(),
        );
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client");
            while polling.load(Ordering::SeqCst) {
                match client.get(format!("{base}/api/v1/health")).send().await {
                    Ok(r) if r.status().is_success() => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors.lock().expect("lock").push(r.status().to_string());
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors.lock().expect("lock").push(format!("{e:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let fast = |mut r: Value| {
        r["target"] = json!("self");
        r["restart_watchdog_retries"] = json!(3);
        r["restart_watchdog_interval"] = json!("100ms");
        r["health_check_interval"] = json!("50ms");
        r["health_deadline"] = json!("3s");
        r
    };

    // The good commit: built, started beside the old att, verified, switched to.
    let r = run_to_end(&http, &base, fast(json!({}))).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["result"]["deployed_release_id"], good.as_str(), "{r}");
    assert_eq!(r["result"]["release_metadata_source"], "launcher", "{r}");
    let now = eventually(
        "the new release answering",
        Duration::from_secs(30),
        || async {
            health(&http, &base)
                .await
                .filter(|h| h["release"] == good.as_str())
        },
    )
    .await;
    assert_ne!(now["pid"], first["pid"], "{now}");
    // The old att is gone.
    let old_pid = first["pid"].as_u64().expect("pid");
    eventually("the old att gone", Duration::from_secs(30), || async {
        (!common::alive(old_pid)).then_some(())
    })
    .await;

    // Again, from the release that was a candidate itself: the old att stops promptly.
    let second = common::commit(
        &repo,
        &[(
            "build.sh",
            "mkdir -p out && cp \"$ATT_BIN\" out/att # two\n",
        )],
        "change",
    );
    let r = run_to_end(&http, &base, fast(json!({}))).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(
        r["result"]["rollback_target_release_id"],
        good.as_str(),
        "{r}"
    );
    let previous = now["pid"].as_u64().expect("pid");
    let now = eventually(
        "the second release answering",
        Duration::from_secs(30),
        || async {
            health(&http, &base)
                .await
                .filter(|h| h["release"] == second.as_str())
        },
    )
    .await;
    // Well before the switch grace (120 s) would have it killed.
    eventually("the previous att gone", Duration::from_secs(30), || async {
        (!common::alive(previous)).then_some(())
    })
    .await;
    let releases: Value = http
        .get(format!("{base}/api/v1/bootstrap/releases?target=self"))
        .send()
        .await
        .expect("releases")
        .json()
        .await
        .expect("json");
    let status_of = |id: &str| {
        releases["releases"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status_of(&second), Some(json!("live")), "{releases}");
    assert_eq!(status_of(&good), Some(json!("retired")), "{releases}");

    // A release that hangs (never answers): the health gate fails, the candidate is
    // stopped, and the running att serves on.
    common::commit(
        &repo,
        &[(
            "build.sh",
            "mkdir -p out && printf '#!/bin/sh\\nexec sleep 60\\n' > out/att && chmod +x out/att\n",
        )],
        "change",
    );
    let r = run_to_end(&http, &base, fast(json!({}))).await;
    assert_eq!(r["status"], "failed", "{r}");
    let res = &r["result"];
    assert_eq!(res["health_status"], "unhealthy", "{r}");
    assert_eq!(res["rollback_failure_class"], "health_failure", "{r}");
    assert_eq!(res["rollback_target_release_id"], second.as_str(), "{r}");
    assert_eq!(
        (
            res["rollback_performed"].as_bool(),
            res["rollback_succeeded"].as_bool()
        ),
        (Some(true), Some(true)),
        "{r}"
    );
    // A release that exits at start: the watchdog sees it.
    common::commit(
        &repo,
        &[(
            "build.sh",
            "mkdir -p out && printf '#!/bin/sh\\nexit 3\\n' > out/att && chmod +x out/att\n",
        )],
        "change",
    );
    let r = run_to_end(&http, &base, fast(json!({}))).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(
        r["result"]["restart_watchdog_reason"], "process_exited:3",
        "{r}"
    );
    assert_eq!(r["result"]["rollback_succeeded"], true, "{r}");
    let still = health(&http, &base).await.expect("health");
    assert_eq!(
        (&still["pid"], &still["release"]),
        (&now["pid"], &now["release"]),
        "{still}"
    );

    polling.store(false, Ordering::SeqCst);
    poller.await.expect("poller");
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert_eq!(
        failed,
        0,
        "{failed} failed health requests ({ok} passed): {:?}",
        errors.lock().expect("lock")
    );
    assert!(ok > 20, "only {ok} health requests were made");

    // A crash of the live att: the launcher starts the live release again.
    let pid = now["pid"].as_u64().expect("pid");
    // SAFETY: kill(2) on the att the launcher runs.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let again = eventually("att restarted", Duration::from_secs(30), || async {
        health(&http, &base)
            .await
            .filter(|h| h["pid"] != now["pid"])
    })
    .await;
    assert_eq!(again["release"], second.as_str(), "{again}");

    // SIGTERM to the launcher stops att and the launcher.
    let mut launcher = launcher;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(launcher.child.id() as i32, libc::SIGTERM) };
    let status = eventually("the launcher's exit", Duration::from_secs(30), || {
        let s = launcher.child.try_wait().ok().flatten();
        async move { s }
    })
    .await;
    assert!(status.success(), "{status:?}");
    let last = again["pid"].as_u64().expect("pid");
    assert!(!common::alive(last), "att outlived its launcher");
    let _ = std::fs::remove_file(&launcher.stderr);
}

#[tokio::test]
async fn att_launch_gives_up_after_too_many_crashes_in_the_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("att.toml");
    std::fs::write(
        &config,
        "[launch]\ncrash_exits = 2\ncrash_window = \"60s\"\n",
    )
    .expect("config");
    let mut launcher = launch(&data, &config);
    let base = launcher.base.clone();
    let http = reqwest::Client::new();
    let first = eventually("att up", Duration::from_secs(30), || health(&http, &base)).await;
    let pid = first["pid"].as_u64().expect("pid");
    // SAFETY: kill(2) on the att the launcher runs.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // One crash: restarted.
    let second = eventually("att restarted", Duration::from_secs(30), || async {
        health(&http, &base)
            .await
            .filter(|h| h["pid"] != first["pid"])
    })
    .await;
    // A second within the window: the launcher stops, with a failure.
    let pid = second["pid"].as_u64().expect("pid");
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status = eventually("the launcher's exit", Duration::from_secs(30), || {
        let s = launcher.child.try_wait().ok().flatten();
        async move { s }
    })
    .await;
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = std::fs::read_to_string(&launcher.stderr).unwrap_or_default();
    assert!(log.contains("crashed 2 times"), "{log}");
}
