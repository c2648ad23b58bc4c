//! Capturing a payment: money moves from the buyer's wallet to the seller's
//! and the platform's, once. A card is charged by the processor first. Cash
//! on delivery is captured inside the delivery transaction instead.

use std::time::Instant;

use entity::{OrderStatus, PaymentMethod, PaymentStatus, order, payment};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, RetryPolicy};
use crate::domain::audit::AuditContext;
use crate::domain::idempotency::{self, Completed, Keyed, Ticket};
use crate::domain::money::{MoneyLimits, MoneyPolicy, minor_text};
use crate::domain::payments::processor::{
    self, ChargeOutcome, ChargeRequest, PaymentProcessor, ProcessorError, processor_status,
};
use crate::domain::payments::{audit_payment, raced, wallets_for};
use crate::domain::wallets::{self, CaptureWallets, MoneyTx};
use crate::domain::webhooks::{self, EventType, events::Subject};
use crate::domain::{Viewer, now, orders, payments};
use crate::error::{AppError, ErrorCode};
use crate::telemetry::metrics;

/// A capture as the buyer (or an admin) asks for it.
#[derive(Debug, Clone, Copy)]
pub struct CaptureRequest<'a> {
    /// The payment.
    pub payment_id: Uuid,
    /// The client's idempotency key.
    pub idempotency_key: &'a str,
    /// The card token from the processor's client SDK (CARD payments).
    pub card_token: Option<&'a str>,
}

/// Captures an initiated payment (its buyer or an admin).
///
/// - WALLET: in one money transaction, checks the buyer's balance, writes the
///   buyer debit, seller credit and platform fee legs, moves the balances and
///   marks the payment CAPTURED.
/// - CARD: first asks the card processor to charge the card (outside any
///   transaction). Approved: the card money enters the buyer's wallet from
///   outside and is captured as above, in one transaction. Declined:
///   `PAYMENT_DECLINED`, nothing written. Pending: the payment waits
///   (`processorStatus` PENDING) for the processor's signed callback
///   ([`processor_event`](super::processor_event)). No processor configured:
///   `PAYMENT_METHOD_UNAVAILABLE`.
/// - Cash on delivery is captured by `confirmDelivery` instead.
pub async fn capture(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    request: CaptureRequest<'_>,
) -> Result<payment::Model, AppError> {
    let payment_id = request.payment_id;
    let keyed = Keyed {
        actor: viewer.id,
        key: request.idempotency_key,
        operation: "capturePayment",
        input: [("paymentId", Some(payment_id.to_string())), ("cardToken", request.card_token.map(str::to_owned))]
            .into_iter()
            .filter_map(|(field, value)| Some((field, value?)))
            .collect(),
    };
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let started = Instant::now();
        tracing::info!(event = "payment_capture_started", payment.id = %payment_id, actor = %viewer.id, "capturing payment");
        let result = capture_keyed(db, viewer, audit_context, policy, request, &ticket).await;
        match &result {
            Ok((done, attempts)) if done.value().status == PaymentStatus::Captured => {
                log_captured(done.value(), started, *attempts, "capturePayment")
            }
            Ok(_) => {
                metrics::capture("pending", started.elapsed());
                tracing::info!(
                event = "payment_capture_pending",
                payment.id = %payment_id,
                actor = %viewer.id,
                "the card processor will answer later"
            )
            }
            Err(err) => log_capture_failed(payment_id, viewer.id, err, started),
        }
        result.map(|(done, _)| done)
    })
    .await
}

async fn capture_keyed(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    request: CaptureRequest<'_>,
    ticket: &Ticket,
) -> Result<(Completed<payment::Model>, u32), AppError> {
    let (current, _) = capturable(db, viewer, request.payment_id).await?;
    let approval = if current.method == PaymentMethod::Card {
        match charge_card(policy, &current, request.card_token).await? {
            ChargeOutcome::Approved { reference } => Some(reference),
            ChargeOutcome::Pending { reference } => {
                return Ok((mark_pending(db, policy, &current, &reference, audit_context, ticket).await?, 1));
            }
            ChargeOutcome::Declined { reason } => {
                announce_decline(db, &current, audit_context).await;
                return Err(declined(&current, &reason));
            }
        }
    } else {
        None
    };
    let result = db::retry(RetryPolicy::MONEY, "payment_capture_retry", current.id, AppError::is_lost_race, || {
        capture_once(db, viewer, audit_context, policy, current.id, approval.as_deref(), ticket)
    })
    .await;
    if let (Err(err), Some(reference)) = (&result, &approval)
        && err.wire().is_some()
        && !charge_booked(db, current.id, reference).await
    {
        // The card was charged but Courier refuses the capture for good
        // (a limit, a cancel that won): give the money back. Not when the
        // refusal is that a concurrent capture booked this very charge (the
        // processor charges a payment once): that money is the payment's.
        compensate(policy, &current, reference, "capture refused after the charge").await;
    }
    result
}

/// Whether the payment's books hold the charge `reference` (a capture that
/// raced this one booked it). When the row cannot be read, the charge is
/// taken as booked: returning money by mistake is the worse error, and the
/// `payment_charge_return_failed`-free path leaves it to the ledger check.
async fn charge_booked(db: &DatabaseConnection, payment_id: Uuid, reference: &str) -> bool {
    match payment::Entity::find_by_id(payment_id).one(db).await {
        Ok(Some(p)) => {
            p.processor_ref.as_deref() == Some(reference)
                && matches!(p.status, PaymentStatus::Captured | PaymentStatus::Refunded)
        }
        Ok(None) => false,
        Err(e) => {
            tracing::error!(
                event = "payment_charge_return_failed",
                payment.id = %payment_id,
                reference,
                error = %e,
                why = "cannot tell whether the charge is booked",
                "not returning a card charge; needs an operator"
            );
            true
        }
    }
}

/// `PAYMENT_DECLINED`: the processor refused the card; nothing was written.
/// A synchronous decline changes no row (the buyer may try another card),
/// so its `payment.declined` event is written in a transaction of its own.
/// A failure to write it is logged; the buyer still learns of the decline.
async fn announce_decline(db: &DatabaseConnection, p: &payment::Model, audit_context: &AuditContext) {
    let written = async {
        let tx = sea_orm::TransactionTrait::begin(db).await?;
        webhooks::emit(&tx, EventType::PaymentDeclined, Subject::Payment(p), audit_context).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    };
    if let Err(e) = written.await {
        tracing::error!(event = "webhook_event_lost", payment.id = %p.id, error = %e, "could not queue payment.declined");
    }
}

fn declined(p: &payment::Model, reason: &str) -> AppError {
    tracing::warn!(event = "payment_declined", payment.id = %p.id, reason, "the card processor declined the card");
    AppError::rule("PAYMENT_DECLINED", "The card was declined", json!({ "paymentId": p.id, "reason": reason }))
}

/// The processor, or `PAYMENT_METHOD_UNAVAILABLE` when none is configured.
pub(super) fn processor_of(policy: &MoneyPolicy) -> Result<&dyn PaymentProcessor, AppError> {
    policy.processor.as_deref().ok_or_else(|| {
        AppError::rule(
            "PAYMENT_METHOD_UNAVAILABLE",
            "Card payments are unavailable: no card processor is configured",
            json!({ "method": "CARD" }),
        )
    })
}

/// Asks the processor to charge the card, within the processor timeout.
async fn charge_card(
    policy: &MoneyPolicy,
    current: &payment::Model,
    card_token: Option<&str>,
) -> Result<ChargeOutcome, AppError> {
    let processor = processor_of(policy)?;
    if current.processor_status.as_deref() == Some(processor_status::PENDING) {
        return Err(AppError::rule(
            "PAYMENT_PENDING",
            "The card processor has not answered yet; the payment is captured when it approves",
            json!({ "paymentId": current.id }),
        ));
    }
    let token = card_token
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 255 && !t.chars().any(char::is_control))
        .ok_or_else(|| {
            AppError::validation("cardToken", "A CARD payment is captured with the card's token (1 to 255 characters)")
        })?;
    let charge = ChargeRequest {
        payment_id: current.id,
        amount_minor: current.amount_minor,
        currency: &current.currency,
        card_token: token,
    };
    match tokio::time::timeout(policy.processor_timeout, processor.charge(&charge)).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(ProcessorError::Refused(why))) => Err(AppError::rule(
            "PAYMENT_DECLINED",
            "The card processor refused the charge",
            json!({ "paymentId": current.id, "reason": why }),
        )),
        Ok(Err(err)) => {
            tracing::error!(event = "payment_processor_failed", payment.id = %current.id, processor = processor.name(), error = %err, "card processor call failed");
            Err(processor_unavailable())
        }
        Err(_) => {
            tracing::error!(
                event = "payment_processor_timeout",
                payment.id = %current.id,
                processor = processor.name(),
                timeout_ms = policy.processor_timeout.as_millis() as u64,
                "card processor did not answer in time"
            );
            Err(processor_unavailable())
        }
    }
}

/// The processor did not answer: a retry with the same key asks again (the
/// processor charges at most once per payment).
pub(super) fn processor_unavailable() -> AppError {
    AppError::Unavailable("The card processor did not answer; retry with the same idempotency key".into())
}

/// Refunds, in full and best effort (logged), a charge Courier will not book.
pub(super) async fn compensate(policy: &MoneyPolicy, p: &payment::Model, reference: &str, why: &'static str) {
    let Some(processor) = policy.processor.as_deref() else { return };
    let key = format!("payment_{}_void", p.id);
    let refund = processor::RefundRequest {
        reference,
        amount_minor: p.amount_minor,
        currency: &p.currency,
        idempotency_key: &key,
    };
    match tokio::time::timeout(policy.processor_timeout, processor.refund(&refund)).await {
        Ok(Ok(refund_id)) => tracing::warn!(
            event = "payment_charge_returned", payment.id = %p.id, reference, refund_id, why,
            "card charge returned to the card"
        ),
        Ok(Err(err)) => tracing::error!(
            event = "payment_charge_return_failed", payment.id = %p.id, reference, error = %err, why,
            "returning a card charge failed; needs an operator"
        ),
        Err(_) => tracing::error!(
            event = "payment_charge_return_failed", payment.id = %p.id, reference, error = "timeout", why,
            "returning a card charge failed; needs an operator"
        ),
    }
}

/// Records that the processor will answer later.
async fn mark_pending(
    db: &DatabaseConnection,
    policy: &MoneyPolicy,
    current: &payment::Model,
    reference: &str,
    audit_context: &AuditContext,
    ticket: &Ticket,
) -> Result<Completed<payment::Model>, AppError> {
    let tx = MoneyTx::begin(db, policy).await?;
    let now = now();
    let moved = payment::Entity::update_many()
        .col_expr(payment::Column::ProcessorRef, Expr::value(reference))
        .col_expr(payment::Column::ProcessorStatus, Expr::value(processor_status::PENDING))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated))
        .exec(&*tx)
        .await?;
    if moved.rows_affected != 1 {
        return Err(raced());
    }
    let pending = payment::Model {
        processor_ref: Some(reference.to_owned()),
        processor_status: Some(processor_status::PENDING.to_owned()),
        updated_at: now,
        ..current.clone()
    };
    audit_payment(&tx, "payment.processor_pending", Some(current), &pending, audit_context).await?;
    let done = ticket.complete(&*tx, pending).await?;
    tx.commit().await?;
    Ok(done)
}

/// Logs `payment_capture_failed`: at error level when the server is at
/// fault, at warn when a rule or the input refused the capture.
fn log_capture_failed(payment_id: Uuid, actor: Uuid, err: &AppError, started: Instant) {
    let duration_ms = crate::telemetry::ms(started.elapsed());
    let code = err.code().as_str();
    let outcome = match err {
        AppError::BusinessRule { rule: "PAYMENT_DECLINED", .. } => "declined",
        _ if err.is_server_fault() => "failed",
        _ => "refused",
    };
    metrics::capture(outcome, started.elapsed());
    match err.code() {
        ErrorCode::InternalServerError | ErrorCode::ServiceUnavailable => tracing::error!(
            event = "payment_capture_failed", payment.id = %payment_id, %actor, code, error = %err, duration_ms,
            "payment capture failed"
        ),
        _ => tracing::warn!(
            event = "payment_capture_failed", payment.id = %payment_id, %actor, code, error = %err, duration_ms,
            "payment capture refused"
        ),
    }
}

/// Logs `payment_capture_completed`.
pub fn log_captured(p: &payment::Model, started: Instant, attempts: u32, via: &'static str) {
    metrics::capture("captured", started.elapsed());
    tracing::info!(
        event = "payment_capture_completed",
        payment.id = %p.id,
        order.id = %p.order_id,
        method = %p.method.to_value(),
        amount = %minor_text(p.amount_minor, &p.currency),
        currency = %p.currency,
        attempts,
        via,
        duration_ms = crate::telemetry::ms(started.elapsed()),
        "payment captured"
    );
}

/// The refusals a capture can give without the wallets lock, and the rows
/// it needs.
async fn capturable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    payment_id: Uuid,
) -> Result<(payment::Model, order::Model), AppError> {
    let current = payments::by_ids(db, Some(viewer), &[payment_id])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("Payment", payment_id))?;
    let order = order::Entity::find_by_id(current.order_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("Payment", payment_id))?;
    if !viewer.is_admin() && order.buyer_id != viewer.id {
        return Err(AppError::Forbidden("Only the buyer or an admin captures a payment".into()));
    }
    orders::ensure_live(&order)?;
    match current.status {
        PaymentStatus::Initiated => {}
        PaymentStatus::Failed => {
            return Err(AppError::rule(
                "PAYMENT_NOT_CAPTURABLE",
                "A failed or voided payment cannot be captured",
                json!({ "paymentId": current.id, "status": current.status.to_value() }),
            ));
        }
        _ => {
            return Err(AppError::rule(
                "PAYMENT_ALREADY_CAPTURED",
                "The payment has already been captured",
                json!({ "paymentId": current.id, "status": current.status.to_value(), "capturedAt": current.captured_at }),
            ));
        }
    }
    if current.method == PaymentMethod::CashOnDelivery {
        return Err(AppError::rule(
            "PAYMENT_COLLECTED_ON_DELIVERY",
            "Cash on delivery is captured when the delivery is confirmed",
            json!({ "paymentId": current.id }),
        ));
    }
    if order.status == OrderStatus::Cancelled {
        return Err(AppError::rule(
            "ORDER_CANCELLED",
            "The order was cancelled",
            json!({ "orderId": order.id, "paymentId": current.id }),
        ));
    }
    Ok((current, order))
}

async fn capture_once(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    payment_id: Uuid,
    approval: Option<&str>,
    ticket: &Ticket,
) -> Result<Completed<payment::Model>, AppError> {
    // Everything that can refuse without a lock is judged first.
    let (current, order) = capturable(db, viewer, payment_id).await?;
    let (wallets, balance) = wallets_for(db, &order).await?;
    if current.method == PaymentMethod::Wallet && balance < current.amount_minor {
        return Err(wallets::insufficient_funds(wallets.buyer, balance, current.amount_minor, &current.currency));
    }
    // The transaction only writes: the payment row's guarded UPDATE is where
    // racing captures and cancels meet, the balance guards of
    // `wallets::post` where racing spends meet.
    let tx = MoneyTx::begin(db, policy).await?;
    let Some(captured) = settle_capture(&tx, &current, wallets, policy, approval).await? else {
        // The payment changed since it was read: answer as it is now.
        tx.rollback().await?;
        capturable(db, viewer, payment_id).await?;
        return Err(raced());
    };
    audit_payment(&tx, "payment.captured", Some(&current), &captured, audit_context).await?;
    let done = ticket.complete(&*tx, captured).await?;
    tx.commit().await?;
    Ok(done)
}

/// The money of a capture, in the caller's money transaction: the payment
/// row (only if still INITIATED; `None` otherwise, nothing written), the
/// legs and the balances. `approval` is the processor's charge id of an
/// approved card charge.
pub(super) async fn settle_capture(
    tx: &MoneyTx,
    current: &payment::Model,
    wallets: CaptureWallets,
    policy: &MoneyPolicy,
    approval: Option<&str>,
) -> Result<Option<payment::Model>, AppError> {
    let now = now();
    let mut update = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Captured.to_value()))
        .col_expr(payment::Column::CapturedAt, Expr::value(now))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated));
    if let Some(reference) = approval {
        update = update
            .col_expr(payment::Column::ProcessorRef, Expr::value(reference))
            .col_expr(payment::Column::ProcessorStatus, Expr::value(processor_status::APPROVED));
    }
    if update.exec(&**tx).await?.rows_affected != 1 {
        return Ok(None);
    }
    let amount = current.amount_minor;
    let mut legs = Vec::with_capacity(4);
    if current.method != PaymentMethod::Wallet {
        // Card charge or cash handed over: the money comes from outside.
        legs.push(wallets::funding_leg(wallets.buyer, amount, format!("payment_{}_external_funding", current.id)));
    }
    legs.extend(wallets::capture_legs(current.id, amount, policy.fee_rate, wallets));
    let ceiling = MoneyLimits::minor(policy.limits.wallet_balance, &current.currency);
    wallets::post(tx, legs, Some(current.id), &current.currency, ceiling, now).await?;
    Ok(Some(payment::Model {
        status: PaymentStatus::Captured,
        captured_at: Some(now),
        updated_at: now,
        processor_ref: approval.map(str::to_owned).or_else(|| current.processor_ref.clone()),
        processor_status: approval
            .map(|_| processor_status::APPROVED.to_owned())
            .or_else(|| current.processor_status.clone()),
        ..current.clone()
    }))
}

/// Captures the order's initiated cash-on-delivery payment, if it has one,
/// inside the delivery transaction.
pub async fn collect_cash_on_delivery(
    tx: &MoneyTx,
    order: &order::Model,
    policy: &MoneyPolicy,
    audit_context: &AuditContext,
) -> Result<Option<payment::Model>, AppError> {
    let Some(due) = cash_due(&**tx, order.id).await? else { return Ok(None) };
    let (wallets, _) = wallets_for(&**tx, order).await?;
    let captured = settle_capture(tx, &due, wallets, policy, None).await?.ok_or_else(raced)?;
    audit_payment(tx, "payment.captured", Some(&due), &captured, audit_context).await?;
    Ok(Some(captured))
}

/// The order's initiated cash-on-delivery payment, if any.
pub async fn cash_due(db: &impl ConnectionTrait, order_id: Uuid) -> Result<Option<payment::Model>, AppError> {
    Ok(payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .filter(payment::Column::Method.eq(PaymentMethod::CashOnDelivery))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated))
        .one(db)
        .await?)
}
