//! Health routes for orchestrators; none needs authentication.
//!
//! - `/health`: liveness, no I/O.
//! - `/health/db`: `SELECT 1` with a deadline; 503 when it fails.
//! - `/health/pool`: pool counters and a probe; 503 when the pool cannot
//!   reach the database.
//! - `/health/ready`: for orchestrators; 503 while shutting down, while the
//!   database is unreachable, or while migrations are pending.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use migration::{Migrator, MigratorTrait};

use crate::db;
use crate::http::AppState;
use crate::telemetry::monitor;

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

/// Pool counters (also recorded as the pool gauges) and whether the pool
/// reaches the database: 503 when it cannot.
pub async fn pool(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let reachable = monitor::probe(&state.db).await;
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
    // A probe that could not even get a connection from a full pool says
    // the pool is exhausted, not that the database is gone.
    let reason = match &reachable {
        Ok(()) => Value::Null,
        Err(_) if stats.in_use >= stats.max => Value::from("POOL_EXHAUSTED"),
        Err(_) => Value::from("DATABASE_UNREACHABLE"),
    };
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
    if let Err(error) = monitor::probe(&state.db).await {
        tracing::warn!(event = "health_db_unhealthy", error = %error, "readiness: the database is unreachable");
        return unready("DATABASE_UNREACHABLE", Value::Null);
    }
    let pending = tokio::time::timeout(DB_CHECK_DEADLINE, Migrator::get_pending_migrations_read_only(&state.db)).await;
    match pending {
        Ok(Ok(pending)) if pending.is_empty() => {
            (StatusCode::OK, Json(json!({ "status": "ready", "timestamp": Utc::now() })))
        }
        Ok(Ok(pending)) => {
            let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
            unready("MIGRATIONS_PENDING", json!({ "pending": names }))
        }
        Ok(Err(e)) => {
            tracing::warn!(event = "health_db_unhealthy", error = %e, "readiness: cannot read the migration table");
            unready("DATABASE_UNREACHABLE", Value::Null)
        }
        Err(_) => unready("DATABASE_UNREACHABLE", Value::Null),
    }
}
