//! Event types, their versioned payloads, and writing them to the outbox in
//! the caller's transaction.

use chrono::{SecondsFormat, Utc};
use entity::{WebhookDeliveryStatus, order, payment, shipping_assignment, webhook_delivery, webhook_subscription};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveEnum, ConnectionTrait, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::audit::AuditContext;
use crate::domain::lookup::EntityKind;
use crate::domain::money::Currency;
use crate::domain::{new_id, now};
use crate::error::AppError;

/// The version of the payload's shape; bumped on a breaking change.
pub const PAYLOAD_VERSION: u32 = 1;

/// Every event a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An order was placed.
    OrderCreated,
    /// An order moved to another status (other than CANCELLED).
    OrderStatusChanged,
    /// An order was cancelled.
    OrderCancelled,
    /// An order was soft-deleted.
    OrderDeleted,
    /// A payment's money moved to the seller.
    PaymentCaptured,
    /// Money went back to the buyer.
    PaymentRefunded,
    /// The card processor declined a payment's card.
    PaymentDeclined,
    /// An order was offered to delivery agents.
    AssignmentOffered,
    /// An agent accepted an offer.
    AssignmentAccepted,
    /// The agent picked the order up.
    AssignmentPickedUp,
    /// The agent delivered the order.
    AssignmentDelivered,
    /// The delivery failed.
    AssignmentFailed,
}

impl EventType {
    /// Every event type.
    pub const ALL: [Self; 12] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::OrderCancelled,
        Self::OrderDeleted,
        Self::PaymentCaptured,
        Self::PaymentRefunded,
        Self::PaymentDeclined,
        Self::AssignmentOffered,
        Self::AssignmentAccepted,
        Self::AssignmentPickedUp,
        Self::AssignmentDelivered,
        Self::AssignmentFailed,
    ];

    /// The name receivers see (`X-Courier-Event`, the payload's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderDeleted => "order.deleted",
            Self::PaymentCaptured => "payment.captured",
            Self::PaymentRefunded => "payment.refunded",
            Self::PaymentDeclined => "payment.declined",
            Self::AssignmentOffered => "assignment.offered",
            Self::AssignmentAccepted => "assignment.accepted",
            Self::AssignmentPickedUp => "assignment.picked_up",
            Self::AssignmentDelivered => "assignment.delivered",
            Self::AssignmentFailed => "assignment.failed",
        }
    }

    /// The event type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// The object an event is about, as the API shows it to an admin.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An order.
    Order(&'a order::Model),
    /// A payment.
    Payment(&'a payment::Model),
    /// A shipping assignment.
    Assignment(&'a shipping_assignment::Model),
}

fn at(t: &chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn at_opt(t: Option<&chrono::DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(at(t)))
}

fn money(minor: i64, currency: &str) -> Value {
    match Currency::parse(currency) {
        Ok(c) => Value::String(c.to_decimal(minor).to_string()),
        Err(_) => Value::Null,
    }
}

fn reference(kind: EntityKind, id: Uuid) -> Value {
    json!({ "__typename": kind.name(), "id": kind.global_id(id) })
}

impl Subject<'_> {
    /// The object's fields as the API names and formats them (global IDs,
    /// decimal strings, enum spellings), with related objects by ID.
    pub fn view(&self) -> Value {
        match self {
            Self::Order(o) => json!({
                "__typename": "Order",
                "id": EntityKind::Order.global_id(o.id),
                "orderNumber": o.order_number,
                "status": o.status.to_value(),
                "total": money(o.total_minor, &o.currency),
                "currency": o.currency,
                "deliveryZipCode": o.delivery_zip_code,
                "version": o.version,
                "cancelReason": o.cancel_reason,
                "buyer": reference(EntityKind::User, o.buyer_id),
                "seller": reference(EntityKind::User, o.seller_id),
                "createdAt": at(&o.created_at),
                "updatedAt": at(&o.updated_at),
                "deletedAt": at_opt(o.deleted_at.as_ref()),
            }),
            Self::Payment(p) => json!({
                "__typename": "Payment",
                "id": EntityKind::Payment.global_id(p.id),
                "order": reference(EntityKind::Order, p.order_id),
                "amount": money(p.amount_minor, &p.currency),
                "refundedAmount": money(p.refunded_minor, &p.currency),
                "currency": p.currency,
                "method": p.method.to_value(),
                "status": p.status.to_value(),
                "processorStatus": p.processor_status,
                "capturedAt": at_opt(p.captured_at.as_ref()),
                "createdAt": at(&p.created_at),
                "updatedAt": at(&p.updated_at),
            }),
            Self::Assignment(a) => json!({
                "__typename": "ShippingAssignment",
                "id": EntityKind::ShippingAssignment.global_id(a.id),
                "order": reference(EntityKind::Order, a.order_id),
                "agent": a.agent_id.map_or(Value::Null, |id| reference(EntityKind::DeliveryAgent, id)),
                "status": a.status.to_value(),
                "estimatedDeliveryTime": at_opt(a.estimated_delivery_time.as_ref()),
                "acceptedAt": at_opt(a.accepted_at.as_ref()),
                "pickedUpAt": at_opt(a.picked_up_at.as_ref()),
                "deliveredAt": at_opt(a.delivered_at.as_ref()),
                "failureReason": a.failure_reason,
                "version": a.version,
                "createdAt": at(&a.created_at),
                "updatedAt": at(&a.updated_at),
            }),
        }
    }
}

/// The versioned payload of one event.
pub fn payload(event_id: Uuid, event: EventType, subject: Subject<'_>, correlation_id: Option<&str>) -> Value {
    json!({
        "version": PAYLOAD_VERSION,
        "id": event_id,
        "type": event.as_str(),
        "occurredAt": at(&Utc::now()),
        "correlationId": correlation_id,
        "data": { "object": subject.view() },
    })
}

/// Announces `event` to live subscribers (after commit, see
/// [`crate::domain::live`]) and writes it to the outbox: one PENDING row per
/// subscription (active or paused) that asked for it, inside `tx`, the transaction of the
/// change itself (it commits or rolls back with it). Costs one SELECT when
/// nobody subscribes, and one INSERT more otherwise. Returns the rows written.
pub async fn emit(
    tx: &impl ConnectionTrait,
    event: EventType,
    subject: Subject<'_>,
    context: &AuditContext,
) -> Result<usize, AppError> {
    crate::domain::live::notify(tx, event, subject).await?;
    // Paused subscriptions too: a paused one keeps its queue (the worker
    // claims only active subscriptions' rows) and catches up when resumed.
    let subscribers: Vec<Uuid> = webhook_subscription::Entity::find()
        .all(tx)
        .await?
        .into_iter()
        .filter(|s| subscribes_to(&s.event_types, event))
        .map(|s| s.id)
        .collect();
    if subscribers.is_empty() {
        return Ok(0);
    }
    let event_id = new_id();
    let body = payload(event_id, event, subject, context.request_id.as_deref());
    let now = now();
    let rows = subscribers.iter().map(|subscription_id| webhook_delivery::ActiveModel {
        id: Set(new_id()),
        subscription_id: Set(*subscription_id),
        event_type: Set(event.as_str().to_owned()),
        payload: Set(body.clone()),
        status: Set(WebhookDeliveryStatus::Pending),
        attempts: Set(0),
        next_retry_at: Set(Some(now)),
        last_error: Set(None),
        event_id: Set(Some(event_id)),
        locked_until: Set(None),
        last_status: Set(None),
        delivered_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    });
    webhook_delivery::Entity::insert_many(rows).exec_without_returning(tx).await?;
    tracing::debug!(event = "webhook_event_queued", r#type = event.as_str(), %event_id, rows = subscribers.len(), "webhook event queued");
    Ok(subscribers.len())
}

/// Whether a subscription's `event_types` (a JSON array of names) has `event`.
pub fn subscribes_to(event_types: &Value, event: EventType) -> bool {
    event_types.as_array().is_some_and(|types| types.iter().any(|t| t.as_str() == Some(event.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_are_unique() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        let mut names: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert_eq!(EventType::parse("order.status_updated"), None);
    }

    #[test]
    fn a_subscription_gets_only_what_it_asked_for() {
        let types = json!(["order.created", "payment.captured"]);
        assert!(subscribes_to(&types, EventType::OrderCreated));
        assert!(!subscribes_to(&types, EventType::OrderCancelled));
        assert!(!subscribes_to(&json!("order.created"), EventType::OrderCreated));
    }
}
