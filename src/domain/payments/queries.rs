//! Payment reads: lists, lookups and per-order batches, within the access
//! rules.

use entity::{PaymentMethod, PaymentStatus, payment};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use crate::domain::ids::Ids;
use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access};
use crate::error::AppError;

/// Which payments to list.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// Any of these statuses.
    pub status: Option<Vec<PaymentStatus>>,
    /// Any of these methods.
    pub method: Option<Vec<PaymentMethod>>,
    /// Of this order.
    pub order_id: Option<Uuid>,
}

/// Indexed columns payments can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentSort {
    /// `idx_payments_created_at`
    CreatedAt,
    /// `idx_payments_status`
    Status,
}

/// The sort key for `sort` in `direction`.
pub fn sort_key(sort: PaymentSort, direction: Direction) -> SortKey<payment::Entity> {
    let (column, value): (payment::Column, fn(&payment::Model) -> SortValue) = match sort {
        PaymentSort::CreatedAt => (payment::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        PaymentSort::Status => (payment::Column::Status, |m| SortValue::Text(m.status.to_value())),
    };
    SortKey { column, id: payment::Column::Id, direction, value, id_of: |m| m.id }
}

fn select(viewer: Option<&Viewer>, filter: &PaymentFilter) -> Option<Select<payment::Entity>> {
    use payment::Column as C;
    let mut select = payment::Entity::find();
    if let Some(status) = &filter.status {
        select = select.filter(C::Status.is_in(status.iter().copied()));
    }
    if let Some(method) = &filter.method {
        select = select.filter(C::Method.is_in(method.iter().copied()));
    }
    if let Some(id) = filter.order_id {
        select = select.filter(C::OrderId.eq(id));
    }
    access::payments(viewer).apply(select)
}

/// One page of the payments the viewer may see.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &PaymentFilter,
    sort: &SortKey<payment::Entity>,
    page: &PageRequest,
) -> Result<Page<payment::Model>, AppError> {
    pagination::fetch(db, select(viewer, filter), sort, page).await
}

/// How many payments match, for `totalCount`.
pub async fn count(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    filter: &PaymentFilter,
) -> Result<u64, AppError> {
    pagination::count(db, select(viewer, filter)).await
}

/// Visible payments among `ids`, in one statement.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<payment::Model>, AppError> {
    access::payments(viewer)
        .all(db, payment::Entity::find().filter(payment::Column::Id.is_in(ids.iter().copied())))
        .await
}

/// Visible payments of `orders`, oldest first, in one statement.
pub async fn of_orders(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[Uuid],
) -> Result<Vec<payment::Model>, AppError> {
    access::rows(db, of_orders_select(viewer, Ids::listed(orders))).await
}

/// The statement of [`of_orders`]; `None` when the viewer may see none.
pub fn of_orders_select(viewer: Option<&Viewer>, orders: Ids<'_>) -> Option<Select<payment::Entity>> {
    // Oldest first; the id settles payments created in the same microsecond.
    let select = payment::Entity::find()
        .filter(orders.matched_by(payment::Column::OrderId))
        .order_by_asc(payment::Column::CreatedAt)
        .order_by_asc(payment::Column::Id);
    access::payments(viewer).apply(select)
}

/// The order's current payment: the newest one that has not failed.
pub fn current(payments: &[payment::Model]) -> Option<&payment::Model> {
    payments.iter().filter(|p| p.status != PaymentStatus::Failed).max_by_key(|p| (p.created_at, p.id))
}
