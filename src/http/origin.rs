//! Who may talk to att from a browser: the `Host` and `Origin` rules applied to every route of
//! the listener (`/api`, `/mcp`, `/metrics`, and anything served later).
//!
//! Any web page can reach loopback. Two attacks follow, and each rule below closes one:
//! - **DNS rebinding**: a page at `attacker.example` re-points its name to 127.0.0.1, so its
//!   requests are same-origin (no CORS preflight) and reach att with `Host: attacker.example`.
//!   A rebinding needs a *name* in `Host`, so att accepts a `Host` only when it is an IP
//!   literal, `localhost`, or a name listed in `[http] allowed_hosts`.
//! - **Cross-site requests**: a page elsewhere POSTs a form or a `fetch` to
//!   `http://127.0.0.1:8300` (its `Host` is fine). The browser says where the page came from in
//!   `Origin`: att accepts an `Origin` only when it is a loopback page, att's own origin (the
//!   same authority as `Host`), or listed in `[http] allowed_origins`. A state-changing request
//!   the browser marks `Sec-Fetch-Site: cross-site` is refused even without an `Origin`.
//!
//! Requests from programs (curl, SDK clients) carry no `Origin` and a `Host` that names the
//! address they dialled, so they pass unchanged. [`BrowserPolicy::check`] is a pure function
//! of the request's headers, table-tested below; the middleware is a thin shell around it.

use axum::http::{HeaderMap, Method, header};

/// The configured exceptions, normalised once at start.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    /// Host names accepted besides IP literals and `localhost` (lower case; `*` means any),
    /// each with an optional port.
    hosts: Vec<(String, Option<u16>)>,
    /// Origins accepted besides loopback pages and att's own: `scheme://host[:port|:*]`.
    origins: Vec<AllowedOrigin>,
    /// `*` was listed in `allowed_hosts`: every `Host` is accepted.
    any_host: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: String,
    host: String,
    /// `None`: any port (`:*`, or no port given).
    port: Option<u16>,
}

/// Why a request was refused; the text tells the operator what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No usable `Host` header.
    #[error("the request has no valid Host header")]
    NoHost,
    /// A name att was not told it answers to (DNS-rebinding protection).
    #[error(
        "Host `{0}` is not allowed (DNS-rebinding protection): att answers to IP addresses, `localhost` and the names in `[http] allowed_hosts`"
    )]
    Host(String),
    /// A browser page from elsewhere.
    #[error(
        "Origin `{0}` is not allowed: a browser page may call att only from a loopback page, from att itself, or from an origin in `[http] allowed_origins`"
    )]
    Origin(String),
    /// A state-changing request the browser marked as cross-site.
    #[error("a cross-site browser request may not change state")]
    CrossSite,
}

/// A `Host`-style authority: lower-cased host without brackets, and the port if given.
fn authority(text: &str) -> Option<(String, Option<u16>)> {
    let auth: axum::http::uri::Authority = text.trim().parse().ok()?;
    if auth.as_str().contains('@') {
        return None;
    }
    let host = auth
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some((host, auth.port_u16()))
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An `Origin` value: scheme, host and port (the scheme's default when omitted).
fn origin(text: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = text.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return None;
    }
    let (host, port) = authority(rest)?;
    let port = port.or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some((scheme, host, port))
}

impl BrowserPolicy {
    /// The policy for the configured `allowed_hosts` and `allowed_origins`. Entries that do
    /// not parse are reported in the error.
    pub fn new(hosts: &[String], origins: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for h in hosts {
            if h.trim() == "*" {
                policy.any_host = true;
                continue;
            }
            let parsed =
                authority(h).ok_or_else(|| format!("`{h}` in http.allowed_hosts is not a host"))?;
            policy.hosts.push(parsed);
        }
        for o in origins {
            let bad = || {
                format!(
                    "`{o}` in http.allowed_origins is not an origin such as https://app.example.com:443"
                )
            };
            let (text, any_port) = match o.trim().strip_suffix(":*") {
                Some(base) => (base, true),
                None => (o.trim(), false),
            };
            let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
            let (host, port) = authority(rest).ok_or_else(bad)?;
            policy.origins.push(AllowedOrigin {
                scheme: scheme.to_ascii_lowercase(),
                host,
                port: if any_port { None } else { port },
            });
        }
        Ok(policy)
    }

    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        self.any_host
            || is_ip_literal(host)
            || host == "localhost"
            || self
                .hosts
                .iter()
                .any(|(h, p)| h == host && p.is_none_or(|p| Some(p) == port))
    }

    fn origin_allowed(&self, value: &str, host: &(String, Option<u16>)) -> bool {
        let Some((scheme, o_host, o_port)) = origin(value) else {
            return false;
        };
        if !matches!(scheme.as_str(), "http" | "https") {
            return false;
        }
        if is_loopback_name(&o_host) {
            return true;
        }
        // att's own pages: the same authority the request was sent to.
        let default = if scheme == "https" { 443 } else { 80 };
        if o_host == host.0 && o_port == Some(host.1.unwrap_or(default)) {
            return true;
        }
        self.origins.iter().any(|a| {
            a.scheme == scheme && a.host == o_host && a.port.is_none_or(|p| Some(p) == o_port)
        })
    }

    /// Whether a request with these headers may be served.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let host_text = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::NoHost)?;
        let host = authority(host_text).ok_or(Refusal::NoHost)?;
        if !self.host_allowed(&host.0, host.1) {
            return Err(Refusal::Host(host_text.chars().take(200).collect()));
        }
        if let Some(o) = headers.get(header::ORIGIN) {
            let text = o.to_str().unwrap_or("<not text>");
            if !self.origin_allowed(text, &host) {
                return Err(Refusal::Origin(text.chars().take(200).collect()));
            }
        }
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if !safe && cross_site {
            return Err(Refusal::CrossSite);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// A method, request headers, and the refusal expected (a part of its text), if any.
    type Row<'a> = (
        &'a Method,
        &'a [(&'static str, &'static str)],
        Option<&'a str>,
    );

    #[test]
    fn the_table_of_hosts_origins_and_fetch_sites() {
        let policy = BrowserPolicy::new(
            &["att.example.com".into(), "proxy.internal:8443".into()],
            &["https://app.example.com:*".into()],
        )
        .expect("policy");
        let get = Method::GET;
        let post = Method::POST;
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // Programs: an IP literal or localhost, no Origin.
            (&post, &[("host", "127.0.0.1:8300")], None),
            (&post, &[("host", "localhost:8300")], None),
            (&post, &[("host", "[::1]:8300")], None),
            (&post, &[("host", "10.1.2.3")], None),
            // DNS rebinding: a name att was not told about, whatever the Origin says.
            (&post, &[("host", "attacker.example:8300"), ("origin", "http://attacker.example:8300")], Some("Host")),
            (&get, &[("host", "attacker.example:8300")], Some("Host")),
            (&get, &[("host", "localhost.attacker.example")], Some("Host")),
            (&get, &[], Some("no valid Host")),
            (&get, &[("host", "user@127.0.0.1")], Some("no valid Host")),
            // Configured names: any port, or the listed one.
            (&get, &[("host", "att.example.com:9000")], None),
            (&get, &[("host", "ATT.example.com")], None),
            (&get, &[("host", "proxy.internal:8443")], None),
            (&get, &[("host", "proxy.internal:8444")], Some("Host")),
            // Origins: loopback pages, att's own origin, configured ones.
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "http://localhost:3000")], None),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "https://[::1]:1")], None),
            (&post, &[("host", "att.example.com"), ("origin", "http://att.example.com")], None),
            (&post, &[("host", "att.example.com:8300"), ("origin", "http://att.example.com:8300")], None),
            (&post, &[("host", "att.example.com:8300"), ("origin", "http://att.example.com:8301")], Some("Origin")),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "https://app.example.com:444")], None),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "http://app.example.com")], Some("Origin")),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "http://evil.example")], Some("Origin")),
            (&get, &[("host", "127.0.0.1:8300"), ("origin", "http://evil.example")], Some("Origin")),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "null")], Some("Origin")),
            (&post, &[("host", "127.0.0.1:8300"), ("origin", "file://")], Some("Origin")),
            // Fetch metadata: cross-site may look, not change.
            (&get, &[("host", "127.0.0.1:8300"), ("sec-fetch-site", "cross-site")], None),
            (&post, &[("host", "127.0.0.1:8300"), ("sec-fetch-site", "cross-site")], Some("cross-site")),
            (&post, &[("host", "127.0.0.1:8300"), ("sec-fetch-site", "same-origin")], None),
        ];
        for (method, pairs, want) in rows {
            let got = policy.check(method, &headers(pairs));
            match (want, &got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) if e.to_string().contains(w) => {}
                _ => panic!("{method} {pairs:?}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_star_accepts_every_host_but_not_every_origin() {
        let policy = BrowserPolicy::new(&["*".into()], &[]).expect("policy");
        let h = headers(&[("host", "anything.example")]);
        assert_eq!(policy.check(&Method::POST, &h), Ok(()));
        let h = headers(&[
            ("host", "anything.example"),
            ("origin", "http://other.example"),
        ]);
        assert!(matches!(
            policy.check(&Method::POST, &h),
            Err(Refusal::Origin(_))
        ));
    }

    #[test]
    fn bad_configuration_entries_are_named() {
        let e = BrowserPolicy::new(&["bad host/".into()], &[]).expect_err("bad host");
        assert!(e.contains("bad host/"), "{e}");
        let e = BrowserPolicy::new(&[], &["app.example.com".into()]).expect_err("no scheme");
        assert!(e.contains("allowed_origins"), "{e}");
    }
}
