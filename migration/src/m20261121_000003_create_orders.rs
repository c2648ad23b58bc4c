//! `orders`, with optimistic-lock `version` and soft delete.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{currency, enum_col, fk, id, index, money, ts, ts_null};
use crate::m20261121_000001_create_users::Users;

/// Creates `orders` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000003_create_orders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(id(Orders::Id))
                    .col(string_len_uniq(Orders::OrderNumber, 32))
                    .col(uuid(Orders::BuyerId))
                    .col(uuid(Orders::SellerId))
                    .col(enum_col(Orders::Status, &["PENDING", "CONFIRMED", "SHIPPING", "DELIVERED", "CANCELLED"]))
                    .col(money(Orders::TotalMinor).check(Expr::col(Orders::TotalMinor).gte(0)))
                    .col(currency(Orders::Currency))
                    .col(string_len(Orders::DeliveryZipCode, 16))
                    .col(integer(Orders::Version).default(0))
                    .col(text_null(Orders::CancelReason))
                    .col(ts(Orders::CreatedAt))
                    .col(ts(Orders::UpdatedAt))
                    .col(ts_null(Orders::DeletedAt))
                    .col(uuid_null(Orders::DeletedBy))
                    .foreign_key(&mut fk(
                        Orders::Table,
                        Orders::BuyerId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        Orders::Table,
                        Orders::SellerId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_orders_buyer_id", Orders::BuyerId),
            ("idx_orders_seller_id", Orders::SellerId),
            ("idx_orders_status", Orders::Status),
            ("idx_orders_created_at", Orders::CreatedAt),
        ] {
            manager.create_index(index(name, Orders::Table).col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Orders::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
pub enum Orders {
    Table,
    Id,
    OrderNumber,
    BuyerId,
    SellerId,
    Status,
    TotalMinor,
    Currency,
    DeliveryZipCode,
    Version,
    CancelReason,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    DeletedBy,
}
