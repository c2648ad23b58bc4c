//! Placing orders and moving them through their lifecycle, safe under
//! concurrency: every status change is an optimistic-locked
//! `UPDATE ... WHERE id = $1 AND version = $2` in a short transaction that
//! also appends the audit row. Soft delete and restore are here too.

use std::time::Instant;

use chrono::Utc;
use entity::{OrderStatus, UserRole, order, order_item, user, wallet};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{ActiveEnum, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, Isolation, RetryPolicy, begin_write};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::money::{Currency, MoneyLimits, MoneyPolicy};
use crate::domain::orders::{self, Party, check_party, check_transition};
use crate::domain::payments::{self, Settlement};
use crate::domain::wallets::MoneyTx;
use crate::domain::webhooks::{self, EventType, events::Subject};
use crate::domain::{Viewer, new_id, now, shipping, text};
use crate::error::{AppError, DbFailure, classify};

/// Most items an order may have.
pub const MAX_ITEMS: usize = 100;
/// Most units of one item.
pub const MAX_QUANTITY: i32 = 1000;

/// One line of a new order.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// What is bought.
    pub name: String,
    /// How many, 1 to 1000.
    pub quantity: i32,
    /// Price of one, not negative, in the order's currency.
    pub unit_price: Decimal,
}

/// A new order as the buyer asks for it.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Who sells.
    pub seller_id: Uuid,
    /// 1 to 100 lines.
    pub items: Vec<NewItem>,
    /// Where it goes.
    pub delivery_zip_code: String,
    /// ISO 4217 code.
    pub currency: String,
}

/// Places an order for the viewer (a buyer). The total is computed here,
/// never taken from the client.
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    input: NewOrder,
) -> Result<order::Model, AppError> {
    let started = Instant::now();
    if viewer.role != UserRole::Buyer {
        return Err(AppError::Forbidden("Only buyers place orders".into()));
    }
    let currency = Currency::parse(&input.currency)?;
    if input.items.is_empty() || input.items.len() > MAX_ITEMS {
        return Err(AppError::validation("items", format!("An order has 1 to {MAX_ITEMS} items")));
    }
    let mut lines = Vec::with_capacity(input.items.len());
    // i128: a hundred lines of the largest price times the largest quantity fit.
    let mut total: i128 = 0;
    for (i, item) in input.items.iter().enumerate() {
        let name = text::single_line(&format!("items[{i}].name"), &item.name, 200)?;
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(AppError::validation(
                format!("items[{i}].quantity"),
                format!("Quantity is 1 to {MAX_QUANTITY}"),
            ));
        }
        if item.unit_price <= Decimal::ZERO {
            return Err(AppError::validation(format!("items[{i}].unitPrice"), "Prices are positive"));
        }
        let unit = currency.to_minor(item.unit_price, &format!("items[{i}].unitPrice"))?;
        total += i128::from(unit) * i128::from(item.quantity);
        lines.push((name, item.quantity, unit));
    }
    let largest = MoneyLimits::minor(policy.limits.order_total, currency.code);
    let total = i64::try_from(total).ok().filter(|t| *t <= largest).ok_or_else(|| {
        AppError::rule(
            "ORDER_TOTAL_LIMIT_EXCEEDED",
            "The order total is larger than the largest allowed",
            json!({
                "total": (Decimal::from_i128_with_scale(total, currency.exponent)).to_string(),
                "limit": currency.to_decimal(largest).to_string(),
                "currency": currency.code,
            }),
        )
    })?;
    // The same normalisation as the zip codes agents serve, so they match.
    let zip =
        shipping::zip_codes(std::slice::from_ref(&input.delivery_zip_code)).ok().and_then(|mut z| z.pop()).ok_or_else(
            || AppError::validation("deliveryZipCode", "A zip code has 1 to 16 letters, digits, spaces or dashes"),
        )?;
    let seller = user::Entity::find_by_id(input.seller_id)
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::Role.eq(UserRole::Seller))
        .one(db)
        .await?
        .ok_or_else(|| AppError::validation("sellerId", "No seller has this id"))?;

    // An order the buyer could never pay is refused now, not at payment.
    let buyer_wallet = wallet::Entity::find()
        .filter(wallet::Column::UserId.eq(viewer.id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::rule("WALLET_NOT_FOUND", "The buyer has no wallet", json!({})))?;
    if buyer_wallet.currency != currency.code {
        return Err(AppError::rule(
            "CURRENCY_MISMATCH",
            format!("Your wallet holds {}; an order in {} could never be paid", buyer_wallet.currency, currency.code),
            json!({ "party": "buyer", "walletCurrency": buyer_wallet.currency, "orderCurrency": currency.code }),
        ));
    }

    let now = now();
    let mut order = order::Model {
        id: new_id(),
        order_number: order_number(now),
        buyer_id: viewer.id,
        seller_id: seller.id,
        status: OrderStatus::Pending,
        total_minor: total,
        currency: currency.code.to_owned(),
        delivery_zip_code: zip,
        version: 0,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        deleted_by: None,
    };
    let tx = db.begin().await?;
    // 60 random bits a day make a collision unlikely (about one in 10^10
    // days at 10,000 orders a day); one is answered by drawing again, inside
    // a savepoint so the transaction survives the failed insert.
    let mut draws = 0;
    loop {
        let attempt = tx.begin().await?;
        match order::Entity::insert(order::ActiveModel::from(order.clone())).exec_without_returning(&attempt).await {
            Ok(_) => {
                attempt.commit().await?;
                break;
            }
            Err(e) if classify(&e) == DbFailure::UniqueViolation && draws < 3 => {
                attempt.rollback().await?;
                draws += 1;
                tracing::warn!(event = "order_number_collision", order.number = %order.order_number, "order number taken, drawing again");
                order.order_number = order_number(now);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let items = lines.into_iter().map(|(name, quantity, unit_price_minor)| order_item::ActiveModel {
        id: Set(new_id()),
        order_id: Set(order.id),
        name: Set(name),
        quantity: Set(quantity),
        unit_price_minor: Set(unit_price_minor),
    });
    order_item::Entity::insert_many(items).exec_without_returning(&tx).await?;
    audit::record(
        &tx,
        Change {
            action: "order.created",
            entity_type: "Order",
            entity_id: order.id,
            old: None,
            new: Some(snapshot(&order)),
            context: audit_context,
        },
    )
    .await?;
    webhooks::emit(&tx, EventType::OrderCreated, Subject::Order(&order), audit_context).await?;
    tx.commit().await?;
    tracing::info!(
        event = "order_created",
        order.id = %order.id,
        order.number = %order.order_number,
        actor = %viewer.id,
        total_minor = order.total_minor,
        duration_ms = crate::telemetry::ms(started.elapsed()),
        "order created"
    );
    Ok(order)
}

/// `ORD-YYYYMMDD-XXXXXX-XXXXXX`: the date, then 60 random bits in Crockford
/// base32, in two groups of six for reading aloud.
fn order_number(now: chrono::DateTime<Utc>) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bits = u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or_default());
    let digit = |i: u32| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char;
    let (a, b): (String, String) = ((0..6).map(digit).collect(), (6..12).map(digit).collect());
    format!("ORD-{}-{a}-{b}", now.format("%Y%m%d"))
}

/// The audited fields of an order.
fn snapshot(order: &order::Model) -> serde_json::Value {
    json!({
        "status": order.status.to_value(),
        "version": order.version,
        "totalMinor": order.total_minor,
        "currency": order.currency,
        "cancelReason": order.cancel_reason,
        "deletedAt": order.deleted_at,
    })
}

/// A requested status change.
#[derive(Debug, Clone)]
pub struct StatusChange {
    /// The order.
    pub order_id: Uuid,
    /// The new status.
    pub to: OrderStatus,
    /// The version the client last saw; a stale one is CONFLICT at once.
    /// Without it, a lost race is retried (re-read, re-validated).
    pub expected_version: Option<i32>,
    /// Why, for cancellations.
    pub reason: Option<String>,
}

fn party_of(viewer: &Viewer, order: &order::Model) -> Party {
    if viewer.is_admin() {
        Party::Admin
    } else if order.seller_id == viewer.id {
        Party::Seller
    } else if order.buyer_id == viewer.id {
        Party::Buyer
    } else {
        // Agents see the orders they carry, but move them only through
        // their assignment.
        Party::Delivery
    }
}

fn stale(current_version: i32) -> AppError {
    AppError::Conflict {
        message: "Order status was updated by another request, refresh and retry".into(),
        context: json!({ "currentVersion": current_version }),
    }
}

/// Whether `err` is [`stale`]: the order's version moved under the request.
fn is_stale(err: &AppError) -> bool {
    matches!(err, AppError::Conflict { context, .. } if context.get("currentVersion").is_some())
}

/// Moves an order as the viewer asks (confirm or cancel), following the state
/// machine and who-may-do-what, with optimistic locking.
///
/// A client that sent the version it saw gets CONFLICT as soon as the order
/// moved; without one, a lost optimistic race (or a cancel's lost
/// serialization race) is re-read, re-judged and retried with
/// [`RetryPolicy::OPTIMISTIC`].
pub async fn change_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    change: StatusChange,
) -> Result<order::Model, AppError> {
    let started = Instant::now();
    let retry_on = |err: &AppError| err.is_retryable() || (change.expected_version.is_none() && is_stale(err));
    let result = db::retry(RetryPolicy::OPTIMISTIC, "order_status_update_retry", change.order_id, retry_on, || {
        attempt_status_change(db, viewer, audit_context, policy, &change)
    })
    .await;
    let ((current, next, settlement), attempts) = match result {
        Ok(done) => done,
        Err(err) if is_stale(&err) => {
            // Report the version as it is now, for the client to refresh to.
            let latest = orders::by_ids(db, Some(viewer), &[change.order_id]).await?.pop();
            return Err(latest.map_or(err, |o| stale(o.version)));
        }
        Err(err) => return Err(err),
    };
    let event = if change.to == OrderStatus::Cancelled { "order_cancelled" } else { "order_status_updated" };
    tracing::info!(
        event,
        order.id = %current.id,
        from = %current.status.to_value(),
        to = %change.to.to_value(),
        version = next.version,
        actor = %viewer.id,
        attempts,
        duration_ms = crate::telemetry::ms(started.elapsed()),
        "order status updated"
    );
    if let Some(Settlement::Refunded(refund)) = &settlement {
        payments::log_refunded(refund, next.cancel_reason.as_deref().unwrap_or(""), true, Some(viewer.id));
    }
    Ok(next)
}

/// One read-judge-write attempt of [`change_status`]: the order before and
/// after, and what happened to its payment; [`stale`] when the version moved.
async fn attempt_status_change(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    change: &StatusChange,
) -> Result<(order::Model, order::Model, Option<Settlement>), AppError> {
    let current = orders::for_change(db, viewer, change.order_id).await?;
    // A client that saw an older version must refresh before anything
    // else is judged: its view of the status is stale too.
    if change.expected_version.is_some_and(|v| v != current.version) {
        return Err(stale(current.version));
    }
    // A viewer who only carries the order gets the same answer as for
    // any other status it may not set.
    check_party(party_of(viewer, &current), current.status, change.to)?;
    check_transition(current.status, change.to)?;
    let reason =
        if change.to == OrderStatus::Cancelled { change.reason.clone() } else { current.cancel_reason.clone() };
    match write_status(db, policy, &current, change, reason, now(), audit_context).await? {
        Some((next, settlement)) => Ok((current, next, settlement)),
        None => Err(stale(current.version)),
    }
}

/// One attempt at writing a status change: `None` when the version moved
/// underneath (nothing written). A cancel runs as a money transaction that
/// also withdraws the order's delivery offer and settles its payment (voids
/// an initiated one, refunds a captured one in full), all or nothing.
#[allow(clippy::too_many_arguments)]
async fn write_status(
    db: &DatabaseConnection,
    policy: &MoneyPolicy,
    current: &order::Model,
    change: &StatusChange,
    reason: Option<String>,
    now: chrono::DateTime<Utc>,
    audit_context: &AuditContext,
) -> Result<Option<(order::Model, Option<Settlement>)>, AppError> {
    let cancelling = change.to == OrderStatus::Cancelled;
    // Only a cancel that settles a payment is a money movement (and holds a
    // permit of the money gate); a payment initiated after this read is
    // still found and settled below, the wallet rows locked as it goes.
    let tx = if cancelling && payments::has_live(db, current.id).await? {
        MoneyTx::begin(db, policy).await?
    } else {
        MoneyTx::from_tx(begin_write(db, Isolation::ReadCommitted).await?)
    };
    if cancelling {
        // Nobody may pick up a cancelled order. Assignments are locked
        // before the order, the order every path takes (accepting and
        // delivering lock the assignment, then the order).
        shipping::withdraw_for_order(&tx, current.id, audit_context).await?;
    }
    let updated = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(change.to.to_value()))
        .col_expr(order::Column::Version, ExprTrait::add(Expr::col(order::Column::Version), 1))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .col_expr(order::Column::CancelReason, Expr::value(reason.clone()))
        .filter(order::Column::Id.eq(current.id))
        .filter(order::Column::Version.eq(current.version))
        .filter(order::Column::DeletedAt.is_null())
        .exec(&*tx)
        .await?;
    if updated.rows_affected != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let next = order::Model {
        status: change.to,
        version: current.version + 1,
        updated_at: now,
        cancel_reason: reason,
        ..current.clone()
    };
    let mut settlement = None;
    if cancelling {
        // Its money goes back.
        let why = format!("Order cancelled: {}", next.cancel_reason.as_deref().unwrap_or("no reason given"));
        settlement = payments::settle_cancelled_order(&tx, policy, current.id, &why, audit_context).await?;
    }
    let action = if cancelling { "order.cancelled" } else { "order.status_updated" };
    audit::record(
        &*tx,
        Change {
            action,
            entity_type: "Order",
            entity_id: current.id,
            old: Some(snapshot(current)),
            new: Some(snapshot(&next)),
            context: audit_context,
        },
    )
    .await?;
    let event = if cancelling { EventType::OrderCancelled } else { EventType::OrderStatusChanged };
    webhooks::emit(&*tx, event, Subject::Order(&next), audit_context).await?;
    tx.commit().await?;
    Ok(Some((next, settlement)))
}

/// Soft-deletes (`deleted = true`) or restores an order (admins). A deleted
/// order vanishes from every read except admin reads with `includeDeleted`,
/// and no lifecycle step moves it (`ORDER_DELETED`) until it is restored.
///
/// Deleting is refused while the order's payment holds captured money
/// (`ORDER_HAS_CAPTURED_PAYMENT`: refund or cancel first). Otherwise, in the
/// same transaction, every unfinished assignment is withdrawn (picked-up
/// ones too) and an initiated payment is voided. Restoring brings back the
/// order only: withdrawn assignments and voided payments stay so.
pub async fn set_deleted(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    order_id: Uuid,
    deleted: bool,
) -> Result<order::Model, AppError> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("Only admins delete or restore orders".into()));
    }
    let tx = begin_write(db, Isolation::ReadCommitted).await?;
    if deleted {
        // The lock order of every path: assignments, the order, its payment.
        shipping::withdraw_all_for_order(&tx, order_id, audit_context).await?;
    }
    let current = order::Entity::find_by_id(order_id)
        .lock(LockType::Update)
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("Order", order_id))?;
    match (deleted, current.deleted_at.is_some()) {
        (true, true) => return Err(AppError::not_found("Order", order_id)),
        (false, false) => {
            return Err(AppError::rule(
                "ORDER_NOT_DELETED",
                "The order is not deleted",
                json!({ "orderId": order_id }),
            ));
        }
        _ => {}
    }
    if deleted && current.status == OrderStatus::Shipping {
        // An agent holds the goods: the delivery ends it (delivered, or
        // failed back to CONFIRMED) before anyone may delete it.
        return Err(AppError::rule(
            "ORDER_IN_DELIVERY",
            "The order is out for delivery; it can be deleted once the delivery ends",
            json!({ "orderId": order_id, "currentStatus": current.status.to_value() }),
        ));
    }
    if deleted && let Some(live) = payments::live_locked(&tx, order_id).await? {
        if live.status != entity::PaymentStatus::Initiated {
            return Err(AppError::rule(
                "ORDER_HAS_CAPTURED_PAYMENT",
                "An order whose payment holds captured money cannot be deleted; refund it or cancel the order first",
                json!({ "orderId": order_id, "paymentId": live.id, "paymentStatus": live.status.to_value() }),
            ));
        }
        payments::void(&tx, &live, audit_context).await?;
    }
    let now = now();
    let next = order::Model {
        deleted_at: deleted.then_some(now),
        deleted_by: deleted.then_some(viewer.id),
        version: current.version + 1,
        updated_at: now,
        ..current.clone()
    };
    let updated = order::Entity::update_many()
        .col_expr(order::Column::DeletedAt, Expr::value(next.deleted_at))
        .col_expr(order::Column::DeletedBy, Expr::value(next.deleted_by))
        .col_expr(order::Column::Version, Expr::value(next.version))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::Version.eq(current.version))
        .exec(&tx)
        .await?;
    if updated.rows_affected != 1 {
        return Err(stale(current.version));
    }
    let action = if deleted { "order.deleted" } else { "order.restored" };
    audit::record(
        &tx,
        Change {
            action,
            entity_type: "Order",
            entity_id: order_id,
            old: Some(snapshot(&current)),
            new: Some(snapshot(&next)),
            context: audit_context,
        },
    )
    .await?;
    if deleted {
        webhooks::emit(&tx, EventType::OrderDeleted, Subject::Order(&next), audit_context).await?;
    }
    tx.commit().await?;
    tracing::info!(event = if deleted { "order_deleted" } else { "order_restored" }, order.id = %order_id, actor = %viewer.id, "order soft delete changed");
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_dated_and_readable() {
        let now = now();
        let number = order_number(now);
        assert!(number.starts_with(&format!("ORD-{}-", now.format("%Y%m%d"))), "{number}");
        assert_eq!(number.len(), 26);
        assert_eq!(&number[19..20], "-");
        let digits = format!("{}{}", &number[13..19], &number[20..]);
        assert!(digits.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert!(!digits.contains(['I', 'L', 'O', 'U']));
    }

    #[test]
    fn order_numbers_carry_sixty_random_bits() {
        // 10,000 draws: with 60 bits a repeat would be a one-in-10^10 event;
        // with the old 30 bits it shows up about 5% of the time.
        let now = now();
        let drawn: std::collections::HashSet<String> = (0..10_000).map(|_| order_number(now)).collect();
        assert_eq!(drawn.len(), 10_000);
    }
}
