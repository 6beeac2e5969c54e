//! The workspace tools' overhead: reading a file and reading git status through att — as an
//! `att.*` tool on `/mcp` (an rmcp client over streamable HTTP) and as an HTTP route — against
//! the same function called directly in this process (the baseline), and a `change` run (edit,
//! tests, commit in a worktree) against the plain commit of the same edit.
//!
//! Run: `cargo bench --bench workspace` (numbers go to todo/perf.md).

use std::time::{Duration, Instant};

use att::config::Config;
use att_workspace::{code, git};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

const N: usize = 300;

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("p");
        std::fs::create_dir_all(root.join("src")).expect("src");
        let text = "pub fn answer() -> u32 { 42 }\n".repeat(100);
        std::fs::write(root.join("src/lib.rs"), &text).expect("write");
        std::fs::write(root.join("test.sh"), "echo '1 passed, 0 failed'\n").expect("write");
        git2::Repository::init(&root).expect("init");
        git::commit(&root, "first", Some(&["src/lib.rs".into(), "test.sh".into()]))
            .expect("commit");

        let data = tempfile::tempdir().expect("data");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_owned(),
            log_level: "warn".into(),
            ..Config::default()
        };
        let server = att::server::start(config).await.expect("att starts");
        let base = format!("http://{}", server.local_addr);
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/api/v1/projects"))
            .json(&json!({"name": "p", "path": root,
                          "test": {"argv": ["sh", "test.sh"], "runner": "plain"}}))
            .send()
            .await
            .expect("project");
        assert_eq!(r.status(), 201);
        let client = ()
            .serve(StreamableHttpClientTransport::from_uri(format!("{base}/mcp")))
            .await
            .expect("mcp client");

        // What any HTTP request and any `/mcp` tool call cost here: `GET /api/v1/health`, and
        // `tools/call` of an unknown tool (an invalid-params answer, no tool work).
        let (mut health, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..N {
            let t0 = Instant::now();
            let r = http.get(format!("{base}/api/v1/health")).send().await.expect("health");
            let _ = r.bytes().await.expect("body");
            health.push(t0.elapsed());
            let t0 = Instant::now();
            let _ = client.call_tool(CallToolRequestParams::new("no.such.tool")).await;
            unknown.push(t0.elapsed());
        }
        let mut rows = Vec::new();
        for (what, tool, route) in [
            ("read a 3 KiB file", "att.code.read", "/api/v1/projects/p/file?path=src/lib.rs"),
            ("git status", "att.git.status", "/api/v1/projects/p/git/status"),
        ] {
            let (mut direct, mut mcp, mut routed) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..N {
                let r = root.clone();
                let t0 = Instant::now();
                tokio::task::spawn_blocking(move || {
                    if tool == "att.code.read" {
                        code::read(&r, "src/lib.rs", 1 << 20).map(drop).expect("read");
                    } else {
                        git::status(&r).map(drop).expect("status");
                    }
                })
                .await
                .expect("join");
                direct.push(t0.elapsed());

                let args = if tool == "att.code.read" {
                    json!({"project": "p", "path": "src/lib.rs"})
                } else {
                    json!({"project": "p"})
                };
                let t0 = Instant::now();
                let res = client
                    .call_tool(
                        CallToolRequestParams::new(tool)
                            .with_arguments(args.as_object().cloned().expect("object")),
                    )
                    .await
                    .expect("tool");
                mcp.push(t0.elapsed());
                assert_ne!(res.is_error, Some(true));

                let t0 = Instant::now();
                let r = http.get(format!("{base}{route}")).send().await.expect("get");
                let _ = r.bytes().await.expect("body");
                routed.push(t0.elapsed());
            }
            rows.push((what, p50(direct), p50(mcp), p50(routed)));
        }

        // A change run (worktree, edit, tests, commit, cleanup) against a plain commit of an
        // edit in the working tree, both through the same functions att uses.
        let (mut changes, mut commits) = (Vec::new(), Vec::new());
        for i in 0..20 {
            let spec: att_release::change::ChangeSpec = serde_json::from_value(json!({
                "message": format!("change {i}"),
                "edits": [{"path": "src/lib.rs", "content": format!("{text}// {i}\n")}],
                "test": {"argv": ["sh", "test.sh"], "runner": "plain"}
            }))
            .expect("spec");
            let t0 = Instant::now();
            att_release::change::change(&spec, &root, data.path(), &format!("bench-{i}"))
                .await
                .expect("change");
            changes.push(t0.elapsed());

            let r = root.clone();
            let t0 = Instant::now();
            tokio::task::spawn_blocking(move || {
                code::write(&r, "src/lib.rs", &format!("{i}\n")).expect("write");
                git::commit(&r, "plain", Some(&["src/lib.rs".into()])).expect("commit");
            })
            .await
            .expect("join");
            commits.push(t0.elapsed());
        }

        println!("| workspace tools | calls | direct p50 µs | `/mcp` tool p50 µs | HTTP route p50 µs | `/mcp` ÷ direct | HTTP ÷ direct |");
        println!("|---|---|---|---|---|---|---|");
        for (what, d, m, h) in rows {
            println!(
                "| {what} | {N} | {} | {} | {} | {:.1}× | {:.1}× |",
                us(d),
                us(m),
                us(h),
                m.as_secs_f64() / d.as_secs_f64(),
                h.as_secs_f64() / d.as_secs_f64()
            );
        }
        println!(
            "| floor: `GET /api/v1/health` / `tools/call` of an unknown tool | {N} | — | {} | {} | | |",
            us(p50(unknown)),
            us(p50(health))
        );
        let (c, p) = (p50(changes), p50(commits));
        println!();
        println!("| change phase | runs | p50 ms |");
        println!("|---|---|---|");
        println!("| baseline: write + commit in the working tree | 20 | {:.1} |", p.as_secs_f64() * 1e3);
        println!(
            "| change: worktree, edit, tests (`sh test.sh`), commit, cleanup | 20 | {:.1} ({:.0}×) |",
            c.as_secs_f64() * 1e3,
            c.as_secs_f64() / p.as_secs_f64()
        );
        let _ = client.cancel().await;
        server.shutdown().await;
    });
}
