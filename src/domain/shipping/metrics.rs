//! Agents' delivery metrics, computed in SQL over DELIVERED assignments, for
//! every agent of a page in one statement (grouped by agent).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{AssignmentStatus, delivery_agent, shipping_assignment};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, FromQueryResult};
use uuid::Uuid;

use crate::db;
use crate::domain::{Viewer, check_timestamp};
use crate::error::AppError;

/// Delivery performance of one agent over delivered assignments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentMetrics {
    /// Deliveries in the window.
    pub delivered_count: u64,
    /// Of those, delivered by the estimated time.
    pub on_time_count: u64,
    /// Mean minutes from acceptance to delivery, when any.
    pub average_delivery_minutes: Option<f64>,
}

/// Which deliveries count: `delivered_at` in `[from, to)`, each bound optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MetricsWindow {
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

impl MetricsWindow {
    /// The window `[from, to)`, each bound checked to be storable.
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, AppError> {
        for (field, bound) in [("from", &from), ("to", &to)] {
            if let Some(at) = bound {
                check_timestamp(field, at)?;
            }
        }
        Ok(Self { from, to })
    }
}

/// Only the agent itself and admins see an agent's metrics.
pub fn authorize_metrics(viewer: &Viewer, agent: &delivery_agent::Model) -> Result<(), AppError> {
    if viewer.is_admin() || agent.user_id == viewer.id {
        Ok(())
    } else {
        Err(AppError::Forbidden("Only the agent and admins see its metrics".into()))
    }
}

#[derive(Debug, FromQueryResult)]
struct Row {
    agent_id: Uuid,
    delivered: i64,
    on_time: i64,
    avg_minutes: Option<f64>,
}

/// The metrics of each of `agents` over `window`, in one statement; an agent
/// without deliveries in the window gets zeros. The caller has checked
/// [`authorize_metrics`] for each agent.
pub async fn metrics_of_agents(
    db: &impl ConnectionTrait,
    window: MetricsWindow,
    agents: &[Uuid],
) -> Result<HashMap<Uuid, AgentMetrics>, AppError> {
    use shipping_assignment::Column as C;
    let backend = db.get_database_backend();
    let on_time = Expr::case(
        C::EstimatedDeliveryTime.is_not_null().and(Expr::col(C::DeliveredAt).lte(Expr::col(C::EstimatedDeliveryTime))),
        1,
    )
    .finally(0);
    let minutes = db::minutes_between(backend, Expr::col(C::AcceptedAt), Expr::col(C::DeliveredAt));
    let mut query = Query::select();
    query
        .column(C::AgentId)
        .expr_as(Expr::col(C::Id).count(), Alias::new("delivered"))
        .expr_as(Expr::expr(on_time).sum(), Alias::new("on_time"))
        .expr_as(minutes.avg(), Alias::new("avg_minutes"))
        .from(shipping_assignment::Entity)
        .and_where(C::Status.eq(AssignmentStatus::Delivered))
        .and_where(C::AgentId.is_in(agents.iter().copied()))
        .group_by_col(C::AgentId);
    if let Some(from) = window.from {
        query.and_where(C::DeliveredAt.gte(from));
    }
    if let Some(to) = window.to {
        query.and_where(C::DeliveredAt.lt(to));
    }
    let rows = Row::find_by_statement(backend.build(&query)).all(db).await?;
    let mut out: HashMap<Uuid, AgentMetrics> = agents.iter().map(|id| (*id, AgentMetrics::default())).collect();
    for row in rows {
        out.insert(
            row.agent_id,
            AgentMetrics {
                delivered_count: u64::try_from(row.delivered).unwrap_or(0),
                on_time_count: u64::try_from(row.on_time).unwrap_or(0),
                average_delivery_minutes: row.avg_minutes,
            },
        );
    }
    Ok(out)
}
