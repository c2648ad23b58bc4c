//! At most one live payment (initiated, captured or partly refunded) per
//! order, enforced by the database so two concurrent `initiatePayment`
//! requests cannot both succeed. A partial unique index works on both backends.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

/// Adds `idx_payments_one_live_per_order`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000015_one_live_payment_per_order"
    }
}

const NAME: &str = "idx_payments_one_live_per_order";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index(NAME, Alias::new("payments"))
                    .col(Alias::new("order_id"))
                    .unique()
                    .and_where(Expr::col(Alias::new("status")).is_in(["INITIATED", "CAPTURED", "PARTIALLY_REFUNDED"]))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(NAME).table(Alias::new("payments")).to_owned()).await
    }
}
