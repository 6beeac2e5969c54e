//! Extractors that turn bad input into [`ApiError::Invalid`] naming the field, and
//! [`By`]: who a request acts for.
//!
//! axum's own `Json` and `Query` answer 400 with plain text; att's API answers every
//! malformed or invalid body or query with 422 in the error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body, parsed with the failing field named.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_json(&req)?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::Status(rejection.status(), rejection.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out (`T::default()` then); one that is sent must be JSON,
/// with its content type said, like any other.
pub struct OptionalApiJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared = req.headers().contains_key(header::CONTENT_TYPE);
        if declared {
            require_json(&req)?;
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::Status(rejection.status(), rejection.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !declared {
            return Err(unsupported());
        }
        parse_json(&bytes).map(OptionalApiJson)
    }
}

fn unsupported() -> ApiError {
    ApiError::Status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "expected a body with `Content-Type: application/json`".into(),
    )
}

/// Refuses a request whose body is not declared as JSON (a browser form cannot declare it,
/// which is part of what keeps other sites' pages from posting to att).
fn require_json(req: &Request) -> Result<(), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        });
    if is_json { Ok(()) } else { Err(unsupported()) }
}

/// Parses a JSON document into `T`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        if e.inner().is_syntax() || e.inner().is_eof() {
            // A broken document is not about any one field.
            return ApiError::Invalid {
                field: None,
                message: format!("malformed JSON body: {message}"),
            };
        }
        ApiError::Invalid {
            field: field_of(&e.path().to_string(), &message),
            message,
        }
    })?;
    de.end().map_err(|e| ApiError::Invalid {
        field: None,
        message: format!("malformed JSON body: {e}"),
    })?;
    Ok(value)
}

/// Query-string parameters, parsed with the failing parameter named.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.inner().to_string();
                ApiError::Invalid {
                    field: field_of(&e.path().to_string(), &message),
                    message,
                }
            })
    }
}

/// The field an error is about: the path, or the field a "missing field" message names.
pub(crate) fn field_of(path: &str, message: &str) -> Option<String> {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
    };
    let inner = named("missing field `").or_else(|| named("unknown field `"));
    match (path, inner) {
        (".", f) => f,
        (p, Some(f)) if p != f && !p.ends_with(&format!(".{f}")) => Some(format!("{p}.{f}")),
        (p, _) => Some(p.to_owned()),
    }
}

/// Refuses a registration whose `headers` or `env` say `{ from_env = … }`: that form is for
/// att's configuration file; an API caller must not read att's environment into a header or
/// a process it controls.
pub fn refuse_from_env(body: &serde_json::Value) -> Result<(), ApiError> {
    match att_runtime::secret::names_from_env(body) {
        Some(field) => Err(ApiError::invalid(
            &field,
            "`from_env` is for att's configuration file only: give the value itself",
        )),
        None => Ok(()),
    }
}

/// Who a request acts for, as the workspace tools record it: the request id
/// (`http:<id>`) and the principal the authorization layer found.
pub struct By(pub crate::tools::Caller);

impl<S: Send + Sync> FromRequestParts<S> for By {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .extensions
            .get::<super::middleware::RequestId>()
            .map_or("-", |r| &r.0);
        let principal = parts.extensions.get::<crate::auth::Principal>();
        Ok(By(
            crate::tools::Caller::new(format!("http:{id}")).by(principal)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        kind: String,
        limit: Option<u32>,
    }

    fn field(r: Result<Body, ApiError>) -> Option<String> {
        match r {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-input error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field(parse_json(br#"{"limit": 1}"#)), Some("kind".into()));
        assert_eq!(
            field(parse_json(br#"{"kind": "a", "limit": -1}"#)),
            Some("limit".into())
        );
        assert_eq!(
            field(parse_json(br#"{"kind": "a", "x": 1}"#)),
            Some("x".into())
        );
        assert_eq!(field(parse_json(br#"{"kind": "#)), None);
        assert!(parse_json::<Body>(br#"{"kind": "a"}"#).is_ok());
        assert_eq!(field(parse_json(br#"{"kind": "a"} trailing"#)), None);
    }
}
