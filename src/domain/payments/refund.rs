//! Giving money back: admins refund part or all of a captured payment, and
//! cancelling an order voids its initiated payment or refunds what is left
//! of its captured one, in the cancel transaction.

use entity::{PaymentMethod, PaymentStatus, payment};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, RetryPolicy};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::idempotency::{self, Keyed};
use crate::domain::money::{Currency, MoneyLimits, MoneyPolicy, minor_text};
use crate::domain::payments::capture::{processor_of, processor_unavailable};
use crate::domain::payments::processor::{self, ProcessorError, processor_status};
use crate::domain::payments::{LIVE, audit_payment, payment_snapshot, raced};
use crate::domain::wallets::{self, MoneyTx};
use crate::domain::webhooks::{self, EventType, events::Subject};
use crate::domain::{Viewer, now};
use crate::error::AppError;
use crate::telemetry::metrics;

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
        let result =
            db::retry(RetryPolicy::MONEY, "payment_refund_retry", payment_id, AppError::is_lost_race, || async move {
                let tx = MoneyTx::begin(db, policy).await?;
                // The payment row is locked first: racing refunds and
                // cancels queue here, and a card refund asks the processor
                // only once per refunded-so-far amount.
                let current = payment::Entity::find_by_id(payment_id)
                    .lock(LockType::Update)
                    .one(&*tx)
                    .await?
                    .ok_or_else(|| AppError::not_found("Payment", payment_id))?;
                let minor = Currency::parse(&current.currency)?.to_minor(amount, "amount")?;
                if minor <= 0 {
                    return Err(AppError::validation("amount", "A refund amount is positive"));
                }
                let refunded = apply_refund(&tx, policy, &current, minor, reason, audit_context).await?;
                let done = ticket.complete(&*tx, refunded.payment.clone()).await?;
                tx.commit().await?;
                Ok((done, refunded))
            })
            .await;
        metrics::refund(metrics::outcome(&result, "refunded"));
        let (done, _) = result?;
        log_refunded(&done.1, reason, false, Some(viewer.id));
        Ok(done.0)
    })
    .await
}

/// Refunds `refund_minor` of `current` (whose row the caller has locked) in
/// the caller's money transaction. A card payment's refund goes back to the
/// card through the processor: the refund legs credit the buyer's wallet
/// and a return leg takes the same amount out of the books again.
async fn apply_refund(
    tx: &MoneyTx,
    policy: &MoneyPolicy,
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
    let captured =
        wallets::captured(&**tx, current.id)
            .await?
            .filter(|c| c.refunded_minor == current.refunded_minor)
            .ok_or_else(|| AppError::Internal(format!("payment {} disagrees with its ledger entries", current.id)))?;
    let now = now();
    let mut legs = wallets::refund_legs(current.id, captured, refund_minor).to_vec();
    let card = card_reference(current);
    if card.is_some() {
        legs.push(wallets::funding_leg(
            captured.wallets.buyer,
            -refund_minor,
            format!("payment_{}_refund_{}_card_return", current.id, current.refunded_minor),
        ));
    }
    let ceiling = MoneyLimits::minor(policy.limits.wallet_balance, currency);
    wallets::post(tx, legs, Some(current.id), currency, ceiling, now).await?;
    // Only once the books accept the refund is the card refunded; if the
    // commit then fails, a retry sends the same refund (same key) again.
    if let Some(reference) = card {
        refund_to_card(policy, current, reference, refund_minor).await?;
    }
    let refunded_minor = current.refunded_minor + refund_minor;
    let status =
        if refunded_minor == current.amount_minor { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
    let moved = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(status.to_value()))
        .col_expr(payment::Column::RefundedMinor, Expr::value(refunded_minor))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .filter(payment::Column::RefundedMinor.eq(current.refunded_minor))
        .exec(&**tx)
        .await?;
    if moved.rows_affected != 1 {
        return Err(raced());
    }
    let after = payment::Model { status, refunded_minor, updated_at: now, ..current.clone() };
    audit::record(
        &**tx,
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
    webhooks::emit(&**tx, EventType::PaymentRefunded, Subject::Payment(&after), audit_context).await?;
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

/// The processor's charge id of a card payment it approved (card money
/// goes back to the card); `None` for money that came otherwise.
fn card_reference(p: &payment::Model) -> Option<&str> {
    (p.method == PaymentMethod::Card && p.processor_status.as_deref() == Some(processor_status::APPROVED))
        .then_some(p.processor_ref.as_deref())
        .flatten()
}

/// Asks the processor to return `refund_minor` to the card. The key is the
/// payment and how much was refunded before, so a retried refund is the same
/// refund at the processor, and two refunds never share a key (the payment
/// row is locked).
async fn refund_to_card(
    policy: &MoneyPolicy,
    current: &payment::Model,
    reference: &str,
    refund_minor: i64,
) -> Result<(), AppError> {
    let processor = processor_of(policy)?;
    let key = format!("payment_{}_refund_{}", current.id, current.refunded_minor);
    let request = processor::RefundRequest {
        reference,
        amount_minor: refund_minor,
        currency: &current.currency,
        idempotency_key: &key,
    };
    match tokio::time::timeout(policy.processor_timeout, processor.refund(&request)).await {
        Ok(Ok(refund_id)) => {
            tracing::info!(event = "payment_card_refunded", payment.id = %current.id, reference, refund_id, "refund sent to the card");
            Ok(())
        }
        Ok(Err(ProcessorError::Refused(why))) => Err(AppError::rule(
            "REFUND_REFUSED_BY_PROCESSOR",
            "The card processor refused the refund",
            json!({ "paymentId": current.id, "reason": why }),
        )),
        Ok(Err(err)) => {
            tracing::error!(event = "payment_processor_failed", payment.id = %current.id, error = %err, "card refund failed");
            Err(processor_unavailable())
        }
        Err(_) => {
            tracing::error!(event = "payment_processor_timeout", payment.id = %current.id, "card refund timed out");
            Err(processor_unavailable())
        }
    }
}

/// In the cancel transaction: voids the order's initiated payment (locked
/// first, so a racing capture either went first and is refunded, or finds
/// it voided) or refunds what is left of its captured one.
pub async fn settle_cancelled_order(
    tx: &MoneyTx,
    policy: &MoneyPolicy,
    order_id: Uuid,
    reason: &str,
    audit_context: &AuditContext,
) -> Result<Option<Settlement>, AppError> {
    let Some(current) = live_locked(tx, order_id).await? else { return Ok(None) };
    if current.status == PaymentStatus::Initiated {
        return Ok(Some(Settlement::Voided(void(tx, &current, audit_context).await?)));
    }
    let remaining = current.amount_minor - current.refunded_minor;
    let refunded = apply_refund(tx, policy, &current, remaining, reason, audit_context).await?;
    Ok(Some(Settlement::Refunded(refunded)))
}

/// Whether the order has a live payment (initiated, captured or partly refunded).
pub async fn has_live(db: &impl sea_orm::ConnectionTrait, order_id: Uuid) -> Result<bool, AppError> {
    let found = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .filter(payment::Column::Status.is_in(LIVE))
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The order's live payment, its row locked.
pub async fn live_locked(tx: &DatabaseTransaction, order_id: Uuid) -> Result<Option<payment::Model>, AppError> {
    Ok(payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .filter(payment::Column::Status.is_in(LIVE))
        .lock(LockType::Update)
        .one(tx)
        .await?)
}

/// Voids an initiated payment (FAILED) whose row the caller locked. A
/// pending card charge the processor approves later is returned to the card
/// when its callback arrives.
pub async fn void(
    tx: &DatabaseTransaction,
    current: &payment::Model,
    audit_context: &AuditContext,
) -> Result<payment::Model, AppError> {
    let now = now();
    let voided = payment::Model { status: PaymentStatus::Failed, updated_at: now, ..current.clone() };
    let mut active: payment::ActiveModel = current.clone().into();
    active.status = Set(PaymentStatus::Failed);
    active.updated_at = Set(now);
    payment::Entity::update(active).exec(tx).await?;
    audit_payment(tx, "payment.voided", Some(current), &voided, audit_context).await?;
    Ok(voided)
}
