//! `webhook_deliveries`: the outbox; one row per event per subscription.

use sea_orm::entity::prelude::*;

use crate::WebhookDeliveryStatus;

/// A webhook delivery row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Where it goes.
    pub subscription_id: Uuid,
    /// Event name, e.g. `order.status_changed`.
    pub event_type: String,
    /// Body sent.
    pub payload: Json,
    /// PENDING, DELIVERED or FAILED.
    pub status: WebhookDeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_retry_at: Option<DateTimeUtc>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The event this row carries (the rows of one event share it).
    pub event_id: Option<Uuid>,
    /// A worker's lease: until then no other worker claims the row.
    pub locked_until: Option<DateTimeUtc>,
    /// The receiver's HTTP status on the last attempt.
    pub last_status: Option<i32>,
    /// When the receiver acknowledged it.
    pub delivered_at: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
