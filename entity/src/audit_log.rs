//! `audit_logs`: who changed what, with before and after.

use sea_orm::entity::prelude::*;

/// An audit row; written once, read by admins, pruned by age.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_logs")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who acted; `None` for the system.
    pub actor_id: Option<Uuid>,
    /// What happened, e.g. `order.status_updated`.
    pub action: String,
    /// Kind of entity changed, e.g. `Order`.
    pub entity_type: String,
    /// Id of the entity changed.
    pub entity_id: Uuid,
    /// State before, as JSON.
    pub old_values: Option<Json>,
    /// State after, as JSON.
    pub new_values: Option<Json>,
    /// Request that made the change.
    pub request_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When it happened.
    pub created_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
