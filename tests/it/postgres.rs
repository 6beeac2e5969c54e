//! att on PostgreSQL (`database_url`), end to end: registrations, calls through them and
//! the event log land in the database, and an att restarted on it has them all back. The
//! store's own port suite runs on both engines in `src/store/suite`. Without a PostgreSQL
//! server these tests print why they were skipped and pass (see `TestDatabase`).

use std::time::Duration;

use att::config::DatabaseUrl;
use att::store::postgres::test_database::TestDatabase;
use serde_json::json;

use crate::common::{TestAtt, eventually, post, serve_fixture};

async fn start_on(db: &TestDatabase, data: &std::path::Path) -> TestAtt {
    let url = DatabaseUrl::try_from(db.url()).expect("database_url");
    let data = data.to_owned();
    TestAtt::start_with(move |c| {
        c.database_url = Some(url);
        c.data_dir = data;
    })
    .await
}

/// Calls `echo` until the gateway knows it (the upstream's handshake is asynchronous).
async fn echo(att: &TestAtt, text: &str) -> serde_json::Value {
    eventually(
        "echo through the registered upstream",
        Duration::from_secs(20),
        || async {
            let (status, v) = post(
                att,
                "/api/v1/mcp/invoke/tool",
                json!({"tool_name": "echo", "arguments": {"text": text}}),
            )
            .await;
            (status == 200).then_some(v)
        },
    )
    .await
}

#[tokio::test]
async fn att_on_postgres_keeps_registrations_and_events_across_a_restart() {
    let Some(db) = TestDatabase::create(
        "postgres::att_on_postgres_keeps_registrations_and_events_across_a_restart",
    )
    .await
    else {
        return;
    };
    let upstream = serve_fixture("pg-upstream").await;
    let data = tempfile::tempdir().expect("data dir");

    let att = start_on(&db, data.path()).await;
    let ready = att.get_json("/api/v1/ready").await;
    assert_eq!(ready["checks"]["store"], "ok", "{ready}");
    let (status, v) = post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "pg-upstream", "url": upstream.url, "priority": 10}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v = echo(&att, "before").await;
    assert_eq!(v["server"], "pg-upstream");
    assert_eq!(
        v["result"]["structuredContent"],
        json!({"server": "pg-upstream", "text": "before"})
    );
    let request_id = v["request_id"].as_str().expect("request id").to_owned();
    att.server.shutdown().await;
    assert!(
        !data.path().join("att.db").exists(),
        "with database_url att keeps no SQLite file"
    );

    let att = start_on(&db, data.path()).await;
    let servers = att.get_json("/api/v1/mcp/servers").await;
    assert!(
        servers.to_string().contains("pg-upstream"),
        "restored from PostgreSQL: {servers}"
    );
    let v = echo(&att, "after").await;
    assert_eq!(v["server"], "pg-upstream", "{v}");
    // The first att's events are in the shared log.
    let events = att
        .get_json(&format!(
            "/api/v1/events?correlation_id={request_id}&limit=50"
        ))
        .await;
    assert!(events.to_string().contains(&request_id), "{events}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_database_url_that_does_not_answer_stops_att_naming_the_server_not_the_password() {
    let port = crate::common::free_port();
    let data = tempfile::tempdir().expect("dir");
    let mut config = att::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..att::config::Config::default()
    };
    config.database_url = Some(
        DatabaseUrl::try_from(format!("postgres://att:hunter2@127.0.0.1:{port}/att")).expect("url"),
    );
    let e = att::server::start(config).await.err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains(&format!("postgres://127.0.0.1:{port}/att")) && !text.contains("hunter2"),
        "{text}"
    );
}

#[tokio::test]
async fn two_atts_sharing_a_database_list_each_other_in_the_cluster() {
    let Some(db) = TestDatabase::create(
        "postgres::two_atts_sharing_a_database_list_each_other_in_the_cluster",
    )
    .await
    else {
        return;
    };
    let (da, db_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = start_on(&db, da.path()).await;
    let b = start_on(&db, db_dir.path()).await;
    let id = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join(att::cluster::NODE_ID_FILE))
            .expect("node id")
            .trim()
            .to_owned()
    };
    let (id_a, id_b) = (id(da.path()), id(db_dir.path()));
    assert_ne!(id_a, id_b);
    for (att, this, other) in [(&a, &id_a, &id_b), (&b, &id_b, &id_a)] {
        let v = att.get_json("/api/v1/cluster").await;
        assert_eq!(&v["node"], this.as_str(), "{v}");
        let nodes = v["nodes"].as_array().expect("nodes");
        let find = |id: &str| {
            nodes
                .iter()
                .find(|n| n["id"] == id)
                .unwrap_or_else(|| panic!("{id} missing: {v}"))
        };
        let (me, peer) = (find(this), find(other));
        assert_eq!(
            (&me["this"], &me["live"]),
            (&json!(true), &json!(true)),
            "{v}"
        );
        assert_eq!(
            (&peer["this"], &peer["live"]),
            (&json!(false), &json!(true)),
            "{v}"
        );
        assert_eq!(me["address"], att.server.local_addr.to_string());
        let ready = att.get_json("/api/v1/ready").await;
        assert_eq!(
            ready["peers"],
            json!([format!(
                "{other}@{}",
                peer["address"].as_str().expect("address")
            )]),
            "{ready}"
        );
    }
    // One log: B reads the events A wrote, each naming its node.
    let events = b.get_json("/api/v1/events?limit=500").await;
    for id in [&id_a, &id_b] {
        assert!(
            events.to_string().contains(&format!("\"node\":\"{id}\"")),
            "no event of {id}: {events}"
        );
    }
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// Whether `att` lists the upstream `name`.
async fn lists(att: &TestAtt, name: &str) -> bool {
    let v = att.get_json("/api/v1/mcp/servers").await;
    v.to_string().contains(&format!("\"{name}\""))
}

#[tokio::test]
async fn an_upstream_registered_on_one_att_is_used_and_removed_through_another() {
    let Some(db) = TestDatabase::create(
        "postgres::an_upstream_registered_on_one_att_is_used_and_removed_through_another",
    )
    .await
    else {
        return;
    };
    let upstream = serve_fixture("shared-upstream").await;
    let (da, db_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = start_on(&db, da.path()).await;
    let b = start_on(&db, db_dir.path()).await;
    assert!(!lists(&b, "shared-upstream").await);

    let (status, v) = post(
        &a,
        "/api/v1/mcp/servers",
        json!({"name": "shared-upstream", "url": upstream.url}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // B learns of it from PostgreSQL's notification, and calls through it.
    let v = echo(&b, "via b").await;
    assert_eq!(v["server"], "shared-upstream", "{v}");
    assert!(lists(&b, "shared-upstream").await);

    let r = a
        .http
        .delete(a.url("/api/v1/mcp/servers/shared-upstream"))
        .send()
        .await
        .expect("DELETE");
    assert!(r.status().is_success(), "{}", r.status());
    eventually(
        "B forgets the upstream A removed",
        Duration::from_secs(10),
        || async { (!lists(&b, "shared-upstream").await).then_some(()) },
    )
    .await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}
