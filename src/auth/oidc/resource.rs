//! att as an OAuth protected resource: its identifier, its metadata document (RFC 9728)
//! and the challenge a refused `/mcp` request carries (RFC 6750 §3, MCP authorization
//! 2025-11-25).
//!
//! The resource is `/mcp` at the URL clients use: the configured `resource`, or
//! `http(s)://<Host>/mcp` from the request (the `Host` passed the browser policy already:
//! `http::origin`). Its metadata lives where RFC 9728 §3.1 puts it — the well-known path
//! between the host and the resource's path: `/.well-known/oauth-protected-resource/mcp`.
//! A `401` names that URL in `WWW-Authenticate: Bearer resource_metadata="…"`, which is how
//! an MCP client finds the authorization server; a refused token adds
//! `error="invalid_token"` and why.

use serde_json::{Value, json};

/// The well-known prefix of protected-resource metadata (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What the metadata and the challenge say.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    /// The configured resource URL, if any.
    pub resource: Option<String>,
    /// Whether att serves HTTPS (the scheme of a resource derived from `Host`).
    pub https: bool,
    pub issuer: String,
    pub scopes: Vec<String>,
}

impl ProtectedResource {
    /// att's `/mcp` URL, for a request that came with `host`.
    pub fn resource(&self, host: Option<&str>) -> Option<String> {
        if let Some(r) = &self.resource {
            return Some(r.clone());
        }
        let host = host.filter(|h| sane_host(h))?;
        let scheme = if self.https { "https" } else { "http" };
        Some(format!("{scheme}://{host}/mcp"))
    }

    /// Where the metadata of the resource is (RFC 9728 §3.1).
    pub fn metadata_url(&self, host: Option<&str>) -> Option<String> {
        let resource = reqwest::Url::parse(&self.resource(host)?).ok()?;
        let path = resource.path().trim_end_matches('/');
        let origin = resource.origin().ascii_serialization();
        Some(format!("{origin}{WELL_KNOWN}{path}"))
    }

    /// The metadata document.
    pub fn document(&self, host: Option<&str>) -> Option<Value> {
        let mut doc = json!({
            "resource": self.resource(host)?,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
        });
        if !self.scopes.is_empty() {
            doc["scopes_supported"] = json!(self.scopes);
        }
        Some(doc)
    }

    /// The `WWW-Authenticate` value of a 401: `refused` is why a presented credential was
    /// refused (none: nothing was presented).
    pub fn challenge(&self, host: Option<&str>, refused: Option<&str>) -> String {
        let mut params = Vec::new();
        if let Some(url) = self.metadata_url(host) {
            params.push(format!("resource_metadata=\"{}\"", quoted(&url)));
        }
        if let Some(why) = refused {
            params.push("error=\"invalid_token\"".to_owned());
            params.push(format!("error_description=\"{}\"", quoted(why)));
        }
        if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        }
    }
}

/// A `Host` value fit to build a URL from: a name or address and a port, nothing else.
fn sane_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `text` as the inside of a quoted string, with only the characters RFC 6750 §3 allows
/// (`%x20-21 / %x23-5B / %x5D-7E`): quotes and backslashes become `'` and `/`.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(resource: Option<&str>, https: bool) -> ProtectedResource {
        ProtectedResource {
            resource: resource.map(str::to_owned),
            https,
            issuer: "https://id.example.com".into(),
            scopes: Vec::new(),
        }
    }

    #[test]
    fn the_resource_and_its_metadata_url_by_the_table() {
        let cases = [
            (
                pr(None, false),
                Some("127.0.0.1:8300"),
                Some("http://127.0.0.1:8300/mcp"),
                Some("http://127.0.0.1:8300/.well-known/oauth-protected-resource/mcp"),
            ),
            (
                pr(None, true),
                Some("att.example.com"),
                Some("https://att.example.com/mcp"),
                Some("https://att.example.com/.well-known/oauth-protected-resource/mcp"),
            ),
            (
                pr(None, false),
                Some("[::1]:8300"),
                Some("http://[::1]:8300/mcp"),
                Some("http://[::1]:8300/.well-known/oauth-protected-resource/mcp"),
            ),
            (pr(None, false), None, None, None),
            (pr(None, false), Some("evil.com/x?y"), None, None),
            (pr(None, false), Some("a\"b"), None, None),
            (
                pr(Some("https://gw.example.com/att/mcp"), false),
                Some("ignored"),
                Some("https://gw.example.com/att/mcp"),
                Some("https://gw.example.com/.well-known/oauth-protected-resource/att/mcp"),
            ),
            (
                pr(Some("https://gw.example.com/"), false),
                None,
                Some("https://gw.example.com/"),
                Some("https://gw.example.com/.well-known/oauth-protected-resource"),
            ),
        ];
        for (p, host, resource, metadata) in cases {
            assert_eq!(p.resource(host).as_deref(), resource, "{host:?}");
            assert_eq!(p.metadata_url(host).as_deref(), metadata, "{host:?}");
        }
    }

    #[test]
    fn the_document_lists_the_issuer_and_the_scopes_when_there_are_some() {
        let mut p = pr(None, false);
        assert_eq!(
            p.document(Some("h:1")),
            Some(json!({
                "resource": "http://h:1/mcp",
                "authorization_servers": ["https://id.example.com"],
                "bearer_methods_supported": ["header"],
            }))
        );
        p.scopes = vec!["mcp".into()];
        assert_eq!(
            p.document(Some("h:1")).expect("doc")["scopes_supported"],
            json!(["mcp"])
        );
    }

    #[test]
    fn challenges_name_the_metadata_and_why_a_token_was_refused() {
        let p = pr(None, false);
        let meta = "resource_metadata=\"http://h:1/.well-known/oauth-protected-resource/mcp\"";
        let cases = [
            (Some("h:1"), None, format!("Bearer {meta}")),
            (
                Some("h:1"),
                Some("the token has expired"),
                format!(
                    "Bearer {meta}, error=\"invalid_token\", error_description=\"the token has expired\""
                ),
            ),
            (
                Some("h:1"),
                Some("a \"quoted\\ thing\u{e9}\n"),
                format!(
                    "Bearer {meta}, error=\"invalid_token\", error_description=\"a 'quoted/ thing??\""
                ),
            ),
            (None, None, "Bearer".to_owned()),
        ];
        for (host, refused, want) in cases {
            let got = p.challenge(host, refused);
            assert_eq!(got, want);
            assert!(axum::http::HeaderValue::from_str(&got).is_ok(), "{got}");
        }
    }
}
