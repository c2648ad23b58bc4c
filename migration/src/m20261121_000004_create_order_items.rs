//! `order_items`: the lines of an order.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, id, index, money};
use crate::m20261121_000003_create_orders::Orders;

/// Creates `order_items`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000004_create_order_items"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(id(OrderItems::Id))
                    .col(uuid(OrderItems::OrderId))
                    .col(string_len(OrderItems::Name, 200))
                    .col(integer(OrderItems::Quantity).check(Expr::col(OrderItems::Quantity).gt(0)))
                    .col(money(OrderItems::UnitPriceMinor).check(Expr::col(OrderItems::UnitPriceMinor).gte(0)))
                    .foreign_key(&mut fk(
                        OrderItems::Table,
                        OrderItems::OrderId,
                        Orders::Table,
                        Orders::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_order_items_order_id", OrderItems::Table).col(OrderItems::OrderId).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OrderItems::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum OrderItems {
    Table,
    Id,
    OrderId,
    Name,
    Quantity,
    UnitPriceMinor,
}
