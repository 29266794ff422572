//! The routes that are not the admin API: health, the OpenAPI document, the web console's
//! static files (kept beside this module, in `console/`) and `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// Headers for the console's files: no sniffing, no framing, no referrer, and the same
/// content security policy as the console's own `<meta>` (scripts and styles only from its
/// files, none inline), plus `frame-ancestors`, which only a header can set.
fn console_file(content_type: &'static str, text: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                 object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ),
    ];
    (headers, text).into_response()
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

pub(super) async fn console_index() -> Response {
    console_file("text/html; charset=utf-8", include_str!("console/index.html"))
}

pub(super) async fn console_js() -> Response {
    console_file("text/javascript; charset=utf-8", include_str!("console/console.js"))
}

pub(super) async fn console_css() -> Response {
    console_file("text/css; charset=utf-8", include_str!("console/console.css"))
}

/// Prometheus text: the host's registry ([`crate::Plaza::render_metrics`]: ingest, delivery,
/// invocations, and each install's lag, dead letters and breaker), then this server's own
/// count of ingest answers by status (the registry does not see invalid or failed events).
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = state.plaza.render_metrics();
    let c = &state.counters;
    out.push_str("# HELP plaza_http_ingest_answers_total Answers to events offered to POST /v1/events, by status.\n");
    out.push_str("# TYPE plaza_http_ingest_answers_total counter\n");
    for (status, counter) in [
        ("accepted", &c.accepted),
        ("duplicate", &c.duplicate),
        ("rejected", &c.rejected),
        ("invalid", &c.invalid),
        ("failed", &c.failed),
    ] {
        let _ = writeln!(
            out,
            "plaza_http_ingest_answers_total{{status=\"{status}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}
