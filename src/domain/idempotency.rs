//! Client idempotency keys for the money mutations.
//!
//! The first request with a key claims it (a row with no response yet); the
//! operation then stores its response in its own transaction, so the money
//! movement and the stored answer commit together. A repeat with the same
//! key and input gets the stored answer and changes nothing; with other input
//! it is `IDEMPOTENCY_KEY_REUSED`; while the first is still running it is a
//! retryable CONFLICT. Deterministic errors (bad input, not allowed, a rule)
//! are stored like successes; transient ones release the key so a retry runs
//! again. Keys expire after the configured time and `courier idempotency
//! prune` deletes them.

use std::future::Future;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::idempotency_key;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::new_id;
use crate::error::{AppError, WireError};

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A claim with no stored response this old belongs to a request that died
/// (every request finishes well within it), so a repeat may take it over.
const ABANDONED_AFTER: Duration = Duration::minutes(2);

/// One keyed request.
#[derive(Debug, Clone)]
pub struct Keyed<'a> {
    /// Who sent it; keys are unique per actor.
    pub actor: Uuid,
    /// The client's key.
    pub key: &'a str,
    /// The mutation, e.g. `capturePayment`.
    pub operation: &'static str,
    /// The request input, as `(field, value)` pairs in a fixed order.
    pub input: Vec<(&'static str, String)>,
}

/// The right to run a keyed operation once. Only [`Ticket::complete`] turns
/// it into a [`Completed`] result, so an operation cannot forget to store
/// its response.
/// A ticket is its key row plus the claim's time: a claim that was taken
/// over (see `claim`) can no longer store anything, so a slow first request
/// and the repeat that took its key over cannot both succeed.
#[derive(Debug)]
pub struct Ticket {
    id: Uuid,
    claimed_at: DateTime<Utc>,
}

/// A result whose response has been stored with its key.
#[derive(Debug)]
pub struct Completed<T>(T);

impl<T> Completed<T> {
    /// The stored value.
    pub fn value(&self) -> &T {
        &self.0
    }
}

/// What is stored with a key.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
enum Outcome<T> {
    Ok(T),
    Error(WireError),
}

impl Ticket {
    /// Stores `value` as the key's response inside the operation's
    /// transaction `tx`, so both commit or neither does.
    pub async fn complete<T: Serialize>(&self, tx: &impl ConnectionTrait, value: T) -> Result<Completed<T>, AppError> {
        match store(tx, self, &Outcome::Ok(&value)).await? {
            true => Ok(Completed(value)),
            // Taken over by a repeat: this attempt must not commit.
            false => Err(AppError::Conflict {
                message: "This request's idempotency key was taken over by a newer request".into(),
                context: json!({ "retryable": false, "reason": "IDEMPOTENCY_KEY_SUPERSEDED" }),
            }),
        }
    }
}

/// Checks a client key: 1 to 255 characters, no control characters.
pub fn validate_key(key: &str) -> Result<(), AppError> {
    let len = key.chars().count();
    if len == 0 || len > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(AppError::validation(
            "idempotencyKey",
            format!("An idempotency key has 1 to {MAX_KEY_LEN} printable characters"),
        ));
    }
    Ok(())
}

/// SHA-256 of the operation and its input; equal input, equal hash.
pub fn fingerprint(operation: &str, input: &[(&'static str, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    for (field, value) in input {
        // Length-prefixed, so no two different inputs concatenate alike.
        for part in [field.as_bytes(), value.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    format!("{:x}", hasher.finalize())
}

/// Runs `operation` at most once per key (see the module docs).
pub async fn run<T, F, Fut>(
    db: &DatabaseConnection,
    ttl: Duration,
    request: Keyed<'_>,
    operation: F,
) -> Result<T, AppError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(Ticket) -> Fut,
    Fut: Future<Output = Result<Completed<T>, AppError>>,
{
    validate_key(request.key)?;
    let hash = fingerprint(request.operation, &request.input);
    let ticket = match claim(db, ttl, &request, &hash).await? {
        Claim::Fresh(ticket) => ticket,
        Claim::Stored(response) => {
            crate::telemetry::metrics::idempotent_replay(request.operation);
            tracing::info!(
                event = "idempotent_replay",
                operation = request.operation,
                actor = %request.actor,
                "answered from a stored idempotent response"
            );
            return match serde_json::from_value::<Outcome<T>>(response) {
                Ok(Outcome::Ok(value)) => Ok(value),
                Ok(Outcome::Error(wire)) => Err(AppError::Replayed(Box::new(wire))),
                Err(e) => Err(AppError::Internal(format!("stored idempotent response is unreadable: {e}"))),
            };
        }
    };
    let claim = Ticket { id: ticket.id, claimed_at: ticket.claimed_at };
    match operation(ticket).await {
        Ok(Completed(value)) => Ok(value),
        Err(err) => {
            // A deterministic answer is kept; a transient failure frees the
            // key (only if nothing was stored, in case a commit did land).
            let kept = match err.wire() {
                Some(wire) => store(db, &claim, &Outcome::<()>::Error(wire)).await.map(|_| ()),
                None => release(db, &claim).await,
            };
            if let Err(e) = kept {
                tracing::error!(event = "idempotency_key_update_failed", error = %e, "could not settle an idempotency key");
            }
            Err(err)
        }
    }
}

enum Claim {
    Fresh(Ticket),
    Stored(Json),
}

fn in_flight() -> AppError {
    AppError::Conflict {
        message: "A request with this idempotency key is still running, retry shortly".into(),
        context: json!({ "retryable": true, "reason": "IDEMPOTENCY_KEY_IN_FLIGHT" }),
    }
}

async fn claim(db: &DatabaseConnection, ttl: Duration, request: &Keyed<'_>, hash: &str) -> Result<Claim, AppError> {
    use idempotency_key::Column as C;
    // Microseconds, as both databases keep them, so the claim time compares equal.
    let now = Utc::now().trunc_subsecs(6);
    let id = new_id();
    let row = idempotency_key::ActiveModel {
        id: Set(id),
        actor_id: Set(request.actor),
        key: Set(request.key.to_owned()),
        operation: Set(request.operation.to_owned()),
        request_hash: Set(hash.to_owned()),
        response: Set(None),
        created_at: Set(now),
        completed_at: Set(None),
    };
    let inserted = idempotency_key::Entity::insert(row)
        .on_conflict(OnConflict::columns([C::ActorId, C::Key]).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Fresh(Ticket { id, claimed_at: now }));
    }
    let existing = idempotency_key::Entity::find()
        .filter(C::ActorId.eq(request.actor))
        .filter(C::Key.eq(request.key))
        .one(db)
        .await?
        // Released by a failed first attempt a moment ago: try again.
        .ok_or_else(in_flight)?;

    let expired = existing.created_at < now - ttl;
    let abandoned = existing.response.is_none() && existing.created_at < now - ABANDONED_AFTER;
    if expired || abandoned {
        // Take the key over; of several repeats doing this at once, one
        // wins (the claim time changes), and an abandoned claim is taken only
        // if its request has not stored an answer after all.
        let mut takeover = idempotency_key::Entity::update_many()
            .col_expr(C::Operation, Expr::value(request.operation))
            .col_expr(C::RequestHash, Expr::value(hash))
            .col_expr(C::Response, Expr::value(Option::<Json>::None))
            .col_expr(C::CreatedAt, Expr::value(now))
            .col_expr(C::CompletedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::Id.eq(existing.id))
            .filter(C::CreatedAt.eq(existing.created_at));
        if !expired {
            takeover = takeover.filter(C::Response.is_null());
        }
        let taken = takeover.exec(db).await?;
        return match taken.rows_affected {
            1 => Ok(Claim::Fresh(Ticket { id: existing.id, claimed_at: now })),
            _ => Err(in_flight()),
        };
    }
    if existing.operation != request.operation || existing.request_hash != hash {
        return Err(AppError::rule(
            "IDEMPOTENCY_KEY_REUSED",
            "This idempotency key was already used with a different request",
            json!({ "idempotencyKey": request.key, "firstUsedAt": existing.created_at, "operation": existing.operation }),
        ));
    }
    existing.response.map(Claim::Stored).ok_or_else(in_flight)
}

/// Stores the outcome under a claim still held (not taken over, nothing
/// stored yet); `false` when the claim was lost.
async fn store<T: Serialize>(
    db: &impl ConnectionTrait,
    claim: &Ticket,
    outcome: &Outcome<T>,
) -> Result<bool, AppError> {
    use idempotency_key::Column as C;
    let response =
        serde_json::to_value(outcome).map_err(|e| AppError::Internal(format!("response not serializable: {e}")))?;
    let stored = idempotency_key::Entity::update_many()
        .col_expr(C::Response, Expr::value(response))
        .col_expr(C::CompletedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(claim.id))
        .filter(C::CreatedAt.eq(claim.claimed_at))
        .filter(C::Response.is_null())
        .exec(db)
        .await?;
    Ok(stored.rows_affected == 1)
}

/// Gives an unfinished claim back. Deleting it twice is harmless, so a
/// delete that met a dead connection runs once more: a key left claimed
/// would refuse its own retries until it is abandoned.
async fn release(db: &DatabaseConnection, claim: &Ticket) -> Result<(), AppError> {
    use idempotency_key::Column as C;
    crate::db::once_more_if_lost(|| {
        idempotency_key::Entity::delete_many()
            .filter(C::Id.eq(claim.id))
            .filter(C::CreatedAt.eq(claim.claimed_at))
            .filter(C::Response.is_null())
            .exec(db)
    })
    .await?;
    Ok(())
}

/// Deletes keys first seen more than `older_than` ago; returns how many.
pub async fn prune(db: &DatabaseConnection, older_than: Duration) -> Result<u64, AppError> {
    let cutoff = Utc::now().checked_sub_signed(older_than).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let deleted =
        idempotency_key::Entity::delete_many().filter(idempotency_key::Column::CreatedAt.lt(cutoff)).exec(db).await?;
    tracing::info!(
        event = "idempotency_keys_pruned",
        deleted = deleted.rows_affected,
        cutoff = %cutoff,
        "idempotency keys pruned"
    );
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_and_printable() {
        assert!(validate_key("capture-1").is_ok());
        assert!(validate_key(&"k".repeat(255)).is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        assert!(validate_key("a\nb").is_err());
    }

    #[test]
    fn fingerprints_depend_on_operation_and_every_field() {
        let input = |amount: &str| vec![("paymentId", "p1".to_owned()), ("amount", amount.to_owned())];
        let a = fingerprint("refundPayment", &input("1.00"));
        assert_eq!(a, fingerprint("refundPayment", &input("1.00")));
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint("refundPayment", &input("1.01")));
        assert_ne!(a, fingerprint("capturePayment", &input("1.00")));
        // Boundaries between fields matter.
        assert_ne!(
            fingerprint("x", &[("a", "bc".to_owned())]),
            fingerprint("x", &[("a", "b".to_owned()), ("", "c".to_owned())])
        );
    }
}
