//! An assignment's life: offering an order (`offer`), an agent taking it
//! (`accept`, the contended path: many agents may tap "accept" on one open
//! offer at once), the steps of the delivery (`advance`: pick up, transit,
//! deliver, fail) with the order following, and withdrawing offers of a
//! cancelled order. Every write locks the assignment row first, then the
//! order, the one lock order of every path.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{AssignmentStatus, OrderStatus, delivery_agent, order, shipping_assignment};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::LockBehavior;
use sea_orm::sea_query::LockType;
use sea_orm::{ActiveEnum, ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::db::{Isolation, begin_write};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::money::MoneyPolicy;
use crate::domain::shipping::{agents, assignments};
use crate::domain::wallets::MoneyTx;
use crate::domain::webhooks::{self, EventType, events::Subject};
use crate::domain::{Viewer, check_timestamp, new_id, now, orders, payments};
use crate::error::{AppError, DbFailure, classify};

/// Longest an accept may hold its transaction.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

fn snapshot(a: &shipping_assignment::Model) -> serde_json::Value {
    json!({
        "status": a.status.to_value(),
        "agentId": a.agent_id,
        "version": a.version,
        "acceptedAt": a.accepted_at,
    })
}

/// A new offer.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// The order (CONFIRMED, without an active assignment).
    pub order_id: Uuid,
    /// Offer to this agent only; `None` opens it to every available agent
    /// serving the order's zip code.
    pub agent_id: Option<Uuid>,
    /// Promised delivery time.
    pub estimated_delivery_time: Option<DateTime<Utc>>,
}

/// Offers a confirmed order for delivery (its seller or an admin).
pub async fn offer(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    input: NewAssignment,
) -> Result<shipping_assignment::Model, AppError> {
    let started = Instant::now();
    if let Some(at) = &input.estimated_delivery_time {
        check_timestamp("estimatedDeliveryTime", at)?;
    }
    let order = orders::for_change(db, viewer, input.order_id).await?;
    if !(viewer.is_admin() || order.seller_id == viewer.id) {
        return Err(AppError::Forbidden("Only the seller or an admin offers an order for delivery".into()));
    }
    if let Some(agent_id) = input.agent_id {
        let agent = delivery_agent::Entity::find_by_id(agent_id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::validation("agentId", "No delivery agent has this id"))?;
        agents::check_can_take(db, &agent, &order).await?;
    }

    let tx = begin_write(db, Isolation::ReadCommitted).await?;
    // Lock the order row so two concurrent offers for one order cannot both
    // see "no active assignment" (SQLite: the immediate transaction already
    // holds the write lock).
    let locked = order::Entity::find_by_id(order.id)
        .lock(LockType::Update)
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("Order", order.id))?;
    orders::ensure_live(&locked)?;
    if locked.status != OrderStatus::Confirmed {
        return Err(AppError::rule(
            "ORDER_NOT_CONFIRMED",
            "Only a confirmed order can be offered for delivery",
            json!({ "currentStatus": locked.status.to_value() }),
        ));
    }
    let existing =
        shipping_assignment::Entity::find().filter(shipping_assignment::Column::OrderId.eq(order.id)).all(&tx).await?;
    if let Some(active) = existing.iter().find(|a| assignments::is_active(a.status)) {
        return Err(AppError::rule(
            "ORDER_ALREADY_ASSIGNED",
            "The order already has an active shipping assignment",
            json!({ "assignmentStatus": active.status.to_value() }),
        ));
    }
    let now = now();
    let assignment = shipping_assignment::Model {
        id: new_id(),
        order_id: order.id,
        agent_id: input.agent_id,
        status: AssignmentStatus::Offered,
        estimated_delivery_time: input.estimated_delivery_time,
        accepted_at: None,
        picked_up_at: None,
        delivered_at: None,
        failure_reason: None,
        version: 0,
        created_at: now,
        updated_at: now,
        open_offer: input.agent_id.is_none(),
    };
    shipping_assignment::Entity::insert(shipping_assignment::ActiveModel::from(assignment.clone()))
        .exec_without_returning(&tx)
        .await?;
    audit::record(
        &tx,
        Change {
            action: "shipping_assignment.created",
            entity_type: "ShippingAssignment",
            entity_id: assignment.id,
            old: None,
            new: Some(snapshot(&assignment)),
            context: audit_context,
        },
    )
    .await?;
    webhooks::emit(&tx, EventType::AssignmentOffered, Subject::Assignment(&assignment), audit_context).await?;
    tx.commit().await?;
    tracing::info!(
        event = "shipping_assignment_created",
        assignment.id = %assignment.id,
        order.id = %order.id,
        agent.id = ?assignment.agent_id,
        actor = %viewer.id,
        duration_ms = crate::telemetry::ms(started.elapsed()),
        "shipping assignment created"
    );
    Ok(assignment)
}

/// An agent takes an offer. The assignment row is locked with
/// `FOR UPDATE NOWAIT` (SQLite: the immediate transaction's write lock) so
/// that of many agents accepting at once exactly one wins; the others get
/// CONFLICT while the winner holds the lock, or `ASSIGNMENT_ALREADY_ACCEPTED`
/// after it committed.
pub async fn accept(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    assignment_id: Uuid,
) -> Result<shipping_assignment::Model, AppError> {
    let started = Instant::now();
    let agent = agent_of(db, viewer, "Only delivery agents accept assignments").await?;
    let work = accept_locked(db, &agent, audit_context, assignment_id);
    let result = match tokio::time::timeout(ACCEPT_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => Err(AppError::Unavailable("Accepting took too long, retry".into())),
    };
    match &result {
        Ok(a) => tracing::info!(
            event = "shipping_assignment_accepted",
            assignment.id = %a.id,
            order.id = %a.order_id,
            agent.id = %agent.id,
            actor = %viewer.id,
            duration_ms = crate::telemetry::ms(started.elapsed()),
            "shipping assignment accepted"
        ),
        Err(AppError::Conflict { .. }) => tracing::warn!(
            event = "shipping_assignment_conflict",
            assignment.id = %assignment_id,
            agent.id = %agent.id,
            actor = %viewer.id,
            duration_ms = crate::telemetry::ms(started.elapsed()),
            "assignment is being processed by another request"
        ),
        Err(_) => {}
    }
    result
}

async fn accept_locked(
    db: &DatabaseConnection,
    agent: &delivery_agent::Model,
    audit_context: &AuditContext,
    assignment_id: Uuid,
) -> Result<shipping_assignment::Model, AppError> {
    let tx = begin_write(db, Isolation::ReadCommitted).await.map_err(|e| match classify(&e) {
        DbFailure::LockNotAvailable | DbFailure::SerializationFailure => busy(),
        _ => e.into(),
    })?;
    match accept_in(&tx, agent, audit_context, assignment_id).await {
        Ok(accepted) => {
            tx.commit().await?;
            Ok(accepted)
        }
        Err(err) => {
            // Roll back before answering: a dropped transaction is rolled
            // back only when its connection is next used, and until then its
            // row lock would turn the next agent's NOWAIT into a CONFLICT.
            let _ = tx.rollback().await;
            Err(err)
        }
    }
}

/// The accept itself, inside `tx` (committed or rolled back by the caller).
async fn accept_in(
    tx: &sea_orm::DatabaseTransaction,
    agent: &delivery_agent::Model,
    audit_context: &AuditContext,
    assignment_id: Uuid,
) -> Result<shipping_assignment::Model, AppError> {
    let assignment = lock_assignment(tx, assignment_id).await?;
    // Offered to someone else: never this agent's to take (whatever
    // `open_offer` says).
    if assignment.agent_id.is_some_and(|a| a != agent.id) && assignment.status == AssignmentStatus::Offered {
        return Err(AppError::not_found("ShippingAssignment", assignment_id));
    }
    let order = order::Entity::find_by_id(assignment.order_id)
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found("Order", assignment.order_id))?;
    // Neither offered to this agent nor openly in a zip code they serve:
    // they could never see it (`access::shipping_assignments`), so for them
    // it does not exist, whatever its status or zip code. An agent serving
    // the zip code of an open offer may have seen it, and is told below what
    // became of it.
    let may_have_seen = assignment.agent_id == Some(agent.id)
        || (assignment.open_offer && agents::serves(tx, agent.id, &order.delivery_zip_code).await?);
    if !may_have_seen {
        return Err(AppError::not_found("ShippingAssignment", assignment_id));
    }
    orders::ensure_live(&order)?;
    match assignment.status {
        AssignmentStatus::Offered => {}
        AssignmentStatus::Cancelled | AssignmentStatus::Failed => {
            return Err(AppError::rule(
                "ASSIGNMENT_WITHDRAWN",
                "The assignment is no longer offered",
                json!({ "assignmentStatus": assignment.status.to_value() }),
            ));
        }
        _ => {
            return Err(AppError::rule(
                "ASSIGNMENT_ALREADY_ACCEPTED",
                "The assignment has already been taken",
                json!({ "assignmentStatus": assignment.status.to_value() }),
            ));
        }
    }
    if order.status != OrderStatus::Confirmed {
        return Err(AppError::rule(
            "ORDER_NOT_CONFIRMED",
            "The order is no longer waiting for delivery",
            json!({ "currentStatus": order.status.to_value() }),
        ));
    }
    agents::check_can_take(tx, agent, &order).await?;

    let now = now();
    let mut active: shipping_assignment::ActiveModel = assignment.clone().into();
    active.status = Set(AssignmentStatus::Accepted);
    active.agent_id = Set(Some(agent.id));
    active.accepted_at = Set(Some(now));
    active.version = Set(assignment.version + 1);
    active.updated_at = Set(now);
    let accepted = active.update(tx).await?;
    audit::record(
        tx,
        Change {
            action: "shipping_assignment.accepted",
            entity_type: "ShippingAssignment",
            entity_id: accepted.id,
            old: Some(snapshot(&assignment)),
            new: Some(snapshot(&accepted)),
            context: audit_context,
        },
    )
    .await?;
    webhooks::emit(tx, EventType::AssignmentAccepted, Subject::Assignment(&accepted), audit_context).await?;
    Ok(accepted)
}

/// Whether the viewer is a delivery agent (FORBIDDEN with `why` if not).
pub async fn require_agent(db: &DatabaseConnection, viewer: &Viewer, why: &'static str) -> Result<(), AppError> {
    agent_of(db, viewer, why).await.map(|_| ())
}

/// The assignment `id` if it is an open offer the viewer (an agent) could
/// accept now: still OFFERED, offered to anyone or to them, and their agent
/// active, available and serving the order's zip code. What an
/// `assignmentOffered` subscriber is sent; anything else is `None`.
pub async fn acceptable_offer(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
) -> Result<Option<shipping_assignment::Model>, AppError> {
    let Ok(agent) = agent_of(db, viewer, "Only delivery agents receive offers").await else { return Ok(None) };
    let Some(offer) = shipping_assignment::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    if offer.status != AssignmentStatus::Offered || offer.agent_id.is_some_and(|a| a != agent.id) {
        return Ok(None);
    }
    let Some(order) = order::Entity::find_by_id(offer.order_id).one(db).await? else { return Ok(None) };
    if order.deleted_at.is_some() {
        return Ok(None);
    }
    Ok(agents::check_can_take(db, &agent, &order).await.ok().map(|()| offer))
}

/// The viewer's delivery-agent row, or FORBIDDEN with `why`.
async fn agent_of(
    db: &DatabaseConnection,
    viewer: &Viewer,
    why: &'static str,
) -> Result<delivery_agent::Model, AppError> {
    delivery_agent::Entity::find()
        .filter(delivery_agent::Column::UserId.eq(viewer.id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Forbidden(why.into()))
}

/// Locks an assignment row with `FOR UPDATE NOWAIT` (SQLite: the immediate
/// transaction's write lock). The lock is what makes "exactly one change
/// wins" true: without it two agents could both read OFFERED and both write
/// ACCEPTED. A row locked by another request is a retryable CONFLICT.
async fn lock_assignment(tx: &sea_orm::DatabaseTransaction, id: Uuid) -> Result<shipping_assignment::Model, AppError> {
    shipping_assignment::Entity::find_by_id(id)
        .lock_with_behavior(LockType::Update, LockBehavior::Nowait)
        .one(tx)
        .await
        .map_err(|e| match classify(&e) {
            DbFailure::LockNotAvailable => {
                crate::telemetry::metrics::row_lock_conflict("shipping_assignment");
                busy()
            }
            _ => e.into(),
        })?
        .ok_or_else(|| AppError::not_found("ShippingAssignment", id))
}

fn busy() -> AppError {
    AppError::Conflict {
        message: "This assignment is being processed by another request".into(),
        context: json!({ "retryable": true }),
    }
}

/// Withdraws the order's offered or accepted assignments (the order was
/// cancelled), inside the caller's transaction, auditing each.
pub async fn withdraw_for_order(
    tx: &sea_orm::DatabaseTransaction,
    order_id: Uuid,
    audit_context: &AuditContext,
) -> Result<(), AppError> {
    withdraw(tx, order_id, &[AssignmentStatus::Offered, AssignmentStatus::Accepted], audit_context).await
}

/// Withdraws every assignment of the order that is not finished, picked-up
/// ones included (the order is being deleted), auditing each.
pub async fn withdraw_all_for_order(
    tx: &sea_orm::DatabaseTransaction,
    order_id: Uuid,
    audit_context: &AuditContext,
) -> Result<(), AppError> {
    use AssignmentStatus::*;
    withdraw(tx, order_id, &[Offered, Accepted, PickedUp, InTransit], audit_context).await
}

async fn withdraw(
    tx: &sea_orm::DatabaseTransaction,
    order_id: Uuid,
    statuses: &[AssignmentStatus],
    audit_context: &AuditContext,
) -> Result<(), AppError> {
    let active = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::OrderId.eq(order_id))
        .filter(shipping_assignment::Column::Status.is_in(statuses.iter().copied()))
        .lock(LockType::Update)
        .all(tx)
        .await?;
    let now = now();
    for assignment in active {
        let mut row: shipping_assignment::ActiveModel = assignment.clone().into();
        row.status = Set(AssignmentStatus::Cancelled);
        row.version = Set(assignment.version + 1);
        row.updated_at = Set(now);
        let withdrawn = row.update(tx).await?;
        audit::record(
            tx,
            Change {
                action: "shipping_assignment.withdrawn",
                entity_type: "ShippingAssignment",
                entity_id: withdrawn.id,
                old: Some(snapshot(&assignment)),
                new: Some(snapshot(&withdrawn)),
                context: audit_context,
            },
        )
        .await?;
    }
    Ok(())
}

/// Whether the assignment's agent may move it `from -> to`.
pub fn step_allowed(from: AssignmentStatus, to: AssignmentStatus) -> bool {
    use AssignmentStatus::*;
    matches!(
        (from, to),
        (Accepted, PickedUp)
            | (PickedUp, InTransit)
            | (PickedUp | InTransit, Delivered)
            | (Accepted | PickedUp | InTransit, Failed)
    )
}

/// The order status that goes with an assignment moving to `to`, given the
/// order's current status (`None`: the order does not change).
fn order_status_after(to: AssignmentStatus, order: OrderStatus) -> Option<OrderStatus> {
    match (to, order) {
        (AssignmentStatus::PickedUp, _) => Some(OrderStatus::Shipping),
        (AssignmentStatus::Delivered, _) => Some(OrderStatus::Delivered),
        // A failed delivery puts the order back up for a new offer.
        (AssignmentStatus::Failed, OrderStatus::Shipping) => Some(OrderStatus::Confirmed),
        _ => None,
    }
}

/// The agent of an assignment moves it on (pick up, start transit, deliver,
/// fail), and the order with it, in one transaction with the same locking
/// discipline as accepting.
pub async fn advance(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    assignment_id: Uuid,
    to: AssignmentStatus,
    reason: Option<String>,
    policy: &MoneyPolicy,
) -> Result<shipping_assignment::Model, AppError> {
    let started = Instant::now();
    let agent = agent_of(db, viewer, "Only the assignment's agent moves it").await?;
    // A delivery that collects cash is a money movement: it holds a permit
    // of the money gate (no payment can be initiated on a shipping order, so
    // the answer cannot change before the transaction). The rows it touches
    // are locked as it goes.
    let collects = to == AssignmentStatus::Delivered && {
        let order_id = shipping_assignment::Entity::find_by_id(assignment_id).one(db).await?.map(|a| a.order_id);
        match order_id {
            Some(id) => payments::cash_due(db, id).await?.is_some(),
            None => false,
        }
    };
    let tx = if collects {
        MoneyTx::begin(db, policy).await?
    } else {
        MoneyTx::from_tx(begin_write(db, Isolation::ReadCommitted).await?)
    };
    let (moved, collected) = match advance_in(&tx, &agent, audit_context, assignment_id, to, reason, policy).await {
        Ok(done) => {
            tx.commit().await?;
            done
        }
        Err(err) => {
            // Roll back before answering, as accepting does: a dropped
            // transaction is rolled back only when its connection goes back
            // to the pool, and until then its row lock turns the agent's
            // next step (NOWAIT) into a CONFLICT.
            let _ = tx.rollback().await;
            return Err(err);
        }
    };
    if let Some(payment) = &collected {
        payments::log_captured(payment, started, 1, "confirmDelivery");
    }
    let event = if to == AssignmentStatus::Delivered {
        "shipping_assignment_delivered"
    } else {
        "shipping_assignment_status_updated"
    };
    tracing::info!(
        event,
        assignment.id = %moved.id,
        order.id = %moved.order_id,
        agent.id = %agent.id,
        to = %to.to_value(),
        actor = %viewer.id,
        duration_ms = crate::telemetry::ms(started.elapsed()),
        "shipping assignment moved"
    );
    Ok(moved)
}

/// The step itself, inside `tx` (committed or rolled back by the caller):
/// the moved assignment, and the payment collected on delivery, if any.
async fn advance_in(
    tx: &MoneyTx,
    agent: &delivery_agent::Model,
    audit_context: &AuditContext,
    assignment_id: Uuid,
    to: AssignmentStatus,
    reason: Option<String>,
    policy: &MoneyPolicy,
) -> Result<(shipping_assignment::Model, Option<entity::payment::Model>), AppError> {
    let assignment = Some(lock_assignment(tx, assignment_id).await?)
        .filter(|a| a.agent_id == Some(agent.id))
        .ok_or_else(|| AppError::not_found("ShippingAssignment", assignment_id))?;
    let order = order::Entity::find_by_id(assignment.order_id)
        .lock(LockType::Update)
        .one(&**tx)
        .await?
        .ok_or_else(|| AppError::not_found("Order", assignment.order_id))?;
    orders::ensure_live(&order)?;
    if !step_allowed(assignment.status, to) {
        return Err(AppError::rule(
            "INVALID_ASSIGNMENT_TRANSITION",
            format!("An assignment cannot move from {} to {}", assignment.status.to_value(), to.to_value()),
            json!({ "currentStatus": assignment.status.to_value(), "requestedStatus": to.to_value() }),
        ));
    }

    let now = now();
    let mut active: shipping_assignment::ActiveModel = assignment.clone().into();
    active.status = Set(to);
    active.version = Set(assignment.version + 1);
    active.updated_at = Set(now);
    match to {
        AssignmentStatus::PickedUp => active.picked_up_at = Set(Some(now)),
        AssignmentStatus::Delivered => active.delivered_at = Set(Some(now)),
        AssignmentStatus::Failed => active.failure_reason = Set(reason),
        _ => {}
    }
    let moved = active.update(&**tx).await?;
    audit::record(
        &**tx,
        Change {
            action: "shipping_assignment.status_updated",
            entity_type: "ShippingAssignment",
            entity_id: moved.id,
            old: Some(snapshot(&assignment)),
            new: Some(snapshot(&moved)),
            context: audit_context,
        },
    )
    .await?;
    let event = match to {
        AssignmentStatus::PickedUp => Some(EventType::AssignmentPickedUp),
        AssignmentStatus::Delivered => Some(EventType::AssignmentDelivered),
        AssignmentStatus::Failed => Some(EventType::AssignmentFailed),
        _ => None,
    };
    if let Some(event) = event {
        webhooks::emit(&**tx, event, Subject::Assignment(&moved), audit_context).await?;
    }

    if let Some(next) = order_status_after(to, order.status) {
        orders::check_transition(order.status, next)?;
        let mut o: order::ActiveModel = order.clone().into();
        o.status = Set(next);
        o.version = Set(order.version + 1);
        o.updated_at = Set(now);
        let updated = o.update(&**tx).await?;
        audit::record(
            &**tx,
            Change {
                action: "order.status_updated",
                entity_type: "Order",
                entity_id: order.id,
                old: Some(json!({ "status": order.status.to_value(), "version": order.version })),
                new: Some(json!({ "status": updated.status.to_value(), "version": updated.version })),
                context: audit_context,
            },
        )
        .await?;
        webhooks::emit(&**tx, EventType::OrderStatusChanged, Subject::Order(&updated), audit_context).await?;
    }
    let collected = match to {
        AssignmentStatus::Delivered => payments::collect_cash_on_delivery(tx, &order, policy, audit_context).await?,
        _ => None,
    };
    Ok((moved, collected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn assignment_steps_follow_the_delivery() {
        use AssignmentStatus::*;
        let allowed: Vec<(AssignmentStatus, AssignmentStatus)> = AssignmentStatus::iter()
            .flat_map(|from| AssignmentStatus::iter().map(move |to| (from, to)))
            .filter(|(from, to)| step_allowed(*from, *to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Accepted, PickedUp),
                (Accepted, Failed),
                (PickedUp, InTransit),
                (PickedUp, Delivered),
                (PickedUp, Failed),
                (InTransit, Delivered),
                (InTransit, Failed),
            ]
        );
    }

    #[test]
    fn the_order_follows_the_assignment() {
        assert_eq!(order_status_after(AssignmentStatus::PickedUp, OrderStatus::Confirmed), Some(OrderStatus::Shipping));
        assert_eq!(
            order_status_after(AssignmentStatus::Delivered, OrderStatus::Shipping),
            Some(OrderStatus::Delivered)
        );
        assert_eq!(order_status_after(AssignmentStatus::Failed, OrderStatus::Shipping), Some(OrderStatus::Confirmed));
        assert_eq!(order_status_after(AssignmentStatus::Failed, OrderStatus::Confirmed), None);
        assert_eq!(order_status_after(AssignmentStatus::InTransit, OrderStatus::Shipping), None);
    }
}
