//! `GET /metrics`: the Prometheus text exposition, on the public address or,
//! with `COURIER_METRICS_BIND`, on a separate listener of its own.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::db;
use crate::http::AppState;
use crate::telemetry::monitor;

/// The exposition's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric, with the pool gauges read fresh (no I/O).
fn exposition(handle: &PrometheusHandle, db: &DatabaseConnection, pool_max: u32) -> Response {
    monitor::record_pool(&db::pool_stats(db, pool_max));
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], handle.render()).into_response()
}

/// `GET /metrics` on the main router.
pub async fn render(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => exposition(handle, &state.db, state.config.db_pool_max),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `/metrics` alone on `listener` until `stop` turns true.
pub async fn serve_separately(
    listener: TcpListener,
    handle: PrometheusHandle,
    db: DatabaseConnection,
    pool_max: u32,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new().route("/metrics", get(move || async move { exposition(&handle, &db, pool_max) }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(event = "metrics_listening", %addr, "metrics served on a separate address");
    }
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!(event = "metrics_server_failed", error = %e, "the metrics listener stopped");
    }
}
