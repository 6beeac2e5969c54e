//! Reading the PEM files of a `tls` table: bounded in size, certificates and keys parsed with
//! rustls' own PEM reader, and errors that name the file and the field but never quote what
//! is in it (a key file's contents are a secret).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::upstream::spec::SpecError;

/// Larger than any sensible chain or bundle (the Mozilla bundle is ~220 KiB).
const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

fn refused(field: &str, path: &Path, why: impl std::fmt::Display) -> SpecError {
    SpecError {
        field: format!("tls.{field}"),
        message: format!("`{}`: {why}", path.display()),
    }
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, SpecError> {
    let size = std::fs::metadata(path)
        .map_err(|e| refused(field, path, format!("cannot read it: {e}")))?
        .len();
    if size > MAX_PEM_BYTES {
        return Err(refused(
            field,
            path,
            format!("{size} bytes is larger than the {MAX_PEM_BYTES} bytes allowed"),
        ));
    }
    std::fs::read(path).map_err(|e| refused(field, path, format!("cannot read it: {e}")))
}

/// Every certificate in the PEM file at `path`; at least one.
pub(super) fn certificates(
    field: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, SpecError> {
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| refused(field, path, "is not valid PEM"))?;
    if certs.is_empty() {
        return Err(refused(
            field,
            path,
            "holds no certificate (expected `-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path` (PKCS#8, PKCS#1 or SEC1).
pub(super) fn private_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, SpecError> {
    let bytes = read(field, path)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|_| refused(field, path, "holds no PEM private key att can read"))
}
