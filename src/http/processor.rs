//! `POST /payments/processor/events`: the card processor's signed callbacks
//! (a pending charge approved or refused). The body is read raw, at most
//! 64 KiB, because the signature covers its exact bytes; the domain verifies
//! it and applies the event once. Answers are JSON: 200 when applied (or
//! already applied), 401 for a bad or stale signature, 400 for a signed
//! body that cannot be read, 404 for an unknown charge (or when no processor
//! is configured), 503 when the database is down (the processor retries).

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sea_orm::ActiveEnum;
use serde_json::json;

use crate::domain::audit::AuditContext;
use crate::domain::payments::{self, EventOutcome};
use crate::error::{AppError, ErrorCode};
use crate::http::AppState;
use crate::http::protocol::{MediaType, Rejection, json_response};
use crate::http::request_id::RequestId;

/// The header carrying the processor's signature (`t=<unix>,v1=<hex>`).
pub const SIGNATURE_HEADER: &str = "courier-processor-signature";

/// Largest callback body accepted.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Applies one callback.
pub async fn event(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { "BAD_REQUEST" };
            let message = format!("The event body could not be read (at most {MAX_EVENT_BYTES} bytes)");
            return Rejection::new(status, code, message).into_response(MediaType::Json, &request_id);
        }
    };
    if state.money.processor.is_none() {
        // No processor, no callbacks: the route does not exist.
        return Rejection::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found")
            .into_response(MediaType::Json, &request_id);
    }
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let audit = AuditContext { actor_id: None, request_id: Some(request_id.clone()), ip: None, user_agent: None };
    let (result, notices) =
        crate::domain::live::collect(payments::processor_event(&state.db, &state.money, &audit, signature, &body))
            .await;
    if result.is_ok() {
        notices.into_iter().for_each(|n| state.bus.publish(n));
    }
    match result {
        Ok(outcome) => {
            let (applied, payment) = match &outcome {
                EventOutcome::Captured(p) => ("CAPTURED", p),
                EventOutcome::Declined(p) => ("DECLINED", p),
                EventOutcome::Returned(p) => ("RETURNED_TO_CARD", p),
                EventOutcome::AlreadyApplied(p) => ("ALREADY_APPLIED", p),
            };
            let body = json!({ "received": true, "applied": applied, "paymentStatus": payment.status.to_value(), "requestId": request_id });
            json_response(StatusCode::OK, MediaType::Json, &body)
        }
        Err(err) => {
            let status = match err.code() {
                ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
                ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::Conflict => StatusCode::CONFLICT,
                ErrorCode::BusinessRuleViolation => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if matches!(err, AppError::Database(_) | AppError::Internal(_)) {
                tracing::error!(event = "payment_processor_event_failed", error = %err, "processor callback failed");
            }
            let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "Internal server error".to_owned()
            } else {
                err.to_string()
            };
            Rejection::new(status, err.code().as_str(), message).into_response(MediaType::Json, &request_id)
        }
    }
}
