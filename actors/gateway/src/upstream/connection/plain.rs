//! att's own HTTP/1 client for warm requests to plain-HTTP upstreams ([`client`]).
//!
//! reqwest wraps every request in layers att's warm requests do not use: the redirect layer
//! turns the request's URI back into a URL (printed, then parsed with IDNA) before sending
//! and the response's again after, the retry layer clones the request's parts, the proxy
//! matcher looks at each URI. On a routed call that was 4–5% of att's instructions
//! (todo/perf.md). A session's warm POST to an `http://` upstream goes through hyper's own
//! pooled client instead (one per thread: [`client`]), configured as the shared reqwest clients
//! are: keep-alive with at most [`IDLE_PER_HOST`] idle connections per host closed after
//! [`IDLE_TIMEOUT`], and TCP_NODELAY on every socket.
//!
//! What stays with reqwest: HTTPS upstreams (their TLS configuration is reqwest's), every
//! request when the environment names a proxy (reqwest honours `HTTP_PROXY`/`ALL_PROXY`;
//! this client does not), and a session whose POST was answered with a redirect (reqwest
//! follows it within the origin, as rmcp's own requests do): the redirected request was not
//! served, so it is sent again through reqwest, and so is the session's every later one.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::upstream::tls::client::{IDLE_PER_HOST, IDLE_TIMEOUT};

/// The client of plain-HTTP warm requests.
pub(super) type Plain = Client<HttpConnector, Full<Bytes>>;

/// The environment variables that give reqwest a proxy for `http://` URLs.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

/// This thread's client, or `None` when the environment names a proxy.
///
/// One per thread, so one pool per thread: att serves each HTTP connection on one lane thread
/// (`att::http::lanes`), and a pooled upstream connection is driven by a task on the thread
/// that opened it. A pool shared by every thread would hand one lane's upstream connection to
/// another lane's request, and each call would then wake a second thread.
pub(super) fn client() -> Option<Plain> {
    thread_local! {
        static CLIENT: Option<Plain> = build();
    }
    CLIENT.with(Clone::clone)
}

fn build() -> Option<Plain> {
    let proxied = PROXY_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()));
    if proxied {
        return None;
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Some(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector),
    )
}
