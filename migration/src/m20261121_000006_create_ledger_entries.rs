//! `ledger_entries`: append-only legs; the unique idempotency key makes a
//! double write impossible.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{currency, enum_col, fk, id, index, money, ts};
use crate::m20261121_000002_create_wallets::Wallets;
use crate::m20261121_000005_create_payments::Payments;

/// Creates `ledger_entries` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000006_create_ledger_entries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(id(LedgerEntries::Id))
                    .col(uuid(LedgerEntries::WalletId))
                    .col(uuid_null(LedgerEntries::PaymentId))
                    .col(money(LedgerEntries::AmountMinor))
                    .col(currency(LedgerEntries::Currency))
                    .col(enum_col(
                        LedgerEntries::EntryType,
                        &["TOP_UP", "PAYMENT_DEBIT", "PAYMENT_CREDIT", "PLATFORM_FEE", "REFUND"],
                    ))
                    .col(string_len_uniq(LedgerEntries::IdempotencyKey, 255))
                    .col(ts(LedgerEntries::CreatedAt))
                    .foreign_key(&mut fk(
                        LedgerEntries::Table,
                        LedgerEntries::WalletId,
                        Wallets::Table,
                        Wallets::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        LedgerEntries::Table,
                        LedgerEntries::PaymentId,
                        Payments::Table,
                        Payments::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_ledger_entries_wallet_amount", LedgerEntries::Table)
                    .col(LedgerEntries::WalletId)
                    .col(LedgerEntries::AmountMinor)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_ledger_entries_created", LedgerEntries::Table)
                    .col((LedgerEntries::CreatedAt, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_ledger_entries_payment_id", LedgerEntries::Table).col(LedgerEntries::PaymentId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LedgerEntries::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum LedgerEntries {
    Table,
    Id,
    WalletId,
    PaymentId,
    AmountMinor,
    Currency,
    EntryType,
    IdempotencyKey,
    CreatedAt,
}
