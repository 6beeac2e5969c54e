//! What a client starts on one att and continues on another of the same cluster (two atts on
//! one PostgreSQL database, a schema per test): a dashboard login honoured by the other att
//! and ended on both by a logout on either; a client's answer to a question an upstream asks
//! during a call, sent to the att that does not run the call; an event stream on one att
//! that delivers live what the other writes. Without a PostgreSQL server these tests print
//! why they were skipped and pass (see `TestDatabase`).

use std::time::Duration;

use att::config::DatabaseUrl;
use att::store::postgres::test_database::TestDatabase;
use serde_json::{Value, json};

use crate::common::{TestAtt, eventually};
use crate::dashboard_http::{TOKEN, csrf_of, login, page, post_form};

async fn start_on(db: &TestDatabase, adjust: impl FnOnce(&mut att::config::Config)) -> TestAtt {
    let url = DatabaseUrl::try_from(db.url()).expect("database_url");
    TestAtt::start_with(move |c| {
        c.database_url = Some(url);
        adjust(c);
    })
    .await
}

/// Two atts on one fresh database, both with the API token [`TOKEN`] and one key sealing
/// secrets at rest (as a cluster's atts share `ATT_SECRET_KEY`: B reads what A sealed).
async fn two_atts(test: &str) -> Option<(TestAtt, TestAtt, TestDatabase, tempfile::TempDir)> {
    let db = TestDatabase::create(test).await?;
    let a = start_on(&db, |c| c.api_token = Some(TOKEN.into())).await;
    let b_data = tempfile::tempdir().expect("B's data dir");
    std::fs::copy(
        a.data.path().join("secret.key"),
        b_data.path().join("secret.key"),
    )
    .expect("A's key, for B");
    let b_dir = b_data.path().to_owned();
    let b = start_on(&db, |c| {
        c.api_token = Some(TOKEN.into());
        c.data_dir = b_dir;
    })
    .await;
    Some((a, b, db, b_data))
}

#[tokio::test]
async fn a_dashboard_login_on_one_att_is_honoured_by_another_and_a_logout_on_either_ends_it() {
    let Some((a, b, _db, _b_data)) =
        two_atts("across_replicas::a_dashboard_login_on_one_att_is_honoured_by_another").await
    else {
        return;
    };
    let (cookie, _) = login(&a, TOKEN).await;

    // B never saw the login: it reads the session from the database.
    let (status, html) = page(&b, "/gateway", &cookie).await;
    assert_eq!(status, 200, "B honours A's session: {html}");
    let csrf = csrf_of(&html);
    let (status, _) = page(&a, "/gateway", &cookie).await;
    assert_eq!(status, 200, "and A still does");
    // A made-up cookie is still the login page, on both.
    for att in [&a, &b] {
        let (status, _) = page(att, "/gateway", "att_session=made-up-cookie").await;
        assert_eq!(status, 303, "an unknown cookie goes to the login page");
    }

    // Logged out on B: A ends it too (it follows the database's change notification).
    let (status, body) = post_form(&b, "/logout", &cookie, Some(&csrf), &[]).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = page(&b, "/gateway", &cookie).await;
    assert_eq!(status, 303, "B: logged out");
    eventually(
        "A ends the session logged out on B",
        Duration::from_secs(10),
        || async { (page(&a, "/gateway", &cookie).await.0 == 303).then_some(()) },
    )
    .await;
}

/// The JSON-RPC messages of an `/mcp` answer, as they arrive (a JSON body, or the `data:`
/// lines of an event stream), each read within a bound.
struct Messages {
    response: reqwest::Response,
    buf: String,
    ready: std::collections::VecDeque<Value>,
}

impl Messages {
    fn of(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: String::new(),
            ready: Default::default(),
        }
    }

    /// The next message, or a panic naming `what` after 15 s.
    async fn next(&mut self, what: &str) -> Value {
        loop {
            if let Some(v) = self.ready.pop_front() {
                return v;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("{what}: nothing within 15 s"))
                .expect("chunk")
                .unwrap_or_else(|| panic!("{what}: the stream ended"));
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
            if self.buf.trim_start().starts_with('{') {
                if let Ok(v) = serde_json::from_str(self.buf.trim()) {
                    self.buf.clear();
                    self.ready.push_back(v);
                }
                continue;
            }
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                for line in frame.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(v) = serde_json::from_str(data.trim())
                    {
                        self.ready.push_back(v);
                    }
                }
            }
        }
    }
}

/// POSTs `body` to `att`'s `/mcp`, in `session` if given.
async fn mcp_post(att: &TestAtt, session: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = att
        .http
        .post(att.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body);
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r.send().await.expect("POST /mcp")
}

#[tokio::test]
async fn a_clients_answer_to_an_upstreams_question_sent_to_another_att_completes_the_call() {
    let Some(db) = TestDatabase::create(
        "across_replicas::a_clients_answer_to_an_upstreams_question_sent_to_another_att",
    )
    .await
    else {
        return;
    };
    let (a, b) = (start_on(&db, |_| {}).await, start_on(&db, |_| {}).await);
    let upstream = crate::common::serve_fixture("web").await;
    let (status, body) = crate::common::post(
        &a,
        "/api/v1/mcp/servers",
        json!({"name": "web", "url": upstream.url}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A client that offers elicitation opens its session on A.
    let r = mcp_post(
        &a,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {"form": {}}},
            "clientInfo": {"name": "answers-elsewhere", "version": "0"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"]
        .to_str()
        .expect("id")
        .to_owned();
    Messages::of(r).next("initialize").await;
    let r = mcp_post(
        &a,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    eventually(
        "A lists the upstream's `ask`",
        Duration::from_secs(20),
        || async {
            let r = mcp_post(
                &a,
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            )
            .await;
            let listed = Messages::of(r).next("tools/list").await;
            let tools = listed["result"]["tools"].as_array().cloned()?;
            tools.iter().any(|t| t["name"] == "ask").then_some(())
        },
    )
    .await;

    // The client listens on A (rmcp stamps the relayed question with the upstream's request
    // id rather than the call's, so it comes on this stream rather than the call's).
    let r = a
        .http
        .get(a.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(r.status(), 200);
    let mut listening = Messages::of(r);

    // The call runs on A; the upstream asks during it.
    let r = mcp_post(
        &a,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "ask", "arguments": {"kind": "elicitation"}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut call = Messages::of(r);
    let question = loop {
        let m = listening.next("the upstream's question").await;
        if m["method"] == "elicitation/create" {
            break m;
        }
    };
    assert_eq!(
        question["params"]["message"], "web needs a name",
        "{question}"
    );

    // The balancer sends the answer to B.
    let r = mcp_post(
        &b,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": question["id"],
               "result": {"action": "accept", "content": {"name": "carol"}}}),
    )
    .await;
    assert_eq!(r.status(), 202, "B takes the answer");

    // A's call completes with it.
    let reply = loop {
        let m = call
            .next("the call's reply (A never got the answer B took)")
            .await;
        if m["id"] == 3 {
            break m;
        }
    };
    let answer = &reply["result"]["structuredContent"]["answer"];
    assert_eq!(answer["action"], "accept", "{reply}");
    assert_eq!(answer["content"]["name"], "carol", "{reply}");
    a.server.shutdown().await;
    b.server.shutdown().await;
}

#[tokio::test]
async fn an_event_stream_on_one_att_delivers_live_what_every_att_writes_in_order_once() {
    let Some(db) = TestDatabase::create(
        "across_replicas::an_event_stream_on_one_att_delivers_live_what_every_att_writes",
    )
    .await
    else {
        return;
    };
    let (a, b) = (start_on(&db, |_| {}).await, start_on(&db, |_| {}).await);
    let emit = |att: &TestAtt, i: i64| {
        let r = att
            .http
            .post(att.url("/api/v1/events"))
            .json(&json!({"kind": "test.across", "data": {"i": i}}))
            .send();
        async move {
            let r = r.await.expect("POST /api/v1/events");
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.expect("the event")["id"]
                .as_i64()
                .expect("id")
        }
    };
    let both = |i: i64| if i % 2 == 0 { &a } else { &b };

    // Live from now: B's event reaches A's stream without a reconnect.
    let r = a
        .http
        .get(a.url("/api/v1/events/stream?kind=test.across"))
        .send()
        .await
        .expect("GET stream");
    let mut live = Messages::of(r);
    let first = emit(&b, 0).await;
    let got = live.next("B's event on A's live stream").await;
    assert_eq!(
        (got["id"].as_i64(), &got["data"]["i"]),
        (Some(first), &json!(0))
    );

    // Resumed after an id while both write at once: every event after it, ascending, once.
    for i in 1..=5 {
        emit(both(i), i).await;
    }
    let r = a
        .http
        .get(a.url("/api/v1/events/stream?kind=test.across"))
        .header("last-event-id", first.to_string())
        .send()
        .await
        .expect("GET stream");
    let mut resumed = Messages::of(r);
    let written = futures_util::future::join_all((6..=15).map(|i| emit(both(i), i))).await;
    assert_eq!(written.len(), 10);
    let mut seen = Vec::new();
    for _ in 1..=15 {
        let e = resumed.next("the resumed stream").await;
        seen.push((
            e["id"].as_i64().expect("id"),
            e["data"]["i"].as_i64().expect("i"),
        ));
    }
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "ascending ids: {seen:?}"
    );
    let mut is: Vec<i64> = seen.iter().map(|(_, i)| *i).collect();
    is.sort_unstable();
    assert_eq!(
        is,
        (1..=15).collect::<Vec<_>>(),
        "each event once: {seen:?}"
    );
    // Nothing more was handed out than written: the next is the one written next.
    let last = emit(&b, 16).await;
    let next = resumed.next("the event after the burst").await;
    assert_eq!(next["id"].as_i64(), Some(last), "{next}");
    a.server.shutdown().await;
    b.server.shutdown().await;
}
