//! HTTPS end to end: upstreams served with certificates from a CA made in the test (rcgen),
//! registered with `tls.ca_file`, client certificates and the insecure switch; the handshake
//! failures named (unknown issuer, name mismatch, expired, client certificate required);
//! att's own listener over HTTPS, its certificate reloaded without a restart, and client
//! certificates it requires (`[http] tls_client_ca`).

pub(crate) mod pki;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::common::{self, AttProcess, TestAtt, eventually};
use pki::{HttpsFixture, Leaf, Pki, serve_https, server_config};

const LIMIT: Duration = Duration::from_secs(10);

/// An HTTPS fixture for 127.0.0.1 signed by `pki`'s CA.
async fn https_fixture(pki: &Pki, name: &str) -> HttpsFixture {
    let pair = pki.issue(name, Leaf::Server(&["127.0.0.1", "localhost"]));
    serve_https(name, server_config(&pair, None)).await
}

/// Invokes `echo` on `preferred` first until it answers; the answer.
async fn echo_via(att: &TestAtt, preferred: &str) -> Value {
    let body = json!({"tool_name": "echo", "arguments": {"text": "over tls"}, "preferred_servers": [preferred]});
    eventually("echo is routable", LIMIT, || async {
        let (status, v) = common::post(att, "/api/v1/mcp/invoke/tool", body.clone()).await;
        (status == 200).then_some(v)
    })
    .await
}

/// The upstream's state once its last failure says something.
async fn failed_state(att: &TestAtt, name: &str) -> Value {
    eventually("the upstream reports a failure", LIMIT, || async {
        let v = att.get_json(&format!("/api/v1/mcp/servers/{name}")).await;
        v["state"]["last_error"]
            .is_string()
            .then_some(v["state"].clone())
    })
    .await
}

#[tokio::test]
async fn an_https_upstream_registered_with_its_ca_routes_and_fails_over() {
    let pki = Pki::new("replicas");
    let a = https_fixture(&pki, "a").await;
    let b = https_fixture(&pki, "b").await;
    let att = TestAtt::start().await;
    for (name, url) in [("a", &a.url), ("b", &b.url)] {
        let (status, v) = common::post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": name, "url": url, "tls": {"ca_file": pki.ca_file}}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["tls"], json!({"ca_file": pki.ca_file}), "{v}");
    }
    let v = echo_via(&att, "a").await;
    assert_eq!(v["server"], "a", "{v}");
    drop(a);
    let v = echo_via(&att, "a").await;
    assert_eq!(v["server"], "b", "a stopped: b answers: {v}");
}

#[tokio::test]
async fn without_the_ca_the_failure_names_the_unknown_issuer() {
    let pki = Pki::new("unknown");
    let up = https_fixture(&pki, "stranger").await;
    let att = TestAtt::start().await;
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "stranger", "url": up.url}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let state = failed_state(&att, "stranger").await;
    let error = state["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("unknown issuer"), "{state}");
    assert!(error.contains("tls.ca_file"), "{state}");
    assert_eq!(state["last_error_category"], "tls", "{state}");
}

#[tokio::test]
async fn a_certificate_for_another_name_or_expired_is_named_as_such() {
    let pki = Pki::new("bad-leaves");
    let other = pki.issue("other", Leaf::Server(&["other.example"]));
    let expired = pki.issue("expired", Leaf::ExpiredServer);
    let mismatch = serve_https("mismatch", server_config(&other, None)).await;
    let old = serve_https("old", server_config(&expired, None)).await;
    let att = TestAtt::start().await;
    for (name, url, want) in [
        ("mismatch", &mismatch.url, "name mismatch"),
        ("old", &old.url, "expired"),
    ] {
        let (status, v) = common::post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": name, "url": url, "tls": {"ca_file": pki.ca_file}}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let state = failed_state(&att, name).await;
        let error = state["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{name}: {state}");
        assert_eq!(state["last_error_category"], "tls", "{state}");
    }
}

#[tokio::test]
async fn a_server_requiring_mtls_is_reached_with_the_client_certificate_only() {
    let pki = Pki::new("mtls");
    let server = pki.issue("server", Leaf::Server(&["127.0.0.1"]));
    let client = pki.issue("client", Leaf::Client);
    let up = serve_https("guarded", server_config(&server, Some(&pki.ca_file))).await;
    let att = TestAtt::start().await;
    let with_cert =
        json!({"ca_file": pki.ca_file, "client_cert": client.cert, "client_key": client.key});
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "with-cert", "url": up.url, "tls": with_cert}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "no-cert", "url": up.url, "tls": {"ca_file": pki.ca_file}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // A client certificate from a CA the server does not trust.
    let other = Pki::new("stranger");
    let stranger = other.issue("client", Leaf::Client);
    let wrong_cert =
        json!({"ca_file": pki.ca_file, "client_cert": stranger.cert, "client_key": stranger.key});
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "wrong-cert", "url": up.url, "tls": wrong_cert}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v = echo_via(&att, "with-cert").await;
    assert_eq!(v["server"], "with-cert", "{v}");
    for (name, want) in [
        ("no-cert", "client certificate required"),
        ("wrong-cert", "client certificate rejected"),
    ] {
        let state = failed_state(&att, name).await;
        let error = state["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(want), "{name}: {state}");
        assert_eq!(state["last_error_category"], "tls", "{state}");
    }
}

#[tokio::test]
async fn insecure_skip_verify_reaches_an_untrusted_server_and_says_so_in_the_log() {
    let pki = Pki::new("insecure");
    let up = https_fixture(&pki, "untrusted").await;
    let data = tempfile::tempdir().expect("data");
    let att = AttProcess::start(data.path(), &[]);
    let http = reqwest::Client::new();
    let r = http
        .post(att.url("/api/v1/mcp/servers"))
        .json(&json!({"name": "untrusted", "url": up.url, "tls": {"insecure_skip_verify": true}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    let body = json!({"tool_name": "echo", "arguments": {"text": "x"}});
    let v: Value = eventually("echo answers", LIMIT, || async {
        let r = http
            .post(att.url("/api/v1/mcp/invoke/tool"))
            .json(&body)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    })
    .await;
    assert_eq!(v["server"], "untrusted", "{v}");
    let log = att.stderr();
    assert!(
        log.contains("TLS certificate verification is OFF") && log.contains("untrusted"),
        "{log}"
    );
}

#[tokio::test]
async fn a_tls_file_that_cannot_be_used_is_refused_at_registration() {
    let pki = Pki::new("refused");
    let not_pem = pki.dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is no certificate").expect("write");
    let client = pki.issue("client", Leaf::Client);
    let att = TestAtt::start().await;
    let cases = [
        (
            json!({"ca_file": "/nonexistent/ca.pem"}),
            "tls.ca_file",
            "cannot read",
        ),
        (json!({"ca_file": not_pem}), "tls.ca_file", "no certificate"),
        (
            json!({"ca_file": "relative/ca.pem"}),
            "tls.ca_file",
            "absolute",
        ),
        (
            json!({"client_cert": client.cert}),
            "tls.client_key",
            "set both",
        ),
        (
            // A certificate file where the key should be.
            json!({"client_cert": client.cert, "client_key": client.cert}),
            "tls.client_key",
            "no PEM private key",
        ),
    ];
    for (tls, field, want) in cases {
        let (status, v) = common::post(
            &att,
            "/api/v1/mcp/servers",
            json!({"name": "refused", "url": "https://127.0.0.1:9/mcp", "tls": tls}),
        )
        .await;
        assert_eq!(status, 422, "{tls}: {v}");
        let text = v.to_string();
        assert!(text.contains(field) && text.contains(want), "{tls}: {v}");
    }
    let key = std::fs::read_to_string(&client.key).expect("key");
    let (_, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "refused", "url": "https://127.0.0.1:9/mcp",
               "tls": {"client_cert": client.key, "client_key": client.key}}),
    )
    .await;
    assert!(
        !v.to_string().contains(key.lines().nth(1).unwrap_or("-")),
        "{v}"
    );
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "plain", "url": "http://127.0.0.1:9/mcp", "tls": {"ca_file": pki.ca_file}}),
    )
    .await;
    assert_eq!(status, 422, "tls with http://: {v}");
    let (status, v) = common::post(
        &att,
        "/api/v1/mcp/servers",
        json!({"name": "child", "command": "true", "tls": {"ca_file": pki.ca_file}}),
    )
    .await;
    assert_eq!(status, 422, "tls with stdio: {v}");
}

/// An `mcpServers` file (`--mcp-config`) whose remote entry carries a `tls` table with the
/// CA (its path from `${VAR}`): the HTTPS upstream routes; an entry whose CA file is missing
/// is skipped at start with the field and file named, and the rest runs.
#[tokio::test]
async fn an_mcp_config_entry_with_a_tls_table_reaches_an_https_upstream() {
    let pki = Pki::new("mcp-config");
    let up = https_fixture(&pki, "hosted").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mcp.json");
    let doc = json!({"mcpServers": {
        "hosted": {"type": "http", "url": up.url, "tls": {"ca_file": "${MCP_TEST_CERTS}/ca.pem"}},
        "lost": {"url": up.url, "tls": {"ca_file": "${MCP_TEST_CERTS}/missing.pem"}},
    }});
    std::fs::write(&file, doc.to_string()).expect("write");
    let certs = pki.ca_file.parent().expect("the CA's directory");
    assert_eq!(pki.ca_file.file_name(), Some("ca.pem".as_ref()));
    let att = AttProcess::start_with_env(
        &dir.path().join("data"),
        &["--mcp-config", file.to_str().expect("utf-8 path")],
        &[("MCP_TEST_CERTS", certs.to_str().expect("utf-8 path"))],
    );
    let http = reqwest::Client::new();
    let body = json!({"tool_name": "echo", "arguments": {"text": "via mcp.json"}});
    let v: Value = eventually(
        "echo through the imported HTTPS upstream",
        LIMIT,
        || async {
            let r = http
                .post(att.url("/api/v1/mcp/invoke/tool"))
                .json(&body)
                .send()
                .await
                .ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json().await.ok()
        },
    )
    .await;
    assert_eq!(v["server"], "hosted", "{v}");
    let servers: Value = http
        .get(att.url("/api/v1/mcp/servers"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = servers["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["hosted"], "{servers}");
    assert_eq!(servers["servers"][0]["tls"]["ca_file"], json!(pki.ca_file));
    let stderr = att.stderr();
    assert!(
        stderr.contains("skipped `lost`: tls.ca_file:") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}

/// An att serving HTTPS with `pair`, and its https base URL.
async fn https_att(pair: &pki::Pair) -> (TestAtt, String) {
    https_att_asking(pair, None).await
}

/// An att serving HTTPS with `pair` that, with `client_ca`, requires client certificates
/// signed by it; and its https base URL.
async fn https_att_asking(
    pair: &pki::Pair,
    client_ca: Option<&std::path::Path>,
) -> (TestAtt, String) {
    let (cert, key) = (pair.cert.clone(), pair.key.clone());
    let client_ca = client_ca.map(std::path::Path::to_path_buf);
    let att = TestAtt::start_with(move |c| {
        c.http.tls_cert = Some(cert);
        c.http.tls_key = Some(key);
        c.http.tls_client_ca = client_ca;
    })
    .await;
    let base = format!("https://{}", att.server.local_addr);
    (att, base)
}

#[tokio::test]
async fn att_over_https_serves_the_api_and_mcp_to_an_sdk_client() {
    let pki = Pki::new("listener");
    let pair = pki.issue("att", Leaf::Server(&["127.0.0.1"]));
    let (_att, base) = https_att(&pair).await;
    let http = pki::client_trusting(&pki.ca_file);
    let r = http
        .get(format!("{base}/api/v1/mcp/servers"))
        .send()
        .await
        .expect("GET over HTTPS");
    assert_eq!(r.status(), 200);
    let plain = reqwest::Client::new()
        .get(format!("{base}/api/v1/mcp/servers"))
        .send()
        .await;
    assert!(plain.is_err(), "the platform does not trust the test CA");

    let up = common::serve_fixture("behind").await;
    let r = http
        .post(format!("{base}/api/v1/mcp/servers"))
        .json(&json!({"name": "behind", "url": up.url}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
    let client = ().serve(transport).await.expect("MCP over HTTPS");
    let text = eventually("echo through att's HTTPS /mcp", LIMIT, || async {
        let args = json!({"text": "secure"}).as_object().cloned();
        let mut call = CallToolRequestParams::new("echo");
        if let Some(args) = args {
            call = call.with_arguments(args);
        }
        let result = client.call_tool(call).await.ok()?;
        (result.is_error != Some(true)).then(|| serde_json::to_string(&result.content).ok())?
    })
    .await;
    assert!(text.contains("secure"), "{text}");
    let _ = client.cancel().await;
}

/// `[http] tls_client_ca`: a client with a certificate the CA signed is served (the API, an
/// SDK client on `/mcp`, the CLI with `--client-cert`); one without a certificate, or with a
/// stranger's, fails the handshake; a new CA file is used for the next connection.
#[tokio::test]
async fn att_with_a_client_ca_serves_only_clients_with_a_certificate_it_signed() {
    let pki = Pki::new("listener-mtls");
    let pair = pki.issue("att", Leaf::Server(&["127.0.0.1"]));
    let member = pki.issue("member", Leaf::Client);
    let stranger_pki = Pki::new("listener-stranger");
    let stranger = stranger_pki.issue("stranger", Leaf::Client);
    let client_ca = pki.dir.path().join("clients.pem");
    std::fs::copy(&pki.ca_file, &client_ca).expect("client CA");
    let (_att, base) = https_att_asking(&pair, Some(&client_ca)).await;
    let url = format!("{base}/api/v1/mcp/servers");
    let with_cert = pki::client_presenting(&pki.ca_file, &member);
    let r = with_cert.get(&url).send().await.expect("a member's GET");
    assert_eq!(r.status(), 200);
    let without = pki::client_trusting(&pki.ca_file);
    let e = without.get(&url).send().await.expect_err("no certificate");
    let strangers = pki::client_presenting(&pki.ca_file, &stranger);
    let e2 = strangers.get(&url).send().await.expect_err("a stranger's");
    eprintln!("refused: {e:?}\nrefused: {e2:?}");

    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    let transport = StreamableHttpClientTransport::with_client(with_cert.clone(), config);
    let client = ().serve(transport).await.expect("MCP with a client certificate");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(!tools.is_empty(), "att's own tools are listed");
    let _ = client.cancel().await;

    // The CLI presents a certificate with --client-cert/--client-key, and is refused without.
    let cli = {
        let (base, ca) = (base.clone(), pki.ca_file.clone());
        let (cert, key) = (member.cert.clone(), member.key.clone());
        move |with_cert: bool| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_att"));
            cmd.args(["mcp", "servers", "--att-url", &base])
                .arg("--ca-file")
                .arg(&ca);
            for var in ["ATT_CA_FILE", "ATT_CLIENT_CERT", "ATT_CLIENT_KEY"] {
                cmd.env_remove(var);
            }
            if with_cert {
                cmd.arg("--client-cert")
                    .arg(&cert)
                    .arg("--client-key")
                    .arg(&key);
            }
            cmd.output().expect("att mcp servers")
        }
    };
    let (with, without) = tokio::task::spawn_blocking(move || (cli(true), cli(false)))
        .await
        .expect("join");
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(!without.status.success(), "no client certificate");

    // The CA file now names the stranger's CA: the next connection uses it.
    std::fs::copy(&stranger_pki.ca_file, &client_ca).expect("rotate the client CA");
    let r = strangers
        .get(&url)
        .send()
        .await
        .expect("the stranger, now trusted");
    assert_eq!(r.status(), 200);
    assert!(
        with_cert.get(&url).send().await.is_err(),
        "the member, no longer"
    );
}

#[tokio::test]
async fn att_reloads_its_certificate_without_a_restart_and_keeps_it_if_the_new_one_is_broken() {
    let first = Pki::new("first");
    let second = Pki::new("second");
    let pair = first.issue("att", Leaf::Server(&["127.0.0.1"]));
    let (_att, base) = https_att(&pair).await;
    let url = format!("{base}/api/v1/mcp/servers");
    let trusts_first = pki::client_trusting(&first.ca_file);
    let trusts_second = pki::client_trusting(&second.ca_file);
    assert_eq!(
        trusts_first.get(&url).send().await.expect("GET").status(),
        200
    );

    // A half-written renewal: the old certificate stays.
    std::fs::write(&pair.cert, "-----BEGIN CERTIFICATE-----\ntruncated").expect("write");
    assert_eq!(
        trusts_first
            .get(&url)
            .send()
            .await
            .expect("still served")
            .status(),
        200
    );

    let renewed = second.issue("att", Leaf::Server(&["127.0.0.1"]));
    std::fs::copy(&renewed.key, &pair.key).expect("key");
    std::fs::copy(&renewed.cert, &pair.cert).expect("cert");
    let r = trusts_second
        .get(&url)
        .send()
        .await
        .expect("the renewed certificate");
    assert_eq!(r.status(), 200);
    assert!(
        trusts_first.get(&url).send().await.is_err(),
        "the old one is gone"
    );
}

#[tokio::test]
async fn the_cli_reaches_an_https_att_with_its_ca_file() {
    let pki = Pki::new("cli");
    let pair = pki.issue("att", Leaf::Server(&["127.0.0.1"]));
    let (_att, base) = https_att(&pair).await;
    let run = move |ca: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_att"));
        cmd.args(["mcp", "servers", "--att-url", &base]);
        cmd.env_remove("ATT_CA_FILE");
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd.output().expect("att mcp servers")
    };
    let out = tokio::task::spawn_blocking({
        let ca = pki.ca_file.clone();
        move || (run(Some(&ca)), run(None))
    })
    .await
    .expect("join");
    let (with_ca, without) = out;
    assert!(
        with_ca.status.success(),
        "{}",
        String::from_utf8_lossy(&with_ca.stderr)
    );
    assert!(
        !without.status.success(),
        "the platform does not trust the test CA"
    );
}

/// `att mcp add --tls-ca-file` registers an HTTPS upstream with its CA (the path made
/// absolute), and it routes.
#[tokio::test]
async fn the_cli_registers_an_https_upstream_with_its_ca() {
    let pki = Pki::new("cli-add");
    let up = https_fixture(&pki, "secure").await;
    let att = TestAtt::start().await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_att"));
    cmd.args([
        "mcp",
        "add",
        "secure",
        "--url",
        &up.url,
        "--att-url",
        &att.base,
    ])
    .arg("--tls-ca-file")
    .arg(&pki.ca_file)
    .env_remove("ATT_API_TOKEN");
    let out = cmd.output().await.expect("att mcp add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = att.get_json("/api/v1/mcp/servers/secure").await;
    assert_eq!(v["tls"]["ca_file"], json!(pki.ca_file), "{v}");
    let v = echo_via(&att, "secure").await;
    assert_eq!(v["server"], "secure", "{v}");
}

/// A managed service's MCP health probe reaches an HTTPS server with the service's `tls`
/// table, names the unknown issuer without it, and a table whose file is missing is refused
/// with the service.
#[tokio::test]
async fn an_mcp_health_probe_reaches_an_https_server_with_its_ca() {
    use att_release::service::probe::{self, Probe};
    let pki = Pki::new("probe");
    let up = https_fixture(&pki, "probed").await;
    let tls = serde_json::from_value(json!({"ca_file": pki.ca_file})).expect("tls");
    let with_ca = Probe::Mcp {
        url: up.url.clone(),
        tls: Some(tls),
    };
    let r = probe::check(&with_ca, Duration::from_secs(5)).await;
    assert!(r.healthy, "{r:?}");
    let without = Probe::Mcp {
        url: up.url.clone(),
        tls: None,
    };
    let r = probe::check(&without, Duration::from_secs(5)).await;
    assert!(!r.healthy);
    assert!(r.reason.contains("unknown issuer"), "{r:?}");
    let spec: att_release::service::spec::ServiceSpec = serde_json::from_value(json!({
        "name": "web", "command": "/bin/true",
        "health": {"kind": "mcp", "url": up.url, "tls": {"ca_file": "/nonexistent/ca.pem"}},
    }))
    .expect("spec");
    let e = spec.validate().expect_err("a missing CA file");
    assert!(e.contains("ca_file"), "{e}");
}

/// The probe behind "client certificate required" when the refusal came after the handshake
/// (OpenSSL under TLS 1.3; the interop run meets it with uvicorn): true only for a server that
/// sends a CertificateRequest, and never when att already presents a certificate.
#[tokio::test]
async fn the_probe_tells_a_server_that_asks_for_a_client_certificate() {
    use att_gateway::upstream::tls::{TlsSettings, asks_for_client_certificate};
    let pki = Pki::new("asks");
    let server = pki.issue("server", Leaf::Server(&["127.0.0.1"]));
    let client = pki.issue("client", Leaf::Client);
    let guarded = serve_https("guarded", server_config(&server, Some(&pki.ca_file))).await;
    let open = serve_https("open", server_config(&server, None)).await;
    let trust = TlsSettings {
        ca_file: Some(pki.ca_file.clone()),
        ..TlsSettings::default()
    };
    assert!(asks_for_client_certificate(&guarded.url, Some(&trust)).await);
    assert!(!asks_for_client_certificate(&open.url, Some(&trust)).await);
    let with_cert = TlsSettings {
        client_cert: Some(client.cert.clone()),
        client_key: Some(client.key.clone()),
        ..trust.clone()
    };
    assert!(!asks_for_client_certificate(&guarded.url, Some(&with_cert)).await);
    let plain = guarded.url.replacen("https://", "http://", 1);
    assert!(!asks_for_client_certificate(&plain, Some(&trust)).await);
}
