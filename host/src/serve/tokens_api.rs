//! Token routes, for operators: list (never a token or its hash), create (the token is in
//! this one answer and nowhere else), revoke (refused from the next request on).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::body::{ApiPath, JsonBody};
use super::errors::{ApiError, ApiResult};
use super::tokens::{self, NewToken, TokenInfo};
use super::{now_ms, AppState};

pub(super) async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(state.tokens.list()?))
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(new): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    new.validate()?;
    tokens::check_communities(&**state.plaza.store(), &new)?;
    let (info, secret) = tokens::create(&*state.tokens, &new, now_ms())?;
    tracing::info!(target: "plaza::serve", token = info.id, role = info.role.name(), "token created");
    let mut answer = serde_json::to_value(&info).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(object) = &mut answer {
        object.insert("token".into(), Value::String(secret.expose().to_string()));
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

pub(super) async fn revoke(State(state): State<Arc<AppState>>, ApiPath(id): ApiPath<u64>) -> ApiResult<Json<Value>> {
    let info = state.tokens.revoke(id, now_ms())?;
    tracing::info!(target: "plaza::serve", token = info.id, "token revoked");
    Ok(Json(json!({"revoked": info.id})))
}
