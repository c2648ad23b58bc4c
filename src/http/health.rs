//! Health routes for orchestrators; none needs authentication.
//!
//! - `/health`: liveness, no I/O.
//! - `/health/db`: `SELECT 1` with a deadline; 503 when it fails.
//! - `/health/pool`: pool counters, no I/O.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use crate::db;
use crate::http::AppState;

/// Longest `/health/db` waits for the database before answering 503.
const DB_CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// Liveness: the process answers.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": Utc::now() }))
}

/// Readiness of the database.
pub async fn db(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(DB_CHECK_DEADLINE, db::ping(&state.db)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {DB_CHECK_DEADLINE:?}")),
    };
    match error {
        None => {
            (StatusCode::OK, Json(json!({ "status": "healthy", "latencyMs": latency_ms, "timestamp": Utc::now() })))
        }
        Some(error) => {
            // The detail goes to the log only; probes get a stable answer.
            tracing::warn!(event = "health_db_unhealthy", error = %error, latency_ms, "database health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unhealthy", "latencyMs": latency_ms, "timestamp": Utc::now() })),
            )
        }
    }
}

/// Pool counters.
pub async fn pool(State(state): State<AppState>) -> Json<Value> {
    let stats = db::pool_stats(&state.db, state.config.db_pool_max);
    Json(json!({
        "size": stats.size,
        "idle": stats.idle,
        "inUse": stats.in_use,
        "max": stats.max,
        "utilization": stats.utilization,
        "timestamp": Utc::now(),
    }))
}
