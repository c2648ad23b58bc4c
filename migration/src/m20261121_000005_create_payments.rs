//! `payments`: attempts to pay for an order.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{currency, enum_col, fk, id, index, money, ts, ts_null};
use crate::m20261121_000003_create_orders::Orders;

/// Creates `payments` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000005_create_payments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(id(Payments::Id))
                    .col(uuid(Payments::OrderId))
                    .col(money(Payments::AmountMinor).check(Expr::col(Payments::AmountMinor).gte(0)))
                    .col(currency(Payments::Currency))
                    .col(enum_col(Payments::Method, &["WALLET", "CARD", "CASH_ON_DELIVERY"]))
                    .col(enum_col(
                        Payments::Status,
                        &["INITIATED", "CAPTURED", "FAILED", "REFUNDED", "PARTIALLY_REFUNDED"],
                    ))
                    .col(money(Payments::RefundedMinor).default(0))
                    .col(ts_null(Payments::CapturedAt))
                    .col(ts(Payments::CreatedAt))
                    .col(ts(Payments::UpdatedAt))
                    // A refund can never exceed what was paid.
                    .check((
                        "chk_payments_refund_bounded",
                        Expr::col(Payments::RefundedMinor)
                            .gte(0)
                            .and(Expr::col(Payments::RefundedMinor).lte(Expr::col(Payments::AmountMinor))),
                    ))
                    .foreign_key(&mut fk(
                        Payments::Table,
                        Payments::OrderId,
                        Orders::Table,
                        Orders::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_payments_order_id", Payments::OrderId),
            ("idx_payments_status", Payments::Status),
            ("idx_payments_method", Payments::Method),
        ] {
            manager.create_index(index(name, Payments::Table).col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Payments::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
pub enum Payments {
    Table,
    Id,
    OrderId,
    AmountMinor,
    Currency,
    Method,
    Status,
    RefundedMinor,
    CapturedAt,
    CreatedAt,
    UpdatedAt,
}
