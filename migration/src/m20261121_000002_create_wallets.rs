//! `wallets`: one per user, plus a single platform wallet.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{currency, enum_col, fk, id, index, money, ts};
use crate::m20261121_000001_create_users::Users;

/// Creates `wallets`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000002_create_wallets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Wallets::Table)
                    .col(id(Wallets::Id))
                    .col(uuid_null(Wallets::UserId).unique_key())
                    .col(enum_col(Wallets::Kind, &["USER", "PLATFORM"]))
                    .col(currency(Wallets::Currency))
                    .col(money(Wallets::BalanceMinor).default(0))
                    .col(integer(Wallets::Version).default(0))
                    .col(ts(Wallets::CreatedAt))
                    .col(ts(Wallets::UpdatedAt))
                    // A user wallet has an owner; the platform wallet has none.
                    .check((
                        "chk_wallets_owner",
                        Expr::col(Wallets::Kind).eq("USER").eq(Expr::col(Wallets::UserId).is_not_null()),
                    ))
                    .foreign_key(&mut fk(
                        Wallets::Table,
                        Wallets::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        // At most one platform wallet: a partial unique index works on both backends.
        manager
            .create_index(
                index("idx_wallets_single_platform", Wallets::Table)
                    .col(Wallets::Kind)
                    .unique()
                    .and_where(Expr::col(Wallets::Kind).eq("PLATFORM"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Wallets::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
pub enum Wallets {
    Table,
    Id,
    UserId,
    Kind,
    Currency,
    BalanceMinor,
    Version,
    CreatedAt,
    UpdatedAt,
}
