//! Webhooks: events out to other systems.
//!
//! - [`events`]: a domain change writes one outbox row per matching active
//!   subscription *in its own transaction* ([`events::emit`]), so there is no
//!   event without its change and no change without its event.
//! - [`subscriptions`]: the admin's subscriptions (URL, event types, secret).
//! - [`deliveries`]: the outbox rows as the admin reads, retries and prunes them.
//! - [`worker`]: claims due rows, POSTs them signed, retries with backoff,
//!   dead-letters after the maximum, behind a per-host [`breaker`].
//! - [`targets`]: which URLs may be called (no private addresses: SSRF).

/// The per-host circuit breaker (a pure state machine).
pub mod breaker;
/// Outbox rows as the admin reads, retries and prunes them.
pub mod deliveries;
/// Event types, payloads and writing them to the outbox.
pub mod events;
/// The admin's webhook subscriptions.
pub mod subscriptions;
/// Which targets may be called, checked again after DNS resolution.
pub mod targets;
/// The delivery worker.
pub mod worker;

pub use events::{EventType, emit};

use std::sync::Arc;
use std::time::Duration;

/// What the API and the worker share about webhooks: the policy, and this
/// instance's circuit breakers.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// How deliveries are made.
    pub policy: WebhookPolicy,
    /// This instance's breakers, one per host.
    pub breakers: Arc<worker::Breakers>,
}

impl Webhooks {
    /// Fresh breakers under `policy`.
    pub fn new(policy: WebhookPolicy) -> Self {
        let breakers = Arc::new(worker::Breakers::new(policy.breaker));
        Self { policy, breakers }
    }
}

/// How webhooks are delivered (from `COURIER_WEBHOOK_*`).
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// How long a receiver has to answer one attempt.
    pub timeout: Duration,
    /// Attempts before a row is dead-lettered (FAILED).
    pub max_attempts: i32,
    /// The first retry's delay; each further retry doubles it (with jitter).
    pub backoff: Duration,
    /// Whether private, loopback and link-local targets are allowed (local
    /// development and tests only).
    pub allow_private: bool,
    /// How often an idle worker looks for due rows.
    pub poll: Duration,
    /// Rows one worker claims at once.
    pub batch: u64,
    /// The per-host circuit breaker.
    pub breaker: breaker::Settings,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            backoff: Duration::from_secs(10),
            allow_private: false,
            poll: Duration::from_millis(500),
            batch: 20,
            breaker: breaker::Settings::default(),
        }
    }
}
