//! att's HTTP/1 listener: the accept loop in front of the router, with the bounds a server on
//! a hostile network needs.
//!
//! - **A connection cap** (`[http] max_connections`, lowered to what the process's open-file
//!   limit allows): past it, a new connection is answered `503` with `Retry-After` and closed
//!   at once, so idle sockets cannot make att unreachable, and the kernel's backlog never
//!   fills with clients that wait forever.
//! - **A header deadline** (`[http] header_read_timeout`): a request's headers must arrive
//!   whole within it, however slowly they trickle (slowloris), and a kept-alive connection
//!   that sends no next request within it is closed.
//! - **TCP_NODELAY** on every accepted socket: small writes (an SSE event per message) go out
//!   at once instead of waiting for the client's delayed ACK (~40 ms on a kept-alive
//!   connection).
//! - **Drain, then stop**: once `draining` fires no connection is accepted (a launched att's
//!   successor takes them from the shared socket); once `stop` fires every open connection
//!   finishes its in-flight request and closes.
//!
//! - **HTTPS** when `[http] tls_cert` / `tls_key` are set ([`super::tls`]): the same port
//!   serves everything over TLS; the handshake must complete within the header deadline,
//!   and a connection past the cap is closed without an answer (a plain-text 503 means
//!   nothing to a TLS client, and a handshake would spend what the cap protects).
//!
//! - **On a lane** ([`super::lanes`]): the accept loop hands each connection to one of the
//!   server's lanes, which serves it (TLS handshake included) on its own thread.
//!
//! Each request carries the peer's address as `ConnectInfo<SocketAddr>` (per-client limits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::lanes::Lanes;
use super::tls::ServerTls;

/// Open-file descriptors kept free for everything else att opens (the store, logs, child
/// pipes, upstream connections) when the connection cap is derived from the fd limit.
const FD_RESERVE: u64 = 128;

/// The bounds of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Headers must arrive within this; idle kept-alive connections close after it.
    pub header_read_timeout: Duration,
}

/// Raises the soft open-file limit to the hard one (as most servers do) and returns the
/// connection cap that fits in it: `wanted`, or less when the descriptors are fewer.
pub fn fit_to_fd_limit(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let room = usize::try_from(soft.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX);
    wanted.min(room)
}

/// What a connection past the cap is told before it is closed.
const BUSY_BODY: &str = "{\"code\":\"unavailable\",\"detail\":\"att has the most open connections it allows ([http] max_connections); retry shortly\"}";

/// `listener` with TCP_NODELAY set on every socket it accepts, for servers att runs through
/// plain `axum::serve` (the fixtures, the tests' and benches' small servers): without it a
/// kept-alive client waits ~40 ms for each SSE response (Nagle against delayed ACK).
pub fn with_nodelay(
    listener: TcpListener,
) -> impl axum::serve::Listener<Io = TcpStream, Addr = SocketAddr> {
    axum::serve::ListenerExt::tap_io(listener, |tcp: &mut TcpStream| {
        let _ = tcp.set_nodelay(true);
    })
}

/// Serves `app` on `listener` within `limits` (over TLS with `tls`), each connection on one of
/// `lanes`, until `stop` (accepting nothing more once `draining`), then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    lanes: &Lanes,
    app: Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    draining: CancellationToken,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut accept_errors = 0u32;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = draining.cancelled() => break,
            () = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                accept_errors = 0;
                a
            }
            Err(e) => {
                // Out of descriptors, or the peer left before we took it: wait a little, say
                // so once in a while, and go on.
                accept_errors = accept_errors.saturating_add(1);
                if accept_errors.is_power_of_two() {
                    tracing::warn!(error = %e, count = accept_errors, "accepting a connection failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if tls.is_none() {
                connections.spawn(refuse(tcp));
            }
            continue;
        };
        let (app, stop, tracker) = (app.clone(), stop.clone(), connections.clone());
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        lanes.serve(tcp, move |tcp| {
            tracker.track_future(async move {
                match acceptor {
                    None => serve_connection(tcp, peer, app, limits, stop).await,
                    Some(acceptor) => {
                        let handshake = acceptor.accept(tcp);
                        match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                            Ok(Ok(stream)) => {
                                serve_connection(stream, peer, app, limits, stop).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake did not complete in time")
                            }
                        }
                    }
                }
                drop(permit);
            })
        });
    }
    // Wait for the open connections: they finish once `stop` fires.
    stop.cancelled().await;
    connections.close();
    connections.wait().await;
}

/// Tells a connection past the cap to come back later, and closes it.
async fn refuse(mut tcp: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(response.as_bytes())).await;
    let _ = tcp.shutdown().await;
}

async fn serve_connection<S>(
    io: S,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.map(Body::new)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!(error = %e, %peer, "connection ended with an error");
            }
            return;
        }
        () = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
