//! The cost of writing the event log on PostgreSQL against SQLite (issue 19), in one run:
//! the same store port (`EventStore::append_events`) on both engines, batches of 1 event
//! (an event writer that finds one event queued) and of 64 (a busy one), rounds alternating
//! between the engines so that a drifting machine hurts both alike. Printed per batch size:
//! events per second and µs per append on each engine, and PostgreSQL's cost as a ratio of
//! SQLite's. Also the newest-50 query (`/api/v1/events`) latency.
//!
//! PostgreSQL is the test server (`ATT_TEST_DATABASE_URL`, else 127.0.0.1:5432 — see
//! `att::store::postgres::test_database`), in a schema of its own dropped at the end;
//! SQLite is a file in a temp dir (WAL, `synchronous = NORMAL`, as att runs it). Both
//! commit every append durably to their own standard (PostgreSQL: `fsync` as the server is
//! configured).
//!
//! Run: `cargo bench --bench store` (`BENCH_APPENDS=N` appends per round and batch size,
//! default 400).

use std::sync::Arc;
use std::time::{Duration, Instant};

use att::store::postgres::test_database::TestDatabase;
use att::store::{PgStore, SqliteStore, Store};
use att_runtime::events::{EventQuery, NewEvent};
use serde_json::json;

const ROUNDS: usize = 3;
const BATCHES: [usize; 2] = [1, 64];

/// An invocation-sized payload, as the gateway writes per call.
fn event(i: usize) -> NewEvent {
    NewEvent::new(
        "invocation.success",
        json!({"server": "primary", "tool": "echo", "attempt": 1, "duration_ms": 3, "i": i}),
    )
    .correlated(format!("req-{i}"))
}

/// Appends `appends` batches of `batch` events; the time taken.
async fn write(store: &Arc<dyn Store>, appends: usize, batch: usize) -> Duration {
    let events: Vec<NewEvent> = (0..batch).map(event).collect();
    let started = Instant::now();
    for _ in 0..appends {
        store.append_events(&events).await.expect("append");
    }
    started.elapsed()
}

async fn query(store: &Arc<dyn Store>, times: usize) -> Duration {
    let q = EventQuery {
        limit: 50,
        ..Default::default()
    };
    let started = Instant::now();
    for _ in 0..times {
        store.query_events(&q).await.expect("query");
    }
    started.elapsed() / u32::try_from(times).expect("times")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let appends: usize = std::env::var("BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let Some(db) = TestDatabase::create("benches/store").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("att.db"))
            .await
            .expect("sqlite"),
    );
    let pg: Arc<dyn Store> = Arc::new(PgStore::open(db.options()).await.expect("postgres"));
    for store in [&sqlite, &pg] {
        write(store, 50, 8).await; // warm-up: connections, statement caches
    }
    println!("event log writes, {appends} appends per round and batch size, {ROUNDS} rounds");
    for batch in BATCHES {
        let (mut s_total, mut p_total) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            s_total += write(&sqlite, appends, batch).await;
            p_total += write(&pg, appends, batch).await;
        }
        let n = appends * ROUNDS;
        let per_append = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        let per_sec = |d: Duration| (n * batch) as f64 / d.as_secs_f64();
        println!(
            "batch {batch:>2}: sqlite {:>9.0} events/s ({:>7.1} µs/append) | postgres {:>9.0} events/s ({:>7.1} µs/append) | postgres/sqlite cost {:.2}",
            per_sec(s_total),
            per_append(s_total),
            per_sec(p_total),
            per_append(p_total),
            p_total.as_secs_f64() / s_total.as_secs_f64()
        );
    }
    let (s, p) = (query(&sqlite, 200).await, query(&pg, 200).await);
    println!(
        "newest 50 of {} events: sqlite {:.0} µs | postgres {:.0} µs | postgres/sqlite {:.2}",
        appends * ROUNDS * (BATCHES.iter().sum::<usize>()) + 400,
        s.as_secs_f64() * 1e6,
        p.as_secs_f64() * 1e6,
        p.as_secs_f64() / s.as_secs_f64()
    );
    sqlite.close().await;
    pg.close().await;
}
