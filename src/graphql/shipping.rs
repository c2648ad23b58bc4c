//! Shipping in the API: `DeliveryAgent`, `ShippingAssignment` and
//! `AgentMetrics`, their enums, the agents' and assignments' filters and
//! sorts, and the shipping fields of Query and Mutation (offer, accept, the
//! delivery steps, agent registration and service area).

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use entity::AssignmentStatus as Step;

use crate::domain::lookup::{EntityKind, Found};
use crate::domain::pagination::Page;
use crate::domain::shipping::{self, NewAssignment};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlResult, in_input};
use crate::graphql::loaders::{NestedCount, NestedPage};
use crate::graphql::node::{decode_as, decode_opt, encode, find};
use crate::graphql::orders::Order;
use crate::graphql::pagination::{
    Conn, PageArgs, Paging, TotalCount, connection_cost, list, paging, sort_input, total,
};
use crate::graphql::users::User;

/// Whether an agent may take work.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::AgentStatus")]
pub enum AgentStatus {
    /// May accept assignments.
    Active,
    /// May not accept assignments.
    Suspended,
}

/// Shipping assignment lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::AssignmentStatus")]
pub enum AssignmentStatus {
    /// Offered to an agent or open.
    Offered,
    /// Taken by an agent.
    Accepted,
    /// Parcel collected.
    PickedUp,
    /// On the way.
    InTransit,
    /// Delivered.
    Delivered,
    /// Could not be delivered.
    Failed,
    /// Withdrawn.
    Cancelled,
}

/// Someone who delivers orders.
pub struct DeliveryAgent(pub entity::delivery_agent::Model);

/// Someone who delivers orders.
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
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<
            ShippingAssignmentSort,
        >,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<ShippingAssignment>> {
        let Paging { sort, direction, scope, page } = paging(
            ctx,
            "DeliveryAgent.assignments",
            ShippingAssignmentSort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let key = (self.0.id, NestedPage { sort, direction, page });
        let page = ctx.loaders().agent_assignments.load_one(key).await?.unwrap_or_else(Page::empty);
        Ok(scope.connection(page, TotalCount::Nested(NestedCount::AgentAssignments(self.0.id)), ShippingAssignment))
    }
    /// Delivery performance over `[from, to)` of delivery time (the agent
    /// itself and admins only: null, with a FORBIDDEN error, for anyone else).
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Count deliveries made at or after this instant.")] from: Option<DateTime>,
        #[graphql(desc = "Count deliveries made before this instant.")] to: Option<DateTime>,
    ) -> GqlResult<Option<AgentMetrics>> {
        let viewer = ctx.require_viewer()?;
        shipping::authorize_metrics(viewer, &self.0)?;
        let window = shipping::MetricsWindow::new(from.map(|at| at.0), to.map(|at| at.0))?;
        let m = match ctx.loaders().agent_metrics.load_one((self.0.id, window)).await? {
            Some(Ok(m)) => m,
            Some(Err(err)) => return Err(err.into()),
            None => shipping::AgentMetrics::default(),
        };
        Ok(Some(AgentMetrics {
            delivered_count: m.delivered_count,
            on_time_count: m.on_time_count,
            on_time_rate: (m.delivered_count > 0).then(|| m.on_time_count as f64 / m.delivered_count as f64),
            average_delivery_minutes: m.average_delivery_minutes,
        }))
    }
    /// When the agent was registered.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
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

/// An order offered to, and carried by, an agent.
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
    async fn estimated_delivery_time(&self) -> Option<DateTime> {
        self.0.estimated_delivery_time.map(Into::into)
    }
    /// When an agent accepted.
    async fn accepted_at(&self) -> Option<DateTime> {
        self.0.accepted_at.map(Into::into)
    }
    /// When the parcel was collected.
    async fn picked_up_at(&self) -> Option<DateTime> {
        self.0.picked_up_at.map(Into::into)
    }
    /// When it was delivered.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(Into::into)
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
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

sort_input!(ShippingAssignmentSort, ShippingAssignmentSortField, shipping::AssignmentSort, "shipping assignments", {
    CreatedAt => shipping::AssignmentSort::CreatedAt,
});

/// Which shipping assignments to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct ShippingAssignmentFilter {
    /// Carried by this agent.
    pub agent_id: Option<ID>,
    /// Any of these statuses.
    pub status: Option<Vec<AssignmentStatus>>,
    /// Of this order.
    pub order_id: Option<ID>,
}

impl ShippingAssignmentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<shipping::AssignmentFilter, AppError> {
        Ok(shipping::AssignmentFilter {
            agent_id: decode_opt(self.agent_id.as_ref(), EntityKind::DeliveryAgent, "filter.agentId")?,
            status: list(&self.status),
            order_id: decode_opt(self.order_id.as_ref(), EntityKind::Order, "filter.orderId")?,
        })
    }
}

sort_input!(DeliveryAgentSort, DeliveryAgentSortField, shipping::AgentSort, "delivery agents", {
    CreatedAt => shipping::AgentSort::CreatedAt,
    AgentCode => shipping::AgentSort::AgentCode,
});

/// Which delivery agents to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct DeliveryAgentFilter {
    /// Serving this zip code.
    pub zip_code: Option<String>,
    /// Available or not.
    pub is_available: Option<bool>,
    /// ACTIVE or SUSPENDED.
    pub status: Option<AgentStatus>,
}

impl DeliveryAgentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> shipping::AgentFilter {
        shipping::AgentFilter {
            zip_code: self.zip_code,
            is_available: self.is_available,
            status: self.status.map(Into::into),
        }
    }
}

/// A new delivery offer.
#[derive(InputObject)]
pub struct CreateShippingAssignmentInput {
    /// The order (CONFIRMED, without an active assignment).
    pub order_id: ID,
    /// Offer to this agent only; omit to open it to every available agent
    /// serving the order's zip code.
    pub agent_id: Option<ID>,
    /// Promised delivery time.
    pub estimated_delivery_time: Option<DateTime>,
}

/// Taking an offer.
#[derive(InputObject)]
pub struct AcceptAssignmentInput {
    /// The assignment.
    pub assignment_id: ID,
}

/// One step of a delivery.
#[derive(InputObject)]
pub struct AssignmentStepInput {
    /// The assignment.
    pub assignment_id: ID,
}

/// A failed delivery.
#[derive(InputObject)]
pub struct FailAssignmentInput {
    /// The assignment.
    pub assignment_id: ID,
    /// What went wrong (1 to 500 characters).
    pub reason: String,
}

/// A new delivery agent.
#[derive(InputObject)]
pub struct RegisterDeliveryAgentInput {
    /// A user with the AGENT role.
    pub user_id: ID,
    /// Short public code (letters, digits, dashes).
    pub agent_code: String,
    /// Zip codes served.
    pub zip_codes: Vec<String>,
}

/// Availability of an agent.
#[derive(InputObject)]
pub struct SetAgentAvailabilityInput {
    /// Admins name the agent; agents omit it to change themselves.
    pub agent_id: Option<ID>,
    /// Taking work or not.
    pub is_available: bool,
}

/// Service area of an agent.
#[derive(InputObject)]
pub struct SetAgentServiceZipCodesInput {
    /// Admins name the agent; agents omit it to change themselves.
    pub agent_id: Option<ID>,
    /// The full new set (replaces the old one).
    pub zip_codes: Vec<String>,
}

async fn step(ctx: &Context<'_>, id: &ID, to: Step, reason: Option<String>) -> GqlResult<ShippingAssignment> {
    let viewer = ctx.require_viewer()?;
    let id = decode_as(id, EntityKind::ShippingAssignment, "input.assignmentId")?;
    let moved = shipping::advance(ctx.pool(), viewer, &ctx.audit_context(), id, to, reason, ctx.money())
        .await
        .map_err(in_input)?;
    Ok(ShippingAssignment(moved))
}

/// Shipping reads.
#[derive(Default)]
pub struct ShippingQuery;

#[Object]
impl ShippingQuery {
    /// Shipping assignments the viewer may see: their own as agent, open
    /// offers in zip codes they serve, those of their orders.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn shipping_assignments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<
            ShippingAssignmentFilter,
        >,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<
            ShippingAssignmentSort,
        >,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<ShippingAssignment>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort, direction, scope, page } = paging(
            ctx,
            "shippingAssignments",
            ShippingAssignmentSort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let key = shipping::assignment_sort_key(sort, direction);
        let rows = shipping::list_assignments(ctx.db(), Some(viewer), &filter, &key, &page).await?;
        let total =
            total(ctx, filter, |db, v, f| async move { shipping::count_assignments(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, ShippingAssignment))
    }
    /// Delivery agents (any signed-in user sees their public profile).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn delivery_agents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<
            DeliveryAgentFilter,
        >,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<DeliveryAgentSort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<DeliveryAgent>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain();
        let Paging { sort, direction, scope, page } = paging(
            ctx,
            "deliveryAgents",
            DeliveryAgentSort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let key = shipping::agent_sort_key(sort, direction);
        let rows = shipping::list_agents(ctx.db(), Some(viewer), &filter, &key, &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { shipping::count_agents(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, DeliveryAgent))
    }
    /// Active agents taking work in a zip code, by agent code.
    async fn available_agents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The zip code the agents must serve.")] zip_code: String,
    ) -> GqlResult<Vec<DeliveryAgent>> {
        let viewer = ctx.require_viewer()?;
        let agents = shipping::available_agents(ctx.db(), Some(viewer), &zip_code).await?;
        Ok(agents.into_iter().map(DeliveryAgent).collect())
    }
    /// One delivery agent by global ID.
    async fn delivery_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: ID,
    ) -> GqlResult<DeliveryAgent> {
        find(ctx, &id, EntityKind::DeliveryAgent, |f| {
            if let Found::DeliveryAgent(m) = f { Some(DeliveryAgent(m)) } else { None }
        })
        .await
    }
}

/// Shipping changes.
#[derive(Default)]
pub struct ShippingMutation;

#[Object]
impl ShippingMutation {
    /// Offers a confirmed order for delivery (its seller or an admin).
    async fn create_shipping_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateShippingAssignmentInput,
    ) -> GqlResult<ShippingAssignment> {
        let viewer = ctx.require_viewer()?;
        let new = NewAssignment {
            order_id: decode_as(&input.order_id, EntityKind::Order, "input.orderId")?,
            agent_id: decode_opt(input.agent_id.as_ref(), EntityKind::DeliveryAgent, "input.agentId")?,
            estimated_delivery_time: input.estimated_delivery_time.map(|at| at.0),
        };
        Ok(ShippingAssignment(shipping::offer(ctx.pool(), viewer, &ctx.audit_context(), new).await.map_err(in_input)?))
    }
    /// An agent takes an offer made to them or open in a zip code they serve.
    /// Of many agents accepting at once exactly one wins; the others get
    /// CONFLICT or the rule `ASSIGNMENT_ALREADY_ACCEPTED`.
    async fn accept_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AcceptAssignmentInput,
    ) -> GqlResult<ShippingAssignment> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.assignment_id, EntityKind::ShippingAssignment, "input.assignmentId")?;
        Ok(ShippingAssignment(shipping::accept(ctx.pool(), viewer, &ctx.audit_context(), id).await.map_err(in_input)?))
    }
    /// The assignment's agent has the parcel; the order is SHIPPING.
    async fn pick_up_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AssignmentStepInput,
    ) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, Step::PickedUp, None).await
    }
    /// The parcel is on its way.
    async fn start_transit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AssignmentStepInput,
    ) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, Step::InTransit, None).await
    }
    /// The parcel reached the buyer; the order is DELIVERED. A cash-on-delivery
    /// payment is captured in the same transaction.
    async fn confirm_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AssignmentStepInput,
    ) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, Step::Delivered, None).await
    }
    /// The delivery failed; the order returns to CONFIRMED to be offered again.
    async fn fail_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: FailAssignmentInput,
    ) -> GqlResult<ShippingAssignment> {
        let reason = input.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::validation("input.reason", "A reason has 1 to 500 characters").into());
        }
        step(ctx, &input.assignment_id, Step::Failed, Some(reason.to_owned())).await
    }
    /// Registers a user with the AGENT role as a delivery agent (admins).
    async fn register_delivery_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: RegisterDeliveryAgentInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let user = decode_as(&input.user_id, EntityKind::User, "input.userId")?;
        let agent =
            shipping::register(ctx.pool(), viewer, &ctx.audit_context(), user, &input.agent_code, &input.zip_codes)
                .await
                .map_err(in_input)?;
        Ok(DeliveryAgent(agent))
    }
    /// Turns an agent's availability on or off.
    async fn set_agent_availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SetAgentAvailabilityInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let agent = decode_opt(input.agent_id.as_ref(), EntityKind::DeliveryAgent, "input.agentId")?;
        let updated = shipping::set_availability(ctx.pool(), viewer, &ctx.audit_context(), agent, input.is_available)
            .await
            .map_err(in_input)?;
        Ok(DeliveryAgent(updated))
    }
    /// Replaces the zip codes an agent serves.
    async fn set_agent_service_zip_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SetAgentServiceZipCodesInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let agent = decode_opt(input.agent_id.as_ref(), EntityKind::DeliveryAgent, "input.agentId")?;
        let updated = shipping::set_zip_codes(ctx.pool(), viewer, &ctx.audit_context(), agent, &input.zip_codes)
            .await
            .map_err(in_input)?;
        Ok(DeliveryAgent(updated))
    }
}
