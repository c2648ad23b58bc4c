//! Dataloaders: every relation is loaded in one statement per level, batched
//! across parents and cached for the current request only. Each loader calls
//! a domain batch function, so the access rules are the domain's.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::hash::Hash;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;
use tracing::Instrument;

use crate::db::Limited;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{
    delivery_agent, ledger_entry, order, order_item, payment, shipping_assignment, user, wallet, webhook_subscription,
};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use uuid::Uuid;

use crate::domain::pagination::{Direction, Page, PageRequest};
use crate::domain::shipping::{AgentMetrics, MetricsWindow};
use crate::domain::{Viewer, orders, payments, shipping, users, wallets, webhooks};
use crate::error::AppError;
use crate::graphql::error::GqlError;

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
    db: Limited,
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

/// The span of one dataloader batch (debug level: exported as a trace span
/// when OpenTelemetry is on, and otherwise costs a level check).
fn batch_span(loader: &'static str, keys: usize) -> tracing::Span {
    tracing::debug_span!("dataloader_batch", loader, keys)
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
                let span = batch_span(stringify!($name), $keys.len());
                async move {
                    let $cx = &self.0;
                    Ok($body)
                }
                .instrument(span)
                .await
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
    /// Webhook subscriptions by id (admins; others see none).
    WebhookSubscriptionById => webhook_subscription::Model,
    |cx, keys| by_key(webhooks::subscriptions::by_ids(&cx.db, cx.viewer(), keys).await?, |m| Some(m.id))
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

loader!(
    /// How many visible ledger entries each wallet has.
    EntryCountByWallet => u64,
    |cx, keys| wallets::count_entries_of_wallets(&cx.db, cx.viewer(), keys).await?
);
loader!(
    /// How many visible assignments each agent has.
    AssignmentCountByAgent => u64,
    |cx, keys| shipping::count_assignments_of_agents(&cx.db, cx.viewer(), keys).await?
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

/// Loads nested pages: keys that share page arguments (normally all of
/// them) are fetched together by `fetch`, one statement per group.
async fn load_pages<S, M, F, Fut>(
    keys: &[(Uuid, NestedPage<S>)],
    fetch: F,
) -> Result<HashMap<(Uuid, NestedPage<S>), Page<M>>, LoadError>
where
    S: Clone + Eq + Hash,
    M: Clone,
    F: Fn(Vec<Uuid>, NestedPage<S>) -> Fut,
    Fut: Future<Output = Result<HashMap<Uuid, Page<M>>, AppError>>,
{
    let mut out = HashMap::new();
    for (args, parents) in grouped(keys.to_vec(), |(_, a)| a.clone()) {
        let ids: Vec<Uuid> = parents.iter().map(|(id, _)| *id).collect();
        let pages = fetch(ids.clone(), args.clone()).await?;
        for id in ids {
            out.insert((id, args.clone()), pages.get(&id).cloned().unwrap_or_else(Page::empty));
        }
    }
    Ok(out)
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
        let cx = &self.0;
        let span = batch_span("EntriesPageByWallet", keys.len());
        load_pages(keys, |ids, args| async move {
            let key = wallets::entry_sort_key(args.sort, args.direction);
            let filter = wallets::EntryFilter::default();
            wallets::entries_of_wallets(&cx.db, cx.viewer(), &ids, &filter, &key, &args.page).await
        })
        .instrument(span)
        .await
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
        let cx = &self.0;
        let span = batch_span("AssignmentsPageByAgent", keys.len());
        load_pages(keys, |ids, args| async move {
            let key = shipping::assignment_sort_key(args.sort, args.direction);
            let filter = shipping::AssignmentFilter::default();
            shipping::assignments_of_agents(&cx.db, cx.viewer(), &ids, &filter, &key, &args.page).await
        })
        .instrument(span)
        .await
    }
}

/// `DeliveryAgent.metrics(from, to)`: the agent and the window.
pub type MetricsKey = (Uuid, MetricsWindow);

/// Agents' delivery metrics: keys that share a window (normally all of a
/// page) are computed in one grouped statement. Who may see an agent's
/// metrics is the domain's rule too (`shipping::authorize_metrics`), checked
/// by the resolver before it loads, since it needs the agent row it has.
/// Each window succeeds or fails on its own, so one field's failure does
/// not fail its siblings with other windows.
pub struct MetricsByAgent(LoaderContext);

impl Loader<MetricsKey> for MetricsByAgent {
    type Value = Result<AgentMetrics, LoadError>;
    type Error = LoadError;

    async fn load(&self, keys: &[MetricsKey]) -> Result<HashMap<MetricsKey, Self::Value>, LoadError> {
        let span = batch_span("MetricsByAgent", keys.len());
        async move {
            let mut out = HashMap::with_capacity(keys.len());
            for (window, agents) in grouped(keys.to_vec(), |(_, window)| *window) {
                let ids: Vec<Uuid> = agents.iter().map(|(id, _)| *id).collect();
                match shipping::metrics_of_agents(&self.0.db, window, &ids).await {
                    Ok(found) => out.extend(found.into_iter().map(|(id, metrics)| ((id, window), Ok(metrics)))),
                    Err(err) => {
                        let err = LoadError::from(err);
                        out.extend(ids.into_iter().map(|id| ((id, window), Err(err.clone()))));
                    }
                }
            }
            Ok(out)
        }
        .instrument(span)
        .await
    }
}

/// A `totalCount` of a nested connection, counted for every parent at once.
#[derive(Debug, Clone, Copy)]
pub enum NestedCount {
    /// `Wallet.ledgerEntries` of this wallet.
    WalletEntries(Uuid),
    /// `DeliveryAgent.assignments` of this agent.
    AgentAssignments(Uuid),
}

impl Loaders {
    /// Counts one nested connection (batched with its siblings).
    pub async fn count(&self, which: NestedCount) -> Result<u64, LoadError> {
        let n = match which {
            NestedCount::WalletEntries(id) => self.wallet_entry_counts.load_one(id).await?,
            NestedCount::AgentAssignments(id) => self.agent_assignment_counts.load_one(id).await?,
        };
        Ok(n.unwrap_or(0))
    }
}

/// A loader with a per-request cache.
pub type Cached<L> = DataLoader<L, HashMapCache>;

/// The request's loaders, one per relation.
pub struct Loaders {
    /// `*.buyer`, `*.seller`, `*.user`, `*.actor`, `Wallet.owner`.
    pub user: Cached<UserById>,
    /// `Payment.order`, `ShippingAssignment.order`.
    pub order: Cached<OrderById>,
    /// `LedgerEntry.payment`.
    pub payment: Cached<PaymentById>,
    /// `LedgerEntry.wallet`.
    pub wallet: Cached<WalletById>,
    /// `User.wallet`.
    pub wallet_by_user: Cached<WalletByUser>,
    /// `ShippingAssignment.agent`.
    pub agent: Cached<AgentById>,
    /// `Order.items`.
    pub items: Cached<ItemsByOrder>,
    /// `Order.payments`, `Order.payment`.
    pub payments: Cached<PaymentsByOrder>,
    /// `Order.assignments`, `Order.activeAssignment`.
    pub assignments: Cached<AssignmentsByOrder>,
    /// `Payment.ledgerEntries`.
    pub payment_entries: Cached<EntriesByPayment>,
    /// `DeliveryAgent.zipCodes`.
    pub zip_codes: Cached<ZipCodesByAgent>,
    /// `Wallet.ledgerEntries`.
    pub wallet_entries: Cached<EntriesPageByWallet>,
    /// `DeliveryAgent.assignments`.
    pub agent_assignments: Cached<AssignmentsPageByAgent>,
    /// `Wallet.ledgerEntries.totalCount`.
    pub wallet_entry_counts: Cached<EntryCountByWallet>,
    /// `DeliveryAgent.assignments.totalCount`.
    pub agent_assignment_counts: Cached<AssignmentCountByAgent>,
    /// `DeliveryAgent.metrics`.
    pub agent_metrics: Cached<MetricsByAgent>,
    /// `WebhookDelivery.subscription`.
    pub webhook_subscription: Cached<WebhookSubscriptionById>,
}

impl Loaders {
    /// Forgets every cached value (after a write, see
    /// `extensions::root_mutations`).
    pub fn clear(&self) {
        self.user.clear::<Uuid>();
        self.order.clear::<Uuid>();
        self.payment.clear::<Uuid>();
        self.wallet.clear::<Uuid>();
        self.wallet_by_user.clear::<Uuid>();
        self.agent.clear::<Uuid>();
        self.items.clear::<Uuid>();
        self.payments.clear::<Uuid>();
        self.assignments.clear::<Uuid>();
        self.payment_entries.clear::<Uuid>();
        self.zip_codes.clear::<Uuid>();
        self.wallet_entries.clear::<(Uuid, NestedPage<wallets::EntrySort>)>();
        self.agent_assignments.clear::<(Uuid, NestedPage<shipping::AssignmentSort>)>();
        self.wallet_entry_counts.clear::<Uuid>();
        self.agent_assignment_counts.clear::<Uuid>();
        self.agent_metrics.clear::<MetricsKey>();
        self.webhook_subscription.clear::<Uuid>();
    }

    /// Fresh loaders for one request, with a per-request cache. Their batches
    /// run on the request's own task through `batches` (see [`Batches`]).
    pub fn new(db: Limited, viewer: Option<Viewer>, batches: &Batches) -> Self {
        let cx = LoaderContext { db, viewer };
        macro_rules! new {
            ($loader:ident) => {{
                let batches = batches.clone();
                // No batching delay: `Batches` starts a batch only once the
                // query is idle, so every key of the level is queued by then.
                DataLoader::with_cache($loader(cx.clone()), move |fut| batches.push(fut), HashMapCache::default())
                    .delay(Duration::ZERO)
            }};
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
            wallet_entry_counts: new!(EntryCountByWallet),
            agent_assignment_counts: new!(AssignmentCountByAgent),
            agent_metrics: new!(MetricsByAgent),
            webhook_subscription: new!(WebhookSubscriptionById),
        }
    }
}

/// Runs dataloader batches on the request's own task instead of spawning
/// them.
///
/// A batch is first polled only once the query future is pending, that is,
/// after every resolver of the current level has queued its key; so one
/// level's keys always land in one batch, however slow the machine, and the
/// statement count of a page does not depend on timing. Running on the
/// request's task also keeps its span (request ID) and statement counter.
#[derive(Clone, Default)]
pub struct Batches(Arc<BatchQueue>);

#[derive(Default)]
struct BatchQueue {
    queued: Mutex<Vec<BoxFuture<'static, ()>>>,
    waker: AtomicWaker,
}

impl Batches {
    fn push(&self, batch: BoxFuture<'static, ()>) {
        self.0.queued.lock().unwrap_or_else(|e| e.into_inner()).push(batch);
        self.0.waker.wake();
    }

    /// Runs `work` (the query) while driving the batches it queues.
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        let queue = self.0.clone();
        let mut running = FuturesUnordered::new();
        let mut work = std::pin::pin!(work);
        // One wrapper waker for as long as the task's waker stays the same, so
        // the wakers registered deep in the query's futures stay valid and
        // are not re-cloned on every poll.
        let mut signal: Option<Arc<WakeSignal>> = None;
        poll_fn(move |cx| {
            let signal = match &signal {
                Some(s) if s.inner.will_wake(cx.waker()) => s.clone(),
                _ => signal
                    .insert(Arc::new(WakeSignal { woken: AtomicBool::new(false), inner: cx.waker().clone() }))
                    .clone(),
            };
            signal.woken.store(false, Ordering::SeqCst);
            let waker = Waker::from(signal.clone());
            if let Poll::Ready(output) = work.as_mut().poll(&mut TaskContext::from_waker(&waker)) {
                return Poll::Ready(output);
            }
            if signal.woken.load(Ordering::SeqCst) {
                // The query only yielded (a large list is resolved in slices)
                // and is about to be polled again: it is not idle yet, so
                // keys of this level may still come. Start no batch now.
                return Poll::Pending;
            }
            queue.waker.register(cx.waker());
            running.extend(queue.queued.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
            Poll::Pending
        })
        .await
    }
}

/// Wakes the request's task and records that the query asked to be polled again.
struct WakeSignal {
    woken: AtomicBool,
    inner: Waker,
}

impl Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}
