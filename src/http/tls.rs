//! HTTPS on att's own listener: the certificate and key of `[http] tls_cert` / `tls_key`,
//! and optionally the CA of `[http] tls_client_ca` that every client's certificate must be
//! signed by (mutual TLS), all reloaded when the files change, without a restart.
//!
//! Each new connection asks [`ServerTls::acceptor`] for the configuration to use. That
//! looks at the files' size and modification time (a `stat` each, nothing read) and
//! reloads them only when one changed. Files that do not load — a half-written file, a key
//! that does not fit the certificate, a CA file without a certificate — are logged once per
//! change and the configuration served so far stays in use: a renewal in progress never
//! takes HTTPS down (nor opens it to clients without a certificate). Open connections keep
//! the configuration they were accepted with.
//!
//! With a client CA, a client that presents no certificate, or one no CA in the file signed,
//! fails the handshake: no request of it reaches a route, so no route can forget the check.
//! Its certificate does not name a principal: the API token or key still does.
//!
//! At start the files must load: a wrong path is an error that names the key and the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Larger than any sensible certificate chain or key.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The size and modification time of the certificate, key and client CA files.
type Stamps = [Option<(u64, SystemTime)>; 3];

/// Where the listener's TLS configuration comes from: `[http] tls_cert`, `tls_key` and
/// `tls_client_ca`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// PEM CA certificates a client's certificate must chain to (`None`: no client
    /// certificate asked for).
    pub client_ca: Option<PathBuf>,
}

/// The listener's certificate, as last loaded, and where it comes from.
pub struct ServerTls {
    files: TlsFiles,
    state: Mutex<Loaded>,
}

struct Loaded {
    /// The files as they were when `acceptor` was built (or last refused).
    stamps: Stamps,
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// Loads the certificate chain, its private key and the client CA, if any.
    pub fn load(files: TlsFiles) -> Result<Self, String> {
        let stamps = stamps(&files);
        let config = server_config(&files)?;
        Ok(Self {
            files,
            state: Mutex::new(Loaded {
                stamps,
                acceptor: TlsAcceptor::from(Arc::new(config)),
            }),
        })
    }

    /// The acceptor for a new connection: the current certificate, reloaded first if its
    /// files changed and the new pair loads.
    pub fn acceptor(&self) -> TlsAcceptor {
        let now = stamps(&self.files);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now != state.stamps {
            // Remembered whether or not it loads: a broken pair is reported once, not per
            // connection.
            state.stamps = now;
            match server_config(&self.files) {
                Ok(config) => {
                    state.acceptor = TlsAcceptor::from(Arc::new(config));
                    tracing::info!(cert = %self.files.cert.display(), "reloaded the HTTPS certificate");
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the HTTPS certificate changed but does not load; still serving the previous one"
                ),
            }
        }
        state.acceptor.clone()
    }
}

fn stamps(files: &TlsFiles) -> Stamps {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .map(|p| {
        let m = std::fs::metadata(p?).ok()?;
        Some((m.len(), m.modified().ok()?))
    })
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    let refused = |why: String| format!("http.{key} `{}`: {why}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| refused(format!("cannot read it: {e}")))?
        .len();
    if size > MAX_PEM_BYTES {
        return Err(refused(format!(
            "{size} bytes is larger than the {MAX_PEM_BYTES} bytes allowed"
        )));
    }
    std::fs::read(path).map_err(|e| refused(format!("cannot read it: {e}")))
}

/// The verifier of client certificates: any chain to a CA of the file at `path`.
fn client_verifier(
    path: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let refused = |why: &str| format!("http.tls_client_ca `{}` {why}", path.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read("tls_client_ca", path)?) {
        let cert = cert.map_err(|_| refused("is not valid PEM"))?;
        roots
            .add(cert)
            .map_err(|e| refused(&format!("holds a certificate att cannot use: {e}")))?;
    }
    if roots.is_empty() {
        return Err(refused("holds no certificate"));
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| refused(&format!("cannot verify clients: {e}")))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration for the files; errors name the file, never its contents.
fn server_config(files: &TlsFiles) -> Result<ServerConfig, String> {
    let (cert, key) = (files.cert.as_path(), files.key.as_path());
    let chain = CertificateDer::pem_slice_iter(&read("tls_cert", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("http.tls_cert `{}` is not valid PEM", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "http.tls_cert `{}` holds no certificate",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&read("tls_key", key)?).map_err(|_| {
        format!(
            "http.tls_key `{}` holds no PEM private key att can read",
            key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &files.client_ca {
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        format!(
            "http.tls_key `{}` does not fit http.tls_cert `{}`: {e}",
            key.display(),
            cert.display()
        )
    })?;
    // att's listener speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
