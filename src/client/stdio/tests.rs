//! The bridge's pure parts: back-off, framing, what it tracks.

use super::lines::{Line, read_line};
use super::*;

#[test]
fn backoff_starts_at_once_doubles_and_is_capped() {
    let got: Vec<u64> = (0..10).map(|a| backoff(a).as_millis() as u64).collect();
    assert_eq!(got, [0, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
}

#[tokio::test]
async fn lines_parse_skip_blanks_and_bad_ones_are_parse_errors() {
    let text = b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\nnot json\n";
    let mut input = tokio::io::BufReader::new(&text[..]);
    assert!(matches!(read_line(&mut input).await, Ok(Line::Message(_))));
    match read_line(&mut input).await {
        Ok(Line::Bad(e)) => assert!(e.message.contains("not a JSON-RPC message"), "{e:?}"),
        _ => panic!("a parse error"),
    }
    assert!(matches!(read_line(&mut input).await, Ok(Line::End)));
}

#[test]
fn the_bridge_tracks_initialize_subscriptions_and_requests_in_flight() {
    let remote = crate::cli::Remote {
        att_url: "http://127.0.0.1:9".into(),
        token: None,
        ca_file: None,
        client_cert: None,
        client_key: None,
    };
    let client = crate::client::http_client(&remote).expect("client");
    let mut b = Bridge::new("http://127.0.0.1:9/mcp".into(), None, client);
    let msg = |v: serde_json::Value| -> ClientJsonRpcMessage {
        serde_json::from_value(v).expect("message")
    };
    b.observe(&msg(
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}),
    ));
    b.observe(&msg(serde_json::json!({"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"r://a"}})));
    b.observe(&msg(serde_json::json!({"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"r://b"}})));
    b.observe(&msg(serde_json::json!({"jsonrpc":"2.0","id":4,"method":"resources/unsubscribe","params":{"uri":"r://a"}})));
    b.observe(&msg(
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ));
    assert!(b.initialize.is_some());
    assert_eq!(b.subscriptions.iter().collect::<Vec<_>>(), ["r://b"]);
    assert_eq!(b.in_flight.len(), 4);
    let copy = b.own_copy(b.initialize.clone().expect("init"));
    let id = request_id(&copy).expect("a request");
    assert!(is_own(&id), "{id:?}");
    assert!(!is_own(&NumberOrString::Number(1)));
}
