//! Payments: one live payment per order, captured into the ledger, refunded
//! in parts, settled when the order is cancelled.
//!
//! - `queries`: lists, lookups and per-order batches, within access rules.
//! - `initiate`: the buyer starts paying (no money moves yet).
//! - `capture`: money moves from the buyer to the seller and the platform;
//!   cash on delivery is captured inside the delivery transaction.
//! - `refund`: admins give money back; a cancelled order's payment is voided
//!   or refunded in the cancel transaction.
//! - `processor`: the card processor boundary and the simulated processor.
//! - `callback`: the processor's signed callbacks (late approvals, refusals).
//!
//! Money moves only through [`wallets::post`] in a [`MoneyTx`](crate::domain::wallets::MoneyTx)
//! (row locks on the wallets it touches, in id order), retried by
//! [`retry`](crate::db::retry) with [`RetryPolicy::MONEY`](crate::db::RetryPolicy::MONEY) when it loses a
//! deadlock or a guarded write's race. Client-facing movements run under an
//! idempotency key whose response is stored in the same transaction (see
//! [`idempotency`](crate::domain::idempotency)).

mod callback;
mod capture;
mod initiate;
pub mod processor;
mod queries;
mod refund;

use entity::{PaymentStatus, WalletKind, order, payment, wallet};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::json;

use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::wallets::CaptureWallets;
use crate::domain::webhooks::{self, EventType, events::Subject};
use crate::error::AppError;

pub use callback::{EventOutcome, processor_event};
pub use capture::{CaptureRequest, capture, cash_due, collect_cash_on_delivery, log_captured};
pub use initiate::{NewPayment, initiate};
pub use processor::{PaymentProcessor, Simulated};
pub use queries::{PaymentFilter, PaymentSort, by_ids, count, current, list, of_orders, of_orders_select, sort_key};
pub use refund::{
    RefundRequest, Refunded, Settlement, has_live, live_locked, log_refunded, refund, settle_cancelled_order, void,
};

/// Statuses of a payment that is still live: at most one per order.
pub const LIVE: [PaymentStatus; 3] =
    [PaymentStatus::Initiated, PaymentStatus::Captured, PaymentStatus::PartiallyRefunded];

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

/// The audited fields of a payment.
fn payment_snapshot(p: &payment::Model) -> serde_json::Value {
    json!({
        "status": p.status.to_value(),
        "amountMinor": p.amount_minor,
        "refundedMinor": p.refunded_minor,
        "currency": p.currency,
        "method": p.method.to_value(),
    })
}

/// Records a payment's change in the audit trail, in the caller's transaction.
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
    .await?;
    // The audited payment changes that are webhook events, in the same transaction.
    let event = match action {
        "payment.captured" => Some(EventType::PaymentCaptured),
        "payment.declined" => Some(EventType::PaymentDeclined),
        _ => None,
    };
    if let Some(event) = event {
        webhooks::emit(tx, event, Subject::Payment(after), context).await?;
    }
    Ok(())
}

/// The payment changed between the read and the guarded write: retryable.
fn raced() -> AppError {
    AppError::Conflict {
        message: "The payment was changed by another request, retry".into(),
        context: json!({ "retryable": true }),
    }
}
