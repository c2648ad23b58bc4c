//! `webhook_subscriptions`: receivers and the events they want.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{id, ts};

/// Creates `webhook_subscriptions`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000010_create_webhook_subscriptions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(id(WebhookSubscriptions::Id))
                    .col(string_len(WebhookSubscriptions::Url, 2048))
                    .col(json_binary(WebhookSubscriptions::EventTypes))
                    .col(string_len(WebhookSubscriptions::Secret, 255))
                    .col(boolean(WebhookSubscriptions::Active).default(true))
                    .col(ts(WebhookSubscriptions::CreatedAt))
                    .col(ts(WebhookSubscriptions::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookSubscriptions::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
pub enum WebhookSubscriptions {
    Table,
    Id,
    Url,
    EventTypes,
    Secret,
    Active,
    CreatedAt,
    UpdatedAt,
}
