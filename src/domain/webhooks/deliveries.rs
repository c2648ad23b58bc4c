//! Outbox rows as the admin reads, retries and prunes them.

use chrono::Utc;
use entity::{WebhookDeliveryStatus, webhook_delivery};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access, now};
use crate::error::AppError;

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Of this subscription.
    pub subscription_id: Option<Uuid>,
    /// In this status.
    pub status: Option<WebhookDeliveryStatus>,
    /// Of this event type, e.g. `order.created`.
    pub event_type: Option<String>,
}

/// Deliveries sort by creation time.
pub fn sort_key(direction: Direction) -> SortKey<webhook_delivery::Entity> {
    SortKey {
        column: webhook_delivery::Column::CreatedAt,
        id: webhook_delivery::Column::Id,
        direction,
        value: |m| SortValue::Time(m.created_at),
        id_of: |m| m.id,
    }
}

fn select(viewer: Option<&Viewer>, filter: &DeliveryFilter) -> Option<Select<webhook_delivery::Entity>> {
    use webhook_delivery::Column as C;
    let mut select = webhook_delivery::Entity::find();
    if let Some(id) = filter.subscription_id {
        select = select.filter(C::SubscriptionId.eq(id));
    }
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status));
    }
    if let Some(t) = &filter.event_type {
        select = select.filter(C::EventType.eq(t.as_str()));
    }
    access::webhooks(viewer).apply(select)
}

/// One page of deliveries (admins only; others see none).
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &DeliveryFilter,
    sort: &SortKey<webhook_delivery::Entity>,
    page: &PageRequest,
) -> Result<Page<webhook_delivery::Model>, AppError> {
    pagination::fetch(db, select(viewer, filter), sort, page).await
}

/// How many deliveries match.
pub async fn count(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &DeliveryFilter,
) -> Result<u64, AppError> {
    pagination::count(db, select(viewer, filter)).await
}

/// Puts a delivery back in the queue, due now, with its attempts reset
/// (admins only): how a dead letter is sent again once the receiver is
/// fixed. A delivered row is refused (the receiver has it already).
pub async fn retry(db: &impl ConnectionTrait, viewer: &Viewer, id: Uuid) -> Result<webhook_delivery::Model, AppError> {
    super::subscriptions::admin(viewer)?;
    let current = webhook_delivery::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("WebhookDelivery", id))?;
    if current.status == WebhookDeliveryStatus::Delivered {
        return Err(AppError::rule(
            "WEBHOOK_ALREADY_DELIVERED",
            "This delivery was acknowledged by its receiver; nothing to retry",
            serde_json::json!({ "deliveryId": id }),
        ));
    }
    let now = now();
    let row = webhook_delivery::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        status: Set(WebhookDeliveryStatus::Pending),
        attempts: Set(0),
        next_retry_at: Set(Some(now)),
        locked_until: Set(None),
        updated_at: Set(now),
        ..Default::default()
    };
    let updated = row.update(db).await?;
    tracing::info!(event = "webhook_delivery_requeued", delivery.id = %id, by = %viewer.id, "webhook delivery queued again by an admin");
    Ok(updated)
}

/// Deletes delivered rows delivered longer ago than `age`; returns how many.
/// Pending and failed rows stay: they are work, or evidence.
pub async fn prune(db: &impl ConnectionTrait, age: chrono::Duration) -> Result<u64, AppError> {
    let cutoff = Utc::now().checked_sub_signed(age).unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let result = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Delivered))
        .filter(webhook_delivery::Column::DeliveredAt.lt(cutoff))
        .exec(db)
        .await?;
    tracing::info!(event = "webhook_deliveries_pruned", deleted = result.rows_affected, cutoff = %cutoff, "delivered webhooks pruned");
    Ok(result.rows_affected)
}
