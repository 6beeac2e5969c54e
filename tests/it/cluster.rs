//! Several atts on one PostgreSQL database (a schema per test): release runs hold their
//! target cluster-wide, a service's runs belong to its node (asked of another att, they
//! are forwarded to it through the database, or refused when it is dead), a dead node's
//! runs are concluded exactly once, services and projects changed on one att reach the others, and
//! an event stream resumes on another att. Without a PostgreSQL server these tests print
//! why they were skipped and pass (see `TestDatabase`).

use std::path::Path;
use std::time::Duration;

use att::config::DatabaseUrl;
use att::store::postgres::test_database::TestDatabase;
use att_release::model::{Phase, PhaseStatus, ReleaseStore, RunRecord, RunStatus};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::common::{TestAtt, eventually, post};

async fn start_on(db: &TestDatabase, data: &Path, services: Value) -> TestAtt {
    let url = DatabaseUrl::try_from(db.url()).expect("database_url");
    let data = data.to_owned();
    let services = serde_json::from_value(services).expect("services");
    TestAtt::start_with(move |c| {
        c.database_url = Some(url);
        c.data_dir = data;
        c.services = services;
    })
    .await
}

/// Two atts on one fresh database, each with its own data directory and `services`; what
/// they need kept (the database, the directories) rides along in `keep`.
struct Pair {
    a: TestAtt,
    b: TestAtt,
    keep: (TestDatabase, [tempfile::TempDir; 2]),
}

/// [`Pair`] for `test` (its schema's name); `None` (skipped) without PostgreSQL.
async fn pair(test: &str, services: Value) -> Option<Pair> {
    let db = TestDatabase::create(test).await?;
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let a = start_on(&db, dirs[0].path(), services.clone()).await;
    let b = start_on(&db, dirs[1].path(), services).await;
    Some(Pair {
        a,
        b,
        keep: (db, dirs),
    })
}

/// The node id of `att`, as `GET /api/v1/cluster` says it.
async fn node_of(att: &TestAtt) -> String {
    let v = att.get_json("/api/v1/cluster").await;
    v["node"].as_str().expect("node").to_owned()
}

/// A service whose process just runs (no probe: running is healthy), guarded for a minute
/// so that a run of it stays open (`guarding`) until promoted.
fn sleeper(name: &str) -> Value {
    json!({"name": name, "command": "/bin/sleep", "args": ["300"], "guard_period": "60s",
           "stop_grace": "1s"})
}

fn request(target: &str, release: &str) -> Value {
    json!({"target": target, "requested_release_id": release,
           "restart_watchdog_retries": 1, "restart_watchdog_interval": "50ms",
           "health_check_interval": "50ms", "health_deadline": "5s"})
}

async fn add_release(att: &TestAtt, target: &str, id: &str) {
    let (status, body) = post(
        att,
        "/api/v1/bootstrap/releases",
        json!({"target": target, "id": id, "command": "/bin/sleep", "args": ["301"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn run_state(att: &TestAtt, id: &str, want: &str) -> Value {
    eventually(
        &format!("run {id} {want}"),
        Duration::from_secs(30),
        || async {
            let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
            (r["status"] == want).then_some(r)
        },
    )
    .await
}

async fn promote(att: &TestAtt, id: &str) {
    let (status, body) = post(
        att,
        &format!("/api/v1/bootstrap/runs/{id}/promote"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn two_simultaneous_runs_of_one_target_on_two_atts_one_runs_the_other_gets_409() {
    // Each att runs `web` from its config file (a config service is its node's own).
    let Some(Pair { a, b, keep: _keep }) = pair(
        "cluster::two_simultaneous_runs_of_one_target_on_two_atts_one_runs_the_other_gets_409",
        json!([sleeper("web")]),
    )
    .await
    else {
        return;
    };
    add_release(&a, "service:web", "r1").await;

    let (on_a, on_b) = tokio::join!(
        post(&a, "/api/v1/bootstrap/runs", request("service:web", "r1")),
        post(&b, "/api/v1/bootstrap/runs", request("service:web", "r1")),
    );
    let mut statuses = [on_a.0, on_b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "A: {on_a:?}, B: {on_b:?}");
    let (winner, loser, started, refused) = if on_a.0 == 202 {
        (&a, &b, on_a.1, on_b.1)
    } else {
        (&b, &a, on_b.1, on_a.1)
    };
    let run = started["run_id"].as_str().expect("run id").to_owned();
    assert_eq!(refused["detail"]["run_id"], run.as_str(), "{refused}");
    assert_eq!(
        refused["detail"]["message"], "a run for this target is in progress",
        "{refused}"
    );

    // Guarding, the target stays held on both; its end lets it go for either.
    run_state(winner, &run, "guarding").await;
    let (status, again) = post(
        loser,
        "/api/v1/bootstrap/runs",
        request("service:web", "r1"),
    )
    .await;
    assert_eq!(
        (status, &again["detail"]["run_id"]),
        (409, &json!(run)),
        "{again}"
    );
    promote(winner, &run).await;
    let (status, next) = post(
        loser,
        "/api/v1/bootstrap/runs",
        request("service:web", "r1"),
    )
    .await;
    assert_eq!(status, 202, "the target is free once the run ended: {next}");
    let next = next["run_id"].as_str().expect("run id").to_owned();
    run_state(loser, &next, "guarding").await;
    promote(loser, &next).await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// Whether `att` runs the service `api` (lists it as its own).
async fn runs_api(att: &TestAtt) -> bool {
    let v = att.get_json("/api/v1/services").await;
    v["services"].as_array().is_some_and(|l| {
        l.iter()
            .any(|s| s["spec"]["name"] == "api" && s["here"] == true)
    })
}

/// The projects `att` lists, as text.
async fn projects(att: &TestAtt) -> String {
    att.get_json("/api/v1/projects").await.to_string()
}

#[tokio::test]
async fn a_service_belongs_to_the_att_that_registered_it_and_moves_with_a_new_registration() {
    let Some(Pair { a, b, keep: _keep }) = pair(
        "cluster::a_service_belongs_to_the_att_that_registered_it_and_moves_with_a_new_registration",
        json!([]),
    )
    .await
    else {
        return;
    };
    let (status, body) = post(&a, "/api/v1/services", sleeper("api")).await;
    assert_eq!(status, 201, "{body}");
    add_release(&a, "service:api", "r1").await;
    assert!(runs_api(&a).await);
    assert!(!runs_api(&b).await, "B does not run A's service");
    // B lists it as A's.
    let listed = b.get_json("/api/v1/services").await;
    let api = listed["services"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["spec"]["name"] == "api"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&api["node"], &api["here"], &api["status"]),
        (&json!(node_of(&a).await), &json!(false), &Value::Null),
        "{listed}"
    );

    // Asked of A, it runs there.
    let (status, started) = post(&a, "/api/v1/bootstrap/runs", request("service:api", "r1")).await;
    assert_eq!(status, 202, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_owned();
    run_state(&a, &run, "guarding").await;
    promote(&a, &run).await;

    // Registered again through B, it is B's: A stops it when it hears of it.
    let (status, body) = post(&b, "/api/v1/services", sleeper("api")).await;
    assert_eq!(status, 201, "{body}");
    assert!(runs_api(&b).await);
    eventually(
        "A lets go of the service B took",
        Duration::from_secs(5),
        || async { (!runs_api(&a).await).then_some(()) },
    )
    .await;
    // A run asked of A now goes to B.
    let (status, started) = post(&a, "/api/v1/bootstrap/runs", request("service:api", "r1")).await;
    assert_eq!(status, 202, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_owned();
    run_state(&b, &run, "guarding").await;
    promote(&b, &run).await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}

#[tokio::test]
async fn a_project_registered_on_one_att_is_known_to_another_within_a_second() {
    let Some(Pair { a, b, keep: _keep }) = pair(
        "cluster::a_project_registered_on_one_att_is_known_to_another_within_a_second",
        json!([]),
    )
    .await
    else {
        return;
    };
    // B has read the (empty) projects before A registers one.
    assert!(!projects(&b).await.contains("shared-proj"));
    let dir = tempfile::tempdir().expect("project dir");
    let (status, body) = post(
        &a,
        "/api/v1/projects",
        json!({"name": "shared-proj", "path": dir.path()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    eventually("B knows A's project", Duration::from_secs(1), || async {
        projects(&b).await.contains("shared-proj").then_some(())
    })
    .await;
    let r = b
        .http
        .delete(b.url("/api/v1/projects/shared-proj"))
        .send()
        .await
        .expect("DELETE");
    assert!(r.status().is_success(), "{}", r.status());
    eventually(
        "A forgets the project B removed",
        Duration::from_secs(1),
        || async { (!projects(&a).await.contains("shared-proj")).then_some(()) },
    )
    .await;
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// Reads `n` events from an event stream (bounded).
async fn read_events(r: reqwest::Response, n: usize) -> Vec<Value> {
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    let mut out: Vec<Value> = Vec::new();
    while out.len() < n {
        let Ok(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await else {
            let got: Vec<String> = out
                .iter()
                .map(|e| format!("{}:{}", e["id"], e["data"]))
                .collect();
            panic!(
                "an SSE chunk within the bound: {} of {n} events came: {got:?}",
                out.len()
            );
        };
        let chunk = chunk.expect("stream open").expect("chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(serde_json::from_str(data.trim()).expect("event JSON"));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn an_event_stream_resumed_on_another_att_gets_exactly_the_events_it_missed() {
    let Some(Pair { a, b, keep: _keep }) = pair(
        "cluster::an_event_stream_resumed_on_another_att_gets_exactly_the_events_it_missed",
        json!([]),
    )
    .await
    else {
        return;
    };
    let emit = |att: &TestAtt, i: i64| {
        att.http
            .post(att.url("/api/v1/events"))
            .json(&json!({"kind": "test.cluster", "data": {"i": i}}))
            .send()
    };
    let stream = a
        .http
        .get(a.url("/api/v1/events/stream?kind=test.cluster"))
        .send()
        .await
        .expect("GET stream");
    emit(&a, 0).await.expect("POST");
    let seen = read_events(stream, 1).await;
    let last = seen[0]["id"].as_i64().expect("id");
    // The client loses A; meanwhile both atts write, at once.
    let mut missed = Vec::new();
    for i in 1..=20 {
        let att = if i % 2 == 0 { &a } else { &b };
        missed.push(emit(att, i));
    }
    for r in futures_util::future::join_all(missed).await {
        assert!(r.expect("POST").status().is_success());
    }
    let resumed = b
        .http
        .get(b.url("/api/v1/events/stream?kind=test.cluster"))
        .header("last-event-id", last.to_string())
        .send()
        .await
        .expect("GET stream");
    emit(&b, 21).await.expect("POST");
    let got = read_events(resumed, 21).await;
    let ids: Vec<i64> = got.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "in id order, no repeat: {ids:?}");
    assert!(ids[0] > last, "nothing before the resumed id: {ids:?}");
    let mut is: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(is.pop(), Some(21), "then the live event");
    is.sort_unstable();
    assert_eq!(
        is,
        (1..=20).collect::<Vec<_>>(),
        "exactly the missed events"
    );
    let nodes: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|e| e["node"].as_str()).collect();
    assert_eq!(
        nodes,
        [node_of(&a).await, node_of(&b).await]
            .iter()
            .map(String::as_str)
            .collect(),
        "written by both atts"
    );
    a.server.shutdown().await;
    b.server.shutdown().await;
}

/// A run of `target` opened in the store by `node`, as if that att had started it and
/// died: its phases up to `running` (the one it was in).
fn left_run(id: &str, target: &str, running: Phase) -> RunRecord {
    let request = serde_json::from_value(request(target, "r1")).expect("request");
    let now = time::OffsetDateTime::now_utc();
    let mut run = RunRecord::new(id.into(), request, now);
    for p in &mut run.phases {
        if p.phase == running {
            p.status = PhaseStatus::Running;
            p.started_at = Some(now);
            break;
        }
        p.status = PhaseStatus::Succeeded;
    }
    run
}

#[tokio::test]
async fn a_dead_nodes_run_is_concluded_once_by_another_node_or_by_itself_once_back() {
    let Some(db) = TestDatabase::create(
        "cluster::a_dead_nodes_run_is_concluded_once_by_another_node_or_by_itself_once_back",
    )
    .await
    else {
        return;
    };
    // node-dead started two runs and stopped answering an hour ago: one still resolving,
    // one deploying.
    let dead = "node-00000000000dead0";
    let store = att::store::PgStore::open(db.options()).await.expect("open");
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    beat_as(&store, dead, hour_ago).await;
    let resolving = left_run("run-resolving", "service:web", Phase::Resolve);
    let deploying = left_run("run-deploying", "service:api", Phase::Deploy);
    for run in [&resolving, &deploying] {
        assert_eq!(store.open_run(run, dead).await.expect("open"), Ok(()));
    }

    // Two atts start at once; each sweeps for runs of dead nodes.
    let (da, dbb) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, b) = tokio::join!(
        start_on(&db, da.path(), json!([])),
        start_on(&db, dbb.path(), json!([]))
    );
    let r = run_state(&a, "run-resolving", "interrupted").await;
    let resolve = &r["phases"].as_array().expect("phases")[0];
    let message = resolve["message"].as_str().unwrap_or_default();
    assert!(message.contains(dead), "{r}");
    let by = [node_of(&a).await, node_of(&b).await]
        .into_iter()
        .filter(|n| message.contains(n.as_str()))
        .count();
    assert_eq!(by, 1, "concluded by one of them, named: {message}");
    let ends = a
        .get_json("/api/v1/events?correlation_id=run-resolving&kind=bootstrap.run&limit=10")
        .await;
    assert_eq!(
        ends["events"].as_array().map(Vec::len),
        Some(1),
        "exactly once: {ends}"
    );
    // The target is free again.
    let (status, body) = post(&a, "/api/v1/bootstrap/runs", request("service:web", "r1")).await;
    assert_ne!(status, 409, "{body}");

    // The run that was deploying is left to its node: only it sees what its service runs.
    let r = a.get_json("/api/v1/bootstrap/runs/run-deploying").await;
    assert_eq!(r["status"], "running", "{r}");
    a.server.shutdown().await;
    b.server.shutdown().await;
    // node-dead comes back (its data directory, its node id) and concludes it itself.
    let back = tempfile::tempdir().expect("dir");
    std::fs::write(
        back.path().join(att::cluster::NODE_ID_FILE),
        format!("{dead}\n"),
    )
    .expect("node id");
    let owner = start_on(&db, back.path(), json!([])).await;
    let r = run_state(&owner, "run-deploying", "interrupted").await;
    let deploy = r["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .find(|p| p["phase"] == "deploy")
        .cloned()
        .expect("deploy");
    assert_eq!(deploy["message"], "interrupted by a restart of att", "{r}");
    let stored = store
        .get_run("run-deploying")
        .await
        .expect("get")
        .expect("run");
    assert_eq!(stored.status, RunStatus::Interrupted);
    owner.server.shutdown().await;
}

/// `pair` with the service `api` registered through A (so A's), and its release `r1`.
async fn pair_with_a_service_on_a(test: &str) -> Option<Pair> {
    let pair = pair(test, json!([])).await?;
    let (status, body) = post(&pair.a, "/api/v1/services", sleeper("api")).await;
    assert_eq!(status, 201, "{body}");
    add_release(&pair.a, "service:api", "r1").await;
    assert!(!runs_api(&pair.b).await, "B does not run A's service");
    Some(pair)
}

#[tokio::test]
async fn a_run_asked_of_an_att_that_does_not_run_the_service_runs_on_the_node_that_does() {
    let Some(Pair { a, b, keep: _keep }) = pair_with_a_service_on_a(
        "cluster::a_run_asked_of_an_att_that_does_not_run_the_service_runs_on_the_node_that_does",
    )
    .await
    else {
        return;
    };

    // Asked of B: answered as a local run is, and started by A (announced at once, not at
    // A's next sweep).
    let (status, started) = post(&b, "/api/v1/bootstrap/runs", request("service:api", "r1")).await;
    assert_eq!(status, 202, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_owned();
    eventually(
        "A starts the run B stored",
        Duration::from_secs(3),
        || async {
            let r = a.get_json(&format!("/api/v1/bootstrap/runs/{run}")).await;
            (r["status"] != "requested").then_some(())
        },
    )
    .await;
    // It deploys on A, and both atts show it as it goes.
    for att in [&a, &b] {
        let r = run_state(att, &run, "guarding").await;
        assert_eq!(r["result"]["deployed_release_id"], "r1", "{r}");
    }
    let api = a.get_json("/api/v1/services/api").await;
    assert_eq!(api["status"]["release"], "r1", "A runs the release: {api}");
    promote(&a, &run).await;
    let r = run_state(&b, &run, "succeeded").await;
    assert_eq!(r["result"]["success"], true, "{r}");
    a.server.shutdown().await;
    b.server.shutdown().await;
}

#[tokio::test]
async fn a_run_of_a_dead_nodes_service_is_refused_naming_the_node() {
    let Some(Pair { a, b, keep }) = pair_with_a_service_on_a(
        "cluster::a_run_of_a_dead_nodes_service_is_refused_naming_the_node",
    )
    .await
    else {
        return;
    };
    let node_a = node_of(&a).await;
    a.server.shutdown().await;
    // A's last heartbeat an hour ago: dead to B.
    let store = att::store::PgStore::open(keep.0.options())
        .await
        .expect("open");
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    beat_as(&store, &node_a, hour_ago).await;

    let (status, refused) = post(&b, "/api/v1/bootstrap/runs", request("service:api", "r1")).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["detail"]["node"], node_a.as_str(), "{refused}");
    let message = refused["detail"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&node_a) && message.contains("service:api"),
        "{message}"
    );
    // Nothing was stored: no run, the target free.
    let runs = b.get_json("/api/v1/bootstrap/runs").await;
    assert_eq!(runs["runs"], json!([]), "{runs}");
    assert_eq!(store.target_locks().await.expect("locks"), []);
    b.server.shutdown().await;
}

#[tokio::test]
async fn simultaneous_runs_of_one_service_asked_of_its_node_and_another_one_runs_one_409() {
    let Some(Pair { a, b, keep: _keep }) = pair_with_a_service_on_a(
        "cluster::simultaneous_runs_of_one_service_asked_of_its_node_and_another_one_runs_one_409",
    )
    .await
    else {
        return;
    };
    let (on_a, on_b) = tokio::join!(
        post(&a, "/api/v1/bootstrap/runs", request("service:api", "r1")),
        post(&b, "/api/v1/bootstrap/runs", request("service:api", "r1")),
    );
    let mut statuses = [on_a.0, on_b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "A: {on_a:?}, B: {on_b:?}");
    let (started, refused) = if on_a.0 == 202 {
        (on_a.1, on_b.1)
    } else {
        (on_b.1, on_a.1)
    };
    let run = started["run_id"].as_str().expect("run id").to_owned();
    assert_eq!(refused["detail"]["run_id"], run.as_str(), "{refused}");
    // Whichever att was asked, A runs it.
    run_state(&a, &run, "guarding").await;
    promote(&a, &run).await;
    let runs = b.get_json("/api/v1/bootstrap/runs").await;
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(1),
        "exactly one run: {runs}"
    );
    a.server.shutdown().await;
    b.server.shutdown().await;
}

#[tokio::test]
async fn a_request_its_node_never_starts_is_concluded_by_another_node() {
    let Some(db) = TestDatabase::create(
        "cluster::a_request_its_node_never_starts_is_concluded_by_another_node",
    )
    .await
    else {
        return;
    };
    // Two requests stored an hour ago: for node-live, which beats but never starts them (an
    // att that does not know requests), and for node-dead, silent for an hour.
    let (live, dead) = ("node-0000000000011fe0", "node-00000000000dead0");
    let store = att::store::PgStore::open(db.options()).await.expect("open");
    let now = time::OffsetDateTime::now_utc();
    let hour_ago = now - time::Duration::hours(1);
    for (node, beat) in [(live, now), (dead, hour_ago)] {
        beat_as(&store, node, beat).await;
    }
    for (id, target, node) in [
        ("run-unstarted", "service:web", live),
        ("run-orphan", "service:api", dead),
    ] {
        let request = serde_json::from_value(request(target, "r1")).expect("request");
        let mut run = RunRecord::new(id.into(), request, hour_ago);
        run.status = RunStatus::Requested;
        assert_eq!(store.open_run(&run, node).await.expect("open"), Ok(()));
    }

    let dir = tempfile::tempdir().expect("dir");
    let att = start_on(&db, dir.path(), json!([])).await;
    let me = node_of(&att).await;
    for (id, node, why) in [
        ("run-unstarted", live, "did not start it within 30s"),
        ("run-orphan", dead, "stopped answering before starting it"),
    ] {
        let r = run_state(&att, id, "interrupted").await;
        let message = r["phases"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(node) && message.contains(why) && message.contains(&me),
            "{r}"
        );
    }
    assert_eq!(
        store.target_locks().await.expect("locks"),
        [],
        "targets free"
    );
    att.server.shutdown().await;
}

/// Writes node `id`'s heartbeat as of `beat` (started an hour before now) into `store`: a
/// node of the cluster as another att would see it, live or dead by `beat`'s age.
async fn beat_as(store: &att::store::PgStore, id: &str, beat: time::OffsetDateTime) {
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    att::cluster::ClusterStore::heartbeat(
        store,
        &att::cluster::NodeRecord {
            id: id.into(),
            address: "127.0.0.1:1".into(),
            version: "0.1.0".into(),
            started_at: hour_ago,
            heartbeat_at: beat,
        },
        hour_ago - time::Duration::days(1),
    )
    .await
    .expect("beat");
}
