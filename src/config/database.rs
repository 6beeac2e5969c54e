//! `database_url`: the PostgreSQL database att keeps its state in, shared by the att
//! processes of a cluster. Unset: SQLite in the data directory (the embedded default).
//!
//! Checked when the configuration loads (a wrong scheme or a malformed URL is an error
//! naming the key), and never shown: the URL may carry a password, so neither `Debug` nor
//! an error message repeats it — [`DatabaseUrl`]'s `Debug` shows the server and database
//! only.
//!
//! TLS is libpq's words in the URL's query: `sslmode` (`disable`, `prefer` — the default,
//! TLS when the server offers it, unverified —, `require`, `verify-ca`, `verify-full`),
//! `sslrootcert` (the CA that signed the server's certificate; without it the system's
//! roots), `sslcert` and `sslkey` (a client certificate, both or neither). As in libpq,
//! `sslmode=require` with an `sslrootcert` verifies the server's certificate against it
//! (`verify-ca`). The files are checked here, so that a missing one is named when att
//! starts, not as a bare "no such file" when it first connects.

use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// A checked `postgres://` URL.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl {
    options: PgConnectOptions,
}

impl DatabaseUrl {
    /// The connection options the URL says.
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::postgres::describe(&self.options))
    }
}

/// `mode` as the URL spells it.
pub fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// The TLS files a URL's query names (`sslrootcert`, `sslcert`, `sslkey`; sqlx's other
/// spellings too), each with the key that named it.
fn tls_files(text: &str) -> Vec<(&'static str, PathBuf)> {
    let Some((_, query)) = text.split_once('?') else {
        return Vec::new();
    };
    form_urlencoded::parse(query.as_bytes())
        .filter_map(|(k, v)| {
            let key = match &*k {
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => "sslrootcert",
                "sslcert" | "ssl-cert" => "sslcert",
                "sslkey" | "ssl-key" => "sslkey",
                _ => return None,
            };
            Some((key, PathBuf::from(&*v)))
        })
        .collect()
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let scheme = text.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(
                "expected a PostgreSQL URL, postgres://user@host:5432/database (leave it unset \
                 for SQLite in the data directory)"
                    .into(),
            );
        }
        // The parser's message, not the URL: it may hold a password.
        let mut options = PgConnectOptions::from_str(&text)
            .map_err(|e| format!("not a usable PostgreSQL URL: {e}"))?;
        let files = tls_files(&text);
        for (key, path) in &files {
            std::fs::metadata(path)
                .and_then(|m| {
                    if m.is_file() {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("not a file"))
                    }
                })
                .map_err(|e| format!("`{key}={}`: {e}", path.display()))?;
        }
        let named = |k: &str| files.iter().any(|(key, _)| *key == k);
        if named("sslcert") != named("sslkey") {
            return Err(
                "`sslcert` and `sslkey` go together: the client certificate and its key".into(),
            );
        }
        if matches!(options.get_ssl_mode(), PgSslMode::Require) && named("sslrootcert") {
            // libpq's rule: a root certificate given is a root certificate checked.
            options = options.ssl_mode(PgSslMode::VerifyCa);
        }
        Ok(Self { options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_are_checked_when_the_configuration_loads() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").expect("write");
        let ca = ca.display().to_string();
        let missing = dir.path().join("nope.pem").display().to_string();
        let base = "postgres://u:hunter2@db.example:5432/att";
        let table: [(String, Result<&str, &str>); 6] = [
            (
                format!("{base}?sslmode=verify-full&sslrootcert={ca}"),
                Ok("verify-full"),
            ),
            // libpq: `require` with a root certificate verifies it.
            (
                format!("{base}?sslmode=require&sslrootcert={ca}"),
                Ok("verify-ca"),
            ),
            (format!("{base}?sslmode=require"), Ok("require")),
            (
                format!("{base}?sslmode=verify-ca&sslrootcert={missing}"),
                Err("`sslrootcert="),
            ),
            (
                format!("{base}?sslmode=verify-ca&sslcert={ca}"),
                Err("go together"),
            ),
            (
                format!("{base}?sslmode=verify-ca&sslkey={missing}"),
                Err("nope.pem"),
            ),
        ];
        for (url, want) in table {
            match (DatabaseUrl::try_from(url.clone()), want) {
                (Ok(u), Ok(mode)) => {
                    assert_eq!(ssl_mode_name(u.options.get_ssl_mode()), mode, "{url}");
                }
                (Err(e), Err(part)) => {
                    assert!(e.contains(part), "{url}: {e}");
                    assert!(!e.contains("hunter2"), "no password in {e}");
                }
                (got, want) => panic!("{url}: {:?}, wanted {want:?}", got.map(|_| ())),
            }
        }
    }
}
