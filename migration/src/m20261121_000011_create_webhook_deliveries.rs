//! `webhook_deliveries`: the outbox, polled by status and due time.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{enum_col, fk, id, index, ts, ts_null};
use crate::m20261121_000010_create_webhook_subscriptions::WebhookSubscriptions;

/// Creates `webhook_deliveries` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000011_create_webhook_deliveries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(id(D::Id))
                    .col(uuid(D::SubscriptionId))
                    .col(string_len(D::EventType, 64))
                    .col(json_binary(D::Payload))
                    .col(enum_col(D::Status, &["PENDING", "DELIVERED", "FAILED"]))
                    .col(integer(D::Attempts).default(0))
                    .col(ts_null(D::NextRetryAt))
                    .col(text_null(D::LastError))
                    .col(ts(D::CreatedAt))
                    .col(ts(D::UpdatedAt))
                    .foreign_key(&mut fk(
                        D::Table,
                        D::SubscriptionId,
                        WebhookSubscriptions::Table,
                        WebhookSubscriptions::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_webhook_deliveries_status_retry", D::Table).col(D::Status).col(D::NextRetryAt).to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_webhook_deliveries_subscription", D::Table).col(D::SubscriptionId).col(D::Status).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    EventType,
    Payload,
    Status,
    Attempts,
    NextRetryAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}
