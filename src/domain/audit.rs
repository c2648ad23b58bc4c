//! The audit trail: every change is recorded inside the transaction that
//! makes it ([`record`]); admins read it as a connection; `courier audit
//! prune` deletes old rows ([`prune`]).

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access, now};
use crate::error::AppError;

/// Which audit rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Kind of entity, e.g. `Order`.
    pub entity_type: Option<String>,
    /// Id of the entity.
    pub entity_id: Option<Uuid>,
    /// Who acted.
    pub actor_id: Option<Uuid>,
    /// What happened, e.g. `order.status_updated`.
    pub action: Option<String>,
    /// At or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Before.
    pub created_before: Option<DateTime<Utc>>,
}

/// Audit rows sort by time (`idx_audit_logs_created`).
pub fn sort_key(direction: Direction) -> SortKey<audit_log::Entity> {
    SortKey {
        column: audit_log::Column::CreatedAt,
        id: audit_log::Column::Id,
        direction,
        value: |m| SortValue::Time(m.created_at),
        id_of: |m| m.id,
    }
}

fn select(viewer: Option<&Viewer>, filter: &AuditFilter) -> Option<Select<audit_log::Entity>> {
    use audit_log::Column as C;
    let mut select = audit_log::Entity::find();
    if let Some(t) = &filter.entity_type {
        select = select.filter(C::EntityType.eq(t.as_str()));
    }
    if let Some(id) = filter.entity_id {
        select = select.filter(C::EntityId.eq(id));
    }
    if let Some(id) = filter.actor_id {
        select = select.filter(C::ActorId.eq(id));
    }
    if let Some(a) = &filter.action {
        select = select.filter(C::Action.eq(a.as_str()));
    }
    if let Some(t) = filter.created_after {
        select = select.filter(C::CreatedAt.gte(t));
    }
    if let Some(t) = filter.created_before {
        select = select.filter(C::CreatedAt.lt(t));
    }
    access::audit_logs(viewer).apply(select)
}

/// One page of audit rows.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AuditFilter,
    sort: &SortKey<audit_log::Entity>,
    page: &PageRequest,
) -> Result<Page<audit_log::Model>, AppError> {
    pagination::fetch(db, select(viewer, filter), sort, page).await
}

/// How many audit rows match.
pub async fn count(db: &impl ConnectionTrait, viewer: Option<&Viewer>, filter: &AuditFilter) -> Result<u64, AppError> {
    pagination::count(db, select(viewer, filter)).await
}

/// Who made a change and from where, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    /// The acting user.
    pub actor_id: Option<Uuid>,
    /// The request's `X-Request-ID`.
    pub request_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// What happened, e.g. `order.status_updated`.
    pub action: &'static str,
    /// Kind of entity, e.g. `Order`.
    pub entity_type: &'static str,
    /// The entity.
    pub entity_id: Uuid,
    /// State before.
    pub old: Option<serde_json::Value>,
    /// State after.
    pub new: Option<serde_json::Value>,
    /// Who and from where.
    pub context: &'a AuditContext,
}

/// Appends an audit row inside the caller's transaction: it commits or rolls
/// back with the change it describes, costs one INSERT, and can never record
/// a change that did not happen.
pub async fn record(db: &impl ConnectionTrait, change: Change<'_>) -> Result<(), AppError> {
    use sea_orm::ActiveValue::Set;
    let row = audit_log::ActiveModel {
        id: Set(crate::domain::new_id()),
        actor_id: Set(change.context.actor_id),
        action: Set(change.action.to_owned()),
        entity_type: Set(change.entity_type.to_owned()),
        entity_id: Set(change.entity_id),
        old_values: Set(change.old),
        new_values: Set(change.new),
        request_id: Set(change.context.request_id.clone()),
        ip: Set(change.context.ip.clone()),
        user_agent: Set(change.context.user_agent.clone()),
        created_at: Set(now()),
    };
    audit_log::Entity::insert(row).exec_without_returning(db).await.map_err(|e| {
        tracing::error!(event = "audit_write_failed", action = change.action, entity_id = %change.entity_id, error = %e, "audit write failed");
        AppError::from(e)
    })?;
    Ok(())
}

/// Deletes audit rows older than `age`; returns how many.
pub async fn prune(db: &impl ConnectionTrait, age: chrono::Duration) -> Result<u64, AppError> {
    let cutoff = Utc::now().checked_sub_signed(age).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let result = audit_log::Entity::delete_many().filter(audit_log::Column::CreatedAt.lt(cutoff)).exec(db).await?;
    tracing::info!(event = "audit_pruned", deleted = result.rows_affected, cutoff = %cutoff, "audit log pruned");
    Ok(result.rows_affected)
}
