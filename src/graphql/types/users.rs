//! `User` and `Wallet`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::error::GqlResult;
use crate::graphql::context::ContextExt;
use crate::graphql::inputs::LedgerEntrySort;
use crate::graphql::loaders::{NestedCount, NestedPage};
use crate::graphql::node::encode;
use crate::graphql::pagination::{Conn, PageArgs, Paging, TotalCount, paging};
use crate::graphql::types::{LedgerEntry, UserRole, WalletKind};

/// Someone who signs in.
pub struct User(pub entity::user::Model);

#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::User, self.0.id)
    }
    /// Sign-in email; only the user themself and admins see it.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let viewer = ctx.viewer()?;
        (viewer.id == self.0.id || viewer.is_admin()).then_some(self.0.email.as_str())
    }
    /// Name shown to others.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// Current role.
    async fn role(&self) -> UserRole {
        self.0.role.into()
    }
    /// The user's wallet, when the viewer may see it.
    async fn wallet(&self, ctx: &Context<'_>) -> GqlResult<Option<Wallet>> {
        Ok(ctx.loaders().wallet_by_user.load_one(self.0.id).await?.map(Wallet))
    }
    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the user last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When the user was soft-deleted.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
}

/// A balance kept exact by the ledger.
pub struct Wallet(pub entity::wallet::Model);

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
        minor_to_decimal(self.0.balance_minor, &self.0.currency)
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
    async fn ledger_entries(
        &self,
        ctx: &Context<'_>,
        order_by: Option<LedgerEntrySort>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<LedgerEntry>> {
        let Paging { sort, direction, scope, page } = paging(
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
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the balance last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
