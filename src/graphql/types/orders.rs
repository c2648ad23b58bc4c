//! `Order` and `OrderItem`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::domain::{payments, shipping};
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::node::encode;
use crate::graphql::types::{OrderStatus, Payment, ShippingAssignment, User};

/// What a buyer bought from a seller.
pub struct Order(pub entity::order::Model);

#[Object]
impl Order {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::Order, self.0.id)
    }
    /// Human-readable number, unique.
    async fn order_number(&self) -> &str {
        &self.0.order_number
    }
    /// Lifecycle state.
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    /// Sum of the items, exact, in `currency`.
    async fn total(&self) -> Decimal {
        minor_to_decimal(self.0.total_minor, &self.0.currency)
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Delivery zip code.
    async fn delivery_zip_code(&self) -> &str {
        &self.0.delivery_zip_code
    }
    /// Optimistic-lock version; pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// Who pays.
    async fn buyer(&self, ctx: &Context<'_>) -> GqlResult<User> {
        let id = self.0.buyer_id;
        Ok(User(ctx.loaders().user.load_one(id).await?.ok_or_else(|| AppError::not_found("User", id))?))
    }
    /// Who sells.
    async fn seller(&self, ctx: &Context<'_>) -> GqlResult<User> {
        let id = self.0.seller_id;
        Ok(User(ctx.loaders().user.load_one(id).await?.ok_or_else(|| AppError::not_found("User", id))?))
    }
    /// The lines of the order.
    async fn items(&self, ctx: &Context<'_>) -> GqlResult<Vec<OrderItem>> {
        let items = ctx.loaders().items.load_one(self.0.id).await?.unwrap_or_default();
        Ok(items.into_iter().map(|item| OrderItem { item, currency: self.0.currency.clone() }).collect())
    }
    /// Every payment attempt the viewer may see, oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> GqlResult<Vec<Payment>> {
        Ok(ctx.loaders().payments.load_one(self.0.id).await?.unwrap_or_default().into_iter().map(Payment).collect())
    }
    /// The current payment: the newest that has not failed.
    async fn payment(&self, ctx: &Context<'_>) -> GqlResult<Option<Payment>> {
        let all = ctx.loaders().payments.load_one(self.0.id).await?.unwrap_or_default();
        Ok(payments::current(&all).cloned().map(Payment))
    }
    /// Every shipping assignment the viewer may see, oldest first.
    async fn assignments(&self, ctx: &Context<'_>) -> GqlResult<Vec<ShippingAssignment>> {
        let all = ctx.loaders().assignments.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().map(ShippingAssignment).collect())
    }
    /// The assignment that currently binds the order, if any.
    async fn active_assignment(&self, ctx: &Context<'_>) -> GqlResult<Option<ShippingAssignment>> {
        let all = ctx.loaders().assignments.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().rev().find(|a| shipping::is_active(a.status)).map(ShippingAssignment))
    }
    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When it was soft-deleted (admins only see deleted orders).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
}

/// One line of an order.
pub struct OrderItem {
    item: entity::order_item::Model,
    currency: String,
}

#[Object]
impl OrderItem {
    /// What was bought.
    async fn name(&self) -> &str {
        &self.item.name
    }
    /// How many.
    async fn quantity(&self) -> i32 {
        self.item.quantity
    }
    /// Price of one, exact, in `currency`.
    async fn unit_price(&self) -> Decimal {
        minor_to_decimal(self.item.unit_price_minor, &self.currency)
    }
    /// `quantity * unitPrice`.
    async fn line_total(&self) -> Decimal {
        minor_to_decimal(self.item.unit_price_minor * i64::from(self.item.quantity), &self.currency)
    }
    /// ISO 4217 code (the order's).
    async fn currency(&self) -> &str {
        &self.currency
    }
}
