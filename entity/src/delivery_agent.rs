//! `delivery_agents`: users who deliver, with their availability.

use sea_orm::entity::prelude::*;

use crate::AgentStatus;

/// A delivery agent row; the zip codes it serves are in `delivery_agent_zip_codes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "delivery_agents")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The agent's user account; one agent per user.
    #[sea_orm(unique)]
    pub user_id: Uuid,
    /// Short public code, unique.
    #[sea_orm(unique)]
    pub agent_code: String,
    /// ACTIVE or SUSPENDED.
    #[serde(deserialize_with = "crate::stored::value")]
    pub status: AgentStatus,
    /// Whether the agent takes work right now.
    pub is_available: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The agent's user account.
    #[sea_orm(belongs_to = "super::user::Entity", from = "Column::UserId", to = "super::user::Column::Id")]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
