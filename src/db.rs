//! The database connection: pool settings, per-backend tuning, statement
//! metrics (slow SQL events and the per-request statement counter), pool
//! statistics, transactions and the one retry helper.
//!
//! Every place where PostgreSQL and SQLite need different SQL or different
//! transaction handling is a function here: [`begin_write`] (isolation level
//! versus `BEGIN IMMEDIATE`), [`begin_snapshot`] (a consistent read),
//! [`minutes_between`] (date arithmetic) and [`pool_stats`]. Domain code
//! builds its SQL with sea-query, which renders it for either backend (row
//! locks, `FOR UPDATE`, are left out on SQLite, whose immediate transactions
//! already serialize writers).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde::Serialize;

use crate::config::Config;
use crate::error::AppError;
use crate::telemetry::metrics;

mod startup;

/// How long SQLite waits for another writer before answering `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The statement counter of the request being served, when one is in scope.
    static STATEMENTS: StatementCounter;
    /// Set while a wrapped call (see [`acquiring`]) waits for its connection.
    static ACQUIRING: Cell<bool>;
}

/// A pooled PostgreSQL connection idle this long is pinged before it is lent.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// For this long after a connection was found lost, every connection is
/// pinged before it is lent, so the pool sheds its other dead connections
/// (a database restart kills them all) instead of lending them.
const LOSING_FOR: Duration = Duration::from_secs(5);

/// When a connection was last found lost (milliseconds of [`clock_ms`]; 0: never).
static LOST_AT_MS: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since the first call, from 1.
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64 + 1
}

/// Whether `err` says a connection died (the database restarted, a backend
/// was terminated, the socket broke), as opposed to a pool that is merely
/// busy. Records it, so that lent connections are pinged for a while.
pub fn connection_lost(err: &DbErr) -> bool {
    let lost = crate::error::classify(err) == crate::error::DbFailure::ConnectionLost;
    if lost {
        let already = losing_connections();
        LOST_AT_MS.store(clock_ms(), Ordering::Relaxed);
        if !already {
            tracing::warn!(
                event = "db_connection_lost",
                error = %err,
                "a pooled connection was found dead; connections are pinged before use for 5 s"
            );
        }
    }
    lost
}

/// Runs `op`, and once more when it met a dead connection (the second
/// attempt's connection is pinged first, see [`connection_lost`]). Only for
/// what is safe to repeat: a read, a `BEGIN`, a delete.
pub async fn once_more_if_lost<T, Fut>(op: impl Fn() -> Fut) -> Result<T, DbErr>
where
    Fut: Future<Output = Result<T, DbErr>>,
{
    match op().await {
        Err(e) if connection_lost(&e) => op().await,
        done => done,
    }
}

/// Whether a connection was found lost within [`LOSING_FOR`].
fn losing_connections() -> bool {
    let at = LOST_AT_MS.load(Ordering::Relaxed);
    at != 0 && clock_ms().saturating_sub(at) < LOSING_FOR.as_millis() as u64
}

/// Calls waiting for a pooled connection now (process-wide).
static WAITING: AtomicI64 = AtomicI64::new(0);

/// Requests waiting for a pooled connection now: GraphQL reads and
/// transaction begins, which is where requests take connections.
pub fn waiting() -> u64 {
    u64::try_from(WAITING.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Called when sqlx hands out a connection (its acquire event, see
/// `telemetry`): the waiting call in this task, if any, stops waiting.
pub fn connection_acquired() {
    let _ = ACQUIRING.try_with(stop_waiting);
}

fn stop_waiting(flag: &Cell<bool>) {
    if flag.replace(false) {
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Ends the wait when the call finishes or is dropped without a connection.
struct WaitGuard;

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let _ = ACQUIRING.try_with(stop_waiting);
    }
}

/// Runs `fut`, a call that takes a pooled connection first, counted in
/// [`waiting`] until sqlx hands it the connection.
async fn acquiring<T>(fut: impl Future<Output = T>) -> T {
    WAITING.fetch_add(1, Ordering::Relaxed);
    ACQUIRING
        .scope(Cell::new(true), async {
            let _guard = WaitGuard;
            fut.await
        })
        .await
}

/// Counts the SQL statements run on behalf of one request.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Runs `fut` with this counter in scope: every statement it executes
    /// (on any connection of the pool) is counted here.
    pub fn scope<F: Future>(self, fut: F) -> tokio::task::futures::TaskLocalFuture<StatementCounter, F> {
        STATEMENTS.scope(self, fut)
    }
}

/// What a pool is for: serving requests (statement and lock timeouts on
/// every connection) or maintenance (migrations, seeding, checks of the
/// whole books), which may legitimately run long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The server's pool: `statement_timeout` and `lock_timeout` apply.
    Serve,
    /// Commands: no timeouts.
    Maintenance,
    /// The health probe's own connection (statement timeout, no metrics).
    Probe,
}

/// Opens the serving pool described by `config` (see [`connect_for`]).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    connect_for(config, Purpose::Serve).await
}

/// Opens the pool described by `config`, creating the SQLite file (and its
/// folder) when needed, and installs the statement metrics. On PostgreSQL a
/// serving pool's connections carry `statement_timeout` and `lock_timeout`,
/// so no statement or lock wait outlives the request that started it; on
/// SQLite the busy timeout bounds lock waits.
pub async fn connect_for(config: &Config, purpose: Purpose) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = sqlite_file(&config.database_url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            let why = if dir.exists() { "it is not a folder".to_owned() } else { e.to_string() };
            DbErr::Custom(format!(
                "cannot open the SQLite database {path}: cannot create its folder {}: {why}",
                dir.display()
            ))
        })?;
    }

    let (statement_timeout, lock_timeout) = (config.db_statement_timeout_ms, config.db_lock_timeout_ms);
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(config.db_pool_max)
        .min_connections(config.db_pool_min)
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
        .connect_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // Statements are observed through the metric callback below instead.
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |opts| match purpose {
            // JIT off: PostgreSQL compiles a statement whose estimated cost
            // passes `jit_above_cost` (100,000), and a buyer's, seller's or
            // agent's page (its visibility condition, over about 1,100
            // orders) was estimated at some 300,000: 19 ms of compiling for
            // a statement that runs in 0.45 ms, on every request (found by
            // the outside tester; issue 14). The API's statements are short.
            Purpose::Serve | Purpose::Probe => opts.options([
                ("statement_timeout", statement_timeout.to_string()),
                ("lock_timeout", lock_timeout.to_string()),
                ("jit", "off".to_owned()),
            ]),
            Purpose::Maintenance => opts,
        })
        .map_sqlx_sqlite_opts(|opts| {
            opts.foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .create_if_missing(true)
        });
    // sqlx pings a PostgreSQL connection before lending it by default: a
    // round trip more for every statement (and it pings again on release).
    // A connection is pinged only when it sat idle (when a proxy or a
    // restart may have closed it) or while connections are being lost;
    // a read that still meets a dead connection is retried (`Limited`).
    options.test_before_acquire(false).map_sqlx_postgres_before_acquire(|conn, meta| {
        Box::pin(async move {
            if meta.idle_for >= PING_IF_IDLE_FOR || losing_connections() {
                sea_orm::sqlx::Connection::ping(conn).await?;
            }
            Ok(true)
        })
    });
    if purpose == Purpose::Serve && config.metrics {
        // sqlx reports every acquire with its wait (`telemetry` turns the
        // events into the acquire histogram and ends the `waiting` count).
        options
            .map_sqlx_postgres_pool_opts(|o| o.acquire_time_level(log::LevelFilter::Trace))
            .map_sqlx_sqlite_pool_opts(|o| o.acquire_time_level(log::LevelFilter::Trace));
    }

    let mut db = match Database::connect(options).await {
        Ok(db) => db,
        Err(e) => return Err(startup::explain(&config.database_url, e).await),
    };
    if purpose == Purpose::Probe {
        return Ok(db);
    }
    if let Some(path) = sqlite_file(&config.database_url) {
        startup::check_writable(&db, path).await?;
    }
    let slow = config.slow_sql();
    db.set_metric_callback(move |info| {
        let _ = STATEMENTS.try_with(|counter| counter.0.fetch_add(1, Ordering::Relaxed));
        metrics::sql_statement(info.elapsed, info.elapsed >= slow);
        crate::telemetry::otel::sql_span(&info.statement.sql, info.elapsed, info.failed);
        if info.elapsed >= slow {
            tracing::warn!(
                event = "slow_query_detected",
                duration_ms = crate::telemetry::ms(info.elapsed),
                threshold_ms = slow.as_millis() as u64,
                failed = info.failed,
                sql = %info.statement.sql,
                "slow SQL statement"
            );
        }
    });
    Ok(db)
}

/// The pool as one request may use it for reads: at most `per_request`
/// statements at once, so a request with many root fields (aliases) queues
/// behind itself instead of taking the whole pool from everyone else.
/// Transactions go through the pool itself (mutations run one at a time).
#[derive(Clone)]
pub struct Limited {
    db: DatabaseConnection,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Limited {
    /// `db`, limited to `per_request` statements at once.
    pub fn new(db: DatabaseConnection, per_request: usize) -> Self {
        Self { db, permits: Arc::new(tokio::sync::Semaphore::new(per_request.max(1))) }
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, DbErr> {
        self.permits.acquire().await.map_err(|_| DbErr::Custom("request statement limiter closed".into()))
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Limited {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        let _permit = self.permit().await?;
        acquiring(self.db.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        let _permit = self.permit().await?;
        acquiring(self.db.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        let _permit = self.permit().await?;
        once_more_if_lost(|| acquiring(self.db.query_one_raw(stmt.clone()))).await
    }

    // Reads are safe to repeat, so one that met a dead connection runs again.
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        let _permit = self.permit().await?;
        once_more_if_lost(|| acquiring(self.db.query_all_raw(stmt.clone()))).await
    }

    fn support_returning(&self) -> bool {
        self.db.support_returning()
    }
}

/// The file path inside a `sqlite://` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// How strictly a write transaction is isolated on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The default: row locks and optimistic version checks do the work.
    ReadCommitted,
    /// For a transaction whose rules depend on rows it only reads: PostgreSQL
    /// aborts one that would break serializability (SQLSTATE 40001), and the
    /// caller retries. Money no longer needs it: its rules are guarded writes
    /// on locked rows (see `wallets::MoneyTx`).
    Serializable,
}

/// Begins a write transaction; the one place where the backends differ.
///
/// - PostgreSQL: the requested isolation level (READ COMMITTED being the
///   server default; a server configured otherwise would need this to set
///   it too); row locks come from
///   `SELECT ... FOR UPDATE [NOWAIT]` in the statements themselves.
/// - SQLite: no row locks, so `BEGIN IMMEDIATE` takes the database write lock
///   up front (waiting up to the busy timeout); SQLite transactions are
///   serializable already. A busy database becomes the same retryable CONFLICT
///   as a PostgreSQL lock or serialization failure (see `error::classify`).
pub async fn begin_write(db: &DatabaseConnection, isolation: Isolation) -> Result<DatabaseTransaction, DbErr> {
    // READ COMMITTED is PostgreSQL's default, so only SERIALIZABLE is set
    // (a `SET TRANSACTION` costs a round trip). SQLite has no isolation
    // levels to set (and SeaORM warns if asked).
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let isolation_level = (postgres && isolation == Isolation::Serializable).then_some(IsolationLevel::Serializable);
    let options = TransactionOptions {
        isolation_level,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    begin(db, options).await
}

/// Begins a transaction; nothing has run yet, so a `BEGIN` that met a dead
/// connection is repeated.
async fn begin(db: &DatabaseConnection, options: TransactionOptions) -> Result<DatabaseTransaction, DbErr> {
    once_more_if_lost(|| acquiring(db.begin_with_options(options))).await
}

/// Begins a read-only transaction in which every statement sees the same
/// snapshot, for checks that read several tables (`ledger verify`):
/// REPEATABLE READ READ ONLY on PostgreSQL; on SQLite a deferred transaction,
/// whose first read fixes the snapshot (WAL mode).
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let options = TransactionOptions {
        isolation_level: postgres.then_some(IsolationLevel::RepeatableRead),
        access_mode: postgres.then_some(AccessMode::ReadOnly),
        sqlite_transaction_mode: Some(SqliteTransactionMode::Deferred),
    };
    begin(db, options).await
}

/// A connection that can also begin a read snapshot ([`begin_snapshot`]),
/// for a read of several statements that must agree with each other.
pub trait Snapshots: ConnectionTrait + Sync {
    /// Begins a read-only transaction seeing one snapshot.
    fn snapshot(&self) -> impl Future<Output = Result<DatabaseTransaction, DbErr>> + Send;
}

/// The snapshot is the pool's: it holds one connection for its few
/// statements, which run one at a time, so it takes no request permit.
impl Snapshots for Limited {
    fn snapshot(&self) -> impl Future<Output = Result<DatabaseTransaction, DbErr>> + Send {
        begin_snapshot(&self.db)
    }
}

/// Minutes from `from` to `to` (two timestamp expressions) as a double
/// precision number: the one piece of date arithmetic that differs per
/// backend.
pub fn minutes_between(backend: DatabaseBackend, from: Expr, to: Expr) -> SimpleExpr {
    // sea-query fills the backend's own placeholder: `?` in order on SQLite,
    // `$n` by number on PostgreSQL.
    match backend {
        DatabaseBackend::Sqlite => Expr::cust_with_exprs("((julianday(?) - julianday(?)) * 1440.0)", [to, from]),
        _ => Expr::cust_with_exprs("CAST(EXTRACT(EPOCH FROM ($2 - $1)) / 60.0 AS DOUBLE PRECISION)", [from, to]),
    }
}

/// How an operation that lost a race is retried: exponential backoff from
/// `first_delay`, doubling, each delay plus up to as much again at random
/// (so racing requests spread out), at most `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: usize,
    /// The delay before the first retry.
    pub first_delay: Duration,
}

impl RetryPolicy {
    /// Money transactions that lost a serialization race or a deadlock (or
    /// found SQLite busy): short delays, since they queue on locks anyway.
    pub const MONEY: Self = Self { attempts: 5, first_delay: Duration::from_millis(5) };
    /// Internal order transitions whose optimistic version check lost.
    pub const OPTIMISTIC: Self = Self { attempts: 4, first_delay: Duration::from_millis(50) };

    fn backoff(self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_factor(2.0)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// Runs `op` until it succeeds, fails with an error `retry_on` rejects, or
/// `policy` runs out of attempts; logs `event` (warn, with `subject`, the
/// attempt, the delay and the error) before each retry. Returns the value
/// and the number of attempts it took.
pub async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    event: &'static str,
    subject: uuid::Uuid,
    retry_on: impl Fn(&AppError) -> bool,
    mut op: F,
) -> Result<(T, u32), AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let attempts = AtomicU64::new(0);
    let value = (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        op()
    })
    .retry(policy.backoff())
    .sleep(tokio::time::sleep)
    .when(|err| retry_on(err))
    .notify(|err, delay| {
        metrics::retried(event);
        tracing::warn!(
            event,
            subject = %subject,
            attempt = attempts.load(Ordering::Relaxed),
            backoff_ms = delay.as_millis() as u64,
            error = %err,
            "lost a race, retrying"
        );
    })
    .await
    .inspect_err(|err| {
        if retry_on(err) && attempts.load(Ordering::Relaxed) as usize >= policy.attempts {
            metrics::retries_exhausted(event);
        }
    })?;
    Ok((value, attempts.load(Ordering::Relaxed) as u32))
}

/// Runs `SELECT 1`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_string(backend, "SELECT 1")).await.map(|_| ()).inspect_err(|e| {
        connection_lost(e);
    })
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// Connections open now.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Connections lent out.
    pub in_use: u32,
    /// Upper bound.
    pub max: u32,
    /// Requests waiting for a connection (process-wide).
    pub waiting: u64,
    /// `in_use / max`, between 0 and 1.
    pub utilization: f64,
}

/// Reads the pool's counters (no I/O).
pub fn pool_stats(db: &DatabaseConnection, max: u32) -> PoolStats {
    let (size, idle) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    };
    let in_use = size.saturating_sub(idle);
    let utilization = if max == 0 { 0.0 } else { f64::from(in_use) / f64::from(max) };
    PoolStats { size, idle, in_use, max, waiting: waiting(), utilization }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://data/courier.db?mode=rwc"), Some("data/courier.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/x"), None);
    }

    #[tokio::test]
    async fn retries_stop_at_the_policy_and_only_on_chosen_errors() {
        let policy = RetryPolicy { attempts: 3, first_delay: Duration::from_millis(5) };
        let raced = || AppError::Conflict { message: "raced".into(), context: serde_json::json!({"retryable": true}) };
        let calls = AtomicU64::new(0);
        let result: Result<((), u32), AppError> =
            retry(policy, "test_retry", uuid::Uuid::nil(), AppError::is_retryable, || {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err(raced()) }
            })
            .await;
        assert!(result.is_err_and(|e| e.is_retryable()));
        assert_eq!(calls.load(Ordering::Relaxed), 3);

        calls.store(0, Ordering::Relaxed);
        let result: Result<((), u32), AppError> =
            retry(policy, "test_retry", uuid::Uuid::nil(), AppError::is_retryable, || {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err(AppError::validation("x", "bad")) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1, "a client error is not retried");

        calls.store(0, Ordering::Relaxed);
        let (value, attempts) = retry(policy, "test_retry", uuid::Uuid::nil(), AppError::is_retryable, || {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move { if n < 2 { Err(raced()) } else { Ok(n) } }
        })
        .await
        .expect("third try wins");
        assert_eq!((value, attempts), (2, 3));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_bounded() {
        use backon::BackoffBuilder;
        let delays: Vec<Duration> = RetryPolicy::MONEY.backoff().build().collect();
        assert_eq!(delays.len(), RetryPolicy::MONEY.attempts - 1);
        for (i, d) in delays.iter().enumerate() {
            let base = Duration::from_millis(5 << i);
            assert!(*d >= base && *d <= 2 * base, "retry {i}: {d:?}");
        }
    }
}
