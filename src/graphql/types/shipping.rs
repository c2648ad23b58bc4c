//! `DeliveryAgent` and `ShippingAssignment`.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::lookup::EntityKind;
use crate::domain::pagination::Page;
use crate::domain::shipping;
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::inputs::ShippingAssignmentSort;
use crate::graphql::loaders::{NestedCount, NestedPage};
use crate::graphql::node::encode;
use crate::graphql::pagination::{Conn, PageArgs, Paging, TotalCount, paging};
use crate::graphql::types::{AgentStatus, AssignmentStatus, Order, User};

/// Someone who delivers orders.
pub struct DeliveryAgent(pub entity::delivery_agent::Model);

#[Object]
impl DeliveryAgent {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::DeliveryAgent, self.0.id)
    }
    /// Short public code.
    async fn agent_code(&self) -> &str {
        &self.0.agent_code
    }
    /// ACTIVE or SUSPENDED.
    async fn status(&self) -> AgentStatus {
        self.0.status.into()
    }
    /// Whether the agent takes work now.
    async fn is_available(&self) -> bool {
        self.0.is_available
    }
    /// The agent's user account.
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<User> {
        let id = self.0.user_id;
        Ok(User(ctx.loaders().user.load_one(id).await?.ok_or_else(|| AppError::not_found("User", id))?))
    }
    /// Zip codes the agent serves, sorted.
    async fn zip_codes(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        Ok(ctx.loaders().zip_codes.load_one(self.0.id).await?.unwrap_or_default())
    }
    /// The agent's assignments the viewer may see, newest first by default.
    /// Pages (and `totalCount`s) of many agents are read in one statement.
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        order_by: Option<ShippingAssignmentSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ShippingAssignment>> {
        let Paging { sort, direction, scope, page } = paging(
            "DeliveryAgent.assignments",
            ShippingAssignmentSort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let key = (self.0.id, NestedPage { sort, direction, page });
        let page = ctx.loaders().agent_assignments.load_one(key).await?.unwrap_or_else(Page::empty);
        Ok(scope.connection(page, TotalCount::Nested(NestedCount::AgentAssignments(self.0.id)), ShippingAssignment))
    }
    /// Delivery performance over `[from, to)` of delivery time (the agent
    /// itself and admins only).
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> GqlResult<AgentMetrics> {
        let viewer = ctx.require_viewer()?;
        let m = shipping::agent_metrics(ctx.db(), viewer, &self.0, from, to).await?;
        Ok(AgentMetrics {
            delivered_count: m.delivered_count,
            on_time_count: m.on_time_count,
            on_time_rate: (m.delivered_count > 0).then(|| m.on_time_count as f64 / m.delivered_count as f64),
            average_delivery_minutes: m.average_delivery_minutes,
        })
    }
    /// When the agent was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Delivery performance of an agent.
#[derive(SimpleObject)]
pub struct AgentMetrics {
    /// Deliveries in the window.
    pub delivered_count: u64,
    /// Deliveries made by the estimated time.
    pub on_time_count: u64,
    /// `onTimeCount / deliveredCount`, null without deliveries.
    pub on_time_rate: Option<f64>,
    /// Mean minutes from acceptance to delivery, null without deliveries.
    pub average_delivery_minutes: Option<f64>,
}

/// An order offered to, and carried by, an agent.
pub struct ShippingAssignment(pub entity::shipping_assignment::Model);

#[Object]
impl ShippingAssignment {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::ShippingAssignment, self.0.id)
    }
    /// Lifecycle state.
    async fn status(&self) -> AssignmentStatus {
        self.0.status.into()
    }
    /// The order carried (null when it was deleted).
    async fn order(&self, ctx: &Context<'_>) -> GqlResult<Option<Order>> {
        Ok(ctx.loaders().order.load_one(self.0.order_id).await?.map(Order))
    }
    /// The agent; null while the offer is open to every agent serving the zip code.
    async fn agent(&self, ctx: &Context<'_>) -> GqlResult<Option<DeliveryAgent>> {
        let Some(id) = self.0.agent_id else { return Ok(None) };
        Ok(ctx.loaders().agent.load_one(id).await?.map(DeliveryAgent))
    }
    /// Promised delivery time.
    async fn estimated_delivery_time(&self) -> Option<DateTime<Utc>> {
        self.0.estimated_delivery_time
    }
    /// When an agent accepted.
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }
    /// When the parcel was collected.
    async fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.picked_up_at
    }
    /// When it was delivered.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Why it failed.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }
    /// Optimistic-lock version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
