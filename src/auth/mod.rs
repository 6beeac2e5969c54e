//! Who is calling and what they may do: principals with roles ([`role`]), API keys
//! ([`keys`]), OAuth access tokens ([`oidc`]), and [`Auth`], which turns a presented bearer
//! credential into a [`Principal`].
//!
//! Credentials: the configured `api_token` is a bootstrap admin key; API keys are created by
//! an admin (`att keys create`, `POST /api/v1/keys`), stored hashed and held in memory, so a
//! revocation takes effect on the next request; with `[auth.oidc]`, a JWT access token of the
//! configured issuer carries its own principal and role. With neither a token, nor any key,
//! nor an issuer (a fresh install on loopback), every caller is the admin `anonymous`: the
//! first key (or a token, or an issuer) closes that door.

pub mod audit;
pub mod keys;
pub mod oidc;
pub mod profile;
pub mod role;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

pub use keys::{KeyInfo, KeyRecord, KeyStore, NewKey};
pub use role::{Needs, Role, route_role};

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's name; `token` for the configured `api_token`; `anonymous` when att is open.
    pub name: String,
    pub role: Role,
    /// Whether it holds an API key (which can be revoked while its streams are open).
    pub key: bool,
    /// When its credential expires (an API key's expiry, an access token's `exp`): the
    /// streams it opened end then.
    pub expires_at: Option<OffsetDateTime>,
}

impl Principal {
    /// Whether this principal may do what needs `role`.
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// Why a credential was refused (the 401's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a bearer token or API key is required")]
    Missing,
    #[error("unknown credential")]
    Unknown,
    #[error("API key `{0}` has expired")]
    Expired(String),
    #[error("API key `{0}` was revoked")]
    Revoked(String),
    /// An access token of the configured issuer, refused.
    #[error(transparent)]
    Token(#[from] oidc::TokenRefused),
}

/// The credentials att accepts.
pub struct Auth {
    token: Option<Arc<str>>,
    store: Arc<dyn KeyStore>,
    /// Every key (revoked ones too), by id.
    keys: Arc<RwLock<HashMap<String, KeyRecord>>>,
    /// Bumped on every revocation: open streams of a key watch it ([`Auth::revoked`]).
    revocations: tokio::sync::watch::Sender<u64>,
    /// The access-token verifier, with `[auth.oidc]`.
    oidc: Option<Arc<oidc::Oidc>>,
}

impl Auth {
    /// Loads the stored keys; `oidc` verifies access tokens (`[auth.oidc]`).
    pub async fn load(
        token: Option<Arc<str>>,
        store: Arc<dyn KeyStore>,
        oidc: Option<oidc::Oidc>,
    ) -> Result<Self, att_runtime::events::StoreError> {
        let keys = store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        Ok(Self {
            token,
            store,
            keys: Arc::new(RwLock::new(keys)),
            revocations: tokio::sync::watch::Sender::new(0),
            oidc: oidc.map(Arc::new),
        })
    }

    /// The access-token verifier, when `[auth.oidc]` is configured.
    pub fn oidc(&self) -> Option<&oidc::Oidc> {
        self.oidc.as_deref()
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, KeyRecord>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether att is open: no token or issuer configured and no key ever made.
    pub fn open(&self) -> bool {
        self.token.is_none() && self.oidc.is_none() && self.keys().is_empty()
    }

    /// The principal presenting `credential` (a bearer token's value), or why not. A JWT goes
    /// to the issuer's verifier (when one is configured); anything else is the token or a key.
    pub async fn authenticate(&self, credential: Option<&str>) -> Result<Principal, Refused> {
        // The configured token first: it may happen to have a JWT's shape.
        if let (Some(oidc), Some(presented)) = (&self.oidc, credential)
            && oidc::jwt::looks_like_jwt(presented)
            && !self
                .token
                .as_ref()
                .is_some_and(|t| keys::constant_time_eq(presented.as_bytes(), t.as_bytes()))
        {
            return Ok(oidc.verify(presented).await?);
        }
        self.authenticate_key(credential)
    }

    /// [`Auth::authenticate`] for the configured token and API keys.
    fn authenticate_key(&self, credential: Option<&str>) -> Result<Principal, Refused> {
        let Some(presented) = credential else {
            return if self.open() {
                Ok(Principal {
                    name: "anonymous".into(),
                    role: Role::Admin,
                    key: false,
                    expires_at: None,
                })
            } else {
                Err(Refused::Missing)
            };
        };
        if let Some(token) = &self.token
            && keys::constant_time_eq(presented.as_bytes(), token.as_bytes())
        {
            return Ok(Principal {
                name: "token".into(),
                role: Role::Admin,
                key: false,
                expires_at: None,
            });
        }
        let id = keys::key_id(presented).ok_or(Refused::Unknown)?;
        let keys = self.keys();
        let record = keys.get(id).ok_or(Refused::Unknown)?;
        if !keys::constant_time_eq(&keys::digest(presented), &record.hash) {
            return Err(Refused::Unknown);
        }
        if record.revoked_at.is_some() {
            return Err(Refused::Revoked(record.name.clone()));
        }
        if !record.valid_at(OffsetDateTime::now_utc()) {
            return Err(Refused::Expired(record.name.clone()));
        }
        Ok(Principal {
            name: record.name.clone(),
            role: record.role,
            key: true,
            expires_at: record.expires_at,
        })
    }

    /// Makes a key for `name`; its text is returned once and never kept.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<NewKey, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::Invalid(format!(
                "`{name}` is not a key name: use 1 to 64 of A-Z a-z 0-9 _ - ."
            )));
        }
        let now = OffsetDateTime::now_utc();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(KeyError::Invalid("the expiry is in the past".into()));
        }
        let key = NewKey::generate(name, role, now, expires_at).map_err(KeyError::Store)?;
        if !self
            .store
            .insert_key(&key.record)
            .await
            .map_err(|e| KeyError::Store(e.0))?
        {
            return Err(KeyError::Exists(name.to_owned()));
        }
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.record.id.clone(), key.record.clone());
        Ok(key)
    }

    /// Revokes the key called `name`, at once for every later request.
    pub async fn revoke(&self, name: &str) -> Result<(), KeyError> {
        let now = OffsetDateTime::now_utc();
        if !self
            .store
            .revoke_key(name, now)
            .await
            .map_err(|e| KeyError::Store(e.0))?
        {
            return Err(KeyError::NotFound(name.to_owned()));
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        for k in keys.values_mut().filter(|k| k.name == name) {
            k.revoked_at.get_or_insert(now);
        }
        drop(keys);
        self.revocations.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Resolves when the key called `name` is revoked (never for a principal without a key):
    /// a stream opened with it ends then.
    pub fn revoked(&self, principal: &Principal) -> impl Future<Output = ()> + Send + 'static {
        let mut changes = self.revocations.subscribe();
        let name = principal.name.clone();
        let key = principal.key;
        let keys = self.keys.clone();
        async move {
            if !key {
                return std::future::pending().await;
            }
            loop {
                let revoked = keys
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .any(|k| k.name == name && k.revoked_at.is_some());
                if revoked {
                    return;
                }
                if changes.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }

    /// Resolves when `principal`'s credential stops being accepted: its key is revoked, or it
    /// expires (a key's expiry, an access token's `exp`). A stream opened with it ends then.
    pub fn ended(&self, principal: &Principal) -> impl Future<Output = ()> + Send + 'static {
        let revoked = self.revoked(principal);
        let expires_at = principal.expires_at;
        async move {
            let Some(at) = expires_at else {
                return revoked.await;
            };
            // Past: at once; far away: a year is as good as never for one stream.
            let left = std::time::Duration::try_from(at - OffsetDateTime::now_utc())
                .unwrap_or_default()
                .min(std::time::Duration::from_secs(365 * 24 * 3600));
            tokio::select! {
                () = revoked => {}
                () = tokio::time::sleep(left) => {}
            }
        }
    }

    /// Every key, by name.
    pub fn list(&self) -> Vec<KeyInfo> {
        let mut all: Vec<KeyInfo> = self.keys().values().map(KeyRecord::info).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("a key called `{0}` exists (revoked keys keep their name)")]
    Exists(String),
    #[error("no active key called `{0}`")]
    NotFound(String),
    #[error("the key store failed: {0}")]
    Store(String),
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
