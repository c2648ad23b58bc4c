//! Wallet and ledger-entry reads, within the access rules.

use std::collections::HashMap;

use entity::{LedgerEntryType, ledger_entry, payment, wallet};
use sea_orm::sea_query::{Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use crate::domain::ids::Ids;
use crate::domain::pagination::{self, Direction, Page, PageRequest, SortKey, SortValue};
use crate::domain::{Viewer, access};
use crate::error::AppError;

/// The wallets of `owners` that the viewer may see, in one statement.
pub async fn of_owners(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    owners: &[Uuid],
) -> Result<Vec<wallet::Model>, AppError> {
    let select = wallet::Entity::find().filter(wallet::Column::UserId.is_in(owners.iter().copied()));
    match access::wallets(viewer).apply(select) {
        Some(select) => Ok(select.all(db).await?),
        None => Ok(Vec::new()),
    }
}

/// Visible wallets among `ids`, in one statement.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    ids: &[Uuid],
) -> Result<Vec<wallet::Model>, AppError> {
    access::wallets(viewer).all(db, wallet::Entity::find().filter(wallet::Column::Id.is_in(ids.iter().copied()))).await
}

/// Which ledger entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EntryFilter {
    /// Any of these types.
    pub entry_type: Option<Vec<LedgerEntryType>>,
}

/// Indexed columns entries can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntrySort {
    /// `idx_ledger_entries_created`
    CreatedAt,
    /// `idx_ledger_entries_wallet_amount`
    Amount,
}

/// The sort key for entries.
pub fn entry_sort_key(sort: EntrySort, direction: Direction) -> SortKey<ledger_entry::Entity> {
    let (column, value): (ledger_entry::Column, fn(&ledger_entry::Model) -> SortValue) = match sort {
        EntrySort::CreatedAt => (ledger_entry::Column::CreatedAt, |m| SortValue::Time(m.created_at)),
        EntrySort::Amount => (ledger_entry::Column::AmountMinor, |m| SortValue::Int(m.amount_minor)),
    };
    SortKey { column, id: ledger_entry::Column::Id, direction, value, id_of: |m| m.id }
}

fn entries(viewer: Option<&Viewer>, filter: &EntryFilter) -> Option<Select<ledger_entry::Entity>> {
    let mut select = ledger_entry::Entity::find();
    if let Some(types) = &filter.entry_type {
        select = select.filter(ledger_entry::Column::EntryType.is_in(types.iter().copied()));
    }
    access::ledger_entries(viewer).apply(select)
}

/// One page of a wallet's entries. A wallet the viewer may not see is NOT_FOUND.
pub async fn entries_of_wallet(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    wallet_id: Uuid,
    filter: &EntryFilter,
    sort: &SortKey<ledger_entry::Entity>,
    page: &PageRequest,
) -> Result<Page<ledger_entry::Model>, AppError> {
    visible_wallet(db, viewer, wallet_id).await?;
    let select = entries(viewer, filter).map(|s| s.filter(ledger_entry::Column::WalletId.eq(wallet_id)));
    pagination::fetch(db, select, sort, page).await
}

/// How many entries of the wallet match.
pub async fn count_entries_of_wallet(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    wallet_id: Uuid,
    filter: &EntryFilter,
) -> Result<u64, AppError> {
    let select = entries(viewer, filter).map(|s| s.filter(ledger_entry::Column::WalletId.eq(wallet_id)));
    pagination::count(db, select).await
}

async fn visible_wallet(db: &impl ConnectionTrait, viewer: Option<&Viewer>, id: Uuid) -> Result<(), AppError> {
    match by_ids(db, viewer, &[id]).await?.is_empty() {
        true => Err(AppError::not_found("Wallet", id)),
        false => Ok(()),
    }
}

/// One page of visible entries per wallet, all in one statement.
pub async fn entries_of_wallets(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    wallets: &[Uuid],
    filter: &EntryFilter,
    sort: &SortKey<ledger_entry::Entity>,
    page: &PageRequest,
) -> Result<HashMap<Uuid, Page<ledger_entry::Model>>, AppError> {
    pagination::fetch_per_parent(
        db,
        entries(viewer, filter),
        ledger_entry::Column::WalletId,
        |m| Some(m.wallet_id),
        wallets,
        sort,
        page,
    )
    .await
}

/// How many visible entries each wallet has, in one statement.
pub async fn count_entries_of_wallets(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    wallets: &[Uuid],
) -> Result<HashMap<Uuid, u64>, AppError> {
    pagination::count_per_parent(db, entries(viewer, &EntryFilter::default()), ledger_entry::Column::WalletId, wallets)
        .await
}

/// Visible entries of `payments`, oldest first, in one statement.
pub async fn entries_of_payments(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    payments: &[Uuid],
) -> Result<Vec<ledger_entry::Model>, AppError> {
    entries_where(db, viewer, ledger_entry::Column::PaymentId.is_in(payments.iter().copied())).await
}

/// Visible ledger entries of every payment of `orders`, oldest first, in one
/// statement that does not wait for the payments to be read first. The
/// caller shows only the entries of payments it may show.
pub async fn entries_of_orders(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    orders: &[Uuid],
) -> Result<Vec<ledger_entry::Model>, AppError> {
    access::rows(db, entries_of_orders_select(viewer, Ids::listed(orders))).await
}

/// The statement of [`entries_of_orders`]; `None` when the viewer may see none.
pub fn entries_of_orders_select(viewer: Option<&Viewer>, orders: Ids<'_>) -> Option<Select<ledger_entry::Entity>> {
    let payments = Query::select()
        .column(payment::Column::Id)
        .from(payment::Entity)
        .and_where(orders.matched_by(payment::Column::OrderId))
        .to_owned();
    visible_entries(viewer).map(|s| s.filter(ledger_entry::Column::PaymentId.in_subquery(payments)))
}

async fn entries_where(
    db: &impl ConnectionTrait,
    viewer: Option<&Viewer>,
    condition: SimpleExpr,
) -> Result<Vec<ledger_entry::Model>, AppError> {
    access::rows(db, visible_entries(viewer).map(|s| s.filter(condition))).await
}

/// The ledger entries the viewer may see, oldest first; `None` when none.
fn visible_entries(viewer: Option<&Viewer>) -> Option<Select<ledger_entry::Entity>> {
    let select = ledger_entry::Entity::find()
        .order_by_asc(ledger_entry::Column::CreatedAt)
        .order_by_asc(ledger_entry::Column::Id);
    access::ledger_entries(viewer).apply(select)
}
