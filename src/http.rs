//! HTTP: the router, shared state and server start-up.

pub mod documents;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod limits;
pub mod processor;
pub mod protocol;
pub mod rate_limit;
pub mod request_id;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::TokenService;
use crate::config::Config;
use crate::domain::money::MoneyPolicy;
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
    /// Per-client rate limiting, when on.
    pub rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
    /// Trusted documents, or the automatic persisted query cache.
    pub documents: Arc<documents::Documents>,
    /// How money moves: limits, the card processor, the money gate (shared
    /// with the schema, so a callback sees the processor the capture used).
    pub money: MoneyPolicy,
}

impl AppState {
    /// State over an open pool; fails when the trusted documents cannot be loaded.
    pub fn new(db: DatabaseConnection, config: Config) -> Result<Self, String> {
        let money = config.money_policy();
        let schema = build_schema(db.clone(), &config, money.clone());
        let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
        let rate_limiter = config.rate_limit().map(|n| Arc::new(rate_limit::RateLimiter::new(n)));
        let documents = Arc::new(documents::Documents::load(config.trusted_documents.as_deref())?);
        Ok(Self { db, schema, tokens, config: Arc::new(config), rate_limiter, documents, money })
    }
}

/// All routes, with the HTTP edge's layers: request IDs, panics answered
/// 500, security headers on every response, CORS for the configured origins,
/// and the rate limit on `/graphql`.
pub fn router(state: AppState) -> Router {
    let graphql = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post).options(graphql::options))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::layer));
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphiql") }))
        .merge(graphql)
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .route("/health", get(health::live))
        .route("/health/db", get(health::db))
        .route("/health/pool", get(health::pool))
        .route(
            "/payments/processor/events",
            post(processor::event).layer(axum::extract::DefaultBodyLimit::max(processor::MAX_EVENT_BYTES)),
        )
        .with_state(state.clone())
        // A panicking handler answers 500 instead of dropping the connection.
        .layer(CatchPanicLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    if let Some(cors) = cors(&state.config) {
        router = router.layer(cors);
    }
    router.layer(axum::middleware::from_fn(request_id::layer))
}

/// CORS for the configured origins; none (no CORS headers at all) by default.
fn cors(config: &Config) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> =
        config.cors_origins.iter().filter(|o| !o.trim().is_empty()).filter_map(|o| o.trim().parse().ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-correlation-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(600)),
    )
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
