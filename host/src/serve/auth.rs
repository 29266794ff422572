//! Who is calling and what they may do. Every `/v1` route declares its [`Access`] in the route
//! table; the route guard authenticates the bearer token and checks that access before the
//! body is read or a handler runs, so no handler can forget a check.
//!
//! - No `Authorization` header, one that is not `Bearer TOKEN`, an unknown or a revoked
//!   token: 401. The token is looked up on every request, so a revoke applies at once.
//! - A valid token without the right: 403. An admin asking about a community that is not on
//!   its token gets 403 whether or not that community exists, so tokens cannot probe for
//!   other communities.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};

use super::errors::ApiError;
use super::tokens::{self, Role, TokenInfo, TokenStore};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token (health, the console, the OpenAPI document).
    Public,
    /// Any valid token.
    Any,
    /// Operator tokens only.
    Operator,
    /// Operators, and admins of the route's `{c}` community.
    Community,
}

impl Access {
    /// How the route table and the OpenAPI document (`x-plaza-role`) name it.
    pub fn name(self) -> &'static str {
        match self {
            Access::Public => "none",
            Access::Any => "any",
            Access::Operator => "operator",
            Access::Community => "admin",
        }
    }
}

/// The token a request was authenticated with, for handlers.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("this route has no authenticated caller"))
    }
}

/// The bearer token of a request. Errors never repeat what was sent.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated(
            "this call needs `Authorization: Bearer TOKEN` (an operator makes tokens with `plaza token create`)",
        )
    })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("the Authorization header is not text"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthenticated("the Authorization header must be `Bearer TOKEN`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthenticated(
            "the Authorization header must be `Bearer TOKEN`",
        ));
    }
    Ok(token.trim())
}

/// The live token a request carries.
pub(super) fn authenticate(store: &dyn TokenStore, headers: &HeaderMap) -> Result<TokenInfo, ApiError> {
    let token = bearer(headers)?;
    if !token.starts_with(tokens::TOKEN_PREFIX) {
        return Err(ApiError::unauthenticated(format!(
            "the bearer token is not a Plaza API token (those start with `{}`)",
            tokens::TOKEN_PREFIX
        )));
    }
    tokens::authenticate(store, token)?.ok_or_else(|| ApiError::unauthenticated("the token is unknown or revoked"))
}

/// Checks that `caller` may use a route with `access`, about `community` when it names one.
pub(super) fn authorize(caller: &TokenInfo, access: Access, community: Option<&str>) -> Result<(), ApiError> {
    let admin_of = || caller.communities.join(", ");
    match (access, caller.role) {
        (Access::Public | Access::Any, _) | (_, Role::Operator) => Ok(()),
        (Access::Operator, Role::Admin) => Err(ApiError::forbidden(format!(
            "this call needs an operator token; token `{}` is an admin of: {}",
            caller.name,
            admin_of()
        ))),
        (Access::Community, Role::Admin) => match community {
            Some(c) if caller.may_administer(c) => Ok(()),
            Some(c) => Err(ApiError::forbidden(format!(
                "token `{}` administers only: {}; not community `{c}`",
                caller.name,
                admin_of()
            ))),
            None => Err(ApiError::forbidden("this route names no community")),
        },
    }
}
