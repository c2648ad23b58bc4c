//! `idempotency_keys`: one row per (actor, key), holding the stored response.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{fk, id, index, ts, ts_null};
use crate::m20261121_000001_create_users::Users;

/// Creates `idempotency_keys`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000013_create_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdempotencyKeys as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .col(id(K::Id))
                    .col(uuid(K::ActorId))
                    .col(string_len(K::Key, 255))
                    .col(string_len(K::Operation, 64))
                    .col(string_len(K::RequestHash, 64))
                    .col(json_binary_null(K::Response))
                    .col(ts(K::CreatedAt))
                    .col(ts_null(K::CompletedAt))
                    .foreign_key(&mut fk(K::Table, K::ActorId, Users::Table, Users::Id, ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_idempotency_keys_actor_key", K::Table).col(K::ActorId).col(K::Key).unique().to_owned(),
            )
            .await?;
        // The prune command deletes by age.
        manager.create_index(index("idx_idempotency_keys_created", K::Table).col(K::CreatedAt).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum IdempotencyKeys {
    Table,
    Id,
    ActorId,
    Key,
    Operation,
    RequestHash,
    Response,
    CreatedAt,
    CompletedAt,
}
