//! Delivery agents and shipping assignments: reads.

use entity::{AgentStatus, AssignmentStatus, delivery_agent, delivery_agent_zip_code, shipping_assignment};
use sea_orm::sea_query::Query;
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use std::collections::HashMap;
use uuid::Uuid;

use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access};
use crate::error::AppError;

/// Which assignments to list.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    /// Carried by this agent.
    pub agent_id: Option<Uuid>,
    /// Any of these statuses.
    pub status: Option<Vec<AssignmentStatus>>,
    /// Of this order.
    pub order_id: Option<Uuid>,
}

/// Indexed columns assignments can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentSort {
    /// `idx_shipping_assignments_created_at`
    CreatedAt,
}

/// The sort key for assignments.
pub fn assignment_sort_key(sort: AssignmentSort, direction: Direction) -> SortKey<shipping_assignment::Entity> {
    let (column, value): (shipping_assignment::Column, fn(&shipping_assignment::Model) -> SortValue) = match sort {
        AssignmentSort::CreatedAt => (shipping_assignment::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
    };
    SortKey { column, id: shipping_assignment::Column::Id, direction, value, id_of: |m| m.id }
}

fn assignments(viewer: Option<&Viewer>, filter: &AssignmentFilter) -> Option<Select<shipping_assignment::Entity>> {
    use shipping_assignment::Column as C;
    let mut select = shipping_assignment::Entity::find();
    if let Some(id) = filter.agent_id {
        select = select.filter(C::AgentId.eq(id));
    }
    if let Some(status) = &filter.status {
        select = select.filter(C::Status.is_in(status.iter().copied()));
    }
    if let Some(id) = filter.order_id {
        select = select.filter(C::OrderId.eq(id));
    }
    access::shipping_assignments(viewer).apply(select)
}

/// One page of the assignments the viewer may see.
pub async fn list_assignments(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AssignmentFilter,
    sort: &SortKey<shipping_assignment::Entity>,
    page: &PageRequest,
) -> Result<Page<shipping_assignment::Model>, AppError> {
    pagination::fetch(db, assignments(viewer, filter), sort, page).await
}

/// How many assignments match.
pub async fn count_assignments(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AssignmentFilter,
) -> Result<u64, AppError> {
    pagination::count(db, assignments(viewer, filter)).await
}

/// Visible assignments of `orders`, oldest first, in one statement.
pub async fn assignments_of_orders(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[Uuid],
) -> Result<Vec<shipping_assignment::Model>, AppError> {
    let filter = AssignmentFilter::default();
    let select = assignments(viewer, &filter).map(|s| {
        s.filter(shipping_assignment::Column::OrderId.is_in(orders.iter().copied()))
            .order_by_asc(shipping_assignment::Column::CreatedAt)
    });
    match select {
        Some(select) => Ok(select.all(db).await?),
        None => Ok(Vec::new()),
    }
}

/// One page of visible assignments per agent, all in one statement.
pub async fn assignments_of_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    agents: &[Uuid],
    filter: &AssignmentFilter,
    sort: &SortKey<shipping_assignment::Entity>,
    page: &PageRequest,
) -> Result<HashMap<Uuid, Page<shipping_assignment::Model>>, AppError> {
    pagination::fetch_per_parent(
        db,
        assignments(viewer, filter),
        shipping_assignment::Column::AgentId,
        |m| m.agent_id,
        agents,
        sort,
        page,
    )
    .await
}

/// How many visible assignments each agent has, in one statement.
pub async fn count_assignments_of_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    agents: &[Uuid],
) -> Result<HashMap<Uuid, u64>, AppError> {
    let select = assignments(viewer, &AssignmentFilter::default());
    pagination::count_per_parent(db, select, shipping_assignment::Column::AgentId, agents).await
}

/// Whether an assignment still binds the order (not finished, failed or withdrawn).
pub fn is_active(status: AssignmentStatus) -> bool {
    matches!(
        status,
        AssignmentStatus::Offered
            | AssignmentStatus::Accepted
            | AssignmentStatus::PickedUp
            | AssignmentStatus::InTransit
    )
}

/// Which agents to list.
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    /// Serving this zip code (uses `idx_delivery_agent_zip_codes_zip_code`).
    pub zip_code: Option<String>,
    /// Available or not.
    pub is_available: Option<bool>,
    /// ACTIVE or SUSPENDED.
    pub status: Option<AgentStatus>,
}

/// Indexed columns agents can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSort {
    /// `idx_delivery_agents_created_at`
    CreatedAt,
    /// unique `agent_code`
    AgentCode,
}

/// The sort key for agents.
pub fn agent_sort_key(sort: AgentSort, direction: Direction) -> SortKey<delivery_agent::Entity> {
    let (column, value): (delivery_agent::Column, fn(&delivery_agent::Model) -> SortValue) = match sort {
        AgentSort::CreatedAt => (delivery_agent::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        AgentSort::AgentCode => (delivery_agent::Column::AgentCode, |m| SortValue::Text(m.agent_code.clone())),
    };
    SortKey { column, id: delivery_agent::Column::Id, direction, value, id_of: |m| m.id }
}

fn agents(viewer: Option<&Viewer>, filter: &AgentFilter) -> Option<Select<delivery_agent::Entity>> {
    use delivery_agent::Column as C;
    let mut select = delivery_agent::Entity::find();
    if let Some(zip) = &filter.zip_code {
        select = select.filter(
            C::Id.in_subquery(
                Query::select()
                    .column(delivery_agent_zip_code::Column::AgentId)
                    .from(delivery_agent_zip_code::Entity)
                    .and_where(delivery_agent_zip_code::Column::ZipCode.eq(zip.trim()))
                    .to_owned(),
            ),
        );
    }
    if let Some(available) = filter.is_available {
        select = select.filter(C::IsAvailable.eq(available));
    }
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status.to_value()));
    }
    access::delivery_agents(viewer).apply(select)
}

/// One page of agents.
pub async fn list_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AgentFilter,
    sort: &SortKey<delivery_agent::Entity>,
    page: &PageRequest,
) -> Result<Page<delivery_agent::Model>, AppError> {
    pagination::fetch(db, agents(viewer, filter), sort, page).await
}

/// How many agents match.
pub async fn count_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &AgentFilter,
) -> Result<u64, AppError> {
    pagination::count(db, agents(viewer, filter)).await
}

/// Active, available agents serving `zip_code`, by agent code (at most 100).
/// The zip code lookup goes through `idx_delivery_agent_zip_codes_zip_code`.
pub async fn available_agents(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    zip_code: &str,
) -> Result<Vec<delivery_agent::Model>, AppError> {
    let filter = AgentFilter {
        zip_code: Some(zip_code.trim().to_ascii_uppercase()),
        is_available: Some(true),
        status: Some(AgentStatus::Active),
    };
    let key = agent_sort_key(AgentSort::AgentCode, Direction::Asc);
    let page = list_agents(db, viewer, &filter, &key, &PageRequest::first(pagination::MAX_PAGE_SIZE)).await?;
    Ok(page.rows.into_iter().map(|(_, agent)| agent).collect())
}

/// Visible agents among `ids`, in one statement.
pub async fn agents_by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<delivery_agent::Model>, AppError> {
    let select = delivery_agent::Entity::find().filter(delivery_agent::Column::Id.is_in(ids.iter().copied()));
    access::delivery_agents(viewer).all(db, select).await
}

/// Zip codes served by `agents`, in one statement.
pub async fn zip_codes_of(
    db: &impl ConnectionTrait,
    agents: &[Uuid],
) -> Result<Vec<delivery_agent_zip_code::Model>, AppError> {
    Ok(delivery_agent_zip_code::Entity::find()
        .filter(delivery_agent_zip_code::Column::AgentId.is_in(agents.iter().copied()))
        .order_by_asc(delivery_agent_zip_code::Column::ZipCode)
        .all(db)
        .await?)
}

/// Delivery performance of one agent over delivered assignments.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMetrics {
    /// Deliveries in the window.
    pub delivered_count: u64,
    /// Of those, delivered by the estimated time.
    pub on_time_count: u64,
    /// Mean minutes from acceptance to delivery, when any.
    pub average_delivery_minutes: Option<f64>,
}

/// Computes an agent's metrics in SQL over its DELIVERED assignments whose
/// `delivered_at` is in `[from, to)` (the agent itself or admins). The
/// minutes between two timestamps is the one expression that differs per
/// backend.
pub async fn agent_metrics(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    agent: &delivery_agent::Model,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<AgentMetrics, AppError> {
    if !(viewer.is_admin() || agent.user_id == viewer.id) {
        return Err(AppError::Forbidden("Only the agent and admins see its metrics".into()));
    }
    let backend = db.get_database_backend();
    let postgres = backend == sea_orm::DatabaseBackend::Postgres;
    let minutes = if postgres {
        "CAST(EXTRACT(EPOCH FROM (delivered_at - accepted_at)) / 60.0 AS DOUBLE PRECISION)"
    } else {
        "(julianday(delivered_at) - julianday(accepted_at)) * 1440.0"
    };
    let mut values: Vec<sea_orm::Value> = vec![agent.id.into()];
    let mut conditions = vec!["status = 'DELIVERED'".to_owned(), "agent_id = {}".to_owned()];
    for (bound, op) in [(from, ">="), (to, "<")] {
        if let Some(at) = bound {
            values.push(at.into());
            conditions.push(format!("delivered_at {op} {{}}"));
        }
    }
    // Number the placeholders for PostgreSQL (`$1`), plain `?` for SQLite.
    let mut n = 0;
    let conditions: Vec<String> = conditions
        .into_iter()
        .map(|c| {
            if c.contains("{}") {
                n += 1;
                c.replace("{}", &if postgres { format!("${n}") } else { "?".to_owned() })
            } else {
                c
            }
        })
        .collect();
    let sql = format!(
        "SELECT COUNT(*) AS delivered, \
         COALESCE(SUM(CASE WHEN estimated_delivery_time IS NOT NULL AND delivered_at <= estimated_delivery_time THEN 1 ELSE 0 END), 0) AS on_time, \
         AVG({minutes}) AS avg_minutes \
         FROM shipping_assignments WHERE {}",
        conditions.join(" AND ")
    );
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| AppError::Internal("metrics query returned no row".into()))?;
    let delivered: i64 = row.try_get("", "delivered")?;
    let on_time: i64 = row.try_get("", "on_time")?;
    let average: Option<f64> = row.try_get("", "avg_minutes")?;
    Ok(AgentMetrics {
        delivered_count: u64::try_from(delivered).unwrap_or(0),
        on_time_count: u64::try_from(on_time).unwrap_or(0),
        average_delivery_minutes: average,
    })
}
