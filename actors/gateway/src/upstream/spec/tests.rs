//! The spec's parsing, validation, redaction and `mcpServers` conversion, table by table.

use super::*;
use serde_json::json;

fn parse(v: serde_json::Value) -> Result<UpstreamSpec, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[test]
fn http_and_stdio_specs_get_their_defaults() {
    let h = parse(json!({"name": "gh", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer x"}}))
        .expect("http spec");
    assert_eq!(h.priority, 100);
    assert_eq!(h.init_timeout, Duration::from_secs(10));
    assert_eq!(h.call_timeout, Duration::from_secs(30));
    let s = parse(
        json!({"name": "fs", "command": "mcp-fs", "args": ["--root", "/tmp"], "call_timeout": 5}),
    )
    .expect("stdio spec");
    assert_eq!(s.init_timeout, Duration::from_secs(30));
    assert_eq!(s.call_timeout, Duration::from_secs(5));
    assert!(matches!(s.transport, Transport::Stdio { ref args, .. } if args.len() == 2));
    let t = parse(json!({"name": "x", "url": "https://h/mcp", "health_interval": "1m 30s"}))
        .expect("text duration");
    assert_eq!(t.health_interval, Duration::from_secs(90));
}

#[test]
fn specs_round_trip_through_their_wire_form() {
    for v in [
        json!({"name": "a", "url": "http://h:1/mcp", "headers": {"X-A": "1"}, "priority": 3, "idempotent_tools": ["get"], "max_concurrent": 4}),
        json!({"name": "b", "command": "srv", "args": ["-v"], "env": {"K": "V"}, "cwd": "/tmp", "call_timeout": 1.5}),
        json!({"name": "c", "url": "https://h/sse", "transport": "sse", "headers": {"X-A": "1"}, "tls": {"insecure_skip_verify": true}}),
    ] {
        let spec = parse(v).expect("valid");
        let back = parse(serde_json::to_value(&spec).expect("serializes")).expect("re-parses");
        assert_eq!(spec, back);
    }
}

#[test]
fn invalid_specs_name_the_field() {
    let table = [
        (json!({"name": "bad name", "url": "http://h/mcp"}), "name"),
        (
            json!({"name": "x".repeat(65), "url": "http://h/mcp"}),
            "name",
        ),
        (json!({"name": "a"}), "url"),
        (
            json!({"name": "a", "url": "http://h/mcp", "command": "c"}),
            "url",
        ),
        (json!({"name": "a", "url": "ftp://h/mcp"}), "url"),
        (json!({"name": "a", "url": "http:///mcp"}), "url"),
        (
            json!({"name": "a", "url": "http://h/mcp", "args": ["x"]}),
            "args",
        ),
        (
            json!({"name": "a", "command": "c", "headers": {}}),
            "headers",
        ),
        (json!({"name": "a", "command": " "}), "command"),
        (
            json!({"name": "a", "command": "c", "max_concurrent": 0}),
            "max_concurrent",
        ),
        (
            json!({"name": "a", "command": "c", "max_concurrent": -1}),
            "expected u32",
        ),
        (
            json!({"name": "a", "command": "c", "call_timeout": 0}),
            "call_timeout",
        ),
        (
            json!({"name": "a", "command": "c", "call_timeout": "soon"}),
            "soon",
        ),
        (
            json!({"name": "a", "command": "c", "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "a", "url": "http://h/sse", "transport": "websocket"}),
            "websocket",
        ),
        (
            json!({"name": "a", "command": "c", "transport": "sse"}),
            "transport",
        ),
        (
            json!({"name": "a", "url": "http://h/mcp", "transport": "stdio"}),
            "transport",
        ),
        (
            json!({"name": "a", "url": "http://h/sse", "transport": "sse", "args": []}),
            "args",
        ),
        (
            json!({"name": "a", "url": "http://h/sse", "transport": "sse", "tls": {"insecure_skip_verify": true}}),
            "tls",
        ),
    ];
    for (v, field) in table {
        let e = parse(v.clone()).expect_err(&format!("{v} must be refused"));
        assert!(e.contains(field), "{v}: {e}");
    }
}

#[test]
fn urls_are_parsed_and_only_usable_http_endpoints_pass() {
    let table = [
        ("http://127.0.0.1:3000/mcp", true),
        ("https://example.com/mcp", true),
        ("http://[::1]:8080/mcp", true),
        ("http://user:pw@host/mcp?x=1#f", true),
        ("http://h/mcp\r\nX-Injected: 1", false),
        ("http://h/m\tcp", false),
        (" http://h/mcp", false),
        ("http://127.0.0.1:99999/mcp", false),
        ("http://127.0.0.1:0/mcp", false),
        ("http://[::1/mcp", false),
        ("http://exa mple.com/mcp", false),
        ("http:///mcp", false),
        ("http://:80/mcp", false),
        ("http:\\\\h\\mcp", false),
        ("http:/h/mcp", false),
        ("ftp://h/mcp", false),
        ("file:///etc/passwd", false),
        ("javascript:alert(1)", false),
        ("h/mcp", false),
        ("", false),
    ];
    for (url, ok) in table {
        let r = parse(json!({"name": "a", "url": url}));
        match (ok, r) {
            (true, Ok(_)) => {}
            (false, Err(e)) => assert!(e.starts_with("url: "), "{url:?}: {e}"),
            (want, got) => panic!("{url:?}: expected ok={want}, got {got:?}"),
        }
    }
}

#[test]
fn every_duration_is_refused_outside_its_range_naming_it() {
    let table = [
        ("call_timeout", json!(0), false),
        ("call_timeout", json!("1ms"), true),
        ("call_timeout", json!("1h"), true),
        ("call_timeout", json!("61m"), false),
        ("init_timeout", json!("0s"), false),
        ("init_timeout", json!("1h 1s"), false),
        ("health_interval", json!("1ns"), false),
        ("health_interval", json!("999ms"), false),
        ("health_interval", json!("1s"), true),
        ("health_interval", json!("24h"), true),
        ("health_interval", json!("25h"), false),
        ("max_init_age", json!("99999999999h"), false),
        ("max_init_age", json!("30days"), true),
        ("max_init_age", json!("31days"), false),
        ("max_init_age", json!(0.5), false),
    ];
    for (field, value, ok) in table {
        let mut v = json!({"name": "a", "url": "http://h/mcp"});
        v[field] = value.clone();
        match (ok, parse(v)) {
            (true, Ok(_)) => {}
            (false, Err(e)) => assert!(
                e.starts_with(&format!("{field}: ")) && e.contains("allowed from"),
                "{field} = {value}: {e}"
            ),
            (want, got) => panic!("{field} = {value}: expected ok={want}, got {got:?}"),
        }
    }
}

#[test]
fn a_stored_record_out_of_range_is_clamped_and_says_so() {
    let stored = json!({"name": "old", "url": "http://h/mcp", "max_init_age": "99999999999h",
                        "health_interval": "1ns", "call_timeout": "5s"});
    let (spec, clamped) = UpstreamSpec::from_stored(&stored.to_string()).expect("readable");
    assert_eq!(spec.max_init_age, duration::SESSION_AGE.max);
    assert_eq!(spec.health_interval, duration::HEALTH_INTERVAL.min);
    assert_eq!(spec.call_timeout, Duration::from_secs(5));
    let fields: Vec<&str> = clamped.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["health_interval", "max_init_age"]);
}

#[test]
fn redacted_specs_keep_names_and_hide_values() {
    let http = parse(json!({"name": "gh", "url": "http://me:pw12@h/mcp",
                            "headers": {"Authorization": "Bearer ghp_secret"}}))
    .expect("http");
    let shown = serde_json::to_string(&http.redacted()).expect("json");
    assert!(
        !shown.contains("ghp_secret") && !shown.contains(":pw12@"),
        "{shown}"
    );
    assert!(
        shown.contains("Authorization") && shown.contains(REDACTED),
        "{shown}"
    );
    let stdio =
        parse(json!({"name": "fs", "command": "srv", "env": {"TOKEN": "s3cret"}})).expect("stdio");
    let shown = serde_json::to_string(&stdio.redacted()).expect("json");
    assert!(
        !shown.contains("s3cret") && shown.contains("TOKEN"),
        "{shown}"
    );
    let said =
        http.scrub("error sending request for url (http://me:pw12@h/mcp): Bearer ghp_secret");
    assert_eq!(
        said,
        "error sending request for url (http://me:•••@h/mcp): •••"
    );
    assert_eq!(stdio.scrub("env s3cret leaked"), "env ••• leaked");
}

#[test]
fn a_tls_table_belongs_to_an_https_url_and_is_omitted_when_unset() {
    let s = parse(json!({"name": "h", "url": "https://h/mcp", "tls": {"ca_file": "/etc/ca.pem"}}))
        .expect("https with a CA");
    let tls = s.tls.clone().expect("tls kept");
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    let wire = serde_json::to_value(&s).expect("serializes");
    assert_eq!(wire["tls"], json!({"ca_file": "/etc/ca.pem"}));
    assert_eq!(parse(wire).expect("re-parses"), s);

    let plain = parse(json!({"name": "p", "url": "https://h/mcp", "tls": {}})).expect("empty");
    assert_eq!(plain.tls, None, "an empty table is no table");
    let wire = serde_json::to_value(&plain).expect("serializes");
    assert!(wire.get("tls").is_none(), "{wire}");

    let table = [
        (
            json!({"name": "a", "url": "http://h/mcp", "tls": {"ca_file": "/c"}}),
            "tls",
        ),
        (
            json!({"name": "a", "command": "c", "tls": {"ca_file": "/c"}}),
            "tls",
        ),
        (
            json!({"name": "a", "url": "https://h/mcp", "tls": {"client_cert": "/c"}}),
            "tls.client_key",
        ),
        (
            json!({"name": "a", "url": "https://h/mcp", "tls": {"client_key": "/k"}}),
            "tls.client_cert",
        ),
        (
            json!({"name": "a", "url": "https://h/mcp", "tls": {"ca_file": "ca.pem"}}),
            "tls.ca_file",
        ),
        (
            json!({"name": "a", "url": "https://h/mcp", "tls": {"verify": false}}),
            "unknown field",
        ),
    ];
    for (v, field) in table {
        let e = parse(v.clone()).expect_err("refused");
        assert!(e.contains(field), "{v}: {e}");
    }
}

#[test]
fn a_url_speaks_streamable_http_unless_the_transport_says_sse_which_is_written_back() {
    let table = [
        (json!({"name": "a", "url": "http://h/mcp"}), false),
        (
            json!({"name": "a", "url": "http://h/mcp", "transport": "http"}),
            false,
        ),
        (
            json!({"name": "a", "url": "http://h/mcp", "transport": "streamable-http"}),
            false,
        ),
        (
            json!({"name": "a", "url": "http://h/sse", "transport": "sse"}),
            true,
        ),
    ];
    for (v, sse) in table {
        let spec = parse(v.clone()).expect("valid");
        assert_eq!(
            matches!(spec.transport, Transport::Sse { .. }),
            sse,
            "{v}: {:?}",
            spec.transport
        );
        let wire = serde_json::to_value(&spec).expect("serializes");
        let written = wire.get("transport").cloned();
        assert_eq!(written, sse.then(|| json!("sse")), "{v} written as {wire}");
    }
    let stdio = parse(json!({"name": "a", "command": "c", "transport": "stdio"})).expect("valid");
    assert!(matches!(stdio.transport, Transport::Stdio { .. }));
    let sse = parse(json!({"name": "a", "url": "http://u:pw12@h/sse", "transport": "sse", "headers": {"Authorization": "Bearer s3cret"}}))
        .expect("valid");
    let shown = serde_json::to_string(&sse.redacted()).expect("serializes");
    assert!(
        !shown.contains("s3cret") && !shown.contains("pw12"),
        "{shown}"
    );
    assert_eq!(
        sse.scrub("GET failed: Bearer s3cret"),
        format!("GET failed: {REDACTED}")
    );
}
