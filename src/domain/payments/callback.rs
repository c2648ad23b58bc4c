//! The card processor's signed callbacks: a pending charge approved (the
//! payment is captured then) or refused. Each event is verified by the
//! processor (signature over the raw body, timestamp within tolerance) and
//! applied at most once: a repeated event finds the payment already settled
//! and changes nothing.

use std::time::Instant;

use chrono::Utc;
use entity::{PaymentStatus, order, payment};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::db::{self, RetryPolicy};
use crate::domain::audit::AuditContext;
use crate::domain::money::MoneyPolicy;
use crate::domain::now;
use crate::domain::payments::capture::{compensate, processor_of, settle_capture};
use crate::domain::payments::processor::{ProcessorError, ProcessorEvent, processor_status};
use crate::domain::payments::{audit_payment, log_captured, wallets_for};
use crate::domain::wallets::MoneyTx;
use crate::error::AppError;

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The pending payment was captured.
    Captured(payment::Model),
    /// The pending payment's card was refused; the buyer may try another.
    Declined(payment::Model),
    /// The payment had been voided meanwhile: the charge went back to the card.
    Returned(payment::Model),
    /// Already applied (a repeated event): nothing changed.
    AlreadyApplied(payment::Model),
}

/// Verifies and applies one processor callback.
pub async fn processor_event(
    db: &DatabaseConnection,
    policy: &MoneyPolicy,
    audit_context: &AuditContext,
    signature: Option<&str>,
    body: &[u8],
) -> Result<EventOutcome, AppError> {
    let processor = processor_of(policy)?;
    let event = processor.verify_event(signature, body, Utc::now()).map_err(|e| match e {
        ProcessorError::BadEvent(why) => {
            tracing::warn!(event = "payment_processor_event_refused", reason = %why, "processor callback refused");
            AppError::Unauthenticated(why.into())
        }
        other => AppError::Validation { field: None, message: other.to_string() },
    })?;
    let reference = match &event {
        ProcessorEvent::ChargeSucceeded { reference } | ProcessorEvent::ChargeFailed { reference, .. } => {
            reference.clone()
        }
    };
    let started = Instant::now();
    let applied = db::retry(
        RetryPolicy::MONEY,
        "payment_processor_event_retry",
        uuid::Uuid::nil(),
        AppError::is_lost_race,
        || apply(db, policy, audit_context, &event, &reference),
    )
    .await;
    let (outcome, attempts) = match applied {
        // An approved charge Courier refuses to book for good (a limit):
        // the charge goes back to the card, as on the synchronous path.
        Err(err) if err.wire().is_some() && matches!(event, ProcessorEvent::ChargeSucceeded { .. }) => {
            tracing::warn!(
                event = "payment_capture_failed",
                reference,
                code = err.code().as_str(),
                error = %err,
                "an approved charge cannot be booked; returning it"
            );
            (refuse_charge(db, audit_context, &reference).await?, 1)
        }
        other => other?,
    };
    match &outcome {
        EventOutcome::Captured(p) => log_captured(p, started, attempts, "processorCallback"),
        EventOutcome::Returned(p) => {
            compensate(policy, p, &reference, "approved, but voided or refused by Courier").await;
        }
        EventOutcome::Declined(p) => {
            tracing::warn!(event = "payment_declined", payment.id = %p.id, "the card processor declined the card later");
        }
        EventOutcome::AlreadyApplied(p) => {
            tracing::info!(event = "payment_processor_event_repeated", payment.id = %p.id, "processor callback already applied");
        }
    }
    Ok(outcome)
}

async fn apply(
    db: &DatabaseConnection,
    policy: &MoneyPolicy,
    audit_context: &AuditContext,
    event: &ProcessorEvent,
    reference: &str,
) -> Result<EventOutcome, AppError> {
    let tx = MoneyTx::begin(db, policy).await?;
    let current = payment::Entity::find()
        .filter(payment::Column::ProcessorRef.eq(reference))
        .lock(LockType::Update)
        .one(&*tx)
        .await?
        .ok_or_else(|| AppError::not_found("Payment", reference))?;
    let pending = current.status == PaymentStatus::Initiated
        && current.processor_status.as_deref() == Some(processor_status::PENDING);
    let outcome = match event {
        ProcessorEvent::ChargeSucceeded { .. } if pending => {
            let order = order::Entity::find_by_id(current.order_id)
                .one(&*tx)
                .await?
                .ok_or_else(|| AppError::Internal(format!("payment {} has no order", current.id)))?;
            let (wallets, _) = wallets_for(&*tx, &order).await?;
            let captured = settle_capture(&tx, &current, wallets, policy, Some(reference))
                .await?
                .ok_or_else(|| AppError::Internal("a locked pending payment changed".into()))?;
            audit_payment(&tx, "payment.captured", Some(&current), &captured, audit_context).await?;
            EventOutcome::Captured(captured)
        }
        ProcessorEvent::ChargeSucceeded { .. }
            if current.status == PaymentStatus::Failed
                && current.processor_status.as_deref() == Some(processor_status::PENDING) =>
        {
            // Voided (the order was cancelled) while the processor decided.
            let returned = set_processor_status(&tx, &current, processor_status::REFUNDED, audit_context).await?;
            EventOutcome::Returned(returned)
        }
        ProcessorEvent::ChargeFailed { reason, .. } if pending => {
            let declined = set_processor_status(&tx, &current, processor_status::DECLINED, audit_context).await?;
            tracing::info!(event = "payment_processor_declined", payment.id = %current.id, reason, "pending charge refused");
            EventOutcome::Declined(declined)
        }
        _ => EventOutcome::AlreadyApplied(current),
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Marks a pending payment's approved charge as returned (the payment stays
/// INITIATED, so the buyer may pay another way) and answers `Returned`, or
/// `AlreadyApplied` when the payment is no longer pending.
async fn refuse_charge(
    db: &DatabaseConnection,
    audit_context: &AuditContext,
    reference: &str,
) -> Result<EventOutcome, AppError> {
    let tx = db::begin_write(db, db::Isolation::ReadCommitted).await?;
    let current = payment::Entity::find()
        .filter(payment::Column::ProcessorRef.eq(reference))
        .lock(LockType::Update)
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("Payment", reference))?;
    if current.status != PaymentStatus::Initiated
        || current.processor_status.as_deref() != Some(processor_status::PENDING)
    {
        return Ok(EventOutcome::AlreadyApplied(current));
    }
    let returned = set_processor_status(&tx, &current, processor_status::REFUNDED, audit_context).await?;
    tx.commit().await?;
    Ok(EventOutcome::Returned(returned))
}

async fn set_processor_status(
    tx: &sea_orm::DatabaseTransaction,
    current: &payment::Model,
    status: &str,
    audit_context: &AuditContext,
) -> Result<payment::Model, AppError> {
    let now = now();
    payment::Entity::update_many()
        .col_expr(payment::Column::ProcessorStatus, Expr::value(status))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .exec(tx)
        .await?;
    let after = payment::Model { processor_status: Some(status.to_owned()), updated_at: now, ..current.clone() };
    let action = if status == processor_status::DECLINED { "payment.declined" } else { "payment.charge_returned" };
    audit_payment(tx, action, Some(current), &after, audit_context).await?;
    Ok(after)
}
