//! Access tokens already verified, kept until they expire: a client presents the same token
//! on every request, and verifying its signature (an ECDSA or RSA operation, ~75 µs) each
//! time is most of what authentication costs. Pure: the time is an argument.
//!
//! - **Keyed by the token's SHA-256**, never the token itself: the cache holds no credential.
//!   Only tokens that passed every check are stored; a refused token is checked again in full
//!   each time it is presented.
//! - **Until `exp` (+ skew)**, the last second the full check would accept it: a hit past it
//!   is a miss, and the token goes through [`super::Oidc::verify`]'s full path (which refuses
//!   it as expired). `nbf` and `iat` cannot turn a once-valid token invalid later.
//! - **Bounded** at [`MAX_TOKENS`]: when full, expired entries go first; if none has expired,
//!   the cache starts afresh (each token then pays one verification again).
//! - **Emptied when the issuer's key set changes**: a token signed by a key the issuer has
//!   withdrawn must be checked against the new set, not served from memory.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::auth::Principal;

/// Distinct verified tokens kept at once.
pub const MAX_TOKENS: usize = 4096;

/// One verified token.
#[derive(Debug, Clone)]
struct Entry {
    principal: Principal,
    /// The last second it is accepted in (`exp` + skew).
    until: i64,
}

/// Verified tokens by the digest of their text.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    tokens: HashMap<[u8; 32], Entry>,
}

/// The digest a token is kept under.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The principal of the token with `digest`, if it was verified and `now` is before the
    /// end of its validity.
    pub fn get(&self, digest: &[u8; 32], now: i64) -> Option<Principal> {
        self.tokens
            .get(digest)
            .filter(|e| now < e.until)
            .map(|e| e.principal.clone())
    }

    /// Keeps a token that passed every check, valid while `now < until`.
    pub fn insert(&mut self, digest: [u8; 32], principal: Principal, until: i64, now: i64) {
        if now >= until {
            return;
        }
        if self.tokens.len() >= MAX_TOKENS && !self.tokens.contains_key(&digest) {
            self.tokens.retain(|_, e| now < e.until);
            if self.tokens.len() >= MAX_TOKENS {
                self.tokens.clear();
            }
        }
        self.tokens.insert(digest, Entry { principal, until });
    }

    /// Forgets every token (the issuer's keys changed).
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Tokens kept.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal(name: &str) -> Principal {
        Principal {
            name: name.to_owned(),
            role: Role::Operator,
            key: false,
            expires_at: None,
        }
    }

    #[test]
    fn a_verified_token_is_served_until_its_last_valid_second_and_not_after() {
        let mut c = VerifiedTokens::default();
        let d = digest("token-a");
        c.insert(d, principal("oidc:a"), 1_000, 900);
        // (now, served?)
        for (now, served) in [(900, true), (999, true), (1_000, false), (5_000, false)] {
            assert_eq!(c.get(&d, now).is_some(), served, "at {now}");
        }
        assert_eq!(c.get(&d, 950).expect("kept").name, "oidc:a");
        assert!(c.get(&digest("token-b"), 950).is_none(), "another token");
    }

    #[test]
    fn an_already_expired_token_is_not_kept() {
        let mut c = VerifiedTokens::default();
        c.insert(digest("old"), principal("oidc:old"), 100, 100);
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_then_starts_afresh() {
        let mut c = VerifiedTokens::default();
        for i in 0..MAX_TOKENS {
            // Half expire at 200, half at 10,000.
            let until = if i % 2 == 0 { 200 } else { 10_000 };
            c.insert(digest(&format!("t{i}")), principal("p"), until, 100);
        }
        assert_eq!(c.len(), MAX_TOKENS);
        c.insert(digest("new"), principal("new"), 10_000, 300);
        assert_eq!(c.len(), MAX_TOKENS / 2 + 1, "the expired half went");
        assert!(c.get(&digest("t1"), 300).is_some(), "a live one stayed");

        for i in 0..MAX_TOKENS {
            c.insert(digest(&format!("u{i}")), principal("p"), 10_000, 300);
        }
        assert!(c.len() <= MAX_TOKENS, "bounded: {}", c.len());
    }
}
