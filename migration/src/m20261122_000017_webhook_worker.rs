//! What the webhook delivery worker needs on each outbox row: the event it
//! carries (`event_id`, shared by the rows of one event), a lease
//! (`locked_until`: a claimed row is invisible to other workers until then,
//! and a crashed worker's rows come back when it passes), the receiver's last
//! HTTP status, and when the row was delivered (what `webhooks prune` ages).

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{index, ts_null};

/// Adds the worker's columns to `webhook_deliveries`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000017_webhook_worker"
    }
}

const INDEX: &str = "idx_webhook_deliveries_event";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in
            [uuid_null(D::EventId), ts_null(D::LockedUntil), integer_null(D::LastStatus), ts_null(D::DeliveredAt)]
        {
            let mut column = column;
            manager.alter_table(Table::alter().table(D::Table).add_column(&mut column).to_owned()).await?;
        }
        manager.create_index(index(INDEX, D::Table).col(D::EventId).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        manager.drop_index(Index::drop().name(INDEX).table(D::Table).to_owned()).await?;
        for column in [D::DeliveredAt, D::LastStatus, D::LockedUntil, D::EventId] {
            manager.alter_table(Table::alter().table(D::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    EventId,
    LockedUntil,
    LastStatus,
    DeliveredAt,
}
