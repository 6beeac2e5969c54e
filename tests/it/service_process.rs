//! Managed service processes (`att_release::service`), with the real `att-fixture-service`:
//! start, output captured to a rotating log, health probes, the restart watchdog, the health
//! gate, and a stop that takes the whole process group.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use att_release::service::probe::{self, Probe};
use att_runtime::process::child::{self, Program};
use att_runtime::process::log::RotatingLog;
use common::eventually;

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

fn command(args: &[&str]) -> Program {
    Program {
        program: SERVICE.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
        cwd: None,
    }
}

/// The service's base URL, from its log.
async fn address(log: &RotatingLog) -> String {
    eventually("the service listening", Duration::from_secs(10), || async {
        log.tail(20)
            .await
            .iter()
            .find_map(|l| l.strip_prefix("listening on ").map(str::to_owned))
    })
    .await
}

/// A zombie has exited: only a process that still runs counts.
fn alive(pid: u32) -> bool {
    common::alive(u64::from(pid))
}

#[tokio::test]
async fn a_service_is_started_probed_logged_and_stopped_with_its_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(RotatingLog::new(dir.path().join("svc.log"), 1 << 20, 2));
    let p = child::spawn(
        &command(&[
            "--release",
            "r2",
            "--previous",
            "r1",
            "--spawn-grandchild",
            "--ignore-sigterm",
        ]),
        log.clone(),
    )
    .expect("spawns");
    let base = address(&log).await;
    let lines = log.tail(10).await;
    assert!(
        lines.contains(&"release_id=r2 previous_release_id=r1".to_owned()),
        "{lines:?}"
    );
    let grandchild: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("grandchild="))
        .expect("grandchild pid")
        .parse()
        .expect("pid");
    assert!(alive(grandchild));

    let http = Probe::Http {
        url: format!("{base}/health"),
    };
    let r = probe::check(&http, Duration::from_secs(5)).await;
    assert!(r.healthy, "{r:?}");
    assert_eq!(r.http_status, Some(200));
    let w = probe::watchdog(&p, 3, Duration::from_millis(50)).await;
    assert!(w.stable, "{w:?}");
    assert_eq!(w.reason, "runtime_healthy");
    let gate = probe::health_gate(
        &http,
        Some(&p),
        2,
        Duration::from_millis(20),
        Duration::from_secs(10),
    )
    .await;
    assert!(gate.healthy && gate.attempts == 2, "{gate:?}");
    let cmd = Probe::Program {
        argv: vec!["true".into()],
        cwd: None,
    };
    assert!(probe::check(&cmd, Duration::from_secs(5)).await.healthy);
    let cmd = Probe::Program {
        argv: vec!["false".into()],
        cwd: None,
    };
    assert_eq!(
        probe::check(&cmd, Duration::from_secs(5)).await.reason,
        "command_exit:1"
    );

    // It ignores SIGTERM: the stop escalates to SIGKILL after the grace, for the whole group.
    let exit = p.stop(Duration::from_millis(300)).await;
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert_eq!(exit.description, "was killed by signal 9 (SIGKILL)");
    eventually("the grandchild gone", Duration::from_secs(10), || async {
        (!alive(grandchild)).then_some(())
    })
    .await;
    let r = probe::check(&http, Duration::from_secs(2)).await;
    assert_eq!(r.reason, "http_error:connection_refused");
    // The log is kept after the stop.
    assert!(
        log.tail(50)
            .await
            .iter()
            .any(|l| l.starts_with("release_id=r2"))
    );
}

#[tokio::test]
async fn a_crash_in_the_watch_window_and_a_failing_health_endpoint_are_reported_with_reasons() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Crashes after 300 ms: the watchdog (5 probes 200 ms apart) sees it and says how.
    let log = Arc::new(RotatingLog::new(dir.path().join("crash.log"), 1 << 20, 2));
    let p = child::spawn(&command(&["--crash-after-ms", "300"]), log.clone()).expect("spawns");
    let w = probe::watchdog(&p, 5, Duration::from_millis(200)).await;
    assert!(!w.stable, "{w:?}");
    assert_eq!(w.reason, "process_exited:3");
    let mut seen = false;
    assert_eq!(
        probe::process_state(&p, &mut seen).as_deref(),
        Some("process_exited:3")
    );
    assert_eq!(
        probe::process_state(&p, &mut seen).as_deref(),
        Some("process_not_running")
    );
    assert!(
        log.tail(10)
            .await
            .iter()
            .any(|l| l.contains("stderr: att-fixture-service: crashing on purpose")),
        "stderr is captured"
    );

    // Fails at start: the exit is known at once.
    let log = Arc::new(RotatingLog::new(dir.path().join("fail.log"), 1 << 20, 2));
    let p = child::spawn(&command(&["--fail-start"]), log).expect("spawns");
    let exit = p.wait_for(Duration::from_secs(10)).await.expect("exits");
    assert_eq!(
        (exit.code, exit.reason().as_str()),
        (Some(1), "process_exited:1")
    );
    assert!(
        !probe::watchdog(&p, 3, Duration::from_millis(10))
            .await
            .stable
    );

    // Answers 500: the health gate fails by its deadline, with the status as the reason.
    let log = Arc::new(RotatingLog::new(dir.path().join("sick.log"), 1 << 20, 2));
    let p = child::spawn(&command(&["--health-status", "500"]), log.clone()).expect("spawns");
    let base = address(&log).await;
    let http = Probe::Http {
        url: format!("{base}/health"),
    };
    let gate = probe::health_gate(
        &http,
        Some(&p),
        1,
        Duration::from_millis(50),
        Duration::from_millis(400),
    )
    .await;
    assert!(!gate.healthy, "{gate:?}");
    let last = gate.last.clone().expect("probed");
    assert_eq!(
        (last.reason.as_str(), last.http_status),
        ("http_status:500", Some(500))
    );
    assert!(gate.attempts >= 2, "{gate:?}");
    let exit = p.stop(Duration::from_secs(5)).await;
    assert_eq!(exit.signal, Some(15), "SIGTERM is enough: {exit:?}");
}

#[tokio::test]
async fn the_log_rotates_by_size_and_the_tail_reads_across_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = RotatingLog::new(dir.path().join("r.log"), 100, 2);
    for i in 0..40 {
        log.append(&format!("line {i:02} ...."))
            .await
            .expect("append");
    }
    // 40 lines of 13 bytes, 7 per 100-byte file: the current and two older files are kept.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut files = files;
    files.sort();
    assert_eq!(files, ["r.log", "r.log.1", "r.log.2"]);
    for f in &files {
        let len = std::fs::metadata(dir.path().join(f)).expect("meta").len();
        assert!(len <= 100, "{f}: {len}");
    }
    let tail = log.tail(10).await;
    assert_eq!(tail.len(), 10);
    assert_eq!(tail.last().map(String::as_str), Some("line 39 ...."));
    assert_eq!(tail.first().map(String::as_str), Some("line 30 ...."));
    // More than is kept: what there is, oldest first.
    let all = log.tail(1000).await;
    assert_eq!(all.last().map(String::as_str), Some("line 39 ...."));
    assert!(all.len() < 40 && all.len() >= 14, "{}", all.len());
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order");
}

/// An MCP health probe: `initialize` + `ping` against the fixture MCP server.
#[tokio::test]
async fn an_mcp_probe_initializes_and_pings() {
    let upstream = common::serve_fixture("probed").await;
    let r = probe::check(
        &Probe::Mcp {
            url: upstream.url.clone(),
            tls: None,
        },
        Duration::from_secs(5),
    )
    .await;
    assert!(r.healthy, "{r:?}");
    let r = probe::check(
        &Probe::Mcp {
            url: "http://127.0.0.1:9/mcp".into(),
            tls: None,
        },
        Duration::from_secs(5),
    )
    .await;
    assert!(!r.healthy);
    assert!(r.reason.starts_with("mcp_error:"), "{r:?}");
}
