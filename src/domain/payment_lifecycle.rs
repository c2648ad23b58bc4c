//! Every money movement: initiating, capturing and refunding payments, cash
//! collected on delivery, settling a cancelled order's payment, and wallet
//! top-ups.
//!
//! Money moves only through [`ledger::post`] in a money transaction
//! ([`db::begin_money`]: SERIALIZABLE, wallets locked first), retried up to
//! five times with jittered backoff when it loses a serialization race or a
//! deadlock. The three client-facing movements (capture, refund, top-up) and
//! `initiatePayment` run under a client idempotency key whose response is
//! stored in the same transaction (see [`idempotency`]).

use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::{OrderStatus, PaymentMethod, PaymentStatus, WalletKind, order, payment, wallet};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::{Isolation, begin_money, begin_write};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::idempotency::{self, Completed, Keyed, Ticket};
use crate::domain::ledger::{self, CaptureWallets};
use crate::domain::money::{Currency, minor_text};
use crate::domain::{Viewer, new_id, orders, payments};
use crate::error::{AppError, DbFailure, ErrorCode, classify};

/// Attempts of a money transaction before a serialization failure is returned.
pub const MAX_ATTEMPTS: u32 = 5;

/// Statuses of a payment that is still live: at most one per order.
pub const LIVE: [PaymentStatus; 3] =
    [PaymentStatus::Initiated, PaymentStatus::Captured, PaymentStatus::PartiallyRefunded];

/// How money mutations behave, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct MoneyPolicy {
    /// Platform fee on captures (0.10 = 10%).
    pub fee_rate: Decimal,
    /// How long an idempotency key is remembered.
    pub key_ttl: Duration,
}

/// Backoff before retry `attempt` (1-based): 5 ms doubling, plus up to as
/// much again at random so racing requests spread out.
fn backoff(attempt: u32) -> StdDuration {
    let base = 5_u64 << (attempt.saturating_sub(1)).min(6);
    let random = u64::from(Uuid::new_v4().as_bytes()[0]);
    StdDuration::from_millis(base + base * random / 255)
}

/// Runs one money transaction, retrying it on a serialization failure or
/// deadlock (and SQLite busy), logging `retry_event` before each retry.
/// Returns the result and the number of attempts.
async fn with_retries<T, F, Fut>(retry_event: &'static str, subject: Uuid, mut attempt: F) -> Result<(T, u32), AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(err) if err.is_retryable() && n < MAX_ATTEMPTS => {
                let delay = backoff(n);
                tracing::warn!(
                    event = retry_event,
                    subject = %subject,
                    attempt = n,
                    backoff_ms = delay.as_millis() as u64,
                    error = %err,
                    "money transaction lost a race, retrying"
                );
                tokio::time::sleep(delay).await;
                n += 1;
            }
            result => return result.map(|value| (value, n)),
        }
    }
}

/// The current time at the precision both databases keep (microseconds),
/// so a mutation's answer and a later read show the same instant.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The wallets a payment of `order` moves, checked to exist and to hold the
/// order's currency, with the buyer's balance.
async fn wallets_for(db: &impl ConnectionTrait, order: &order::Model) -> Result<(CaptureWallets, i64), AppError> {
    use wallet::Column as W;
    let rows = wallet::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(W::UserId.is_in([order.buyer_id, order.seller_id]))
                .add(W::Kind.eq(WalletKind::Platform)),
        )
        .all(db)
        .await?;
    let find = |pick: &dyn Fn(&wallet::Model) -> bool, whose: &str| {
        let w = rows.iter().find(|w| pick(w)).ok_or_else(|| {
            AppError::rule("WALLET_NOT_FOUND", format!("The {whose} has no wallet"), json!({ "orderId": order.id }))
        })?;
        if w.currency != order.currency {
            return Err(AppError::rule(
                "CURRENCY_MISMATCH",
                format!("The {whose} wallet holds {}, the order is in {}", w.currency, order.currency),
                json!({ "party": whose, "walletCurrency": w.currency, "orderCurrency": order.currency }),
            ));
        }
        Ok(w)
    };
    let buyer = find(&|w| w.user_id == Some(order.buyer_id), "buyer")?;
    let seller = find(&|w| w.user_id == Some(order.seller_id), "seller")?;
    let platform = find(&|w| w.kind == WalletKind::Platform, "platform")?;
    Ok((CaptureWallets { buyer: buyer.id, seller: seller.id, platform: platform.id }, buyer.balance_minor))
}

fn payment_snapshot(p: &payment::Model) -> serde_json::Value {
    json!({
        "status": p.status.to_value(),
        "amountMinor": p.amount_minor,
        "refundedMinor": p.refunded_minor,
        "currency": p.currency,
        "method": p.method.to_value(),
    })
}

async fn audit_payment(
    tx: &DatabaseTransaction,
    action: &'static str,
    before: Option<&payment::Model>,
    after: &payment::Model,
    context: &AuditContext,
) -> Result<(), AppError> {
    audit::record(
        tx,
        Change {
            action,
            entity_type: "Payment",
            entity_id: after.id,
            old: before.map(payment_snapshot),
            new: Some(payment_snapshot(after)),
            context,
        },
    )
    .await
}

/// A new payment as the buyer asks for it.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// The order paid for.
    pub order_id: Uuid,
    /// How.
    pub method: PaymentMethod,
    /// The client's idempotency key.
    pub idempotency_key: &'a str,
}

/// The buyer starts paying for an order: one live payment per order, for
/// the order's total. No money moves yet.
pub async fn initiate(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    input: NewPayment<'_>,
) -> Result<payment::Model, AppError> {
    let keyed = Keyed {
        actor: viewer.id,
        key: input.idempotency_key,
        operation: "initiatePayment",
        input: vec![("orderId", input.order_id.to_string()), ("method", input.method.to_value())],
    };
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let created = initiate_once(db, viewer, audit_context, &input, &ticket).await?;
        let p = created.value();
        tracing::info!(
            event = "payment_initiated",
            payment.id = %p.id,
            order.id = %p.order_id,
            method = %p.method.to_value(),
            amount = %minor_text(p.amount_minor, &p.currency),
            currency = %p.currency,
            actor = %viewer.id,
            "payment initiated"
        );
        Ok(created)
    })
    .await
}

fn already_exists(existing: Option<&payment::Model>, order_id: Uuid) -> AppError {
    AppError::rule(
        "PAYMENT_ALREADY_EXISTS",
        "The order already has a live payment",
        json!({
            "orderId": order_id,
            "paymentId": existing.map(|p| p.id),
            "status": existing.map(|p| p.status.to_value()),
        }),
    )
}

async fn initiate_once(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    input: &NewPayment<'_>,
    ticket: &Ticket,
) -> Result<Completed<payment::Model>, AppError> {
    let tx = begin_write(db, Isolation::ReadCommitted).await?;
    let order = orders::by_ids(&tx, Some(viewer), &[input.order_id])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("Order", input.order_id))?;
    if order.buyer_id != viewer.id {
        return Err(AppError::Forbidden("Only the order's buyer pays for it".into()));
    }
    if !matches!(order.status, OrderStatus::Pending | OrderStatus::Confirmed) {
        return Err(AppError::rule(
            "ORDER_NOT_PAYABLE",
            format!("A {} order cannot be paid", order.status.to_value()),
            json!({ "orderId": order.id, "status": order.status.to_value() }),
        ));
    }
    // Touch the order row (a no-op UPDATE that still writes a new row
    // version), so a concurrent cancel either goes first and this finds the
    // order no longer payable, or comes after and (on PostgreSQL, where the
    // cancel is SERIALIZABLE) fails, retries and sees this payment to void.
    let touched = order::Entity::update_many()
        .col_expr(order::Column::UpdatedAt, Expr::col(order::Column::UpdatedAt))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.is_in([OrderStatus::Pending, OrderStatus::Confirmed]))
        .filter(order::Column::DeletedAt.is_null())
        .exec(&tx)
        .await?;
    if touched.rows_affected != 1 {
        return Err(AppError::rule(
            "ORDER_NOT_PAYABLE",
            "The order changed and cannot be paid",
            json!({ "orderId": order.id }),
        ));
    }
    wallets_for(&tx, &order).await?;

    let now = now();
    let created = payment::Model {
        id: new_id(),
        order_id: order.id,
        amount_minor: order.total_minor,
        currency: order.currency.clone(),
        method: input.method,
        status: PaymentStatus::Initiated,
        refunded_minor: 0,
        captured_at: None,
        created_at: now,
        updated_at: now,
    };
    // One live payment per order is the partial unique index's to enforce,
    // race or no race; the existing payment is looked up only to say which.
    let inserted =
        payment::Entity::insert(payment::ActiveModel::from(created.clone())).exec_without_returning(&tx).await;
    if let Err(e) = inserted {
        if classify(&e) != DbFailure::UniqueViolation {
            return Err(e.into());
        }
        tx.rollback().await?;
        let live = payment::Entity::find()
            .filter(payment::Column::OrderId.eq(order.id))
            .filter(payment::Column::Status.is_in(LIVE))
            .one(db)
            .await?;
        return Err(already_exists(live.as_ref(), order.id));
    }
    audit_payment(&tx, "payment.initiated", None, &created, audit_context).await?;
    let done = ticket.complete(&tx, created).await?;
    tx.commit().await?;
    Ok(done)
}

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
        let result = with_retries("payment_capture_retry", payment_id, || {
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
        return Err(ledger::insufficient_funds(wallets.buyer, balance, current.amount_minor, &current.currency));
    }
    // The money transaction queues on the wallets lock, so it only writes:
    // the payment row's guarded UPDATE is where racing captures and cancels
    // meet, the balance guard of `ledger::post` where racing spends meet.
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
        legs.push(ledger::funding_leg(wallets.buyer, amount, format!("payment_{}_external_funding", current.id)));
    }
    legs.extend(ledger::capture_legs(current.id, amount, fee_rate, wallets));
    ledger::post(tx, legs, Some(current.id), &current.currency, now).await?;
    Ok(Some(payment::Model {
        status: PaymentStatus::Captured,
        captured_at: Some(now),
        updated_at: now,
        ..current.clone()
    }))
}

fn raced() -> AppError {
    AppError::Conflict {
        message: "The payment was changed by another request, retry".into(),
        context: json!({ "retryable": true }),
    }
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
        let (done, _) = with_retries("payment_refund_retry", payment_id, || async move {
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
    let captured = ledger::captured(tx, current.id)
        .await?
        .filter(|c| c.refunded_minor == current.refunded_minor)
        .ok_or_else(|| AppError::Internal(format!("payment {} disagrees with its ledger entries", current.id)))?;
    let now = now();
    ledger::post(tx, ledger::refund_legs(current.id, captured, refund_minor).to_vec(), Some(current.id), currency, now)
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

/// Adds money to a user's wallet from outside (admins): a single TOP_UP
/// entry, so all balances together still equal all money brought in.
pub async fn top_up(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    wallet_id: Uuid,
    amount: Decimal,
    idempotency_key: &str,
) -> Result<wallet::Model, AppError> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("Only admins top up wallets".into()));
    }
    let keyed = Keyed {
        actor: viewer.id,
        key: idempotency_key,
        operation: "topUpWallet",
        input: vec![("walletId", wallet_id.to_string()), ("amount", amount.normalize().to_string())],
    };
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let ticket = &ticket;
        let (done, _) = with_retries("wallet_top_up_retry", wallet_id, || async move {
            let tx = begin_money(db).await?;
            let current = wallet::Entity::find_by_id(wallet_id)
                .one(&tx)
                .await?
                .ok_or_else(|| AppError::not_found("Wallet", wallet_id))?;
            if current.kind != WalletKind::User {
                return Err(AppError::rule(
                    "WALLET_NOT_FUNDABLE",
                    "Only user wallets are topped up",
                    json!({ "walletId": wallet_id, "kind": current.kind.to_value() }),
                ));
            }
            let minor = Currency::parse(&current.currency)?.to_minor(amount, "amount")?;
            if minor <= 0 {
                return Err(AppError::validation("amount", "A top-up amount is positive"));
            }
            let balance = current
                .balance_minor
                .checked_add(minor)
                .ok_or_else(|| AppError::validation("amount", "The wallet's balance would be out of range"))?;
            let now = now();
            let leg = ledger::funding_leg(wallet_id, minor, format!("top_up_{}", new_id()));
            ledger::post(&tx, vec![leg], None, &current.currency, now).await?;
            let after = wallet::Model {
                balance_minor: balance,
                version: current.version + 1,
                updated_at: now,
                ..current.clone()
            };
            audit::record(
                &tx,
                Change {
                    action: "wallet.topped_up",
                    entity_type: "Wallet",
                    entity_id: wallet_id,
                    old: Some(json!({ "balanceMinor": current.balance_minor })),
                    new: Some(json!({ "balanceMinor": after.balance_minor, "topUpMinor": minor })),
                    context: audit_context,
                },
            )
            .await?;
            let done = ticket.complete(&tx, after).await?;
            tx.commit().await?;
            Ok((done, minor))
        })
        .await?;
        tracing::info!(
            event = "wallet_topped_up",
            wallet.id = %wallet_id,
            amount = %minor_text(done.1, &done.0.value().currency),
            actor = %viewer.id,
            "wallet topped up"
        );
        Ok(done.0)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..=MAX_ATTEMPTS {
            let base = 5_u64 << (attempt - 1);
            let d = backoff(attempt).as_millis() as u64;
            assert!((base..=2 * base).contains(&d), "attempt {attempt}: {d} ms");
        }
    }
}
