//! `webhook_subscriptions`: where to send which events.

use sea_orm::entity::prelude::*;

/// A webhook subscription row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscriptions")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Receiver URL.
    pub url: String,
    /// Event names delivered, as a JSON array of strings (portable across backends).
    pub event_types: Json,
    /// HMAC secret for signing payloads.
    pub secret: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
