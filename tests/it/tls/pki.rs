//! A test PKI made with rcgen for each test — a CA, server and client certificates signed by
//! it, written as PEM files in a temp dir — and an MCP fixture served over HTTPS with them
//! (in-process: axum's router behind tokio-rustls, so a test can require client
//! certificates or stop a replica by dropping it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use crate::common::fixture::{CrashMode, Fixture};

/// A CA whose certificates are written under `dir`.
pub struct Pki {
    pub dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM file): what `tls.ca_file` names.
    pub ca_file: PathBuf,
}

/// A certificate and its key, as files.
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How a leaf certificate is made.
pub enum Leaf<'a> {
    /// A server certificate for these names, valid now.
    Server(&'a [&'a str]),
    /// A server certificate for 127.0.0.1 that expired yesterday.
    ExpiredServer,
    /// A client certificate.
    Client,
}

impl Pki {
    pub fn new(label: &str) -> Self {
        let dir = tempfile::tempdir().expect("pki dir");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("att test CA {label}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write CA");
        Self {
            dir,
            issuer: Issuer::new(params, key),
            ca_file,
        }
    }

    /// Issues `leaf` and writes it as `<name>.pem` and `<name>.key`.
    pub fn issue(&self, name: &str, leaf: Leaf<'_>) -> Pair {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = match &leaf {
            Leaf::Server(names) => names.iter().map(|n| (*n).to_owned()).collect(),
            Leaf::ExpiredServer => vec!["127.0.0.1".into()],
            Leaf::Client => vec!["att-client".into()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![match leaf {
            Leaf::Client => ExtendedKeyUsagePurpose::ClientAuth,
            _ => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        if let Leaf::ExpiredServer = leaf {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        }
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let pair = Pair {
            cert: self.dir.path().join(format!("{name}.pem")),
            key: self.dir.path().join(format!("{name}.key")),
        };
        std::fs::write(&pair.cert, cert.pem()).expect("write certificate");
        std::fs::write(&pair.key, key.serialize_pem()).expect("write key");
        pair
    }
}

fn chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM")
}

/// A server configuration presenting `pair`; with `client_ca`, a client certificate signed
/// by it is required.
pub fn server_config(pair: &Pair, client_ca: Option<&Path>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in chain(ca) {
                roots.add(cert).expect("client CA");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let key = PrivateKeyDer::from_pem_file(&pair.key).expect("key PEM");
    let mut config = builder
        .with_single_cert(chain(&pair.cert), key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A fixture MCP server on `https://127.0.0.1:<port>/mcp`; dropping it stops the server and
/// cuts its open connections.
pub struct HttpsFixture {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsFixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve_https(name: &str, config: Arc<ServerConfig>) -> HttpsFixture {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    let fixture = Fixture::new(name, CrashMode::Flag);
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        // Owned by the task: aborting it drops the set, which aborts every connection.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = app.map_request(|r: axum::http::Request<Incoming>| r.map(Body::new));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    HttpsFixture {
        url: format!("https://{addr}/mcp"),
        task,
    }
}

/// An HTTP client that trusts `ca_file` (and only it) and presents `identity`'s
/// certificate.
pub fn client_presenting(ca_file: &Path, identity: &Pair) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in chain(ca_file) {
        roots.add(cert).expect("CA");
    }
    let key = PrivateKeyDer::from_pem_file(&identity.key).expect("key PEM");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain(&identity.cert), key)
    .expect("client certificate");
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// An HTTP client that trusts `ca_file` (and only it).
pub fn client_trusting(ca_file: &Path) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in chain(ca_file) {
        roots.add(cert).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}
