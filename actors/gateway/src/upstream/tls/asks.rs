//! Whether an HTTPS server asks for a client certificate: the diagnosis of a refusal the
//! error chain does not show.
//!
//! Under TLS 1.3 a server may refuse a missing client certificate only after the client's
//! `Finished` (OpenSSL does: uvicorn, nginx, most Python and C servers). The client has
//! already counted the handshake as done and sent its request; the server's
//! `certificate_required` alert is followed by the socket's close, and the client sees the
//! connection end ("error sending request"), seldom the alert that [`super::diagnose`]
//! names. So after such an unexplained failure, and only when att presents no certificate,
//! [`asks_for_client_certificate`] makes one handshake of its own with the upstream's trust
//! settings: rustls consults the client-certificate resolver only when the server sends a
//! `CertificateRequest`, so a resolver that notes the call and offers nothing answers the
//! question. Bounded: [`PROBE_TIMEOUT`] for the connection and every read and write, one
//! handshake, no bytes of application data.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, SignatureScheme, sign};

use super::TlsSettings;
use super::client::client_config;

/// The limit of the probe's connection, of each of its reads and writes, and of the whole.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What att says when the probe finds that the server asks for a certificate.
pub const REQUIRED: &str = "client certificate required: the server asks for one and closed \
                            the connection without it (set tls.client_cert and tls.client_key)";

/// Whether the HTTPS server at `url` asks for a client certificate during the handshake.
/// `false` for a non-HTTPS URL, when `tls` already presents a certificate, or when the probe
/// cannot tell (no connection, handshake failure, timeout).
pub async fn asks_for_client_certificate(url: &str, tls: Option<&TlsSettings>) -> bool {
    if tls.is_some_and(|t| t.client_cert.is_some()) {
        return false;
    }
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    if url.scheme() != "https" {
        return false;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    // An IPv6 literal comes bracketed; ServerName and the resolver want it bare.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let Ok(mut config) = client_config(tls) else {
        return false;
    };
    let asked = Arc::new(Asked::default());
    config.client_auth_cert_resolver = asked.clone();
    let probe = tokio::task::spawn_blocking(move || handshake(&host, port, config));
    match tokio::time::timeout(PROBE_TIMEOUT * 2, probe).await {
        Ok(Ok(_)) => asked.0.load(Ordering::Relaxed),
        _ => false,
    }
}

/// One blocking handshake (its outcome does not matter: the resolver has noted the request).
fn handshake(host: &str, port: u16, config: rustls::ClientConfig) -> io::Result<()> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let mut socket = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    socket.set_read_timeout(Some(PROBE_TIMEOUT))?;
    socket.set_write_timeout(Some(PROBE_TIMEOUT))?;
    let name = ServerName::try_from(host.to_owned()).map_err(io::Error::other)?;
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    // A handshake is a handful of flights; the bound keeps a misbehaving server from looping.
    for _ in 0..16 {
        if !conn.is_handshaking() {
            break;
        }
        conn.complete_io(&mut socket)?;
    }
    Ok(())
}

/// A client-certificate resolver that offers none and notes that it was asked.
#[derive(Debug, Default)]
struct Asked(AtomicBool);

impl ResolvesClientCert for Asked {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<sign::CertifiedKey>> {
        self.0.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}
