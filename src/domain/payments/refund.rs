//! Giving money back: admins refund part or all of a captured payment, and
//! cancelling an order voids its initiated payment or refunds what is left
//! of its captured one, in the cancel transaction.

use entity::{PaymentStatus, payment};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveEnum, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, RetryPolicy, begin_money};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::idempotency::{self, Keyed};
use crate::domain::money::{Currency, MoneyPolicy, minor_text};
use crate::domain::payments::{LIVE, audit_payment, payment_snapshot, raced};
use crate::domain::wallets;
use crate::domain::{Viewer, now};
use crate::error::AppError;

/// A refund as an admin asks for it.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    /// The payment.
    pub payment_id: Uuid,
    /// How much, in the payment's currency.
    pub amount: Decimal,
    /// Why (1 to 500 characters).
    pub reason: String,
    /// The client's idempotency key.
    pub idempotency_key: &'a str,
}

/// A refund that was made, for the log.
#[derive(Debug, Clone)]
pub struct Refunded {
    /// The payment after the refund.
    pub payment: payment::Model,
    /// How much this refund gave back, in minor units.
    pub amount_minor: i64,
}

/// Logs `payment_refunded`.
pub fn log_refunded(refund: &Refunded, reason: &str, automatic: bool, actor: Option<Uuid>) {
    let p = &refund.payment;
    tracing::info!(
        event = "payment_refunded",
        payment.id = %p.id,
        order.id = %p.order_id,
        amount = %minor_text(refund.amount_minor, &p.currency),
        refunded_total = %minor_text(p.refunded_minor, &p.currency),
        currency = %p.currency,
        status = %p.status.to_value(),
        reason,
        automatic,
        actor = ?actor,
        "payment refunded"
    );
}

/// Refunds part or all of a captured payment (admins), reversing its legs
/// proportionally; never more than captured minus earlier refunds.
pub async fn refund(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    request: RefundRequest<'_>,
) -> Result<payment::Model, AppError> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("Only admins refund payments".into()));
    }
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::validation("reason", "A reason has 1 to 500 characters"));
    }
    let keyed = Keyed {
        actor: viewer.id,
        key: request.idempotency_key,
        operation: "refundPayment",
        input: vec![
            ("paymentId", request.payment_id.to_string()),
            ("amount", request.amount.normalize().to_string()),
            ("reason", reason.clone()),
        ],
    };
    let (payment_id, amount, reason) = (request.payment_id, request.amount, reason.as_str());
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let ticket = &ticket;
        let (done, _) =
            db::retry(RetryPolicy::MONEY, "payment_refund_retry", payment_id, AppError::is_retryable, || async move {
                let tx = begin_money(db).await?;
                let current = payment::Entity::find_by_id(payment_id)
                    .one(&tx)
                    .await?
                    .ok_or_else(|| AppError::not_found("Payment", payment_id))?;
                let minor = Currency::parse(&current.currency)?.to_minor(amount, "amount")?;
                if minor <= 0 {
                    return Err(AppError::validation("amount", "A refund amount is positive"));
                }
                let refunded = apply_refund(&tx, &current, minor, reason, audit_context).await?;
                let done = ticket.complete(&tx, refunded.payment.clone()).await?;
                tx.commit().await?;
                Ok((done, refunded))
            })
            .await?;
        log_refunded(&done.1, reason, false, Some(viewer.id));
        Ok(done.0)
    })
    .await
}

/// Refunds `refund_minor` of `current` in the caller's money transaction.
async fn apply_refund(
    tx: &DatabaseTransaction,
    current: &payment::Model,
    refund_minor: i64,
    reason: &str,
    audit_context: &AuditContext,
) -> Result<Refunded, AppError> {
    let currency = current.currency.as_str();
    let refundable = current.amount_minor - current.refunded_minor;
    match current.status {
        PaymentStatus::Captured | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => {}
        _ => {
            return Err(AppError::rule(
                "PAYMENT_NOT_CAPTURED",
                "Only a captured payment can be refunded",
                json!({ "paymentId": current.id, "status": current.status.to_value() }),
            ));
        }
    }
    if refund_minor > refundable {
        return Err(AppError::rule(
            "REFUND_EXCEEDS_CAPTURED",
            "The refund is more than what is left of the captured amount",
            json!({
                "paymentId": current.id,
                "captured": minor_text(current.amount_minor, currency),
                "alreadyRefunded": minor_text(current.refunded_minor, currency),
                "refundable": minor_text(refundable, currency),
                "requested": minor_text(refund_minor, currency),
                "currency": currency,
            }),
        ));
    }
    let captured = wallets::captured(tx, current.id)
        .await?
        .filter(|c| c.refunded_minor == current.refunded_minor)
        .ok_or_else(|| AppError::Internal(format!("payment {} disagrees with its ledger entries", current.id)))?;
    let now = now();
    wallets::post(
        tx,
        wallets::refund_legs(current.id, captured, refund_minor).to_vec(),
        Some(current.id),
        currency,
        now,
    )
    .await?;
    let refunded_minor = current.refunded_minor + refund_minor;
    let status =
        if refunded_minor == current.amount_minor { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
    let moved = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(status.to_value()))
        .col_expr(payment::Column::RefundedMinor, Expr::value(refunded_minor))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .filter(payment::Column::RefundedMinor.eq(current.refunded_minor))
        .exec(tx)
        .await?;
    if moved.rows_affected != 1 {
        return Err(raced());
    }
    let after = payment::Model { status, refunded_minor, updated_at: now, ..current.clone() };
    audit::record(
        tx,
        Change {
            action: "payment.refunded",
            entity_type: "Payment",
            entity_id: current.id,
            old: Some(payment_snapshot(current)),
            new: Some(json!({
                "status": status.to_value(),
                "refundedMinor": refunded_minor,
                "refundMinor": refund_minor,
                "reason": reason,
            })),
            context: audit_context,
        },
    )
    .await?;
    Ok(Refunded { payment: after, amount_minor: refund_minor })
}

/// What cancelling an order did to its payment.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// An initiated payment was voided (FAILED); no money had moved.
    Voided(payment::Model),
    /// A captured payment was refunded in full.
    Refunded(Refunded),
}

/// In the cancel transaction (a money transaction): voids the order's
/// initiated payment or refunds what is left of its captured one.
pub async fn settle_cancelled_order(
    tx: &DatabaseTransaction,
    order_id: Uuid,
    reason: &str,
    audit_context: &AuditContext,
) -> Result<Option<Settlement>, AppError> {
    let live = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .filter(payment::Column::Status.is_in(LIVE))
        .one(tx)
        .await?;
    let Some(current) = live else { return Ok(None) };
    if current.status == PaymentStatus::Initiated {
        let now = now();
        let voided = payment::Model { status: PaymentStatus::Failed, updated_at: now, ..current.clone() };
        let mut active: payment::ActiveModel = current.clone().into();
        active.status = Set(PaymentStatus::Failed);
        active.updated_at = Set(now);
        payment::Entity::update(active).exec(tx).await?;
        audit_payment(tx, "payment.voided", Some(&current), &voided, audit_context).await?;
        return Ok(Some(Settlement::Voided(voided)));
    }
    let remaining = current.amount_minor - current.refunded_minor;
    let refunded = apply_refund(tx, &current, remaining, reason, audit_context).await?;
    Ok(Some(Settlement::Refunded(refunded)))
}
