//! Helpers shared by the integration tests: an in-process att on a free port, a real `att`
//! process, and bounded waiting for a condition (tests never sleep for timing).

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use att::config::Config;
use att::server::Server;

/// Makes ring the process's rustls provider before any test runs: reqwest and rmcp build
/// their default clients from it, and a test binary has no `main` to do it in (an
/// `.init_array` entry is what the platform runs before `main`). Every test binary that
/// includes this module gets it.
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL_CRYPTO_PROVIDER: extern "C" fn() = {
    extern "C" fn install() {
        att_gateway::upstream::tls::install_crypto_provider();
    }
    install
};

/// An att started in this process on 127.0.0.1 with a free port and a temp data directory.
pub struct TestAtt {
    pub server: Server,
    pub base: String,
    pub http: reqwest::Client,
    pub data: tempfile::TempDir,
}

impl TestAtt {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().expect("temp data dir");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.path().to_owned(),
            ..Config::default()
        };
        adjust(&mut config);
        let server = att::server::start(config).await.expect("att starts");
        let base = format!("http://{}", server.local_addr);
        Self {
            server,
            base,
            // Idle connections are dropped before att's `header_read_timeout` would close them
            // (a reused connection closed under a new request would fail it).
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// [`TestAtt::get_json`] with a bearer token or key.
    pub async fn get_json_with(&self, path: &str, key: &str) -> serde_json::Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("JSON body")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("JSON body")
    }
}

/// Polls `check` until it returns `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A real `att serve` process.
pub struct AttProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr_path: std::path::PathBuf,
}

impl AttProcess {
    /// Starts `att serve --listen 127.0.0.1:0 --data-dir DIR ARGS…` and waits for its address.
    pub fn start(data_dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(data_dir, args, &[])
    }

    /// [`AttProcess::start`] with extra environment variables (`ATT_*` settings).
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_listening(data_dir, "127.0.0.1:0", args, env)
    }

    /// [`AttProcess::start_with_env`] on `listen` (a restart on the same port).
    pub fn start_listening(
        data_dir: &Path,
        listen: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let stderr_path = data_dir.with_extension(format!("stderr-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_att"))
            .arg("serve")
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn att");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line
            .trim()
            .strip_prefix("att listening on http://")
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("att did not start: stdout {line:?}, stderr:\n{log}")
            })
            .parse()
            .expect("address");
        Self {
            child,
            addr,
            stderr_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("att did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for AttProcess {
    /// Stopped as an operator would (SIGTERM: att stops the services it runs), killed when it
    /// has not ended within a few seconds. A SIGKILL alone left its services running after
    /// the test.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory involved.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// The fixture MCP server's handler, shared with the `att-mcp-fixture` binary.
#[path = "../../../src/bin/att-mcp-fixture/fixture.rs"]
pub mod fixture;

/// A legacy HTTP+SSE server serving the fixture handler.
pub mod legacy_sse;

/// A real HAProxy in front of att replicas.
pub mod haproxy;

/// A headless Chromium driven over WebDriver (the dashboard tests).
pub mod webdriver;

/// A fixture MCP server served in-process over streamable HTTP on 127.0.0.1.
pub struct ServedFixture {
    pub fixture: fixture::Fixture,
    pub url: String,
    pub task: tokio::task::JoinHandle<()>,
    /// The server's sessions: clearing them is what a restarted server looks like.
    pub sessions: std::sync::Arc<
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    >,
}

impl ServedFixture {
    /// Forgets every session, as a restarted server would: old session ids now get 404.
    #[allow(dead_code)]
    pub async fn forget_sessions(&self) {
        self.sessions.sessions.write().await.clear();
    }
}

/// Serves a fixture called `name`; `crash` makes it stop answering (the process stays).
pub async fn serve_fixture(name: &str) -> ServedFixture {
    serve_fixture_with(name, |app| app).await
}

/// [`serve_fixture`], its router (the fixture at `/mcp`) first passed through `wrap` (a test
/// layer that watches or changes requests).
pub async fn serve_fixture_with(
    name: &str,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> ServedFixture {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    let fixture = fixture::Fixture::new(name, fixture::CrashMode::Flag);
    let served = fixture.clone();
    let sessions = std::sync::Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(served.clone()),
        sessions.clone(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let app = wrap(axum::Router::new().nest_service("/mcp", service));
    let task = tokio::spawn(async move {
        let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
    });
    ServedFixture {
        fixture,
        url,
        task,
        sessions,
    }
}

/// Serves a fixture called `name` that answers only requests whose headers `admit` accepts
/// (401 otherwise): an upstream that wants credentials. Its `/mcp` URL.
#[allow(dead_code)]
pub async fn serve_guarded_fixture(
    name: &str,
    admit: impl Fn(&axum::http::HeaderMap) -> bool + Clone + Send + Sync + 'static,
) -> String {
    use axum::response::IntoResponse;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let served = fixture::Fixture::new(name, fixture::CrashMode::Flag);
    let service = StreamableHttpService::new(
        move || Ok(served.clone()),
        std::sync::Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let guard = axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let admit = admit.clone();
            async move {
                if admit(req.headers()) {
                    next.run(req).await
                } else {
                    axum::http::StatusCode::UNAUTHORIZED.into_response()
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(guard);
    tokio::spawn(async move {
        let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
    });
    url
}

/// Starts an upstream actor for `spec` under the tree's `upstreams` supervisor.
pub async fn start_upstream(
    tree: &att_gateway::tree::AttTree,
    spec: att_gateway::upstream::UpstreamSpec,
    policy: att_gateway::upstream::HealthPolicy,
) -> att_gateway::upstream::actor::UpstreamHandle {
    use att_gateway::upstream::actor::{UpstreamActor, UpstreamArgs, UpstreamHandle};
    use att_runtime::supervisor::{ChildSpec, RestartPolicy};

    let name = spec.name.clone();
    let (events, router, clock) = (tree.events.clone(), tree.router.clone(), tree.clock.clone());
    let subscriptions = tree.subscriptions.clone();
    let child = ChildSpec::new(
        UpstreamHandle::actor_name(&name),
        RestartPolicy::default(),
        move || {
            let args = UpstreamArgs {
                spec: spec.clone(),
                policy,
                events: std::sync::Arc::new(events.clone()),
                router: router.clone(),
                clock: clock.clone(),
                subscriptions: subscriptions.clone(),
            };
            (UpstreamActor, args)
        },
    );
    tree.upstreams
        .start_child(child)
        .await
        .expect("upstream starts");
    UpstreamHandle::new(tree.directory.clone(), &name)
}

/// An actor tree on a fresh SQLite file.
pub async fn tree() -> (att_gateway::tree::AttTree, tempfile::TempDir) {
    tree_with(att_gateway::tree::TreeConfig::default()).await
}

/// An actor tree on a fresh SQLite file, configured by `config`.
pub async fn tree_with(
    config: att_gateway::tree::TreeConfig,
) -> (att_gateway::tree::AttTree, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = att::store::SqliteStore::open(&dir.path().join("att.db"))
        .await
        .expect("store");
    let store: std::sync::Arc<dyn att_runtime::events::EventStore> = std::sync::Arc::new(store);
    let tree = att_gateway::tree::AttTree::start(store, config)
        .await
        .expect("tree");
    (tree, dir)
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u64) -> bool {
    u32::try_from(pid)
        .ok()
        .and_then(att_runtime::process::stat)
        .is_some_and(|s| s.alive())
}

/// The pids of live processes whose argument vector satisfies `matches`.
pub fn processes(matches: impl Fn(&[String]) -> bool) -> Vec<u64> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let argv: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            matches(&argv) && alive(*pid)
        })
        .collect()
}

/// Waits (bounded) until `pid` has exited.
pub async fn wait_dead(pid: u64) {
    let pid = u32::try_from(pid).expect("a pid");
    assert!(
        att_runtime::process::wait_gone(pid, Duration::from_secs(10)).await,
        "process {pid} is still alive"
    );
}

/// Commits `files` (path, content) on top of `repo`'s HEAD; the commit id.
pub fn commit(repo: &git2::Repository, files: &[(&str, &str)], message: &str) -> String {
    let root = repo.workdir().expect("workdir").to_owned();
    let mut index = repo.index().expect("index");
    for (path, text) in files {
        std::fs::write(root.join(path), text).expect("write");
        index.add_path(std::path::Path::new(path)).expect("add");
    }
    index.write().expect("index write");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let who = git2::Signature::now("t", "t@example.com").expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &who, &who, message, &tree, &parents)
        .expect("commit")
        .to_string()
}

/// A free port on 127.0.0.1 (for a service the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// POSTs `body` as JSON; the status and the JSON answer.
pub async fn post(att: &TestAtt, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = att
        .http
        .post(att.url(path))
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Asks for a pipeline run and waits (at most `limit`) until it ends; the final record.
pub async fn run_to_end(
    att: &TestAtt,
    request: serde_json::Value,
    limit: Duration,
) -> serde_json::Value {
    let (status, body) = post(att, "/api/v1/bootstrap/runs", request).await;
    assert_eq!(status, 202, "{body}");
    let id = body["run_id"].as_str().expect("run id").to_owned();
    eventually("the run's end", limit, || async {
        let r = att.get_json(&format!("/api/v1/bootstrap/runs/{id}")).await;
        (r["status"] != "running" && r["status"] != "guarding").then_some(r)
    })
    .await
}

/// The record of phase `name` in a run.
pub fn phase<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    run["phases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["phase"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

pub fn phases(run: &serde_json::Value) -> Vec<(String, String)> {
    run["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            (
                p["phase"].as_str().unwrap_or_default().to_owned(),
                p["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn expect_phases(run: &serde_json::Value, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(phases(run), want, "{run}");
}

/// The text a test service on 127.0.0.1:`port` answers at `path`, if it answers.
pub async fn service_text(port: u16, path: &str) -> Option<String> {
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?
        .text()
        .await
        .ok()
}
