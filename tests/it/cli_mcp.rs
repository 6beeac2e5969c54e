//! `att mcp …` against a running att, as a user types it.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::AttProcess;

fn att_mcp(att: &AttProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_att"))
        .arg("mcp")
        .args(["--att-url", &att.url("")])
        .args(args)
        .env_remove("ATT_API_TOKEN")
        .output()
        .expect("run att mcp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn add_list_call_read_and_remove_from_the_command_line() {
    let mut fixture = Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
        .args(["--name", "cli-fx", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fixture");
    let mut line = String::new();
    BufReader::new(fixture.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .trim()
        .strip_prefix("fixture listening on ")
        .expect("address")
        .to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let att = AttProcess::start(&dir.path().join("data"), &[]);

    let out = att_mcp(&att, &["add", "fx", "--url", &url, "--priority", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("registered `fx`"));
    let out = att_mcp(&att, &["add", "bad name", "--url", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("field `name`"),
        "{}",
        text(&out.stderr)
    );

    // The catalog arrives asynchronously: retry the call a bounded number of times.
    let mut out = att_mcp(&att, &["call", "echo", "--args", r#"{"text": "from cli"}"#]);
    for _ in 0..200 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        out = att_mcp(&att, &["call", "echo", "--args", r#"{"text": "from cli"}"#]);
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("pretty JSON result");
    assert_eq!(result["structuredContent"]["text"], "from cli");
    assert!(text(&out.stderr).contains("served by `fx`"));

    let out = att_mcp(&att, &["servers"]);
    let listing = text(&out.stdout);
    assert!(listing.starts_with("NAME"), "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("fx") && l.contains("healthy") && l.contains("http")),
        "{listing}"
    );

    let out = att_mcp(&att, &["read", "fixture://greeting"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello from cli-fx"));

    // Last call: a failure after sending degrades the only server (its window closes).
    let out = att_mcp(&att, &["call", "fail_rpc"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("502") && err.contains("attempts:") && err.contains("rpc_error"),
        "{err}"
    );

    let out = att_mcp(&att, &["call", "echo", "--args", "not json"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--args is not valid JSON"));

    let out = att_mcp(&att, &["remove", "fx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = att_mcp(&att, &["remove", "fx"]);
    assert!(!out.status.success() && text(&out.stderr).contains("server not found"));
    let _ = fixture.kill();
    let _ = fixture.wait();
}

#[test]
fn an_unreachable_att_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let out = Command::new(env!("CARGO_BIN_EXE_att"))
        .args(["mcp", "--att-url", &url, "servers"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot reach att"),
        "{}",
        text(&out.stderr)
    );
}
