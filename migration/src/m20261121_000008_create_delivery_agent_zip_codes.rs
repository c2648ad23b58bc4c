//! `delivery_agent_zip_codes`: the zip codes each agent serves, indexed by zip
//! code so "who serves 10115?" is an index lookup on both backends.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, index};
use crate::m20261121_000007_create_delivery_agents::DeliveryAgents;

/// Creates `delivery_agent_zip_codes`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000008_create_delivery_agent_zip_codes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAgentZipCodes::Table)
                    .col(uuid(DeliveryAgentZipCodes::AgentId))
                    .col(string_len(DeliveryAgentZipCodes::ZipCode, 16))
                    .primary_key(
                        Index::create().col(DeliveryAgentZipCodes::AgentId).col(DeliveryAgentZipCodes::ZipCode),
                    )
                    .foreign_key(&mut fk(
                        DeliveryAgentZipCodes::Table,
                        DeliveryAgentZipCodes::AgentId,
                        DeliveryAgents::Table,
                        DeliveryAgents::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_delivery_agent_zip_codes_zip_code", DeliveryAgentZipCodes::Table)
                    .col(DeliveryAgentZipCodes::ZipCode)
                    .col(DeliveryAgentZipCodes::AgentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DeliveryAgentZipCodes::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum DeliveryAgentZipCodes {
    Table,
    AgentId,
    ZipCode,
}
