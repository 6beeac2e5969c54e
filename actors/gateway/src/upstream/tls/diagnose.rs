//! Why a TLS handshake with an upstream failed, in words a user can act on.
//!
//! reqwest reports every connection failure as "error sending request"; the reason is deep
//! in the error's source chain, and rmcp hides part of that chain (its transport errors
//! carry the reqwest error without exposing it as a source). [`diagnose`] walks the chain
//! through those wrappers to the [`rustls::Error`] and names the failure:
//!
//! | rustls says | att says |
//! |---|---|
//! | `UnknownIssuer` | unknown issuer … (set tls.ca_file) |
//! | `NotValidForName…` | name mismatch … |
//! | `Expired…` / `NotValidYet…` | expired / not yet valid … |
//! | alert `certificate_required` | client certificate required … |
//! | alert `bad_certificate`, `unknown_ca`, … | client certificate rejected … |
//! | anything else | TLS handshake failed: … |

use std::error::Error;

use rmcp::service::ClientInitializeError;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rustls::{AlertDescription, CertificateError};

/// Links followed before giving up (a chain is a handful long; a cycle must not spin).
const MAX_DEPTH: usize = 32;

/// The TLS failure somewhere in `error`'s chain, described; `None` if it is not one.
pub fn diagnose(error: &(dyn Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    for _ in 0..MAX_DEPTH {
        let current = next?;
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        next = inner(current);
    }
    None
}

/// The next link of the chain, through the wrappers that do not expose it as `source`.
fn inner<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(ClientInitializeError::TransportError { error, .. }) = error.downcast_ref() {
        return Some(error);
    }
    if let Some(StreamableHttpError::Client(client)) =
        error.downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        return Some(client);
    }
    // `io::Error::source` skips the error it wraps and goes to that error's source.
    if let Some(io) = error.downcast_ref::<std::io::Error>()
        && let Some(wrapped) = io.get_ref()
    {
        return Some(wrapped);
    }
    error.source()
}

/// What a rustls error means for the user.
pub fn describe(error: &rustls::Error) -> String {
    use CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "unknown issuer: the server's certificate is not signed by a CA \
                                 att trusts (set tls.ca_file)"
                .to_owned(),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "name mismatch: the server's certificate is not valid for the host in the URL ({error})"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                format!("expired: the server's certificate has expired ({error})")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("not yet valid: the server's certificate is not valid yet ({error})")
            }
            C::Revoked => "revoked: the server's certificate has been revoked".to_owned(),
            _ => format!("the server's certificate was refused: {error}"),
        },
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "client certificate required: the server asks for one \
             (set tls.client_cert and tls.client_key)"
                .to_owned()
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied),
        ) => format!(
            "client certificate rejected: the server refused att's certificate (alert {alert:?}); \
             check tls.client_cert and tls.client_key"
        ),
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_issuer_inside_io_and_reqwest_like_wrappers_is_named() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let text = diagnose(&io).expect("a TLS error inside an io::Error is found");
        assert!(text.starts_with("unknown issuer"), "{text}");
        assert!(text.contains("tls.ca_file"), "{text}");
    }

    #[test]
    fn each_certificate_problem_has_its_own_words() {
        let cases = [
            (CertificateError::NotValidForName, "name mismatch"),
            (CertificateError::Expired, "expired"),
            (CertificateError::NotValidYet, "not yet valid"),
        ];
        for (cert, want) in cases {
            let text = describe(&rustls::Error::InvalidCertificate(cert));
            assert!(text.starts_with(want), "{text}");
        }
        let text = describe(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert!(text.starts_with("client certificate required"), "{text}");
    }

    #[test]
    fn an_error_without_tls_in_its_chain_is_not_a_tls_failure() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(diagnose(&io), None);
    }
}
