//! Health routes for orchestrators; none needs authentication.
//!
//! - `/health`: liveness, no I/O.
//! - `/health/db`: `SELECT 1` with a deadline; 503 when it fails.
//!
//! Every database check goes over the probe's own connection
//! ([`monitor::Probe`]), so a pool busy with requests is never mistaken for
//! a database outage.
//! - `/health/pool`: pool counters and a probe; 503 when the pool cannot
//!   reach the database.
//! - `/health/ready`: for orchestrators; 503 while shutting down, while the
//!   database is unreachable, or while migrations are pending.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use crate::db;
use crate::http::AppState;
use crate::telemetry::monitor;

/// Liveness: the process answers.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": Utc::now() }))
}

/// Readiness of the database.
pub async fn db(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let error = state.probe.check().await.err();
    let latency_ms = crate::telemetry::ms(started.elapsed());
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

/// Pool counters (also recorded as the pool gauges) and whether the pool
/// reaches the database: 503 when it cannot.
pub async fn pool(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let reachable = state.probe.check().await;
    let stats = db::pool_stats(&state.db, state.config.db_pool_max);
    monitor::record_pool(&stats);
    let status = if reachable.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if let Err(error) = &reachable {
        tracing::warn!(event = "health_db_unhealthy", error = %error, "the pool cannot reach the database");
    }
    let level = if stats.utilization > monitor::CRITICAL_UTILIZATION {
        "critical"
    } else if stats.utilization > monitor::WARN_UTILIZATION {
        "high"
    } else {
        "ok"
    };
    // The probe has a connection of its own: a full pool is reported by
    // `utilizationLevel` (and the monitor's events), never as an outage.
    let reason = if reachable.is_ok() { Value::Null } else { Value::from("DATABASE_UNREACHABLE") };
    let body = json!({
        "status": if reachable.is_ok() { "healthy" } else { "unhealthy" },
        "reason": reason,
        "databaseReachable": reachable.is_ok(),
        "size": stats.size,
        "idle": stats.idle,
        "inUse": stats.in_use,
        "waiting": stats.waiting,
        "max": stats.max,
        "utilization": stats.utilization,
        "utilizationLevel": level,
        "timestamp": Utc::now(),
    });
    (status, Json(body))
}

/// Readiness for orchestrators: 200 only when the server is not shutting
/// down, reaches the database, and has no pending migration.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let unready = |reason: &str, detail: Value| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unready", "reason": reason, "detail": detail, "timestamp": Utc::now() })),
        )
    };
    if state.lifecycle.shutting_down() {
        return unready("SHUTTING_DOWN", Value::Null);
    }
    if let Err(error) = state.probe.check().await {
        tracing::warn!(event = "health_db_unhealthy", error = %error, "readiness: the database is unreachable");
        return unready("DATABASE_UNREACHABLE", Value::Null);
    }
    match state.probe.pending_migrations().await {
        Ok(pending) if pending.is_empty() => {
            (StatusCode::OK, Json(json!({ "status": "ready", "timestamp": Utc::now() })))
        }
        Ok(pending) => unready("MIGRATIONS_PENDING", json!({ "pending": pending })),
        Err(error) => {
            tracing::warn!(event = "health_db_unhealthy", error = %error, "readiness: cannot read the migration table");
            unready("DATABASE_UNREACHABLE", Value::Null)
        }
    }
}
