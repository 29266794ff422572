//! The install routes of a community: list and show (each [`PluginStatus`] with its
//! `delivery`), install and upgrade from an uploaded package, grant and revoke, enable and
//! disable, configuration, limits, approve or reject an upgrade, uninstall.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::body::{ApiPath, ApiQuery, JsonBody, WasmBody};
use super::errors::{ApiError, ApiResult};
use super::AppState;
use crate::admin::status::PluginStatus;
use crate::dispatch::DeliveryStatus;
use crate::event::ConfigEntry;
use crate::runtime::plugin::ManifestSource;
use crate::runtime::Plugin;
use crate::storage::admin::LimitOverrides;
use crate::{Capability, GrantSet, PlazaError};

/// A status as JSON with the install's `delivery` added.
fn with_delivery(status: &PluginStatus, community: &str, deliveries: &[DeliveryStatus]) -> ApiResult<Value> {
    let mut value = serde_json::to_value(status).map_err(|e| ApiError::internal(e.to_string()))?;
    let delivery = deliveries
        .iter()
        .find(|d| d.community == community && d.plugin == status.plugin);
    if let Value::Object(object) = &mut value {
        object.insert(
            "delivery".into(),
            serde_json::to_value(delivery).map_err(|e| ApiError::internal(e.to_string()))?,
        );
    }
    Ok(value)
}

/// One install's status with its delivery; 404 when it is not installed.
pub(super) fn status_of(state: &AppState, c: &str, p: &str) -> ApiResult<Value> {
    let status = state
        .plaza
        .plugin_statuses(c)?
        .into_iter()
        .find(|s| s.plugin == p)
        .ok_or_else(|| PlazaError::NotInstalled {
            plugin: p.to_string(),
            community: c.to_string(),
        })?;
    with_delivery(&status, c, &state.plaza.delivery_status()?)
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let deliveries = state.plaza.delivery_status()?;
    let statuses = state.plaza.plugin_statuses(&c)?;
    Ok(Json(
        statuses
            .iter()
            .map(|s| with_delivery(s, &c, &deliveries))
            .collect::<ApiResult<_>>()?,
    ))
}

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(status_of(&state, &c, &p)?))
}

/// Loads an uploaded package; it must carry its manifest (`plaza package`).
async fn load_upload(state: &AppState, bytes: &[u8], origin: &str) -> ApiResult<Arc<Plugin>> {
    let plugin = state.plaza.load_plugin(bytes, origin).await?;
    if plugin.manifest_source == ManifestSource::Derived {
        return Err(ApiError::bad_request(format!(
            "{origin} has no manifest: embed one with `plaza package PLUGIN.wasm --manifest plaza.toml -o OUT.wasm`"
        )));
    }
    Ok(plugin)
}

pub(super) async fn install(
    State(state): State<Arc<AppState>>,
    ApiPath(c): ApiPath<String>,
    ApiQuery(params): ApiQuery<Vec<(String, String)>>,
    WasmBody(bytes): WasmBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut grant_lists = Vec::new();
    let mut config = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "grant" => grant_lists.push(value),
            "config" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| ApiError::bad_request(format!("config {value:?}: expected KEY=VALUE")))?;
                config.push(ConfigEntry {
                    key: k.trim().to_string(),
                    value: v.to_string(),
                });
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}` (this endpoint takes `grant` and `config`)"
                )))
            }
        }
    }
    let plugin = load_upload(&state, &bytes, &format!("the plugin uploaded to community `{c}`")).await?;
    let mut grants = GrantSet::none();
    for list in &grant_lists {
        let parsed = if list.trim() == "all" {
            plugin.requested()
        } else {
            GrantSet::parse_list(list).map_err(|e| ApiError::bad_request(e.to_string()))?
        };
        parsed.iter().for_each(|cap| grants.insert(cap));
    }
    state.plaza.install(&c, plugin.clone(), grants, config).await?;
    Ok((StatusCode::CREATED, Json(status_of(&state, &c, &plugin.name)?)))
}

pub(super) async fn uninstall(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.uninstall(&c, &p).await?;
    Ok(Json(json!({"uninstalled": p})))
}

fn capability(name: &str) -> ApiResult<Capability> {
    name.parse()
        .map_err(|e: crate::capability::UnknownCapability| ApiError::bad_request(e.to_string()))
}

pub(super) async fn grant(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p, cap)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.grant(&c, &p, &[capability(&cap)?])?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p, cap)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.revoke(&c, &p, &[capability(&cap)?])?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn enable(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.set_enabled(&c, &p, true)?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn disable(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.set_enabled(&c, &p, false)?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn config(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
    JsonBody(entries): JsonBody<Vec<ConfigEntry>>,
) -> ApiResult<Json<Value>> {
    if entries.is_empty() {
        return Err(ApiError::bad_request(
            "send at least one entry, e.g. [{\"key\":\"channel\",\"value\":\"general\"}]",
        ));
    }
    state.plaza.set_config(&c, &p, entries).await?;
    Ok(Json(status_of(&state, &c, &p)?))
}

/// The field names of [`LimitOverrides`], as its JSON form spells them.
fn limit_fields() -> Vec<String> {
    let every = LimitOverrides {
        memory_mb: Some(0),
        cpu_ms: Some(0),
        wall_clock_ms: Some(0),
        fuel: Some(0),
        table_elements: Some(0),
        instances: Some(0),
        tables: Some(0),
        memories: Some(0),
        messages_per_minute_per_channel: Some(0),
        channel_burst: Some(0),
        messages_per_minute_per_community: Some(0),
        community_burst: Some(0),
    };
    match serde_json::to_value(every) {
        Ok(Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

pub(super) async fn limits(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    // A misspelt limit must not be ignored silently (the admin would think it applied).
    let known = limit_fields();
    if let Some(unknown) = body.keys().find(|k| !known.contains(k)) {
        return Err(ApiError::bad_request(format!(
            "unknown limit `{unknown}` (known: {})",
            known.join(", ")
        )));
    }
    let overrides: LimitOverrides =
        serde_json::from_value(Value::Object(body)).map_err(|e| ApiError::bad_request(format!("limits: {e}")))?;
    state.plaza.set_limits(&c, &p, overrides)?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn upgrade(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
    WasmBody(bytes): WasmBody,
) -> ApiResult<Json<Value>> {
    let origin = format!("the upgrade of `{p}` uploaded to community `{c}`");
    let new = load_upload(&state, &bytes, &origin).await?;
    if new.name != p {
        return Err(ApiError::bad_request(format!(
            "{origin} is plugin `{}`, not `{p}`",
            new.name
        )));
    }
    let outcome = state.plaza.upgrade(&c, new).await?;
    Ok(Json(json!({"outcome": outcome})))
}

pub(super) async fn approve(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.approve_upgrade(&c, &p).await?;
    Ok(Json(status_of(&state, &c, &p)?))
}

pub(super) async fn reject(
    State(state): State<Arc<AppState>>,
    ApiPath((c, p)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.plaza.reject_upgrade(&c, &p)?;
    Ok(Json(status_of(&state, &c, &p)?))
}
