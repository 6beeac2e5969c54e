//! `database_url`: the PostgreSQL database att keeps its state in, shared by the att
//! processes of a cluster. Unset: SQLite in the data directory (the embedded default).
//!
//! Checked when the configuration loads (a wrong scheme or a malformed URL is an error
//! naming the key), and never shown: the URL may carry a password, so neither `Debug` nor
//! an error message repeats it — [`DatabaseUrl`]'s `Debug` shows the server and database
//! only.

use std::str::FromStr;

use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

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
        let options = PgConnectOptions::from_str(&text)
            .map_err(|e| format!("not a usable PostgreSQL URL: {e}"))?;
        Ok(Self { options })
    }
}
