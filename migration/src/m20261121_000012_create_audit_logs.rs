//! `audit_logs`. No foreign key on `actor_id`: the trail must outlive the
//! rows it talks about, and writing it must never fail a mutation.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{id, index, ts};

/// Creates `audit_logs` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000012_create_audit_logs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AuditLogs as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(id(A::Id))
                    .col(uuid_null(A::ActorId))
                    .col(string_len(A::Action, 64))
                    .col(string_len(A::EntityType, 64))
                    .col(uuid(A::EntityId))
                    .col(json_binary_null(A::OldValues))
                    .col(json_binary_null(A::NewValues))
                    .col(string_len_null(A::RequestId, 128))
                    .col(string_len_null(A::Ip, 64))
                    .col(text_null(A::UserAgent))
                    .col(ts(A::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_audit_logs_entity", A::Table).col(A::EntityType).col(A::EntityId).to_owned())
            .await?;
        manager
            .create_index(index("idx_audit_logs_created", A::Table).col((A::CreatedAt, IndexOrder::Desc)).to_owned())
            .await?;
        manager
            .create_index(
                index("idx_audit_logs_action", A::Table)
                    .col(A::Action)
                    .col((A::CreatedAt, IndexOrder::Desc))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditLogs::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone)]
enum AuditLogs {
    Table,
    Id,
    ActorId,
    Action,
    EntityType,
    EntityId,
    OldValues,
    NewValues,
    RequestId,
    Ip,
    UserAgent,
    CreatedAt,
}
