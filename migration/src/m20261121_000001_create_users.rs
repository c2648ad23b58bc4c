//! `users`, with a unique email and soft delete.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{enum_col, fk, id, ts, ts_null};

/// Creates `users`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000001_create_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id(Users::Id))
                    .col(string_len_uniq(Users::Email, 320))
                    .col(string_len(Users::DisplayName, 200))
                    .col(enum_col(Users::Role, &["BUYER", "SELLER", "AGENT", "ADMIN"]))
                    .col(ts(Users::CreatedAt))
                    .col(ts(Users::UpdatedAt))
                    .col(ts_null(Users::DeletedAt))
                    .col(uuid_null(Users::DeletedBy))
                    .foreign_key(&mut fk(
                        Users::Table,
                        Users::DeletedBy,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

/// Identifiers of `users`.
#[derive(DeriveIden, Clone)]
pub enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    Role,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    DeletedBy,
}
