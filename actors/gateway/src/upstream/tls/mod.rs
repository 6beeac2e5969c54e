//! TLS towards HTTPS upstreams: what an upstream's `tls` table says ([`TlsSettings`]), the
//! rustls client configuration and the HTTP client built from it ([`client`]), and the
//! translation of a failed handshake into words a user can act on ([`diagnose`]; and
//! [`asks`], for a client certificate refused after a TLS 1.3 handshake).
//!
//! rustls with ring as the one crypto provider: no C toolchain beyond ring's own, no
//! OpenSSL. Trust is the platform's roots plus the upstream's `ca_file`; a client
//! certificate is presented when `client_cert` and `client_key` are set (mTLS). The only
//! way to switch verification off is `insecure_skip_verify = true`, logged as a warning on
//! every connection it is used for.
//!
//! Files are read and checked when an upstream is registered or the configuration is
//! loaded ([`check`]), so a missing CA or an unreadable key is a refused registration that
//! names the field, not a failure at the first call. Key contents are never shown: errors
//! name the path and what is wrong with it.

pub mod asks;
pub mod client;
pub mod diagnose;
mod pem;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::spec::{SpecError, UpstreamSpec};

pub use asks::asks_for_client_certificate;
pub use client::{client_config, http_client, install_crypto_provider, platform_client_config};
pub use diagnose::diagnose;

/// An upstream's `tls` table. Paths are absolute (a relative path would depend on the
/// directory att was started in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file of CA certificates trusted for this upstream, besides the platform's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain att presents to the upstream (mTLS); needs `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. For tests and emergencies only: anyone on the path
    /// can read and change the traffic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

impl TlsSettings {
    /// Whether the table says nothing (then the upstream shares the default client).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The rules that need no file: a certificate and its key together, absolute paths.
    pub(crate) fn check_shape(&self) -> Result<(), SpecError> {
        let bad = |field: &str, message: &str| SpecError {
            field: format!("tls.{field}"),
            message: message.to_owned(),
        };
        if self.client_cert.is_some() != self.client_key.is_some() {
            let missing = if self.client_cert.is_some() {
                "client_key"
            } else {
                "client_cert"
            };
            return Err(bad(
                missing,
                "`client_cert` and `client_key` go together: set both or neither",
            ));
        }
        for (field, path) in self.paths() {
            if !path.is_absolute() {
                return Err(bad(
                    field,
                    &format!("`{}` is not an absolute path", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// The files named, by field.
    fn paths(&self) -> impl Iterator<Item = (&'static str, &PathBuf)> {
        [
            ("ca_file", &self.ca_file),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
        ]
        .into_iter()
        .filter_map(|(f, p)| p.as_ref().map(|p| (f, p)))
    }
}

/// Reads and checks the files of `spec`'s `tls` table (readable, valid PEM, a key that
/// fits its certificate) by building its client configuration once; the error names the
/// field at fault.
pub fn check(spec: &UpstreamSpec) -> Result<(), SpecError> {
    match &spec.tls {
        Some(tls) => client::client_config(Some(tls)).map(drop),
        None => Ok(()),
    }
}
