//! Live events for GraphQL subscriptions: which order (and which offer)
//! changed, fanned out to every instance.
//!
//! - PostgreSQL: [`notify`] runs `pg_notify` inside the change's own
//!   transaction, so PostgreSQL delivers it only when the change commits
//!   (never for a rollback), to every instance's `LISTEN` connection
//!   ([`listen_postgres`]), which puts it on the instance's [`Bus`].
//! - SQLite (one instance): [`notify`] records the notice in the collector
//!   of the running mutation ([`collect`]); the caller publishes what was
//!   collected once the mutation has returned, that is after its commit.
//!
//! A notice is small (an event name and IDs): subscribers reload the object
//! under their own access rules, so nothing a viewer may not see travels.

use std::cell::RefCell;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::domain::webhooks::EventType;
use crate::domain::webhooks::events::Subject;
use crate::error::AppError;

/// The PostgreSQL channel.
pub const CHANNEL: &str = "courier_events";

/// Notices one instance buffers for slow subscribers before they lag.
const CAPACITY: usize = 1024;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The event, e.g. `order.status_changed`.
    pub event: String,
    /// The order concerned.
    pub order_id: Uuid,
    /// The assignment, for assignment events.
    pub assignment_id: Option<Uuid>,
}

impl Notice {
    /// The notice of `event` about `subject`.
    pub fn of(event: EventType, subject: Subject<'_>) -> Self {
        let (order_id, assignment_id) = match subject {
            Subject::Order(o) => (o.id, None),
            Subject::Payment(p) => (p.order_id, None),
            Subject::Assignment(a) => (a.order_id, Some(a.id)),
        };
        Self { event: event.as_str().to_owned(), order_id, assignment_id }
    }

    /// Whether it is an offer to agents.
    pub fn is_offer(&self) -> bool {
        self.event == EventType::AssignmentOffered.as_str()
    }
}

/// This instance's fan-out of notices to its subscribers.
#[derive(Debug, Clone)]
pub struct Bus(broadcast::Sender<Notice>);

impl Default for Bus {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl Bus {
    /// A receiver of every notice published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.0.subscribe()
    }

    /// Hands `notice` to every current subscriber (none is fine).
    pub fn publish(&self, notice: Notice) {
        let _ = self.0.send(notice);
    }
}

tokio::task_local! {
    static COLLECTED: RefCell<Vec<Notice>>;
}

/// Runs `work` (a mutation) and returns what it collected for SQLite's
/// in-process fan-out, to publish once it has returned.
pub async fn collect<F: Future>(work: F) -> (F::Output, Vec<Notice>) {
    COLLECTED
        .scope(RefCell::new(Vec::new()), async move {
            let output = work.await;
            let collected = COLLECTED.with(|c| c.take());
            (output, collected)
        })
        .await
}

/// Announces `event` about `subject` from inside the change's transaction
/// (see the module's notes for each backend).
pub async fn notify(tx: &impl ConnectionTrait, event: EventType, subject: Subject<'_>) -> Result<(), AppError> {
    let notice = Notice::of(event, subject);
    match tx.get_database_backend() {
        DatabaseBackend::Postgres => {
            let payload = serde_json::to_string(&notice).map_err(|e| AppError::Internal(e.to_string()))?;
            tx.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        _ => {
            let _ = COLLECTED.try_with(|c| c.borrow_mut().push(notice));
        }
    }
    Ok(())
}

/// Puts every notice of the PostgreSQL at `url` on `bus` until `stop`,
/// reconnecting after a lost connection.
pub async fn listen_postgres(url: String, bus: Bus, mut stop: watch::Receiver<bool>) {
    use sea_orm::sqlx::postgres::PgListener;
    while !*stop.borrow() {
        let mut listener = match PgListener::connect(&url).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(event = "live_listener_failed", error = %e, "cannot LISTEN for live events; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(event = "live_listener_failed", error = %e, "cannot LISTEN for live events; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tracing::debug!(event = "live_listener_started", channel = CHANNEL, "listening for live events");
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    Ok(n) => match serde_json::from_str::<Notice>(n.payload()) {
                        Ok(notice) => bus.publish(notice),
                        Err(e) => tracing::warn!(event = "live_notice_malformed", error = %e, "ignoring a malformed live notice"),
                    },
                    Err(e) => {
                        tracing::warn!(event = "live_listener_failed", error = %e, "live events connection lost; reconnecting");
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }
}
