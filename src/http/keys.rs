//! `/api/v1/keys`: API keys of principals (admins only, see [`crate::auth::route_role`]) —
//! create (the key is in this one answer and never again), list, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use crate::auth::{KeyError, KeyInfo, Role};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// The principal's name: 1 to 64 of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    pub role: Role,
    /// How long the key is valid, e.g. `30d`, `12h` (default: until revoked).
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// A new key: `key` is shown here only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key itself: `Authorization: Bearer <key>`.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// `GET /api/v1/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key (revoked ones too), by name; never the key itself.
    pub keys: Vec<KeyInfo>,
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Invalid(m) => ApiError::Invalid {
            field: None,
            message: m,
        },
        e @ KeyError::Exists(_) => ApiError::Conflict(serde_json::Value::String(e.to_string())),
        e @ KeyError::NotFound(_) => ApiError::NotFound(e.to_string()),
        KeyError::Store(m) => ApiError::Internal(m),
    }
}

/// Every key, without the keys themselves.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "the keys", body = KeyList),
              (status = 403, description = "not an admin", body = ErrorBody)))]
async fn list_keys(State(state): State<AppState>) -> Json<KeyList> {
    Json(KeyList {
        keys: state.auth.list(),
    })
}

/// Makes a key for a principal with a role.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = NewKeyRequest,
    responses((status = 201, description = "the key (shown once)", body = CreatedKey),
              (status = 409, description = "a key with that name exists", body = ErrorBody),
              (status = 422, description = "bad name, role or expiry", body = ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let expires_at = match &body.expires_in {
        None => None,
        Some(text) => {
            let d = att_runtime::duration::parse(text).map_err(|m| ApiError::Invalid {
                field: Some("expires_in".into()),
                message: m,
            })?;
            let d = time::Duration::try_from(d).map_err(|e| ApiError::Invalid {
                field: Some("expires_in".into()),
                message: e.to_string(),
            })?;
            time::OffsetDateTime::now_utc().checked_add(d)
        }
    };
    let key = state
        .auth
        .create(&body.name, body.role, expires_at)
        .await
        .map_err(key_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: key.text,
            info: key.record.info(),
        }),
    ))
}

/// Revokes a key: refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "key name")),
    responses((status = 204, description = "revoked"),
              (status = 404, description = "no active key with that name", body = ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke(&name).await.map_err(key_error)?;
    Ok(StatusCode::NO_CONTENT)
}
