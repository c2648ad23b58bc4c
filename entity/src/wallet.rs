//! `wallets`: one per user plus the single platform wallet.

use sea_orm::entity::prelude::*;

use crate::WalletKind;

/// A wallet row. `balance_minor` always equals the sum of its ledger entries;
/// both change in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "wallets")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owner; `None` only for the platform wallet.
    #[sea_orm(unique)]
    pub user_id: Option<Uuid>,
    /// USER or PLATFORM.
    pub kind: WalletKind,
    /// ISO 4217 code.
    pub currency: String,
    /// Balance in minor units of `currency`.
    pub balance_minor: i64,
    /// Bumped on every balance change.
    pub version: i32,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
