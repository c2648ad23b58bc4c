//! Every setting Courier reads, its environment variable and its default, in
//! one place. `README.md` lists the same table; `courier serve --help` prints it.
//!
//! Settings come from the environment (each can also be given as a flag). All
//! but `DATABASE_URL` are prefixed `COURIER_`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rust_decimal::Decimal;

use std::sync::Arc;

use crate::domain::money::{MoneyGate, MoneyLimits, MoneyPolicy};
use crate::domain::payments::{PaymentProcessor, Simulated};

/// The callback secret of the simulated processor in development (public, like the JWT one).
pub const DEV_PROCESSOR_SECRET: &str = "courier-dev-processor-secret";

/// Which card processor Courier talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProcessorChoice {
    /// The built-in simulated processor (test cards; refused in production).
    Simulated,
    /// None: CARD payments are unavailable (`PAYMENT_METHOD_UNAVAILABLE`).
    None,
}

/// The JWT secret used when none is configured. Refused when `COURIER_ENV=production`.
pub const DEV_JWT_SECRET: &str = "courier-dev-secret-do-not-use-in-production";

/// Where the server runs; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Local development and tests.
    Development,
    /// A real deployment.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Help headings: `courier serve --help` lists the settings in these groups;
/// the other commands show only the few they use (see [`crate::cli`]).
const H_DATABASE: &str = "Database";
const H_SECURITY: &str = "Environment and access";
const H_HTTP: &str = "HTTP and limits";
const H_MONEY: &str = "Money";
const H_OBSERVE: &str = "Logs, metrics and traces";
const H_WEBHOOKS: &str = "Webhooks";

/// All settings.
#[derive(Debug, Clone, Args)]
#[command(mut_args = named_by_env)]
pub struct Config {
    /// Database URL: `postgres://...` or `sqlite://path?mode=rwc`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/courier.db?mode=rwc", help_heading = H_DATABASE)]
    pub database_url: String,

    /// Address the HTTP server binds to.
    #[arg(long, env = "COURIER_BIND", default_value = "127.0.0.1:8000", help_heading = H_HTTP)]
    pub bind: SocketAddr,

    /// `development` or `production`; production refuses the dev JWT secret.
    #[arg(long, env = "COURIER_ENV", value_enum, default_value = "development", help_heading = H_SECURITY)]
    pub env: Environment,

    /// HS256 secret for bearer tokens.
    #[arg(long, env = "COURIER_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true, help_heading = H_SECURITY)]
    pub jwt_secret: String,

    /// Lifetime of minted tokens, in hours.
    #[arg(long, env = "COURIER_JWT_TTL_HOURS", default_value_t = 24, help_heading = H_SECURITY)]
    pub jwt_ttl_hours: u32,

    /// Log format: `pretty` or `json`.
    #[arg(long, env = "COURIER_LOG_FORMAT", value_enum, default_value = "pretty", help_heading = H_OBSERVE)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax (libraries' own chatter is at warn by default).
    #[arg(long, env = "COURIER_LOG", default_value = "info,sea_orm_migration=warn,sqlx=warn", help_heading = H_OBSERVE)]
    pub log_filter: String,

    /// SQL statements slower than this many milliseconds are logged as `slow_query_detected`.
    #[arg(long, env = "COURIER_SLOW_SQL_MS", default_value_t = 100, help_heading = H_OBSERVE)]
    pub slow_sql_ms: u64,

    /// Resolvers slower than this many milliseconds are logged as `slow_resolver_detected`.
    #[arg(long, env = "COURIER_SLOW_RESOLVER_MS", default_value_t = 500, help_heading = H_OBSERVE)]
    pub slow_resolver_ms: u64,

    /// Maximum connections in the database pool.
    #[arg(long, env = "COURIER_DB_POOL_MAX", default_value_t = 10, help_heading = H_DATABASE)]
    pub db_pool_max: u32,

    /// Connections the pool keeps open when idle.
    #[arg(long, env = "COURIER_DB_POOL_MIN", default_value_t = 1, help_heading = H_DATABASE)]
    pub db_pool_min: u32,

    /// How long a request waits for a pooled connection, in milliseconds.
    #[arg(long, env = "COURIER_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000, help_heading = H_DATABASE)]
    pub db_acquire_timeout_ms: u64,

    /// Platform fee on captured payments, as a fraction (0.10 = 10%).
    #[arg(long, env = "COURIER_PLATFORM_FEE_RATE", default_value = "0.10", help_heading = H_MONEY)]
    pub platform_fee_rate: Decimal,

    /// How long an idempotency key of a money mutation is remembered, in hours.
    #[arg(long, env = "COURIER_IDEMPOTENCY_KEY_TTL_HOURS", default_value_t = 24, help_heading = H_MONEY)]
    pub idempotency_key_ttl_hours: u32,

    /// Largest order total accepted, in the order's currency (`ORDER_TOTAL_LIMIT_EXCEEDED` above).
    #[arg(long, env = "COURIER_MAX_ORDER_TOTAL", default_value = "100000", help_heading = H_MONEY)]
    pub max_order_total: Decimal,

    /// Largest single top-up, in the wallet's currency (`TOP_UP_LIMIT_EXCEEDED` above).
    #[arg(long, env = "COURIER_MAX_TOP_UP", default_value = "10000", help_heading = H_MONEY)]
    pub max_top_up: Decimal,

    /// Largest balance a user wallet may hold, in its currency (`WALLET_BALANCE_LIMIT_EXCEEDED` above).
    #[arg(long, env = "COURIER_MAX_WALLET_BALANCE", default_value = "1000000", help_heading = H_MONEY)]
    pub max_wallet_balance: Decimal,

    /// Card processor: `simulated` (test cards, development only) or `none`
    /// (CARD payments unavailable). Default: simulated in development, none in production.
    #[arg(long, env = "COURIER_PAYMENT_PROCESSOR", help_heading = H_MONEY)]
    pub payment_processor: Option<ProcessorChoice>,

    /// Secret the card processor signs its callbacks with (HMAC-SHA256).
    #[arg(long, env = "COURIER_PROCESSOR_WEBHOOK_SECRET", default_value = DEV_PROCESSOR_SECRET, hide_default_value = true, help_heading = H_MONEY)]
    pub processor_webhook_secret: String,

    /// Longest Courier waits for the card processor, in milliseconds.
    #[arg(long, env = "COURIER_PROCESSOR_TIMEOUT_MS", default_value_t = 5000, help_heading = H_MONEY)]
    pub processor_timeout_ms: u64,

    /// Most pooled connections money transactions hold at once (default: half the pool), so reads keep working while money queues.
    #[arg(long, env = "COURIER_DB_MONEY_CONNECTIONS", help_heading = H_DATABASE)]
    pub db_money_connections: Option<u32>,

    /// When set, every GraphQL response's `extensions` carries `sqlStatements`.
    #[arg(
        long,
        env = "COURIER_DEBUG_SQL_COUNT",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_OBSERVE
    )]
    pub debug_sql_count: bool,

    /// Serve GraphiQL at `/graphiql` (default: on in development, off in production).
    #[arg(
        long,
        env = "COURIER_GRAPHIQL",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_SECURITY
    )]
    pub graphiql: Option<bool>,

    /// Answer introspection queries (default: on in development, off in production).
    #[arg(
        long,
        env = "COURIER_INTROSPECTION",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_SECURITY
    )]
    pub introspection: Option<bool>,

    /// "Did you mean ...?" in validation errors (default: on in development, off in production).
    #[arg(
        long,
        env = "COURIER_SUGGESTIONS",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_SECURITY
    )]
    pub suggestions: Option<bool>,

    /// Largest request body accepted, in bytes (413 `PAYLOAD_TOO_LARGE` above).
    #[arg(long, env = "COURIER_MAX_BODY_BYTES", default_value_t = 256 * 1024, help_heading = H_HTTP)]
    pub max_body_bytes: usize,

    /// Most lexical tokens in one GraphQL document (`TOO_MANY_TOKENS`).
    #[arg(long, env = "COURIER_MAX_TOKENS", default_value_t = 3_000, help_heading = H_HTTP)]
    pub max_tokens: usize,

    /// Most aliased fields in one document (`TOO_MANY_ALIASES`).
    #[arg(long, env = "COURIER_MAX_ALIASES", default_value_t = 30, help_heading = H_HTTP)]
    pub max_aliases: usize,

    /// Most fields in one selection set, fragments included (`TOO_MANY_FIELDS`).
    #[arg(long, env = "COURIER_MAX_FIELDS_PER_SELECTION", default_value_t = 100, help_heading = H_HTTP)]
    pub max_fields_per_selection: usize,

    /// Deepest selection accepted (`QUERY_TOO_DEEP`).
    #[arg(long, env = "COURIER_MAX_DEPTH", default_value_t = 16, help_heading = H_HTTP)]
    pub max_depth: usize,

    /// Highest query complexity accepted (`QUERY_TOO_COMPLEX`); a connection
    /// costs its page size (`first`/`last`, default 20) times its selection.
    #[arg(long, env = "COURIER_MAX_COMPLEXITY", default_value_t = 10_000, help_heading = H_HTTP)]
    pub max_complexity: usize,

    /// Most root fields in one mutation request (`TOO_MANY_MUTATIONS`).
    #[arg(long, env = "COURIER_MAX_MUTATIONS", default_value_t = 10, help_heading = H_HTTP)]
    pub max_mutations: usize,

    /// Operations per batched request; 0 turns batching off (`BATCHING_DISABLED`).
    #[arg(long, env = "COURIER_MAX_BATCH", default_value_t = 0, help_heading = H_HTTP)]
    pub max_batch: usize,

    /// Longest a request may run, in milliseconds (`TIMEOUT`).
    #[arg(long, env = "COURIER_REQUEST_TIMEOUT_MS", default_value_t = 10_000, help_heading = H_HTTP)]
    pub request_timeout_ms: u64,

    /// PostgreSQL `statement_timeout` of every pooled connection, in milliseconds.
    #[arg(long, env = "COURIER_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5_000, help_heading = H_DATABASE)]
    pub db_statement_timeout_ms: u64,

    /// PostgreSQL `lock_timeout` of every pooled connection, in milliseconds.
    #[arg(long, env = "COURIER_DB_LOCK_TIMEOUT_MS", default_value_t = 2_000, help_heading = H_DATABASE)]
    pub db_lock_timeout_ms: u64,

    /// Most statements one request runs at once, so one request cannot take the whole pool.
    #[arg(long, env = "COURIER_DB_MAX_PER_REQUEST", default_value_t = 3, help_heading = H_DATABASE)]
    pub db_max_per_request: usize,

    /// Requests per minute per client (token subject, else IP); 0 turns the
    /// limit off (default: off in development, 600 in production).
    #[arg(long, env = "COURIER_RATE_LIMIT_PER_MINUTE", help_heading = H_HTTP)]
    pub rate_limit_per_minute: Option<u32>,

    /// Origins allowed by CORS, comma-separated (`https://app.example.com`); none by default.
    #[arg(long, env = "COURIER_CORS_ORIGINS", value_delimiter = ',', help_heading = H_SECURITY)]
    pub cors_origins: Vec<String>,

    /// A JSON file mapping sha256 hashes to documents (relay-compiler's or
    /// GraphQL Code Generator's persisted documents); when set, only those
    /// operations run (`OPERATION_NOT_TRUSTED`).
    #[arg(long, env = "COURIER_TRUSTED_DOCUMENTS", help_heading = H_SECURITY)]
    pub trusted_documents: Option<std::path::PathBuf>,

    /// Serve Prometheus metrics at `GET /metrics`.
    #[arg(
        long,
        env = "COURIER_METRICS",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "true",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_OBSERVE
    )]
    pub metrics: bool,

    /// Serve `/metrics` on this address instead of the public one (for
    /// example `127.0.0.1:9464`), so it is not reachable from outside.
    #[arg(long, env = "COURIER_METRICS_BIND", help_heading = H_OBSERVE)]
    pub metrics_bind: Option<SocketAddr>,

    /// Distinct operation names kept as metric labels; later ones are `other`.
    #[arg(long, env = "COURIER_METRICS_MAX_OPERATIONS", default_value_t = 100, help_heading = H_OBSERVE)]
    pub metrics_max_operations: usize,

    /// Seconds between pool monitor samples (pool gauges, utilization
    /// warnings, PostgreSQL statistics).
    #[arg(long, env = "COURIER_POOL_MONITOR_INTERVAL_SECS", default_value_t = 30, help_heading = H_OBSERVE)]
    pub pool_monitor_interval_secs: u64,

    /// Seconds between periodic ledger checks (the `ledger verify`
    /// invariants, counted in `courier_ledger_invariant_violations`); 0 turns them off.
    #[arg(long, env = "COURIER_LEDGER_CHECK_INTERVAL_SECS", default_value_t = 300, help_heading = H_OBSERVE)]
    pub ledger_check_interval_secs: u64,

    /// Log one `graphql_request_completed` line per GraphQL request.
    #[arg(
        long,
        env = "COURIER_REQUEST_LOG",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "true",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_OBSERVE
    )]
    pub request_log: bool,

    /// GraphQL requests slower than this many milliseconds log their summary line at warn level.
    #[arg(long, env = "COURIER_SLOW_REQUEST_MS", default_value_t = 1_000, help_heading = H_OBSERVE)]
    pub slow_request_ms: u64,

    /// Apply pending migrations when `serve` starts; when off, run `courier
    /// migrate up` as a separate step (readiness answers 503 until then).
    #[arg(
        long,
        env = "COURIER_MIGRATE_ON_START",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "true",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_DATABASE
    )]
    pub migrate_on_start: bool,

    /// After SIGTERM, how long readiness answers 503 while the server still
    /// accepts requests (so load balancers stop sending), in milliseconds.
    #[arg(long, env = "COURIER_SHUTDOWN_DRAIN_MS", default_value_t = 0, help_heading = H_HTTP)]
    pub shutdown_drain_ms: u64,

    /// Longest a client may take to send a request's headers, in
    /// milliseconds; slower connections are closed.
    #[arg(long, env = "COURIER_HEADER_TIMEOUT_MS", default_value_t = 10_000, help_heading = H_HTTP)]
    pub header_timeout_ms: u64,

    /// OTLP/HTTP traces endpoint (for example
    /// `http://127.0.0.1:4318/v1/traces`); traces are off when unset.
    #[arg(long, env = "COURIER_OTLP_ENDPOINT", help_heading = H_OBSERVE)]
    pub otlp_endpoint: Option<String>,

    /// After that, how long in-flight requests may take to finish, in seconds.
    #[arg(long, env = "COURIER_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30, help_heading = H_HTTP)]
    pub shutdown_timeout_secs: u64,

    /// Subscriptions one WebSocket connection may hold at once.
    #[arg(long, env = "COURIER_WS_MAX_SUBSCRIPTIONS", default_value_t = 20, help_heading = H_HTTP)]
    pub ws_max_subscriptions: usize,

    /// A subscription connection that sends nothing (not even a ping) for
    /// this many seconds is closed.
    #[arg(long, env = "COURIER_WS_IDLE_TIMEOUT_SECS", default_value_t = 60, help_heading = H_HTTP)]
    pub ws_idle_timeout_secs: u64,

    /// Run the webhook delivery worker inside `serve` (turn it off when
    /// `courier worker` processes run apart).
    #[arg(
        long,
        env = "COURIER_WEBHOOK_WORKER",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "true",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_WEBHOOKS
    )]
    pub webhook_worker: bool,

    /// How long a receiver has to answer one delivery, in milliseconds.
    #[arg(long, env = "COURIER_WEBHOOK_TIMEOUT_MS", default_value_t = 5_000, help_heading = H_WEBHOOKS)]
    pub webhook_timeout_ms: u64,

    /// Attempts before a delivery is given up (FAILED, the dead letter).
    #[arg(long, env = "COURIER_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8, help_heading = H_WEBHOOKS)]
    pub webhook_max_attempts: u32,

    /// The first retry's delay in milliseconds; each later one doubles it
    /// (with 20% jitter), up to a day.
    #[arg(long, env = "COURIER_WEBHOOK_BACKOFF_MS", default_value_t = 10_000, help_heading = H_WEBHOOKS)]
    pub webhook_backoff_ms: u64,

    /// How often an idle worker looks for due deliveries, in milliseconds.
    #[arg(long, env = "COURIER_WEBHOOK_POLL_MS", default_value_t = 500, help_heading = H_WEBHOOKS)]
    pub webhook_poll_ms: u64,

    /// Allow webhook URLs on private, loopback and link-local addresses
    /// (local development and tests only: it opens an SSRF path).
    #[arg(
        long,
        env = "COURIER_WEBHOOK_ALLOW_PRIVATE",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "false",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = H_WEBHOOKS
    )]
    pub webhook_allow_private: bool,

    /// Circuit breaker per host: failures in the window that open it...
    #[arg(long, env = "COURIER_WEBHOOK_BREAKER_FAILURES", default_value_t = 5, help_heading = H_WEBHOOKS)]
    pub webhook_breaker_failures: u32,

    /// ...among at least this many attempts...
    #[arg(long, env = "COURIER_WEBHOOK_BREAKER_VOLUME", default_value_t = 10, help_heading = H_WEBHOOKS)]
    pub webhook_breaker_volume: u32,

    /// ...in a rolling window of this many seconds.
    #[arg(long, env = "COURIER_WEBHOOK_BREAKER_WINDOW_SECS", default_value_t = 60, help_heading = H_WEBHOOKS)]
    pub webhook_breaker_window_secs: u64,

    /// How long an open breaker postpones its host's deliveries, in milliseconds.
    #[arg(long, env = "COURIER_WEBHOOK_BREAKER_OPEN_MS", default_value_t = 60_000, help_heading = H_WEBHOOKS)]
    pub webhook_breaker_open_ms: u64,

    /// Successful trial deliveries that close a half-open breaker.
    #[arg(long, env = "COURIER_WEBHOOK_BREAKER_SUCCESSES", default_value_t = 2, help_heading = H_WEBHOOKS)]
    pub webhook_breaker_successes: u32,
}

/// A setting's value is named by its environment variable (`--bind
/// <COURIER_BIND>`), so an invalid value names the variable a user set.
fn named_by_env(arg: clap::Arg) -> clap::Arg {
    match arg.get_env().map(|env| env.to_string_lossy().into_owned()) {
        // Names are few and live as long as the process: leaking them is
        // the price of clap's `&'static str` without its `string` feature.
        Some(env) => arg.value_name(&*Box::leak(env.into_boxed_str())),
        None => arg,
    }
}

impl Config {
    /// Settings from the environment alone, with the documented defaults.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        <Only as clap::Parser>::try_parse_from(["courier"]).map(|o| o.config)
    }

    /// Refuses settings that are unsafe for the chosen environment.
    pub fn validate(&self) -> Result<(), String> {
        if !["postgres://", "postgresql://", "sqlite:"].iter().any(|scheme| self.database_url.starts_with(scheme)) {
            let scheme = match self.database_url.split_once(':') {
                Some((scheme, _)) => format!("`{scheme}:`"),
                None => "no scheme".to_owned(),
            };
            return Err(format!("DATABASE_URL must start with postgres:// or sqlite:// (it has {scheme})"));
        }
        if self.env == Environment::Production && self.jwt_secret == DEV_JWT_SECRET {
            return Err("COURIER_JWT_SECRET must be set when COURIER_ENV=production".into());
        }
        if self.jwt_secret.len() < 16 {
            return Err("COURIER_JWT_SECRET must be at least 16 bytes".into());
        }
        if self.db_pool_max == 0 || self.db_pool_min > self.db_pool_max {
            return Err("COURIER_DB_POOL_MAX must be positive and at least COURIER_DB_POOL_MIN".into());
        }
        if self.db_max_per_request == 0 {
            return Err("COURIER_DB_MAX_PER_REQUEST must be at least 1".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("COURIER_MAX_BODY_BYTES must be at least 1024".into());
        }
        if let Some(origin) = self.cors_origins.iter().map(|o| o.trim()).find(|o| {
            !o.is_empty()
                && (o.parse::<axum::http::HeaderValue>().is_err()
                    || !(o.starts_with("http://") || o.starts_with("https://")))
        }) {
            return Err(format!("COURIER_CORS_ORIGINS: `{origin}` is not an origin like https://app.example.com"));
        }
        if self.header_timeout_ms == 0 {
            return Err("COURIER_HEADER_TIMEOUT_MS must be at least 1".into());
        }
        if self.pool_monitor_interval_secs == 0 {
            return Err("COURIER_POOL_MONITOR_INTERVAL_SECS must be at least 1".into());
        }
        if self.metrics_bind.is_some() && !self.metrics {
            return Err("COURIER_METRICS_BIND is set but COURIER_METRICS is off".into());
        }
        if self.request_timeout_ms == 0 {
            return Err("COURIER_REQUEST_TIMEOUT_MS must be at least 1".into());
        }
        for (value, name) in [
            (self.webhook_timeout_ms, "COURIER_WEBHOOK_TIMEOUT_MS"),
            (u64::from(self.webhook_max_attempts), "COURIER_WEBHOOK_MAX_ATTEMPTS"),
            (self.webhook_poll_ms, "COURIER_WEBHOOK_POLL_MS"),
            (self.ws_max_subscriptions as u64, "COURIER_WS_MAX_SUBSCRIPTIONS"),
            (self.ws_idle_timeout_secs, "COURIER_WS_IDLE_TIMEOUT_SECS"),
            (u64::from(self.webhook_breaker_failures), "COURIER_WEBHOOK_BREAKER_FAILURES"),
            (u64::from(self.webhook_breaker_successes), "COURIER_WEBHOOK_BREAKER_SUCCESSES"),
            (self.webhook_breaker_window_secs, "COURIER_WEBHOOK_BREAKER_WINDOW_SECS"),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.env == Environment::Production && self.webhook_allow_private {
            return Err(
                "COURIER_WEBHOOK_ALLOW_PRIVATE opens an SSRF path and is refused when COURIER_ENV=production".into()
            );
        }
        if self.idempotency_key_ttl_hours == 0 {
            return Err("COURIER_IDEMPOTENCY_KEY_TTL_HOURS must be at least 1".into());
        }
        for (name, limit) in [
            ("COURIER_MAX_ORDER_TOTAL", self.max_order_total),
            ("COURIER_MAX_TOP_UP", self.max_top_up),
            ("COURIER_MAX_WALLET_BALANCE", self.max_wallet_balance),
        ] {
            if limit <= Decimal::ZERO || limit > Decimal::from(crate::domain::money::MAX_MAJOR) {
                return Err(format!("{name} must be positive and at most {}", crate::domain::money::MAX_MAJOR));
            }
        }
        if self.is_production() && self.processor() == ProcessorChoice::Simulated {
            return Err("COURIER_PAYMENT_PROCESSOR=simulated is refused in production: it approves test cards \
                        without moving real money"
                .into());
        }
        if self.processor_timeout_ms == 0 {
            return Err("COURIER_PROCESSOR_TIMEOUT_MS must be at least 1".into());
        }
        if self.platform_fee_rate < Decimal::ZERO || self.platform_fee_rate >= Decimal::ONE {
            return Err("COURIER_PLATFORM_FEE_RATE must be at least 0 and below 1".into());
        }
        Ok(())
    }

    /// How money mutations behave: fee, key lifetime, limits, the card
    /// processor and the share of the pool money may hold.
    pub fn money_policy(&self) -> MoneyPolicy {
        let processor: Option<Arc<dyn PaymentProcessor>> = match self.processor() {
            ProcessorChoice::Simulated => Some(Arc::new(Simulated::new(
                self.processor_webhook_secret.as_bytes(),
                // The timeout card answers after Courier stopped waiting.
                self.processor_timeout() + Duration::from_secs(1),
            ))),
            ProcessorChoice::None => None,
        };
        let connections = self.db_money_connections.unwrap_or(self.db_pool_max / 2).clamp(1, self.db_pool_max.max(1));
        MoneyPolicy {
            fee_rate: self.platform_fee_rate,
            key_ttl: chrono::Duration::hours(i64::from(self.idempotency_key_ttl_hours)),
            limits: MoneyLimits {
                order_total: self.max_order_total,
                top_up: self.max_top_up,
                wallet_balance: self.max_wallet_balance,
            },
            processor,
            processor_timeout: self.processor_timeout(),
            // Waiting for the gate is bounded by the request's own deadline.
            gate: MoneyGate::new(connections as usize, self.request_timeout()),
        }
    }

    /// How webhooks are delivered.
    pub fn webhook_policy(&self) -> crate::domain::webhooks::WebhookPolicy {
        use crate::domain::webhooks::{WebhookPolicy, breaker};
        WebhookPolicy {
            timeout: Duration::from_millis(self.webhook_timeout_ms),
            max_attempts: i32::try_from(self.webhook_max_attempts).unwrap_or(i32::MAX),
            backoff: Duration::from_millis(self.webhook_backoff_ms),
            allow_private: self.webhook_allow_private,
            poll: Duration::from_millis(self.webhook_poll_ms),
            batch: 20,
            breaker: breaker::Settings {
                failures: self.webhook_breaker_failures,
                volume: self.webhook_breaker_volume,
                window: Duration::from_secs(self.webhook_breaker_window_secs),
                open_for: Duration::from_millis(self.webhook_breaker_open_ms),
                successes: self.webhook_breaker_successes,
            },
        }
    }

    /// The card processor in use.
    pub fn processor(&self) -> ProcessorChoice {
        self.payment_processor.unwrap_or(if self.is_production() {
            ProcessorChoice::None
        } else {
            ProcessorChoice::Simulated
        })
    }

    /// How long a processor call may take.
    pub fn processor_timeout(&self) -> Duration {
        Duration::from_millis(self.processor_timeout_ms)
    }

    /// Whether this is a production deployment.
    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Whether `/graphiql` is served.
    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(!self.is_production())
    }

    /// Whether introspection queries are answered.
    pub fn introspection_enabled(&self) -> bool {
        self.introspection.unwrap_or(!self.is_production())
    }

    /// Whether validation errors suggest field names.
    pub fn suggestions_enabled(&self) -> bool {
        self.suggestions.unwrap_or(!self.is_production())
    }

    /// Requests per minute per client, `None` when unlimited.
    pub fn rate_limit(&self) -> Option<u32> {
        let default = if self.is_production() { 600 } else { 0 };
        Some(self.rate_limit_per_minute.unwrap_or(default)).filter(|n| *n > 0)
    }

    /// The request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Slow SQL threshold.
    pub fn slow_sql(&self) -> Duration {
        Duration::from_millis(self.slow_sql_ms)
    }

    /// Slow resolver threshold.
    pub fn slow_resolver(&self) -> Duration {
        Duration::from_millis(self.slow_resolver_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Config {
        Config::from_env().expect("defaults parse")
    }

    #[test]
    fn production_refuses_the_dev_secret() {
        let mut config = dev();
        assert!(config.validate().is_ok());
        config.env = Environment::Production;
        assert!(config.validate().expect_err("refused").contains("COURIER_JWT_SECRET"));
        config.jwt_secret = "a-real-secret-of-enough-length".into();
        assert!(config.validate().is_ok());
    }

    #[test]
    fn boolean_settings_accept_1_and_true() {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        for (args, expected) in [
            (&["courier", "--debug-sql-count"][..], true),
            (&["courier", "--debug-sql-count=1"][..], true),
            (&["courier", "--debug-sql-count=0"][..], false),
            (&["courier", "--debug-sql-count=true"][..], true),
        ] {
            let parsed = <Only as clap::Parser>::try_parse_from(args).expect("parses");
            assert_eq!(parsed.config.debug_sql_count, expected, "{args:?}");
        }
    }

    #[test]
    fn production_refuses_the_simulated_processor_and_defaults_to_none() {
        let mut config = dev();
        assert_eq!(config.processor(), ProcessorChoice::Simulated);
        assert!(config.money_policy().processor.is_some_and(|p| p.is_simulated()));
        config.env = Environment::Production;
        config.jwt_secret = "a-real-secret-of-enough-length".into();
        assert_eq!(config.processor(), ProcessorChoice::None);
        assert!(config.money_policy().processor.is_none());
        assert!(config.validate().is_ok());
        config.payment_processor = Some(ProcessorChoice::Simulated);
        assert!(config.validate().expect_err("refused").contains("simulated"));
    }

    #[test]
    fn money_limits_must_be_positive_and_bounded() {
        let mut config = dev();
        config.max_top_up = Decimal::ZERO;
        assert!(config.validate().is_err());
        config.max_top_up = Decimal::from(crate::domain::money::MAX_MAJOR) + Decimal::ONE;
        assert!(config.validate().is_err());
    }

    #[test]
    fn pool_bounds_are_checked() {
        let mut config = dev();
        config.db_pool_min = 20;
        assert!(config.validate().is_err());
    }
}
