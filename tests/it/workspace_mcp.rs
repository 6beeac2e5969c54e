//! att's own tools on `/mcp`, driven by a real rmcp client: a project made from a temp git
//! repository holding a real tiny Cargo crate, a file written, its tests run (typed counts),
//! a commit made and seen in the log — and every tool that takes a path refusing `../`,
//! absolute paths and a symlink to `/etc` as invalid params.

use crate::common;

use common::TestAtt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};

async fn client(att: &TestAtt) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_uri(att.url("/mcp"));
    ().serve(transport).await.expect("connects to att's /mcp")
}

async fn try_call(
    c: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let args = arguments.as_object().cloned().expect("object");
    c.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
}

/// A successful call's structured result.
async fn ok(c: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> Value {
    let r = try_call(c, tool, arguments)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
    assert!(!r.content.is_empty(), "{tool}: a text rendering too");
    r.structured_content.expect("structured content")
}

fn invalid_params(r: Result<CallToolResult, ServiceError>) -> String {
    match r {
        Err(ServiceError::McpError(e)) if e.code.0 == -32602 => e.message.into_owned(),
        other => panic!("expected invalid params, got {other:?}"),
    }
}

fn archive_names(bytes: &[u8]) -> Vec<String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    tar.entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect()
}

const CRATE_TOML: &str =
    "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
const LIB: &str = "pub fn answer() -> u32 { 42 }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn answers() { assert_eq!(super::answer(), 42); }\n}\n";

#[tokio::test]
async fn an_mcp_client_creates_a_project_edits_tests_and_commits_through_att_tools() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("tiny");
    std::fs::create_dir_all(root.join("src")).expect("src");
    let repo = git2::Repository::init(&root).expect("init");
    common::commit(
        &repo,
        &[
            ("Cargo.toml", CRATE_TOML),
            (".gitignore", "target\n"),
            ("src/lib.rs", LIB),
        ],
        "the tiny crate",
    );
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("link");
    let att = TestAtt::start().await;
    let c = client(&att).await;

    // att's tools are listed beside any upstream's, each with an input schema, under their
    // portable names (`att_<area>_<verb>`); a call may use either spelling.
    let tools = c.list_all_tools().await.expect("tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for t in [
        "att_project_create",
        "att_code_write",
        "att_test_run",
        "att_git_commit",
        "att_git_log",
    ] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    assert!(
        tools
            .iter()
            .all(|t| t.input_schema.get("type") == Some(&json!("object")))
    );

    let p = ok(
        &c,
        "att_project_create",
        json!({"name": "tiny", "path": root}),
    )
    .await;
    assert_eq!(p["name"], "tiny", "{p}");

    // A new test in a new file, written through att.
    let w = ok(
        &c,
        "att.code.write",
        json!({"project": "tiny", "path": "tests/more.rs",
               "content": "#[test]\nfn more() { assert_eq!(tiny::answer(), 42); }\n#[test]\n#[ignore]\nfn later() {}\n"}),
    )
    .await;
    assert_eq!(w["created"], true, "{w}");

    // The tests run (a real cargo test of the crate): typed counts.
    let t = ok(
        &c,
        "att.test.run",
        json!({"project": "tiny", "timeout_seconds": 600}),
    )
    .await;
    assert_eq!(t["returncode"], 0, "{t}");
    assert_eq!(
        (&t["passed"], &t["failed"], &t["skipped"], &t["timed_out"]),
        (&json!(2), &json!(0), &json!(1), &json!(false)),
        "{}",
        t["output"]
    );
    assert_eq!(t["runner"], "cargo_test", "{t}");
    let id = t["id"].as_str().expect("run id").to_owned();
    let stored = ok(&c, "att.test.results", json!({"project": "tiny", "id": id})).await;
    assert_eq!(stored["passed"], 2, "{stored}");

    // The status shows the change; the commit takes the named file only.
    let s = ok(&c, "att.git.status", json!({"project": "tiny"})).await;
    assert_eq!(s["clean"], false, "{s}");
    let made = ok(
        &c,
        "att.git.commit",
        json!({"project": "tiny", "message": "more tests", "paths": ["tests/more.rs"]}),
    )
    .await;
    assert_eq!(made["files"], json!(["tests/more.rs"]), "{made}");
    let log = ok(&c, "att.git.log", json!({"project": "tiny", "limit": 5})).await;
    assert_eq!(log["commits"][0]["id"], made["id"], "{log}");
    assert_eq!(log["commits"][0]["summary"], "more tests", "{log}");
    assert_eq!(log["commits"][1]["summary"], "the tiny crate", "{log}");

    // A domain failure is a tool error with a clear message; a malformed call is invalid
    // params.
    let r = try_call(
        &c,
        "att.git.commit",
        json!({"project": "tiny", "message": "again", "paths": ["tests/more.rs"]}),
    )
    .await
    .expect("a result");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let r = try_call(&c, "att.git.log", json!({"project": "nope"}))
        .await
        .expect("a result");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let m = invalid_params(try_call(&c, "att.code.read", json!({"project": "tiny"})).await);
    assert!(m.contains("path"), "{m}");
    let m = invalid_params(
        try_call(
            &c,
            "att.test.run",
            json!({"project": "tiny", "timeout_seconds": "soon"}),
        )
        .await,
    );
    assert!(
        m.contains("timeout_seconds") || m.contains("integer"),
        "{m}"
    );

    // The projects resource and the per-project templates.
    let read = c
        .read_resource(ReadResourceRequestParams::new("att://projects"))
        .await
        .expect("att://projects");
    let text = serde_json::to_string(&read.contents).expect("json");
    assert!(text.contains("tiny"), "{text}");
    let templates = c.list_all_resource_templates().await.expect("templates");
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "att://project/{name}/tests"),
        "{templates:?}"
    );
    let read = c
        .read_resource(ReadResourceRequestParams::new("att://project/tiny/tests"))
        .await
        .expect("tests resource");
    let text = serde_json::to_string(&read.contents).expect("json");
    assert!(text.contains(&id), "{text}");

    // The project as a tar.gz: on MCP an embedded blob, over HTTP a stream; `.git`, build
    // output (`target`) and what the `etc` link points to are not in it.
    let r = try_call(&c, "att.project.download", json!({"project": "tiny"}))
        .await
        .expect("download");
    let blob = r
        .content
        .iter()
        .find_map(|c| match c {
            rmcp::model::ContentBlock::Resource(res) => match &res.resource {
                rmcp::model::ResourceContents::BlobResourceContents { blob, .. } => {
                    Some(blob.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .expect("a blob");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .expect("base64");
    let names = archive_names(&bytes);
    assert!(
        names.contains(&"tiny/tests/more.rs".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"tiny/etc".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "tiny/.git"
            || n.starts_with("tiny/.git/")
            || n.starts_with("tiny/target")
            || n.starts_with("tiny/etc/")),
        "{names:?}"
    );
    let http = att
        .http
        .get(att.url("/api/v1/projects/tiny/download"))
        .send()
        .await
        .expect("download");
    assert_eq!(http.status().as_u16(), 200);
    assert_eq!(
        http.headers()["content-type"].to_str().ok(),
        Some("application/gzip")
    );
    let streamed = http.bytes().await.expect("body");
    assert_eq!(archive_names(&streamed), names);

    // Every tool that takes a path refuses paths outside the project.
    std::fs::write(dir.path().join("secret.txt"), "outside\n").expect("secret");
    for bad in [
        "../secret.txt",
        "/etc/passwd",
        "etc/passwd",
        "etc/../../secret.txt",
    ] {
        for (tool, args) in [
            ("att.code.read", json!({"project": "tiny", "path": bad})),
            (
                "att.code.write",
                json!({"project": "tiny", "path": bad, "content": "x"}),
            ),
            ("att.code.list", json!({"project": "tiny", "dir": bad})),
            (
                "att.git.commit",
                json!({"project": "tiny", "message": "m", "paths": [bad]}),
            ),
        ] {
            let m = invalid_params(try_call(&c, tool, args).await);
            assert!(
                m.contains("outside") || m.contains("absolute") || m.contains("symlink"),
                "{tool} {bad}: {m}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secret.txt")).expect("secret"),
        "outside\n"
    );
    c.cancel().await.expect("close");
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_http_routes_call_the_same_tools() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("p");
    std::fs::create_dir_all(&root).expect("dir");
    let repo = git2::Repository::init(&root).expect("init");
    common::commit(
        &repo,
        &[
            ("test.sh", "echo \"$(cat count) passed, 0 failed\"\n"),
            ("count", "3\n"),
        ],
        "first",
    );
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("link");
    let att = TestAtt::start().await;
    let post = |path: &str, body: Value| {
        let r = att.http.post(att.url(path)).json(&body).send();
        async move {
            let r = r.await.expect("request");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, v) = post(
        "/api/v1/projects",
        json!({"name": "p", "path": root,
               "test": {"argv": ["sh", "test.sh"], "runner": "plain"}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // Over HTTP a run starts at once and is read back when it has ended.
    let (status, v) = post("/api/v1/projects/p/tests", json!({})).await;
    assert_eq!((status, &v["status"]), (202, &json!("running")), "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let v = common::eventually(
        "the run's end",
        std::time::Duration::from_secs(30),
        || async {
            let r = att
                .get_json(&format!("/api/v1/projects/p/tests/{id}"))
                .await;
            (r["status"] != "running").then_some(r)
        },
    )
    .await;
    assert_eq!(
        (&v["status"], &v["passed"]),
        (&json!("completed"), &json!(3)),
        "{v}"
    );
    let (status, e) = post("/api/v1/projects/p/tests", json!({"filter": "x"})).await;
    assert_eq!((status, e["field"].as_str()), (422, Some("filter")), "{e}");
    let runs = att.get_json("/api/v1/projects/p/tests").await;
    assert_eq!(runs["runs"][0]["id"], v["id"], "{runs}");
    let status = att.get_json("/api/v1/projects/p/status").await;
    assert_eq!(status["status"], "created", "{status}");
    assert_eq!(status["latest_test_run"]["id"], v["id"], "{status}");

    std::fs::write(root.join("count"), "4\n").expect("edit");
    let diff = att.get_json("/api/v1/projects/p/git/diff").await;
    assert!(
        diff["diff"].as_str().unwrap_or_default().contains("+4"),
        "{diff}"
    );
    let (status, v) = post("/api/v1/projects/p/git/commit", json!({"message": "four"})).await;
    assert_eq!(status, 200, "{v}");
    // The workspace's events name the principal (here att is open: `anonymous`).
    // (Written by the log's writer after the fact: waited for.)
    for kind in ["workspace.commit", "workspace.test_run"] {
        let all = common::eventually(kind, std::time::Duration::from_secs(10), || async {
            let events = att.get_json(&format!("/api/v1/events?kind={kind}")).await;
            events["events"]
                .as_array()
                .filter(|a| !a.is_empty())
                .cloned()
        })
        .await;
        assert!(
            all.iter().all(|e| e["data"]["principal"] == "anonymous"),
            "{kind}: {all:?}"
        );
    }
    let (status, v) = post(
        "/api/v1/projects/p/git/commit",
        json!({"message": "nothing"}),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (409, Some("conflict")), "{v}");
    let log = att.get_json("/api/v1/projects/p/git/log?limit=1").await;
    assert_eq!(log["commits"][0]["summary"], "four", "{log}");
    let (status, v) = post(
        "/api/v1/projects/p/git/branch",
        json!({"name": "feature", "create": true}),
    )
    .await;
    assert_eq!((status, &v["branch"]), (200, &json!("feature")), "{v}");
    let s = att.get_json("/api/v1/projects/p/git/status").await;
    assert_eq!(s["branch"], "feature", "{s}");

    // A path outside the project is a 422 naming `path` on the git routes too.
    for bad in ["../x", "/etc/passwd", "etc/passwd"] {
        let (status, v) = post(
            "/api/v1/projects/p/git/commit",
            json!({"message": "m", "paths": [bad]}),
        )
        .await;
        assert_eq!(
            (status, v["field"].as_str()),
            (422, Some("path")),
            "{bad}: {v}"
        );
    }
    // Bad arguments are 422 naming the field; an unknown project 404.
    let (status, v) = post("/api/v1/projects/p/git/commit", json!({"paths": []})).await;
    assert_eq!((status, v["field"].as_str()), (422, Some("message")), "{v}");
    let (status, _) = post("/api/v1/projects/nope/tests", json!({})).await;
    assert_eq!(status, 404);
    let r = att
        .http
        .get(att.url("/api/v1/projects/p/git/log?limit=many"))
        .send()
        .await
        .expect("log");
    assert_eq!(r.status().as_u16(), 422);
    // A project whose directory went away is a 409 saying so, not a 500.
    let gone = dir.path().join("gone");
    std::fs::create_dir_all(&gone).expect("dir");
    let (status, _) = post("/api/v1/projects", json!({"name": "gone", "path": gone})).await;
    assert_eq!(status, 201);
    std::fs::remove_dir_all(&gone).expect("rm");
    let r = att
        .http
        .get(att.url("/api/v1/projects/gone/files"))
        .send()
        .await
        .expect("files");
    assert_eq!(r.status().as_u16(), 409);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains("is gone"),
        "{v}"
    );
    let st = att.get_json("/api/v1/projects/gone/status").await;
    assert_eq!(st["status"], "error", "{st}");
    att.server.shutdown().await;
}

/// Hears progress notifications ("N message").
#[derive(Clone)]
struct Progress(tokio::sync::mpsc::UnboundedSender<String>);

impl rmcp::ClientHandler for Progress {
    async fn on_progress(
        &self,
        p: rmcp::model::ProgressNotificationParam,
        _ctx: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let _ = self
            .0
            .send(format!("{} {}", p.progress, p.message.unwrap_or_default()));
    }
}

#[tokio::test]
async fn a_long_test_run_reports_progress_to_the_calling_client() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("test.sh"),
        "for i in 1 2 3; do echo \"step $i\"; sleep 0.3; done\necho '3 passed, 0 failed'\n",
    )
    .expect("script");
    let att = TestAtt::start().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_uri(att.url("/mcp"));
    let c = Progress(tx).serve(transport).await.expect("connects");
    let args = json!({"name": "slow", "path": dir.path(),
                      "test": {"argv": ["sh", "test.sh"], "runner": "plain"}});
    let r = c
        .call_tool(
            CallToolRequestParams::new("att.project.create")
                .with_arguments(args.as_object().cloned().expect("object")),
        )
        .await
        .expect("create");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    use rmcp::model::{CallToolRequest, ClientRequest, ServerResult};
    let params = CallToolRequestParams::new("att.test.run").with_arguments(
        json!({"project": "slow"})
            .as_object()
            .cloned()
            .expect("object"),
    );
    let handle = c
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    let reply = handle.await_response().await.expect("the run");
    let ServerResult::CallToolResult(r) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(r.structured_content.expect("result")["passed"], 3);
    let mut heard = Vec::new();
    while let Ok(Some(h)) = tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv()).await
    {
        heard.push(h);
    }
    assert!(heard.len() >= 2, "{heard:?}");
    assert!(heard.iter().any(|h| h.contains("step")), "{heard:?}");
    let counts: Vec<f64> = heard
        .iter()
        .filter_map(|h| h.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "progress only grows: {heard:?}"
    );
    att.server.shutdown().await;
}

/// A path or name longer than the file system takes is invalid params on the MCP tools, as
/// any refused path is — not an internal error.
#[tokio::test]
async fn too_long_paths_are_invalid_params_on_the_tools() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("p");
    std::fs::create_dir_all(&root).expect("root");
    let att = TestAtt::start().await;
    let c = client(&att).await;
    ok(&c, "att.project.create", json!({"name": "p", "path": root})).await;
    let long_name = "n".repeat(300);
    let long_path = vec!["d"; 2100].join("/");
    for bad in [long_name, long_path] {
        for (tool, args) in [
            ("att.code.read", json!({"project": "p", "path": bad})),
            (
                "att.code.write",
                json!({"project": "p", "path": bad, "content": "x"}),
            ),
            ("att.code.list", json!({"project": "p", "dir": bad})),
        ] {
            let m = invalid_params(try_call(&c, tool, args).await);
            assert!(m.contains("too long"), "{tool}: {m}");
        }
    }
    c.cancel().await.expect("close");
    att.server.shutdown().await;
}
