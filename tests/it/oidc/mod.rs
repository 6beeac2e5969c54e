//! att as an OAuth protected resource (`[auth.oidc]`), from outside: a test issuer on
//! 127.0.0.1 publishes its JWK Set (ES256 keys made here with ring, an RS256 key from
//! `tests/keys`), tokens are signed here, and att is spoken to with plain HTTP and an rmcp
//! client. Covers: a valid token lists and calls tools (and the upstream never sees it), each
//! kind of bad token is a 401 whose challenge names the metadata, the metadata itself, a
//! rotated key, made-up key ids that must not make att hammer the issuer, and the role a
//! token's claim grants.

mod issuer;

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use att::auth::Role;
use att::config::OidcConfig;
use common::{TestAtt, eventually};
use issuer::{AUDIENCE, Issuer, Key, jws, now};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use serde_json::{Value, json};

/// An upstream MCP server (the fixture, tool `echo`) that records the headers of every
/// request it gets.
struct RecordedUpstream {
    url: String,
    headers: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordedUpstream {
    async fn start() -> Self {
        use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
        use rmcp::transport::streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService,
        };
        let fixture = common::fixture::Fixture::new("up", common::fixture::CrashMode::Flag);
        let service = StreamableHttpService::new(
            move || Ok(fixture.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let headers = Arc::new(Mutex::new(Vec::new()));
        let seen = headers.clone();
        let app =
            axum::Router::new()
                .nest_service("/mcp", service)
                .layer(axum::middleware::from_fn(
                    move |req: axum::extract::Request, next: axum::middleware::Next| {
                        let dump = format!("{:?}", req.headers());
                        seen.lock().expect("headers").push(dump);
                        next.run(req)
                    },
                ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
        });
        Self { url, headers, task }
    }
}

impl Drop for RecordedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_att(issuer: &Issuer, adjust: impl FnOnce(&mut OidcConfig)) -> TestAtt {
    let mut oidc = issuer.config();
    adjust(&mut oidc);
    TestAtt::start_with(|c| c.auth.oidc = Some(oidc)).await
}

/// Registers `upstream` with att (with an admin token: JWTs work on /api too) and waits
/// until its `echo` is in att's catalog.
async fn register(att: &TestAtt, admin: &str, upstream: &RecordedUpstream) {
    let r = att
        .http
        .post(att.url("/api/v1/mcp/servers"))
        .bearer_auth(admin)
        .json(&json!({"name": "up", "url": upstream.url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    eventually("the upstream's echo", Duration::from_secs(10), || async {
        let tools = att
            .http
            .get(att.url("/api/v1/mcp/tools"))
            .bearer_auth(admin)
            .send()
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()?;
        tools.to_string().contains("\"echo\"").then_some(())
    })
    .await;
}

async fn mcp_client(att: &TestAtt, token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(att.url("/mcp"))
        .auth_header(token.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connects with the token")
}

async fn call_echo(c: &RunningService<RoleClient, ()>) -> rmcp::model::CallToolResult {
    let args = json!({"text": "hi"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    tokio::time::timeout(
        Duration::from_secs(10),
        c.peer()
            .call_tool(CallToolRequestParams::new("echo").with_arguments(args)),
    )
    .await
    .expect("answers within the bound")
    .expect("a tool result")
}

/// `POST /mcp` (an `initialize`) with `token`: the status, `WWW-Authenticate`, the body.
async fn post_mcp(att: &TestAtt, token: Option<&str>) -> (u16, String, Value) {
    let mut req = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        );
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("POST /mcp");
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = if status == 401 {
        r.json().await.unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, challenge, body)
}

#[tokio::test]
async fn a_valid_token_lists_and_calls_tools_and_the_upstream_never_sees_it() {
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let upstream = RecordedUpstream::start().await;
    let att = start_att(&issuer, |_| {}).await;
    let admin = issuer.token(&key, "k1", &issuer.claims("root", "admin"));
    register(&att, &admin, &upstream).await;
    let token = issuer.token(&key, "k1", &issuer.claims("alice", "operator"));
    let client = mcp_client(&att, &token).await;
    let tools = client.list_all_tools().await.expect("tools");
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let result = call_echo(&client).await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(
        result.structured_content.as_ref().map(|s| &s["server"]),
        Some(&json!("up")),
        "{result:?}"
    );
    client.cancel().await.expect("closes");
    // The upstream was called, and never with the client's token (nor any Authorization).
    let seen = upstream.headers.lock().expect("headers").clone();
    assert!(seen.len() >= 2, "the upstream was not called: {seen:?}");
    for (i, dump) in seen.iter().enumerate() {
        assert!(
            !dump.contains(&token) && !dump.contains(&admin),
            "a client's token reached the upstream in request {i}"
        );
        assert!(
            !dump.to_ascii_lowercase().contains("\"authorization\""),
            "request {i} to the upstream carried an Authorization header"
        );
    }
    att.server.shutdown().await;
}

#[tokio::test]
async fn refused_tokens_get_401_with_a_challenge_naming_the_metadata() {
    let (key, rsa, stranger) = (Key::es256(), Key::rs256(), Key::es256());
    let issuer = Issuer::start(&[("k1", &key), ("r1", &rsa)]).await;
    let att = start_att(&issuer, |_| {}).await;
    let good = issuer.claims("alice", "operator");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let no_role = {
        let mut c = good.clone();
        c.as_object_mut().expect("claims").remove("att_role");
        c
    };
    let public_key = key.jwk("k1").to_string();
    let hs256 = jws(&json!({"alg": "HS256", "kid": "k1"}), &good, |m| {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_key.as_bytes());
        ring::hmac::sign(&k, m).as_ref().to_vec()
    });
    let cases: Vec<(&str, Option<String>, Option<&str>)> = vec![
        ("ES256, valid", Some(issuer.token(&key, "k1", &good)), None),
        ("RS256, valid", Some(issuer.token(&rsa, "r1", &good)), None),
        (
            "no credential",
            None,
            Some("a bearer token or API key is required"),
        ),
        (
            "expired",
            Some(issuer.token(&key, "k1", &with("exp", json!(now() - 120)))),
            Some("the token has expired"),
        ),
        (
            "not yet valid",
            Some(issuer.token(&key, "k1", &with("nbf", json!(now() + 600)))),
            Some("the token is not valid yet"),
        ),
        (
            "wrong audience",
            Some(issuer.token(&key, "k1", &with("aud", json!("https://other.test/mcp")))),
            Some("not meant for att"),
        ),
        (
            "wrong issuer",
            Some(issuer.token(&key, "k1", &with("iss", json!("https://evil.test")))),
            Some("another issuer"),
        ),
        (
            "signed by another key with the same kid",
            Some(issuer.token(&stranger, "k1", &good)),
            Some("signature does not verify"),
        ),
        (
            "an ES256 token naming the RSA key",
            Some(issuer.token(&key, "r1", &good)),
            Some("key the issuer does not publish"),
        ),
        (
            "alg none",
            Some(jws(&json!({"alg": "none", "kid": "k1"}), &good, |_| {
                Vec::new()
            })),
            Some("algorithm is not accepted"),
        ),
        (
            "HS256 keyed with the public key",
            Some(hs256),
            Some("algorithm is not accepted"),
        ),
        (
            "no role",
            Some(issuer.token(&key, "k1", &no_role)),
            Some("grants no att role"),
        ),
        (
            "garbage",
            Some("eyJnot.a.jwt".into()),
            Some("not base64url"),
        ),
        (
            "not a JWT at all",
            Some("hello".into()),
            Some("unknown credential"),
        ),
    ];
    let metadata = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        att.base
    );
    let mut wrong = Vec::new();
    for (what, token, refused) in &cases {
        let (status, challenge, body) = post_mcp(&att, token.as_deref()).await;
        let ok = match refused {
            None => status == 200,
            Some(why) => {
                let detail = body["detail"].as_str().unwrap_or_default();
                let invalid = token.is_some() == challenge.contains("error=\"invalid_token\"");
                status == 401
                    && challenge.starts_with(&metadata)
                    && invalid
                    && detail.contains(why)
                    && (token.is_none() || challenge.contains(why))
            }
        };
        if !ok {
            wrong.push(format!("{what}: {status} {challenge:?} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "cases answered wrongly:\n{}",
        wrong.join("\n")
    );
    // /api keeps its plain challenge.
    let r = att
        .http
        .get(att.url("/api/v1/ready"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_metadata_names_the_resource_and_the_issuer_without_a_credential() {
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let att = start_att(&issuer, |_| {}).await;
    let want = json!({
        "resource": att.url("/mcp"),
        "authorization_servers": [issuer.url],
        "bearer_methods_supported": ["header"],
    });
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        assert_eq!(att.get_json(path).await, want, "{path}");
    }
    att.server.shutdown().await;
    let att = start_att(&issuer, |c| {
        c.resource = Some("https://att.example.com/mcp".into());
        c.scopes_supported = vec!["mcp:tools".into()];
    })
    .await;
    let doc = att
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(doc["resource"], "https://att.example.com/mcp");
    assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
    let (_, challenge, _) = post_mcp(&att, None).await;
    assert_eq!(
        challenge,
        "Bearer resource_metadata=\"https://att.example.com/.well-known/oauth-protected-resource/mcp\""
    );
    att.server.shutdown().await;
    // Without [auth.oidc] there is no such resource.
    let plain = TestAtt::start().await;
    let r = plain
        .http
        .get(plain.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 404);
    plain.server.shutdown().await;
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_made_up_key_ids_do_not_make_att_hammer_the_issuer() {
    let (old, new) = (Key::es256(), Key::es256());
    let issuer = Issuer::start(&[("old", &old)]).await;
    let att = start_att(&issuer, |_| {}).await;
    let claims = issuer.claims("alice", "viewer");
    // The first token (a made-up kid) fetches the keys once, not again for its unknown kid.
    let made_up = issuer.token(&old, "made-up", &claims);
    assert_eq!(post_mcp(&att, Some(&made_up)).await.0, 401);
    assert_eq!(issuer.fetches(), 1);
    assert_eq!(
        post_mcp(&att, Some(&issuer.token(&old, "old", &claims)))
            .await
            .0,
        200
    );
    assert_eq!(issuer.fetches(), 1);
    // The issuer rotates: a token signed with the new key makes att fetch the set again.
    issuer.publish(&[("new", &new)]);
    assert_eq!(
        post_mcp(&att, Some(&issuer.token(&new, "new", &claims)))
            .await
            .0,
        200
    );
    assert_eq!(issuer.fetches(), 2);
    // Tokens naming keys nobody has: refused, and no more fetches within `jwks_refetch_min`.
    for i in 0..20 {
        let token = issuer.token(&new, &format!("made-up-{i}"), &claims);
        let (status, challenge, _) = post_mcp(&att, Some(&token)).await;
        assert_eq!(status, 401);
        assert!(
            challenge.contains("key the issuer does not publish"),
            "{challenge}"
        );
    }
    assert_eq!(
        issuer.fetches(),
        2,
        "made-up key ids made att fetch the keys"
    );
    // The retired key's tokens are refused now.
    assert_eq!(
        post_mcp(&att, Some(&issuer.token(&old, "old", &claims)))
            .await
            .0,
        401
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_role_a_token_grants_limits_its_tools() {
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let upstream = RecordedUpstream::start().await;
    let att = start_att(&issuer, |c| {
        c.role_claim = Some("groups".into());
        c.role_map = [("att-operators".to_owned(), Role::Operator)].into();
        c.default_role = Some(Role::Viewer);
    })
    .await;
    let admin = issuer.token(
        &key,
        "k1",
        &json!({"iss": issuer.url, "aud": AUDIENCE, "sub": "root", "groups": ["admin"], "exp": now() + 300}),
    );
    register(&att, &admin, &upstream).await;
    let token = |sub: &str, groups: Value| {
        issuer.token(
            &key,
            "k1",
            &json!({"iss": issuer.url, "aud": AUDIENCE, "sub": sub, "groups": groups, "exp": now() + 300}),
        )
    };
    // Mapped to an operator: the upstream's tool is called.
    let operator = mcp_client(&att, &token("olga", json!(["staff", "att-operators"]))).await;
    assert_ne!(call_echo(&operator).await.is_error, Some(true));
    // No mapped group: the default role, a viewer, who may list but not call.
    let viewer = mcp_client(&att, &token("bob", json!(["staff"]))).await;
    assert!(
        viewer
            .list_all_tools()
            .await
            .expect("tools")
            .iter()
            .any(|t| t.name == "echo")
    );
    let refused = call_echo(&viewer).await;
    let text = serde_json::to_string(&refused.content).unwrap_or_default();
    assert_eq!(refused.is_error, Some(true), "{text}");
    assert!(
        text.contains("needs the role `operator`") && text.contains("`oidc:bob` is viewer"),
        "{text}"
    );
    // A viewer cannot manage upstreams on /api either.
    let r = att
        .http
        .delete(att.url("/api/v1/mcp/servers/up"))
        .bearer_auth(token("bob", json!([])))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 403);
    att.server.shutdown().await;
}

/// Takes about two seconds: the token must really expire (att reads the wall clock, as the
/// issuer does).
#[tokio::test]
async fn an_event_stream_opened_with_a_token_ends_when_the_token_expires() {
    use futures_util::StreamExt;
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let att = start_att(&issuer, |c| c.clock_skew = Duration::ZERO).await;
    let exp = now() + 2;
    let mut claims = issuer.claims("watcher", "viewer");
    claims["exp"] = json!(exp);
    let r = att
        .http
        .get(att.url("/api/v1/events/stream"))
        .bearer_auth(issuer.token(&key, "k1", &claims))
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                break;
            }
        }
        now()
    })
    .await
    .expect("the stream ended within 10 s");
    assert!(
        ended >= exp,
        "the stream ended at {ended}, before the token's exp {exp}"
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn the_keys_are_found_by_discovery_and_a_document_naming_another_issuer_is_refused() {
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let claims = issuer.claims("alice", "viewer");
    // No jwks_url: the issuer's /.well-known/openid-configuration names it.
    let att = start_att(&issuer, |c| c.jwks_url = None).await;
    let (status, _, _) = post_mcp(&att, Some(&issuer.token(&key, "k1", &claims))).await;
    assert_eq!(status, 200);
    assert_eq!(issuer.fetches(), 1);
    att.server.shutdown().await;
    // An issuer whose metadata names another issuer (a mix-up): no keys, every token refused.
    let mixup = format!("{}/mixup", issuer.url);
    let att = start_att(&issuer, |c| {
        c.issuer = mixup.clone();
        c.jwks_url = None;
    })
    .await;
    let mut claims = claims.clone();
    claims["iss"] = json!(mixup);
    let (status, challenge, _) = post_mcp(&att, Some(&issuer.token(&key, "k1", &claims))).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("keys are unavailable"), "{challenge}");
    assert_eq!(
        issuer.fetches(),
        1,
        "the mixed-up document's jwks_uri was fetched"
    );
    att.server.shutdown().await;
}

#[tokio::test]
async fn a_key_set_larger_than_att_reads_is_refused() {
    let key = Key::es256();
    let issuer = Issuer::start(&[("k1", &key)]).await;
    let huge = format!("{}/huge", issuer.url);
    let att = start_att(&issuer, |c| c.jwks_url = Some(huge)).await;
    let token = issuer.token(&key, "k1", &issuer.claims("alice", "viewer"));
    let (status, challenge, _) = post_mcp(&att, Some(&token)).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("keys are unavailable"), "{challenge}");
    att.server.shutdown().await;
}
