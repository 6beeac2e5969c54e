//! The PostgreSQL adapter, chosen by `database_url = "postgres://…"`: the database that the
//! att processes of a cluster share. The event log is [`events`]; the other tables are
//! written by the statements both engines share ([`super::ports`]).
//!
//! Bounded everywhere: at most [`MAX_CONNECTIONS`] connections, a connection waited for at
//! most [`ACQUIRE_TIMEOUT`] (opening included, so a server that does not answer stops att's
//! start with a clear error instead of hanging it), every statement cut off after
//! [`STATEMENT_TIMEOUT`] by the server. The schema is the one `search_path` names (set it
//! with `?options[search_path]=att` in the URL); migrations are applied at open, under
//! sqlx's advisory lock, so that replicas starting together migrate once.
//!
//! Errors name the server and database, never the user's password ([`describe`]).

use std::time::Duration;

use att_runtime::events::StoreError;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::records::{Sealing, err};
use super::{OpenError, StoreHealth};

mod changes;
mod events;
mod mcp_sessions;
#[doc(hidden)]
pub mod test_database;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections att keeps to PostgreSQL at most.
pub const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a free connection (or the first one to open) at most.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server lets one statement run at most.
pub const STATEMENT_TIMEOUT: &str = "30s";

/// How long the server lets a session sit idle inside a transaction before it ends it. att's
/// transactions send their statements back to back; one left open (an att stalled or gone
/// mid-append without closing its socket) would otherwise hold the event log's append lock —
/// one per database — and stop every att's appends.
pub const IDLE_IN_TRANSACTION: &str = "10s";

/// The PostgreSQL store. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Seals the secret values of registrations ([`super::seal`]).
    sealing: Sealing,
    /// The node whose events this store writes ([`crate::cluster`]).
    node: Option<String>,
    /// The server and database, for messages.
    database: String,
    /// The one listener of this store's change notifications, started by the first
    /// [`PgStore::watch`] and shared by every later one.
    changes: std::sync::OnceLock<crate::store::Changes>,
}

super::ports::record_ports!(PgStore, seq = "seq");

impl PgStore {
    /// Connects with `options` and applies pending migrations.
    pub async fn open(options: PgConnectOptions) -> Result<Self, OpenError> {
        let database = describe(&options);
        let options = options.application_name("att").options([
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|source| open_error(&database, &options, source))?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate {
                database: database.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            sealing: Sealing::default(),
            node: None,
            database,
            changes: std::sync::OnceLock::new(),
        })
    }

    /// This store, sealing the values of every `headers` and `env` map it writes and
    /// opening them when it reads ([`super::seal`]).
    #[must_use]
    pub fn sealed_with(mut self, seal: std::sync::Arc<super::seal::Seal>) -> Self {
        self.sealing = Sealing::with(seal);
        self
    }

    /// This store, naming `node` as the writer of every event it appends.
    #[must_use]
    pub fn on_node(mut self, node: String) -> Self {
        self.node = Some(node);
        self
    }

    /// The server and database, as messages name them (`postgres://host:port/db`).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The highest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
        Ok(v.unwrap_or(0))
    }
}

#[async_trait::async_trait]
impl super::Store for PgStore {
    fn seal(&self) -> Option<std::sync::Arc<super::seal::Seal>> {
        self.sealing.seal()
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn watch(&self, stop: tokio_util::sync::CancellationToken) -> Option<super::Changes> {
        Some(PgStore::watch(self, stop))
    }

    fn mcp_sessions(&self) -> Option<std::sync::Arc<dyn crate::http::mcp_shared::McpSessionStore>> {
        Some(std::sync::Arc::new(self.clone()))
    }
}

#[async_trait::async_trait]
impl StoreHealth for PgStore {
    /// Whether the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// Why the first connection failed: a TLS failure as [`OpenError::Tls`], with its cause and
/// what to do ([`tls_hint`]); anything else as it is.
fn open_error(database: &str, options: &PgConnectOptions, source: sqlx::Error) -> OpenError {
    // sqlx says `Tls` for a server without TLS and for a bad setting; a failed handshake
    // comes as the I/O error rustls's error travels in.
    let cause: &(dyn std::error::Error + 'static) = match &source {
        sqlx::Error::Tls(cause) => cause.as_ref(),
        sqlx::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => e,
        _ => {
            return OpenError::Open {
                database: database.to_owned(),
                source,
            };
        }
    };
    // The whole chain: the certificate's fault may be in a source.
    let mut text = cause.to_string();
    let mut next = cause.source();
    while let Some(e) = next {
        let more = e.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        next = e.source();
    }
    OpenError::Tls {
        database: database.to_owned(),
        mode: crate::config::database::ssl_mode_name(options.get_ssl_mode()),
        hint: tls_hint(&text),
        cause: text,
    }
}

/// What to do about a TLS failure whose cause reads `cause`.
pub fn tls_hint(cause: &str) -> &'static str {
    if cause.contains("does not support TLS") {
        "the server does not offer TLS (`ssl = off` in its postgresql.conf): turn it on there, \
         or lower `sslmode` in `database_url`"
    } else if cause.contains("UnknownIssuer") || cause.contains("BadSignature") {
        "the server's certificate is not signed by the CA att trusts: name that CA's file in \
         `sslrootcert` (without it, the system's roots are trusted)"
    } else if cause.contains("NotValidForName") {
        "the server's certificate does not name the host in `database_url`: connect by a name \
         it was issued for, or use `sslmode=verify-ca` to check the CA only"
    } else if cause.contains("Expired") || cause.contains("NotValidYet") {
        "the server's certificate is outside its validity period (or a clock is wrong)"
    } else if cause.contains("CertificateRequired") || cause.contains("certificate required") {
        "the server wants a client certificate: give `sslcert` and `sslkey`"
    } else {
        "check the server's TLS settings and `sslmode`, `sslrootcert`, `sslcert`, `sslkey` in \
         `database_url`"
    }
}

/// `postgres://host:port/database`: the server and database of `options`, without the
/// user or password, for messages.
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}
