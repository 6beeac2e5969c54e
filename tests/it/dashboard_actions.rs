//! The dashboard's actions over plain HTTP, as a page's htmx requests make them (session
//! cookie + CSRF token): a project's tests run from its page with their typed counts and
//! output, its runtime started, paged and stopped, a deploy started; an upstream checked,
//! invalidated and removed from its row; a resource read and a prompt got from their "try
//! it" pages; a run started from the releases page with its build output.

use std::time::Duration;

use serde_json::json;

use crate::common::{self, TestAtt, eventually, free_port};
use crate::dashboard_http::{client, csrf_of, page, post_form};

const SERVICE: &str = env!("CARGO_BIN_EXE_att-fixture-service");

/// An open att's session: the cookie and the CSRF token its pages carry.
async fn session(att: &TestAtt) -> (String, String) {
    let r = client().get(att.url("/")).send().await.expect("GET /");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let csrf = csrf_of(&r.text().await.expect("page"));
    (cookie, csrf)
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

#[tokio::test]
async fn a_project_page_runs_its_tests_with_typed_counts_and_drives_its_runtime() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let script = "echo 'checking the widgets'\necho 'Tests: 3 passed, 1 failed'\nexit 1\n";
    common::commit(&repo, &[("test.sh", script)], "tests");
    let port = free_port();
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/projects",
        json!({"name": "app", "path": dir.path(),
               "test": {"argv": ["sh", "test.sh"], "runner": "plain"},
               "runtime": {"command": SERVICE, "args": ["--port", port.to_string(), "--release", "dev"],
                           "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")}}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (cookie, csrf) = session(&att).await;
    let (status, html) = page(&att, "/projects/app", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"run-tests\"") && html.contains("No test runs yet."),
        "{html}"
    );
    assert!(html.contains("id=\"runtime-state\""), "{html}");

    // Run the tests from the page: the answer names the run; the table then shows its counts.
    let (status, note) = post_form(
        &att,
        "/ui/api/v1/projects/app/tests",
        &cookie,
        Some(&csrf),
        &[("filter", "")],
    )
    .await;
    assert_eq!(status, 202, "{note}");
    let id = between(&note, "<code>", "</code>")
        .expect("the run's id")
        .to_owned();
    assert!(id.starts_with("test-"), "{note}");
    let path = format!("/projects/app?test={id}");
    let html = eventually("the run's counts", Duration::from_secs(30), || async {
        let (_, html) = page(&att, &path, &cookie).await;
        html.contains("data-count=\"failed\">1<").then_some(html)
    })
    .await;
    assert!(html.contains("data-count=\"passed\">3<"), "{html}");
    assert!(html.contains("badge st-completed"), "{html}");
    let output = between(&html, "id=\"test-output\"", "</pre>").expect("output");
    assert!(output.contains("checking the widgets"), "{output}");
    // A bad filter is the caller's mistake, named.
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/projects/app/tests",
        &cookie,
        Some(&csrf),
        &[("filter", "-x")],
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // The runtime: started from the page, its log paged, stopped.
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/projects/app/runtime/start",
        &cookie,
        Some(&csrf),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Runtime of app: running"), "{body}");
    let html = eventually("its start-up lines", Duration::from_secs(20), || async {
        let (_, html) = page(&att, "/projects/app?log=0", &cookie).await;
        html.contains("listening on").then_some(html)
    })
    .await;
    let log = between(&html, "id=\"runtime-log\"", "</pre>").expect("log");
    assert!(log.contains("release_id=dev"), "{log}");
    assert!(html.contains(">running<"), "{html}");
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/projects/app/runtime/explode",
        &cookie,
        Some(&csrf),
        &[],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/projects/app/runtime/stop",
        &cookie,
        Some(&csrf),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Runtime of app: stopped"), "{body}");
    // Without its CSRF token, a page's action is refused.
    let (status, _) = post_form(&att, "/ui/api/v1/projects/app/tests", &cookie, None, &[]).await;
    assert_eq!(status, 403);

    // Deploy from the page: a run of the project's service starts; the panel names it.
    let (status, note) = post_form(
        &att,
        "/ui/api/v1/projects/app/deploy",
        &cookie,
        Some(&csrf),
        &[("release", "")],
    )
    .await;
    assert_eq!(status, 202, "{note}");
    let run_id = between(&note, "<code>", "</code>")
        .expect("run id")
        .to_owned();
    let run = att
        .get_json(&format!("/api/v1/bootstrap/runs/{run_id}"))
        .await;
    assert_eq!(run["target"], "service:project-app", "{run}");
    let (_, html) = page(&att, "/projects/app", &cookie).await;
    let deploy = between(&html, "id=\"deploy\"", "</section>").expect("deploy panel");
    assert!(deploy.contains(&run_id), "{deploy}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_resource_is_read_and_a_prompt_got_from_their_try_it_pages() {
    let fx = common::serve_fixture("fx").await;
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "fx", "url": fx.url}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    eventually("fx's catalog", Duration::from_secs(20), || async {
        let r = att.get_json("/api/v1/mcp/prompts").await;
        (r["items"][0]["name"] == "greet").then_some(())
    })
    .await;
    let (cookie, csrf) = session(&att).await;
    // The catalog links each resource and prompt to its page.
    let (_, catalog) = page(&att, "/ui/fragments/catalog?kind=resources", &cookie).await;
    assert!(
        catalog.contains("href=\"/gateway/resources/fixture%3A%2F%2Fgreeting\""),
        "{catalog}"
    );

    let (status, html) = page(&att, "/gateway/resources/fixture%3A%2F%2Fgreeting", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("hx-post=\"/ui/api/v1/mcp/invoke/resource\""),
        "{html}"
    );
    assert!(html.contains("value=\"fixture://greeting\""), "{html}");
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/mcp/invoke/resource",
        &cookie,
        Some(&csrf),
        &[("uri", "fixture://greeting")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello from fx"), "{body}");
    assert!(
        body.contains("Answered by <strong class=\"server\">fx</strong>"),
        "{body}"
    );
    assert!(
        body.contains("class=\"attempts\""),
        "the attempt trace: {body}"
    );
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/mcp/invoke/resource",
        &cookie,
        Some(&csrf),
        &[("uri", "nothing://here")],
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let (status, html) = page(&att, "/gateway/prompts/greet", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("name=\"arg.name\""),
        "a field per argument: {html}"
    );
    assert!(html.contains("whom to greet"), "{html}");
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/mcp/invoke/prompt",
        &cookie,
        Some(&csrf),
        &[("name", "greet"), ("arg.name", "ann")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Hello, ann, from fx"), "{body}");
    let request = between(&body, "/gateway/requests/", "\"").expect("request link");
    // The invocation history, filtered by server and by request id, and the catalog's search.
    let (_, by_fx) = page(&att, "/ui/fragments/history?server=fx", &cookie).await;
    assert!(by_fx.contains(request), "{by_fx}");
    let (_, by_other) = page(&att, "/ui/fragments/history?server=other", &cookie).await;
    assert!(!by_other.contains(request), "{by_other}");
    let path = format!("/ui/fragments/history?request_id={request}");
    let (_, by_id) = page(&att, &path, &cookie).await;
    assert!(
        by_id.contains(request) && by_id.contains("prompts/get"),
        "{by_id}"
    );
    let (_, found) = page(&att, "/ui/fragments/catalog?kind=prompts&q=GREE", &cookie).await;
    assert!(found.contains("href=\"/gateway/prompts/greet\""), "{found}");
    let (_, none) = page(&att, "/ui/fragments/catalog?kind=prompts&q=zzz", &cookie).await;
    assert!(none.contains("Nothing matches."), "{none}");
    let (_, timeline) = page(&att, &format!("/gateway/requests/{request}"), &cookie).await;
    assert!(timeline.contains("invocation"), "{timeline}");
    let (status, html) = page(&att, "/gateway/prompts/nope", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("No upstream offers a prompt called"),
        "{html}"
    );

    // The upstream row's buttons: check and invalidate answer the row again; remove empties it.
    for action in ["health-check", "session/invalidate"] {
        let path = format!("/ui/api/v1/mcp/servers/fx/{action}");
        let (status, row) = post_form(&att, &path, &cookie, Some(&csrf), &[]).await;
        assert_eq!(status, 200, "{action}: {row}");
        assert!(row.contains("data-upstream=\"fx\""), "{action}: {row}");
    }
    let r = client()
        .delete(att.url("/ui/api/v1/mcp/servers/fx"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    let servers = att.get_json("/api/v1/mcp/servers").await;
    assert_eq!(servers["servers"], json!([]), "{servers}");
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_run_started_from_the_releases_page_shows_its_build_output() {
    let port = free_port();
    let repo_dir = tempfile::tempdir().expect("repo dir");
    let repo = git2::Repository::init(repo_dir.path()).expect("init");
    let build =
        "echo 'compiling widgets'\nmkdir -p out && cp \"$FIXTURE\" out/service && echo built\n";
    common::commit(&repo, &[("build.sh", build)], "zero");
    let spec: att_release::service::spec::ServiceSpec = serde_json::from_value(json!({
        "name": "web", "command": "{artifact}",
        "args": ["--port", port.to_string(), "--release", "{release}"],
        "health": {"kind": "http", "url": format!("http://127.0.0.1:{port}/health")},
        "stop_grace": "2s", "guard_period": "0s",
        "build": {"repo": repo_dir.path(), "command": ["sh", "build.sh"],
                  "artifact": "out/service", "env": {"FIXTURE": SERVICE}}
    }))
    .expect("spec");
    let att = TestAtt::start_with(|c| c.services = vec![spec]).await;
    let (cookie, csrf) = session(&att).await;
    let (_, html) = page(&att, "/releases", &cookie).await;
    assert!(html.contains("id=\"start-run\""), "{html}");
    assert!(html.contains("<option value=\"service:web\">"), "{html}");
    let (status, note) = post_form(
        &att,
        "/ui/api/v1/bootstrap/runs",
        &cookie,
        Some(&csrf),
        &[
            ("target", "service:web"),
            ("release", ""),
            ("restart_watchdog_interval", "50ms"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{note}");
    let id = between(&note, "<code>", "</code>")
        .expect("run id")
        .to_owned();
    let run = eventually("the run's end", Duration::from_secs(60), || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (r["status"] != "running").then_some(r)
    })
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (status, html) = page(&att, &format!("/releases/runs/{id}"), &cookie).await;
    assert_eq!(status, 200);
    let output = between(&html, "id=\"build-output\"", "</pre>").expect("build output");
    assert!(output.contains("compiling widgets"), "{output}");
    assert!(output.contains("built"), "{output}");
    att.server.shutdown().await;
}
