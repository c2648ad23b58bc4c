//! Prometheus metrics: every metric Courier exposes is named here, with its
//! labels, so `docs/metrics.md` has one source to be checked against.
//!
//! The `metrics` facade records from anywhere (domain code included, it has
//! no HTTP or GraphQL in it); `metrics-exporter-prometheus` renders the text
//! format at `GET /metrics`. Every label takes values from a fixed set: route
//! templates, status codes, error codes, schema type and field names, and
//! operation names capped by [`OperationNames`].

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every latency histogram, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets of statements per request.
const STATEMENT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0, 144.0];

/// Histograms drained into their buckets this often (otherwise samples
/// would pile up between scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same
/// handle) and starts its upkeep thread.
pub fn install() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map_err(|e| e.to_string())?
                .set_buckets_for_metric(Matcher::Full(SQL_STATEMENTS_PER_REQUEST.into()), STATEMENT_BUCKETS)
                .map_err(|e| e.to_string())?;
            let handle = builder.install_recorder().map_err(|e| e.to_string())?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| e.to_string())?;
            describe();
            register_zeros();
            Ok(handle)
        })
        .clone()
}

// Names. The docs test reads these constants' values from the exposition.

/// HTTP requests being served now.
pub const HTTP_IN_FLIGHT: &str = "courier_http_requests_in_flight";
/// HTTP request duration by route template, method and status.
pub const HTTP_DURATION: &str = "courier_http_request_duration_seconds";
/// GraphQL operation duration by operation name and type.
pub const GRAPHQL_DURATION: &str = "courier_graphql_operation_duration_seconds";
/// GraphQL errors in responses by `extensions.code`.
pub const GRAPHQL_ERRORS: &str = "courier_graphql_errors_total";
/// Resolvers slower than the threshold by parent type and field.
pub const GRAPHQL_SLOW_RESOLVERS: &str = "courier_graphql_slow_resolvers_total";
/// Requests refused by a limit, by the limit's code.
pub const GRAPHQL_REFUSED: &str = "courier_graphql_requests_refused_total";
/// SQL statement duration.
pub const SQL_DURATION: &str = "courier_sql_statement_duration_seconds";
/// Statements slower than the slow-SQL threshold.
pub const SQL_SLOW: &str = "courier_sql_slow_statements_total";
/// Statements one GraphQL request ran.
pub const SQL_STATEMENTS_PER_REQUEST: &str = "courier_sql_statements_per_request";
/// Pool gauges.
pub const POOL_SIZE: &str = "courier_db_pool_size";
/// Idle pooled connections.
pub const POOL_IDLE: &str = "courier_db_pool_idle";
/// Pooled connections lent out.
pub const POOL_IN_USE: &str = "courier_db_pool_in_use";
/// Callers waiting for a connection.
pub const POOL_WAITING: &str = "courier_db_pool_waiting";
/// The pool's upper bound.
pub const POOL_MAX: &str = "courier_db_pool_max";
/// In use over max.
pub const POOL_UTILIZATION: &str = "courier_db_pool_utilization_ratio";
/// Time to get a connection from the pool.
pub const POOL_ACQUIRE: &str = "courier_db_pool_acquire_duration_seconds";
/// Callers that gave up waiting for a connection.
pub const POOL_ACQUIRE_TIMEOUTS: &str = "courier_db_pool_acquire_timeouts_total";
/// 1 when the monitor's last probe reached the database, else 0.
pub const DB_UP: &str = "courier_db_up";
/// Captures by outcome.
pub const CAPTURES: &str = "courier_payment_captures_total";
/// Capture duration by outcome.
pub const CAPTURE_DURATION: &str = "courier_payment_capture_duration_seconds";
/// Refunds by outcome.
pub const REFUNDS: &str = "courier_payment_refunds_total";
/// Top-ups by outcome.
pub const TOP_UPS: &str = "courier_wallet_top_ups_total";
/// Viewer lookups by outcome: `hit` (kept), `miss` (read and kept), `read`
/// (read, not kept: not listening for user changes, or SQLite).
pub const VIEWER_LOOKUPS: &str = "courier_viewer_lookups_total";
/// 1 while this instance keeps viewers (listening for user changes), else 0.
pub const VIEWER_CACHE_ARMED: &str = "courier_viewer_cache_armed";
/// Retries of operations that lost a race, by operation.
pub const RETRIES: &str = "courier_retries_total";
/// Operations that lost every retry, by operation.
pub const RETRIES_EXHAUSTED: &str = "courier_retries_exhausted_total";
/// `FOR UPDATE NOWAIT` found the row locked, by resource.
pub const ROW_LOCK_CONFLICTS: &str = "courier_row_lock_conflicts_total";
/// Repeated money mutations answered from the stored response.
pub const IDEMPOTENT_REPLAYS: &str = "courier_idempotent_replays_total";
/// Violations found by the last periodic ledger check.
pub const LEDGER_VIOLATIONS: &str = "courier_ledger_invariant_violations";
/// Periodic ledger checks by outcome.
pub const LEDGER_CHECKS: &str = "courier_ledger_checks_total";
/// PostgreSQL buffer cache hit ratio of Courier's database.
pub const PG_CACHE_HIT: &str = "courier_pg_cache_hit_ratio";
/// PostgreSQL connections to Courier's database by state.
pub const PG_CONNECTIONS: &str = "courier_pg_connections";
/// Age of the oldest open transaction on Courier's database.
pub const PG_LONGEST_TRANSACTION: &str = "courier_pg_longest_transaction_seconds";
/// Deadlocks PostgreSQL detected in Courier's database (since its stats reset).
pub const PG_DEADLOCKS: &str = "courier_pg_deadlocks_total";

/// Webhook delivery attempts by outcome.
pub const WEBHOOK_DELIVERIES: &str = "courier_webhook_deliveries_total";
/// Webhook delivery attempt duration.
pub const WEBHOOK_DELIVERY_DURATION: &str = "courier_webhook_delivery_duration_seconds";
/// Each target host's circuit breaker: 0 closed, 1 open, 2 half-open.
pub const WEBHOOK_CIRCUIT_STATE: &str = "courier_webhook_circuit_state";

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(HTTP_IN_FLIGHT, "HTTP requests being served now");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request duration by route, method and status");
    describe_histogram!(GRAPHQL_DURATION, Unit::Seconds, "GraphQL operation duration by operation name and type");
    describe_counter!(GRAPHQL_ERRORS, "GraphQL errors in responses by extensions.code");
    describe_counter!(
        GRAPHQL_SLOW_RESOLVERS,
        "Resolvers slower than COURIER_SLOW_RESOLVER_MS by parent type and field"
    );
    describe_counter!(GRAPHQL_REFUSED, "Requests refused by a limit, by the limit's code");
    describe_histogram!(SQL_DURATION, Unit::Seconds, "SQL statement duration");
    describe_counter!(SQL_SLOW, "SQL statements slower than COURIER_SLOW_SQL_MS");
    describe_histogram!(SQL_STATEMENTS_PER_REQUEST, "SQL statements one GraphQL request ran");
    describe_gauge!(POOL_SIZE, "Open pooled connections");
    describe_gauge!(POOL_IDLE, "Idle pooled connections");
    describe_gauge!(POOL_IN_USE, "Pooled connections lent out");
    describe_gauge!(POOL_WAITING, "Requests waiting for a pooled connection");
    describe_gauge!(POOL_MAX, "Most pooled connections (COURIER_DB_POOL_MAX)");
    describe_gauge!(POOL_UTILIZATION, "Pooled connections in use over the maximum");
    describe_histogram!(POOL_ACQUIRE, Unit::Seconds, "Time to get a connection from the pool");
    describe_counter!(POOL_ACQUIRE_TIMEOUTS, "Requests that gave up waiting for a pooled connection");
    describe_gauge!(DB_UP, "1 when the pool monitor's last probe reached the database");
    describe_counter!(CAPTURES, "Payment captures by outcome");
    describe_histogram!(CAPTURE_DURATION, Unit::Seconds, "Payment capture duration by outcome");
    describe_counter!(REFUNDS, "Payment refunds by outcome");
    describe_counter!(TOP_UPS, "Wallet top-ups by outcome");
    describe_counter!(VIEWER_LOOKUPS, "Viewer lookups by outcome: hit, miss (read and kept), read (not kept)");
    describe_gauge!(VIEWER_CACHE_ARMED, "1 while viewers are kept (listening for user changes), else 0");
    describe_counter!(RETRIES, "Retries of operations that lost a race, by operation");
    describe_counter!(RETRIES_EXHAUSTED, "Operations that lost every retry, by operation");
    describe_counter!(ROW_LOCK_CONFLICTS, "FOR UPDATE NOWAIT conflicts by resource");
    describe_counter!(IDEMPOTENT_REPLAYS, "Money mutations answered from their stored response");
    describe_gauge!(LEDGER_VIOLATIONS, "Ledger invariant violations found by the last periodic check");
    describe_counter!(LEDGER_CHECKS, "Periodic ledger checks by outcome");
    describe_gauge!(PG_CACHE_HIT, "PostgreSQL buffer cache hit ratio of the database");
    describe_gauge!(PG_CONNECTIONS, "PostgreSQL connections to the database by state");
    describe_gauge!(PG_LONGEST_TRANSACTION, Unit::Seconds, "Age of the oldest open transaction");
    describe_counter!(PG_DEADLOCKS, "Deadlocks detected in the database since its statistics were reset");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook deliveries by outcome: delivered, retried, dead_lettered, postponed (breaker open)"
    );
    describe_histogram!(WEBHOOK_DELIVERY_DURATION, Unit::Seconds, "Webhook delivery attempt duration");
    describe_gauge!(WEBHOOK_CIRCUIT_STATE, "Circuit breaker per webhook host: 0 closed, 1 open, 2 half-open");
}

/// Operations that retry a lost race (the `event` of each `db::retry` call).
pub const RETRIED_OPERATIONS: &[&str] = &[
    "order_status_update_retry",
    "payment_capture_retry",
    "payment_refund_retry",
    "wallet_top_up_retry",
    "payment_processor_event_retry",
];

/// Every counter with a fixed label set starts at 0, so rates and alerts
/// see a series before the first event (an absent series is not zero).
fn register_zeros() {
    for outcome in ["captured", "pending", "declined", "refused", "failed"] {
        counter!(CAPTURES, "outcome" => outcome).absolute(0);
    }
    for outcome in ["refunded", "refused", "failed"] {
        counter!(REFUNDS, "outcome" => outcome).absolute(0);
    }
    for outcome in ["topped_up", "refused", "failed"] {
        counter!(TOP_UPS, "outcome" => outcome).absolute(0);
    }
    for operation in RETRIED_OPERATIONS {
        counter!(RETRIES, "operation" => *operation).absolute(0);
        counter!(RETRIES_EXHAUSTED, "operation" => *operation).absolute(0);
    }
    counter!(ROW_LOCK_CONFLICTS, "resource" => "shipping_assignment").absolute(0);
    for operation in ["initiatePayment", "capturePayment", "refundPayment", "topUpWallet"] {
        counter!(IDEMPOTENT_REPLAYS, "operation" => operation).absolute(0);
    }
    for outcome in ["healthy", "violations", "failed"] {
        counter!(LEDGER_CHECKS, "outcome" => outcome).absolute(0);
    }
    for limit in LIMIT_CODES {
        counter!(GRAPHQL_REFUSED, "limit" => *limit).absolute(0);
    }
    for outcome in WEBHOOK_OUTCOMES {
        counter!(WEBHOOK_DELIVERIES, "outcome" => *outcome).absolute(0);
    }
    for outcome in ["hit", "miss", "read"] {
        counter!(VIEWER_LOOKUPS, "outcome" => outcome).absolute(0);
    }
    gauge!(VIEWER_CACHE_ARMED).set(0.0);
    counter!(SQL_SLOW).absolute(0);
    counter!(POOL_ACQUIRE_TIMEOUTS).absolute(0);
    gauge!(HTTP_IN_FLIGHT).set(0.0);
}

// Recording helpers, one per family that several places record.

/// One finished HTTP request.
pub fn http_request(route: String, method: &'static str, status: u16, elapsed: Duration) {
    histogram!(HTTP_DURATION, "route" => route, "method" => method, "status" => status_label(status))
        .record(elapsed.as_secs_f64());
}

/// A bounded label for a status code: the known ones by number.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        304 => "304",
        307 => "307",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        406 => "406",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// One executed (or refused) GraphQL operation.
pub fn graphql_operation(operation: &str, kind: &'static str, elapsed: Duration) {
    histogram!(GRAPHQL_DURATION, "operation" => operation.to_owned(), "type" => kind).record(elapsed.as_secs_f64());
}

/// One error in a response.
pub fn graphql_error(code: &str) {
    counter!(GRAPHQL_ERRORS, "code" => bounded_code(code)).increment(1);
}

/// The codes of refusals by a limit (other refusals are errors, counted in
/// [`GRAPHQL_ERRORS`] alone).
pub const LIMIT_CODES: &[&str] = &[
    "PAYLOAD_TOO_LARGE",
    "TOO_MANY_TOKENS",
    "TOO_MANY_ALIASES",
    "TOO_MANY_FIELDS",
    "TOO_MANY_MUTATIONS",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "INTROSPECTION_DISABLED",
    "BATCHING_DISABLED",
    "BATCH_TOO_LARGE",
    "RATE_LIMITED",
    "TIMEOUT",
    "OPERATION_NOT_TRUSTED",
];

/// A request refused by the limit `code` (before or instead of running);
/// codes that are not limits are not counted here.
pub fn refused(code: &'static str) {
    if LIMIT_CODES.contains(&code) {
        counter!(GRAPHQL_REFUSED, "limit" => code).increment(1);
    }
}

/// Error codes are upper snake case and come from the code; anything else
/// (which would be a bug) is counted as `OTHER` so the label stays bounded.
fn bounded_code(code: &str) -> String {
    if (1..=48).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        code.to_owned()
    } else {
        "OTHER".to_owned()
    }
}

/// A resolver slower than the threshold.
pub fn slow_resolver(parent_type: &str, field: &str) {
    counter!(GRAPHQL_SLOW_RESOLVERS, "parent_type" => parent_type.to_owned(), "field" => field.to_owned()).increment(1);
}

/// One SQL statement.
pub fn sql_statement(elapsed: Duration, slow: bool) {
    histogram!(SQL_DURATION).record(elapsed.as_secs_f64());
    if slow {
        counter!(SQL_SLOW).increment(1);
    }
}

/// Statements one GraphQL request ran.
pub fn statements_per_request(count: u64) {
    histogram!(SQL_STATEMENTS_PER_REQUEST).record(count as f64);
}

/// A capture finished: `outcome` is `captured`, `pending` (the card
/// processor answers later), `declined`, `refused` (any other rule or input
/// the client can fix) or `failed` (the server's or a dependency's fault).
pub fn capture(outcome: &'static str, elapsed: Duration) {
    counter!(CAPTURES, "outcome" => outcome).increment(1);
    histogram!(CAPTURE_DURATION, "outcome" => outcome).record(elapsed.as_secs_f64());
}

/// `ok`, or the outcome of an error: `failed` when the server or a
/// dependency is at fault, `refused` otherwise.
pub fn outcome<T>(result: &Result<T, crate::error::AppError>, ok: &'static str) -> &'static str {
    match result {
        Ok(_) => ok,
        Err(e) if e.is_server_fault() => "failed",
        Err(_) => "refused",
    }
}

/// What a webhook delivery attempt can come to.
pub const WEBHOOK_OUTCOMES: &[&str] = &["delivered", "retried", "dead_lettered", "postponed"];

/// A webhook delivery attempt ended (`outcome` is one of
/// [`WEBHOOK_OUTCOMES`]; a postponed one made no attempt).
pub fn webhook_delivery(outcome: &'static str, elapsed: Option<Duration>) {
    counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
    if let Some(elapsed) = elapsed {
        histogram!(WEBHOOK_DELIVERY_DURATION).record(elapsed.as_secs_f64());
    }
}

/// A webhook host's breaker is now in `state` (0 closed, 1 open, 2 half-open).
pub fn webhook_circuit(host: &str, state: f64) {
    gauge!(WEBHOOK_CIRCUIT_STATE, "host" => host.to_owned()).set(state);
}

/// A refund finished: `refunded`, `refused` or `failed`.
pub fn refund(outcome: &'static str) {
    counter!(REFUNDS, "outcome" => outcome).increment(1);
}

/// A top-up finished: `topped_up`, `refused` or `failed`.
pub fn top_up(outcome: &'static str) {
    counter!(TOP_UPS, "outcome" => outcome).increment(1);
}

/// A viewer was looked up: `hit`, `miss` or `read`.
pub fn viewer_lookup(outcome: &'static str) {
    counter!(VIEWER_LOOKUPS, "outcome" => outcome).increment(1);
}

/// Whether viewers are kept now.
pub fn viewer_cache_armed(armed: bool) {
    gauge!(VIEWER_CACHE_ARMED).set(if armed { 1.0 } else { 0.0 });
}

/// An operation lost a race and is retried.
pub fn retried(operation: &'static str) {
    counter!(RETRIES, "operation" => operation).increment(1);
}

/// An operation lost a race on every attempt.
pub fn retries_exhausted(operation: &'static str) {
    counter!(RETRIES_EXHAUSTED, "operation" => operation).increment(1);
}

/// `FOR UPDATE NOWAIT` found `resource` locked.
pub fn row_lock_conflict(resource: &'static str) {
    counter!(ROW_LOCK_CONFLICTS, "resource" => resource).increment(1);
}

/// A money mutation answered from its stored response.
pub fn idempotent_replay(operation: &'static str) {
    counter!(IDEMPOTENT_REPLAYS, "operation" => operation).increment(1);
}

/// A request gave up waiting for a pooled connection.
pub fn acquire_timeout() {
    counter!(POOL_ACQUIRE_TIMEOUTS).increment(1);
}

/// A connection was handed out after `waited`.
pub fn acquired(waited: Duration) {
    histogram!(POOL_ACQUIRE).record(waited.as_secs_f64());
}

/// The pool as the monitor (or a probe) sees it.
pub fn pool(size: u32, idle: u32, in_use: u32, waiting: u64, max: u32, utilization: f64) {
    gauge!(POOL_SIZE).set(f64::from(size));
    gauge!(POOL_IDLE).set(f64::from(idle));
    gauge!(POOL_IN_USE).set(f64::from(in_use));
    gauge!(POOL_WAITING).set(waiting as f64);
    gauge!(POOL_MAX).set(f64::from(max));
    gauge!(POOL_UTILIZATION).set(utilization);
}

/// Whether the database answered the monitor's probe.
pub fn db_up(up: bool) {
    gauge!(DB_UP).set(if up { 1.0 } else { 0.0 });
}

/// The outcome of a periodic ledger check.
pub fn ledger_check(violations: Option<usize>) {
    match violations {
        Some(n) => {
            gauge!(LEDGER_VIOLATIONS).set(n as f64);
            counter!(LEDGER_CHECKS, "outcome" => if n == 0 { "healthy" } else { "violations" }).increment(1);
        }
        None => counter!(LEDGER_CHECKS, "outcome" => "failed").increment(1),
    }
}

/// PostgreSQL's own view of Courier's database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PgHealth {
    /// Buffer cache hits over reads and hits.
    pub cache_hit_ratio: f64,
    /// Connections by state (`active`, `idle`, `idle in transaction`, ...).
    pub connections: Vec<(String, u64)>,
    /// Age of the oldest open transaction, in seconds.
    pub longest_transaction_seconds: f64,
    /// Deadlocks since the statistics were reset.
    pub deadlocks: u64,
}

/// Records a PostgreSQL health sample. States not seen this time are set to 0.
pub fn pg_health(sample: &PgHealth) {
    const STATES: [&str; 6] = [
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
    ];
    gauge!(PG_CACHE_HIT).set(sample.cache_hit_ratio);
    for state in STATES {
        let n = sample.connections.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
        gauge!(PG_CONNECTIONS, "state" => state).set(n as f64);
    }
    gauge!(PG_LONGEST_TRANSACTION).set(sample.longest_transaction_seconds);
    counter!(PG_DEADLOCKS).absolute(sample.deadlocks);
}

/// Operation names as metric labels: a name is kept as it is for the first
/// `cap` distinct names seen (with trusted documents, those are the list's
/// names); later ones are `other`, unnamed operations `anonymous`, and a
/// name that is not a plain GraphQL name `invalid`. A client therefore
/// cannot blow up the series count by inventing names.
pub struct OperationNames {
    cap: usize,
    seen: Mutex<HashSet<String>>,
}

impl OperationNames {
    /// Keeps at most `cap` distinct names.
    pub fn new(cap: usize) -> Self {
        Self { cap, seen: Mutex::new(HashSet::new()) }
    }

    /// The label for `name`.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else { return "anonymous".into() };
        let plain = (1..=64).contains(&name.len())
            && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return "invalid".into();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < self.cap {
            seen.insert(name.to_owned());
            return name.to_owned();
        }
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_capped_and_plain() {
        let names = OperationNames::new(2);
        assert_eq!(names.label(None), "anonymous");
        assert_eq!(names.label(Some("a b")), "invalid");
        assert_eq!(names.label(Some("9lives")), "invalid");
        assert_eq!(names.label(Some("First")), "First");
        assert_eq!(names.label(Some("Second")), "Second");
        assert_eq!(names.label(Some("Third")), "other");
        assert_eq!(names.label(Some("First")), "First", "a name seen before keeps its label");
    }

    #[test]
    fn codes_and_statuses_stay_bounded() {
        assert_eq!(bounded_code("BAD_USER_INPUT"), "BAD_USER_INPUT");
        assert_eq!(bounded_code("made up\n"), "OTHER");
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
    }
}
