//! `/v1/me` and the community routes: list, create, review policy and audit log.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::body::{ApiPath, ApiQuery, JsonBody};
use super::errors::{ApiError, ApiResult};
use super::AppState;
use crate::storage::admin::{AuditQuery, CommunityRecord, ReviewFailPolicy};

/// Default and largest number of audit entries one call returns.
const AUDIT_DEFAULT: usize = 100;
const AUDIT_MAX: usize = 1_000;

pub(super) async fn me(Caller(caller): Caller) -> Json<Value> {
    Json(json!({
        "id": caller.id,
        "name": caller.name,
        "role": caller.role,
        "communities": caller.communities,
    }))
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<CommunityRecord>>> {
    let mut all = state.plaza.communities()?;
    all.retain(|c| caller.may_administer(&c.id));
    Ok(Json(all))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCommunity {
    id: String,
}

fn community(state: &AppState, id: &str) -> ApiResult<CommunityRecord> {
    Ok(state.plaza.community(id)?)
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(new): JsonBody<NewCommunity>,
) -> ApiResult<(StatusCode, Json<CommunityRecord>)> {
    let id = new.id;
    if id.trim().is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "community id {id:?} must be 1 to 128 printable characters"
        )));
    }
    state.plaza.create_community(&id)?;
    Ok((StatusCode::CREATED, Json(community(&state, &id)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Policy {
    policy: ReviewFailPolicy,
}

pub(super) async fn review_policy(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
    JsonBody(body): JsonBody<Policy>,
) -> ApiResult<Json<CommunityRecord>> {
    state.plaza.set_review_fail_policy(&c, body.policy)?;
    Ok(Json(community(&state, &c)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SigningPolicyBody {
    /// `null`: the operator's policy.
    policy: Option<crate::signing::SigningPolicy>,
}

/// A community admin may only make the operator's signing policy stricter (checked by
/// `Plaza::set_signing_policy`), so this is an admin route, not an operator one.
pub(super) async fn signing_policy(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
    JsonBody(body): JsonBody<SigningPolicyBody>,
) -> ApiResult<Json<CommunityRecord>> {
    state.plaza.set_signing_policy(&c, body.policy)?;
    Ok(Json(community(&state, &c)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    plugin: Option<String>,
    limit: Option<usize>,
    /// Only entries after this `seq` (to poll for new ones).
    after: Option<u64>,
}

pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<crate::storage::admin::AuditEntry>>> {
    let limit = params.limit.unwrap_or(AUDIT_DEFAULT);
    if !(1..=AUDIT_MAX).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is outside 1..={AUDIT_MAX}"
        )));
    }
    let entries = state.plaza.audit_log(&AuditQuery {
        community: Some(c),
        plugin: params.plugin,
        after_seq: params.after,
        limit: Some(limit),
    })?;
    Ok(Json(entries))
}
