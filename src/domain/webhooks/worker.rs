//! The delivery worker: claims due outbox rows, POSTs each signed to its
//! subscription's URL, and records the outcome.
//!
//! - Claiming is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
//!   LOCKED) RETURNING *` on PostgreSQL: concurrent workers (any number of
//!   instances) skip each other's rows, and the claim sets a lease
//!   (`locked_until`), so a claimed row stays invisible to others until its
//!   attempt is recorded or the lease runs out (a crashed worker). SQLite
//!   serialises writes, so the same statement without the lock clause is
//!   safe there, with one worker per database.
//! - A 2xx is DELIVERED. Anything else, a timeout or a connection error is
//!   retried with exponential backoff and jitter; after the last attempt
//!   the row is FAILED (a dead letter that `retryWebhookDelivery` revives).
//! - Recording an outcome is fenced by the attempt count the row was
//!   claimed with: a worker whose lease ran out cannot overwrite a newer
//!   attempt's result.
//! - Each host has a [`Breaker`]; while it is open, due rows for that host
//!   are postponed until it may half-open, without an attempt counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{WebhookDeliveryStatus, webhook_delivery, webhook_subscription};
use reqwest::Url;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Order, Query};
use sea_orm::{ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::webhooks::breaker::{Breaker, State};
use crate::domain::webhooks::targets;
use crate::domain::webhooks::{WebhookPolicy, Webhooks};
use crate::domain::{now, signing};
use crate::error::AppError;
use crate::telemetry::metrics;

/// Every host's breaker in this instance, shared by the worker (which
/// drives them) and the API (which shows `circuitState`).
#[derive(Debug)]
pub struct Breakers {
    settings: super::breaker::Settings,
    hosts: Mutex<HashMap<String, Breaker>>,
}

impl Breakers {
    /// No host seen yet: every breaker starts closed.
    pub fn new(settings: super::breaker::Settings) -> Self {
        Self { settings, hosts: Mutex::new(HashMap::new()) }
    }

    /// The state of `host`'s breaker (CLOSED for a host never called).
    pub fn state(&self, host: &str) -> State {
        self.with(host, |b| b.state())
    }

    /// The state of the breaker for `url`'s host.
    pub fn state_of_url(&self, url: &str) -> State {
        Url::parse(url).ok().and_then(|u| u.host_str().map(|h| self.state(h))).unwrap_or(State::Closed)
    }

    fn with<T>(&self, host: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let breaker = hosts.entry(host.to_owned()).or_insert_with(|| {
            // A host's series starts at 0 (closed) when it is first called.
            metrics::webhook_circuit(host, State::Closed.gauge());
            Breaker::new(self.settings)
        });
        f(breaker)
    }

    /// Whether an attempt to `host` may go out now; when not, how long until
    /// it may.
    fn allow(&self, host: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let (allowed, changed, until) = self.with(host, |b| {
            let (allowed, changed) = b.allow(now);
            (allowed, changed, b.open_until())
        });
        if let Some(state) = changed {
            transition(host, state);
        }
        match allowed {
            true => Ok(()),
            false => Err(until.map_or(Duration::from_secs(1), |u| u.saturating_duration_since(now))),
        }
    }

    fn record(&self, host: &str, success: bool) {
        if let Some(state) = self.with(host, |b| b.record(Instant::now(), success)) {
            transition(host, state);
        }
    }
}

fn transition(host: &str, state: State) {
    metrics::webhook_circuit(host, state.gauge());
    match state {
        State::Open => {
            tracing::warn!(event = "circuit_breaker_opened", host, "webhook host failing: deliveries postponed")
        }
        State::HalfOpen => {
            tracing::info!(event = "circuit_breaker_half_opened", host, "webhook host on trial")
        }
        State::Closed => tracing::info!(event = "circuit_breaker_closed", host, "webhook host recovered"),
    }
}

/// The worker: one per process (`courier serve` runs one beside the API,
/// `courier worker` runs one alone).
#[derive(Clone)]
pub struct Worker {
    db: DatabaseConnection,
    policy: WebhookPolicy,
    client: reqwest::Client,
    breakers: Arc<Breakers>,
}

/// A claimed row and where it goes.
struct Job {
    row: webhook_delivery::Model,
    subscription: webhook_subscription::Model,
}

impl Worker {
    /// A worker on `db` (its HTTP client keeps connections to receivers
    /// open between deliveries).
    pub fn new(db: DatabaseConnection, webhooks: &Webhooks) -> Result<Self, AppError> {
        let (policy, breakers) = (webhooks.policy.clone(), webhooks.breakers.clone());
        let mut client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Courier-Webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(resolver) = targets::resolver(policy.allow_private) {
            client = client.dns_resolver(resolver);
        }
        let client = client.build().map_err(|e| AppError::Internal(format!("webhook HTTP client: {e}")))?;
        Ok(Self { db, policy, client, breakers })
    }

    /// Delivers due rows until `stop` turns true; idles `policy.poll`
    /// between empty claims.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(event = "webhook_worker_started", "webhook delivery worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(event = "webhook_worker_error", error = %e, "webhook worker could not claim rows");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(self.policy.poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!(event = "webhook_worker_stopped", "webhook delivery worker stopped");
    }

    /// Claims one batch of due rows and delivers them concurrently; returns
    /// how many were claimed.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let jobs = self.claim().await?;
        let n = jobs.len();
        futures_util::future::join_all(jobs.into_iter().map(|job| self.deliver(job))).await;
        Ok(n)
    }

    /// Takes up to `batch` due rows of active subscriptions under a lease.
    async fn claim(&self) -> Result<Vec<Job>, AppError> {
        use sea_orm::sea_query::ExprTrait as _;
        use webhook_delivery::Column as D;
        let now = now();
        // Long enough for an attempt to finish; a crashed worker's rows come
        // back after it.
        let lease =
            now + chrono::Duration::from_std(self.policy.timeout * 2 + Duration::from_secs(30)).unwrap_or_default();
        let active = Query::select()
            .column(webhook_subscription::Column::Id)
            .from(webhook_subscription::Entity)
            .and_where(webhook_subscription::Column::Active.eq(true))
            .to_owned();
        let mut due = Query::select()
            .column(D::Id)
            .from(webhook_delivery::Entity)
            .and_where(D::Status.eq(WebhookDeliveryStatus::Pending))
            .and_where(D::NextRetryAt.lte(now))
            .and_where(D::LockedUntil.is_null().or(D::LockedUntil.lt(now)))
            .and_where(D::SubscriptionId.in_subquery(active))
            .order_by(D::NextRetryAt, Order::Asc)
            .limit(self.policy.batch)
            .to_owned();
        let backend = self.db.get_database_backend();
        // The one backend-specific line: other workers' rows are skipped,
        // not waited for. (SQLite has no row locks; its writes are serial.)
        if backend == DatabaseBackend::Postgres {
            due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let claim = Query::update()
            .table(webhook_delivery::Entity)
            .value(D::LockedUntil, lease)
            .and_where(D::Id.in_subquery(due))
            // The entity's columns by name, not `*`: a statement prepared
            // while a migration adds columns keeps its shape.
            .returning(Query::returning().columns(<D as sea_orm::Iterable>::iter()))
            .to_owned();
        let rows = webhook_delivery::Entity::find().from_raw_sql(backend.build(&claim)).all(&self.db).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect();
        let subscriptions: HashMap<Uuid, webhook_subscription::Model> = webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                subscriptions.get(&row.subscription_id).cloned().map(|subscription| Job { row, subscription })
            })
            .collect())
    }

    async fn deliver(&self, job: Job) {
        let Job { row, subscription } = job;
        let url = match Url::parse(&subscription.url) {
            Ok(url) => url,
            Err(e) => return self.failed(&row, None, format!("the subscription's URL is invalid: {e}"), None).await,
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        if let Err(wait) = self.breakers.allow(&host) {
            return self.postpone(&row, &host, wait).await;
        }
        if let Err(e) = targets::check_literal(&url, self.policy.allow_private) {
            self.breakers.record(&host, false);
            return self.failed(&row, None, e.to_string(), None).await;
        }
        let body = serde_json::to_vec(&row.payload).unwrap_or_default();
        let at = now();
        let started = Instant::now();
        let correlation = row.payload.get("correlationId").and_then(|c| c.as_str()).unwrap_or_default().to_owned();
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-courier-event", row.event_type.as_str())
            .header("x-courier-delivery", row.id.to_string())
            .header("x-courier-timestamp", at.timestamp().to_string())
            .header("x-courier-signature", signing::sign(subscription.secret.as_bytes(), &body, at));
        if !correlation.is_empty() {
            request = request.header("x-correlation-id", correlation);
        }
        let answer = request.body(body).send().await;
        let elapsed = started.elapsed();
        match answer {
            Ok(response) if response.status().is_success() => {
                self.breakers.record(&host, true);
                self.delivered(&row, response.status().as_u16(), elapsed).await;
            }
            Ok(response) => {
                self.breakers.record(&host, false);
                let status = response.status();
                self.failed(&row, Some(status.as_u16()), format!("the receiver answered {status}"), Some(elapsed))
                    .await;
            }
            Err(e) => {
                self.breakers.record(&host, false);
                let why = if e.is_timeout() {
                    format!("no answer within {} ms", self.policy.timeout.as_millis())
                } else {
                    describe(&e)
                };
                self.failed(&row, None, why, Some(elapsed)).await;
            }
        }
    }

    /// Writes an attempt's outcome, fenced by the attempt count the row was
    /// claimed with.
    async fn finish(&self, row: &webhook_delivery::Model, set: webhook_delivery::ActiveModel) -> bool {
        use webhook_delivery::Column as D;
        let mut update = webhook_delivery::Entity::update_many()
            .set(set)
            .col_expr(D::LockedUntil, Expr::value(None::<chrono::DateTime<Utc>>));
        update = update
            .filter(D::Id.eq(row.id))
            .filter(D::Attempts.eq(row.attempts))
            .filter(D::Status.eq(WebhookDeliveryStatus::Pending));
        match update.exec(&self.db).await {
            Ok(result) if result.rows_affected == 1 => true,
            Ok(_) => {
                tracing::warn!(event = "webhook_delivery_superseded", delivery.id = %row.id, "another worker recorded this delivery first");
                false
            }
            Err(e) => {
                tracing::error!(event = "webhook_delivery_record_failed", delivery.id = %row.id, error = %e, "could not record a webhook attempt; it is retried when its lease ends");
                false
            }
        }
    }

    async fn delivered(&self, row: &webhook_delivery::Model, status: u16, elapsed: Duration) {
        use sea_orm::ActiveValue::Set;
        let now = now();
        let set = webhook_delivery::ActiveModel {
            status: Set(WebhookDeliveryStatus::Delivered),
            attempts: Set(row.attempts + 1),
            last_status: Set(Some(i32::from(status))),
            last_error: Set(None),
            delivered_at: Set(Some(now)),
            next_retry_at: Set(None),
            updated_at: Set(now),
            ..Default::default()
        };
        if self.finish(row, set).await {
            metrics::webhook_delivery("delivered", Some(elapsed));
            tracing::info!(
                event = "webhook_delivery_succeeded",
                delivery.id = %row.id,
                r#type = %row.event_type,
                attempt = row.attempts + 1,
                status,
                duration_ms = crate::telemetry::ms(elapsed),
                "webhook delivered"
            );
        }
    }

    async fn failed(&self, row: &webhook_delivery::Model, status: Option<u16>, why: String, elapsed: Option<Duration>) {
        use sea_orm::ActiveValue::Set;
        let now = now();
        let attempt = row.attempts + 1;
        let dead = attempt >= self.policy.max_attempts;
        let retry_in = backoff(self.policy.backoff, attempt, jitter());
        let set = webhook_delivery::ActiveModel {
            status: Set(if dead { WebhookDeliveryStatus::Failed } else { WebhookDeliveryStatus::Pending }),
            attempts: Set(attempt),
            last_status: Set(status.map(i32::from)),
            last_error: Set(Some(why.clone())),
            next_retry_at: Set((!dead).then(|| now + chrono::Duration::from_std(retry_in).unwrap_or_default())),
            updated_at: Set(now),
            ..Default::default()
        };
        if !self.finish(row, set).await {
            return;
        }
        if dead {
            metrics::webhook_delivery("dead_lettered", elapsed);
            tracing::error!(
                event = "webhook_delivery_dead_lettered",
                delivery.id = %row.id,
                r#type = %row.event_type,
                attempts = attempt,
                error = %why,
                "webhook gave up after the last attempt"
            );
        } else {
            metrics::webhook_delivery("retried", elapsed);
            tracing::warn!(
                event = "webhook_delivery_failed",
                delivery.id = %row.id,
                r#type = %row.event_type,
                attempt,
                error = %why,
                retry_in_ms = retry_in.as_millis() as u64,
                "webhook attempt failed; retrying later"
            );
        }
    }

    async fn postpone(&self, row: &webhook_delivery::Model, host: &str, wait: Duration) {
        use sea_orm::ActiveValue::Set;
        let now = now();
        let set = webhook_delivery::ActiveModel {
            next_retry_at: Set(Some(now + chrono::Duration::from_std(wait).unwrap_or_default())),
            updated_at: Set(now),
            ..Default::default()
        };
        if self.finish(row, set).await {
            metrics::webhook_delivery("postponed", None);
            tracing::debug!(event = "webhook_delivery_postponed", delivery.id = %row.id, host, wait_ms = wait.as_millis() as u64, "breaker open: delivery postponed");
        }
    }
}

/// A connection error in a few words, without the client's wrapping.
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    if e.is_connect() { format!("cannot connect: {deepest}") } else { deepest }
}

/// A factor in [0.8, 1.2) from fresh random bits.
fn jitter() -> f64 {
    let bits = Uuid::new_v4().as_u128() as u64;
    0.8 + 0.4 * ((bits >> 11) as f64 / (1u64 << 53) as f64)
}

/// The wait before attempt `attempt + 1`: `base` doubled for each attempt
/// made after the first, times `jitter`, capped at one day.
pub fn backoff(base: Duration, attempt: i32, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    let wait = base.saturating_mul(1u32 << doublings).mul_f64(jitter);
    wait.min(Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(base, 2, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(base, 4, 1.0), Duration::from_secs(80));
        assert_eq!(backoff(base, 3, 0.8), Duration::from_secs(32));
        assert_eq!(backoff(base, 60, 1.0), Duration::from_secs(24 * 3600));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.8..1.2).contains(&j), "{j}");
        }
    }
}
