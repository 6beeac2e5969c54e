//! Reading the issuer's documents over HTTP: its JWK Set, and where that is (discovery).
//!
//! Every fetch is bounded: [`FETCH_TIMEOUT`] for the whole exchange, [`MAX_DOCUMENT`] bytes
//! of body (read in chunks, stopped past the limit), no redirects to another origin. The
//! client trusts the platform's roots (the same TLS setup as att's other clients, ring as
//! the provider).
//!
//! Discovery, when no `jwks_url` is configured: the `jwks_uri` of
//! `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery), else of
//! `<origin>/.well-known/oauth-authorization-server<path>` (RFC 8414 §3.1). A document
//! whose `issuer` is not the configured issuer is refused (RFC 8414 §3.3: mix-up defence).

use std::time::Duration;

use serde::Deserialize;

/// The longest a fetch of the issuer's documents may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest document read from the issuer.
pub const MAX_DOCUMENT: usize = 256 * 1024;

fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(FETCH_TIMEOUT)
                .tls_backend_preconfigured(att_gateway::upstream::tls::platform_client_config())
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// The body of `GET url` (a 2xx answer of at most [`MAX_DOCUMENT`] bytes), or why not.
pub async fn get(url: &str) -> Result<Vec<u8>, String> {
    let work = async {
        let mut response = client()
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!(
                    "GET {url}: the answer is larger than {MAX_DOCUMENT} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(format!("GET {url}: no answer within {FETCH_TIMEOUT:?}")))
}

#[derive(Deserialize)]
struct ServerMetadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
}

/// Where an issuer's metadata may be, in the order tried.
pub fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Ok(url) = reqwest::Url::parse(issuer) {
        let path = url.path().trim_end_matches('/');
        let origin = url.origin().ascii_serialization();
        urls.push(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls
}

/// The `jwks_uri` the issuer's metadata names.
pub async fn discover_jwks_url(issuer: &str) -> Result<String, String> {
    let mut why = Vec::new();
    for url in metadata_urls(issuer) {
        let doc = match get(&url).await {
            Ok(body) => body,
            Err(e) => {
                why.push(e);
                continue;
            }
        };
        match serde_json::from_slice::<ServerMetadata>(&doc) {
            Ok(m) if m.issuer != issuer => {
                why.push(format!("{url} names another issuer, `{}`", m.issuer));
            }
            Ok(ServerMetadata {
                jwks_uri: Some(jwks),
                ..
            }) => return Ok(jwks),
            Ok(_) => why.push(format!("{url} names no `jwks_uri`")),
            Err(e) => why.push(format!("{url} is not server metadata: {e}")),
        }
    }
    Err(format!(
        "no key set found for issuer `{issuer}` (set `[auth.oidc] jwks_url`): {}",
        why.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_where_the_specs_put_it() {
        let cases = [
            (
                "https://id.example.com",
                vec![
                    "https://id.example.com/.well-known/openid-configuration",
                    "https://id.example.com/.well-known/oauth-authorization-server",
                ],
            ),
            (
                "https://id.example.com/realms/att/",
                vec![
                    "https://id.example.com/realms/att/.well-known/openid-configuration",
                    "https://id.example.com/.well-known/oauth-authorization-server/realms/att",
                ],
            ),
        ];
        for (issuer, want) in cases {
            assert_eq!(metadata_urls(issuer), want, "{issuer}");
        }
    }
}
