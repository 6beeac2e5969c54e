//! A real HAProxy (Debian's `haproxy`) in front of att replicas, for the multi-replica tests:
//! HTTP mode, round-robin, no stickiness — each request of a keep-alive client connection is
//! balanced on its own, so a client's consecutive requests land on different replicas.
//! Replicas are health-checked (`GET /api/v1/health` every [`CHECK_EVERY`], out after two
//! failures), and a request whose connection a dead replica refuses is sent to another
//! (`option redispatch`); a request already sent to a replica that dies fails (502).
//!
//! The config is generated in a temp dir; `haproxy -f CONFIG -db` runs as a child process
//! (foreground, no daemon) and is killed when the [`Haproxy`] is dropped. Without the binary,
//! [`Haproxy::start`] prints [`SKIPPED`] and returns `None` (`.ci/run` installs it). It
//! blocks while it waits for the replicas to come up: replicas served by the caller's own
//! runtime need a multi-thread one.
//! `benches/replicas.rs` uses this same file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs it.
pub const HAPROXY: &str = "/usr/sbin/haproxy";
/// What a test without haproxy prints.
pub const SKIPPED: &str = "skipped: haproxy not found";
/// How often HAProxy checks each replica's health.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// How long HAProxy may take to listen.
const START_WITHIN: Duration = Duration::from_secs(10);

/// A running HAProxy balancing over some att replicas.
pub struct Haproxy {
    child: Child,
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Whether the binary is there; if not, says so for `test`.
    pub fn available(test: &str) -> bool {
        if Path::new(HAPROXY).exists() {
            return true;
        }
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{test}: {SKIPPED} ({HAPROXY})");
        false
    }

    /// HAProxy balancing round-robin over `replicas`, listening on a free port, or `None`
    /// (having printed why) without the binary.
    pub fn start(test: &str, replicas: &[SocketAddr]) -> Option<Self> {
        if !Self::available(test) {
            return None;
        }
        let dir = tempfile::tempdir().expect("haproxy dir");
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, config_text(addr, replicas)).expect("write haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("haproxy log");
        let child = Command::new(HAPROXY)
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn haproxy");
        let mut proxy = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + START_WITHIN;
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("haproxy exited ({status}): {}", proxy.log());
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen: {}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Up once every replica has passed a health check (each starts down).
        proxy.wait_up(replicas.len());
        Some(proxy)
    }

    /// Waits (bounded) until the `n` replicas are up behind HAProxy (each starts down until
    /// its first check): twice `n` health requests in a row answered 200 through it.
    fn wait_up(&self, n: usize) {
        let deadline = Instant::now() + START_WITHIN;
        let mut ok_in_a_row = 0;
        while ok_in_a_row < 2 * n {
            assert!(
                Instant::now() < deadline,
                "replicas never came up behind haproxy: {}",
                self.log()
            );
            if health_ok(self.addr) {
                ok_in_a_row += 1;
            } else {
                ok_in_a_row = 0;
                std::thread::sleep(CHECK_EVERY / 2);
            }
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What HAProxy logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration: one frontend on `addr`, one round-robin backend of `replicas`.
fn config_text(addr: SocketAddr, replicas: &[SocketAddr]) -> String {
    let inter = CHECK_EVERY.as_millis();
    let mut text = format!(
        "global\n\
         \tmaxconn 4096\n\
         defaults\n\
         \tmode http\n\
         \ttimeout connect 2s\n\
         \ttimeout client 60s\n\
         \ttimeout server 60s\n\
         \ttimeout check 2s\n\
         \ttimeout http-keep-alive 10s\n\
         \tretries 2\n\
         \toption redispatch\n\
         frontend atts\n\
         \tbind {addr}\n\
         \tdefault_backend replicas\n\
         backend replicas\n\
         \tbalance roundrobin\n\
         \toption httpchk\n\
         \thttp-check send meth GET uri /api/v1/health ver HTTP/1.1 hdr Host 127.0.0.1\n\
         \thttp-check expect status 200\n\
         \tdefault-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall 2 rise 1\n"
    );
    for (i, replica) in replicas.iter().enumerate() {
        text.push_str(&format!("\tserver att{i} {replica} check\n"));
    }
    text
}

/// Whether `GET /api/v1/health` through `addr` answers 200 (a blocking HTTP/1.1 request).
fn health_ok(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
