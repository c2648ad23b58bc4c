//! Shipping assignments: which ones the viewer may see, their lists, counts
//! and per-order and per-agent batches.

use entity::{AssignmentStatus, delivery_agent, shipping_assignment, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select, SelectThree, TopologyChain};
use std::collections::HashMap;
use uuid::Uuid;

use crate::domain::ids::Ids;
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
    access::rows(db, assignments_of_orders_select(viewer, Ids::listed(orders))).await
}

/// The statement of [`assignments_of_orders`]; `None` when the viewer may see none.
pub fn assignments_of_orders_select(
    viewer: Option<&Viewer>,
    orders: Ids<'_>,
) -> Option<Select<shipping_assignment::Entity>> {
    assignments(viewer, &AssignmentFilter::default()).map(|s| {
        s.filter(orders.matched_by(shipping_assignment::Column::OrderId))
            .order_by_asc(shipping_assignment::Column::CreatedAt)
            .order_by_asc(shipping_assignment::Column::Id)
    })
}

/// A visible assignment with its agent (when the viewer may see it) and the
/// agent's user.
pub type AssignmentWithAgent = (shipping_assignment::Model, Option<delivery_agent::Model>, Option<user::Model>);

/// The statement of [`assignments_with_agents_of_orders`], before the
/// agents' own rule is applied to its rows; `None` when no assignment is
/// visible.
pub fn assignments_with_agents_of_orders_select(
    viewer: Option<&Viewer>,
    orders: Ids<'_>,
) -> Option<SelectThree<shipping_assignment::Entity, delivery_agent::Entity, user::Entity, TopologyChain>> {
    assignments_of_orders_select(viewer, orders)
        .map(|select| select.find_also_related(delivery_agent::Entity).and_also_related(user::Entity))
}

/// Visible assignments of `orders`, oldest first, each joined with its agent
/// and the agent's user (one-to-one levels), in one statement.
pub async fn assignments_with_agents_of_orders(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[Uuid],
) -> Result<Vec<AssignmentWithAgent>, AppError> {
    let Some(select) = assignments_with_agents_of_orders_select(viewer, Ids::listed(orders)) else {
        return Ok(Vec::new());
    };
    let mut rows = select.all(db).await?;
    // The agents' own rule, applied to the joined rows.
    match access::delivery_agents(viewer) {
        access::Scope::All => {}
        access::Scope::Nothing => rows.iter_mut().for_each(|(_, agent, user)| (*agent, *user) = (None, None)),
        access::Scope::Only(_) => {
            let ids: Vec<Uuid> = rows.iter().filter_map(|(_, agent, _)| agent.as_ref().map(|a| a.id)).collect();
            let visible: Vec<Uuid> = super::agents_by_ids(db, viewer, &ids).await?.into_iter().map(|a| a.id).collect();
            for (_, agent, user) in &mut rows {
                if agent.as_ref().is_some_and(|a| !visible.contains(&a.id)) {
                    (*agent, *user) = (None, None);
                }
            }
        }
    }
    Ok(rows)
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
