//! `delivery_agents`: one per agent user.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{enum_col, fk, id, index, ts};
use crate::m20261121_000001_create_users::Users;

/// Creates `delivery_agents` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000007_create_delivery_agents"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAgents::Table)
                    .col(id(DeliveryAgents::Id))
                    .col(uuid_uniq(DeliveryAgents::UserId))
                    .col(string_len_uniq(DeliveryAgents::AgentCode, 32))
                    .col(enum_col(DeliveryAgents::Status, &["ACTIVE", "SUSPENDED"]))
                    .col(boolean(DeliveryAgents::IsAvailable).default(false))
                    .col(ts(DeliveryAgents::CreatedAt))
                    .col(ts(DeliveryAgents::UpdatedAt))
                    .foreign_key(&mut fk(
                        DeliveryAgents::Table,
                        DeliveryAgents::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        // The unique constraint already indexes user_id; the named index is kept
        // because operators and the design refer to it by this name.
        for (name, col) in [
            ("idx_delivery_agents_user_id", DeliveryAgents::UserId),
            ("idx_delivery_agents_status", DeliveryAgents::Status),
            ("idx_delivery_agents_is_available", DeliveryAgents::IsAvailable),
        ] {
            manager.create_index(index(name, DeliveryAgents::Table).col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DeliveryAgents::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
pub enum DeliveryAgents {
    Table,
    Id,
    UserId,
    AgentCode,
    Status,
    IsAvailable,
    CreatedAt,
    UpdatedAt,
}
