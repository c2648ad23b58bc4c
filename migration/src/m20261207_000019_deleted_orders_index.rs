//! The soft-deleted orders, indexed on their own: every non-admin read of
//! shipping assignments leaves out those of deleted orders with
//! `order_id NOT IN (SELECT id FROM orders WHERE deleted_at IS NOT NULL)`,
//! which this partial index answers from the few deleted rows instead of a
//! scan of every order. A partial index works on both backends.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

/// Adds `idx_orders_deleted`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000019_deleted_orders_index"
    }
}

const NAME: &str = "idx_orders_deleted";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index(NAME, Alias::new("orders"))
                    .col(Alias::new("id"))
                    .and_where(Expr::col(Alias::new("deleted_at")).is_not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(NAME).table(Alias::new("orders")).to_owned()).await
    }
}
