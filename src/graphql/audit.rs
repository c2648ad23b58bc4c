//! The audit trail in the API: `AuditLog`, the `auditLogs` connection's
//! filter and sort (admins only).

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, InputObject, Json, Object};

use crate::domain::audit;
use crate::domain::lookup::EntityKind;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::GqlResult;
use crate::graphql::node::{decode, decode_opt, encode};
use crate::graphql::pagination::{Conn, PageArgs, Paging, connection_cost, paging, sort_input, total};
use crate::graphql::users::User;

/// Who changed what, with before and after. Admins only.
pub struct AuditLog(pub entity::audit_log::Model);

/// Who changed what, with before and after. Admins only.
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
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

sort_input!(AuditLogSort, AuditLogSortField, (), "audit log entries", {
    CreatedAt => (),
});

/// Which audit log entries to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct AuditLogFilter {
    /// Kind of entity, e.g. `Order`.
    pub entity_type: Option<String>,
    /// The entity (a global ID).
    pub entity_id: Option<ID>,
    /// Who acted.
    pub actor_id: Option<ID>,
    /// What happened, e.g. `order.status_updated`.
    pub action: Option<String>,
    /// At or after.
    pub created_after: Option<DateTime>,
    /// Before.
    pub created_before: Option<DateTime>,
}

impl AuditLogFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<audit::AuditFilter, AppError> {
        let (entity_type, entity_id) = match &self.entity_id {
            Some(id) => {
                let (kind, uuid) = decode(id, "filter.entityId")?;
                (Some(kind.name().to_owned()), Some(uuid))
            }
            None => (self.entity_type, None),
        };
        Ok(audit::AuditFilter {
            entity_type,
            entity_id,
            actor_id: decode_opt(self.actor_id.as_ref(), EntityKind::User, "filter.actorId")?,
            action: self.action,
            created_after: self.created_after.map(|at| at.0),
            created_before: self.created_before.map(|at| at.0),
        })
    }
}

/// Audit trail reads.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail (admins only), filtered by entity, actor, action and time.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<AuditLogFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<AuditLogSort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<AuditLog>> {
        let viewer = ctx.require_admin()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort: _, direction, scope, page } =
            paging(ctx, "auditLogs", AuditLogSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = audit::list(ctx.db(), Some(viewer), &filter, &audit::sort_key(direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { audit::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, AuditLog))
    }
}
