//! The HTTP clients of HTTPS upstreams: one rustls configuration per distinct `tls` table,
//! and one reqwest client per configuration, shared by every upstream that has it.
//!
//! Upstreams without a `tls` table share one client (one connector and configuration for
//! all of them, built once). A table's client is kept by its settings and by the size and
//! modification time of its files, so that a rotated CA or client certificate is read on
//! the next connection while an unchanged one costs a `stat` per connection, not a parse.
//! The cache is bounded: past [`MAX_CLIENTS`] configurations it starts afresh.
//!
//! Every client keeps connections alive between calls (a routed call then costs no TCP or
//! TLS setup), bounded: at most [`IDLE_PER_HOST`] idle connections per upstream host, each
//! closed after [`IDLE_TIMEOUT`] unused, and TCP_NODELAY on every socket so a small request
//! leaves at once. (The ~40 ms per call once blamed on keep-alive was the test fixture's
//! missing TCP_NODELAY: Nagle against delayed ACK on the server's SSE response; see
//! todo/perf.md.) Redirects are followed only within the origin, at most 10, as rmcp's
//! default does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsSettings, pem};
use crate::upstream::spec::SpecError;

/// Distinct `tls` tables whose clients are kept at once.
const MAX_CLIENTS: usize = 64;

/// Idle kept-alive connections a client keeps per upstream host: enough for the callers
/// that usually overlap on one upstream, few enough that an idle upstream holds little.
pub const IDLE_PER_HOST: usize = 32;

/// An idle kept-alive connection unused this long is closed (servers commonly close theirs
/// after 60–120 s; closing first avoids reusing one the server is closing).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// ring, the crypto provider of every TLS connection att makes or accepts.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Makes ring the process's rustls provider, for clients built without an explicit
/// configuration (reqwest's own builder, rmcp's default transport). Each binary calls it
/// first thing; calling it again is harmless.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is the goal.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The platform's trusted roots, read once per process. Certificates the platform store
/// holds but rustls cannot parse are skipped with a warning rather than failing every
/// connection.
fn platform_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in found.errors.iter().take(5) {
                tracing::warn!(error = %e, "reading the platform's trusted certificates");
            }
            let mut roots = RootCertStore::empty();
            let (_, skipped) = roots.add_parsable_certificates(found.certs);
            if skipped > 0 {
                tracing::warn!(
                    skipped,
                    "platform certificates rustls cannot use were skipped"
                );
            }
            Arc::new(roots)
        })
        .clone()
}

/// A client configuration that trusts the platform's roots and presents no certificate:
/// for att's own HTTP clients (the CLI, service probes) when they speak HTTPS.
pub fn platform_client_config() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(platform_roots())
        .with_no_client_auth()
}

/// The rustls configuration of a `tls` table (`None`: [`platform_client_config`]): reads
/// and checks its files; the error names the field at fault.
pub fn client_config(tls: Option<&TlsSettings>) -> Result<ClientConfig, SpecError> {
    let Some(tls) = tls.filter(|t| !t.is_empty()) else {
        return Ok(platform_client_config());
    };
    tls.check_shape()?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions");
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider())))
    } else {
        let mut roots = (*platform_roots()).clone();
        if let Some(path) = &tls.ca_file {
            for cert in pem::certificates("ca_file", path)? {
                roots.add(cert).map_err(|e| SpecError {
                    field: "tls.ca_file".into(),
                    message: format!("`{}`: not a usable CA certificate: {e}", path.display()),
                })?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = pem::certificates("client_cert", cert)?;
            let key_der = pem::private_key("client_key", key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| SpecError {
                    field: "tls.client_key".into(),
                    message: format!(
                        "`{}` does not fit the certificate in `{}`: {e}",
                        key.display(),
                        cert.display()
                    ),
                })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// What identifies a built client: the table, and the size and modification time of each
/// of its files (a replaced file is read again).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    tls: TlsSettings,
    stamps: Vec<Option<(u64, SystemTime)>>,
}

impl Key {
    fn of(tls: &TlsSettings) -> Self {
        let stamps = tls
            .paths()
            .map(|(_, p)| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.len(), m.modified().ok()?))
            })
            .collect();
        Self {
            tls: tls.clone(),
            stamps,
        }
    }
}

/// The HTTP client for an upstream with `tls` (`None`: the client every upstream without a
/// table shares). `upstream` names it in the warning an insecure table logs.
pub fn http_client(
    upstream: &str,
    tls: Option<&TlsSettings>,
) -> Result<reqwest::Client, SpecError> {
    static DEFAULT: OnceLock<reqwest::Client> = OnceLock::new();
    static CLIENTS: OnceLock<Mutex<HashMap<Key, reqwest::Client>>> = OnceLock::new();
    let Some(tls) = tls.filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT
            .get_or_init(|| build(platform_client_config()))
            .clone());
    };
    if tls.insecure_skip_verify {
        tracing::warn!(
            upstream,
            "TLS certificate verification is OFF for this upstream (tls.insecure_skip_verify = true): \
             anyone on the network path can read and change its traffic"
        );
    }
    let key = Key::of(tls);
    let clients = CLIENTS.get_or_init(Mutex::default);
    if let Some(client) = clients.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(client.clone());
    }
    // Built outside the lock: reading files must not hold up other upstreams' connects.
    let client = build(client_config(Some(tls))?);
    let mut clients = clients.lock().unwrap_or_else(|p| p.into_inner());
    if clients.len() >= MAX_CLIENTS {
        clients.clear();
    }
    clients.insert(key, client.clone());
    Ok(client)
}

fn build(config: ClientConfig) -> reqwest::Client {
    let same_origin = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first();
        let same = first.is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same && attempt.previous().len() <= 10 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(same_origin)
        .tls_backend_preconfigured(config)
        .build()
        .unwrap_or_default()
}

/// Accepts any certificate, but still checks the handshake's signature against the
/// certificate presented: the session is at least with whoever holds that certificate's key.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
