//! What runs around every handler, in order: authenticate the token and check the route's
//! access (401/403), check that the route's community exists (404), check the body's media
//! type (415), read the body within its limit and the request deadline (413/408), then run
//! the handler on a task of its own within the answer deadline.
//!
//! The handler runs on its own task so that an admin operation, once started, runs to its end
//! even when the client disconnects or the answer deadline passes: dropping it halfway (say,
//! between storing an install and delivering `plugin-installed`) would leave work half done.
//!
//! One log line per request names the method, the route template (never the raw path or
//! query), the status, the time taken and the token's id: never a token or a header.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{self, Access, Caller};
use super::body::{self, BodyKind, Buffered};
use super::errors::ApiError;
use super::routes::RouteSpec;
use super::AppState;

/// The route a guard protects, with the shared state.
#[derive(Clone)]
pub(super) struct Guard {
    state: Arc<AppState>,
    spec: Arc<RouteSpec>,
}

impl Guard {
    pub(super) fn new(state: Arc<AppState>, spec: RouteSpec) -> Self {
        Guard {
            state,
            spec: Arc::new(spec),
        }
    }
}

/// The id of the token that made a request, for the log line.
#[derive(Clone, Copy)]
struct CallerId(u64);

pub(super) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let mut caller_id = None;
    let mut response = match checked(&guard, request, next, &mut caller_id).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if let Some(id) = caller_id {
        response.extensions_mut().insert(CallerId(id));
    }
    response
}

async fn checked(
    guard: &Guard,
    request: Request,
    next: Next,
    caller_id: &mut Option<u64>,
) -> Result<Response, ApiError> {
    let (state, spec) = (&guard.state, &*guard.spec);
    let (mut parts, body) = request.into_parts();
    let community = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params.iter().find(|(k, _)| *k == "c").map(|(_, v)| v.to_string()),
        Err(_) => None,
    };
    if spec.access != Access::Public {
        let caller = auth::authenticate(&*state.tokens, &parts.headers)?;
        *caller_id = Some(caller.id);
        auth::authorize(&caller, spec.access, community.as_deref())?;
        parts.extensions.insert(Caller(caller));
    }
    if spec.access == Access::Community {
        // A change another process made (`plaza install` beside the server) is seen at once.
        if let Err(e) = state.plaza.refresh_installs().await {
            tracing::warn!(target: "plaza::serve", error = %e, "reloading installs");
        }
        let c = community.as_deref().unwrap_or_default();
        if !state.plaza.store().community_exists(c)? {
            return Err(crate::PlazaError::NoSuchCommunity(c.to_string()).into());
        }
    }
    body::check_media_type(spec.body, &parts.headers)?;
    let options = &state.options;
    let bytes = match spec.body {
        BodyKind::None => Default::default(),
        BodyKind::Json => body::read(body, &parts.headers, options.max_json_bytes, options.request_timeout).await?,
        BodyKind::Wasm => body::read(body, &parts.headers, options.max_wasm_bytes, options.request_timeout).await?,
    };
    parts.extensions.insert(Buffered(bytes));
    let request = Request::from_parts(parts, Body::empty());
    let task = tokio::spawn(next.run(request));
    match tokio::time::timeout(options.answer_timeout, task).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(ApiError::internal(format!(
            "the handler of {} {} failed: {}",
            spec.method,
            spec.path,
            panic_text(e)
        ))),
        Err(_) => Err(ApiError::timeout(format!(
            "the answer was not ready within {} ms; the operation goes on in the background, so check \
             its outcome before sending it again",
            options.answer_timeout.as_millis()
        ))),
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "it panicked".into()),
        Err(e) => e.to_string(),
    }
}

use axum::extract::FromRequestParts as _;

/// Unknown paths.
pub(super) async fn no_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("there is no route {method} {}; see /openapi.json", uri.path()))
}

/// Known paths with another method.
pub(super) async fn no_method(method: Method, matched: Option<MatchedPath>) -> ApiError {
    let path = matched.map_or_else(|| "this path".to_string(), |m| m.as_str().to_string());
    ApiError::method_not_allowed(format!("{path} does not take {method}; see /openapi.json"))
}

/// One line per request, without secrets.
pub(super) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |m| m.as_str().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    let token = response.extensions().get::<CallerId>().map(|c| c.0);
    tracing::info!(
        target: "plaza::serve",
        %method,
        route,
        status = response.status().as_u16(),
        ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        token,
        "request"
    );
    response
}
