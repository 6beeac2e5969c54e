//! The dashboard's security rules over plain HTTP (always runs, no browser): login with the
//! token, the session cookie's attributes, CSRF on every state-changing request, the cookie
//! not reaching `/api`, roles, logout, the Host/Origin policy, and the open loopback mode.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::common::TestAtt;

pub(crate) const TOKEN: &str = "dash-token-0123456789";

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// A form body.
pub(crate) fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Logs in with `token`; the session cookie (`att_session=…`) and its `Set-Cookie` line.
pub(crate) async fn login(att: &TestAtt, token: &str) -> (String, String) {
    let r = client()
        .post(att.url("/login"))
        .header("content-type", FORM)
        .body(encode(&[("token", token)]))
        .send()
        .await
        .expect("POST /login");
    assert_eq!(r.status(), 303, "login with a good token redirects");
    assert_eq!(r.headers()[LOCATION], "/");
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (pair, set)
}

/// The CSRF token a page embeds (in `hx-headers` on `<body>`).
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html
        .find("X-CSRF-Token&quot;:&quot;")
        .expect("page embeds a CSRF token")
        + "X-CSRF-Token&quot;:&quot;".len();
    let end = start + html[start..].find("&quot;").unwrap();
    html[start..end].to_owned()
}

pub(crate) async fn page(att: &TestAtt, path: &str, cookie: &str) -> (u16, String) {
    let r = client()
        .get(att.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

pub(crate) async fn post_form(
    att: &TestAtt,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String) {
    let mut req = client()
        .post(att.url(path))
        .header(COOKIE, cookie)
        .header("hx-request", "true")
        .header("content-type", FORM)
        .body(encode(form));
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    let r = req.send().await.expect("POST");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn with_a_token_the_dashboard_asks_for_it_once_and_keeps_a_strict_http_only_session() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    // No session: the pages send the browser to the login form; the form itself is open.
    let r = client().get(att.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/login");
    let r = client().get(att.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"token\""));

    // A wrong token: 401, and the page does not repeat it.
    let r = client()
        .post(att.url("/login"))
        .header("content-type", FORM)
        .body(encode(&[("token", "wrong-guess-xyz")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("unknown credential") && !body.contains("wrong-guess-xyz"));

    let (cookie, set) = login(&att, TOKEN).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert!(!set.contains(TOKEN), "the cookie is not the token");
    let (status, html) = page(&att, "/", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Overview</h1>") && html.contains("token · admin"));
    for path in ["/gateway", "/actors", "/actors/events"] {
        assert_eq!(page(&att, path, &cookie).await.0, 200, "{path}");
    }
    // The cookie is the dashboard's: the API still wants a bearer credential.
    let (status, _) = page(&att, "/api/v1/actors", &cookie).await;
    assert_eq!(status, 401, "a session cookie does not authorize /api");
    // Pages forbid framing and inline script.
    let r = client()
        .get(att.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(att.server.local_addr.ip().is_loopback());
}

#[tokio::test]
async fn state_changing_dashboard_requests_need_the_sessions_csrf_token() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let (cookie, _) = login(&att, TOKEN).await;
    let csrf = csrf_of(&page(&att, "/gateway", &cookie).await.1);
    let form = [("name", "via-page"), ("url", "http://127.0.0.1:9/mcp")];
    let path = "/ui/api/v1/mcp/servers";
    let (status, body) = post_form(&att, path, &cookie, None, &form).await;
    assert_eq!(status, 403, "no CSRF token: {body}");
    assert!(body.contains("CSRF"), "{body}");
    let (status, _) = post_form(&att, path, &cookie, Some("not-the-token"), &form).await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let servers = att.get_json_with("/api/v1/mcp/servers", TOKEN).await;
    assert_eq!(servers["servers"], json!([]), "nothing was registered");

    let (status, body) = post_form(&att, path, &cookie, Some(&csrf), &form).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body.contains("Registered <strong>via-page</strong>"),
        "{body}"
    );
    let servers = att.get_json_with("/api/v1/mcp/servers", TOKEN).await;
    assert_eq!(servers["servers"][0]["name"], "via-page");
    // A caller's mistake is a 422 naming the field, as HTML.
    let (status, body) =
        post_form(&att, path, &cookie, Some(&csrf), &[("name", "bad name!")]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("role=\"alert\""), "{body}");

    // A page from elsewhere cannot post, even with the token (the browser policy).
    let r = client()
        .post(att.url(path))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .header("content-type", FORM)
        .body(encode(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A rebinding name is refused on the pages too.
    let r = client()
        .get(att.url("/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Logging out ends the session: the cookie then leads to the login form.
    let (status, _) = post_form(&att, "/logout", &cookie, Some(&csrf), &[]).await;
    assert_eq!(status, 204);
    let r = client()
        .get(att.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn a_viewer_sees_the_pages_but_cannot_act_from_them() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let r = att
        .http
        .post(att.url("/api/v1/keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "watcher", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.unwrap();
    let (cookie, _) = login(&att, key["key"].as_str().unwrap()).await;
    let (status, html) = page(&att, "/gateway", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("watcher · viewer"));
    assert!(
        !html.contains("Register an upstream"),
        "no register form for a viewer"
    );
    let csrf = csrf_of(&html);
    let (status, body) = post_form(
        &att,
        "/ui/api/v1/mcp/servers",
        &cookie,
        Some(&csrf),
        &[("name", "x"), ("url", "http://127.0.0.1:9/mcp")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the role `admin`"), "{body}");

    // Revoking the key ends its session at once.
    let r = att
        .http
        .delete(att.url("/api/v1/keys/watcher"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = client()
        .get(att.url("/gateway"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        303,
        "a revoked key's session leads to the login form"
    );
}

#[tokio::test]
async fn without_a_token_on_loopback_the_dashboard_opens_directly_and_still_checks_csrf() {
    let att = TestAtt::start().await;
    let r = client().get(att.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let cookie = set.split(';').next().unwrap().to_owned();
    let html = r.text().await.unwrap();
    assert!(html.contains("anonymous · admin"));
    let csrf = csrf_of(&html);
    let form = [("name", "open-one"), ("url", "http://127.0.0.1:9/mcp")];
    let (status, _) = post_form(&att, "/ui/api/v1/mcp/servers", &cookie, None, &form).await;
    assert_eq!(status, 403, "no CSRF token, even when att is open");
    let (status, _) = post_form(&att, "/ui/api/v1/mcp/servers", &cookie, Some(&csrf), &form).await;
    assert_eq!(status, 201);

    // The vendored script is served by att itself, cached for long.
    let r = client()
        .get(att.url("/assets/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(r.text().await.unwrap().starts_with("/*! htmx.org 2.0.11"));
}
