//! The mutation root. Each mutation authenticates, parses its input, calls
//! one domain function and returns the changed object.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::AssignmentStatus;
use rust_decimal::Decimal;

use crate::domain::agents;
use crate::domain::lookup::EntityKind;
use crate::domain::order_lifecycle::{self, NewItem, NewOrder, StatusChange};
use crate::domain::payment_lifecycle::{self, NewPayment, RefundRequest};
use crate::domain::shipping_lifecycle::{self, NewAssignment};
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::node::decode_as;
use crate::graphql::types::{DeliveryAgent, Order, OrderStatus, Payment, PaymentMethod, ShippingAssignment, Wallet};

/// One line of a new order.
#[derive(InputObject)]
pub struct OrderItemInput {
    /// What is bought (1 to 200 characters).
    pub name: String,
    /// How many (1 to 1000).
    pub quantity: i32,
    /// Price of one, in the order's currency, not negative.
    pub unit_price: Decimal,
}

/// A new order.
#[derive(InputObject)]
pub struct CreateOrderInput {
    /// The seller (a `User` ID).
    pub seller_id: ID,
    /// 1 to 100 lines; the total is computed by the server.
    pub items: Vec<OrderItemInput>,
    /// Where it goes.
    pub delivery_zip_code: String,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

/// A status change.
#[derive(InputObject)]
pub struct UpdateOrderStatusInput {
    /// The order.
    pub order_id: ID,
    /// The new status.
    pub status: OrderStatus,
    /// The `version` you last read; a stale one is CONFLICT.
    pub expected_version: Option<i32>,
}

/// A cancellation.
#[derive(InputObject)]
pub struct CancelOrderInput {
    /// The order.
    pub order_id: ID,
    /// Why (1 to 500 characters).
    pub reason: String,
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
    pub estimated_delivery_time: Option<DateTime<Utc>>,
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

async fn step(
    ctx: &Context<'_>,
    id: &ID,
    to: AssignmentStatus,
    reason: Option<String>,
) -> GqlResult<ShippingAssignment> {
    let viewer = ctx.require_viewer()?;
    let id = decode_as(id, EntityKind::ShippingAssignment)?;
    let moved =
        shipping_lifecycle::advance(ctx.db(), viewer, &ctx.audit_context(), id, to, reason, ctx.money().fee_rate)
            .await?;
    Ok(ShippingAssignment(moved))
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

/// Starting to pay for an order.
#[derive(InputObject)]
pub struct InitiatePaymentInput {
    /// The order (yours, PENDING or CONFIRMED, without a live payment).
    pub order_id: ID,
    /// How it is paid.
    pub method: PaymentMethod,
    /// 1 to 255 characters, unique per request you mean once; a repeat with
    /// the same key and input returns the first response.
    pub idempotency_key: String,
}

/// Capturing a payment.
#[derive(InputObject)]
pub struct CapturePaymentInput {
    /// The payment (INITIATED, not cash on delivery).
    pub payment_id: ID,
    /// 1 to 255 characters; a repeat with the same key returns the first response.
    pub idempotency_key: String,
}

/// Refunding a payment.
#[derive(InputObject)]
pub struct RefundPaymentInput {
    /// The payment (CAPTURED or PARTIALLY_REFUNDED).
    pub payment_id: ID,
    /// How much, in the payment's currency; at most what is left unrefunded.
    pub amount: Decimal,
    /// Why (1 to 500 characters).
    pub reason: String,
    /// 1 to 255 characters; a repeat with the same key and input returns the first response.
    pub idempotency_key: String,
}

/// Funding a wallet.
#[derive(InputObject)]
pub struct TopUpWalletInput {
    /// A user's wallet.
    pub wallet_id: ID,
    /// How much, in the wallet's currency, positive.
    pub amount: Decimal,
    /// 1 to 255 characters; a repeat with the same key and input returns the first response.
    pub idempotency_key: String,
}

/// Entry points for changing things.
#[derive(Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Places an order (buyers).
    async fn create_order(&self, ctx: &Context<'_>, input: CreateOrderInput) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let order = NewOrder {
            seller_id: decode_as(&input.seller_id, EntityKind::User)?,
            items: input
                .items
                .into_iter()
                .map(|i| NewItem { name: i.name, quantity: i.quantity, unit_price: i.unit_price })
                .collect(),
            delivery_zip_code: input.delivery_zip_code,
            currency: input.currency,
        };
        Ok(Order(order_lifecycle::create(ctx.db(), viewer, &ctx.audit_context(), order).await?))
    }

    /// Moves an order along its lifecycle: the seller (or an admin) confirms;
    /// buyer, seller or admin cancel. Shipping and delivery follow the
    /// shipping assignment.
    async fn update_order_status(&self, ctx: &Context<'_>, input: UpdateOrderStatusInput) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let change = StatusChange {
            order_id: decode_as(&input.order_id, EntityKind::Order)?,
            to: input.status.into(),
            expected_version: input.expected_version,
            reason: None,
        };
        Ok(Order(order_lifecycle::change_status(ctx.db(), viewer, &ctx.audit_context(), change).await?))
    }

    /// Offers a confirmed order for delivery (its seller or an admin).
    async fn create_shipping_assignment(
        &self,
        ctx: &Context<'_>,
        input: CreateShippingAssignmentInput,
    ) -> GqlResult<ShippingAssignment> {
        let viewer = ctx.require_viewer()?;
        let new = NewAssignment {
            order_id: decode_as(&input.order_id, EntityKind::Order)?,
            agent_id: input.agent_id.as_ref().map(|id| decode_as(id, EntityKind::DeliveryAgent)).transpose()?,
            estimated_delivery_time: input.estimated_delivery_time,
        };
        Ok(ShippingAssignment(shipping_lifecycle::create(ctx.db(), viewer, &ctx.audit_context(), new).await?))
    }

    /// An agent takes an offer made to them or open in a zip code they serve.
    /// Of many agents accepting at once exactly one wins; the others get
    /// CONFLICT or the rule `ASSIGNMENT_ALREADY_ACCEPTED`.
    async fn accept_assignment(
        &self,
        ctx: &Context<'_>,
        input: AcceptAssignmentInput,
    ) -> GqlResult<ShippingAssignment> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.assignment_id, EntityKind::ShippingAssignment)?;
        Ok(ShippingAssignment(shipping_lifecycle::accept(ctx.db(), viewer, &ctx.audit_context(), id).await?))
    }

    /// The assignment's agent has the parcel; the order is SHIPPING.
    async fn pick_up_assignment(&self, ctx: &Context<'_>, input: AssignmentStepInput) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, AssignmentStatus::PickedUp, None).await
    }

    /// The parcel is on its way.
    async fn start_transit(&self, ctx: &Context<'_>, input: AssignmentStepInput) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, AssignmentStatus::InTransit, None).await
    }

    /// The parcel reached the buyer; the order is DELIVERED. A cash-on-delivery
    /// payment is captured in the same transaction.
    async fn confirm_delivery(&self, ctx: &Context<'_>, input: AssignmentStepInput) -> GqlResult<ShippingAssignment> {
        step(ctx, &input.assignment_id, AssignmentStatus::Delivered, None).await
    }

    /// The delivery failed; the order returns to CONFIRMED to be offered again.
    async fn fail_assignment(&self, ctx: &Context<'_>, input: FailAssignmentInput) -> GqlResult<ShippingAssignment> {
        let reason = input.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::validation("reason", "A reason has 1 to 500 characters").into());
        }
        step(ctx, &input.assignment_id, AssignmentStatus::Failed, Some(reason.to_owned())).await
    }

    /// Soft-deletes an order (admins): it vanishes from every read but admin
    /// reads with `includeDeleted`, and cannot be changed until restored.
    async fn delete_order(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::Order)?;
        Ok(Order(order_lifecycle::set_deleted(ctx.db(), viewer, &ctx.audit_context(), id, true).await?))
    }

    /// Restores a soft-deleted order (admins).
    async fn restore_order(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::Order)?;
        Ok(Order(order_lifecycle::set_deleted(ctx.db(), viewer, &ctx.audit_context(), id, false).await?))
    }

    /// Registers a user with the AGENT role as a delivery agent (admins).
    async fn register_delivery_agent(
        &self,
        ctx: &Context<'_>,
        input: RegisterDeliveryAgentInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let user = decode_as(&input.user_id, EntityKind::User)?;
        let agent =
            agents::register(ctx.db(), viewer, &ctx.audit_context(), user, &input.agent_code, &input.zip_codes).await?;
        Ok(DeliveryAgent(agent))
    }

    /// Turns an agent's availability on or off.
    async fn set_agent_availability(
        &self,
        ctx: &Context<'_>,
        input: SetAgentAvailabilityInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let agent = input.agent_id.as_ref().map(|id| decode_as(id, EntityKind::DeliveryAgent)).transpose()?;
        let updated =
            agents::set_availability(ctx.db(), viewer, &ctx.audit_context(), agent, input.is_available).await?;
        Ok(DeliveryAgent(updated))
    }

    /// Replaces the zip codes an agent serves.
    async fn set_agent_service_zip_codes(
        &self,
        ctx: &Context<'_>,
        input: SetAgentServiceZipCodesInput,
    ) -> GqlResult<DeliveryAgent> {
        let viewer = ctx.require_viewer()?;
        let agent = input.agent_id.as_ref().map(|id| decode_as(id, EntityKind::DeliveryAgent)).transpose()?;
        let updated = agents::set_zip_codes(ctx.db(), viewer, &ctx.audit_context(), agent, &input.zip_codes).await?;
        Ok(DeliveryAgent(updated))
    }

    /// Starts paying for an order (its buyer): one live payment per order,
    /// for the order's total. Idempotent by `idempotencyKey`.
    async fn initiate_payment(&self, ctx: &Context<'_>, input: InitiatePaymentInput) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let new = NewPayment {
            order_id: decode_as(&input.order_id, EntityKind::Order)?,
            method: input.method.into(),
            idempotency_key: &input.idempotency_key,
        };
        let created = payment_lifecycle::initiate(ctx.db(), viewer, &ctx.audit_context(), ctx.money(), new).await?;
        Ok(Payment(created))
    }

    /// Captures an initiated payment (its buyer or an admin) in one
    /// serializable transaction: buyer debit, seller credit less the platform
    /// fee, platform fee credit. `INSUFFICIENT_FUNDS` carries the shortfall.
    /// Cash on delivery is captured by `confirmDelivery` instead. Idempotent
    /// by `idempotencyKey`; a repeat while the first runs is a retryable CONFLICT.
    async fn capture_payment(&self, ctx: &Context<'_>, input: CapturePaymentInput) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.payment_id, EntityKind::Payment)?;
        let captured =
            payment_lifecycle::capture(ctx.db(), viewer, &ctx.audit_context(), ctx.money(), id, &input.idempotency_key)
                .await?;
        Ok(Payment(captured))
    }

    /// Refunds part or all of a captured payment (admins), reversing its
    /// ledger legs proportionally; never more than captured minus earlier
    /// refunds (`REFUND_EXCEEDS_CAPTURED`). Idempotent by `idempotencyKey`.
    async fn refund_payment(&self, ctx: &Context<'_>, input: RefundPaymentInput) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let request = RefundRequest {
            payment_id: decode_as(&input.payment_id, EntityKind::Payment)?,
            amount: input.amount,
            reason: input.reason,
            idempotency_key: &input.idempotency_key,
        };
        let refunded = payment_lifecycle::refund(ctx.db(), viewer, &ctx.audit_context(), ctx.money(), request).await?;
        Ok(Payment(refunded))
    }

    /// Adds money from outside to a user's wallet (admins), as a TOP_UP
    /// ledger entry. Idempotent by `idempotencyKey`.
    async fn top_up_wallet(&self, ctx: &Context<'_>, input: TopUpWalletInput) -> GqlResult<Wallet> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.wallet_id, EntityKind::Wallet)?;
        let wallet = payment_lifecycle::top_up(
            ctx.db(),
            viewer,
            &ctx.audit_context(),
            ctx.money(),
            id,
            input.amount,
            &input.idempotency_key,
        )
        .await?;
        Ok(Wallet(wallet))
    }

    /// Cancels an order before it ships. An initiated payment is voided
    /// (FAILED); a captured one is refunded in full in the same transaction.
    async fn cancel_order(&self, ctx: &Context<'_>, input: CancelOrderInput) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let reason = input.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::validation("reason", "A reason has 1 to 500 characters").into());
        }
        let change = StatusChange {
            order_id: decode_as(&input.order_id, EntityKind::Order)?,
            to: entity::OrderStatus::Cancelled,
            expected_version: None,
            reason: Some(reason.to_owned()),
        };
        Ok(Order(order_lifecycle::change_status(ctx.db(), viewer, &ctx.audit_context(), change).await?))
    }
}
