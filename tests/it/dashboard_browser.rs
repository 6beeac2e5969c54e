//! The dashboard in a real headless Chromium (WebDriver, [`common::webdriver`]) against a
//! real att with real fixture upstreams: log in, register an upstream from the page and see
//! it turn healthy, kill it and see it turn degraded without a reload, call a tool from its
//! "try it" form, read an actor's trace after a panic, deploy a bad release and watch its
//! run end in a verified rollback, restart a service, run a project's tests and see their
//! counts arrive, get a prompt and read a resource from their pages, and every page fitting
//! a desktop and a phone. Each page is saved as a screenshot under `target/dashboard-screenshots/`.
//! Without `chromedriver` each test prints "skipped: chromedriver not found" and passes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::webdriver::Browser;
use crate::common::{self, TestAtt, eventually};

const TOKEN: &str = "browser-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

async fn register_by_api(att: &TestAtt, name: &str, url: &str) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&json!({"name": name, "url": url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    eventually("the catalog is fetched", WAIT, || async {
        let v: Value = att.get_json(&format!("/api/v1/mcp/servers/{name}")).await;
        v["state"]["catalog"].is_object().then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_upstream_registered_from_the_page_turns_healthy_then_degraded_without_a_reload() {
    let Some(browser) = Browser::start("dashboard_browser::register", 1280, 800).await else {
        return;
    };
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let fixture = common::serve_fixture("web-one").await;

    // The pages ask for the token once.
    browser.goto(&att.url("/gateway")).await;
    browser
        .wait_text("h1", WAIT, |t| t == "Log in to att")
        .await;
    browser.screenshot("login").await;
    browser.type_into("#token", TOKEN).await;
    browser.click("form button[type=submit]").await;
    browser.wait_text("h1", WAIT, |t| t == "Overview").await;
    browser.screenshot("overview").await;

    browser.goto(&att.url("/gateway")).await;
    browser
        .wait_text("#live-state", WAIT, |t| t == "live")
        .await;
    browser
        .exec("window.__sameDocument = 'yes';", json!([]))
        .await;
    browser.type_into("input[name=name]", "web-one").await;
    browser.type_into("input[name=url]", &fixture.url).await;
    browser
        .click("form[hx-post='/ui/api/v1/mcp/servers'] button")
        .await;
    browser
        .wait_text("#register-result", WAIT, |t| {
            t.starts_with("Registered web-one")
        })
        .await;
    let row = "tr[data-upstream='web-one']";
    browser
        .wait_text(row, WAIT, |t| t.contains("healthy") && t.contains("tools"))
        .await;
    browser.screenshot("gateway").await;

    // The upstream goes away; a check (from elsewhere) finds it down; the open page shows it.
    fixture.forget_sessions().await;
    fixture.task.abort();
    let _ = fixture.task.await;
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers/web-one/health-check"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("check");
    assert!(r.status().is_success());
    let status = browser
        .wait_text(&format!("{row} td.status"), WAIT, |t| {
            t == "degraded" || t == "unreachable"
        })
        .await;
    assert!(!status.is_empty());
    let error = browser
        .text(&format!("{row} td.err"))
        .await
        .unwrap_or_default();
    assert!(!error.trim().is_empty(), "the last error is shown");
    let same = browser
        .exec("return window.__sameDocument || null;", json!([]))
        .await;
    assert_eq!(same, "yes", "the page was not reloaded");
    browser.screenshot("gateway-degraded").await;
}

#[tokio::test]
async fn a_tool_is_called_from_its_try_it_form_and_shows_the_result_and_attempts() {
    let Some(browser) = Browser::start("dashboard_browser::try_it", 1280, 800).await else {
        return;
    };
    let att = TestAtt::start().await;
    let fixture = common::serve_fixture("try-one").await;
    register_by_api(&att, "try-one", &fixture.url).await;

    browser.goto(&att.url("/gateway")).await;
    browser
        .click("#catalog a[href='/gateway/tools/echo']")
        .await;
    browser.wait_text("h1", WAIT, |t| t == "Tool echo").await;
    browser.type_into("#arg-text", "hello from a browser").await;
    browser.click("#try-form button[type=submit]").await;
    let result = browser
        .wait_text("#try-result pre.result", WAIT, |t| !t.is_empty())
        .await;
    assert!(result.contains("hello from a browser"), "{result}");
    assert_eq!(
        browser.text("#try-result .server").await.as_deref(),
        Some("try-one")
    );
    let attempts = browser
        .text("#try-result table.attempts tbody")
        .await
        .unwrap();
    assert!(
        attempts.contains("try-one") && attempts.contains("ok"),
        "{attempts}"
    );
    browser.screenshot("try-it").await;

    // The request id leads to everything the call caused, on one timeline.
    browser.click("#try-result a.request").await;
    browser
        .wait_text("h1", WAIT, |t| t.starts_with("Request "))
        .await;
    let timeline = browser.text("#request-timeline tbody").await.unwrap();
    assert!(timeline.contains("invocation"), "{timeline}");
    assert!(timeline.contains("try-one"), "{timeline}");
    browser.screenshot("request").await;
    // The call is a point of the server's latency sparkline.
    browser.goto(&att.url("/gateway")).await;
    let line = "tr[data-upstream='try-one'] svg.sparkline";
    let label = browser
        .exec(
            "const s = document.querySelector(arguments[0]); return s ? s.getAttribute('aria-label') : null;",
            json!([line]),
        )
        .await;
    assert!(
        label
            .as_str()
            .is_some_and(|l| l.starts_with("latency of the last 1 calls")),
        "{label}"
    );

    // A required field left empty is refused by att, naming it.
    browser.goto(&att.url("/gateway/tools/echo")).await;
    browser
        .exec(
            "document.getElementById('arg-text').removeAttribute('required');",
            json!([]),
        )
        .await;
    browser.click("#try-form button[type=submit]").await;
    let refused = browser
        .wait_text("#try-result", WAIT, |t| !t.is_empty())
        .await;
    assert!(refused.contains("arguments.text: is required"), "{refused}");
}

#[tokio::test]
async fn an_actors_trace_shows_the_panic_it_handled() {
    use crate::supervision::{CrashyMsg, crashy_under_upstreams, send, wait_running_with_restarts};
    let Some(browser) = Browser::start("dashboard_browser::trace", 1280, 800).await else {
        return;
    };
    let att = TestAtt::start().await;
    crashy_under_upstreams(&att, att_runtime::supervisor::RestartPolicy::default()).await;
    send(&att, CrashyMsg::Ok("before-dash".into()));
    send(&att, CrashyMsg::Panic("dash-7".into()));
    wait_running_with_restarts(&att, 1).await;

    browser.goto(&att.url("/actors")).await;
    browser.click("a[href='/actors/crashy']").await;
    browser.wait_text("h1", WAIT, |t| t == "Actor crashy").await;
    let trace = browser.text("#trace tbody").await.unwrap();
    assert!(trace.contains("boom for dash-7"), "{trace}");
    assert!(
        trace.contains("panic") && trace.contains("dash-7"),
        "{trace}"
    );
    assert!(trace.contains("before-dash"), "{trace}");
    browser.screenshot("actor-trace").await;
}

#[tokio::test]
async fn every_page_fits_a_desktop_and_a_phone_and_is_reached_by_keyboard() {
    let att = TestAtt::start().await;
    let fixture = common::serve_fixture("fit-one").await;
    register_by_api(&att, "fit-one", &fixture.url).await;
    let repo_dir = tempfile::tempdir().expect("dir");
    let repo = git2::Repository::init(repo_dir.path()).expect("git init");
    common::commit(
        &repo,
        &[("README.md", "hello from a project\n")],
        "first words",
    );
    let (status, body) = common::post(
        &att,
        "/api/v1/projects",
        json!({"name": "demo", "path": repo_dir.path()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let pages = [
        ("overview", "/"),
        ("gateway", "/gateway"),
        ("actors", "/actors"),
        ("actor", "/actors/events"),
        ("tool", "/gateway/tools/echo"),
        ("resource", "/gateway/resources/fixture%3A%2F%2Fgreeting"),
        ("prompt", "/gateway/prompts/greet"),
        ("releases", "/releases"),
        ("services", "/services"),
        ("projects", "/projects"),
        ("project", "/projects/demo?file=README.md"),
    ];
    for (width, height) in [(1280, 800), (390, 844)] {
        let Some(browser) = Browser::start("dashboard_browser::fit", width, height).await else {
            return;
        };
        for (name, path) in pages {
            browser.goto(&att.url(path)).await;
            browser.wait_text("h1", WAIT, |t| !t.is_empty()).await;
            let shown = browser.exec("return window.innerWidth;", json!([])).await;
            assert_eq!(shown, width, "the window is {width} px wide");
            assert_eq!(
                browser.overflow_x().await,
                0,
                "{path} scrolls sideways at {width} px"
            );
            browser.screenshot(&format!("{name}-{width}")).await;
        }
        let text = browser.text("main").await.unwrap_or_default();
        assert!(
            text.contains("first words"),
            "the project's git log: {text}"
        );
        assert_eq!(
            browser.text("#file").await.as_deref(),
            Some("hello from a project\n")
        );
        // The first Tab reaches "skip to content", the next the navigation.
        browser.goto(&att.url("/gateway")).await;
        assert!(browser.tab().await.starts_with("a.skip"));
        assert!(browser.tab().await.contains("Overview"));
    }
}

#[tokio::test]
async fn a_bad_release_deployed_from_the_page_ends_in_a_verified_rollback_on_its_timeline() {
    use crate::bootstrap_pipeline::{release, version, web};
    let Some(browser) = Browser::start("dashboard_browser::release", 1280, 800).await else {
        return;
    };
    let port = common::free_port();
    let att = TestAtt::start_with(|c| c.services = vec![web(port)]).await;
    eventually("r0 serving", WAIT, || async {
        (version(port).await.as_deref() == Some("r0")).then_some(())
    })
    .await;
    release(&att, port, "r1", &[]).await;
    let fast = json!({"target": "service:web", "requested_release_id": "r1",
        "restart_watchdog_retries": 3, "restart_watchdog_interval": "100ms",
        "health_check_interval": "50ms", "health_deadline": "2s"});
    let r1 = common::run_to_end(&att, fast, Duration::from_secs(60)).await;
    assert_eq!(r1["status"], "succeeded", "{r1}");
    // r2 crashes 150 ms after it starts.
    release(&att, port, "r2", &["--crash-after-ms", "150"]).await;

    browser.goto(&att.url("/releases")).await;
    let r2 = "form:has(input[value='r2'])";
    browser
        .type_into(
            &format!("{r2} input[name=restart_watchdog_interval]"),
            "100ms",
        )
        .await;
    browser.click(&format!("{r2} button")).await;
    browser.accept_dialog().await;
    browser
        .wait_text("#action-result", WAIT, |t| t.ends_with("started."))
        .await;
    browser.click("#action-result a").await;
    browser
        .wait_text("h1", WAIT, |t| t.starts_with("Run "))
        .await;
    // The open page follows the run to its end.
    browser
        .wait_text("#run-status", Duration::from_secs(60), |t| t == "failed")
        .await;
    let phases = browser.text("#phases tbody").await.unwrap();
    assert!(phases.contains("restart_watchdogfailed"), "{phases}");
    assert!(phases.contains("rollbacksucceeded"), "{phases}");
    let decision = browser.text("#decision").await.unwrap();
    assert!(decision.contains("Rollback policy: allowed"), "{decision}");
    assert!(decision.contains("performed, verified to r1"), "{decision}");
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    browser.screenshot("release-run").await;
    browser.goto(&att.url("/releases")).await;
    browser.screenshot("releases").await;

    // The service the releases run as: its state, and a restart from the page.
    browser.goto(&att.url("/services")).await;
    let web = "section[data-service='web']";
    browser
        .wait_text(&format!("{web} .state"), WAIT, |t| t == "running")
        .await;
    let pid_before = browser.text(&format!("{web} p")).await.unwrap();
    browser
        .click(&format!("{web} button[hx-post$='/restart']"))
        .await;
    browser.accept_dialog().await;
    browser
        .wait_text("#action-result", WAIT, |t| t == "web: running")
        .await;
    let pid_after = browser
        .wait_text(&format!("{web} p"), WAIT, |t| t != pid_before.trim())
        .await;
    assert!(pid_after.starts_with("pid "), "{pid_after}");
    assert_eq!(version(port).await.as_deref(), Some("r1"));
    browser.screenshot("services").await;
}

#[tokio::test]
async fn a_projects_tests_run_from_its_page_show_their_counts_without_a_reload() {
    let Some(browser) = Browser::start("dashboard_browser::project_tests", 1280, 800).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let script = "echo 'checking the widgets'\necho 'Tests: 3 passed, 1 failed'\nexit 1\n";
    common::commit(&repo, &[("test.sh", script)], "tests");
    let att = TestAtt::start().await;
    let (status, body) = common::post(
        &att,
        "/api/v1/projects",
        json!({"name": "app", "path": dir.path(),
               "test": {"argv": ["sh", "test.sh"], "runner": "plain"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    browser.goto(&att.url("/projects/app")).await;
    browser
        .wait_text("#live-state", WAIT, |t| t == "live")
        .await;
    browser
        .exec("window.__sameDocument = 'yes';", json!([]))
        .await;
    browser.click("#run-tests button[type=submit]").await;
    browser
        .wait_text("#tests-result", WAIT, |t| t.starts_with("Test run test-"))
        .await;
    // The table follows the run (workspace.test_run events) to its typed counts.
    let row = browser
        .wait_text("#test-runs tbody tr", WAIT, |t| t.contains("completed"))
        .await;
    let count = |c: &'static str| {
        let b = &browser;
        async move {
            b.text(&format!("#test-runs tbody tr td[data-count='{c}']"))
                .await
                .unwrap_or_default()
        }
    };
    assert_eq!(count("passed").await, "3", "{row}");
    assert_eq!(count("failed").await, "1", "{row}");
    let same = browser
        .exec("return window.__sameDocument || null;", json!([]))
        .await;
    assert_eq!(same, "yes", "the page was not reloaded");
    // Its output, one click away.
    browser.click("#tests-result a").await;
    let output = browser
        .wait_text("#test-output", WAIT, |t| !t.is_empty())
        .await;
    assert!(output.contains("checking the widgets"), "{output}");
    browser.screenshot("project-tests").await;
}

#[tokio::test]
async fn a_prompt_and_a_resource_are_tried_from_their_pages() {
    let Some(browser) = Browser::start("dashboard_browser::try_prompt", 1280, 800).await else {
        return;
    };
    let att = TestAtt::start().await;
    let fixture = common::serve_fixture("try-two").await;
    register_by_api(&att, "try-two", &fixture.url).await;

    browser.goto(&att.url("/gateway/prompts/greet")).await;
    browser.wait_text("h1", WAIT, |t| t == "Prompt greet").await;
    browser.type_into("#arg-name", "ann").await;
    browser.click("#try-form button[type=submit]").await;
    let result = browser
        .wait_text("#try-result pre.result", WAIT, |t| !t.is_empty())
        .await;
    assert!(result.contains("Hello, ann, from try-two"), "{result}");
    let attempts = browser
        .text("#try-result table.attempts tbody")
        .await
        .unwrap_or_default();
    assert!(attempts.contains("try-two"), "{attempts}");
    browser.screenshot("try-prompt").await;

    browser
        .goto(&att.url("/gateway/resources/fixture%3A%2F%2Fgreeting"))
        .await;
    browser
        .wait_text("h1", WAIT, |t| t == "Resource fixture://greeting")
        .await;
    browser.click("#try-form button[type=submit]").await;
    let result = browser
        .wait_text("#try-result pre.result", WAIT, |t| !t.is_empty())
        .await;
    assert!(result.contains("hello from try-two"), "{result}");
    browser.screenshot("try-resource").await;
}
