//! The upstream actor in a real actor tree, against the real fixture server over HTTP.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use att_gateway::router::{Plan, Target, plan};
use att_gateway::tree::AttTree;
use att_gateway::tree::TreeConfig;
use att_gateway::upstream::actor::UpstreamHandle;
use att_gateway::upstream::{CallFailure, HealthPolicy, Status, UpstreamSpec};
use att_runtime::clock::ManualClock;
use att_runtime::events::EventQuery;
use common::fixture::Fixture;
use common::{serve_fixture, start_upstream};
use serde_json::{Value, json};

struct Setup {
    tree: AttTree,
    fixture: Fixture,
    handle: UpstreamHandle,
    _dir: tempfile::TempDir,
}

async fn setup(name: &str) -> Setup {
    setup_with(name, HealthPolicy::default()).await
}

async fn setup_with(name: &str, policy: HealthPolicy) -> Setup {
    let served = serve_fixture(name).await;
    let (tree, dir) = common::tree().await;
    let spec: UpstreamSpec =
        serde_json::from_value(json!({"name": name, "url": served.url})).expect("spec");
    let handle = start_upstream(&tree, spec, policy).await;
    Setup {
        tree,
        fixture: served.fixture,
        handle,
        _dir: dir,
    }
}

const BUDGET: Duration = Duration::from_secs(20);

/// Stored events of `kind` (emitted events are written asynchronously: poll with `eventually`).
async fn events(tree: &AttTree, kind: &str) -> Vec<Value> {
    let q = EventQuery {
        kind: Some(kind.into()),
        limit: 100,
        ..EventQuery::default()
    };
    tree.events
        .query(q)
        .await
        .expect("query")
        .into_iter()
        .map(|e| json!({"data": e.data, "correlation_id": e.correlation_id}))
        .collect()
}

async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn fifty_concurrent_callers_of_a_cold_upstream_share_one_handshake() {
    let s = setup("cold").await;
    let calls = (0..50).map(|i| {
        let h = s.handle.clone();
        tokio::spawn(async move {
            let ready = h
                .ensure_ready(Some(format!("req-{i}")), false, BUDGET)
                .await
                .expect("ready");
            let args = json!({"text": format!("{i}")}).as_object().cloned();
            let r = ready
                .connection
                .call_tool("echo", args, Duration::from_secs(10))
                .await;
            h.report(
                Some(format!("req-{i}")),
                ready.generation,
                r.as_ref().map(|_| ()).map_err(Clone::clone),
            );
            r.expect("echo")
        })
    });
    for c in calls {
        c.await.expect("task");
    }
    assert_eq!(
        s.fixture
            .state
            .handshakes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let status = s.handle.status().await.expect("status");
    assert_eq!(status.handshakes, 1);
    assert!(status.initialized);
    assert_eq!(status.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(status.health.status, Status::Healthy);
    // A reused handshake is reported as such.
    let again = s
        .handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    assert!(again.reused);
    s.tree.shutdown().await;
}

#[tokio::test]
async fn a_session_in_use_is_refreshed_in_the_background_before_it_expires() {
    let clock = ManualClock::new();
    let (tree, _dir) = common::tree_with(TreeConfig {
        clock: Arc::new(clock.clone()),
        ..TreeConfig::default()
    })
    .await;
    let served = serve_fixture("fresh").await;
    let spec: UpstreamSpec =
        serde_json::from_value(json!({"name": "fresh", "url": served.url, "max_init_age": 100}))
            .expect("spec");
    let handle = start_upstream(&tree, spec, HealthPolicy::default()).await;
    let first = handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    let expires = handle
        .status()
        .await
        .expect("status")
        .initialization_expires_at
        .expect("expiry");

    // Early in its life, use does not refresh the session.
    clock.advance(Duration::from_secs(50));
    let r = handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    assert!(r.reused && r.generation == first.generation);
    assert_eq!(handle.status().await.expect("status").handshakes, 1);

    // In the last fifth of its life, a use is served at once from the old session and
    // starts a new handshake beside it.
    clock.advance(Duration::from_secs(35));
    let r = handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    assert!(r.reused && r.generation == first.generation);
    let status = eventually("the refreshed session", async || {
        let st = handle.status().await.expect("status");
        (st.handshakes == 2).then_some(st)
    })
    .await;
    assert!(status.initialized);
    assert!(status.initialization_expires_at.expect("expiry") > expires);
    assert_eq!(
        served
            .fixture
            .state
            .handshakes
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    // Callers now get the new session, still without waiting for a handshake, and the
    // old session's calls still finish.
    let r = handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    assert!(r.reused && r.generation > first.generation);
    let old = first
        .connection
        .call_tool("echo", json!({"text": "old"}).as_object().cloned(), BUDGET)
        .await;
    assert!(old.is_ok(), "{old:?}");
    handle.report(None, first.generation, Ok(()));
    assert_eq!(
        handle.status().await.expect("status").health.status,
        Status::Healthy
    );
    tree.shutdown().await;
}

#[tokio::test]
async fn calls_that_always_fail_reach_unreachable_although_handshakes_succeed_and_recovery_is_correlated()
 {
    let s = setup("flaky").await;
    for i in 0..3 {
        let cid = format!("fail-{i}");
        let ready = s
            .handle
            .ensure_ready(Some(cid.clone()), false, BUDGET)
            .await
            .expect("handshake works");
        let err = ready
            .connection
            .call_tool("fail_rpc", None, Duration::from_secs(10))
            .await
            .expect_err("fails");
        s.handle.report(Some(cid), ready.generation, Err(err));
    }
    let status = eventually("unreachable", async || {
        let st = s.handle.status().await.expect("status");
        (st.health.status == Status::Unreachable).then_some(st)
    })
    .await;
    assert_eq!(status.health.retry_count, 3);
    assert!(
        status.handshakes >= 3,
        "a failure drops the session, the next use handshakes again"
    );
    assert_eq!(
        status.health.last_error.as_deref(),
        Some("rpc error: fixture failure on purpose")
    );

    // Caller errors never count against the server.
    let ready = s
        .handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    let invalid = ready
        .connection
        .call_tool("echo", None, Duration::from_secs(10))
        .await
        .expect_err("invalid");
    assert!(invalid.is_caller_error());
    s.handle
        .report(Some("caller".into()), ready.generation, Err(invalid));

    // Proof of service recovers it; the `healthy` event carries the request id.
    let ok = ready
        .connection
        .call_tool(
            "echo",
            json!({"text": "ok"}).as_object().cloned(),
            Duration::from_secs(10),
        )
        .await
        .map(|_| ());
    s.handle
        .report(Some("recover-1".into()), ready.generation, ok);
    let transitions = eventually("three transitions", async || {
        let e = events(&s.tree, "upstream.status").await;
        (e.len() == 3).then_some(e)
    })
    .await;
    let seq: Vec<(String, String, Option<String>)> = transitions
        .iter()
        .map(|e| {
            (
                e["data"]["from_status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["data"]["to_status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["correlation_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        seq,
        [
            ("healthy".into(), "degraded".into(), Some("fail-0".into())),
            (
                "degraded".into(),
                "unreachable".into(),
                Some("fail-2".into())
            ),
            (
                "unreachable".into(),
                "healthy".into(),
                Some("recover-1".into())
            ),
        ]
    );
    assert_eq!(transitions[2]["data"]["reason"], "healthy");
    let st = s.handle.status().await.expect("status");
    assert_eq!(
        (st.health.status, st.health.retry_count),
        (Status::Healthy, 0)
    );
    s.tree.shutdown().await;
}

#[tokio::test]
async fn a_list_change_refreshes_the_catalog_and_the_router_routes_the_new_tool() {
    let s = setup("changing").await;
    let ready = s
        .handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    let now = time::OffsetDateTime::now_utc();
    assert!(matches!(
        plan(&s.tree.router.snapshot(), Target::Tool("extra"), &[], now),
        Plan::Unknown { .. }
    ));
    ready
        .connection
        .call_tool("flip", None, Duration::from_secs(10))
        .await
        .expect("flip");
    eventually("the router knows `extra`", async || {
        let snap = s.tree.router.snapshot();
        matches!(
            plan(
                &snap,
                Target::Tool("extra"),
                &[],
                time::OffsetDateTime::now_utc()
            ),
            Plan::Candidates(_)
        )
        .then_some(())
    })
    .await;
    let changed = eventually("catalog event", async || {
        let e = events(&s.tree, "upstream.catalog_changed").await;
        (e.len() >= 2).then_some(e)
    })
    .await;
    assert_eq!(changed.last().expect("event")["data"]["tools"], 14);
    s.tree.shutdown().await;
}

#[tokio::test]
async fn a_degraded_server_is_checked_when_its_window_opens_and_recovers_by_ping() {
    let policy = HealthPolicy {
        backoff_base: Duration::from_millis(50),
        ..HealthPolicy::default()
    };
    let s = setup_with("recovering", policy).await;
    let ready = s
        .handle
        .ensure_ready(None, false, BUDGET)
        .await
        .expect("ready");
    let err = ready
        .connection
        .call_tool("fail_rpc", None, Duration::from_secs(10))
        .await
        .expect_err("fails");
    s.handle
        .report(Some("one-failure".into()), ready.generation, Err(err));
    eventually("degraded", async || {
        (s.handle.status().await.expect("status").health.status == Status::Degraded).then_some(())
    })
    .await;
    // No call is made: the health check at `next_retry_at` (50 ms later, not the 30 s
    // periodic interval) re-handshakes, pings, and proves service.
    let st = eventually("healthy again", async || {
        let st = s.handle.status().await.expect("status");
        (st.health.status == Status::Healthy).then_some(st)
    })
    .await;
    assert_eq!(st.health.retry_count, 0);
    assert!(
        st.handshakes >= 2,
        "the failure dropped the session; the check made a new one"
    );
    s.tree.shutdown().await;
}

#[tokio::test]
async fn a_killed_stdio_server_is_detected_reported_with_its_stderr_and_restarted() {
    let (tree, _dir) = common::tree().await;
    let spec: UpstreamSpec = serde_json::from_value(json!({
        "name": "proc", "command": env!("CARGO_BIN_EXE_att-mcp-fixture"), "args": ["--name", "proc"],
    }))
    .expect("spec");
    let policy = HealthPolicy {
        backoff_base: Duration::from_millis(100),
        ..HealthPolicy::default()
    };
    let handle = start_upstream(&tree, spec, policy).await;
    let pid_of = async |h: &UpstreamHandle| -> u64 {
        let ready = h.ensure_ready(None, false, BUDGET).await.expect("ready");
        let stats = ready
            .connection
            .call_tool("stats", None, Duration::from_secs(10))
            .await
            .expect("stats");
        stats.structured_content.expect("structured")["pid"]
            .as_u64()
            .expect("pid")
    };
    let first = pid_of(&handle).await;
    // Let the actor's first health check (a ping right after the handshake) finish, so the
    // kill below happens with nothing in flight: the exit is what must be noticed.
    eventually("first check done", async || {
        handle
            .status()
            .await
            .expect("status")
            .health
            .last_checked_at
            .map(|_| ())
    })
    .await;
    // SAFETY: kill(2) on the fixture process this test started through att.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(first).expect("pid"), libc::SIGKILL) },
        0
    );

    // Detected without any call in flight, with the reason and the stderr tail.
    let failed = eventually("failure recorded", async || {
        let st = handle.status().await.expect("status");
        (st.health.retry_count >= 1).then_some(st)
    })
    .await;
    let reason = failed.health.last_error.unwrap_or_default();
    assert!(
        reason.contains(&format!("process {first} was killed by signal 9 (SIGKILL)")),
        "the exit status in the reason: {reason}"
    );
    assert!(
        reason.contains("serving MCP on stdio"),
        "stderr tail in the reason: {reason}"
    );

    // Restarted after the back-off: a new process serves, and the server is healthy again.
    eventually("healthy again", async || {
        (handle.status().await.expect("status").health.status == Status::Healthy).then_some(())
    })
    .await;
    let second = pid_of(&handle).await;
    assert_ne!(first, second);
    common::wait_dead(first).await;
    tree.shutdown().await;
    common::wait_dead(second).await;
}

/// A warm call's success is a proof of service for the upstream actor, told at most once per
/// `proof::PROOF_EVERY` while nothing fails (a message per call woke the actor's runtime on
/// every call: issue 17, todo/perf.md), and at once after a failure the actor recorded.
#[tokio::test]
async fn successes_are_told_once_per_interval_and_at_once_after_a_failure() {
    let s = setup("served").await;
    let ready = s
        .handle
        .ensure_ready(Some("warm".into()), false, BUDGET)
        .await
        .expect("ready");
    let actor = UpstreamHandle::actor_name("served");
    // The reports the actor handled for request `id` (a message is in the actor's trace once
    // handled; a status request is handled after everything sent before it).
    let reports = async |id: &str| {
        s.handle.status().await.expect("status");
        s.tree
            .directory
            .trace(&actor, Some(id), 10)
            .expect("the upstream actor is listed")
            .into_iter()
            .filter(|r| r.kind == "report")
            .count()
    };

    // The first success is told.
    s.handle.served("r1", &ready);
    assert_eq!(reports("r1").await, 1, "the first success was not told");

    // Within the interval (held for an hour here, so that no clock decides): not told.
    ready.proof.close_for(Duration::from_secs(3600));
    s.handle.served("r2", &ready);
    assert_eq!(
        reports("r2").await,
        0,
        "a success within the interval was told"
    );

    // A failure the actor records reopens the gate: the next success is told at once.
    s.handle.report(
        Some("f1".into()),
        ready.generation,
        Err(CallFailure::ConnectionLost("cut".into())),
    );
    assert_eq!(reports("f1").await, 1, "the failure was handled");
    s.handle.served("r3", &ready);
    assert_eq!(reports("r3").await, 1, "the success after a failure waited");
}

/// One incident is one failure: a second caller's failure on a session the first one's
/// already ended (or its child's exit ended) is not counted again. Counted twice, a crash
/// doubled the retry window whenever the exit notice beat the caller's report.
#[tokio::test]
async fn a_failure_on_a_session_already_gone_is_not_counted_again() {
    // A long retry window: no check runs between the reports, however slow the machine.
    let s = setup_with(
        "gone",
        HealthPolicy {
            backoff_base: Duration::from_secs(3600),
            backoff_cap: Duration::from_secs(3600),
            ..HealthPolicy::default()
        },
    )
    .await;
    let ready = s
        .handle
        .ensure_ready(Some("warm".into()), false, BUDGET)
        .await
        .expect("ready");
    let lost = || Err(CallFailure::ConnectionLost("cut".into()));
    s.handle
        .report(Some("first".into()), ready.generation, lost());
    let health = s.handle.status().await.expect("status").health;
    assert_eq!(health.retry_count, 1, "the first failure counts");
    let window = health.next_retry_at;
    // Another caller of the same session, now gone.
    s.handle
        .report(Some("second".into()), ready.generation, lost());
    let health = s.handle.status().await.expect("status").health;
    assert_eq!(
        health.retry_count, 1,
        "the gone session's failure counted again"
    );
    assert_eq!(health.next_retry_at, window, "the retry window grew");
    s.tree.shutdown().await;
}
