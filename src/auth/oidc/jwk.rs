//! Signature algorithms ([`Alg`]) and the issuer's public keys ([`VerifyingKey`], made from
//! a JWK, RFC 7517/7518), verified with `ring`.
//!
//! A token names its algorithm; att believes it only as far as the key allows. A key
//! verifies exactly the algorithms of its type (RSA: `RS*` and `PS*`; EC P-256: `ES256`;
//! P-384: `ES384`; Ed25519: `EdDSA`), and when the JWK states an `alg`, only that one. So
//! `none` and the HMAC algorithms (`HS*`: the classic confusion, a public key used as a MAC
//! secret) are never accepted: no key has them. RSA keys are 2048–8192 bits (ring's range);
//! an EC point must be on its curve. A JWK for encryption (`use: enc`) or of a type att
//! does not know is skipped when the set is read, not an error: issuers publish such keys
//! next to their signing keys.

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;

/// A JWS algorithm att verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    /// The algorithm called `name`; `None` for `none`, `HS*` and anything unknown.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }
}

/// A JWK as published (the members att reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

/// The key material of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point (`04 || x || y`) on P-256 (`p384: false`) or P-384.
    Ec { p384: bool, point: Vec<u8> },
    /// An Ed25519 public key.
    Ed25519(Vec<u8>),
}

/// A signing key of the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    /// The one algorithm the JWK allows, when it says.
    alg: Option<Alg>,
    material: Material,
}

/// Why a JWK is not a signing key att can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the key is not for signatures (`use`: `{0}`)")]
    NotForSignatures(String),
    #[error("key type `{0}` is not supported")]
    Type(String),
    #[error("algorithm `{0}` is not supported")]
    Alg(String),
    #[error("the key's `{0}` is missing or malformed")]
    Member(&'static str),
}

fn member(value: &Option<String>, name: &'static str) -> Result<Vec<u8>, Unusable> {
    let text = value.as_deref().ok_or(Unusable::Member(name))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Unusable::Member(name))
}

fn unsigned(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl VerifyingKey {
    /// The key a JWK describes.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, Unusable> {
        if let Some(u) = jwk.use_.as_deref().filter(|u| *u != "sig") {
            return Err(Unusable::NotForSignatures(u.to_owned()));
        }
        let alg = match jwk.alg.as_deref() {
            Some(name) => Some(Alg::parse(name).ok_or_else(|| Unusable::Alg(name.to_owned()))?),
            None => None,
        };
        let material = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => Material::Rsa {
                n: unsigned(member(&jwk.n, "n")?),
                e: unsigned(member(&jwk.e, "e")?),
            },
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let len = if crv == "P-256" { 32 } else { 48 };
                let (x, y) = (member(&jwk.x, "x")?, member(&jwk.y, "y")?);
                if x.len() != len {
                    return Err(Unusable::Member("x"));
                }
                if y.len() != len {
                    return Err(Unusable::Member("y"));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Ec {
                    p384: crv == "P-384",
                    point,
                }
            }
            ("OKP", Some("Ed25519")) => {
                let x = member(&jwk.x, "x")?;
                if x.len() != 32 {
                    return Err(Unusable::Member("x"));
                }
                Material::Ed25519(x)
            }
            (kty, crv) => {
                return Err(Unusable::Type(match crv {
                    Some(c) => format!("{kty}/{c}"),
                    None => kty.to_owned(),
                }));
            }
        };
        let key = Self {
            kid: jwk.kid.clone(),
            alg: None,
            material,
        };
        match alg {
            Some(a) if !key.fits(a) => Err(Unusable::Alg(format!("{a:?} for this key type"))),
            _ => Ok(Self { alg, ..key }),
        }
    }

    /// Whether this key may verify a signature made with `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        use Alg::*;
        match &self.material {
            Material::Rsa { .. } => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Material::Ec { p384: false, .. } => alg == ES256,
            Material::Ec { p384: true, .. } => alg == ES384,
            Material::Ed25519(_) => alg == EdDSA,
        }
    }

    /// Whether `signature` over `message` was made with this key and `alg`.
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        use Alg::*;
        match &self.material {
            Material::Rsa { n, e } => {
                let params: &signature::RsaParameters = match alg {
                    RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
            Material::Ec { p384, point } => {
                let params = if *p384 {
                    &signature::ECDSA_P384_SHA384_FIXED
                } else {
                    &signature::ECDSA_P256_SHA256_FIXED
                };
                UnparsedPublicKey::new(params, point)
                    .verify(message, signature)
                    .is_ok()
            }
            Material::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// A JWK Set document.
#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// The usable signing keys of a JWK Set; an entry att cannot use is skipped (and said so
/// in the log), a document that is not a JWK Set is an error.
pub fn read_set(bytes: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWK Set: {e}"))?;
    let mut keys = Vec::new();
    for entry in set.keys {
        let parsed = serde_json::from_value::<Jwk>(entry)
            .map_err(|e| Unusable::Type(e.to_string()))
            .and_then(|jwk| VerifyingKey::from_jwk(&jwk));
        match parsed {
            Ok(key) => keys.push(key),
            Err(why) => tracing::debug!(%why, "skipping a key of the issuer's JWK Set"),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn es256() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("pair");
        let point = pair.public_key().as_ref();
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64(&point[1..33])),
            y: Some(b64(&point[33..])),
            ..Jwk::default()
        };
        (pair, jwk)
    }

    #[test]
    fn an_es256_key_verifies_its_signatures_and_nothing_else() {
        let rng = SystemRandom::new();
        let (pair, jwk) = es256();
        let key = VerifyingKey::from_jwk(&jwk).expect("usable");
        let sig = pair.sign(&rng, b"message").expect("sign");
        assert!(key.verify(Alg::ES256, b"message", sig.as_ref()));
        assert!(!key.verify(Alg::ES256, b"messagf", sig.as_ref()));
        // The same bytes under another algorithm: refused, not tried.
        for alg in [Alg::RS256, Alg::ES384, Alg::EdDSA, Alg::PS256] {
            assert!(!key.verify(alg, b"message", sig.as_ref()), "{alg:?}");
        }
        let (_, other) = es256();
        let other = VerifyingKey::from_jwk(&other).expect("usable");
        assert!(!other.verify(Alg::ES256, b"message", sig.as_ref()));
    }

    #[test]
    fn an_rsa_key_verifies_pkcs1_and_pss_signatures_of_its_hash() {
        // ring cannot make RSA keys: the test key in tests/keys (see todo/decisions.md).
        let pem = include_str!("../../../tests/keys/oidc-test-rsa.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("PEM body");
        let pair = signature::RsaKeyPair::from_pkcs8(&der).expect("an RSA key");
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some(b64(&c.n)),
            e: Some(b64(&c.e)),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk).expect("usable");
        let rng = SystemRandom::new();
        let mut sig = vec![0; pair.public().modulus_len()];
        for (padding, alg, other) in [
            (
                &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding,
                Alg::RS256,
                Alg::RS512,
            ),
            (&signature::RSA_PSS_SHA256, Alg::PS256, Alg::RS256),
            (&signature::RSA_PKCS1_SHA512, Alg::RS512, Alg::PS512),
        ] {
            pair.sign(padding, &rng, b"m", &mut sig).expect("sign");
            assert!(key.verify(alg, b"m", &sig), "{alg:?}");
            assert!(!key.verify(other, b"m", &sig), "{alg:?} as {other:?}");
            assert!(!key.verify(alg, b"n", &sig), "{alg:?} of another message");
        }
    }

    #[test]
    fn an_ed25519_key_verifies_eddsa() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(b64(pair.public_key().as_ref())),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk).expect("usable");
        let sig = pair.sign(b"m");
        assert!(key.verify(Alg::EdDSA, b"m", sig.as_ref()));
        assert!(!key.verify(Alg::ES256, b"m", sig.as_ref()));
    }

    #[test]
    fn jwks_are_usable_or_refused_by_the_table() {
        let (_, ec) = es256();
        let rsa = Jwk {
            kty: "RSA".into(),
            n: Some(b64(&[0xc3; 256])),
            e: Some("AQAB".into()),
            ..Jwk::default()
        };
        let with = |base: &Jwk, f: &dyn Fn(&mut Jwk)| {
            let mut j = base.clone();
            f(&mut j);
            j
        };
        let cases: Vec<(Jwk, Result<(), Unusable>)> = vec![
            (ec.clone(), Ok(())),
            (rsa.clone(), Ok(())),
            (with(&ec, &|j| j.alg = Some("ES256".into())), Ok(())),
            (with(&ec, &|j| j.use_ = Some("sig".into())), Ok(())),
            (
                with(&ec, &|j| j.use_ = Some("enc".into())),
                Err(Unusable::NotForSignatures("enc".into())),
            ),
            (
                with(&ec, &|j| j.alg = Some("HS256".into())),
                Err(Unusable::Alg("HS256".into())),
            ),
            (
                with(&ec, &|j| j.alg = Some("none".into())),
                Err(Unusable::Alg("none".into())),
            ),
            (
                with(&ec, &|j| j.alg = Some("RS256".into())),
                Err(Unusable::Alg("RS256 for this key type".into())),
            ),
            (
                with(&ec, &|j| j.x = Some(b64(&[1; 31]))),
                Err(Unusable::Member("x")),
            ),
            (with(&ec, &|j| j.y = None), Err(Unusable::Member("y"))),
            (
                with(&ec, &|j| j.x = Some("!!".into())),
                Err(Unusable::Member("x")),
            ),
            (
                with(&ec, &|j| j.crv = Some("secp256k1".into())),
                Err(Unusable::Type("EC/secp256k1".into())),
            ),
            (
                Jwk {
                    kty: "oct".into(),
                    ..Jwk::default()
                },
                Err(Unusable::Type("oct".into())),
            ),
            (with(&rsa, &|j| j.e = None), Err(Unusable::Member("e"))),
        ];
        for (jwk, expected) in cases {
            assert_eq!(
                VerifyingKey::from_jwk(&jwk).map(|_| ()),
                expected,
                "{jwk:?}"
            );
        }
    }

    #[test]
    fn a_key_with_an_alg_verifies_only_that_one() {
        let mut rsa = Jwk {
            kty: "RSA".into(),
            n: Some(b64(&[0xc3; 256])),
            e: Some("AQAB".into()),
            ..Jwk::default()
        };
        let any = VerifyingKey::from_jwk(&rsa).expect("usable");
        assert!(any.fits(Alg::RS256) && any.fits(Alg::PS512) && !any.fits(Alg::ES256));
        rsa.alg = Some("RS256".into());
        let only = VerifyingKey::from_jwk(&rsa).expect("usable");
        assert!(only.fits(Alg::RS256) && !only.fits(Alg::PS256) && !only.fits(Alg::RS512));
    }

    #[test]
    fn a_set_keeps_its_signing_keys_and_skips_the_rest() {
        let (_, ec) = es256();
        let doc = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "a", "x": ec.x, "y": ec.y},
            {"kty": "EC", "crv": "P-256", "kid": "b", "use": "enc", "x": ec.x, "y": ec.y},
            {"kty": "oct", "kid": "c", "k": "c2VjcmV0"},
            {"kid": "d"},
        ]});
        let keys = read_set(doc.to_string().as_bytes()).expect("a set");
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("a")]);
        assert!(read_set(b"{\"keys\": 1}").is_err());
        assert!(read_set(b"<html>").is_err());
    }
}
