//! Business rules and transactions. Nothing here knows about GraphQL or
//! HTTP: functions take a connection (or transaction) and a [`Viewer`], and
//! return `Result<T, AppError>`.
//!
//! Shared rules sit at the top; each aggregate has a folder, with a module
//! file that documents it and re-exports what the rest of the crate uses.

/// Who may see what, as SQL conditions shared by lookups, lists and loaders.
pub mod access;
/// The audit trail: recording changes in their transaction, reading, pruning.
pub mod audit;
/// Client idempotency keys for money movements (payments and top-ups).
pub mod idempotency;
/// The ids a statement is keyed by: listed, or one array (PostgreSQL).
pub mod ids;
/// Live events for subscriptions: after-commit fan-out to every instance.
pub mod live;
/// Fetching any entity by kind and id (for `node` and `nodes`).
pub mod lookup;
/// Exact money: currencies, minor units, fees and the money policy.
pub mod money;
/// Orders: rules, lifecycle and reads.
pub mod orders;
/// Keyset pagination, flat and per parent.
pub mod pagination;
/// Payments: initiate, capture, refund and reads.
pub mod payments;
/// Delivery agents, shipping assignments and their lifecycle.
pub mod shipping;
/// Signed messages (HMAC-SHA256 over a timestamp and the body).
pub mod signing;
/// Text input rules: trimmed, bounded, no control characters.
pub mod text;
/// Users: authentication and reads.
pub mod users;
/// Who is asking: viewers kept while PostgreSQL announces user changes.
pub mod viewers;
/// Wallets, the ledger, top-ups and the books' verification.
pub mod wallets;
/// Webhooks: the outbox, subscriptions, and the delivery worker.
pub mod webhooks;

use chrono::{DateTime, SubsecRound, Utc};
use entity::UserRole;
use uuid::Uuid;

/// The authenticated user a request acts for, with the role read from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user's id.
    pub id: Uuid,
    /// The user's current role.
    pub role: UserRole,
}

impl Viewer {
    /// Whether the viewer operates the platform.
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }
}

/// A new primary key: UUIDv7, time-ordered so B-tree inserts stay local.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The current time at the precision both databases keep (microseconds),
/// so a mutation's answer and a later read show the same instant.
pub fn now() -> DateTime<Utc> {
    as_stored(Utc::now())
}

/// `at` as both databases store it: cut to the microsecond, and a leap
/// second (chrono's second 59 and beyond) as the first moment of the next
/// second, as PostgreSQL keeps it.
pub fn as_stored(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    let at = at.trunc_subsecs(6);
    match at.nanosecond().checked_sub(1_000_000_000) {
        Some(fraction) => {
            at.with_nanosecond(fraction).and_then(|a| a.checked_add_signed(chrono::TimeDelta::seconds(1))).unwrap_or(at)
        }
        None => at,
    }
}

/// Whether `at` falls in the years 1 to 9999 (UTC): PostgreSQL cannot store
/// every instant chrono can parse, and SQLite compares timestamps as text,
/// which only orders four-digit years correctly.
pub fn in_storable_years(at: &DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&at.year())
}

/// Refuses a timestamp outside the years 1 to 9999 ([`in_storable_years`]).
pub fn check_timestamp(field: &str, at: &DateTime<Utc>) -> Result<(), crate::error::AppError> {
    if in_storable_years(at) {
        Ok(())
    } else {
        Err(crate::error::AppError::validation(field, format!("`{field}` must be between the years 1 and 9999")))
    }
}
