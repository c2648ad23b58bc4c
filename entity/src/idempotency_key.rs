//! `idempotency_keys`: stored responses of money mutations, by client key.

use sea_orm::entity::prelude::*;

/// One client idempotency key. Unique per actor, so two clients cannot collide.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who sent the key.
    pub actor_id: Uuid,
    /// The client's key, 1 to 255 characters.
    pub key: String,
    /// Mutation it was used with, e.g. `capturePayment`.
    pub operation: String,
    /// Hash of the request input; a repeat with other input is refused.
    pub request_hash: String,
    /// Stored response; `None` while the first request is still running.
    pub response: Option<Json>,
    /// When the key was first seen.
    pub created_at: DateTimeUtc,
    /// When the response was stored.
    pub completed_at: Option<DateTimeUtc>,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
