//! The Prometheus metrics per upstream and tool, per release phase, and for `/mcp` sessions
//! and relays, scraped from `/metrics` the way Prometheus does, after real calls through real
//! fixture upstreams, real release runs of the fixture service, and real MCP clients.
//!
//! Counts are compared as the difference between two scrapes (calls made while waiting for a
//! route are not the test's), and a scrape is repeated only until the last thing counted
//! shows (the call metrics are counted in the event writer, just after the call returns).

use crate::bootstrap_pipeline::{release, web};
use crate::common::{self, TestAtt, eventually, free_port, serve_fixture};
use crate::federated_mcp::{answerer, call, client, open_session};

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

async fn scrape(att: &TestAtt) -> String {
    let r = att.http.get(att.url("/metrics")).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    r.text().await.expect("metrics text")
}

/// The value of `series` (name and labels exactly as exposed) in `text`; 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn invoke(att: &TestAtt, tool: &str, arguments: Value) -> (u16, Value) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/invoke/tool"))
        .json(&json!({"tool_name": tool, "arguments": arguments}))
        .send()
        .await
        .expect("invoke");
    (r.status().as_u16(), r.json().await.expect("JSON"))
}

fn call_series(name: &str, upstream: &str, extra: &str) -> String {
    format!(r#"att_{name}{{upstream="{upstream}",method="tools/call",target="echo"{extra}}}"#)
}

#[tokio::test]
async fn calls_are_counted_per_upstream_and_tool_with_errors_retries_and_failovers() {
    let (primary, backup) = (
        serve_fixture("primary").await,
        serve_fixture("backup").await,
    );
    let (p_url, b_url) = (primary.url.clone(), backup.url.clone());
    let att = TestAtt::start_with(move |c| {
        c.upstreams = [
            json!({"name": "primary", "url": p_url, "priority": 1, "idempotent_tools": ["echo"]}),
            json!({"name": "backup", "url": b_url, "priority": 2}),
        ]
        .into_iter()
        .map(|u| serde_json::from_value(u).expect("upstream spec"))
        .collect();
    })
    .await;
    eventually("primary routable", Duration::from_secs(20), || async {
        let (status, body) = invoke(&att, "echo", json!({"text": "x"})).await;
        (status == 200 && body["server"] == "primary").then_some(())
    })
    .await;
    // Counting happens as the event writer takes each call's record; a query of the log
    // is answered after everything queued before it, so the probes above are all counted.
    let _ = att.get_json("/api/v1/events?limit=1").await;
    let before = scrape(&att).await;

    // Two answered by primary, one refused as the caller's mistake (no `text`).
    for _ in 0..2 {
        let (status, body) = invoke(&att, "echo", json!({"text": "hi"})).await;
        assert_eq!(
            (status, body["server"].as_str()),
            (200, Some("primary")),
            "{body}"
        );
    }
    let (status, body) = invoke(&att, "echo", json!({})).await;
    assert_eq!(status, 422, "{body}");
    // primary fails the call; it is repeated on backup, which answers: a failover.
    primary.fixture.state.sick.store(true, Ordering::SeqCst);
    let (status, body) = invoke(&att, "echo", json!({"text": "hi"})).await;
    assert_eq!(
        (status, body["server"].as_str()),
        (200, Some("backup")),
        "{body}"
    );

    let failover = call_series("upstream_call_failovers_total", "backup", "");
    let after = eventually("the failover counted", Duration::from_secs(10), || async {
        let text = scrape(&att).await;
        (value(&text, &failover) - value(&before, &failover) == 1.0).then_some(text)
    })
    .await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    let duration_count =
        |upstream| call_series("upstream_call_duration_seconds_count", upstream, "");
    let errors = |upstream, category: &str| {
        call_series(
            "upstream_call_errors_total",
            upstream,
            &format!(r#",category="{category}""#),
        )
    };
    for (series, want) in [
        (duration_count("primary"), 4.0),
        (duration_count("backup"), 1.0),
        (errors("primary", "caller_error"), 1.0),
        (errors("primary", "rpc_error"), 1.0),
        (errors("backup", "rpc_error"), 0.0),
        (
            call_series("upstream_call_retries_total", "backup", ""),
            1.0,
        ),
        (
            call_series("upstream_call_retries_total", "primary", ""),
            0.0,
        ),
        (failover.clone(), 1.0),
        (
            call_series("upstream_call_failovers_total", "primary", ""),
            0.0,
        ),
    ] {
        assert_eq!(delta(&series), want, "{series}\n{after}");
    }
    // No call is under way: every upstream reads 0 in flight, ungated ones included.
    for upstream in ["primary", "backup"] {
        let line = format!(r#"att_upstream_calls_in_flight{{upstream="{upstream}"}} 0"#);
        assert!(after.lines().any(|l| l == line), "{line}\n{after}");
    }
    att.server.shutdown().await;
}

#[tokio::test]
async fn release_runs_count_their_start_end_phases_and_rollback() {
    let port = free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    eventually("r0 serving", Duration::from_secs(10), || async {
        (crate::bootstrap_pipeline::version(port).await.as_deref() == Some("r0")).then_some(())
    })
    .await;
    let request = |id: &str| {
        json!({"target": "service:web", "requested_release_id": id,
               "restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
               "health_check_interval": "50ms", "health_deadline": "2s"})
    };
    // r1 goes live; r2 crashes in the watch window and is rolled back to r1.
    release(&att, port, "r1", &[]).await;
    let r = common::run_to_end(&att, request("r1"), Duration::from_secs(60)).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    release(&att, port, "r2", &["--crash-after-ms", "150"]).await;
    let r = common::run_to_end(&att, request("r2"), Duration::from_secs(60)).await;
    assert_eq!(r["status"], "failed", "{r}");

    let text = eventually(
        "both runs' ends counted",
        Duration::from_secs(10),
        || async {
            let text = scrape(&att).await;
            (value(&text, r#"att_release_runs_ended_total{outcome="failed"}"#) == 1.0)
                .then_some(text)
        },
    )
    .await;
    let phase = |phase: &str, status: &str| {
        format!(r#"att_release_phase_duration_seconds_count{{phase="{phase}",status="{status}"}}"#)
    };
    for (series, want) in [
        ("att_release_runs_started_total".to_owned(), 2.0),
        (
            r#"att_release_runs_ended_total{outcome="succeeded"}"#.to_owned(),
            1.0,
        ),
        (
            r#"att_release_runs_ended_total{outcome="failed"}"#.to_owned(),
            1.0,
        ),
        ("att_release_rollbacks_total".to_owned(), 1.0),
        (phase("resolve", "succeeded"), 2.0),
        (phase("deploy", "succeeded"), 2.0),
        (phase("restart_watchdog", "succeeded"), 1.0),
        (phase("restart_watchdog", "failed"), 1.0),
        (phase("health", "succeeded"), 1.0),
        (phase("rollback", "succeeded"), 1.0),
        (phase("build", "succeeded"), 0.0),
    ] {
        assert_eq!(value(&text, &series), want, "{series}\n{text}");
    }
    att.server.shutdown().await;
}

#[tokio::test]
async fn sessions_open_end_and_refusals_and_relayed_requests_are_counted() {
    let web = serve_fixture("web").await;
    let url = web.url.clone();
    let att = TestAtt::start_with(move |c| {
        c.http.mcp_max_sessions = 2;
        c.upstreams = vec![
            serde_json::from_value(json!({"name": "web", "url": url})).expect("upstream spec"),
        ];
    })
    .await;
    let open = "att_mcp_sessions_open";
    let t = scrape(&att).await;
    assert_eq!(value(&t, open), 0.0, "{t}");

    // A client that answers sampling: the upstream's question is relayed and answered.
    let (alice, _asked) = answerer(&att, "alice").await;
    eventually("the upstream's `ask`", Duration::from_secs(20), || async {
        let r = alice
            .peer()
            .call_tool(
                rmcp::model::CallToolRequestParams::new("stats")
                    .with_arguments(serde_json::Map::new()),
            )
            .await
            .ok()?;
        (r.structured_content?["server"] == "web").then_some(())
    })
    .await;
    let r = call(alice.peer(), "ask", json!({"kind": "sampling"})).await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    // A client that offers nothing is not asked.
    let (plain, _heard) = client(&att).await;
    let r = call(plain.peer(), "ask", json!({"kind": "sampling"})).await;
    assert_eq!(r.is_error, Some(true), "{r:?}");

    // Two sessions held: a third is refused (`mcp_max_sessions`).
    let (status, _, _) = open_session(&att, &att.http).await;
    assert_eq!(status, 503);
    let t = scrape(&att).await;
    for (series, want) in [
        (open, 2.0),
        ("att_mcp_sessions_opened_total", 2.0),
        ("att_mcp_sessions_ended_total", 0.0),
        (r#"att_mcp_sessions_refused_total{limit="sessions"}"#, 1.0),
        (r#"att_mcp_relays_total{outcome="started"}"#, 1.0),
        (r#"att_mcp_relays_total{outcome="answered"}"#, 1.0),
        (r#"att_mcp_relays_total{outcome="refused"}"#, 1.0),
        (r#"att_mcp_relays_total{outcome="failed"}"#, 0.0),
        (r#"att_mcp_relays_total{outcome="cancelled"}"#, 0.0),
    ] {
        assert_eq!(value(&t, series), want, "{series}\n{t}");
    }

    // A client that leaves ends its session (DELETE): one open, one ended.
    plain.cancel().await.expect("plain client closes");
    let t = eventually(
        "the ended session counted",
        Duration::from_secs(10),
        || async {
            let t = scrape(&att).await;
            (value(&t, "att_mcp_sessions_ended_total") == 1.0).then_some(t)
        },
    )
    .await;
    assert_eq!(value(&t, open), 1.0, "{t}");
    alice.cancel().await.expect("alice closes");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_method_a_client_makes_up_is_counted_as_other_not_as_a_series_of_its_own() {
    // Any token is a method: each one a series of its own would let a client grow att's
    // metrics without end.
    let att = TestAtt::start().await;
    for method in ["PROBE1", "PROBE2", "PROBE3"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let r = att
            .http
            .request(method, att.url("/api/v1/health"))
            .send()
            .await
            .expect("sent");
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = scrape(&att).await;
    assert!(!text.contains("PROBE"), "{text}");
    let other = text
        .lines()
        .filter(|l| l.starts_with("att_http_requests_total{method=\"other\""))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum::<f64>();
    assert_eq!(other, 3.0, "{text}");
    att.server.shutdown().await;
}
