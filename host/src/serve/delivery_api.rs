//! Delivery routes: an install's circuit breaker, a community's dead letters (list, show,
//! replay) and, for operators, every install's delivery status.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::{ApiPath, ApiQuery};
use super::errors::{ApiError, ApiResult};
use super::AppState;
use crate::dispatch::{BreakerStatus, DeliveryStatus};
use crate::storage::log::DeadLetter;
use crate::PlazaError;

/// 404 unless `p` is installed in `c` (the breaker of a plugin that is not installed would
/// read as a closed one).
fn installed(state: &AppState, c: &str, p: &str) -> ApiResult<()> {
    if state.plaza.installs(c)?.iter().any(|i| i.plugin.name == p) {
        Ok(())
    } else {
        Err(PlazaError::NotInstalled {
            plugin: p.to_string(),
            community: c.to_string(),
        }
        .into())
    }
}

pub(super) async fn breaker(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<BreakerStatus>> {
    installed(&state, &c, &p)?;
    Ok(Json(state.plaza.breaker_status(&c, &p)?))
}

pub(super) async fn reset_breaker(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<BreakerStatus>> {
    installed(&state, &c, &p)?;
    state.plaza.reset_breaker(&c, &p).await?;
    Ok(Json(state.plaza.breaker_status(&c, &p)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeadLetterParams {
    plugin: Option<String>,
}

pub(super) async fn dead_letters(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeadLetterParams>,
) -> ApiResult<Json<Vec<DeadLetter>>> {
    Ok(Json(state.plaza.dead_letters(Some(&c), params.plugin.as_deref())?))
}

/// A dead letter of community `c`; one of another community is not found, as if it did not
/// exist (its id says nothing about the other community).
fn letter_of(state: &AppState, c: &str, id: u64) -> ApiResult<DeadLetter> {
    match state.plaza.store().dead_letter_by_id(id)? {
        Some(letter) if letter.community == c => Ok(letter),
        _ => Err(ApiError::not_found(format!("community `{c}` has no dead letter {id}"))),
    }
}

pub(super) async fn dead_letter(
    State(state): State<Arc<AppState>>,
    ApiPath((c, id)): ApiPath<(String, u64)>,
) -> ApiResult<Json<DeadLetter>> {
    Ok(Json(letter_of(&state, &c, id)?))
}

pub(super) async fn replay(
    State(state): State<Arc<AppState>>,
    ApiPath((c, id)): ApiPath<(String, u64)>,
) -> ApiResult<Json<Value>> {
    letter_of(&state, &c, id)?;
    let (appended, _reports) = state.plaza.replay_dead_letter(id).await?;
    Ok(Json(json!({"replayed": id, "sequence": appended.sequence})))
}

pub(super) async fn status(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<DeliveryStatus>>> {
    if let Err(e) = state.plaza.refresh_installs().await {
        tracing::warn!(target: "plaza::serve", error = %e, "reloading installs");
    }
    Ok(Json(state.plaza.delivery_status()?))
}
