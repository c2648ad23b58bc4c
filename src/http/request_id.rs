//! Request and correlation IDs, request metrics and the request log line.
//!
//! Every response carries `X-Request-ID`, taken from the request when it is
//! a sane value (1 to 128 characters of `[A-Za-z0-9._:-]`) and generated
//! otherwise, and `X-Correlation-ID`, taken from the request the same way or
//! set to the request ID. Every log line of the request is emitted inside a
//! span that carries both, and outbound calls read the correlation ID from
//! `telemetry::correlation_id`. The layer also counts requests in flight,
//! records the duration by route template and status, and logs
//! `http_request_completed` (at debug for health probes and for `/graphql`,
//! which logs its own `graphql_request_completed`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::http::Lifecycle;
use crate::http::protocol::{MediaType, Rejection};
use crate::telemetry::{self, metrics};

/// The header name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The correlation header.
pub static X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// The request's ID, stored in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request's correlation ID, stored in the request extensions.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// Put in a response's extensions by a handler that logged its own summary line.
#[derive(Debug, Clone, Copy)]
pub struct SummaryLogged;

/// Put in the extensions of the answer to a handler that panicked
/// ([`panicked`]): its body is written again here, with the request ID.
#[derive(Debug, Clone, Copy)]
pub struct Panicked;

/// What a request whose handler panicked is told.
fn panic_rejection() -> Rejection {
    Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Internal server error")
}

/// The answer of a handler that panicked (the panic itself is logged by the
/// hook `telemetry::install_panic_hook` sets, with the request's IDs), for
/// `CatchPanicLayer`: [`layer`], outside it, adds the request ID.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut response = panic_rejection().into_response(MediaType::Json, "");
    response.extensions_mut().insert(Panicked);
    response
}

fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn header_id(req: &Request, name: &HeaderName) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).filter(|v| is_sane(v)).map(str::to_owned)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// Route layer: copies the matched route template into the response, so
/// the outer [`layer`] can label its metrics with it.
pub async fn route_template(req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}

/// Middleware: assigns the IDs, opens the request span, counts the request,
/// logs completion, echoes the headers.
pub async fn layer(State(lifecycle): State<Arc<Lifecycle>>, mut req: Request, next: Next) -> Response {
    let id = header_id(&req, &X_REQUEST_ID).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let correlation = header_id(&req, &X_CORRELATION_ID).unwrap_or_else(|| id.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(CorrelationId(correlation.clone()));

    let method = method_label(req.method());
    // At ERROR level, so that it exists whenever anything is logged: every
    // line logged while serving the request (a slow statement's warning with
    // COURIER_LOG=warn, say) carries its IDs.
    let span = tracing::error_span!(
        "request",
        request_id = %id,
        correlation_id = %correlation,
        method,
        path = %req.uri().path()
    );
    let quiet = req.uri().path().starts_with("/health") || req.uri().path() == "/metrics";
    let _in_flight = lifecycle.enter();
    let started = Instant::now();
    let mut response =
        telemetry::with_correlation_id(correlation.clone(), next.run(req)).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    metrics::http_request(route, method, status, elapsed);
    let duration_ms = telemetry::ms(elapsed);
    span.in_scope(|| {
        if quiet || response.extensions().get::<SummaryLogged>().is_some() {
            tracing::debug!(event = "http_request_completed", status, duration_ms, "request completed");
        } else {
            tracing::info!(event = "http_request_completed", status, duration_ms, "request completed");
        }
    });
    if response.extensions().get::<Panicked>().is_some() {
        *response.body_mut() = axum::body::Body::from(panic_rejection().body(&id).to_string());
    }
    for (name, value) in [(&X_REQUEST_ID, &id), (&X_CORRELATION_ID, &correlation)] {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(is_sane("abc-123_x.y:z"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane("<script>"));
        assert!(!is_sane(&"a".repeat(129)));
    }
}
