//! An install's secrets over the API: list (names, hosts, when set), set or replace (the value
//! goes in, never comes back out), remove.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::{ApiPath, JsonBody};
use super::errors::{ApiError, ApiResult};
use super::AppState;

/// `PUT .../secrets/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetSecret {
    /// The value (8 to 4096 printable ASCII characters).
    value: String,
    /// Hosts it may be sent to; default: any host on the install's allowlist.
    #[serde(default)]
    hosts: Vec<String>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "secrets": state.plaza.secrets(&c, &p)? })))
}

pub(super) async fn set(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p, name)): ApiPath<(String, String, String)>,
    JsonBody(body): JsonBody<SetSecret>,
) -> ApiResult<Json<Value>> {
    state.plaza.set_secret(&c, &p, &name, &body.value, &body.hosts)?;
    Ok(Json(json!({ "secrets": state.plaza.secrets(&c, &p)? })))
}

pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p, name)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    if state.plaza.remove_secret(&c, &p, &name)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "{p} in `{c}` has no secret named {name:?}"
        )))
    }
}
