//! The route table: every route with its method, path, who may call it and what body it
//! takes. The router is built from it, the guard enforces it, and the tests walk it (every
//! community route answers 403 to another community's admin, every non-public route answers
//! 401 without a token, every route is in the OpenAPI document).

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::auth::Access;
use super::body::BodyKind;
use super::{communities, delivery_api, guard, ingest, plugins, secrets_api, site, tokens_api, AppState};

/// One route as the table declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The method.
    pub method: Method,
    /// The path, with `{name}` parameters (as in OpenAPI).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What body it takes.
    pub body: BodyKind,
}

/// A route and its handler.
pub(super) struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<Arc<AppState>>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, body: BodyKind, handler: H) -> Route
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("the table uses standard methods");
    Route {
        spec: RouteSpec {
            method,
            path,
            access,
            body,
        },
        handler: on(filter, handler),
    }
}

/// Every route.
pub(super) fn routes() -> Vec<Route> {
    use Access::{Any, Community, Operator, Public};
    use BodyKind::{Json, None, Wasm};
    vec![
        route(Method::GET, "/healthz", Public, None, site::healthz),
        route(Method::GET, "/openapi.json", Public, None, site::openapi),
        route(Method::GET, "/", Public, None, site::console_index),
        route(Method::GET, "/console.js", Public, None, site::console_js),
        route(Method::GET, "/console.css", Public, None, site::console_css),
        route(Method::GET, "/metrics", Operator, None, site::metrics),
        route(Method::GET, "/v1/me", Any, None, communities::me),
        route(Method::POST, "/v1/events", Operator, Json, ingest::post_events),
        route(Method::GET, "/v1/communities", Any, None, communities::list),
        route(Method::POST, "/v1/communities", Operator, Json, communities::create),
        route(
            Method::GET,
            "/v1/communities/{c}/plugins",
            Community,
            None,
            plugins::list,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins",
            Community,
            Wasm,
            plugins::install,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/plugins/{p}",
            Community,
            None,
            plugins::get,
        ),
        route(
            Method::DELETE,
            "/v1/communities/{c}/plugins/{p}",
            Community,
            None,
            plugins::uninstall,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/plugins/{p}/grants/{capability}",
            Community,
            None,
            plugins::grant,
        ),
        route(
            Method::DELETE,
            "/v1/communities/{c}/plugins/{p}/grants/{capability}",
            Community,
            None,
            plugins::revoke,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/enable",
            Community,
            None,
            plugins::enable,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/disable",
            Community,
            None,
            plugins::disable,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/plugins/{p}/config",
            Community,
            Json,
            plugins::config,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/plugins/{p}/limits",
            Community,
            Json,
            plugins::limits,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/plugins/{p}/secrets",
            Community,
            None,
            secrets_api::list,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/plugins/{p}/secrets/{name}",
            Community,
            Json,
            secrets_api::set,
        ),
        route(
            Method::DELETE,
            "/v1/communities/{c}/plugins/{p}/secrets/{name}",
            Community,
            None,
            secrets_api::remove,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/upgrade",
            Community,
            Wasm,
            plugins::upgrade,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/upgrade/approve",
            Community,
            None,
            plugins::approve,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/upgrade/reject",
            Community,
            None,
            plugins::reject,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/plugins/{p}/breaker",
            Community,
            None,
            delivery_api::breaker,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/plugins/{p}/breaker/reset",
            Community,
            None,
            delivery_api::reset_breaker,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/review-policy",
            Community,
            Json,
            communities::review_policy,
        ),
        route(
            Method::PUT,
            "/v1/communities/{c}/signing-policy",
            Community,
            Json,
            communities::signing_policy,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/audit",
            Community,
            None,
            communities::audit,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/dead-letters",
            Community,
            None,
            delivery_api::dead_letters,
        ),
        route(
            Method::GET,
            "/v1/communities/{c}/dead-letters/{id}",
            Community,
            None,
            delivery_api::dead_letter,
        ),
        route(
            Method::POST,
            "/v1/communities/{c}/dead-letters/{id}/replay",
            Community,
            None,
            delivery_api::replay,
        ),
        route(Method::GET, "/v1/status", Operator, None, delivery_api::status),
        route(Method::GET, "/v1/tokens", Operator, None, tokens_api::list),
        route(Method::POST, "/v1/tokens", Operator, Json, tokens_api::create),
        route(Method::DELETE, "/v1/tokens/{id}", Operator, None, tokens_api::revoke),
    ]
}

/// The route table: method, path, access and body of every route the router serves.
pub fn route_table() -> Vec<RouteSpec> {
    routes().into_iter().map(|r| r.spec).collect()
}

/// The service: every route behind its guard, JSON answers for unknown paths and methods,
/// and one log line per request.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router: Router<Arc<AppState>> = Router::new();
    for Route { spec, handler } in routes() {
        let path = spec.path;
        let guarded = handler.route_layer(axum::middleware::from_fn_with_state(
            guard::Guard::new(state.clone(), spec),
            guard::guard,
        ));
        router = router.route(path, guarded);
    }
    router
        .fallback(guard::no_route)
        .method_not_allowed_fallback(guard::no_method)
        .layer(axum::middleware::from_fn(guard::log_request))
        .with_state(state)
}
