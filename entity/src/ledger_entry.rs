//! `ledger_entries`: append-only double-entry legs. Never updated or deleted.

use sea_orm::entity::prelude::*;

use crate::LedgerEntryType;

/// One signed leg of a money movement.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Wallet the leg moves.
    pub wallet_id: Uuid,
    /// Payment the leg belongs to, if any (top-ups have none).
    pub payment_id: Option<Uuid>,
    /// Signed amount in minor units of the wallet's currency.
    pub amount_minor: i64,
    /// ISO 4217 code, copied from the wallet (a wallet's currency never changes).
    pub currency: String,
    /// Why the leg exists.
    #[serde(deserialize_with = "crate::stored::value")]
    pub entry_type: LedgerEntryType,
    /// Derived from the operation and leg (`payment_<id>_buyer_debit`); unique, so a leg cannot be written twice.
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// When the leg was written.
    pub created_at: DateTimeUtc,
}

/// No ORM relations: relations are loaded by id through the API dataloaders.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
