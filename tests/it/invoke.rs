//! Invocation with failover across real fixture upstreams (GATEWAY.md outcome table).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use att_gateway::invoke::{Invoker, Outcome, Request};
use att_gateway::tree::{AttTree, TreeConfig};
use att_gateway::upstream::actor::UpstreamHandle;
use att_gateway::upstream::{HealthPolicy, Status, UpstreamSpec};
use att_runtime::clock::ManualClock;
use serde_json::{Value, json};

type Served = common::ServedFixture;

async fn serve(name: &str) -> Served {
    common::serve_fixture(name).await
}

struct Cluster {
    tree: AttTree,
    invoker: Invoker,
    _dir: tempfile::TempDir,
}

async fn cluster(upstreams: &[(&str, &str, i32, &[&str])]) -> Cluster {
    cluster_with(upstreams, TreeConfig::default(), HealthPolicy::default()).await
}

async fn cluster_with(
    upstreams: &[(&str, &str, i32, &[&str])],
    config: TreeConfig,
    policy: HealthPolicy,
) -> Cluster {
    let (tree, dir) = common::tree_with(config).await;
    for (name, url, priority, idempotent) in upstreams {
        let spec: UpstreamSpec = serde_json::from_value(json!({
            "name": name, "url": url, "priority": priority, "idempotent_tools": idempotent, "call_timeout": 5,
        }))
        .expect("spec");
        common::start_upstream(&tree, spec, policy).await;
    }
    let invoker = Invoker::new(
        tree.directory.clone(),
        tree.router.clone(),
        Arc::new(tree.events.clone()),
        tree.clock.clone(),
        Duration::from_secs(30),
    );
    // Wait (bounded) until every upstream's catalog is known to the router.
    for _ in 0..1000 {
        let snap = tree.router.snapshot();
        if snap.servers.len() == upstreams.len() && snap.servers.iter().all(|s| s.catalog.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Cluster {
        tree,
        invoker,
        _dir: dir,
    }
}

fn tool(name: &str, args: Value) -> Request {
    Request::Tool {
        name: name.into(),
        arguments: args.as_object().cloned(),
        resume: None,
    }
}

fn stages(attempts: &[att_gateway::invoke::Attempt]) -> Vec<(String, &'static str, bool)> {
    attempts
        .iter()
        .map(|a| (a.server.clone(), a.stage, a.success))
        .collect()
}

fn calls(s: &Served) -> u64 {
    s.fixture.state.calls.load(Ordering::SeqCst)
}

async fn status(c: &Cluster, name: &str) -> Status {
    UpstreamHandle::new(c.tree.directory.clone(), name)
        .status()
        .await
        .expect("status")
        .health
        .status
}

#[tokio::test]
async fn the_preferred_order_serves_and_reused_handshakes_leave_no_initialize_attempt() {
    let (a, b) = (serve("alpha").await, serve("beta").await);
    let c = cluster(&[("alpha", &a.url, 2, &[]), ("beta", &b.url, 1, &[])]).await;
    match c
        .invoker
        .invoke(&tool("echo", json!({"text": "hi"})), &[], "r1")
        .await
    {
        Outcome::Success {
            server,
            result,
            attempts,
        } => {
            assert_eq!(server, "beta", "lower priority value first");
            assert_eq!(result.to_json()["structuredContent"]["server"], "beta");
            assert_eq!(
                stages(&attempts),
                [("beta".into(), "invoke", true)],
                "the handshake was already done"
            );
        }
        other => panic!("{other:?}"),
    }
    match c
        .invoker
        .invoke(
            &tool("echo", json!({"text": "hi"})),
            &["alpha".into()],
            "r2",
        )
        .await
    {
        Outcome::Success { server, .. } => assert_eq!(server, "alpha"),
        other => panic!("{other:?}"),
    }
    c.tree.shutdown().await;
}

#[tokio::test]
async fn an_ambiguous_failure_of_a_non_repeatable_tool_is_not_repeated_elsewhere() {
    let (a, b) = (serve("primary").await, serve("backup").await);
    let c = cluster(&[
        ("primary", &a.url, 1, &[]),
        ("backup", &b.url, 2, &["echo"]),
    ])
    .await;
    a.fixture.state.sick.store(true, Ordering::SeqCst);
    let before = calls(&b);
    match c
        .invoker
        .invoke(&tool("stats", json!({})), &[], "r-unknown")
        .await
    {
        Outcome::OutcomeUnknown { attempts } => {
            assert_eq!(stages(&attempts), [("primary".into(), "invoke", false)]);
            assert_eq!(
                attempts[0].error.as_deref(),
                Some("rpc error: primary is sick")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls(&b), before, "the backup was never called");
    assert_eq!(status(&c, "primary").await, Status::Degraded);
    c.tree.shutdown().await;
}

#[tokio::test]
async fn repeatable_calls_fail_over_after_an_ambiguous_failure() {
    let (a, b) = (serve("primary").await, serve("backup").await);
    // `echo` is declared idempotent on primary; `read_only` is annotated readOnlyHint.
    let c = cluster(&[
        ("primary", &a.url, 1, &["echo"]),
        ("backup", &b.url, 2, &[]),
    ])
    .await;
    a.fixture.state.sick.store(true, Ordering::SeqCst);
    for (request, id) in [
        (tool("echo", json!({"text": "x"})), "r-idem"),
        (tool("read_only", json!({"text": "x"})), "r-ro"),
    ] {
        // The first failure opens primary's window; later calls skip it until it opens.
        match c.invoker.invoke(&request, &[], id).await {
            Outcome::Success {
                server, attempts, ..
            } => {
                assert_eq!(server, "backup", "{id}");
                assert_eq!(
                    attempts.last().map(|a| (a.server.as_str(), a.success)),
                    Some(("backup", true))
                );
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    c.tree.shutdown().await;
}

#[tokio::test]
async fn a_caller_error_returns_at_once_without_failover_or_blame() {
    let (a, b) = (serve("primary").await, serve("backup").await);
    let c = cluster(&[("primary", &a.url, 1, &[]), ("backup", &b.url, 2, &[])]).await;
    let before = calls(&b);
    match c
        .invoker
        .invoke(&tool("echo", json!({})), &[], "r-caller")
        .await
    {
        Outcome::CallerError {
            server,
            code,
            attempts,
            ..
        } => {
            assert_eq!((server.as_str(), code), ("primary", -32602));
            assert_eq!(attempts.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls(&b), before);
    assert_eq!(status(&c, "primary").await, Status::Healthy);
    match c
        .invoker
        .invoke(&tool("no_such_tool", json!({})), &[], "r-404")
        .await
    {
        Outcome::Unknown { checked } => assert_eq!(checked, ["primary", "backup"]),
        other => panic!("{other:?}"),
    }
    c.tree.shutdown().await;
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_skipped_even_for_non_repeatable_calls() {
    let (a, b) = (serve("primary").await, serve("backup").await);
    let c = cluster(&[("primary", &a.url, 1, &[]), ("backup", &b.url, 2, &[])]).await;
    a.task.abort();
    let _ = a.task.await;
    match c
        .invoker
        .invoke(&tool("stats", json!({})), &[], "r-down")
        .await
    {
        Outcome::Success {
            server, attempts, ..
        } => {
            assert_eq!(server, "backup");
            assert_eq!(attempts[0].server, "primary");
            assert!(!attempts[0].success);
        }
        other => panic!("{other:?}"),
    }
    // Now primary's window is closed: it is not contacted, and with backup sick too,
    // the caller gets a 503-shaped outcome with the attempts and a retry hint.
    b.fixture.state.sick.store(true, Ordering::SeqCst);
    match c
        .invoker
        .invoke(&tool("echo", json!({"text": "x"})), &[], "r-none")
        .await
    {
        Outcome::OutcomeUnknown { attempts } => {
            assert_eq!(stages(&attempts), [("backup".into(), "invoke", false)])
        }
        other => panic!("{other:?}"),
    }
    // Reports reach the upstream actors asynchronously (the hot path never waits on a
    // mailbox): wait until backup's failure is published before planning again.
    for _ in 0..1000 {
        let snap = c.tree.router.snapshot();
        if snap
            .server("backup")
            .is_some_and(|s| s.status == Status::Degraded)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match c
        .invoker
        .invoke(
            &Request::Resource {
                uri: "fixture://greeting".into(),
                resume: None,
            },
            &[],
            "r-res",
        )
        .await
    {
        Outcome::Unavailable {
            attempts,
            retry_after,
        } => {
            assert!(attempts.is_empty(), "every window is closed: {attempts:?}");
            assert!(retry_after.is_some_and(|s| s >= 1));
        }
        other => panic!("{other:?}"),
    }
    c.tree.shutdown().await;
}

fn served_by(outcome: Outcome) -> (String, Vec<(String, &'static str, bool)>) {
    match outcome {
        Outcome::Success {
            server, attempts, ..
        } => (server, stages(&attempts)),
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test]
async fn a_mixed_cluster_is_tried_healthy_first_then_open_windows_and_never_inside_a_closed_one() {
    // Windows of a minute on a clock the test moves: no timer fires during the test, so
    // every state below holds until the test changes it.
    let clock = ManualClock::new();
    let config = TreeConfig {
        clock: Arc::new(clock.clone()),
        ..TreeConfig::default()
    };
    let policy = HealthPolicy {
        backoff_base: Duration::from_secs(60),
        backoff_cap: Duration::from_secs(600),
        ..HealthPolicy::default()
    };
    let (a, b, c, d) = (
        serve("a").await,
        serve("b").await,
        serve("c").await,
        serve("d").await,
    );
    let echo: &[&str] = &["echo"];
    let cl = cluster_with(
        &[
            ("a", &a.url, 30, echo),
            ("b", &b.url, 10, echo),
            ("c", &c.url, 20, echo),
            ("d", &d.url, 5, echo),
        ],
        config,
        policy,
    )
    .await;
    let sick = |s: &Served, on: bool| s.fixture.state.sick.store(on, Ordering::SeqCst);
    let echo_call = tool("echo", json!({"text": "x"}));

    // t0: b fails (degraded, window until t0+60 s); the call fails over to d, first by priority.
    sick(&b, true);
    let (server, trace) = served_by(cl.invoker.invoke(&echo_call, &["b".into()], "m1").await);
    assert_eq!(server, "d");
    assert_eq!(
        trace,
        [("b".into(), "invoke", false), ("d".into(), "invoke", true)]
    );
    assert_eq!(status(&cl, "b").await, Status::Degraded);
    // Still t0: c fails too (window until t0+60 s). Preference reorders the healthy tier.
    sick(&c, true);
    let (server, trace) = served_by(cl.invoker.invoke(&echo_call, &["c".into()], "m2").await);
    assert_eq!(server, "d");
    assert_eq!(
        trace,
        [("c".into(), "invoke", false), ("d".into(), "invoke", true)],
        "b, inside its window, is left out"
    );
    // c is fixed, but no check runs inside its closed window.
    sick(&c, false);
    let handle_c = UpstreamHandle::new(cl.tree.directory.clone(), "c");
    let st = handle_c
        .check_now(Duration::from_secs(10))
        .await
        .expect("check");
    assert_eq!(
        st.health.status,
        Status::Degraded,
        "no check inside a closed window"
    );

    // t0+61 s: the windows of b and c are open. A check recovers c; then d fails (window
    // until t0+121 s) and c, recovered, serves.
    clock.advance(Duration::from_secs(61));
    let st = handle_c
        .check_now(Duration::from_secs(10))
        .await
        .expect("check");
    assert_eq!(st.health.status, Status::Healthy, "recovered");
    sick(&d, true);
    let (server, trace) = served_by(cl.invoker.invoke(&echo_call, &[], "m3").await);
    assert_eq!(server, "c");
    assert_eq!(
        trace,
        [("d".into(), "invoke", false), ("c".into(), "invoke", true)]
    );
    assert_eq!(status(&cl, "d").await, Status::Degraded);

    // The mixed cluster: a healthy (30), c recovered (20), b degraded with its window open
    // (10), d degraded inside its window (5). With the healthy ones failing, the order is
    // healthy by priority, then the open window; d is never contacted.
    sick(&a, true);
    sick(&c, true);
    sick(&b, false);
    let d_calls = calls(&d);
    let (server, trace) = served_by(cl.invoker.invoke(&echo_call, &[], "m4").await);
    assert_eq!(server, "b");
    assert_eq!(
        trace,
        [
            ("c".into(), "invoke", false),
            ("a".into(), "invoke", false),
            // b's failure dropped its session: it handshakes again first.
            ("b".into(), "initialize", true),
            ("b".into(), "invoke", true),
        ]
    );
    assert_eq!(
        calls(&d),
        d_calls,
        "d, inside its window, was never contacted"
    );
    // b served: proof of service makes it healthy again.
    assert_eq!(status(&cl, "b").await, Status::Healthy);
    cl.tree.shutdown().await;
}

#[tokio::test]
async fn a_server_that_forgot_the_session_gets_the_call_again_on_a_new_one_without_blame() {
    let (a, b) = (serve("restarted").await, serve("other").await);
    // `echo` is not repeatable: a call that was never processed may still be sent again.
    let c = cluster(&[("restarted", &a.url, 1, &[]), ("other", &b.url, 2, &[])]).await;
    let (server, _) = served_by(
        c.invoker
            .invoke(&tool("echo", json!({"text": "1"})), &[], "s1")
            .await,
    );
    assert_eq!(server, "restarted");
    let handshakes = || a.fixture.state.handshakes.load(Ordering::SeqCst);
    assert_eq!(handshakes(), 1);

    a.forget_sessions().await;
    let other_calls = calls(&b);
    let (server, trace) = served_by(
        c.invoker
            .invoke(&tool("echo", json!({"text": "2"})), &[], "s2")
            .await,
    );
    assert_eq!(server, "restarted");
    assert_eq!(
        trace,
        [
            ("restarted".into(), "invoke", false),
            ("restarted".into(), "initialize", true),
            ("restarted".into(), "invoke", true),
        ]
    );
    assert_eq!(handshakes(), 2);
    assert_eq!(calls(&b), other_calls, "no failover was needed");
    assert_eq!(status(&c, "restarted").await, Status::Healthy, "no blame");
    c.tree.shutdown().await;
}

/// A call planned before a server's catalog is known may reach a server that does not offer
/// the tool: its catalog (fetched with the handshake) says so, and the server is passed over,
/// unblamed — the answer is "unknown" (or "try again" while the router catches up), never the
/// server's own "invalid params".
#[tokio::test]
async fn a_server_planned_before_its_catalog_was_known_is_passed_over_for_a_name_it_lacks() {
    let a = serve("fresh").await;
    let (tree, _dir) = common::tree_with(TreeConfig::default()).await;
    let spec: UpstreamSpec =
        serde_json::from_value(json!({"name": "fresh", "url": a.url})).expect("spec");
    common::start_upstream(&tree, spec, HealthPolicy::default()).await;
    let invoker = Invoker::new(
        tree.directory.clone(),
        tree.router.clone(),
        Arc::new(tree.events.clone()),
        tree.clock.clone(),
        Duration::from_secs(30),
    );
    // At once: the router has not seen the catalog yet.
    assert!(
        tree.router
            .snapshot()
            .servers
            .iter()
            .all(|s| s.catalog.is_none()),
        "the call is planned before the catalog is known"
    );
    match invoker.invoke(&tool("nope", json!({})), &[], "r1").await {
        Outcome::Unknown { .. } | Outcome::Unavailable { .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        calls(&a),
        0,
        "the server was never called for a tool it lacks"
    );
    assert_eq!(
        status(
            &Cluster {
                tree,
                invoker,
                _dir
            },
            "fresh"
        )
        .await,
        Status::Healthy
    );
}

/// One upstream `name` whose sessions live 100 s on a clock the test moves (no timer fires,
/// so only the test's calls and its clock decide when the actor is asked anything).
async fn warm_cluster(name: &str, url: &str, clock: &ManualClock) -> Cluster {
    let (tree, dir) = common::tree_with(TreeConfig {
        clock: Arc::new(clock.clone()),
        ..TreeConfig::default()
    })
    .await;
    let spec: UpstreamSpec = serde_json::from_value(json!({
        "name": name, "url": url, "call_timeout": 5, "max_init_age": 100,
    }))
    .expect("spec");
    common::start_upstream(&tree, spec, HealthPolicy::default()).await;
    let invoker = Invoker::new(
        tree.directory.clone(),
        tree.router.clone(),
        Arc::new(tree.events.clone()),
        tree.clock.clone(),
        Duration::from_secs(30),
    );
    // The first check handshakes; the slot is published with the session.
    common::eventually(
        "the upstream's session is published",
        Duration::from_secs(10),
        || {
            let snapshot = tree.router.snapshot();
            let now = tree.clock.now();
            let ready = snapshot
                .servers
                .iter()
                .any(|s| s.catalog.is_some() && s.ready.get(now).is_some());
            async move { ready.then_some(()) }
        },
    )
    .await;
    Cluster {
        tree,
        invoker,
        _dir: dir,
    }
}

/// What the upstream actor handled for `request_id` besides outcome reports (a success is told
/// at most once per `proof::PROOF_EVERY`), once everything sent before now has been handled: a
/// status request is handled after it (one mailbox, in order).
async fn asked_for(c: &Cluster, server: &str, request_id: &str) -> Vec<String> {
    UpstreamHandle::new(c.tree.directory.clone(), server)
        .status()
        .await
        .expect("status");
    c.tree
        .directory
        .trace(&UpstreamHandle::actor_name(server), Some(request_id), 16)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.kind)
        .filter(|k| k != "report")
        .collect()
}

async fn call_echo(c: &Cluster, request_id: &str) -> (String, Vec<(String, &'static str, bool)>) {
    served_by(
        c.invoker
            .invoke(&tool("echo", json!({"text": request_id})), &[], request_id)
            .await,
    )
}

#[tokio::test]
async fn warm_calls_take_the_published_session_without_a_mailbox_round_trip() {
    let a = serve("warm").await;
    let clock = ManualClock::new();
    let c = warm_cluster("warm", &a.url, &clock).await;
    let actor = UpstreamHandle::actor_name("warm");
    let handled = || {
        c.tree
            .directory
            .get(&actor)
            .expect("the upstream actor is listed")
            .messages_handled
    };
    let before = handled();
    let n = 20;
    for i in 0..n {
        let (server, trace) = call_echo(&c, &format!("w{i}")).await;
        assert_eq!(server, "warm");
        assert_eq!(trace, [("warm".into(), "invoke", true)]);
    }
    // No call asks the actor for the session; their successes are told at most once per
    // `PROOF_EVERY` (health needs proof of service).
    for i in 0..n {
        assert!(asked_for(&c, "warm", &format!("w{i}")).await.is_empty());
    }
    // At most a report per call, plus the status requests of `asked_for` and the upstream's
    // first health check (a ping started with the session) that may come back meanwhile.
    // Asking the actor for each call would add `n` more.
    let added = handled() - before;
    assert!(
        added <= 2 * n + 2,
        "{added} messages for {n} warm calls: no ensure_ready"
    );
    assert_eq!(a.fixture.state.handshakes.load(Ordering::SeqCst), 1);
    c.tree.shutdown().await;
}

/// An event sink in front of the event log that counts how events arrive.
struct Counting {
    log: att_runtime::events::EventsHandle,
    events: std::sync::atomic::AtomicUsize,
    records: std::sync::atomic::AtomicUsize,
}

impl att_runtime::events::EventSink for Counting {
    fn emit(&self, event: att_runtime::events::NewEvent) {
        self.events.fetch_add(1, Ordering::SeqCst);
        self.log.emit(event);
    }

    fn emit_record(&self, record: Box<dyn att_runtime::events::Record>) {
        self.records.fetch_add(1, Ordering::SeqCst);
        self.log.emit_record(record);
    }
}

#[tokio::test]
async fn a_warm_call_hands_the_event_log_one_typed_record_whose_phases_are_stored_as_events() {
    let a = serve("typed").await;
    let clock = ManualClock::new();
    let c = warm_cluster("typed", &a.url, &clock).await;
    let sink = Arc::new(Counting {
        log: c.tree.events.clone(),
        events: 0.into(),
        records: 0.into(),
    });
    let invoker = Invoker::new(
        c.tree.directory.clone(),
        c.tree.router.clone(),
        sink.clone(),
        c.tree.clock.clone(),
        Duration::from_secs(30),
    );
    let n = 5;
    for i in 0..n {
        let o = invoker
            .invoke(&tool("echo", json!({"text": "t"})), &[], &format!("t{i}"))
            .await;
        assert_eq!(served_by(o).1, [("typed".into(), "invoke", true)]);
    }
    // No event built on the caller's path: one record per call, built by the writer.
    assert_eq!(
        sink.events.load(Ordering::SeqCst),
        0,
        "events built by callers"
    );
    assert_eq!(
        sink.records.load(Ordering::SeqCst),
        n,
        "records for {n} calls"
    );
    for i in 0..n {
        let stored = c
            .tree
            .events
            .query(att_runtime::events::EventQuery {
                correlation_id: Some(format!("t{i}")),
                kind: Some("invocation".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("events");
        let phases: Vec<(&str, &str, &str)> = stored
            .iter()
            .map(|e| {
                (
                    e.data["server"].as_str().unwrap_or_default(),
                    e.data["method"].as_str().unwrap_or_default(),
                    e.data["phase"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            phases,
            [
                ("typed", "tools/call", "invoke_start"),
                ("typed", "tools/call", "invoke_success")
            ]
        );
        assert!(stored[0].at <= stored[1].at, "{stored:?}");
    }
    c.tree.shutdown().await;
}

#[tokio::test]
async fn a_session_in_the_last_fifth_of_its_life_is_asked_for_and_refreshed_then_warm_again() {
    let a = serve("ageing").await;
    let clock = ManualClock::new();
    let c = warm_cluster("ageing", &a.url, &clock).await;
    assert_eq!(call_echo(&c, "young").await.0, "ageing");
    assert!(asked_for(&c, "ageing", "young").await.is_empty());

    // 81 s of a 100 s session: the slot no longer hands it out, the actor does (it is still
    // valid) and replaces it in the background.
    clock.advance(Duration::from_secs(81));
    let (server, trace) = call_echo(&c, "old").await;
    assert_eq!(server, "ageing");
    assert_eq!(
        trace,
        [("ageing".into(), "invoke", true)],
        "no caller waits for the refresh"
    );
    assert_eq!(asked_for(&c, "ageing", "old").await, ["ensure_ready"]);
    let handshakes = || a.fixture.state.handshakes.load(Ordering::SeqCst);
    common::eventually("the background refresh", Duration::from_secs(10), || {
        let done = handshakes() == 2;
        async move { done.then_some(()) }
    })
    .await;
    // The refreshed session is published: warm again, on the new session.
    common::eventually(
        "the refreshed session is published",
        Duration::from_secs(10),
        || {
            let fresh = c.tree.router.snapshot().servers[0]
                .ready
                .get(clock_now(&c))
                .is_some();
            async move { fresh.then_some(()) }
        },
    )
    .await;
    assert_eq!(call_echo(&c, "renewed").await.0, "ageing");
    assert!(asked_for(&c, "ageing", "renewed").await.is_empty());

    // An invalidated session is cleared from the slot: the next call asks the actor, which
    // handshakes again.
    UpstreamHandle::new(c.tree.directory.clone(), "ageing")
        .invalidate()
        .expect("invalidate");
    common::eventually("the slot is cleared", Duration::from_secs(5), || {
        let cleared = c.tree.router.snapshot().servers[0]
            .ready
            .get(clock_now(&c))
            .is_none();
        async move { cleared.then_some(()) }
    })
    .await;
    let (_, trace) = call_echo(&c, "after-invalidate").await;
    assert_eq!(
        trace,
        [
            ("ageing".into(), "initialize", true),
            ("ageing".into(), "invoke", true)
        ]
    );
    assert_eq!(handshakes(), 3);
    assert_eq!(call_echo(&c, "warm-again").await.0, "ageing");
    assert!(asked_for(&c, "ageing", "warm-again").await.is_empty());
    c.tree.shutdown().await;
}

#[tokio::test]
async fn after_an_upstream_restart_the_expired_session_is_renewed_once_then_calls_are_warm_again() {
    let a = serve("restarting").await;
    let clock = ManualClock::new();
    let c = warm_cluster("restarting", &a.url, &clock).await;
    assert_eq!(call_echo(&c, "before").await.0, "restarting");
    assert!(asked_for(&c, "restarting", "before").await.is_empty());

    // The server forgets its sessions: the published one fails once, the renewal goes to the
    // actor (never back to the slot's expired session), and the new session is published.
    a.forget_sessions().await;
    let (_, trace) = call_echo(&c, "expired").await;
    assert_eq!(
        trace,
        [
            ("restarting".into(), "invoke", false),
            ("restarting".into(), "initialize", true),
            ("restarting".into(), "invoke", true),
        ]
    );
    for i in 0..5 {
        let request = format!("after{i}");
        let (_, trace) = call_echo(&c, &request).await;
        assert_eq!(trace, [("restarting".into(), "invoke", true)]);
        assert!(asked_for(&c, "restarting", &request).await.is_empty());
    }
    assert_eq!(a.fixture.state.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(status(&c, "restarting").await, Status::Healthy, "no blame");
    c.tree.shutdown().await;
}

fn clock_now(c: &Cluster) -> time::OffsetDateTime {
    c.tree.clock.now()
}
