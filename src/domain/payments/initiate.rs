//! The buyer starts paying for an order. No money moves yet; one live
//! payment per order is the partial unique index's to enforce.

use entity::PaymentMethod;
use entity::{OrderStatus, PaymentStatus, order, payment};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveEnum, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::db::{Isolation, begin_write};
use crate::domain::audit::AuditContext;
use crate::domain::idempotency::{self, Completed, Keyed, Ticket};
use crate::domain::money::{MoneyPolicy, minor_text};
use crate::domain::payments::capture::processor_of;
use crate::domain::payments::{LIVE, audit_payment, wallets_for};
use crate::domain::{Viewer, new_id, now, orders};
use crate::error::{AppError, DbFailure, classify};

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
        let created = initiate_once(db, policy, viewer, audit_context, &input, &ticket).await?;
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
    policy: &MoneyPolicy,
    viewer: &Viewer,
    audit_context: &AuditContext,
    input: &NewPayment<'_>,
    ticket: &Ticket,
) -> Result<Completed<payment::Model>, AppError> {
    if input.method == PaymentMethod::Card {
        processor_of(policy)?;
    }
    let tx = begin_write(db, Isolation::ReadCommitted).await?;
    let order = orders::for_change(&tx, viewer, input.order_id).await?;
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
    // Touch the order row (a no-op UPDATE that still locks it), so a
    // concurrent cancel either goes first and this finds the order no longer
    // payable, or waits for this commit on the order row and then (READ
    // COMMITTED: each statement sees what committed before it) finds this
    // payment to void.
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
        processor_ref: None,
        processor_status: None,
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
