//! The hostile-input suite: att driven as an attacker and a broken client would drive it, so
//! that the holes a hostile run once found stay closed.
//!
//! - Every route of the OpenAPI document (so a new route is covered without being listed)
//!   gets hostile path segments, query values and bodies: wrong types, huge numbers, deep
//!   nesting, traversal paths, option-looking and shell-looking strings, CRLF, NUL, long text.
//! - Every JSON-RPC method of `/mcp` gets malformed parameters, on a real session.
//! - Every path-taking workspace tool gets traversal paths, links out of the project, `.git`
//!   paths, a FIFO and a device-like file, over MCP and HTTP.
//! - Then: no answer may be a 5xx, nothing may panic (a panic hook counts them), no file
//!   outside the project may be read or written, no command a caller smuggled in may run (a
//!   marker file), and no process att started may outlive it.
//!
//! The last line (also written to `target/hostile-report.txt`) reads
//! `N inputs, 0 5xx, 0 panics, 0 leaked processes`.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::{TestAtt, serve_fixture};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Panics anywhere in this process (att runs in it).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// What the inputs caused.
#[derive(Default)]
struct Tally {
    inputs: AtomicUsize,
    /// `METHOD path body → status text` of every 5xx or dropped connection.
    failures: Mutex<Vec<String>>,
    /// Response bodies that contained the planted secret.
    leaks: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what);
    }
}

/// The world the suite attacks from: a project with traps, a secret and a marker outside it.
struct World {
    _dir: tempfile::TempDir,
    project: PathBuf,
    outside: PathBuf,
    /// A command smuggled into any input would create this file.
    marker: PathBuf,
    secret: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("demo");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(project.join("src")).expect("dirs");
    std::fs::create_dir_all(project.join("sub/.git")).expect("nested .git");
    std::fs::create_dir_all(&outside).expect("outside");
    let secret = format!("SECRET-{}", std::process::id());
    std::fs::write(outside.join("victim.txt"), &secret).expect("victim");
    std::fs::write(project.join("sub/.git/config"), &secret).expect("nested config");
    std::fs::write(project.join("notes.txt"), "notes\n").expect("notes");
    std::fs::write(project.join("src/lib.rs"), "pub fn f() {}\n").expect("lib");
    std::os::unix::fs::symlink(&outside, project.join("out")).expect("link out");
    std::os::unix::fs::symlink(outside.join("victim.txt"), project.join("victim-link"))
        .expect("link to the victim");
    let fifo = std::ffi::CString::new(project.join("pipe").as_os_str().as_encoded_bytes())
        .expect("fifo path");
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let repo = git2::Repository::init(&project).expect("git init");
    common::commit(&repo, &[("notes.txt", "notes\n")], "first");
    // The origin is a real (bare) repository; another remote holds a credential in its URL,
    // as real ones often do.
    let bare = dir.path().join("origin.git");
    git2::Repository::init_bare(&bare).expect("bare origin");
    repo.remote("origin", &bare.display().to_string())
        .expect("origin");
    repo.remote(
        "backup",
        &format!("https://user:{secret}@forge.invalid/demo.git"),
    )
    .expect("remote");
    let marker = dir.path().join("smuggled-command-ran");
    World {
        project,
        outside,
        marker,
        secret,
        _dir: dir,
    }
}

/// Hostile JSON values: wrong types, extremes, and strings meant to escape, inject or hang.
fn values(w: &World) -> Vec<Value> {
    let marker = w.marker.display().to_string();
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let mut v = vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!([]),
        json!({}),
        json!([1, "a", null]),
        json!({"__proto__": {"x": 1}}),
        deep,
    ];
    v.extend(strings(w).into_iter().map(Value::String));
    v.push(json!(["sh", "-c", format!("touch {marker}")]));
    v.push(json!({"path": "../outside/victim.txt", "content": "pwned"}));
    v
}

/// Hostile strings for fields, path segments and query values.
fn strings(w: &World) -> Vec<String> {
    let marker = w.marker.display().to_string();
    let outside = w.outside.display().to_string();
    vec![
        String::new(),
        " ".into(),
        "x".repeat(5000),
        "a/".repeat(3000),
        "../outside/victim.txt".into(),
        "../../../../../../etc/passwd".into(),
        "/etc/passwd".into(),
        format!("{outside}/victim.txt"),
        "out/victim.txt".into(),
        "victim-link".into(),
        ".git/config".into(),
        "sub/.git/config".into(),
        ".git".into(),
        "pipe".into(),
        "..".into(),
        ".".into(),
        "%2e%2e/%2e%2e/etc/passwd".into(),
        "a\0b".into(),
        "line\r\nX-Injected: 1".into(),
        "\u{202e}txt.exe".into(),
        "😀".repeat(300),
        "-oProxyCommand=touch /tmp/x".into(),
        "--upload-pack=touch /tmp/x".into(),
        format!("ext::sh -c touch% {marker}"),
        "fd::17".into(),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("; touch {marker}"),
        "http://[::1/mcp".into(),
        "http://127.0.0.1:99999/mcp".into(),
        "file:///etc/passwd".into(),
        "99999999999h".into(),
        "1ns".into(),
        "-5s".into(),
        "18446744073709551616".into(),
        "service:../../x".into(),
        "self".into(),
        "'; DROP TABLE events; --".into(),
        "*".into(),
        "{name}".into(),
    ]
}

/// Bodies that are not what a JSON route expects at all.
fn raw_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("application/json", b"".to_vec()),
        ("application/json", b"{".to_vec()),
        ("application/json", b"nul".to_vec()),
        ("application/json", b"{\"a\":1} trailing".to_vec()),
        ("application/json", vec![0xff, 0xfe, 0x00]),
        ("application/json", "[".repeat(100_000).into_bytes()),
        (
            "application/json",
            format!("{{\"a\":\"{}\"}}", "z".repeat(3 << 20)).into_bytes(),
        ),
        ("text/plain", b"{\"name\":\"x\"}".to_vec()),
        (
            "application/x-www-form-urlencoded",
            b"name=x&command=sh".to_vec(),
        ),
    ]
}

/// Field names every body is tried with: the route's own (from its schema) and the
/// workspace tools' (their HTTP bodies are described in prose).
const FIELDS: &[&str] = &[
    "name",
    "url",
    "command",
    "args",
    "env",
    "cwd",
    "headers",
    "priority",
    "call_timeout",
    "init_timeout",
    "health_interval",
    "max_init_age",
    "idempotent_tools",
    "tool",
    "arguments",
    "uri",
    "prompt",
    "server",
    "path",
    "content",
    "git_remote",
    "test",
    "runtime",
    "forge",
    "message",
    "paths",
    "branch",
    "create",
    "remote",
    "argv",
    "timeout_seconds",
    "target",
    "requested_release_id",
    "release_id",
    "id",
    "kind",
    "data",
    "correlation_id",
    "change",
    "publish",
    "health",
    "stop_grace",
    "crash_window",
    "limit",
    "pattern",
    "regex",
    "old",
    "new",
];

/// Values tried per body field and per query parameter (see `route_inputs`): all of them
/// would be fields × values per route; a stride covers each value across the fields.
const PER_FIELD: usize = 4;

/// `n` of `all`, spread out and shifted by `offset`.
fn pick<T>(all: &[T], n: usize, offset: usize) -> impl Iterator<Item = &T> {
    (0..n.min(all.len())).map(move |i| &all[(i * 7 + offset * 3) % all.len()])
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One request to try.
struct Input {
    method: reqwest::Method,
    path: String,
    content_type: &'static str,
    body: Option<Vec<u8>>,
}

/// Every route of the OpenAPI document with hostile path segments, queries and bodies.
fn route_inputs(doc: &Value, w: &World) -> Vec<Input> {
    let real: BTreeMap<&str, &str> = [
        ("name", "demo"),
        ("id", "run-0"),
        ("target", "service:svc"),
        ("action", "start"),
        ("server", "fx"),
    ]
    .into_iter()
    .collect();
    let hostile_strings = strings(w);
    let hostile_values = values(w);
    let mut inputs = Vec::new();
    let mut deletes = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method: reqwest::Method = method.to_uppercase().parse().expect("method");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let fill = |overrides: &BTreeMap<String, String>| {
                let mut p = template.clone();
                for param in params.iter().filter(|p| p["in"] == "path") {
                    let name = param["name"].as_str().unwrap_or_default();
                    let value = overrides
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| real.get(name).copied().unwrap_or("x").to_owned());
                    p = p.replace(&format!("{{{name}}}"), &percent(&value));
                }
                p
            };
            let mut mine = Vec::new();
            let has_body = op.get("requestBody").is_some();
            let json_body = |v: &Value| Some(serde_json::to_vec(v).expect("json"));
            // Path segments.
            for (n, param) in params.iter().filter(|p| p["in"] == "path").enumerate() {
                let name = param["name"].as_str().unwrap_or_default().to_owned();
                for s in pick(&hostile_strings, 16, n) {
                    let o = BTreeMap::from([(name.clone(), s.clone())]);
                    mine.push(Input {
                        method: method.clone(),
                        path: fill(&o),
                        content_type: "application/json",
                        body: has_body.then(|| b"{}".to_vec()),
                    });
                }
            }
            let base = fill(&BTreeMap::new());
            // Query values.
            let mut query_names: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            query_names.push("unknown".to_owned());
            for (n, q) in query_names.iter().enumerate() {
                for s in pick(&hostile_strings, PER_FIELD * 2, n) {
                    mine.push(Input {
                        method: method.clone(),
                        path: format!("{base}?{q}={}", percent(s)),
                        content_type: "application/json",
                        body: has_body.then(|| b"{}".to_vec()),
                    });
                }
            }
            // Bodies.
            if has_body || method != reqwest::Method::GET {
                for (ct, raw) in raw_bodies() {
                    mine.push(Input {
                        method: method.clone(),
                        path: base.clone(),
                        content_type: ct,
                        body: Some(raw),
                    });
                }
                for v in &hostile_values {
                    mine.push(Input {
                        method: method.clone(),
                        path: base.clone(),
                        content_type: "application/json",
                        body: json_body(v),
                    });
                }
                for (f, field) in FIELDS.iter().enumerate() {
                    for v in pick(&hostile_values, PER_FIELD, f) {
                        mine.push(Input {
                            method: method.clone(),
                            path: base.clone(),
                            content_type: "application/json",
                            body: json_body(&json!({ *field: v })),
                        });
                    }
                }
            }
            if method == reqwest::Method::DELETE {
                deletes.extend(mine);
            } else {
                inputs.extend(mine);
            }
        }
    }
    // Deletions last, so the project and the upstream stay there for the rest.
    inputs.extend(deletes);
    inputs
}

/// Sends every input (a few at a time) and tallies what came back.
async fn send_all(att: &TestAtt, inputs: Vec<Input>, tally: &Tally, w: &World) {
    // A client that keeps connections idle for less than att's `header_read_timeout`, as a
    // well-behaved one does (else a reused connection may be closed under a new request).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let total = inputs.len();
    let started = std::time::Instant::now();
    futures_util::stream::iter(inputs)
        .for_each_concurrent(8, |input| {
            let http = http.clone();
            async move {
                let n = tally.inputs.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(2000) {
                    eprintln!(
                        "hostile: {n} of {total} route inputs sent at {:?}",
                        started.elapsed()
                    );
                }
                let mut req = http.request(input.method.clone(), att.url(&input.path));
                if let Some(body) = input.body.clone() {
                    req = req.header("content-type", input.content_type).body(body);
                }
                let said = || {
                    let body = input
                        .body
                        .as_deref()
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                        .unwrap_or_default();
                    format!(
                        "{} {} {body}",
                        input.method,
                        &input.path[..input.path.len().min(200)]
                    )
                };
                match req.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = read_some(r).await;
                        if status >= 500 {
                            tally.fail(format!(
                                "{} → {status} {}",
                                said(),
                                &text[..text.len().min(300)]
                            ));
                        }
                        if text.contains(&w.secret) {
                            tally
                                .leaks
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(said());
                        }
                    }
                    // A body over the limit is answered 413 before it is read; a client still
                    // sending it may see the connection close instead of the answer.
                    Err(_) if input.body.as_ref().is_some_and(|b| b.len() > BODY_LIMIT) => {}
                    Err(e) => tally.fail(format!("{} → no answer: {e:?}", said())),
                }
            }
        })
        .await;
}

/// What a response says within a few seconds: all of it, or what an event stream (which
/// never ends by itself) sent by then.
async fn read_some(r: reqwest::Response) -> String {
    let mut stream = r.bytes_stream();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        got.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// att's default `[http] body_limit`.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON-RPC request on `/mcp`: the HTTP status and body.
async fn rpc(att: &TestAtt, session: &str, body: &Value) -> Result<(u16, String), String> {
    let r = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, read_some(r).await))
}

/// Every JSON-RPC method `/mcp` serves, with hostile parameters, and the `att.*` tools with
/// hostile arguments in each of their fields.
async fn mcp_inputs(att: &TestAtt, tally: &Tally, w: &World) {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "hostile", "version": "0"}}});
    let r = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .expect("initialize");
    let session = r.headers()["mcp-session-id"]
        .to_str()
        .expect("session")
        .to_owned();
    rpc(
        att,
        &session,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .expect("initialized");
    let (_, listed) = rpc(
        att,
        &session,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await
    .expect("tools/list");
    let tools: Vec<(String, Vec<String>)> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .chain(std::iter::once(listed.as_str()))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .filter_map(|v| v["result"]["tools"].as_array().cloned())
        .flatten()
        .map(|t| {
            let fields = t["inputSchema"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (t["name"].as_str().unwrap_or_default().to_owned(), fields)
        })
        .collect();
    assert!(
        tools.iter().any(|(n, _)| n == "att_code_read"),
        "att's tools are listed"
    );
    let methods = [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "vendor/unknown",
    ];
    let mut bodies = Vec::new();
    for m in methods {
        for v in values(w) {
            bodies.push(json!({"jsonrpc": "2.0", "id": 2, "method": m, "params": v}));
            for field in [
                "name",
                "uri",
                "arguments",
                "level",
                "ref",
                "argument",
                "cursor",
            ] {
                bodies.push(json!({"jsonrpc": "2.0", "id": 3, "method": m, "params": {field: v}}));
            }
        }
    }
    let hostile = values(w);
    for (tool, fields) in &tools {
        for (f, field) in fields.iter().enumerate() {
            for v in pick(&hostile, 8, f).cloned() {
                let mut args = serde_json::Map::new();
                args.insert("project".into(), json!("demo"));
                args.insert(field.clone(), v);
                bodies.push(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                    "params": {"name": tool, "arguments": args}}));
            }
        }
    }
    futures_util::stream::iter(bodies)
        .for_each_concurrent(8, |body| {
            let session = session.clone();
            async move {
                tally.inputs.fetch_add(1, Ordering::Relaxed);
                let said = || body.to_string().chars().take(300).collect::<String>();
                match rpc(att, &session, &body).await {
                    Ok((status, text)) => {
                        if status >= 500 {
                            tally.fail(format!("/mcp {} → {status} {text}", said()));
                        }
                        if text.contains(&w.secret) {
                            tally
                                .leaks
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(said());
                        }
                    }
                    Err(e) => tally.fail(format!("/mcp {} → no answer: {e}", said())),
                }
            }
        })
        .await;
}

/// The pids of live processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            }) && common::alive(u64::from(*pid))
        })
        .collect()
}

/// Processes att is asked to start in ways that could leak them: an upstream that never
/// finishes its handshake, removed while it hangs; a test run that outlives its deadline; a
/// runtime left running when att stops.
async fn start_leak_candidates(att: &TestAtt, project: &Path, tag: &str) {
    let hang = json!({"name": "hangs", "command": "sh",
        "args": ["-c", format!("exec sleep {tag}1"), ], "init_timeout": "60s"});
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&hang)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let _ = att
        .http
        .post(att.url("/api/v1/mcp/servers/hangs/connect"))
        .send()
        .await;
    let r = att
        .http
        .post(att.url("/api/v1/projects"))
        .json(&json!({"name": "sleeper", "path": project.join("src"),
            "test": {"argv": ["sleep", format!("{tag}2")], "runner": "plain"}}))
        .send()
        .await
        .expect("project");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = att
        .http
        .post(att.url("/api/v1/projects/sleeper/tests"))
        .json(&json!({"timeout_seconds": 600}))
        .send()
        .await
        .expect("test run");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = att
        .http
        .post(att.url("/api/v1/services"))
        .json(&json!({"name": "lingers", "command": "sleep", "args": [format!("{tag}3")]}))
        .send()
        .await
        .expect("service");
    assert!(r.status().is_success(), "{}", r.status());
    common::eventually("the processes started", Duration::from_secs(20), || async {
        (1..=3)
            .all(|i| !processes_with(&format!("sleep {tag}{i}")).is_empty())
            .then_some(())
    })
    .await;
    let r = att
        .http
        .delete(att.url("/api/v1/mcp/servers/hangs"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
}

fn tree_digest(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(tree_digest(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_inputs_get_no_5xx_no_panic_no_escape_and_leave_no_process() {
    count_panics();
    let w = world();
    let before = tree_digest(&w.outside);
    let att = TestAtt::start_with(|c| {
        c.http.request_timeout = Duration::from_secs(20);
    })
    .await;
    let fixture = serve_fixture("fx").await;
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&json!({"name": "fx", "url": fixture.url}))
        .send()
        .await
        .expect("register fx");
    assert_eq!(r.status(), 201);
    let r = att
        .http
        .post(att.url("/api/v1/projects"))
        .json(&json!({"name": "demo", "path": w.project, "test": {"argv": ["true"], "runner": "plain"}}))
        .send()
        .await
        .expect("project");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    let tag = format!("3{}", std::process::id() % 10_000 + 10_000);
    start_leak_candidates(&att, &w.project, &tag).await;

    let tally = Tally::default();
    let doc = att.get_json("/api/v1/openapi.json").await;
    let inputs = route_inputs(&doc, &w);
    let t0 = std::time::Instant::now();
    send_all(&att, inputs, &tally, &w).await;
    eprintln!("hostile: routes took {:?}", t0.elapsed());
    let t0 = std::time::Instant::now();
    mcp_inputs(&att, &tally, &w).await;
    eprintln!("hostile: /mcp took {:?}", t0.elapsed());

    tokio::time::timeout(Duration::from_secs(60), att.server.shutdown())
        .await
        .expect("att stops");
    drop(fixture);
    let kinds = ["an upstream in its handshake", "a test run", "a service"];
    let leaked: Vec<u32> = (1..=3)
        .flat_map(|i| {
            let pids = processes_with(&format!("sleep {tag}{i}"));
            if !pids.is_empty() {
                eprintln!("leaked: {} (pids {pids:?})", kinds[i - 1]);
            }
            pids
        })
        .collect();
    for pid in &leaked {
        // SAFETY: kill(2) on a pid just read from /proc; failure (gone) is fine.
        unsafe { libc::kill(i32::try_from(*pid).unwrap_or(0), libc::SIGKILL) };
    }

    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let leaks = tally
        .leaks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let panics = PANICS.load(Ordering::SeqCst);
    let server_errors = failures.len();
    let report = format!(
        "{} inputs, {server_errors} 5xx, {panics} panics, {} leaked processes",
        tally.inputs.load(Ordering::Relaxed),
        leaked.len()
    );
    for f in failures.iter().take(20) {
        eprintln!("5xx or no answer: {f}");
    }
    for l in leaks.iter().take(20) {
        eprintln!("the secret came back: {l}");
    }
    assert!(failures.is_empty(), "{report}");
    assert!(
        leaks.is_empty(),
        "the planted secret was in {} answers",
        leaks.len()
    );
    assert_eq!(panics, 0, "{report}");
    assert!(leaked.is_empty(), "{report}");
    assert!(!w.marker.exists(), "a smuggled command ran");
    assert_eq!(
        tree_digest(&w.outside),
        before,
        "nothing outside the project changed"
    );
    // Past libtest's capture: the report is the run's last word on hostile input.
    let report_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../hostile-report.txt");
    let _ = std::fs::write(&report_path, format!("{report}\n"));
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "hostile suite: {report}");
}
