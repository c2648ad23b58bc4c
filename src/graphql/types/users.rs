//! `User` and `Wallet`.

use async_graphql::{Context, ID, Object};

use crate::error::GqlResult;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::lookup::EntityKind;
use crate::domain::money::minor_to_decimal;
use crate::graphql::context::ContextExt;
use crate::graphql::node::encode;
use crate::graphql::types::{UserRole, WalletKind};

/// Someone who signs in.
pub struct User(pub entity::user::Model);

#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::User, self.0.id)
    }
    /// Sign-in email.
    async fn email(&self) -> &str {
        &self.0.email
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
    /// When the wallet was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the balance last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
