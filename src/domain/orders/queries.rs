//! Order reads: lists with filters and sorts, lookups by id and number,
//! and items, all within the access rules.

use chrono::{DateTime, Utc};
use entity::{OrderStatus, order, order_item};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use super::related::{Include, Related};
use crate::db::Snapshots;
use crate::domain::ids::Ids;
use crate::domain::pagination::{self, Direction, Page, PageQuery, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access};
use crate::error::AppError;

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Any of these statuses.
    pub status: Option<Vec<OrderStatus>>,
    /// Bought by.
    pub buyer_id: Option<Uuid>,
    /// Sold by.
    pub seller_id: Option<Uuid>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Exact order number.
    pub order_number: Option<String>,
    /// Show soft-deleted orders too (admins only).
    pub include_deleted: bool,
}

/// Indexed columns orders can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSort {
    /// `idx_orders_created_at`
    CreatedAt,
    /// `idx_orders_total_minor`
    TotalAmount,
    /// `idx_orders_status`
    Status,
    /// unique `order_number`
    OrderNumber,
}

/// The sort key for `sort` in `direction`.
pub fn sort_key(sort: OrderSort, direction: Direction) -> SortKey<order::Entity> {
    let (column, value): (order::Column, fn(&order::Model) -> SortValue) = match sort {
        OrderSort::CreatedAt => (order::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        OrderSort::TotalAmount => (order::Column::TotalMinor, |m| SortValue::Int(m.total_minor)),
        OrderSort::Status => (order::Column::Status, |m| SortValue::Text(m.status.to_value())),
        OrderSort::OrderNumber => (order::Column::OrderNumber, |m| SortValue::Text(m.order_number.clone())),
    };
    SortKey { column, id: order::Column::Id, direction, value, id_of: |m| m.id }
}

fn select(viewer: Option<&Viewer>, filter: &OrderFilter) -> Result<Option<Select<order::Entity>>, AppError> {
    use order::Column as C;
    let mut select = order::Entity::find();
    if !access::include_deleted(viewer, filter.include_deleted)? {
        select = select.filter(C::DeletedAt.is_null());
    }
    if let Some(status) = &filter.status {
        select = select.filter(C::Status.is_in(status.iter().copied()));
    }
    if let Some(id) = filter.buyer_id {
        select = select.filter(C::BuyerId.eq(id));
    }
    if let Some(id) = filter.seller_id {
        select = select.filter(C::SellerId.eq(id));
    }
    if let Some(t) = filter.created_after {
        select = select.filter(C::CreatedAt.gte(t));
    }
    if let Some(t) = filter.created_before {
        select = select.filter(C::CreatedAt.lt(t));
    }
    if let Some(n) = &filter.order_number {
        select = select.filter(C::OrderNumber.eq(n.trim()));
    }
    Ok(access::orders(viewer).apply(select))
}

/// One page of the orders the viewer may see, and `include` for them, from
/// one snapshot (see `related`).
pub async fn list_with_related(
    db: &impl Snapshots,
    viewer: Option<&Viewer>,
    filter: &OrderFilter,
    sort: &SortKey<order::Entity>,
    page: &PageRequest,
    include: Include,
) -> Result<(Page<order::Model>, Related), AppError> {
    let query = PageQuery::new(select(viewer, filter)?, sort, page);
    // The page's cursors are made of its sort column and id.
    let include = include.with_order_columns(&[sort.column, sort.id]);
    let (rows, related) = super::related::page_with_related(db, viewer, query, include).await?;
    Ok((Page::of(rows, sort, page), related))
}

/// How many orders match, for `totalCount`.
pub async fn count(db: &impl ConnectionTrait, viewer: Option<&Viewer>, filter: &OrderFilter) -> Result<u64, AppError> {
    pagination::count(db, select(viewer, filter)?).await
}

/// The visible order with this number (not soft-deleted), as a select;
/// `None` when the viewer may see none.
pub(super) fn by_number_select(
    viewer: Option<&Viewer>,
    number: &str,
) -> Result<Option<Select<order::Entity>>, AppError> {
    select(viewer, &OrderFilter { order_number: Some(number.to_owned()), ..Default::default() })
}

/// Visible orders among `ids` (deleted ones excluded), in one statement.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<order::Model>, AppError> {
    access::rows(db, by_ids_select(viewer, ids)).await
}

/// The statement of [`by_ids`]; `None` when the viewer may see none.
pub fn by_ids_select(viewer: Option<&Viewer>, ids: &[Uuid]) -> Option<Select<order::Entity>> {
    let select = order::Entity::find()
        .filter(order::Column::Id.is_in(ids.iter().copied()))
        .filter(order::Column::DeletedAt.is_null());
    access::orders(viewer).apply(select)
}

/// The order the viewer wants to change: NOT_FOUND when it does not exist
/// or the viewer may not see it, `ORDER_DELETED` when it is soft-deleted.
pub async fn for_change(db: &impl ConnectionTrait, viewer: &Viewer, id: Uuid) -> Result<order::Model, AppError> {
    let found = access::orders(Some(viewer)).all(db, order::Entity::find_by_id(id)).await?.pop();
    let order = found.ok_or_else(|| AppError::not_found("Order", id))?;
    super::ensure_live(&order)?;
    Ok(order)
}

/// The items of `orders` (whose visibility the caller has established), in one statement.
pub async fn items_of(db: &impl ConnectionTrait, orders: &[Uuid]) -> Result<Vec<order_item::Model>, AppError> {
    Ok(items_of_select(Ids::listed(orders)).all(db).await?)
}

/// The statement of [`items_of`].
pub fn items_of_select(orders: Ids<'_>) -> Select<order_item::Entity> {
    order_item::Entity::find()
        .filter(orders.matched_by(order_item::Column::OrderId))
        .order_by_asc(order_item::Column::Id)
}
