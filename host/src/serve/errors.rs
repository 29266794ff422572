//! The one error shape every `plaza serve` answer uses, and how library errors map onto it.
//!
//! `{"error": {"code": "not-found", "message": "community `town` does not exist"}}`: the code is
//! stable (clients branch on it), the status follows from it, and the message says what was
//! wrong in words a person can act on. Messages never contain a token or its hash.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::PlazaError;
use crate::storage::admin::StoreError;

/// An error answer: status, stable code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (`not-found`, `forbidden`, ...).
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: malformed JSON, an unknown capability, an invalid value.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// 401: no token, an unknown one or a revoked one.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: a valid token without the right.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 422: a well-formed package the signing policy or key continuity refuses; the message
    /// names the rule.
    pub fn package_refused(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "package-refused", message)
    }

    /// 404: no such community, plugin, dead letter, token or route.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", message)
    }

    /// 409: the state does not allow it (exists already, nothing pending, ...).
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body, or the batch, is larger than allowed.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", message)
    }

    /// 415: the body is not of the media type the endpoint takes.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", message)
    }

    /// 408: the request did not arrive in time, or the answer was not ready in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", message)
    }

    /// 500: the store or the host failed.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT || self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the request body may still be on its way: do not read it as the
            // next request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound(_) => ApiError::not_found(e.to_string()),
            StoreError::Conflict(_) => ApiError::conflict(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<PlazaError> for ApiError {
    fn from(e: PlazaError) -> Self {
        let message = e.to_string();
        match e {
            PlazaError::NoSuchCommunity(_) | PlazaError::NotInstalled { .. } => ApiError::not_found(message),
            PlazaError::CommunityExists(_)
            | PlazaError::AlreadyInstalled { .. }
            | PlazaError::NoPendingUpgrade { .. }
            | PlazaError::BadUpgrade { .. } => ApiError::conflict(message),
            // What the client sent is wrong: a plugin that does not load, a bad manifest,
            // event, configuration value or limit, a grant the manifest does not request.
            PlazaError::ReadPlugin { .. }
            | PlazaError::NotAComponent { .. }
            | PlazaError::WrongWorld { .. }
            | PlazaError::Load { .. }
            | PlazaError::Manifest(_)
            | PlazaError::BadEvent(_)
            | PlazaError::NotRequested { .. }
            | PlazaError::BadConfig { .. }
            | PlazaError::BadLimit { .. }
            | PlazaError::BadSecret { .. } => ApiError::bad_request(message),
            PlazaError::BadSigningPolicy { .. } => ApiError::bad_request(message),
            // The package is well formed but the signing policy or key continuity refuses it.
            PlazaError::Signature { .. } => ApiError::package_refused(message),
            PlazaError::Store(store) => store.into(),
            PlazaError::Other(_) => ApiError::internal(message),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
