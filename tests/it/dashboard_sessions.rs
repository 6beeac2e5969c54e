//! The dashboard's logins from the outside: a session survives a restart of att (kept in the
//! store), wrong tokens are limited (429 with `Retry-After`), and logins and the pages'
//! actions are audit entries of their own surface, `dashboard`.

use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER};
use serde_json::{Value, json};

use crate::common::TestAtt;
use crate::dashboard_http::{FORM, TOKEN, client, csrf_of, encode, login, page, post_form};

async fn wrong_login(base: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/login"))
        .header("content-type", FORM)
        .body(encode(&[("token", "wrong-guess-xyz")]))
        .send()
        .await
        .expect("POST /login")
}

/// The audit log's entries for `query` (as the admin).
async fn audit(att: &TestAtt, query: &str) -> Vec<Value> {
    crate::common::eventually(
        "the audit entries",
        std::time::Duration::from_secs(10),
        || async {
            let v = att
                .get_json_with(&format!("/api/v1/audit?limit=1000{query}"), TOKEN)
                .await;
            let entries = v["entries"].as_array().cloned().unwrap_or_default();
            (!entries.is_empty()).then_some(entries)
        },
    )
    .await
}

#[tokio::test]
async fn a_dashboard_session_survives_a_restart_of_att_until_logged_out() {
    let data = tempfile::tempdir().expect("data dir");
    let config = att::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        api_token: Some(TOKEN.into()),
        ..att::config::Config::default()
    };
    let start = || async {
        let server = att::server::start(config.clone())
            .await
            .expect("att starts");
        let base = format!("http://{}", server.local_addr);
        (server, base)
    };
    let (server, base) = start().await;
    let r = client()
        .post(format!("{base}/login"))
        .header("content-type", FORM)
        .body(encode(&[("token", TOKEN)]))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let get = |base: String, cookie: String| async move {
        client()
            .get(format!("{base}/gateway"))
            .header(COOKIE, cookie)
            .send()
            .await
            .expect("GET")
    };
    let r = get(base.clone(), cookie.clone()).await;
    assert_eq!(r.status(), 200);
    let csrf = csrf_of(&r.text().await.expect("page"));
    server.shutdown().await;

    // A new att on the same data directory knows the session, and its CSRF token.
    let (server, base) = start().await;
    let r = get(base.clone(), cookie.clone()).await;
    assert_eq!(r.status(), 200, "the session survived the restart");
    let html = r.text().await.expect("page");
    assert!(html.contains("token · admin"), "{html}");
    assert_eq!(csrf_of(&html), csrf);
    let form = [("name", "after-restart"), ("url", "http://127.0.0.1:9/mcp")];
    let r = client()
        .post(format!("{base}/ui/api/v1/mcp/servers"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", FORM)
        .body(encode(&form))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201, "its CSRF token too");

    // Logging out deletes it from the store: after another restart it is gone.
    let r = client()
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    server.shutdown().await;
    let (server, base) = start().await;
    let r = get(base, cookie).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/login");
    server.shutdown().await;
}

#[tokio::test]
async fn repeated_wrong_logins_are_refused_with_429_and_retry_after_without_checking_the_token() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    for i in 0..10 {
        assert_eq!(wrong_login(&att.base).await.status(), 401, "attempt {i}");
    }
    let r = wrong_login(&att.base).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()[RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body = r.text().await.expect("body");
    assert!(body.contains("too many failed logins"), "{body}");
    // While limited, even the right token is not checked.
    let r = client()
        .post(att.url("/login"))
        .header("content-type", FORM)
        .body(encode(&[("token", TOKEN)]))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("set-cookie").is_none());
    // The API's bearer check is not the login form's: it still answers.
    let health = att.get_json_with("/api/v1/actors", TOKEN).await;
    assert!(health.is_object() || health.is_array());
    let limited = audit(&att, "&surface=dashboard&outcome=refused&target=/login").await;
    assert!(
        limited.iter().any(
            |e| e["status"] == 429 && e["why"].as_str().is_some_and(|w| w.contains("too many"))
        ),
        "{limited:?}"
    );
}

#[tokio::test]
async fn logins_and_page_actions_are_audited_with_the_dashboard_surface() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    assert_eq!(wrong_login(&att.base).await.status(), 401);
    let (cookie, _) = login(&att, TOKEN).await;
    let csrf = csrf_of(&page(&att, "/gateway", &cookie).await.1);
    let form = [("name", "from-page"), ("url", "http://127.0.0.1:9/mcp")];
    let (status, body) =
        post_form(&att, "/ui/api/v1/mcp/servers", &cookie, Some(&csrf), &form).await;
    assert_eq!(status, 201, "{body}");
    // The same action through the API is the API's.
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "from-api", "url": "http://127.0.0.1:9/mcp"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);

    let entries = crate::common::eventually(
        "three dashboard entries",
        std::time::Duration::from_secs(10),
        || async {
            let v = att
                .get_json_with("/api/v1/audit?surface=dashboard", TOKEN)
                .await;
            let e = v["entries"].as_array().cloned().unwrap_or_default();
            (e.len() >= 3).then_some(e)
        },
    )
    .await;
    let seen: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("action"), s("target"), s("outcome"))
        })
        .collect();
    let want = |a: &str, t: &str, o: &str| (a.to_owned(), t.to_owned(), o.to_owned());
    for w in [
        want("POST", "/login", "refused"),
        want("POST", "/login", "ok"),
        want("POST", "/ui/api/v1/mcp/servers", "ok"),
    ] {
        assert!(seen.contains(&w), "{w:?} missing from {seen:?}");
    }
    assert!(entries.iter().all(|e| e["surface"] == "dashboard"));
    let api = audit(&att, "&target=/api/v1/mcp/servers").await;
    assert_eq!(api[0]["surface"], "http", "{api:?}");
}
