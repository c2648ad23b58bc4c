//! The query root.

use std::collections::HashMap;
use std::future::Future;

use async_graphql::{Context, ID, Object};
use sea_orm::DatabaseConnection;

use crate::domain::lookup::{self, EntityKind, Found};
use crate::domain::{Viewer, audit, ledger, orders, payments, shipping, users, wallets};
use crate::error::{AppError, GqlResult};
use crate::graphql::context::ContextExt;
use crate::graphql::inputs::{
    AuditLogFilter, AuditLogSort, DeliveryAgentFilter, DeliveryAgentSort, LedgerEntryFilter, LedgerEntrySort,
    OrderFilter, OrderSort, PaymentFilter, PaymentSort, ShippingAssignmentFilter, ShippingAssignmentSort, UserFilter,
    UserSort,
};
use crate::graphql::node::{self, Node};
use crate::graphql::pagination::{Conn, PageArgs, Paging, TotalCount, paging};
use crate::graphql::types::{
    AuditLog, DeliveryAgent, LedgerEntry, LedgerHealth, Order, Payment, ShippingAssignment, User, Wallet,
};

/// Most IDs one `nodes` call takes.
const MAX_NODES: usize = 100;

/// Entry points for reading.
#[derive(Default)]
pub struct Query;

/// A `totalCount` that runs `count(db, viewer, filter)` only when selected.
fn total<T, F, Fut>(ctx: &Context<'_>, filter: T, count: F) -> TotalCount
where
    T: Clone + Send + Sync + 'static,
    F: Fn(DatabaseConnection, Option<Viewer>, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, AppError>> + Send + 'static,
{
    let (db, viewer) = (ctx.db().clone(), ctx.viewer().copied());
    TotalCount::new(move || count(db.clone(), viewer, filter.clone()))
}

/// Fetches one object of `kind` by global ID, within the viewer's scope.
async fn find<T>(ctx: &Context<'_>, id: &ID, kind: EntityKind, pick: fn(Found) -> Option<T>) -> GqlResult<T> {
    let uuid = node::decode_as(id, kind)?;
    let found = lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await?;
    Ok(pick(found).ok_or_else(|| AppError::not_found(kind.name(), uuid))?)
}

fn admin<'a>(ctx: &'a Context<'_>) -> Result<&'a Viewer, AppError> {
    let viewer = ctx.require_viewer()?;
    if viewer.is_admin() { Ok(viewer) } else { Err(AppError::Forbidden("Admins only".into())) }
}

#[Object]
impl Query {
    /// Fetches any object by its global ID. Objects the viewer may not see
    /// are NOT_FOUND, exactly like objects that do not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Node> {
        let (kind, uuid) = node::decode(&id)?;
        Ok(lookup::find(ctx.db(), ctx.viewer(), kind, uuid).await?.into())
    }

    /// Fetches up to 100 objects by global ID, in order (one statement per
    /// kind); an entry is null, with an error, when it cannot be fetched.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::validation("ids", format!("At most {MAX_NODES} ids per call")).into());
        }
        let decoded: Vec<Result<(EntityKind, uuid::Uuid), AppError>> = ids.iter().map(node::decode).collect();
        let mut found = HashMap::new();
        for kind in EntityKind::ALL {
            let wanted: Vec<uuid::Uuid> =
                decoded.iter().filter_map(|d| d.as_ref().ok().filter(|(k, _)| *k == kind).map(|(_, id)| *id)).collect();
            if !wanted.is_empty() {
                let rows = lookup::find_many(ctx.db(), ctx.viewer(), kind, &wanted).await?;
                found.extend(rows.into_iter().map(|f| (f.key(), f)));
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for item in decoded {
            let result = item.and_then(|(kind, id)| {
                found.get(&(kind, id)).cloned().ok_or_else(|| AppError::not_found(kind.name(), id))
            });
            match result {
                Ok(f) => out.push(Some(f.into())),
                Err(e) => {
                    ctx.add_error(async_graphql::ErrorExtensions::extend(&e).into_server_error(ctx.item.pos));
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    /// The signed-in user, or null when the request carries no token.
    async fn viewer(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(viewer) = ctx.viewer() else { return Ok(None) };
        Ok(Some(User(users::me(ctx.db(), viewer).await?)))
    }

    /// Orders the viewer may see: bought, sold, or carried. Soft-deleted
    /// orders only appear for admins passing `includeDeleted: true`.
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilter>,
        order_by: Option<OrderSort>,
        #[graphql(default)] include_deleted: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<Order>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain(include_deleted)?;
        let Paging { sort, direction, scope, page } =
            paging("orders", OrderSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = orders::list(ctx.db(), Some(viewer), &filter, &orders::sort_key(sort, direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { orders::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, Order))
    }

    /// One order, by global `id` or by `orderNumber` (exactly one of them).
    async fn order(&self, ctx: &Context<'_>, id: Option<ID>, order_number: Option<String>) -> GqlResult<Order> {
        match (id, order_number) {
            (Some(id), None) => {
                find(ctx, &id, EntityKind::Order, |f| if let Found::Order(m) = f { Some(Order(m)) } else { None }).await
            }
            (None, Some(number)) => Ok(Order(orders::by_number(ctx.db(), ctx.viewer(), &number).await?)),
            _ => Err(AppError::validation("id", "Pass exactly one of `id` and `orderNumber`").into()),
        }
    }

    /// One order by its human-readable number.
    async fn order_by_number(&self, ctx: &Context<'_>, order_number: String) -> GqlResult<Order> {
        Ok(Order(orders::by_number(ctx.db(), ctx.viewer(), &order_number).await?))
    }

    /// Payments of orders the viewer bought or sold.
    #[allow(clippy::too_many_arguments)]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        filter: Option<PaymentFilter>,
        order_by: Option<PaymentSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<Payment>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort, direction, scope, page } =
            paging("payments", PaymentSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = payments::list(ctx.db(), Some(viewer), &filter, &payments::sort_key(sort, direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { payments::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, Payment))
    }

    /// One payment by global ID.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Payment> {
        find(ctx, &id, EntityKind::Payment, |f| if let Found::Payment(m) = f { Some(Payment(m)) } else { None }).await
    }

    /// Shipping assignments the viewer may see: their own as agent, open
    /// offers in zip codes they serve, those of their orders.
    #[allow(clippy::too_many_arguments)]
    async fn shipping_assignments(
        &self,
        ctx: &Context<'_>,
        filter: Option<ShippingAssignmentFilter>,
        order_by: Option<ShippingAssignmentSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ShippingAssignment>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort, direction, scope, page } = paging(
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
    async fn delivery_agents(
        &self,
        ctx: &Context<'_>,
        filter: Option<DeliveryAgentFilter>,
        order_by: Option<DeliveryAgentSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<DeliveryAgent>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain();
        let Paging { sort, direction, scope, page } =
            paging("deliveryAgents", DeliveryAgentSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let key = shipping::agent_sort_key(sort, direction);
        let rows = shipping::list_agents(ctx.db(), Some(viewer), &filter, &key, &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { shipping::count_agents(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, DeliveryAgent))
    }

    /// Active agents taking work in a zip code, by agent code.
    async fn available_agents(&self, ctx: &Context<'_>, zip_code: String) -> GqlResult<Vec<DeliveryAgent>> {
        let viewer = ctx.require_viewer()?;
        let agents = shipping::available_agents(ctx.db(), Some(viewer), &zip_code).await?;
        Ok(agents.into_iter().map(DeliveryAgent).collect())
    }

    /// One delivery agent by global ID.
    async fn delivery_agent(&self, ctx: &Context<'_>, id: ID) -> GqlResult<DeliveryAgent> {
        find(ctx, &id, EntityKind::DeliveryAgent, |f| {
            if let Found::DeliveryAgent(m) = f { Some(DeliveryAgent(m)) } else { None }
        })
        .await
    }

    /// One wallet by global ID (your own; admins: any).
    async fn wallet(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Wallet> {
        find(ctx, &id, EntityKind::Wallet, |f| if let Found::Wallet(m) = f { Some(Wallet(m)) } else { None }).await
    }

    /// Checks every ledger invariant on the live database (admins): each
    /// payment's entries sum to zero, each wallet's balance equals its
    /// entries, all balances equal all money brought in, no user wallet is
    /// negative, each payment's status agrees with its entries. The same
    /// check as `courier ledger verify`.
    async fn ledger_health(&self, ctx: &Context<'_>) -> GqlResult<LedgerHealth> {
        Ok(LedgerHealth(ledger::health(ctx.db(), ctx.viewer()).await?))
    }

    /// Users (admins only).
    #[allow(clippy::too_many_arguments)]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        order_by: Option<UserSort>,
        #[graphql(default)] include_deleted: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<User>> {
        let viewer = admin(ctx)?;
        let filter = filter.unwrap_or_default().into_domain(include_deleted);
        let Paging { sort, direction, scope, page } =
            paging("users", UserSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = users::list(ctx.db(), Some(viewer), &filter, &users::sort_key(sort, direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { users::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, User))
    }

    /// The entries of one wallet (your own; admins: any).
    #[allow(clippy::too_many_arguments)]
    async fn ledger_entries(
        &self,
        ctx: &Context<'_>,
        wallet_id: ID,
        filter: Option<LedgerEntryFilter>,
        order_by: Option<LedgerEntrySort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<LedgerEntry>> {
        let viewer = ctx.require_viewer()?;
        let wallet = node::decode_as(&wallet_id, EntityKind::Wallet)?;
        let filter = filter.unwrap_or_default().into_domain();
        let Paging { sort, direction, scope, page } =
            paging("ledgerEntries", LedgerEntrySort::resolve(order_by), PageArgs { first, after, last, before })?;
        let key = wallets::entry_sort_key(sort, direction);
        let rows = wallets::entries_of_wallet(ctx.db(), Some(viewer), wallet, &filter, &key, &page).await?;
        let total = total(ctx, filter, move |db, v, f| async move {
            wallets::count_entries_of_wallet(&db, v.as_ref(), wallet, &f).await
        });
        Ok(scope.connection(rows, total, LedgerEntry))
    }

    /// The audit trail (admins only), filtered by entity, actor, action and time.
    #[allow(clippy::too_many_arguments)]
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        order_by: Option<AuditLogSort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<AuditLog>> {
        let viewer = admin(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort: _, direction, scope, page } =
            paging("auditLogs", AuditLogSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = audit::list(ctx.db(), Some(viewer), &filter, &audit::sort_key(direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { audit::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, AuditLog))
    }
}
