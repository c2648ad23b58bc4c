//! Orders in the API: `Order` and `OrderItem`, the `OrderStatus` enum, the
//! `orders` connection's filter and sort, and the order fields of Query and
//! Mutation (place, confirm, cancel, delete, restore).

use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, Enum, ID, InputObject, Object};

use crate::domain::lookup::EntityKind;
use crate::domain::money::{minor_to_decimal, wide_minor_to_decimal};
use crate::domain::orders::{self, Include, NewItem, NewOrder, Related, StatusChange};
use crate::domain::{payments, shipping};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlResult, in_input};
use crate::graphql::node::{decode_as, decode_opt, encode};
use crate::graphql::pagination::{Conn, PageArgs, Paging, connection_cost, list, paging, sort_input, total};
use crate::graphql::payments::Payment;
use crate::graphql::preloaded::{self, Assemble, PlainOrder};
use crate::graphql::shipping::ShippingAssignment;
use crate::graphql::users::User;

/// Order lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::OrderStatus")]
pub enum OrderStatus {
    /// Waiting for the seller.
    Pending,
    /// Accepted by the seller.
    Confirmed,
    /// With an agent.
    Shipping,
    /// Handed to the buyer.
    Delivered,
    /// Cancelled before shipping.
    Cancelled,
}

/// What a buyer bought from a seller.
pub struct Order(pub entity::order::Model);

/// What a buyer bought from a seller.
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
        minor_to_decimal(self.0.total_minor, &self.0.currency).into()
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
        Ok(items.into_iter().map(|item| OrderItem::new(item, self.0.currency.clone())).collect())
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
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// When it was soft-deleted (admins only see deleted orders).
    async fn deleted_at(&self) -> Option<DateTime> {
        self.0.deleted_at.map(Into::into)
    }
}

/// One line of an order.
pub struct OrderItem {
    item: entity::order_item::Model,
    currency: String,
}

impl OrderItem {
    /// The line `item` of an order in `currency`.
    pub fn new(item: entity::order_item::Model, currency: String) -> Self {
        Self { item, currency }
    }
}

/// One line of an order.
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
        minor_to_decimal(self.item.unit_price_minor, &self.currency).into()
    }
    /// `quantity * unitPrice`.
    async fn line_total(&self) -> Decimal {
        // In 128 bits: exact for any stored price and quantity, even ones
        // written outside the API's limits.
        let total = i128::from(self.item.unit_price_minor) * i128::from(self.item.quantity);
        wide_minor_to_decimal(total, &self.currency).into()
    }
    /// ISO 4217 code (the order's).
    async fn currency(&self) -> &str {
        &self.currency
    }
}

sort_input!(OrderSort, OrderSortField, orders::OrderSort, "orders", {
    CreatedAt => orders::OrderSort::CreatedAt,
    TotalAmount => orders::OrderSort::TotalAmount,
    Status => orders::OrderSort::Status,
    OrderNumber => orders::OrderSort::OrderNumber,
});

/// Which orders to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct OrderFilter {
    /// Any of these statuses.
    pub status: Option<Vec<OrderStatus>>,
    /// Bought by this user.
    pub buyer_id: Option<ID>,
    /// Sold by this user.
    pub seller_id: Option<ID>,
    /// Created at or after.
    pub created_after: Option<DateTime>,
    /// Created before.
    pub created_before: Option<DateTime>,
    /// Exact order number.
    pub order_number: Option<String>,
}

impl OrderFilter {
    /// The domain filter.
    pub fn into_domain(self, include_deleted: bool) -> Result<orders::OrderFilter, AppError> {
        Ok(orders::OrderFilter {
            status: list(&self.status),
            buyer_id: decode_opt(self.buyer_id.as_ref(), EntityKind::User, "filter.buyerId")?,
            seller_id: decode_opt(self.seller_id.as_ref(), EntityKind::User, "filter.sellerId")?,
            created_after: self.created_after.map(|at| at.0),
            created_before: self.created_before.map(|at| at.0),
            order_number: self.order_number,
            include_deleted,
        })
    }
}

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

/// Order reads.
#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// Orders the viewer may see: bought, sold, or carried. Soft-deleted
    /// orders only appear for admins passing `includeDeleted: true`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<OrderFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<OrderSort>,
        #[graphql(default, desc = "Include soft-deleted rows (admins only).")] include_deleted: bool,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<PlainOrder>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain(include_deleted)?;
        let Paging { sort, direction, scope, page } =
            paging(ctx, "orders", OrderSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let include = preloaded::include_in_connection(&ctx.look_ahead());
        let sort = orders::sort_key(sort, direction);
        // Boxed, as the other reads with relations: their futures are large,
        // and polled in place they came near a worker thread's 2 MiB stack in
        // debug builds (`order(orderNumber:)` overflowed it).
        let read = orders::list_with_related(ctx.db(), Some(viewer), &filter, &sort, &page, include);
        let (rows, related) = Box::pin(read).await?;
        let mut assemble = Assemble::new(related, include);
        let total = total(ctx, filter, |db, v, f| async move { orders::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, |m| assemble.order(m)))
    }
    /// One order, by global `id` or by `orderNumber` (exactly one of them).
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: Option<ID>,
        #[graphql(desc = "The human-readable order number, such as `ORD-20261122-7K3QZX`.")] order_number: Option<
            String,
        >,
    ) -> GqlResult<PlainOrder> {
        let include = preloaded::include(&ctx.look_ahead());
        let (model, related) = match (id, order_number) {
            (Some(id), None) => {
                let id = decode_as(&id, EntityKind::Order, "id")?;
                Box::pin(orders::by_id_with_related(ctx.db(), ctx.viewer(), id, include))
                    .await?
                    .ok_or_else(|| AppError::not_found(EntityKind::Order.name(), id))?
            }
            (None, Some(number)) => by_number(ctx, &number, include).await?,
            _ => return Err(AppError::validation("id", "Pass exactly one of `id` and `orderNumber`").into()),
        };
        Ok(Assemble::new(related, include).order(model))
    }
    /// One order by its human-readable number.
    async fn order_by_number(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The human-readable order number, such as `ORD-20261122-7K3QZX`.")] order_number: String,
    ) -> GqlResult<PlainOrder> {
        let include = preloaded::include(&ctx.look_ahead());
        let (model, related) = by_number(ctx, &order_number, include).await?;
        Ok(Assemble::new(related, include).order(model))
    }
}

/// The order numbered `number` and `include`, read together
/// (`order(orderNumber:)` and `orderByNumber`).
async fn by_number(ctx: &Context<'_>, number: &str, include: Include) -> GqlResult<(entity::order::Model, Related)> {
    Ok(Box::pin(orders::by_number_with_related(ctx.db(), ctx.viewer(), number, include))
        .await?
        .ok_or_else(|| AppError::not_found(EntityKind::Order.name(), number))?)
}

/// Order changes.
#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Places an order (buyers).
    async fn create_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateOrderInput,
    ) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let order = NewOrder {
            seller_id: decode_as(&input.seller_id, EntityKind::User, "input.sellerId")?,
            items: input
                .items
                .into_iter()
                .map(|i| NewItem { name: i.name, quantity: i.quantity, unit_price: i.unit_price.0 })
                .collect(),
            delivery_zip_code: input.delivery_zip_code,
            currency: input.currency,
        };
        Ok(Order(orders::create(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), order).await.map_err(in_input)?))
    }
    /// Moves an order along its lifecycle: the seller (or an admin) confirms;
    /// buyer, seller or admin cancel. Shipping and delivery follow the
    /// shipping assignment.
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateOrderStatusInput,
    ) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let change = StatusChange {
            order_id: decode_as(&input.order_id, EntityKind::Order, "input.orderId")?,
            to: input.status.into(),
            expected_version: input.expected_version,
            reason: None,
        };
        Ok(Order(
            orders::change_status(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), change)
                .await
                .map_err(in_input)?,
        ))
    }
    /// Cancels an order before it ships. An initiated payment is voided
    /// (FAILED); a captured one is refunded in full in the same transaction.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CancelOrderInput,
    ) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let reason = input.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::validation("input.reason", "A reason has 1 to 500 characters").into());
        }
        let change = StatusChange {
            order_id: decode_as(&input.order_id, EntityKind::Order, "input.orderId")?,
            to: entity::OrderStatus::Cancelled,
            expected_version: None,
            reason: Some(reason.to_owned()),
        };
        Ok(Order(
            orders::change_status(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), change)
                .await
                .map_err(in_input)?,
        ))
    }
    /// Soft-deletes an order (admins): it vanishes from every read but admin
    /// reads with `includeDeleted`, and cannot be changed until restored.
    async fn delete_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: ID,
    ) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::Order, "id")?;
        Ok(Order(orders::set_deleted(ctx.pool(), viewer, &ctx.audit_context(), id, true).await?))
    }
    /// Restores a soft-deleted order (admins).
    async fn restore_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: ID,
    ) -> GqlResult<Order> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&id, EntityKind::Order, "id")?;
        Ok(Order(orders::set_deleted(ctx.pool(), viewer, &ctx.audit_context(), id, false).await?))
    }
}
