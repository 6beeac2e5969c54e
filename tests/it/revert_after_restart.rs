//! A rollback concluded by a restarted att still reverts what the run shipped (issue 20): a
//! change is made, merged on the local forge, built, deployed and guarded; att is killed
//! with SIGKILL while the guard runs; after the restart the guard resumes, the release dies,
//! the guard fails, the policy rolls back to the release before — and the revert change
//! request is opened on the forge with its CI run, from the change kept in the run record.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{AttProcess, eventually, free_port, phase};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

const BUILD: &str =
    "mkdir -p out && cp \"$FIXTURE\" out/service && cp message.txt health out/ && echo built\n";
const TEST: &str = "echo '1 passed, 0 failed'\n";

fn head_of(repo: &Path, branch: &str) -> String {
    let r = git2::Repository::open(repo).expect("open");
    r.refname_to_id(&format!("refs/heads/{branch}"))
        .expect("branch")
        .to_string()
}

/// A sample service repository at `work` whose remote `origin` is the bare `forge`; its
/// branch.
async fn sample_repository(work: &Path, forge: &Path) -> String {
    std::fs::create_dir_all(work).expect("work");
    let repo = git2::Repository::init(work).expect("init");
    common::commit(
        &repo,
        &[
            ("build.sh", BUILD),
            ("test.sh", TEST),
            ("message.txt", "hello v0\n"),
            ("health", "200\n"),
            (".gitignore", "out\n"),
        ],
        "the sample service",
    );
    let base = repo
        .head()
        .expect("head")
        .shorthand()
        .expect("branch")
        .to_owned();
    git2::Repository::init_bare(forge).expect("bare");
    repo.remote("origin", forge.to_str().expect("utf-8"))
        .expect("remote");
    att_workspace::git::push(work, "origin", &base)
        .await
        .expect("push");
    base
}

/// `web`, built from `work`, guarded for ten minutes (a guard ends only by a failure here).
fn config(work: &Path, port: u16) -> String {
    format!(
        "[[services]]\nname = \"web\"\ncommand = \"{{artifact}}/service\"\n\
         args = [\"--port\", \"{port}\", \"--release\", \"{{release}}\", \"--message-file\", \"{{artifact}}/message.txt\"]\n\
         health = {{ kind = \"http\", url = \"http://127.0.0.1:{port}/health\" }}\n\
         stop_grace = \"2s\"\nguard_period = \"10m\"\n\
         [services.build]\nrepo = \"{}\"\ncommand = [\"sh\", \"build.sh\"]\nartifact = \"out\"\n\
         env = {{ FIXTURE = \"{SERVICE}\" }}\n",
        work.display()
    )
}

async fn get(http: &reqwest::Client, att: &AttProcess, path: &str) -> Value {
    let r = http.get(att.url(path)).send().await.expect("get");
    r.json().await.expect("json")
}

/// Starts a run; its id.
async fn start(http: &reqwest::Client, att: &AttProcess, body: Value) -> String {
    let r = http
        .post(att.url("/api/v1/bootstrap/runs"))
        .json(&body)
        .send()
        .await
        .expect("run");
    let v: Value = r.json().await.expect("json");
    v["run_id"].as_str().expect("a run id").to_owned()
}

/// Run `id` once `done` says so (within two minutes).
async fn run_until(
    http: &reqwest::Client,
    att: &AttProcess,
    id: &str,
    what: &str,
    done: fn(&Value) -> bool,
) -> Value {
    eventually(what, Duration::from_secs(120), || async {
        let r = get(http, att, &format!("/api/v1/bootstrap/runs/{id}")).await;
        done(&r).then_some(r)
    })
    .await
}

fn request(extra: Value) -> Value {
    let mut r = json!({"target": "service:web", "restart_watchdog_retries": 2,
                       "restart_watchdog_interval": "50ms", "health_check_interval": "50ms",
                       "health_deadline": "5s"});
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        r.extend(extra.clone());
    }
    r
}

#[tokio::test]
async fn a_rollback_concluded_after_a_restart_of_att_opens_the_revert_on_the_forge() {
    let dir = tempfile::tempdir().expect("dir");
    let (work, forge, data) = (
        dir.path().join("work"),
        dir.path().join("forge.git"),
        dir.path().join("data"),
    );
    let base = sample_repository(&work, &forge).await;
    let port = free_port();
    let config_file = dir.path().join("att.toml");
    std::fs::write(&config_file, config(&work, port)).expect("config");
    let config_file = config_file.to_str().expect("utf-8").to_owned();
    let http = reqwest::Client::new();

    let mut att = AttProcess::start(&data, &["--config", &config_file]);
    // v0: HEAD, built and live (no guard for this one).
    let first = start(&http, &att, request(json!({"guard_period": "0s"}))).await;
    let r = run_until(&http, &att, &first, "v0 live", |r| r["status"] != "running").await;
    assert_eq!(r["status"], "succeeded", "{r:#}");

    // v1: a change, merged on the forge, built, deployed, guarded.
    let change = json!({"message": "say v1",
                        "edits": [{"path": "message.txt", "content": "hello v1\n"}],
                        "test": {"argv": ["sh", "test.sh"], "runner": "plain"}});
    let publish = json!({"forge": "local", "ci_poll_initial": "50ms", "ci_poll_max": "200ms",
                         "ci_budget": "60s"});
    let id = start(
        &http,
        &att,
        request(json!({"change": change, "publish": publish})),
    )
    .await;
    let guarded = run_until(&http, &att, &id, "v1 guarded", |r| {
        r["status"] == "guarding"
    })
    .await;
    assert_eq!(guarded["result"]["merged"], true, "{guarded:#}");
    let shipped = guarded["result"]["deployed_release_id"]
        .as_str()
        .expect("deployed")
        .to_owned();
    assert_eq!(head_of(&forge, &base), shipped, "the forge's base holds v1");
    let orphan = get(&http, &att, "/api/v1/services/web").await["status"]["pid"]
        .as_u64()
        .expect("pid");
    att.signal(libc::SIGKILL);
    att.wait_exit(Duration::from_secs(10));

    // The restarted att resumes the guard; the release then dies: the guard fails and the
    // run is rolled back to v0.
    let mut att = AttProcess::start(&data, &["--config", &config_file]);
    run_until(&http, &att, &id, "the guard resumed", |r| {
        r["status"] == "guarding" && phase(r, "guard")["status"] == "running"
    })
    .await;
    let pid = eventually("v1 running again", Duration::from_secs(30), || async {
        let s = get(&http, &att, "/api/v1/services/web").await;
        let pid = s["status"]["pid"].as_u64().filter(|p| *p != orphan);
        (s["status"]["state"] == "running" && s["status"]["release"] == shipped.as_str())
            .then_some(pid)
            .flatten()
    })
    .await;
    let pid = i32::try_from(pid).expect("pid fits");
    // SAFETY: kill(2) on the service process this test's att started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let r = run_until(&http, &att, &id, "the run's end", |r| {
        r["status"] != "running" && r["status"] != "guarding"
    })
    .await;
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(phase(&r, "guard")["status"], "failed", "{r:#}");
    assert_eq!(phase(&r, "rollback")["status"], "succeeded", "{r:#}");
    let res = &r["result"];
    assert_eq!(res["rollback_failure_class"], "guard_failure", "{r:#}");
    assert_eq!(
        (&res["rollback_performed"], &res["rollback_succeeded"]),
        (&json!(true), &json!(true)),
        "{r:#}"
    );
    assert_eq!(
        common::service_text(port, "/message").await.as_deref(),
        Some("hello v0\n")
    );

    // The revert: an open change request on the same forge, its CI run (green), not merged.
    let url = res["revert_pr_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no revert change request: {r:#}"));
    assert_eq!(res["revert_ci_status"], "success", "{r:#}");
    let n = url.rsplit("#change-").next().expect("an id");
    let cr: Value = serde_json::from_str(
        &std::fs::read_to_string(forge.join(format!("att-forge/{n}.json"))).expect("the revert"),
    )
    .expect("json");
    assert_eq!(
        (&cr["state"], &cr["ci"], &cr["base"], &cr["title"]),
        (
            &json!("open"),
            &json!("success"),
            &json!(base),
            &json!("Revert \"say v1\"")
        ),
        "{cr}"
    );
    assert_eq!(
        head_of(&forge, &format!("att/revert-{id}")),
        cr["head_commit"].as_str().expect("head").to_owned()
    );
    assert_eq!(head_of(&forge, &base), shipped, "proposed, not merged");
    att.signal(libc::SIGTERM);
    att.wait_exit(Duration::from_secs(20));
}
