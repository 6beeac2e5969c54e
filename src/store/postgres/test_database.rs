//! A throw-away schema on a test PostgreSQL server, for the tests that run against
//! PostgreSQL (the store's port suite, att started on PostgreSQL).
//!
//! The server is `ATT_TEST_DATABASE_URL` when set (then it must work: a test that cannot
//! reach it fails), else `127.0.0.1:5432`, database `test`, user `postgres` or `root` (trust
//! authentication), when that port answers. Without either, [`TestDatabase::create`] prints
//! [`SKIPPED`] and returns `None`, and the test passes having checked nothing — `.ci/run`
//! always provides a server so that CI runs them.
//!
//! Each test gets its own schema (`att_test_<random>`), dropped when the [`TestDatabase`]
//! is, so that tests run in parallel against one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// The variable naming the test server.
pub const URL_ENV: &str = "ATT_TEST_DATABASE_URL";
/// What a test without a server prints.
pub const SKIPPED: &str = "skipped: no PostgreSQL (set ATT_TEST_DATABASE_URL)";
/// How long connecting to the test server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A schema of its own on the test server; dropped (with everything in it) on drop.
pub struct TestDatabase {
    base: String,
    schema: String,
}

impl TestDatabase {
    /// A fresh schema, or `None` (having printed [`SKIPPED`], naming `test`) when there is
    /// no server.
    ///
    /// # Panics
    /// When `ATT_TEST_DATABASE_URL` is set and the server cannot be used.
    pub async fn create(test: &str) -> Option<Self> {
        let base = match std::env::var(URL_ENV) {
            Ok(url) => {
                if let Err(e) = connect(&url).await {
                    panic!("{URL_ENV} is set but the server cannot be used: {e}");
                }
                url
            }
            Err(_) => match local().await {
                Ok(url) => url,
                Err(why) => {
                    // Straight to stderr, past the test harness's capture: a skipped test
                    // is said in every run, naming itself.
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "{test}: {SKIPPED}: {why}");
                    return None;
                }
            },
        };
        let schema = format!("att_test_{}", random_suffix());
        let mut admin = connect(&base).await.expect("test server");
        // The name is ours: `att_test_` and hex digits.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        admin.close().await.ok();
        Some(Self { base, schema })
    }

    /// Connection options whose `search_path` is this schema.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.base)
            .expect("test database URL")
            .options([("search_path", self.schema.as_str())])
    }

    /// A `database_url` for att whose `search_path` is this schema.
    pub fn url(&self) -> String {
        let join = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{join}options[search_path]={}", self.base, self.schema)
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        // Drop may run inside a runtime: the schema is dropped on a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = connect(&base).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test schema: {e}");
        }
    }
}

/// `postgres@` or `root@127.0.0.1:5432/test`, whichever logs in.
async fn local() -> Result<String, String> {
    let open = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.1", 5432)),
    )
    .await;
    if !matches!(open, Ok(Ok(_))) {
        return Err("127.0.0.1:5432 is closed".into());
    }
    let mut why = Vec::new();
    for user in ["postgres", "root"] {
        let url = format!("postgres://{user}@127.0.0.1:5432/test");
        match connect(&url).await {
            Ok(c) => {
                c.close().await.ok();
                return Ok(url);
            }
            Err(e) => why.push(format!("{user}: {e}")),
        }
    }
    Err(format!(
        "127.0.0.1:5432 answers but refused {}",
        why.join("; ")
    ))
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(c) => c.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer in {CONNECT_TIMEOUT:?}")),
    }
}

/// 16 hex digits, different for every call in every process.
fn random_suffix() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
