//! Runs and services across the nodes of a cluster, on both engines: one open run per
//! target across every store on the database (the att processes of a cluster), let go with
//! the run's end by the node that holds it, a dead node's lock taken over by exactly one
//! other node; a service listed only by the node it belongs to.

use std::sync::Arc;

use att_release::model::{RunRecord, RunStatus};
use serde_json::json;
use time::macros::datetime;

use super::Harness;
use crate::cluster::NodeRecord;
use crate::store::Store;

fn run(id: &str, target: &str) -> RunRecord {
    let request = serde_json::from_value(json!({"target": target, "requested_release_id": "r1"}))
        .expect("request");
    RunRecord::new(id.into(), request, datetime!(2024-01-01 00:00 UTC))
}

fn ended(mut run: RunRecord) -> RunRecord {
    run.status = RunStatus::Succeeded;
    run
}

async fn one_run_per_target_across_stores_until_its_node_ends_it(h: Harness) {
    // Eight runs of one target asked at once through two stores (two atts): one opens.
    let stores: Vec<Arc<dyn Store>> = vec![h.store.clone(), h.open(None).await];
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{}", i % 2);
            let id = format!("run-{i}");
            let opened = store
                .open_run(&run(&id, "service:web"), &node)
                .await
                .expect("open");
            (id, node, opened)
        }));
    }
    let mut winners = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        let (id, node, opened) = t.await.expect("task");
        match opened {
            Ok(()) => winners.push((id, node)),
            Err(holder) => refused.push((id, holder)),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?} {refused:?}");
    let (winner, node) = winners.pop().expect("one");
    for (id, holder) in &refused {
        assert_eq!(holder, &winner, "{id} was refused naming the holder");
        assert_eq!(
            h.store.get_run(id).await.expect("get"),
            None,
            "{id} not stored"
        );
    }
    assert!(h.store.get_run(&winner).await.expect("get").is_some());
    // Another target is not held by it.
    let other = h
        .store
        .open_run(&run("run-x", "service:api"), "node-0")
        .await;
    assert_eq!(other.expect("open"), Ok(()));
    let locks: std::collections::BTreeSet<(String, String, String)> = h
        .store
        .target_locks()
        .await
        .expect("locks")
        .into_iter()
        .map(|l| (l.target, l.run_id, l.node))
        .collect();
    let want = [
        ("service:api", "run-x", "node-0"),
        ("service:web", winner.as_str(), node.as_str()),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(locks, want.into_iter().collect());

    // Only the node that holds it lets it go, with the run's last record.
    let stranger = if node == "node-0" { "node-1" } else { "node-0" };
    let last = ended(h.store.get_run(&winner).await.expect("get").expect("run"));
    h.store.close_run(&last, stranger).await.expect("close");
    let again = h
        .store
        .open_run(&run("run-9", "service:web"), stranger)
        .await;
    assert_eq!(again.expect("open"), Err(winner.clone()));
    h.store.close_run(&last, &node).await.expect("close");
    assert_eq!(
        h.store
            .get_run(&winner)
            .await
            .expect("get")
            .map(|r| r.status),
        Some(RunStatus::Succeeded)
    );
    let again = h
        .store
        .open_run(&run("run-9", "service:web"), stranger)
        .await;
    assert_eq!(again.expect("open"), Ok(()));
}

async fn a_dead_nodes_lock_is_taken_over_by_exactly_one_node(h: Harness) {
    let beat = datetime!(2026-01-01 12:00 UTC);
    h.store
        .heartbeat(
            &NodeRecord {
                id: "node-dead".into(),
                address: "127.0.0.1:1".into(),
                version: "0.1.0".into(),
                started_at: beat,
                heartbeat_at: beat,
            },
            beat - time::Duration::days(1),
        )
        .await
        .expect("beat");
    let opened = h
        .store
        .open_run(&run("run-1", "service:web"), "node-dead")
        .await;
    assert_eq!(opened.expect("open"), Ok(()));
    let locks = h.store.target_locks().await.expect("locks");
    assert_eq!(locks.len(), 1);
    let lock = locks[0].clone();
    assert_eq!(
        (lock.node.as_str(), lock.heartbeat_at),
        ("node-dead", Some(beat))
    );

    // Four nodes claim what they read, at once: one gets it.
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = if i % 2 == 0 {
            h.store.clone()
        } else {
            h.open(None).await
        };
        let lock = lock.clone();
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{i}");
            (store.claim_lock(&lock, &node).await.expect("claim"), node)
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        let (won, node) = t.await.expect("task");
        if won {
            claimed.push(node);
        }
    }
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let now = h.store.target_locks().await.expect("locks");
    assert_eq!(
        (now[0].node.as_str(), now[0].generation),
        (claimed[0].as_str(), lock.generation + 1)
    );
    // The new holder has no heartbeat yet: it is as alive as its claim, not dead.
    let claimed_at = now[0]
        .heartbeat_at
        .expect("the claim stands for a heartbeat");
    assert!(
        time::OffsetDateTime::now_utc() - claimed_at < time::Duration::minutes(1),
        "{claimed_at}"
    );
    // The presumed-dead node cannot let go of what was taken over; the new holder can.
    let last = ended(run("run-1", "service:web"));
    h.store.close_run(&last, "node-dead").await.expect("close");
    assert_eq!(h.store.target_locks().await.expect("locks").len(), 1);
    h.store.close_run(&last, &claimed[0]).await.expect("close");
    assert_eq!(h.store.target_locks().await.expect("locks"), []);
}

async fn a_service_is_listed_by_its_node_and_moves_with_its_registration(h: Harness) {
    let spec = |command: &str| -> att_release::service::spec::ServiceSpec {
        serde_json::from_value(json!({"name": "web", "command": command})).expect("service")
    };
    let names = |l: Vec<att_release::service::spec::ServiceSpec>| {
        l.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    let a = h.open_on_node("node-a").await;
    let b = h.open_on_node("node-b").await;
    a.save_service(&spec("/bin/a")).await.expect("save");
    assert_eq!(names(a.list_services().await.expect("list")), ["web"]);
    assert!(b.list_services().await.expect("list").is_empty());
    assert_eq!(
        b.service_node("web").await.expect("node"),
        Some("node-a".into())
    );
    assert_eq!(b.service_node("api").await.expect("node"), None);
    // A store of no node (a single att) lists every service.
    assert_eq!(names(h.store.list_services().await.expect("list")), ["web"]);

    b.save_service(&spec("/bin/b")).await.expect("save");
    assert!(a.list_services().await.expect("list").is_empty());
    let on_b = b.list_services().await.expect("list");
    assert_eq!(on_b[0].command, "/bin/b");
    assert_eq!(
        a.service_node("web").await.expect("node"),
        Some("node-b".into())
    );
}

super::both_engines!(
    one_run_per_target_across_stores_until_its_node_ends_it,
    a_dead_nodes_lock_is_taken_over_by_exactly_one_node,
    a_service_is_listed_by_its_node_and_moves_with_its_registration,
);
