//! Request bodies: each route declares what it takes ([`BodyKind`]); the route guard checks
//! the media type, reads the body within its size limit and the request deadline, and hands
//! the bytes to the handler through [`JsonBody`] or [`WasmBody`]. Reading happens before any
//! handler runs, so a slow or oversized upload never holds a handler (or a store lock), and
//! every refusal has the common error shape. Path and query extractors here turn axum's
//! plain-text rejections into that shape too.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::{header, request::Parts, HeaderMap};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// What a route takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Nothing (a body sent anyway is not read).
    None,
    /// `application/json`, up to the JSON limit.
    Json,
    /// `application/wasm` (a packaged plugin), up to the wasm limit.
    Wasm,
}

/// The request body, read in full by the route guard.
#[derive(Clone)]
pub(super) struct Buffered(pub Bytes);

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Checks the media type the route takes.
pub(super) fn check_media_type(kind: BodyKind, headers: &HeaderMap) -> Result<(), ApiError> {
    let found = media_type(headers);
    let ok = match kind {
        BodyKind::None => true,
        BodyKind::Json => found
            .as_deref()
            .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))),
        BodyKind::Wasm => found.as_deref() == Some("application/wasm"),
    };
    if ok {
        return Ok(());
    }
    let wanted = if kind == BodyKind::Json {
        "application/json"
    } else {
        "application/wasm"
    };
    Err(ApiError::unsupported_media_type(match found {
        Some(m) => format!("this endpoint takes `Content-Type: {wanted}`, not `{m}`"),
        None => format!("this endpoint takes a body with `Content-Type: {wanted}`"),
    }))
}

/// Reads the whole body: at most `limit` bytes, within `deadline`.
pub(super) async fn read(body: Body, headers: &HeaderMap, limit: usize, deadline: Duration) -> Result<Bytes, ApiError> {
    let too_large = |size: String| {
        ApiError::payload_too_large(format!(
            "the request body is {size}; this endpoint takes at most {limit} bytes"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > limit as u64) {
        return Err(too_large(format!("{length} bytes")));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(ApiError::timeout(format!(
            "the request body did not arrive within {} ms",
            deadline.as_millis()
        ))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large("larger than that".into())),
        Ok(Err(e)) => Err(ApiError::bad_request(format!("reading the request body failed: {e}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn buffered(parts: &Parts) -> Bytes {
    parts
        .extensions
        .get::<Buffered>()
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// A JSON body parsed as `T`; a parse failure is a 400 naming the line, column and problem.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = buffered(parts);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request body is empty; this endpoint takes JSON",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// A packaged plugin (`application/wasm`).
pub struct WasmBody(pub Bytes);

impl<S: Send + Sync> FromRequestParts<S> for WasmBody {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = buffered(parts);
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty; send the packaged plugin (.wasm) as `application/wasm`",
            ));
        }
        Ok(WasmBody(bytes))
    }
}

/// Path parameters; a value of the wrong form (a dead-letter id that is not a number) is a 400.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Query parameters; an unknown or malformed one is a 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}
