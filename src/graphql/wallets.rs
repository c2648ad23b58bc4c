//! Wallets and the ledger in the API: `Wallet`, `LedgerEntry`,
//! `LedgerHealth` and its violations, their enums, the `ledgerEntries`
//! connection's filter and sort, and the wallet fields of Query and Mutation
//! (`ledgerHealth`, `topUpWallet`).

use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, Enum, ID, InputObject, Object};

use crate::domain::lookup::{EntityKind, Found};
use crate::domain::money::{minor_to_decimal, wide_minor_to_decimal};
use crate::domain::wallets;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlResult, in_input};
use crate::graphql::loaders::{NestedCount, NestedPage};
use crate::graphql::node::{decode_as, encode, find};
use crate::graphql::pagination::{
    Conn, PageArgs, Paging, TotalCount, connection_cost, list, paging, sort_input, total,
};
use crate::graphql::payments::Payment;
use crate::graphql::users::User;

/// Owner kind of a wallet.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::WalletKind")]
pub enum WalletKind {
    /// A user's wallet.
    User,
    /// The platform's fee wallet.
    Platform,
}

/// Why a ledger entry exists.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::LedgerEntryType")]
pub enum LedgerEntryType {
    /// Money in from outside.
    TopUp,
    /// Buyer's leg of a capture.
    PaymentDebit,
    /// Seller's leg of a capture.
    PaymentCredit,
    /// Platform's fee leg of a capture.
    PlatformFee,
    /// A refund reversal leg.
    Refund,
}

/// An invariant of the books (see `Query.ledgerHealth`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "wallets::Invariant")]
pub enum LedgerInvariant {
    /// A payment's entries do not sum to zero.
    PaymentUnbalanced,
    /// A wallet's stored balance differs from the sum of its entries.
    WalletBalanceDrift,
    /// All balances of a currency differ from all money brought in.
    BooksUnbalanced,
    /// A user wallet is below zero.
    NegativeBalance,
    /// A payment's status or refunded amount disagrees with its entries.
    PaymentLedgerMismatch,
}

/// A balance kept exact by the ledger.
pub struct Wallet(pub entity::wallet::Model);

/// A balance kept exact by the ledger.
#[Object]
impl Wallet {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::Wallet, self.0.id)
    }
    /// USER or PLATFORM.
    async fn kind(&self) -> WalletKind {
        self.0.kind.into()
    }
    /// The owner (null for the platform wallet).
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(id) = self.0.user_id else { return Ok(None) };
        Ok(ctx.loaders().user.load_one(id).await?.map(User))
    }
    /// Current balance, exact, in `currency`.
    async fn balance(&self) -> Decimal {
        minor_to_decimal(self.0.balance_minor, &self.0.currency).into()
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Bumped on every balance change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The wallet's ledger entries, newest first by default. Pages (and
    /// `totalCount`s) of many wallets are read in one statement.
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn ledger_entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<LedgerEntrySort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<LedgerEntry>> {
        let Paging { sort, direction, scope, page } = paging(
            ctx,
            "Wallet.ledgerEntries",
            LedgerEntrySort::resolve(order_by),
            PageArgs { first, after, last, before },
        )?;
        let key = (self.0.id, NestedPage { sort, direction, page });
        let page =
            ctx.loaders().wallet_entries.load_one(key).await?.unwrap_or_else(crate::domain::pagination::Page::empty);
        Ok(scope.connection(page, TotalCount::Nested(NestedCount::WalletEntries(self.0.id)), LedgerEntry))
    }
    /// When the wallet was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the balance last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// One signed leg of a money movement. Entries are never changed.
pub struct LedgerEntry(pub entity::ledger_entry::Model);

/// One signed leg of a money movement. Entries are never changed.
#[Object]
impl LedgerEntry {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::LedgerEntry, self.0.id)
    }
    /// Signed amount, exact, in `currency`.
    async fn amount(&self) -> Decimal {
        minor_to_decimal(self.0.amount_minor, &self.0.currency).into()
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Why it exists.
    async fn entry_type(&self) -> LedgerEntryType {
        self.0.entry_type.into()
    }
    /// The key that makes it unique.
    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }
    /// The wallet moved, when the viewer may see it.
    async fn wallet(&self, ctx: &Context<'_>) -> GqlResult<Option<Wallet>> {
        Ok(ctx.loaders().wallet.load_one(self.0.wallet_id).await?.map(Wallet))
    }
    /// The payment it belongs to, when there is one the viewer may see.
    async fn payment(&self, ctx: &Context<'_>) -> GqlResult<Option<Payment>> {
        let Some(id) = self.0.payment_id else { return Ok(None) };
        Ok(ctx.loaders().payment.load_one(id).await?.map(Payment))
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// The result of checking every ledger invariant (see `Query.ledgerHealth`).
pub struct LedgerHealth(pub wallets::LedgerHealth);

/// The result of checking every ledger invariant (see `Query.ledgerHealth`).
#[Object]
impl LedgerHealth {
    /// No invariant is broken.
    async fn healthy(&self) -> bool {
        self.0.healthy
    }
    /// When the check ran.
    async fn checked_at(&self) -> DateTime {
        self.0.checked_at.into()
    }
    /// Wallets checked.
    async fn wallets_checked(&self) -> u64 {
        self.0.wallets_checked
    }
    /// Payments checked.
    async fn payments_checked(&self) -> u64 {
        self.0.payments_checked
    }
    /// Ledger entries checked.
    async fn entries_checked(&self) -> u64 {
        self.0.entries_checked
    }
    /// Every broken invariant; empty when healthy.
    async fn violations(&self) -> Vec<LedgerViolation> {
        self.0.violations.iter().cloned().map(LedgerViolation).collect()
    }
}

/// One broken ledger invariant.
pub struct LedgerViolation(pub wallets::Violation);

/// One broken ledger invariant.
#[Object]
impl LedgerViolation {
    /// Which invariant.
    async fn invariant(&self) -> LedgerInvariant {
        self.0.invariant.into()
    }
    /// The payment or wallet id (a UUID, not a global ID), or the currency.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// ISO 4217 code of the amounts.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// What the books say it should be.
    async fn expected(&self) -> Decimal {
        wide_minor_to_decimal(self.0.expected_minor, &self.0.currency).into()
    }
    /// What it is.
    async fn actual(&self) -> Decimal {
        wide_minor_to_decimal(self.0.actual_minor, &self.0.currency).into()
    }
    /// For humans.
    async fn detail(&self) -> &str {
        &self.0.detail
    }
}

sort_input!(LedgerEntrySort, LedgerEntrySortField, wallets::EntrySort, "ledger entries", {
    CreatedAt => wallets::EntrySort::CreatedAt,
    Amount => wallets::EntrySort::Amount,
});

/// Which ledger entries to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct LedgerEntryFilter {
    /// Any of these types.
    pub entry_type: Option<Vec<LedgerEntryType>>,
}

impl LedgerEntryFilter {
    /// The domain filter.
    pub fn into_domain(self) -> wallets::EntryFilter {
        wallets::EntryFilter { entry_type: list(&self.entry_type) }
    }
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

/// Wallet and ledger reads.
#[derive(Default)]
pub struct WalletsQuery;

#[Object]
impl WalletsQuery {
    /// One wallet by global ID (your own; admins: any).
    async fn wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: ID,
    ) -> GqlResult<Wallet> {
        find(ctx, &id, EntityKind::Wallet, |f| if let Found::Wallet(m) = f { Some(Wallet(m)) } else { None }).await
    }
    /// Checks every ledger invariant on the live database (admins): each
    /// payment's entries sum to zero, each wallet's balance equals its
    /// entries, all balances equal all money brought in, no user wallet is
    /// negative, each payment's status agrees with its entries. The same
    /// check as `courier ledger verify`.
    async fn ledger_health(&self, ctx: &Context<'_>) -> GqlResult<LedgerHealth> {
        Ok(LedgerHealth(wallets::health(ctx.pool(), ctx.viewer()).await?))
    }
    /// The entries of one wallet (your own; admins: any).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn ledger_entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The wallet's global ID.")] wallet_id: ID,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<LedgerEntryFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<LedgerEntrySort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<LedgerEntry>> {
        let viewer = ctx.require_viewer()?;
        let wallet = decode_as(&wallet_id, EntityKind::Wallet, "walletId")?;
        let filter = filter.unwrap_or_default().into_domain();
        let Paging { sort, direction, scope, page } =
            paging(ctx, "ledgerEntries", LedgerEntrySort::resolve(order_by), PageArgs { first, after, last, before })?;
        let key = wallets::entry_sort_key(sort, direction);
        let rows = wallets::entries_of_wallet(ctx.db(), Some(viewer), wallet, &filter, &key, &page).await?;
        let total = total(ctx, filter, move |db, v, f| async move {
            wallets::count_entries_of_wallet(&db, v.as_ref(), wallet, &f).await
        });
        Ok(scope.connection(rows, total, LedgerEntry))
    }
}

/// Wallet changes.
#[derive(Default)]
pub struct WalletsMutation;

#[Object]
impl WalletsMutation {
    /// Adds money from outside to a user's wallet (admins), as a TOP_UP
    /// ledger entry. Idempotent by `idempotencyKey`.
    async fn top_up_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: TopUpWalletInput,
    ) -> GqlResult<Wallet> {
        let viewer = ctx.require_viewer()?;
        let id = decode_as(&input.wallet_id, EntityKind::Wallet, "input.walletId")?;
        let wallet = wallets::top_up(
            ctx.pool(),
            viewer,
            &ctx.audit_context(),
            ctx.money(),
            id,
            input.amount.0,
            &input.idempotency_key,
        )
        .await
        .map_err(in_input)?;
        Ok(Wallet(wallet))
    }
}
