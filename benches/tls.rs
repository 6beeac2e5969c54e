//! The cost of TLS towards an upstream: the same `echo` routed by att
//! (`POST /api/v1/mcp/invoke/tool`) to one fixture served over plain HTTP and to the same
//! fixture served over HTTPS (a certificate from a CA made here with rcgen, registered with
//! `tls.ca_file`), one caller, in one run. att keeps no idle upstream connections (see
//! `att_gateway::upstream::tls::client`), so each HTTPS call pays a handshake: the ratio
//! says what that costs.
//!
//! Run: `cargo bench --bench tls` (prints a table; numbers go to todo/perf.md).

#[path = "../src/bin/att-mcp-fixture/fixture.rs"]
mod fixture;
#[path = "common/routed_pair.rs"]
mod routed_pair;

use std::sync::Arc;

use axum::body::Body;
use fixture::{CrashMode, Fixture};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tower::ServiceExt;

fn app() -> axum::Router {
    let fixture = Fixture::new("bench", CrashMode::Flag);
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    axum::Router::new().nest_service("/mcp", service)
}

/// Serves the fixture; over TLS with `tls`. Returns its URL.
async fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = app();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let (app, tls) = (app.clone(), tls.clone());
            tokio::spawn(async move {
                let service =
                    TowerToHyperService::new(app.map_request(
                        |r: axum::http::Request<hyper::body::Incoming>| r.map(Body::new),
                    ));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => drop(http.serve_connection(TokioIo::new(tcp), service).await),
                    Some(config) => {
                        if let Ok(s) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
                            drop(http.serve_connection(TokioIo::new(s), service).await);
                        }
                    }
                }
            });
        }
    });
    format!("{scheme}://{addr}/mcp")
}

/// A CA file and a server configuration for 127.0.0.1 signed by it.
fn pki(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], private)
    .expect("config");
    (ca_file, Arc::new(config))
}

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let (ca_file, tls) = pki(dir.path());
        let plain = serve(None).await;
        let secure = serve(Some(tls)).await;
        routed_pair::compare(
            dir.path(),
            json!({"name": "plain", "url": plain}),
            json!({"name": "secure", "url": secure, "tls": {"ca_file": ca_file}}),
            "plain",
            "https",
        )
        .await;
    });
}
