//! `plan()` over 100 upstreams × 50 tools, against a baseline in the same run: one hash-map
//! lookup of the tool name plus copying its server list (the least any router must do).
//!
//! Run: `cargo bench -p att-gateway --bench plan`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use att_gateway::catalog::CatalogNames;
use att_gateway::router::{Plan, RoutingSnapshot, ServerView, Target, plan};
use att_gateway::upstream::Status;
use time::OffsetDateTime;

fn per_op(iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 {
        f();
    }
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    t0.elapsed() / iters
}

fn main() {
    let now = OffsetDateTime::now_utc();
    // 100 servers; tools are spread so that each tool is offered by 10 servers (replicas),
    // with a mix of statuses and windows.
    let servers: Vec<ServerView> = (0..100)
        .map(|i| ServerView {
            name: format!("server-{i:03}"),
            priority: i % 4,
            status: match i % 10 {
                0 => Status::Degraded,
                1 => Status::Unreachable,
                _ => Status::Healthy,
            },
            next_retry_at: (i % 10 < 2)
                .then(|| now + time::Duration::seconds(i64::from(i % 3) - 1)),
            catalog: Some(Arc::new(CatalogNames {
                tools: (0..50)
                    .map(|t| format!("tool-{}", (i % 10) * 50 + t))
                    .collect(),
                ..CatalogNames::default()
            })),
            entries: None,
            live: Default::default(),
            ready: Default::default(),
            gate: Default::default(),
        })
        .collect();
    let snapshot = RoutingSnapshot::build(1, servers);
    let preferred = vec!["server-042".to_owned(), "server-007".to_owned()];
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in snapshot.servers.iter().enumerate() {
        for t in &s.catalog.as_ref().expect("catalog").tools {
            index.entry(t.clone()).or_default().push(i);
        }
    }

    let iters = 200_000;
    let baseline = per_op(iters, || {
        black_box(index.get(black_box("tool-123")).cloned());
    });
    let planned = per_op(iters, || {
        black_box(plan(
            &snapshot,
            Target::Tool(black_box("tool-123")),
            &preferred,
            now,
        ));
    });
    let Plan::Candidates(c) = plan(&snapshot, Target::Tool("tool-123"), &preferred, now) else {
        panic!("expected candidates");
    };
    println!(
        "plan(): 100 upstreams, 10 offer the tool, {} candidates",
        c.len()
    );
    println!(
        "  baseline (index lookup + copy): {:>6} ns",
        baseline.as_nanos()
    );
    println!(
        "  plan():                         {:>6} ns",
        planned.as_nanos()
    );
    println!(
        "  ratio plan/baseline:            {:>6.1}x",
        planned.as_secs_f64() / baseline.as_secs_f64()
    );
}
