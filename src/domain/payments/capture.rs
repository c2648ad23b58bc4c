//! Capturing a payment: money moves from the buyer's wallet to the seller's
//! and the platform's, once. Cash on delivery is captured inside the
//! delivery transaction instead.

use std::time::Instant;

use entity::{OrderStatus, PaymentMethod, PaymentStatus, order, payment};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, RetryPolicy, begin_money};
use crate::domain::audit::AuditContext;
use crate::domain::idempotency::{self, Completed, Keyed, Ticket};
use crate::domain::money::{MoneyPolicy, minor_text};
use crate::domain::payments::{audit_payment, raced, wallets_for};
use crate::domain::wallets::{self, CaptureWallets};
use crate::domain::{Viewer, now, payments};
use crate::error::{AppError, ErrorCode};

/// Captures an initiated payment (its buyer or an admin): in one money
/// transaction, checks the buyer's balance (WALLET payments), writes the
/// buyer debit, seller credit and platform fee legs, moves the balances and
/// marks the payment CAPTURED. CARD money enters the buyer's wallet from
/// outside in the same transaction. Cash on delivery is captured by
/// `confirmDelivery` instead.
pub async fn capture(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    payment_id: Uuid,
    idempotency_key: &str,
) -> Result<payment::Model, AppError> {
    let keyed = Keyed {
        actor: viewer.id,
        key: idempotency_key,
        operation: "capturePayment",
        input: vec![("paymentId", payment_id.to_string())],
    };
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let started = Instant::now();
        tracing::info!(event = "payment_capture_started", payment.id = %payment_id, actor = %viewer.id, "capturing payment");
        let result = db::retry(RetryPolicy::MONEY, "payment_capture_retry", payment_id, AppError::is_retryable, || {
            capture_once(db, viewer, audit_context, policy, payment_id, &ticket)
        })
        .await;
        match &result {
            Ok((done, attempts)) => log_captured(done.value(), started, *attempts, "capturePayment"),
            Err(err) => log_capture_failed(payment_id, viewer.id, err, started),
        }
        result.map(|(done, _)| done)
    })
    .await
}

/// Logs `payment_capture_failed`: at error level when the server is at
/// fault, at warn when a rule or the input refused the capture.
fn log_capture_failed(payment_id: Uuid, actor: Uuid, err: &AppError, started: Instant) {
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let code = err.code().as_str();
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
    tracing::info!(
        event = "payment_capture_completed",
        payment.id = %p.id,
        order.id = %p.order_id,
        method = %p.method.to_value(),
        amount = %minor_text(p.amount_minor, &p.currency),
        currency = %p.currency,
        attempts,
        via,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
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
        .filter(|o| o.deleted_at.is_none())
        .ok_or_else(|| AppError::not_found("Payment", payment_id))?;
    if !viewer.is_admin() && order.buyer_id != viewer.id {
        return Err(AppError::Forbidden("Only the buyer or an admin captures a payment".into()));
    }
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
    ticket: &Ticket,
) -> Result<Completed<payment::Model>, AppError> {
    // Everything that can refuse without the lock is judged first.
    let (current, order) = capturable(db, viewer, payment_id).await?;
    let (wallets, balance) = wallets_for(db, &order).await?;
    if current.method == PaymentMethod::Wallet && balance < current.amount_minor {
        return Err(wallets::insufficient_funds(wallets.buyer, balance, current.amount_minor, &current.currency));
    }
    // The money transaction queues on the wallets lock, so it only writes:
    // the payment row's guarded UPDATE is where racing captures and cancels
    // meet, the balance guard of `wallets::post` where racing spends meet.
    let tx = begin_money(db).await?;
    let Some(captured) = settle_capture(&tx, &current, wallets, policy.fee_rate).await? else {
        // The payment changed since it was read: answer as it is now.
        tx.rollback().await?;
        capturable(db, viewer, payment_id).await?;
        return Err(raced());
    };
    audit_payment(&tx, "payment.captured", Some(&current), &captured, audit_context).await?;
    let done = ticket.complete(&tx, captured).await?;
    tx.commit().await?;
    Ok(done)
}

/// The money of a capture, in the caller's money transaction: the payment
/// row (only if still INITIATED; `None` otherwise, nothing written), the
/// legs and the balances.
async fn settle_capture(
    tx: &DatabaseTransaction,
    current: &payment::Model,
    wallets: CaptureWallets,
    fee_rate: Decimal,
) -> Result<Option<payment::Model>, AppError> {
    let now = now();
    let moved = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(PaymentStatus::Captured.to_value()))
        .col_expr(payment::Column::CapturedAt, Expr::value(now))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(current.id))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated))
        .exec(tx)
        .await?;
    if moved.rows_affected != 1 {
        return Ok(None);
    }
    let amount = current.amount_minor;
    let mut legs = Vec::with_capacity(4);
    if current.method != PaymentMethod::Wallet {
        // Card charge or cash handed over: the money comes from outside.
        legs.push(wallets::funding_leg(wallets.buyer, amount, format!("payment_{}_external_funding", current.id)));
    }
    legs.extend(wallets::capture_legs(current.id, amount, fee_rate, wallets));
    wallets::post(tx, legs, Some(current.id), &current.currency, now).await?;
    Ok(Some(payment::Model {
        status: PaymentStatus::Captured,
        captured_at: Some(now),
        updated_at: now,
        ..current.clone()
    }))
}

/// Captures the order's initiated cash-on-delivery payment, if it has one,
/// inside the delivery transaction (which holds the wallets lock).
pub async fn collect_cash_on_delivery(
    tx: &DatabaseTransaction,
    order: &order::Model,
    fee_rate: Decimal,
    audit_context: &AuditContext,
) -> Result<Option<payment::Model>, AppError> {
    let due = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.id))
        .filter(payment::Column::Method.eq(PaymentMethod::CashOnDelivery))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated))
        .one(tx)
        .await?;
    let Some(due) = due else { return Ok(None) };
    let (wallets, _) = wallets_for(tx, order).await?;
    let captured = settle_capture(tx, &due, wallets, fee_rate).await?.ok_or_else(raced)?;
    audit_payment(tx, "payment.captured", Some(&due), &captured, audit_context).await?;
    Ok(Some(captured))
}
