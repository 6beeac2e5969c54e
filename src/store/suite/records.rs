//! The record ports on both engines: upstreams, services, projects (kept by name),
//! releases and runs, test runs, API keys — and their secrets sealed at rest.

use att_gateway::upstream::UpstreamSpec;
use att_release::model::{Release, RunRecord};
use att_release::service::spec::ServiceSpec;
use serde_json::json;
use time::macros::datetime;

use super::{Harness, seal};
use crate::auth::{KeyRecord, Role};
use crate::project::Project;
use crate::test_run::TestRunRecord;

fn upstream(name: &str, url: &str) -> UpstreamSpec {
    serde_json::from_value(json!({"name": name, "url": url, "priority": 7})).expect("spec")
}

fn upstream_with_header(name: &str, header: &str, value: &str) -> UpstreamSpec {
    serde_json::from_value(json!({
        "name": name, "url": "http://127.0.0.1:9/mcp", "headers": { header: value }
    }))
    .expect("spec")
}

fn service(name: &str, command: &str) -> ServiceSpec {
    serde_json::from_value(
        json!({"name": name, "command": command, "env": {"TOKEN": "svc-secret"}}),
    )
    .expect("service")
}

fn project(name: &str) -> Project {
    serde_json::from_value(json!({"name": name, "path": format!("/srv/{name}")})).expect("project")
}

fn release(target: &str, id: &str, minute: i64) -> Release {
    serde_json::from_value(json!({
        "target": target, "id": id, "command": "/bin/app", "args": ["--x"],
        "env": {"API_KEY": "rel-secret"}, "status": "built",
        "created_at": (datetime!(2024-01-01 00:00 UTC) + time::Duration::minutes(minute))
            .format(&time::format_description::well_known::Rfc3339).expect("time"),
    }))
    .expect("release")
}

fn run(id: &str, target: &str, minute: i64) -> RunRecord {
    let request = serde_json::from_value(json!({"target": target, "requested_release_id": "r1"}))
        .expect("request");
    RunRecord::new(
        id.into(),
        request,
        datetime!(2024-01-01 00:00 UTC) + time::Duration::minutes(minute),
    )
}

fn test_run(id: &str, project: &str, minute: u8, status: &str) -> TestRunRecord {
    TestRunRecord {
        id: id.into(),
        project: project.into(),
        caller: "test".into(),
        suite: None,
        status: status.into(),
        error: None,
        pid: None,
        process: None,
        program: Some("true".into()),
        started_at: datetime!(2024-01-01 00:00 UTC) + time::Duration::minutes(minute.into()),
        ended_at: None,
        outcome: None,
    }
}

async fn upstreams_are_saved_replaced_listed_and_deleted_across_reopen(h: Harness) {
    let s = &h.store;
    s.save_upstream(&upstream("b", "http://127.0.0.1:1/mcp"))
        .await
        .expect("save");
    s.save_upstream(&upstream("a", "http://127.0.0.1:2/mcp"))
        .await
        .expect("save");
    s.save_upstream(&upstream("b", "http://127.0.0.1:3/mcp"))
        .await
        .expect("replace");
    s.close().await;
    let s = h.open(None).await;
    assert_eq!(
        s.list_upstreams().await.expect("list"),
        vec![
            upstream("a", "http://127.0.0.1:2/mcp"),
            upstream("b", "http://127.0.0.1:3/mcp")
        ]
    );
    assert!(s.delete_upstream("a").await.expect("delete"));
    assert!(!s.delete_upstream("a").await.expect("delete again"));
    assert_eq!(s.list_upstreams().await.expect("list").len(), 1);
}

async fn services_and_projects_are_kept_by_name(h: Harness) {
    let s = &h.store;
    s.save_service(&service("web", "/bin/web"))
        .await
        .expect("save");
    s.save_service(&service("api", "/bin/api"))
        .await
        .expect("save");
    s.save_service(&service("web", "/bin/web2"))
        .await
        .expect("replace");
    let names: Vec<_> = s
        .list_services()
        .await
        .expect("list")
        .into_iter()
        .map(|x| (x.name, x.command))
        .collect();
    assert_eq!(
        names,
        [
            ("api".into(), "/bin/api".into()),
            ("web".into(), "/bin/web2".into())
        ] as [(String, String); 2]
    );
    assert!(s.delete_service("api").await.expect("delete"));
    assert!(!s.delete_service("api").await.expect("again"));
    assert_eq!(s.list_services().await.expect("list").len(), 1);

    s.save_project(&project("p2")).await.expect("save");
    s.save_project(&project("p1")).await.expect("save");
    assert_eq!(
        s.list_projects().await.expect("list"),
        vec![project("p1"), project("p2")]
    );
    assert!(s.delete_project("p1").await.expect("delete"));
    assert_eq!(s.list_projects().await.expect("list"), vec![project("p2")]);
}

async fn releases_list_newest_first_per_target_and_runs_update_in_place(h: Harness) {
    let s = &h.store;
    s.save_release(&release("svc", "r1", 1))
        .await
        .expect("save");
    s.save_release(&release("svc", "r2", 2))
        .await
        .expect("save");
    // Same millisecond: the later insert is the newer.
    s.save_release(&release("svc", "r3", 2))
        .await
        .expect("save");
    s.save_release(&release("other", "o1", 5))
        .await
        .expect("save");
    let mut live = release("svc", "r1", 1);
    live.status = att_release::model::ReleaseStatus::Live;
    s.save_release(&live).await.expect("update");
    let listed = s.list_releases("svc").await.expect("list");
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r3", "r2", "r1"]
    );
    assert_eq!(listed[2], live);
    assert!(s.list_releases("none").await.expect("list").is_empty());

    s.save_run(&run("run-1", "svc", 1)).await.expect("save");
    s.save_run(&run("run-2", "svc", 2)).await.expect("save");
    s.save_run(&run("run-3", "other", 2)).await.expect("save");
    let mut done = run("run-1", "svc", 1);
    done.status = att_release::model::RunStatus::Succeeded;
    // What the change phase made is kept with the run (a restarted att reverts it from
    // there).
    done.change = Some(att_release::change::ChangeOutcome {
        repo: "/srv/repo".into(),
        branch: "att/change-run-1".into(),
        base: "main".into(),
        commit: "0123abcd".into(),
        tests: None,
    });
    s.save_run(&done).await.expect("update");
    assert_eq!(s.get_run("run-1").await.expect("get"), Some(done));
    assert_eq!(s.get_run("nope").await.expect("get"), None);
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_runs(10).await.expect("list")),
        ["run-3", "run-2", "run-1"]
    );
    assert_eq!(ids(s.list_runs(1).await.expect("list")), ["run-3"]);
}

async fn test_runs_are_updated_in_place_and_listed_newest_first_per_project(h: Harness) {
    let s = &h.store;
    s.save_test_run(&test_run("t1", "p", 1, "running"))
        .await
        .expect("save");
    s.save_test_run(&test_run("t2", "p", 2, "running"))
        .await
        .expect("save");
    s.save_test_run(&test_run("t3", "q", 3, "completed"))
        .await
        .expect("save");
    s.save_test_run(&test_run("t1", "p", 1, "interrupted"))
        .await
        .expect("update");
    let ids = |runs: Vec<TestRunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_test_runs("p", 10).await.expect("list")),
        ["t2", "t1"]
    );
    assert_eq!(ids(s.list_test_runs("p", 1).await.expect("list")), ["t2"]);
    assert_eq!(ids(s.running_test_runs().await.expect("running")), ["t2"]);
    let t1 = s.get_test_run("t1").await.expect("get").expect("t1");
    assert_eq!(
        (t1.status.as_str(), t1.started_at),
        ("interrupted", test_run("t1", "p", 1, "").started_at)
    );
    assert!(s.get_test_run("none").await.expect("get").is_none());
}

async fn keys_are_inserted_once_per_name_revoked_once_and_listed(h: Harness) {
    let s = &h.store;
    let key = |id: &str, name: &str, role| KeyRecord {
        id: id.into(),
        name: name.into(),
        role,
        hash: [id.len() as u8; 32],
        created_at: datetime!(2024-01-01 00:00 UTC),
        expires_at: Some(datetime!(2025-01-01 00:00 UTC)),
        revoked_at: None,
    };
    assert!(
        s.insert_key(&key("k1", "ci", Role::Operator))
            .await
            .expect("insert")
    );
    assert!(
        s.insert_key(&key("k22", "admin", Role::Admin))
            .await
            .expect("insert")
    );
    assert!(
        !s.insert_key(&key("k333", "ci", Role::Viewer))
            .await
            .expect("name taken")
    );
    let at = datetime!(2024-06-01 12:00:00.123 UTC);
    assert!(s.revoke_key("ci", at).await.expect("revoke"));
    assert!(!s.revoke_key("ci", at).await.expect("again"));
    assert!(!s.revoke_key("nobody", at).await.expect("none"));
    let mut ci = key("k1", "ci", Role::Operator);
    ci.revoked_at = Some(at);
    assert_eq!(
        s.list_keys().await.expect("list"),
        vec![key("k22", "admin", Role::Admin), ci]
    );
}

/// Secrets are sealed in the database, opened on read; a record stored in the clear is
/// sealed when read; another key cannot open them, and says which record.
async fn secrets_are_sealed_at_rest_and_opened_on_read(h: Harness) {
    let s = h.open(Some(seal(7))).await;
    let up = upstream_with_header("gh", "Authorization", "Bearer ghp_secret");
    s.save_upstream(&up).await.expect("save");
    s.save_service(&service("web", "/bin/web"))
        .await
        .expect("save");
    s.save_release(&release("svc", "r1", 1))
        .await
        .expect("save");
    let raw = [
        h.raw("SELECT spec FROM upstreams WHERE name = $1", &["gh"])
            .await,
        h.raw("SELECT spec FROM services WHERE name = $1", &["web"])
            .await,
        h.raw("SELECT data FROM releases WHERE id = $1", &["r1"])
            .await,
    ];
    for (text, secret) in raw.iter().zip(["ghp_secret", "svc-secret", "rel-secret"]) {
        assert_eq!(text.len(), 1);
        assert!(
            !text[0].contains(secret) && text[0].contains("enc:v1:"),
            "{}",
            text[0]
        );
    }
    assert_eq!(s.list_upstreams().await.expect("list"), vec![up.clone()]);
    assert_eq!(
        s.list_services().await.expect("list")[0].env["TOKEN"],
        "svc-secret"
    );
    assert_eq!(
        s.list_releases("svc").await.expect("list")[0].env["API_KEY"],
        "rel-secret"
    );

    // Written in the clear by an att that did not seal: sealed when read.
    let clear = h.open(None).await;
    let old = upstream_with_header("old", "X-Token", "clear-secret");
    clear.save_upstream(&old).await.expect("save");
    assert!(
        h.raw("SELECT spec FROM upstreams WHERE name = $1", &["old"])
            .await[0]
            .contains("clear-secret")
    );
    assert_eq!(s.list_upstreams().await.expect("list"), vec![up, old]);
    let now = h
        .raw("SELECT spec FROM upstreams WHERE name = $1", &["old"])
        .await;
    assert!(
        !now[0].contains("clear-secret") && now[0].contains("enc:v1:"),
        "{}",
        now[0]
    );

    let other = h.open(Some(seal(8))).await;
    let e = other.list_upstreams().await.expect_err("another key");
    assert!(
        e.0.contains("upstream `gh`") && e.0.contains("upstreams/gh/headers/Authorization"),
        "{}",
        e.0
    );
    assert!(!e.0.contains("ghp_secret"), "{}", e.0);
}

async fn node_heartbeats_replace_their_row_and_silent_nodes_are_forgotten(h: Harness) {
    use crate::cluster::NodeRecord;
    let s = &h.store;
    let t0 = datetime!(2026-01-01 12:00 UTC);
    let node = |id: &str, beat: time::OffsetDateTime| NodeRecord {
        id: id.into(),
        address: "127.0.0.1:8300".into(),
        version: "0.1.0".into(),
        started_at: t0,
        heartbeat_at: beat,
    };
    let long_ago = t0 - time::Duration::days(2);
    s.heartbeat(&node("node-old", t0), long_ago)
        .await
        .expect("beat");
    s.heartbeat(&node("node-a", t0), long_ago)
        .await
        .expect("beat");
    let later = t0 + time::Duration::seconds(5);
    s.heartbeat(&node("node-a", later), long_ago)
        .await
        .expect("beat again");
    let ids = |nodes: Vec<NodeRecord>| nodes.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_nodes(10).await.expect("list")),
        ["node-a", "node-old"]
    );
    assert_eq!(
        s.list_nodes(10).await.expect("list")[0],
        node("node-a", later)
    );
    assert_eq!(ids(s.list_nodes(1).await.expect("list")), ["node-a"]);
    // A day later, node-b's heartbeat forgets node-old (silent since t0).
    let next_day = t0 + time::Duration::days(1) + time::Duration::seconds(1);
    s.heartbeat(
        &node("node-b", next_day),
        next_day - time::Duration::days(1),
    )
    .await
    .expect("beat");
    assert_eq!(
        ids(s.list_nodes(10).await.expect("list")),
        ["node-b", "node-a"]
    );
}

super::both_engines!(
    upstreams_are_saved_replaced_listed_and_deleted_across_reopen,
    services_and_projects_are_kept_by_name,
    releases_list_newest_first_per_target_and_runs_update_in_place,
    test_runs_are_updated_in_place_and_listed_newest_first_per_project,
    keys_are_inserted_once_per_name_revoked_once_and_listed,
    secrets_are_sealed_at_rest_and_opened_on_read,
    node_heartbeats_replace_their_row_and_silent_nodes_are_forgotten,
);
