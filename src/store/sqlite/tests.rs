//! The adapter against real SQLite files.

use super::SqliteStore;
use att_gateway::upstream::{UpstreamSpec, UpstreamStore};
use att_runtime::events::{Event, EventQuery, EventStore, NewEvent};

use crate::test_run::{TestRunRecord, TestRunStore};
use serde_json::json;

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = SqliteStore::open(&dir.path().join("att.db"))
        .await
        .expect("open");
    (dir, s)
}

#[tokio::test]
async fn appended_events_come_back_newest_n_oldest_first_with_filters() {
    let (_d, s) = store().await;
    let mut batch = Vec::new();
    for i in 0..6 {
        let kind = if i % 2 == 0 {
            "actor.restarted"
        } else {
            "upstream.status"
        };
        let mut e = NewEvent::new(kind, json!({ "i": i }));
        if i >= 3 {
            e = e.correlated("req-1");
        }
        batch.push(e);
    }
    let stored = s.append_events(&batch).await.expect("append");
    assert!(stored.windows(2).all(|w| w[0] < w[1]));

    let q = |kind: Option<&str>, cid: Option<&str>, limit| EventQuery {
        kind: kind.map(Into::into),
        correlation_id: cid.map(Into::into),
        limit,
        ..Default::default()
    };
    let ids = |v: Vec<Event>| {
        v.into_iter()
            .map(|e| e.data["i"].as_i64().unwrap_or(-1))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.query_events(&q(None, None, 3)).await.expect("q")),
        [3, 4, 5]
    );
    assert_eq!(
        ids(s
            .query_events(&q(Some("actor.restarted"), None, 10))
            .await
            .expect("q")),
        [0, 2, 4]
    );
    assert_eq!(
        ids(s
            .query_events(&q(Some("actor.*"), None, 10))
            .await
            .expect("q")),
        [0, 2, 4]
    );
    assert_eq!(
        ids(s.query_events(&q(None, Some("req-1"), 2)).await.expect("q")),
        [4, 5]
    );
    let after = EventQuery {
        after_id: Some(stored[4]),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(s.query_events(&after).await.expect("q")), [5]);
    // After an id, a limit takes the oldest ones: a page forward, not the newest.
    let page = EventQuery {
        after_id: Some(stored[0]),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(ids(s.query_events(&page).await.expect("q")), [1, 2]);
}

#[tokio::test]
async fn upstreams_are_saved_replaced_listed_and_deleted_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("att.db");
    let spec = |name: &str, url: &str| -> UpstreamSpec {
        serde_json::from_value(json!({"name": name, "url": url, "priority": 7})).expect("spec")
    };
    let s = SqliteStore::open(&path).await.expect("open");
    s.save_upstream(&spec("b", "http://127.0.0.1:1/mcp"))
        .await
        .expect("save");
    s.save_upstream(&spec("a", "http://127.0.0.1:2/mcp"))
        .await
        .expect("save");
    s.save_upstream(&spec("b", "http://127.0.0.1:3/mcp"))
        .await
        .expect("replace");
    s.close().await;
    let s = SqliteStore::open(&path).await.expect("reopen");
    let all = s.list_upstreams().await.expect("list");
    assert_eq!(
        all,
        vec![
            spec("a", "http://127.0.0.1:2/mcp"),
            spec("b", "http://127.0.0.1:3/mcp")
        ]
    );
    assert!(s.delete_upstream("a").await.expect("delete"));
    assert!(!s.delete_upstream("a").await.expect("delete again"));
    assert_eq!(s.list_upstreams().await.expect("list").len(), 1);
}

#[tokio::test]
async fn test_runs_are_updated_in_place_and_listed_newest_first_per_project() {
    let (_d, s) = store().await;
    let run = |id: &str, project: &str, minute: u8, status: &str| TestRunRecord {
        id: id.into(),
        project: project.into(),
        caller: "test".into(),
        suite: None,
        status: status.into(),
        error: None,
        pid: None,
        process: None,
        program: Some("true".into()),
        started_at: time::macros::datetime!(2024-01-01 00:00 UTC)
            + time::Duration::minutes(minute.into()),
        ended_at: None,
        outcome: None,
    };
    s.save_test_run(&run("t1", "p", 1, "running"))
        .await
        .expect("save");
    s.save_test_run(&run("t2", "p", 2, "running"))
        .await
        .expect("save");
    s.save_test_run(&run("t3", "q", 3, "completed"))
        .await
        .expect("save");
    s.save_test_run(&run("t1", "p", 1, "interrupted"))
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
        ("interrupted", run("t1", "p", 1, "").started_at)
    );
    assert!(s.get_test_run("none").await.expect("get").is_none());
}

#[tokio::test]
async fn reopening_keeps_events_and_schema_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("att.db");
    let s = SqliteStore::open(&path).await.expect("open");
    s.append_events(&[NewEvent::new("x.y", json!(null))])
        .await
        .expect("append");
    let v = s.schema_version().await.expect("version");
    assert!(v >= 1);
    s.close().await;
    let s = SqliteStore::open(&path).await.expect("reopen");
    let all = s
        .query_events(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("q");
    assert_eq!(all.len(), 1);
    assert_eq!(s.schema_version().await.expect("version"), v);
}
