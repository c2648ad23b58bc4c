//! HTTP: the router, shared state and server start-up.

pub mod documents;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod nulls;
pub mod processor;
pub mod protocol;
pub mod rate_limit;
pub mod request_id;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::TokenService;
use crate::config::Config;
use crate::domain::live::{self, Bus};
use crate::domain::money::MoneyPolicy;
use crate::domain::viewers::{self, Viewers};
use crate::domain::webhooks::Webhooks;
use crate::domain::webhooks::worker::Worker;
use crate::graphql::{CourierSchema, build_schema};
use crate::telemetry::metrics::OperationNames;
use crate::telemetry::monitor::{self, MonitorSettings};

/// What every handler can reach: shared, so that handing it to a handler or
/// a layer (several times per request) counts one reference instead of one
/// per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
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
    /// The Prometheus handle, when metrics are on.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Operation names as metric labels (capped).
    pub operation_names: Arc<OperationNames>,
    /// Whether the server is shutting down, and what it is serving.
    pub lifecycle: Arc<Lifecycle>,
    /// The health probe's own connection to the database.
    pub probe: Arc<monitor::Probe>,
    /// Every field's declared type, for null propagation.
    pub field_types: Arc<nulls::FieldTypes>,
    /// The webhook policy and this instance's circuit breakers (shared by
    /// the API's `circuitState` and the worker).
    pub webhooks: Webhooks,
    /// Live events for this instance's subscribers.
    pub bus: Bus,
    /// The viewers this instance keeps while it hears about user changes.
    pub viewers: Arc<Viewers>,
}

/// The server's life: readiness goes 503 once shutdown begins.
#[derive(Debug, Default)]
pub struct Lifecycle {
    shutting_down: AtomicBool,
    in_flight: AtomicU64,
}

impl Lifecycle {
    /// Whether shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// HTTP requests being served now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one request in until the guard drops.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        ::metrics::gauge!(crate::telemetry::metrics::HTTP_IN_FLIGHT).increment(1.0);
        InFlight(self.clone())
    }
}

/// One request being served (see [`Lifecycle::enter`]).
pub struct InFlight(Arc<Lifecycle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        ::metrics::gauge!(crate::telemetry::metrics::HTTP_IN_FLIGHT).decrement(1.0);
    }
}

impl AppState {
    /// State over an open pool; fails when the trusted documents cannot be loaded.
    pub fn new(db: DatabaseConnection, config: Config) -> Result<Self, String> {
        let money = config.money_policy();
        let webhooks = Webhooks::new(config.webhook_policy());
        let bus = Bus::default();
        let schema = build_schema(db.clone(), &config, money.clone(), webhooks.clone(), bus.clone());
        let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
        let rate_limiter = config.rate_limit().map(|n| Arc::new(rate_limit::RateLimiter::new(n)));
        let documents = Arc::new(documents::Documents::load(config.trusted_documents.as_deref())?);
        let metrics = config.metrics.then(crate::telemetry::metrics::install).transpose()?;
        let operation_names = Arc::new(OperationNames::new(config.metrics_max_operations));
        let config_for_probe = config.clone();
        let field_types = Arc::new(nulls::FieldTypes::from_sdl(&schema.sdl()));
        Ok(Self(Arc::new(Shared {
            db,
            schema,
            tokens,
            config: Arc::new(config),
            rate_limiter,
            documents,
            money,
            metrics,
            operation_names,
            lifecycle: Arc::default(),
            probe: Arc::new(monitor::Probe::new(&config_for_probe)),
            field_types,
            webhooks,
            bus,
            viewers: Arc::default(),
        })))
    }
}

/// All routes, with the HTTP edge's layers: request and correlation IDs
/// with the request metrics and log line, panics answered 500, security headers on every response, CORS for the configured origins,
/// and the rate limit on `/graphql`.
pub fn router(state: AppState) -> Router {
    let graphql = Router::new()
        .route(
            "/graphql",
            get(graphql::get).post(graphql::post).options(graphql::options).fallback(graphql::other_method),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::layer));
    let mut router: Router<AppState> = Router::new()
        .route(
            "/",
            get(|State(state): State<AppState>| async move {
                // GraphiQL when it is served; otherwise the endpoint's name.
                if state.config.graphiql_enabled() {
                    Redirect::temporary("/graphiql").into_response()
                } else {
                    (StatusCode::NOT_FOUND, "Courier: GraphQL at POST /graphql\n").into_response()
                }
            }),
        )
        .merge(graphql)
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .route("/health", get(health::live))
        .route("/health/db", get(health::db))
        .route("/health/pool", get(health::pool))
        .route("/health/ready", get(health::ready))
        .route(
            "/payments/processor/events",
            post(processor::event).layer(axum::extract::DefaultBodyLimit::max(processor::MAX_EVENT_BYTES)),
        );
    if state.metrics.is_some() && state.config.metrics_bind.is_none() {
        router = router.route("/metrics", get(metrics::render));
    }
    let mut router = router
        // The route template, for the request metrics (see `request_id`).
        .route_layer(axum::middleware::from_fn(request_id::route_template))
        .with_state(state.clone())
        // A panicking handler answers 500 (a GraphQL-shaped JSON error)
        // instead of dropping the connection.
        .layer(CatchPanicLayer::custom(request_id::panicked))
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
    router.layer(axum::middleware::from_fn_with_state(state.lifecycle.clone(), request_id::layer))
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
            .expose_headers([HeaderName::from_static("x-request-id"), HeaderName::from_static("x-correlation-id")])
            .max_age(Duration::from_secs(600)),
    )
}

/// The server's bound addresses: the API's, and the metrics' when
/// `COURIER_METRICS_BIND` is set. `courier serve` binds both before it
/// migrates or seeds anything, so a taken port fails fast.
#[derive(Debug)]
pub struct Listeners {
    /// Where GraphQL and the health routes are served.
    pub api: TcpListener,
    /// Where `/metrics` is served alone, if anywhere.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `api` and `COURIER_METRICS_BIND` (when metrics are on); a
    /// failure names the address and the setting that chose it.
    pub async fn bind(api: SocketAddr, config: &Config) -> std::io::Result<Self> {
        let api = TcpListener::bind(api).await.map_err(|e| crate::cli::cannot_listen(api, "COURIER_BIND", &e))?;
        let metrics = match config.metrics_bind.filter(|_| config.metrics) {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| crate::cli::cannot_listen(addr, "COURIER_METRICS_BIND", &e))?,
            ),
            None => None,
        };
        Ok(Self { api, metrics })
    }
}

/// Serves `state` on `listeners` until `shutdown` resolves (ctrl-c or
/// SIGTERM in `courier serve`), with the pool monitor (and the metrics
/// listener, when `COURIER_METRICS_BIND` is set) beside it. Shutdown, in
/// order: readiness answers 503 (for `COURIER_SHUTDOWN_DRAIN_MS` the server
/// still accepts requests), new connections stop, in-flight requests get
/// `COURIER_SHUTDOWN_TIMEOUT_SECS` to finish, the background tasks stop,
/// and the pool closes.
pub async fn serve(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let settings = MonitorSettings {
        interval: Duration::from_secs(config.pool_monitor_interval_secs),
        ledger_every: (config.ledger_check_interval_secs > 0)
            .then(|| Duration::from_secs(config.ledger_check_interval_secs)),
        pool_max: config.db_pool_max,
    };
    let monitor = tokio::spawn(monitor::run(state.db.clone(), state.probe.clone(), settings, stop_rx.clone()));
    let Listeners { api: listener, metrics: metrics_listener } = listeners;
    // PostgreSQL fans live events out through LISTEN/NOTIFY, across instances.
    // PostgreSQL also announces user changes, so viewers can be kept.
    let postgres = state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let live_listener = postgres
        .then(|| tokio::spawn(live::listen_postgres(config.database_url.clone(), state.bus.clone(), stop_rx.clone())));
    let viewer_listener = postgres.then(|| {
        let (url, db) = (config.database_url.clone(), state.db.clone());
        tokio::spawn(viewers::listen_postgres(url, db, state.viewers.clone(), stop_rx.clone()))
    });
    let worker = match config.webhook_worker {
        true => {
            let worker =
                Worker::new(state.db.clone(), &state.webhooks).map_err(|e| std::io::Error::other(e.to_string()))?;
            Some(tokio::spawn(worker.run(stop_rx.clone())))
        }
        false => None,
    };
    let metrics_server = match (metrics_listener, state.metrics.clone()) {
        (Some(metrics_listener), Some(handle)) => Some(tokio::spawn(metrics::serve_separately(
            metrics_listener,
            handle,
            state.db.clone(),
            config.db_pool_max,
            stop_rx.clone(),
        ))),
        _ => None,
    };

    let db = state.db.clone();
    let probe = state.probe.clone();
    let lifecycle = state.lifecycle.clone();
    let result = accept_until(listener, router(state), shutdown, &lifecycle, &config).await;
    let _ = stop_tx.send(true);
    let _ = monitor.await;
    if let Some(task) = worker {
        let _ = task.await;
    }
    if let Some(task) = live_listener {
        let _ = task.await;
    }
    if let Some(task) = viewer_listener {
        let _ = task.await;
    }
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    let _ = db.close().await;
    probe.close().await;
    tracing::info!(event = "server_stopped", "server stopped; the pool is closed");
    result
}

/// Serves connections on `listener` until `shutdown` resolves, then: readiness
/// 503 for the drain, no new connections, open connections finish their
/// requests within the shutdown timeout (idle ones close at once).
async fn accept_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    lifecycle: &Arc<Lifecycle>,
    config: &Config,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    // A connection that sends its headers slower than this (or never) is
    // closed, so it can neither hold a slot forever nor hold up a shutdown.
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(config.header_timeout_ms));
    // Graceful shutdown by hand (hyper-util's helper does not take
    // upgradable connections): `stop` tells every connection to finish its
    // request and close; each holds an `alive` sender until it has closed,
    // so the receiver ends once all have.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    // Each connection: the router with the client's address (for
    // `ConnectInfo`); upgradable, since `/graphql/ws` turns it into a
    // WebSocket (which then lives on its own task).
    let serve_one = |(stream, addr): (tokio::net::TcpStream, SocketAddr)| {
        let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(addr)));
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)).with_upgrades();
        let stopping = stopping.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop_requested(stopping) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(alive);
        });
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => serve_one(accepted),
                // Out of file descriptors and the like: wait, do not spin.
                Err(e) => {
                    tracing::warn!(event = "accept_failed", error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    lifecycle.begin_shutdown();
    let drain = Duration::from_millis(config.shutdown_drain_ms);
    tracing::info!(
        event = "server_shutdown_started",
        in_flight = lifecycle.in_flight(),
        drain_ms = drain.as_millis() as u64,
        "readiness answers 503; draining"
    );
    // Still accepting during the drain, so clients that have not noticed
    // yet are served rather than refused.
    let draining = async {
        loop {
            if let Ok(accepted) = listener.accept().await {
                serve_one(accepted);
            }
        }
    };
    let _ = tokio::time::timeout(drain, draining).await;
    drop(listener);
    let deadline = Duration::from_secs(config.shutdown_timeout_secs);
    let _ = stop.send(true);
    drop(alive);
    if tokio::time::timeout(deadline, all_closed.recv()).await.is_err() {
        tracing::warn!(
            event = "server_shutdown_timed_out",
            in_flight = lifecycle.in_flight(),
            timeout_s = deadline.as_secs(),
            "connections still open at the shutdown deadline are dropped"
        );
    }
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stop_requested(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
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
    tracing::info!(event = "server_shutdown_requested", "shutdown signal received");
}
