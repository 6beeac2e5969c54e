//! End to end: a sample service repository in a temp dir, its remote a bare repository (the
//! local forge), and the real `att-fixture-service` built from it. A request to change a file
//! goes change → publish → build → deploy → watchdog → health and the new release serves the
//! change; a change that breaks the health endpoint is rolled back automatically and the old
//! release serves again; a change whose tests fail — or whose CI is red — never deploys, and
//! leaves the working tree clean.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{TestAtt, expect_phases, free_port, post};
use serde_json::{Value, json};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

const BUILD: &str =
    "mkdir -p out && cp \"$FIXTURE\" out/service && cp message.txt health out/ && echo built\n";
const TEST: &str = "if grep -q BAD message.txt; then echo '0 passed, 1 failed'; exit 1; fi\necho '1 passed, 0 failed'\n";

async fn run(att: &TestAtt, request: Value) -> Value {
    common::run_to_end(att, request, Duration::from_secs(120)).await
}

async fn message(port: u16) -> Option<String> {
    common::service_text(port, "/message").await
}

fn head_of(repo: &Path, branch: &str) -> String {
    let r = git2::Repository::open(repo).expect("open");
    r.refname_to_id(&format!("refs/heads/{branch}"))
        .expect("branch")
        .to_string()
}

fn is_clean(repo: &Path) -> bool {
    let r = git2::Repository::open(repo).expect("open");
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true);
    r.statuses(Some(&mut opts)).expect("status").is_empty()
}

fn branches(repo: &Path) -> Vec<String> {
    let r = git2::Repository::open(repo).expect("open");
    r.branches(Some(git2::BranchType::Local))
        .expect("branches")
        .filter_map(|b| b.ok())
        .filter_map(|(b, _)| b.name().ok().flatten().map(str::to_owned))
        .collect()
}

fn change(message: &str, edits: Value) -> Value {
    json!({"project": "svc", "message": message, "edits": edits,
           "test": {"argv": ["sh", "test.sh"], "runner": "plain"}})
}

#[tokio::test]
async fn changes_ship_through_the_forge_and_bad_ones_never_stay_live() {
    let dir = tempfile::tempdir().expect("dir");
    let (work, forge) = (dir.path().join("work"), dir.path().join("forge.git"));
    std::fs::create_dir_all(&work).expect("work");
    let repo = git2::Repository::init(&work).expect("init");
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
    git2::Repository::init_bare(&forge).expect("bare");
    repo.remote("origin", forge.to_str().expect("utf-8"))
        .expect("remote");
    att_workspace::git::push(&work, "origin", &base)
        .await
        .expect("push");

    let port = free_port();
    let spec: att_release::service::spec::ServiceSpec = serde_json::from_value(json!({
        "name": "web", "command": "{artifact}/service",
        "args": ["--port", port.to_string(), "--release", "{release}",
                 "--message-file", "{artifact}/message.txt", "--health-file", "{artifact}/health"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s",
        "build": {"repo": work, "command": ["sh", "build.sh"], "artifact": "out",
                  "env": {"FIXTURE": SERVICE}}
    }))
    .expect("spec");
    let att = TestAtt::start_with(|c| c.services = vec![spec]).await;
    let (status, v) = post(
        &att,
        "/api/v1/projects",
        json!({"name": "svc", "path": work}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let fast = |extra: Value| {
        let mut r = json!({"target": "service:web", "restart_watchdog_retries": 2,
                           "restart_watchdog_interval": "50ms", "health_check_interval": "50ms",
                           "health_deadline": "3s"});
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    let publish = json!({"forge": "local", "ci_poll_initial": "50ms", "ci_poll_max": "200ms",
                         "ci_budget": "60s"});

    // The first release: HEAD, built and live.
    let r = run(&att, fast(json!({}))).await;
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(message(port).await.as_deref(), Some("hello v0\n"));

    // 1. A change: branch, edit, tests, commit; push, change request, CI, merge; build the
    //    merge, deploy, watchdog, health. The new release serves the change.
    let r = run(
        &att,
        fast(json!({"change": change("say v1", json!([
            {"path": "message.txt", "content": "hello v1\n"}])), "publish": publish})),
    )
    .await;
    expect_phases(
        &r,
        &[
            ("change", "succeeded"),
            ("publish", "succeeded"),
            ("resolve", "succeeded"),
            ("build", "succeeded"),
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
            &res["committed"],
            &res["pushed"],
            &res["ci_status"],
            &res["merged"]
        ),
        (&json!(true), &json!(true), &json!("success"), &json!(true)),
        "{r:#}"
    );
    assert_eq!(res["tests"]["passed"], 1, "{r:#}");
    assert!(
        res["pr_url"]
            .as_str()
            .unwrap_or_default()
            .contains("change-"),
        "{r:#}"
    );
    let v1 = res["deployed_release_id"]
        .as_str()
        .expect("deployed")
        .to_owned();
    assert_eq!(
        head_of(&forge, &base),
        v1,
        "the forge's base holds the merge"
    );
    assert_eq!(res["change_commit"], v1.as_str(), "a fast-forward merge");
    assert_eq!(message(port).await.as_deref(), Some("hello v1\n"));
    // The working repository follows the merge, clean.
    assert_eq!(head_of(&work, &base), v1);
    assert!(is_clean(&work));
    assert_eq!(
        std::fs::read_to_string(work.join("message.txt")).expect("msg"),
        "hello v1\n"
    );

    // 2. A change that breaks the health endpoint: deployed, unhealthy, rolled back to v1,
    //    which serves again.
    let r = run(
        &att,
        fast(json!({"change": change("break health", json!([
            {"path": "health", "content": "500\n"},
            {"path": "message.txt", "content": "hello v2\n"}])), "publish": publish})),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r:#}");
    let res = &r["result"];
    assert_eq!(
        (
            &res["health_status"],
            &res["rollback_performed"],
            &res["rollback_succeeded"]
        ),
        (&json!("unhealthy"), &json!(true), &json!(true)),
        "{r:#}"
    );
    assert_eq!(res["rollback_target_release_id"], v1.as_str(), "{r:#}");
    assert_eq!(message(port).await.as_deref(), Some("hello v1\n"));
    // The change it shipped is reverted on the same forge: a change request (not merged)
    // whose CI ran green; the forge's base still holds the change until someone merges it.
    let shipped = res["deployed_release_id"]
        .as_str()
        .expect("deployed")
        .to_owned();
    let url = res["revert_pr_url"]
        .as_str()
        .expect("a revert change request");
    assert_eq!(res["revert_ci_status"], "success", "{r:#}");
    let n = url.rsplit("#change-").next().expect("an id");
    let cr: Value = serde_json::from_str(
        &std::fs::read_to_string(forge.join(format!("att-forge/{n}.json"))).expect("the revert"),
    )
    .expect("json");
    assert_eq!(
        (&cr["state"], &cr["ci"], &cr["base"]),
        (&json!("open"), &json!("success"), &json!(base)),
        "{cr}"
    );
    assert_eq!(cr["title"], "Revert \"break health\"", "{cr}");
    assert_eq!(
        head_of(&forge, &base),
        shipped,
        "the revert is proposed, not merged"
    );
    let id = r["id"].as_str().expect("id");
    assert_eq!(
        head_of(&forge, &format!("att/revert-{id}")),
        cr["head_commit"].as_str().expect("head").to_owned()
    );
    let releases = att
        .get_json("/api/v1/bootstrap/releases?target=service:web")
        .await;
    let status_of = |id: &str| {
        releases["releases"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["id"] == id))
            .map(|r| r["status"].clone())
    };
    assert_eq!(status_of(&v1), Some(json!("live")), "{releases}");

    // 3. A change whose tests fail: never committed, pushed or deployed; no branch is left
    //    and the tree is clean.
    let forge_before = head_of(&forge, &base);
    let r = run(
        &att,
        fast(json!({"change": change("bad words", json!([
            {"path": "message.txt", "content": "BAD\n"},
            {"path": "notes/new.txt", "content": "a new file\n"}])), "publish": publish})),
    )
    .await;
    expect_phases(
        &r,
        &[
            ("change", "failed"),
            ("publish", "skipped"),
            ("resolve", "skipped"),
            ("build", "skipped"),
            ("deploy", "skipped"),
            ("restart_watchdog", "skipped"),
            ("health", "skipped"),
            ("guard", "skipped"),
            ("rollback", "skipped"),
        ],
    );
    assert_eq!(r["result"]["committed"], false, "{r:#}");
    assert_eq!(r["result"]["tests"]["failed"], 1, "{r:#}");
    let why = r["phases"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("the tests failed"), "{why}");
    assert!(is_clean(&work), "the working tree is clean");
    assert!(!work.join("notes").exists());
    assert_eq!(
        branches(&work)
            .iter()
            .filter(|b| b.contains(r["id"].as_str().unwrap_or("?")))
            .count(),
        0
    );
    assert_eq!(
        head_of(&forge, &base),
        forge_before,
        "nothing reached the forge's base"
    );
    assert_eq!(message(port).await.as_deref(), Some("hello v1\n"));

    // 4. A change whose CI is red: pushed and opened, not merged, not deployed.
    let mut red = publish.clone();
    red["ci"] = json!({"argv": ["false"], "runner": "plain"});
    let r = run(
        &att,
        fast(json!({"change": change("red ci", json!([
            {"path": "message.txt", "content": "hello v4\n"}])), "publish": red})),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r:#}");
    let res = &r["result"];
    assert_eq!(
        (&res["pushed"], &res["ci_status"], &res["merged"]),
        (&json!(true), &json!("failure"), &json!(false)),
        "{r:#}"
    );
    assert!(res["deployed_release_id"].is_null(), "{r:#}");
    assert_eq!(head_of(&forge, &base), forge_before);
    assert!(is_clean(&work));
    assert_eq!(message(port).await.as_deref(), Some("hello v1\n"));

    // A publish without a change, and an unknown project, are refused up front.
    let (status, v) = post(
        &att,
        "/api/v1/bootstrap/runs",
        fast(json!({"publish": publish})),
    )
    .await;
    assert_eq!((status, v["field"].as_str()), (422, Some("publish")), "{v}");
    let mut bad = change("x", json!([{"path": "a", "content": "b"}]));
    bad["project"] = json!("nope");
    let (status, v) = post(&att, "/api/v1/bootstrap/runs", fast(json!({"change": bad}))).await;
    assert_eq!(
        (status, v["field"].as_str()),
        (422, Some("change.project")),
        "{v}"
    );
    att.server.shutdown().await;
}
