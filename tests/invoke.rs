//! Invocation with failover across real fixture upstreams (GATEWAY.md outcome table).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use att_actors::invoke::{Invoker, Outcome, Request};
use att_actors::tree::AttTree;
use att_actors::upstream::actor::UpstreamHandle;
use att_actors::upstream::{HealthPolicy, Status, UpstreamSpec};
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
    let (tree, dir) = common::tree().await;
    for (name, url, priority, idempotent) in upstreams {
        let spec: UpstreamSpec = serde_json::from_value(json!({
            "name": name, "url": url, "priority": priority, "idempotent_tools": idempotent, "call_timeout": 5,
        }))
        .expect("spec");
        common::start_upstream(&tree, spec, HealthPolicy::default()).await;
    }
    let invoker = Invoker::new(
        tree.directory.clone(),
        tree.router.clone(),
        Arc::new(tree.events.clone()),
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
    }
}

fn stages(attempts: &[att_actors::invoke::Attempt]) -> Vec<(String, &'static str, bool)> {
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
            assert_eq!(result["structuredContent"]["server"], "beta");
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
