//! HTTPS on att's own listener: the certificate and key of `[http] tls_cert` / `tls_key`,
//! reloaded when the files change, without a restart.
//!
//! Each new connection asks [`ServerTls::acceptor`] for the configuration to use. That
//! looks at the two files' size and modification time (two `stat`s, nothing read) and
//! reloads them only when either changed. A pair that does not load — a half-written file,
//! a key that does not fit the certificate — is logged once per change and the certificate
//! served so far stays in use: a renewal in progress never takes HTTPS down. Open
//! connections keep the certificate they were accepted with.
//!
//! At start the pair must load: a wrong path is an error that names the key and the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Larger than any sensible certificate chain or key.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The size and modification time of the certificate and key files.
type Stamps = [Option<(u64, SystemTime)>; 2];

/// The listener's certificate, as last loaded, and where it comes from.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
}

struct Loaded {
    /// The files as they were when `acceptor` was built (or last refused).
    stamps: Stamps,
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// Loads the certificate chain at `cert` and its private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let stamps = stamps(cert, key);
        let config = server_config(cert, key)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            state: Mutex::new(Loaded {
                stamps,
                acceptor: TlsAcceptor::from(Arc::new(config)),
            }),
        })
    }

    /// The acceptor for a new connection: the current certificate, reloaded first if its
    /// files changed and the new pair loads.
    pub fn acceptor(&self) -> TlsAcceptor {
        let now = stamps(&self.cert, &self.key);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now != state.stamps {
            // Remembered whether or not it loads: a broken pair is reported once, not per
            // connection.
            state.stamps = now;
            match server_config(&self.cert, &self.key) {
                Ok(config) => {
                    state.acceptor = TlsAcceptor::from(Arc::new(config));
                    tracing::info!(cert = %self.cert.display(), "reloaded the HTTPS certificate");
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

fn stamps(cert: &Path, key: &Path) -> Stamps {
    [cert, key].map(|p| {
        let m = std::fs::metadata(p).ok()?;
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

/// A server configuration for the pair; errors name the file, never its contents.
fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
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
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| {
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
