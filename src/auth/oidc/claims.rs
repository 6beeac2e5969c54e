//! The claims of a verified access token, checked against what att expects (RFC 9068 §4,
//! RFC 7519 §4.1). Pure: the time is an argument (seconds since the epoch).
//!
//! | claim | rule |
//! |---|---|
//! | `iss` | exactly the configured issuer |
//! | `aud` | the configured audience, or an array holding it |
//! | `exp` | required; `now < exp + skew` |
//! | `nbf` | optional; `nbf <= now + skew` |
//! | `iat` | optional; `iat <= now + skew` (a token from the future is a forgery or a broken clock) |
//! | `sub` | required, a non-empty string: it names the principal |
//!
//! Numeric dates may be integers or fractions (RFC 7519 `NumericDate`); anything else in
//! their place refuses the token rather than ignoring the claim.

use serde_json::{Map, Value};

/// What a token must say to be att's.
#[derive(Debug, Clone)]
pub struct Expected {
    pub issuer: String,
    pub audience: String,
    /// Seconds of tolerance for `exp`, `nbf` and `iat`.
    pub skew: i64,
}

/// Why the claims refuse a token (the message a 401 carries; it echoes no claim value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefused {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token has no `exp`")]
    NoExpiry,
    #[error("the token's `{0}` is not a numeric date")]
    BadDate(&'static str),
    #[error("the token was issued by another issuer")]
    Issuer,
    #[error("the token is not meant for att (`aud`)")]
    Audience,
    #[error("the token has no `sub`")]
    Subject,
}

/// What a token that passed says.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid<'c> {
    /// Its subject.
    pub sub: &'c str,
    /// The last second it is accepted in (`exp` + skew): streams it opened end then.
    pub until: i64,
}

/// Checks `claims` at `now`.
pub fn check<'c>(
    claims: &'c Map<String, Value>,
    expected: &Expected,
    now: i64,
) -> Result<Valid<'c>, ClaimRefused> {
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer.as_str()) {
        return Err(ClaimRefused::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == expected.audience,
        Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(&expected.audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(ClaimRefused::Audience);
    }
    let skew = expected.skew as f64;
    let now = now as f64;
    let exp = date(claims, "exp")?.ok_or(ClaimRefused::NoExpiry)?;
    if now >= exp + skew {
        return Err(ClaimRefused::Expired);
    }
    if date(claims, "nbf")?.is_some_and(|nbf| nbf > now + skew) {
        return Err(ClaimRefused::NotYetValid);
    }
    if date(claims, "iat")?.is_some_and(|iat| iat > now + skew) {
        return Err(ClaimRefused::IssuedInFuture);
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(Valid {
            sub,
            // Saturating: `exp` may be any finite number.
            until: (exp + skew).floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64,
        }),
        _ => Err(ClaimRefused::Subject),
    }
}

fn date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, ClaimRefused> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|d| d.is_finite())
            .map(Some)
            .ok_or(ClaimRefused::BadDate(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn expected() -> Expected {
        Expected {
            issuer: "https://id.example.com".into(),
            audience: "https://att.example.com/mcp".into(),
            skew: 60,
        }
    }

    fn good() -> Value {
        json!({
            "iss": "https://id.example.com", "aud": "https://att.example.com/mcp",
            "sub": "alice", "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10,
        })
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,16}".prop_map(Value::from),
            proptest::collection::vec("\\PC{0,8}", 0..3).prop_map(Value::from),
        ]
    }

    proptest::proptest! {
        /// Whatever a signed token says, the check answers (no panic, no overflow), and it
        /// never accepts a token without a string `sub`.
        #[test]
        fn any_claims_are_accepted_or_refused_without_a_panic(
            exp in arb_value(), nbf in arb_value(), iat in arb_value(),
            aud in arb_value(), sub in arb_value(), now in proptest::prelude::any::<i64>(),
        ) {
            let mut claims = good();
            for (k, v) in [("exp", exp), ("nbf", nbf), ("iat", iat), ("aud", aud), ("sub", sub)] {
                claims[k] = v;
            }
            let claims = claims.as_object().expect("object").clone();
            if let Ok(v) = check(&claims, &expected(), now) {
                proptest::prop_assert_eq!(claims["sub"].as_str(), Some(v.sub));
            }
        }
    }

    #[test]
    fn a_token_is_accepted_until_its_expiry_plus_the_skew() {
        let claims = good().as_object().expect("object").clone();
        let v = check(&claims, &expected(), NOW).expect("valid");
        assert_eq!(v.until, NOW + 300 + 60);
    }

    #[test]
    fn claims_pass_or_refuse_by_the_table() {
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = good();
            c.as_object_mut().expect("object").remove(k);
            c
        };
        use ClaimRefused::*;
        let cases: Vec<(&str, Value, Result<&str, ClaimRefused>)> = vec![
            ("a good token", good(), Ok("alice")),
            (
                "aud in an array",
                with("aud", json!(["x", "https://att.example.com/mcp"])),
                Ok("alice"),
            ),
            (
                "aud elsewhere",
                with("aud", json!("https://other.example.com")),
                Err(Audience),
            ),
            (
                "aud array without att",
                with("aud", json!(["x"])),
                Err(Audience),
            ),
            ("no aud", without("aud"), Err(Audience)),
            ("aud a number", with("aud", json!(1)), Err(Audience)),
            (
                "another issuer",
                with("iss", json!("https://evil.example.com")),
                Err(Issuer),
            ),
            (
                "issuer with a slash",
                with("iss", json!("https://id.example.com/")),
                Err(Issuer),
            ),
            ("no issuer", without("iss"), Err(Issuer)),
            (
                "expired beyond the skew",
                with("exp", json!(NOW - 61)),
                Err(Expired),
            ),
            (
                "expired within the skew",
                with("exp", json!(NOW - 59)),
                Ok("alice"),
            ),
            (
                "expired exactly at the skew",
                with("exp", json!(NOW - 60)),
                Err(Expired),
            ),
            (
                "fractional exp",
                with("exp", json!(NOW as f64 + 0.5)),
                Ok("alice"),
            ),
            ("no exp", without("exp"), Err(NoExpiry)),
            (
                "exp a string",
                with("exp", json!("tomorrow")),
                Err(BadDate("exp")),
            ),
            (
                "nbf beyond the skew",
                with("nbf", json!(NOW + 61)),
                Err(NotYetValid),
            ),
            (
                "nbf within the skew",
                with("nbf", json!(NOW + 60)),
                Ok("alice"),
            ),
            ("no nbf", without("nbf"), Ok("alice")),
            ("nbf a bool", with("nbf", json!(true)), Err(BadDate("nbf"))),
            (
                "iat in the future",
                with("iat", json!(NOW + 3600)),
                Err(IssuedInFuture),
            ),
            ("no iat", without("iat"), Ok("alice")),
            ("no sub", without("sub"), Err(Subject)),
            ("empty sub", with("sub", json!("")), Err(Subject)),
            ("sub a number", with("sub", json!(7)), Err(Subject)),
        ];
        for (what, claims, want) in cases {
            let claims = claims.as_object().expect("object").clone();
            let got = check(&claims, &expected(), NOW).map(|v| v.sub);
            assert_eq!(got, want, "{what}");
        }
    }
}
