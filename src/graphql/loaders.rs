//! Dataloaders: every relation is loaded in one statement per level, batched
//! across parents and cached for the current request only. Each loader calls
//! a domain batch function, so the access rules are the domain's.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{delivery_agent, ledger_entry, order, order_item, payment, shipping_assignment, user, wallet};
use sea_orm::DatabaseConnection;
use tracing::Instrument;
use uuid::Uuid;

use crate::db::StatementCounter;
use crate::domain::pagination::{Direction, Page, PageRequest};
use crate::domain::{Viewer, orders, payments, shipping, users, wallets};
use crate::error::{AppError, GqlError};

/// A loader failure, shareable between every field that awaited the batch.
#[derive(Debug, Clone)]
pub struct LoadError(Arc<AppError>);

impl From<AppError> for LoadError {
    fn from(err: AppError) -> Self {
        Self(Arc::new(err))
    }
}

impl From<LoadError> for GqlError {
    fn from(err: LoadError) -> Self {
        Self(async_graphql::ErrorExtensions::extend(err.0.as_ref()))
    }
}

/// What every loader needs: the pool and the viewer whose scope applies.
#[derive(Clone)]
pub struct LoaderContext {
    db: DatabaseConnection,
    viewer: Option<Viewer>,
}

impl LoaderContext {
    fn viewer(&self) -> Option<&Viewer> {
        self.viewer.as_ref()
    }
}

fn by_key<M, K: Eq + Hash>(rows: Vec<M>, key: impl Fn(&M) -> Option<K>) -> HashMap<K, M> {
    rows.into_iter().filter_map(|m| key(&m).map(|k| (k, m))).collect()
}

fn grouped<M, K: Eq + Hash>(rows: Vec<M>, key: impl Fn(&M) -> K) -> HashMap<K, Vec<M>> {
    let mut out: HashMap<K, Vec<M>> = HashMap::new();
    for row in rows {
        out.entry(key(&row)).or_default().push(row);
    }
    out
}

/// Declares a loader keyed by `Uuid`: `|cx, keys| body` returns the map.
macro_rules! loader {
    ($(#[$doc:meta])* $name:ident => $value:ty, |$cx:ident, $keys:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name(LoaderContext);

        impl Loader<Uuid> for $name {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, $keys: &[Uuid]) -> Result<HashMap<Uuid, $value>, LoadError> {
                let $cx = &self.0;
                Ok($body)
            }
        }
    };
}

loader!(
    /// Public user profiles by id.
    UserById => user::Model,
    |cx, keys| by_key(users::profiles(&cx.db, keys).await?, |m| Some(m.id))
);
loader!(
    /// Visible orders by id.
    OrderById => order::Model,
    |cx, keys| by_key(orders::by_ids(&cx.db, cx.viewer(), keys).await?, |m| Some(m.id))
);
loader!(
    /// Visible payments by id.
    PaymentById => payment::Model,
    |cx, keys| by_key(payments::by_ids(&cx.db, cx.viewer(), keys).await?, |m| Some(m.id))
);
loader!(
    /// Visible wallets by id.
    WalletById => wallet::Model,
    |cx, keys| by_key(wallets::by_ids(&cx.db, cx.viewer(), keys).await?, |m| Some(m.id))
);
loader!(
    /// Visible wallets by owner.
    WalletByUser => wallet::Model,
    |cx, keys| by_key(wallets::of_owners(&cx.db, cx.viewer(), keys).await?, |m| m.user_id)
);
loader!(
    /// Visible agents by id.
    AgentById => delivery_agent::Model,
    |cx, keys| by_key(shipping::agents_by_ids(&cx.db, cx.viewer(), keys).await?, |m| Some(m.id))
);
loader!(
    /// Items by order.
    ItemsByOrder => Vec<order_item::Model>,
    |cx, keys| grouped(orders::items_of(&cx.db, keys).await?, |m| m.order_id)
);
loader!(
    /// Visible payments by order, oldest first.
    PaymentsByOrder => Vec<payment::Model>,
    |cx, keys| grouped(payments::of_orders(&cx.db, cx.viewer(), keys).await?, |m| m.order_id)
);
loader!(
    /// Visible assignments by order, oldest first.
    AssignmentsByOrder => Vec<shipping_assignment::Model>,
    |cx, keys| grouped(shipping::assignments_of_orders(&cx.db, cx.viewer(), keys).await?, |m| m.order_id)
);
loader!(
    /// Visible ledger entries by payment.
    EntriesByPayment => Vec<ledger_entry::Model>,
    |cx, keys| {
        let rows = wallets::entries_of_payments(&cx.db, cx.viewer(), keys).await?;
        grouped(rows, |m| m.payment_id).into_iter().filter_map(|(k, v)| k.map(|k| (k, v))).collect()
    }
);
loader!(
    /// Zip codes by agent.
    ZipCodesByAgent => Vec<String>,
    |cx, keys| {
        let rows = shipping::zip_codes_of(&cx.db, keys).await?;
        grouped(rows, |m| m.agent_id).into_iter().map(|(k, v)| (k, v.into_iter().map(|z| z.zip_code).collect())).collect()
    }
);

/// The arguments of a nested page, shared by every parent of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NestedPage<S> {
    /// Sort field.
    pub sort: S,
    /// Sort direction.
    pub direction: Direction,
    /// Which page.
    pub page: PageRequest,
}

/// A wallet's ledger entries, one page per wallet.
pub struct EntriesPageByWallet(LoaderContext);

impl Loader<(Uuid, NestedPage<wallets::EntrySort>)> for EntriesPageByWallet {
    type Value = Page<ledger_entry::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Uuid, NestedPage<wallets::EntrySort>)],
    ) -> Result<HashMap<(Uuid, NestedPage<wallets::EntrySort>), Self::Value>, LoadError> {
        let mut out = HashMap::new();
        for (args, parents) in grouped(keys.to_vec(), |(_, a)| a.clone()) {
            let ids: Vec<Uuid> = parents.iter().map(|(id, _)| *id).collect();
            let key = wallets::entry_sort_key(args.sort, args.direction);
            let filter = wallets::EntryFilter::default();
            let pages = wallets::entries_of_wallets(&self.0.db, self.0.viewer(), &ids, &filter, &key, &args.page).await?;
            for id in ids {
                let page = pages.get(&id).cloned().unwrap_or_else(Page::empty);
                out.insert((id, args.clone()), page);
            }
        }
        Ok(out)
    }
}

/// An agent's assignments, one page per agent.
pub struct AssignmentsPageByAgent(LoaderContext);

impl Loader<(Uuid, NestedPage<shipping::AssignmentSort>)> for AssignmentsPageByAgent {
    type Value = Page<shipping_assignment::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Uuid, NestedPage<shipping::AssignmentSort>)],
    ) -> Result<HashMap<(Uuid, NestedPage<shipping::AssignmentSort>), Self::Value>, LoadError> {
        let mut out = HashMap::new();
        for (args, parents) in grouped(keys.to_vec(), |(_, a)| a.clone()) {
            let ids: Vec<Uuid> = parents.iter().map(|(id, _)| *id).collect();
            let key = shipping::assignment_sort_key(args.sort, args.direction);
            let filter = shipping::AssignmentFilter::default();
            let pages =
                shipping::assignments_of_agents(&self.0.db, self.0.viewer(), &ids, &filter, &key, &args.page).await?;
            for id in ids {
                let page = pages.get(&id).cloned().unwrap_or_else(Page::empty);
                out.insert((id, args.clone()), page);
            }
        }
        Ok(out)
    }
}

/// The request's loaders, one per relation.
pub struct Loaders {
    /// `*.buyer`, `*.seller`, `*.user`, `*.actor`, `Wallet.owner`.
    pub user: DataLoader<UserById>,
    /// `Payment.order`, `ShippingAssignment.order`.
    pub order: DataLoader<OrderById>,
    /// `LedgerEntry.payment`.
    pub payment: DataLoader<PaymentById>,
    /// `LedgerEntry.wallet`.
    pub wallet: DataLoader<WalletById>,
    /// `User.wallet`.
    pub wallet_by_user: DataLoader<WalletByUser>,
    /// `ShippingAssignment.agent`.
    pub agent: DataLoader<AgentById>,
    /// `Order.items`.
    pub items: DataLoader<ItemsByOrder>,
    /// `Order.payments`, `Order.payment`.
    pub payments: DataLoader<PaymentsByOrder>,
    /// `Order.assignments`, `Order.activeAssignment`.
    pub assignments: DataLoader<AssignmentsByOrder>,
    /// `Payment.ledgerEntries`.
    pub payment_entries: DataLoader<EntriesByPayment>,
    /// `DeliveryAgent.zipCodes`.
    pub zip_codes: DataLoader<ZipCodesByAgent>,
    /// `Wallet.ledgerEntries`.
    pub wallet_entries: DataLoader<EntriesPageByWallet>,
    /// `DeliveryAgent.assignments`.
    pub agent_assignments: DataLoader<AssignmentsPageByAgent>,
}

impl Loaders {
    /// Fresh loaders for one request. Batches run on spawned tasks, which
    /// carry the request's span (for the request ID in logs) and statement
    /// counter along.
    pub fn new(db: DatabaseConnection, viewer: Option<Viewer>, counter: StatementCounter) -> Self {
        let cx = LoaderContext { db, viewer };
        let span = tracing::Span::current();
        let spawner = move |fut| tokio::spawn(counter.clone().scope(fut).instrument(span.clone()));
        macro_rules! new {
            ($loader:ident) => {
                DataLoader::new($loader(cx.clone()), spawner.clone())
            };
        }
        Self {
            user: new!(UserById),
            order: new!(OrderById),
            payment: new!(PaymentById),
            wallet: new!(WalletById),
            wallet_by_user: new!(WalletByUser),
            agent: new!(AgentById),
            items: new!(ItemsByOrder),
            payments: new!(PaymentsByOrder),
            assignments: new!(AssignmentsByOrder),
            payment_entries: new!(EntriesByPayment),
            zip_codes: new!(ZipCodesByAgent),
            wallet_entries: new!(EntriesPageByWallet),
            agent_assignments: new!(AssignmentsPageByAgent),
        }
    }
}
