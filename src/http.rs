//! HTTP: the router, shared state and server start-up.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod limits;
pub mod protocol;
pub mod request_id;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::TokenService;
use crate::config::Config;
use crate::graphql::{CourierSchema, build_schema};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// The executable schema.
    pub schema: CourierSchema,
    /// Token verification.
    pub tokens: TokenService,
    /// Settings.
    pub config: Arc<Config>,
}

impl AppState {
    /// State over an open pool.
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let schema = build_schema(db.clone(), &config);
        let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
        Self { db, schema, tokens, config: Arc::new(config) }
    }
}

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .route("/graphql", get(graphql::get).post(graphql::post).options(graphql::options))
        .route("/graphiql", get(graphiql::page))
        .route("/health", get(health::live))
        .route("/health/db", get(health::db))
        .route("/health/pool", get(health::pool))
        .with_state(state)
        // A panicking handler answers 500 instead of dropping the connection.
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// Serves `state` on `listener` until ctrl-c / SIGTERM (or `shutdown` resolves).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!(event = "server_shutdown_requested", "shutting down");
}
