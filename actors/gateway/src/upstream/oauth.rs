//! OAuth client credentials towards an upstream (RFC 6749 §4.4): for an HTTP upstream with an
//! `oauth` table, att asks the token endpoint for an access token and sends it as
//! `Authorization: Bearer …` on the session it opens.
//!
//! ```toml
//! oauth = { token_url = "https://id.example.com/oauth/token", client_id = "att",
//!           client_secret = { from_env = "UPSTREAM_SECRET" }, scope = "mcp" }
//! ```
//!
//! Tokens are kept per distinct `oauth` table ([`bearer`]) and reused while they stay valid
//! for longer than the session that will carry them (`fresh_for`: the upstream's
//! `max_init_age`, at least a minute); a session whose handshake fails forgets its token
//! ([`forget`]), so a revoked token is replaced at the next attempt. The client secret goes
//! in HTTP Basic authentication (`auth_method = "basic"`, the default) or in the form body
//! (`"post"`); over `https`, or plain `http` to a loopback host only. The exchange is bounded
//! (10 s, 64 KiB), and an error names the endpoint, its status and its `error` code — never
//! the secret or a token.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::spec::{SpecError, bad};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    #[default]
    Basic,
    /// The id and secret in the form body (`client_secret_post`).
    Post,
}

/// An upstream's `oauth` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// The token endpoint.
    pub token_url: String,
    /// The client's id.
    pub client_id: String,
    /// The client's secret (sealed at rest, never shown; `{ from_env = … }` in the file).
    #[serde(deserialize_with = "crate::secret::value")]
    pub client_secret: String,
    /// The scope asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The audience asked for (some providers need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// `basic` (default) or `post`.
    #[serde(default)]
    pub auth_method: AuthMethod,
}

impl ClientCredentials {
    /// Whether it holds together: an `https` token endpoint (plain `http` to loopback only),
    /// an id and a secret.
    pub fn check(&self) -> Result<(), SpecError> {
        let url = reqwest::Url::parse(&self.token_url)
            .map_err(|e| bad("oauth.token_url", format!("not a URL: {e}")))?;
        let loopback = url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(bad(
                    "oauth.token_url",
                    "must be https (plain http only to a loopback host): the client secret goes there",
                ));
            }
        }
        if self.client_id.is_empty() {
            return Err(bad("oauth.client_id", "must not be empty"));
        }
        if self.client_secret.is_empty() {
            return Err(bad("oauth.client_secret", "must not be empty"));
        }
        Ok(())
    }

    /// As att shows it: the secret replaced.
    pub fn redacted(&self) -> Self {
        Self {
            client_secret: crate::secret::REDACTED.to_owned(),
            ..self.clone()
        }
    }
}

/// A token and until when att uses it.
struct Token {
    value: String,
    valid_until: Instant,
}

fn tokens() -> &'static Mutex<HashMap<ClientCredentials, Token>> {
    static TOKENS: OnceLock<Mutex<HashMap<ClientCredentials, Token>>> = OnceLock::new();
    TOKENS.get_or_init(Mutex::default)
}

/// A token for `c` that stays valid for at least `fresh_for` (a kept one, or a new one from
/// the token endpoint through `client`).
pub async fn bearer(
    c: &ClientCredentials,
    client: &reqwest::Client,
    fresh_for: Duration,
) -> Result<String, String> {
    let fresh_for = fresh_for.max(Duration::from_secs(60));
    {
        let kept = tokens().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = kept.get(c)
            && t.valid_until > Instant::now() + fresh_for
        {
            return Ok(t.value.clone());
        }
    }
    let asked = Instant::now();
    let (value, lifetime) = fetch(c, client).await?;
    tokens().lock().unwrap_or_else(|p| p.into_inner()).insert(
        c.clone(),
        Token {
            value: value.clone(),
            valid_until: asked + lifetime,
        },
    );
    Ok(value)
}

/// Forgets the token kept for `c` (its session failed: it may have been revoked).
pub fn forget(c: &ClientCredentials) {
    tokens().lock().unwrap_or_else(|p| p.into_inner()).remove(c);
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
}

/// Asks the token endpoint; the token and how long it lives (`expires_in`; 5 minutes when
/// it does not say).
async fn fetch(
    c: &ClientCredentials,
    client: &reqwest::Client,
) -> Result<(String, Duration), String> {
    const MAX: usize = 64 * 1024;
    let endpoint = &c.token_url;
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = &c.scope {
        form.push(("scope", s));
    }
    if let Some(a) = &c.audience {
        form.push(("audience", a));
    }
    let mut req = client.post(endpoint).timeout(Duration::from_secs(10));
    match c.auth_method {
        AuthMethod::Basic => req = req.basic_auth(&c.client_id, Some(&c.client_secret)),
        AuthMethod::Post => {
            form.push(("client_id", &c.client_id));
            form.push(("client_secret", &c.client_secret));
        }
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let failed = |why: String| format!("the token endpoint {endpoint}: {why}");
    let mut response = req
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| failed(format!("no answer ({})", e.without_url())))?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(format!("the answer broke off ({})", e.without_url())))?
    {
        if bytes.len() + chunk.len() > MAX {
            return Err(failed(format!("the answer is larger than {MAX} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    let answer: Option<Answer> = serde_json::from_slice(&bytes).ok();
    if !status.is_success() {
        let code = answer.and_then(|a| a.error).map_or_else(String::new, |e| {
            let e: String = e
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            format!(": {e}")
        });
        return Err(failed(format!("answered {status}{code}")));
    }
    let answer = answer.ok_or_else(|| failed("the answer is not a token response".into()))?;
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| failed("no access_token in the answer".into()))?;
    if answer
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(failed("the token is not a bearer token".into()));
    }
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
    Ok((token, lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(url: &str) -> ClientCredentials {
        ClientCredentials {
            token_url: url.into(),
            client_id: "att".into(),
            client_secret: "s3cret".into(),
            scope: None,
            audience: None,
            auth_method: AuthMethod::Basic,
        }
    }

    #[test]
    fn the_secret_goes_only_to_https_or_loopback() {
        let cases = [
            ("https://id.example.com/token", true),
            ("http://127.0.0.1:9/token", true),
            ("http://[::1]:9/token", true),
            ("http://localhost/token", true),
            ("http://id.example.com/token", false),
            ("ftp://id.example.com/token", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            assert_eq!(creds(url).check().is_ok(), ok, "{url}");
        }
        let mut no_id = creds("https://x/t");
        no_id.client_id.clear();
        assert_eq!(
            no_id.check().map_err(|e| e.field),
            Err("oauth.client_id".into())
        );
        assert_eq!(
            creds("https://x/t").redacted().client_secret,
            crate::secret::REDACTED
        );
    }
}
