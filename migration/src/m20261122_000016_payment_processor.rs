//! What the card processor said about a payment: its charge id
//! (`processor_ref`, unique, so a callback finds exactly one payment) and its
//! answer (`processor_status`: PENDING, APPROVED, DECLINED, REFUNDED). Both
//! are NULL for payments no processor was asked about.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::index;

/// Adds `payments.processor_ref` and `payments.processor_status`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000016_payment_processor"
    }
}

const INDEX: &str = "idx_payments_processor_ref";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .add_column(string_len_null(Payments::ProcessorRef, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .add_column(string_len_null(Payments::ProcessorStatus, 24))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index(INDEX, Payments::Table).col(Payments::ProcessorRef).unique().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(INDEX).table(Payments::Table).to_owned()).await?;
        for column in [Payments::ProcessorStatus, Payments::ProcessorRef] {
            manager.alter_table(Table::alter().table(Payments::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    ProcessorRef,
    ProcessorStatus,
}
