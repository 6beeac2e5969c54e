//! Principals, keys and roles from outside: every route of the OpenAPI document and every
//! `att.*` tool, tried with no key, a revoked key, an expired key, and a key of each role —
//! exactly the cells the role table allows get through, every refusal is a 401/403 saying
//! why, and each refusal (and each state-changing request let through) is in the audit log.
//! The matrix is generated from the route
//! table (the OpenAPI document) and the tool table (`att::tools::ALL`), so a new route or
//! tool cannot be left out.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use att::auth::{Needs, Role, route_role};
use common::{TestAtt, eventually, serve_fixture};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use serde_json::{Value, json};

const TOKEN: &str = "bootstrap-admin-token-0123456789";

/// A credential of the matrix and the role it carries (`None`: refused with 401).
struct Who {
    label: &'static str,
    key: Option<String>,
    role: Option<Role>,
    /// The name the audit log gives it.
    name: &'static str,
}

async fn create_key(att: &TestAtt, name: &str, role: &str, expires: Option<&str>) -> String {
    let r = att
        .http
        .post(att.url("/api/v1/keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": name, "role": role, "expires_in": expires}))
        .send()
        .await
        .expect("POST /api/v1/keys");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let body: Value = r.json().await.expect("json");
    body["key"].as_str().expect("key").to_owned()
}

/// `path` with its parameters filled with names that exist nowhere.
fn concrete(path: &str) -> String {
    path.replace("{action}", "start")
        .replace("{target}", "service:nope")
        .split('/')
        .map(|s| if s.starts_with('{') { "nope" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

async fn matrix_people(att: &TestAtt) -> Vec<Who> {
    let viewer = create_key(att, "v", "viewer", None).await;
    let operator = create_key(att, "o", "operator", None).await;
    let admin = create_key(att, "a", "admin", None).await;
    let revoked = create_key(att, "r", "admin", None).await;
    let r = att
        .http
        .delete(att.url("/api/v1/keys/r"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    let expired = create_key(att, "e", "admin", Some("1s")).await;
    // Bounded: the key's second runs out.
    eventually("the key to expire", Duration::from_secs(5), || async {
        let r = att
            .http
            .get(att.url("/api/v1/ready"))
            .bearer_auth(&expired)
            .send()
            .await
            .ok()?;
        (r.status() == 401).then_some(())
    })
    .await;
    vec![
        Who {
            label: "no key",
            name: "-",
            key: None,
            role: None,
        },
        Who {
            label: "unknown key",
            name: "-",
            key: Some("att_0123456789ab_nope".into()),
            role: None,
        },
        Who {
            label: "revoked key",
            name: "-",
            key: Some(revoked),
            role: None,
        },
        Who {
            label: "expired key",
            name: "-",
            key: Some(expired),
            role: None,
        },
        Who {
            label: "viewer",
            name: "v",
            key: Some(viewer),
            role: Some(Role::Viewer),
        },
        Who {
            label: "operator",
            name: "o",
            key: Some(operator),
            role: Some(Role::Operator),
        },
        Who {
            label: "admin",
            name: "a",
            key: Some(admin),
            role: Some(Role::Admin),
        },
    ]
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_it_needs_and_refusals_are_recorded() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let people = matrix_people(&att).await;
    let doc = att.get_json_with("/api/v1/openapi.json", TOKEN).await;
    let mut cells = 0usize;
    // What the audit log must hold: (method, path, principal, outcome) → how many times.
    let mut expected: HashMap<(String, String, String, &str), usize> = HashMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let m: axum::http::Method = method.to_uppercase().parse().expect("method");
            let url = concrete(path);
            let needs = route_role(&m, &url);
            for who in &people {
                cells += 1;
                let mut req = att
                    .http
                    .request(m.clone(), att.url(&url))
                    .header("content-type", "application/json")
                    .body("{}");
                if let Some(k) = &who.key {
                    req = req.bearer_auth(k);
                }
                let r = tokio::time::timeout(Duration::from_secs(20), req.send())
                    .await
                    .unwrap_or_else(|_| panic!("{method} {url} as {}: no answer", who.label))
                    .expect("request");
                let status = r.status().as_u16();
                drop(r);
                let expected_refusal = match (needs, who.role) {
                    (Needs::Nobody, _) => None,
                    (Needs::Role(_), None) => Some(401),
                    (Needs::Role(n), Some(role)) if role < n => Some(403),
                    (Needs::Role(_), Some(_)) => None,
                };
                let audited = match expected_refusal {
                    Some(code) => {
                        assert_eq!(status, code, "{method} {url} as {}", who.label);
                        Some("refused")
                    }
                    None => {
                        assert!(
                            ![401, 403, 500].contains(&status),
                            "{method} {url} as {}: {status}",
                            who.label
                        );
                        let changes = !matches!(method, "get");
                        let done = if status < 400 { "ok" } else { "failed" };
                        (changes && needs != Needs::Nobody).then_some(done)
                    }
                };
                if let Some(outcome) = audited {
                    let k = (m.to_string(), url.clone(), who.name.to_owned(), outcome);
                    *expected.entry(k).or_default() += 1;
                }
            }
        }
    }
    assert!(cells > 400, "only {cells} cells: is the route table there?");
    // Every refusal and every state-changing request let through is an audit entry naming
    // who, what and how it ended (the expiry wait above made some more).
    let want: usize = expected.values().sum();
    let entries = eventually("the audit entries", Duration::from_secs(10), || async {
        let entries = audit_log(&att, "").await;
        (entries.len() >= want).then_some(entries)
    })
    .await;
    let mut found: HashMap<(String, String, String, &str), usize> = HashMap::new();
    for e in &entries {
        let outcome = match e["outcome"].as_str() {
            Some("ok") => "ok",
            Some("failed") => "failed",
            _ => "refused",
        };
        let k = (
            e["action"].as_str().unwrap_or_default().to_owned(),
            e["target"].as_str().unwrap_or_default().to_owned(),
            e["principal"].as_str().unwrap_or_default().to_owned(),
            outcome,
        );
        *found.entry(k).or_default() += 1;
    }
    for (k, n) in &expected {
        assert!(
            found.get(k).is_some_and(|f| f >= n),
            "{k:?}: {n} expected, {:?} in the audit log",
            found.get(k)
        );
    }
    let refusal = entries
        .iter()
        .find(|e| e["outcome"] == "refused" && e["status"] == 403)
        .expect("a 403 entry");
    assert!(
        refusal["why"]
            .as_str()
            .is_some_and(|w| w.contains("needs the role")),
        "{refusal}"
    );
    assert!(
        !serde_json::to_string(&entries)
            .expect("json")
            .contains("att_0123456789ab_nope")
    );
    att.server.shutdown().await;
}

/// Every entry of the audit log that matches `filters` (a query string), paged forward.
async fn audit_log(att: &TestAtt, filters: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let page = att
            .get_json_with(
                &format!("/api/v1/audit?limit=1000&after_id={after}{filters}"),
                TOKEN,
            )
            .await;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        let Some(last) = entries.last() else {
            return all;
        };
        after = last["id"].as_i64().expect("id");
        all.extend(entries);
    }
}

async fn mcp_client(att: &TestAtt, key: &str) -> RunningService<RoleClient, ()> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(att.url("/mcp")).auth_header(key.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connects")
}

/// Whether a call was refused for its role (a tool error saying so), and its text.
async fn refused_for_role(c: &RunningService<RoleClient, ()>, tool: &str) -> bool {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(serde_json::Map::new());
    match c.peer().call_tool(params).await {
        Ok(r) => {
            let text = serde_json::to_string(&r.content).unwrap_or_default();
            r.is_error == Some(true) && text.contains("needs the role")
        }
        // Invalid params: the role allowed it, the arguments did not.
        Err(_) => false,
    }
}

#[tokio::test]
async fn every_att_tool_and_upstream_calls_on_mcp_admit_exactly_their_roles() {
    let upstream = serve_fixture("up").await;
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "up", "url": upstream.url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    let mut clients = Vec::new();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        let key = create_key(&att, role.as_str(), role.as_str(), None).await;
        clients.push((role, mcp_client(&att, &key).await));
    }
    for tool in att::tools::ALL {
        for (role, c) in &clients {
            let portable = tool.name().replace('.', "_");
            assert_eq!(
                refused_for_role(c, &portable).await,
                *role < tool.role(),
                "{} as {role}",
                tool.name()
            );
        }
    }
    // An upstream tool is the operator's.
    let (_, viewer) = &clients[0];
    eventually("the upstream's echo", Duration::from_secs(10), || async {
        let tools = viewer.list_all_tools().await.ok()?;
        tools.iter().any(|t| t.name == "echo").then_some(())
    })
    .await;
    assert!(refused_for_role(viewer, "echo").await);
    assert!(!refused_for_role(&clients[1].1, "echo").await);
    // Each call is in the audit log: who, on `mcp`, which tool, how it ended.
    let count = |entries: &[Value], principal: &str, outcome: &str| {
        entries
            .iter()
            .filter(|e| e["principal"] == principal && e["outcome"] == outcome)
            .count()
    };
    let echo = audit_log(&att, "&surface=mcp&action=tools/call&target=echo").await;
    assert_eq!(count(&echo, "viewer", "refused"), 1, "{echo:?}");
    // Allowed, but called without its argument: it failed, saying why.
    assert_eq!(count(&echo, "operator", "failed"), 1, "{echo:?}");
    assert!(
        echo.iter()
            .any(|e| e["why"].as_str().is_some_and(|w| w.contains("text")))
    );
    let all = audit_log(&att, "&surface=mcp").await;
    for tool in att::tools::ALL {
        let target = tool.name().replace('.', "_");
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            let n = all
                .iter()
                .filter(|e| e["target"] == target.as_str() && e["principal"] == role.as_str())
                .count();
            assert_eq!(n, 1, "{target} as {role}: {n} entries");
        }
    }
    att.server.shutdown().await;
}

/// The audit log from the outside: filters, the CLI's surface, principals named in the
/// workspace's and the pipeline's events, and nobody but an admin reads or writes it.
#[tokio::test]
async fn the_audit_log_names_who_did_what_where_and_only_admins_read_it() {
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let viewer = create_key(&att, "viewer1", "viewer", None).await;
    let admin = create_key(&att, "admin1", "admin", None).await;
    // A state-changing request by the CLI, one over plain HTTP, one refused.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"))
        .args(["keys", "create", "made-by-cli", "--role", "viewer"])
        .args(["--att-url", &att.base])
        .env("ATT_API_TOKEN", &admin)
        .output()
        .await
        .expect("att keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = att
        .http
        .delete(att.url("/api/v1/keys/made-by-cli"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 403);
    let repo = tempfile::tempdir().expect("dir");
    let r = att
        .http
        .post(att.url("/api/v1/projects"))
        .bearer_auth(&admin)
        .json(&json!({"name": "p", "path": repo.path()}))
        .send()
        .await
        .expect("create project");
    let created = r.status();
    let cli = audit_log(&att, "&surface=cli").await;
    assert!(
        cli.iter().any(|e| e["principal"] == "admin1"
            && e["action"] == "POST"
            && e["target"] == "/api/v1/keys"
            && e["outcome"] == "ok"
            && e["status"] == 201),
        "{cli:?}"
    );
    let refused = audit_log(&att, "&outcome=refused&principal=viewer1").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["target"], "/api/v1/keys/made-by-cli");
    assert_eq!(refused[0]["surface"], "http");
    assert_eq!(refused[0]["role"], "viewer");
    let projects = audit_log(&att, "&target=/api/v1/projects&principal=admin1").await;
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert_eq!(projects[0]["status"], created.as_u16());
    assert!(projects[0]["request_id"].is_string());
    // A bad filter is the caller's mistake.
    let r = att
        .http
        .get(att.url("/api/v1/audit?surface=ftp"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 422);
    // Only an admin reads it; the event log leaves it out for everyone else; nobody writes it.
    let r = att
        .http
        .get(att.url("/api/v1/audit"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    let seen = att
        .get_json_with("/api/v1/events?limit=1000", &viewer)
        .await;
    assert!(
        seen["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty() && e.iter().all(|e| e["kind"] != "audit")),
        "{seen}"
    );
    let seen = att.get_json_with("/api/v1/events?kind=audit", &admin).await;
    assert!(seen["events"].as_array().is_some_and(|e| !e.is_empty()));
    let r = att
        .http
        .post(att.url("/api/v1/events"))
        .bearer_auth(TOKEN)
        .json(&json!({"kind": "audit", "data": {"principal": "someone-else"}}))
        .send()
        .await
        .expect("append");
    assert_eq!(r.status(), 422);
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_cli_makes_a_key_that_works_until_it_is_revoked() {
    let att = TestAtt::start().await;
    // Async: att runs on this test's runtime and must answer while the CLI waits.
    let cli = async |args: &[&str], token: Option<&str>| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"));
        c.args(args)
            .args(["--att-url", &att.base])
            .env_remove("ATT_API_TOKEN");
        if let Some(t) = token {
            c.env("ATT_API_TOKEN", t);
        }
        c.output().await.expect("att")
    };
    // att is open (no token, no key): the first key is made without one.
    let out = cli(&["keys", "create", "alice", "--role", "operator"], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).expect("utf-8");
    let key = key.trim().to_owned();
    assert!(
        key.starts_with("att_") && !key.contains(char::is_whitespace),
        "{key:?}"
    );
    // Now the door is closed: no key is 401, the key works for what an operator may.
    let r = att
        .http
        .get(att.url("/api/v1/mcp/servers"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    let out = cli(&["mcp", "servers"], Some(&key)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An operator cannot manage keys.
    let out = cli(&["keys", "list"], Some(&key)).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin"),
        "{out:?}"
    );
    // An admin key revokes it; it is refused from the next request on.
    let admin = {
        let out = cli(&["keys", "create", "root", "--role", "admin"], Some(&key)).await;
        assert!(!out.status.success(), "an operator cannot make keys");
        // The operator cannot; the store is reached directly, as an admin would have.
        let made = att
            .server
            .auth()
            .create("root", Role::Admin, None)
            .await
            .expect("admin key");
        made.text
    };
    let out = cli(&["keys", "list"], Some(&admin)).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("alice") && listed.contains("operator"),
        "{listed}"
    );
    assert!(!listed.contains(&key[17..]), "the list never shows a key");
    let out = cli(&["keys", "revoke", "alice"], Some(&admin)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = att
        .http
        .get(att.url("/api/v1/mcp/servers"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert!(body.to_string().contains("revoked"), "{body}");
    att.server.shutdown().await;
}

/// An event stream opened with a key ends when the key is revoked; one opened with the
/// admin token goes on.
#[tokio::test]
async fn revoking_a_key_ends_its_open_event_streams() {
    use futures_util::StreamExt;
    let att = TestAtt::start_with(|c| c.api_token = Some(TOKEN.into())).await;
    let key = create_key(&att, "watcher", "viewer", None).await;
    let open = |credential: String| {
        let http = att.http.clone();
        let url = att.url("/api/v1/events/stream");
        async move {
            let r = http
                .get(url)
                .bearer_auth(credential)
                .send()
                .await
                .expect("stream");
            assert_eq!(r.status(), 200);
            r.bytes_stream()
        }
    };
    let mut watched = open(key).await;
    let mut admins = open(TOKEN.to_owned()).await;
    let r = att
        .http
        .delete(att.url("/api/v1/keys/watcher"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 204);
    // The key's stream ends (bounded wait; keep-alives may come first).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = watched.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the revoked key's stream is still open");
    // The token's stream is still open: an event appended now reaches it.
    let r = att
        .http
        .post(att.url("/api/v1/events"))
        .bearer_auth(TOKEN)
        .json(&json!({"kind": "test.after_revoke", "data": {}}))
        .send()
        .await
        .expect("append");
    assert_eq!(r.status(), 201);
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = admins.next().await {
            if String::from_utf8_lossy(&chunk).contains("test.after_revoke") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the token's stream goes on");
    att.server.shutdown().await;
}

/// No credential comes back out: after keys are made, used, refused and revoked (and an
/// upstream registered with a secret header), neither the API's answers, the event log,
/// `/metrics`, the actors' traces nor att's own log contain a key, the token or the header.
#[tokio::test]
async fn no_key_token_or_secret_header_appears_in_any_answer_event_metric_or_log() {
    use common::AttProcess;
    let dir = tempfile::tempdir().expect("temp dir");
    let att =
        AttProcess::start_with_env(&dir.path().join("data"), &[], &[("ATT_API_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    let call = |method: &str, path: &str, key: &str, body: Option<Value>| {
        let mut req = http
            .request(method.parse().expect("method"), att.url(path))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let r = call(
        "POST",
        "/api/v1/keys",
        TOKEN,
        Some(json!({"name": "ci", "role": "operator"})),
    )
    .await
    .expect("create");
    let key = r.json::<Value>().await.expect("json")["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let secret_header = "Bearer ghp_planted_secret_0123456789";
    for (method, path, credential, body) in [
        ("GET", "/api/v1/mcp/servers", key.clone(), None),
        (
            "POST",
            "/api/v1/mcp/servers",
            key.clone(),
            Some(json!({"name": "x", "url": "http://127.0.0.1:9/mcp"})),
        ),
        (
            "GET",
            "/api/v1/ready",
            format!("{}x", &key[..key.len() - 1]),
            None,
        ),
        (
            "POST",
            "/api/v1/mcp/servers",
            TOKEN.to_owned(),
            Some(
                json!({"name": "hosted", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": secret_header}}),
            ),
        ),
        (
            "POST",
            "/api/v1/services",
            TOKEN.to_owned(),
            Some(
                json!({"name": "svc", "command": "sleep", "args": ["30"], "env": {"SVC_TOKEN": "svc_planted_secret_4242"}}),
            ),
        ),
        (
            "POST",
            "/api/v1/mcp/servers",
            TOKEN.to_owned(),
            Some(
                json!({"name": "oauthed", "url": "http://127.0.0.1:9/mcp", "oauth": {
                "token_url": "http://127.0.0.1:9/token", "client_id": "att",
                "client_secret": "oauth_planted_secret_8686"}}),
            ),
        ),
        ("DELETE", "/api/v1/keys/ci", TOKEN.to_owned(), None),
        ("GET", "/api/v1/mcp/servers", key.clone(), None),
    ] {
        call(method, path, &credential, body)
            .await
            .expect("request");
    }
    let mut seen = String::new();
    for path in [
        "/api/v1/events?limit=1000",
        "/api/v1/audit?limit=1000",
        "/api/v1/keys",
        "/api/v1/mcp/servers",
        "/api/v1/mcp/servers/hosted",
        "/api/v1/mcp/servers/oauthed",
        "/api/v1/services",
        "/api/v1/services/svc",
        "/metrics",
        "/api/v1/actors",
        "/api/v1/actors/upstream:hosted/trace",
    ] {
        let r = call("GET", path, TOKEN, None).await.expect("GET");
        seen.push_str(&r.text().await.expect("body"));
    }
    assert!(seen.contains("\"refused\""), "the refusals were recorded");
    seen.push_str(&att.stderr());
    // And nothing at rest in the clear: every file of the data directory.
    let mut dirs = vec![dir.path().join("data")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("data dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                seen.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    let secret_part = key.rsplit('_').next().expect("secret");
    for (what, secret) in [
        ("the key", secret_part),
        ("the token", TOKEN),
        ("the header", "ghp_planted_secret_0123456789"),
        ("the service's env", "svc_planted_secret_4242"),
        ("the OAuth client secret", "oauth_planted_secret_8686"),
    ] {
        assert!(
            !seen.contains(secret),
            "{what} appears in an answer, an event, a metric, the log or the data at rest"
        );
    }
}
