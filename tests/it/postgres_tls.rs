//! att on PostgreSQL over TLS (`database_url` with `sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`), against a real server: a throw-away cluster made by the test in a temp dir
//! (Debian's `initdb`/`pg_ctl` from `/usr/lib/postgresql/*/bin`, run as a non-root user —
//! `postgres` when the test runs as root —, listening on a loopback port) with a server
//! certificate from a CA the test makes (rcgen, `tls::pki`).
//!
//! The cluster starts with `ssl = off` (`sslmode=require` must then stop att with a clear
//! error), then TLS is turned on with a reload, requiring a client certificate signed by
//! the CA: verify-full with the right CA and a client certificate works; the wrong CA, or no
//! client certificate, stops att naming the server and the cause, never the password.
//! Without `initdb` the test says it was skipped and passes (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use att::config::{Config, DatabaseUrl};

use crate::common::{TestAtt, eventually, free_port};
use crate::tls::pki::{Leaf, Pki};

/// A throw-away PostgreSQL cluster, stopped and deleted when dropped.
struct Throwaway {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Who runs it (`None`: this user).
    owner: Option<&'static str>,
    port: u16,
}

impl Throwaway {
    /// The newest `/usr/lib/postgresql/*/bin` holding `initdb`.
    fn bin() -> Option<PathBuf> {
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").is_file())
            .collect();
        bins.sort_by_key(|b| {
            let version = b.parent().and_then(Path::file_name).unwrap_or_default();
            version.to_string_lossy().parse::<u32>().unwrap_or(0)
        });
        bins.pop()
    }

    /// `command` as the cluster's owner; panics with its output when it fails.
    fn run(&self, program: &Path, args: &[&str]) -> String {
        let mut command = match self.owner {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let out = command.args(args).output().expect("run a PostgreSQL tool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{} {args:?}: {text}",
            program.display()
        );
        text
    }

    /// `initdb` a cluster whose server certificate is `server` (and whose client CA is
    /// `ca`), and start it with TLS off; `None` (skipped, said why) without PostgreSQL.
    fn start(pki: &Pki, server: &crate::tls::pki::Pair) -> Option<Self> {
        let Some(bin) = Self::bin() else {
            eprintln!(
                "skipped: no initdb in /usr/lib/postgresql/*/bin (install Debian's `postgresql` \
                 package; .ci/run does)"
            );
            return None;
        };
        // PostgreSQL refuses to run as root.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let owner = root.then_some("postgres");
        let dir = tempfile::tempdir().expect("cluster dir");
        // Its files where the owner can read them, the key private to it.
        for (from, to) in [
            (&server.cert, "server.pem"),
            (&server.key, "server.key"),
            (&pki.ca_file, "ca.pem"),
        ] {
            std::fs::copy(from, dir.path().join(to)).expect("copy");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("key mode");
        if let Some(user) = owner {
            let done = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(done.success(), "chown the cluster dir to {user}");
        }
        let cluster = Self {
            bin,
            dir,
            owner,
            port: free_port(),
        };
        let (data, d) = (
            cluster.path("data"),
            cluster.dir.path().display().to_string(),
        );
        cluster.run(
            &cluster.bin.join("initdb"),
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let options = format!(
            "-h 127.0.0.1 -p {} -k {d} -c fsync=off -c ssl_cert_file={d}/server.pem \
             -c ssl_key_file={d}/server.key -c ssl_ca_file={d}/ca.pem",
            cluster.port
        );
        let log = cluster.path("log");
        cluster.run(
            &cluster.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        );
        Some(cluster)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `sql` through the Unix socket (trusted), as the owner.
    fn psql(&self, sql: &str) -> String {
        let psql = Path::new("/usr/bin/psql");
        let psql = if psql.is_file() {
            psql.to_owned()
        } else {
            self.bin.join("psql")
        };
        let (host, port) = (self.dir.path().display().to_string(), self.port.to_string());
        self.run(
            &psql,
            &[
                "-h", &host, "-p", &port, "-U", "postgres", "-d", "postgres", "-Atqc", sql,
            ],
        )
    }

    /// Turns TLS on, requiring over TCP a client certificate signed by the CA.
    fn require_tls_and_client_certificates(&self) {
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-ca\n";
        let file = self.path("data/pg_hba.conf");
        std::fs::write(&file, hba).expect("pg_hba.conf");
        self.psql("ALTER SYSTEM SET ssl = on");
        self.psql("SELECT pg_reload_conf()");
    }

    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/postgres?{query}",
            self.port
        )
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let data = self.path("data");
        let mut command = match self.owner {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join("pg_ctl"));
                c
            }
            None => Command::new(self.bin.join("pg_ctl")),
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Why att did not start on `url` (it must not).
async fn refused(url: &str) -> String {
    let data = tempfile::tempdir().expect("dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    config.database_url = Some(DatabaseUrl::try_from(url.to_owned()).expect("url"));
    let text = match att::server::start(config).await {
        Ok(server) => {
            server.shutdown().await;
            panic!("att started on {url}");
        }
        Err(e) => e.to_string(),
    };
    assert!(!text.contains("hunter2"), "no password: {text}");
    text
}

#[tokio::test]
async fn att_reaches_postgres_over_tls_verifying_the_server_and_naming_what_failed() {
    let pki = Pki::new("postgres");
    let server = pki.issue("server", Leaf::Server(&["127.0.0.1", "localhost"]));
    let client = pki.issue("client", Leaf::Client);
    let wrong = Pki::new("wrong");
    let Some(pg) = Throwaway::start(&pki, &server) else {
        return;
    };
    let named = format!("postgres://127.0.0.1:{}/postgres", pg.port);
    let (ca, wrong_ca) = (pki.ca_file.display(), wrong.ca_file.display());
    let (cert, key) = (client.cert.display(), client.key.display());

    // TLS off on the server: `require` stops att, saying so.
    let text = refused(&pg.url("sslmode=require")).await;
    assert!(
        text.contains(&named) && text.contains("sslmode=require") && text.contains("ssl = off"),
        "{text}"
    );

    pg.require_tls_and_client_certificates();
    let good = pg.url(&format!(
        "sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"
    ));
    // The reload is the server's to apply: wait for TLS to be on (bounded).
    let options = DatabaseUrl::try_from(good.clone()).expect("url").options();
    eventually("TLS on after the reload", Duration::from_secs(20), || {
        let options = options.clone();
        async move {
            match att::store::PgStore::open(options).await {
                Ok(store) => {
                    att::store::Store::close(&store).await;
                    Some(())
                }
                Err(_) => None,
            }
        }
    })
    .await;

    // The wrong CA: the server is not trusted.
    let text = refused(&pg.url(&format!(
        "sslmode=verify-full&sslrootcert={wrong_ca}&sslcert={cert}&sslkey={key}"
    )))
    .await;
    assert!(
        text.contains(&named)
            && text.contains("sslmode=verify-full")
            && text.contains("UnknownIssuer")
            && text.contains("sslrootcert"),
        "{text}"
    );

    // The right CA but no client certificate: the server refuses.
    let text = refused(&pg.url(&format!("sslmode=verify-full&sslrootcert={ca}"))).await;
    assert!(
        text.contains(&named) && text.contains("certificate"),
        "{text}"
    );

    // verify-full, the right CA, a client certificate: att runs on it.
    let url = DatabaseUrl::try_from(good).expect("url");
    let att = TestAtt::start_with(move |c| c.database_url = Some(url)).await;
    let ready = att.get_json("/api/v1/ready").await;
    assert_eq!(ready["checks"]["store"], "ok", "{ready}");
    let connections = pg.psql("SELECT count(*) FROM pg_stat_ssl WHERE ssl AND client_dn <> ''");
    assert_ne!(
        connections.trim(),
        "0",
        "att's connections are TLS with its certificate"
    );
    att.server.shutdown().await;
}
