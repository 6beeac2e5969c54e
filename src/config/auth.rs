//! `[auth]`: credentials att accepts besides its own token and API keys. Today that is
//! `[auth.oidc]`: OAuth 2.1 access tokens (JWTs) issued by an external authorization server,
//! which makes `/mcp` an OAuth protected resource (MCP authorization, 2025-11-25; see
//! [`crate::auth::oidc`]). Every knob is documented once, here; the checks that span keys are
//! in `validate.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::Role;

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Access tokens from an OAuth 2.1 / OpenID Connect authorization server. Unset: att
    /// accepts only its token and API keys, and serves no protected-resource metadata.
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]`: which tokens are att's, and what role each carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The authorization server's issuer identifier: a token's `iss` must be exactly this,
    /// and it is the one entry of the metadata's `authorization_servers`. `https://`, or
    /// `http://` on a loopback host.
    pub issuer: String,
    /// The value a token's `aud` must hold (a string, or one element of an array).
    /// Default: `resource`; one of the two must be set.
    #[serde(default)]
    pub audience: Option<String>,
    /// att's `/mcp` URL as clients reach it (the metadata's `resource`), e.g.
    /// `https://att.example.com/mcp`. Default: `http(s)://<the request's Host>/mcp`.
    #[serde(default)]
    pub resource: Option<String>,
    /// Where the issuer publishes its signing keys (a JWK Set). Default: the `jwks_uri` of
    /// the issuer's `/.well-known/openid-configuration` or, failing that, of its
    /// `/.well-known/oauth-authorization-server` metadata.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim holding a token's role: a string or an array of strings; a dotted path
    /// reaches into objects (`realm_access.roles`). Default: `att_role`, then `roles`.
    #[serde(default)]
    pub role_claim: Option<String>,
    /// Claim values and the role each grants, e.g. `{ "mcp-admins" = "admin" }`. The names
    /// `viewer`, `operator` and `admin` always grant themselves. Of several values, the
    /// highest role wins.
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
    /// The role of a token whose claim grants none. Unset: such a token is refused (401).
    #[serde(default)]
    pub default_role: Option<Role>,
    /// Scopes listed as `scopes_supported` in the protected-resource metadata.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Tolerance for clocks that disagree, applied to `exp`, `nbf` and `iat` (at most 5 min).
    #[serde(default = "default_clock_skew", with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Keys older than this are fetched again when a token next needs them (the issuer's
    /// rotations are picked up without a token with a new `kid`).
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// A token signed with a key att does not know makes att fetch the keys again, at most
    /// once per this: garbage tokens cannot make att hammer the issuer.
    #[serde(default = "default_jwks_refetch_min", with = "humantime_serde")]
    pub jwks_refetch_min: Duration,
}

fn default_clock_skew() -> Duration {
    Duration::from_secs(60)
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(600)
}

fn default_jwks_refetch_min() -> Duration {
    Duration::from_secs(30)
}

/// The longest `clock_skew` accepted.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

impl OidcConfig {
    /// A configuration for `issuer` with every default (what a file with only `issuer`
    /// gives).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: None,
            resource: None,
            jwks_url: None,
            role_claim: None,
            role_map: BTreeMap::new(),
            default_role: None,
            scopes_supported: Vec::new(),
            clock_skew: default_clock_skew(),
            jwks_refresh: default_jwks_refresh(),
            jwks_refetch_min: default_jwks_refetch_min(),
        }
    }

    /// The rules the types cannot say; the error names the key (under `auth.oidc.`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        http_url(&self.issuer).map_err(|m| ("issuer", m))?;
        if let Some(url) = &self.jwks_url {
            http_url(url).map_err(|m| ("jwks_url", m))?;
        }
        if let Some(url) = &self.resource {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| ("resource", format!("`{url}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
                return Err((
                    "resource",
                    format!("`{url}` must be an http(s) URL without a fragment"),
                ));
            }
        }
        match (&self.audience, &self.resource) {
            (Some(a), _) if a.trim().is_empty() => {
                return Err(("audience", "must not be empty".into()));
            }
            (None, None) => {
                return Err((
                    "audience",
                    "set `audience` (the `aud` att's tokens carry) or `resource` (att's /mcp URL, then also the audience)".into(),
                ));
            }
            _ => {}
        }
        if self
            .role_claim
            .as_ref()
            .is_some_and(|c| c.split('.').any(str::is_empty))
        {
            return Err((
                "role_claim",
                "a claim name, or a dotted path of names".into(),
            ));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(("clock_skew", "must be at most 5m".into()));
        }
        if !(Duration::from_secs(10)..=Duration::from_secs(24 * 3600)).contains(&self.jwks_refresh)
        {
            return Err(("jwks_refresh", "must be between 10s and 24h".into()));
        }
        if self.jwks_refetch_min > Duration::from_secs(3600) {
            return Err(("jwks_refetch_min", "must be at most 1h".into()));
        }
        Ok(())
    }
}

/// `https://…`, or `http://…` on a loopback host (a test or a same-host issuer).
fn http_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "`{text}` must be an https:// URL (http:// only on a loopback host)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_rule_names_its_key() {
        let base = || {
            let mut c = OidcConfig::new("https://id.example.com");
            c.audience = Some("att".into());
            c
        };
        let cases: Vec<(OidcConfig, Option<&str>)> = vec![
            (base(), None),
            (OidcConfig::new("https://id.example.com"), Some("audience")),
            (
                OidcConfig {
                    resource: Some("https://att.example.com/mcp".into()),
                    ..OidcConfig::new("https://id.example.com")
                },
                None,
            ),
            (
                OidcConfig {
                    issuer: "http://id.example.com".into(),
                    ..base()
                },
                Some("issuer"),
            ),
            (
                OidcConfig {
                    issuer: "http://127.0.0.1:9000/realms/x".into(),
                    ..base()
                },
                None,
            ),
            (
                OidcConfig {
                    issuer: "not a url".into(),
                    ..base()
                },
                Some("issuer"),
            ),
            (
                OidcConfig {
                    jwks_url: Some("ftp://id.example.com/keys".into()),
                    ..base()
                },
                Some("jwks_url"),
            ),
            (
                OidcConfig {
                    resource: Some("https://att.example.com/mcp#x".into()),
                    ..base()
                },
                Some("resource"),
            ),
            (
                OidcConfig {
                    audience: Some(" ".into()),
                    ..base()
                },
                Some("audience"),
            ),
            (
                OidcConfig {
                    role_claim: Some("realm_access..roles".into()),
                    ..base()
                },
                Some("role_claim"),
            ),
            (
                OidcConfig {
                    clock_skew: Duration::from_secs(301),
                    ..base()
                },
                Some("clock_skew"),
            ),
            (
                OidcConfig {
                    jwks_refresh: Duration::from_secs(1),
                    ..base()
                },
                Some("jwks_refresh"),
            ),
            (
                OidcConfig {
                    jwks_refetch_min: Duration::from_secs(7200),
                    ..base()
                },
                Some("jwks_refetch_min"),
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.check().err().map(|(k, _)| k), expected, "{config:?}");
        }
    }
}
