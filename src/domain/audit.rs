//! The audit trail: reads (admins only).

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access};
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
