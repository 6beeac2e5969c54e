//! A JWT in compact serialization (RFC 7515 §7.1), taken apart: `header.payload.signature`,
//! each part base64url without padding. Nothing here trusts what it reads: the header only
//! says which key and algorithm to try ([`Header`]), and the payload stays bytes until the
//! signature over `header.payload` has been verified ([`Compact::signing_input`]).
//!
//! Refused here, before any key is looked at: more or fewer than three parts, padding or
//! characters outside base64url, a header that is not a JSON object with a string `alg`, and
//! a `crit` header (RFC 7515 §4.1.11: an extension att does not implement must be refused).
//! A token longer than [`MAX_TOKEN`] is refused unread.

use base64::Engine as _;
use serde::Deserialize;

/// The longest token att reads (real access tokens are 1–4 KiB).
pub const MAX_TOKEN: usize = 16 * 1024;

/// The JOSE header fields att uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// The signature algorithm the token claims (checked against the key's).
    pub alg: String,
    /// The signing key's id in the issuer's JWK Set.
    #[serde(default)]
    pub kid: Option<String>,
    /// Extensions the token says must be understood.
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// A token split into its parts.
#[derive(Debug)]
pub struct Compact<'a> {
    pub header: Header,
    /// `header.payload` as sent: what the signature covers.
    pub signing_input: &'a [u8],
    /// The payload's bytes (a JSON object once the signature holds).
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Why a token is not a JWT att can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the token is longer than {MAX_TOKEN} bytes")]
    TooLong,
    #[error("the token is not a JWT (header.payload.signature)")]
    Shape,
    #[error("a part of the token is not base64url")]
    Encoding,
    #[error("the token's header is not a JOSE header")]
    Header,
    #[error("the token names critical extensions att does not support")]
    Critical,
}

/// Whether `credential` has the shape of a JWT (three base64url parts, the first a JSON
/// object): such a credential goes to the token verifier, anything else is a key or token.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.bytes().filter(|b| *b == b'.').count() == 2
}

/// Splits and decodes `token`.
pub fn parse(token: &str) -> Result<Compact<'_>, Malformed> {
    if token.len() > MAX_TOKEN {
        return Err(Malformed::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::Shape);
    };
    if h.is_empty() || p.is_empty() {
        return Err(Malformed::Shape);
    }
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| Malformed::Header)?;
    if header.crit.is_some() {
        return Err(Malformed::Critical);
    }
    Ok(Compact {
        header,
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        payload: decode(p)?,
        signature: decode(s)?,
    })
}

fn decode(part: &str) -> Result<Vec<u8>, Malformed> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Malformed::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn tokens_are_split_or_refused_by_the_table() {
        let h = b64(r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#);
        let p = b64(r#"{"sub":"a"}"#);
        let sig = b64("sig");
        /// The token, and its `alg` and `kid` or why it is refused.
        type Case<'a> = (String, Result<(&'a str, Option<&'a str>), Malformed>);
        let cases: Vec<Case> = vec![
            (format!("{h}.{p}.{sig}"), Ok(("ES256", Some("k1")))),
            (
                format!("{}.{p}.", b64(r#"{"alg":"none"}"#)),
                Ok(("none", None)),
            ),
            (format!("{h}.{p}"), Err(Malformed::Shape)),
            (format!("{h}.{p}.{sig}.x"), Err(Malformed::Shape)),
            (format!(".{p}.{sig}"), Err(Malformed::Shape)),
            (format!("{h}.{p}.{sig}="), Err(Malformed::Encoding)),
            (format!("{h}.{p}.a+b"), Err(Malformed::Encoding)),
            (format!("{}.{p}.{sig}", b64("[1]")), Err(Malformed::Header)),
            (
                format!("{}.{p}.{sig}", b64(r#"{"alg":1}"#)),
                Err(Malformed::Header),
            ),
            (
                format!("{}.{p}.{sig}", b64(r#"{"kid":"k"}"#)),
                Err(Malformed::Header),
            ),
            (
                format!("{}.{p}.{sig}", b64(r#"{"alg":"ES256","crit":["exp"]}"#)),
                Err(Malformed::Critical),
            ),
            (
                format!("{h}.{}.{sig}", "A".repeat(MAX_TOKEN)),
                Err(Malformed::TooLong),
            ),
            ("".into(), Err(Malformed::Shape)),
        ];
        for (token, expected) in cases {
            let got = parse(&token);
            let got = got
                .as_ref()
                .map(|c| (c.header.alg.as_str(), c.header.kid.as_deref()))
                .map_err(Clone::clone);
            assert_eq!(got, expected, "{token:.60}");
        }
    }

    #[test]
    fn the_signature_covers_header_and_payload_as_sent() {
        let token = format!("{}.{}.{}", b64(r#"{"alg":"RS256"}"#), b64("{}"), b64("s"));
        let c = parse(&token).expect("parses");
        let dot = token.rfind('.').expect("dot");
        assert_eq!(c.signing_input, &token.as_bytes()[..dot]);
        assert_eq!(c.payload, b"{}");
        assert_eq!(c.signature, b"s");
    }

    proptest::proptest! {
        #[test]
        fn any_credential_is_split_or_refused_without_a_panic(text in "\\PC{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn a_json_header_gives_back_its_alg_and_kid(
            alg in "\\PC{0,24}",
            kid in proptest::option::of("\\PC{0,24}"),
            payload in "[A-Za-z0-9_-]{0,64}",
            sig in "[A-Za-z0-9_-]{0,64}",
        ) {
            let header = serde_json::json!({"alg": alg, "kid": kid}).to_string();
            let token = format!("{}.{payload}.{sig}", b64(&header));
            if let Ok(c) = parse(&token) {
                proptest::prop_assert_eq!(&c.header.alg, &alg);
                proptest::prop_assert_eq!(&c.header.kid, &kid);
                let signed = token.len() - sig.len() - 1;
                proptest::prop_assert_eq!(c.signing_input, &token.as_bytes()[..signed]);
            }
        }
    }

    #[test]
    fn only_jwt_shaped_credentials_go_to_the_verifier() {
        for (credential, jwt) in [
            ("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", true),
            ("eyJ.e30", false),
            ("att_0123456789ab_secret", false),
            ("bootstrap-admin-token-0123456789", false),
        ] {
            assert_eq!(looks_like_jwt(credential), jwt, "{credential}");
        }
    }
}
