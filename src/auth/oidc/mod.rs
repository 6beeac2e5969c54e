//! OAuth 2.1 access tokens from an external authorization server (`[auth.oidc]`): att as
//! the resource server of the MCP authorization spec (2025-11-25).
//!
//! A client without a credential gets a 401 naming att's protected-resource metadata
//! ([`resource`]); from it the client learns the issuer, gets a token there, and presents
//! it as `Authorization: Bearer <JWT>`. [`Oidc::verify`] accepts the token when, in order:
//!
//! 1. it is a compact JWS ([`jwt`]) whose algorithm att verifies ([`jwk::Alg`]: RSA, ECDSA,
//!    Ed25519 — never `none` or HMAC);
//! 2. the issuer's key named by its `kid` ([`key_cache`], fetched by [`fetch`]) fits the
//!    algorithm and verifies the signature;
//! 3. its claims are att's ([`claims`]: `iss`, `aud`, `exp`, `nbf`, `iat`, `sub`);
//! 4. a claim grants it a role ([`role_claim`]).
//!
//! A token that passed is kept by its digest until it expires ([`verified`]): the client's
//! next request with it costs a hash and a lookup, not a signature verification.
//!
//! The principal is `oidc:<sub>` with that role; it is checked per route and per tool like
//! an API key's, and the event streams it opens end when the token expires. Refusals say which step failed and never echo the token. att keeps the
//! token to itself: upstreams are called with their own configured headers, never with a
//! client's `Authorization` (MCP forbids token passthrough).

pub mod claims;
pub mod fetch;
pub mod jwk;
pub mod jwt;
pub mod key_cache;
pub mod resource;
pub mod role_claim;
pub mod verified;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde_json::{Map, Value};

use super::Principal;
use crate::config::OidcConfig;
use jwk::{Alg, VerifyingKey};
use key_cache::{KeyCache, Lookup};

/// Why an access token was refused (the 401's `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error(transparent)]
    Malformed(#[from] jwt::Malformed),
    #[error("the token's signature algorithm is not accepted")]
    Algorithm,
    #[error("the token was signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token's payload is not a JSON object")]
    Payload,
    #[error(transparent)]
    Claims(#[from] claims::ClaimRefused),
    #[error("the token grants no att role")]
    NoRole,
}

/// The access-token verifier of one configured issuer.
pub struct Oidc {
    expected: claims::Expected,
    roles: role_claim::RoleClaim,
    /// What the metadata and the 401 challenge say.
    pub resource: resource::ProtectedResource,
    /// The configured `jwks_url`, or the one discovery found (kept once found).
    jwks_url: Mutex<Option<String>>,
    cache: RwLock<KeyCache>,
    /// One fetch at a time: tokens waiting for the same keys share one request.
    fetching: tokio::sync::Mutex<()>,
    /// Tokens that passed, until they expire.
    verified: RwLock<verified::VerifiedTokens>,
}

impl Oidc {
    /// The verifier `config` describes; `https`: whether att serves HTTPS.
    pub fn new(config: &OidcConfig, https: bool) -> Self {
        let audience = config
            .audience
            .clone()
            .or_else(|| config.resource.clone())
            .unwrap_or_default();
        Self {
            expected: claims::Expected {
                issuer: config.issuer.clone(),
                audience,
                skew: i64::try_from(config.clock_skew.as_secs()).unwrap_or(300),
            },
            roles: role_claim::RoleClaim::new(
                config.role_claim.as_deref(),
                config.role_map.clone(),
                config.default_role,
            ),
            resource: resource::ProtectedResource {
                resource: config.resource.clone(),
                https,
                issuer: config.issuer.clone(),
                scopes: config.scopes_supported.clone(),
            },
            jwks_url: Mutex::new(config.jwks_url.clone()),
            cache: RwLock::new(KeyCache::new(config.jwks_refresh, config.jwks_refetch_min)),
            fetching: tokio::sync::Mutex::new(()),
            verified: RwLock::default(),
        }
    }

    /// The principal an access token stands for, or why it is refused (see the header).
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenRefused> {
        let digest = verified::digest(token);
        let now = now_unix();
        let known = self
            .verified
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest, now);
        if let Some(principal) = known {
            return Ok(principal);
        }
        let (principal, until) = self.verify_in_full(token, now).await?;
        self.verified
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, principal.clone(), until, now);
        Ok(principal)
    }

    /// Every check of the header, at `now`: the principal and the last second it holds.
    async fn verify_in_full(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Principal, i64), TokenRefused> {
        let jws = jwt::parse(token)?;
        let alg = Alg::parse(&jws.header.alg).ok_or(TokenRefused::Algorithm)?;
        let keys = self.keys_for(jws.header.kid.as_deref(), alg).await?;
        if !keys
            .iter()
            .any(|k| k.verify(alg, jws.signing_input, &jws.signature))
        {
            return Err(TokenRefused::Signature);
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(&jws.payload).map_err(|_| TokenRefused::Payload)?;
        let valid = claims::check(&claims, &self.expected, now)?;
        let role = self.roles.role(&claims).ok_or(TokenRefused::NoRole)?;
        let principal = Principal {
            name: format!("oidc:{}", valid.sub),
            role,
            key: false,
            expires_at: time::OffsetDateTime::from_unix_timestamp(valid.until).ok(),
        };
        Ok((principal, valid.until))
    }

    /// The issuer's keys that may have signed a token with `kid` and `alg`, fetched first
    /// when the cache says so.
    async fn keys_for(
        &self,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<Vec<Arc<VerifyingKey>>, TokenRefused> {
        // One fetch per token at most (by it or by the token it waited for): a stale set
        // just fetched is not fetched again because the `kid` is still unknown.
        let mut fetched = false;
        loop {
            let lookup = self.cache().lookup(kid, alg, Instant::now());
            match lookup {
                Lookup::Found(keys) => return Ok(keys),
                Lookup::Unknown => return Err(TokenRefused::UnknownKey),
                Lookup::Unavailable => return Err(TokenRefused::KeysUnavailable),
                Lookup::Fetch(_) if fetched => {
                    return Err(if self.cache().has_fetched() {
                        TokenRefused::UnknownKey
                    } else {
                        TokenRefused::KeysUnavailable
                    });
                }
                Lookup::Fetch(reason) => {
                    let _one = self.fetching.lock().await;
                    let due = self
                        .cache
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .begin_fetch(reason, Instant::now());
                    if due {
                        self.refresh().await;
                    }
                    fetched = true;
                }
            }
        }
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, KeyCache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches the key set into the cache; a failure keeps the keys att had, and is logged.
    async fn refresh(&self) {
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(issuer = %self.expected.issuer, keys = keys.len(), "fetched the issuer's signing keys");
                self.cache
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .store(keys, Instant::now());
                // A withdrawn key's tokens must not outlive it in memory.
                self.verified
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
            Err(error) => {
                tracing::warn!(issuer = %self.expected.issuer, %error, "cannot fetch the issuer's signing keys");
            }
        }
    }

    async fn fetch_keys(&self) -> Result<Vec<VerifyingKey>, String> {
        let known = self
            .jwks_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let url = match known {
            Some(url) => url,
            None => {
                let url = fetch::discover_jwks_url(&self.expected.issuer).await?;
                *self.jwks_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.clone());
                url
            }
        };
        let body = fetch::get(&url).await?;
        jwk::read_set(&body).map_err(|e| format!("{url}: {e}"))
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
