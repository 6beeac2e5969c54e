//! The test issuer: signing keys (ES256 made with ring, RS256 from `tests/keys`), tokens
//! signed with them, and the JWK Set served on 127.0.0.1 — replaceable (a rotation) and
//! counting its fetches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use att::config::OidcConfig;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

pub const AUDIENCE: &str = "https://att.test/mcp";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A signing key of the test issuer.
pub enum Key {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl Key {
    pub fn es256() -> Self {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
        Self::Es256(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("pair"))
    }

    /// The RSA key in `tests/keys` (ring cannot make RSA keys; see todo/decisions.md).
    pub fn rs256() -> Self {
        let pem = include_str!("../../keys/oidc-test-rsa.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("PEM body");
        Self::Rs256(RsaKeyPair::from_pkcs8(&der).expect("an RSA PKCS#8 key"))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Es256(pair) => {
                let p = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "x": b64(&p[1..33]), "y": b64(&p[33..])})
            }
            Self::Rs256(pair) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "n": b64(&c.n), "e": b64(&c.e)})
            }
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::Es256(pair) => pair.sign(&rng, message).expect("sign").as_ref().to_vec(),
            Self::Rs256(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("sign");
                sig
            }
        }
    }
}

/// A compact JWS of `header` and `claims`, signed by `sign`.
pub fn jws(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// The test issuer: its URL, the JWK Set it serves (replaceable: a rotation), and how many
/// times it was fetched.
pub struct Issuer {
    pub url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    pub async fn start(keys: &[(&str, &Key)]) -> Self {
        let jwks = Arc::new(Mutex::new(Self::set(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (jwks.clone(), fetches.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        // Discovery documents: this issuer's, and one under `/mixup` naming another issuer.
        let metadata = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
        let mixup = json!({"issuer": "https://evil.test", "jwks_uri": format!("{url}/jwks")});
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let doc = served.lock().expect("jwks").clone();
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move { axum::Json(doc) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(metadata) }),
            )
            .route(
                "/mixup/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(mixup) }),
            )
            // A key set larger than att reads (256 KiB).
            .route(
                "/huge",
                axum::routing::get(|| async {
                    format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(300 * 1024))
                }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(att::http::listener::with_nodelay(listener), app).await;
        });
        Self {
            url,
            jwks,
            fetches,
            task,
        }
    }

    fn set(keys: &[(&str, &Key)]) -> Value {
        json!({"keys": keys.iter().map(|(kid, k)| k.jwk(kid)).collect::<Vec<_>>()})
    }

    pub fn publish(&self, keys: &[(&str, &Key)]) {
        *self.jwks.lock().expect("jwks") = Self::set(keys);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Claims of a good token for `sub` with `role`.
    pub fn claims(&self, sub: &str, role: &str) -> Value {
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": sub, "att_role": role,
            "iat": now(), "nbf": now() - 5, "exp": now() + 300,
        })
    }

    pub fn token(&self, key: &Key, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": key.alg(), "kid": kid, "typ": "at+jwt"});
        jws(&header, claims, |m| key.sign(m))
    }

    pub fn config(&self) -> OidcConfig {
        OidcConfig {
            audience: Some(AUDIENCE.into()),
            jwks_url: Some(format!("{}/jwks", self.url)),
            ..OidcConfig::new(self.url.clone())
        }
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
