//! OpenTelemetry traces end to end: a real `att serve` exports its spans over OTLP/HTTP to a
//! collector in this test (decoding real protobuf with the `opentelemetry-proto` types).
//!
//! - One `/mcp` tool call made with a client `traceparent`: the client's trace goes on in att
//!   (HTTP request span → upstream-call span, an actor-message span in the tree), and the
//!   upstream (the rmcp fixture over HTTP) receives a `traceparent` — header and `_meta` —
//!   whose parent is att's upstream-call span.
//! - A release run's phase is a span, under the request that started the run.
//! - A collector that never answers costs the calls nothing: they all complete, and the
//!   spans that did not fit in the queue are dropped and counted.

use crate::common::{self, AttProcess, eventually};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// What the test collector received: every span, with its resource's `service.name`.
#[derive(Default)]
struct Received {
    spans: Mutex<Vec<(String, Span)>>,
}

impl Received {
    fn spans(&self) -> Vec<Span> {
        let spans = self.spans.lock().unwrap_or_else(|p| p.into_inner());
        spans.iter().map(|(_, s)| s.clone()).collect()
    }
}

/// An OTLP/HTTP collector on 127.0.0.1: its base URL and what it received.
async fn collector() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    let state = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let mut spans = state.spans.lock().unwrap_or_else(|p| p.into_inner());
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        for span in ss.spans {
                            spans.push((service.clone(), span));
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

fn text(value: &Any) -> Option<String> {
    match value {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A span's attribute, as text.
fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            Any::IntValue(i) => Some(i.to_string()),
            Any::BoolValue(b) => Some(b.to_string()),
            Any::DoubleValue(d) => Some(d.to_string()),
            _ => None,
        })
}

/// An HTTP client whose every request is bounded: an att held up by its exporter fails the
/// test instead of hanging it.
fn bounded_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `span`'s ancestors in `spans`, nearest first.
fn ancestors<'a>(spans: &'a [Span], span: &Span) -> Vec<&'a Span> {
    let mut chain = Vec::new();
    let mut parent = span.parent_span_id.clone();
    while !parent.is_empty() {
        let Some(p) = spans.iter().find(|s| s.span_id == parent) else {
            break;
        };
        chain.push(p);
        parent = p.parent_span_id.clone();
        if chain.len() > 64 {
            break;
        }
    }
    chain
}

/// `att serve` exporting to `endpoint`, quickly.
fn att_exporting(dir: &tempfile::TempDir, endpoint: &str, extra: &[(&str, &str)]) -> AttProcess {
    let mut env = vec![
        ("ATT_TELEMETRY__OTLP_ENDPOINT", endpoint),
        ("ATT_TELEMETRY__SERVICE_NAME", "att-under-test"),
        ("ATT_TELEMETRY__EXPORT_INTERVAL", "20ms"),
    ];
    env.extend_from_slice(extra);
    AttProcess::start_with_env(&dir.path().join("data"), &[], &env)
}

async fn register(att: &AttProcess, name: &str, url: &str) {
    let http = bounded_client();
    let r = http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&json!({"name": name, "url": url}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    eventually("the upstream's tools", Duration::from_secs(10), || async {
        let tools: serde_json::Value = http
            .get(att.url("/api/v1/mcp/tools"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        tools["items"]
            .as_array()?
            .iter()
            .any(|t| t["name"] == "echo")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_tool_call_s_spans_continue_the_client_s_trace_and_reach_the_upstream() {
    let (endpoint, received) = collector().await;
    let upstream = common::serve_fixture("traced").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let att = att_exporting(&dir, &endpoint, &[]);
    register(&att, "traced", &upstream.url).await;

    let client_parent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let headers = HashMap::from([
        (
            axum::http::HeaderName::from_static("traceparent"),
            axum::http::HeaderValue::from_str(&client_parent).expect("header"),
        ),
        (
            axum::http::HeaderName::from_static("tracestate"),
            axum::http::HeaderValue::from_static("client=yes"),
        ),
    ]);
    let config =
        StreamableHttpClientTransportConfig::with_uri(att.url("/mcp")).custom_headers(headers);
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("connects to att's /mcp");
    let args = json!({"text": "hi"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let r = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .expect("echo through att");
    assert_eq!(
        r.structured_content,
        Some(json!({"server": "traced", "text": "hi"}))
    );

    // The upstream call's span, once exported, with the HTTP request span above it.
    let spans = eventually("the call's spans", Duration::from_secs(10), || async {
        let spans = received.spans();
        let call = spans.iter().find(|s| s.name == "upstream_call")?;
        let chain = ancestors(&spans, call);
        let http = chain.iter().any(|s| s.name == "http");
        let actor = spans.iter().any(|s| {
            s.name == "actor_message" && hex(&s.trace_id) == TRACE && {
                ancestors(&spans, s).iter().any(|a| a.name == "http")
            }
        });
        (http && actor).then_some(spans)
    })
    .await;
    let call = spans
        .iter()
        .find(|s| s.name == "upstream_call")
        .expect("an upstream call span");
    assert_eq!(
        hex(&call.trace_id),
        TRACE,
        "the client's trace goes on in att"
    );
    assert_eq!(attr(call, "server").as_deref(), Some("traced"));
    assert_eq!(attr(call, "method").as_deref(), Some("tools/call"));
    assert_eq!(attr(call, "tool").as_deref(), Some("echo"));
    assert_eq!(attr(call, "attempt").as_deref(), Some("1"));
    assert_eq!(attr(call, "outcome").as_deref(), Some("success"));
    assert_eq!(call.kind, 3, "CLIENT");
    assert_eq!(call.trace_state, "client=yes");
    let chain = ancestors(&spans, call);
    let http = chain
        .iter()
        .find(|s| s.name == "http")
        .expect("the HTTP request span above the call");
    assert_eq!(attr(http, "route").as_deref(), Some("/mcp"));
    assert_eq!(attr(http, "method").as_deref(), Some("POST"));
    assert_eq!(attr(http, "status").as_deref(), Some("200"));
    assert_eq!(http.kind, 2, "SERVER");
    assert_eq!(
        hex(&http.parent_span_id),
        CLIENT_SPAN,
        "the request span's parent is the client's span"
    );
    let actor = spans
        .iter()
        .find(|s| {
            s.name == "actor_message"
                && ancestors(&spans, s)
                    .iter()
                    .any(|a| a.span_id == http.span_id)
        })
        .expect("an actor message nested under the request");
    assert!(attr(actor, "actor").is_some(), "{actor:?}");
    let services = received.spans.lock().expect("lock")[0].0.clone();
    assert_eq!(services, "att-under-test");

    // The upstream got the trace: as a header and in `_meta`, the call's span as parent.
    let expected = format!("00-{TRACE}-{}-01", hex(&call.span_id));
    let seen = upstream
        .fixture
        .state
        .traces
        .lock()
        .expect("lock")
        .iter()
        .rfind(|t| t.tool == "echo")
        .cloned()
        .expect("the fixture saw the call");
    assert_eq!(seen.header.as_deref(), Some(expected.as_str()), "{seen:?}");
    assert_eq!(seen.meta.as_deref(), Some(expected.as_str()), "{seen:?}");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_garbage_traceparent_is_ignored_and_the_call_starts_a_trace_of_its_own() {
    let (endpoint, received) = collector().await;
    let upstream = common::serve_fixture("garbage").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let att = att_exporting(&dir, &endpoint, &[]);
    register(&att, "garbage", &upstream.url).await;
    let r = bounded_client()
        .post(att.url("/api/v1/mcp/invoke/tool"))
        .header("traceparent", "00-NOT-A-TRACE-01")
        .json(&json!({"tool_name": "echo", "arguments": {"text": "x"}}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // The request's span ends after its response is sent, so it may be exported in a later
    // batch than the call's: wait for both.
    let spans = eventually(
        "the call's span under its request's",
        Duration::from_secs(10),
        || async {
            let spans = received.spans();
            let call = spans.iter().find(|s| s.name == "upstream_call")?;
            let under_http = ancestors(&spans, call).iter().any(|s| s.name == "http");
            under_http.then_some(spans)
        },
    )
    .await;
    let call = spans
        .iter()
        .find(|s| s.name == "upstream_call")
        .expect("call");
    let http = ancestors(&spans, call)
        .into_iter()
        .find(|s| s.name == "http")
        .expect("request span");
    assert!(http.parent_span_id.is_empty(), "a root: {http:?}");
    assert_eq!(
        attr(http, "route").as_deref(),
        Some("/api/v1/mcp/invoke/tool")
    );
}

#[tokio::test]
async fn a_release_phase_is_a_span_under_the_request_that_started_the_run() {
    let (endpoint, received) = collector().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let config = dir.path().join("att.toml");
    let service = env!("CARGO_BIN_EXE_att-fixture-service");
    std::fs::write(
        &config,
        format!(
            "[[services]]\nname = \"web\"\ncommand = \"{service}\"\n\
             args = [\"--port\", \"{port}\", \"--release\", \"r0\"]\n\
             health = {{ kind = \"http\", url = \"http://127.0.0.1:{port}/health\" }}\n"
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let att = att_exporting(&dir, &endpoint, &[("ATT_CONFIG", config.as_str())]);
    // An unregistered release fails at `resolve`: the cheapest run there is.
    let r = bounded_client()
        .post(att.url("/api/v1/bootstrap/runs"))
        .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
        .json(&json!({"target": "service:web", "requested_release_id": "nope"}))
        .send()
        .await
        .expect("run");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let spans = eventually(
        "the resolve phase's span",
        Duration::from_secs(20),
        || async {
            let spans = received.spans();
            spans
                .iter()
                .any(|s| s.name == "release_phase")
                .then_some(spans)
        },
    )
    .await;
    let phase = spans
        .iter()
        .find(|s| s.name == "release_phase")
        .expect("phase");
    assert_eq!(attr(phase, "phase").as_deref(), Some("resolve"));
    assert_eq!(attr(phase, "target").as_deref(), Some("service:web"));
    assert_eq!(attr(phase, "status").as_deref(), Some("failed"));
    let status = phase.status.as_ref().expect("a failed phase has a status");
    assert_eq!(status.code, 2, "ERROR");
    assert!(status.message.contains("`nope`"), "{status:?}");
    assert_eq!(hex(&phase.trace_id), TRACE);
    let chain = ancestors(&spans, phase);
    let names: Vec<&str> = chain.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"actor_message"), "{names:?}");
    let http = chain
        .iter()
        .find(|s| s.name == "http")
        .unwrap_or_else(|| panic!("the request above the phase: {names:?}"));
    assert_eq!(
        attr(http, "route").as_deref(),
        Some("/api/v1/bootstrap/runs")
    );
}

#[tokio::test]
async fn a_collector_that_never_answers_does_not_hold_up_calls() {
    // Accepts connections and never reads or answers them.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", hung.local_addr().expect("addr"));
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = hung.accept().await {
            keep.lock().unwrap_or_else(|p| p.into_inner()).push(socket);
        }
    });
    let upstream = common::serve_fixture("patient").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let att = att_exporting(
        &dir,
        &endpoint,
        &[
            ("ATT_TELEMETRY__EXPORT_QUEUE", "4"),
            ("ATT_TELEMETRY__EXPORT_BATCH", "2"),
            ("ATT_TELEMETRY__EXPORT_TIMEOUT", "10m"),
        ],
    );
    register(&att, "patient", &upstream.url).await;
    let http = bounded_client();
    for i in 0..30 {
        let call = http
            .post(att.url("/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": format!("{i}")}}))
            .send();
        let r = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .unwrap_or_else(|_| panic!("call {i} waited on the hung collector"))
            .expect("invoke");
        assert_eq!(r.status(), 200, "call {i}");
    }
    eventually("att's export attempt", Duration::from_secs(10), || async {
        (!held.lock().unwrap_or_else(|p| p.into_inner()).is_empty()).then_some(())
    })
    .await;
    let metrics = http
        .get(att.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in:\n{metrics}"))
    };
    assert!(count("att_otlp_spans_dropped_total") > 0, "{metrics}");
    assert_eq!(count("att_otlp_spans_exported_total"), 0);
}
