//! API keys: how one looks ([`NewKey`]), how it is kept (only its SHA-256, behind the
//! [`KeyStore`] port), and the record the API lists ([`KeyInfo`]).
//!
//! A key is `att_<id>_<secret>`: `id` (12 hex digits) is public and finds the record, `secret`
//! (32 random bytes, base64url) is what proves the holder. The record keeps the SHA-256 of the
//! whole key, compared in constant time. A plain hash suffices: the secret has 256 bits of
//! entropy, so there is nothing for a slow hash to protect against guessing.

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Role;
use att_runtime::events::StoreError;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public part.
    pub id: String,
    /// The principal's name (unique).
    pub name: String,
    pub role: Role,
    /// SHA-256 of the whole key.
    pub hash: [u8; 32],
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl KeyRecord {
    /// Whether the key is accepted at `now`.
    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// What the API shows of it (never the hash).
    pub fn info(&self) -> KeyInfo {
        KeyInfo {
            name: self.name.clone(),
            role: self.role,
            id: self.id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// A key as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub name: String,
    pub role: Role,
    /// The key's public part (`att_<id>_…`), to tell keys apart in logs.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where keys are kept.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Inserts a new key; `Ok(false)` when the name is taken.
    async fn insert_key(&self, key: &KeyRecord) -> Result<bool, StoreError>;
    /// Marks the key called `name` revoked at `at`; `false` when there is none (or it is
    /// revoked already).
    async fn revoke_key(&self, name: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Every key, revoked ones included, by name.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
}

/// A key just made: the text to hand over once, and its record.
pub struct NewKey {
    pub text: String,
    pub record: KeyRecord,
}

impl NewKey {
    /// A fresh random key for `name`.
    pub fn generate(
        name: &str,
        role: Role,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Self, String> {
        let mut bytes = [0u8; 38];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
        let id: String = bytes[..6].iter().map(|b| format!("{b:02x}")).collect();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[6..]);
        let text = format!("att_{id}_{secret}");
        let record = KeyRecord {
            id,
            name: name.to_owned(),
            role,
            hash: digest(&text),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        Ok(Self { text, record })
    }
}

/// The public part of a presented key, if it has the shape of one.
pub fn key_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix("att_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some(id)
}

/// SHA-256 of a key's text.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_has_its_shape_and_only_its_hash_is_kept() {
        let now = OffsetDateTime::now_utc();
        let k = NewKey::generate("ci", Role::Operator, now, None).expect("key");
        assert_eq!(key_id(&k.text), Some(k.record.id.as_str()));
        assert_eq!(k.record.hash, digest(&k.text));
        assert!(k.text.len() > 50, "{}", k.text);
        let other = NewKey::generate("ci", Role::Operator, now, None).expect("key");
        assert_ne!(k.text, other.text);
        assert!(!format!("{:?}", k.record.info()).contains(&k.text[17..]));
    }

    #[test]
    fn key_shapes() {
        let cases = [
            ("att_0123456789ab_secret", Some("0123456789ab")),
            ("att_0123456789ab_", None),
            ("att_0123456789a_secret", None),
            ("att_0123456789zz_secret", None),
            ("Bearer att_0123456789ab_secret", None),
            ("some-static-token", None),
        ];
        for (text, expected) in cases {
            assert_eq!(key_id(text), expected, "{text}");
        }
    }

    #[test]
    fn validity_ends_with_expiry_or_revocation() {
        let now = OffsetDateTime::now_utc();
        let mut r = NewKey::generate("x", Role::Viewer, now, Some(now + time::Duration::hours(1)))
            .expect("key")
            .record;
        assert!(r.valid_at(now));
        assert!(!r.valid_at(now + time::Duration::hours(2)));
        r.revoked_at = Some(now);
        assert!(!r.valid_at(now));
    }
}
