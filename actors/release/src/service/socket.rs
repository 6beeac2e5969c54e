//! The listening socket of a service with `listen` (see [`ServiceSpec::listen`]): att binds
//! it once, when the service's actor starts, and every release of the service gets it by
//! socket activation. Releases replaced by a deploy are not stopped at once but kept
//! `leaving`: they serve beside the new one until it passed its gates, then are retired —
//! left to serve for the spec's `drain`, then stopped (SIGTERM, SIGKILL after the grace).
//!
//! While two releases serve one socket, a probe sent to it is answered by either: a bad new
//! release could pass its health gate on the old one's answers. With `probe_socket`, each
//! process also gets a socket of its own ([`bind_probe`]: `listen`'s address, a port the
//! kernel picks), and its probes go there ([`probe_at`]). att keeps no copy of that socket:
//! when the process ends, its probe address refuses connections.
//!
//! [`ServiceSpec::listen`]: super::spec::ServiceSpec::listen

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use super::probe::Probe;
use crate::process::child::Process;

/// The name a process's private probe socket has in `LISTEN_FDNAMES`.
pub const PROBE_NAME: &str = "probe";

/// Binds `addr` for a service (address reuse on, as std does on Unix; `TCP_NODELAY` set on
/// the listener, which the connections it accepts inherit on Linux).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, a valid option value of the size given.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

/// A private probe socket for one process of a service listening on `listen`: the same
/// address (a loopback one for an unspecified `listen`), a port of its own.
pub fn bind_probe(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    bind(SocketAddr::new(ip, 0))
}

/// `probe` as it reaches the process whose private probe socket is `private`: an HTTP or
/// MCP probe whose URL names the service's `listen` address (its port, and its host as an
/// address equal to `listen`'s, `localhost` for a loopback or unspecified one, any loopback
/// address for an unspecified one) goes to `private`'s port — the host is kept, so a TLS
/// name still matches. Any other probe is left as it is (a command probe, a URL elsewhere).
pub fn probe_at(probe: &Probe, listen: SocketAddr, private: SocketAddr) -> Probe {
    let moved = |url: &str| -> Option<String> {
        let mut u = reqwest::Url::parse(url).ok()?;
        if u.port_or_known_default() != Some(listen.port()) {
            return None;
        }
        let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
        let names_listen = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip == listen.ip() || (listen.ip().is_unspecified() && ip.is_loopback()),
            Err(_) => {
                host.eq_ignore_ascii_case("localhost")
                    && (listen.ip().is_loopback() || listen.ip().is_unspecified())
            }
        };
        if !names_listen {
            return None;
        }
        u.set_port(Some(private.port())).ok()?;
        Some(u.into())
    };
    match probe {
        Probe::Http { url } => match moved(url) {
            Some(url) => Probe::Http { url },
            None => probe.clone(),
        },
        Probe::Mcp { url, tls } => match moved(url) {
            Some(url) => Probe::Mcp {
                url,
                tls: tls.clone(),
            },
            None => probe.clone(),
        },
        Probe::Program { .. } => probe.clone(),
    }
}

/// Retires `leaving` in the background: each serves on for `drain`, then is stopped with
/// `grace`.
pub fn retire(leaving: Vec<Arc<Process>>, drain: Duration, grace: Duration) {
    if leaving.is_empty() {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(drain).await;
        let stops = leaving.iter().map(|p| p.stop(grace));
        futures_util::future::join_all(stops).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> Probe {
        Probe::Http { url: url.into() }
    }

    #[test]
    fn a_probe_naming_listen_goes_to_the_private_port_and_others_are_left_alone() {
        let private: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
        // (listen, the probe's URL, where it goes; None: unchanged)
        let table = [
            (
                "127.0.0.1:8080",
                "http://127.0.0.1:8080/health",
                Some("http://127.0.0.1:40001/health"),
            ),
            (
                "127.0.0.1:8080",
                "http://localhost:8080/health?x=1",
                Some("http://localhost:40001/health?x=1"),
            ),
            (
                "127.0.0.1:80",
                "http://127.0.0.1/health",
                Some("http://127.0.0.1:40001/health"),
            ),
            (
                "127.0.0.1:443",
                "https://localhost/health",
                Some("https://localhost:40001/health"),
            ),
            (
                "0.0.0.0:8080",
                "http://127.0.0.1:8080/health",
                Some("http://127.0.0.1:40001/health"),
            ),
            (
                "[::1]:8080",
                "http://[::1]:8080/health",
                Some("http://[::1]:40001/health"),
            ),
            // Another port, another host, another address: not the service's socket.
            ("127.0.0.1:8080", "http://127.0.0.1:9090/health", None),
            ("127.0.0.1:8080", "http://example.com:8080/health", None),
            ("10.0.0.5:8080", "http://127.0.0.1:8080/health", None),
            ("10.0.0.5:8080", "http://localhost:8080/health", None),
            ("127.0.0.1:8080", "not a url", None),
        ];
        for (listen, url, want) in table {
            let listen: SocketAddr = listen.parse().expect("listen");
            let got = probe_at(&http(url), listen, private);
            assert_eq!(got, http(want.unwrap_or(url)), "{listen} {url}");
        }
        let mcp = Probe::Mcp {
            url: "http://127.0.0.1:8080/mcp".into(),
            tls: None,
        };
        let listen: SocketAddr = "127.0.0.1:8080".parse().expect("listen");
        assert_eq!(
            probe_at(&mcp, listen, private),
            Probe::Mcp {
                url: "http://127.0.0.1:40001/mcp".into(),
                tls: None
            }
        );
        let command = Probe::Program {
            argv: vec!["true".into()],
            cwd: None,
        };
        assert_eq!(probe_at(&command, listen, private), command);
    }

    #[test]
    fn a_probe_socket_is_on_the_listen_address_with_a_port_of_its_own() {
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let l = bind_probe(any).expect("bind");
        let addr = l.local_addr().expect("addr");
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let exact: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(
            bind_probe(exact)
                .expect("bind")
                .local_addr()
                .expect("addr")
                .ip(),
            exact.ip()
        );
    }
}
