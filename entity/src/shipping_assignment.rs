//! `shipping_assignments`: an order offered to, and carried by, an agent.

use sea_orm::entity::prelude::*;

use crate::AssignmentStatus;

/// A shipping assignment row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "shipping_assignments")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The order carried.
    pub order_id: Uuid,
    /// The agent; `None` while the offer is open to every agent serving the zip code.
    pub agent_id: Option<Uuid>,
    /// Lifecycle state.
    #[serde(deserialize_with = "crate::stored::value")]
    pub status: AssignmentStatus,
    /// Promised delivery time.
    pub estimated_delivery_time: Option<DateTimeUtc>,
    /// When an agent accepted.
    pub accepted_at: Option<DateTimeUtc>,
    /// When the agent picked it up.
    pub picked_up_at: Option<DateTimeUtc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTimeUtc>,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// Optimistic-lock counter.
    pub version: i32,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// Offered to every agent serving the zip code, not to one by name
    /// (kept after an agent takes it).
    pub open_offer: bool,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The agent carrying it (read with a join for a page's assignments).
    #[sea_orm(
        belongs_to = "super::delivery_agent::Entity",
        from = "Column::AgentId",
        to = "super::delivery_agent::Column::Id"
    )]
    Agent,
}

impl Related<super::delivery_agent::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
