//! Supervision and message tracing, observed from outside through the HTTP API.

use crate::common;

use std::time::Duration;

use att_runtime::mailbox;
use att_runtime::supervisor::{ChildSpec, RestartPolicy};
use att_runtime::trace::MessageMeta;
use common::{TestAtt, eventually};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;

/// A test actor that panics or fails on demand.
pub(crate) struct Crashy;

pub(crate) enum CrashyMsg {
    Panic(String),
    Fail(String),
    Ok(String),
}

impl MessageMeta for CrashyMsg {
    fn kind(&self) -> &'static str {
        match self {
            Self::Panic(_) => "panic",
            Self::Fail(_) => "fail",
            Self::Ok(_) => "ok",
        }
    }
    fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::Panic(c) | Self::Fail(c) | Self::Ok(c) => Some(c),
        }
    }
}

impl Actor for Crashy {
    type Msg = CrashyMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CrashyMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<CrashyMsg>,
        msg: CrashyMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CrashyMsg::Panic(c) => panic!("boom for {c}"),
            CrashyMsg::Fail(c) => Err(format!("deliberate failure for {c}").into()),
            CrashyMsg::Ok(_) => Ok(()),
        }
    }
}

fn actor_row(list: &Value, name: &str) -> Option<Value> {
    list["actors"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
}

pub(crate) async fn crashy_under_upstreams(att: &TestAtt, policy: RestartPolicy) {
    att.server
        .tree
        .upstreams
        .start_child(ChildSpec::new("crashy", policy, || (Crashy, ())))
        .await
        .expect("crashy starts");
}

pub(crate) fn send(att: &TestAtt, msg: CrashyMsg) {
    mailbox::cast(&att.server.tree.directory, "crashy", msg).expect("crashy is running");
}

pub(crate) async fn wait_running_with_restarts(att: &TestAtt, restarts: u64) -> Value {
    eventually("crashy restarted", Duration::from_secs(10), || async {
        let list = att.get_json("/api/v1/actors").await;
        actor_row(&list, "crashy")
            .filter(|r| r["status"] == "running" && r["restart_count"] == restarts)
    })
    .await
}

#[tokio::test]
async fn panicking_child_is_restarted_with_backoff_until_meltdown_and_its_supervisor_stays_up() {
    let att = TestAtt::start().await;
    let policy = RestartPolicy {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_secs(1),
        max_restarts: 3,
        window: Duration::from_secs(60),
    };
    crashy_under_upstreams(&att, policy).await;

    for n in 1..=3u64 {
        send(&att, CrashyMsg::Panic(format!("round-{n}")));
        let row = wait_running_with_restarts(&att, n).await;
        assert_eq!(row["parent"], "upstreams");
        let reason = row["last_failure"]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&format!("boom for round-{n}")),
            "reason: {reason}"
        );
    }

    // Back-off doubles with each restart inside the window: 20, 40, 80 ms.
    // Events are written by the log's writer after the fact: wait for the third.
    let delays: Vec<u64> = eventually("three failure events", Duration::from_secs(10), || async {
        let failed = att.get_json("/api/v1/events?kind=actor.failed").await;
        let delays: Vec<u64> = failed["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["data"]["actor"] == "crashy")
            .map(|e| e["data"]["restart_in_ms"].as_u64().expect("delay"))
            .collect();
        (delays.len() >= 3).then_some(delays)
    })
    .await;
    assert_eq!(delays, [20, 40, 80]);
    let restarted = eventually("three restart events", Duration::from_secs(10), || async {
        let restarted = att.get_json("/api/v1/events?kind=actor.restarted").await;
        let n = restarted["events"].as_array().map_or(0, Vec::len);
        (n >= 3).then_some(n)
    })
    .await;
    assert_eq!(restarted, 3);

    // The fourth failure within the window exceeds the budget of 3: it stays stopped.
    send(&att, CrashyMsg::Panic("round-4".into()));
    let row = eventually("crashy melted down", Duration::from_secs(10), || async {
        let list = att.get_json("/api/v1/actors").await;
        actor_row(&list, "crashy").filter(|r| r["status"] == "failed")
    })
    .await;
    assert_eq!(row["restart_count"], 3);
    let reason = row["last_failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("meltdown") && reason.contains("round-4"),
        "reason: {reason}"
    );

    let meltdown = eventually("meltdown event", Duration::from_secs(5), || async {
        let ev = att.get_json("/api/v1/events?kind=actor.meltdown").await;
        ev["events"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(meltdown["data"]["actor"], "crashy");
    assert_eq!(meltdown["data"]["supervisor"], "upstreams");

    // The supervisor is up and still supervises: a new child starts, ready stays green.
    let list = att.get_json("/api/v1/actors").await;
    assert_eq!(
        actor_row(&list, "upstreams").expect("upstreams")["status"],
        "running"
    );
    assert!(
        mailbox::cast(
            &att.server.tree.directory,
            "crashy",
            CrashyMsg::Ok("x".into())
        )
        .is_err()
    );
    att.server
        .tree
        .upstreams
        .start_child(ChildSpec::new("steady", policy, || (Crashy, ())))
        .await
        .expect("the supervisor still starts children");
    let ready = att
        .http
        .get(att.url("/api/v1/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    att.server.shutdown().await;
}

#[tokio::test]
async fn handled_messages_are_traced_with_their_correlation_id_and_failures_carry_the_error() {
    let att = TestAtt::start().await;
    // A request's id is the correlation id of the messages it causes.
    let r = att
        .http
        .post(att.url("/api/v1/events"))
        .header("x-request-id", "req-trace-1")
        .json(&serde_json::json!({"kind": "test.marker"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    let trace = att
        .get_json("/api/v1/actors/events/trace?correlation_id=req-trace-1")
        .await;
    let records = trace["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{trace}");
    assert_eq!(records[0]["kind"], "append");
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[0]["correlation_id"], "req-trace-1");

    crashy_under_upstreams(&att, RestartPolicy::default()).await;
    send(&att, CrashyMsg::Ok("req-ok".into()));
    send(&att, CrashyMsg::Fail("req-fail".into()));
    let failed = eventually("failed record", Duration::from_secs(5), || async {
        let t = att
            .get_json("/api/v1/actors/crashy/trace?correlation_id=req-fail")
            .await;
        t["records"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["kind"], "fail");
    assert_eq!(failed["error"], "deliberate failure for req-fail");
    let all = att.get_json("/api/v1/actors/crashy/trace").await;
    let kinds: Vec<&str> = all["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ok", "fail"]);

    let missing = att
        .http
        .get(att.url("/api/v1/actors/nobody/trace"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_restarted_supervisor_starts_again_the_children_it_was_given_at_run_time() {
    let att = TestAtt::start().await;
    crashy_under_upstreams(&att, RestartPolicy::default()).await;
    let before = att
        .server
        .tree
        .directory
        .cell("crashy")
        .expect("crashy runs")
        .get_id();
    // Kill the `upstreams` supervisor: ractor stops its children with it; the root
    // supervisor restarts it after a back-off.
    att.server
        .tree
        .directory
        .cell("upstreams")
        .expect("upstreams runs")
        .kill();
    eventually("upstreams restarted", Duration::from_secs(10), || async {
        let list = att.get_json("/api/v1/actors").await;
        actor_row(&list, "upstreams")
            .filter(|r| r["status"] == "running" && r["restart_count"] == 1)
    })
    .await;
    let after = eventually("crashy restored", Duration::from_secs(10), || async {
        let cell = att.server.tree.directory.cell("crashy")?;
        let list = att.get_json("/api/v1/actors").await;
        actor_row(&list, "crashy")
            .filter(|r| r["status"] == "running" && r["parent"] == "upstreams")
            .map(|_| cell.get_id())
    })
    .await;
    assert_ne!(before, after, "a new incarnation of the child");
    send(&att, CrashyMsg::Ok("after-restore".into()));
    // Removed children are not restored: stop it, restart the supervisor again.
    assert!(
        att.server
            .tree
            .upstreams
            .stop_child("crashy")
            .await
            .expect("stop")
    );
    att.server
        .tree
        .directory
        .cell("upstreams")
        .expect("upstreams runs")
        .kill();
    eventually(
        "upstreams restarted again",
        Duration::from_secs(10),
        || async {
            let list = att.get_json("/api/v1/actors").await;
            actor_row(&list, "upstreams")
                .filter(|r| r["status"] == "running" && r["restart_count"] == 2)
        },
    )
    .await;
    assert!(att.server.tree.directory.cell("crashy").is_none());
}
