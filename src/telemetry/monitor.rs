//! The background monitor: every `COURIER_POOL_MONITOR_INTERVAL_SECS` it
//! samples the pool (gauges; `db_pool_utilization_high` at warn above 80%
//! and at error above 95%), probes the database (`courier_db_up`) and, on
//! PostgreSQL, reads the database's own statistics; every
//! `COURIER_LEDGER_CHECK_INTERVAL_SECS` it checks the ledger invariants.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};
use tokio::sync::watch;

use crate::config::Config;
use crate::db::{self, PoolStats};
use crate::domain::wallets;
use crate::telemetry::metrics::{self, PgHealth};

/// Utilization above which the monitor warns.
pub const WARN_UTILIZATION: f64 = 0.80;
/// Utilization above which the monitor logs an error.
pub const CRITICAL_UTILIZATION: f64 = 0.95;
/// Longest the probe waits for the database.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// What the monitor does and how often.
#[derive(Debug, Clone, Copy)]
pub struct MonitorSettings {
    /// Between pool samples.
    pub interval: Duration,
    /// Between ledger checks; `None` for never.
    pub ledger_every: Option<Duration>,
    /// The pool's maximum.
    pub pool_max: u32,
}

/// Records the pool gauges for `stats` and logs a utilization warning or
/// error when it crosses a threshold. Returns the stats.
pub fn record_pool(stats: &PoolStats) {
    metrics::pool(stats.size, stats.idle, stats.in_use, stats.waiting, stats.max, stats.utilization);
}

fn warn_if_high(stats: &PoolStats) {
    if stats.utilization > CRITICAL_UTILIZATION {
        tracing::error!(
            event = "db_pool_utilization_high",
            utilization = stats.utilization,
            in_use = stats.in_use,
            max = stats.max,
            waiting = stats.waiting,
            threshold = CRITICAL_UTILIZATION,
            "connection pool nearly exhausted"
        );
    } else if stats.utilization > WARN_UTILIZATION {
        tracing::warn!(
            event = "db_pool_utilization_high",
            utilization = stats.utilization,
            in_use = stats.in_use,
            max = stats.max,
            waiting = stats.waiting,
            threshold = WARN_UTILIZATION,
            "connection pool utilization high"
        );
    }
}

/// Whether the database answers, asked over a connection of its own: a
/// pool busy with requests is not a database outage, so health checks never
/// wait in the serving pool's queue. The one-connection pool opens on first
/// use (and again after a failure).
pub struct Probe {
    config: Config,
    pool: tokio::sync::OnceCell<DatabaseConnection>,
}

impl Probe {
    /// A probe for the database of `config`.
    pub fn new(config: &Config) -> Self {
        let mut config = config.clone();
        config.db_pool_max = 1;
        config.db_pool_min = 0;
        config.db_acquire_timeout_ms = PROBE_DEADLINE.as_millis() as u64;
        Self { config, pool: tokio::sync::OnceCell::new() }
    }

    async fn pool(&self) -> Result<&DatabaseConnection, String> {
        self.pool.get_or_try_init(|| db::connect_for(&self.config, db::Purpose::Probe)).await.map_err(|e| e.to_string())
    }

    /// Runs `work` on the probe's connection within [`PROBE_DEADLINE`].
    async fn within<T, F, Fut>(&self, work: F) -> Result<T, String>
    where
        F: FnOnce(DatabaseConnection) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let run = async { work(self.pool().await?.clone()).await.map_err(|e| e.to_string()) };
        tokio::time::timeout(PROBE_DEADLINE, run)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {PROBE_DEADLINE:?}")))
    }

    /// `SELECT 1`; the error text for the log otherwise.
    pub async fn check(&self) -> Result<(), String> {
        self.within(|pool| async move { db::ping(&pool).await }).await
    }

    /// The names of the migrations not applied yet (read only: never
    /// creates the migration table).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, String> {
        use migration::{Migrator, MigratorTrait};
        self.within(|pool| async move {
            let pending = Migrator::get_pending_migrations_read_only(&pool).await?;
            Ok(pending.iter().map(|m| m.name().to_owned()).collect())
        })
        .await
    }

    /// Closes the probe's connection.
    pub async fn close(&self) {
        if let Some(pool) = self.pool.get() {
            let _ = pool.clone().close().await;
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(
    db: DatabaseConnection,
    probe: std::sync::Arc<Probe>,
    settings: MonitorSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut pool_tick = tokio::time::interval(settings.interval);
    pool_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ledger_tick = tokio::time::interval(settings.ledger_every.unwrap_or(Duration::from_secs(3600)));
    ledger_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Both first ticks fire at once: the gauges and the ledger's state are
    // known from the start.
    let mut was_up = true;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = pool_tick.tick() => {
                let stats = db::pool_stats(&db, settings.pool_max);
                record_pool(&stats);
                warn_if_high(&stats);
                was_up = sample_database(&db, &probe, was_up).await;
            }
            _ = ledger_tick.tick(), if settings.ledger_every.is_some() => check_ledger(&db).await,
        }
    }
    tracing::info!(event = "monitor_stopped", "pool monitor stopped");
}

/// Probes the database and, on PostgreSQL, samples its statistics. Logs the
/// change when the database goes away or comes back.
async fn sample_database(db: &DatabaseConnection, probe: &Probe, was_up: bool) -> bool {
    let up = match probe.check().await {
        Ok(()) => true,
        Err(error) => {
            if was_up {
                tracing::error!(event = "db_unreachable", error = %error, "the pool monitor cannot reach the database");
            }
            false
        }
    };
    if up && !was_up {
        tracing::info!(event = "db_reachable", "the pool monitor reaches the database again");
    }
    metrics::db_up(up);
    if up && db.get_database_backend() == DatabaseBackend::Postgres {
        match tokio::time::timeout(PROBE_DEADLINE, pg_health(db)).await {
            Ok(Ok(sample)) => metrics::pg_health(&sample),
            Ok(Err(e)) => tracing::warn!(event = "pg_stats_failed", error = %e, "cannot read PostgreSQL statistics"),
            Err(_) => {
                tracing::warn!(event = "pg_stats_failed", error = "timed out", "cannot read PostgreSQL statistics")
            }
        }
    }
    up
}

/// PostgreSQL's statistics of the current database, in two statements.
pub async fn pg_health(db: &DatabaseConnection) -> Result<PgHealth, DbErr> {
    let backend = DatabaseBackend::Postgres;
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT \
               COALESCE((SELECT blks_hit::float8 / NULLIF(blks_hit + blks_read, 0) \
                         FROM pg_stat_database WHERE datname = current_database()), 1.0) AS hit, \
               COALESCE((SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()), 0) AS deadlocks, \
               COALESCE((SELECT EXTRACT(EPOCH FROM max(now() - xact_start))::float8 FROM pg_stat_activity \
                         WHERE datname = current_database() AND xact_start IS NOT NULL \
                           AND pid <> pg_backend_pid()), 0.0) AS longest",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no statistics row".into()))?;
    let states = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT COALESCE(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() GROUP BY 1",
        ))
        .await?;
    let mut connections = Vec::with_capacity(states.len());
    for r in states {
        let n: i64 = r.try_get("", "n")?;
        connections.push((r.try_get::<String>("", "state")?, u64::try_from(n).unwrap_or(0)));
    }
    let deadlocks: i64 = row.try_get("", "deadlocks")?;
    Ok(PgHealth {
        cache_hit_ratio: row.try_get("", "hit")?,
        connections,
        longest_transaction_seconds: row.try_get("", "longest")?,
        deadlocks: u64::try_from(deadlocks).unwrap_or(0),
    })
}

/// One ledger check; violations are logged by `wallets::verify` itself.
async fn check_ledger(db: &DatabaseConnection) {
    match wallets::verify(db).await {
        Ok(health) => {
            metrics::ledger_check(Some(health.violations.len()));
            tracing::info!(
                event = "ledger_check_completed",
                violations = health.violations.len(),
                wallets = health.wallets_checked,
                payments = health.payments_checked,
                "periodic ledger check"
            );
        }
        Err(e) => {
            metrics::ledger_check(None);
            tracing::warn!(event = "ledger_check_failed", error = %e, "periodic ledger check failed");
        }
    }
}
