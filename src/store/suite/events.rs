//! The event log port (`EventStore`) on both engines.

use att_runtime::events::{Event, EventQuery, NewEvent};
use serde_json::json;

use super::Harness;

fn data_i(events: Vec<Event>) -> Vec<i64> {
    events
        .into_iter()
        .map(|e| e.data["i"].as_i64().unwrap_or(-1))
        .collect()
}

fn query(kind: Option<&str>, cid: Option<&str>, limit: u32) -> EventQuery {
    EventQuery {
        kind: kind.map(Into::into),
        correlation_id: cid.map(Into::into),
        limit,
        ..Default::default()
    }
}

async fn appended_events_come_back_newest_n_oldest_first_with_filters(h: Harness) {
    let s = &h.store;
    let mut batch = Vec::new();
    for i in 0..6 {
        let kind = if i % 2 == 0 {
            "actor.restarted"
        } else {
            "upstream.status"
        };
        let mut e = NewEvent::new(kind, json!({ "i": i, "server": format!("s{}", i % 3) }));
        if i >= 3 {
            e = e.correlated("req-1");
        }
        batch.push(e);
    }
    let stored = s.append_events(&batch).await.expect("append");
    assert_eq!(stored.len(), 6);
    assert!(stored.windows(2).all(|w| w[0] < w[1]), "{stored:?}");

    let q = |kind, cid, limit| async move {
        data_i(s.query_events(&query(kind, cid, limit)).await.expect("q"))
    };
    assert_eq!(q(None, None, 3).await, [3, 4, 5]);
    assert_eq!(q(Some("actor.restarted"), None, 10).await, [0, 2, 4]);
    assert_eq!(q(Some("actor.*"), None, 10).await, [0, 2, 4]);
    // A prefix matches whole segments only, and `_` is not a wildcard.
    assert_eq!(q(Some("act.*"), None, 10).await, Vec::<i64>::new());
    assert_eq!(
        q(Some("actor_restarted"), None, 10).await,
        Vec::<i64>::new()
    );
    assert_eq!(q(None, Some("req-1"), 2).await, [4, 5]);
    let filtered = |f: EventQuery| async move { data_i(s.query_events(&f).await.expect("q")) };
    assert_eq!(
        filtered(EventQuery {
            except_kinds: vec!["upstream.status".into()],
            limit: 10,
            ..Default::default()
        })
        .await,
        [0, 2, 4]
    );
    assert_eq!(
        filtered(EventQuery {
            data: vec![("server".into(), "s1".into())],
            limit: 10,
            ..Default::default()
        })
        .await,
        [1, 4]
    );
    let all = s.query_events(&query(None, None, 10)).await.expect("q");
    assert_eq!(
        filtered(EventQuery {
            since: Some(all[0].at),
            limit: 10,
            ..Default::default()
        })
        .await
        .len(),
        6
    );
    assert!(
        filtered(EventQuery {
            since: Some(all[0].at + time::Duration::hours(1)),
            limit: 10,
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // After an id, a limit takes the oldest ones: a page forward, not the newest.
    let after = |after_id, limit| EventQuery {
        after_id: Some(after_id),
        limit,
        ..Default::default()
    };
    assert_eq!(filtered(after(stored[4], 10)).await, [5]);
    assert_eq!(filtered(after(stored[0], 2)).await, [1, 2]);
    // What comes back is what went in, to the millisecond.
    assert_eq!(all[0].kind, "actor.restarted");
    assert_eq!(all[0].at, batch[0].stored_at());
    assert_eq!(all[5].correlation_id.as_deref(), Some("req-1"));
}

/// Batches larger than one INSERT statement, paged through forward by id: nothing skipped,
/// nothing twice, in order.
async fn big_batches_page_forward_completely_in_order(h: Harness) {
    let s = &h.store;
    let batch: Vec<NewEvent> = (0..450)
        .map(|i| NewEvent::new("bulk.item", json!({ "i": i })))
        .collect();
    let first = s.append_events(&batch[..250]).await.expect("append");
    let second = s.append_events(&batch[250..]).await.expect("append");
    let ids: Vec<i64> = first.iter().chain(&second).copied().collect();
    assert_eq!(ids.len(), 450);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page = s
            .query_events(&EventQuery {
                after_id: Some(cursor),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        cursor = last.id;
        seen.extend(
            page.iter()
                .map(|e| (e.id, e.data["i"].as_i64().unwrap_or(-1))),
        );
    }
    let expected: Vec<(i64, i64)> = ids.iter().copied().zip(0..450).collect();
    assert_eq!(seen, expected);
}

/// Appends from several writers at once (several att processes sharing a database): every
/// event is stored once, and paging forward from any id seen sees all later ones.
async fn concurrent_appends_all_land_and_page_forward(h: Harness) {
    let writers = (0..4).map(|w| {
        let s = h.store.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..10 {
                let batch: Vec<NewEvent> = (0..5)
                    .map(|i| NewEvent::new("load.item", json!({ "w": w, "i": round * 5 + i })))
                    .collect();
                ids.extend(s.append_events(&batch).await.expect("append"));
            }
            ids
        })
    });
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.expect("writer"));
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 200);
    let stored = h
        .store
        .query_events(&EventQuery {
            after_id: Some(0),
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("all");
    assert_eq!(stored.iter().map(|e| e.id).collect::<Vec<_>>(), all);
}

/// Payloads are kept exactly, whatever text a caller put in them (a NUL, non-ASCII).
async fn payloads_with_nul_and_non_ascii_text_round_trip(h: Harness) {
    let data = json!({ "text": "a\u{0}b", "name": "é🦀", "nested": { "list": [1, null, "x"] } });
    let ids = h
        .store
        .append_events(&[NewEvent::new("odd.payload", data.clone()).correlated("c-ü")])
        .await
        .expect("append");
    let back = h
        .store
        .query_events(&EventQuery {
            data: vec![("name".into(), "é🦀".into())],
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].id, &back[0].data), (ids[0], &data));
    assert_eq!(back[0].correlation_id.as_deref(), Some("c-ü"));
}

async fn a_payload_field_name_outside_a_to_z_is_refused(h: Harness) {
    for bad in ["", "a.b", "A", "x') OR 1=1 --"] {
        let e = h
            .store
            .query_events(&EventQuery {
                data: vec![(bad.into(), "v".into())],
                limit: 5,
                ..Default::default()
            })
            .await
            .expect_err(bad);
        assert!(
            e.0.contains("is not a payload field name"),
            "{bad}: {}",
            e.0
        );
    }
}

async fn events_survive_a_reopen(h: Harness) {
    h.store
        .append_events(&[NewEvent::new("x.y", json!(null))])
        .await
        .expect("append");
    h.store.close().await;
    let again = h.open(None).await;
    let all = again.query_events(&query(None, None, 10)).await.expect("q");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, "x.y");
}

/// Each event names the node that wrote it; events of a store without a node name none.
async fn events_name_the_node_that_wrote_them(h: Harness) {
    let a = h.open_on_node("node-aaaa").await;
    let b = h.open_on_node("node-bbbb").await;
    assert_eq!(a.node().as_deref(), Some("node-aaaa"));
    a.append_events(&[NewEvent::new("x.a", json!(1))])
        .await
        .expect("a");
    b.append_events(&[NewEvent::new("x.b", json!(2))])
        .await
        .expect("b");
    h.store
        .append_events(&[NewEvent::new("x.none", json!(3))])
        .await
        .expect("none");
    let seen: Vec<(String, Option<String>)> = h
        .store
        .query_events(&query(None, None, 10))
        .await
        .expect("q")
        .into_iter()
        .map(|e| (e.kind, e.node))
        .collect();
    assert_eq!(
        seen,
        [
            ("x.a".into(), Some("node-aaaa".into())),
            ("x.b".into(), Some("node-bbbb".into())),
            ("x.none".into(), None),
        ]
    );
}

super::both_engines!(
    events_name_the_node_that_wrote_them,
    appended_events_come_back_newest_n_oldest_first_with_filters,
    big_batches_page_forward_completely_in_order,
    concurrent_appends_all_land_and_page_forward,
    payloads_with_nul_and_non_ascii_text_round_trip,
    a_payload_field_name_outside_a_to_z_is_refused,
    events_survive_a_reopen,
);
