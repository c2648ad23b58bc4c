//! `AuditLog`.

use async_graphql::{Context, ID, Json, Object};
use chrono::{DateTime, Utc};

use crate::domain::lookup::EntityKind;
use crate::error::GqlResult;
use crate::graphql::context::ContextExt;
use crate::graphql::node::encode;
use crate::graphql::types::User;

/// Who changed what, with before and after. Admins only.
pub struct AuditLog(pub entity::audit_log::Model);

#[Object]
impl AuditLog {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::AuditLog, self.0.id)
    }
    /// Who acted (null for the system).
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(id) = self.0.actor_id else { return Ok(None) };
        Ok(ctx.loaders().user.load_one(id).await?.map(User))
    }
    /// What happened, e.g. `order.status_updated`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// Kind of entity changed.
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }
    /// Global ID of the entity changed (when its kind has one).
    async fn entity_id(&self) -> ID {
        match EntityKind::from_name(&self.0.entity_type) {
            Some(kind) => encode(kind, self.0.entity_id),
            None => ID(self.0.entity_id.to_string()),
        }
    }
    /// State before.
    async fn old_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.old_values.clone().map(Json)
    }
    /// State after.
    async fn new_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.new_values.clone().map(Json)
    }
    /// Request that made the change.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// Client address.
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }
    /// Client user agent.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }
    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
