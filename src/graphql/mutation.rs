//! The mutation root. Each mutation authenticates, parses its input, calls
//! one domain function and returns the changed object.

use async_graphql::{Context, ID, InputObject, Object};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::order_lifecycle::{self, NewItem, NewOrder, StatusChange};
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::node::decode_as;
use crate::graphql::types::{Order, OrderStatus};

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

    /// Cancels an order before it ships.
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
